//! The serving fast path must give exactly the token ids and byte offsets of the saved
//! `tokenizer.json` pipeline: over the whole corpus, the reference essay, the real-world dev set,
//! every character of the byte pass's table in context, and random input (typographic text
//! mixed with ASCII, arbitrary Unicode, long texts cut into pieces). Each check also asserts the
//! route taken where it is known from the input.

use std::sync::LazyLock;

use crate::common;

use proptest::prelude::*;
use stance::artifact;
use stance::tokenize::{
    encode_reference, encode_reference_with_offsets, table_chars, train_tokenizer, FastTokenizer,
    Route,
};

fn shipped() -> FastTokenizer {
    let a = artifact::load_current(&common::root().join("models")).expect("shipped model loads");
    FastTokenizer::new(a.tokenizer)
}

/// Checks ids (`encode`) and ids with offsets (`encode_with_offsets`) against the pipeline and
/// that both take the same route, which is returned.
fn assert_same(t: &FastTokenizer, text: &str) -> Route {
    let mut fast = Vec::new();
    let route = t.encode(text, &mut fast).unwrap();
    let slow = encode_reference(t.pipeline(), text).unwrap();
    assert_eq!(fast, slow, "fast path differs ({route:?}) on {text:?}");
    let (mut ids, mut offsets) = (Vec::new(), Vec::new());
    let route2 = t.encode_with_offsets(text, &mut ids, &mut offsets).unwrap();
    let (ref_ids, ref_offsets): (Vec<u32>, Vec<(usize, usize)>) =
        encode_reference_with_offsets(t.pipeline(), text)
            .unwrap()
            .into_iter()
            .unzip();
    assert_eq!(route2, route, "routes differ on {text:?}");
    assert_eq!(
        ids, ref_ids,
        "ids with offsets differ ({route:?}) on {text:?}"
    );
    assert_eq!(
        offsets, ref_offsets,
        "offsets differ ({route:?}) on {text:?}"
    );
    for &(s, e) in &offsets {
        assert!(s <= e && e <= text.len() && text.is_char_boundary(s) && text.is_char_boundary(e));
    }
    route
}

/// Counts of texts per route, indexed by `Route as usize`.
type Routes = [usize; 4];

/// The real-world dev set's excerpts, when the shared folder is present.
fn realworld() -> Option<Vec<String>> {
    let p = common::root().join("../shared/realworld/dev.jsonl");
    let text = std::fs::read_to_string(p).ok()?;
    Some(
        text.lines()
            .filter(|l| !l.trim().is_empty())
            .map(|l| {
                let v: serde_json::Value = serde_json::from_str(l).unwrap();
                v["text"].as_str().unwrap().to_string()
            })
            .collect(),
    )
}

#[test]
fn whole_corpus_reference_essay_and_dev_set() {
    let t: &FastTokenizer = &SHIPPED;
    let corpus = stance::Corpus::open(&common::root().join("training-data")).unwrap();
    let mut routes: Routes = [0; 4];
    corpus
        .for_each(|d| {
            routes[assert_same(t, &d.text) as usize] += 1;
            Ok(())
        })
        .unwrap();
    // The corpus is real prose with curly quotes and dashes: the byte pass must carry nearly
    // all of it, and typographic characters must not send it elsewhere.
    let byte_pass = routes[Route::Ascii as usize] + routes[Route::Table as usize];
    assert!(byte_pass * 100 >= corpus.len() * 98, "routes {routes:?}");
    assert!(routes[Route::Table as usize] > 0, "routes {routes:?}");
    if let Some(essay) = common::reference_essay() {
        assert!(!essay.is_ascii(), "the essay has typographic characters");
        assert_eq!(assert_same(t, &essay), Route::Table);
    }
    if let Some(dev) = realworld() {
        let mut routes: Routes = [0; 4];
        for text in &dev {
            routes[assert_same(t, text) as usize] += 1;
        }
        let byte_pass = routes[Route::Ascii as usize] + routes[Route::Table as usize];
        assert!(byte_pass * 100 >= dev.len() * 95, "dev routes {routes:?}");
    }
}

/// Every character the table covers, in several contexts (alone, inside a word, doubled, next
/// to punctuation, accents and NFKC-expanding characters), against a vocabulary trained on those
/// same contexts so that a wrong normalized form shows as a wrong id, not as `[UNK]` twice.
#[test]
fn every_table_character_in_context() {
    let chars = table_chars();
    assert!(chars.len() > 5_000, "{} table characters", chars.len());
    let contexts = |c: char| {
        [
            format!("{c}"),
            format!("x{c}Y"),
            format!("A{c}{c}."),
            format!("({c}é…{c}’s ﬁ{c}"),
            format!("{c}\u{a0}{c}—{c}"),
        ]
    };
    let chunks: Vec<String> = chars
        .chunks(32)
        .map(|cs| {
            cs.iter()
                .flat_map(|&c| contexts(c))
                .collect::<Vec<_>>()
                .join(" ")
        })
        .collect();
    let t = &FastTokenizer::new(train_tokenizer(chunks.iter(), 1, 1_000_000).unwrap());
    assert!(t.vocab_size() > chars.len() / 2, "{}", t.vocab_size());
    let mut failures = Vec::new();
    for (chunk, cs) in chunks.iter().zip(chars.chunks(32)) {
        let mut ids = Vec::new();
        let mut offsets = Vec::new();
        let route = t
            .encode_with_offsets(chunk, &mut ids, &mut offsets)
            .unwrap();
        let reference = encode_reference_with_offsets(t.pipeline(), chunk).unwrap();
        let fast: Vec<(u32, (usize, usize))> = ids.into_iter().zip(offsets).collect();
        if fast != reference || route != Route::Table {
            // Narrow the failure down to characters and contexts.
            let before = failures.len();
            for &c in cs {
                for s in contexts(c) {
                    let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                        assert_same(t, &s)
                    }));
                    if !matches!(r, Ok(Route::Table)) {
                        failures.push(format!("{c:?} in {s:?}: {r:?}"));
                    }
                }
            }
            if failures.len() == before {
                failures.push(format!(
                    "chunk differs but no single context does: {chunk:?}"
                ));
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} failures: {failures:#?}",
        failures.len()
    );
}

#[test]
fn tricky_inputs() {
    let t: &FastTokenizer = &SHIPPED;
    for (s, route) in [
        ("", Route::Ascii),
        (" ", Route::Ascii),
        ("\0\0", Route::Ascii),
        ("x\u{0}y", Route::Ascii),
        ("İstanbul ΣΑΣ ß ǅ", Route::Table),
        ("e\u{301}t\u{e9}", Route::Pipeline),
        ("ﬁ ① ㌀ Ⅻ", Route::Pipeline),
        ("ﬁ ① Ⅻ", Route::Table),
        ("ﬁ Ⅻ ½ ™ ℅ …", Route::Table),
        ("full\u{3000}width　ＡＢＣ", Route::Pipeline),
        ("full\u{2003}width ＡＢＣ", Route::Table),
        ("emoji 👩‍👩‍👧 🤖!!", Route::Unicode),
        ("[UNK] [unk]", Route::Ascii),
        ("[UNK]’s [unk]…", Route::Table),
        ("tab\tand\u{85}next\u{2028}line", Route::Table),
        ("¿¡«»‹›「」", Route::Unicode),
        ("¿¡«»‹› “”„‚", Route::Table),
        ("a\u{200b}b", Route::Table),
        ("日本語のテキスト、句読点。", Route::Unicode),
        ("مرحبا بالعالم، كيف الحال؟", Route::Table),
        ("\u{feff}bom", Route::Table),
        ("𝐌𝐚𝐭𝐡 𝔣𝔯𝔞𝔨", Route::Pipeline),
        ("caf\u{e9}\u{301} é\u{327}", Route::Pipeline),
        ("\u{1100}\u{1161} 가", Route::Pipeline),
        ("Ω K Å", Route::Table),
    ] {
        assert_eq!(assert_same(t, s), route, "{s:?}");
    }
}

/// Typographic characters of real articles (and their NFKC-expanding relatives), to mix with
/// ASCII in the generators below.
const TYPOGRAPHIC: &str = "’‘“”—–…•\u{a0}\u{2009}\u{202f}éÉèàâäçñöüßøåæœ«»‹›′″€£©®™°±×½²ﬁﬂ\u{ad}\u{2022}\u{2212}\u{2011}\u{200b}";

/// Text of ASCII words, ASCII punctuation and whitespace, and typographic characters.
fn typographic_text() -> impl Strategy<Value = String> {
    let chars: Vec<char> = TYPOGRAPHIC.chars().collect();
    let unit = prop_oneof![
        3 => "[a-zA-Z0-9]{1,9}",
        2 => "[ \\t\\n.,;:'\"!?()\\-/]",
        3 => proptest::sample::select(chars).prop_map(String::from),
    ];
    proptest::collection::vec(unit, 0..60).prop_map(|v| v.concat())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

    /// Typographic characters mixed with ASCII take the byte pass and match the pipeline.
    #[test]
    fn random_typographic_text(s in typographic_text()) {
        let t: &FastTokenizer = &SHIPPED;
        let expected = if s.is_ascii() { Route::Ascii } else { Route::Table };
        prop_assert_eq!(assert_same(t, &s), expected, "{:?}", s);
    }

    /// The same mixed with what the table leaves out: combining marks and characters that
    /// compose with their neighbour (pipeline), characters NFKC changes outside the table
    /// (pipeline), NFKC-stable characters outside the table (char pass), and `[UNK]`.
    #[test]
    fn random_typographic_text_with_fallbacks(
        parts in proptest::collection::vec(
            (typographic_text(), proptest::sample::select(vec![
                "\u{301}", "\u{338}", "\u{327}\u{301}", "\u{1161}", "\u{1d400}", "\u{3000}",
                "\u{ff9e}", "日", "🤖", "「", "[UNK]", "",
            ])),
            1..4,
        )
    ) {
        let s: String = parts.iter().map(|(a, b)| format!("{a}{b}")).collect();
        let t: &FastTokenizer = &SHIPPED;
        // Text between `[UNK]`s is routed piece by piece: the slowest piece's route.
        let route_of = |p: &str| {
            let has = |set: &[&str]| set.iter().any(|x| p.contains(x));
            if has(&["\u{301}", "\u{338}", "\u{327}", "\u{1161}", "\u{1d400}", "\u{3000}", "\u{ff9e}"]) {
                Route::Pipeline
            } else if has(&["日", "🤖", "「"]) {
                // Outside the table: the char pass if the piece is NFKC-stable, else the
                // pipeline (typographic characters NFKC expands, such as NBSP, then need it).
                if unicode_normalization::is_nfkc_quick(p.chars()) == unicode_normalization::IsNormalized::Yes {
                    Route::Unicode
                } else {
                    Route::Pipeline
                }
            } else if p.is_ascii() {
                Route::Ascii
            } else {
                Route::Table
            }
        };
        let expected = s.split("[UNK]").map(route_of).max().unwrap_or(Route::Ascii);
        prop_assert_eq!(assert_same(t, &s), expected, "{:?}", s);
    }

    #[test]
    fn random_unicode(s in "\\PC{0,200}") {
        let t: &FastTokenizer = &SHIPPED;
        assert_same(t, &s);
    }

    #[test]
    fn random_mixed_ascii_and_marks(s in "[a-zA-Z .,;'\"!?\\-\u{300}-\u{36f}\u{2014}\u{201c}\u{201d}\u{e9}\u{c9}\u{2026}\u{a0}]{0,120}") {
        let t: &FastTokenizer = &SHIPPED;
        assert_same(t, &s);
    }

    #[test]
    fn random_any_char(v in proptest::collection::vec(any::<char>(), 0..80)) {
        let s: String = v.into_iter().collect();
        let t: &FastTokenizer = &SHIPPED;
        assert_same(t, &s);
    }
}

/// Long texts are encoded in pieces (the pipeline never sees more than `PIPELINE_CHUNK` bytes at
/// once): the ids must still be those of the whole text through the pipeline. Random units that
/// need the pipeline (combining marks, characters NFKC expands, `[UNK]`, `<` before U+0338...)
/// repeated past the piece limit. The unit pattern can generate empty strings; a round of units
/// that adds nothing gets a space, so the loop always ends (every unit empty once made it spin
/// forever).
fn long_text(units: &[String], len: usize) -> String {
    let mut s = String::new();
    while s.len() < len {
        let before = s.len();
        for u in units {
            s.push_str(u);
        }
        if s.len() == before {
            s.push(' ');
        }
    }
    s
}

#[test]
fn long_text_ends_even_when_every_unit_is_empty() {
    let t = long_text(&[String::new(), String::new()], 100);
    assert!(t.len() >= 100 && t.trim().is_empty());
    assert_eq!(long_text(&["ab".into()], 5), "ababab");
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    #[test]
    fn long_texts_cut_into_pieces(
        units in proptest::collection::vec(
            "([a-zA-Z]{0,6}|[ \\t\\n.,<>=!?;\\-]|\u{300}|\u{301}|\u{338}|\u{fdfa}|\u{fb01}|\u{2024}|\u{a0}|\u{3000}|\u{ff21}|\\[UNK\\]|\u{e9}|\u{3001}|\u{e33}|\u{1100}\u{1161}|\u{2019}|\u{2014}|\u{2026}|\u{201c}){1,6}",
            1..12,
        ),
        extra in 0usize..3000,
    ) {
        let text = long_text(&units, stance::tokenize::PIPELINE_CHUNK + 1 + extra);
        let t: &FastTokenizer = &SHIPPED;
        let mut fast = Vec::new();
        match t.encode(&text, &mut fast) {
            Ok(_) => {
                prop_assert_eq!(&fast, &encode_reference(t.pipeline(), &text).unwrap());
                assert_same(t, &text);
            }
            // Refused only when a run needing the pipeline has no safe cut at all.
            Err(e) => prop_assert!(e.to_string().contains("bounded memory"), "{}", e),
        }
    }
}

#[test]
fn long_worst_case_texts_match_the_pipeline() {
    let t: &FastTokenizer = &SHIPPED;
    for (unit, route) in [
        ("\u{fdfa} ", Route::Table),
        (
            "\u{fdfa}\u{fdfa}\u{fdfa}\u{fdfa}\u{fdfa}\u{fdfa}\u{fdfa}\u{fdfa}.",
            Route::Table,
        ),
        ("e\u{301} ", Route::Pipeline),
        ("word [UNK] ", Route::Ascii),
        (
            "Ordinary English with one accent: caf\u{e9}. ",
            Route::Table,
        ),
        ("Typographic: it’s “quoted” — and… ", Route::Table),
        ("\u{ff21}\u{ff22}\u{3001}", Route::Pipeline),
        ("< \u{338}<\u{338}= \u{338}", Route::Pipeline),
        ("’s e\u{301} [UNK]… ", Route::Pipeline),
    ] {
        let text = unit.repeat(3 * stance::tokenize::PIPELINE_CHUNK / unit.len() + 1);
        assert_eq!(assert_same(t, &text), route, "{unit:?}");
    }
}

/// Loaded once per test process and shared by reference: a clone per proptest case (the
/// Hugging Face tokenizer and its vocabulary) cost more than the case itself.
static SHIPPED: LazyLock<FastTokenizer> = LazyLock::new(shipped);

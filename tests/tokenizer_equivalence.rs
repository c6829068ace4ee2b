//! The serving fast path must give exactly the token ids of the saved `tokenizer.json`
//! pipeline: over the whole corpus, the reference essay and random Unicode input.

mod common;

use proptest::prelude::*;
use stance::artifact;
use stance::tokenize::{encode_reference, FastTokenizer, Route};

fn shipped() -> FastTokenizer {
    let a = artifact::load_current(&common::root().join("models")).expect("shipped model loads");
    FastTokenizer::new(a.tokenizer)
}

fn assert_same(t: &FastTokenizer, text: &str) -> Route {
    let mut fast = Vec::new();
    let route = t.encode(text, &mut fast).unwrap();
    let slow = encode_reference(t.pipeline(), text).unwrap();
    assert_eq!(fast, slow, "fast path differs ({route:?}) on {text:?}");
    route
}

#[test]
fn whole_corpus_and_reference_essay() {
    let t = shipped();
    let corpus = stance::Corpus::open(&common::root().join("training-data")).unwrap();
    let mut routes = [0usize; 3];
    corpus
        .for_each(|d| {
            routes[assert_same(&t, &d.text) as usize] += 1;
            Ok(())
        })
        .unwrap();
    // The corpus is real prose with curly quotes and dashes: the fast routes must carry it.
    assert!(
        routes[Route::Pipeline as usize] < corpus.len() / 2,
        "routes {routes:?}"
    );
    if let Some(essay) = common::reference_essay() {
        assert_same(&t, &essay);
    }
}

#[test]
fn tricky_inputs() {
    let t = shipped();
    for s in [
        "",
        " ",
        "\0\0",
        "x\u{0}y",
        "İstanbul ΣΑΣ ß ǅ",
        "e\u{301}t\u{e9}",
        "ﬁ ① ㌀ Ⅻ",
        "full\u{3000}width　ＡＢＣ",
        "emoji 👩‍👩‍👧 🤖!!",
        "[UNK] [unk]",
        "tab\tand\u{85}next\u{2028}line",
        "¿¡«»‹›「」",
        "a\u{200b}b",
        "日本語のテキスト、句読点。",
        "مرحبا بالعالم، كيف الحال؟",
        "\u{feff}bom",
        "𝐌𝐚𝐭𝐡 𝔣𝔯𝔞𝔨",
        // Mostly stable text with a few words NFKC changes: only those runs take the pipeline.
        "“Open or closed?” — a reader’s question… and the answer…\n\nIt’s “open”… ﬁne\u{a0}print",
        "word\u{301} \u{301}mark \u{301} x\u{2026}y \t\u{2026}\u{2026} end…",
        "…",
        " … ",
    ] {
        assert_same(&t, s);
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

    #[test]
    fn random_unicode(s in "\\PC{0,200}") {
        let t = SHIPPED.with(|t| t.clone());
        assert_same(&t, &s);
    }

    #[test]
    fn random_mixed_ascii_and_marks(s in "[a-zA-Z .,;'\"!?\\-\u{300}-\u{36f}\u{2014}\u{201c}\u{201d}\u{e9}\u{c9}]{0,120}") {
        let t = SHIPPED.with(|t| t.clone());
        assert_same(&t, &s);
    }

    #[test]
    fn random_any_char(v in proptest::collection::vec(any::<char>(), 0..80)) {
        let s: String = v.into_iter().collect();
        let t = SHIPPED.with(|t| t.clone());
        assert_same(&t, &s);
    }
}

/// Long texts are encoded in pieces (the pipeline never sees more than `PIPELINE_CHUNK` bytes at
/// once): the ids must still be those of the whole text through the pipeline. Random units that
/// need the pipeline (combining marks, characters NFKC expands, `[UNK]`, `<` before U+0338...)
/// repeated past the piece limit.
fn long_text(units: &[String], len: usize) -> String {
    let mut s = String::new();
    let mut i = 0;
    while s.len() < len {
        s.push_str(&units[i % units.len()]);
        i += 1;
    }
    s
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    #[test]
    fn long_texts_cut_into_pieces(
        units in proptest::collection::vec(
            "([a-zA-Z]{0,6}|[ \\t\\n.,<>=!?;\\-]|\u{300}|\u{301}|\u{338}|\u{fdfa}|\u{fb01}|\u{2024}|\u{a0}|\u{3000}|\u{ff21}|\\[UNK\\]|\u{e9}|\u{3001}|\u{e33}|\u{1100}\u{1161}){1,6}",
            1..12,
        ),
        extra in 0usize..3000,
    ) {
        let text = long_text(&units, stance::tokenize::PIPELINE_CHUNK + 1 + extra);
        let t = SHIPPED.with(|t| t.clone());
        let mut fast = Vec::new();
        match t.encode(&text, &mut fast) {
            Ok(_) => prop_assert_eq!(fast, encode_reference(t.pipeline(), &text).unwrap()),
            // Refused only when a run needing the pipeline has no safe cut at all.
            Err(e) => prop_assert!(e.to_string().contains("bounded memory"), "{}", e),
        }
    }
}

#[test]
fn long_worst_case_texts_match_the_pipeline() {
    let t = shipped();
    for unit in [
        "\u{fdfa} ",
        "\u{fdfa}\u{fdfa}\u{fdfa}\u{fdfa}\u{fdfa}\u{fdfa}\u{fdfa}\u{fdfa}.",
        "e\u{301} ",
        "word [UNK] ",
        "Ordinary English with one accent: caf\u{e9}. ",
        "\u{ff21}\u{ff22}\u{3001}",
        "< \u{338}<\u{338}= \u{338}",
    ] {
        let text = unit.repeat(3 * stance::tokenize::PIPELINE_CHUNK / unit.len() + 1);
        assert_same(&t, &text);
    }
}

thread_local! {
    static SHIPPED: FastTokenizer = shipped();
}

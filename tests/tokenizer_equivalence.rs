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

thread_local! {
    static SHIPPED: FastTokenizer = shipped();
}

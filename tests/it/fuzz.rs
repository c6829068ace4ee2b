//! Property-based fuzzing (proptest; cargo-fuzz needs nightly) of the text path and of the JSON
//! request parser, with a fixed number of cases so that it is bounded in the test suite. The
//! text path (tokenize, features, score) must never panic and must give finite probabilities
//! summing to 1, or refuse with the one documented error; the parser must never panic and must
//! answer every body with a 400 or a 422 code, or parse it.

use crate::common;

use proptest::prelude::*;
use stance::server::routes::body::parse_json;
use stance::server::routes::classify::{BatchRequest, ClassifyRequest};
use stance::{Classifier, StanceError};

thread_local! {
    static MODEL: Classifier = Classifier::from_artifact(
        stance::artifact::load_current(&common::root().join("models")).expect("shipped model"),
    );
}

fn check_text(text: &str, explain: usize) -> Result<(), TestCaseError> {
    MODEL.with(|m| {
        match m.score(text, explain) {
            Ok(s) => {
                let sum: f64 = s.scores.iter().map(|(_, p)| p).sum();
                prop_assert!(s.scores.iter().all(|(_, p)| p.is_finite() && *p >= 0.0));
                prop_assert!((sum - 1.0).abs() < 1e-9, "sum {}", sum);
                prop_assert!(s
                    .scores
                    .iter()
                    .any(|(l, p)| *l == s.label && *p == s.confidence));
                prop_assert!(s.unknown_tokens <= s.tokens);
                if let Some(e) = &s.explanation {
                    prop_assert!(
                        e.iter()
                            .all(|(_, w)| w.len() <= explain
                                && w.iter().all(|t| t.weight.is_finite()))
                    );
                }
                // Spans exactly with an explanation, each a non-empty slice on character
                // boundaries whose UTF-16 offsets agree with its byte offsets.
                prop_assert_eq!(s.spans.is_some(), explain > 0);
                for sp in s.spans.iter().flatten() {
                    let slice = text.get(sp.byte_start..sp.byte_end);
                    prop_assert!(slice.is_some_and(|t| !t.is_empty()), "{:?}", sp);
                    let units = |b: usize| text[..b].encode_utf16().count();
                    prop_assert_eq!(units(sp.byte_start), sp.start);
                    prop_assert_eq!(units(sp.byte_end), sp.end);
                    prop_assert!(sp.weight.is_finite() && sp.weight > 0.0);
                }
                prop_assert!(s.spans.as_ref().map_or(0, Vec::len) <= stance::spans::MAX_SPANS);
            }
            Err(StanceError::Unbounded { .. }) => {}
            Err(e) => prop_assert!(false, "unexpected error {}", e),
        }
        Ok(())
    })
}

/// `units` repeated to at least `len` bytes; a round that adds nothing (every unit empty, which
/// the unit pattern can draw) stops, so the loop always ends.
fn repeat_to(units: &[String], len: usize) -> String {
    let mut s = String::new();
    while s.len() < len {
        let before = s.len();
        for u in units {
            s.push_str(u);
        }
        if s.len() == before {
            break;
        }
    }
    s
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 400, ..ProptestConfig::default() })]

    #[test]
    fn text_path_short(text in "\\PC{0,300}", explain in 0usize..20) {
        check_text(&text, explain)?;
    }

    #[test]
    fn text_path_any_chars(v in proptest::collection::vec(any::<char>(), 0..200), explain in 0usize..5) {
        check_text(&v.into_iter().collect::<String>(), explain)?;
    }

    #[test]
    fn json_parser_random_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
        for r in [
            parse_json::<ClassifyRequest>(&bytes).err(),
            parse_json::<BatchRequest>(&bytes).err(),
        ].into_iter().flatten() {
            prop_assert!(matches!(r.status.as_u16(), 400 | 422), "{}", r);
        }
    }

    #[test]
    fn json_parser_json_like(body in "[{}\\[\\]\",:0-9a-z \\\\.eE+-]{0,120}") {
        for r in [
            parse_json::<ClassifyRequest>(body.as_bytes()).err(),
            parse_json::<BatchRequest>(body.as_bytes()).err(),
        ].into_iter().flatten() {
            prop_assert!(matches!(r.status.as_u16(), 400 | 422), "{}", r);
        }
    }

    #[test]
    fn json_parser_request_shapes(
        text in "\\PC{0,50}",
        explain in prop_oneof![
            Just("null".to_string()), Just("1e400".to_string()), Just("-1".to_string()),
            "[0-9]{1,25}", "-?[0-9]{1,5}\\.[0-9]{1,5}(e[+-]?[0-9]{1,4})?", Just("\"3\"".to_string()),
        ],
        extra in prop_oneof![Just(""), Just(", \"other\": 1"), Just(", \"text\": \"dup\"")],
    ) {
        let body = format!("{{\"text\": {}, \"explain\": {explain}{extra}}}", serde_json::to_string(&text).unwrap());
        match parse_json::<ClassifyRequest>(body.as_bytes()) {
            Ok(r) => prop_assert_eq!(r.text, text),
            Err(e) => prop_assert!(matches!(e.status.as_u16(), 400 | 422), "{}", e),
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 16, ..ProptestConfig::default() })]

    /// Long texts built from units that take every tokenizer route, past the pipeline's piece
    /// size.
    #[test]
    fn text_path_long(
        units in proptest::collection::vec(
            "([a-zA-Z]{0,8}|[ .,!?\\n]|\u{300}|\u{fdfa}|\u{fb01}|\u{e9}|\\[UNK\\]|\u{ff21}|\u{3001}|\\PC){1,4}",
            1..10,
        ),
        len in 10_000usize..80_000,
    ) {
        check_text(&repeat_to(&units, len), 5)?;
    }
}

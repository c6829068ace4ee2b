//! Black-box tests of the evidence spans of the classify response (issue 12) over real HTTP.

use serde_json::{json, Value};
use unicode_normalization::UnicodeNormalization;

use super::helpers::*;

/// Written for this test: typographic quotes, apostrophes and dashes, an ellipsis (which sends
/// the text through the Hugging Face pipeline), emoji outside the Basic Multilingual Plane
/// before and between the evidence, and words the model knows.
const ARTICLE: &str = "🤖 Why we publish the weights 🚀\n\n\
“Open weights” let anyone audit, fork and fine‑tune a model on their own hardware — no vendor \
lock‑in, no API keys… Researchers don’t have to trust a lab’s word: they can reproduce results, \
find safety problems 🔍 and fix them in public. A closed model behind an API keeps customers \
locked in to one provider’s prices; open models let universities, start‑ups and national labs \
build on the same foundation. 👩‍💻 The community moves faster than any single company.";

fn utf16_slice(text: &str, start: usize, end: usize) -> String {
    let units: Vec<u16> = text.encode_utf16().collect();
    String::from_utf16(&units[start..end]).expect("a span never splits a surrogate pair")
}

/// What the tokenizer makes of a slice, with the word breaks removed: NFKC, lowercase, no
/// whitespace. A feature's words, joined the same way, must equal it.
fn squashed(s: &str) -> String {
    s.nfkc()
        .collect::<String>()
        .to_lowercase()
        .chars()
        .filter(|c| !c.is_whitespace())
        .collect()
}

fn classify(s: &Server, body: Value) -> Value {
    let r = client()
        .post(s.url("/v1/classify"))
        .json(&body)
        .send()
        .unwrap();
    assert_eq!(r.status(), 200);
    r.json().unwrap()
}

#[test]
fn spans_point_at_the_words_of_their_features() {
    let s = Server::start(&[]);
    let v = classify(&s, json!({"text": ARTICLE, "explain": 25}));
    let spans = v["spans"].as_array().expect("spans with explain");
    assert_eq!(v["spans_truncated"], false, "{v}");
    assert!(spans.len() >= 10, "{v}");
    let explanation = v["explanation"].as_object().unwrap();
    let mut bigrams = 0;
    let mut after_emoji = 0;
    let mut last = (0, 0);
    for sp in spans {
        let n = |k: &str| sp[k].as_u64().unwrap_or_else(|| panic!("{k} in {sp}")) as usize;
        let (bs, be, us, ue) = (n("byte_start"), n("byte_end"), n("start"), n("end"));
        let by_bytes = ARTICLE
            .get(bs..be)
            .unwrap_or_else(|| panic!("byte offsets off a char boundary: {sp}"));
        let by_utf16 = utf16_slice(ARTICLE, us, ue);
        assert_eq!(by_bytes, by_utf16, "the two units disagree: {sp}");
        let feature = sp["feature"].as_str().unwrap();
        let words = feature.strip_prefix("NOT_").unwrap_or(feature);
        // An NFKC expansion gives several tokens the offsets of one character (`…` is three
        // `.` tokens, so the bigram `. .` spans the `…`); otherwise the span is exactly the
        // feature's words.
        let stable = by_bytes.nfkc().collect::<String>() == by_bytes;
        if stable {
            assert_eq!(
                squashed(by_bytes),
                squashed(words),
                "span text {by_bytes:?} is not feature {feature:?}"
            );
        } else {
            assert!(
                squashed(by_bytes).contains(&squashed(words)),
                "span text {by_bytes:?} does not hold feature {feature:?}"
            );
        }
        if words.contains(' ') {
            // The squashed comparison above proves the span covers both words.
            bigrams += 1;
        }
        if us != bs {
            after_emoji += 1;
        }
        // Text order is by start (a client walks them that way); ties by end.
        assert!(
            (bs, be) >= last,
            "spans come in text order: {sp} after {last:?}"
        );
        last = (bs, be);
        let label = sp["label"].as_str().unwrap();
        let listed = explanation[label]
            .as_array()
            .unwrap()
            .iter()
            .find(|t| t["token"] == feature)
            .unwrap_or_else(|| panic!("{feature} is not in explanation[{label}]"));
        assert_eq!(listed["weight"], sp["weight"], "{sp}");
    }
    assert!(bigrams > 0, "no bigram among {spans:?}");
    assert!(
        after_emoji > 0,
        "the emoji must make UTF-16 and byte offsets differ"
    );

    // Every occurrence: each explained stance feature that is a plain word appears exactly as
    // often among the spans as the tokenizer finds it (a whole-word, case-insensitive match
    // here, outside any negation).
    let lower = ARTICLE.to_lowercase();
    for word in ["weights", "audit", "community"] {
        let listed = explanation
            .values()
            .flat_map(|l| l.as_array().unwrap())
            .any(|t| t["token"] == word);
        if !listed {
            continue;
        }
        let in_text = lower
            .split(|c: char| !c.is_alphanumeric())
            .filter(|w| *w == word)
            .count();
        let in_spans = spans.iter().filter(|s| s["feature"] == word).count();
        assert_eq!(in_spans, in_text, "occurrences of {word}");
    }

    // No spans without explain, and none on the text/plain route (which has no explain).
    let v = classify(&s, json!({"text": ARTICLE}));
    assert!(
        v.get("spans").is_none() && v.get("spans_truncated").is_none(),
        "{v}"
    );
    let r = client()
        .post(s.url("/v1/classify"))
        .header("Content-Type", "text/plain")
        .body(ARTICLE)
        .send()
        .unwrap();
    assert!(r.json::<Value>().unwrap().get("spans").is_none());

    // The batch route gives them per document.
    let r = client()
        .post(s.url("/v1/classify/batch"))
        .json(&json!({"texts": [ARTICLE, "closed API"], "explain": 5}))
        .send()
        .unwrap();
    let b: Value = r.json().unwrap();
    assert!(
        b["results"][0]["spans"]
            .as_array()
            .is_some_and(|a| !a.is_empty()),
        "{b}"
    );
}

#[test]
fn spans_are_bounded_on_a_long_article() {
    let s = Server::start(&[]);
    let long = "Open weights let anyone audit the model. ".repeat(3000);
    let v = classify(&s, json!({"text": long, "explain": 5}));
    let spans = v["spans"].as_array().unwrap();
    assert_eq!(spans.len(), 2000, "the documented bound");
    assert_eq!(v["spans_truncated"], true);
    let last = &spans[1999];
    let (bs, be) = (
        last["byte_start"].as_u64().unwrap() as usize,
        last["byte_end"].as_u64().unwrap() as usize,
    );
    assert_eq!(
        squashed(&long[bs..be]),
        squashed(last["feature"].as_str().unwrap())
    );
}

/// 256 long documents with `explain` each got 2000 spans: a 1 MiB request answered with 40 MB
/// and took 160 MB to build. A batch shares one span budget among its documents.
#[test]
fn a_batch_shares_one_span_budget_among_its_documents() {
    let s = Server::start(&[]);
    let doc = "Open weights let anyone audit the model. ".repeat(90);
    let batch = |n: usize| {
        let r = client()
            .post(s.url("/v1/classify/batch"))
            .json(&json!({"texts": vec![doc.as_str(); n], "explain": 100}))
            .send()
            .unwrap();
        assert_eq!(r.status(), 200);
        let bytes = r.bytes().unwrap();
        let v: Value = serde_json::from_slice(&bytes).unwrap();
        let counts: Vec<usize> = v["results"]
            .as_array()
            .unwrap()
            .iter()
            .map(|d| d["spans"].as_array().unwrap().len())
            .collect();
        (counts, bytes.len())
    };
    let (one, _) = batch(1);
    assert!(one[0] > 200, "a lone document keeps its spans: {}", one[0]);
    let (many, bytes) = batch(256);
    assert!(many.iter().all(|&n| n == 16_000 / 256), "{many:?}");
    assert!(bytes < 8 << 20, "a 256-document response of {bytes} bytes");
}

#[test]
fn openapi_documents_the_span_units() {
    let s = Server::start(&[]);
    let doc: Value = client()
        .get(s.url("/openapi.json"))
        .send()
        .unwrap()
        .json()
        .unwrap();
    let span = &doc["components"]["schemas"]["Span"]["properties"];
    let desc = |k: &str| span[k]["description"].as_str().unwrap_or("").to_string();
    assert!(desc("start").contains("UTF-16"), "{span}");
    assert!(desc("end").contains("UTF-16"), "{span}");
    assert!(desc("byte_start").contains("bytes"), "{span}");
    assert!(desc("byte_end").contains("bytes"), "{span}");
    let resp = &doc["components"]["schemas"]["ClassifyResponse"]["properties"];
    assert!(resp["spans"].to_string().contains("Span"), "{resp}");
    // And the batch's shared explanation budget.
    let described = |k: &str| resp[k]["description"].as_str().unwrap_or("").to_string();
    assert!(described("explanation").contains("2560 / n"), "{resp}");
    assert!(
        described("explanation_truncated").contains("budget"),
        "{resp}"
    );
}

/// `n` different excerpts of `chars` characters of the corpus (training-data/, in manifest order
/// from every 7th piece, pieces joined until long enough): real text, as a caller would send.
/// `bench/batch-explain.sh` builds its batch the same way.
fn corpus_excerpts(n: usize, chars: usize) -> Vec<String> {
    let data = root().join("training-data");
    let manifest = std::fs::read_to_string(data.join("manifest.jsonl")).unwrap();
    let files: Vec<String> = manifest
        .lines()
        .map(|l| {
            serde_json::from_str::<Value>(l).unwrap()["file"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect();
    (0..n)
        .map(|i| {
            let (mut k, mut text) = (i * 7, String::new());
            while text.chars().count() < chars {
                let piece = std::fs::read_to_string(data.join(&files[k % files.len()])).unwrap();
                if !text.is_empty() {
                    text.push_str("\n\n");
                }
                text.push_str(piece.trim());
                k += 1;
            }
            text.chars().take(chars).collect()
        })
        .collect()
}

/// The explanation lists of a result, `explanation` and `relevance_explanation`, by label.
fn explanation_lists(v: &Value) -> Vec<(String, Vec<Value>)> {
    ["explanation", "relevance_explanation"]
        .iter()
        .flat_map(|k| v[*k].as_object().unwrap().iter())
        .map(|(label, list)| (label.clone(), list.as_array().unwrap().clone()))
        .collect()
}

/// Review of 2026-12-07: 256 different 4,000-character corpus excerpts with `explain: 100`
/// answered with 8.6 MB (five lists of 100 features per document) and took RSS up by 171 MB for
/// 8 such requests at once. A batch shares one explanation budget among its documents, as it
/// does its spans: each gets at most min(explain, 2560 / documents) features per label.
#[test]
fn a_batch_shares_one_explanation_budget_among_its_documents() {
    const BUDGET: usize = 2560;
    let s = Server::start(&[]);
    let texts = corpus_excerpts(256, 4000);
    let batch = |texts: &[String]| -> Vec<Value> {
        let r = client()
            .post(s.url("/v1/classify/batch"))
            .json(&json!({"texts": texts, "explain": 100}))
            .send()
            .unwrap();
        assert_eq!(r.status(), 200);
        let v: Value = r.json().unwrap();
        v["results"].as_array().unwrap().clone()
    };
    let full = batch(&texts);
    let per_document = BUDGET / texts.len();
    // Per label, the lists of the whole batch hold at most the budget, each at most its share.
    let mut totals = std::collections::BTreeMap::<String, usize>::new();
    for d in &full {
        for (label, list) in explanation_lists(d) {
            assert!(list.len() <= per_document, "{label}: {}", list.len());
            *totals.entry(label).or_default() += list.len();
        }
    }
    assert_eq!(totals.len(), 5, "{totals:?}");
    assert!(totals.values().all(|&n| n <= BUDGET), "{totals:?}");
    // A document scored alone keeps its whole lists; in the batch it keeps their first features
    // and is flagged exactly when the budget cut one of them.
    for i in [0, 97, 255] {
        let alone = classify(&s, json!({"text": texts[i], "explain": 100}));
        assert_eq!(alone["explanation_truncated"], false, "{alone}");
        let whole = explanation_lists(&alone);
        assert!(whole.iter().all(|(_, l)| l.len() <= 100));
        assert!(whole.iter().any(|(_, l)| l.len() > per_document));
        let cut = explanation_lists(&full[i]);
        for ((label, w), (_, c)) in whole.iter().zip(&cut) {
            assert_eq!(&w[..c.len()], &c[..], "document {i}, {label}");
            assert_eq!(c.len(), w.len().min(per_document), "document {i}, {label}");
        }
        assert_eq!(full[i]["explanation_truncated"], true, "document {i}");
        // A batch small enough for the budget is not cut.
        let small = batch(&texts[i..i + 1]);
        assert_eq!(explanation_lists(&small[0]), whole, "document {i}");
        assert_eq!(small[0]["explanation_truncated"], false);
    }
}

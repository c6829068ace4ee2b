//! Tokenization. The source of truth is a Hugging Face `tokenizers` pipeline (NFKC, lowercase,
//! BERT pre-tokenizer, WordLevel vocabulary trained on the corpus) saved as a standard
//! `tokenizer.json` that Python's `tokenizers.Tokenizer.from_file` also loads. Serving uses
//! [`FastTokenizer`], a proven-equal fast path over the same vocabulary.

mod fast;
mod vocab;

use std::path::Path;

use serde_json::json;
use tokenizers::models::wordlevel::{WordLevel, WordLevelTrainer};
use tokenizers::normalizers::{unicode::NFKC, utils::Lowercase, Sequence};
use tokenizers::pre_tokenizers::bert::BertPreTokenizer;
use tokenizers::{AddedToken, Tokenizer};

pub use fast::{pieces, table_chars, FastTokenizer, Piece, Route, PIPELINE_CHUNK};

use crate::error::{Result, StanceError};

/// The unknown-word token; it is also the only special token, with id 0.
pub const UNK: &str = "[UNK]";

fn tk_err(e: impl std::fmt::Display) -> StanceError {
    StanceError::Tokenizer(e.to_string())
}

/// An empty tokenizer with stance's normalizer and pre-tokenizer and no vocabulary yet.
fn empty_pipeline() -> Result<Tokenizer> {
    let model = WordLevel::builder()
        .unk_token(UNK.to_string())
        .build()
        .map_err(tk_err)?;
    let mut tokenizer = Tokenizer::new(model);
    tokenizer.with_normalizer(Some(Sequence::new(vec![NFKC.into(), Lowercase.into()])));
    tokenizer.with_pre_tokenizer(Some(BertPreTokenizer));
    Ok(tokenizer)
}

/// Trains the WordLevel vocabulary on a stream of documents. Words seen fewer than `min_count`
/// times are left out (they become `[UNK]`), and at most `max_vocab` entries are kept.
pub fn train_tokenizer<I, S>(docs: I, min_count: u64, max_vocab: usize) -> Result<Tokenizer>
where
    I: Iterator<Item = S> + Send,
    S: AsRef<str> + Send,
{
    let mut tokenizer = empty_pipeline()?;
    let mut trainer: tokenizers::models::TrainerWrapper = WordLevelTrainer::builder()
        .min_frequency(min_count)
        .vocab_size(max_vocab)
        .show_progress(false)
        .special_tokens(vec![AddedToken::from(UNK, true)])
        .build()
        .map_err(tk_err)?
        .into();
    tokenizer.train(&mut trainer, docs).map_err(tk_err)?;
    Ok(tokenizer)
}

/// Serializes a tokenizer to the standard `tokenizer.json` text (deterministic: the vocabulary
/// is written in id order).
pub fn to_json(tokenizer: &Tokenizer) -> Result<String> {
    tokenizer.to_string(false).map_err(tk_err)
}

/// Parses and checks a `tokenizer.json`: it must be exactly stance's pipeline, because the fast
/// path reproduces that pipeline and nothing else.
pub fn from_json(text: &str, path: &Path) -> Result<Tokenizer> {
    let bad = |reason: String| StanceError::artifact(path, reason);
    let value: serde_json::Value =
        serde_json::from_str(text).map_err(|e| bad(format!("not valid JSON: {e}")))?;
    let expected = serde_json::to_value(empty_pipeline()?).map_err(tk_err)?;
    for key in [
        "normalizer",
        "pre_tokenizer",
        "post_processor",
        "truncation",
        "padding",
    ] {
        if value.get(key) != expected.get(key) {
            return Err(bad(format!(
                "unsupported {key}: stance only serves its own pipeline ({})",
                expected.get(key).unwrap_or(&json!(null))
            )));
        }
    }
    let model = value.get("model").ok_or_else(|| bad("no model".into()))?;
    if model.get("type") != Some(&json!("WordLevel")) || model.get("unk_token") != Some(&json!(UNK))
    {
        return Err(bad(format!(
            "model must be WordLevel with unk_token {UNK:?}"
        )));
    }
    let tokenizer: Tokenizer = text
        .parse()
        .map_err(|e| bad(format!("cannot load tokenizer: {e}")))?;
    if tokenizer.token_to_id(UNK) != Some(0) {
        return Err(bad(format!("{UNK} must have id 0")));
    }
    Ok(tokenizer)
}

/// Encodes with the Hugging Face pipeline itself: slow, but the definition of the right answer.
pub fn encode_reference(tokenizer: &Tokenizer, text: &str) -> Result<Vec<u32>> {
    let enc = tokenizer.encode_fast(text, false).map_err(tk_err)?;
    Ok(enc.get_ids().to_vec())
}

/// Encodes with the Hugging Face pipeline itself and gives each token's byte offsets in `text`
/// (`Encoding::get_offsets()`): the definition of the right offsets.
pub fn encode_reference_with_offsets(
    tokenizer: &Tokenizer,
    text: &str,
) -> Result<Vec<(u32, (usize, usize))>> {
    let enc = tokenizer.encode(text, false).map_err(tk_err)?;
    Ok(enc
        .get_ids()
        .iter()
        .copied()
        .zip(enc.get_offsets().iter().copied())
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trains_a_vocabulary_with_unk_first() {
        let docs = ["The cat sat.", "the CAT ran!", "A dog."];
        let tk = train_tokenizer(docs.iter(), 2, 1000).unwrap();
        assert_eq!(tk.token_to_id(UNK), Some(0));
        assert!(tk.token_to_id("cat").is_some());
        assert!(
            tk.token_to_id("dog").is_none(),
            "min_count prunes rare words"
        );
        let ids = encode_reference(&tk, "The dog sat").unwrap();
        assert_eq!(ids[1], 0, "unknown word maps to [UNK]");
    }

    #[test]
    fn json_round_trip_and_rejects_foreign_pipelines() {
        let tk = train_tokenizer(["a b a b"].iter(), 1, 100).unwrap();
        let text = to_json(&tk).unwrap();
        let back = from_json(&text, Path::new("t.json")).unwrap();
        assert_eq!(back.get_vocab_size(false), tk.get_vocab_size(false));
        let altered = text.replace("BertPreTokenizer", "Whitespace");
        let err = from_json(&altered, Path::new("t.json"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("pre_tokenizer"), "{err}");
        let err = from_json("{\"trunc", Path::new("t.json"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("t.json") && err.contains("JSON"), "{err}");
    }
}

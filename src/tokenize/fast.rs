//! The serving fast path. It gives exactly the token ids of the saved `tokenizer.json` pipeline
//! (NFKC, then per-character lowercase, then split on Unicode whitespace and isolate BERT
//! punctuation, then WordLevel lookup), about twenty times faster:
//!
//! - pure ASCII text is NFKC-stable, so bytes are lowercased and split directly;
//! - other text that passes the NFKC quick check is already normalized, so the same split runs
//!   over chars;
//! - anything else (text that NFKC would change, or that contains an added token such as
//!   `[UNK]`, which the pipeline matches before normalizing) goes through the Hugging Face
//!   pipeline itself.
//!
//! `tests/tokenizer_equivalence.rs` checks the equality over the whole corpus, the reference
//! essay and random Unicode input.

use rustc_hash::FxHashMap;
use tokenizers::Tokenizer;
use unicode_categories::UnicodeCategories;
use unicode_normalization::{is_nfkc_quick, IsNormalized};

use crate::error::Result;

/// Which route a text took through [`FastTokenizer::encode`] (reported by benchmarks and tests).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Route {
    Ascii,
    Unicode,
    Pipeline,
}

/// Vocabulary lookup tables built once from a trained [`Tokenizer`].
#[derive(Clone)]
pub struct FastTokenizer {
    hf: Tokenizer,
    vocab: FxHashMap<String, u32>,
    /// Contents of added (special) tokens: text containing one takes the pipeline route.
    added: Vec<String>,
    unk: u32,
}

impl FastTokenizer {
    pub fn new(hf: Tokenizer) -> Self {
        let vocab: FxHashMap<String, u32> = hf.get_vocab(false).into_iter().collect();
        let added = hf
            .get_added_tokens_decoder()
            .values()
            .map(|t| t.content.clone())
            .collect();
        let unk = hf.token_to_id(super::UNK).unwrap_or(0);
        FastTokenizer {
            hf,
            vocab,
            added,
            unk,
        }
    }

    /// The Hugging Face tokenizer this fast path mirrors.
    pub fn pipeline(&self) -> &Tokenizer {
        &self.hf
    }

    /// Vocabulary size including `[UNK]`.
    pub fn vocab_size(&self) -> usize {
        self.vocab.len()
    }

    pub fn unk_id(&self) -> u32 {
        self.unk
    }

    /// The token string of an id (for explanations).
    pub fn id_to_token(&self, id: u32) -> Option<String> {
        self.hf.id_to_token(id)
    }

    /// Appends the ids of `text` to `out` (clearing it first) and says which route it took.
    pub fn encode(&self, text: &str, out: &mut Vec<u32>) -> Result<Route> {
        out.clear();
        if self.added.iter().any(|t| text.contains(t.as_str())) {
            return self.encode_pipeline(text, out);
        }
        if text.is_ascii() {
            self.encode_ascii(text.as_bytes(), out);
            return Ok(Route::Ascii);
        }
        if is_nfkc_quick(text.chars()) == IsNormalized::Yes {
            self.encode_chars(text, out);
            return Ok(Route::Unicode);
        }
        self.encode_pipeline(text, out)
    }

    fn encode_pipeline(&self, text: &str, out: &mut Vec<u32>) -> Result<Route> {
        out.extend(super::encode_reference(&self.hf, text)?);
        Ok(Route::Pipeline)
    }

    #[inline]
    fn lookup(&self, word: &str) -> u32 {
        self.vocab.get(word).copied().unwrap_or(self.unk)
    }

    fn encode_ascii(&self, bytes: &[u8], out: &mut Vec<u32>) {
        let mut word = [0u8; 64];
        let mut long = String::new();
        let mut len = 0usize;
        let flush = |word: &[u8; 64], len: &mut usize, long: &mut String, out: &mut Vec<u32>| {
            if *len == 0 {
                return;
            }
            let id = if *len <= 64 {
                // SAFETY-free: the buffer only ever holds ASCII bytes.
                self.lookup(std::str::from_utf8(&word[..*len]).unwrap_or(""))
            } else {
                self.lookup(long)
            };
            out.push(id);
            *len = 0;
            long.clear();
        };
        for &b in bytes {
            if matches!(b, b' ' | b'\t'..=b'\r') {
                flush(&word, &mut len, &mut long, out);
            } else if b.is_ascii_punctuation() {
                flush(&word, &mut len, &mut long, out);
                let p = [b];
                out.push(self.lookup(std::str::from_utf8(&p).unwrap_or("")));
            } else {
                let lower = b.to_ascii_lowercase();
                if len < 64 {
                    word[len] = lower;
                } else {
                    if len == 64 {
                        long.push_str(std::str::from_utf8(&word).unwrap_or(""));
                    }
                    long.push(lower as char);
                }
                len += 1;
            }
        }
        flush(&word, &mut len, &mut long, out);
    }

    fn encode_chars(&self, text: &str, out: &mut Vec<u32>) {
        let mut word = String::new();
        let mut punct = [0u8; 4];
        for c in text.chars() {
            for lc in c.to_lowercase() {
                if lc.is_whitespace() {
                    if !word.is_empty() {
                        out.push(self.lookup(&word));
                        word.clear();
                    }
                } else if lc.is_ascii_punctuation() || lc.is_punctuation() {
                    if !word.is_empty() {
                        out.push(self.lookup(&word));
                        word.clear();
                    }
                    out.push(self.lookup(lc.encode_utf8(&mut punct)));
                } else {
                    word.push(lc);
                }
            }
        }
        if !word.is_empty() {
            out.push(self.lookup(&word));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tokenize::{encode_reference, train_tokenizer};

    fn tk() -> FastTokenizer {
        let docs = [
            "Open weights, open science! Closed APIs?",
            "Café naïve résumé — “quoted” words… ΣΊΣΥΦΟΣ",
            "open weights are open; closed models are closed.",
        ];
        FastTokenizer::new(train_tokenizer(docs.iter(), 1, 10_000).unwrap())
    }

    fn check(t: &FastTokenizer, text: &str) -> Route {
        let mut ids = Vec::new();
        let route = t.encode(text, &mut ids).unwrap();
        assert_eq!(
            ids,
            encode_reference(t.pipeline(), text).unwrap(),
            "{text:?}"
        );
        route
    }

    #[test]
    fn each_route_matches_the_pipeline() {
        let t = tk();
        assert_eq!(
            check(&t, "OPEN weights, closed\tAPIs?!\n\x0bx\0y"),
            Route::Ascii
        );
        assert_eq!(check(&t, "Café “quoted” — ΣΊΣΥΦΟΣ words"), Route::Unicode);
        assert_eq!(check(&t, "ellipsis… and ﬁ ligature"), Route::Pipeline);
        assert_eq!(check(&t, "literal [UNK] token"), Route::Pipeline);
        let long_word = "a".repeat(200);
        assert_eq!(check(&t, &long_word), Route::Ascii);
        check(&t, "");
        check(&t, "   ");
    }
}

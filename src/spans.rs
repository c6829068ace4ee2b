//! Where the explained features occur in the text: the offsets that let a reader (the playground,
//! a terminal, a reviewer's tool) highlight the words that pushed a score, instead of guessing
//! where a feature name such as `open weights` or `NOT_open` came from.
//!
//! Offsets come from the tokenizer, never from searching the text for the feature's words: the
//! tokenizer normalises (NFKC, lowercase) and splits punctuation, so a search would miss `Open`,
//! `ﬁne` or `open—weights` and would find `open` inside `reopened`. Each token's offsets are the
//! bytes of the original text it came from; a unigram (plain or negation-marked) spans its token,
//! a bigram spans both tokens and what lies between them.
//!
//! Spans are computed only when an explanation is asked for (the normal scoring path does not
//! track offsets), and at most [`MAX_SPANS`] are returned, the first ones in text order.

use rustc_hash::FxHashMap;
use serde::Serialize;

use crate::error::Result;
use crate::head::Head;
use crate::tokenize::FastTokenizer;

/// At most this many spans per text. An explanation names at most `3 × explain` features, but a
/// long article repeats them: 1 MiB of text can hold a hundred thousand occurrences of `open`,
/// which would make the response many times larger than the article. Two thousand covers every
/// occurrence in articles of ordinary length (the reference essay with `explain: 25` has a few
/// hundred) and keeps a response under about 300 KB.
pub const MAX_SPANS: usize = 2000;

/// At most this many spans in one batch response, shared evenly among its documents (each gets
/// `min(MAX_SPANS, MAX_BATCH_SPANS / documents)`): 256 long documents at [`MAX_SPANS`] each
/// made a 1 MiB request answer with 40 MB and take 160 MB to build, far beyond the per-request
/// memory bound the service promises.
pub const MAX_BATCH_SPANS: usize = 16_000;

/// The span limit of each document in a batch of `documents`.
pub fn batch_span_limit(documents: usize) -> usize {
    (MAX_BATCH_SPANS / documents.max(1)).clamp(1, MAX_SPANS)
}

/// One occurrence of an explained feature in the text.
#[derive(Debug, Clone, Serialize, PartialEq, utoipa::ToSchema)]
pub struct Span {
    /// Start, in UTF-16 code units from the start of the text (a JavaScript string index:
    /// `text.slice(start, end)` in a browser).
    pub start: usize,
    /// End (exclusive), in UTF-16 code units.
    pub end: usize,
    /// Start, in bytes of the UTF-8 text (`&text[byte_start..byte_end]` in Rust).
    pub byte_start: usize,
    /// End (exclusive), in bytes.
    pub byte_end: usize,
    /// The feature, as named in `explanation` (`open weights`, `NOT_open`).
    pub feature: String,
    /// The label this feature pushes hardest toward, among those whose explanation lists it.
    pub label: String,
    /// The feature's weight toward `label`, as in `explanation` (the same for every occurrence:
    /// it is the feature's value in the whole text times its log-likelihood ratio).
    pub weight: f64,
}

/// The spans of a text, and whether [`MAX_SPANS`] cut them short.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Spans {
    pub spans: Vec<Span>,
    pub truncated: bool,
}

/// An explained feature: its name, the label it pushes toward and its weight.
#[derive(Debug, Clone)]
pub struct Explained {
    pub feature: u32,
    pub name: String,
    pub label: String,
    pub weight: f64,
}

/// Finds the occurrences of the `explained` features of `head` in `text`, in text order, at
/// most `limit` of them. A feature listed under several labels keeps the label with the largest
/// weight.
pub fn find(
    text: &str,
    tokenizer: &FastTokenizer,
    head: &Head,
    explained: &[Explained],
    limit: usize,
) -> Result<Spans> {
    if explained.is_empty() {
        return Ok(Spans::default());
    }
    // Feature -> (the strongest pull naming it, whether it is a bigram).
    let mut by_feature: FxHashMap<u32, (&Explained, bool)> = FxHashMap::default();
    for e in explained {
        let best = by_feature
            .entry(e.feature)
            .or_insert_with(|| (e, head.features.tokens_of(e.feature).0.len() == 2));
        if e.weight > best.0.weight {
            best.0 = e;
        }
    }
    let mut ids = Vec::new();
    let mut offsets = Vec::new();
    tokenizer.encode_with_offsets(text, &mut ids, &mut offsets)?;
    let mut found: Vec<(usize, usize, &Explained)> = Vec::new();
    let mut truncated = false;
    head.features.occurrences_at(&ids, |f, i| {
        let Some(&(e, bigram)) = by_feature.get(&f) else {
            return;
        };
        if found.len() >= limit {
            truncated = true;
            return;
        }
        let first = if bigram { i.saturating_sub(1) } else { i };
        if let (Some(&(s, _)), Some(&(_, end))) = (offsets.get(first), offsets.get(i)) {
            if s < end && text.is_char_boundary(s) && text.is_char_boundary(end) {
                found.push((s, end, e));
            }
        }
    });
    // A bigram is seen at its second token, after the unigram it starts with: sort into text
    // order (stable, so a unigram comes before the bigram it starts).
    found.sort_by_key(|&(s, e, _)| (s, e));
    let utf16 = Utf16Index::new(text, found.iter().flat_map(|&(s, e, _)| [s, e]));
    let spans = found
        .into_iter()
        .map(|(s, e, x)| Span {
            start: utf16.get(s),
            end: utf16.get(e),
            byte_start: s,
            byte_end: e,
            feature: x.name.clone(),
            label: x.label.clone(),
            weight: x.weight,
        })
        .collect();
    Ok(Spans { spans, truncated })
}

/// Byte offsets to UTF-16 offsets, for a set of positions known in advance (one pass over the
/// text, then a binary search per position).
struct Utf16Index {
    ascii: bool,
    bytes: Vec<usize>,
    units: Vec<usize>,
}

impl Utf16Index {
    fn new(text: &str, positions: impl Iterator<Item = usize>) -> Self {
        if text.is_ascii() {
            return Utf16Index {
                ascii: true,
                bytes: Vec::new(),
                units: Vec::new(),
            };
        }
        let mut bytes: Vec<usize> = positions.collect();
        bytes.sort_unstable();
        bytes.dedup();
        let mut units = Vec::with_capacity(bytes.len());
        let (mut at, mut u16s) = (0usize, 0usize);
        for &b in &bytes {
            let b = b.min(text.len());
            u16s += text[at..b].chars().map(char::len_utf16).sum::<usize>();
            at = b;
            units.push(u16s);
        }
        Utf16Index {
            ascii: false,
            bytes,
            units,
        }
    }

    fn get(&self, byte: usize) -> usize {
        if self.ascii {
            return byte;
        }
        match self.bytes.binary_search(&byte) {
            Ok(i) => self.units[i],
            // Only positions given to `new` are asked for.
            Err(_) => 0,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tokenize::{encode_reference, train_tokenizer, PIPELINE_CHUNK};

    fn tk() -> FastTokenizer {
        let docs = [
            "Open weights, open science! Closed APIs? don't",
            "Café naïve résumé — “quoted” words… ΣΊΣΥΦΟΣ fine",
        ];
        FastTokenizer::new(train_tokenizer(docs.iter(), 1, 10_000).unwrap())
    }

    #[test]
    fn offsets_match_the_pipeline_and_the_fast_ids() {
        let t = tk();
        for text in [
            "Open weights, “open” science — don't 🤖 close ﬁne… APIs",
            "plain ascii, open weights.",
            "[UNK] open[UNK]weights ΣΊΣ",
            "",
        ] {
            let (mut ids, mut offs) = (Vec::new(), Vec::new());
            t.encode_with_offsets(text, &mut ids, &mut offs).unwrap();
            let mut fast = Vec::new();
            t.encode(text, &mut fast).unwrap();
            assert_eq!(ids, fast, "{text:?}");
            assert_eq!(ids, encode_reference(t.pipeline(), text).unwrap());
            let enc = t.pipeline().encode(text, false).unwrap();
            assert_eq!(offs, enc.get_offsets(), "{text:?}");
        }
    }

    #[test]
    fn long_texts_are_fed_in_pieces_with_shifted_offsets() {
        let t = tk();
        let unit = "Open weights… ﬁne, “quoted” ΣΊΣ. ";
        let long = unit.repeat(3 * PIPELINE_CHUNK / unit.len());
        let (mut ids, mut offs) = (Vec::new(), Vec::new());
        t.encode_with_offsets(&long, &mut ids, &mut offs).unwrap();
        let mut fast = Vec::new();
        t.encode(&long, &mut fast).unwrap();
        assert_eq!(ids, fast);
        // Every token's text, normalised, is the token (or the start of an NFKC expansion).
        let n = offs.len();
        assert_eq!(&long[offs[n - 1].0..offs[n - 1].1], ".");
        assert_eq!(&long[offs[n - 3].0..offs[n - 3].1], "”");
        let unit_tokens = n / (3 * PIPELINE_CHUNK / unit.len());
        for (k, w) in offs.windows(2).enumerate() {
            assert!(w[0].0 <= w[1].0, "offsets go forward at token {k}");
        }
        let first = &offs[..unit_tokens];
        let last = &offs[n - unit_tokens..];
        let shift = long.len() - unit.len();
        for (a, b) in first.iter().zip(last) {
            assert_eq!((a.0 + shift, a.1 + shift), *b);
        }
    }

    #[test]
    fn a_huge_word_gets_offsets_without_the_pipeline() {
        let t = tk();
        let text = format!("“open” {} weights", "é".repeat(PIPELINE_CHUNK));
        let (mut ids, mut offs) = (Vec::new(), Vec::new());
        t.encode_with_offsets(&text, &mut ids, &mut offs).unwrap();
        assert_eq!(ids.len(), 5);
        assert_eq!(&text[offs[1].0..offs[1].1], "open");
        assert_eq!(&text[offs[4].0..offs[4].1], "weights");
        assert_eq!(offs[3].1 - offs[3].0, 2 * PIPELINE_CHUNK);
    }

    /// Through a whole classifier trained with bigrams and negation marking: every span's text
    /// is its feature's words, a `NOT_` feature spans its word, a bigram both words.
    #[test]
    fn classifier_spans_cover_their_features_words() {
        use crate::corpus::Corpus;
        use crate::params::TrainParams;
        let docs = [
            (0, "open weights let everyone audit and fork the model"),
            (0, "open models mean we can audit, fork and fine tune"),
            (0, "we do not want closed models; open weights win"),
            (1, "closed models are safer behind an api, not open weights"),
            (1, "an api lets the lab monitor misuse, never open weights"),
            (1, "do not release open weights: closed is safer"),
        ];
        let corpus = Corpus::for_tests(&["open", "closed"], &docs);
        let p = TrainParams {
            negation: true,
            bigrams: true,
            ..Default::default()
        };
        let model = crate::train::fit(&corpus, None, &p, None).unwrap();
        let c = crate::Classifier::from_trained(model, "test");
        let text =
            "🤖 We do NOT want “open weights”… Closed models, not open weights: audit & fork!";
        let s = c.score(text, 100).unwrap();
        let spans = s.spans.unwrap();
        assert_eq!(s.spans_truncated, Some(false));
        let (mut negated, mut bigrams) = (0, 0);
        for sp in &spans {
            let slice = &text[sp.byte_start..sp.byte_end];
            let units: Vec<u16> = text.encode_utf16().collect();
            assert_eq!(String::from_utf16(&units[sp.start..sp.end]).unwrap(), slice);
            let words = sp.feature.strip_prefix("NOT_").unwrap_or(&sp.feature);
            let squash = |t: &str| -> String {
                t.to_lowercase()
                    .chars()
                    .filter(|c| !c.is_whitespace())
                    .collect()
            };
            assert_eq!(squash(slice), squash(words), "{sp:?}");
            negated += usize::from(sp.feature.starts_with("NOT_"));
            bigrams += usize::from(words.contains(' '));
        }
        assert!(negated > 0, "a negation-marked feature among {spans:?}");
        assert!(bigrams > 0, "a bigram among {spans:?}");
        // The explanation is unchanged by spans: the same features, in the same order.
        let listed: Vec<&str> = s
            .explanation
            .iter()
            .flatten()
            .flat_map(|(_, w)| w.iter().map(|t| t.token.as_str()))
            .collect();
        assert!(spans.iter().all(|sp| listed.contains(&sp.feature.as_str())));
        assert!(c.score(text, 0).unwrap().spans.is_none());
    }

    #[test]
    fn utf16_index_counts_surrogate_pairs() {
        let text = "a🤖b—c";
        let idx = Utf16Index::new(text, [0, 1, 5, 6, 9, 10].into_iter());
        assert_eq!([0, 1, 5, 6, 9, 10].map(|b| idx.get(b)), [0, 1, 3, 4, 5, 6]);
    }
}

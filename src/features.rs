//! From token ids to naive Bayes features. Column `id - 1` is the unigram of token `id` (the
//! `[UNK]` token, id 0, is never a feature: unseen words carry no evidence); optional bigram
//! columns follow. The layout is stored in `model.json` so that loading can check that the
//! tokenizer and the model agree.

use rustc_hash::FxHashMap;
use serde::{Deserialize, Serialize};

/// The feature layout of one model.
#[derive(Debug, Clone, PartialEq)]
pub struct FeatureSpace {
    vocab_size: usize,
    binary: bool,
    bigram_list: Vec<[u32; 2]>,
    bigrams: FxHashMap<(u32, u32), u32>,
}

/// The serialized form of a [`FeatureSpace`].
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct FeatureLayout {
    /// Tokenizer vocabulary size, `[UNK]` included.
    pub vocab_size: usize,
    pub binary: bool,
    /// Token-id pairs, in column order after the unigrams.
    pub bigrams: Vec<[u32; 2]>,
}

impl FeatureSpace {
    pub fn new(vocab_size: usize, binary: bool, bigram_list: Vec<[u32; 2]>) -> Self {
        let unigrams = vocab_size.saturating_sub(1) as u32;
        let bigrams = bigram_list
            .iter()
            .enumerate()
            .map(|(i, p)| ((p[0], p[1]), unigrams + i as u32))
            .collect();
        FeatureSpace {
            vocab_size,
            binary,
            bigram_list,
            bigrams,
        }
    }

    pub fn from_layout(layout: FeatureLayout) -> Self {
        Self::new(layout.vocab_size, layout.binary, layout.bigrams)
    }

    pub fn layout(&self) -> FeatureLayout {
        FeatureLayout {
            vocab_size: self.vocab_size,
            binary: self.binary,
            bigrams: self.bigram_list.clone(),
        }
    }

    /// Number of model columns.
    pub fn len(&self) -> usize {
        self.vocab_size.saturating_sub(1) + self.bigram_list.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn binary(&self) -> bool {
        self.binary
    }

    /// The token ids behind a column: one for a unigram, two for a bigram.
    pub fn tokens_of(&self, feature: u32) -> Vec<u32> {
        let unigrams = self.vocab_size.saturating_sub(1) as u32;
        if feature < unigrams {
            vec![feature + 1]
        } else {
            self.bigram_list
                .get((feature - unigrams) as usize)
                .map(|p| p.to_vec())
                .unwrap_or_default()
        }
    }

    /// Every feature occurrence in a document, in text order (ids out of range are ignored).
    pub fn occurrences(&self, ids: &[u32], out: &mut Vec<u32>) {
        out.clear();
        let vocab = self.vocab_size as u32;
        out.extend(
            ids.iter()
                .filter(|&&id| id != 0 && id < vocab)
                .map(|&id| id - 1),
        );
        if !self.bigrams.is_empty() {
            for w in ids.windows(2) {
                if let Some(&f) = self.bigrams.get(&(w[0], w[1])) {
                    out.push(f);
                }
            }
        }
    }

    /// Sorted `(feature, value)` pairs of a document: counts, or 1.0 when binary.
    pub fn counts(&self, ids: &[u32]) -> Vec<(u32, f64)> {
        let mut occ = Vec::with_capacity(ids.len());
        self.occurrences(ids, &mut occ);
        occ.sort_unstable();
        let mut out: Vec<(u32, f64)> = Vec::new();
        for f in occ {
            match out.last_mut() {
                Some((last, n)) if *last == f => {
                    if !self.binary {
                        *n += 1.0
                    }
                }
                _ => out.push((f, 1.0)),
            }
        }
        out
    }
}

/// Counts adjacent known-token pairs over a corpus to pick bigram features.
#[derive(Default)]
pub struct BigramCounter {
    counts: FxHashMap<(u32, u32), u64>,
}

impl BigramCounter {
    pub fn add(&mut self, ids: &[u32]) {
        for w in ids.windows(2) {
            if w[0] != 0 && w[1] != 0 {
                *self.counts.entry((w[0], w[1])).or_insert(0) += 1;
            }
        }
    }

    /// Pairs seen at least `min_count` times, most frequent first (ties by ids), at most `max`.
    pub fn finish(self, min_count: u64, max: usize) -> Vec<[u32; 2]> {
        let mut kept: Vec<((u32, u32), u64)> = self
            .counts
            .into_iter()
            .filter(|&(_, n)| n >= min_count)
            .collect();
        kept.sort_unstable_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
        kept.truncate(max);
        kept.into_iter().map(|((a, b), _)| [a, b]).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unigrams_skip_unk_and_bigrams_follow() {
        let fs = FeatureSpace::new(5, false, vec![[1, 2]]);
        assert_eq!(fs.len(), 5);
        assert_eq!(
            fs.counts(&[1, 2, 0, 1, 2, 9]),
            vec![(0, 2.0), (1, 2.0), (4, 2.0)]
        );
        assert_eq!(fs.tokens_of(4), vec![1, 2]);
        assert_eq!(fs.tokens_of(0), vec![1]);
        let bin = FeatureSpace::new(5, true, vec![]);
        assert_eq!(bin.counts(&[3, 3, 3]), vec![(2, 1.0)]);
    }

    #[test]
    fn bigram_counter_prunes_and_orders() {
        let mut c = BigramCounter::default();
        c.add(&[1, 2, 1, 2, 3, 0, 3]);
        assert_eq!(c.finish(2, 10), vec![[1, 2]]);
    }
}

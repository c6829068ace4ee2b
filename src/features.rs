//! From token ids to naive Bayes features. A [`FeatureSpace`] maps the tokens of a document to
//! model columns: kept unigrams first, then kept bigrams (adjacent token pairs), then, with
//! negation marking, unigrams seen inside a negation scope ("not open" counts `NOT_open`, not
//! `open`; Das and Chen 2001, Pang et al. 2002). `[UNK]` (id 0) is never a feature: unseen words
//! carry no evidence. Which features exist is chosen at training time by [`FeatureSelector`]
//! (document frequency, stop-word rule, cap); the layout is stored in `model.json` so that
//! loading can check that the tokenizer and the model agree.

use rustc_hash::{FxHashMap, FxHashSet};
use serde::{Deserialize, Serialize};

use crate::stopwords::TokenClasses;

const NONE: u32 = u32::MAX;

/// The feature layout of one model.
#[derive(Debug, Clone, PartialEq)]
pub struct FeatureSpace {
    layout: FeatureLayout,
    /// Token id -> unigram column (NONE when not a feature).
    uni_col: Vec<u32>,
    /// Token id -> negated-unigram column (NONE when not a feature).
    neg_col: Vec<u32>,
    /// Token id -> 1 opens a negation scope, 2 closes one.
    scope: Vec<u8>,
    bigrams: FxHashMap<(u32, u32), u32>,
}

/// Tokens that open and close a negation scope.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
#[serde(deny_unknown_fields)]
pub struct NegationLayout {
    /// Token ids that open a scope ("not", "never", the "t" of "n't" ...).
    pub triggers: Vec<u32>,
    /// Token ids that close it (sentence and clause punctuation).
    pub enders: Vec<u32>,
    /// Token ids that have a negated column, in column order after the bigrams.
    pub negated: Vec<u32>,
}

/// The serialized form of a [`FeatureSpace`].
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct FeatureLayout {
    /// Tokenizer vocabulary size, `[UNK]` included.
    pub vocab_size: usize,
    pub binary: bool,
    /// Token ids kept as unigram features, in column order.
    pub unigrams: Vec<u32>,
    /// Token-id pairs, in column order after the unigrams.
    pub bigrams: Vec<[u32; 2]>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub negation: Option<NegationLayout>,
}

impl FeatureLayout {
    /// Every token id the layout refers to, for validation against the tokenizer.
    pub fn token_ids(&self) -> impl Iterator<Item = u32> + '_ {
        let neg = self.negation.iter().flat_map(|n| {
            n.triggers
                .iter()
                .chain(&n.enders)
                .chain(&n.negated)
                .copied()
        });
        self.unigrams
            .iter()
            .copied()
            .chain(self.bigrams.iter().flatten().copied())
            .chain(neg)
    }
}

impl FeatureSpace {
    /// Builds the lookup tables of a layout. Ids outside the vocabulary are ignored here;
    /// [`FeatureLayout::token_ids`] lets a loader refuse them first.
    pub fn from_layout(layout: FeatureLayout) -> Self {
        let v = layout.vocab_size;
        let mut uni_col = vec![NONE; v];
        for (i, &id) in layout.unigrams.iter().enumerate() {
            if let Some(c) = uni_col.get_mut(id as usize) {
                *c = i as u32;
            }
        }
        let n_uni = layout.unigrams.len() as u32;
        let bigrams = layout
            .bigrams
            .iter()
            .enumerate()
            .map(|(i, p)| ((p[0], p[1]), n_uni + i as u32))
            .collect();
        let mut neg_col = Vec::new();
        let mut scope = Vec::new();
        if let Some(n) = &layout.negation {
            neg_col = vec![NONE; v];
            scope = vec![0; v];
            let base = n_uni + layout.bigrams.len() as u32;
            for (i, &id) in n.negated.iter().enumerate() {
                if let Some(c) = neg_col.get_mut(id as usize) {
                    *c = base + i as u32;
                }
            }
            for &id in &n.enders {
                if let Some(s) = scope.get_mut(id as usize) {
                    *s = 2;
                }
            }
            for &id in &n.triggers {
                if let Some(s) = scope.get_mut(id as usize) {
                    *s = 1;
                }
            }
        }
        FeatureSpace {
            layout,
            uni_col,
            neg_col,
            scope,
            bigrams,
        }
    }

    pub fn layout(&self) -> &FeatureLayout {
        &self.layout
    }

    /// Number of model columns.
    pub fn len(&self) -> usize {
        self.layout.unigrams.len()
            + self.layout.bigrams.len()
            + self.layout.negation.as_ref().map_or(0, |n| n.negated.len())
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn binary(&self) -> bool {
        self.layout.binary
    }

    /// The token ids behind a column and whether it is a negated unigram.
    pub fn tokens_of(&self, feature: u32) -> (Vec<u32>, bool) {
        let f = feature as usize;
        let n_uni = self.layout.unigrams.len();
        let n_bi = self.layout.bigrams.len();
        if f < n_uni {
            (vec![self.layout.unigrams[f]], false)
        } else if f < n_uni + n_bi {
            (self.layout.bigrams[f - n_uni].to_vec(), false)
        } else {
            let neg = self.layout.negation.as_ref();
            let id = neg.and_then(|n| n.negated.get(f - n_uni - n_bi).copied());
            (id.into_iter().collect(), true)
        }
    }

    /// Every feature occurrence in a document, with the index of the token that ends it (the
    /// second word of a bigram), in text order. Ids out of range are ignored.
    pub fn occurrences_at(&self, ids: &[u32], emit: impl FnMut(u32, usize)) {
        self.occurrences_with(ids, |i| self.bigram_column(ids[i - 1], ids[i]), emit)
    }

    /// The column of the bigram `(a, b)`, or `u32::MAX` when it is not a feature.
    #[inline]
    pub fn bigram_column(&self, a: u32, b: u32) -> u32 {
        self.bigrams.get(&(a, b)).copied().unwrap_or(NONE)
    }

    /// Every bigram feature and its column, in no particular order.
    pub fn bigram_columns(&self) -> impl Iterator<Item = ((u32, u32), u32)> + '_ {
        self.bigrams.iter().map(|(&k, &v)| (k, v))
    }

    /// [`FeatureSpace::occurrences_at`] with the bigram column ending at token `i` (`i > 0`)
    /// given by `bigram`, so that a caller scoring several spaces can look pairs up once.
    fn occurrences_with(
        &self,
        ids: &[u32],
        bigram: impl Fn(usize) -> u32,
        mut emit: impl FnMut(u32, usize),
    ) {
        let negation = !self.scope.is_empty();
        let mut negated = false;
        for (i, &id) in ids.iter().enumerate() {
            let t = id as usize;
            if id != 0 && t < self.uni_col.len() {
                if negation && self.scope[t] == 2 {
                    negated = false;
                }
                let col = if negated {
                    self.neg_col[t]
                } else {
                    self.uni_col[t]
                };
                if col != NONE {
                    emit(col, i);
                }
                if negation && self.scope[t] == 1 {
                    negated = true;
                }
            }
            if i > 0 && !self.bigrams.is_empty() {
                let f = bigram(i);
                if f != NONE {
                    emit(f, i);
                }
            }
        }
    }

    /// Every feature occurrence in a document (each occurrence once).
    pub fn occurrences(&self, ids: &[u32], out: &mut Vec<u32>) {
        out.clear();
        self.occurrences_at(ids, |f, _| out.push(f));
    }

    /// Sorted `(feature, value)` pairs of a document: counts, or 1.0 when binary.
    pub fn counts(&self, ids: &[u32]) -> Vec<(u32, f64)> {
        self.counts_with(ids, |i| self.bigram_column(ids[i - 1], ids[i]))
    }

    /// [`FeatureSpace::counts`] with precomputed bigram columns: `bigram_columns[i]` is the
    /// column of the pair that ends at token `i` (`u32::MAX` when none), as
    /// [`FeatureSpace::bigram_column`] gives. See [`crate::pairs::PairIndex`].
    pub fn counts_with_bigrams(&self, ids: &[u32], bigram_columns: &[u32]) -> Vec<(u32, f64)> {
        self.counts_with(ids, |i| bigram_columns.get(i).copied().unwrap_or(NONE))
    }

    fn counts_with(&self, ids: &[u32], bigram: impl Fn(usize) -> u32) -> Vec<(u32, f64)> {
        if self.layout.binary {
            self.distinct(ids, bigram)
        } else {
            self.counts_by_sorting(ids, bigram)
        }
    }

    /// The binary case of [`FeatureSpace::counts`] without sorting the occurrences: they are
    /// marked in a bitset over the columns. Scoring a 4 KB article spent about a fifth of its time
    /// sorting occurrences. The bitset is kept per thread and left all zero after each call, so a
    /// call does not allocate and clear `len() / 8` bytes (15 KB for the shipped heads); it costs
    /// time in the document's size: when few of the bitset's words were touched (a short text),
    /// their indices are sorted instead of scanning every word. Gives exactly what sorting and
    /// de-duplicating would (a unit test checks both routes).
    fn distinct(&self, ids: &[u32], bigram: impl Fn(usize) -> u32) -> Vec<(u32, f64)> {
        let words = self.len().div_ceil(64);
        self.distinct_with(ids, bigram, words / 32)
    }

    /// [`FeatureSpace::distinct`], sorting the touched words' indices when there are fewer than
    /// `sort_below` of them and scanning the whole bitset otherwise.
    fn distinct_with(
        &self,
        ids: &[u32],
        bigram: impl Fn(usize) -> u32,
        sort_below: usize,
    ) -> Vec<(u32, f64)> {
        thread_local! {
            static SCRATCH: std::cell::RefCell<Bitset> = const {
                std::cell::RefCell::new(Bitset { words: Vec::new(), touched: Vec::new() })
            };
        }
        SCRATCH.with(|cell| {
            let Ok(mut scratch) = cell.try_borrow_mut() else {
                return self.counts_by_sorting(ids, bigram);
            };
            let Bitset {
                words: seen,
                touched,
            } = &mut *scratch;
            let words = self.len().div_ceil(64);
            // All zero between calls: every touched word is taken back to zero below, and a
            // call that did not finish leaves `touched` non-empty, which clears everything.
            if !touched.is_empty() {
                seen.iter_mut().for_each(|w| *w = 0);
                touched.clear();
            }
            if seen.len() < words {
                seen.resize(words, 0);
            }
            let mut n = 0usize;
            self.occurrences_with(ids, bigram, |f, _| {
                let w = f as usize / 64;
                if w < words {
                    let bit = 1u64 << (f % 64);
                    let word = &mut seen[w];
                    if *word == 0 {
                        touched.push(w as u32);
                    }
                    n += (*word & bit == 0) as usize;
                    *word |= bit;
                }
            });
            let mut out = Vec::with_capacity(n);
            let mut emit = |w: usize, word: u64| {
                let mut rest = word;
                while rest != 0 {
                    out.push(((w * 64) as u32 + rest.trailing_zeros(), 1.0));
                    rest &= rest - 1;
                }
            };
            if touched.len() < sort_below {
                touched.sort_unstable();
                for &w in touched.iter() {
                    emit(w as usize, std::mem::take(&mut seen[w as usize]));
                }
            } else {
                for (w, word) in seen[..words].iter_mut().enumerate() {
                    emit(w, std::mem::take(word));
                }
            }
            touched.clear();
            out
        })
    }

    /// [`FeatureSpace::counts`] by sorting the occurrences: the reference, and the path for
    /// counted (non-binary) features.
    fn counts_by_sorting(&self, ids: &[u32], bigram: impl Fn(usize) -> u32) -> Vec<(u32, f64)> {
        let mut occ = Vec::with_capacity(ids.len() * 2);
        self.occurrences_with(ids, bigram, |f, _| occ.push(f));
        occ.sort_unstable();
        let mut out: Vec<(u32, f64)> = Vec::with_capacity(occ.len());
        for f in occ {
            match out.last_mut() {
                Some((last, n)) if *last == f => {
                    if !self.layout.binary {
                        *n += 1.0
                    }
                }
                _ => out.push((f, 1.0)),
            }
        }
        out
    }
}

/// The per-thread scratch of [`FeatureSpace::distinct`]: a bitset over the columns and the
/// indices of its words that are not zero.
struct Bitset {
    words: Vec<u64>,
    touched: Vec<u32>,
}

/// How candidate features are chosen from a training corpus.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SelectionRule {
    /// Keep a feature only if it occurs in at least this many documents.
    pub min_df: u64,
    /// Drop unigrams that are stop-words or punctuation, and bigrams made only of them.
    pub drop_stop_words: bool,
    /// Drop every feature that contains a punctuation-only token ("—", "secure .", "gpt -"):
    /// punctuation habits belong to a writer or a house style, not to an argument.
    pub drop_punctuation: bool,
    pub bigrams: bool,
    pub negation: bool,
    /// At most this many bigrams (the most frequent by document frequency).
    pub max_bigrams: usize,
    pub binary: bool,
}

/// Counts the document frequency of every candidate feature over a corpus, then keeps those the
/// rule allows. Deterministic: ties are broken by token ids.
pub struct FeatureSelector<'a> {
    rule: SelectionRule,
    classes: &'a TokenClasses,
    vocab_size: usize,
    unigram_df: Vec<u64>,
    negated_df: Vec<u64>,
    bigram_df: FxHashMap<(u32, u32), u64>,
    seen_bigrams: FxHashSet<(u32, u32)>,
    seen: Vec<u32>,
    documents: u64,
}

impl<'a> FeatureSelector<'a> {
    pub fn new(rule: SelectionRule, classes: &'a TokenClasses, vocab_size: usize) -> Self {
        FeatureSelector {
            rule,
            classes,
            vocab_size,
            unigram_df: vec![0; vocab_size],
            negated_df: vec![0; vocab_size],
            bigram_df: FxHashMap::default(),
            seen_bigrams: FxHashSet::default(),
            seen: vec![0; vocab_size],
            documents: 0,
        }
    }

    /// Counts one document's candidate features once each.
    pub fn add(&mut self, ids: &[u32]) {
        self.documents += 1;
        let stamp = self.documents as u32;
        let mut negated = false;
        self.seen_bigrams.clear();
        for (i, &id) in ids.iter().enumerate() {
            let t = id as usize;
            if id != 0 && t < self.vocab_size {
                if self.rule.negation && self.classes.closes_scope(id) {
                    negated = false;
                }
                // Bit 1: seen plain, bit 2: seen negated, within this document (stamp-encoded).
                let mark = if negated { 2 } else { 1 };
                let prev = self.seen[t];
                let (doc, bits) = (prev >> 2, prev & 3);
                let bits = if doc == stamp { bits } else { 0 };
                if bits & mark == 0 {
                    if negated {
                        self.negated_df[t] += 1;
                    } else {
                        self.unigram_df[t] += 1;
                    }
                }
                self.seen[t] = (stamp << 2) | bits | mark;
                if self.rule.negation && self.classes.opens_scope(id) {
                    negated = true;
                }
            }
            if self.rule.bigrams && i > 0 {
                let (a, b) = (ids[i - 1], id);
                if a != 0 && b != 0 && self.seen_bigrams.insert((a, b)) {
                    *self.bigram_df.entry((a, b)).or_insert(0) += 1;
                }
            }
        }
    }

    fn keep_unigram(&self, id: u32, df: u64) -> bool {
        id != 0
            && df >= self.rule.min_df
            && !(self.rule.drop_stop_words && self.classes.is_stop(id))
            && !(self.rule.drop_punctuation && self.classes.is_punct(id))
    }

    /// The chosen layout.
    pub fn finish(self) -> FeatureLayout {
        self.finish_with_df().0
    }

    /// The chosen layout, each column's document frequency and the number of documents seen.
    pub fn finish_with_df(self) -> (FeatureLayout, Vec<u64>, u64) {
        let unigrams: Vec<u32> = (0..self.vocab_size as u32)
            .filter(|&id| self.keep_unigram(id, self.unigram_df[id as usize]))
            .collect();
        let mut bigrams: Vec<((u32, u32), u64)> = self
            .bigram_df
            .iter()
            .filter(|&(&(a, b), &df)| {
                df >= self.rule.min_df
                    && !(self.rule.drop_stop_words
                        && self.classes.is_stop(a)
                        && self.classes.is_stop(b))
                    && !(self.rule.drop_punctuation
                        && (self.classes.is_punct(a) || self.classes.is_punct(b)))
            })
            .map(|(&k, &v)| (k, v))
            .collect();
        bigrams.sort_unstable_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
        bigrams.truncate(self.rule.max_bigrams);
        bigrams.sort_unstable_by_key(|b| b.0);
        let negation = self.rule.negation.then(|| NegationLayout {
            triggers: self.classes.triggers().to_vec(),
            enders: self.classes.enders().to_vec(),
            negated: (0..self.vocab_size as u32)
                .filter(|&id| self.keep_unigram(id, self.negated_df[id as usize]))
                .collect(),
        });
        let mut df: Vec<u64> = unigrams
            .iter()
            .map(|&id| self.unigram_df[id as usize])
            .collect();
        df.extend(bigrams.iter().map(|(_, d)| *d));
        if let Some(n) = &negation {
            df.extend(n.negated.iter().map(|&id| self.negated_df[id as usize]));
        }
        let layout = FeatureLayout {
            vocab_size: self.vocab_size,
            binary: self.rule.binary,
            unigrams,
            bigrams: bigrams.into_iter().map(|((a, b), _)| [a, b]).collect(),
            negation,
        };
        (layout, df, self.documents)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng};

    fn classes() -> TokenClasses {
        // ids: 1 "not", 2 "open", 3 "weights", 4 ".", 5 "the"
        TokenClasses::from_tokens(
            ["[UNK]", "not", "open", "weights", ".", "the"]
                .iter()
                .map(|s| s.to_string())
                .collect(),
        )
    }

    fn rule() -> SelectionRule {
        SelectionRule {
            min_df: 1,
            drop_stop_words: false,
            drop_punctuation: false,
            bigrams: true,
            negation: false,
            max_bigrams: 100,
            binary: false,
        }
    }

    #[test]
    fn unigrams_skip_unk_and_bigrams_follow() {
        let c = classes();
        let mut sel = FeatureSelector::new(rule(), &c, 6);
        sel.add(&[2, 3, 0, 2, 3]);
        let layout = sel.finish();
        assert_eq!(layout.unigrams, vec![2, 3]);
        assert_eq!(layout.bigrams, vec![[2, 3]]);
        let fs = FeatureSpace::from_layout(layout);
        assert_eq!(fs.len(), 3);
        assert_eq!(
            fs.counts(&[2, 3, 0, 2, 3, 9]),
            vec![(0, 2.0), (1, 2.0), (2, 2.0)]
        );
        assert_eq!(fs.tokens_of(2), (vec![2, 3], false));
    }

    #[test]
    fn min_df_counts_documents_not_occurrences() {
        let c = classes();
        let mut sel = FeatureSelector::new(
            SelectionRule {
                min_df: 2,
                ..rule()
            },
            &c,
            6,
        );
        sel.add(&[2, 2, 2, 3]);
        sel.add(&[3]);
        let layout = sel.finish();
        assert_eq!(layout.unigrams, vec![3]);
        assert!(layout.bigrams.is_empty());
    }

    #[test]
    fn stop_words_and_punctuation_are_dropped() {
        let c = classes();
        let r = SelectionRule {
            drop_stop_words: true,
            ..rule()
        };
        let mut sel = FeatureSelector::new(r, &c, 6);
        sel.add(&[5, 4, 5, 2, 4]);
        let layout = sel.finish();
        // "the" and "." go; "the open" stays (one content word); "the ." and ". the" go.
        assert_eq!(layout.unigrams, vec![2]);
        assert_eq!(layout.bigrams, vec![[2, 4], [5, 2]]);
    }

    #[test]
    fn punctuation_features_are_dropped_whole() {
        let c = classes();
        let r = SelectionRule {
            drop_punctuation: true,
            ..rule()
        };
        let mut sel = FeatureSelector::new(r, &c, 6);
        sel.add(&[5, 4, 5, 2, 4]);
        let layout = sel.finish();
        // "." and every bigram with it go; "the" and "the open" stay (no punctuation).
        assert_eq!(layout.unigrams, vec![2, 5]);
        assert_eq!(layout.bigrams, vec![[5, 2]]);
    }

    #[test]
    fn negation_marks_words_until_punctuation() {
        let c = classes();
        let r = SelectionRule {
            negation: true,
            bigrams: false,
            ..rule()
        };
        let mut sel = FeatureSelector::new(r, &c, 6);
        // "not open weights . open"
        sel.add(&[1, 2, 3, 4, 2]);
        let layout = sel.finish();
        let neg = layout.negation.clone().unwrap();
        assert_eq!(neg.negated, vec![2, 3]);
        assert_eq!(layout.unigrams, vec![1, 2, 4]);
        let fs = FeatureSpace::from_layout(layout);
        // columns: unigrams not=0 open=1 .=2, negated open=3 weights=4
        let mut occ = Vec::new();
        fs.occurrences(&[1, 2, 3, 4, 2], &mut occ);
        assert_eq!(occ, vec![0, 3, 4, 2, 1]);
        assert_eq!(fs.tokens_of(4), (vec![3], true));
    }

    #[test]
    fn binary_counts_equal_sorting_and_deduplicating() {
        // A vocabulary of 200 ids with more than 64 columns, so the bitset spans several words.
        let tokens: Vec<String> = std::iter::once("[UNK]".to_string())
            .chain((1..200).map(|i| match i {
                1 => "not".to_string(),
                2 => ".".to_string(),
                _ => format!("w{i}"),
            }))
            .collect();
        let c = TokenClasses::from_tokens(tokens);
        let r = SelectionRule {
            negation: true,
            binary: true,
            ..rule()
        };
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(7);
        let mut next = move || rng.random_range(0..200u32);
        let mut sel = FeatureSelector::new(r, &c, 200);
        for _ in 0..30 {
            let doc: Vec<u32> = (0..40).map(|_| next()).collect();
            sel.add(&doc);
        }
        let fs = FeatureSpace::from_layout(sel.finish());
        assert!(fs.len() > 128, "{} columns", fs.len());
        let mut nonempty = 0;
        for len in [0, 1, 2, 5, 50, 400] {
            for _ in 0..20 {
                let doc: Vec<u32> = (0..len).map(|_| next()).collect();
                let lookup = |i: usize| fs.bigram_column(doc[i - 1], doc[i]);
                let fast = fs.distinct(&doc, lookup);
                assert_eq!(fast, fs.counts_by_sorting(&doc, lookup), "{doc:?}");
                // Both ways of reading the bitset, each leaving it clean for the next call.
                assert_eq!(fs.distinct_with(&doc, lookup, usize::MAX), fast, "sorted");
                assert_eq!(fs.distinct_with(&doc, lookup, 0), fast, "scanned");
                assert_eq!(fast, fs.counts(&doc));
                nonempty += !fast.is_empty() as usize;
            }
        }
        assert!(nonempty > 80);
    }
}

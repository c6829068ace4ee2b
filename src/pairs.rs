//! One bigram lookup for both heads. The stance and relevance heads each keep 100,000 bigram
//! features in a hash table of about 1.5 MB, larger than a core's L2 cache, so scoring a text
//! paid two cache misses per token, one per head. A [`PairIndex`] maps each token pair to its
//! column in both heads at once; each head then reads its column from a plain vector
//! ([`FeatureSpace::counts_with_bigrams`]), with exactly the features it would have found itself
//! (a unit test checks it).

use rustc_hash::FxHashMap;

use crate::features::FeatureSpace;

const NONE: u32 = u32::MAX;

/// Token pair -> its bigram column in each of two feature spaces (`u32::MAX` where it is not a
/// feature).
#[derive(Debug, Clone)]
pub struct PairIndex {
    map: FxHashMap<(u32, u32), [u32; 2]>,
}

impl PairIndex {
    /// The index of the stance head's space and, when the model has one, the relevance head's
    /// (its columns are then all `u32::MAX`).
    pub fn new(first: &FeatureSpace, second: Option<&FeatureSpace>) -> Self {
        let mut map: FxHashMap<(u32, u32), [u32; 2]> = FxHashMap::default();
        for (slot, space) in [Some(first), second].into_iter().enumerate() {
            for (k, col) in space.into_iter().flat_map(FeatureSpace::bigram_columns) {
                map.entry(k).or_insert([NONE; 2])[slot] = col;
            }
        }
        PairIndex { map }
    }

    /// For each token `i`, the column of the pair `(ids[i - 1], ids[i])` in each space
    /// (`u32::MAX` for none, and at `i = 0`).
    pub fn columns(&self, ids: &[u32]) -> [Vec<u32>; 2] {
        let mut cols = [vec![NONE; ids.len()], vec![NONE; ids.len()]];
        if !self.map.is_empty() {
            for (i, pair) in ids.windows(2).enumerate() {
                if let Some(&[a, b]) = self.map.get(&(pair[0], pair[1])) {
                    cols[0][i + 1] = a;
                    cols[1][i + 1] = b;
                }
            }
        }
        cols
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::features::{FeatureSelector, SelectionRule};
    use crate::stopwords::TokenClasses;
    use rand::{Rng, SeedableRng};

    #[test]
    fn both_heads_find_exactly_their_own_features() {
        let tokens: Vec<String> = std::iter::once("[UNK]".to_string())
            .chain((1..15).map(|i| format!("w{i}")))
            .collect();
        let c = TokenClasses::from_tokens(tokens);
        let rule = |binary| SelectionRule {
            min_df: 1,
            drop_stop_words: false,
            drop_punctuation: false,
            bigrams: true,
            negation: false,
            max_bigrams: 40,
            binary,
        };
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(11);
        let mut next = move || rng.random_range(0..15u32);
        // Two spaces trained on different documents: overlapping but different bigrams.
        let (mut a, mut b) = (
            FeatureSelector::new(rule(true), &c, 15),
            FeatureSelector::new(rule(false), &c, 15),
        );
        for _ in 0..20 {
            a.add(&(0..30).map(|_| next()).collect::<Vec<_>>());
            b.add(&(0..30).map(|_| next()).collect::<Vec<_>>());
        }
        let (a, b) = (
            FeatureSpace::from_layout(a.finish()),
            FeatureSpace::from_layout(b.finish()),
        );
        let index = PairIndex::new(&a, Some(&b));
        let mut bigrams_seen = 0;
        for len in [0, 1, 2, 3, 100] {
            for _ in 0..20 {
                let doc: Vec<u32> = (0..len).map(|_| next()).collect();
                let [ca, cb] = index.columns(&doc);
                assert_eq!(a.counts_with_bigrams(&doc, &ca), a.counts(&doc), "{doc:?}");
                assert_eq!(b.counts_with_bigrams(&doc, &cb), b.counts(&doc), "{doc:?}");
                bigrams_seen += ca.iter().chain(&cb).filter(|&&c| c != NONE).count();
            }
        }
        assert!(bigrams_seen > 300, "{bigrams_seen}");
    }
}

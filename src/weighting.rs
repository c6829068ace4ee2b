//! Document vectors before naive Bayes: optional TF-IDF and L2 length normalisation, the
//! transforms Rennie et al. (2003) pair with complement naive Bayes, with scikit-learn's
//! `TfidfTransformer` numerics (`smooth_idf=True`: `idf = ln((1 + n) / (1 + df)) + 1`, then
//! `norm='l2'`). They keep one long article, or one repeated word, from outweighing the rest.

use serde::{Deserialize, Serialize};

/// The stored transform; identity when both parts are off.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct Weighting {
    /// Per-column inverse document frequency, when TF-IDF is on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub idf: Option<Vec<f64>>,
    /// Scale each document vector to unit Euclidean length.
    #[serde(default)]
    pub l2: bool,
    /// With `l2`: the smallest norm of any training document. A shorter document is divided by
    /// it rather than by its own norm, so that a headline's few features are not each given
    /// the weight of a whole article's: below the shortest length the model was trained on,
    /// evidence grows with the text again, as it does without `l2`. Training documents are
    /// unaffected (none is below it). `None` in artifacts from before the floor: plain `l2`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_norm: Option<f64>,
}

impl Weighting {
    /// Builds the transform from column document frequencies over `documents` documents.
    pub fn fit(tfidf: bool, l2: bool, df: &[u64], documents: u64) -> Self {
        let idf = tfidf.then(|| {
            df.iter()
                .map(|&d| ((1.0 + documents as f64) / (1.0 + d as f64)).ln() + 1.0)
                .collect()
        });
        Weighting {
            idf,
            l2,
            min_norm: None,
        }
    }

    /// [`Weighting::apply`] for a training document, which also lowers
    /// [`Weighting::min_norm`] to its norm. The document is divided by exactly its own norm, as
    /// plain `l2` divides it: the floor only ever reaches documents shorter than every training
    /// document, which no training document is.
    pub fn apply_training(&mut self, counts: &mut [(u32, f64)]) {
        let norm = self.weigh(counts);
        if self.l2 && norm > 0.0 {
            self.min_norm = Some(self.min_norm.map_or(norm, |m| m.min(norm)));
        }
        Self::divide(counts, norm);
    }

    pub fn is_identity(&self) -> bool {
        self.idf.is_none() && !self.l2
    }

    /// Applies the transform in place to sorted `(column, value)` pairs.
    pub fn apply(&self, counts: &mut [(u32, f64)]) {
        let norm = self.weigh(counts);
        Self::divide(counts, norm.max(self.min_norm.unwrap_or(0.0)));
    }

    /// Multiplies in the IDF factors and returns the vector's norm then (0 without `l2`, which
    /// [`Weighting::divide`] takes as "leave the length alone").
    fn weigh(&self, counts: &mut [(u32, f64)]) -> f64 {
        if let Some(idf) = &self.idf {
            for (f, v) in counts.iter_mut() {
                *v *= idf.get(*f as usize).copied().unwrap_or(1.0);
            }
        }
        if self.l2 {
            counts.iter().map(|(_, v)| v * v).sum::<f64>().sqrt()
        } else {
            0.0
        }
    }

    fn divide(counts: &mut [(u32, f64)], norm: f64) {
        if norm > 0.0 {
            counts.iter_mut().for_each(|(_, v)| *v /= norm);
        }
    }

    /// Checks a loaded transform against the model width.
    pub fn validate(&self, n_features: usize) -> Result<(), String> {
        if let Some(m) = self.min_norm {
            if !self.l2 {
                return Err("min_norm is set but l2 is off".into());
            }
            if !(m.is_finite() && m > 0.0) {
                return Err(format!("min_norm {m} is not a positive number"));
            }
        }
        if let Some(idf) = &self.idf {
            if idf.len() != n_features {
                return Err(format!(
                    "idf has {} entries for {n_features} features",
                    idf.len()
                ));
            }
            if let Some(bad) = idf.iter().find(|v| !(v.is_finite() && **v > 0.0)) {
                return Err(format!("idf value {bad} is not a positive number"));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_scikit_learn_tfidf_transformer() {
        // TfidfTransformer().fit([[1,0],[1,1],[1,0]]): idf = [1, ln(4/2)+1]
        let w = Weighting::fit(true, true, &[3, 1], 3);
        let idf = w.idf.clone().unwrap();
        assert!((idf[0] - 1.0).abs() < 1e-15);
        assert!((idf[1] - (2.0f64.ln() + 1.0)).abs() < 1e-15);
        let mut doc = vec![(0, 1.0), (1, 1.0)];
        w.apply(&mut doc);
        let n = (1.0 + idf[1] * idf[1]).sqrt();
        assert!((doc[0].1 - 1.0 / n).abs() < 1e-15 && (doc[1].1 - idf[1] / n).abs() < 1e-15);
        assert!(Weighting::default().is_identity());
    }

    /// The trainer's pass (one document at a time, shortest documents anywhere in the stream)
    /// scales every training document bit for bit as plain `l2` does, with and without TF-IDF.
    #[test]
    fn the_floor_leaves_training_documents_as_plain_l2_scales_them() {
        let df = [1, 2, 3, 1, 2, 5, 4, 1];
        for tfidf in [false, true] {
            let plain = Weighting::fit(tfidf, true, &df, 6);
            let mut floored = plain.clone();
            for cols in [
                &[0, 2, 5, 7][..],
                &[1, 3],
                &[0, 1, 2, 3, 4, 5, 6],
                &[6],
                &[2, 4, 6],
            ] {
                let doc: Vec<(u32, f64)> = cols.iter().map(|&f| (f, 1.0)).collect();
                let (mut a, mut b) = (doc.clone(), doc.clone());
                plain.apply(&mut a);
                floored.apply_training(&mut b);
                assert_eq!(a, b, "tfidf {tfidf}, columns {cols:?}");
            }
            assert!(floored.min_norm.is_some());
        }
    }

    /// A `model.json` weighting from before the floor reads back as plain `l2`: a one-feature
    /// text keeps unit length.
    #[test]
    fn a_weighting_without_min_norm_is_plain_l2() {
        let old: Weighting = serde_json::from_str(r#"{"l2":true}"#).unwrap();
        assert_eq!(old.min_norm, None);
        assert!(old.validate(4).is_ok());
        let mut one = vec![(3, 1.0)];
        old.apply(&mut one);
        assert_eq!(one, vec![(3, 1.0)]);
    }

    #[test]
    fn documents_below_the_shortest_training_norm_are_divided_by_it() {
        let mut w = Weighting::fit(false, true, &[1; 9], 4);
        for n in [9, 4, 6] {
            let mut doc: Vec<(u32, f64)> = (0..n).map(|f| (f, 1.0)).collect();
            w.apply_training(&mut doc);
        }
        assert_eq!(w.min_norm, Some(2.0));
        // A training-length document is scaled to unit length, as without the floor.
        let mut four: Vec<(u32, f64)> = (0..4).map(|f| (f, 1.0)).collect();
        w.apply(&mut four);
        assert!(four.iter().all(|(_, v)| (v - 0.5).abs() < 1e-15));
        // A one-feature document is divided by the floor (2), not by its own norm (1).
        let mut one = vec![(3, 1.0)];
        w.apply(&mut one);
        assert_eq!(one, vec![(3, 0.5)]);
        assert!(w.validate(9).is_ok());
        let off = Weighting {
            l2: false,
            ..w.clone()
        };
        assert!(off.validate(9).unwrap_err().contains("l2 is off"));
        let bad = Weighting {
            min_norm: Some(f64::NAN),
            ..w
        };
        assert!(bad.validate(9).unwrap_err().contains("min_norm"));
    }
}

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
}

impl Weighting {
    /// Builds the transform from column document frequencies over `documents` documents.
    pub fn fit(tfidf: bool, l2: bool, df: &[u64], documents: u64) -> Self {
        let idf = tfidf.then(|| {
            df.iter()
                .map(|&d| ((1.0 + documents as f64) / (1.0 + d as f64)).ln() + 1.0)
                .collect()
        });
        Weighting { idf, l2 }
    }

    pub fn is_identity(&self) -> bool {
        self.idf.is_none() && !self.l2
    }

    /// Applies the transform in place to sorted `(column, value)` pairs.
    pub fn apply(&self, counts: &mut [(u32, f64)]) {
        if let Some(idf) = &self.idf {
            for (f, v) in counts.iter_mut() {
                *v *= idf.get(*f as usize).copied().unwrap_or(1.0);
            }
        }
        if self.l2 {
            let norm = counts.iter().map(|(_, v)| v * v).sum::<f64>().sqrt();
            if norm > 0.0 {
                counts.iter_mut().for_each(|(_, v)| *v /= norm);
            }
        }
    }

    /// Checks a loaded transform against the model width.
    pub fn validate(&self, n_features: usize) -> Result<(), String> {
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
}

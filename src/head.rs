//! One naive Bayes decision over the shared tokenizer: features, weighting, the fitted model and
//! its calibration. A model artifact has two: the stance head (pro-open / pro-closed / neutral)
//! and the relevance head (off-topic / on-topic).

use crate::calibration::Calibration;
use crate::features::FeatureSpace;
use crate::model::NbModel;
use crate::weighting::Weighting;

/// A fitted head.
#[derive(Debug, Clone)]
pub struct Head {
    pub features: FeatureSpace,
    pub weighting: Weighting,
    pub model: NbModel,
    pub calibration: Calibration,
}

/// A head's verdict on one document.
#[derive(Debug, Clone)]
pub struct HeadScore {
    /// Raw joint log-likelihoods, in label order.
    pub jll: Vec<f64>,
    /// Calibrated probabilities: finite, summing to 1.
    pub probs: Vec<f64>,
    /// The document's `(feature, value)` pairs after weighting, sorted by feature.
    pub vector: Vec<(u32, f64)>,
}

impl HeadScore {
    /// Distinct known features the score rests on.
    pub fn evidence(&self) -> usize {
        self.vector.len()
    }

    /// Index of the most probable label (the first on a tie).
    pub fn best(&self) -> usize {
        self.probs
            .iter()
            .enumerate()
            .fold(0, |b, (i, p)| if *p > self.probs[b] { i } else { b })
    }
}

impl Head {
    pub fn labels(&self) -> Vec<&str> {
        self.model
            .classes()
            .iter()
            .map(|c| c.label.as_str())
            .collect()
    }

    /// The weighted feature vector of a token sequence.
    pub fn vector(&self, ids: &[u32]) -> Vec<(u32, f64)> {
        self.weighted(self.features.counts(ids))
    }

    fn weighted(&self, mut counts: Vec<(u32, f64)>) -> Vec<(u32, f64)> {
        self.weighting.apply(&mut counts);
        counts
    }

    /// Scores token ids.
    pub fn score(&self, ids: &[u32]) -> HeadScore {
        self.score_vector(self.vector(ids))
    }

    /// Scores token ids whose bigram columns in this head were looked up already
    /// ([`crate::pairs::PairIndex`]).
    pub fn score_with_bigrams(&self, ids: &[u32], bigram_columns: &[u32]) -> HeadScore {
        self.score_vector(self.weighted(self.features.counts_with_bigrams(ids, bigram_columns)))
    }

    fn score_vector(&self, vector: Vec<(u32, f64)>) -> HeadScore {
        let jll = self.model.joint_log_likelihood_counts(&vector);
        let probs = self.calibration.probabilities(&jll, vector.len());
        HeadScore { jll, probs, vector }
    }
}

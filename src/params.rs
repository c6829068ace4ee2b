//! Training hyper-parameters, with a checked form in the style of linfa: [`TrainParams`] is
//! what a user asks for, [`CheckedParams`] is what the trainer accepts, so no training run starts
//! on values it would fail on halfway.

use serde::{Deserialize, Serialize};

use crate::error::{Result, StanceError};

/// Hyper-parameters as requested. The defaults were picked by 5-fold cross-validation on the
/// shipped corpus (see the README, "Choosing the defaults").
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrainParams {
    /// Additive (Laplace/Lidstone) smoothing of the naive Bayes counts.
    pub alpha: f64,
    /// Words seen fewer times than this in the corpus become `[UNK]`.
    pub min_count: u64,
    /// Upper bound on the tokenizer vocabulary (and on kept bigrams).
    pub max_vocab: usize,
    /// Count each feature at most once per document.
    pub binary: bool,
    /// Add adjacent word pairs as features.
    pub bigrams: bool,
    /// Documents per dense chunk handed to linfa's incremental `fit_with`. Training memory is
    /// bounded by this times the vocabulary, not by the corpus.
    pub chunk_docs: usize,
}

impl Default for TrainParams {
    fn default() -> Self {
        TrainParams {
            alpha: 0.25,
            min_count: 1,
            max_vocab: 100_000,
            binary: true,
            bigrams: true,
            chunk_docs: 256,
        }
    }
}

/// Parameters that passed [`TrainParams::check`].
#[derive(Debug, Clone, PartialEq)]
pub struct CheckedParams(TrainParams);

impl CheckedParams {
    pub fn get(&self) -> &TrainParams {
        &self.0
    }
}

impl TrainParams {
    /// Validates every field, naming the first one out of range.
    pub fn check(self) -> Result<CheckedParams> {
        if !(self.alpha.is_finite() && self.alpha > 0.0) {
            return Err(StanceError::Param {
                name: "alpha",
                reason: format!("must be a finite number > 0, got {}", self.alpha),
            });
        }
        if self.min_count == 0 {
            return Err(StanceError::Param {
                name: "min-count",
                reason: "must be at least 1".into(),
            });
        }
        if self.max_vocab < 2 {
            return Err(StanceError::Param {
                name: "max-vocab",
                reason: "must be at least 2".into(),
            });
        }
        if self.chunk_docs == 0 {
            return Err(StanceError::Param {
                name: "chunk-docs",
                reason: "must be at least 1".into(),
            });
        }
        Ok(CheckedParams(self))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_pass_and_bad_values_are_named() {
        assert!(TrainParams::default().check().is_ok());
        for (p, name) in [
            (
                TrainParams {
                    alpha: 0.0,
                    ..Default::default()
                },
                "alpha",
            ),
            (
                TrainParams {
                    alpha: f64::NAN,
                    ..Default::default()
                },
                "alpha",
            ),
            (
                TrainParams {
                    min_count: 0,
                    ..Default::default()
                },
                "min-count",
            ),
            (
                TrainParams {
                    max_vocab: 1,
                    ..Default::default()
                },
                "max-vocab",
            ),
            (
                TrainParams {
                    chunk_docs: 0,
                    ..Default::default()
                },
                "chunk-docs",
            ),
        ] {
            let e = p.check().unwrap_err().to_string();
            assert!(e.contains(name), "{e}");
        }
    }
}

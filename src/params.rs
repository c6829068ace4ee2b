//! Training hyper-parameters, with a checked form in the style of linfa: [`TrainParams`] is
//! what a user asks for, [`CheckedParams`] is what the trainer accepts, so no training run starts
//! on values it would fail on halfway.

use serde::{Deserialize, Serialize};

use crate::calibration::Method;
use crate::error::{Result, StanceError};
use crate::model::Variant;

/// Hyper-parameters as requested. The defaults were picked on real published writing (the
/// development set) and grouped cross-validation together (see the README, "Choosing the
/// defaults").
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrainParams {
    /// Additive (Laplace/Lidstone) smoothing of the stance head's naive Bayes counts.
    pub alpha: f64,
    /// The relevance head's smoothing; `None` (artifacts from before the option): the same as
    /// `alpha`. The two heads count on different scales (the stance head's documents are
    /// scaled to unit length, the relevance head's are not), so one value cannot suit both.
    #[serde(default)]
    pub relevance_alpha: Option<f64>,
    /// Words seen fewer times than this in the corpus become `[UNK]`.
    pub min_count: u64,
    /// Upper bound on the tokenizer vocabulary (and on kept bigrams).
    pub max_vocab: usize,
    /// Count each feature at most once per document.
    pub binary: bool,
    /// Add adjacent word pairs as features.
    pub bigrams: bool,
    /// Documents per summation batch. The counts are summed from sparse rows in the order
    /// linfa's incremental `fit_with` would sum batches of this size (`src/fit.rs`), so the
    /// value fixes the floating-point order, and with it the exact model, not the memory.
    pub chunk_docs: usize,
    /// A feature must occur in at least this many training documents.
    #[serde(default = "one")]
    pub min_df: u64,
    /// Leave out features made only of stop-words and punctuation: they carry a writer's
    /// style, not an argument.
    #[serde(default)]
    pub stop_words: bool,
    /// Keep features that contain punctuation-only tokens (false drops them).
    #[serde(default = "yes", skip_serializing_if = "is_true")]
    pub punctuation: bool,
    /// Mark words inside a negation scope as their own features.
    #[serde(default)]
    pub negation: bool,
    /// The naive Bayes decision rule asked for. A record without it predates the field and was
    /// multinomial (the serde default); training may fit the flat rule instead on label sets the
    /// hierarchical one does not apply to (`Variant::for_labels`), and `model.json` records the
    /// rule actually fitted.
    #[serde(default)]
    pub variant: Variant,
    /// Weight features by inverse document frequency.
    #[serde(default)]
    pub tfidf: bool,
    /// Scale every stance document vector to unit length, floored at the shortest training
    /// document's norm (the relevance head stays unscaled).
    #[serde(default)]
    pub l2_norm: bool,
    /// Complement NB: normalise each class's weights (scikit-learn `norm=True`).
    #[serde(default)]
    pub weight_norm: bool,
    /// Multinomial and hierarchical NB: learn class priors from the corpus (false: uniform).
    #[serde(default = "yes")]
    pub fit_prior: bool,
    /// How raw log-likelihoods become probabilities.
    #[serde(default)]
    pub calibration: Method,
    /// The relevance head's map; `None` (artifacts from before the option): the same as
    /// `calibration`. Per-class offsets move the on-topic/off-topic line that the relevance
    /// threshold was chosen for, so by default this head keeps the length map.
    #[serde(default)]
    pub relevance_calibration: Option<Method>,
    /// Folds of the out-of-fold predictions the calibration is fitted on.
    #[serde(default = "five")]
    pub calibration_folds: usize,
    /// Fit the stance calibration also on documents alone in their group. A group of one
    /// usually means the writer was not recorded (the first corpus's pieces are each their own
    /// group), so a model trained on that writer's other pieces may have made its held-out
    /// prediction, which then looks surer than held-out writing is. Absent in artifacts from
    /// before the option, which fitted on every document: true.
    #[serde(default = "yes")]
    pub calibrate_singletons: bool,
    /// Manifest field whose values are kept in one fold (empty: stratified folds).
    #[serde(default = "writer")]
    pub group_by: String,
    /// Seed of the fold assignment.
    #[serde(default = "seed")]
    pub seed: u64,
}

fn one() -> u64 {
    1
}
fn yes() -> bool {
    true
}
/// Keeps `punctuation: true` out of `meta.json`: models trained before the option existed kept
/// punctuation, and read back as they were trained.
fn is_true(b: &bool) -> bool {
    *b
}
fn five() -> usize {
    5
}
/// The default `group_by`: a corpus without this field falls back to stratified folds with a
/// warning; any other field must be in the manifest (a typo is an error, not a silent fallback).
pub const DEFAULT_GROUP_BY: &str = "writer";

fn writer() -> String {
    DEFAULT_GROUP_BY.into()
}
fn seed() -> u64 {
    42
}

impl Default for TrainParams {
    fn default() -> Self {
        TrainParams {
            alpha: 0.03,
            relevance_alpha: Some(0.2),
            min_count: 1,
            max_vocab: 100_000,
            binary: true,
            bigrams: true,
            chunk_docs: 256,
            min_df: 1,
            stop_words: false,
            punctuation: false,
            negation: true,
            variant: Variant::Hierarchical,
            tfidf: false,
            l2_norm: true,
            weight_norm: false,
            fit_prior: true,
            calibration: Method::Vector,
            relevance_calibration: Some(Method::Length),
            calibration_folds: 5,
            calibrate_singletons: false,
            group_by: writer(),
            seed: seed(),
        }
    }
}

/// Largest accepted `--alpha`. Far beyond it the fit's denominator (total count plus alpha
/// times the number of features) overflows and a class's log-probabilities become -inf, an
/// error that would name the fit instead of the flag; and long before that the smoothing
/// drowns every count (a million pseudo-counts per feature outweighs any corpus), so no useful
/// value is refused.
pub const MAX_ALPHA: f64 = 1e6;

/// Parameters that passed [`TrainParams::check`].
#[derive(Debug, Clone, PartialEq)]
pub struct CheckedParams(TrainParams);

impl CheckedParams {
    pub fn get(&self) -> &TrainParams {
        &self.0
    }
}

/// A smoothing value the fit can use: finite, above 0, at most [`MAX_ALPHA`].
fn check_alpha(name: &'static str, alpha: f64) -> Result<()> {
    if !(alpha.is_finite() && alpha > 0.0) {
        return Err(StanceError::Param {
            name,
            reason: format!("must be a finite number > 0, got {alpha}"),
        });
    }
    if alpha > MAX_ALPHA {
        return Err(StanceError::Param {
            name,
            reason: format!("must be at most {MAX_ALPHA:e}, got {alpha}"),
        });
    }
    Ok(())
}

impl TrainParams {
    /// The relevance head's calibration method.
    pub fn relevance_method(&self) -> Method {
        self.relevance_calibration.unwrap_or(self.calibration)
    }

    /// The relevance head's smoothing.
    pub fn relevance_alpha(&self) -> f64 {
        self.relevance_alpha.unwrap_or(self.alpha)
    }

    /// Validates every field, naming the first one out of range.
    pub fn check(self) -> Result<CheckedParams> {
        check_alpha("--alpha", self.alpha)?;
        check_alpha("--relevance-alpha", self.relevance_alpha())?;
        if self.min_count == 0 {
            return Err(StanceError::Param {
                name: "--min-count",
                reason: "must be at least 1".into(),
            });
        }
        if self.max_vocab < 2 {
            return Err(StanceError::Param {
                name: "--max-vocab",
                reason: "must be at least 2".into(),
            });
        }
        if self.min_df == 0 {
            return Err(StanceError::Param {
                name: "--min-df",
                reason: "must be at least 1".into(),
            });
        }
        if (self.calibration != Method::None || self.relevance_method() != Method::None)
            && self.calibration_folds < 2
        {
            return Err(StanceError::Param {
                name: "--calibration-folds",
                reason: format!(
                    "must be at least 2 when calibration is on, got {}",
                    self.calibration_folds
                ),
            });
        }
        if self.chunk_docs == 0 {
            return Err(StanceError::Param {
                name: "--chunk-docs",
                reason: "must be at least 1".into(),
            });
        }
        Ok(CheckedParams(self))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A `meta.json` from before `relevance_alpha` reads back with the relevance head on the
    /// stance head's smoothing, as it was trained; a new one round-trips its own value.
    #[test]
    fn relevance_alpha_defaults_to_alpha_in_old_records_and_round_trips_in_new_ones() {
        let mut old = serde_json::to_value(TrainParams::default()).unwrap();
        let fields = old.as_object_mut().unwrap();
        assert!(fields.remove("relevance_alpha").is_some());
        fields.insert("alpha".into(), serde_json::json!(0.5));
        let old: TrainParams = serde_json::from_value(old).unwrap();
        assert_eq!((old.relevance_alpha, old.relevance_alpha()), (None, 0.5));
        let new = TrainParams::default();
        let back: TrainParams =
            serde_json::from_str(&serde_json::to_string(&new).unwrap()).unwrap();
        assert_eq!(back, new);
        assert_eq!(back.relevance_alpha(), 0.2);
    }

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
                    alpha: 1e305,
                    ..Default::default()
                },
                "--alpha",
            ),
            (
                TrainParams {
                    relevance_alpha: Some(-1.0),
                    ..Default::default()
                },
                "--relevance-alpha",
            ),
            (
                TrainParams {
                    relevance_alpha: Some(f64::INFINITY),
                    ..Default::default()
                },
                "--relevance-alpha",
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

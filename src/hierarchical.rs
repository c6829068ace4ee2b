//! Hierarchical naive Bayes: the flat multinomial model averaged with a two-stage one.
//!
//! Real argued writing spends most of its words on facts every side shares and states its stance
//! in a few sentences; with three flat classes, the vocabulary of arguing that both sides share
//! ("should", "must", "risk", "we need") is split between them, and a document's many factual
//! features pull it to `neutral`. The two-stage model decides argued-or-neutral first, with the
//! argued classes' counts pooled into one class (so that shared vocabulary counts fully for
//! "argued"), and then which side, from the flat model's own side classes. Alone it trades the
//! flat model's errors for the opposite ones (neutral pieces scored argued); the two averaged in
//! log-probability with equal weights (the middle of a flat region: any weight from 0.3 to 0.7
//! beat both pure models in the probes) beat either on both real-world samples (README,
//! "Choosing the defaults").
//!
//! Every number comes from the same per-class counts linfa-bayes fits: the pooled class's
//! log-probabilities are linfa's formula applied to the summed counts of the pooled classes, so
//! the variant needs no second fit and no new artifact field. The blended scores take the place
//! of the joint log-likelihoods: the calibration map and the posterior read them the same way.

use crate::model::{log_sum_exp, multinomial_log_prob, ClassStats};

/// The label the two-stage model keeps apart; every other label is pooled into "argued".
pub const KEPT_APART: &str = "neutral";

/// Whether `labels` allow the two-stage model: [`KEPT_APART`] and at least two others. With
/// fewer there is nothing to pool, so training falls back to the flat model (see
/// [`crate::model::Variant::for_labels`]) and the default variant trains on any corpus.
pub fn applies_to<S: AsRef<str>>(labels: &[S]) -> bool {
    labels.len() >= 3 && labels.iter().any(|l| l.as_ref() == KEPT_APART)
}

/// The pooled class of the first stage, precomputed for scoring.
#[derive(Debug, Clone, PartialEq)]
pub struct Pooled {
    /// Index of [`KEPT_APART`] among the classes.
    pub apart: usize,
    /// First-stage log-prior of the kept-apart class and of the pooled one.
    pub log_prior: [f64; 2],
    /// Log-probability of each feature in the pooled class.
    pub log_prob: Vec<f64>,
}

impl Pooled {
    /// Pools every class but [`KEPT_APART`]; `fit_prior` false gives both first-stage classes
    /// the same prior, as it gives the flat classes.
    pub fn new(classes: &[ClassStats], alpha: f64, fit_prior: bool) -> Result<Self, String> {
        let labels: Vec<&str> = classes.iter().map(|c| c.label.as_str()).collect();
        let Some(apart) = labels
            .iter()
            .position(|l| *l == KEPT_APART)
            .filter(|_| applies_to(&labels))
        else {
            return Err(format!(
                "the hierarchical variant keeps the label {KEPT_APART:?} apart and needs at least \
                 two other labels to pool, but the labels are {labels:?}; train with the variant \
                 multinomial for other label sets"
            ));
        };
        let n = classes[apart].feature_count.len();
        let mut pooled = vec![0.0; n];
        for c in classes.iter().enumerate().filter(|(i, _)| *i != apart) {
            for (p, v) in pooled.iter_mut().zip(&c.1.feature_count) {
                *p += v;
            }
        }
        // The pooled prior is the sum of the pooled classes' priors (not one minus the kept-apart
        // one), so that priors which do not quite sum to 1 still give each stage its own share;
        // `NbModel::new` has already refused priors that are not positive.
        let share_apart = classes[apart].prior;
        let share_pooled: f64 = classes
            .iter()
            .enumerate()
            .filter(|(i, _)| *i != apart)
            .map(|(_, c)| c.prior)
            .sum();
        let log_prior = if fit_prior {
            [share_apart.ln(), share_pooled.ln()]
        } else {
            [-(2f64.ln()); 2]
        };
        Ok(Pooled {
            apart,
            log_prior,
            log_prob: multinomial_log_prob(&pooled, alpha),
        })
    }
}

/// Blended log-scores from the flat model's joint log-likelihoods `flat` and the document's
/// summed feature log-probabilities in the kept-apart class (`apart_sum`, without its prior) and
/// in the pooled class (`pooled_sum`): `(ln P_flat(c) + ln P_two_stage(c)) / 2` per class.
pub fn blend(flat: &[f64], apart_sum: f64, pooled_sum: f64, p: &Pooled) -> Vec<f64> {
    let flat_norm = log_sum_exp(flat);
    let first = [p.log_prior[0] + apart_sum, p.log_prior[1] + pooled_sum];
    let first_norm = log_sum_exp(&first);
    let sides: Vec<f64> = flat
        .iter()
        .enumerate()
        .filter(|(i, _)| *i != p.apart)
        .map(|(_, v)| *v)
        .collect();
    let side_norm = log_sum_exp(&sides);
    flat.iter()
        .enumerate()
        .map(|(c, &j)| {
            let two_stage = if c == p.apart {
                first[0] - first_norm
            } else {
                first[1] - first_norm + (j - side_norm)
            };
            0.5 * (j - flat_norm) + 0.5 * two_stage
        })
        .collect()
}

/// How strongly one feature points to each class under the blend, given its flat
/// log-probabilities `lp`, its pooled one and the flat model's own ratios `flat_llr`: half the
/// flat ratio plus half the two-stage one (the first stage's kept-apart-versus-pooled ratio, and
/// for a side also that side against the mean of the other sides). A document's blended scores
/// are not a sum over features, so this is the per-feature weight the explanation ranks by.
pub fn llr(lp: &[f64], pooled: f64, flat_llr: &[f64], p: &Pooled) -> Vec<f64> {
    let k = lp.len();
    (0..k)
        .map(|c| {
            let two_stage = if c == p.apart {
                lp[c] - pooled
            } else {
                let others: Vec<f64> = (0..k)
                    .filter(|&o| o != c && o != p.apart)
                    .map(|o| lp[o])
                    .collect();
                let side = lp[c] - (log_sum_exp(&others) - (others.len() as f64).ln());
                pooled - lp[p.apart] + side
            };
            0.5 * flat_llr[c] + 0.5 * two_stage
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::posterior;

    fn class(label: &str, count: usize, prior: f64, counts: &[f64]) -> ClassStats {
        ClassStats {
            label: label.into(),
            class_count: count,
            prior,
            feature_count: counts.to_vec(),
            feature_log_prob: Vec::new(),
        }
    }

    #[test]
    fn needs_the_kept_apart_label_and_two_others() {
        let a = class("a", 1, 0.5, &[1.0]);
        let b = class("b", 1, 0.5, &[1.0]);
        let e = Pooled::new(&[a.clone(), b.clone()], 1.0, true).unwrap_err();
        assert!(e.contains("\"neutral\""), "{e}");
        let n = class("neutral", 1, 0.5, &[1.0]);
        let e = Pooled::new(&[n.clone(), a.clone()], 1.0, true).unwrap_err();
        assert!(e.contains("at least two other labels"), "{e}");
        assert!(Pooled::new(&[a, n, b], 1.0, true).is_ok());
    }

    /// One feature's blended weights against the formula worked by hand, and their signs: a word
    /// common in one side points to it and away from neutral; a word common in neutral the
    /// other way.
    #[test]
    fn feature_weights_are_half_flat_half_two_stage() {
        let classes = [
            class("neutral", 2, 0.5, &[1.0, 1.0]),
            class("pro-a", 1, 0.25, &[1.0, 1.0]),
            class("pro-b", 1, 0.25, &[1.0, 1.0]),
        ];
        let p = Pooled::new(&classes, 1.0, true).unwrap();
        let lp = [0.1f64.ln(), 0.6f64.ln(), 0.3f64.ln()];
        let pooled = 0.45f64.ln();
        let flat: Vec<f64> = (0..3)
            .map(|c| {
                let others: Vec<f64> = (0..3).filter(|&o| o != c).map(|o| lp[o]).collect();
                lp[c] - (log_sum_exp(&others) - 2f64.ln())
            })
            .collect();
        let w = llr(&lp, pooled, &flat, &p);
        let want = [
            0.5 * flat[0] + 0.5 * (lp[0] - pooled),
            0.5 * flat[1] + 0.5 * (pooled - lp[0] + lp[1] - lp[2]),
            0.5 * flat[2] + 0.5 * (pooled - lp[0] + lp[2] - lp[1]),
        ];
        for (got, want) in w.iter().zip(want) {
            assert!((got - want).abs() < 1e-12, "{w:?}");
        }
        assert!(w[1] > 0.0 && w[0] < 0.0 && w[1] > w[2], "{w:?}");
        let neutral_word = llr(
            &[0.6f64.ln(), 0.1f64.ln(), 0.1f64.ln()],
            0.1f64.ln(),
            &flat,
            &p,
        );
        assert!(neutral_word[0] > 0.0, "{neutral_word:?}");
    }

    #[test]
    fn applies_only_to_neutral_and_two_others() {
        assert!(applies_to(&["pro-open", "neutral", "pro-closed"]));
        assert!(!applies_to(&["pro-open", "pro-closed", "other"]));
        assert!(!applies_to(&["neutral", "pro-open"]));
        use crate::model::Variant;
        assert_eq!(
            Variant::Hierarchical.for_labels(&["a", "b"]),
            Variant::Multinomial
        );
        assert_eq!(
            Variant::Hierarchical.for_labels(&["a", "neutral", "b"]),
            Variant::Hierarchical
        );
        assert_eq!(
            Variant::Complement.for_labels(&["a", "b"]),
            Variant::Complement
        );
    }

    #[test]
    fn pooled_class_sums_the_other_classes_counts() {
        let classes = [
            class("pro-a", 2, 0.2, &[3.0, 0.0, 1.0]),
            class("neutral", 6, 0.6, &[1.0, 1.0, 1.0]),
            class("pro-b", 2, 0.2, &[0.0, 2.0, 5.0]),
        ];
        let p = Pooled::new(&classes, 0.5, true).unwrap();
        assert_eq!(p.apart, 1);
        assert_eq!(p.log_prob, multinomial_log_prob(&[3.0, 2.0, 6.0], 0.5));
        // Kept apart first, pooled second, each its own share.
        assert!((p.log_prior[0] - 0.6f64.ln()).abs() < 1e-15);
        assert!((p.log_prior[1] - 0.4f64.ln()).abs() < 1e-15);
        let uniform = Pooled::new(&classes, 0.5, false).unwrap();
        assert_eq!(uniform.log_prior, [-(2f64.ln()); 2]);
    }

    #[test]
    fn blend_is_the_mean_of_the_two_log_posteriors() {
        // Flat scores and first-stage sums chosen by hand; the two-stage posterior computed
        // directly from its definition, P(neutral) and P(argued) * P(side | argued).
        let p = Pooled {
            apart: 0,
            log_prior: [0.4f64.ln(), 0.6f64.ln()],
            log_prob: Vec::new(),
        };
        let flat = [-10.0, -12.0, -11.0];
        let b = blend(&flat, -9.0, -8.5, &p);
        let pf = posterior(&flat);
        let first = posterior(&[0.4f64.ln() - 9.0, 0.6f64.ln() - 8.5]);
        let side = posterior(&[flat[1], flat[2]]);
        let two = [first[0], first[1] * side[0], first[1] * side[1]];
        for c in 0..3 {
            let want = 0.5 * pf[c].ln() + 0.5 * two[c].ln();
            assert!((b[c] - want).abs() < 1e-12, "class {c}: {} vs {want}", b[c]);
        }
    }

    #[test]
    fn blend_stays_finite_for_huge_scores() {
        let p = Pooled {
            apart: 1,
            log_prior: [0.5f64.ln(); 2],
            log_prob: Vec::new(),
        };
        let b = blend(&[-1e9, -2e9, -1.5e9], -2e9, -3e9, &p);
        assert!(b.iter().all(|v| v.is_finite()), "{b:?}");
        let probs = posterior(&b);
        assert!((probs.iter().sum::<f64>() - 1.0).abs() < 1e-12);
    }
}

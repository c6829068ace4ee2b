//! Turning naive Bayes log-likelihoods into probabilities that mean what they say. Naive Bayes
//! multiplies dependent evidence, so its log-likelihood gaps grow with every word and its
//! posteriors sit at 0 and 1. A calibration map is fitted on out-of-fold predictions (each
//! document scored by a model that never saw its writer) by minimising log-loss, as in
//! temperature scaling (Guo et al. 2017): `p = softmax(s(n) * jll + b)`, with
//! `s(n) = exp(a + slope * ln(1 + n))` where `n` is the number of known features in the document,
//! so that the shrinkage can grow with length, and optional per-class offsets `b` (vector scaling).

use serde::{Deserialize, Serialize};

use crate::model::log_sum_exp;

/// Bounds a loaded map must keep (see [`Calibration::validate`]).
const MAX_LOG_SCALE: f64 = 50.0;
const MAX_LENGTH_SLOPE: f64 = 10.0;
const MAX_BIAS: f64 = 1e6;

/// Which parameters of the map are fitted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum Method {
    /// The model's own posteriors.
    None,
    /// One temperature for every document.
    Temperature,
    /// A temperature that depends on the number of known features.
    #[default]
    Length,
    /// Length-aware temperature plus a per-class offset.
    Vector,
}

/// A fitted calibration map (stored in `model.json`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Calibration {
    pub method: Method,
    pub log_scale: f64,
    pub length_slope: f64,
    /// Per-class offsets, empty unless `method` is `vector`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub bias: Vec<f64>,
    /// The smallest evidence count among the documents the map was fitted on: a shorter text
    /// is scaled as if it had this many, because the fitted slope says nothing about lengths it
    /// never saw, and extrapolating it gives a two-word text a larger per-feature scale than any
    /// fitted document (0 in artifacts from before the field: no floor).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub evidence_floor: usize,
}

fn is_zero(n: &usize) -> bool {
    *n == 0
}

/// One out-of-fold prediction: the raw joint log-likelihoods, the evidence count and the truth.
#[derive(Debug, Clone)]
pub struct Sample {
    pub jll: Vec<f64>,
    pub evidence: usize,
    pub truth: usize,
}

impl Default for Calibration {
    fn default() -> Self {
        Calibration::identity()
    }
}

impl Calibration {
    pub fn identity() -> Self {
        Calibration {
            method: Method::None,
            log_scale: 0.0,
            length_slope: 0.0,
            bias: Vec::new(),
            evidence_floor: 0,
        }
    }

    fn scale(&self, evidence: usize) -> f64 {
        let n = evidence.max(self.evidence_floor);
        (self.log_scale + self.length_slope * (1.0 + n as f64).ln()).exp()
    }

    /// Calibrated log-odds of each class (before the softmax), shifted so the largest raw value
    /// is 0; finite for any finite input.
    pub fn logits(&self, jll: &[f64], evidence: usize) -> Vec<f64> {
        let m = jll.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        let s = self.scale(evidence);
        jll.iter()
            .enumerate()
            .map(|(c, v)| s * (v - m) + self.bias.get(c).copied().unwrap_or(0.0))
            .collect()
    }

    /// Calibrated probabilities: finite, summing to 1.
    pub fn probabilities(&self, jll: &[f64], evidence: usize) -> Vec<f64> {
        crate::model::posterior(&self.logits(jll, evidence))
    }

    /// Checks a loaded map.
    pub fn validate(&self, n_classes: usize) -> Result<(), String> {
        let ok = self.log_scale.is_finite()
            && self.length_slope.is_finite()
            && self.bias.iter().all(|b| b.is_finite());
        if !ok {
            return Err("calibration has a non-finite parameter".into());
        }
        // Finite is not enough: `log_scale = 1e308` makes the scale infinite, and infinity
        // times the top class's zero gap is NaN. Fitted maps sit far inside these bounds (the
        // shipped ones have |log_scale| < 5 and |slope| < 1), so only a damaged or hand-made
        // artifact reaches them, and within them every probability is finite.
        if self.log_scale.abs() > MAX_LOG_SCALE || self.length_slope.abs() > MAX_LENGTH_SLOPE {
            return Err(format!(
                "calibration scale out of range: log_scale {} and length_slope {} must be within \
                 ±{MAX_LOG_SCALE} and ±{MAX_LENGTH_SLOPE}",
                self.log_scale, self.length_slope
            ));
        }
        if let Some(b) = self.bias.iter().find(|b| b.abs() > MAX_BIAS) {
            return Err(format!(
                "calibration offset {b} out of range (must be within ±{MAX_BIAS})"
            ));
        }
        if !(self.bias.is_empty() || self.bias.len() == n_classes) {
            return Err(format!(
                "calibration has {} offsets for {n_classes} classes",
                self.bias.len()
            ));
        }
        Ok(())
    }

    /// Mean log-loss of the map on samples.
    pub fn log_loss(&self, samples: &[Sample]) -> f64 {
        let total: f64 = samples
            .iter()
            .map(|s| {
                let z = self.logits(&s.jll, s.evidence);
                log_sum_exp(&z) - z[s.truth]
            })
            .sum();
        total / samples.len().max(1) as f64
    }

    /// Fits the map by minimising log-loss with gradient descent and backtracking line search,
    /// to a stationary point (pinned by a test against a brute-force optimum).
    /// Deterministic; returns the identity when there is nothing to fit.
    pub fn fit(method: Method, samples: &[Sample], n_classes: usize) -> Self {
        if method == Method::None || samples.is_empty() {
            return Calibration::identity();
        }
        let with_slope = matches!(method, Method::Length | Method::Vector);
        let with_bias = method == Method::Vector;
        let mut cal = Calibration {
            method,
            log_scale: 0.0,
            length_slope: 0.0,
            bias: if with_bias {
                vec![0.0; n_classes]
            } else {
                Vec::new()
            },
            evidence_floor: if with_slope {
                samples.iter().map(|s| s.evidence).min().unwrap_or(0)
            } else {
                0
            },
        };
        // Start from the best single temperature on a coarse grid: the raw scale is often
        // hundreds of times too large, far from where gradient steps are well behaved.
        let mut best = f64::INFINITY;
        for step in -80..=10 {
            let trial = Calibration {
                log_scale: step as f64 * 0.1,
                ..cal.clone()
            };
            let l = trial.log_loss(samples);
            if l < best {
                best = l;
                cal.log_scale = trial.log_scale;
            }
        }
        // Descend in standardised coordinates: the length term ln(1 + n) varies little around
        // a large mean, so in the stored (log_scale, length_slope) coordinates the two are
        // almost collinear and plain gradient steps crawl along the valley, stopping far from
        // the optimum. With l' = (ln(1 + n) - mean) / sd the two directions are decorrelated.
        let (mean, sd) = if with_slope {
            length_moments(samples)
        } else {
            (0.0, 1.0)
        };
        let mut loss = best;
        let mut lr = 1.0;
        for _ in 0..5000 {
            let mut g = gradient(&cal, samples, with_slope, with_bias);
            // d/da' = d/d log_scale; d/db' = (d/d slope - mean * d/d log_scale) / sd.
            g[1] = (g[1] - mean * g[0]) / sd;
            let norm: f64 = g.iter().map(|v| v * v).sum::<f64>().sqrt();
            if norm < 1e-10 {
                break;
            }
            let mut improved = false;
            while lr > 1e-14 {
                let trial = step(&cal, &g, lr, mean, sd);
                let l = trial.log_loss(samples);
                if l < loss {
                    improved = loss - l > 1e-15;
                    cal = trial;
                    loss = l;
                    lr *= 2.0;
                    break;
                }
                lr *= 0.5;
            }
            if !improved {
                break;
            }
        }
        cal
    }
}

/// The range of ln t that [`Calibration::fit_temperature`] searches: t from 0.018 to 7.4, far
/// wider than any sensible correction, so a fit that stops at an edge means the set cannot
/// support one.
pub const MIN_LOG_TEMPERATURE: f64 = -4.0;
pub const MAX_LOG_TEMPERATURE: f64 = 2.0;

impl Calibration {
    /// The same map with every calibrated log-odds multiplied by `t`: `softmax(t * z)` equals
    /// the map with `log_scale + ln t` and offsets `t * b`, so a final temperature folds into
    /// the stored parameters and the artifact format does not change.
    pub fn sharpened(&self, t: f64) -> Self {
        let mut c = self.clone();
        c.log_scale += t.ln();
        c.bias.iter_mut().for_each(|b| *b *= t);
        c
    }

    /// The temperature `t` (between e^-4 and e^2) that minimises this map's log-loss on held-out
    /// samples after [`Calibration::sharpened`]. The map is fitted on held-out writers of the
    /// corpus, whose pieces argue more plainly than real writing, so its confidences run high on
    /// real text; a labelled set shaped like real writing, kept out of training, measures how
    /// much. Log-loss is convex in `t` (cross-entropy is convex in the logits, which are linear
    /// in `t`), hence unimodal in `ln t`, so a golden-section search finds the optimum.
    /// Returns 1 when there are no samples.
    pub fn fit_temperature(&self, samples: &[Sample]) -> f64 {
        if samples.is_empty() {
            return 1.0;
        }
        let loss = |u: f64| self.sharpened(u.exp()).log_loss(samples);
        let (mut lo, mut hi) = (MIN_LOG_TEMPERATURE, MAX_LOG_TEMPERATURE);
        let g = (5f64.sqrt() - 1.0) / 2.0;
        let mut a = hi - g * (hi - lo);
        let mut b = lo + g * (hi - lo);
        let (mut fa, mut fb) = (loss(a), loss(b));
        while hi - lo > 1e-9 {
            if fa <= fb {
                hi = b;
                b = a;
                fb = fa;
                a = hi - g * (hi - lo);
                fa = loss(a);
            } else {
                lo = a;
                a = b;
                fa = fb;
                b = lo + g * (hi - lo);
                fb = loss(b);
            }
        }
        ((lo + hi) / 2.0).exp()
    }
}

/// Mean and standard deviation of ln(1 + evidence) (sd 1 when every length is the same).
fn length_moments(samples: &[Sample]) -> (f64, f64) {
    let n = samples.len() as f64;
    let l = |s: &Sample| (1.0 + s.evidence as f64).ln();
    let mean = samples.iter().map(l).sum::<f64>() / n;
    let var = samples.iter().map(|s| (l(s) - mean).powi(2)).sum::<f64>() / n;
    let sd = var.sqrt();
    (mean, if sd > 1e-9 { sd } else { 1.0 })
}

/// One step of length `lr` against `g`, given in standardised coordinates (a', b', bias), and
/// mapped back: slope = b' / sd, log_scale = a' - slope * mean.
fn step(cal: &Calibration, g: &[f64], lr: f64, mean: f64, sd: f64) -> Calibration {
    let mut c = cal.clone();
    let a = cal.log_scale + cal.length_slope * mean - lr * g[0];
    let b = cal.length_slope * sd - lr * g[1];
    c.length_slope = b / sd;
    c.log_scale = a - c.length_slope * mean;
    for (b, gb) in c.bias.iter_mut().zip(&g[2..]) {
        *b -= lr * gb;
    }
    c
}

/// Gradient of the mean log-loss with respect to (log_scale, length_slope, bias...).
fn gradient(cal: &Calibration, samples: &[Sample], slope: bool, bias: bool) -> Vec<f64> {
    let k = cal.bias.len();
    let mut g = vec![0.0; 2 + k];
    for s in samples {
        let m = s.jll.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        let l = (1.0 + s.evidence.max(cal.evidence_floor) as f64).ln();
        let scale = cal.scale(s.evidence);
        let z = cal.logits(&s.jll, s.evidence);
        let lse = log_sum_exp(&z);
        for (c, zc) in z.iter().enumerate() {
            let r = (zc - lse).exp() - if c == s.truth { 1.0 } else { 0.0 };
            let dz_da = scale * (s.jll[c] - m);
            g[0] += r * dz_da;
            if slope {
                g[1] += r * dz_da * l;
            }
            if bias {
                g[2 + c] += r;
            }
        }
    }
    let n = samples.len() as f64;
    g.iter_mut().for_each(|v| *v /= n);
    g
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A hand-edited artifact with `log_scale: 1e308` loaded, and scored every text NaN
    /// (an infinite scale times the top class's zero gap).
    #[test]
    fn a_map_whose_scale_overflows_is_refused_and_one_at_the_bounds_stays_finite() {
        let mut cal = Calibration {
            method: Method::Vector,
            log_scale: 1e308,
            length_slope: 0.0,
            bias: vec![0.0; 3],
            evidence_floor: 0,
        };
        let err = cal.validate(3).unwrap_err();
        assert!(err.contains("log_scale"), "{err}");
        cal.log_scale = 0.0;
        cal.bias[1] = 1e300;
        assert!(cal.validate(3).unwrap_err().contains("offset"));
        cal.bias = vec![MAX_BIAS, -MAX_BIAS, 0.0];
        for (log_scale, slope) in [
            (MAX_LOG_SCALE, MAX_LENGTH_SLOPE),
            (-MAX_LOG_SCALE, -MAX_LENGTH_SLOPE),
        ] {
            cal.log_scale = log_scale;
            cal.length_slope = slope;
            cal.validate(3).unwrap();
            for evidence in [0, 1, 1_000_000] {
                let p = cal.probabilities(&[-1e6, 0.0, -3.0], evidence);
                assert!(p.iter().all(|x| x.is_finite()), "{p:?}");
                assert!((p.iter().sum::<f64>() - 1.0).abs() < 1e-9, "{p:?}");
            }
        }
    }

    /// Overconfident scores: the raw gap is 10x what the accuracy supports.
    fn samples() -> Vec<Sample> {
        (0..200)
            .map(|i| {
                let truth = i % 2;
                let right = i % 10 < 7; // 70% accurate
                let winner = if right { truth } else { 1 - truth };
                let gap = 20.0 + (i % 7) as f64;
                let mut jll = vec![-100.0, -100.0];
                jll[winner] += gap;
                Sample {
                    jll,
                    // Constant within each block of ten, so length says nothing about being right.
                    evidence: 50 + (i / 10) % 20,
                    truth,
                }
            })
            .collect()
    }

    #[test]
    fn temperature_shrinks_overconfidence_and_lowers_log_loss() {
        let s = samples();
        let raw = Calibration::identity().log_loss(&s);
        for method in [Method::Temperature, Method::Length, Method::Vector] {
            let cal = Calibration::fit(method, &s, 2);
            let fitted = cal.log_loss(&s);
            assert!(fitted < raw / 5.0, "{method:?}: {fitted} vs {raw}");
            // 70% accurate predictions should come out near 0.7 confident.
            let p = cal.probabilities(&s[0].jll, s[0].evidence);
            assert!((p[0] + p[1] - 1.0).abs() < 1e-12);
            assert!(p.iter().copied().fold(0.0, f64::max) < 0.85, "{p:?}");
        }
        assert_eq!(
            Calibration::fit(Method::None, &s, 2),
            Calibration::identity()
        );
    }

    /// Naive-Bayes-like scores: the raw gap grows in proportion to the length while the
    /// accuracy (75%) does not, so the best map shrinks long documents much harder.
    fn length_samples() -> Vec<Sample> {
        (0..600)
            .map(|i| {
                let truth = i % 3;
                let right = (i * 7) % 4 != 0;
                let winner = if right { truth } else { (truth + 1) % 3 };
                let evidence = 40 + (i * 37) % 1500;
                let gap = 0.05 * evidence as f64 * (1.0 + ((i * 13) % 5) as f64 * 0.2);
                let mut jll = vec![-1000.0; 3];
                jll[winner] += gap;
                jll[(winner + 2) % 3] += gap * 0.3;
                Sample {
                    jll,
                    evidence,
                    truth,
                }
            })
            .collect()
    }

    #[test]
    fn length_fit_reaches_the_brute_force_optimum() {
        let s = length_samples();
        let cal = Calibration::fit(Method::Length, &s, 3);
        let fitted = cal.log_loss(&s);
        // Brute force over (log_scale, slope): no grid point may beat the fit.
        let mut grid_best = (f64::INFINITY, 0.0, 0.0);
        for i in -60..=60 {
            for j in -30..=10 {
                let trial = Calibration {
                    method: Method::Length,
                    log_scale: i as f64 * 0.1,
                    length_slope: j as f64 * 0.05,
                    bias: Vec::new(),
                    evidence_floor: cal.evidence_floor,
                };
                let l = trial.log_loss(&s);
                if l < grid_best.0 {
                    grid_best = (l, trial.log_scale, trial.length_slope);
                }
            }
        }
        assert!(
            fitted <= grid_best.0 + 1e-9,
            "{cal:?} {fitted} vs grid {grid_best:?}"
        );
        assert!(
            (cal.length_slope - grid_best.2).abs() < 0.1,
            "{cal:?} vs grid {grid_best:?}"
        );
        // Gap proportional to length at a fixed accuracy: the slope is near -1.
        assert!(cal.length_slope < -0.7, "{cal:?}");
        let temperature = Calibration::fit(Method::Temperature, &s, 3).log_loss(&s);
        assert!(fitted < temperature, "{fitted} vs {temperature}");
    }

    #[test]
    fn sharpening_is_a_temperature_on_the_calibrated_log_odds() {
        let cal = Calibration {
            method: Method::Vector,
            log_scale: -2.0,
            length_slope: -0.5,
            bias: vec![0.3, -0.2, 0.1],
            evidence_floor: 10,
        };
        let jll = [-120.0, -118.5, -121.25];
        let z = cal.logits(&jll, 40);
        let want = crate::model::posterior(&z.iter().map(|v| 0.6 * v).collect::<Vec<_>>());
        let got = cal.sharpened(0.6).probabilities(&jll, 40);
        for (w, g) in want.iter().zip(&got) {
            assert!((w - g).abs() < 1e-12, "{want:?} vs {got:?}");
        }
        assert_eq!(cal.sharpened(1.0), cal);
    }

    #[test]
    fn final_temperature_reaches_the_brute_force_optimum_and_softens_overconfidence() {
        // A map fitted on one set, judged on a harder one: 60% accurate at the same gaps.
        let s = samples();
        let cal = Calibration::fit(Method::Length, &s, 2);
        let harder: Vec<Sample> = s
            .iter()
            .enumerate()
            .map(|(i, x)| {
                let mut x = x.clone();
                if i % 10 == 6 {
                    x.truth = 1 - x.truth; // 7 of 10 right becomes 6 of 10
                }
                x
            })
            .collect();
        let t = cal.fit_temperature(&harder);
        assert!(t < 1.0, "a harder set must soften the map, got t = {t}");
        let fitted = cal.sharpened(t).log_loss(&harder);
        let grid = (1..=300)
            .map(|i| cal.sharpened(i as f64 / 100.0).log_loss(&harder))
            .fold(f64::INFINITY, f64::min);
        assert!(fitted <= grid + 1e-9, "{fitted} vs grid {grid}");
        assert!(fitted < cal.log_loss(&harder));
        // On the samples it was fitted on, the map is already at its optimum temperature.
        assert!((cal.fit_temperature(&s) - 1.0).abs() < 0.05);
        assert_eq!(cal.fit_temperature(&[]), 1.0);
    }

    #[test]
    fn probabilities_stay_finite_for_huge_gaps() {
        let cal = Calibration {
            method: Method::Length,
            log_scale: 3.0,
            length_slope: 0.5,
            bias: Vec::new(),
            evidence_floor: 0,
        };
        let p = cal.probabilities(&[-1.0e300, 0.0, -5.0e9], 10_000_000);
        assert!(p.iter().all(|v| v.is_finite()));
        assert!((p.iter().sum::<f64>() - 1.0).abs() < 1e-12);
    }

    #[test]
    fn texts_shorter_than_any_fitted_one_are_scaled_at_the_floor() {
        let s = length_samples();
        let cal = Calibration::fit(Method::Length, &s, 3);
        let shortest = s.iter().map(|x| x.evidence).min().unwrap();
        assert_eq!(cal.evidence_floor, shortest);
        assert!(cal.length_slope < 0.0, "{cal:?}");
        // Below the floor the scale stops growing: a 2-feature text is scaled like the shortest
        // fitted document, not by the extrapolated slope.
        assert_eq!(cal.scale(2), cal.scale(shortest));
        assert!(cal.scale(shortest + 100) < cal.scale(shortest));
        let unfloored = Calibration {
            evidence_floor: 0,
            ..cal.clone()
        };
        assert!(unfloored.scale(2) > cal.scale(2));
        // A temperature has no length term and no floor.
        assert_eq!(
            Calibration::fit(Method::Temperature, &s, 3).evidence_floor,
            0
        );
    }
}

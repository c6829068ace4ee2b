//! The fitted multinomial naive Bayes model in the form stance scores with. It holds exactly the
//! numbers of linfa's `MultinomialNb` (per class: document count, prior, feature counts and
//! feature log-probabilities), converts losslessly to and from it, and scores sparsely: the cost
//! of a document grows with its tokens, not with the vocabulary. Probabilities come from the
//! joint log-likelihoods through log-sum-exp, so they stay finite for any document length
//! (linfa-bayes 0.8.1's own `predict_proba` overflows past ~100 tokens).

use linfa_bayes::MultinomialNb;
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::error::{Result, StanceError};
use crate::hierarchical::{self, Pooled};

/// One class's histogram, as linfa keeps it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClassStats {
    pub label: String,
    pub class_count: usize,
    pub prior: f64,
    /// Written as integers (they are sums of integer counts), which keeps `model.json` small.
    #[serde(with = "integer_counts")]
    pub feature_count: Vec<f64>,
    /// Not stored: [`NbModel::new`] recomputes it from the counts with linfa's own formula
    /// (`ln(count + alpha) - ln(sum(count + alpha))`), which halves `model.json`.
    #[serde(skip, default)]
    pub feature_log_prob: Vec<f64>,
}

/// Serializes feature counts as integers when they are whole (raw counts) and as floats when
/// they are not (TF-IDF weights), and reads either back as floats.
mod integer_counts {
    use serde::{
        de::Error as _, ser::Error as _, ser::SerializeSeq, Deserialize, Deserializer, Serializer,
    };

    pub fn serialize<S: Serializer>(v: &[f64], s: S) -> Result<S::Ok, S::Error> {
        if let Some(bad) = v.iter().find(|x| !(x.is_finite() && **x >= 0.0)) {
            return Err(S::Error::custom(format!(
                "feature count {bad} is not a finite count"
            )));
        }
        let mut seq = s.serialize_seq(Some(v.len()))?;
        for x in v {
            if x.fract() == 0.0 && *x < 9.0e15 {
                seq.serialize_element(&(*x as u64))?;
            } else {
                seq.serialize_element(x)?;
            }
        }
        seq.end()
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<f64>, D::Error> {
        let v = Vec::<f64>::deserialize(d)
            .map_err(|e| D::Error::custom(format!("feature_count: {e}")))?;
        if let Some(bad) = v.iter().find(|x| !(x.is_finite() && **x >= 0.0)) {
            return Err(D::Error::custom(format!(
                "feature_count: {bad} is not a count"
            )));
        }
        Ok(v)
    }
}

/// Which naive Bayes decision rule the model applies to the fitted counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum Variant {
    /// linfa's multinomial naive Bayes: P(class) times P(feature | class).
    // The serde default, because artifacts and parameter records written before the variant
    // field existed were all multinomial; new training defaults to hierarchical
    // (`TrainParams::default`).
    #[default]
    Multinomial,
    /// Complement naive Bayes (Rennie et al. 2003), as scikit-learn's `ComplementNB`: each
    /// class is scored by how unlike the *other* classes' counts the document is, which is
    /// steadier when classes differ in size or in how much their documents say.
    Complement,
    /// The multinomial model averaged in log-probability with a two-stage one that decides
    /// `neutral` or argued first (the other labels' counts pooled) and then the side
    /// (`src/hierarchical.rs`): arguing vocabulary both sides share counts fully for "argued".
    /// Needs a label named `neutral` and at least two others.
    Hierarchical,
}

impl Variant {
    /// The variant training uses for a corpus with these labels: [`Variant::Hierarchical`]
    /// becomes the flat [`Variant::Multinomial`] when the labels lack `neutral` or a second side
    /// (`crate::hierarchical::applies_to`), so that the default trains on an operator's own label
    /// set; the artifact records the rule actually fitted.
    pub fn for_labels<S: AsRef<str>>(self, labels: &[S]) -> Variant {
        match self {
            Variant::Hierarchical if !crate::hierarchical::applies_to(labels) => {
                Variant::Multinomial
            }
            v => v,
        }
    }
}

/// How a model turns counts into per-feature weights: the part of `model.json` that is not
/// linfa's histogram.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DecisionRule {
    pub variant: Variant,
    /// Complement NB only: divide each class's weights by their sum (scikit-learn `norm=True`).
    #[serde(default)]
    pub weight_norm: bool,
    /// Multinomial and hierarchical: use the fitted class priors (false: uniform priors, in
    /// both stages of the hierarchical rule).
    pub fit_prior: bool,
}

impl Default for DecisionRule {
    fn default() -> Self {
        DecisionRule {
            variant: Variant::Multinomial,
            weight_norm: false,
            fit_prior: true,
        }
    }
}

/// A fitted model with its per-feature tables precomputed for scoring and explaining.
#[derive(Debug, Clone)]
pub struct NbModel {
    alpha: f64,
    rule: DecisionRule,
    classes: Vec<ClassStats>,
    n_features: usize,
    log_prior: Vec<f64>,
    /// `n_features x n_classes`, row-major: one cache line per feature when scoring.
    log_prob: Vec<f64>,
    /// Log-likelihood ratio of each feature for each class against the mean of the others.
    llr: Vec<f64>,
    /// The hierarchical variant's pooled class (`None` for the other variants).
    pooled: Option<Pooled>,
}

/// `ln(sum(exp(x)))` without overflow or underflow.
pub fn log_sum_exp(x: &[f64]) -> f64 {
    let m = x.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    if !m.is_finite() {
        return m;
    }
    m + x.iter().map(|v| (v - m).exp()).sum::<f64>().ln()
}

/// Turns joint log-likelihoods into probabilities that are finite and sum to 1.
pub fn posterior(jll: &[f64]) -> Vec<f64> {
    let lse = log_sum_exp(jll);
    let mut p: Vec<f64> = jll.iter().map(|v| (v - lse).exp()).collect();
    let sum: f64 = p.iter().sum();
    if sum.is_finite() && sum > 0.0 {
        p.iter_mut().for_each(|v| *v /= sum);
    } else {
        let n = p.len() as f64;
        p.iter_mut().for_each(|v| *v = 1.0 / n);
    }
    p
}

/// Multinomial naive Bayes log-probabilities from one class's feature counts, computed exactly as
/// linfa-bayes' `ClassHistogram::update_with_smoothing` does (same ndarray summation).
pub fn multinomial_log_prob(counts: &[f64], alpha: f64) -> Vec<f64> {
    let smoothed = ndarray::Array1::from_iter(counts.iter().map(|c| c + alpha));
    let total = smoothed.sum().ln();
    smoothed.iter().map(|x| x.ln() - total).collect()
}

/// Complement naive Bayes weights from per-class feature counts, exactly as scikit-learn's
/// `ComplementNB._update_feature_log_prob`: `comp = total + alpha - count`, `logged = ln(comp /
/// sum(comp))`, then `-logged`, or `logged / sum(logged)` with `norm`.
pub fn complement_weights(classes: &[ClassStats], alpha: f64, norm: bool) -> Vec<Vec<f64>> {
    let n = classes.first().map_or(0, |c| c.feature_count.len());
    let all: Vec<f64> = (0..n)
        .map(|f| classes.iter().map(|c| c.feature_count[f]).sum())
        .collect();
    classes
        .iter()
        .map(|c| {
            let comp: Vec<f64> = (0..n)
                .map(|f| all[f] + alpha - c.feature_count[f])
                .collect();
            let total: f64 = comp.iter().sum();
            let logged: Vec<f64> = comp.iter().map(|v| (v / total).ln()).collect();
            if norm {
                let sum: f64 = logged.iter().sum();
                logged.iter().map(|v| v / sum).collect()
            } else {
                logged.iter().map(|v| -v).collect()
            }
        })
        .collect()
}

impl NbModel {
    /// Builds the model from its classes, checking that the numbers fit together.
    pub fn new(
        alpha: f64,
        rule: DecisionRule,
        mut classes: Vec<ClassStats>,
    ) -> std::result::Result<Self, String> {
        for c in classes.iter_mut().filter(|c| c.feature_log_prob.is_empty()) {
            c.feature_log_prob = multinomial_log_prob(&c.feature_count, alpha);
        }
        if classes.len() < 2 {
            return Err(format!(
                "need at least two classes, found {}",
                classes.len()
            ));
        }
        // The width most classes agree on: a damaged file usually cuts one class short, and
        // taking the first class's width blamed the others when it was the first.
        let widths: Vec<usize> = classes.iter().map(|c| c.feature_count.len()).collect();
        let n_features = widths
            .iter()
            .copied()
            .max_by_key(|w| (widths.iter().filter(|x| *x == w).count(), *w))
            .unwrap_or(0);
        for c in &classes {
            if c.feature_log_prob.len() != n_features || c.feature_count.len() != n_features {
                return Err(format!(
                    "class {:?} has {} log-probabilities and {} counts, expected {n_features} (as the other classes have)",
                    c.label,
                    c.feature_log_prob.len(),
                    c.feature_count.len()
                ));
            }
            if !(c.prior > 0.0 && c.prior <= 1.0) {
                return Err(format!("class {:?} has prior {}", c.label, c.prior));
            }
            if let Some(v) = c
                .feature_log_prob
                .iter()
                .find(|v| !v.is_finite() || **v > 0.0)
            {
                return Err(format!("class {:?} has log-probability {v}", c.label));
            }
        }
        let k = classes.len();
        let log_prior = match rule.variant {
            Variant::Multinomial | Variant::Hierarchical if rule.fit_prior => {
                classes.iter().map(|c| c.prior.ln()).collect()
            }
            Variant::Multinomial | Variant::Hierarchical => vec![-(k as f64).ln(); k],
            // scikit-learn's ComplementNB adds no prior when there are two or more classes.
            Variant::Complement => vec![0.0; k],
        };
        let pooled = match rule.variant {
            Variant::Hierarchical => Some(Pooled::new(&classes, alpha, rule.fit_prior)?),
            _ => None,
        };
        let table = match rule.variant {
            Variant::Multinomial | Variant::Hierarchical => {
                classes.iter().map(|c| c.feature_log_prob.clone()).collect()
            }
            Variant::Complement => complement_weights(&classes, alpha, rule.weight_norm),
        };
        let mut log_prob = vec![0.0; n_features * k];
        let mut llr = vec![0.0; n_features * k];
        let mut others = Vec::with_capacity(k);
        for f in 0..n_features {
            for ci in 0..k {
                log_prob[f * k + ci] = table[ci][f];
            }
            for ci in 0..k {
                others.clear();
                others.extend((0..k).filter(|&o| o != ci).map(|o| table[o][f]));
                let mean_others = match rule.variant {
                    Variant::Multinomial | Variant::Hierarchical => {
                        log_sum_exp(&others) - ((k - 1) as f64).ln()
                    }
                    Variant::Complement => others.iter().sum::<f64>() / (k - 1) as f64,
                };
                llr[f * k + ci] = table[ci][f] - mean_others;
            }
        }
        if let Some(p) = &pooled {
            for f in 0..n_features {
                let blended = hierarchical::llr(
                    &log_prob[f * k..f * k + k],
                    p.log_prob[f],
                    &llr[f * k..f * k + k],
                    p,
                );
                llr[f * k..f * k + k].copy_from_slice(&blended);
            }
        }
        if log_prob.iter().any(|v| !v.is_finite()) || llr.iter().any(|v| !v.is_finite()) {
            return Err("the decision rule gives a non-finite feature weight".into());
        }
        Ok(NbModel {
            alpha,
            rule,
            classes,
            n_features,
            log_prior,
            log_prob,
            llr,
            pooled,
        })
    }

    /// Reads the class histograms out of a fitted linfa model through its serde form; class `i`
    /// of linfa is `labels[i]`.
    pub fn from_linfa(
        model: &MultinomialNb<f64, usize>,
        labels: &[String],
        alpha: f64,
        rule: DecisionRule,
    ) -> Result<Self> {
        let fit_err = |m: String| StanceError::Fit(m);
        let value = serde_json::to_value(model).map_err(|e| fit_err(e.to_string()))?;
        let info = value
            .get("class_info")
            .and_then(|v| v.as_object())
            .ok_or_else(|| fit_err("linfa model has no class_info".into()))?;
        let mut classes = Vec::with_capacity(labels.len());
        for (i, label) in labels.iter().enumerate() {
            let h = info
                .get(&i.to_string())
                .ok_or_else(|| fit_err(format!("linfa model lacks class {label:?}")))?;
            let arr = |key: &str| -> Result<Vec<f64>> {
                serde_json::from_value(h[key]["data"].clone())
                    .map_err(|e| fit_err(format!("{key}: {e}")))
            };
            classes.push(ClassStats {
                label: label.clone(),
                class_count: h["class_count"].as_u64().unwrap_or(0) as usize,
                prior: h["prior"].as_f64().unwrap_or(f64::NAN),
                feature_count: arr("feature_count")?,
                feature_log_prob: arr("feature_log_prob")?,
            });
        }
        NbModel::new(alpha, rule, classes).map_err(fit_err)
    }

    /// Rebuilds the equivalent linfa model (for tests that compare against linfa itself, and for
    /// continuing to fit).
    pub fn to_linfa(&self) -> Result<MultinomialNb<f64, usize>> {
        let mut info = serde_json::Map::new();
        for (i, c) in self.classes.iter().enumerate() {
            let n = c.feature_count.len();
            info.insert(
                i.to_string(),
                json!({
                    "class_count": c.class_count,
                    "prior": c.prior,
                    "feature_count": {"v": 1, "dim": [n], "data": c.feature_count},
                    "feature_log_prob": {"v": 1, "dim": [n], "data": c.feature_log_prob},
                }),
            );
        }
        serde_json::from_value(json!({ "class_info": info }))
            .map_err(|e| StanceError::Fit(format!("cannot rebuild linfa model: {e}")))
    }

    pub fn alpha(&self) -> f64 {
        self.alpha
    }

    pub fn rule(&self) -> DecisionRule {
        self.rule
    }

    pub fn classes(&self) -> &[ClassStats] {
        &self.classes
    }

    pub fn n_classes(&self) -> usize {
        self.classes.len()
    }

    pub fn n_features(&self) -> usize {
        self.n_features
    }

    /// Joint log-likelihood of every class for a document given as feature occurrences (each
    /// occurrence counts once; pass deduplicated features for a binary model).
    ///
    /// The hierarchical variant blends the flat and two-stage log-posteriors instead
    /// ([`crate::hierarchical::blend`]); like joint log-likelihoods, only their differences matter.
    pub fn joint_log_likelihood(&self, features: &[u32]) -> Vec<f64> {
        let counts: Vec<(u32, f64)> = features.iter().map(|&f| (f, 1.0)).collect();
        self.joint_log_likelihood_counts(&counts)
    }

    /// Joint log-likelihood for sparse `(feature, count)` pairs (for the hierarchical variant,
    /// its blended log-scores).
    pub fn joint_log_likelihood_counts(&self, counts: &[(u32, f64)]) -> Vec<f64> {
        let k = self.classes.len();
        let mut jll = self.log_prior.clone();
        let mut pooled_sum = 0.0;
        for &(f, n) in counts {
            let f = f as usize;
            if f < self.n_features {
                let row = &self.log_prob[f * k..f * k + k];
                for (acc, lp) in jll.iter_mut().zip(row) {
                    *acc += n * lp;
                }
                if let Some(p) = &self.pooled {
                    pooled_sum += n * p.log_prob[f];
                }
            }
        }
        match &self.pooled {
            Some(p) => {
                let apart_sum = jll[p.apart] - self.log_prior[p.apart];
                hierarchical::blend(&jll, apart_sum, pooled_sum, p)
            }
            None => jll,
        }
    }

    /// The per-feature weight the decision rule adds to `class`'s joint log-likelihood for each
    /// unit of the feature (log-probability for multinomial NB, complement weight otherwise;
    /// under the hierarchical rule, the flat half of the blend: explanations rank by
    /// `hierarchical::llr` instead).
    pub fn weight(&self, feature: u32, class: usize) -> f64 {
        self.log_prob[feature as usize * self.classes.len() + class]
    }

    /// The log-prior the decision rule starts each class from.
    pub fn log_prior(&self) -> &[f64] {
        &self.log_prior
    }

    /// How strongly a feature points to `class` against the other classes (natural log units).
    pub fn llr(&self, feature: u32, class: usize) -> f64 {
        self.llr[feature as usize * self.classes.len() + class]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn log_sum_exp_is_stable() {
        let big = [-1.0e7, -1.0e7 - 1.0, -2.0e7];
        let lse = log_sum_exp(&big);
        assert!(lse.is_finite());
        let p = posterior(&big);
        assert!(p.iter().all(|v| v.is_finite()));
        assert!((p.iter().sum::<f64>() - 1.0).abs() < 1e-12);
        assert!(p[0] > p[1] && p[2] == 0.0);
        // The naive formula fails on the same input.
        let naive: f64 = big.iter().map(|v| v.exp()).sum::<f64>().ln();
        assert!(!naive.is_finite());
    }

    #[test]
    fn rejects_inconsistent_classes() {
        let c = |label: &str, n: usize| ClassStats {
            label: label.into(),
            class_count: 1,
            prior: 0.5,
            feature_count: vec![1.0; n],
            feature_log_prob: vec![-1.0; n],
        };
        let r = DecisionRule::default();
        assert!(NbModel::new(1.0, r, vec![c("a", 3), c("b", 3)]).is_ok());
        assert!(NbModel::new(1.0, r, vec![c("a", 3), c("b", 2)])
            .unwrap_err()
            .contains("expected 3"));
        assert!(NbModel::new(1.0, r, vec![c("a", 3)]).is_err());
        // The class cut short is the one named, even when it comes first.
        let err = NbModel::new(1.0, r, vec![c("a", 2), c("b", 3), c("c", 3)]).unwrap_err();
        assert!(
            err.starts_with("class \"a\"") && err.contains("expected 3"),
            "{err}"
        );
    }
}

//! Honest estimates of how well a model does: k-fold cross-validation (each fold trains its own
//! tokenizer and models; folds keep a writer's pieces together when the corpus manifest says who
//! wrote them) and held-out test sets, with the figures a user acting on a score needs: accuracy
//! and F1, log-loss, Brier score, expected calibration error, and accuracy at coverage.
//! Deterministic for a given seed.

use std::collections::{BTreeMap, HashMap};
use std::fmt;

use rand::seq::SliceRandom;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serde::Serialize;

use crate::bootstrap::{self, Intervals};
use crate::calibration::{Calibration, Sample};
use crate::classifier::Classifier;
use crate::corpus::Corpus;
use crate::error::{Result, StanceError};
use crate::params::CheckedParams;
use crate::train::{out_of_fold, train};

/// Bins of the expected calibration error and of the reliability diagram.
pub const CALIBRATION_BINS: usize = 10;
/// Shares of the most confident documents reported by accuracy at coverage.
pub const COVERAGES: [f64; 4] = [0.3, 0.5, 0.7, 1.0];

/// Precision, recall and F1 of one label.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct LabelMetrics {
    pub label: String,
    pub precision: f64,
    pub recall: f64,
    pub f1: f64,
    pub support: usize,
}

/// One confidence bin of the reliability diagram.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Bin {
    pub lower: f64,
    pub upper: f64,
    pub documents: usize,
    pub mean_confidence: f64,
    pub accuracy: f64,
}

/// Accuracy of the most confident share of the documents.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Coverage {
    pub coverage: f64,
    pub documents: usize,
    pub accuracy: f64,
}

/// Evaluation figures over a set of predictions.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Report {
    pub documents: usize,
    pub accuracy: f64,
    pub macro_f1: f64,
    /// Mean negative log-probability of the true label (probabilities clipped at 1e-15).
    pub log_loss: f64,
    /// Mean squared distance between the probability vector and the one-hot truth.
    pub brier: f64,
    /// Expected calibration error of the top label's probability, 10 equal-width bins.
    pub ece: f64,
    pub mean_confidence: f64,
    pub per_label: Vec<LabelMetrics>,
    pub labels: Vec<String>,
    /// `confusion[true][predicted]`.
    pub confusion: Vec<Vec<usize>>,
    pub reliability: Vec<Bin>,
    pub accuracy_at_coverage: Vec<Coverage>,
    /// 95% bootstrap intervals of the headline figures (held-out test sets only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub intervals: Option<Intervals>,
}

fn argmax(p: &[f64]) -> usize {
    p.iter()
        .enumerate()
        .fold(0, |b, (i, v)| if *v > p[b] { i } else { b })
}

impl Report {
    /// Builds the report from true labels and predicted probability vectors.
    pub fn from_predictions<P: AsRef<[f64]>>(
        labels: &[String],
        truth: &[usize],
        probs: &[P],
    ) -> Self {
        let k = labels.len();
        let mut confusion = vec![vec![0usize; k]; k];
        let mut log_loss = 0.0;
        let mut brier = 0.0;
        let mut scored: Vec<(f64, bool)> = Vec::with_capacity(truth.len());
        for (t, p) in truth.iter().zip(probs) {
            let p = p.as_ref();
            let pred = argmax(p);
            confusion[*t][pred] += 1;
            log_loss -= p[*t].clamp(1e-15, 1.0).ln();
            brier += p
                .iter()
                .enumerate()
                .map(|(i, v)| (v - if i == *t { 1.0 } else { 0.0 }).powi(2))
                .sum::<f64>();
            scored.push((p[pred], pred == *t));
        }
        let n = truth.len();
        let correct: usize = (0..k).map(|i| confusion[i][i]).sum();
        let ratio = |a: usize, b: usize| if b == 0 { 0.0 } else { a as f64 / b as f64 };
        let per_label: Vec<LabelMetrics> = (0..k)
            .map(|i| {
                let tp = confusion[i][i];
                let predicted: usize = (0..k).map(|t| confusion[t][i]).sum();
                let support: usize = confusion[i].iter().sum();
                let precision = ratio(tp, predicted);
                let recall = ratio(tp, support);
                let f1 = if precision + recall == 0.0 {
                    0.0
                } else {
                    2.0 * precision * recall / (precision + recall)
                };
                LabelMetrics {
                    label: labels[i].clone(),
                    precision,
                    recall,
                    f1,
                    support,
                }
            })
            .collect();
        let reliability = reliability_bins(&scored);
        let ece = reliability
            .iter()
            .map(|b| b.documents as f64 * (b.mean_confidence - b.accuracy).abs())
            .sum::<f64>()
            / n.max(1) as f64;
        let mean = |x: f64| if n == 0 { 0.0 } else { x / n as f64 };
        Report {
            documents: n,
            accuracy: ratio(correct, n),
            macro_f1: per_label.iter().map(|m| m.f1).sum::<f64>() / k.max(1) as f64,
            log_loss: mean(log_loss),
            brier: mean(brier),
            ece,
            mean_confidence: mean(scored.iter().map(|s| s.0).sum()),
            per_label,
            labels: labels.to_vec(),
            confusion,
            reliability,
            accuracy_at_coverage: coverage_table(&scored),
            intervals: None,
        }
    }
}

fn reliability_bins(scored: &[(f64, bool)]) -> Vec<Bin> {
    let mut sums = vec![(0usize, 0.0f64, 0usize); CALIBRATION_BINS];
    for &(c, ok) in scored {
        let b = ((c * CALIBRATION_BINS as f64) as usize).min(CALIBRATION_BINS - 1);
        sums[b].0 += 1;
        sums[b].1 += c;
        sums[b].2 += ok as usize;
    }
    sums.iter()
        .enumerate()
        .map(|(i, &(n, conf, ok))| Bin {
            lower: i as f64 / CALIBRATION_BINS as f64,
            upper: (i + 1) as f64 / CALIBRATION_BINS as f64,
            documents: n,
            mean_confidence: if n == 0 { 0.0 } else { conf / n as f64 },
            accuracy: if n == 0 { 0.0 } else { ok as f64 / n as f64 },
        })
        .collect()
}

/// Accuracy of the `c` most confident share, for each coverage in [`COVERAGES`]; ties in
/// confidence are broken by input order, so the table is deterministic.
fn coverage_table(scored: &[(f64, bool)]) -> Vec<Coverage> {
    let mut order: Vec<usize> = (0..scored.len()).collect();
    order.sort_by(|&a, &b| scored[b].0.total_cmp(&scored[a].0).then(a.cmp(&b)));
    COVERAGES
        .iter()
        .map(|&c| {
            let take = ((c * scored.len() as f64).ceil() as usize).min(scored.len());
            let ok = order[..take].iter().filter(|&&i| scored[i].1).count();
            Coverage {
                coverage: c,
                documents: take,
                accuracy: if take == 0 {
                    0.0
                } else {
                    ok as f64 / take as f64
                },
            }
        })
        .collect()
}

/// How the documents of a label the model does not have (such as `off-topic`) were scored.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct OtherLabel {
    pub label: String,
    pub documents: usize,
    /// How many got each stance label.
    pub predicted: BTreeMap<String, usize>,
    pub mean_confidence: f64,
    /// How many were flagged `on_topic: false` (when the model has a relevance head).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub flagged_off_topic: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mean_relevance: Option<f64>,
}

/// Relevance figures: how well `on_topic` separates the debate from everything else.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct RelevanceReport {
    pub threshold: f64,
    /// Documents of a stance label.
    pub on_topic_documents: usize,
    /// Of those, flagged `on_topic: false`.
    pub on_topic_flagged: usize,
    /// Documents of another label (off-topic).
    pub off_topic_documents: usize,
    /// Of those, flagged `on_topic: false`.
    pub off_topic_flagged: usize,
    /// The relevance head's own figures (labels off-topic / on-topic).
    pub report: Report,
}

/// A test-set evaluation: the stance report over documents of the model's labels, and how the
/// rest were scored.
#[derive(Debug, Clone, Serialize)]
pub struct TestReport {
    pub stance: Report,
    pub other_labels: Vec<OtherLabel>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub relevance: Option<RelevanceReport>,
    /// Documents whose score rested on too little evidence.
    pub insufficient_evidence: usize,
    /// The calibration set's temperature, when the tested model was softened by one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub calibration_data: Option<crate::holdout::HoldoutFit>,
    /// Every test document's score, in test-set order (written by `stance evaluate
    /// --predictions`, not part of the report).
    #[serde(skip)]
    pub predictions: Vec<Prediction>,
}

/// How one test document was scored: enough to compare two configurations document by
/// document (a paired comparison needs the same documents on both sides).
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Prediction {
    /// Where the document came from: a file path, or `file:line` for JSONL.
    pub source: String,
    /// Its label in the test set, which may be one the model does not have.
    pub truth: String,
    pub label: String,
    pub confidence: f64,
    pub scores: BTreeMap<String, f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub relevance: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub on_topic: Option<bool>,
    pub insufficient_evidence: bool,
}

/// Per other label: documents, predicted-label counts, confidence sum, flagged count, relevance sum.
type OtherTally = (usize, BTreeMap<String, usize>, f64, usize, f64);

/// Scores a test corpus with a classifier. Documents whose label the model has are scored for
/// stance; the others (an `off-topic` label, say) are reported separately, never an error. The
/// stance figures carry 95% bootstrap intervals from `resamples` resamples (0: none).
pub fn evaluate_on(classifier: &Classifier, test: &Corpus, resamples: usize) -> Result<TestReport> {
    let model_labels: Vec<String> = classifier.labels().iter().map(|s| s.to_string()).collect();
    let index: HashMap<&str, usize> = model_labels
        .iter()
        .enumerate()
        .map(|(i, l)| (l.as_str(), i))
        .collect();
    let test_labels = test.labels().to_vec();
    let mut truth = Vec::new();
    let mut probs = Vec::new();
    let mut others: BTreeMap<String, OtherTally> = BTreeMap::new();
    let mut rel_truth = Vec::new();
    let mut rel_probs = Vec::new();
    let mut insufficient = 0;
    let has_relevance = classifier.has_relevance();
    let mut predictions = Vec::new();
    test.for_each(|d| {
        let s = classifier.score(&d.text, 0)?;
        insufficient += s.insufficient_evidence as usize;
        let p: Vec<f64> = s.scores.iter().map(|(_, p)| *p).collect();
        let name = &test_labels[d.label];
        predictions.push(Prediction {
            source: d.source.clone(),
            truth: name.clone(),
            label: s.label.clone(),
            confidence: s.confidence,
            scores: s.scores.iter().cloned().collect(),
            relevance: s.relevance,
            on_topic: s.on_topic,
            insufficient_evidence: s.insufficient_evidence,
        });
        let on = index.get(name.as_str()).copied();
        if let Some(r) = s.relevance {
            rel_truth.push(on.is_some() as usize);
            rel_probs.push(vec![1.0 - r, r]);
        }
        match on {
            Some(i) => {
                truth.push(i);
                probs.push(p);
            }
            None => {
                let e = others
                    .entry(name.clone())
                    .or_insert_with(|| (0, BTreeMap::new(), 0.0, 0, 0.0));
                e.0 += 1;
                *e.1.entry(s.label.clone()).or_insert(0) += 1;
                e.2 += s.confidence;
                e.3 += (s.on_topic == Some(false)) as usize;
                e.4 += s.relevance.unwrap_or(0.0);
            }
        }
        Ok(())
    })?;
    if truth.is_empty() {
        return Err(StanceError::Param {
            name: "--test",
            reason: format!(
                "no test document has one of the model's labels {model_labels:?} (test labels: {test_labels:?})"
            ),
        });
    }
    let other_labels = others
        .into_iter()
        .map(|(label, (n, predicted, conf, flagged, rel))| OtherLabel {
            label,
            documents: n,
            predicted,
            mean_confidence: conf / n as f64,
            flagged_off_topic: has_relevance.then_some(flagged),
            mean_relevance: has_relevance.then_some(rel / n as f64),
        })
        .collect();
    let relevance = has_relevance.then(|| {
        let threshold = classifier.relevance_threshold();
        let flagged = |want: usize| {
            rel_truth
                .iter()
                .zip(&rel_probs)
                .filter(|(t, p)| **t == want && p[1] < threshold)
                .count()
        };
        RelevanceReport {
            threshold,
            on_topic_documents: rel_truth.iter().filter(|t| **t == 1).count(),
            on_topic_flagged: flagged(1),
            off_topic_documents: rel_truth.iter().filter(|t| **t == 0).count(),
            off_topic_flagged: flagged(0),
            report: Report::from_predictions(
                &crate::train::RELEVANCE_LABELS.map(String::from),
                &rel_truth,
                &rel_probs,
            ),
        }
    });
    let mut stance = Report::from_predictions(&model_labels, &truth, &probs);
    stance.intervals = bootstrap::intervals(&model_labels, &truth, &probs, resamples);
    Ok(TestReport {
        stance,
        other_labels,
        relevance,
        insufficient_evidence: insufficient,
        calibration_data: None,
        predictions,
    })
}

/// Cross-validation figures: raw posteriors, and the same out-of-fold predictions through a
/// calibration map fitted on them (the map has two or three parameters, so fitting it on the
/// predictions it is judged on flatters it very little).
#[derive(Debug, Clone, Serialize)]
pub struct CvReport {
    pub folds: usize,
    pub grouped: bool,
    pub raw: Report,
    pub calibrated: Report,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub relevance: Option<Report>,
}

/// k-fold cross-validation; folds keep `group_by` groups together when the corpus says them.
pub fn cross_validate(
    corpus: &Corpus,
    offtopic: Option<&Corpus>,
    params: &CheckedParams,
    k: usize,
    group_by: &str,
    seed: u64,
) -> Result<CvReport> {
    let p = params.get();
    let oof = out_of_fold(corpus, offtopic, p, k, group_by, seed)?;
    let labels = corpus.labels().to_vec();
    let report = |samples: &[Sample], cal: &Calibration, labels: &[String]| {
        let truth: Vec<usize> = samples.iter().map(|s| s.truth).collect();
        let probs: Vec<Vec<f64>> = samples
            .iter()
            .map(|s| cal.probabilities(&s.jll, s.evidence))
            .collect();
        Report::from_predictions(labels, &truth, &probs)
    };
    let cal = Calibration::fit(
        p.calibration,
        &oof.stance_calibration_samples(p),
        labels.len(),
    );
    let relevance = (!oof.relevance.is_empty()).then(|| {
        let rcal = Calibration::fit(p.relevance_method(), &oof.relevance, 2);
        report(
            &oof.relevance,
            &rcal,
            &crate::train::RELEVANCE_LABELS.map(String::from),
        )
    });
    Ok(CvReport {
        folds: oof.folds,
        grouped: oof.grouped(),
        raw: report(&oof.stance, &Calibration::identity(), &labels),
        calibrated: report(&oof.stance, &cal, &labels),
        relevance,
    })
}

/// Trains on a corpus (with calibration) and evaluates on a test corpus ([`evaluate_on`]).
pub fn train_and_test(
    corpus: &Corpus,
    offtopic: Option<&Corpus>,
    holdout: Option<&Corpus>,
    params: &CheckedParams,
    test: &Corpus,
    thresholds: Thresholds,
    resamples: usize,
) -> Result<TestReport> {
    let trained = train(corpus, offtopic, holdout, params, None)?;
    let fit = trained.holdout.clone();
    let classifier = Classifier::from_trained(trained, "evaluate").with_thresholds(thresholds);
    let mut report = evaluate_on(&classifier, test, resamples)?;
    report.calibration_data = fit;
    Ok(report)
}

pub use crate::classifier::Thresholds;

/// `"  [low, high]"` when the report has intervals, else nothing.
fn shown(iv: Option<&bootstrap::Interval>) -> String {
    iv.map_or(String::new(), |i| {
        format!("  [{:.4}, {:.4}]", i.low, i.high)
    })
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let iv = self.intervals.as_ref();
        writeln!(f, "documents  {}", self.documents)?;
        if let Some(i) = iv {
            writeln!(
                f,
                "           (in brackets: {:.0}% bootstrap intervals, {} resamples)",
                i.level * 100.0,
                i.resamples
            )?;
        }
        writeln!(
            f,
            "accuracy   {:.4}{}",
            self.accuracy,
            shown(iv.map(|i| &i.accuracy))
        )?;
        writeln!(
            f,
            "macro-F1   {:.4}{}",
            self.macro_f1,
            shown(iv.map(|i| &i.macro_f1))
        )?;
        writeln!(
            f,
            "log-loss   {:.4}{}",
            self.log_loss,
            shown(iv.map(|i| &i.log_loss))
        )?;
        writeln!(f, "Brier      {:.4}", self.brier)?;
        writeln!(
            f,
            "ECE        {:.4}{}  (10 bins; mean confidence {:.4})",
            self.ece,
            shown(iv.map(|i| &i.ece)),
            self.mean_confidence
        )?;
        writeln!(f)?;
        let w = self
            .labels
            .iter()
            .map(|l| l.len())
            .max()
            .unwrap_or(5)
            .max(5);
        writeln!(f, "{:w$}  precision  recall  f1      support", "label")?;
        for m in &self.per_label {
            writeln!(
                f,
                "{:w$}  {:<9.4}  {:<6.4}  {:<6.4}  {}",
                m.label, m.precision, m.recall, m.f1, m.support
            )?;
        }
        writeln!(f)?;
        writeln!(f, "confusion matrix (rows: true label, columns: predicted)")?;
        write!(f, "{:w$}", "")?;
        for l in &self.labels {
            write!(f, "  {l:>w$}")?;
        }
        writeln!(f)?;
        for (l, row) in self.labels.iter().zip(&self.confusion) {
            write!(f, "{l:w$}")?;
            for c in row {
                write!(f, "  {c:>w$}")?;
            }
            writeln!(f)?;
        }
        writeln!(f)?;
        writeln!(f, "accuracy of the most confident documents")?;
        for (j, c) in self.accuracy_at_coverage.iter().enumerate() {
            writeln!(
                f,
                "  top {:>3.0}%  {:>5} documents  accuracy {:.4}{}",
                c.coverage * 100.0,
                c.documents,
                c.accuracy,
                shown(iv.and_then(|i| i.accuracy_at_coverage.get(j)))
            )?;
        }
        Ok(())
    }
}

/// Assigns whole groups to folds: groups in a seeded random order, each to the fold with the
/// fewest documents so far (largest groups first), like scikit-learn's `GroupKFold`.
pub fn group_folds(groups: &[String], k: usize, seed: u64) -> Result<Vec<usize>> {
    let mut sizes: BTreeMap<&str, usize> = BTreeMap::new();
    for g in groups {
        *sizes.entry(g.as_str()).or_insert(0) += 1;
    }
    // Too few groups is the grouping's doing (one batch, writers not recorded), not the fold
    // count's: the error blames --group-by, and says both ways out.
    if sizes.len() < k {
        return Err(StanceError::Param {
            name: "--group-by",
            reason: format!(
                "{k} folds need at least {k} groups, but there are only {} group(s) \
                 (--group-by \"\" for stratified folds, or fewer folds)",
                sizes.len()
            ),
        });
    }
    let mut order: Vec<(&str, usize)> = sizes.into_iter().collect();
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    order.shuffle(&mut rng);
    order.sort_by_key(|g| std::cmp::Reverse(g.1));
    let mut load = vec![0usize; k];
    let mut fold_of: HashMap<&str, usize> = HashMap::new();
    for (g, n) in order {
        let f = (0..k).min_by_key(|&f| (load[f], f)).unwrap_or(0);
        load[f] += n;
        fold_of.insert(g, f);
    }
    Ok(groups.iter().map(|g| fold_of[g.as_str()]).collect())
}

/// Assigns each document a fold so that every fold has each label in proportion.
pub fn stratified_folds(labels: &[usize], n_labels: usize, k: usize, seed: u64) -> Vec<usize> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut fold = vec![0; labels.len()];
    let mut next = 0;
    for label in 0..n_labels {
        let mut idx: Vec<usize> = (0..labels.len()).filter(|&i| labels[i] == label).collect();
        idx.shuffle(&mut rng);
        for i in idx {
            fold[i] = next % k;
            next += 1;
        }
    }
    fold
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metrics_match_hand_computation() {
        // Same figures as scikit-learn's classification_report / log_loss on this input:
        // y_true=[0,0,1,1,2], y_pred=[0,1,1,1,0]
        let labels: Vec<String> = ["a", "b", "c"].iter().map(|s| s.to_string()).collect();
        let probs = vec![
            vec![0.8, 0.1, 0.1],
            vec![0.3, 0.6, 0.1],
            vec![0.1, 0.8, 0.1],
            vec![0.2, 0.7, 0.1],
            vec![0.5, 0.2, 0.3],
        ];
        let r = Report::from_predictions(&labels, &[0, 0, 1, 1, 2], &probs);
        assert_eq!(
            r.confusion,
            vec![vec![1, 1, 0], vec![0, 2, 0], vec![1, 0, 0]]
        );
        assert!((r.accuracy - 0.6).abs() < 1e-12);
        // a: p=1/2 r=1/2 f1=0.5; b: p=2/3 r=1 f1=0.8; c: 0 -> macro 0.4333...
        assert!((r.macro_f1 - (0.5 + 0.8 + 0.0) / 3.0).abs() < 1e-12);
        let ll = -(0.8f64.ln() + 0.3f64.ln() + 0.8f64.ln() + 0.7f64.ln() + 0.3f64.ln()) / 5.0;
        assert!((r.log_loss - ll).abs() < 1e-12);
        // Brier: sum over rows of squared distance to the one-hot truth, averaged.
        let brier =
            (0.06 + (0.49 + 0.36 + 0.01) + 0.06 + (0.04 + 0.09 + 0.01) + (0.25 + 0.04 + 0.49))
                / 5.0;
        assert!((r.brier - brier).abs() < 1e-12, "{}", r.brier);
        // ECE: bins 0.5 (conf 0.5, wrong), 0.6 (0.6 wrong), 0.7 (0.7 right), 0.8 (0.8, 0.8: 1 of 2 right).
        let ece = (0.5 + 0.6 + 0.3 + 2.0 * 0.2) / 5.0;
        assert!((r.ece - ece).abs() < 1e-12, "{}", r.ece);
        // Most confident first: 0.8 (right), 0.8 (right, b), 0.7, 0.6, 0.5.
        assert_eq!(r.accuracy_at_coverage[0].documents, 2);
        assert!((r.accuracy_at_coverage[0].accuracy - 1.0).abs() < 1e-12);
        assert!((r.accuracy_at_coverage[3].accuracy - 0.6).abs() < 1e-12);
    }

    #[test]
    fn group_folds_keep_groups_whole() {
        let groups: Vec<String> = (0..40).map(|i| format!("w{}", i % 8)).collect();
        let f = group_folds(&groups, 4, 1).unwrap();
        assert_eq!(f, group_folds(&groups, 4, 1).unwrap());
        for (g, fold) in groups.iter().zip(&f) {
            for (h, other) in groups.iter().zip(&f) {
                if g == h {
                    assert_eq!(fold, other);
                }
            }
        }
        for fold in 0..4 {
            assert_eq!(f.iter().filter(|&&x| x == fold).count(), 10);
        }
        assert!(group_folds(&groups, 9, 1).is_err());
    }

    #[test]
    fn folds_are_stratified_and_seeded() {
        let labels: Vec<usize> = (0..30).map(|i| i % 3).collect();
        let a = stratified_folds(&labels, 3, 5, 7);
        assert_eq!(a, stratified_folds(&labels, 3, 5, 7));
        assert_ne!(a, stratified_folds(&labels, 3, 5, 8));
        for fold in 0..5 {
            for label in 0..3 {
                let n = (0..30)
                    .filter(|&i| a[i] == fold && labels[i] == label)
                    .count();
                assert_eq!(n, 2);
            }
        }
    }
}

//! Honest estimates of how well a model does: stratified k-fold cross-validation (each fold trains
//! its own tokenizer and model on the other folds) and held-out test sets. Deterministic for a
//! given seed.

use std::fmt;

use rand::seq::SliceRandom;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serde::Serialize;

use crate::classifier::Classifier;
use crate::corpus::{Corpus, Document};
use crate::error::{Result, StanceError};
use crate::params::CheckedParams;
use crate::train::train;

/// Precision, recall and F1 of one label.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct LabelMetrics {
    pub label: String,
    pub precision: f64,
    pub recall: f64,
    pub f1: f64,
    pub support: usize,
}

/// Evaluation figures over a set of predictions.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Report {
    pub documents: usize,
    pub accuracy: f64,
    pub macro_f1: f64,
    /// Mean negative log-probability of the true label (probabilities clipped at 1e-15).
    pub log_loss: f64,
    pub per_label: Vec<LabelMetrics>,
    pub labels: Vec<String>,
    /// `confusion[true][predicted]`.
    pub confusion: Vec<Vec<usize>>,
}

impl Report {
    /// Builds the report from true labels and predicted probability vectors.
    pub fn from_predictions(labels: &[String], truth: &[usize], probs: &[Vec<f64>]) -> Self {
        let k = labels.len();
        let mut confusion = vec![vec![0usize; k]; k];
        let mut log_loss = 0.0;
        for (t, p) in truth.iter().zip(probs) {
            let pred = p
                .iter()
                .enumerate()
                .fold(0, |b, (i, v)| if *v > p[b] { i } else { b });
            confusion[*t][pred] += 1;
            log_loss -= p[*t].clamp(1e-15, 1.0).ln();
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
        Report {
            documents: n,
            accuracy: ratio(correct, n),
            macro_f1: per_label.iter().map(|m| m.f1).sum::<f64>() / k.max(1) as f64,
            log_loss: if n == 0 { 0.0 } else { log_loss / n as f64 },
            per_label,
            labels: labels.to_vec(),
            confusion,
        }
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "documents  {}", self.documents)?;
        writeln!(f, "accuracy   {:.4}", self.accuracy)?;
        writeln!(f, "macro-F1   {:.4}", self.macro_f1)?;
        writeln!(f, "log-loss   {:.4}", self.log_loss)?;
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
        Ok(())
    }
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

/// Scores documents with a classifier and reports against their labels. The classifier's labels
/// must be the corpus's.
pub fn evaluate_on(
    classifier: &Classifier,
    labels: &[String],
    docs: &[Document],
) -> Result<Report> {
    let model_labels = classifier.labels();
    let map: Vec<usize> = labels
        .iter()
        .map(|l| {
            model_labels
                .iter()
                .position(|m| m == l)
                .ok_or_else(|| StanceError::Param {
                    name: "test",
                    reason: format!(
                        "label {l:?} is not one of the model's labels {model_labels:?}"
                    ),
                })
        })
        .collect::<Result<_>>()?;
    let mut truth = Vec::with_capacity(docs.len());
    let mut probs = Vec::with_capacity(docs.len());
    for d in docs {
        truth.push(map[d.label]);
        let s = classifier.score(&d.text, 0)?;
        probs.push(s.scores.iter().map(|(_, p)| *p).collect());
    }
    let owned: Vec<String> = model_labels.iter().map(|s| s.to_string()).collect();
    Ok(Report::from_predictions(&owned, &truth, &probs))
}

/// Stratified k-fold cross-validation over an in-memory corpus.
pub fn cross_validate(
    corpus: &Corpus,
    params: &CheckedParams,
    k: usize,
    seed: u64,
) -> Result<Report> {
    let docs = corpus.documents()?;
    let labels = corpus.labels().to_vec();
    let min_support = corpus
        .stats()
        .documents_per_label
        .iter()
        .copied()
        .min()
        .unwrap_or(0);
    if k < 2 || k > min_support {
        return Err(StanceError::Param {
            name: "folds",
            reason: format!("must be between 2 and the smallest label's document count ({min_support}), got {k}"),
        });
    }
    let truth: Vec<usize> = docs.iter().map(|d| d.label).collect();
    let folds = stratified_folds(&truth, labels.len(), k, seed);
    let mut probs = vec![Vec::new(); docs.len()];
    for fold in 0..k {
        let train_docs: Vec<Document> = docs
            .iter()
            .zip(&folds)
            .filter(|(_, &f)| f != fold)
            .map(|(d, _)| d.clone())
            .collect();
        let fold_corpus = Corpus::from_documents(labels.clone(), train_docs)?;
        let classifier = Classifier::from_trained(train(&fold_corpus, params, None)?, "cv");
        for (i, d) in docs.iter().enumerate().filter(|(i, _)| folds[*i] == fold) {
            probs[i] = classifier
                .score(&d.text, 0)?
                .scores
                .iter()
                .map(|(_, p)| *p)
                .collect();
        }
    }
    Ok(Report::from_predictions(&labels, &truth, &probs))
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

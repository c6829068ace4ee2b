//! Fitting the multinomial naive Bayes counts from sparse document vectors.
//!
//! linfa-bayes' `MultinomialNb::fit_with` takes dense rows (documents x features): at a
//! 100k-feature vocabulary that is 800 KB per document, written and summed mostly as zeros, and
//! its leftover `dbg!` (rust-ml/linfa#441) formats every class array on every call. That was most
//! of a training run. What it computes is plain sums, so [`CountFit`] sums the sparse vectors in
//! the same order linfa does (per batch of documents, each class's rows added in order starting
//! from zero, then the batch added to the running total) and gets bit-identical counts and
//! priors. [`fit_with_linfa`] is the library path itself, kept for the test that proves the two
//! equal (`tests/it/model_equivalence.rs`).

use std::sync::Mutex;

use linfa::prelude::ParamGuard;
use linfa::traits::FitWith;
use linfa::DatasetView;
use linfa_bayes::{MultinomialNb, MultinomialNbParams};
use ndarray::{s, Array1, Array2};

use crate::error::{Result, StanceError};
use crate::model::{ClassStats, DecisionRule, NbModel};

/// Sums per-class feature counts exactly as linfa-bayes' `fit_with` does over batches of
/// `batch_docs` documents.
pub struct CountFit {
    width: usize,
    batch_docs: usize,
    in_batch: usize,
    class_count: Vec<usize>,
    /// Running totals, one row of `width` per class.
    total: Vec<Vec<f64>>,
    /// The current batch's sums, and whether each class occurs in it.
    batch: Vec<Vec<f64>>,
    batch_has: Vec<bool>,
}

impl CountFit {
    pub fn new(n_classes: usize, width: usize, batch_docs: usize) -> Self {
        CountFit {
            width,
            batch_docs: batch_docs.max(1),
            in_batch: 0,
            class_count: vec![0; n_classes],
            total: vec![vec![0.0; width]; n_classes],
            batch: vec![vec![0.0; width]; n_classes],
            batch_has: vec![false; n_classes],
        }
    }

    /// Adds one document of class `label` with its (feature, value) pairs.
    pub fn add(&mut self, label: usize, vector: &[(u32, f64)]) -> Result<()> {
        let row = self
            .batch
            .get_mut(label)
            .ok_or_else(|| StanceError::Fit(format!("label index {label} out of range")))?;
        for &(f, v) in vector {
            let slot = row.get_mut(f as usize).ok_or_else(|| {
                StanceError::Fit(format!("feature {f} outside a width of {}", self.width))
            })?;
            *slot += v;
        }
        self.batch_has[label] = true;
        self.class_count[label] += 1;
        self.in_batch += 1;
        if self.in_batch == self.batch_docs {
            self.flush();
        }
        Ok(())
    }

    fn flush(&mut self) {
        for c in 0..self.total.len() {
            if !std::mem::take(&mut self.batch_has[c]) {
                continue;
            }
            for (t, b) in self.total[c].iter_mut().zip(self.batch[c].iter_mut()) {
                *t += *b;
                *b = 0.0;
            }
        }
        self.in_batch = 0;
    }

    /// The fitted classes, `labels[i]` for class `i`, with linfa's priors (class share of the
    /// documents).
    pub fn finish(mut self, labels: &[String]) -> Result<Vec<ClassStats>> {
        self.flush();
        if labels.len() != self.total.len() {
            return Err(StanceError::Fit(format!(
                "{} labels for {} classes",
                labels.len(),
                self.total.len()
            )));
        }
        let documents: usize = self.class_count.iter().sum();
        Ok(labels
            .iter()
            .zip(self.total)
            .zip(self.class_count)
            .map(|((label, feature_count), class_count)| ClassStats {
                label: label.clone(),
                class_count,
                prior: class_count as f64 / documents as f64,
                feature_count,
                feature_log_prob: Vec::new(),
            })
            .collect())
    }
}

/// linfa-bayes' leftover `dbg!` prints every class's arrays to stderr on every `fit_with`;
/// stderr is muted for the call, and concurrent fits take turns so the redirection never nests.
static STDERR_MUTE: Mutex<()> = Mutex::new(());

/// Fits the same documents with linfa-bayes' `MultinomialNb::fit_with` on dense batches of
/// `batch_docs` rows: the reference that [`CountFit`] must equal.
pub fn fit_with_linfa(
    documents: &[(usize, Vec<(u32, f64)>)],
    labels: &[String],
    width: usize,
    batch_docs: usize,
    alpha: f64,
    rule: DecisionRule,
) -> Result<NbModel> {
    let params = MultinomialNbParams::new()
        .alpha(alpha)
        .check()
        .map_err(|e| StanceError::Fit(e.to_string()))?;
    let rows = batch_docs.max(1);
    let mut fitted: Option<MultinomialNb<f64, usize>> = None;
    for batch in documents.chunks(rows) {
        let mut x = Array2::<f64>::zeros((batch.len(), width));
        let mut y = Array1::<usize>::zeros(batch.len());
        for (r, (label, vector)) in batch.iter().enumerate() {
            for &(f, v) in vector {
                x[[r, f as usize]] = v;
            }
            y[r] = *label;
        }
        let ds = DatasetView::new(x.slice(s![.., ..]), y.slice(s![..]));
        let _turn = STDERR_MUTE.lock().unwrap_or_else(|e| e.into_inner());
        let _mute = gag::Gag::stderr().ok();
        fitted = Some(
            params
                .fit_with(fitted.take(), &ds)
                .map_err(|e| StanceError::Fit(e.to_string()))?,
        );
    }
    let fitted = fitted.ok_or_else(|| StanceError::Fit("no documents".into()))?;
    NbModel::from_linfa(&fitted, labels, alpha, rule)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sums_equal_linfa_across_batches_and_absent_classes() {
        let labels: Vec<String> = ["a", "b", "c"].iter().map(|s| s.to_string()).collect();
        let docs: Vec<(usize, Vec<(u32, f64)>)> = vec![
            (0, vec![(0, 1.0), (3, 0.1)]),
            (0, vec![(1, 0.7), (3, 0.2)]),
            (1, vec![(2, 2.0)]),
            (0, vec![(3, 0.3)]),
            (2, vec![(0, 0.25), (4, 1.0 / 3.0)]),
            (1, vec![(4, 0.6)]),
            (2, vec![(4, 0.1)]),
        ];
        for batch in [1, 2, 3, 100] {
            let mut ours = CountFit::new(3, 5, batch);
            for (l, v) in &docs {
                ours.add(*l, v).unwrap();
            }
            let ours =
                NbModel::new(0.5, DecisionRule::default(), ours.finish(&labels).unwrap()).unwrap();
            let theirs =
                fit_with_linfa(&docs, &labels, 5, batch, 0.5, DecisionRule::default()).unwrap();
            assert_eq!(ours.classes(), theirs.classes(), "batch {batch}");
        }
    }

    #[test]
    fn out_of_range_input_is_an_error() {
        let mut fit = CountFit::new(2, 3, 10);
        assert!(fit.add(2, &[(0, 1.0)]).is_err());
        assert!(fit.add(0, &[(3, 1.0)]).is_err());
        assert!(fit.finish(&["only".to_string()]).is_err());
    }
}

//! Training: the corpus is streamed three times (tokenizer vocabulary, optional bigram counts,
//! then model fitting) so memory is bounded by the vocabulary, not the corpus. The model is fitted
//! by linfa-bayes' `MultinomialNb` through `fit_with` on dense chunks of at most a few thousand
//! documents.

use std::sync::mpsc::sync_channel;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use indicatif::ProgressBar;
use linfa::prelude::ParamGuard;
use linfa::traits::FitWith;
use linfa::DatasetView;
use linfa_bayes::{MultinomialNb, MultinomialNbParams};
use ndarray::{s, Array1, Array2};
use tokenizers::Tokenizer;

use crate::corpus::{Corpus, Document};
use crate::error::{Result, StanceError};
use crate::features::{BigramCounter, FeatureSpace};
use crate::model::NbModel;
use crate::params::CheckedParams;
use crate::tokenize::{pieces, train_tokenizer, FastTokenizer, Piece};

/// Dense chunks handed to linfa never exceed this many bytes.
const CHUNK_BYTES: usize = 64 << 20;

/// Everything a training run produces, before it is written as an artifact.
pub struct TrainedModel {
    pub tokenizer: Tokenizer,
    pub features: FeatureSpace,
    pub model: NbModel,
    pub elapsed: Duration,
}

/// Trains a tokenizer and a naive Bayes model on a validated corpus. `progress`, if given, is
/// advanced once per document per pass.
pub fn train(
    corpus: &Corpus,
    params: &CheckedParams,
    progress: Option<&ProgressBar>,
) -> Result<TrainedModel> {
    let p = params.get();
    let start = Instant::now();

    let hf = train_vocabulary(corpus, p.min_count, p.max_vocab, progress)?;
    let fast = FastTokenizer::new(hf.clone());
    let mut ids = Vec::new();

    let bigrams = if p.bigrams {
        let mut counter = BigramCounter::default();
        corpus.for_each(|doc| {
            encode_doc(&fast, &doc, &mut ids)?;
            counter.add(&ids);
            tick(progress);
            Ok(())
        })?;
        counter.finish(p.min_count, p.max_vocab)
    } else {
        Vec::new()
    };
    let features = FeatureSpace::new(fast.vocab_size(), p.binary, bigrams);
    let width = features.len();
    if width == 0 {
        return Err(StanceError::corpus(
            corpus.root(),
            format!(
                "no word occurs at least {} times: the vocabulary is empty",
                p.min_count
            ),
        ));
    }

    let rows = (CHUNK_BYTES / (width * 8)).clamp(1, p.chunk_docs);
    let mut x = Array2::<f64>::zeros((rows, width));
    let mut y = Array1::<usize>::zeros(rows);
    let mut filled = 0;
    let nb_params = MultinomialNbParams::new()
        .alpha(p.alpha)
        .check()
        .map_err(|e| StanceError::Fit(e.to_string()))?;
    let mut fitted: Option<MultinomialNb<f64, usize>> = None;

    corpus.for_each(|doc| {
        encode_doc(&fast, &doc, &mut ids)?;
        for (f, n) in features.counts(&ids) {
            x[[filled, f as usize]] = n;
        }
        y[filled] = doc.label;
        filled += 1;
        if filled == rows {
            fitted = Some(fit_chunk(&nb_params, fitted.take(), &x, &y, filled)?);
            x.fill(0.0);
            filled = 0;
        }
        tick(progress);
        Ok(())
    })?;
    if filled > 0 {
        fitted = Some(fit_chunk(&nb_params, fitted.take(), &x, &y, filled)?);
    }
    let fitted = fitted.ok_or_else(|| StanceError::corpus(corpus.root(), "no documents"))?;
    let model = NbModel::from_linfa(&fitted, corpus.labels(), p.alpha)?;
    Ok(TrainedModel {
        tokenizer: hf,
        features,
        model,
        elapsed: start.elapsed(),
    })
}

fn encode_doc(fast: &FastTokenizer, doc: &Document, ids: &mut Vec<u32>) -> Result<()> {
    fast.encode(&doc.text, ids)
        .map(|_| ())
        .map_err(|e| StanceError::corpus(&doc.source, e.to_string()))
}

fn tick(progress: Option<&ProgressBar>) {
    if let Some(pb) = progress {
        pb.inc(1);
    }
}

/// Streams the corpus into the Hugging Face trainer from a reader thread, so that the corpus is
/// never held in memory whole.
fn train_vocabulary(
    corpus: &Corpus,
    min_count: u64,
    max_vocab: usize,
    progress: Option<&ProgressBar>,
) -> Result<Tokenizer> {
    std::thread::scope(|scope| {
        let (tx, rx) = sync_channel::<String>(256);
        let reader = scope.spawn(move || {
            corpus.for_each(|doc| {
                tick(progress);
                // Pieces of bounded size (cut where the word counts cannot change), so that the
                // pipeline's per-byte overhead is paid on one piece at a time, not the document.
                let cut = pieces(&doc.text, &[], true)
                    .map_err(|e| StanceError::corpus(&doc.source, e.to_string()))?;
                for piece in cut {
                    let (Piece::Text(t) | Piece::Added(t)) = piece;
                    // A closed channel means the trainer stopped early; its error is reported.
                    if tx.send(t.to_string()).is_err() {
                        break;
                    }
                }
                Ok(())
            })
        });
        let trained = train_tokenizer(rx.into_iter(), min_count, max_vocab);
        let read = reader
            .join()
            .map_err(|_| StanceError::Tokenizer("corpus reader thread panicked".into()))?;
        read?;
        trained
    })
}

/// linfa-bayes 0.8.1 `fit_with` carries a leftover `dbg!` (rust-ml/linfa#441) that prints every
/// class's full arrays to stderr on every call; stderr is muted for the duration of the call.
/// Concurrent fits take turns so that the redirection is never nested.
static STDERR_MUTE: Mutex<()> = Mutex::new(());

fn fit_chunk(
    params: &linfa_bayes::MultinomialNbValidParams<f64, usize>,
    model: Option<MultinomialNb<f64, usize>>,
    x: &Array2<f64>,
    y: &Array1<usize>,
    rows: usize,
) -> Result<MultinomialNb<f64, usize>> {
    let xs = x.slice(s![..rows, ..]);
    let ys = y.slice(s![..rows]);
    let ds = DatasetView::new(xs, ys);
    let _turn = STDERR_MUTE.lock().unwrap_or_else(|e| e.into_inner());
    let _mute = gag::Gag::stderr().ok();
    params
        .fit_with(model, &ds)
        .map_err(|e| StanceError::Fit(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::params::TrainParams;

    fn corpus() -> Corpus {
        let docs = [
            (0, "open weights let everyone audit and fork the model"),
            (0, "open models mean we can audit, fork and fine tune"),
            (1, "closed models are safer behind an api with monitoring"),
            (1, "an api lets the lab monitor misuse, closed is safer"),
        ];
        Corpus::from_documents(
            vec!["open".into(), "closed".into()],
            docs.iter()
                .enumerate()
                .map(|(i, (l, t))| Document {
                    label: *l,
                    source: i.to_string(),
                    text: t.to_string(),
                })
                .collect(),
        )
        .unwrap()
    }

    #[test]
    fn chunked_fit_equals_single_fit() {
        let c = corpus();
        let one = TrainParams {
            min_count: 1,
            chunk_docs: 100,
            ..Default::default()
        }
        .check()
        .unwrap();
        let tiny = TrainParams {
            min_count: 1,
            chunk_docs: 1,
            ..Default::default()
        }
        .check()
        .unwrap();
        let a = train(&c, &one, None).unwrap();
        let b = train(&c, &tiny, None).unwrap();
        assert_eq!(a.model.classes().len(), 2);
        for (ca, cb) in a.model.classes().iter().zip(b.model.classes()) {
            assert_eq!(ca.class_count, cb.class_count);
            assert_eq!(ca.feature_count, cb.feature_count);
            for (x, y) in ca.feature_log_prob.iter().zip(&cb.feature_log_prob) {
                assert!((x - y).abs() <= 1e-12 * x.abs().max(1.0));
            }
        }
    }

    #[test]
    fn empty_vocabulary_is_a_clear_error() {
        let c = corpus();
        let p = TrainParams {
            min_count: 1000,
            ..Default::default()
        }
        .check()
        .unwrap();
        let e = train(&c, &p, None).err().unwrap().to_string();
        assert!(e.contains("vocabulary is empty"), "{e}");
    }
}

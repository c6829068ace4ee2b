//! Training: the corpus is streamed several times (tokenizer vocabulary, feature selection, then
//! model fitting) so memory is bounded by the vocabulary, not the corpus. Each head's model is
//! fitted from sparse counts summed exactly as linfa-bayes' `MultinomialNb::fit_with` sums them
//! ([`crate::fit`]); complement NB is derived from the same counts. The calibration
//! maps are then fitted on out-of-fold predictions ([`out_of_fold`]): each fold trains its own
//! tokenizer and models without the held-out writers.

use std::collections::HashMap;
use std::sync::mpsc::sync_channel;
use std::time::{Duration, Instant};

use indicatif::ProgressBar;
use tokenizers::Tokenizer;

use crate::calibration::{Calibration, Method, Sample};
use crate::corpus::{Corpus, Document};
use crate::error::{Result, StanceError};
use crate::evaluate::{group_folds, stratified_folds};
use crate::features::{FeatureSelector, FeatureSpace, SelectionRule};
use crate::fit::CountFit;
use crate::head::Head;
use crate::holdout::{self, HoldoutFit};
use crate::model::{DecisionRule, NbModel, Variant};
use crate::params::{CheckedParams, TrainParams};
use crate::stopwords::TokenClasses;
use crate::tokenize::{pieces, train_tokenizer, FastTokenizer, Piece};
use crate::weighting::Weighting;

/// The batches counts are summed in (as linfa would hold them densely) never exceed this many
/// bytes; the batch size fixes the order of the floating-point sums, so it stays as it was when
/// linfa fitted the model itself.
const CHUNK_BYTES: usize = 128 << 20;

/// Documents per summation batch for a feature space of `width`.
pub fn batch_docs(width: usize, p: &TrainParams) -> usize {
    (CHUNK_BYTES / (width.max(1) * 8)).clamp(1, p.chunk_docs)
}

/// Labels of the relevance head, in model order.
pub const RELEVANCE_LABELS: [&str; 2] = ["off-topic", "on-topic"];

/// Everything a training run produces, before it is written as an artifact.
pub struct TrainedModel {
    pub tokenizer: Tokenizer,
    pub stance: Head,
    /// Present when an off-topic corpus was given.
    pub relevance: Option<Head>,
    /// Present when a calibration set softened the stance map ([`crate::holdout`]).
    pub holdout: Option<HoldoutFit>,
    pub elapsed: Duration,
}

/// Out-of-fold predictions: every document scored by models that never saw its group.
pub struct OutOfFold {
    /// One per stance document, in corpus order.
    pub stance: Vec<Sample>,
    /// Stance documents (truth `on-topic`) then off-topic documents (truth `off-topic`).
    pub relevance: Vec<Sample>,
    pub folds: usize,
    /// With grouped folds, per stance document whether its group holds another document;
    /// `None` when the folds are stratified.
    pub in_shared_group: Option<Vec<bool>>,
}

impl OutOfFold {
    /// Whether the folds kept groups together (false: stratified).
    pub fn grouped(&self) -> bool {
        self.in_shared_group.is_some()
    }

    /// The stance samples the calibration is fitted on: with grouped folds and
    /// `calibrate_singletons` off, only documents whose group holds other documents too, so that
    /// every sample comes from a writer held out whole. Falls back to every sample (with a
    /// warning) when fewer than a third of them qualify, so a corpus grouped by a field that is
    /// unique per document still gets a calibration.
    pub fn stance_calibration_samples(&self, p: &TrainParams) -> Vec<Sample> {
        let Some(shared) = self
            .in_shared_group
            .as_ref()
            .filter(|_| !p.calibrate_singletons)
        else {
            return self.stance.clone();
        };
        let kept: Vec<Sample> = self
            .stance
            .iter()
            .zip(shared)
            .filter(|(_, &shared)| shared)
            .map(|(s, _)| s.clone())
            .collect();
        if kept.len() * 3 < self.stance.len() {
            tracing::warn!(
                kept = kept.len(),
                documents = self.stance.len(),
                "few documents share a group with others: calibrating on every document"
            );
            return self.stance.clone();
        }
        kept
    }
}

/// Trains the tokenizer, both heads and their calibration; with a calibration set (`holdout`:
/// labelled pieces kept out of training), the stance map is then softened or sharpened by the
/// temperature that fits it best ([`crate::holdout`]). The set is checked against the corpus
/// before anything is fitted.
pub fn train(
    stance: &Corpus,
    offtopic: Option<&Corpus>,
    holdout: Option<&Corpus>,
    params: &CheckedParams,
    progress: Option<&ProgressBar>,
) -> Result<TrainedModel> {
    let start = Instant::now();
    let p = params.get();
    // Without a map there is nothing for the set's temperature to soften.
    let holdout = holdout.filter(|_| p.calibration != Method::None);
    if let Some(h) = holdout {
        holdout::check_kept_out(stance, h)?;
    }
    let mut model = fit(stance, offtopic, p, progress)?;
    if p.calibration != Method::None || (offtopic.is_some() && p.relevance_method() != Method::None)
    {
        let oof = out_of_fold(
            stance,
            offtopic,
            p,
            p.calibration_folds,
            &p.group_by,
            p.seed,
        )
        .map_err(|e| e.for_folds_flag("--calibration-folds"))?;
        model.stance.calibration = Calibration::fit(
            p.calibration,
            &oof.stance_calibration_samples(p),
            stance.labels().len(),
        );
        if let Some(r) = &mut model.relevance {
            r.calibration = Calibration::fit(p.relevance_method(), &oof.relevance, 2);
        }
    }
    if let Some(h) = holdout {
        model.holdout = Some(holdout::final_temperature(&mut model, stance, h)?);
    }
    model.elapsed = start.elapsed();
    Ok(model)
}

/// Trains the tokenizer and both heads without calibration.
pub fn fit(
    stance: &Corpus,
    offtopic: Option<&Corpus>,
    p: &TrainParams,
    progress: Option<&ProgressBar>,
) -> Result<TrainedModel> {
    let start = Instant::now();
    let everything = match offtopic {
        Some(o) => Corpus::union(
            vec!["all".into()],
            vec![(stance.clone(), 0), (o.clone(), 0)],
        )?,
        None => stance.clone(),
    };
    let hf = train_vocabulary(&everything, p.min_count, p.max_vocab, progress)?;
    let fast = FastTokenizer::new(hf.clone());
    let tokens: Vec<String> = (0..fast.vocab_size() as u32)
        .map(|id| fast.id_to_token(id).unwrap_or_default())
        .collect();
    let classes = TokenClasses::from_tokens(tokens);
    let rule = DecisionRule {
        variant: p.variant.for_labels(stance.labels()),
        weight_norm: p.weight_norm,
        fit_prior: p.fit_prior,
    };
    let stance_head = fit_head(
        stance,
        &fast,
        &classes,
        p,
        rule,
        (p.alpha, p.tfidf, p.l2_norm),
        progress,
    )?;
    let relevance = match offtopic {
        Some(o) => {
            let corpus = Corpus::union(
                RELEVANCE_LABELS.iter().map(|s| s.to_string()).collect(),
                vec![(o.clone(), 0), (stance.clone(), 1)],
            )?;
            // Relevance is a plain two-class multinomial model with uniform priors (how much of
            // each side the corpora hold says nothing about what users send) over unweighted
            // features: whether a text is about the debate is in which words it uses at all.
            let rel_rule = DecisionRule {
                variant: Variant::Multinomial,
                weight_norm: false,
                fit_prior: false,
            };
            Some(fit_head(
                &corpus,
                &fast,
                &classes,
                p,
                rel_rule,
                (p.relevance_alpha(), false, false),
                progress,
            )?)
        }
        None => None,
    };
    Ok(TrainedModel {
        tokenizer: hf,
        stance: stance_head,
        relevance,
        holdout: None,
        elapsed: start.elapsed(),
    })
}

/// Chooses one head's features on its corpus and fits its model.
fn fit_head(
    corpus: &Corpus,
    fast: &FastTokenizer,
    classes: &TokenClasses,
    p: &TrainParams,
    rule: DecisionRule,
    (alpha, tfidf, l2): (f64, bool, bool),
    progress: Option<&ProgressBar>,
) -> Result<Head> {
    let mut ids = Vec::new();
    let selection = SelectionRule {
        min_df: p.min_df,
        drop_stop_words: p.stop_words,
        drop_punctuation: !p.punctuation,
        bigrams: p.bigrams,
        negation: p.negation,
        max_bigrams: p.max_vocab,
        binary: p.binary,
    };
    let mut selector = FeatureSelector::new(selection, classes, fast.vocab_size());
    corpus.for_each(|doc| {
        encode_doc(fast, &doc, &mut ids)?;
        selector.add(&ids);
        tick(progress);
        Ok(())
    })?;
    let (layout, df, documents) = selector.finish_with_df();
    let features = FeatureSpace::from_layout(layout);
    let mut weighting = Weighting::fit(tfidf, l2, &df, documents);
    let width = features.len();
    if width == 0 {
        return Err(StanceError::corpus(
            corpus.root(),
            format!(
                "no feature is left: the vocabulary is empty (lower --min-count, {}, the \
                 occurrences a token needs, or --min-df, {}, the documents a feature needs)",
                p.min_count,
                p.min_df.max(1)
            ),
        ));
    }

    let mut counts = CountFit::new(corpus.labels().len(), width, batch_docs(width, p));
    corpus.for_each(|doc| {
        encode_doc(fast, &doc, &mut ids)?;
        let mut v = features.counts(&ids);
        weighting.apply_training(&mut v);
        counts.add(doc.label, &v)?;
        tick(progress);
        Ok(())
    })?;
    if corpus.is_empty() {
        return Err(StanceError::corpus(corpus.root(), "no documents"));
    }
    let classes = counts.finish(corpus.labels())?;
    let model = NbModel::new(alpha, rule, classes).map_err(StanceError::Fit)?;
    Ok(Head {
        features,
        weighting,
        model,
        calibration: Calibration::identity(),
    })
}

/// The folds of [`assign_folds`], and per stance document whether its group holds another
/// document (`None` when the folds are stratified).
type Assigned = (Vec<usize>, Option<Vec<bool>>);

/// Fold of every document: stance documents first, then off-topic ones. Groups (a manifest
/// field) stay in one fold when every document has one; otherwise folds are stratified.
fn assign_folds(
    stance: &Corpus,
    stance_labels: &[usize],
    offtopic: Option<(&Corpus, &[usize])>,
    k: usize,
    group_by: &str,
    seed: u64,
) -> Result<Assigned> {
    let n_stance_labels = stance.labels().len();
    let mut labels: Vec<usize> = stance_labels.to_vec();
    if let Some((_, l)) = offtopic {
        labels.extend(l.iter().map(|_| n_stance_labels));
    }
    if !group_by.is_empty() {
        let mut groups = match stance.group_keys(group_by) {
            Ok(g) => Some(g),
            // Asked for by name: without it the figures would silently be ungrouped ones.
            Err(e) if group_by != crate::params::DEFAULT_GROUP_BY => {
                return Err(StanceError::Param {
                    name: "--group-by",
                    reason: format!(
                        "cannot group by {group_by:?}: {e} (--group-by \"\" for stratified folds)"
                    ),
                })
            }
            Err(e) => {
                tracing::warn!("stratified folds instead of grouped ones: {e}");
                None
            }
        };
        if let (Some(g), Some((o, _))) = (&mut groups, offtopic) {
            match o.group_keys(group_by) {
                Ok(og) => g.extend(og.into_iter().map(|x| format!("off-topic/{x}"))),
                Err(e) => {
                    tracing::warn!("stratified folds instead of grouped ones: {e}");
                    groups = None;
                }
            }
        }
        if let Some(g) = groups {
            let mut size: HashMap<&str, usize> = HashMap::new();
            for key in &g {
                *size.entry(key.as_str()).or_default() += 1;
            }
            let shared = g[..stance_labels.len()]
                .iter()
                .map(|key| size[key.as_str()] > 1)
                .collect();
            let folds = group_folds(&g, k, seed).map_err(|e| match e {
                StanceError::Param { name, reason } => StanceError::Param {
                    name,
                    reason: format!("grouping by {group_by:?}: {reason}"),
                },
                other => other,
            })?;
            return Ok((folds, Some(shared)));
        }
    }
    Ok((
        stratified_folds(&labels, n_stance_labels + 1, k, seed),
        None,
    ))
}

/// Scores every document with models trained without its fold.
pub fn out_of_fold(
    stance: &Corpus,
    offtopic: Option<&Corpus>,
    p: &TrainParams,
    k: usize,
    group_by: &str,
    seed: u64,
) -> Result<OutOfFold> {
    let min_support = stance.stats().smallest_label();
    if k < 2 || k > min_support {
        return Err(StanceError::Param {
            name: "folds",
            reason: format!(
                "must be between 2 and the smallest label's document count ({min_support}), got {k}"
            ),
        });
    }
    let stance_labels = stance.label_list()?;
    let off_labels = match offtopic {
        Some(o) => o.label_list()?,
        None => Vec::new(),
    };
    let (folds, in_shared_group) = assign_folds(
        stance,
        &stance_labels,
        offtopic.map(|o| (o, off_labels.as_slice())),
        k,
        group_by,
        seed,
    )?;
    let (stance_folds, off_folds) = folds.split_at(stance_labels.len());
    let mut stance_samples: Vec<Option<Sample>> = vec![None; stance_labels.len()];
    let mut rel_stance: Vec<Option<Sample>> = vec![None; stance_labels.len()];
    let mut rel_off: Vec<Option<Sample>> = vec![None; off_labels.len()];
    let mut ids = Vec::new();
    for fold in 0..k {
        let train_stance = stance.subset(
            stance_folds.iter().map(|&f| f != fold).collect(),
            &stance_labels,
        )?;
        let train_off = match offtopic {
            Some(o) => Some(o.subset(off_folds.iter().map(|&f| f != fold).collect(), &off_labels)?),
            None => None,
        };
        let m = fit(&train_stance, train_off.as_ref(), p, None)?;
        let fast = FastTokenizer::new(m.tokenizer.clone());
        let mut i = 0;
        stance.for_each(|d| {
            if stance_folds[i] == fold {
                fast.encode(&d.text, &mut ids)?;
                let s = m.stance.score(&ids);
                stance_samples[i] = Some(Sample {
                    evidence: s.evidence(),
                    jll: s.jll,
                    truth: d.label,
                });
                if let Some(r) = &m.relevance {
                    let s = r.score(&ids);
                    rel_stance[i] = Some(Sample {
                        evidence: s.evidence(),
                        jll: s.jll,
                        truth: 1,
                    });
                }
            }
            i += 1;
            Ok(())
        })?;
        if let (Some(o), Some(r)) = (offtopic, &m.relevance) {
            let mut i = 0;
            o.for_each(|d| {
                if off_folds[i] == fold {
                    fast.encode(&d.text, &mut ids)?;
                    let s = r.score(&ids);
                    rel_off[i] = Some(Sample {
                        evidence: s.evidence(),
                        jll: s.jll,
                        truth: 0,
                    });
                }
                i += 1;
                Ok(())
            })?;
        }
    }
    let missing = || StanceError::Fit("a fold left a document unscored".into());
    let stance = stance_samples
        .into_iter()
        .map(|s| s.ok_or_else(missing))
        .collect::<Result<Vec<_>>>()?;
    let relevance = if offtopic.is_some() {
        rel_stance
            .into_iter()
            .chain(rel_off)
            .map(|s| s.ok_or_else(missing))
            .collect::<Result<Vec<_>>>()?
    } else {
        Vec::new()
    };
    Ok(OutOfFold {
        in_shared_group,
        stance,
        relevance,
        folds: k,
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
        Corpus::for_tests(&["open", "closed"], &docs)
    }

    /// The default variant is hierarchical; a corpus without `neutral` and two other labels
    /// must still train, with the flat rule recorded, and one with them keeps the blend.
    #[test]
    fn default_variant_is_hierarchical_only_where_the_labels_allow_it() {
        use crate::model::Variant;
        let p = TrainParams {
            min_count: 1,
            ..Default::default()
        };
        assert_eq!(p.variant, Variant::Hierarchical);
        let two = fit(&corpus(), None, &p, None).unwrap();
        assert_eq!(two.stance.model.rule().variant, Variant::Multinomial);
        let docs = [
            (0, "open weights let everyone audit and fork the model"),
            (1, "closed models are safer behind an api with monitoring"),
            (2, "the lab released a model and published a report"),
        ];
        let three = Corpus::for_tests(&["pro-open", "pro-closed", "neutral"], &docs);
        let m = fit(&three, None, &p, None).unwrap();
        assert_eq!(m.stance.model.rule().variant, Variant::Hierarchical);
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
        let a = fit(&c, None, one.get(), None).unwrap();
        let b = fit(&c, None, tiny.get(), None).unwrap();
        assert_eq!(a.stance.model.classes().len(), 2);
        for (ca, cb) in a
            .stance
            .model
            .classes()
            .iter()
            .zip(b.stance.model.classes())
        {
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
            min_df: 1000,
            ..Default::default()
        }
        .check()
        .unwrap();
        let e = fit(&c, None, p.get(), None).err().unwrap().to_string();
        assert!(e.contains("vocabulary is empty"), "{e}");
    }

    fn oof(shared: &[bool], grouped: bool) -> OutOfFold {
        OutOfFold {
            stance: shared
                .iter()
                .enumerate()
                .map(|(i, _)| Sample {
                    jll: vec![i as f64, 0.0],
                    evidence: i,
                    truth: i % 2,
                })
                .collect(),
            relevance: Vec::new(),
            folds: 2,
            in_shared_group: grouped.then(|| shared.to_vec()),
        }
    }

    #[test]
    fn calibration_leaves_out_documents_alone_in_their_group() {
        let p = TrainParams::default();
        assert!(!p.calibrate_singletons);
        let o = oof(&[true, false, true, true, false, true], true);
        let kept: Vec<usize> = o
            .stance_calibration_samples(&p)
            .iter()
            .map(|s| s.evidence)
            .collect();
        assert_eq!(kept, [0, 2, 3, 5]);
        // Asked to, or with stratified folds, every document counts.
        let all = TrainParams {
            calibrate_singletons: true,
            ..TrainParams::default()
        };
        assert_eq!(o.stance_calibration_samples(&all).len(), 6);
        assert_eq!(
            oof(&[false; 6], false).stance_calibration_samples(&p).len(),
            6
        );
        // Fewer than a third in shared groups: a grouping unique per document, so all count.
        let sparse = oof(&[true, false, false, false, false, false, false], true);
        assert_eq!(sparse.stance_calibration_samples(&p).len(), 7);
    }
}

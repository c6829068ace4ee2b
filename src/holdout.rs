//! The calibration set: labelled pieces kept out of training on which the stance map's final
//! temperature is fitted. The map itself is fitted on held-out corpus writers, whose pieces
//! argue more plainly than real writing; a set shaped like real writing says how much softer
//! the confidences must be. The set must really be held out (no text shared with the corpus),
//! cover every label, and be large enough for one parameter to mean something.

use std::collections::HashMap;

use sha2::{Digest, Sha256};

use crate::calibration::{Sample, MAX_LOG_TEMPERATURE, MIN_LOG_TEMPERATURE};
use crate::corpus::Corpus;
use crate::error::{Result, StanceError};
use crate::tokenize::FastTokenizer;
use crate::train::TrainedModel;

/// Below this many pieces in some label, training warns: one temperature fitted on a handful
/// of pieces can swing every confidence.
pub const FEW_PER_LABEL: usize = 10;

/// What the calibration set did to the stance map: recorded in `meta.json`.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct HoldoutFit {
    pub documents: usize,
    pub data_digest: String,
    /// The final temperature folded into the map (below 1 softens it).
    pub temperature: f64,
    /// The calibration set's log-loss under the map before and after the temperature.
    pub log_loss_before: f64,
    pub log_loss_after: f64,
}

/// A text's identity for the held-out checks: the SHA-256 of its words, lowercased and
/// single-spaced (the corpus's own duplicate check hashes the exact text), so a copy with other
/// line endings, spacing or case is still the same text.
pub fn text_key(text: &str) -> [u8; 32] {
    let mut h = Sha256::new();
    for w in text.split_whitespace() {
        h.update(w.to_lowercase().as_bytes());
        h.update(b" ");
    }
    h.finalize().into()
}

/// Why a calibration set cannot serve a corpus's labels, if it cannot: a label the corpus
/// lacks, or a corpus label with no piece in the set.
pub fn label_mismatch(corpus: &[String], set: &[String]) -> Option<String> {
    if let Some(l) = set.iter().find(|l| !corpus.contains(l)) {
        return Some(format!(
            "the calibration set has label {l:?}, which the corpus does not have ({})",
            corpus.join(", ")
        ));
    }
    corpus.iter().find(|l| !set.contains(l)).map(|l| {
        format!(
            "the calibration set has no piece labelled {l:?}: a temperature fitted without one \
             of the corpus's labels ({}) says nothing about that label's confidences",
            corpus.join(", ")
        )
    })
}

/// The first document of `b` whose text (by [`text_key`]) is also in `a`, as
/// `(source in b, source in a)`.
pub fn shared_text(a: &Corpus, b: &Corpus) -> Result<Option<(String, String)>> {
    let mut seen: HashMap<[u8; 32], String> = HashMap::new();
    a.for_each(|d| {
        seen.entry(text_key(&d.text)).or_insert(d.source);
        Ok(())
    })?;
    let mut found = None;
    b.for_each(|d| {
        if found.is_none() {
            if let Some(first) = seen.get(&text_key(&d.text)) {
                found = Some((d.source, first.clone()));
            }
        }
        Ok(())
    })?;
    Ok(found)
}

/// The one label of an off-topic corpus: its `off-topic/` folder, or `"label": "off-topic"`.
pub const OFF_TOPIC_LABEL: &str = crate::train::RELEVANCE_LABELS[0];

/// Checks, before anything is trained, that an off-topic corpus is one: exactly the one label
/// [`OFF_TOPIC_LABEL`], and no text shared with the stance corpus (compared by [`text_key`]).
/// The relevance head learns on-topic from the stance corpus and off-topic from this one; a
/// text in both teaches it both, and the stance corpus given again as `--offtopic` leaves every
/// text at relevance 0.5. A label of another name (or a second one) is almost always the wrong
/// folder or a stance corpus, so it is refused rather than pooled.
pub fn check_offtopic(stance: &Corpus, offtopic: &Corpus) -> Result<()> {
    if offtopic.labels() != [OFF_TOPIC_LABEL] {
        let what = match offtopic.labels() {
            [one] => format!("its one label is {one:?}"),
            many => format!("it has the labels {many:?}"),
        };
        return Err(StanceError::corpus(
            offtopic.root(),
            format!(
                "an off-topic corpus has exactly one label, {OFF_TOPIC_LABEL:?} (an \
                 {OFF_TOPIC_LABEL}/ folder, or \"label\": \"{OFF_TOPIC_LABEL}\" in JSONL), but {what}"
            ),
        ));
    }
    if let Some((off, on)) = shared_text(stance, offtopic)? {
        return Err(StanceError::corpus(
            off,
            format!(
                "the off-topic corpus must not share a text with the stance corpus, but this \
                 text is also {on} (the relevance head would learn it as both on- and off-topic)"
            ),
        ));
    }
    Ok(())
}

/// Checks, before anything is trained, that the set uses exactly the corpus's labels and
/// shares no text with it: a piece the model trained on would be judged as if unseen, and the
/// temperature would come out too confident.
pub fn check_kept_out(stance: &Corpus, holdout: &Corpus) -> Result<()> {
    if let Some(why) = label_mismatch(stance.labels(), holdout.labels()) {
        return Err(StanceError::corpus(holdout.root(), why));
    }
    if let Some((held, trained)) = shared_text(stance, holdout)? {
        return Err(StanceError::corpus(
            held,
            format!(
                "the calibration set must be kept out of training, but this text is also \
                 {trained} (--calibration-data none trains without the set)"
            ),
        ));
    }
    let few = holdout.stats().smallest_label();
    if few < FEW_PER_LABEL {
        tracing::warn!(
            "the calibration set has only {few} pieces in some label (fewer than \
             {FEW_PER_LABEL}): the temperature fitted on it may swing every confidence"
        );
    }
    Ok(())
}

/// Scores the calibration set with the fitted model, fits the temperature that minimises its
/// log-loss under the stance map, and folds it into the map ([`check_kept_out`] first).
pub fn final_temperature(
    model: &mut TrainedModel,
    stance: &Corpus,
    holdout: &Corpus,
) -> Result<HoldoutFit> {
    let mapping: Vec<usize> =
        holdout
            .labels()
            .iter()
            .map(|l| {
                stance.labels().iter().position(|s| s == l).ok_or_else(|| {
                    StanceError::corpus(holdout.root(), format!("unknown label {l:?}"))
                })
            })
            .collect::<Result<_>>()?;
    let fast = FastTokenizer::new(model.tokenizer.clone());
    let mut ids = Vec::new();
    let mut samples = Vec::new();
    holdout.for_each(|d| {
        fast.encode(&d.text, &mut ids)?;
        let s = model.stance.score(&ids);
        samples.push(Sample {
            evidence: s.evidence(),
            jll: s.jll,
            truth: mapping[d.label],
        });
        Ok(())
    })?;
    if samples.is_empty() {
        return Err(StanceError::corpus(holdout.root(), "no documents"));
    }
    let map = &model.stance.calibration;
    let temperature = map.fit_temperature(&samples);
    let ln_t = temperature.ln();
    if ln_t <= MIN_LOG_TEMPERATURE + 1e-6 || ln_t >= MAX_LOG_TEMPERATURE - 1e-6 {
        tracing::warn!(
            "the calibration set's temperature ({temperature:.3}) stopped at the edge of its \
             range: the set is too small or too unlike the corpus to fit it \
             (--calibration-data none trains without it)"
        );
    }
    let before = map.log_loss(&samples);
    model.stance.calibration = map.sharpened(temperature);
    Ok(HoldoutFit {
        documents: samples.len(),
        data_digest: holdout.stats().digest.clone(),
        temperature,
        log_loss_before: before,
        log_loss_after: model.stance.calibration.log_loss(&samples),
    })
}

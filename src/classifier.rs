//! Scoring and explaining articles with a loaded model: the one entry point the CLI and the HTTP
//! service share. A score is the stance head's calibrated probabilities, how much evidence they
//! rest on, and (when the model has a relevance head) how likely the text is to be about the
//! open-versus-closed-models debate at all.

use serde::Serialize;

use crate::artifact::{Artifact, Meta};
use crate::error::Result;
use crate::head::{Head, HeadScore};
use crate::pairs::PairIndex;
use crate::spans::{self, Explained, Span};
use crate::tokenize::FastTokenizer;
use crate::train::TrainedModel;

/// The decision thresholds a deployment may tune without retraining.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Thresholds {
    /// `on_topic` is `relevance >= relevance`.
    pub relevance: f64,
    /// A score resting on fewer known stance features than this is flagged
    /// `insufficient_evidence`.
    pub min_evidence: usize,
}

impl Default for Thresholds {
    fn default() -> Self {
        Thresholds {
            relevance: DEFAULT_RELEVANCE_THRESHOLD,
            min_evidence: DEFAULT_MIN_EVIDENCE,
        }
    }
}

/// Default relevance threshold: the lowest that flags the most off-topic excerpts of both real-world
/// sets while wrongly flagging at most 1% of their on-topic excerpts (README, "Off-topic
/// detection"). Relevance is calibrated on the corpora, which are easier to tell apart than real
/// writing, so real off-topic text near the debate lands between 0.5 and 0.8.
pub const DEFAULT_RELEVANCE_THRESHOLD: f64 = 0.8;
/// Default minimum evidence (see the README, "Not enough evidence").
pub const DEFAULT_MIN_EVIDENCE: usize = 12;

/// At most this many explained features per label in one batch response, shared evenly among
/// its documents (each gets `min(explain, MAX_BATCH_EXPLAIN / documents)` per label, at least
/// 1): 256 different 4,000-character texts with `explain: 100` made five lists of 100 features
/// per document, an 8.6 MB answer that took RSS up by 166 MB for 8 such requests at once. With
/// the span budget ([`spans::MAX_BATCH_SPANS`]) it keeps a full batch's answer at a few MB; a
/// batch of up to 25 documents still gets 100 per label.
pub const MAX_BATCH_EXPLAIN: usize = 2560;

/// How much of a batch response's shared budgets one document may use: spans, and explained
/// features per label.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Share {
    pub spans: usize,
    pub explain: usize,
}

impl Share {
    /// A text answered on its own: up to [`spans::MAX_SPANS`] spans and every feature asked for.
    pub const ALONE: Share = Share {
        spans: spans::MAX_SPANS,
        explain: usize::MAX,
    };

    /// Each document's share of a batch of `documents`.
    pub fn of_batch(documents: usize) -> Share {
        Share {
            spans: spans::batch_span_limit(documents),
            explain: (MAX_BATCH_EXPLAIN / documents.max(1)).max(1),
        }
    }
}

/// A model ready to score: fast tokenizer and both heads.
pub struct Classifier {
    meta: Option<Meta>,
    version: String,
    tokenizer: FastTokenizer,
    stance: Head,
    relevance: Option<Head>,
    /// Both heads' bigram columns in one table.
    pairs: PairIndex,
    thresholds: Thresholds,
}

/// One feature's pull toward a label: its value times its log-likelihood ratio against the
/// other labels.
#[derive(Debug, Clone, Serialize, PartialEq, utoipa::ToSchema)]
pub struct TokenWeight {
    pub token: String,
    pub weight: f64,
}

/// Per label, the features that pushed hardest toward it.
pub type Explanation = Vec<(String, Vec<TokenWeight>)>;

/// The result of scoring one article.
#[derive(Debug, Clone, Serialize)]
pub struct Score {
    pub label: String,
    pub confidence: f64,
    /// `(label, probability)` in the model's label order; finite, summing to 1.
    pub scores: Vec<(String, f64)>,
    /// Tokens in the article, known and unknown.
    pub tokens: usize,
    /// Tokens outside the vocabulary (they carry no evidence).
    pub unknown_tokens: usize,
    /// Distinct known stance features the score rests on.
    pub evidence: usize,
    /// `evidence` is below the minimum: too little text to judge.
    pub insufficient_evidence: bool,
    /// Probability that the text is about the open-versus-closed-models debate.
    pub relevance: Option<f64>,
    /// `relevance` at or above the threshold.
    pub on_topic: Option<bool>,
    pub explanation: Option<Explanation>,
    /// With an explanation: the probabilities of a text with no known feature at all, in label
    /// order. The explained features move the score away from these; a label the baseline
    /// favours (through the class priors and the calibration's offsets) can win with no feature
    /// listed under it, and this says why.
    pub baseline: Option<Vec<(String, f64)>>,
    /// The features that made the text on- or off-topic.
    pub relevance_explanation: Option<Explanation>,
    /// With an explanation: true when a batch's shared budget ([`MAX_BATCH_EXPLAIN`]) listed
    /// fewer features under some label than `explain` would have.
    pub explanation_truncated: Option<bool>,
    /// With an explanation: every occurrence in the text of a feature `explanation` lists, in
    /// text order (at most [`spans::MAX_SPANS`], fewer in a large batch), so that a reader can
    /// see the evidence in place.
    pub spans: Option<Vec<Span>>,
    /// True when the text had more occurrences than its span limit.
    pub spans_truncated: Option<bool>,
}

impl Classifier {
    pub fn from_artifact(a: Artifact) -> Self {
        let version = a.meta.version.clone();
        Self::assemble(Some(a.meta), version, a.tokenizer, a.stance, a.relevance)
    }

    /// A classifier straight from training, without writing it (evaluation).
    pub fn from_trained(t: TrainedModel, version: &str) -> Self {
        Self::assemble(
            None,
            version.to_string(),
            t.tokenizer,
            t.stance,
            t.relevance,
        )
    }

    fn assemble(
        meta: Option<Meta>,
        version: String,
        tokenizer: tokenizers::Tokenizer,
        stance: Head,
        relevance: Option<Head>,
    ) -> Self {
        Classifier {
            meta,
            version,
            tokenizer: FastTokenizer::new(tokenizer),
            pairs: PairIndex::new(&stance.features, relevance.as_ref().map(|r| &r.features)),
            stance,
            relevance,
            thresholds: Thresholds::default(),
        }
    }

    /// The same classifier with other decision thresholds.
    pub fn with_thresholds(mut self, thresholds: Thresholds) -> Self {
        self.thresholds = thresholds;
        self
    }

    pub fn version(&self) -> &str {
        &self.version
    }

    pub fn meta(&self) -> Option<&Meta> {
        self.meta.as_ref()
    }

    pub fn labels(&self) -> Vec<&str> {
        self.stance.labels()
    }

    pub fn tokenizer(&self) -> &FastTokenizer {
        &self.tokenizer
    }

    pub fn stance(&self) -> &Head {
        &self.stance
    }

    pub fn relevance(&self) -> Option<&Head> {
        self.relevance.as_ref()
    }

    pub fn has_relevance(&self) -> bool {
        self.relevance.is_some()
    }

    pub fn relevance_threshold(&self) -> f64 {
        self.thresholds.relevance
    }

    pub fn thresholds(&self) -> Thresholds {
        self.thresholds
    }

    /// Token ids of a text through the fast path.
    pub fn encode(&self, text: &str) -> Result<Vec<u32>> {
        let mut ids = Vec::new();
        self.tokenizer.encode(text, &mut ids)?;
        Ok(ids)
    }

    /// Raw (uncalibrated) joint log-likelihood per stance label for a text.
    pub fn joint_log_likelihood(&self, text: &str) -> Result<Vec<f64>> {
        let ids = self.encode(text)?;
        Ok(self.stance.score(&ids).jll)
    }

    /// Scores a text; with `explain > 0`, also lists up to that many features per label that
    /// pushed hardest toward it, and where the stance features among them occur in the text
    /// ([`Score::spans`]; only then are token offsets computed, so plain scoring pays nothing).
    pub fn score(&self, text: &str, explain: usize) -> Result<Score> {
        self.score_shared(text, explain, Share::ALONE)
    }

    /// [`Classifier::score`] within `share`, for a batch whose documents share one response's
    /// span and explanation budgets ([`Share::of_batch`]).
    pub fn score_shared(&self, text: &str, explain: usize, share: Share) -> Result<Score> {
        let ids = self.encode(text)?;
        let [cs, cr] = self.pairs.columns(&ids);
        let s = self.stance.score_with_bigrams(&ids, &cs);
        let rel = self
            .relevance
            .as_ref()
            .map(|h| (h, h.score_with_bigrams(&ids, &cr)));
        let best = s.best();
        let labels = self.labels();
        let unk = self.tokenizer.unk_id();
        let relevance = rel.as_ref().map(|(_, r)| r.probs[1]);
        // Features per label, and whether some label had more than that.
        let per_label = explain.min(share.explain);
        let mut more = false;
        let (explanation, spans, baseline) = if explain > 0 {
            let pulls = self.pulls(&self.stance, &s, per_label, &mut more);
            let found = spans::find(text, &self.tokenizer, &self.stance, &pulls, share.spans)?;
            let baseline = labels
                .iter()
                .map(|l| l.to_string())
                .zip(self.stance.score(&[]).probs)
                .collect();
            (
                Some(to_explanation(&labels, pulls)),
                Some(found),
                Some(baseline),
            )
        } else {
            (None, None, None)
        };
        let relevance_explanation = rel
            .as_ref()
            .filter(|_| explain > 0)
            .map(|(h, r)| to_explanation(&h.labels(), self.pulls(h, r, per_label, &mut more)));
        Ok(Score {
            label: labels[best].to_string(),
            confidence: s.probs[best],
            scores: labels
                .iter()
                .map(|l| l.to_string())
                .zip(s.probs.iter().copied())
                .collect(),
            tokens: ids.len(),
            unknown_tokens: ids.iter().filter(|&&i| i == unk).count(),
            evidence: s.evidence(),
            insufficient_evidence: s.evidence() < self.thresholds.min_evidence,
            relevance,
            on_topic: relevance.map(|r| r >= self.thresholds.relevance),
            explanation,
            baseline,
            relevance_explanation,
            explanation_truncated: (explain > 0).then_some(per_label < explain && more),
            spans_truncated: spans.as_ref().map(|s| s.truncated),
            spans: spans.map(|s| s.spans),
        })
    }

    /// Per label, in label order, the `n` features that pushed hardest toward it (positive
    /// weights only, strongest first, ties by feature id); sets `more` when a label had more.
    fn pulls(&self, head: &Head, s: &HeadScore, n: usize, more: &mut bool) -> Vec<Explained> {
        let mut out = Vec::new();
        for (ci, label) in head.labels().iter().enumerate() {
            let mut pulls: Vec<(f64, u32)> = s
                .vector
                .iter()
                .map(|&(f, v)| (v * head.model.llr(f, ci), f))
                .filter(|(w, _)| *w > 0.0)
                .collect();
            pulls.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
            *more |= pulls.len() > n;
            pulls.truncate(n);
            out.extend(pulls.into_iter().map(|(w, f)| Explained {
                feature: f,
                name: self.feature_name(head, f),
                label: label.to_string(),
                weight: w,
            }));
        }
        out
    }

    /// The text of a feature: its token, two tokens joined by a space for a bigram, `NOT_`
    /// before a word seen inside a negation scope.
    pub fn feature_name(&self, head: &Head, f: u32) -> String {
        let (ids, negated) = head.features.tokens_of(f);
        let words = ids
            .iter()
            .map(|&id| self.tokenizer.id_to_token(id).unwrap_or_default())
            .collect::<Vec<_>>()
            .join(" ");
        if negated {
            format!("NOT_{words}")
        } else {
            words
        }
    }
}

/// Groups pulls (in label order, as [`Classifier::pulls`] gives them) into an [`Explanation`]
/// with every label present, even one with no positive pull.
fn to_explanation(labels: &[&str], pulls: Vec<Explained>) -> Explanation {
    let mut out: Explanation = labels.iter().map(|l| (l.to_string(), Vec::new())).collect();
    for p in pulls {
        if let Some((_, list)) = out.iter_mut().find(|(l, _)| *l == p.label) {
            list.push(TokenWeight {
                token: p.name,
                weight: p.weight,
            });
        }
    }
    out
}

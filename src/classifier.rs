//! Scoring and explaining articles with a loaded model: the one entry point the CLI and the HTTP
//! service share.

use serde::Serialize;

use crate::artifact::{Artifact, Meta};
use crate::error::Result;
use crate::features::FeatureSpace;
use crate::model::{posterior, NbModel};
use crate::tokenize::FastTokenizer;
use crate::train::TrainedModel;

/// A model ready to score: fast tokenizer, feature layout and naive Bayes tables.
pub struct Classifier {
    meta: Option<Meta>,
    version: String,
    tokenizer: FastTokenizer,
    features: FeatureSpace,
    model: NbModel,
}

/// One token's pull toward a label: count times log-likelihood ratio against the other labels.
#[derive(Debug, Clone, Serialize, PartialEq, utoipa::ToSchema)]
pub struct TokenWeight {
    pub token: String,
    pub weight: f64,
}

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
    pub explanation: Option<Vec<(String, Vec<TokenWeight>)>>,
}

impl Classifier {
    pub fn from_artifact(a: Artifact) -> Self {
        Classifier {
            version: a.meta.version.clone(),
            meta: Some(a.meta),
            tokenizer: FastTokenizer::new(a.tokenizer),
            features: a.features,
            model: a.model,
        }
    }

    /// A classifier straight from training, without writing it (cross-validation folds).
    pub fn from_trained(t: TrainedModel, version: &str) -> Self {
        Classifier {
            version: version.to_string(),
            meta: None,
            tokenizer: FastTokenizer::new(t.tokenizer),
            features: t.features,
            model: t.model,
        }
    }

    pub fn version(&self) -> &str {
        &self.version
    }

    pub fn meta(&self) -> Option<&Meta> {
        self.meta.as_ref()
    }

    pub fn labels(&self) -> Vec<&str> {
        self.model
            .classes()
            .iter()
            .map(|c| c.label.as_str())
            .collect()
    }

    pub fn tokenizer(&self) -> &FastTokenizer {
        &self.tokenizer
    }

    pub fn features(&self) -> &FeatureSpace {
        &self.features
    }

    pub fn model(&self) -> &NbModel {
        &self.model
    }

    /// Token ids of a text through the fast path.
    pub fn encode(&self, text: &str) -> Result<Vec<u32>> {
        let mut ids = Vec::new();
        self.tokenizer.encode(text, &mut ids)?;
        Ok(ids)
    }

    /// Joint log-likelihood per label for a text.
    pub fn joint_log_likelihood(&self, text: &str) -> Result<Vec<f64>> {
        let ids = self.encode(text)?;
        Ok(self.jll_of_ids(&ids))
    }

    fn jll_of_ids(&self, ids: &[u32]) -> Vec<f64> {
        if self.features.binary() {
            self.model
                .joint_log_likelihood_counts(&self.features.counts(ids))
        } else {
            self.occurrence_jll(ids)
        }
    }

    fn occurrence_jll(&self, ids: &[u32]) -> Vec<f64> {
        let mut occ = Vec::with_capacity(ids.len());
        self.features.occurrences(ids, &mut occ);
        self.model.joint_log_likelihood(&occ)
    }

    /// Scores a text; with `explain > 0`, also lists up to that many tokens per label that pushed
    /// hardest toward it.
    pub fn score(&self, text: &str, explain: usize) -> Result<Score> {
        let ids = self.encode(text)?;
        // Sorted counts serve both a binary model and the explanation; compute them once.
        let counts = (self.features.binary() || explain > 0).then(|| self.features.counts(&ids));
        let jll = match &counts {
            Some(c) if self.features.binary() => self.model.joint_log_likelihood_counts(c),
            _ => self.occurrence_jll(&ids),
        };
        let probs = posterior(&jll);
        let best = probs
            .iter()
            .enumerate()
            .fold(0, |b, (i, p)| if *p > probs[b] { i } else { b });
        let labels = self.labels();
        let unk = self.tokenizer.unk_id();
        Ok(Score {
            label: labels[best].to_string(),
            confidence: probs[best],
            scores: labels
                .iter()
                .map(|l| l.to_string())
                .zip(probs.iter().copied())
                .collect(),
            tokens: ids.len(),
            unknown_tokens: ids.iter().filter(|&&i| i == unk).count(),
            explanation: counts
                .filter(|_| explain > 0)
                .map(|c| self.explain(&c, explain)),
        })
    }

    fn explain(&self, counts: &[(u32, f64)], n: usize) -> Vec<(String, Vec<TokenWeight>)> {
        self.labels()
            .iter()
            .enumerate()
            .map(|(ci, label)| {
                let mut pulls: Vec<(f64, u32)> = counts
                    .iter()
                    .map(|&(f, c)| (c * self.model.llr(f, ci), f))
                    .filter(|(w, _)| *w > 0.0)
                    .collect();
                pulls.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
                pulls.truncate(n);
                let weights = pulls
                    .into_iter()
                    .map(|(w, f)| TokenWeight {
                        token: self.feature_name(f),
                        weight: w,
                    })
                    .collect();
                (label.to_string(), weights)
            })
            .collect()
    }

    /// The text of a feature: its token, or two tokens joined by a space for a bigram.
    pub fn feature_name(&self, f: u32) -> String {
        self.features
            .tokens_of(f)
            .iter()
            .map(|&id| self.tokenizer.id_to_token(id).unwrap_or_default())
            .collect::<Vec<_>>()
            .join(" ")
    }
}

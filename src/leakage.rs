//! The leakage report: which tokens give a label away. A healthy corpus teaches stance through
//! arguments; a token that nearly every document of one label has and almost no other document
//! has (a sign-off, a house style, a recurring name) is an artefact to remove.

use serde::Serialize;

use crate::classifier::Classifier;
use crate::corpus::Document;
use crate::error::Result;

/// One label-predictive token.
#[derive(Debug, Clone, Serialize)]
pub struct LeakyToken {
    pub token: String,
    /// Log-likelihood ratio against the other labels.
    pub llr: f64,
    /// Share of this label's documents that contain the token.
    pub share_in_label: f64,
    /// Highest share among the other labels' documents.
    pub max_share_elsewhere: f64,
}

/// The most predictive tokens of one label.
#[derive(Debug, Clone, Serialize)]
pub struct LabelLeakage {
    pub label: String,
    pub tokens: Vec<LeakyToken>,
}

/// Per-feature document frequency per label: `df[label][feature]`.
fn document_frequencies(
    classifier: &Classifier,
    n_labels: usize,
    docs: &[Document],
) -> Result<(Vec<Vec<u32>>, Vec<usize>)> {
    let width = classifier.stance().features.len();
    let mut df = vec![vec![0u32; width]; n_labels];
    let mut n = vec![0usize; n_labels];
    for d in docs {
        let ids = classifier.encode(&d.text)?;
        n[d.label] += 1;
        let mut seen: Vec<u32> = classifier
            .stance()
            .features
            .counts(&ids)
            .into_iter()
            .map(|(f, _)| f)
            .collect();
        seen.dedup();
        for f in seen {
            df[d.label][f as usize] += 1;
        }
    }
    Ok((df, n))
}

/// The `top` most label-predictive tokens per label, by the decision rule's per-feature
/// log-likelihood ratio (the blended one under the hierarchical rule), as explanations rank them.
pub fn report(classifier: &Classifier, docs: &[Document], top: usize) -> Result<Vec<LabelLeakage>> {
    let labels = classifier.labels();
    let (df, n) = document_frequencies(classifier, labels.len(), docs)?;
    let width = classifier.stance().features.len();
    Ok(labels
        .iter()
        .enumerate()
        .map(|(ci, label)| {
            let mut ranked: Vec<(f64, usize)> = (0..width)
                .map(|f| (classifier.stance().model.llr(f as u32, ci), f))
                .collect();
            ranked.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
            let tokens = ranked
                .into_iter()
                .take(top)
                .map(|(llr, f)| LeakyToken {
                    token: classifier.feature_name(classifier.stance(), f as u32),
                    llr,
                    share_in_label: share(df[ci][f], n[ci]),
                    max_share_elsewhere: (0..labels.len())
                        .filter(|&o| o != ci)
                        .map(|o| share(df[o][f], n[o]))
                        .fold(0.0, f64::max),
                })
                .collect();
            LabelLeakage {
                label: label.to_string(),
                tokens,
            }
        })
        .collect())
}

fn share(count: u32, n: usize) -> f64 {
    if n == 0 {
        0.0
    } else {
        count as f64 / n as f64
    }
}

/// Tokens in at least `min_in` of one label's documents and at most `max_out` of every other
/// label's: `(label, token, share in label)`.
pub fn giveaways(
    classifier: &Classifier,
    docs: &[Document],
    min_in: f64,
    max_out: f64,
) -> Result<Vec<(String, String, f64)>> {
    let labels = classifier.labels();
    let (df, n) = document_frequencies(classifier, labels.len(), docs)?;
    let mut out = Vec::new();
    for (ci, label) in labels.iter().enumerate() {
        for (f, &count) in df[ci].iter().enumerate() {
            let inside = share(count, n[ci]);
            let outside_ok = (0..labels.len())
                .filter(|&o| o != ci)
                .all(|o| share(df[o][f], n[o]) <= max_out);
            if inside >= min_in && outside_ok {
                out.push((
                    label.to_string(),
                    classifier.feature_name(classifier.stance(), f as u32),
                    inside,
                ));
            }
        }
    }
    Ok(out)
}

//! The sparse scorer must equal linfa's own `joint_log_likelihood` on every corpus document, and
//! probabilities must stay finite and sum to 1 for any length (linfa-bayes 0.8.1's
//! `predict_proba` does not).

use crate::common;

use linfa_bayes::NaiveBayes;
use ndarray::Array2;
use stance::model::{DecisionRule, NbModel, Variant};
use stance::{artifact, Classifier};

fn shipped() -> (Classifier, linfa_bayes::MultinomialNb<f64, usize>) {
    let a = artifact::load_current(&common::root().join("models")).unwrap();
    let linfa = a.stance.model.to_linfa().unwrap();
    (Classifier::from_artifact(a), linfa)
}

/// The shipped stance model's counts under `variant`: the shipped model itself when it already
/// uses it, so that each variant's test runs whichever variant ships.
fn with_variant(c: &Classifier, variant: Variant) -> NbModel {
    let m = &c.stance().model;
    if m.rule().variant == variant {
        return m.clone();
    }
    let rule = DecisionRule {
        variant,
        ..m.rule()
    };
    NbModel::new(m.alpha(), rule, m.classes().to_vec()).unwrap()
}

/// Every corpus document as (label, the stance head's vector).
fn corpus_rows(c: &Classifier) -> Vec<(usize, Vec<(u32, f64)>)> {
    let corpus = stance::Corpus::open(&common::root().join("training-data")).unwrap();
    let head = c.stance();
    let mut out = Vec::new();
    corpus
        .for_each(|d| {
            out.push((d.label, head.vector(&c.encode(&d.text)?)));
            Ok(())
        })
        .unwrap();
    assert_eq!(out.len(), corpus.len());
    out
}

/// linfa's dense one-row form of a sparse vector.
fn dense(vector: &[(u32, f64)], width: usize) -> Array2<f64> {
    let mut row = Array2::<f64>::zeros((1, width));
    for &(f, n) in vector {
        row[[0, f as usize]] = n;
    }
    row
}

#[test]
fn sparse_scores_equal_linfa_on_every_corpus_document() {
    let (c, _) = shipped();
    let model = with_variant(&c, Variant::Multinomial);
    let linfa = model.to_linfa().unwrap();
    let width = c.stance().features.len();
    for (i, (_, vector)) in corpus_rows(&c).iter().enumerate() {
        let row = dense(vector, width);
        let theirs = linfa.joint_log_likelihood(row.view());
        let ours = model.joint_log_likelihood_counts(vector);
        for (class, v) in ours.iter().enumerate() {
            // linfa adds the fitted log-prior; stance's decision rule may use another.
            let prior = model.classes()[class].prior.ln();
            let v = v - model.log_prior()[class] + prior;
            let t = theirs[&class][0];
            let rel = (v - t).abs() / t.abs().max(1.0);
            assert!(
                rel < 1e-9,
                "document {i}: class {class}: ours {v} linfa {t}"
            );
        }
    }
}

/// The hierarchical variant against two models linfa-bayes fits itself on the corpus vectors:
/// the flat three-class one and a two-class one with every label but `neutral` pooled. The
/// variant built from the flat fit's counts must score the mean of their log-posteriors,
/// `ln P_flat(c)` and the two-stage `ln P(neutral)` or `ln P(argued) + ln P_flat(side | argued)`.
/// Both references come from the same rows, so the test holds for any corpus.
#[test]
fn hierarchical_scores_equal_two_linfa_models_on_corpus_documents() {
    use stance::fit::fit_with_linfa;

    let (c, _) = shipped();
    let labels: Vec<String> = c
        .stance()
        .model
        .classes()
        .iter()
        .map(|k| k.label.clone())
        .collect();
    let apart = labels.iter().position(|l| l == "neutral").unwrap();
    let rows = corpus_rows(&c);
    let width = c.stance().features.len();
    let alpha = c.stance().model.alpha();
    let fit = |docs: &[(usize, Vec<(u32, f64)>)], labels: &[String], variant| {
        let rule = DecisionRule {
            variant,
            ..DecisionRule::default()
        };
        fit_with_linfa(docs, labels, width, 256, alpha, rule).unwrap()
    };
    let model = fit(&rows, &labels, Variant::Hierarchical);
    let flat = fit(&rows, &labels, Variant::Multinomial)
        .to_linfa()
        .unwrap();
    let pooled_docs: Vec<(usize, Vec<(u32, f64)>)> = rows
        .iter()
        .map(|(l, v)| (usize::from(*l != apart), v.clone()))
        .collect();
    let two = fit(
        &pooled_docs,
        &["neutral".into(), "argued".into()],
        Variant::Multinomial,
    )
    .to_linfa()
    .unwrap();
    // Log-posteriors straight from linfa's joint log-likelihoods, in log space (ln of an
    // underflowing posterior would lose the digits this compares).
    let log_post = |j: &[f64]| -> Vec<f64> {
        let m = j.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        let lse = m + j.iter().map(|v| (v - m).exp()).sum::<f64>().ln();
        j.iter().map(|v| v - lse).collect()
    };
    let sides: Vec<usize> = (0..labels.len()).filter(|&k| k != apart).collect();
    for (i, (_, vector)) in rows.iter().enumerate().step_by(3) {
        let row = dense(vector, width);
        let f = flat.joint_log_likelihood(row.view());
        let f: Vec<f64> = (0..labels.len()).map(|k| f[&k][0]).collect();
        let s = two.joint_log_likelihood(row.view());
        let first = log_post(&[s[&0][0], s[&1][0]]);
        let side = log_post(&sides.iter().map(|&k| f[k]).collect::<Vec<_>>());
        let flat_post = log_post(&f);
        let ours = model.joint_log_likelihood_counts(vector);
        for (k, v) in ours.iter().enumerate() {
            let two_stage = match sides.iter().position(|&s| s == k) {
                None => first[0],
                Some(j) => first[1] + side[j],
            };
            let want = 0.5 * flat_post[k] + 0.5 * two_stage;
            let rel = (v - want).abs() / want.abs().max(1.0);
            assert!(rel < 1e-9, "document {i}: class {k}: ours {v} linfa {want}");
        }
    }
}

/// `Classifier::score` looks bigrams up once for both heads (`stance::pairs`); it must give
/// exactly what each head gives on its own, on every corpus document and the reference essay.
#[test]
fn shared_bigram_lookup_scores_exactly_as_each_head_alone() {
    let (c, _) = shipped();
    let relevance = c
        .relevance()
        .expect("the shipped model has a relevance head");
    let corpus = stance::Corpus::open(&common::root().join("training-data")).unwrap();
    let mut texts = Vec::new();
    corpus
        .for_each(|d| {
            texts.push(d.text);
            Ok(())
        })
        .unwrap();
    texts.extend(common::reference_essay());
    for text in &texts {
        let ids = c.encode(text).unwrap();
        let alone = c.stance().score(&ids);
        let shared = c.score(text, 0).unwrap();
        let probs: Vec<f64> = shared.scores.iter().map(|(_, p)| *p).collect();
        assert_eq!(probs, alone.probs);
        assert_eq!(shared.evidence, alone.evidence());
        assert_eq!(shared.relevance, Some(relevance.score(&ids).probs[1]));
    }
    assert!(texts.len() > 1000);
}

#[test]
fn probabilities_are_finite_and_sum_to_one_for_a_megabyte_article() {
    let (c, linfa) = shipped();
    let paragraph = "Open weights let anyone audit the model, while a hosted API lets the provider monitor misuse. ";
    let text = paragraph.repeat((1 << 20) / paragraph.len() + 1);
    assert!(text.len() >= 1 << 20);
    let s = c.score(&text, 5).unwrap();
    let sum: f64 = s.scores.iter().map(|(_, p)| p).sum();
    assert!(
        s.scores.iter().all(|(_, p)| p.is_finite() && *p >= 0.0),
        "{:?}",
        s.scores
    );
    assert!((sum - 1.0).abs() < 1e-9, "sum {sum}");
    assert!(s.confidence.is_finite());

    // With raw counts (every occurrence), linfa's own predict_proba overflows on this document
    // while log-sum-exp over the same joint log-likelihoods does not.
    let ids = c.encode(&text).unwrap();
    let mut occ = Vec::new();
    c.stance().features.occurrences(&ids, &mut occ);
    let mut row = Array2::<f64>::zeros((1, c.stance().features.len()));
    for &f in &occ {
        row[[0, f as usize]] += 1.0;
    }
    let (p, _) = linfa.predict_proba(row.view());
    assert!(
        p.iter().any(|v| !v.is_finite()),
        "linfa's exp-sum-ln was expected to overflow: {p:?}"
    );
    let ours = stance::model::posterior(&c.stance().model.joint_log_likelihood(&occ));
    assert!(ours.iter().all(|v| v.is_finite()));
    assert!((ours.iter().sum::<f64>() - 1.0).abs() < 1e-9);
}

#[test]
fn degenerate_articles_get_finite_answers() {
    let (c, _) = shipped();
    for text in [
        "!!! ??? ...",
        "🤖🤖🤖 👍",
        "\0\0\0",
        "完全に未知の単語だけ",
        "zzqxv qqqxz vvzzq",
        "a",
    ] {
        let s = c.score(text, 3).unwrap();
        let sum: f64 = s.scores.iter().map(|(_, p)| p).sum();
        assert!(s.scores.iter().all(|(_, p)| p.is_finite()), "{text:?}");
        assert!((sum - 1.0).abs() < 1e-9, "{text:?}");
    }
}

/// Training sums sparse counts itself (`stance::fit::CountFit`) instead of handing linfa dense
/// rows; on real corpus vectors, whole counts and fractional (TF-IDF-like) weights alike, across
/// several batches, the fitted classes must be bit-identical to linfa-bayes' `fit_with`.
#[test]
fn sparse_fit_equals_linfa_fit_on_corpus_vectors() {
    use stance::fit::{fit_with_linfa, CountFit};

    let (c, _) = shipped();
    let head = c.stance();
    let width = head.features.len();
    let corpus = stance::Corpus::open(&common::root().join("training-data")).unwrap();
    let labels: Vec<String> = corpus.labels().to_vec();
    // Every eighth document: all labels, interleaved as the folder order does not.
    let mut docs = Vec::new();
    let mut seen = 0;
    corpus
        .for_each(|d| {
            if seen % 8 == 0 {
                docs.push((d.label, head.vector(&c.encode(&d.text)?)));
            }
            seen += 1;
            Ok(())
        })
        .unwrap();
    assert!(labels
        .iter()
        .enumerate()
        .all(|(i, _)| docs.iter().any(|(l, _)| *l == i)));
    let fractional: Vec<(usize, Vec<(u32, f64)>)> = docs
        .iter()
        .map(|(l, v)| (*l, v.iter().map(|&(f, n)| (f, n / 7.0)).collect()))
        .collect();
    for (name, set) in [("counts", &docs), ("fractional", &fractional)] {
        let mut ours = CountFit::new(labels.len(), width, 50);
        for (l, v) in set {
            ours.add(*l, v).unwrap();
        }
        let ours =
            NbModel::new(0.3, DecisionRule::default(), ours.finish(&labels).unwrap()).unwrap();
        let theirs = fit_with_linfa(set, &labels, width, 50, 0.3, DecisionRule::default()).unwrap();
        assert_eq!(ours.classes(), theirs.classes(), "{name}");
    }
}

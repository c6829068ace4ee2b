//! stance's naive Bayes variants against scikit-learn's own numbers (`tests/fixtures/sklearn_nb.json`,
//! written by `bench/sklearn_fixture.py`): linfa's multinomial fit, the complement rule derived from
//! its counts, and the TF-IDF transform must give scikit-learn's feature weights and joint
//! log-likelihoods to 1e-9.

use linfa::prelude::*;
use linfa_bayes::MultinomialNb;
use ndarray::{Array1, Array2};
use serde_json::Value;
use stance::model::{DecisionRule, NbModel, Variant};
use stance::weighting::Weighting;

fn fixture() -> Value {
    serde_json::from_str(include_str!("../fixtures/sklearn_nb.json")).unwrap()
}

fn matrix(v: &Value) -> Vec<Vec<f64>> {
    serde_json::from_value(v.clone()).unwrap()
}

fn close(a: f64, b: f64, what: &str) {
    assert!(
        (a - b).abs() <= 1e-9 * b.abs().max(1.0),
        "{what}: stance {a} scikit-learn {b}"
    );
}

/// Fits linfa's MultinomialNb on rows and turns it into stance's model with `rule`.
fn fit(rows: &[Vec<f64>], y: &[usize], alpha: f64, rule: DecisionRule) -> NbModel {
    let x = Array2::from_shape_fn((rows.len(), rows[0].len()), |(i, j)| rows[i][j]);
    let ds = Dataset::new(x, Array1::from(y.to_vec()));
    let linfa: MultinomialNb<f64, usize> = MultinomialNb::params().alpha(alpha).fit(&ds).unwrap();
    let labels: Vec<String> = ["a", "b", "c"].iter().map(|s| s.to_string()).collect();
    NbModel::from_linfa(&linfa, &labels, alpha, rule).unwrap()
}

#[test]
fn tfidf_transform_matches_tfidf_transformer() {
    let f = fixture();
    let x = matrix(&f["X"]);
    let expected = matrix(&f["X_tfidf"]);
    let n_features = x[0].len();
    let df: Vec<u64> = (0..n_features)
        .map(|j| x.iter().filter(|r| r[j] > 0.0).count() as u64)
        .collect();
    let w = Weighting::fit(true, true, &df, x.len() as u64);
    let idf: Vec<f64> = serde_json::from_value(f["idf"].clone()).unwrap();
    for (a, b) in w.idf.as_ref().unwrap().iter().zip(&idf) {
        close(*a, *b, "idf");
    }
    for (row, want) in x.iter().zip(&expected) {
        let mut sparse: Vec<(u32, f64)> = row
            .iter()
            .enumerate()
            .filter(|(_, v)| **v > 0.0)
            .map(|(j, v)| (j as u32, *v))
            .collect();
        w.apply(&mut sparse);
        for (j, v) in sparse {
            close(v, want[j as usize], "tf-idf value");
        }
    }
}

#[test]
fn variants_match_scikit_learn() {
    let f = fixture();
    let y: Vec<usize> = serde_json::from_value(f["y"].clone()).unwrap();
    let cases = f["cases"].as_array().unwrap();
    assert_eq!(cases.len(), 5);
    for case in cases {
        let name = case["name"].as_str().unwrap();
        let rows = matrix(if case["tfidf"].as_bool().unwrap() {
            &f["X_tfidf"]
        } else {
            &f["X"]
        });
        let rule = DecisionRule {
            variant: if name.starts_with("complement") {
                Variant::Complement
            } else {
                Variant::Multinomial
            },
            weight_norm: name == "complement-norm",
            fit_prior: true,
        };
        let alpha = case["alpha"].as_f64().unwrap();
        let model = fit(&rows, &y, alpha, rule);
        // The log-probabilities stance recomputes from stored counts are linfa's, bit for bit.
        for c in model.classes() {
            let again = stance::model::multinomial_log_prob(&c.feature_count, alpha);
            assert_eq!(again, c.feature_log_prob, "{name}");
        }
        let counts = matrix(&case["feature_count"]);
        let flp = matrix(&case["feature_log_prob"]);
        for c in 0..3 {
            for j in 0..rows[0].len() {
                close(model.classes()[c].feature_count[j], counts[c][j], name);
                close(model.weight(j as u32, c), flp[c][j], name);
            }
        }
        let jll = matrix(&case["joint_log_likelihood"]);
        for (row, want) in rows.iter().zip(&jll) {
            let sparse: Vec<(u32, f64)> = row
                .iter()
                .enumerate()
                .filter(|(_, v)| **v != 0.0)
                .map(|(j, v)| (j as u32, *v))
                .collect();
            let ours = model.joint_log_likelihood_counts(&sparse);
            for c in 0..3 {
                close(ours[c], want[c], &format!("{name} jll"));
            }
            let p = stance::model::posterior(&ours);
            let sk = matrix(&case["predict_proba"]);
            let i = rows.iter().position(|r| r == row).unwrap();
            for c in 0..3 {
                close(p[c], sk[i][c], &format!("{name} probability"));
            }
        }
    }
}

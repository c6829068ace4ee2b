//! The committed default model: reproducible from the committed corpus, and it recognises the
//! user's reference essay.

mod common;

use stance::{artifact, Classifier};

#[test]
fn committed_model_is_what_train_produces_from_the_committed_corpus() {
    let models = common::root().join("models");
    let shipped = models.join(artifact::current_version(&models).unwrap());
    let meta = artifact::load_version(&shipped).unwrap().meta;
    let p = &meta.params;
    let t = tempfile::tempdir().unwrap();
    let mut args: Vec<String> = vec![
        "train".into(),
        "--data".into(),
        common::root().join("training-data").display().to_string(),
        "--models".into(),
        t.path().display().to_string(),
        format!("--alpha={}", p.alpha),
        format!("--min-count={}", p.min_count),
        format!("--max-vocab={}", p.max_vocab),
        format!("--binary={}", p.binary),
        format!("--bigrams={}", p.bigrams),
        format!("--chunk-docs={}", p.chunk_docs),
    ];
    if let Some(cv) = &meta.cross_validation {
        args.push(format!("--cv-folds={}", cv.folds));
        args.push(format!("--seed={}", cv.seed));
    }
    let o = common::stance().args(&args).output().unwrap();
    assert!(o.status.success(), "{}", common::stderr(&o));
    let fresh = t.path().join(artifact::current_version(t.path()).unwrap());
    let (tok_a, model_a, meta_a) = artifact::comparable_content(&shipped).unwrap();
    let (tok_b, model_b, meta_b) = artifact::comparable_content(&fresh).unwrap();
    assert!(
        tok_a == tok_b,
        "tokenizer.json differs: retrain with `stance train --cv-folds 5` and commit models/"
    );
    assert!(
        model_a == model_b,
        "model.json differs: retrain and commit models/"
    );
    assert_eq!(meta_a, meta_b);
}

#[test]
fn only_the_current_version_is_shipped() {
    let models = common::root().join("models");
    assert_eq!(
        artifact::list_versions(&models).unwrap(),
        vec![artifact::current_version(&models).unwrap()]
    );
}

#[test]
fn reference_essay_scores_pro_open_with_high_confidence() {
    let Some(essay) = common::reference_essay() else {
        eprintln!("../shared/reference/reference-essay.txt not present; skipped");
        return;
    };
    let c =
        Classifier::from_artifact(artifact::load_current(&common::root().join("models")).unwrap());
    let s = c.score(&essay, 10).unwrap();
    assert_eq!(s.label, "pro-open", "{:?}", s.scores);
    assert!(
        s.confidence >= 0.9,
        "confidence {} ({:?})",
        s.confidence,
        s.scores
    );
}

//! The real `stance` binary on small corpora in temp folders: train -> classify -> evaluate,
//! every bad-corpus case, corrupt artifacts, crashes in the middle of writing, determinism.

use crate::common;

use std::fs;
use std::path::Path;

use common::*;
use stance::artifact;

fn listing(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = fs::read_dir(dir)
        .map(|r| {
            r.map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}

#[test]
fn train_classify_evaluate_round_trip() {
    let t = tempfile::tempdir().unwrap();
    let (data, models) = (t.path().join("data"), t.path().join("models"));
    small_corpus(&data);
    let o = train(&data, &models, &["--cv-folds", "3"]);
    let out = stdout(&o);
    assert!(out.contains("neutral=6 pro-closed=6 pro-open=6"), "{out}");
    assert!(out.contains("cross-val   3 stratified folds"), "{out}");
    let version = artifact::current_version(&models).unwrap();
    let meta = artifact::load_current(&models).unwrap().meta;
    assert_eq!(meta.version, version);
    assert_eq!(meta.labels, ["neutral", "pro-closed", "pro-open"]);
    assert!(meta.cross_validation.is_some());

    let article = t.path().join("a.txt");
    fs::write(
        &article,
        "We should audit and fork the open weights and fine tune them locally.",
    )
    .unwrap();
    let o = run(&[
        "classify",
        "--models",
        models.to_str().unwrap(),
        "--json",
        "--explain",
        "3",
        article.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let v: serde_json::Value = serde_json::from_str(stdout(&o).trim()).unwrap();
    assert_eq!(v["label"], "pro-open");
    assert_eq!(v["file"], article.to_str().unwrap());
    assert_eq!(v["model"]["version"], version.as_str());
    let sum: f64 = v["scores"]
        .as_object()
        .unwrap()
        .values()
        .map(|p| p.as_f64().unwrap())
        .sum();
    assert!((sum - 1.0).abs() < 1e-9);
    let toward_open = v["explanation"]["pro-open"].as_array().unwrap();
    assert!(!toward_open.is_empty() && toward_open.len() <= 3);

    // Standard input, human-readable.
    let mut child = stance()
        .args(["classify", "--models", models.to_str().unwrap()])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write;
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"the API lets the lab monitor misuse and revoke access")
        .unwrap();
    let o = child.wait_with_output().unwrap();
    assert!(o.status.success());
    assert!(stdout(&o).starts_with("-\tpro-closed\t"), "{}", stdout(&o));

    // Every evaluation here: the test corpus, tiny-corpus settings, three calibration folds.
    let evaluate = |extra: &[&str]| {
        let mut args = vec![
            "evaluate",
            "--data",
            data.to_str().unwrap(),
            "--min-count",
            "1",
            "--offtopic",
            "none",
            "--calibration-folds",
            "3",
        ];
        args.extend_from_slice(extra);
        run(&args)
    };
    let o = evaluate(&["--folds", "3", "--json"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let v: serde_json::Value = serde_json::from_str(stdout(&o).trim()).unwrap();
    for kind in ["raw", "calibrated"] {
        let r = &v["cross_validation"][kind];
        assert_eq!(r["documents"], 18);
        assert_eq!(r["confusion"].as_array().unwrap().len(), 3);
        assert_eq!(r["accuracy_at_coverage"].as_array().unwrap().len(), 4);
    }
    assert_eq!(v["cross_validation"]["grouped"], false);

    // A test set may carry a label the model does not have: reported apart, not an error.
    let test = t.path().join("test.jsonl");
    fs::write(
        &test,
        concat!(
            "{\"text\": \"Fork and audit the open weights locally.\", \"label\": \"pro-open\", \"id\": \"a\"}\n",
            "{\"text\": \"The API lets the lab monitor misuse.\", \"label\": \"pro-closed\"}\n",
            "{\"text\": \"Knead the dough and bake it at 230 degrees.\", \"label\": \"off-topic\"}\n",
        ),
    )
    .unwrap();
    let test_arg = test.to_str().unwrap();
    let o = evaluate(&["--test", test_arg, "--json"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let v: serde_json::Value = serde_json::from_str(stdout(&o).trim()).unwrap();
    assert_eq!(v["test"]["stance"]["documents"], 2);
    assert_eq!(v["test"]["other_labels"][0]["label"], "off-topic");
    assert_eq!(v["test"]["other_labels"][0]["documents"], 1);
    for key in ["ece", "brier", "log_loss"] {
        assert!(
            v["test"]["stance"][key].as_f64().unwrap().is_finite(),
            "{key}"
        );
    }
    // The test set's figures carry bootstrap intervals (two documents: accuracy is 0, 0.5 or 1
    // in every resample), and --bootstrap 0 leaves them out.
    let iv = &v["test"]["stance"]["intervals"];
    assert_eq!(iv["resamples"], 1000, "{iv}");
    let (low, high) = (
        iv["accuracy"]["low"].as_f64().unwrap(),
        iv["accuracy"]["high"].as_f64().unwrap(),
    );
    let accuracy = v["test"]["stance"]["accuracy"].as_f64().unwrap();
    assert!(
        0.0 <= low && low <= accuracy && accuracy <= high && high <= 1.0,
        "{iv}"
    );
    assert_eq!(iv["accuracy_at_coverage"].as_array().unwrap().len(), 4);
    let o = evaluate(&["--test", test_arg, "--json", "--bootstrap", "0"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let v: serde_json::Value = serde_json::from_str(stdout(&o).trim()).unwrap();
    assert!(v["test"]["stance"].get("intervals").is_none(), "{v}");

    // --predictions: one line per test document, in order, agreeing with the report.
    let preds = t.path().join("preds.jsonl");
    let o = evaluate(&["--test", test_arg, "--predictions", preds.to_str().unwrap()]);
    assert!(o.status.success(), "{}", stderr(&o));
    let lines: Vec<serde_json::Value> = fs::read_to_string(&preds)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let truths: Vec<&str> = lines.iter().map(|p| p["truth"].as_str().unwrap()).collect();
    assert_eq!(truths, ["pro-open", "pro-closed", "off-topic"]);
    for (n, p) in lines.iter().enumerate() {
        assert!(
            p["source"]
                .as_str()
                .unwrap()
                .ends_with(&format!(":{}", n + 1)),
            "{p}"
        );
        let scores = p["scores"].as_object().unwrap();
        let sum: f64 = scores.values().map(|x| x.as_f64().unwrap()).sum();
        assert!((sum - 1.0).abs() < 1e-9, "{p}");
        assert_eq!(p["confidence"], scores[p["label"].as_str().unwrap()], "{p}");
    }
    let right = lines[..2]
        .iter()
        .filter(|p| p["label"] == p["truth"])
        .count() as f64;
    assert_eq!(
        right / 2.0,
        v["test"]["stance"]["accuracy"].as_f64().unwrap()
    );
    let o = evaluate(&["--folds", "3", "--predictions", preds.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(stderr(&o).contains("--test"), "{}", stderr(&o));
    let plot = t.path().join("plot.svg");
    let o = evaluate(&["--test", test_arg, "--plot", plot.to_str().unwrap()]);
    assert!(o.status.success(), "{}", stderr(&o));
    let out = stdout(&o);
    assert!(
        out.contains("label \"off-topic\" is not one of the model's"),
        "{out}"
    );
    assert!(out.contains("ECE") && out.contains("top  30%"), "{out}");
    assert!(
        out.contains("95% bootstrap intervals, 1000 resamples"),
        "{out}"
    );
    let svg = fs::read_to_string(&plot).unwrap();
    assert!(svg.starts_with("<svg") && svg.contains("Reliability") && svg.contains("Confusion"));

    let o = evaluate(&["--test", data.to_str().unwrap()]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stdout(&o).contains("held-out test set") && stdout(&o).contains("macro-F1"));

    let o = run(&[
        "leakage",
        "--data",
        data.to_str().unwrap(),
        "--top",
        "5",
        "--min-count",
        "1",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stdout(&o).contains("== pro-open"));
}

#[test]
fn training_is_deterministic() {
    let t = tempfile::tempdir().unwrap();
    let data = t.path().join("data");
    small_corpus(&data);
    let (a, b) = (t.path().join("a"), t.path().join("b"));
    train(&data, &a, &["--bigrams", "true"]);
    train(&data, &b, &["--bigrams", "true"]);
    let va = a.join(artifact::current_version(&a).unwrap());
    let vb = b.join(artifact::current_version(&b).unwrap());
    assert_eq!(
        artifact::comparable_content(&va).unwrap(),
        artifact::comparable_content(&vb).unwrap()
    );
    // A different corpus gives a different model.
    write(
        &data.join("pro-open/extra.txt"),
        "Extra\n\nforkable weights",
    );
    let c = t.path().join("c");
    train(&data, &c, &[]);
    let vc = c.join(artifact::current_version(&c).unwrap());
    assert_ne!(
        artifact::comparable_content(&va).unwrap().2,
        artifact::comparable_content(&vc).unwrap().2
    );
}

fn assert_bad_corpus(setup: impl Fn(&Path), needle: &[&str]) {
    let t = tempfile::tempdir().unwrap();
    let (data, models) = (t.path().join("data"), t.path().join("models"));
    small_corpus(&data);
    setup(&data);
    let o = train_command(&data, &models).output().unwrap();
    assert_eq!(
        o.status.code(),
        Some(1),
        "expected failure; stdout {}",
        stdout(&o)
    );
    let err = stderr(&o);
    assert_eq!(err.trim().lines().count(), 1, "one clear line: {err}");
    for n in needle {
        assert!(err.contains(n), "{n:?} not in {err}");
    }
    assert!(!models.exists(), "nothing may be written for a bad corpus");
}

#[test]
fn bad_corpora_fail_before_writing() {
    assert_bad_corpus(
        |d| write(&d.join("neutral/bad.txt"), [0x66, 0xff, 0xfe]),
        &["bad.txt", "UTF-8"],
    );
    assert_bad_corpus(
        |d| write(&d.join("neutral/empty.txt"), " \n"),
        &["empty.txt", "empty"],
    );
    assert_bad_corpus(
        |d| write(&d.join("notes.txt"), "x"),
        &["notes.txt", "stray file"],
    );
    assert_bad_corpus(
        |d| fs::create_dir_all(d.join("unlabelled")).unwrap(),
        &["unlabelled", "no documents"],
    );
    assert_bad_corpus(
        |d| {
            fs::remove_dir_all(d.join("pro-open")).unwrap();
            fs::remove_dir_all(d.join("pro-closed")).unwrap();
        },
        &["at least two labels"],
    );
    assert_bad_corpus(
        |d| write(&d.join("neutral/image.png"), "x"),
        &["image.png", ".txt"],
    );
}

#[test]
fn jsonl_corpus_and_its_errors() {
    let t = tempfile::tempdir().unwrap();
    let file = t.path().join("c.jsonl");
    let mut lines = String::new();
    for (label, text) in [
        ("yes", "open weights audit fork"),
        ("yes", "fork the open weights"),
        ("no", "closed api monitor misuse"),
        ("no", "monitor misuse with a closed api"),
        ("no", "monitor misuse with a closed api"),
    ] {
        lines.push_str(&serde_json::json!({"text": text, "label": label}).to_string());
        lines.push('\n');
    }
    fs::write(&file, &lines).unwrap();
    let models = t.path().join("m");
    let o = train(&file, &models, &[]);
    assert!(
        stderr(&o).contains("1 exact duplicate"),
        "duplicates are warned about: {}",
        stderr(&o)
    );

    fs::write(&file, format!("{lines}{{\"text\": \"x\", \"label\": 5}}\n")).unwrap();
    let o = train_command(&file, &models).output().unwrap();
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("c.jsonl:6"), "{}", stderr(&o));
}

#[test]
fn usage_errors_exit_2_and_runtime_errors_exit_1() {
    let o = run(&["train", "--alpha"]);
    assert_eq!(o.status.code(), Some(2));
    let o = run(&["frobnicate"]);
    assert_eq!(o.status.code(), Some(2));
    let o = run(&["train", "--keep", "0"]);
    assert_eq!(o.status.code(), Some(2));
    let o = run(&["train", "--alpha=-1", "--data", "/nonexistent"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("alpha"), "{}", stderr(&o));
    let o = run(&["evaluate", "--folds", "0"]);
    assert_eq!(o.status.code(), Some(2));
    let o = run(&["train", "--data", "/nonexistent-corpus"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("/nonexistent-corpus"), "{}", stderr(&o));
    let o = run(&[
        "classify",
        "--models",
        "/nonexistent-models",
        "/etc/hostname",
    ]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).contains("/nonexistent-models/CURRENT"),
        "{}",
        stderr(&o)
    );
    // The cause is quoted in the message; the chain must not print it a second time.
    assert_eq!(
        stderr(&o).matches("cannot read the model pointer").count(),
        1,
        "{}",
        stderr(&o)
    );
    let o = run(&["classify", "--models", "models", "/nonexistent-article.txt"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).contains("/nonexistent-article.txt"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn corrupt_artifacts_are_refused_with_the_file_named() {
    let t = tempfile::tempdir().unwrap();
    let (data, models) = (t.path().join("data"), t.path().join("models"));
    small_corpus(&data);
    train(&data, &models, &[]);
    let dir = models.join(artifact::current_version(&models).unwrap());
    let pristine = t.path().join("pristine");
    copy_dir(&dir, &pristine);
    let classify = || {
        run(&[
            "classify",
            "--models",
            models.to_str().unwrap(),
            "/etc/hostname",
        ])
    };
    assert!(classify().status.success());

    type Damage = Box<dyn Fn(&Path)>;
    let cases: Vec<(&str, Damage, &str)> = vec![
        (
            "truncated model",
            Box::new(|d: &Path| {
                let b = fs::read(d.join("model.json")).unwrap();
                fs::write(d.join("model.json"), &b[..b.len() / 2]).unwrap();
            }),
            "model.json",
        ),
        (
            "altered tokenizer",
            Box::new(|d: &Path| {
                let s = fs::read_to_string(d.join("tokenizer.json")).unwrap();
                fs::write(
                    d.join("tokenizer.json"),
                    s.replacen("\"audit\"", "\"audlt\"", 1),
                )
                .unwrap();
            }),
            "tokenizer.json",
        ),
        (
            "unknown format",
            Box::new(|d: &Path| {
                let s = fs::read_to_string(d.join("meta.json")).unwrap();
                fs::write(
                    d.join("meta.json"),
                    s.replace("\"format_version\": 2", "\"format_version\": 99"),
                )
                .unwrap();
            }),
            "format_version 99",
        ),
        (
            "missing meta",
            Box::new(|d: &Path| fs::remove_file(d.join("meta.json")).unwrap()),
            "meta.json",
        ),
        (
            "labels removed",
            Box::new(|d: &Path| {
                let s = fs::read_to_string(d.join("meta.json")).unwrap();
                fs::write(d.join("meta.json"), s.replace("\"labels\"", "\"labelz\"")).unwrap();
            }),
            "labels",
        ),
    ];
    for (name, damage, needle) in cases {
        fs::remove_dir_all(&dir).unwrap();
        copy_dir(&pristine, &dir);
        damage(&dir);
        let o = classify();
        assert_eq!(o.status.code(), Some(1), "{name} must be refused");
        assert!(stderr(&o).contains(needle), "{name}: {}", stderr(&o));
    }
}

/// Edits the current version's `model.json` and records its new digest, so that only the
/// content check under test can refuse it.
fn tamper_model(models: &Path, edit: impl FnOnce(&mut serde_json::Value)) {
    use sha2::{Digest, Sha256};
    let dir = models.join(artifact::current_version(models).unwrap());
    let mut model: serde_json::Value =
        serde_json::from_slice(&fs::read(dir.join("model.json")).unwrap()).unwrap();
    edit(&mut model);
    let body = model.to_string();
    fs::write(dir.join("model.json"), &body).unwrap();
    let mut meta: serde_json::Value =
        serde_json::from_slice(&fs::read(dir.join("meta.json")).unwrap()).unwrap();
    meta["files"]["model.json"] = format!("sha256:{:x}", Sha256::digest(body.as_bytes())).into();
    fs::write(dir.join("meta.json"), meta.to_string()).unwrap();
}

#[test]
fn width_mismatch_is_refused_even_with_matching_digests() {
    let t = tempfile::tempdir().unwrap();
    let (data, models) = (t.path().join("data"), t.path().join("models"));
    small_corpus(&data);
    train(&data, &models, &[]);
    tamper_model(&models, |m| {
        m["features"]["vocab_size"] = serde_json::json!(3)
    });
    let err = artifact::load_current(&models).err().unwrap().to_string();
    assert!(
        err.contains("model.json") && err.contains("vocabulary"),
        "{err}"
    );
}

/// A damaged norm floor in `model.json` (digest recomputed, so only the content check can catch
/// it) is refused on load with the file named, and the field when the value parses: negative or
/// zero the floor would silently do nothing, and with `l2` off it would be ignored while the
/// file says it applies. JSON has no NaN, so a non-number is a parse error naming the type.
#[test]
fn a_damaged_norm_floor_is_refused_with_the_field_named() {
    let t = tempfile::tempdir().unwrap();
    let (data, models) = (t.path().join("data"), t.path().join("models"));
    small_corpus(&data);
    train(&data, &models, &[]);
    let dir = models.join(artifact::current_version(&models).unwrap());
    let pristine = t.path().join("pristine");
    copy_dir(&dir, &pristine);
    let model: serde_json::Value =
        serde_json::from_slice(&fs::read(dir.join("model.json")).unwrap()).unwrap();
    assert!(
        model["weighting"]["min_norm"]
            .as_f64()
            .is_some_and(|m| m > 0.0),
        "the default model records its floor: {}",
        model["weighting"]
    );
    let cases: [(&str, &str, serde_json::Value, &str); 4] = [
        (
            "negative",
            "min_norm",
            serde_json::json!(-1.5),
            "min_norm -1.5",
        ),
        ("zero", "min_norm", serde_json::json!(0.0), "min_norm 0"),
        (
            "set with l2 off",
            "l2",
            serde_json::json!(false),
            "min_norm is set",
        ),
        (
            "not a number",
            "min_norm",
            serde_json::json!("NaN"),
            "expected f64",
        ),
    ];
    for (name, field, value, needle) in cases {
        fs::remove_dir_all(&dir).unwrap();
        copy_dir(&pristine, &dir);
        tamper_model(&models, |m| m["weighting"][field] = value);
        let o = run(&[
            "classify",
            "--models",
            models.to_str().unwrap(),
            "/etc/hostname",
        ]);
        let err = stderr(&o);
        assert_eq!(o.status.code(), Some(1), "{name} must be refused: {err}");
        assert!(
            err.contains("model.json") && err.contains(needle) && !err.contains("panicked"),
            "{name}: {err}"
        );
    }
}

/// The default rule needs `neutral` and two other labels: an operator's two-label corpus still
/// trains (the flat rule, and the output says so), and an artifact that claims the hierarchical
/// rule for such labels is refused on load with the file and the reason named.
#[test]
fn two_label_corpus_trains_flat_and_a_hierarchical_claim_on_it_is_refused() {
    let t = tempfile::tempdir().unwrap();
    let (data, models) = (t.path().join("data"), t.path().join("models"));
    small_corpus(&data);
    fs::remove_dir_all(data.join("neutral")).unwrap();
    let o = train(&data, &models, &[]);
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(
        out.contains("rule        multinomial (the hierarchical variant needs"),
        "{out}"
    );
    artifact::load_current(&models).unwrap();
    tamper_model(&models, |m| {
        m["rule"]["variant"] = serde_json::json!("hierarchical")
    });
    let err = artifact::load_current(&models).err().unwrap().to_string();
    assert!(
        err.contains("model.json") && err.contains("\"neutral\""),
        "{err}"
    );
}

#[test]
fn a_crash_mid_write_never_leaves_a_half_model_in_service() {
    let t = tempfile::tempdir().unwrap();
    let (data, models) = (t.path().join("data"), t.path().join("models"));
    small_corpus(&data);
    train(&data, &models, &[]);
    let before = artifact::current_version(&models).unwrap();
    write(
        &data.join("pro-open/new.txt"),
        "New\n\nmore open weights to fork",
    );
    for stage in [
        "after-tokenizer.json",
        "after-model.json",
        "after-meta.json",
        "before-pointer",
        "before-rename",
    ] {
        let o = train_command(&data, &models)
            .env("STANCE_CRASH_AT", stage)
            .output()
            .unwrap();
        assert!(
            !o.status.success(),
            "{stage}: the simulated crash must kill the run"
        );
        let current = artifact::current_version(&models).unwrap();
        artifact::load_current(&models)
            .unwrap_or_else(|e| panic!("{stage}: CURRENT must name a complete model: {e}"));
        if stage != "before-pointer" {
            assert_eq!(
                current, before,
                "{stage}: the pointer must still name the old version"
            );
        }
        for v in artifact::list_versions(&models).unwrap() {
            artifact::load_version(&models.join(&v))
                .unwrap_or_else(|e| panic!("{stage}: {v} is half-written: {e}"));
        }
    }
    // The next successful run cleans up leftovers of the crashed ones.
    train(&data, &models, &[]);
    assert!(
        listing(&models)
            .iter()
            .all(|n| !n.starts_with(".partial-") && !n.starts_with(".stance-")),
        "{:?}",
        listing(&models)
    );
}

#[test]
fn retention_keeps_the_newest_versions() {
    let t = tempfile::tempdir().unwrap();
    let (data, models) = (t.path().join("data"), t.path().join("models"));
    small_corpus(&data);
    for _ in 0..4 {
        train(&data, &models, &["--keep", "2"]);
    }
    let versions = artifact::list_versions(&models).unwrap();
    assert_eq!(versions.len(), 2, "{versions:?}");
    assert_eq!(
        versions.last().unwrap(),
        &artifact::current_version(&models).unwrap()
    );
}

/// Defect 2: two `stance train` runs into one models folder could leave CURRENT naming a deleted
/// version while both exited 0 (prune removed the other run's work). With the folder lock, every
/// round of two concurrent trainers leaves a loadable CURRENT naming one of the two versions
/// they reported, and nothing half-written.
#[test]
fn two_trainers_at_once_never_lose_current() {
    let t = tempfile::tempdir().unwrap();
    let (data, models) = (t.path().join("data"), t.path().join("models"));
    small_corpus(&data);
    train(&data, &models, &[]);
    for round in 0..50 {
        let keep = if round % 2 == 0 { "1" } else { "3" };
        let runs: Vec<_> = (0..2)
            .map(|_| {
                train_command(&data, &models)
                    .args(["--keep", keep])
                    .stdout(std::process::Stdio::piped())
                    .stderr(std::process::Stdio::piped())
                    .spawn()
                    .unwrap()
            })
            .collect();
        let mut reported = Vec::new();
        for run in runs {
            let o = run.wait_with_output().unwrap();
            assert!(o.status.success(), "round {round}: {}", stderr(&o));
            let out = stdout(&o);
            let version = out
                .split_whitespace()
                .nth(2)
                .unwrap_or_else(|| panic!("round {round}: {out}"))
                .to_string();
            reported.push(version);
        }
        let current = artifact::current_version(&models).unwrap();
        artifact::load_current(&models)
            .unwrap_or_else(|e| panic!("round {round}: CURRENT is not loadable: {e}"));
        assert!(
            reported.contains(&current),
            "round {round}: {current} not in {reported:?}"
        );
        let names = listing(&models);
        assert!(
            names.iter().all(|n| !n.starts_with(".partial-")),
            "round {round}: {names:?}"
        );
    }
}

/// Defect 5: training memory grew with the largest document (a 53.6 MB file peaked at 6.8 GB).
/// Documents are capped at 1 MiB (with a warning) and fed to the tokenizer trainer in pieces,
/// so a corpus with a 24 MB document trains within a 512 MiB data limit.
#[test]
fn one_huge_document_trains_in_bounded_memory() {
    let t = tempfile::tempdir().unwrap();
    let (data, models) = (t.path().join("data"), t.path().join("models"));
    small_corpus(&data);
    let unit = "Open weights let every lab audit and fork the model, caf\u{e9} e\u{301}. ";
    write(
        &data.join("pro-open/huge.txt"),
        format!("Huge\n\n{}", unit.repeat((24 << 20) / unit.len())),
    );
    let mut cmd = train_command(&data, &models);
    limit_data(&mut cmd, 512 << 20);
    let o = cmd.output().unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    let err = stderr(&o);
    assert!(
        err.contains("huge.txt") && err.contains("only its first 1048576 bytes"),
        "{err}"
    );
    artifact::load_current(&models).unwrap();
}

/// Defect 6: `stance classify` read any input whole (/dev/zero grew without end). It reads at
/// most --max-bytes (default 1 MiB, the service's --max-body) and says when it truncates.
#[test]
fn classify_reads_at_most_max_bytes() {
    let models = common::root().join("models");
    let mut cmd = stance();
    cmd.args(["classify", "/dev/zero", "--models"]).arg(&models);
    limit_data(&mut cmd, 512 << 20);
    let o = cmd.output().unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("/dev/zero: longer than --max-bytes 1048576"),
        "{}",
        stderr(&o)
    );
    assert!(stdout(&o).starts_with("/dev/zero\t"), "{}", stdout(&o));

    let t = tempfile::tempdir().unwrap();
    let file = t.path().join("a.txt");
    write(&file, "Open weights let anyone audit the model. caf\u{e9}");
    let o = run(&[
        "classify",
        file.to_str().unwrap(),
        "--models",
        models.to_str().unwrap(),
        "--max-bytes",
        "45",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    // The limit falls inside the two-byte é: it is dropped, not split.
    assert!(
        stderr(&o).contains("scoring its first 44 bytes"),
        "{}",
        stderr(&o)
    );
    let o = run(&["classify", file.to_str().unwrap(), "--max-bytes", "0"]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
}

/// A label folder whose name starts with "readme" is a label like any other (it was skipped,
/// silently training one label fewer); only files may be READMEs.
#[test]
fn every_folder_is_a_label() {
    let t = tempfile::tempdir().unwrap();
    let (data, models) = (t.path().join("data"), t.path().join("models"));
    small_corpus(&data);
    write(&data.join("README.md"), "about this corpus");
    write(
        &data.join("readme-label/one.txt"),
        "One\n\nreadme label text",
    );
    train(&data, &models, &[]);
    let meta = artifact::load_current(&models).unwrap().meta;
    assert!(
        meta.labels.contains(&"readme-label".to_string()),
        "{:?}",
        meta.labels
    );
    assert_eq!(meta.labels.len(), 4);
}

const OPEN_TEXT: &str = "We should audit and fork the open weights and fine tune them locally; \
    publishing weights lets researchers reproduce results.";
const CLOSED_TEXT: &str = "Keeping the model behind an API lets the lab monitor misuse, patch \
    safety problems and revoke access; released weights cannot be recalled.";

/// `stance classify --json` on one text: the shape every `--jsonl` result must have.
fn json_result(text: &str, extra: &[&str]) -> serde_json::Value {
    let t = tempfile::tempdir().unwrap();
    let file = t.path().join("a.txt");
    write(&file, text);
    let models = root().join("models");
    let mut args = vec![
        "classify",
        "--json",
        "--models",
        models.to_str().unwrap(),
        file.to_str().unwrap(),
    ];
    args.extend_from_slice(extra);
    let o = run(&args);
    assert!(o.status.success(), "{}", stderr(&o));
    let mut v: serde_json::Value = serde_json::from_str(stdout(&o).trim()).unwrap();
    v.as_object_mut().unwrap().remove("file");
    v
}

/// Many lines over several batches, from standard input: one output line per input line in
/// input order, the other fields passed through unchanged (order and number digits too), the
/// result shaped like `--json` output, exit 0.
#[test]
fn jsonl_keeps_input_order_and_passes_fields_through() {
    let n = 9000;
    let mut input = String::new();
    for i in 0..n {
        // Lengths vary so that parallel scoring finishes out of order.
        let text = if i % 3 == 0 {
            OPEN_TEXT.repeat(1 + i % 7)
        } else {
            CLOSED_TEXT.to_string()
        };
        input.push_str(&format!(
            "{{\"n\": {i}, \"id\": \"doc-{i}\", \"text\": {}, \"price\": 2.50, \"tags\": [\"a\", {{\"b\": null}}]}}\n",
            serde_json::to_string(&text).unwrap()
        ));
    }
    let o = output_with_stdin(
        classify_jsonl(Path::new("-")).args(["--explain", "2"]),
        input.into_bytes(),
    );
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let out = stdout(&o);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), n);
    let open = json_result(OPEN_TEXT, &["--explain", "2"]);
    let closed = json_result(CLOSED_TEXT, &["--explain", "2"]);
    for (i, line) in lines.iter().enumerate() {
        // Passed-through fields keep their order and their exact JSON text.
        let head = format!("{{\"n\":{i},\"id\":\"doc-{i}\",\"price\":2.50,\"tags\":[\"a\", {{\"b\": null}}],\"stance\":");
        assert!(line.starts_with(&head), "line {}: {line}", i + 1);
        let v: serde_json::Value = serde_json::from_str(line).unwrap();
        assert!(v.get("text").is_none(), "text is left out by default");
        let expected = if i % 3 == 0 { &open } else { &closed };
        if i % 3 != 0 || i % 7 == 0 {
            assert_eq!(&v["stance"], expected, "line {}", i + 1);
        }
        let label = v["stance"]["label"].as_str().unwrap();
        assert_eq!(label, if i % 3 == 0 { "pro-open" } else { "pro-closed" });
    }
    let first: serde_json::Value = serde_json::from_str(lines[0]).unwrap();
    for key in [
        "confidence",
        "scores",
        "relevance",
        "on_topic",
        "insufficient_evidence",
        "model",
    ] {
        assert!(first["stance"].get(key).is_some(), "{key} in {first}");
    }
    assert!(first["stance"]["explanation"]["pro-open"].is_array());
}

/// Every kind of bad line gets an error line with its number (and its id when the object was
/// read), and the lines after it are still scored; the exit code is 1 and stderr says how many.
#[test]
fn jsonl_bad_lines_get_error_lines_and_the_run_goes_on() {
    let t = tempfile::tempdir().unwrap();
    let file = t.path().join("in.jsonl");
    let long = format!("{{\"id\": \"long\", \"text\": \"{}\"}}", "a ".repeat(200));
    let lines: Vec<Vec<u8>> = vec![
        format!("{{\"id\": \"ok-1\", \"text\": \"{OPEN_TEXT}\"}}").into(),
        b"{not json".to_vec(),
        b"[1, 2]".to_vec(),
        b"{\"id\": \"x\"}".to_vec(),
        b"{\"id\": 7, \"text\": 5}".to_vec(),
        b"{\"id\": \"u\", \"text\": \"caf\xff\"}".to_vec(),
        b"".to_vec(),
        b"{\"id\": \"e\", \"text\": \"  \\n \"}".to_vec(),
        b"{\"id\": \"c\", \"text\": \"open weights\", \"stance\": 1}".to_vec(),
        b"{\"id\": \"d\", \"text\": \"a\", \"text\": \"b\"}".to_vec(),
        long.into(),
        format!("{{\"id\": \"ok-2\", \"text\": \"{CLOSED_TEXT}\"}}\r").into(),
    ];
    let expected: [(Option<serde_json::Value>, Option<&str>); 12] = [
        (Some("ok-1".into()), None),
        (None, Some("invalid_json")),
        (None, Some("not_an_object")),
        (Some("x".into()), Some("missing_text")),
        (Some(7.into()), Some("text_not_string")),
        (None, Some("invalid_utf8")),
        (None, Some("empty_line")),
        (Some("e".into()), Some("empty_text")),
        (Some("c".into()), Some("field_clash")),
        (Some("d".into()), Some("duplicate_field")),
        (None, Some("line_too_long")),
        (Some("ok-2".into()), None),
    ];
    write(&file, lines.join(&b"\n"[..]));
    let o = classify_jsonl(&file)
        .args(["--max-line-bytes", "300"])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("10 of 12 lines failed (first: line 2"),
        "{}",
        stderr(&o)
    );
    let out = json_lines(&o);
    assert_eq!(out.len(), 12, "{}", stdout(&o));
    for (i, (v, (id, code))) in out.iter().zip(&expected).enumerate() {
        match code {
            None => {
                assert_eq!(v.get("id"), id.as_ref(), "line {}: {v}", i + 1);
                assert!(v["stance"]["label"].is_string(), "line {}: {v}", i + 1);
            }
            Some(code) => {
                assert_eq!(v["line"], i + 1, "{v}");
                assert_eq!(v["error"]["code"], *code, "line {}: {v}", i + 1);
                assert!(!v["error"]["message"].as_str().unwrap().is_empty());
                assert_eq!(v.get("id"), id.as_ref(), "line {}: {v}", i + 1);
                assert!(v.get("stance").is_none());
            }
        }
    }
    assert!(out[10]["error"]["message"]
        .as_str()
        .unwrap()
        .contains("--max-line-bytes 300"));

    // --strict stops at the first bad line: its error line is the last output, stderr names it.
    let o = classify_jsonl(&file).arg("--strict").output().unwrap();
    assert_eq!(o.status.code(), Some(1));
    let out = json_lines(&o);
    assert_eq!(out.len(), 2, "{}", stdout(&o));
    assert_eq!(out[1]["error"]["code"], "invalid_json");
    assert!(
        stderr(&o).contains("line 2: invalid JSON"),
        "{}",
        stderr(&o)
    );

    // Another key for the results removes the clash.
    let o = classify_jsonl(&file)
        .args(["--result-field", "result"])
        .output()
        .unwrap();
    let out = json_lines(&o);
    assert_eq!(out[8]["stance"], 1);
    assert!(out[8]["result"]["label"].is_string(), "{}", out[8]);
}

/// `--output` is written whole or not at all: a complete run renames it into place (even with
/// error lines in it), a --strict stop leaves nothing behind, and an unwritable place is an
/// error naming it.
#[test]
fn jsonl_output_file_is_never_half_written() {
    let t = tempfile::tempdir().unwrap();
    let (input, output) = (t.path().join("in.jsonl"), t.path().join("out.jsonl"));
    write(
        &input,
        format!(
            "{{\"id\": 1, \"text\": \"{OPEN_TEXT}\"}}\n{{\"id\": 2, \"text\": \"{CLOSED_TEXT}\"}}\n"
        ),
    );
    let o = classify_jsonl(&input)
        .arg("--output")
        .arg(&output)
        .arg("--keep-text")
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(o.stdout.is_empty());
    let written = fs::read_to_string(&output).unwrap();
    let lines: Vec<serde_json::Value> = written
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 2);
    assert_eq!(lines[0]["text"], OPEN_TEXT, "--keep-text copies the text");
    assert_eq!(lines[1]["stance"]["label"], "pro-closed");

    fs::remove_file(&output).unwrap();
    fs::write(
        &input,
        format!("{{\"id\": 1, \"text\": \"{OPEN_TEXT}\"}}\n{{}}\n"),
    )
    .unwrap();
    let o = classify_jsonl(&input)
        .arg("--output")
        .arg(&output)
        .arg("--strict")
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("line 2"), "{}", stderr(&o));
    assert_eq!(listing(t.path()), ["in.jsonl"], "nothing half-written");

    let o = classify_jsonl(&input)
        .arg("--output")
        .arg(t.path().join("no/such/dir/out.jsonl"))
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).contains("no/such/dir/out.jsonl"),
        "{}",
        stderr(&o)
    );

    let o = classify_jsonl(&t.path().join("missing.jsonl"))
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("missing.jsonl"), "{}", stderr(&o));

    // Flags that make no sense together are usage errors.
    for args in [
        vec!["--json"],
        vec!["--result-field", ""],
        vec!["--max-line-bytes", "0"],
        vec!["a.txt"],
    ] {
        let o = classify_jsonl(&input).args(&args).output().unwrap();
        assert_eq!(o.status.code(), Some(2), "{args:?}: {}", stderr(&o));
    }
    let o = run(&["classify", "--strict", "a.txt"]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
}

/// A line far longer than memory allows is skipped without being held: a 300 MiB line under a
/// 256 MiB data limit gets its error line, and the next line is scored.
#[test]
fn jsonl_memory_is_bounded_by_the_line_limit() {
    let mut input = b"{\"id\": \"huge\", \"text\": \"".to_vec();
    input.resize(input.len() + (300 << 20), b'a');
    input.extend_from_slice(
        format!("\"}}\n{{\"id\": \"next\", \"text\": \"{OPEN_TEXT}\"}}\n").as_bytes(),
    );
    let huge_len = input.iter().position(|&b| b == b'\n').unwrap();
    let mut cmd = classify_jsonl(Path::new("-"));
    limit_data(&mut cmd, 256 << 20);
    let o = output_with_stdin(&mut cmd, input);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    let out = json_lines(&o);
    assert_eq!(out.len(), 2, "{}", stdout(&o));
    assert_eq!(out[0]["error"]["code"], "line_too_long");
    assert!(out[0]["error"]["message"]
        .as_str()
        .unwrap()
        .contains(&format!("the line has {huge_len} bytes")));
    assert_eq!(out[1]["id"], "next");
    assert_eq!(out[1]["stance"]["label"], "pro-open");
}

/// The text output colours the explanation words by label only when asked or on a terminal:
/// never into a pipe by default, never with `--color never`.
#[test]
fn explanation_colours_only_when_asked_or_on_a_terminal() {
    let t = tempfile::tempdir().unwrap();
    let file = t.path().join("a.txt");
    write(&file, OPEN_TEXT);
    let models = root().join("models");
    let base = [
        "classify",
        "--models",
        models.to_str().unwrap(),
        "--explain",
        "3",
        file.to_str().unwrap(),
    ];
    let plain = run(&base);
    assert!(plain.status.success(), "{}", stderr(&plain));
    assert!(!stdout(&plain).contains('\x1b'), "{}", stdout(&plain));
    assert!(
        stdout(&plain).contains("toward pro-open: "),
        "{}",
        stdout(&plain)
    );
    let never = run(&[&base[..], &["--color", "never"]].concat());
    assert_eq!(stdout(&never), stdout(&plain));
    let always = run(&[&base[..], &["--color", "always"]].concat());
    let coloured = stdout(&always);
    // pro-open is green (32), pro-closed red (31), bold.
    assert!(
        coloured.contains("toward \x1b[1m\x1b[32mpro-open\x1b[0m: \x1b[1m\x1b[32m"),
        "{coloured:?}"
    );
    assert!(
        coloured.contains("toward \x1b[1m\x1b[31mpro-closed"),
        "{coloured:?}"
    );
    let stripped = coloured
        .replace("\x1b[1m", "")
        .replace("\x1b[32m", "")
        .replace("\x1b[31m", "")
        .replace("\x1b[34m", "")
        .replace("\x1b[0m", "");
    assert_eq!(stripped, stdout(&plain), "colour changes nothing else");
}

/// A reader that goes away (`stance leakage | head -0`) ends the run quietly: no panic, exit 0.
#[test]
fn a_closed_stdout_is_not_a_panic() {
    let t = tempfile::tempdir().unwrap();
    let data = t.path().join("data");
    common::small_corpus(&data);
    let evaluate = [
        "evaluate",
        "--folds",
        "3",
        "--offtopic",
        "none",
        "--calibration-folds",
        "3",
    ];
    for sub in [&["leakage", "--top", "5"][..], &evaluate[..]] {
        let mut child = common::stance()
            .args(sub)
            .arg("--data")
            .arg(&data)
            .args(["--min-count", "1"])
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        // Closed before the command has trained anything, so its first write fails.
        drop(child.stdout.take());
        let o = child.wait_with_output().unwrap();
        let err = stderr(&o);
        assert!(!err.contains("panicked"), "{sub:?}: {err}");
        assert!(o.status.success(), "{sub:?}: {:?} {err}", o.status);
    }
}

#[test]
fn one_bad_input_file_is_reported_and_the_others_are_still_scored() {
    let t = tempfile::tempdir().unwrap();
    let (a, b) = (t.path().join("a.txt"), t.path().join("b.txt"));
    write(&a, OPEN_TEXT);
    write(&b, CLOSED_TEXT);
    let missing = t.path().join("missing.txt");
    let models = root().join("models");
    let o = run(&[
        "classify",
        "--json",
        "--models",
        models.to_str().unwrap(),
        a.to_str().unwrap(),
        missing.to_str().unwrap(),
        b.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    let files: Vec<String> = json_lines(&o)
        .iter()
        .map(|v| v["file"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(
        files,
        [a.to_str().unwrap(), b.to_str().unwrap()],
        "{}",
        stdout(&o)
    );
    let err = stderr(&o);
    assert!(
        err.contains("missing.txt") && err.contains("1 of 3 inputs"),
        "{err}"
    );
}

#[test]
fn jsonl_output_onto_its_own_input_is_refused_and_the_input_kept() {
    let t = tempfile::tempdir().unwrap();
    let input = t.path().join("in.jsonl");
    let body = format!("{}\n", serde_json::json!({"id": 1, "text": OPEN_TEXT}));
    write(&input, &body);
    let link = t.path().join("link.jsonl");
    std::os::unix::fs::symlink(&input, &link).unwrap();
    for out in [&input, &link] {
        let o = classify_jsonl(&input)
            .arg("--output")
            .arg(out)
            .output()
            .unwrap();
        assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
        assert!(
            stderr(&o).contains("is the --jsonl input"),
            "{}",
            stderr(&o)
        );
        assert_eq!(fs::read_to_string(&input).unwrap(), body);
    }
    // Another file is fine.
    let other = t.path().join("out.jsonl");
    let o = classify_jsonl(&input)
        .arg("--output")
        .arg(&other)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(fs::read_to_string(&other).unwrap().contains("\"stance\""));
}

#[test]
fn a_byte_order_mark_does_not_change_a_score() {
    let plain = json_result(OPEN_TEXT, &[]);
    let marked = json_result(&format!("\u{feff}{OPEN_TEXT}"), &[]);
    assert_eq!(plain, marked);
    let t = tempfile::tempdir().unwrap();
    let input = t.path().join("in.jsonl");
    let line = serde_json::json!({"id": 1, "text": OPEN_TEXT}).to_string();
    write(&input, format!("\u{feff}{line}\n{line}\n"));
    let o = classify_jsonl(&input).output().unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    let lines = json_lines(&o);
    assert_eq!(lines.len(), 2);
    assert_eq!(lines[0]["stance"], lines[1]["stance"]);
}

#[test]
fn fold_and_group_errors_name_the_flag_the_user_can_change() {
    let t = tempfile::tempdir().unwrap();
    let data = t.path().join("data");
    small_corpus(&data);
    let models = t.path().join("models");
    // Labels of 6 documents cannot be split into 7 folds (the calibration is on by default).
    let (d, m) = (data.to_str().unwrap(), models.to_str().unwrap());
    let o = run(&[
        "train",
        "--data",
        d,
        "--models",
        m,
        "--offtopic",
        "none",
        "--min-count",
        "1",
        "--min-df",
        "1",
        "--calibration-folds",
        "7",
    ]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(stderr(&o).contains("--calibration-folds"), "{}", stderr(&o));
    let o = train_command(&data, &models)
        .args(["--cv-folds", "7"])
        .output()
        .unwrap();
    assert!(stderr(&o).contains("--cv-folds"), "{}", stderr(&o));
    let o = run(&[
        "train",
        "--data",
        d,
        "--models",
        m,
        "--offtopic",
        "none",
        "--min-count",
        "100000",
    ]);
    assert!(
        stderr(&o).contains("--min-count") && stderr(&o).contains("--min-df"),
        "{}",
        stderr(&o)
    );
    // A tiny corpus trains, with a warning about its confidences.
    let o = train(&data, &models, &[]);
    assert!(stderr(&o).contains("too few"), "{}", stderr(&o));

    // A --group-by field the manifest does not have is an error, never a silent fallback to
    // ungrouped folds; the default field may be missing (stratified folds, with a warning).
    let corpus = root().join("training-data");
    let corpus = corpus.to_str().unwrap();
    let o = run(&[
        "evaluate",
        "--data",
        corpus,
        "--offtopic",
        "none",
        "--folds",
        "2",
        "--group-by",
        "writr",
    ]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("--group-by") && stderr(&o).contains("writr"),
        "{}",
        stderr(&o)
    );
    let o = run(&[
        "evaluate",
        "--data",
        d,
        "--offtopic",
        "none",
        "--folds",
        "2",
        "--min-count",
        "1",
        "--min-df",
        "1",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    // The library's warnings read like the command's own.
    assert!(
        stderr(&o).contains("stance: warning: stratified"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn evaluate_checks_its_output_paths_before_training() {
    let d = root().join("training-data");
    let d = d.to_str().unwrap();
    let o = run(&["evaluate", "--data", d, "--plot", "report.png"]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(stderr(&o).contains(".svg"), "{}", stderr(&o));
    let o = run(&["evaluate", "--data", d, "--plot", "/nonexistent-dir/r.svg"]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(stderr(&o).contains("/nonexistent-dir"), "{}", stderr(&o));
    let o = run(&[
        "evaluate",
        "--data",
        d,
        "--test",
        d,
        "--predictions",
        "/nonexistent-dir/p.jsonl",
    ]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(stderr(&o).contains("--predictions"), "{}", stderr(&o));
    // An existing folder is found before training too (it was found only when writing).
    let t = tempfile::tempdir().unwrap();
    let folder = t.path().join("out.svg");
    fs::create_dir(&folder).unwrap();
    let folder = folder.to_str().unwrap();
    for flag in ["--predictions", "--plot"] {
        let o = run(&["evaluate", "--data", d, "--test", d, flag, folder]);
        assert_eq!(o.status.code(), Some(2), "{flag}: {}", stderr(&o));
        assert!(
            stderr(&o).contains(flag) && stderr(&o).contains("a folder, not a regular file"),
            "{flag}: {}",
            stderr(&o)
        );
    }
}

/// Review findings: `--relevance-threshold -1` said "unexpected argument '-1'" instead of the
/// flag's range; a bad value set only through an environment variable was reported as the flag,
/// leaving an operator who never typed the flag to guess; and `--bind notanaddr` exited 1 (a
/// runtime failure) although the address is malformed, a usage error.
#[test]
fn bad_numbers_addresses_and_environment_values_are_named_usage_errors() {
    let models = root().join("models");
    let models = models.to_str().unwrap();
    let check = |args: &[&str], envs: &[(&str, &str)], wanted: &[&str], unwanted: &[&str]| {
        let o = stance()
            .args(args)
            .env_remove("STANCE_RELEVANCE_THRESHOLD")
            .env_remove("STANCE_ALPHA")
            .env_remove("STANCE_RELEVANCE_ALPHA")
            .env_remove("STANCE_BIND")
            .envs(envs.iter().copied())
            .output()
            .unwrap();
        let err = stderr(&o);
        assert_eq!(o.status.code(), Some(2), "{args:?} {envs:?}: {err}");
        for w in wanted {
            assert!(err.contains(w), "{args:?} {envs:?}: no {w:?} in {err}");
        }
        for u in unwanted {
            assert!(!err.contains(u), "{args:?} {envs:?}: {u:?} in {err}");
        }
    };
    let range = "--relevance-threshold must be between 0 and 1, got -1";
    check(
        &["serve", "--models", models, "--relevance-threshold", "-1"],
        &[],
        &[range],
        &["unexpected argument", "environment variable"],
    );
    check(
        &[
            "classify",
            "--models",
            models,
            "--relevance-threshold",
            "-1",
            "-",
        ],
        &[],
        &[range],
        &["unexpected argument"],
    );
    check(
        &["serve", "--models", models],
        &[("STANCE_RELEVANCE_THRESHOLD", "-1")],
        &[
            range,
            "environment variable STANCE_RELEVANCE_THRESHOLD=\"-1\"",
        ],
        &[],
    );
    check(
        &["serve", "--models", models],
        &[("STANCE_RELEVANCE_THRESHOLD", "abc")],
        &[
            "'abc'",
            "environment variable STANCE_RELEVANCE_THRESHOLD=\"abc\"",
        ],
        &[],
    );
    // Given on the command line, the flag wins and the variable is not blamed.
    check(
        &["serve", "--models", models, "--relevance-threshold", "2"],
        &[("STANCE_RELEVANCE_THRESHOLD", "-1")],
        &["got 2"],
        &["environment variable"],
    );
    // Both heads' smoothing, by flag and by environment variable; each names itself, not the
    // other head's flag.
    for (flag, env, bad_flag, bad_env, other) in [
        ("--alpha", "STANCE_ALPHA", "-1", "-1", "--relevance-alpha"),
        (
            "--relevance-alpha",
            "STANCE_RELEVANCE_ALPHA",
            "0",
            "inf",
            "--alpha",
        ),
    ] {
        let named = format!("parameter {flag}");
        let not_other = format!("parameter {other}");
        check(
            &[
                "train",
                "--models",
                "/nonexistent/stance-models",
                flag,
                bad_flag,
            ],
            &[],
            &[&named, &format!("got {bad_flag}")],
            &["unexpected argument", "environment variable", &not_other],
        );
        check(
            &["train", "--models", "/nonexistent/stance-models"],
            &[(env, bad_env)],
            &[&named, &format!("environment variable {env}=\"{bad_env}\"")],
            &[&not_other],
        );
    }
    for (bind, why) in [
        ("notanaddr", "HOST:PORT"),
        (":8080", "no host"),
        ("localhost:http", "port"),
    ] {
        check(
            &["serve", "--models", models, "--bind", bind],
            &[],
            &["--bind", why],
            &["environment variable"],
        );
    }
    check(
        &["serve", "--models", models],
        &[("STANCE_BIND", "notanaddr")],
        &["--bind", "environment variable STANCE_BIND=\"notanaddr\""],
        &[],
    );
}

/// A tiny JSONL stance corpus (three labels, four texts each) for runs that must get past
/// reading their inputs quickly.
fn small_jsonl_corpus(path: &Path) {
    let mut lines = String::new();
    for (label, text) in [
        ("pro-open", "open weights audit fork"),
        ("pro-open", "fork the open weights locally"),
        ("pro-open", "audit open weights and fine tune them"),
        ("pro-open", "publish weights so research reproduces"),
        ("pro-closed", "closed api monitor misuse"),
        ("pro-closed", "monitor misuse with a closed api"),
        ("pro-closed", "revoke access through the hosted api"),
        ("pro-closed", "released weights cannot be recalled"),
        ("neutral", "the survey reported market figures"),
        ("neutral", "analysts counted model families"),
        ("neutral", "the panel defined terms of the debate"),
        ("neutral", "quarterly numbers for both kinds"),
    ] {
        lines.push_str(&serde_json::json!({"text": text, "label": label}).to_string());
        lines.push('\n');
    }
    write(path, lines);
}

/// Waits for a child at most `secs` seconds; kills it and fails the test if it is still running
/// (the defect being tested is a hang).
fn wait_or_kill(mut child: std::process::Child, secs: u64) -> std::process::Output {
    let start = std::time::Instant::now();
    while child.try_wait().unwrap().is_none() {
        if start.elapsed().as_secs() > secs {
            child.kill().unwrap();
            let _ = child.wait();
            panic!("still running after {secs} s");
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    child.wait_with_output().unwrap()
}

/// Review finding: `evaluate --predictions` (and `--plot`) replaced the run's own `--test` or
/// `--data` file without a word, however the path was spelled; a folder there was only found
/// after training.
#[test]
fn evaluate_refuses_to_write_over_its_own_inputs() {
    let t = tempfile::tempdir().unwrap();
    let w = t.path().join("w");
    let (data, test) = (w.join("c.jsonl"), w.join("v.jsonl"));
    small_jsonl_corpus(&data);
    small_jsonl_corpus(&test);
    let body = fs::read_to_string(&test).unwrap();
    let (plot_test, plot_data) = (w.join("test.svg"), w.join("data.svg"));
    std::os::unix::fs::symlink(&test, &plot_test).unwrap();
    fs::hard_link(&data, &plot_data).unwrap();
    let spelled = w.join("../w/v.jsonl");
    let evaluate = |extra: &[&Path]| {
        stance()
            .arg("evaluate")
            .arg("--data")
            .arg(&data)
            .arg("--test")
            .arg(&test)
            .args(["--offtopic", "none", "--calibration-data", "none"])
            .args(["--calibration", "none", "--min-count", "1", "--min-df", "1"])
            .args(["--bootstrap", "0"])
            .args(extra)
            .output()
            .unwrap()
    };
    let p = Path::new("--predictions");
    let plot = Path::new("--plot");
    for (args, flags) in [
        ([p, spelled.as_path()], ["--predictions", "--test"]),
        ([p, data.as_path()], ["--predictions", "--data"]),
        ([plot, plot_test.as_path()], ["--plot", "--test"]),
        ([plot, plot_data.as_path()], ["--plot", "--data"]),
    ] {
        let o = evaluate(&args);
        assert_eq!(o.status.code(), Some(2), "{args:?}: {}", stderr(&o));
        for f in flags {
            assert!(stderr(&o).contains(f), "{args:?}: no {f} in {}", stderr(&o));
        }
        assert!(stderr(&o).contains("itself"), "{}", stderr(&o));
        assert_eq!(fs::read_to_string(&test).unwrap(), body);
        assert_eq!(fs::read_to_string(&data).unwrap(), body);
    }
    assert!(fs::symlink_metadata(&plot_test)
        .unwrap()
        .file_type()
        .is_symlink());
    // The two outputs may not be one file either.
    let both = w.join("out.svg");
    let o = evaluate(&[p, &both, plot, &both]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(stderr(&o).contains("same file"), "{}", stderr(&o));
    // Other files are fine.
    let o = evaluate(&[p, &w.join("p.jsonl"), plot, &w.join("p.svg")]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(
        fs::read_to_string(w.join("p.jsonl"))
            .unwrap()
            .lines()
            .count(),
        12
    );
}

/// Review finding: `classify --jsonl X --output FIFO` hung forever (the same-file check opened
/// the FIFO for reading); an output symlink was replaced by a file with its target untouched;
/// `--output /dev/stdout` replaced the link with a regular file.
#[test]
fn jsonl_output_through_links_and_onto_special_files() {
    let t = tempfile::tempdir().unwrap();
    let input = t.path().join("in.jsonl");
    write(
        &input,
        format!("{}\n", serde_json::json!({"id": 1, "text": OPEN_TEXT})),
    );
    // A FIFO is refused at once, never waited on.
    let fifo = t.path().join("fifo");
    rustix::fs::mkfifoat(
        rustix::fs::CWD,
        &fifo,
        rustix::fs::Mode::from_raw_mode(0o600),
    )
    .unwrap();
    let child = classify_jsonl(&input)
        .arg("--output")
        .arg(&fifo)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let o = wait_or_kill(child, 60);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("FIFO") && stderr(&o).contains("not a regular file"),
        "{}",
        stderr(&o)
    );
    assert!(stderr(&o).contains("leave out --output"), "{}", stderr(&o));
    // A link to standard output (what /dev/stdout is; a pipe here) is refused, the link kept.
    let to_stdout = t.path().join("stdout");
    std::os::unix::fs::symlink("/proc/self/fd/1", &to_stdout).unwrap();
    let o = classify_jsonl(&input)
        .arg("--output")
        .arg(&to_stdout)
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(stderr(&o).contains("leave out --output"), "{}", stderr(&o));
    assert!(fs::symlink_metadata(&to_stdout)
        .unwrap()
        .file_type()
        .is_symlink());
    // A folder is refused too.
    let o = classify_jsonl(&input)
        .arg("--output")
        .arg(t.path())
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(stderr(&o).contains("a folder"), "{}", stderr(&o));
    // A symlink to a file: the file gets the results, the link stays a link.
    let (real, link) = (t.path().join("real.jsonl"), t.path().join("link.jsonl"));
    write(&real, "old\n");
    std::os::unix::fs::symlink("real.jsonl", &link).unwrap();
    let dangling = t.path().join("dangling.jsonl");
    let later = t.path().join("later.jsonl");
    std::os::unix::fs::symlink(&later, &dangling).unwrap();
    for (out, file) in [(&link, &real), (&dangling, &later)] {
        let o = classify_jsonl(&input)
            .arg("--output")
            .arg(out)
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", stderr(&o));
        assert!(fs::symlink_metadata(out).unwrap().file_type().is_symlink());
        assert!(fs::read_to_string(file).unwrap().contains("\"stance\""));
    }
}

/// Review finding: `healthcheck --bind notanaddr` exited 1 naming no flag (the README says a
/// malformed address is exit 2), and `--timeout 0` was silently taken as 1.
#[test]
fn healthcheck_checks_its_addresses_and_timeout_as_usage_errors() {
    let check = |args: &[&str], envs: &[(&str, &str)], wanted: &[&str]| {
        let o = stance()
            .arg("healthcheck")
            .args(args)
            .env_remove("STANCE_BIND")
            .env_remove("STANCE_PROBE_BIND")
            .envs(envs.iter().copied())
            .output()
            .unwrap();
        let err = stderr(&o);
        assert_eq!(o.status.code(), Some(2), "{args:?} {envs:?}: {err}");
        for w in wanted {
            assert!(err.contains(w), "{args:?} {envs:?}: no {w:?} in {err}");
        }
    };
    check(&["--bind", "notanaddr"], &[], &["--bind", "HOST:PORT"]);
    check(
        &["--probe-bind", ":9090"],
        &[],
        &["--probe-bind", "no host"],
    );
    check(
        &[],
        &[("STANCE_BIND", "notanaddr")],
        &["--bind", "environment variable STANCE_BIND=\"notanaddr\""],
    );
    check(
        &[],
        &[("STANCE_PROBE_BIND", "localhost:http")],
        &["--probe-bind", "environment variable STANCE_PROBE_BIND"],
    );
    check(&["--timeout", "0"], &[], &["--timeout", "0"]);
}

/// Review finding: a parameter error the library raised with the flag already spelled `--x`
/// lost its `stance: note:` line (the note looked for `----x`), and too few `--group-by`
/// groups for the calibration folds was blamed on `--calibration-folds`.
#[test]
fn parameter_errors_name_the_flag_and_the_variable_behind_it() {
    let t = tempfile::tempdir().unwrap();
    let data = t.path().join("data");
    small_corpus(&data);
    let models = t.path().join("models");
    let check = |extra: &[&str], envs: &[(&str, &str)], wanted: &[&str], unwanted: &[&str]| {
        let o = stance()
            .arg("train")
            .arg("--data")
            .arg(&data)
            .arg("--models")
            .arg(&models)
            .args(["--offtopic", "none", "--calibration-data", "none"])
            .args(["--min-count", "1", "--min-df", "1"])
            .args(extra)
            .envs(envs.iter().copied())
            .output()
            .unwrap();
        let err = stderr(&o);
        assert_eq!(o.status.code(), Some(2), "{extra:?} {envs:?}: {err}");
        for w in wanted {
            assert!(err.contains(w), "{extra:?} {envs:?}: no {w:?} in {err}");
        }
        for u in unwanted {
            assert!(!err.contains(u), "{extra:?} {envs:?}: {u:?} in {err}");
        }
    };
    check(
        &[],
        &[("STANCE_CV_FOLDS", "1")],
        &[
            "invalid parameter --cv-folds",
            "environment variable STANCE_CV_FOLDS=\"1\"",
        ],
        &[],
    );
    check(
        &[],
        &[("STANCE_CALIBRATION_FOLDS", "1000")],
        &[
            "invalid parameter --calibration-folds",
            "environment variable STANCE_CALIBRATION_FOLDS=\"1000\"",
        ],
        &[],
    );
    check(
        &[],
        &[("STANCE_GROUP_BY", "nosuch")],
        &[
            "invalid parameter --group-by",
            "environment variable STANCE_GROUP_BY=\"nosuch\"",
        ],
        &[],
    );
    check(
        &[],
        &[("STANCE_CHUNK_DOCS", "0")],
        &[
            "invalid parameter --chunk-docs",
            "environment variable STANCE_CHUNK_DOCS=\"0\"",
        ],
        &[],
    );
    check(
        &["--max-vocab", "1"],
        &[],
        &["invalid parameter --max-vocab"],
        &["environment variable"],
    );
    // One batch is one group: too few groups for the folds is --group-by's doing.
    let mut manifest = String::new();
    for label in ["neutral", "pro-closed", "pro-open"] {
        for i in 0..6 {
            let file = format!("{label}/doc-{i}.txt");
            let line = serde_json::json!({"file": file, "label": label, "batch": "b1"});
            manifest.push_str(&format!("{line}\n"));
        }
    }
    write(&data.join("manifest.jsonl"), manifest);
    check(
        &[],
        &[("STANCE_GROUP_BY", "batch")],
        &[
            "invalid parameter --group-by",
            "1 group",
            "environment variable STANCE_GROUP_BY=\"batch\"",
        ],
        &["parameter --calibration-folds"],
    );
}

/// Review finding: the stance corpus itself (or an off-topic corpus sharing a text with it) was
/// accepted as `--offtopic`, leaving every text at relevance 0.5; so was an off-topic corpus
/// whose one label folder was not `off-topic/`, or that had several labels.
#[test]
fn the_offtopic_corpus_is_kept_apart_and_has_one_off_topic_label() {
    let t = tempfile::tempdir().unwrap();
    let data = t.path().join("data");
    small_corpus(&data);
    let models = t.path().join("models");
    let off = |name: &str, files: &[(&str, &str)]| {
        let dir = t.path().join(name);
        for (file, text) in files {
            write(&dir.join(file), text);
        }
        dir
    };
    let far = [
        "Knead the dough for ten minutes and let it rise overnight in a cool place.",
        "The match ended in a draw after the keeper saved a late penalty kick.",
        "Water tomatoes at the roots in the morning, never the leaves at night.",
    ];
    let ok: Vec<(String, &str)> = far
        .iter()
        .enumerate()
        .map(|(i, text)| (format!("off-topic/{i}.txt"), *text))
        .collect();
    let ok: Vec<(&str, &str)> = ok.iter().map(|(f, x)| (f.as_str(), *x)).collect();
    let good = off("good", &ok);
    // doc-2.txt of pro-open, with other case, spacing and line endings.
    let mut sharing = ok.clone();
    sharing.push((
        "off-topic/copy.txt",
        "title 2\r\n\r\nA community that can fork and fine tune open weights   moves faster than \
         any single lab.\r\n",
    ));
    let sharing = off("sharing", &sharing);
    let renamed = off(
        "renamed",
        &ok.iter()
            .map(|(f, x)| (f.replacen("off-topic", "misc", 1), *x))
            .collect::<Vec<_>>()
            .iter()
            .map(|(f, x)| (f.as_str(), *x))
            .collect::<Vec<_>>(),
    );
    let mut two = ok.clone();
    two.push((
        "cooking/x.txt",
        "Salt the pasta water well before it boils.",
    ));
    let two = off("two", &two);
    let jsonl = t.path().join("off.jsonl");
    write(
        &jsonl,
        format!(
            "{}\n",
            serde_json::json!({"text": far[0], "label": "other"})
        ),
    );
    let train = |offtopic: &Path| {
        stance()
            .arg("train")
            .arg("--data")
            .arg(&data)
            .arg("--models")
            .arg(&models)
            .arg("--offtopic")
            .arg(offtopic)
            .args(["--calibration", "none", "--calibration-data", "none"])
            .args(["--min-count", "1", "--min-df", "1"])
            .output()
            .unwrap()
    };
    for (offtopic, wanted) in [
        (data.as_path(), &["off-topic", "neutral"][..]),
        (sharing.as_path(), &["copy.txt", "doc-2.txt", "also"][..]),
        (renamed.as_path(), &["\"misc\"", "off-topic"][..]),
        (two.as_path(), &["cooking", "exactly one label"][..]),
        (jsonl.as_path(), &["\"other\"", "off-topic"][..]),
    ] {
        let o = train(offtopic);
        assert_eq!(o.status.code(), Some(1), "{offtopic:?}: {}", stderr(&o));
        for w in wanted {
            assert!(
                stderr(&o).contains(w),
                "{offtopic:?}: no {w:?} in {}",
                stderr(&o)
            );
        }
        assert!(!models.join("CURRENT").exists());
    }
    // evaluate reads --offtopic through the same check.
    let o = stance()
        .arg("evaluate")
        .arg("--data")
        .arg(&data)
        .arg("--offtopic")
        .arg(&data)
        .args(["--folds", "2", "--calibration", "none", "--min-count", "1"])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert!(stderr(&o).contains("off-topic"), "{}", stderr(&o));
    let o = train(&good);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        stdout(&o).contains("relevance   trained on 3"),
        "{}",
        stdout(&o)
    );
}

/// Review finding (low severity): `--models` naming a regular file said "File exists (os error
/// 17)" instead of saying it is not a folder.
#[test]
fn models_naming_a_file_is_not_a_folder() {
    let t = tempfile::tempdir().unwrap();
    let data = t.path().join("data");
    small_corpus(&data);
    let file = t.path().join("models-file");
    write(&file, "x");
    let o = train_command(&data, &file).output().unwrap();
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert!(stderr(&o).contains("not a folder"), "{}", stderr(&o));
    assert!(!stderr(&o).contains("os error 17"), "{}", stderr(&o));
}

/// Review finding (low severity): a crash between writing CURRENT's temp file and its rename
/// left `.stance-*.tmp` in the models folder for good.
#[test]
fn train_removes_stale_temp_files_from_the_models_folder() {
    let t = tempfile::tempdir().unwrap();
    let data = t.path().join("data");
    small_corpus(&data);
    let models = t.path().join("models");
    train(&data, &models, &[]);
    // A crash's leftover is old; a temp file just written may be another stance output's live
    // one (classify --jsonl --output takes no lock) and stays.
    let (stale, live) = (
        models.join(".stance-AbC123.tmp"),
        models.join(".stance-Live.tmp"),
    );
    write(&stale, "2026");
    write(&live, "2026");
    let day_ago = std::time::SystemTime::now() - std::time::Duration::from_secs(86_400);
    fs::File::options()
        .write(true)
        .open(&stale)
        .unwrap()
        .set_modified(day_ago)
        .unwrap();
    let keep = models.join("notes.tmp");
    write(&keep, "mine");
    train(&data, &models, &[]);
    assert!(!stale.exists(), "a crashed run's temp file is removed");
    assert!(live.exists(), "a fresh temp file may be in use");
    assert!(keep.exists(), "only stance's own temp files are removed");
}

/// Review finding (low severity): `--alpha 1e305` failed in the fit ("class neutral has
/// log-probability -inf") without naming --alpha.
#[test]
fn a_huge_alpha_is_refused_naming_the_flag() {
    let t = tempfile::tempdir().unwrap();
    let data = t.path().join("data");
    small_corpus(&data);
    let o = train_command(&data, &t.path().join("models"))
        .args(["--alpha", "1e305"])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(stderr(&o).contains("--alpha"), "{}", stderr(&o));
}

/// Review finding (low severity): `classify --jsonl --result-field text` failed every line with
/// field_clash instead of being refused up front.
#[test]
fn result_field_text_is_a_usage_error() {
    let t = tempfile::tempdir().unwrap();
    let input = t.path().join("in.jsonl");
    write(
        &input,
        format!("{}\n", serde_json::json!({"id": 1, "text": OPEN_TEXT})),
    );
    let o = classify_jsonl(&input)
        .args(["--result-field", "text"])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(stderr(&o).contains("--result-field"), "{}", stderr(&o));
    assert!(o.stdout.is_empty());
}

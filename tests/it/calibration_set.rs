//! `stance train --calibration-data`: the final temperature fitted on pieces kept out of
//! training, on small corpora in temp folders, through the real binary.

use crate::common::*;

use std::fs;
use std::path::Path;

use stance::artifact;

/// Pieces of the small corpus's three labels that the model never trains on, some of them
/// scored wrong on purpose (each carries the other side's words), so that the model's
/// confidence is too high for them and the fitted temperature must soften it.
fn calibration_set(dir: &Path) {
    let pieces = [
        (
            "pro-open",
            "Audit and fork the open weights on local hardware.",
        ),
        (
            "pro-open",
            "Researchers reproduce results when weights are published.",
        ),
        (
            "pro-open",
            "The lab can monitor misuse through its API, critics reply.",
        ),
        (
            "pro-closed",
            "A hosted API lets the provider revoke access after misuse.",
        ),
        (
            "pro-closed",
            "Staged access and monitoring keep capabilities contained.",
        ),
        (
            "pro-closed",
            "Open weights can be audited and forked by anyone, they admit.",
        ),
        (
            "neutral",
            "The survey reported figures for both kinds of model.",
        ),
        (
            "neutral",
            "Analysts listed market share numbers for the quarter.",
        ),
        (
            "neutral",
            "Open weights run locally; an API can monitor misuse.",
        ),
    ];
    for (i, (label, text)) in pieces.iter().enumerate() {
        write(
            &dir.join(label).join(format!("held-{i}.txt")),
            format!("Held out {i}\n\n{text}\n"),
        );
    }
}

/// `stance train` on a tiny corpus with a plain temperature map fitted on three folds (the
/// common `train_command` turns calibration off).
fn calibrated_command(data: &Path, models: &Path) -> std::process::Command {
    let mut c = stance();
    c.arg("train")
        .arg("--data")
        .arg(data)
        .arg("--models")
        .arg(models);
    c.args(["--min-count", "1", "--min-df", "1", "--offtopic", "none"]);
    c.args(["--calibration", "temperature", "--calibration-folds", "3"]);
    c
}

fn calibrated(data: &Path, models: &Path, set: &str) -> std::process::Output {
    calibrated_command(data, models)
        .args(["--calibration-data", set])
        .output()
        .unwrap()
}

/// `stance evaluate --test` on the tiny corpus with the settings of [`calibrated_command`].
fn evaluate(data: &Path, set: &str, test: &Path, extra: &[&str]) -> std::process::Output {
    let mut c = stance();
    c.arg("evaluate").arg("--data").arg(data);
    c.args(["--min-count", "1", "--offtopic", "none"]);
    c.args(["--calibration", "temperature", "--calibration-folds", "3"]);
    c.args(["--bootstrap", "0", "--calibration-data", set]);
    c.arg("--test").arg(test).args(extra).output().unwrap()
}

fn calibration_of(models: &Path) -> serde_json::Value {
    let v = artifact::current_version(models).unwrap();
    let model: serde_json::Value =
        serde_json::from_str(&fs::read_to_string(models.join(v).join("model.json")).unwrap())
            .unwrap();
    model["calibration"].clone()
}

#[test]
fn the_calibration_set_folds_its_temperature_into_the_map_and_meta_records_it() {
    let t = tempfile::tempdir().unwrap();
    let (data, set) = (t.path().join("data"), t.path().join("held"));
    small_corpus(&data);
    calibration_set(&set);
    let (with, without) = (t.path().join("with"), t.path().join("without"));
    let o = calibrated(&data, &with, set.to_str().unwrap());
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        stdout(&o).contains("final temperature")
            && stdout(&o).contains("from 9 pieces of the calibration set"),
        "{}",
        stdout(&o)
    );
    let o = calibrated(&data, &without, "none");
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(!stdout(&o).contains("final temperature"), "{}", stdout(&o));

    let meta = artifact::load_current(&with).unwrap().meta;
    let fit = meta
        .calibration_data
        .expect("meta.json records the calibration set");
    assert_eq!(fit.documents, 9);
    assert!(fit.temperature < 1.0, "{fit:?}");
    assert!(fit.log_loss_after < fit.log_loss_before, "{fit:?}");
    assert!(artifact::load_current(&without)
        .unwrap()
        .meta
        .calibration_data
        .is_none());

    // Everything else is the same fit: the map differs by exactly ln(temperature).
    let (a, b) = (calibration_of(&with), calibration_of(&without));
    let gap = a["log_scale"].as_f64().unwrap() - b["log_scale"].as_f64().unwrap();
    assert!((gap - fit.temperature.ln()).abs() < 1e-12, "{a} vs {b}");
    assert_eq!(a["method"], b["method"]);

    // Served scores are the softened ones: less confident than the map without the set.
    let doc = t.path().join("doc.txt");
    fs::write(
        &doc,
        "Audit and fork the open weights and fine tune them locally.",
    )
    .unwrap();
    let confidence = |models: &Path| {
        let o = run(&[
            "classify",
            "--models",
            models.to_str().unwrap(),
            "--json",
            doc.to_str().unwrap(),
        ]);
        assert!(o.status.success(), "{}", stderr(&o));
        let v: serde_json::Value = serde_json::from_str(stdout(&o).trim()).unwrap();
        v["confidence"].as_f64().unwrap()
    };
    assert!(confidence(&with) < confidence(&without));

    // evaluate --test applies the same temperature and says so.
    let test = t.path().join("test.jsonl");
    fs::write(
        &test,
        "{\"text\": \"Fork the open weights and audit them.\", \"label\": \"pro-open\"}\n\
         {\"text\": \"A hosted API lets the lab revoke access.\", \"label\": \"pro-closed\"}\n",
    )
    .unwrap();
    let o = evaluate(&data, set.to_str().unwrap(), &test, &["--json"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let v: serde_json::Value = serde_json::from_str(stdout(&o).trim()).unwrap();
    let applied = v["test"]["calibration_data"]["temperature"]
        .as_f64()
        .unwrap();
    assert!((applied - fit.temperature).abs() < 1e-12, "{v}");
}

#[test]
fn a_calibration_piece_that_is_also_a_training_piece_is_refused() {
    let t = tempfile::tempdir().unwrap();
    let (data, set) = (t.path().join("data"), t.path().join("held"));
    small_corpus(&data);
    calibration_set(&set);
    // A copy with Windows line endings and other spacing is still a copy.
    let original = fs::read_to_string(data.join("pro-open/doc-2.txt")).unwrap();
    let copied = original.replace('\n', "\r\n").replace(' ', "  ");
    write(&set.join("pro-open/copied.txt"), copied);
    let models = t.path().join("models");
    let o = calibrated(&data, &models, set.to_str().unwrap());
    assert!(!o.status.success());
    let err = stderr(&o);
    assert!(
        err.contains("copied.txt")
            && err.contains("kept out of training")
            && err.contains("doc-2")
            && err.contains("--calibration-data none"),
        "{err}"
    );
    assert!(!models.join("CURRENT").exists(), "nothing was published");
}

#[test]
fn a_named_calibration_set_with_a_foreign_label_is_a_usage_error() {
    let t = tempfile::tempdir().unwrap();
    let (data, set) = (t.path().join("data"), t.path().join("held"));
    small_corpus(&data);
    calibration_set(&set);
    write(
        &set.join("sports/match.txt"),
        "Match\n\nThe striker scored twice.\n",
    );
    let o = calibrated(&data, &t.path().join("models"), set.to_str().unwrap());
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    let err = stderr(&o);
    assert!(
        err.contains("\"sports\"") && err.contains("--calibration-data none"),
        "{err}"
    );
    // A missing named set is an error too, not a silent skip.
    let o = calibrated(&data, &t.path().join("m2"), "/nonexistent/held");
    assert!(!o.status.success());
    assert!(
        stderr(&o).contains("cannot use calibration set /nonexistent/held"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn the_default_set_is_skipped_with_a_warning_when_missing_or_of_other_labels() {
    let t = tempfile::tempdir().unwrap();
    let data = t.path().join("data");
    small_corpus(&data);
    // Run from a folder without calibration-data/: trains, and says what it did without.
    let o = calibrated_command(&data, &t.path().join("m1"))
        .env_remove("STANCE_CALIBRATION_DATA")
        .current_dir(t.path())
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("stance: warning: no calibration set at calibration-data"),
        "{}",
        stderr(&o)
    );
    // A default folder whose labels the corpus lacks is left out, with the reason.
    write(
        &t.path().join("calibration-data/sports/match.txt"),
        "Match\n\nThe striker scored twice.\n",
    );
    let o = calibrated_command(&data, &t.path().join("m2"))
        .env_remove("STANCE_CALIBRATION_DATA")
        .current_dir(t.path())
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("has label \"sports\"") && stderr(&o).contains("training without it"),
        "{}",
        stderr(&o)
    );
    assert!(artifact::load_current(&t.path().join("m2"))
        .unwrap()
        .meta
        .calibration_data
        .is_none());
    // The default folder spelled another way is still the default one.
    let o = calibrated_command(&data, &t.path().join("m3"))
        .args(["--calibration-data", "./calibration-data/"])
        .current_dir(t.path())
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stderr(&o).contains("training without it"), "{}", stderr(&o));
}

#[test]
fn evaluating_on_the_calibration_set_itself_is_refused_unless_it_is_turned_off() {
    let t = tempfile::tempdir().unwrap();
    let (data, set) = (t.path().join("data"), t.path().join("held"));
    small_corpus(&data);
    calibration_set(&set);

    // The same pieces as a JSONL file elsewhere are still the calibration set's pieces.
    let jsonl = t.path().join("held.jsonl");
    let mut lines = String::new();
    for label in ["pro-open", "pro-closed", "neutral"] {
        for e in fs::read_dir(set.join(label)).unwrap() {
            let text = fs::read_to_string(e.unwrap().path()).unwrap();
            lines += &serde_json::json!({"text": text, "label": label}).to_string();
            lines.push('\n');
        }
    }
    fs::write(&jsonl, lines).unwrap();
    let o = evaluate(&data, set.to_str().unwrap(), &jsonl, &[]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("is also in the calibration set")
            && stderr(&o).contains("--calibration-data none"),
        "{}",
        stderr(&o)
    );
    let o = evaluate(&data, "none", &jsonl, &[]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stdout(&o).contains("macro-F1"), "{}", stdout(&o));
}

#[test]
fn a_set_missing_a_label_is_refused_and_a_tiny_one_is_warned_about() {
    let t = tempfile::tempdir().unwrap();
    let (data, set) = (t.path().join("data"), t.path().join("held"));
    small_corpus(&data);
    calibration_set(&set);
    fs::remove_dir_all(set.join("neutral")).unwrap();
    let o = calibrated(&data, &t.path().join("m1"), set.to_str().unwrap());
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("no piece labelled \"neutral\""),
        "{}",
        stderr(&o)
    );
    assert!(!t.path().join("m1/CURRENT").exists());
    // Three pieces a label: trained, with a warning that the temperature rests on few pieces.
    calibration_set(&set);
    let o = calibrated(&data, &t.path().join("m2"), set.to_str().unwrap());
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("only 3 pieces in some label"),
        "{}",
        stderr(&o)
    );
    // An empty value is a usage error naming the flag, not a missing file called "".
    let o = calibrated(&data, &t.path().join("m3"), "");
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(stderr(&o).contains("--calibration-data"), "{}", stderr(&o));
}

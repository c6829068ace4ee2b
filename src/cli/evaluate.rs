//! `stance evaluate`: cross-validation and/or a held-out test set.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use clap::Args;

use stance::evaluate::{cross_validate, train_and_test, Report, TestReport};
use stance::Corpus;

use super::{
    check_output, open_corpus, refuse_overwriting_input, CalibrationDataArg, HyperParams,
    OfftopicArg, ThresholdArgs, UsageError,
};

#[derive(Args)]
pub struct EvaluateArgs {
    /// Training corpus (folder or JSONL).
    #[arg(long, env = "STANCE_DATA", default_value = "training-data")]
    pub data: PathBuf,
    /// Folds of cross-validation (default 5 unless --test is given; 0: skip). Folds keep each
    /// --group-by group whole (stratified folds with --group-by "").
    #[arg(long)]
    pub folds: Option<usize>,
    /// Held-out test corpus: train on --data, report on this. Rows whose label the model does
    /// not have (such as `off-topic`) are reported separately.
    #[arg(long)]
    pub test: Option<PathBuf>,
    /// Print JSON instead of tables.
    #[arg(long)]
    pub json: bool,
    /// Write a reliability diagram and the confusion matrix of the test set (or of
    /// cross-validation) to this SVG file.
    #[arg(long, value_name = "FILE")]
    pub plot: Option<PathBuf>,
    /// Resamples for the 95% bootstrap intervals printed beside the test set's figures (0: none).
    /// A small test set moves its figures by whole documents; the intervals show how much. At
    /// most 100000 (each resample rescoring the whole set's figures).
    #[arg(long, env = "STANCE_BOOTSTRAP", value_name = "N",
          default_value_t = stance::bootstrap::DEFAULT_RESAMPLES as u32,
          value_parser = clap::value_parser!(u32).range(0..=100_000))]
    pub bootstrap: u32,
    /// Write how each test document was scored to this JSONL file (one line per document, in
    /// test-set order: source, truth, label, confidence, scores, relevance, on_topic,
    /// insufficient_evidence), so that two
    /// configurations can be compared document by document. Replaced atomically.
    #[arg(long, value_name = "FILE", requires = "test")]
    pub predictions: Option<PathBuf>,
    #[command(flatten)]
    pub hyper: HyperParams,
    #[command(flatten)]
    pub offtopic: OfftopicArg,
    // Used by the --test model, as `stance train` uses it; cross-validation folds keep the map
    // fitted on held-out writers.
    #[command(flatten)]
    pub calibration_data: CalibrationDataArg,
    #[command(flatten)]
    pub thresholds: ThresholdArgs,
}

fn print_report(title: &str, report: &Report, json: bool) -> Result<serde_json::Value> {
    if !json {
        outln!("== {title}\n{report}");
    }
    Ok(serde_json::to_value(report)?)
}

fn print_test(title: &str, t: &TestReport, json: bool) -> Result<serde_json::Value> {
    if !json {
        match &t.calibration_data {
            Some(h) => outln!(
                "== {title}\ncalibration: the map fitted on held-out writers, softened by the \
                 calibration set's temperature {:.3} ({} pieces)\n{}",
                h.temperature,
                h.documents,
                t.stance
            ),
            None => outln!("== {title}\n{}", t.stance),
        }
        outln!(
            "insufficient evidence: {} of the {} test documents (every label, off-topic ones too)",
            t.insufficient_evidence,
            t.predictions.len()
        );
        for o in &t.other_labels {
            let predicted: Vec<String> = o
                .predicted
                .iter()
                .map(|(l, n)| format!("{l} {n}"))
                .collect();
            outln!(
                "\nlabel {:?} is not one of the model's: {} documents, scored {} (mean confidence {:.3})",
                o.label,
                o.documents,
                predicted.join(", "),
                o.mean_confidence
            );
            if let (Some(f), Some(r)) = (o.flagged_off_topic, o.mean_relevance) {
                outln!(
                    "  flagged off-topic: {f} of {} (mean relevance {r:.3})",
                    o.documents
                );
            }
        }
        if let Some(r) = &t.relevance {
            outln!(
                "\nrelevance (threshold {:.2}): on-topic documents flagged off-topic {} of {}; other documents flagged off-topic {} of {}",
                r.threshold,
                r.on_topic_flagged,
                r.on_topic_documents,
                r.off_topic_flagged,
                r.off_topic_documents
            );
        }
    }
    Ok(serde_json::to_value(t)?)
}

/// The folder an output file goes into must exist (the file is written at the end, atomically).
fn writable_folder(flag: &str, path: &Path) -> Result<()> {
    let folder = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    if !folder.is_dir() {
        return Err(UsageError(format!(
            "{flag} {}: the folder {} does not exist",
            path.display(),
            folder.display()
        ))
        .into());
    }
    Ok(())
}

/// Checks `--plot` and `--predictions` up front: an SVG name for the plot, an existing folder,
/// a regular file (or nothing yet) once links are followed, and not one of the run's inputs nor
/// each other, since each is replaced by a rename at the end of the run.
fn check_outputs(a: &EvaluateArgs) -> Result<()> {
    if let Some(plot) = &a.plot {
        let svg = plot
            .extension()
            .is_some_and(|e| e.eq_ignore_ascii_case("svg"));
        if !svg {
            return Err(UsageError(format!(
                "--plot {}: the plot is SVG; give a file name ending in .svg",
                plot.display()
            ))
            .into());
        }
    }
    let mut inputs: Vec<(&str, &Path)> = vec![("--data", a.data.as_path())];
    if let Some(test) = &a.test {
        inputs.push(("--test", test.as_path()));
    }
    if a.offtopic.offtopic != "none" {
        inputs.push(("--offtopic", Path::new(&a.offtopic.offtopic)));
    }
    if a.calibration_data.calibration_data != "none" {
        inputs.push((
            "--calibration-data",
            Path::new(&a.calibration_data.calibration_data),
        ));
    }
    let outputs = [("--plot", &a.plot), ("--predictions", &a.predictions)];
    for (flag, path) in outputs {
        let Some(path) = path else { continue };
        writable_folder(flag, path)?;
        check_output(flag, path, None)?;
        refuse_overwriting_input(flag, path, &inputs)?;
    }
    if let (Some(plot), Some(predictions)) = (&a.plot, &a.predictions) {
        let same = plot == predictions || stance::fsutil::same_file(plot, predictions);
        if same {
            return Err(UsageError(format!(
                "--predictions {} and --plot {} are the same file; the plot would replace \
                 the predictions: choose two files",
                predictions.display(),
                plot.display()
            ))
            .into());
        }
    }
    Ok(())
}

pub fn run(a: EvaluateArgs) -> Result<()> {
    let params = a.hyper.params();
    let checked = params.clone().check()?;
    let thresholds = a.thresholds.thresholds()?;
    // Output paths are checked before the minutes of training, not after.
    check_outputs(&a)?;
    let corpus = open_corpus(&a.data)?;
    let offtopic = a.offtopic.open(&corpus)?;
    let test_corpus = match &a.test {
        Some(test) => Some(
            Corpus::open_with(test, 1)
                .with_context(|| format!("cannot use test set {}", test.display()))?,
        ),
        None => None,
    };
    let holdout = match &test_corpus {
        Some(test) => {
            let set = a.calibration_data.open(&corpus, params.calibration)?;
            if let Some(set) = &set {
                // Fitting the temperature on the documents it is judged on flatters log-loss
                // and ECE, so the two must not share a text.
                if let Some((doc, held)) = stance::holdout::shared_text(set, test)? {
                    return Err(UsageError(format!(
                        "test document {doc} is also in the calibration set the model's \
                         temperature is fitted on ({held}); give --calibration-data none to \
                         test on it"
                    ))
                    .into());
                }
            }
            set
        }
        None => None,
    };
    let folds = a.folds.unwrap_or(if a.test.is_some() { 0 } else { 5 });
    if folds == 0 && a.test.is_none() {
        return Err(UsageError(
            "nothing to evaluate: give --folds K (K >= 2) and/or --test PATH".into(),
        )
        .into());
    }
    let mut json = serde_json::Map::new();
    let mut plotted: Option<Report> = None;
    if folds > 0 {
        let cv = cross_validate(
            &corpus,
            offtopic.as_ref(),
            &checked,
            folds,
            &params.group_by,
            params.seed,
        )
        .map_err(|e| e.for_folds_flag("--folds"))?;
        let kind = if cv.grouped {
            format!("grouped by {}", params.group_by)
        } else {
            "stratified".to_string()
        };
        let title = format!(
            "{folds}-fold cross-validation, {kind} (seed {})",
            params.seed
        );
        print_report(&format!("{title}: raw posteriors"), &cv.raw, a.json)?;
        print_report(&format!("{title}: calibrated"), &cv.calibrated, a.json)?;
        if let Some(r) = &cv.relevance {
            print_report(&format!("{title}: relevance"), r, a.json)?;
        }
        json.insert("cross_validation".into(), serde_json::to_value(&cv)?);
        plotted = Some(cv.calibrated);
    }
    if let (Some(test), Some(test_corpus)) = (&a.test, &test_corpus) {
        let report = train_and_test(
            &corpus,
            offtopic.as_ref(),
            holdout.as_ref(),
            &checked,
            test_corpus,
            thresholds,
            a.bootstrap as usize,
        )?;
        if let Some(path) = &a.predictions {
            let mut lines = String::new();
            for p in &report.predictions {
                lines.push_str(&serde_json::to_string(p)?);
                lines.push('\n');
            }
            stance::fsutil::write_atomic(path, lines.as_bytes())
                .with_context(|| format!("cannot write {}", path.display()))?;
        }
        let v = print_test(
            &format!("held-out test set {}", test.display()),
            &report,
            a.json,
        )?;
        json.insert("test".into(), v);
        plotted = Some(report.stance);
    }
    if let (Some(path), Some(report)) = (&a.plot, plotted) {
        stance::plot::write_svg(path, &report)
            .with_context(|| format!("cannot write {}", path.display()))?;
        if !a.json {
            outln!("\nplot written to {}", path.display());
        }
    }
    if a.json {
        outln!("{}", serde_json::Value::Object(json));
    }
    Ok(())
}

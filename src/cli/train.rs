//! `stance train`: fit a new model version from a corpus and make it current.

use std::io::{IsTerminal, Write};
use std::path::PathBuf;

use anyhow::Result;
use clap::{Args, ValueEnum};
use indicatif::{ProgressBar, ProgressStyle};

use stance::artifact::{self, CvSummary, SaveOptions};
use stance::evaluate::cross_validate;
use stance::{train, Corpus};

use super::{open_corpus, CalibrationDataArg, HyperParams, OfftopicArg};

#[derive(Args)]
pub struct TrainArgs {
    /// Corpus: a folder of <label>/*.txt files or a JSONL file of {"text", "label"} lines.
    #[arg(long, env = "STANCE_DATA", default_value = "training-data")]
    pub data: PathBuf,
    /// Models folder; the new version is written there and CURRENT points to it.
    #[arg(long, env = "STANCE_MODELS", default_value = "models")]
    pub models: PathBuf,
    #[command(flatten)]
    pub hyper: HyperParams,
    #[command(flatten)]
    pub offtopic: OfftopicArg,
    #[command(flatten)]
    pub calibration_data: CalibrationDataArg,
    /// Also run K-fold cross-validation and record it in meta.json (0: skip).
    #[arg(long, env = "STANCE_CV_FOLDS", default_value_t = 0)]
    pub cv_folds: usize,
    /// Model versions to keep in the models folder, the new one included.
    #[arg(long, env = "STANCE_KEEP", default_value_t = 5, value_parser = clap::value_parser!(u64).range(1..))]
    pub keep: u64,
}

/// Below this many documents in some label, `stance train` warns that the confidences it
/// will serve rest on a calibration fitted on a handful of out-of-fold predictions.
const FEW_DOCUMENTS: usize = 30;

fn progress_bar(corpus: &Corpus, passes: u64) -> Option<ProgressBar> {
    if corpus.len() < 2000 || !std::io::stderr().is_terminal() {
        return None;
    }
    let pb = ProgressBar::new(corpus.len() as u64 * passes);
    pb.set_style(
        ProgressStyle::with_template(
            "{spinner} training [{elapsed_precise}] {wide_bar} {pos}/{len} document passes",
        )
        .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    Some(pb)
}

pub fn run(a: TrainArgs) -> Result<()> {
    let params = a.hyper.params();
    let checked = params.clone().check()?;
    let corpus = open_corpus(&a.data)?;
    let smallest = corpus.stats().smallest_label();
    if smallest < FEW_DOCUMENTS {
        errln!(
            "stance: warning: the smallest label has {smallest} documents; with fewer than \
             {FEW_DOCUMENTS} per label the calibration map is fitted on too few held-out \
             predictions to trust, and confidences may be far from the real accuracy"
        );
    }
    let offtopic = a.offtopic.open(&corpus)?;
    let holdout = a.calibration_data.open(&corpus, params.calibration)?;
    let cv = if a.cv_folds > 0 {
        let report = cross_validate(
            &corpus,
            offtopic.as_ref(),
            &checked,
            a.cv_folds,
            &params.group_by,
            params.seed,
        )
        .map_err(|e| e.for_folds_flag("--cv-folds"))?;
        Some(CvSummary::from_report(
            &report.calibrated,
            a.cv_folds,
            params.seed,
            report.grouped,
        ))
    } else {
        None
    };
    let pb = progress_bar(&corpus, 3);
    let trained = train::train(
        &corpus,
        offtopic.as_ref(),
        holdout.as_ref(),
        &checked,
        pb.as_ref(),
    )?;
    if let Some(pb) = pb {
        pb.finish_and_clear();
    }
    let elapsed = trained.elapsed;
    let fitted = trained.stance.model.rule().variant;
    let meta = artifact::save(
        &a.models,
        &trained,
        corpus.stats(),
        corpus.labels(),
        offtopic.as_ref().map(|o| o.stats()),
        &params,
        cv.clone(),
        &SaveOptions {
            keep: a.keep as usize,
        },
    )?;
    let stats = corpus.stats();
    let mut out = std::io::stdout().lock();
    writeln!(
        out,
        "trained model {} in {} (CURRENT updated)",
        meta.version,
        a.models.display()
    )?;
    let per: Vec<String> = meta
        .documents_per_label
        .iter()
        .map(|(l, n)| format!("{l}={n}"))
        .collect();
    writeln!(
        out,
        "documents   {} ({} total, {:.1} MB)",
        per.join(" "),
        corpus.len(),
        stats.total_bytes as f64 / 1e6
    )?;
    writeln!(
        out,
        "vocabulary  {} tokens, {} features",
        meta.vocabulary_size, meta.n_features
    )?;
    if let Some(o) = &meta.offtopic {
        writeln!(
            out,
            "relevance   trained on {} off-topic documents",
            o.documents
        )?;
    }
    if let Some(h) = &meta.calibration_data {
        writeln!(
            out,
            "calibration final temperature {:.3} from {} pieces of the calibration set {} (their log-loss {:.4} -> {:.4})",
            h.temperature,
            h.documents,
            a.calibration_data.calibration_data,
            h.log_loss_before,
            h.log_loss_after
        )?;
    }
    let rule = fitted.to_possible_value().map(|v| v.get_name().to_owned());
    let rule = rule.unwrap_or_default();
    if fitted == params.variant {
        writeln!(out, "rule        {rule}")?;
    } else {
        writeln!(
            out,
            "rule        {rule} (the hierarchical variant needs a \"neutral\" label and two others)"
        )?;
    }
    writeln!(out, "time        {:.2} s", elapsed.as_secs_f64())?;
    if let Some(cv) = cv {
        writeln!(
            out,
            "cross-val   {} {} folds (seed {}): accuracy {:.4}, macro-F1 {:.4}, log-loss {:.4}, ECE {:.4}{}",
            cv.folds,
            if cv.grouped { "grouped" } else { "stratified" },
            cv.seed,
            cv.accuracy,
            cv.macro_f1,
            cv.log_loss,
            cv.ece,
            if meta.calibration_data.is_some() {
                " (folds use the map fitted on held-out writers, without the calibration set's temperature)"
            } else {
                ""
            }
        )?;
    }
    Ok(())
}

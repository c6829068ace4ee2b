//! The `stance` command: a thin layer over the library. Exit codes: 0 ok, 1 runtime failure,
//! 2 usage error.

use std::io::{IsTerminal, Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use clap::{ArgAction, Args, Parser, Subcommand};
use indicatif::{ProgressBar, ProgressStyle};

use stance::artifact::{self, CvSummary, SaveOptions};
use stance::calibration::Method;
use stance::classifier::{Thresholds, DEFAULT_MIN_EVIDENCE, DEFAULT_RELEVANCE_THRESHOLD};
use stance::evaluate::{cross_validate, train_and_test, Report, TestReport};
use stance::model::Variant;
use stance::server::routes::classify::ClassifyResponse;
use stance::server::state::Limits;
use stance::server::telemetry::{self, LogFormat};
use stance::server::ServeConfig;
use stance::{leakage, train, Classifier, Corpus, StanceError, TrainParams};

/// Scores an article's stance on open versus closed AI models (pro-open, pro-closed, neutral)
/// with a transparent naive Bayes model, and trains, evaluates and serves that model.
#[derive(Parser)]
#[command(name = "stance", version, about, long_about = None, propagate_version = true)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Train a new model version from a labelled corpus and make it current.
    Train(TrainArgs),
    /// Score files or standard input.
    Classify(ClassifyArgs),
    /// Cross-validate and/or test on a held-out set.
    Evaluate(EvaluateArgs),
    /// List the tokens that most give each label away (corpus artefact check).
    Leakage(LeakageArgs),
    /// Serve the HTTP API.
    Serve(ServeArgs),
    /// Exit 0 if the local service answers /healthz (for container HEALTHCHECKs).
    Healthcheck(HealthcheckArgs),
}

#[derive(Args, Clone)]
struct HyperParams {
    /// Additive smoothing of the naive Bayes counts (> 0).
    #[arg(long, env = "STANCE_ALPHA", default_value_t = TrainParams::default().alpha)]
    alpha: f64,
    /// Words seen fewer times than this in the corpus are left out of the vocabulary.
    #[arg(long, env = "STANCE_MIN_COUNT", default_value_t = TrainParams::default().min_count)]
    min_count: u64,
    /// Upper bound on the vocabulary size (and on the number of bigram features).
    #[arg(long, env = "STANCE_MAX_VOCAB", default_value_t = TrainParams::default().max_vocab)]
    max_vocab: usize,
    /// Count each token at most once per document (true) or every occurrence (false).
    #[arg(long, env = "STANCE_BINARY", default_value_t = TrainParams::default().binary, action = ArgAction::Set)]
    binary: bool,
    /// Add adjacent token pairs as features.
    #[arg(long, env = "STANCE_BIGRAMS", default_value_t = TrainParams::default().bigrams, action = ArgAction::Set)]
    bigrams: bool,
    /// Documents per dense chunk fed to linfa's incremental fit; bounds training memory.
    #[arg(long, env = "STANCE_CHUNK_DOCS", default_value_t = TrainParams::default().chunk_docs)]
    chunk_docs: usize,
    /// A feature must occur in at least this many training documents.
    #[arg(long, env = "STANCE_MIN_DF", default_value_t = TrainParams::default().min_df)]
    min_df: u64,
    /// Leave out features made only of stop-words and punctuation.
    #[arg(long, env = "STANCE_STOP_WORDS", default_value_t = TrainParams::default().stop_words, action = ArgAction::Set)]
    stop_words: bool,
    /// Mark words after a negation ("not", "never", "n't") until the next punctuation.
    #[arg(long, env = "STANCE_NEGATION", default_value_t = TrainParams::default().negation, action = ArgAction::Set)]
    negation: bool,
    /// Naive Bayes decision rule.
    #[arg(long, env = "STANCE_VARIANT", value_enum, default_value_t = TrainParams::default().variant)]
    variant: Variant,
    /// Weight features by inverse document frequency.
    #[arg(long, env = "STANCE_TFIDF", default_value_t = TrainParams::default().tfidf, action = ArgAction::Set)]
    tfidf: bool,
    /// Scale each document vector to unit length.
    #[arg(long, env = "STANCE_L2_NORM", default_value_t = TrainParams::default().l2_norm, action = ArgAction::Set)]
    l2_norm: bool,
    /// Complement NB: normalise each class's weights.
    #[arg(long, env = "STANCE_WEIGHT_NORM", default_value_t = TrainParams::default().weight_norm, action = ArgAction::Set)]
    weight_norm: bool,
    /// Multinomial NB: learn class priors (false: uniform priors).
    #[arg(long, env = "STANCE_FIT_PRIOR", default_value_t = TrainParams::default().fit_prior, action = ArgAction::Set)]
    fit_prior: bool,
    /// How raw log-likelihoods become probabilities (fitted on out-of-fold predictions).
    #[arg(long, env = "STANCE_CALIBRATION", value_enum, default_value_t = TrainParams::default().calibration)]
    calibration: Method,
    /// Folds of the out-of-fold predictions the calibration is fitted on.
    #[arg(long, env = "STANCE_CALIBRATION_FOLDS", default_value_t = TrainParams::default().calibration_folds)]
    calibration_folds: usize,
    /// Manifest field kept within one fold (calibration and --folds); "" for stratified folds.
    #[arg(long, env = "STANCE_GROUP_BY", default_value_t = TrainParams::default().group_by)]
    group_by: String,
    /// Seed of fold assignments.
    #[arg(long, env = "STANCE_SEED", default_value_t = TrainParams::default().seed)]
    seed: u64,
}

impl HyperParams {
    fn params(&self) -> TrainParams {
        TrainParams {
            alpha: self.alpha,
            min_count: self.min_count,
            max_vocab: self.max_vocab,
            binary: self.binary,
            bigrams: self.bigrams,
            chunk_docs: self.chunk_docs,
            min_df: self.min_df,
            stop_words: self.stop_words,
            negation: self.negation,
            variant: self.variant,
            tfidf: self.tfidf,
            l2_norm: self.l2_norm,
            weight_norm: self.weight_norm,
            fit_prior: self.fit_prior,
            calibration: self.calibration,
            calibration_folds: self.calibration_folds,
            group_by: self.group_by.clone(),
            seed: self.seed,
        }
    }
}

#[derive(Args, Clone)]
struct OfftopicArg {
    /// Off-topic corpus (a folder with one `off-topic/` label folder, or JSONL) that trains the
    /// relevance head; "none" for a model without one.
    #[arg(long, env = "STANCE_OFFTOPIC", default_value = "offtopic-data")]
    offtopic: String,
}

impl OfftopicArg {
    fn open(&self) -> Result<Option<Corpus>> {
        if self.offtopic == "none" {
            return Ok(None);
        }
        let path = Path::new(&self.offtopic);
        let corpus = Corpus::open_with(path, 1)
            .with_context(|| format!("cannot use off-topic corpus {}", path.display()))?;
        Ok(Some(corpus))
    }
}

#[derive(Args, Clone, Copy)]
struct ThresholdArgs {
    /// `on_topic` is true when relevance is at least this.
    #[arg(long, env = "STANCE_RELEVANCE_THRESHOLD", default_value_t = DEFAULT_RELEVANCE_THRESHOLD)]
    relevance_threshold: f64,
    /// Scores resting on fewer known stance features are flagged `insufficient_evidence`.
    #[arg(long, env = "STANCE_MIN_EVIDENCE", default_value_t = DEFAULT_MIN_EVIDENCE)]
    min_evidence: usize,
}

impl ThresholdArgs {
    fn thresholds(&self) -> Result<Thresholds> {
        if !(0.0..=1.0).contains(&self.relevance_threshold) {
            return Err(UsageError(format!(
                "--relevance-threshold must be between 0 and 1, got {}",
                self.relevance_threshold
            ))
            .into());
        }
        Ok(Thresholds {
            relevance: self.relevance_threshold,
            min_evidence: self.min_evidence,
        })
    }
}

#[derive(Args)]
struct TrainArgs {
    /// Corpus: a folder of <label>/*.txt files or a JSONL file of {"text", "label"} lines.
    #[arg(long, env = "STANCE_DATA", default_value = "training-data")]
    data: PathBuf,
    /// Models folder; the new version is written there and CURRENT points to it.
    #[arg(long, env = "STANCE_MODELS", default_value = "models")]
    models: PathBuf,
    #[command(flatten)]
    hyper: HyperParams,
    #[command(flatten)]
    offtopic: OfftopicArg,
    /// Also run K-fold cross-validation and record it in meta.json (0: skip).
    #[arg(long, env = "STANCE_CV_FOLDS", default_value_t = 0)]
    cv_folds: usize,
    /// Model versions to keep in the models folder, the new one included.
    #[arg(long, env = "STANCE_KEEP", default_value_t = 5, value_parser = clap::value_parser!(u64).range(1..))]
    keep: u64,
}

#[derive(Args)]
struct ClassifyArgs {
    /// Files to score; `-` or nothing reads standard input.
    files: Vec<PathBuf>,
    /// Models folder whose CURRENT version is used.
    #[arg(long, env = "STANCE_MODELS", default_value = "models")]
    models: PathBuf,
    /// One JSON object per line per document, shaped like the HTTP response plus "file".
    #[arg(long)]
    json: bool,
    /// Show the N tokens per label that pushed hardest toward it.
    #[arg(long, default_value_t = 0, value_name = "N")]
    explain: usize,
    #[command(flatten)]
    thresholds: ThresholdArgs,
    /// Read at most this many bytes of each input; a longer one is scored on its first BYTES
    /// (cut at a character boundary) with a warning. Default: the service's --max-body default.
    #[arg(long, env = "STANCE_MAX_BYTES", default_value_t = DEFAULT_MAX_BODY, value_name = "BYTES", value_parser = clap::value_parser!(u64).range(1..))]
    max_bytes: u64,
}

/// `stance serve --max-body` and `stance classify --max-bytes` default: 1 MiB.
const DEFAULT_MAX_BODY: u64 = 1 << 20;

#[derive(Args)]
struct EvaluateArgs {
    /// Training corpus (folder or JSONL).
    #[arg(long, env = "STANCE_DATA", default_value = "training-data")]
    data: PathBuf,
    /// Folds of stratified cross-validation (default 5 unless --test is given; 0: skip).
    #[arg(long)]
    folds: Option<usize>,
    /// Held-out test corpus: train on --data, report on this. Rows whose label the model does
    /// not have (such as `off-topic`) are reported separately.
    #[arg(long)]
    test: Option<PathBuf>,
    /// Print JSON instead of tables.
    #[arg(long)]
    json: bool,
    /// Write a reliability diagram and the confusion matrix of the test set (or of
    /// cross-validation) to this SVG file.
    #[arg(long, value_name = "FILE")]
    plot: Option<PathBuf>,
    #[command(flatten)]
    hyper: HyperParams,
    #[command(flatten)]
    offtopic: OfftopicArg,
    #[command(flatten)]
    thresholds: ThresholdArgs,
}

#[derive(Args)]
struct LeakageArgs {
    /// Corpus (folder or JSONL).
    #[arg(long, env = "STANCE_DATA", default_value = "training-data")]
    data: PathBuf,
    /// Tokens to list per label.
    #[arg(long, default_value_t = 20)]
    top: usize,
    /// Print JSON instead of a table.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    hyper: HyperParams,
}

#[derive(Args)]
struct ServeArgs {
    /// Models folder; the version named by its CURRENT file is served.
    #[arg(long, env = "STANCE_MODELS", default_value = "models")]
    models: PathBuf,
    /// Address to listen on (the container sets 0.0.0.0:8080). Port 0 picks a free port.
    #[arg(long, env = "STANCE_BIND", default_value = "127.0.0.1:8080")]
    bind: String,
    /// Worker threads (default: one per CPU core).
    #[arg(long, env = "STANCE_WORKERS")]
    workers: Option<usize>,
    /// Largest accepted request body in bytes (after gzip decoding, and before).
    #[arg(long, env = "STANCE_MAX_BODY", default_value_t = DEFAULT_MAX_BODY as usize)]
    max_body: usize,
    /// Largest accepted batch, in documents.
    #[arg(long, env = "STANCE_MAX_BATCH", default_value_t = 256)]
    max_batch: usize,
    /// Largest accepted `explain` value.
    #[arg(long, env = "STANCE_MAX_EXPLAIN", default_value_t = 100)]
    max_explain: usize,
    /// Bearer token for /v1/admin/*; without it the admin routes answer 403.
    #[arg(long, env = "STANCE_ADMIN_TOKEN", hide_env_values = true)]
    admin_token: Option<String>,
    /// Seconds a client has to send its request head before the connection is closed.
    #[arg(long, env = "STANCE_REQUEST_TIMEOUT", default_value_t = 5)]
    request_timeout: u64,
    /// Seconds a client has to send the whole request body (408 request_timeout otherwise).
    #[arg(long, env = "STANCE_BODY_TIMEOUT", default_value_t = 10, value_parser = clap::value_parser!(u64).range(1..))]
    body_timeout: u64,
    /// Seconds a request may take in total, from its head to its response (408 otherwise).
    #[arg(long, env = "STANCE_REQUEST_DEADLINE", default_value_t = 30, value_parser = clap::value_parser!(u64).range(1..))]
    request_deadline: u64,
    /// Seconds in-flight requests get to finish after SIGTERM or SIGINT.
    #[arg(long, env = "STANCE_SHUTDOWN_TIMEOUT", default_value_t = 20)]
    shutdown_timeout: u64,
    /// Seconds an idle keep-alive connection stays open.
    #[arg(long, env = "STANCE_KEEP_ALIVE", default_value_t = 30)]
    keep_alive: u64,
    /// Concurrent connections per worker.
    #[arg(long, env = "STANCE_MAX_CONNECTIONS", default_value_t = 10_000)]
    max_connections: usize,
    /// Log format.
    #[arg(long, env = "STANCE_LOG_FORMAT", value_enum, default_value_t = LogFormat::Text)]
    log_format: LogFormat,
    #[command(flatten)]
    thresholds: ThresholdArgs,
}

#[derive(Args)]
struct HealthcheckArgs {
    /// The service's listen address; 0.0.0.0 is checked on 127.0.0.1.
    #[arg(long, env = "STANCE_BIND", default_value = "127.0.0.1:8080")]
    bind: String,
    /// Seconds to wait for the answer.
    #[arg(long, default_value_t = 3)]
    timeout: u64,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Serve(a) => serve(a),
        Command::Healthcheck(a) => healthcheck(a),
        other => {
            telemetry::init(LogFormat::Text, false, "warn");
            match other {
                Command::Train(a) => train_cmd(a),
                Command::Classify(a) => classify_cmd(a),
                Command::Evaluate(a) => evaluate_cmd(a),
                Command::Leakage(a) => leakage_cmd(a),
                Command::Serve(_) | Command::Healthcheck(_) => unreachable!("handled above"),
            }
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("stance: error: {e:#}");
            let usage = e.downcast_ref::<UsageError>().is_some()
                || matches!(
                    e.downcast_ref::<StanceError>(),
                    Some(StanceError::Param { .. })
                );
            ExitCode::from(if usage { 2 } else { 1 })
        }
    }
}

/// A bad combination of arguments that clap itself cannot see (exit code 2).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
struct UsageError(String);

fn open_corpus(path: &Path) -> Result<Corpus> {
    let corpus =
        Corpus::open(path).with_context(|| format!("cannot use corpus {}", path.display()))?;
    let dups = corpus.stats().duplicates.len();
    if dups > 0 {
        eprintln!(
            "stance: warning: {dups} exact duplicate document(s) in {}",
            path.display()
        );
    }
    Ok(corpus)
}

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

fn train_cmd(a: TrainArgs) -> Result<()> {
    let params = a.hyper.params();
    let checked = params.clone().check()?;
    let corpus = open_corpus(&a.data)?;
    let offtopic = a.offtopic.open()?;
    let cv = if a.cv_folds > 0 {
        let report = cross_validate(
            &corpus,
            offtopic.as_ref(),
            &checked,
            a.cv_folds,
            &params.group_by,
            params.seed,
        )?;
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
    let trained = train::train(&corpus, offtopic.as_ref(), &checked, pb.as_ref())?;
    if let Some(pb) = pb {
        pb.finish_and_clear();
    }
    let elapsed = trained.elapsed;
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
    writeln!(out, "time        {:.2} s", elapsed.as_secs_f64())?;
    if let Some(cv) = cv {
        writeln!(
            out,
            "cross-val   {} {} folds (seed {}): accuracy {:.4}, macro-F1 {:.4}, log-loss {:.4}, ECE {:.4}",
            cv.folds,
            if cv.grouped { "grouped" } else { "stratified" },
            cv.seed,
            cv.accuracy,
            cv.macro_f1,
            cv.log_loss,
            cv.ece
        )?;
    }
    Ok(())
}

fn load_classifier(models: &Path) -> Result<Classifier> {
    Ok(Classifier::from_artifact(artifact::load_current(models)?))
}

/// Reads at most `max` bytes of an input (never more, so /dev/zero or an endless pipe is fine);
/// a longer input is cut at the last character boundary and announced on stderr.
fn read_input(file: &Path, max: u64) -> Result<(String, String)> {
    let (name, reader): (String, Box<dyn Read>) = if file == Path::new("-") {
        ("-".to_string(), Box::new(std::io::stdin().lock()))
    } else {
        let f =
            std::fs::File::open(file).with_context(|| format!("cannot read {}", file.display()))?;
        (file.display().to_string(), Box::new(f))
    };
    let mut bytes = Vec::new();
    reader
        .take(max + 1)
        .read_to_end(&mut bytes)
        .with_context(|| format!("cannot read {name}"))?;
    if bytes.len() as u64 > max {
        bytes.truncate(max as usize);
        // Drop a character cut in half by the limit (at most three bytes).
        if let Err(e) = std::str::from_utf8(&bytes) {
            if e.error_len().is_none() {
                bytes.truncate(e.valid_up_to());
            }
        }
        eprintln!(
            "stance: warning: {name}: longer than --max-bytes {max}; scoring its first {} bytes",
            bytes.len()
        );
    }
    let text = String::from_utf8(bytes).map_err(|_| anyhow::anyhow!("{name}: not valid UTF-8"))?;
    if text.trim().is_empty() {
        bail!("{name}: empty document");
    }
    Ok((name, text))
}

fn classify_cmd(a: ClassifyArgs) -> Result<()> {
    let classifier = load_classifier(&a.models)?.with_thresholds(a.thresholds.thresholds()?);
    let files = if a.files.is_empty() {
        vec![PathBuf::from("-")]
    } else {
        a.files
    };
    let mut out = std::io::stdout().lock();
    for file in &files {
        let (name, text) = read_input(file, a.max_bytes)?;
        let score = classifier
            .score(&text, a.explain)
            .with_context(|| format!("cannot score {name}"))?;
        if a.json {
            let resp = ClassifyResponse::from_score(score, classifier.version(), None);
            let mut value = serde_json::to_value(resp)?;
            if let Some(obj) = value.as_object_mut() {
                obj.insert("file".into(), name.clone().into());
            }
            writeln!(out, "{value}")?;
            continue;
        }
        let others: Vec<String> = score
            .scores
            .iter()
            .filter(|(l, _)| *l != score.label)
            .map(|(l, p)| format!("{l} {p:.3}"))
            .collect();
        let topic = match (score.relevance, score.on_topic) {
            (Some(r), Some(on)) => format!(
                "\t{} (relevance {r:.3})",
                if on { "on-topic" } else { "off-topic" }
            ),
            _ => String::new(),
        };
        writeln!(
            out,
            "{name}\t{}\t{:.3}\t({})\t{} tokens, evidence {}{}{topic}",
            score.label,
            score.confidence,
            others.join(", "),
            score.tokens,
            score.evidence,
            if score.insufficient_evidence {
                " (insufficient)"
            } else {
                ""
            }
        )?;
        for (label, weights) in score.explanation.iter().flatten() {
            let list: Vec<String> = weights
                .iter()
                .map(|w| format!("{} (+{:.2})", w.token, w.weight))
                .collect();
            writeln!(out, "  toward {label}: {}", list.join(", "))?;
        }
    }
    Ok(())
}

fn print_report(title: &str, report: &Report, json: bool) -> Result<serde_json::Value> {
    if !json {
        println!("== {title}\n{report}");
    }
    Ok(serde_json::to_value(report)?)
}

fn print_test(title: &str, t: &TestReport, json: bool) -> Result<serde_json::Value> {
    if !json {
        println!("== {title}\n{}", t.stance);
        println!(
            "insufficient evidence: {} documents",
            t.insufficient_evidence
        );
        for o in &t.other_labels {
            let predicted: Vec<String> = o
                .predicted
                .iter()
                .map(|(l, n)| format!("{l} {n}"))
                .collect();
            println!(
                "\nlabel {:?} is not one of the model's: {} documents, scored {} (mean confidence {:.3})",
                o.label,
                o.documents,
                predicted.join(", "),
                o.mean_confidence
            );
            if let (Some(f), Some(r)) = (o.flagged_off_topic, o.mean_relevance) {
                println!(
                    "  flagged off-topic: {f} of {} (mean relevance {r:.3})",
                    o.documents
                );
            }
        }
        if let Some(r) = &t.relevance {
            println!(
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

fn evaluate_cmd(a: EvaluateArgs) -> Result<()> {
    let params = a.hyper.params();
    let checked = params.clone().check()?;
    let thresholds = a.thresholds.thresholds()?;
    let corpus = open_corpus(&a.data)?;
    let offtopic = a.offtopic.open()?;
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
        )?;
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
    if let Some(test) = &a.test {
        let test_corpus = Corpus::open_with(test, 1)
            .with_context(|| format!("cannot use test set {}", test.display()))?;
        let report = train_and_test(
            &corpus,
            offtopic.as_ref(),
            &checked,
            &test_corpus,
            thresholds,
        )?;
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
            println!("\nplot written to {}", path.display());
        }
    }
    if a.json {
        println!("{}", serde_json::Value::Object(json));
    }
    Ok(())
}

fn leakage_cmd(a: LeakageArgs) -> Result<()> {
    let checked = a.hyper.params().check()?;
    let corpus = open_corpus(&a.data)?;
    let classifier =
        Classifier::from_trained(train::fit(&corpus, None, checked.get(), None)?, "leakage");
    let docs = corpus.documents()?;
    let report = leakage::report(&classifier, &docs, a.top)?;
    if a.json {
        println!("{}", serde_json::to_string(&report)?);
        return Ok(());
    }
    for label in &report {
        println!(
            "== {} (top {} tokens by log-likelihood ratio)",
            label.label, a.top
        );
        println!(
            "{:<24} {:>7} {:>9} {:>14}",
            "token", "llr", "in label", "max elsewhere"
        );
        for t in &label.tokens {
            println!(
                "{:<24} {:>7.3} {:>8.1}% {:>13.1}%",
                t.token,
                t.llr,
                t.share_in_label * 100.0,
                t.max_share_elsewhere * 100.0
            );
        }
        println!();
    }
    Ok(())
}

fn serve(a: ServeArgs) -> Result<()> {
    telemetry::init(a.log_format, true, "info");
    let workers = a.workers.unwrap_or_else(|| {
        std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(2)
    });
    if workers == 0 {
        return Err(UsageError("--workers must be at least 1".into()).into());
    }
    let config = ServeConfig {
        models_dir: a.models,
        bind: a.bind,
        workers,
        limits: Limits {
            max_body: a.max_body,
            max_batch: a.max_batch,
            max_explain: a.max_explain,
            body_timeout: Duration::from_secs(a.body_timeout),
            request_deadline: Duration::from_secs(a.request_deadline),
        },
        admin_token: a.admin_token,
        request_timeout: Duration::from_secs(a.request_timeout),
        shutdown_timeout: Duration::from_secs(a.shutdown_timeout),
        keep_alive: Duration::from_secs(a.keep_alive),
        max_connections: a.max_connections,
        thresholds: a.thresholds.thresholds()?,
    };
    stance::server::run(config)?;
    Ok(())
}

fn healthcheck(a: HealthcheckArgs) -> Result<()> {
    let bind = a
        .bind
        .replace("0.0.0.0", "127.0.0.1")
        .replace("[::]", "[::1]");
    let addr = bind
        .to_socket_addrs()
        .with_context(|| format!("invalid address {bind}"))?
        .next()
        .with_context(|| format!("no address for {bind}"))?;
    let timeout = Duration::from_secs(a.timeout.max(1));
    let mut stream = TcpStream::connect_timeout(&addr, timeout)
        .with_context(|| format!("cannot connect to {addr}"))?;
    stream.set_read_timeout(Some(timeout))?;
    stream.set_write_timeout(Some(timeout))?;
    write!(stream, "GET /healthz HTTP/1.0\r\nHost: {bind}\r\n\r\n")?;
    let mut response = String::new();
    stream.take(4096).read_to_string(&mut response)?;
    let status = response.lines().next().unwrap_or("");
    if status.split_whitespace().nth(1) == Some("200") {
        Ok(())
    } else {
        bail!("unhealthy: {addr} answered {status:?}")
    }
}

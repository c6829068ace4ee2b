//! The `stance` command line: the argument types every subcommand shares, and one module per
//! subcommand holding its own arguments and body. This is the binary's edge, the only place that
//! uses `anyhow`; the library below it reports `StanceError`s.

use std::path::Path;

use anyhow::{Context, Result};
use clap::{ArgAction, Args, Parser, Subcommand};

use stance::calibration::Method;
use stance::classifier::{Thresholds, DEFAULT_MIN_EVIDENCE, DEFAULT_RELEVANCE_THRESHOLD};
use stance::model::Variant;
use stance::{Corpus, TrainParams};

/// `println!` that returns the write error instead of panicking, so that `stance evaluate | head`
/// ends quietly when the reader goes away (see `main`). Defined before the subcommand modules,
/// which see it by textual scope.
macro_rules! outln {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        writeln!(std::io::stdout(), $($arg)*)?
    }};
}

/// `eprintln!` that never panics: with stderr closed or a broken pipe there is nobody left to
/// tell, and a panic would replace the exit code that still says what happened.
macro_rules! errln {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stderr(), $($arg)*);
    }};
}

pub mod bulk;
pub mod classify;
pub mod evaluate;
pub mod healthcheck;
pub mod leakage;
pub mod serve;
pub mod train;

use classify::ClassifyArgs;
use evaluate::EvaluateArgs;
use healthcheck::HealthcheckArgs;
use leakage::LeakageArgs;
use serve::ServeArgs;
use train::TrainArgs;

/// Scores an article's stance on open versus closed AI models (pro-open, pro-closed, neutral)
/// with a transparent naive Bayes model, and trains, evaluates and serves that model.
#[derive(Parser)]
#[command(name = "stance", version, about, long_about = None, propagate_version = true)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

/// Every subcommand takes `--flag -1` as a value, so that a negative number gets the flag's own
/// range message ("--alpha must be > 0, got -1") instead of clap's "unexpected argument '-1'".
#[derive(Subcommand)]
pub enum Command {
    /// Train a new model version from a labelled corpus and make it current.
    #[command(allow_negative_numbers = true)]
    Train(TrainArgs),
    /// Score files or standard input.
    #[command(allow_negative_numbers = true)]
    Classify(ClassifyArgs),
    /// Cross-validate and/or test on a held-out set.
    #[command(allow_negative_numbers = true)]
    Evaluate(EvaluateArgs),
    /// List the tokens that most give each label away (corpus artefact check).
    #[command(allow_negative_numbers = true)]
    Leakage(LeakageArgs),
    /// Serve the HTTP API.
    #[command(allow_negative_numbers = true)]
    Serve(ServeArgs),
    /// Exit 0 if the local service answers /healthz (for container HEALTHCHECKs).
    Healthcheck(HealthcheckArgs),
}

#[derive(Args, Clone)]
pub struct HyperParams {
    /// Additive smoothing of the stance head's naive Bayes counts (> 0, at most 1e6).
    #[arg(long, env = "STANCE_ALPHA", default_value_t = TrainParams::default().alpha)]
    pub alpha: f64,
    /// The relevance head's smoothing (> 0, at most 1e6): it counts unscaled documents, the
    /// stance head unit-length ones, so each has its own.
    #[arg(long, env = "STANCE_RELEVANCE_ALPHA", default_value_t = TrainParams::default().relevance_alpha())]
    pub relevance_alpha: f64,
    /// Words seen fewer times than this in the corpus are left out of the vocabulary.
    #[arg(long, env = "STANCE_MIN_COUNT", default_value_t = TrainParams::default().min_count)]
    pub min_count: u64,
    /// Upper bound on the vocabulary size (and on the number of bigram features).
    #[arg(long, env = "STANCE_MAX_VOCAB", default_value_t = TrainParams::default().max_vocab)]
    pub max_vocab: usize,
    /// Count each token at most once per document (true) or every occurrence (false).
    #[arg(long, env = "STANCE_BINARY", default_value_t = TrainParams::default().binary, action = ArgAction::Set)]
    pub binary: bool,
    /// Add adjacent token pairs as features.
    #[arg(long, env = "STANCE_BIGRAMS", default_value_t = TrainParams::default().bigrams, action = ArgAction::Set)]
    pub bigrams: bool,
    /// Documents per summation batch: fixes the order of the count sums, as linfa's incremental
    /// fit would batch them (the counts are summed from sparse rows, so memory does not depend on it).
    #[arg(long, env = "STANCE_CHUNK_DOCS", default_value_t = TrainParams::default().chunk_docs)]
    pub chunk_docs: usize,
    /// A feature must occur in at least this many training documents.
    #[arg(long, env = "STANCE_MIN_DF", default_value_t = TrainParams::default().min_df)]
    pub min_df: u64,
    /// Leave out features made only of stop-words and punctuation.
    #[arg(long, env = "STANCE_STOP_WORDS", default_value_t = TrainParams::default().stop_words, action = ArgAction::Set)]
    pub stop_words: bool,
    /// Keep features containing punctuation-only tokens; false drops them (style, not argument).
    #[arg(long, env = "STANCE_PUNCTUATION", default_value_t = TrainParams::default().punctuation, action = ArgAction::Set)]
    pub punctuation: bool,
    /// Mark words after a negation ("not", "never", "n't") until the next punctuation.
    #[arg(long, env = "STANCE_NEGATION", default_value_t = TrainParams::default().negation, action = ArgAction::Set)]
    pub negation: bool,
    /// Naive Bayes decision rule. `hierarchical` needs a `neutral` label and two others; on
    /// other label sets training fits `multinomial` instead (and says so).
    #[arg(long, env = "STANCE_VARIANT", value_enum, default_value_t = TrainParams::default().variant)]
    pub variant: Variant,
    /// Weight features by inverse document frequency.
    #[arg(long, env = "STANCE_TFIDF", default_value_t = TrainParams::default().tfidf, action = ArgAction::Set)]
    pub tfidf: bool,
    /// Scale each stance document vector to unit length (a text shorter than the shortest
    /// training piece is divided by that piece's norm; the relevance head stays unscaled).
    #[arg(long, env = "STANCE_L2_NORM", default_value_t = TrainParams::default().l2_norm, action = ArgAction::Set)]
    pub l2_norm: bool,
    /// Complement NB: normalise each class's weights.
    #[arg(long, env = "STANCE_WEIGHT_NORM", default_value_t = TrainParams::default().weight_norm, action = ArgAction::Set)]
    pub weight_norm: bool,
    /// Multinomial and hierarchical NB: learn class priors (false: uniform priors).
    #[arg(long, env = "STANCE_FIT_PRIOR", default_value_t = TrainParams::default().fit_prior, action = ArgAction::Set)]
    pub fit_prior: bool,
    /// How raw log-likelihoods become probabilities (fitted on out-of-fold predictions).
    #[arg(long, env = "STANCE_CALIBRATION", value_enum, default_value_t = TrainParams::default().calibration)]
    pub calibration: Method,
    /// The relevance head's calibration (per-class offsets would move the line the relevance
    /// threshold was chosen for).
    #[arg(long, env = "STANCE_RELEVANCE_CALIBRATION", value_enum, default_value_t = TrainParams::default().relevance_method())]
    pub relevance_calibration: Method,
    /// Folds of the out-of-fold predictions the calibration is fitted on.
    #[arg(long, env = "STANCE_CALIBRATION_FOLDS", default_value_t = TrainParams::default().calibration_folds)]
    pub calibration_folds: usize,
    /// Fit the stance calibration also on documents alone in their --group-by group (false: only
    /// on documents whose group was held out with its other pieces; a group of one usually
    /// means the writer was not recorded).
    #[arg(long, env = "STANCE_CALIBRATE_SINGLETONS", default_value_t = TrainParams::default().calibrate_singletons, action = ArgAction::Set)]
    pub calibrate_singletons: bool,
    /// Manifest field kept within one fold (calibration and --folds); "" for stratified folds.
    #[arg(long, env = "STANCE_GROUP_BY", default_value_t = TrainParams::default().group_by)]
    pub group_by: String,
    /// Seed of fold assignments.
    #[arg(long, env = "STANCE_SEED", default_value_t = TrainParams::default().seed)]
    pub seed: u64,
}

impl HyperParams {
    pub fn params(&self) -> TrainParams {
        TrainParams {
            alpha: self.alpha,
            relevance_alpha: Some(self.relevance_alpha),
            min_count: self.min_count,
            max_vocab: self.max_vocab,
            binary: self.binary,
            bigrams: self.bigrams,
            chunk_docs: self.chunk_docs,
            min_df: self.min_df,
            stop_words: self.stop_words,
            punctuation: self.punctuation,
            negation: self.negation,
            variant: self.variant,
            tfidf: self.tfidf,
            l2_norm: self.l2_norm,
            weight_norm: self.weight_norm,
            fit_prior: self.fit_prior,
            calibration: self.calibration,
            relevance_calibration: Some(self.relevance_calibration),
            calibration_folds: self.calibration_folds,
            calibrate_singletons: self.calibrate_singletons,
            group_by: self.group_by.clone(),
            seed: self.seed,
        }
    }
}

#[derive(Args, Clone)]
pub struct OfftopicArg {
    /// Off-topic corpus (a folder whose one label folder is `off-topic/`, or JSONL labelled
    /// "off-topic") that trains the relevance head; it may share no text with the stance corpus.
    /// "none" for a model without one.
    #[arg(long, env = "STANCE_OFFTOPIC", default_value = "offtopic-data")]
    pub offtopic: String,
}

impl OfftopicArg {
    /// The off-topic corpus for `stance`, checked against it before any training
    /// ([`stance::holdout::check_offtopic`]: one `off-topic` label, no shared text).
    pub fn open(&self, stance: &Corpus) -> Result<Option<Corpus>> {
        if self.offtopic == "none" {
            return Ok(None);
        }
        let path = Path::new(&self.offtopic);
        let context = || format!("cannot use off-topic corpus {}", path.display());
        let corpus = Corpus::open_with(path, 1).with_context(context)?;
        stance::holdout::check_offtopic(stance, &corpus).with_context(context)?;
        Ok(Some(corpus))
    }
}

/// `--calibration-data` default: the folder beside `training-data/` in a checkout.
pub const DEFAULT_CALIBRATION_DATA: &str = "calibration-data";

#[derive(Args, Clone)]
pub struct CalibrationDataArg {
    /// Calibration set: labelled pieces shaped like real writing and kept out of training; the
    /// stance map's final temperature is fitted on it (`calibration-data/README.md`). "none"
    /// keeps the map fitted on held-out corpus writers alone. The default folder is skipped,
    /// with a warning, when it is missing or its labels are not the corpus's.
    #[arg(long, env = "STANCE_CALIBRATION_DATA", default_value = DEFAULT_CALIBRATION_DATA)]
    pub calibration_data: String,
}

impl CalibrationDataArg {
    /// Whether the value names the default folder (however it is spelled): that one is skipped
    /// with a warning when it does not fit the corpus, where a set asked for by name is an error.
    fn is_default(&self) -> bool {
        let given = Path::new(&self.calibration_data);
        let default = Path::new(DEFAULT_CALIBRATION_DATA);
        match (given.canonicalize(), default.canonicalize()) {
            (Ok(a), Ok(b)) => a == b,
            _ => given == default,
        }
    }

    /// The calibration set for a corpus, or `None` when there is none to use.
    pub fn open(&self, corpus: &Corpus, method: Method) -> Result<Option<Corpus>> {
        if self.calibration_data.trim().is_empty() {
            return Err(UsageError(
                "--calibration-data (STANCE_CALIBRATION_DATA) is empty: give a folder or JSONL \
                 file, or none"
                    .into(),
            )
            .into());
        }
        if self.calibration_data == "none" {
            return Ok(None);
        }
        let named = !self.is_default();
        if method == Method::None {
            if named {
                errln!(
                    "stance: warning: --calibration none: the calibration set {} is not used",
                    self.calibration_data
                );
            }
            return Ok(None);
        }
        let path = Path::new(&self.calibration_data);
        if !named && !path.exists() {
            errln!(
                "stance: warning: no calibration set at {}: confidences come from held-out \
                 corpus writers alone and may run high on real writing (--calibration-data \
                 DIR, or none to silence this)",
                path.display()
            );
            return Ok(None);
        }
        let set = Corpus::open_with(path, 1)
            .with_context(|| format!("cannot use calibration set {}", path.display()))?;
        let Some(why) = stance::holdout::label_mismatch(corpus.labels(), set.labels()) else {
            return Ok(Some(set));
        };
        let why = format!("{}: {why}", path.display());
        if named {
            return Err(UsageError(format!(
                "{why}; give --calibration-data none or a set with the corpus's labels"
            ))
            .into());
        }
        errln!("stance: warning: {why}; training without it");
        Ok(None)
    }
}

#[derive(Args, Clone, Copy)]
pub struct ThresholdArgs {
    /// `on_topic` is true when relevance is at least this.
    #[arg(long, env = "STANCE_RELEVANCE_THRESHOLD", default_value_t = DEFAULT_RELEVANCE_THRESHOLD)]
    pub relevance_threshold: f64,
    /// Scores resting on fewer known stance features are flagged `insufficient_evidence`.
    #[arg(long, env = "STANCE_MIN_EVIDENCE", default_value_t = DEFAULT_MIN_EVIDENCE)]
    pub min_evidence: usize,
}

impl ThresholdArgs {
    pub fn thresholds(&self) -> Result<Thresholds> {
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

/// `stance serve --max-body` and `stance classify --max-bytes` default: 1 MiB.
pub const DEFAULT_MAX_BODY: u64 = 1 << 20;

/// The one-line message for an error and its causes. Many library errors already quote their
/// cause in their own message (`cannot read the model pointer (No such file ...)`), so anyhow's
/// `{:#}` would print that cause twice; a cause whose text the message already holds is left out.
pub fn error_message(e: &anyhow::Error) -> String {
    let mut message = e.to_string();
    for cause in e.chain().skip(1) {
        let text = cause.to_string();
        if !message.contains(&text) {
            message.push_str(": ");
            message.push_str(&text);
        }
    }
    message
}

/// For a usage error that blames `flag`, a note naming the environment variable that set it when
/// the command line did not: an operator who configured only `STANCE_BIND` (a container's env
/// block) must be told the variable is the problem, since clap and our own checks name the flag.
pub fn env_note(flag: &str) -> Option<String> {
    let long = flag.strip_prefix("--")?;
    let given = std::env::args()
        .skip(1)
        .any(|a| a == flag || a.starts_with(&format!("{flag}=")));
    if given {
        return None;
    }
    let command = <Cli as clap::CommandFactory>::command();
    let env = command
        .get_subcommands()
        .flat_map(|sub| sub.get_arguments())
        .find(|arg| arg.get_long() == Some(long))?
        .get_env()?
        .to_string_lossy()
        .into_owned();
    let value = std::env::var_os(&env)?;
    Some(format!(
        "{flag} was not given; the value came from the environment variable {env}={:?}",
        value.to_string_lossy()
    ))
}

/// The flag a usage error blames: clap names it in an invalid-value error, our own usage errors
/// that reject a value start with it, and the library's parameter errors carry its name.
pub fn blamed_flag(e: &anyhow::Error) -> Option<String> {
    if let Some(stance::StanceError::Param { name, .. }) = e.downcast_ref() {
        // The library names parameters by their flag (`--alpha`); a name without the dashes
        // is given them, never a second pair (`----cv-folds` matched no flag, and the note
        // naming the environment variable was lost).
        return Some(match name.strip_prefix("--") {
            Some(_) => name.to_string(),
            None => format!("--{name}"),
        });
    }
    let UsageError(message) = e.downcast_ref()?;
    let first = message.split([' ', ':']).next()?;
    first.starts_with("--").then(|| first.to_string())
}

/// Checks an output path before any work, with [`stance::fsutil::output_target`]: one that
/// resolves to something other than a regular file (a FIFO, device, socket or folder) is a usage
/// error naming `flag`, with `hint` added when it is not a folder (such as "leave out --output"
/// for `/dev/stdout`). Returns the file the write will replace.
pub fn check_output(flag: &str, path: &Path, hint: Option<&str>) -> Result<std::path::PathBuf> {
    match stance::fsutil::output_target(path) {
        Ok(target) => Ok(target),
        Err(e @ stance::StanceError::Output { .. }) => {
            let hint = match hint {
                Some(h) if !path.is_dir() => format!("; {h}"),
                _ => String::new(),
            };
            Err(UsageError(format!("{flag} {e}{hint}")).into())
        }
        Err(e) => {
            Err(anyhow::Error::new(e).context(format!("cannot write {flag} {}", path.display())))
        }
    }
}

/// Refuses an output that is one of the run's inputs (compared by device and inode, so another
/// spelling, a symlink or a hard link is caught, and nothing is opened): the atomic rename at
/// the end would replace the input with results.
pub fn refuse_overwriting_input(
    out_flag: &str,
    out: &Path,
    inputs: &[(&str, &Path)],
) -> Result<()> {
    for (in_flag, input) in inputs {
        if stance::fsutil::same_file(input, out) {
            return Err(UsageError(format!(
                "{out_flag} {} is the {in_flag} input {} itself; writing it would replace that \
                 input: choose another file",
                out.display(),
                input.display()
            ))
            .into());
        }
    }
    Ok(())
}

/// A bad combination of arguments that clap itself cannot see (exit code 2).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct UsageError(pub String);

/// Opens a training corpus, warning (not failing) about exact duplicates: they are legal but
/// usually a copy-paste slip the user wants to hear about.
pub fn open_corpus(path: &Path) -> Result<Corpus> {
    let corpus =
        Corpus::open(path).with_context(|| format!("cannot use corpus {}", path.display()))?;
    let dups = corpus.stats().duplicates.len();
    if dups > 0 {
        errln!(
            "stance: warning: {dups} exact duplicate document(s) in {}",
            path.display()
        );
    }
    Ok(corpus)
}

#[cfg(test)]
mod tests {
    use super::error_message;

    #[derive(Debug, thiserror::Error)]
    #[error("cannot read the pointer ({0})")]
    struct Quoting(#[source] std::io::Error);

    #[test]
    fn a_cause_already_quoted_is_printed_once_and_a_new_one_is_kept() {
        let io = || std::io::Error::new(std::io::ErrorKind::NotFound, "no such file");
        let e = anyhow::Error::new(Quoting(io())).context("cannot load the model");
        assert_eq!(
            error_message(&e),
            "cannot load the model: cannot read the pointer (no such file)"
        );
        let e = anyhow::Error::new(io()).context("cannot load the model");
        assert_eq!(error_message(&e), "cannot load the model: no such file");
    }
}

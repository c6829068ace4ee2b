//! `stance classify`: score files or standard input, or (`--jsonl`, in [`super::bulk`]) a JSONL
//! archive.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use anstyle::{AnsiColor, Style};
use anyhow::{bail, Context, Result};
use clap::{Args, ValueEnum};

use stance::artifact;
use stance::server::routes::classify::ClassifyResponse;
use stance::Classifier;

use super::{bulk, ThresholdArgs, UsageError, DEFAULT_MAX_BODY};

#[derive(Args)]
pub struct ClassifyArgs {
    /// Files to score; `-` or nothing reads standard input. An input that cannot be read or
    /// scored is reported on stderr and the others are still scored (exit code 1 if any failed).
    pub files: Vec<PathBuf>,
    /// Models folder whose CURRENT version is used.
    #[arg(long, env = "STANCE_MODELS", default_value = "models")]
    pub models: PathBuf,
    /// One JSON object per line per document, shaped like the HTTP response plus "file".
    #[arg(long)]
    pub json: bool,
    /// Show the N tokens per label that pushed hardest toward it, and the baseline (the scores
    /// of a text with no known feature).
    #[arg(
        long,
        default_value_t = 0,
        value_name = "N",
        allow_negative_numbers = true
    )]
    pub explain: usize,
    #[command(flatten)]
    pub thresholds: ThresholdArgs,
    /// Read at most this many bytes of each input; a longer one is scored on its first BYTES
    /// (cut at a character boundary) with a warning. Default: the service's --max-body default.
    #[arg(long, env = "STANCE_MAX_BYTES", default_value_t = DEFAULT_MAX_BODY, value_name = "BYTES", value_parser = clap::value_parser!(u64).range(1..))]
    pub max_bytes: u64,
    /// Score a JSONL archive (FILE, or `-` for standard input): one `{"id": ..., "text": ...}`
    /// object per line, one output line per input line, in input order.
    ///
    /// Streams: memory stays bounded whatever the input size, all cores score, a progress bar
    /// shows on a terminal. Each output line is the input object with its fields in their order
    /// and unchanged, except `text` (left out unless --keep-text), plus the result under the
    /// --result-field key (default "stance"), shaped like a `--json` line (label, confidence,
    /// scores, evidence, relevance, on_topic, model, explanation with --explain). An input that
    /// already has that key is a bad line (`field_clash`), never overwritten.
    ///
    /// A bad line (invalid JSON or UTF-8, not an object, missing or non-string or empty `text`,
    /// a duplicate field, longer than --max-line-bytes, an empty line) gives the line
    /// `{"line": N, "id": ..., "error": {"code": ..., "message": ...}}` (N counts from 1, `id`
    /// when the object was read) and the run goes on. Exit code: 0 when every line was scored,
    /// 1 when any line failed (a summary goes to stderr) or the run stopped (unreadable input,
    /// --strict), 2 for a usage error.
    #[arg(long, value_name = "FILE", conflicts_with_all = ["files", "json"])]
    pub jsonl: Option<PathBuf>,
    /// With --jsonl: write results to FILE instead of standard output. It is written to a temp
    /// file beside it, fsynced and renamed once all input is read: never half-written.
    #[arg(long, short = 'o', value_name = "FILE")]
    pub output: Option<PathBuf>,
    /// With --jsonl: stop at the first bad line. Without --output its error line is the last one
    /// on standard output; with --output the file is not created and stderr names the line.
    #[arg(long)]
    pub strict: bool,
    /// With --jsonl: longest accepted line in bytes (newline excluded); a longer line is skipped
    /// unread, with an error line, so memory stays bounded. Default: the service's --max-body.
    #[arg(long, env = "STANCE_MAX_LINE_BYTES", default_value_t = DEFAULT_MAX_BODY, value_name = "BYTES", value_parser = clap::value_parser!(u64).range(1..))]
    pub max_line_bytes: u64,
    /// With --jsonl: also copy each line's `text` to its output line.
    #[arg(long)]
    pub keep_text: bool,
    /// With --jsonl: the key the result object goes under in each output line (not `text`).
    #[arg(
        long,
        env = "STANCE_RESULT_FIELD",
        default_value = "stance",
        value_name = "KEY"
    )]
    pub result_field: String,
    /// Colour the explanation words by label in the text output: `auto` when standard output is
    /// a terminal and NO_COLOR is not set.
    #[arg(long, env = "STANCE_COLOR", value_enum, default_value_t = ColorChoice::Auto)]
    pub color: ColorChoice,
}

/// `--color`: anstream makes the decision (terminal, `NO_COLOR`, `CLICOLOR_FORCE`) for `auto`.
#[derive(Clone, Copy, ValueEnum)]
pub enum ColorChoice {
    Auto,
    Always,
    Never,
}

impl From<ColorChoice> for anstream::ColorChoice {
    fn from(c: ColorChoice) -> Self {
        match c {
            ColorChoice::Auto => anstream::ColorChoice::Auto,
            ColorChoice::Always => anstream::ColorChoice::Always,
            ColorChoice::Never => anstream::ColorChoice::Never,
        }
    }
}

/// The colour of a label's explanation words: the three stance labels keep fixed colours so a
/// reader learns them; any other label a model may have gets the next free colour by position.
fn label_style(label: &str, index: usize) -> Style {
    let colour = match label {
        "pro-open" => AnsiColor::Green,
        "pro-closed" => AnsiColor::Red,
        "neutral" => AnsiColor::Blue,
        _ => [AnsiColor::Magenta, AnsiColor::Cyan, AnsiColor::Yellow][index % 3],
    };
    Style::new().fg_color(Some(colour.into())).bold()
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
        errln!(
            "stance: warning: {name}: longer than --max-bytes {max}; scoring its first {} bytes",
            bytes.len()
        );
    }
    stance::text::drop_bom(&mut bytes);
    let text = String::from_utf8(bytes).map_err(|_| anyhow::anyhow!("{name}: not valid UTF-8"))?;
    if text.trim().is_empty() {
        bail!("{name}: empty document");
    }
    Ok((name, text))
}

pub fn run(a: ClassifyArgs) -> Result<()> {
    // Checked here: clap's `requires` did not refuse a bare `--strict` (a default-valued flag).
    if a.jsonl.is_none() && (a.output.is_some() || a.strict || a.keep_text) {
        return Err(UsageError("--output, --strict and --keep-text go with --jsonl".into()).into());
    }
    if a.jsonl.is_some() {
        if a.result_field.is_empty() {
            return Err(UsageError("--result-field must not be empty".into()).into());
        }
        // Every input line has `text`, so a result under that key would clash on every line
        // (field_clash): a run that can only fail is refused before it starts.
        if a.result_field == "text" {
            return Err(UsageError(
                "--result-field text: every input line has a \"text\" field, which the result \
                 may not replace; choose another key (default \"stance\")"
                    .into(),
            )
            .into());
        }
    }
    let classifier = load_classifier(&a.models)?.with_thresholds(a.thresholds.thresholds()?);
    if let Some(input) = &a.jsonl {
        let opts = bulk::Options {
            explain: a.explain,
            max_line_bytes: a.max_line_bytes,
            strict: a.strict,
            keep_text: a.keep_text,
            result_field: a.result_field,
        };
        return bulk::run(&classifier, input, a.output.as_deref(), &opts);
    }
    let files = if a.files.is_empty() {
        vec![PathBuf::from("-")]
    } else {
        a.files
    };
    let mut out = anstream::AutoStream::new(std::io::stdout().lock(), a.color.into());
    let mut failed = 0usize;
    for file in &files {
        // One unreadable or unscorable input is reported and the rest are still scored.
        let scored = read_input(file, a.max_bytes).and_then(|(name, text)| {
            let score = classifier
                .score(&text, a.explain)
                .with_context(|| format!("cannot score {name}"))?;
            Ok((name, score))
        });
        let (name, score) = match scored {
            Ok(s) => s,
            Err(e) => {
                errln!("stance: error: {}", super::error_message(&e));
                failed += 1;
                continue;
            }
        };
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
        if let Some(baseline) = &score.baseline {
            let list: Vec<String> = baseline
                .iter()
                .map(|(l, p)| format!("{l} {p:.3}"))
                .collect();
            writeln!(
                out,
                "  baseline (a text with no known feature): {}",
                list.join(", ")
            )?;
        }
        for (i, (label, weights)) in score.explanation.iter().flatten().enumerate() {
            let style = label_style(label, i);
            let list: Vec<String> = weights
                .iter()
                .map(|w| format!("{style}{}{style:#} (+{:.2})", w.token, w.weight))
                .collect();
            writeln!(out, "  toward {style}{label}{style:#}: {}", list.join(", "))?;
        }
    }
    if failed > 0 {
        bail!("{failed} of {} inputs could not be scored", files.len());
    }
    Ok(())
}

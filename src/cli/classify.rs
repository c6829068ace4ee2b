//! `stance classify`: score files or standard input.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use clap::Args;

use stance::artifact;
use stance::server::routes::classify::ClassifyResponse;
use stance::Classifier;

use super::{ThresholdArgs, DEFAULT_MAX_BODY};

#[derive(Args)]
pub struct ClassifyArgs {
    /// Files to score; `-` or nothing reads standard input.
    pub files: Vec<PathBuf>,
    /// Models folder whose CURRENT version is used.
    #[arg(long, env = "STANCE_MODELS", default_value = "models")]
    pub models: PathBuf,
    /// One JSON object per line per document, shaped like the HTTP response plus "file".
    #[arg(long)]
    pub json: bool,
    /// Show the N tokens per label that pushed hardest toward it.
    #[arg(long, default_value_t = 0, value_name = "N")]
    pub explain: usize,
    #[command(flatten)]
    pub thresholds: ThresholdArgs,
    /// Read at most this many bytes of each input; a longer one is scored on its first BYTES
    /// (cut at a character boundary) with a warning. Default: the service's --max-body default.
    #[arg(long, env = "STANCE_MAX_BYTES", default_value_t = DEFAULT_MAX_BODY, value_name = "BYTES", value_parser = clap::value_parser!(u64).range(1..))]
    pub max_bytes: u64,
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

pub fn run(a: ClassifyArgs) -> Result<()> {
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

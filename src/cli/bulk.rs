//! `stance classify --jsonl`: scoring an archive of one JSON object per line.
//!
//! Archives run to gigabytes, so nothing here holds more than two batches of lines at once: a
//! batch (at most [`BATCH_LINES`] lines or [`BATCH_BYTES`] bytes, plus one line of at most
//! `--max-line-bytes`) is scored on every core with rayon while the next one is read, then its
//! results are written in input order. Memory is flat whatever the input size, and one result
//! line comes out per input line so that input and output can be zipped line by line.

use std::borrow::Cow;
use std::fmt;
use std::fs::File;
use std::io::{self, BufRead, BufReader, BufWriter, IsTerminal, Read, Write};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use indicatif::{ProgressBar, ProgressStyle};
use rayon::prelude::*;
use serde::de::{self, IgnoredAny, MapAccess, Visitor};
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

use stance::server::routes::classify::ClassifyResponse;
use stance::Classifier;

use super::UsageError;

/// Lines per batch: enough to keep every core busy between two writes.
const BATCH_LINES: usize = 4096;
/// Bytes per batch (the line that crosses it is still taken): bounds memory for long lines.
const BATCH_BYTES: usize = 8 << 20;

/// How a run is configured (from `stance classify` flags).
pub struct Options {
    pub explain: usize,
    /// Longest accepted line in bytes, newline excluded.
    pub max_line_bytes: u64,
    pub strict: bool,
    pub keep_text: bool,
    /// The key the score object goes under in each output line.
    pub result_field: String,
}

/// The run finished but some lines got error lines instead of results (exit code 1).
#[derive(Debug, thiserror::Error)]
#[error("{failed} of {lines} lines failed (first: line {first_line}: {first_message})")]
pub struct LinesFailed {
    pub failed: u64,
    pub lines: u64,
    pub first_line: u64,
    pub first_message: String,
}

/// `--strict` stopped the run at a bad line (exit code 1).
#[derive(Debug, thiserror::Error)]
#[error("line {line}: {message} (--strict: stopped there)")]
pub struct StrictStop {
    pub line: u64,
    pub message: String,
}

/// One physical line of input, as read.
enum Raw {
    Line(Vec<u8>),
    /// Longer than `--max-line-bytes`: its bytes were skipped, never held, only counted.
    TooLong(u64),
}

/// Why a line got an error line rather than a result.
struct LineError {
    code: &'static str,
    message: String,
}

impl LineError {
    fn new(code: &'static str, message: impl Into<String>) -> Self {
        LineError {
            code,
            message: message.into(),
        }
    }
}

/// What one line produced: the output line (result or error line, newline included) and, for a
/// bad line, what was wrong with it.
struct Outcome {
    out: Vec<u8>,
    error: Option<LineError>,
}

#[derive(Serialize)]
struct ErrorLine<'a> {
    line: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    id: Option<&'a RawValue>,
    error: ErrorBody<'a>,
}

#[derive(Serialize)]
struct ErrorBody<'a> {
    code: &'a str,
    message: &'a str,
}

/// The fields of an input object in their order, values kept as the exact JSON text they were
/// given in, so that passed-through fields come out unchanged (numbers keep their digits, keys
/// their order).
struct Fields<'a>(Vec<(Cow<'a, str>, &'a RawValue)>);

impl<'de> Deserialize<'de> for Fields<'de> {
    fn deserialize<D: de::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Fields<'de>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Fields<'de>, A::Error> {
                let mut fields = Vec::new();
                while let Some(key) = map.next_key::<Key<'de>>()? {
                    fields.push((key.0, map.next_value::<&'de RawValue>()?));
                }
                Ok(Fields(fields))
            }
        }
        d.deserialize_map(V)
    }
}

/// An object key, borrowed from the line unless it has escapes.
struct Key<'a>(Cow<'a, str>);

impl<'de> Deserialize<'de> for Key<'de> {
    fn deserialize<D: de::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Key<'de>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a string key")
            }
            fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Borrowed(v)))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Owned(v.to_owned())))
            }
        }
        d.deserialize_str(V)
    }
}

impl<'a> Fields<'a> {
    fn get(&self, name: &str) -> Option<&'a RawValue> {
        self.0.iter().find(|(k, _)| k == name).map(|(_, v)| *v)
    }
}

/// What kind of JSON value a raw value is, for error messages.
fn kind(raw: &str) -> &'static str {
    match raw.trim_start().as_bytes().first() {
        Some(b'"') => "a string",
        Some(b'{') => "an object",
        Some(b'[') => "an array",
        Some(b't' | b'f') => "a boolean",
        Some(b'n') => "null",
        _ => "a number",
    }
}

/// Scores one line, or says what is wrong with it. Never panics on any input.
fn process(line_no: u64, raw: &Raw, classifier: &Classifier, opts: &Options) -> Outcome {
    let bytes = match raw {
        Raw::Line(b) => b,
        Raw::TooLong(n) => {
            return error_outcome(
                line_no,
                None,
                LineError::new(
                    "line_too_long",
                    format!(
                        "the line has {n} bytes; the limit is --max-line-bytes {}",
                        opts.max_line_bytes
                    ),
                ),
            )
        }
    };
    let line = match std::str::from_utf8(bytes) {
        Ok(s) => s,
        Err(e) => {
            return error_outcome(
                line_no,
                None,
                LineError::new(
                    "invalid_utf8",
                    format!("not valid UTF-8 (at byte {})", e.valid_up_to()),
                ),
            )
        }
    };
    if line.trim().is_empty() {
        return error_outcome(
            line_no,
            None,
            LineError::new(
                "empty_line",
                "empty line (every line must be a JSON object)",
            ),
        );
    }
    let fields: Fields = match serde_json::from_str(line) {
        Ok(f) => f,
        Err(e) => {
            let valid_json = serde_json::from_str::<IgnoredAny>(line).is_ok();
            let err = if valid_json && !line.trim_start().starts_with('{') {
                LineError::new(
                    "not_an_object",
                    format!("expected a JSON object, got {}", kind(line)),
                )
            } else {
                LineError::new("invalid_json", format!("invalid JSON: {e}"))
            };
            return error_outcome(line_no, None, err);
        }
    };
    let id = fields.get("id");
    match score_fields(&fields, classifier, opts) {
        Ok(out) => Outcome { out, error: None },
        Err(e) => error_outcome(line_no, id, e),
    }
}

fn score_fields(
    fields: &Fields,
    classifier: &Classifier,
    opts: &Options,
) -> Result<Vec<u8>, LineError> {
    // A hash set, not a scan per field: a 1 MiB line can hold 100,000 fields.
    let mut seen = rustc_hash::FxHashSet::default();
    for (k, _) in &fields.0 {
        if !seen.insert(k.as_ref()) {
            return Err(LineError::new(
                "duplicate_field",
                format!("field {k:?} appears more than once"),
            ));
        }
        if *k == opts.result_field {
            return Err(LineError::new(
                "field_clash",
                format!(
                    "the input has a {k:?} field, the key results go under; rename it or pick \
                     another key with --result-field"
                ),
            ));
        }
    }
    let raw_text = fields
        .get("text")
        .ok_or_else(|| LineError::new("missing_text", "no \"text\" field"))?;
    let not_string = |_| {
        LineError::new(
            "text_not_string",
            format!("\"text\" must be a string, got {}", kind(raw_text.get())),
        )
    };
    // Borrowed when the string has no escapes (trying that on one that has would build an
    // error message per line).
    let text: Cow<str> = if raw_text.get().contains('\\') {
        Cow::Owned(serde_json::from_str::<String>(raw_text.get()).map_err(not_string)?)
    } else {
        Cow::Borrowed(serde_json::from_str::<&str>(raw_text.get()).map_err(not_string)?)
    };
    if text.trim().is_empty() {
        return Err(LineError::new("empty_text", "\"text\" is empty"));
    }
    let score = classifier
        .score(&text, opts.explain)
        .map_err(|e| LineError::new("unscorable_text", e.to_string()))?;
    let response = ClassifyResponse::from_score(score, classifier.version(), None);
    let mut out = Vec::with_capacity(1024);
    out.push(b'{');
    for (k, v) in &fields.0 {
        if *k == "text" && !opts.keep_text {
            continue;
        }
        write_json(&mut out, k.as_ref());
        out.push(b':');
        out.extend_from_slice(v.get().as_bytes());
        out.push(b',');
    }
    write_json(&mut out, &opts.result_field);
    out.push(b':');
    write_json(&mut out, &response);
    out.extend_from_slice(b"}\n");
    Ok(out)
}

/// Serializes into a buffer; the types written here (strings, maps of strings and numbers)
/// cannot fail to serialize, and writing to a `Vec` cannot fail either.
fn write_json<T: Serialize + ?Sized>(out: &mut Vec<u8>, value: &T) {
    serde_json::to_writer(out, value).expect("serializing to a Vec cannot fail");
}

fn error_outcome(line: u64, id: Option<&RawValue>, error: LineError) -> Outcome {
    let mut out = Vec::with_capacity(128);
    write_json(
        &mut out,
        &ErrorLine {
            line,
            id,
            error: ErrorBody {
                code: error.code,
                message: &error.message,
            },
        },
    );
    out.push(b'\n');
    Outcome {
        out,
        error: Some(error),
    }
}

/// Reads physical lines of at most `max` bytes (newline and a trailing `\r` excluded); a longer
/// line is skipped through without being held in memory.
struct LineReader<R> {
    inner: R,
    max: u64,
    line_no: u64,
    bytes_read: u64,
}

impl<R: BufRead> LineReader<R> {
    fn read_line(&mut self) -> io::Result<Option<(u64, Raw)>> {
        let mut buf = Vec::new();
        let n = (&mut self.inner)
            .take(self.max + 1)
            .read_until(b'\n', &mut buf)?;
        if n == 0 {
            return Ok(None);
        }
        self.bytes_read += n as u64;
        self.line_no += 1;
        if buf.last() == Some(&b'\n') {
            buf.pop();
        } else if n as u64 > self.max {
            // The limit was reached mid-line: count the rest of the line away.
            let mut total = n as u64;
            loop {
                let chunk = self.inner.fill_buf()?;
                if chunk.is_empty() {
                    break;
                }
                let (used, done) = match chunk.iter().position(|&b| b == b'\n') {
                    Some(i) => (i + 1, true),
                    None => (chunk.len(), false),
                };
                self.inner.consume(used);
                self.bytes_read += used as u64;
                total += used as u64 - u64::from(done);
                if done {
                    break;
                }
            }
            return Ok(Some((self.line_no, Raw::TooLong(total))));
        }
        if buf.last() == Some(&b'\r') {
            buf.pop();
        }
        if self.line_no == 1 {
            stance::text::drop_bom(&mut buf);
        }
        Ok(Some((self.line_no, Raw::Line(buf))))
    }

    fn batch(&mut self) -> io::Result<Vec<(u64, Raw)>> {
        let mut batch = Vec::new();
        let mut bytes = 0;
        while batch.len() < BATCH_LINES && bytes < BATCH_BYTES {
            match self.read_line()? {
                Some((n, raw)) => {
                    bytes += match &raw {
                        Raw::Line(b) => b.len(),
                        Raw::TooLong(_) => 0,
                    };
                    batch.push((n, raw));
                }
                None => break,
            }
        }
        Ok(batch)
    }
}

/// Where results go: standard output, or a temp file beside `--output` that becomes it only when
/// the run has read all its input.
enum Sink {
    Stdout(BufWriter<io::StdoutLock<'static>>),
    File {
        file: BufWriter<tempfile::NamedTempFile>,
        /// `--output` as given, for messages.
        path: PathBuf,
        /// The file the rename replaces ([`stance::fsutil::output_target`]): a symlink's
        /// target, so that the link stays a link.
        target: PathBuf,
    },
}

impl Sink {
    /// `output` is `--output` and the file it resolves to, when given.
    fn open(output: Option<(&Path, &Path)>) -> Result<Sink> {
        let Some((path, target)) = output else {
            return Ok(Sink::Stdout(BufWriter::with_capacity(
                1 << 16,
                io::stdout().lock(),
            )));
        };
        let dir = match target.parent() {
            Some(p) if !p.as_os_str().is_empty() => p,
            _ => Path::new("."),
        };
        let tmp = tempfile::Builder::new()
            .prefix(".stance-")
            .suffix(".tmp")
            .tempfile_in(dir)
            .with_context(|| format!("cannot write {}", path.display()))?;
        Ok(Sink::File {
            file: BufWriter::with_capacity(1 << 16, tmp),
            path: path.to_path_buf(),
            target: target.to_path_buf(),
        })
    }

    fn write_all(&mut self, bytes: &[u8]) -> Result<()> {
        match self {
            Sink::Stdout(w) => w
                .write_all(bytes)
                .context("cannot write to standard output"),
            Sink::File { file, path, .. } => file
                .write_all(bytes)
                .with_context(|| format!("cannot write {}", path.display())),
        }
    }

    /// Makes the output final: flushed, and for a file fsynced and renamed into place.
    fn commit(self) -> Result<()> {
        match self {
            Sink::Stdout(mut w) => w.flush().context("cannot write to standard output"),
            Sink::File { file, path, target } => {
                let ctx = || format!("cannot write {}", path.display());
                let tmp = file
                    .into_inner()
                    .map_err(|e| e.into_error())
                    .with_context(ctx)?;
                // Temp files are created 0600; the result is an ordinary file for its reader.
                #[cfg(unix)]
                {
                    use std::os::unix::fs::PermissionsExt;
                    tmp.as_file()
                        .set_permissions(std::fs::Permissions::from_mode(0o644))
                        .with_context(ctx)?;
                }
                tmp.as_file().sync_all().with_context(ctx)?;
                tmp.persist(&target)
                    .map_err(|e| e.error)
                    .with_context(ctx)?;
                let dir = match target.parent() {
                    Some(p) if !p.as_os_str().is_empty() => p,
                    _ => Path::new("."),
                };
                stance::fsutil::sync_dir(dir)?;
                Ok(())
            }
        }
    }

    /// Gives up: standard output keeps what was written, a temp file is deleted.
    fn abandon(self) {
        if let Sink::Stdout(mut w) = self {
            let _ = w.flush();
        }
    }
}

/// A progress bar on stderr, only when stderr is a terminal: lines, bytes, MB/s, and the ETA
/// when the input is a regular file of known size.
fn progress(total: Option<u64>) -> Option<ProgressBar> {
    if !io::stderr().is_terminal() {
        return None;
    }
    let (pb, template) = match total {
        Some(len) => (
            ProgressBar::new(len),
            "{spinner} [{elapsed_precise}] {wide_bar} {bytes}/{total_bytes} {bytes_per_sec} ETA {eta} {msg}",
        ),
        None => (
            ProgressBar::no_length(),
            "{spinner} [{elapsed_precise}] {bytes} {bytes_per_sec} {msg}",
        ),
    };
    pb.set_style(
        ProgressStyle::with_template(template).unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    Some(pb)
}

/// Runs `stance classify --jsonl INPUT`.
pub fn run(
    classifier: &Classifier,
    input: &Path,
    output: Option<&Path>,
    opts: &Options,
) -> Result<()> {
    let target = match output {
        Some(out) => {
            // Results go to a temp file renamed over --output at the end: if that is the input
            // itself, the archive is replaced by results that no longer hold its texts.
            if input != Path::new("-") && stance::fsutil::same_file(input, out) {
                return Err(UsageError(format!(
                    "--output {} is the --jsonl input itself; writing it would replace the \
                     archive with its results: choose another file",
                    out.display()
                ))
                .into());
            }
            Some(super::check_output(
                "--output",
                out,
                Some("leave out --output to write the results to standard output"),
            )?)
        }
        None => None,
    };
    let (name, reader, size): (String, Box<dyn Read + Send>, Option<u64>) = if input
        == Path::new("-")
    {
        ("-".into(), Box::new(io::stdin()), None)
    } else {
        let f = File::open(input).with_context(|| format!("cannot read {}", input.display()))?;
        let size = f.metadata().ok().filter(|m| m.is_file()).map(|m| m.len());
        (input.display().to_string(), Box::new(f), size)
    };
    let mut lines = LineReader {
        inner: BufReader::with_capacity(1 << 20, reader),
        max: opts.max_line_bytes,
        line_no: 0,
        bytes_read: 0,
    };
    let mut sink = Sink::open(output.zip(target.as_deref()))?;
    let pb = progress(size);
    let result = pump(classifier, &mut lines, &mut sink, opts, pb.as_ref(), &name);
    if let Some(pb) = pb {
        pb.finish_and_clear();
    }
    match result {
        Ok(failed) => {
            sink.commit()?;
            match failed {
                None => Ok(()),
                Some(f) => Err(f.into()),
            }
        }
        Err(e) => {
            sink.abandon();
            Err(e)
        }
    }
}

/// Reads, scores and writes batch after batch; the next batch is read while this one is scored.
fn pump<R: BufRead + Send>(
    classifier: &Classifier,
    lines: &mut LineReader<R>,
    sink: &mut Sink,
    opts: &Options,
    pb: Option<&ProgressBar>,
    name: &str,
) -> Result<Option<LinesFailed>> {
    let read_err = |e: io::Error| anyhow::Error::new(e).context(format!("cannot read {name}"));
    let mut failed: Option<LinesFailed> = None;
    let mut next = lines.batch().map_err(read_err)?;
    while !next.is_empty() {
        let batch = std::mem::take(&mut next);
        let (outcomes, read) = rayon::join(
            || {
                batch
                    .par_iter()
                    .map(|(n, raw)| process(*n, raw, classifier, opts))
                    .collect::<Vec<_>>()
            },
            || lines.batch(),
        );
        for ((line_no, _), outcome) in batch.iter().zip(outcomes) {
            sink.write_all(&outcome.out)?;
            if let Some(e) = outcome.error {
                if opts.strict {
                    return Err(StrictStop {
                        line: *line_no,
                        message: e.message,
                    }
                    .into());
                }
                match &mut failed {
                    Some(f) => f.failed += 1,
                    None => {
                        failed = Some(LinesFailed {
                            failed: 1,
                            lines: 0,
                            first_line: *line_no,
                            first_message: e.message,
                        })
                    }
                }
            }
        }
        next = read.map_err(read_err)?;
        if let Some(pb) = pb {
            pb.set_position(lines.bytes_read);
            pb.set_message(format!("{} lines", lines.line_no));
        }
    }
    if let Some(f) = &mut failed {
        f.lines = lines.line_no;
    }
    Ok(failed)
}

//! Reading labelled corpora. A corpus is either a folder of `<label>/*.txt` files (one article per
//! file, first line its title) or a JSONL file of `{"text": ..., "label": ...}` objects. It is
//! validated completely before training writes anything, and then streamed again as often as the
//! trainer needs, so memory does not grow with the corpus.

use std::collections::{BTreeSet, HashMap};
use std::fs;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};

use serde::Deserialize;
use sha2::{Digest, Sha256};

use crate::error::{Result, StanceError};
use crate::manifest::{Manifest, BATCHES_FILE, MANIFEST_FILE};

/// Documents longer than this are cut to their first `MAX_DOCUMENT_BYTES` (at a character
/// boundary, with a warning): training memory must not grow with the largest document. It equals
/// the service's default `--max-body`, so a model never learns from more of a document than it
/// would score.
pub const MAX_DOCUMENT_BYTES: usize = 1 << 20;

/// JSONL lines longer than this are an error (a document at the cap, JSON-escaped, fits).
pub const MAX_JSONL_LINE_BYTES: usize = 8 * MAX_DOCUMENT_BYTES;

/// One labelled document as read from a corpus.
#[derive(Debug, Clone)]
pub struct Document {
    /// Index into [`Corpus::labels`].
    pub label: usize,
    /// Where it came from: a file path, or `file:line` for JSONL.
    pub source: String,
    pub text: String,
}

/// A validated corpus: its labels, where its documents live and what they add up to.
#[derive(Debug, Clone)]
pub struct Corpus {
    root: PathBuf,
    kind: Kind,
    labels: Vec<String>,
    stats: CorpusStats,
}

#[derive(Debug, Clone)]
enum Kind {
    Folder(Vec<(usize, PathBuf)>, Option<Manifest>),
    Jsonl,
    Memory(Vec<Document>),
    /// Whole corpora, every document of part `i` given label `parts[i].1`.
    Union(Vec<(Corpus, usize)>),
    /// The documents of a parent corpus whose index is marked `true` (cross-validation folds).
    Subset(Box<Corpus>, Vec<bool>),
}

/// Facts gathered while validating: shown by `stance train` and stored in `meta.json`.
#[derive(Debug, Clone, Default)]
pub struct CorpusStats {
    pub documents_per_label: Vec<usize>,
    pub total_bytes: u64,
    /// SHA-256 over every document's label and text, in corpus order.
    pub digest: String,
    /// Exact duplicates, as (duplicate, first seen) sources.
    pub duplicates: Vec<(String, String)>,
}

impl CorpusStats {
    /// Documents in the smallest label: what bounds the folds a corpus can be split into and
    /// how far its calibration can be trusted.
    pub fn smallest_label(&self) -> usize {
        self.documents_per_label.iter().copied().min().unwrap_or(0)
    }
}

#[derive(Deserialize)]
struct JsonlRecord {
    text: serde_json::Value,
    label: serde_json::Value,
}

impl Corpus {
    /// Opens and fully validates a corpus folder or JSONL file.
    pub fn open(path: &Path) -> Result<Self> {
        Self::open_with(path, 2)
    }

    /// Opens a corpus that may have fewer labels than a classifier needs (an off-topic corpus
    /// has one); at least `min_labels`.
    pub fn open_with(path: &Path, min_labels: usize) -> Result<Self> {
        let meta = fs::metadata(path).map_err(|e| StanceError::io(path, e))?;
        if meta.is_dir() {
            Self::open_folder(path, min_labels)
        } else {
            Self::open_jsonl(path, min_labels)
        }
    }

    /// Joins whole corpora under new labels: every document of `parts[i].0` gets label
    /// `parts[i].1` (an index into `labels`). Streams its parts; nothing is copied.
    pub fn union(labels: Vec<String>, parts: Vec<(Corpus, usize)>) -> Result<Self> {
        let mut counts = vec![0usize; labels.len()];
        let mut hasher = Sha256::new();
        let mut bytes = 0;
        for (c, l) in &parts {
            let slot = counts.get_mut(*l).ok_or_else(|| {
                StanceError::corpus(c.root(), format!("label index {l} out of range"))
            })?;
            *slot += c.len();
            bytes += c.stats.total_bytes;
            hasher.update(c.stats.digest.as_bytes());
            hasher.update((*l as u64).to_le_bytes());
        }
        for l in &labels {
            hasher.update(l.as_bytes());
            hasher.update([0]);
        }
        Ok(Corpus {
            root: parts
                .first()
                .map(|(c, _)| c.root.clone())
                .unwrap_or_default(),
            kind: Kind::Union(parts),
            labels,
            stats: CorpusStats {
                documents_per_label: counts,
                total_bytes: bytes,
                digest: format!("sha256:{:x}", hasher.finalize()),
                duplicates: Vec::new(),
            },
        })
    }

    /// Each document's value of a manifest field (folder corpora) or of a field of its JSON line
    /// (JSONL corpora), in corpus order; for grouped cross-validation. Every document must have
    /// it: the error names the first that does not.
    pub fn group_keys(&self, field: &str) -> Result<Vec<String>> {
        match &self.kind {
            Kind::Folder(files, manifest) => {
                let manifest = manifest.as_ref().ok_or_else(|| {
                    StanceError::corpus(
                        self.root.join(MANIFEST_FILE),
                        format!("no manifest: cannot group by {field:?}"),
                    )
                })?;
                files
                    .iter()
                    .map(|(_, path)| {
                        let rel = relative(&self.root, path);
                        manifest.field(&rel, field).ok_or_else(|| {
                            StanceError::corpus(
                                self.root.join(MANIFEST_FILE),
                                format!("{rel} has no {field:?} in the manifest"),
                            )
                        })
                    })
                    .collect()
            }
            Kind::Jsonl => {
                let mut out = Vec::new();
                let file =
                    fs::File::open(&self.root).map_err(|e| StanceError::io(&self.root, e))?;
                for (i, line) in BufReader::new(file).lines().enumerate() {
                    let line = line.map_err(|e| StanceError::io(&self.root, e))?;
                    if line.trim().is_empty() {
                        continue;
                    }
                    let v: serde_json::Value = serde_json::from_str(&line).unwrap_or_default();
                    let key = match v.get(field) {
                        Some(serde_json::Value::String(s)) => Some(s.clone()),
                        Some(serde_json::Value::Null) | None => None,
                        Some(other) => Some(other.to_string()),
                    };
                    out.push(key.ok_or_else(|| StanceError::CorpusLine {
                        path: self.root.clone(),
                        line: i + 1,
                        reason: format!("no {field:?} field to group by"),
                    })?);
                }
                Ok(out)
            }
            Kind::Memory(_) | Kind::Subset(..) => Err(StanceError::corpus(
                &self.root,
                "a derived corpus has no groups",
            )),
            Kind::Union(parts) => {
                let mut out = Vec::new();
                for (c, _) in parts {
                    out.extend(c.group_keys(field)?);
                }
                Ok(out)
            }
        }
    }

    /// The documents whose position (in corpus order) is marked in `keep`, streamed from this
    /// corpus. `labels` are the documents' labels in corpus order (see [`Corpus::label_list`]).
    pub fn subset(&self, keep: Vec<bool>, labels: &[usize]) -> Result<Self> {
        if keep.len() != self.len() || labels.len() != self.len() {
            return Err(StanceError::corpus(
                &self.root,
                format!("a subset needs {} marks, got {}", self.len(), keep.len()),
            ));
        }
        let mut counts = vec![0usize; self.labels.len()];
        for (k, l) in keep.iter().zip(labels) {
            if *k {
                counts[*l] += 1;
            }
        }
        Ok(Corpus {
            root: self.root.clone(),
            kind: Kind::Subset(Box::new(self.clone()), keep),
            labels: self.labels.clone(),
            stats: CorpusStats {
                documents_per_label: counts,
                ..CorpusStats::default()
            },
        })
    }

    /// Every document's label, in corpus order (one streaming pass).
    pub fn label_list(&self) -> Result<Vec<usize>> {
        let mut out = Vec::with_capacity(self.len());
        self.for_each(|d| {
            out.push(d.label);
            Ok(())
        })?;
        Ok(out)
    }

    /// The manifest of a folder corpus, if it has one.
    pub fn manifest(&self) -> Option<&Manifest> {
        match &self.kind {
            Kind::Folder(_, m) => m.as_ref(),
            _ => None,
        }
    }

    /// Builds a corpus from documents already in memory (used by cross-validation folds).
    pub fn from_documents(labels: Vec<String>, docs: Vec<Document>) -> Result<Self> {
        let mut v = Validator::new(labels.len());
        for d in &docs {
            v.add(d.label, &d.source, &d.text);
        }
        let stats = v.finish(Path::new("<memory>"), &labels, 1)?;
        Ok(Corpus {
            root: PathBuf::from("<memory>"),
            kind: Kind::Memory(docs),
            labels,
            stats,
        })
    }

    /// A small in-memory corpus for unit tests: `(label index, text)` pairs, each document its
    /// own source.
    #[cfg(test)]
    pub(crate) fn for_tests(labels: &[&str], docs: &[(usize, &str)]) -> Self {
        Corpus::from_documents(
            labels.iter().map(|l| l.to_string()).collect(),
            docs.iter()
                .enumerate()
                .map(|(i, (label, text))| Document {
                    label: *label,
                    source: i.to_string(),
                    text: text.to_string(),
                })
                .collect(),
        )
        .expect("a valid test corpus")
    }

    /// Reads a corpus folder. Symlinks are followed ([`followed_type`]): a linked label folder
    /// or `.txt` file is read as what it points to.
    fn open_folder(root: &Path, min_labels: usize) -> Result<Self> {
        let mut label_dirs = BTreeSet::new();
        for entry in read_dir_sorted(root)? {
            let name = entry.file_name().to_string_lossy().into_owned();
            if name.starts_with('.') {
                continue;
            }
            let ft = followed_type(&entry)?;
            // A folder is always a label, whatever its name; only files may be READMEs (and the
            // manifest files).
            if !ft.is_dir() && (is_readme(&name) || name == MANIFEST_FILE || name == BATCHES_FILE) {
                continue;
            }
            if ft.is_dir() {
                label_dirs.insert(name);
            } else {
                return Err(StanceError::corpus(
                    entry.path(),
                    "stray file at the top level of the corpus (expected only <label>/ folders)",
                ));
            }
        }
        let labels: Vec<String> = label_dirs.into_iter().collect();
        let mut files = Vec::new();
        for (idx, label) in labels.iter().enumerate() {
            let dir = root.join(label);
            for entry in read_dir_sorted(&dir)? {
                let path = entry.path();
                let name = entry.file_name().to_string_lossy().into_owned();
                if name.starts_with('.') {
                    continue;
                }
                let ft = followed_type(&entry)?;
                if !ft.is_file() || !name.ends_with(".txt") {
                    return Err(StanceError::corpus(
                        path,
                        "unexpected entry in a label folder (expected only .txt files)",
                    ));
                }
                files.push((idx, path));
            }
        }
        let mut v = Validator::new(labels.len());
        for (label, path) in &files {
            let text = read_text(path)?;
            if text.len() + 4 > MAX_DOCUMENT_BYTES
                && fs::metadata(path).is_ok_and(|m| m.len() > MAX_DOCUMENT_BYTES as u64)
            {
                warn_capped(&path.display().to_string());
            }
            v.add(*label, &path.display().to_string(), &text);
        }
        let stats = v.finish(root, &labels, min_labels)?;
        let manifest = Manifest::load(root)?;
        Ok(Corpus {
            root: root.to_path_buf(),
            kind: Kind::Folder(files, manifest),
            labels,
            stats,
        })
    }

    fn open_jsonl(path: &Path, min_labels: usize) -> Result<Self> {
        // First pass: labels (sorted, like folder names) and validation of every line.
        let mut labels = BTreeSet::new();
        for_each_jsonl(path, |line, label, text| {
            labels.insert(label.to_string());
            if text.len() > MAX_DOCUMENT_BYTES {
                warn_capped(&format!("{}:{line}", path.display()));
            }
            Ok(())
        })?;
        let labels: Vec<String> = labels.into_iter().collect();
        let index: HashMap<&str, usize> = labels
            .iter()
            .enumerate()
            .map(|(i, l)| (l.as_str(), i))
            .collect();
        // Second pass for the digest and duplicates, keeping only hashes in memory.
        let mut v = Validator::new(labels.len());
        for_each_jsonl(path, |line, label, text| {
            v.add(
                index[label],
                &format!("{}:{line}", path.display()),
                cap_str(text),
            );
            Ok(())
        })?;
        let stats = v.finish(path, &labels, min_labels)?;
        Ok(Corpus {
            root: path.to_path_buf(),
            kind: Kind::Jsonl,
            labels,
            stats,
        })
    }

    /// The labels, sorted; a document's `label` indexes this list.
    pub fn labels(&self) -> &[String] {
        &self.labels
    }

    pub fn stats(&self) -> &CorpusStats {
        &self.stats
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    pub fn len(&self) -> usize {
        self.stats.documents_per_label.iter().sum()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Streams every document in corpus order. Reading again is allowed to fail if the files
    /// changed since validation; the error names the file.
    pub fn for_each(&self, mut f: impl FnMut(Document) -> Result<()>) -> Result<()> {
        self.for_each_dyn(&mut f)
    }

    /// [`Corpus::for_each`] behind a trait object, so that derived corpora can recurse.
    fn for_each_dyn(&self, f: &mut dyn FnMut(Document) -> Result<()>) -> Result<()> {
        match &self.kind {
            Kind::Folder(files, _) => {
                for (label, path) in files {
                    let text = read_text(path)?;
                    f(Document {
                        label: *label,
                        source: path.display().to_string(),
                        text,
                    })?;
                }
                Ok(())
            }
            Kind::Jsonl => {
                let index: HashMap<&str, usize> = self
                    .labels
                    .iter()
                    .enumerate()
                    .map(|(i, l)| (l.as_str(), i))
                    .collect();
                let path = self.root.clone();
                for_each_jsonl(&self.root, |line, label, text| {
                    let label = *index.get(label).ok_or_else(|| StanceError::CorpusLine {
                        path: path.clone(),
                        line,
                        reason: format!("label {label:?} appeared after validation"),
                    })?;
                    f(Document {
                        label,
                        source: format!("{}:{line}", path.display()),
                        text: cap_str(text).to_string(),
                    })
                })
            }
            Kind::Memory(docs) => docs.iter().try_for_each(|d| f(d.clone())),
            Kind::Subset(parent, keep) => {
                let mut i = 0;
                parent.for_each_dyn(&mut |d| {
                    let take = keep.get(i).copied().unwrap_or(false);
                    i += 1;
                    if take {
                        f(d)
                    } else {
                        Ok(())
                    }
                })
            }
            Kind::Union(parts) => parts.iter().try_for_each(|(c, label)| {
                c.for_each_dyn(&mut |mut d| {
                    d.label = *label;
                    f(d)
                })
            }),
        }
    }

    /// Loads every document into memory (for cross-validation and reports on small corpora).
    pub fn documents(&self) -> Result<Vec<Document>> {
        let mut out = Vec::with_capacity(self.len());
        self.for_each(|d| {
            out.push(d);
            Ok(())
        })?;
        Ok(out)
    }
}

/// A path relative to the corpus root with `/` separators, as the manifest names it.
fn relative(root: &Path, path: &Path) -> String {
    let rel = path.strip_prefix(root).unwrap_or(path);
    rel.components()
        .map(|c| c.as_os_str().to_string_lossy())
        .collect::<Vec<_>>()
        .join("/")
}

fn is_readme(name: &str) -> bool {
    name.to_ascii_lowercase().starts_with("readme")
}

/// The type of a corpus entry after following a symlink: a corpus assembled from links (a
/// label folder linked in from elsewhere, pieces shared between corpora) is read as what the
/// links point to, not refused as "stray" entries. A link whose target is gone is an error
/// naming it, since the piece it stood for would otherwise silently be missing.
fn followed_type(entry: &fs::DirEntry) -> Result<fs::FileType> {
    let path = entry.path();
    let ft = entry.file_type().map_err(|e| StanceError::io(&path, e))?;
    if !ft.is_symlink() {
        return Ok(ft);
    }
    fs::metadata(&path).map(|m| m.file_type()).map_err(|e| {
        StanceError::corpus(
            &path,
            format!("a symbolic link whose target cannot be read ({e}): fix or remove the link"),
        )
    })
}

fn read_dir_sorted(dir: &Path) -> Result<Vec<fs::DirEntry>> {
    let mut entries = fs::read_dir(dir)
        .map_err(|e| StanceError::io(dir, e))?
        .collect::<std::io::Result<Vec<_>>>()
        .map_err(|e| StanceError::io(dir, e))?;
    entries.sort_by_key(|e| e.file_name());
    Ok(entries)
}

/// Cuts `bytes` to at most [`MAX_DOCUMENT_BYTES`] at a UTF-8 character boundary; says whether it
/// cut anything.
fn cap_bytes(bytes: &mut Vec<u8>) -> bool {
    if bytes.len() <= MAX_DOCUMENT_BYTES {
        return false;
    }
    let mut end = MAX_DOCUMENT_BYTES;
    // Back up over at most three continuation bytes to a character start.
    while end > MAX_DOCUMENT_BYTES - 4 && (bytes[end] & 0xC0) == 0x80 {
        end -= 1;
    }
    bytes.truncate(end);
    true
}

fn warn_capped(source: &str) {
    tracing::warn!(
        "{source}: longer than {MAX_DOCUMENT_BYTES} bytes; only its first {MAX_DOCUMENT_BYTES} bytes are used"
    );
}

fn read_text(path: &Path) -> Result<String> {
    use std::io::Read;
    let mut bytes = Vec::new();
    fs::File::open(path)
        .and_then(|f| {
            f.take(MAX_DOCUMENT_BYTES as u64 + 1)
                .read_to_end(&mut bytes)
        })
        .map_err(|e| StanceError::io(path, e))?;
    cap_bytes(&mut bytes);
    crate::text::drop_bom(&mut bytes);
    let text = String::from_utf8(bytes).map_err(|e| {
        StanceError::corpus(
            path,
            format!(
                "not valid UTF-8 (byte offset {})",
                e.utf8_error().valid_up_to()
            ),
        )
    })?;
    if text.trim().is_empty() {
        return Err(StanceError::corpus(path, "empty document"));
    }
    Ok(text)
}

fn for_each_jsonl(path: &Path, mut f: impl FnMut(usize, &str, &str) -> Result<()>) -> Result<()> {
    let file = fs::File::open(path).map_err(|e| StanceError::io(path, e))?;
    let mut reader = BufReader::new(file);
    let mut buf = Vec::new();
    let mut line_no = 0;
    loop {
        buf.clear();
        let n = std::io::Read::take(&mut reader, MAX_JSONL_LINE_BYTES as u64 + 1)
            .read_until(b'\n', &mut buf)
            .map_err(|e| StanceError::io(path, e))?;
        if n == 0 {
            break;
        }
        line_no += 1;
        let bad = |reason: String| StanceError::CorpusLine {
            path: path.to_path_buf(),
            line: line_no,
            reason,
        };
        if buf.len() > MAX_JSONL_LINE_BYTES {
            return Err(bad(format!(
                "line longer than {MAX_JSONL_LINE_BYTES} bytes"
            )));
        }
        if line_no == 1 {
            crate::text::drop_bom(&mut buf);
        }
        let line = std::str::from_utf8(&buf).map_err(|_| bad("not valid UTF-8".into()))?;
        if line.trim().is_empty() {
            continue;
        }
        let rec: JsonlRecord =
            serde_json::from_str(line).map_err(|e| bad(format!("malformed JSON line: {e}")))?;
        let text = rec
            .text
            .as_str()
            .ok_or_else(|| bad("\"text\" must be a string".into()))?;
        let label = rec
            .label
            .as_str()
            .ok_or_else(|| bad("\"label\" must be a string".into()))?;
        if text.trim().is_empty() {
            return Err(bad("empty \"text\"".into()));
        }
        if label.trim().is_empty() || label.contains(['/', '\\']) {
            return Err(bad(format!("invalid label {label:?}")));
        }
        f(line_no, label, text)?;
    }
    Ok(())
}

/// [`cap_bytes`] for a string that is already in memory.
fn cap_str(text: &str) -> &str {
    if text.len() <= MAX_DOCUMENT_BYTES {
        return text;
    }
    let mut end = MAX_DOCUMENT_BYTES;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}

fn sha(text: &str) -> [u8; 32] {
    Sha256::digest(text.as_bytes()).into()
}

/// Accumulates counts, digest and duplicate detection while a corpus is read once.
struct Validator {
    counts: Vec<usize>,
    bytes: u64,
    hasher: Sha256,
    seen: HashMap<[u8; 32], (String, usize)>,
    duplicates: Vec<(String, String)>,
    /// The first text found under two labels: (source, its label, first source, first label).
    conflict: Option<(String, usize, String, usize)>,
}

impl Validator {
    fn new(labels: usize) -> Self {
        Validator {
            counts: vec![0; labels],
            bytes: 0,
            hasher: Sha256::new(),
            seen: HashMap::new(),
            duplicates: Vec::new(),
            conflict: None,
        }
    }

    fn add(&mut self, label: usize, source: &str, text: &str) {
        self.counts[label] += 1;
        self.bytes += text.len() as u64;
        self.hasher.update((label as u64).to_le_bytes());
        self.hasher.update((text.len() as u64).to_le_bytes());
        self.hasher.update(text.as_bytes());
        let h = sha(text);
        if let Some((first, first_label)) = self.seen.get(&h) {
            if *first_label != label && self.conflict.is_none() {
                self.conflict = Some((source.to_string(), label, first.clone(), *first_label));
            }
            self.duplicates.push((source.to_string(), first.clone()));
        } else {
            self.seen.insert(h, (source.to_string(), label));
        }
    }

    fn finish(self, root: &Path, labels: &[String], min_labels: usize) -> Result<CorpusStats> {
        if labels.is_empty() {
            return Err(StanceError::corpus(
                root,
                "no documents (a folder corpus needs one folder per label, a JSONL corpus one \
                 {\"text\", \"label\"} object per line)",
            ));
        }
        if labels.len() < min_labels.max(1) {
            return Err(StanceError::corpus(
                root,
                format!(
                    "need at least {} labels, found {} ({})",
                    match min_labels {
                        0 | 1 => "one".to_string(),
                        2 => "two".to_string(),
                        n => n.to_string(),
                    },
                    labels.len(),
                    labels.join(", ")
                ),
            ));
        }
        if let Some(i) = self.counts.iter().position(|&c| c == 0) {
            return Err(StanceError::corpus(
                root.join(&labels[i]),
                format!("label {:?} has no documents", labels[i]),
            ));
        }
        // One text cannot teach two labels: that is a labelling slip, never a choice.
        if let Some((dup, label, first, first_label)) = &self.conflict {
            return Err(StanceError::corpus(
                Path::new(dup),
                format!(
                    "the same text as {first}, but labelled {:?} where that one is {:?}; \
                     remove or relabel one of them",
                    labels[*label], labels[*first_label]
                ),
            ));
        }
        for (dup, first) in &self.duplicates {
            tracing::warn!("duplicate document: {dup} is identical to {first}");
        }
        // The label names are part of the digest so that renaming a label changes it.
        let mut hasher = self.hasher;
        for l in labels {
            hasher.update(l.as_bytes());
            hasher.update([0]);
        }
        Ok(CorpusStats {
            documents_per_label: self.counts,
            total_bytes: self.bytes,
            digest: format!("sha256:{:x}", hasher.finalize()),
            duplicates: self.duplicates,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(dir: &Path, rel: &str, body: &[u8]) {
        let p = dir.join(rel);
        fs::create_dir_all(p.parent().unwrap()).unwrap();
        fs::write(p, body).unwrap();
    }

    #[test]
    fn folder_corpus_reads_labels_in_order() {
        let d = tempfile::tempdir().unwrap();
        write(d.path(), "b/one.txt", b"Title\n\nbody b");
        write(d.path(), "a/one.txt", b"Title\n\nbody a");
        write(d.path(), "README.md", b"docs are allowed");
        let c = Corpus::open(d.path()).unwrap();
        assert_eq!(c.labels(), ["a", "b"]);
        assert_eq!(c.stats().documents_per_label, vec![1, 1]);
        let docs = c.documents().unwrap();
        assert_eq!(docs[0].label, 0);
        assert!(docs[0].text.contains("body a"));
    }

    #[test]
    fn rejects_bad_folders() {
        let d = tempfile::tempdir().unwrap();
        write(d.path(), "a/one.txt", b"T\n\nx");
        let e = Corpus::open(d.path()).unwrap_err().to_string();
        assert!(e.contains("at least two labels"), "{e}");

        write(d.path(), "stray.txt", b"x");
        let e = Corpus::open(d.path()).unwrap_err().to_string();
        assert!(e.contains("stray.txt") && e.contains("stray file"), "{e}");
        fs::remove_file(d.path().join("stray.txt")).unwrap();

        fs::create_dir_all(d.path().join("b")).unwrap();
        let e = Corpus::open(d.path()).unwrap_err().to_string();
        assert!(e.contains("has no documents"), "{e}");

        write(d.path(), "b/bad.txt", &[0xff, 0xfe, 0x41]);
        let e = Corpus::open(d.path()).unwrap_err().to_string();
        assert!(e.contains("bad.txt") && e.contains("UTF-8"), "{e}");

        write(d.path(), "b/bad.txt", b"  \n\n ");
        let e = Corpus::open(d.path()).unwrap_err().to_string();
        assert!(e.contains("bad.txt") && e.contains("empty"), "{e}");
    }

    #[test]
    fn jsonl_reports_line_numbers_and_duplicates() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("c.jsonl");
        fs::write(
            &p,
            "{\"text\":\"same words\",\"label\":\"x\"}\n\n{\"text\":\"same words\",\"label\":\"x\"}\n{\"text\":\"other\",\"label\":\"y\"}\n",
        )
        .unwrap();
        let c = Corpus::open(&p).unwrap();
        assert_eq!(c.labels(), ["x", "y"]);
        assert_eq!(c.stats().duplicates.len(), 1);
        assert!(c.stats().duplicates[0].0.ends_with(":3"));

        fs::write(
            &p,
            "{\"text\":\"a\",\"label\":\"x\"}\n{\"text\": 3, \"label\":\"y\"}\n",
        )
        .unwrap();
        let e = Corpus::open(&p).unwrap_err().to_string();
        assert!(e.contains("c.jsonl:2") && e.contains("string"), "{e}");

        fs::write(&p, "{\"text\":\"a\",\"label\":\"x\"}\n{not json\n").unwrap();
        let e = Corpus::open(&p).unwrap_err().to_string();
        assert!(e.contains("c.jsonl:2") && e.contains("malformed"), "{e}");
    }

    #[test]
    fn one_text_under_two_labels_is_refused_naming_both() {
        let d = tempfile::tempdir().unwrap();
        write(d.path(), "a/1.txt", b"T\n\nsame words");
        write(d.path(), "b/1.txt", b"T\n\nsame words");
        let e = Corpus::open(d.path()).unwrap_err().to_string();
        assert!(
            e.contains("a/1.txt") && e.contains("b/1.txt") && e.contains("relabel"),
            "{e}"
        );
        let p = d.path().join("c.jsonl");
        fs::write(
            &p,
            "{\"text\":\"x y\",\"label\":\"a\"}\n{\"text\":\"x y\",\"label\":\"b\"}\n",
        )
        .unwrap();
        let e = Corpus::open(&p).unwrap_err().to_string();
        assert!(e.contains("c.jsonl:1") && e.contains("c.jsonl:2"), "{e}");
    }

    #[test]
    fn an_empty_corpus_says_it_has_no_documents() {
        let d = tempfile::tempdir().unwrap();
        let e = Corpus::open(d.path()).unwrap_err().to_string();
        assert!(e.contains("no documents"), "{e}");
        let p = d.path().join("c.jsonl");
        fs::write(&p, "").unwrap();
        let e = Corpus::open(&p).unwrap_err().to_string();
        assert!(e.contains("no documents"), "{e}");
    }

    #[test]
    fn a_byte_order_mark_is_not_part_of_the_text() {
        let d = tempfile::tempdir().unwrap();
        write(d.path(), "a/1.txt", b"\xEF\xBB\xBFopen weights");
        write(d.path(), "b/1.txt", b"closed api");
        let docs = Corpus::open(d.path()).unwrap().documents().unwrap();
        assert_eq!(docs[0].text, "open weights");
        let p = d.path().join("c.jsonl");
        fs::write(
            &p,
            b"\xEF\xBB\xBF{\"text\":\"open weights\",\"label\":\"a\"}\n{\"text\":\"z\",\"label\":\"b\"}\n",
        )
        .unwrap();
        let docs = Corpus::open(&p).unwrap().documents().unwrap();
        assert_eq!(docs[0].text, "open weights");
    }

    #[test]
    fn digest_depends_on_content() {
        let d = tempfile::tempdir().unwrap();
        write(d.path(), "a/1.txt", b"T\n\nalpha");
        write(d.path(), "b/1.txt", b"T\n\nbeta");
        let first = Corpus::open(d.path()).unwrap().stats().digest.clone();
        assert_eq!(first, Corpus::open(d.path()).unwrap().stats().digest);
        write(d.path(), "b/1.txt", b"T\n\nbeta!");
        assert_ne!(first, Corpus::open(d.path()).unwrap().stats().digest);
    }
}

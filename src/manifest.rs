//! The corpus manifest: `manifest.jsonl` at the top of a corpus folder, one JSON object per
//! piece, saying who wrote it, in which batch, in what genre and length. It lets evaluation hold
//! out whole writers or batches (grouped cross-validation), so that a writer's habits cannot be
//! learned and tested at once. A piece's record is found by its path relative to the corpus root
//! (`"file": "pro-open/some-piece.txt"`); every other field is free-form.

use std::collections::HashMap;
use std::fs;
use std::io::{BufRead, BufReader};
use std::path::Path;

use serde_json::{Map, Value};

use crate::error::{Result, StanceError};

/// File name of the manifest inside a corpus folder.
pub const MANIFEST_FILE: &str = "manifest.jsonl";
/// Optional companion listing each batch's sources; allowed at the top of a corpus, not read.
pub const BATCHES_FILE: &str = "batches.jsonl";

/// Records keyed by relative path.
#[derive(Debug, Clone, Default)]
pub struct Manifest {
    records: HashMap<String, Map<String, Value>>,
}

impl Manifest {
    /// Reads `root/manifest.jsonl` if it exists, checking every line; `None` when absent.
    pub fn load(root: &Path) -> Result<Option<Self>> {
        let path = root.join(MANIFEST_FILE);
        if !path.is_file() {
            return Ok(None);
        }
        let file = fs::File::open(&path).map_err(|e| StanceError::io(&path, e))?;
        let mut records = HashMap::new();
        for (i, line) in BufReader::new(file).lines().enumerate() {
            let bad = |reason: String| StanceError::CorpusLine {
                path: path.clone(),
                line: i + 1,
                reason,
            };
            let line = line.map_err(|e| bad(format!("cannot read: {e}")))?;
            // Files may start with a byte-order mark (Windows editors write one).
            let line = if i == 0 {
                crate::text::strip_bom(&line)
            } else {
                &line
            };
            if line.trim().is_empty() {
                continue;
            }
            let value: Value =
                serde_json::from_str(line).map_err(|e| bad(format!("malformed JSON: {e}")))?;
            let Value::Object(map) = value else {
                return Err(bad("expected a JSON object".into()));
            };
            let file = map
                .get("file")
                .and_then(Value::as_str)
                .ok_or_else(|| bad("\"file\" must be a string".into()))?
                .to_string();
            if file.contains("..") || file.starts_with('/') {
                return Err(bad(format!(
                    "\"file\" {file:?} must be relative to the corpus"
                )));
            }
            if !root.join(&file).is_file() {
                return Err(bad(format!(
                    "\"file\" {file:?} does not exist in the corpus"
                )));
            }
            if let (Some(label), Some(dir)) = (
                map.get("label").and_then(Value::as_str),
                file.split('/').next(),
            ) {
                if label != dir {
                    return Err(bad(format!(
                        "label {label:?} does not match the folder of {file:?}"
                    )));
                }
            }
            if records.insert(file.clone(), map).is_some() {
                return Err(bad(format!("{file:?} is listed twice")));
            }
        }
        Ok(Some(Manifest { records }))
    }

    pub fn len(&self) -> usize {
        self.records.len()
    }

    pub fn is_empty(&self) -> bool {
        self.records.is_empty()
    }

    /// A field of a piece, as text (numbers are written out), if the piece and field exist.
    pub fn field(&self, file: &str, field: &str) -> Option<String> {
        match self.records.get(file)?.get(field)? {
            Value::String(s) => Some(s.clone()),
            Value::Null => None,
            other => Some(other.to_string()),
        }
    }

    /// The record of a piece.
    pub fn record(&self, file: &str) -> Option<&Map<String, Value>> {
        self.records.get(file)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_and_checks_records() {
        let d = tempfile::tempdir().unwrap();
        fs::create_dir_all(d.path().join("a")).unwrap();
        fs::write(d.path().join("a/x.txt"), "T\n\nbody").unwrap();
        assert!(Manifest::load(d.path()).unwrap().is_none());
        let m = d.path().join(MANIFEST_FILE);
        fs::write(
            &m,
            "{\"file\":\"a/x.txt\",\"label\":\"a\",\"writer\":\"w1\",\"n\":3}\n",
        )
        .unwrap();
        let man = Manifest::load(d.path()).unwrap().unwrap();
        assert_eq!(man.field("a/x.txt", "writer").as_deref(), Some("w1"));
        assert_eq!(man.field("a/x.txt", "n").as_deref(), Some("3"));
        assert_eq!(man.field("a/x.txt", "batch"), None);
        for (body, want) in [
            ("{\"file\":\"a/y.txt\"}\n", "does not exist"),
            ("{\"file\":\"a/x.txt\",\"label\":\"b\"}\n", "does not match"),
            ("[1]\n", "JSON object"),
            (
                "{\"file\":\"a/x.txt\"}\n{\"file\":\"a/x.txt\"}\n",
                "listed twice",
            ),
        ] {
            fs::write(&m, body).unwrap();
            let e = Manifest::load(d.path()).unwrap_err().to_string();
            assert!(e.contains(want) && e.contains("manifest.jsonl"), "{e}");
        }
    }
}

//! Error types of the library. Every variant names the file, line or argument at fault so that a
//! user can act on a one-line message without reading logs.

use std::path::PathBuf;

/// Everything that can go wrong while reading a corpus, training, loading or scoring.
#[derive(Debug, thiserror::Error)]
pub enum StanceError {
    /// A corpus file or folder could not be read, or breaks the corpus rules.
    #[error("{path}: {reason}")]
    Corpus { path: PathBuf, reason: String },

    /// A line of a JSONL corpus is not `{"text": ..., "label": ...}`.
    #[error("{path}:{line}: {reason}")]
    CorpusLine {
        path: PathBuf,
        line: usize,
        reason: String,
    },

    /// A model artifact is missing, corrupt, truncated or does not fit together.
    #[error("model artifact {path}: {reason}")]
    Artifact { path: PathBuf, reason: String },

    /// Hyper-parameters or other arguments outside their valid range. `name` is the flag that
    /// sets it, spelled as the user types it (`--alpha`), so the message points at what to change.
    #[error("invalid parameter {name}: {reason}")]
    Param { name: &'static str, reason: String },

    /// The Hugging Face tokenizer failed to train, load or encode.
    #[error("tokenizer: {0}")]
    Tokenizer(String),

    /// A text that would need the Hugging Face pipeline on a run longer than the pipeline's piece
    /// limit with nowhere to cut it (see [`crate::tokenize::pieces`]).
    #[error(
        "text at byte {offset}: more than {limit} bytes without whitespace or punctuation in text \
         that Unicode NFKC normalization changes; it cannot be tokenized within bounded memory"
    )]
    Unbounded { offset: usize, limit: usize },

    /// linfa failed to fit the naive Bayes model.
    #[error("naive Bayes fit: {0}")]
    Fit(String),

    /// An output path that is not what the write needs: a file to be replaced atomically that
    /// is a FIFO, device, socket or folder, or a models folder that is a file.
    #[error("{}: {reason}", path.display())]
    Output { path: PathBuf, reason: String },

    /// Any other I/O failure, with the path it concerns.
    /// The reason is part of the message, not a separate `source`, so that a chained report
    /// (`{:#}`) names it once.
    #[error("{}: {reason}", path.display())]
    Io {
        path: PathBuf,
        reason: std::io::Error,
    },
}

impl StanceError {
    /// A fold-count error named for the flag that set the count. Fold counts come from three
    /// flags (`--calibration-folds`, `--cv-folds`, `evaluate --folds`) through one function, and
    /// an error naming only "folds" sends the user to a flag they never passed.
    pub fn for_folds_flag(self, flag: &'static str) -> Self {
        match self {
            StanceError::Param {
                name: "folds",
                reason,
            } => StanceError::Param { name: flag, reason },
            other => other,
        }
    }

    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        StanceError::Io {
            path: path.into(),
            reason: source,
        }
    }

    pub(crate) fn corpus(path: impl Into<PathBuf>, reason: impl Into<String>) -> Self {
        StanceError::Corpus {
            path: path.into(),
            reason: reason.into(),
        }
    }

    pub(crate) fn artifact(path: impl Into<PathBuf>, reason: impl Into<String>) -> Self {
        StanceError::Artifact {
            path: path.into(),
            reason: reason.into(),
        }
    }
}

/// Result alias used across the library.
pub type Result<T, E = StanceError> = std::result::Result<T, E>;

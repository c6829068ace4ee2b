//! The on-disk model format. A models folder holds one folder per version plus a `CURRENT` file
//! naming the active one:
//!
//! ```text
//! models/
//!   CURRENT                      -> "20261128T101500123Z-3fa2c1d0\n"
//!   20261128T101500123Z-3fa2c1d0/
//!     tokenizer.json             standard Hugging Face tokenizer
//!     model.json                 the stance head: linfa MultinomialNb histograms, decision
//!                                rule, feature layout, weighting, calibration
//!     relevance.json             the relevance head (off-topic / on-topic), same shape
//!     meta.json                  format version, labels, digests, counts, parameters, metrics
//! ```
//!
//! A version is written in a hidden temporary folder, every file fsynced, then renamed into place;
//! `CURRENT` is replaced atomically after that. A crash at any point leaves either the old
//! pointer or the new one, each naming a complete version.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::calibration::Calibration;
use crate::corpus::CorpusStats;
use crate::error::{Result, StanceError};
use crate::evaluate::Report;
use crate::features::{FeatureLayout, FeatureSpace};
use crate::fsutil::{rename_dir, sync_dir, write_atomic};
use crate::head::Head;
use crate::model::{ClassStats, DecisionRule, NbModel};
use crate::params::TrainParams;
use crate::tokenize;
use crate::train::{TrainedModel, RELEVANCE_LABELS};
use crate::weighting::Weighting;

/// Version of the artifact layout; loading refuses any other. Version 1 (no calibration, no
/// relevance head) is refused with a message that says to retrain.
pub const FORMAT_VERSION: u32 = 2;
const MODEL_KIND: &str = "stance-multinomial-nb";
pub const POINTER: &str = "CURRENT";
pub const TOKENIZER_FILE: &str = "tokenizer.json";
pub const MODEL_FILE: &str = "model.json";
pub const RELEVANCE_FILE: &str = "relevance.json";
pub const META_FILE: &str = "meta.json";

/// `model.json` and `relevance.json`: one head. linfa's `MultinomialNb` histograms with labels in
/// order (linfa's own serde form keys classes by a hash map, whose order is not deterministic),
/// the decision rule applied to them, the feature layout, the weighting and the calibration.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelFile {
    pub kind: String,
    pub format_version: u32,
    pub alpha: f64,
    pub rule: DecisionRule,
    pub features: FeatureLayout,
    pub weighting: Weighting,
    pub calibration: Calibration,
    pub classes: Vec<ClassStats>,
}

/// The off-topic corpus a relevance head was trained on.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct OfftopicMeta {
    pub documents: usize,
    pub data_digest: String,
}

/// `meta.json`: what a user or operator wants to know about a version without loading it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Meta {
    pub format_version: u32,
    pub version: String,
    pub created_at: String,
    pub labels: Vec<String>,
    pub data_digest: String,
    pub documents_per_label: BTreeMap<String, usize>,
    pub vocabulary_size: usize,
    pub n_features: usize,
    pub params: TrainParams,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub offtopic: Option<OfftopicMeta>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cross_validation: Option<CvSummary>,
    /// The calibration set the stance map's final temperature was fitted on, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub calibration_data: Option<crate::holdout::HoldoutFit>,
    /// SHA-256 of `tokenizer.json` and `model.json`, checked on load.
    pub files: BTreeMap<String, String>,
}

/// Cross-validation figures recorded with a model.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct CvSummary {
    pub folds: usize,
    pub seed: u64,
    /// Whether folds kept each writer's pieces together.
    #[serde(default)]
    pub grouped: bool,
    pub accuracy: f64,
    pub macro_f1: f64,
    pub log_loss: f64,
    #[serde(default)]
    pub ece: f64,
}

impl CvSummary {
    pub fn from_report(report: &Report, folds: usize, seed: u64, grouped: bool) -> Self {
        CvSummary {
            folds,
            seed,
            grouped,
            accuracy: report.accuracy,
            macro_f1: report.macro_f1,
            log_loss: report.log_loss,
            ece: report.ece,
        }
    }
}

/// A loaded, validated model version.
pub struct Artifact {
    pub dir: PathBuf,
    pub meta: Meta,
    pub tokenizer: tokenizers::Tokenizer,
    pub stance: Head,
    pub relevance: Option<Head>,
}

fn sha_hex(bytes: &[u8]) -> String {
    format!("sha256:{:x}", Sha256::digest(bytes))
}

fn render_head(head: &Head) -> Result<String> {
    // What loading would refuse is refused here, before a version is published that no server
    // could load.
    head.calibration
        .validate(head.model.n_classes())
        .map_err(|e| StanceError::Fit(format!("{e}; train with --calibration none")))?;
    let file = ModelFile {
        kind: MODEL_KIND.into(),
        format_version: FORMAT_VERSION,
        alpha: head.model.alpha(),
        rule: head.model.rule(),
        features: head.features.layout().clone(),
        weighting: head.weighting.clone(),
        calibration: head.calibration.clone(),
        classes: head.model.classes().to_vec(),
    };
    serde_json::to_string(&file).map_err(|e| StanceError::Fit(e.to_string()))
}

/// Serializes a trained model into its file contents (deterministic for equal inputs).
fn render(trained: &TrainedModel) -> Result<Vec<(&'static str, String)>> {
    let mut out = vec![
        (TOKENIZER_FILE, tokenize::to_json(&trained.tokenizer)?),
        (MODEL_FILE, render_head(&trained.stance)?),
    ];
    if let Some(r) = &trained.relevance {
        out.push((RELEVANCE_FILE, render_head(r)?));
    }
    Ok(out)
}

/// Options for [`save`].
pub struct SaveOptions {
    /// How many versions to keep, the new one included (the active one is never removed).
    pub keep: usize,
}

/// Writes a new version into `models_dir`, points `CURRENT` at it and prunes old versions.
/// Returns the new version's name.
// The corpus facts (stance and off-topic) and the run's settings are all recorded in meta.json.
#[allow(clippy::too_many_arguments)]
pub fn save(
    models_dir: &Path,
    trained: &TrainedModel,
    stats: &CorpusStats,
    labels: &[String],
    offtopic: Option<&CorpusStats>,
    params: &TrainParams,
    cv: Option<CvSummary>,
    opts: &SaveOptions,
) -> Result<Meta> {
    // create_dir_all on a regular file fails with a bare "File exists (os error 17)".
    if fs::metadata(models_dir).is_ok_and(|m| !m.is_dir()) {
        return Err(StanceError::Output {
            path: models_dir.to_path_buf(),
            reason: "is not a folder: the models folder holds one folder per version and \
                     CURRENT (give a folder, or a path that does not exist yet)"
                .into(),
        });
    }
    fs::create_dir_all(models_dir).map_err(|e| StanceError::io(models_dir, e))?;
    // One publisher at a time: naming, writing, moving CURRENT and pruning under the lock.
    let _lock = crate::fsutil::lock_dir(models_dir)?;
    let rendered = render(trained)?;
    let now = chrono::Utc::now();
    let joined: Vec<&str> = rendered.iter().map(|(_, b)| b.as_str()).collect();
    let digest = sha_hex(joined.join("\n").as_bytes());
    let mut version = format!("{}-{}", now.format("%Y%m%dT%H%M%S%3fZ"), &digest[7..15]);
    while models_dir.join(&version).exists() {
        version.push('x');
    }
    let files: BTreeMap<String, String> = rendered
        .iter()
        .map(|(name, body)| (name.to_string(), sha_hex(body.as_bytes())))
        .collect();
    let meta = Meta {
        format_version: FORMAT_VERSION,
        version: version.clone(),
        created_at: now.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
        labels: labels.to_vec(),
        data_digest: stats.digest.clone(),
        documents_per_label: labels
            .iter()
            .cloned()
            .zip(stats.documents_per_label.iter().copied())
            .collect(),
        vocabulary_size: trained.tokenizer.get_vocab_size(false),
        n_features: trained.stance.features.len(),
        params: params.clone(),
        offtopic: offtopic.map(|o| OfftopicMeta {
            documents: o.documents_per_label.iter().sum(),
            data_digest: o.digest.clone(),
        }),
        cross_validation: cv,
        calibration_data: trained.holdout.clone(),
        files,
    };
    let meta_json =
        serde_json::to_string_pretty(&meta).map_err(|e| StanceError::Fit(e.to_string()))? + "\n";

    let tmp = tempfile::Builder::new()
        .prefix(".partial-")
        .tempdir_in(models_dir)
        .map_err(|e| StanceError::io(models_dir, e))?;
    for (name, body) in rendered
        .iter()
        .map(|(n, b)| (*n, b.as_str()))
        .chain([(META_FILE, meta_json.as_str())])
    {
        write_atomic(&tmp.path().join(name), body.as_bytes())?;
        crate::failpoint::hit(&format!("after-{name}"));
    }
    sync_dir(tmp.path())?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        fs::set_permissions(tmp.path(), fs::Permissions::from_mode(0o755))
            .map_err(|e| StanceError::io(tmp.path(), e))?;
    }
    let final_dir = models_dir.join(&version);
    let tmp_path = tmp.keep();
    rename_dir(&tmp_path, &final_dir)?;
    crate::failpoint::hit("before-pointer");
    write_atomic(&models_dir.join(POINTER), format!("{version}\n").as_bytes())?;
    prune(models_dir, &version, opts.keep)?;
    Ok(meta)
}

/// Lists complete version folders, oldest first (names start with a UTC timestamp).
pub fn list_versions(models_dir: &Path) -> Result<Vec<String>> {
    let mut out = Vec::new();
    for entry in fs::read_dir(models_dir).map_err(|e| StanceError::io(models_dir, e))? {
        let entry = entry.map_err(|e| StanceError::io(models_dir, e))?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if !name.starts_with('.') && entry.path().join(META_FILE).is_file() {
            out.push(name);
        }
    }
    out.sort();
    Ok(out)
}

/// A `.stance-*.tmp` file in the models folder untouched for this long is a crashed write's
/// leftover. Under the lock no other publisher is writing `CURRENT`, but the same temp-file
/// pattern is used by any `stance` output (`classify --jsonl --output models/x.jsonl`), which
/// takes no lock; a live one is written to every few seconds, so an hour-old one is dead.
const STALE_TEMP: std::time::Duration = std::time::Duration::from_secs(3600);

/// Runs under the models folder's lock, so every `.partial-*` folder is a crashed run's
/// leftover, and so is every `.stance-*.tmp` file older than [`STALE_TEMP`] (a crash between
/// writing `CURRENT`'s temp file and renaming it); the version just written and whatever
/// `CURRENT` names are never removed.
fn prune(models_dir: &Path, current: &str, keep: usize) -> Result<()> {
    // Leftovers of crashed runs are never pointed at; remove them.
    for entry in fs::read_dir(models_dir)
        .map_err(|e| StanceError::io(models_dir, e))?
        .flatten()
    {
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.starts_with(".partial-") {
            let _ = fs::remove_dir_all(entry.path());
        } else if name.starts_with(".stance-") && name.ends_with(".tmp") {
            let stale = entry.metadata().is_ok_and(|m| {
                m.is_file()
                    && m.modified()
                        .ok()
                        .and_then(|t| t.elapsed().ok())
                        .is_some_and(|age| age > STALE_TEMP)
            });
            if stale {
                let _ = fs::remove_file(entry.path());
            }
        }
    }
    let versions = list_versions(models_dir)?;
    let pointed = current_version(models_dir).ok();
    let excess = versions.len().saturating_sub(keep.max(1));
    for v in versions
        .iter()
        .filter(|v| v.as_str() != current && Some(v.as_str()) != pointed.as_deref())
        .take(excess)
    {
        fs::remove_dir_all(models_dir.join(v))
            .map_err(|e| StanceError::io(models_dir.join(v), e))?;
        tracing::info!("removed old model version {v}");
    }
    Ok(())
}

/// Reads the version name that `CURRENT` points to.
pub fn current_version(models_dir: &Path) -> Result<String> {
    let path = models_dir.join(POINTER);
    let text = fs::read_to_string(&path).map_err(|e| {
        StanceError::artifact(
            &path,
            format!("cannot read the model pointer ({e}); train a model with `stance train`"),
        )
    })?;
    let version = text.trim();
    if version.is_empty() || version.contains(['/', '\\']) || version.starts_with('.') {
        return Err(StanceError::artifact(
            &path,
            format!("invalid version name {version:?}"),
        ));
    }
    Ok(version.to_string())
}

/// Loads the version `CURRENT` names.
pub fn load_current(models_dir: &Path) -> Result<Artifact> {
    let version = current_version(models_dir)?;
    load_version(&models_dir.join(version))
}

fn read(dir: &Path, name: &str) -> Result<String> {
    let path = dir.join(name);
    let bytes =
        fs::read(&path).map_err(|e| StanceError::artifact(&path, format!("cannot read: {e}")))?;
    String::from_utf8(bytes).map_err(|_| StanceError::artifact(&path, "not valid UTF-8"))
}

/// Loads and validates one version folder; every check names the file at fault.
pub fn load_version(dir: &Path) -> Result<Artifact> {
    let meta_path = dir.join(META_FILE);
    let meta_text = read(dir, META_FILE)?;
    let format: serde_json::Value = serde_json::from_str(&meta_text)
        .map_err(|e| StanceError::artifact(&meta_path, format!("not valid JSON: {e}")))?;
    let found = format.get("format_version").and_then(|v| v.as_u64());
    if found != Some(FORMAT_VERSION as u64) {
        let hint = if found.is_some_and(|v| v < FORMAT_VERSION as u64) {
            " (written by an older stance, before calibration and relevance; retrain it with `stance train`)"
        } else {
            ""
        };
        return Err(StanceError::artifact(
            &meta_path,
            format!(
                "unknown format_version {} (this stance reads {FORMAT_VERSION}){hint}",
                format
                    .get("format_version")
                    .unwrap_or(&serde_json::Value::Null)
            ),
        ));
    }
    let meta: Meta = serde_json::from_value(format)
        .map_err(|e| StanceError::artifact(&meta_path, format!("invalid metadata: {e}")))?;

    let mut contents = BTreeMap::new();
    for name in [TOKENIZER_FILE, MODEL_FILE, RELEVANCE_FILE] {
        let Some(expected) = meta.files.get(name) else {
            if name == RELEVANCE_FILE {
                continue;
            }
            return Err(StanceError::artifact(
                &meta_path,
                format!("no digest for {name}"),
            ));
        };
        let body = read(dir, name)?;
        if &sha_hex(body.as_bytes()) != expected {
            return Err(StanceError::artifact(
                dir.join(name),
                "content does not match the digest in meta.json (corrupt or truncated)",
            ));
        }
        contents.insert(name, body);
    }

    let tok_path = dir.join(TOKENIZER_FILE);
    let tokenizer = tokenize::from_json(&contents[TOKENIZER_FILE], &tok_path)?;
    let vocab = tokenizer.get_vocab_size(false);
    let stance = load_head(
        &dir.join(MODEL_FILE),
        &contents[MODEL_FILE],
        vocab,
        &meta.labels,
    )?;
    let relevance = match contents.get(RELEVANCE_FILE) {
        Some(body) => Some(load_head(
            &dir.join(RELEVANCE_FILE),
            body,
            vocab,
            &RELEVANCE_LABELS.map(String::from),
        )?),
        None => None,
    };
    Ok(Artifact {
        dir: dir.to_path_buf(),
        meta,
        tokenizer,
        stance,
        relevance,
    })
}

/// Parses and validates one head file against the tokenizer's vocabulary size and the labels
/// it must have.
fn load_head(path: &Path, body: &str, vocab: usize, labels: &[String]) -> Result<Head> {
    let bad_model = |r: String| StanceError::artifact(path, r);
    let file: ModelFile =
        serde_json::from_str(body).map_err(|e| bad_model(format!("not a stance model: {e}")))?;
    if file.kind != MODEL_KIND || file.format_version != FORMAT_VERSION {
        return Err(bad_model(format!(
            "unsupported model kind {:?} version {}",
            file.kind, file.format_version
        )));
    }
    let found: Vec<&str> = file.classes.iter().map(|c| c.label.as_str()).collect();
    if found != labels.iter().map(String::as_str).collect::<Vec<_>>() {
        return Err(bad_model(format!(
            "labels {found:?} do not match the expected {labels:?}"
        )));
    }
    if file.features.vocab_size != vocab {
        return Err(bad_model(format!(
            "model expects a vocabulary of {} tokens but tokenizer.json has {vocab}",
            file.features.vocab_size
        )));
    }
    if let Some(bad) = file
        .features
        .token_ids()
        .find(|&id| id == 0 || id as usize >= vocab)
    {
        return Err(bad_model(format!(
            "a feature refers to token id {bad}, outside the vocabulary or [UNK]"
        )));
    }
    if !(file.alpha.is_finite() && file.alpha > 0.0) {
        return Err(bad_model(format!(
            "alpha {} is not a positive number",
            file.alpha
        )));
    }
    let features = FeatureSpace::from_layout(file.features);
    let model = NbModel::new(file.alpha, file.rule, file.classes).map_err(bad_model)?;
    if model.n_features() != features.len() {
        return Err(bad_model(format!(
            "model width {} does not match the {} features of the layout",
            model.n_features(),
            features.len()
        )));
    }
    file.weighting
        .validate(model.n_features())
        .map_err(bad_model)?;
    file.calibration
        .validate(model.n_classes())
        .map_err(bad_model)?;
    Ok(Head {
        features,
        weighting: file.weighting,
        model,
        calibration: file.calibration,
    })
}

/// The parts of a version that training must reproduce byte for byte: both files, and meta.json
/// without its creation time and version name.
pub fn comparable_content(dir: &Path) -> Result<(String, String, serde_json::Value)> {
    let tokenizer = read(dir, TOKENIZER_FILE)?;
    let mut model = read(dir, MODEL_FILE)?;
    if dir.join(RELEVANCE_FILE).exists() {
        model.push('\n');
        model.push_str(&read(dir, RELEVANCE_FILE)?);
    }
    let mut meta: serde_json::Value = serde_json::from_str(&read(dir, META_FILE)?)
        .map_err(|e| StanceError::artifact(dir.join(META_FILE), e.to_string()))?;
    if let Some(m) = meta.as_object_mut() {
        m.remove("created_at");
        m.remove("version");
    }
    Ok((tokenizer, model, meta))
}

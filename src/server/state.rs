//! Shared state of the service. The model sits behind an `ArcSwap`: a request takes a snapshot
//! once and finishes on it, while a reload swaps the pointer for new requests.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use arc_swap::ArcSwap;

use crate::artifact;
use crate::classifier::{Classifier, Thresholds};
use crate::error::Result;

use super::admission::Admission;
use super::metrics::Metrics;

/// Limits applied to requests.
#[derive(Debug, Clone)]
pub struct Limits {
    pub max_body: usize,
    pub max_batch: usize,
    pub max_explain: usize,
    /// The whole body must arrive within this time (408 otherwise).
    pub body_timeout: Duration,
    /// A request gets this long in total, from its head to its response (408 otherwise).
    pub request_deadline: Duration,
    /// Heavy requests (scored on the blocking pool) admitted at once; the next gets 429.
    pub max_heavy: usize,
}

/// What every handler can reach.
pub struct AppState {
    pub model: ArcSwap<Classifier>,
    pub models_dir: PathBuf,
    pub admin_token: Option<String>,
    pub limits: Limits,
    /// Applied to every model loaded, the first and each reload.
    pub thresholds: Thresholds,
    pub metrics: Metrics,
    pub heavy: Admission,
    reload_lock: std::sync::Mutex<()>,
}

/// Outcome of a successful reload.
pub struct Reloaded {
    pub previous: String,
    pub version: String,
}

impl AppState {
    pub fn new(
        classifier: Classifier,
        models_dir: PathBuf,
        admin_token: Option<String>,
        limits: Limits,
    ) -> Self {
        let metrics = Metrics::new();
        metrics.set_model(classifier.version());
        let thresholds = classifier.thresholds();
        AppState {
            model: ArcSwap::from_pointee(classifier),
            models_dir,
            admin_token,
            thresholds,
            heavy: Admission::new(limits.max_heavy),
            limits,
            metrics,
            reload_lock: std::sync::Mutex::new(()),
        }
    }

    pub fn snapshot(&self) -> Arc<Classifier> {
        self.model.load_full()
    }

    /// Loads the version `CURRENT` names and swaps it in; on failure the old model keeps serving.
    /// Blocking: call it off the async workers.
    pub fn reload(&self) -> Result<Reloaded> {
        let _one_at_a_time = self.reload_lock.lock().unwrap_or_else(|e| e.into_inner());
        let previous = self.model.load().version().to_string();
        match artifact::load_current(&self.models_dir) {
            Ok(a) => {
                let classifier = Classifier::from_artifact(a).with_thresholds(self.thresholds);
                let version = classifier.version().to_string();
                // Metrics first, so that whoever sees the new model also sees it counted.
                self.metrics.set_model(&version);
                self.metrics.reloads.with_label_values(&["success"]).inc();
                self.model.store(Arc::new(classifier));
                tracing::info!(previous = %previous, version = %version, "model reloaded");
                Ok(Reloaded { previous, version })
            }
            Err(e) => {
                self.metrics.reloads.with_label_values(&["failure"]).inc();
                tracing::error!(serving = %previous, "model reload failed, still serving the old model: {e}");
                Err(e)
            }
        }
    }
}

//! A single crash-injection hook so that integration tests can kill `stance train` in the middle
//! of writing an artifact and prove that nothing half-written is ever served. It is inert unless
//! the `STANCE_CRASH_AT` environment variable names the stage.

/// Aborts the process (as a power cut or `kill -9` would) when `STANCE_CRASH_AT` equals `stage`.
pub fn hit(stage: &str) {
    if let Some(wanted) = std::env::var_os("STANCE_CRASH_AT") {
        if wanted == stage {
            eprintln!("stance: simulated crash at {stage}");
            std::process::abort();
        }
    }
}

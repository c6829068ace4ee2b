//! A single crash-injection hook so that integration tests can kill `stance train` in the middle
//! of writing an artifact and prove that nothing half-written is ever served. It exists only in
//! builds with debug assertions (the test suite's `cargo test` builds): there it is inert unless
//! the `STANCE_CRASH_AT` environment variable names the stage; in release builds it is compiled
//! out and the variable means nothing.

/// Aborts the process (as a power cut or `kill -9` would) when `STANCE_CRASH_AT` equals `stage`.
#[cfg(debug_assertions)]
pub fn hit(stage: &str) {
    if let Some(wanted) = std::env::var_os("STANCE_CRASH_AT") {
        if wanted == stage {
            eprintln!("stance: simulated crash at {stage}");
            std::process::abort();
        }
    }
}

/// Release builds: no crash hook.
#[cfg(not(debug_assertions))]
#[inline(always)]
pub fn hit(_stage: &str) {}

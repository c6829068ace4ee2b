//! `stance serve`: the HTTP service.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::Result;
use clap::Args;

use stance::server::startup::default_max_heavy;
use stance::server::state::Limits;
use stance::server::telemetry::{self, LogFormat};
use stance::server::ServeConfig;

use super::{ThresholdArgs, DEFAULT_MAX_BODY};

#[derive(Args)]
pub struct ServeArgs {
    /// Models folder; the version named by its CURRENT file is served.
    #[arg(long, env = "STANCE_MODELS", default_value = "models")]
    pub models: PathBuf,
    /// Address to listen on (the container sets 0.0.0.0:8080). Port 0 picks a free port.
    #[arg(long, env = "STANCE_BIND", default_value = "127.0.0.1:8080", value_parser = listen_address)]
    pub bind: String,
    /// Also answer /healthz, /readyz and /metrics on this address, on a thread of their own, so
    /// that probes get an answer at once while the main workers are saturated (point the
    /// orchestrator's probes here; the container sets 0.0.0.0:9090). Default: only on --bind.
    #[arg(long, env = "STANCE_PROBE_BIND", value_parser = probe_address)]
    pub probe_bind: Option<String>,
    /// Worker threads (default: one per CPU core).
    #[arg(long, env = "STANCE_WORKERS", value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..=MAX_WORKERS))]
    pub workers: Option<usize>,
    /// Largest accepted request body in bytes (after gzip decoding, and before).
    #[arg(long, env = "STANCE_MAX_BODY", default_value_t = DEFAULT_MAX_BODY as usize, value_parser = at_least_one())]
    pub max_body: usize,
    /// Largest accepted batch, in documents.
    #[arg(long, env = "STANCE_MAX_BATCH", default_value_t = 256, value_parser = at_least_one())]
    pub max_batch: usize,
    /// Largest accepted `explain` value.
    #[arg(long, env = "STANCE_MAX_EXPLAIN", default_value_t = 100)]
    pub max_explain: usize,
    /// Bearer token for /v1/admin/*; without it the admin routes answer 403.
    #[arg(long, env = "STANCE_ADMIN_TOKEN", hide_env_values = true)]
    pub admin_token: Option<String>,
    /// Seconds a client has to send its request head before the connection is closed.
    #[arg(long, env = "STANCE_REQUEST_TIMEOUT", default_value_t = 5, value_parser = seconds(1))]
    pub request_timeout: u64,
    /// Seconds a client has to send the whole request body (408 request_timeout otherwise).
    #[arg(long, env = "STANCE_BODY_TIMEOUT", default_value_t = 10, value_parser = seconds(1))]
    pub body_timeout: u64,
    /// Seconds a request may take in total, from its head to its response (408 otherwise).
    #[arg(long, env = "STANCE_REQUEST_DEADLINE", default_value_t = 30, value_parser = seconds(1))]
    pub request_deadline: u64,
    /// Seconds a response may go without a byte written (the client not reading it) before its
    /// connection is closed; a client that reads, however slowly, is not cut off.
    #[arg(long, env = "STANCE_WRITE_TIMEOUT", default_value_t = 10, value_parser = seconds(1))]
    pub write_timeout: u64,
    /// Heavy requests (long texts, texts off the fast tokenizer routes, large batches; scored
    /// on the blocking threads) admitted at once, running or waiting. The next one is refused
    /// with 429 `overloaded` and `Retry-After: 1`, so that a burst of them cannot grow memory
    /// with the queue. Default: twice the blocking threads (2 per worker).
    #[arg(long, env = "STANCE_MAX_HEAVY", value_parser = clap::value_parser!(u64).range(1..))]
    pub max_heavy: Option<u64>,
    /// Seconds in-flight requests get to finish after SIGTERM or SIGINT.
    #[arg(long, env = "STANCE_SHUTDOWN_TIMEOUT", default_value_t = 20, value_parser = seconds(0))]
    pub shutdown_timeout: u64,
    /// Seconds an idle keep-alive connection stays open.
    #[arg(long, env = "STANCE_KEEP_ALIVE", default_value_t = 30, value_parser = seconds(0))]
    pub keep_alive: u64,
    /// Concurrent connections per worker.
    #[arg(long, env = "STANCE_MAX_CONNECTIONS", default_value_t = 10_000, value_parser = at_least_one())]
    pub max_connections: usize,
    /// Log format.
    #[arg(long, env = "STANCE_LOG_FORMAT", value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,
    #[command(flatten)]
    pub thresholds: ThresholdArgs,
}

/// The parser of a count for which 0 would leave the service useless (a body limit of 0 bytes, a
/// batch of 0 documents, 0 workers or connections): it would start and report ready, then refuse
/// or never accept every request, so clap refuses it at start-up, naming the flag (or its
/// environment twin).
/// `HOST:PORT` as a listener takes it. A malformed address is a usage error (exit 2); a host that
/// does not resolve or a port already in use is found when listening, a runtime failure (exit 1).
pub(crate) fn listen_address(s: &str) -> Result<String, String> {
    if s.parse::<std::net::SocketAddr>().is_ok() {
        return Ok(s.to_string());
    }
    let Some((host, port)) = s.rsplit_once(':') else {
        return Err(format!(
            "expected HOST:PORT, such as 0.0.0.0:8080, got {s:?}"
        ));
    };
    if host.is_empty() {
        return Err(format!(
            "no host before the port in {s:?} (0.0.0.0:{port} listens on every interface)"
        ));
    }
    if host.contains(':') {
        return Err(format!(
            "an IPv6 address goes in brackets, such as [::1]:8080, got {s:?}"
        ));
    }
    if port.parse::<u16>().is_err() {
        return Err(format!(
            "the port must be a number from 0 to 65535, got {port:?}"
        ));
    }
    Ok(s.to_string())
}

/// [`listen_address`], or empty for "no separate probe listener".
pub(crate) fn probe_address(s: &str) -> Result<String, String> {
    if s.is_empty() {
        Ok(String::new())
    } else {
        listen_address(s)
    }
}

/// actix-server refuses more worker threads than this, with a panic at start-up.
const MAX_WORKERS: u64 = 512;

/// The longest timeout a flag takes: a day. The values become deadlines (`Instant + Duration`)
/// on every connection, and a value near `u64::MAX` seconds overflows there, inside the workers,
/// leaving a service that starts and then answers nothing.
const MAX_SECONDS: u64 = 86_400;

/// A number of seconds from `min` to [`MAX_SECONDS`].
fn seconds(min: u64) -> clap::builder::RangedU64ValueParser<u64> {
    clap::builder::RangedU64ValueParser::<u64>::new().range(min..=MAX_SECONDS)
}

fn at_least_one() -> clap::builder::RangedU64ValueParser<usize> {
    clap::builder::RangedU64ValueParser::<usize>::new().range(1..)
}

pub fn run(a: ServeArgs) -> Result<()> {
    telemetry::init(a.log_format, true, "info");
    let workers = a.workers.unwrap_or_else(|| {
        std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(2)
    });
    let config = ServeConfig {
        models_dir: a.models,
        bind: a.bind,
        probe_bind: a.probe_bind.filter(|b| !b.is_empty()),
        workers,
        limits: Limits {
            max_body: a.max_body,
            max_batch: a.max_batch,
            max_explain: a.max_explain,
            body_timeout: Duration::from_secs(a.body_timeout),
            request_deadline: Duration::from_secs(a.request_deadline),
            max_heavy: a
                .max_heavy
                .map_or(default_max_heavy(workers), |n| n as usize),
        },
        admin_token: a.admin_token,
        request_timeout: Duration::from_secs(a.request_timeout),
        write_timeout: Duration::from_secs(a.write_timeout),
        shutdown_timeout: Duration::from_secs(a.shutdown_timeout),
        keep_alive: Duration::from_secs(a.keep_alive),
        max_connections: a.max_connections,
        thresholds: a.thresholds.thresholds()?,
    };
    stance::server::run(config)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::listen_address;

    #[test]
    fn listen_addresses_are_checked_for_form_only() {
        for ok in [
            "127.0.0.1:8080",
            "0.0.0.0:0",
            "[::1]:8080",
            "localhost:8080",
            "stance.internal:65535",
        ] {
            assert_eq!(listen_address(ok).as_deref(), Ok(ok));
        }
        for (bad, why) in [
            ("notanaddr", "HOST:PORT"),
            (":8080", "no host"),
            ("::1:8080", "brackets"),
            ("localhost:http", "port must be a number"),
            ("localhost:70000", "port must be a number"),
            ("localhost:", "port must be a number"),
        ] {
            let err = listen_address(bad).unwrap_err();
            assert!(err.contains(why), "{bad}: {err}");
        }
    }
}

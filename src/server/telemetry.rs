//! Logs and per-request telemetry: one log line per request (method, path, status, latency,
//! request id), the request id echoed in `X-Request-Id`, and the request metrics.

use std::io::{IsTerminal, Write};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::LazyLock;
use std::time::Instant;

use actix_web::dev::{Service, ServiceRequest, ServiceResponse};
use actix_web::http::header::{HeaderName, HeaderValue};
use actix_web::{web, Error, ResponseError};
use tracing_subscriber::{fmt, EnvFilter};

use super::error::ApiError;
use super::state::AppState;

pub const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// Log output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

/// Installs the global tracing subscriber. The service logs to stdout (container logs); the
/// other commands log to stderr so that their stdout stays pure results. `RUST_LOG` overrides
/// `default_level`.
pub fn init(format: LogFormat, to_stdout: bool, default_level: &str) {
    let filter =
        EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default_level));
    let ansi = if to_stdout {
        std::io::stdout().is_terminal()
    } else {
        std::io::stderr().is_terminal()
    };
    let builder = fmt()
        .with_env_filter(filter)
        .with_target(false)
        .with_ansi(ansi);
    let out = if to_stdout {
        LogOutput::Stdout
    } else {
        LogOutput::Stderr
    };
    let _ = match format {
        LogFormat::Text => builder.with_writer(out).try_init(),
        LogFormat::Json => builder
            .json()
            .flatten_event(true)
            .with_writer(out)
            .try_init(),
    };
}

/// Log lines that could not be written since the process started. One counter for the process,
/// since the log output is the process's; every metrics registry exposes this same counter.
pub static LOG_LINES_DROPPED: LazyLock<prometheus::IntCounter> = LazyLock::new(|| {
    prometheus::IntCounter::new(
        "stance_log_lines_dropped_total",
        "Log lines dropped because the log output could not be written",
    )
    .expect("valid metric")
});

static WARNED: AtomicBool = AtomicBool::new(false);

/// Where log lines go, through a writer that never fails. A log collector that goes away (the
/// reader of a pipe exits, a disk fills) must not take the service down with it: tracing-subscriber
/// reports a failed write with `eprintln!`, which panics when stderr is the same broken pipe, and
/// that panic kills the worker serving the request (or the thread draining on SIGTERM). So a
/// failed line is dropped and counted, and the first failure is reported once on stderr, if
/// stderr still works.
#[derive(Clone, Copy, Debug)]
pub enum LogOutput {
    Stdout,
    Stderr,
}

impl<'a> fmt::MakeWriter<'a> for LogOutput {
    type Writer = LogOutput;

    fn make_writer(&'a self) -> Self::Writer {
        *self
    }
}

impl Write for LogOutput {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let written = match self {
            LogOutput::Stdout => std::io::stdout().lock().write_all(buf),
            LogOutput::Stderr => std::io::stderr().lock().write_all(buf),
        };
        if let Err(e) = written {
            LOG_LINES_DROPPED.inc();
            if !WARNED.swap(true, Ordering::Relaxed) {
                let _ = writeln!(
                    std::io::stderr(),
                    "stance: warning: cannot write the log ({e}); log lines are dropped and counted in stance_log_lines_dropped_total"
                );
            }
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        let _ = match self {
            LogOutput::Stdout => std::io::stdout().flush(),
            LogOutput::Stderr => std::io::stderr().flush(),
        };
        Ok(())
    }
}

/// Installs the subscriber of the one-shot commands (`train`, `classify`, `evaluate`,
/// `leakage`): warnings go to stderr as `stance: warning: ...`, the same shape as the commands'
/// own warnings and errors, with no timestamp (a person reads these, not a log collector).
pub fn init_cli(default_level: &str) {
    let filter =
        EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default_level));
    let _ = fmt()
        .with_env_filter(filter)
        .event_format(CliFormat)
        .with_writer(LogOutput::Stderr)
        .try_init();
}

/// `stance: <level>: <message> <fields>`.
struct CliFormat;

impl<S, N> fmt::FormatEvent<S, N> for CliFormat
where
    S: tracing::Subscriber + for<'a> tracing_subscriber::registry::LookupSpan<'a>,
    N: for<'a> fmt::FormatFields<'a> + 'static,
{
    fn format_event(
        &self,
        ctx: &fmt::FmtContext<'_, S, N>,
        mut writer: fmt::format::Writer<'_>,
        event: &tracing::Event<'_>,
    ) -> std::fmt::Result {
        let level = match *event.metadata().level() {
            tracing::Level::ERROR => "error",
            tracing::Level::WARN => "warning",
            tracing::Level::INFO => "info",
            tracing::Level::DEBUG => "debug",
            tracing::Level::TRACE => "trace",
        };
        write!(writer, "stance: {level}: ")?;
        ctx.field_format().format_fields(writer.by_ref(), event)?;
        writeln!(writer)
    }
}

/// Request ids: 1 to 128 bytes of visible ASCII (`!` to `~`, no spaces). Absent: one is
/// generated. Present but breaking the rule: the request is refused (400 `invalid_request_id`).
pub fn valid_request_id(v: &HeaderValue) -> bool {
    (1..=128).contains(&v.len()) && v.as_bytes().iter().all(|b| (b'!'..=b'~').contains(b))
}

fn new_request_id() -> HeaderValue {
    HeaderValue::from_str(&uuid::Uuid::new_v4().simple().to_string())
        .unwrap_or(HeaderValue::from_static("unknown"))
}

/// The `method` label: the standard methods, every other one counted as `other`, so that clients
/// cannot grow the label set.
pub fn method_label(m: &actix_web::http::Method) -> &'static str {
    match m.as_str() {
        "GET" => "GET",
        "HEAD" => "HEAD",
        "POST" => "POST",
        "PUT" => "PUT",
        "DELETE" => "DELETE",
        "PATCH" => "PATCH",
        "OPTIONS" => "OPTIONS",
        "TRACE" => "TRACE",
        "CONNECT" => "CONNECT",
        _ => "other",
    }
}

/// The `route` label: a mounted route's pattern, or `other`.
fn route_label(pattern: Option<String>) -> String {
    match pattern {
        Some(p) if super::routes::ROUTES.contains(&p.as_str()) => p,
        _ => "other".to_string(),
    }
}

/// The middleware, for `App::wrap_fn`: request id, metrics and the log line.
pub fn middleware<S>(
    req: ServiceRequest,
    srv: &S,
) -> impl std::future::Future<Output = Result<ServiceResponse, Error>> + use<S>
where
    S: Service<ServiceRequest, Response = ServiceResponse, Error = Error>,
{
    let start = Instant::now();
    let given = req.headers().get(&REQUEST_ID).cloned();
    let bad_id = given.as_ref().is_some_and(|v| !valid_request_id(v));
    let rid = given.filter(|_| !bad_id).unwrap_or_else(new_request_id);
    let method = req.method().clone();
    let path = req.path().to_string();
    let state = req.app_data::<web::Data<AppState>>().cloned();
    let call = if bad_id {
        Err(req.into_response(
            ApiError::bad_request(
                "invalid_request_id",
                "X-Request-Id must be 1 to 128 visible ASCII characters (no spaces)",
            )
            .error_response(),
        ))
    } else {
        Ok(srv.call(req))
    };
    async move {
        let mut res = match call {
            Err(early) => early,
            Ok(fut) => fut.await?,
        };
        let status = res.status().as_u16();
        let elapsed = start.elapsed();
        // Read after routing: before it, the pattern is looked up from the raw path, so a
        // percent-encoded path such as `/v1/%63lassify`, which the router decodes and serves,
        // was counted as `other`.
        let route = route_label(res.request().match_pattern());
        res.headers_mut().insert(REQUEST_ID, rid.clone());
        if let Some(state) = state {
            let m = &state.metrics;
            m.requests
                .with_label_values(&[route.as_str(), method_label(&method), &status.to_string()])
                .inc();
            m.latency
                .with_label_values(&[route.as_str()])
                .observe(elapsed.as_secs_f64());
        }
        tracing::info!(
            method = %method,
            path = %path,
            status,
            latency_ms = elapsed.as_secs_f64() * 1e3,
            request_id = rid.to_str().unwrap_or(""),
            "request"
        );
        Ok(res)
    }
}

//! Logs and per-request telemetry: one log line per request (method, path, status, latency,
//! request id), the request id echoed in `X-Request-Id`, and the request metrics.

use std::io::IsTerminal;
use std::time::Instant;

use actix_web::dev::{Service, ServiceRequest, ServiceResponse};
use actix_web::http::header::{HeaderName, HeaderValue};
use actix_web::{web, Error};
use tracing_subscriber::{fmt, EnvFilter};

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
    let _ = match (format, to_stdout) {
        (LogFormat::Text, true) => builder.with_writer(std::io::stdout).try_init(),
        (LogFormat::Json, true) => builder
            .json()
            .flatten_event(true)
            .with_writer(std::io::stdout)
            .try_init(),
        (LogFormat::Text, false) => builder.with_writer(std::io::stderr).try_init(),
        (LogFormat::Json, false) => builder
            .json()
            .flatten_event(true)
            .with_writer(std::io::stderr)
            .try_init(),
    };
}

fn request_id(req: &ServiceRequest) -> HeaderValue {
    req.headers()
        .get(&REQUEST_ID)
        .filter(|v| !v.is_empty() && v.len() <= 128 && v.to_str().is_ok())
        .cloned()
        .unwrap_or_else(|| {
            HeaderValue::from_str(&uuid::Uuid::new_v4().simple().to_string())
                .unwrap_or(HeaderValue::from_static("unknown"))
        })
}

/// The middleware, for `App::wrap_fn`.
pub fn middleware<S>(
    req: ServiceRequest,
    srv: &S,
) -> impl std::future::Future<Output = Result<ServiceResponse, Error>> + use<S>
where
    S: Service<ServiceRequest, Response = ServiceResponse, Error = Error>,
{
    let start = Instant::now();
    let rid = request_id(&req);
    let route = req
        .match_pattern()
        .unwrap_or_else(|| "unmatched".to_string());
    let method = req.method().clone();
    let path = req.path().to_string();
    let state = req.app_data::<web::Data<AppState>>().cloned();
    let fut = srv.call(req);
    async move {
        let mut res = fut.await?;
        let status = res.status().as_u16();
        let elapsed = start.elapsed();
        res.headers_mut().insert(REQUEST_ID, rid.clone());
        if let Some(state) = state {
            let m = &state.metrics;
            m.requests
                .with_label_values(&[route.as_str(), method.as_str(), &status.to_string()])
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

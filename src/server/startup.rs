//! Building and running the server: load the model, bind, serve until SIGTERM or SIGINT (then
//! drain in-flight requests), reload on SIGHUP.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use actix_http::error::DispatchError;
use actix_http::{HttpService, Protocol};
use actix_service::{fn_service, map_config, IntoServiceFactory, ServiceFactoryExt};
use actix_web::dev::AppConfig;
use actix_web::{web, App};

use super::conn::{self, JsonErrors};
use super::error::not_found;
use super::routes;
use super::state::{AppState, Limits};
use super::telemetry;
use crate::artifact;
use crate::classifier::Classifier;
use crate::error::StanceError;

/// Blocking threads (heavy scoring, reloads) per worker: with the per-request bound, this bounds
/// the memory of the work in flight.
const BLOCKING_THREADS_PER_WORKER: usize = 2;

/// The default `--max-heavy`: as many heavy requests waiting as running.
pub fn default_max_heavy(workers: usize) -> usize {
    2 * BLOCKING_THREADS_PER_WORKER * workers
}

/// Everything `stance serve` can be told.
#[derive(Debug, Clone)]
pub struct ServeConfig {
    pub models_dir: PathBuf,
    pub bind: String,
    pub workers: usize,
    pub limits: Limits,
    pub admin_token: Option<String>,
    /// A client must send its whole request head within this time.
    pub request_timeout: Duration,
    /// A connection on which no byte of a response can be written for this long is closed.
    pub write_timeout: Duration,
    /// On SIGTERM/SIGINT, in-flight requests get this long to finish.
    pub shutdown_timeout: Duration,
    pub keep_alive: Duration,
    /// Concurrent connections per worker.
    pub max_connections: usize,
    /// Where to answer `/healthz`, `/readyz` and `/metrics` on a thread of their own (they are
    /// served on `bind` too); `None`: only on `bind`.
    pub probe_bind: Option<String>,
    /// Relevance and evidence thresholds applied to every score.
    pub thresholds: crate::classifier::Thresholds,
}

/// Why the service could not start or stopped abnormally.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error("cannot load the model: {0}")]
    Model(#[from] StanceError),
    #[error("cannot listen on {addr} ({flag}): {source}")]
    Bind {
        /// The flag that named the address (`--bind` or `--probe-bind`).
        flag: &'static str,
        addr: String,
        #[source]
        source: std::io::Error,
    },
    #[error("server error: {0}")]
    Io(#[from] std::io::Error),
}

/// Runs the service until a shutdown signal; blocks the calling thread.
pub fn run(config: ServeConfig) -> Result<(), ServeError> {
    actix_web::rt::System::new().block_on(serve(config))
}

async fn serve(config: ServeConfig) -> Result<(), ServeError> {
    let started = Instant::now();
    let artifact = artifact::load_current(&config.models_dir)?;
    let classifier = Classifier::from_artifact(artifact).with_thresholds(config.thresholds);
    let version = classifier.version().to_string();
    let state = web::Data::new(AppState::new(
        classifier,
        config.models_dir.clone(),
        config.admin_token.clone().filter(|t| !t.is_empty()),
        config.limits.clone(),
    ));

    let listener =
        std::net::TcpListener::bind(&config.bind).map_err(|source| ServeError::Bind {
            flag: "--bind",
            addr: config.bind.clone(),
            source,
        })?;
    let mut addrs: Vec<SocketAddr> = vec![listener.local_addr()?];
    let timeouts = Timeouts {
        keep_alive: config.keep_alive,
        head: config.request_timeout,
        write: config.write_timeout,
    };
    let builder = actix_server::Server::build()
        .workers(config.workers.max(1))
        .disable_signals()
        .max_concurrent_connections(config.max_connections)
        .worker_max_blocking_threads(BLOCKING_THREADS_PER_WORKER)
        .shutdown_timeout(config.shutdown_timeout.as_secs());
    let server = listen(
        builder,
        "stance",
        listener,
        state.clone(),
        timeouts,
        routes::configure,
    )
    .map_err(|source| ServeError::Bind {
        flag: "--bind",
        addr: config.bind.clone(),
        source,
    })?;
    let probes = match &config.probe_bind {
        Some(bind) => {
            let (probes, addr) = probe_server(bind, state.clone(), timeouts)?;
            addrs.push(addr);
            Some(probes)
        }
        None => None,
    };
    let server = server.run();
    let handle = server.handle();
    let listening = addrs
        .iter()
        .map(|a| format!("http://{a}"))
        .collect::<Vec<_>>()
        .join(", ");
    tracing::info!(
        version = %version,
        models = %config.models_dir.display(),
        startup_ms = started.elapsed().as_secs_f64() * 1e3,
        "stance listening on {listening}, serving model {version} from {}",
        config.models_dir.display()
    );

    let probe_handle = probes.as_ref().map(|p| p.handle());
    if let Some(probes) = probes {
        actix_web::rt::spawn(probes);
    }
    actix_web::rt::spawn(signals(handle, state.clone()));
    server.await?;
    if let Some(probes) = probe_handle {
        probes.stop(true).await;
    }
    tracing::info!("stance stopped");
    Ok(())
}

/// Connections the probe listener holds at once: probes open one at a time, so this only bounds
/// what a misdirected client can take.
const PROBE_CONNECTIONS: usize = 256;

/// The `--probe-bind` listener: `/healthz`, `/readyz` and `/metrics` on a worker thread of its
/// own, which is idle between probes and so answers at once however busy the main workers are
/// (a saturated main listener queues a probe behind every open connection's request).
fn probe_server(
    bind: &str,
    state: web::Data<AppState>,
    timeouts: Timeouts,
) -> Result<(actix_server::Server, SocketAddr), ServeError> {
    let bind_error = |source| ServeError::Bind {
        flag: "--probe-bind",
        addr: bind.to_string(),
        source,
    };
    let listener = std::net::TcpListener::bind(bind).map_err(bind_error)?;
    let addr = listener.local_addr()?;
    let builder = actix_server::Server::build()
        .workers(1)
        .disable_signals()
        .max_concurrent_connections(PROBE_CONNECTIONS)
        .worker_max_blocking_threads(1)
        .shutdown_timeout(1);
    let server = listen(
        builder,
        "stance-probes",
        listener,
        state,
        timeouts,
        routes::configure_probes,
    )
    .map_err(bind_error)?;
    Ok((server.run(), addr))
}

/// The connection timeouts both listeners apply.
#[derive(Debug, Clone, Copy)]
struct Timeouts {
    keep_alive: Duration,
    head: Duration,
    write: Duration,
}

/// Adds to `builder` a listener serving what `routes` mounts, with the service's keep-alive,
/// request-head and write timeouts, request logs and metrics, the JSON error shape for the HTTP
/// layer's own errors, and keep-alive connections that close as soon as a graceful shutdown
/// starts.
fn listen(
    builder: actix_server::ServerBuilder,
    name: &str,
    listener: std::net::TcpListener,
    state: web::Data<AppState>,
    timeouts: Timeouts,
    routes: fn(&mut web::ServiceConfig),
) -> std::io::Result<actix_server::ServerBuilder> {
    // Fires when `ServerHandle::stop(true)` starts the drain. actix-server only waits for a
    // worker's connections to end; without this signal an idle keep-alive connection is not told
    // to close and holds the process until `--shutdown-timeout` (or the keep-alive) runs out.
    let draining = builder.graceful_shutdown_signal();
    builder.listen(name, listener, move || {
        let app = App::new()
            .app_data(state.clone())
            .wrap_fn(telemetry::middleware)
            .configure(routes)
            .default_service(web::to(not_found))
            .into_factory()
            .map_err(|e| e.error_response());
        let draining = draining.clone();
        let conn = conn::Config {
            head_timeout: timeouts.head,
            write_timeout: timeouts.write,
            answered: Some(state.metrics.http_layer.clone()),
            write_timeouts: Some(state.metrics.write_timeouts.clone()),
        };
        // On the signal the dispatcher closes an idle connection at once, and one with a request
        // in flight right after its response (with `Connection: close`): the drain then waits
        // only for real work.
        let http = HttpService::build()
            .graceful_shutdown_signal(move || {
                let draining = draining.clone();
                async move { draining.notified().await }
            })
            .keep_alive(timeouts.keep_alive)
            .client_request_timeout(timeouts.head)
            .client_disconnect_timeout(Duration::from_secs(1))
            .finish(map_config(app, |_| AppConfig::default()));
        fn_service(move |io: actix_web::rt::net::TcpStream| {
            let peer = io.peer_addr().ok();
            let _ = io.set_nodelay(true);
            let io = JsonErrors::new(io, &conn, peer);
            async move { Ok::<_, DispatchError>((io, Protocol::Http1, peer)) }
        })
        .and_then(http)
    })
}

#[cfg(unix)]
async fn signals(handle: actix_web::dev::ServerHandle, state: web::Data<AppState>) {
    use tokio::signal::unix::{signal, SignalKind};
    let (Ok(mut term), Ok(mut int), Ok(mut hup)) = (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
        signal(SignalKind::hangup()),
    ) else {
        tracing::error!("cannot install signal handlers");
        return;
    };
    loop {
        tokio::select! {
            _ = term.recv() => { tracing::info!("SIGTERM: draining in-flight requests"); break; }
            _ = int.recv() => { tracing::info!("SIGINT: draining in-flight requests"); break; }
            _ = hup.recv() => {
                let st = state.clone();
                let _ = web::block(move || st.reload()).await;
            }
        }
    }
    handle.stop(true).await;
}

#[cfg(not(unix))]
async fn signals(handle: actix_web::dev::ServerHandle, _state: web::Data<AppState>) {
    let _ = tokio::signal::ctrl_c().await;
    handle.stop(true).await;
}

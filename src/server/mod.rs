//! The HTTP service (`stance serve`): actix-web over the core library.
//!
//! - [`admission`]: the bound on heavy requests in flight (429 past it);
//! - [`startup`]: configuration, binding, signals, graceful shutdown;
//! - [`routes`]: the handlers and the OpenAPI document generated from them;
//! - [`state`]: the hot-swappable model;
//! - [`telemetry`]: logs, request ids and per-request metrics;
//! - [`metrics`]: the Prometheus registry;
//! - [`error`]: the JSON error type;
//! - [`conn`]: the JSON error shape for the HTTP layer's own error responses.

pub mod admission;
pub mod conn;
pub mod error;
pub mod metrics;
pub mod routes;
pub mod startup;
pub mod state;
pub mod telemetry;

pub use startup::{run, ServeConfig, ServeError};

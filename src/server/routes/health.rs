//! Liveness and readiness probes.

use actix_web::{web, HttpResponse};
use serde::Serialize;
use utoipa::ToSchema;

use super::classify::ModelRef;
use crate::server::state::AppState;

/// Probe answer.
#[derive(Debug, Serialize, ToSchema)]
pub struct Status {
    pub status: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub model: Option<ModelRef>,
}

/// Alive: the process answers HTTP.
#[utoipa::path(get, path = "/healthz", tag = "probes", responses((status = 200, body = Status)))]
pub async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(Status {
        status: "ok".into(),
        model: None,
    })
}

/// Ready: a model is loaded and scores a probe sentence to finite probabilities.
#[utoipa::path(
    get,
    path = "/readyz",
    tag = "probes",
    responses((status = 200, body = Status), (status = 503, body = Status))
)]
pub async fn readyz(state: web::Data<AppState>) -> HttpResponse {
    let model = state.snapshot();
    let ok = model
        .score("open weights or a closed api", 0)
        .map(|s| s.scores.iter().all(|(_, p)| p.is_finite()))
        .unwrap_or(false);
    let body = Status {
        status: if ok { "ready" } else { "unavailable" }.into(),
        model: Some(ModelRef {
            version: model.version().to_string(),
        }),
    };
    if ok {
        HttpResponse::Ok().json(body)
    } else {
        HttpResponse::ServiceUnavailable().json(body)
    }
}

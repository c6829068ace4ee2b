//! `GET /v1/model`: what is being served.

use actix_web::{web, HttpResponse};

use crate::server::error::{ApiError, ErrorBody};
use crate::server::state::AppState;

/// The served model's `meta.json`: version, labels, vocabulary size, training counts, metrics.
#[utoipa::path(
    get,
    path = "/v1/model",
    tag = "model",
    responses(
        (status = 200, description = "The model's meta.json", body = serde_json::Value),
        (status = 404, body = ErrorBody)
    )
)]
pub async fn model_info(state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let model = state.snapshot();
    match model.meta() {
        Some(meta) => Ok(HttpResponse::Ok().json(meta)),
        None => Err(ApiError::not_found()),
    }
}

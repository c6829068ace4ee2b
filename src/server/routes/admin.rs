//! `POST /v1/admin/reload`: switch to the version `models/CURRENT` names, without downtime.

use actix_web::http::{header, StatusCode};
use actix_web::{web, HttpRequest, HttpResponse};
use serde::Serialize;
use utoipa::ToSchema;

use crate::server::error::{ApiError, ErrorBody};
use crate::server::state::AppState;

/// Result of a reload.
#[derive(Debug, Serialize, ToSchema)]
pub struct ReloadResponse {
    pub previous: String,
    pub version: String,
}

fn authorize(req: &HttpRequest, state: &AppState) -> Result<(), ApiError> {
    let Some(token) = state.admin_token.as_deref() else {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "admin_disabled",
            "admin routes are off: start the service with STANCE_ADMIN_TOKEN set",
        ));
    };
    let given = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "));
    match given {
        None => Err(ApiError::new(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "missing Authorization: Bearer <token>",
        )),
        Some(g) if constant_time_eq(g.as_bytes(), token.as_bytes()) => Ok(()),
        Some(_) => Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "forbidden",
            "wrong admin token",
        )),
    }
}

/// Compares the SHA-256 digests of both tokens with `subtle`'s constant-time equality: the time
/// taken depends neither on where they differ nor on their lengths.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    use sha2::{Digest, Sha256};
    use subtle::ConstantTimeEq;
    let (da, db) = (Sha256::digest(a), Sha256::digest(b));
    da.as_slice().ct_eq(db.as_slice()).into()
}

/// Reload the model that `CURRENT` names. A failed load keeps the old model serving and answers
/// 409 with the reason.
#[utoipa::path(
    post,
    path = "/v1/admin/reload",
    tag = "admin",
    security(("bearer" = [])),
    responses(
        (status = 200, body = ReloadResponse),
        (status = 401, description = "No bearer token", body = ErrorBody),
        (status = 403, description = "Wrong token, or admin routes off", body = ErrorBody),
        (status = 409, description = "The artifact could not be loaded; the old model keeps serving", body = ErrorBody),
    )
)]
pub async fn reload(
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    authorize(&req, &state)?;
    let st = state.clone();
    let outcome = web::block(move || st.reload())
        .await
        .map_err(|e| ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "busy", e.to_string()))?;
    match outcome {
        Ok(r) => Ok(HttpResponse::Ok().json(ReloadResponse {
            previous: r.previous,
            version: r.version,
        })),
        Err(e) => Err(ApiError::new(
            StatusCode::CONFLICT,
            "reload_failed",
            e.to_string(),
        )),
    }
}

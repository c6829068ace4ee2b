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
    let header = req.headers().get(header::AUTHORIZATION);
    let given = header.and_then(|v| v.to_str().ok()).and_then(bearer_token);
    match given {
        None => Err(ApiError::new(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            if header.is_some() {
                "the Authorization header is not of the form Bearer <token>"
            } else {
                "missing Authorization: Bearer <token>"
            },
        )),
        Some(g) if constant_time_eq(g.as_bytes(), token.as_bytes()) => Ok(()),
        Some(_) => Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "forbidden",
            "wrong admin token",
        )),
    }
}

/// The token of an `Authorization: Bearer <token>` value. The scheme is case-insensitive
/// (RFC 9110, 11.1): `bearer` is as good as `Bearer`.
fn bearer_token(value: &str) -> Option<&str> {
    let (scheme, token) = value.trim().split_once(' ')?;
    let token = token.trim_start();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token)
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
        (status = 503, description = "`busy`: the blocking pool could not run the reload; retry after the Retry-After header's seconds", body = ErrorBody),
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

#[cfg(test)]
mod tests {
    use super::bearer_token;

    #[test]
    fn the_bearer_scheme_is_case_insensitive_and_nothing_else_passes() {
        for (value, token) in [
            ("Bearer abc", Some("abc")),
            ("bearer abc", Some("abc")),
            ("BEARER  abc", Some("abc")),
            ("Basic abc", None),
            ("Bearer", None),
            ("Bearer ", None),
            ("abc", None),
        ] {
            assert_eq!(bearer_token(value), token, "{value:?}");
        }
    }
}

//! The JSON error every failed request gets: `{"error": {"code": "...", "message": "..."}}`.
//! Rule for request bodies: 400 when the body cannot be parsed at all (malformed JSON, invalid
//! UTF-8), 422 when it parses but is the wrong shape or holds invalid values.

use actix_web::http::{header, StatusCode};
use actix_web::{HttpResponse, ResponseError};
use serde::Serialize;
use utoipa::ToSchema;

/// The body of every error response.
#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

/// A machine-readable code and a human-readable message.
#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorDetail {
    /// Stable identifier, e.g. `invalid_json`, `payload_too_large`.
    pub code: String,
    pub message: String,
}

/// An error returned by a handler.
#[derive(Debug, thiserror::Error)]
#[error("{code}: {message}")]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        ApiError {
            status,
            code,
            message: message.into(),
        }
    }

    pub fn bad_request(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, code, message)
    }

    pub fn unprocessable(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNPROCESSABLE_ENTITY, code, message)
    }

    pub fn too_large(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::PAYLOAD_TOO_LARGE, code, message)
    }

    /// The same error about document `i` of a batch: the message says which one, so that a
    /// client can find the document among hundreds.
    pub fn in_document(mut self, i: usize) -> Self {
        self.message = format!("document {i}: {}", self.message);
        self
    }

    pub fn not_found() -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            "not_found",
            "no such route; the routes are listed at /openapi.json on the service's main address",
        )
    }

    pub fn method_not_allowed() -> Self {
        Self::new(
            StatusCode::METHOD_NOT_ALLOWED,
            "method_not_allowed",
            "this route does not accept that method; see /openapi.json",
        )
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        self.status
    }

    fn error_response(&self) -> HttpResponse {
        let mut r = HttpResponse::build(self.status);
        r.insert_header((header::CACHE_CONTROL, "no-store"));
        // Load shedding and a busy pool are momentary: say when to come back.
        if matches!(
            self.status,
            StatusCode::TOO_MANY_REQUESTS | StatusCode::SERVICE_UNAVAILABLE
        ) {
            r.insert_header((header::RETRY_AFTER, "1"));
        }
        // RFC 9110 (11.6.1): a 401 names the scheme that would be accepted.
        if self.status == StatusCode::UNAUTHORIZED {
            r.insert_header((header::WWW_AUTHENTICATE, "Bearer realm=\"stance admin\""));
        }
        r.json(ErrorBody {
            error: ErrorDetail {
                code: self.code.to_string(),
                message: self.message.clone(),
            },
        })
    }
}

/// Fallback for unknown routes.
pub async fn not_found() -> HttpResponse {
    ApiError::not_found().error_response()
}

/// Fallback for known routes called with the wrong method. `allow` lists the methods the route
/// does accept: RFC 9110 (15.5.6) requires a 405 to carry them in `Allow`, so that a client can
/// correct the request without reading the documentation.
pub fn method_not_allowed(allow: &'static str) -> HttpResponse {
    let mut r = ApiError::method_not_allowed().error_response();
    r.headers_mut()
        .insert(header::ALLOW, header::HeaderValue::from_static(allow));
    r
}

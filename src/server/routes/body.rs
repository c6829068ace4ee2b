//! Reading request bodies under the size limit and telling JSON from plain text.

use actix_web::http::header;
use actix_web::web::{self, Bytes, BytesMut};
use actix_web::HttpRequest;
use futures_util::StreamExt;
use serde::de::DeserializeOwned;

use crate::server::error::ApiError;

/// A request body, by content type.
pub enum Body {
    Json(Bytes),
    Text(String),
}

fn too_large(limit: usize) -> ApiError {
    ApiError::too_large(
        "payload_too_large",
        format!("request body exceeds the limit of {limit} bytes"),
    )
}

/// Reads the whole body, refusing more than `limit` bytes (checked against Content-Length first,
/// then while streaming).
pub async fn read(
    req: &HttpRequest,
    mut payload: web::Payload,
    limit: usize,
    allow_text: bool,
) -> Result<Body, ApiError> {
    let ctype = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_ascii_lowercase();
    let mime = ctype.split(';').next().unwrap_or("").trim().to_string();
    let is_json = mime == "application/json" || mime.ends_with("+json");
    let is_text = allow_text && mime == "text/plain";
    if !is_json && !is_text {
        let accepted = if allow_text {
            "application/json or text/plain"
        } else {
            "application/json"
        };
        let got = if mime.is_empty() {
            "none".to_string()
        } else {
            format!("{mime:?}")
        };
        return Err(ApiError::new(
            actix_web::http::StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            format!("Content-Type must be {accepted} (got {got})"),
        ));
    }
    if is_text {
        if let Some(charset) = ctype
            .split(';')
            .skip(1)
            .find_map(|p| p.trim().strip_prefix("charset="))
        {
            let cs = charset.trim_matches('"');
            if cs != "utf-8" && cs != "utf8" && cs != "us-ascii" {
                return Err(ApiError::new(
                    actix_web::http::StatusCode::UNSUPPORTED_MEDIA_TYPE,
                    "unsupported_charset",
                    format!("text/plain bodies must be UTF-8 (got charset {cs:?})"),
                ));
            }
        }
    }
    if let Some(len) = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok())
    {
        if len > limit {
            return Err(too_large(limit));
        }
    }
    let mut buf = BytesMut::new();
    while let Some(chunk) = payload.next().await {
        let chunk = chunk.map_err(|e| {
            ApiError::bad_request(
                "invalid_body",
                format!("could not read the request body: {e}"),
            )
        })?;
        if buf.len() + chunk.len() > limit {
            return Err(too_large(limit));
        }
        buf.extend_from_slice(&chunk);
    }
    let bytes = buf.freeze();
    if is_json {
        if std::str::from_utf8(&bytes).is_err() {
            return Err(invalid_utf8());
        }
        Ok(Body::Json(bytes))
    } else {
        String::from_utf8(bytes.to_vec())
            .map(Body::Text)
            .map_err(|_| invalid_utf8())
    }
}

fn invalid_utf8() -> ApiError {
    ApiError::bad_request("invalid_utf8", "request body is not valid UTF-8")
}

/// Parses a JSON object: syntax errors are 400 `invalid_json`; anything well-formed but of the
/// wrong shape (not an object, missing or mistyped fields) is 422 `invalid_request`.
pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    let starts_as_object = bytes.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'{');
    if starts_as_object {
        // The common case, parsed straight into the request type.
        return serde_json::from_slice(bytes).map_err(|e| match e.classify() {
            serde_json::error::Category::Data => {
                ApiError::unprocessable("invalid_request", e.to_string())
            }
            _ => ApiError::bad_request("invalid_json", format!("malformed JSON: {e}")),
        });
    }
    // Anything else is an error; parse it only to tell malformed JSON from a non-object.
    match serde_json::from_slice::<serde_json::Value>(bytes) {
        Ok(_) => Err(ApiError::unprocessable(
            "invalid_request",
            "the body must be a JSON object",
        )),
        Err(e) => Err(ApiError::bad_request(
            "invalid_json",
            format!("malformed JSON: {e}"),
        )),
    }
}

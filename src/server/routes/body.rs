//! Reading request bodies under the size limit and the body-read timeout, decoding gzip, and
//! telling JSON from plain text.
//!
//! Rules (the README's): the media type is `application/json` (not `application/*+json`), or
//! `text/plain` where the route accepts it, with any parameters; the only charsets accepted, on either, are UTF-8 (`utf-8`, `utf8`) and
//! its subset `us-ascii`, case-insensitively, or none; any other is 415 `unsupported_charset`.
//! `Content-Encoding` may be absent, `identity` or `gzip` (`x-gzip`: one member or several, zero
//! padding after a member skipped); the size limit applies to
//! the bytes received and again to the decompressed body; any other encoding is 415
//! `unsupported_encoding`. The whole body must arrive within the body timeout (408). One leading
//! UTF-8 byte-order mark is dropped from the (decoded) body, JSON or text.

use std::io::Write;
use std::time::Duration;

use actix_web::http::{header, StatusCode};
use actix_web::web;
use actix_web::HttpRequest;
use flate2::write::GzDecoder;
use futures_util::StreamExt;
use serde::de::DeserializeOwned;

use crate::server::error::ApiError;

/// A request body, by content type.
pub enum Body {
    Json(Vec<u8>),
    Text(String),
}

/// Compressed input is fed to the decoder in slices this small, so that one slice can never
/// inflate to much more than about a megabyte (deflate expands at most ~1032 times) before the
/// size limit is checked again.
const GZIP_SLICE: usize = 1024;

fn too_large(limit: usize) -> ApiError {
    ApiError::too_large(
        "payload_too_large",
        format!("request body exceeds the limit of {limit} bytes"),
    )
}

fn unsupported(code: &'static str, message: String) -> ApiError {
    ApiError::new(StatusCode::UNSUPPORTED_MEDIA_TYPE, code, message)
}

/// The charset rule, shared by every content type.
fn check_charset(ctype: &str) -> Result<(), ApiError> {
    if let Some(charset) = ctype
        .split(';')
        .skip(1)
        .find_map(|p| p.trim().strip_prefix("charset="))
    {
        let cs = charset.trim().trim_matches('"');
        if !matches!(cs, "utf-8" | "utf8" | "us-ascii") {
            return Err(unsupported(
                "unsupported_charset",
                format!("request bodies must be UTF-8 (got charset {cs:?})"),
            ));
        }
    }
    Ok(())
}

/// Whether the body is gzip-compressed; refuses any other encoding.
fn is_gzip(req: &HttpRequest) -> Result<bool, ApiError> {
    let mut gzip = false;
    for v in req.headers().get_all(header::CONTENT_ENCODING) {
        for enc in v.to_str().unwrap_or("?").split(',') {
            match enc.trim().to_ascii_lowercase().as_str() {
                "" | "identity" => {}
                "gzip" | "x-gzip" if !gzip => gzip = true,
                other => {
                    return Err(unsupported(
                        "unsupported_encoding",
                        format!(
                            "Content-Encoding must be gzip or identity (got {other:?}; \
                             gzip at most once)"
                        ),
                    ))
                }
            }
        }
    }
    Ok(gzip)
}

/// Reads the whole body within `timeout`, refusing more than `limit` bytes, compressed or not
/// (checked against Content-Length first, then while streaming and decompressing).
pub async fn read(
    req: &HttpRequest,
    payload: web::Payload,
    limit: usize,
    timeout: Duration,
    allow_text: bool,
) -> Result<Body, ApiError> {
    let ctype = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_ascii_lowercase();
    let mime = ctype.split(';').next().unwrap_or("").trim().to_string();
    // Exactly `application/json`, as the README promises: a `+json` type (merge-patch, problem
    // details...) names another format with its own meaning, which this API does not speak.
    let is_json = mime == "application/json";
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
        return Err(unsupported(
            "unsupported_media_type",
            format!("Content-Type must be {accepted} (got {got})"),
        ));
    }
    check_charset(&ctype)?;
    let gzip = is_gzip(req)?;
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
    let mut bytes = match actix_web::rt::time::timeout(timeout, collect(payload, limit, gzip)).await
    {
        Ok(r) => r?,
        Err(_) => {
            return Err(ApiError::new(
                StatusCode::REQUEST_TIMEOUT,
                "request_timeout",
                format!(
                    "the request body did not arrive within {} s",
                    timeout.as_secs_f64()
                ),
            ))
        }
    };
    strip_bom(&mut bytes);
    if is_json {
        if std::str::from_utf8(&bytes).is_err() {
            return Err(invalid_utf8());
        }
        Ok(Body::Json(bytes))
    } else {
        String::from_utf8(bytes)
            .map(Body::Text)
            .map_err(|_| invalid_utf8())
    }
}

/// The UTF-8 encoding of U+FEFF, the byte-order mark.
const BOM: &[u8] = b"\xEF\xBB\xBF";

/// Drops one leading byte-order mark. Windows editors save UTF-8 files with one, and such a file
/// sent as the body would otherwise glue U+FEFF to the first word (an unknown token) or, as JSON,
/// fail to parse at line 1 column 1. Only one: a second is part of the text.
fn strip_bom(bytes: &mut Vec<u8>) {
    if bytes.starts_with(BOM) {
        bytes.drain(..BOM.len());
    }
}

/// A gzip body decoded as it streams in. Several members concatenated are one gzip stream (RFC
/// 1952), as `gunzip` and every client library read them; zero bytes after a member are padding
/// (tape and block tools add it; Python's gzip skips it, `gunzip` too, with a warning) and are
/// skipped. Anything else where a member would start, a corrupt member or one cut short is an
/// error that says which.
struct Gunzip {
    /// The member being decoded (from the first byte of the body), or None between members.
    member: Option<GzDecoder<Vec<u8>>>,
    /// The decoded body between members; inside one, the decoder holds it.
    out: Vec<u8>,
    /// Members decoded and checked.
    done: usize,
}

impl Gunzip {
    fn new() -> Self {
        Gunzip {
            member: Some(GzDecoder::new(Vec::new())),
            out: Vec::new(),
            done: 0,
        }
    }

    fn decoded_len(&self) -> usize {
        self.member
            .as_ref()
            .map_or(self.out.len(), |d| d.get_ref().len())
    }

    fn write(&mut self, mut buf: &[u8]) -> Result<(), ApiError> {
        while !buf.is_empty() {
            match self.member.take() {
                None => {
                    let zeros = buf.iter().take_while(|&&b| b == 0).count();
                    buf = &buf[zeros..];
                    if !buf.is_empty() {
                        self.member = Some(GzDecoder::new(std::mem::take(&mut self.out)));
                    }
                }
                Some(mut d) => match d.write(buf) {
                    // The member and its trailer are complete: check the trailer's checksum.
                    Ok(0) => {
                        self.out = d.finish().map_err(|e| invalid_gzip(self.done, true, e))?;
                        self.done += 1;
                    }
                    Ok(n) => {
                        buf = &buf[n..];
                        self.member = Some(d);
                    }
                    Err(e) => return Err(invalid_gzip(self.done, d.header().is_some(), e)),
                },
            }
        }
        Ok(())
    }

    fn finish(self) -> Result<Vec<u8>, ApiError> {
        match self.member {
            Some(d) => {
                let started = d.header().is_some();
                d.finish().map_err(|e| invalid_gzip(self.done, started, e))
            }
            None => Ok(self.out),
        }
    }
}

/// 400 `invalid_gzip`, naming where: before any member, inside one whose header was read
/// (`started`), or where a member would start after the `done` complete ones. Before a header is
/// read, flate2's own message misleads (a short run of junk is an "incomplete deflate stream").
fn invalid_gzip(done: usize, started: bool, e: std::io::Error) -> ApiError {
    let what = match (started, done) {
        (false, 0) => "the body is not gzip data (no valid gzip header)".to_string(),
        (false, n) => format!(
            "the bytes after gzip member {n} are neither zero padding nor another gzip member \
             (no valid gzip header)"
        ),
        (true, n) => format!("gzip member {} is corrupt or cut short: {e}", n + 1),
    };
    ApiError::bad_request("invalid_gzip", what)
}

async fn collect(mut payload: web::Payload, limit: usize, gzip: bool) -> Result<Vec<u8>, ApiError> {
    let mut received = 0usize;
    let mut plain = Vec::new();
    let mut decoder = gzip.then(Gunzip::new);
    while let Some(chunk) = payload.next().await {
        let chunk = chunk.map_err(|e| unreadable(e, limit))?;
        received += chunk.len();
        if received > limit {
            return Err(too_large(limit));
        }
        match decoder.as_mut() {
            Some(d) => {
                for slice in chunk.chunks(GZIP_SLICE) {
                    d.write(slice)?;
                    if d.decoded_len() > limit {
                        return Err(too_large(limit));
                    }
                }
            }
            None => plain.extend_from_slice(&chunk),
        }
    }
    match decoder {
        Some(d) => {
            let out = d.finish()?;
            if out.len() > limit {
                return Err(too_large(limit));
            }
            Ok(out)
        }
        None => Ok(plain),
    }
}

/// A body the HTTP layer could not deliver, said in the client's terms (actix's own text for an
/// early end is "payload reached EOF before completing: None").
fn unreadable(e: actix_web::error::PayloadError, limit: usize) -> ApiError {
    use actix_web::error::PayloadError;
    let why = match e {
        PayloadError::Incomplete(_) => "it ended before the length its Content-Length or chunked \
                                         framing declared, or its chunked framing is malformed"
            .to_string(),
        PayloadError::Overflow => return too_large(limit),
        other => other.to_string(),
    };
    ApiError::bad_request(
        "invalid_body",
        format!("could not read the request body: {why}"),
    )
}

/// Runs a handler's work (body read and scoring) under the total request deadline: 408
/// `request_timeout` when it does not finish in time.
pub async fn within<T>(
    deadline: Duration,
    work: impl std::future::Future<Output = Result<T, ApiError>>,
) -> Result<T, ApiError> {
    actix_web::rt::time::timeout(deadline, work)
        .await
        .unwrap_or_else(|_| {
            Err(ApiError::new(
                StatusCode::REQUEST_TIMEOUT,
                "request_timeout",
                format!(
                    "the request did not complete within {} s",
                    deadline.as_secs_f64()
                ),
            ))
        })
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

//! `POST /v1/classify` and `POST /v1/classify/batch`.

use std::collections::BTreeMap;
use std::sync::Arc;

use actix_web::{web, HttpRequest, HttpResponse};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use utoipa::ToSchema;

use super::body::{self, Body};
use crate::classifier::{Classifier, Score, Share, TokenWeight};
use crate::server::admission::Refused;
use crate::server::error::{ApiError, ErrorBody};
use crate::server::state::AppState;
use crate::spans::Span;

/// Batches at least this large are spread over all cores.
const PARALLEL_BATCH: usize = 8;

/// Work this small, on the fast tokenizer routes only, is scored on the async worker; anything
/// else goes to the blocking pool so that one heavy request never delays `/healthz`.
const INLINE_BYTES: usize = 16 * 1024;

/// With `explain`, token offsets come from the Hugging Face pipeline (about 4 MiB/s), so only
/// texts this small are scored inline then.
const INLINE_EXPLAIN_BYTES: usize = 4 * 1024;

/// Whether a request is cheap enough to score on the async worker.
fn inline(model: &Classifier, text: &str, explain: usize) -> bool {
    let limit = if explain > 0 {
        INLINE_EXPLAIN_BYTES
    } else {
        INLINE_BYTES
    };
    text.len() <= limit && model.tokenizer().is_fast(text)
}

/// Score one article.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ClassifyRequest {
    /// The article text (UTF-8, non-empty).
    pub text: String,
    /// How many tokens per label to return in `explanation` (0, absent or null: none). At most
    /// the service's `--max-explain`; `maximum` is its default, 100. An integer as written: no
    /// fraction or exponent (`-0` is 0; `2.5`, `1e2` and `0.0` alike are 422 `invalid_explain`).
    #[serde(default)]
    #[schema(value_type = Option<usize>, minimum = 0, maximum = 100)]
    pub explain: Option<Box<RawValue>>,
}

/// A document of a batch, with an optional caller-chosen id echoed back.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BatchDocument {
    #[serde(default)]
    pub id: Option<String>,
    pub text: String,
}

/// A batch request as read: both lists optional, so that giving both, or neither, is named in a
/// 422 `invalid_request` rather than lost in serde's message. Its OpenAPI schema is
/// `BatchRequestSchema`'s, which says the same as `oneOf` its two shapes.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BatchRequest {
    #[serde(default)]
    pub texts: Option<Vec<String>>,
    #[serde(default)]
    pub documents: Option<Vec<BatchDocument>>,
    #[serde(default)]
    pub explain: Option<Box<RawValue>>,
}

/// Score many articles: exactly one of `texts` or `documents` (both, or neither, is 422
/// `invalid_request`).
#[derive(ToSchema)]
#[schema(as = BatchRequest)]
#[serde(untagged)]
// Only describes the body in the OpenAPI document (with the two types below); it is read as
// [`BatchRequest`].
#[allow(dead_code)]
enum BatchRequestSchema {
    Texts(BatchTexts),
    Documents(BatchDocuments),
}

/// A batch of plain texts.
#[derive(ToSchema)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
struct BatchTexts {
    /// The articles. At most the service's `--max-batch` documents; `maxItems` is its default,
    /// 256.
    #[schema(min_items = 1, max_items = 256)]
    texts: Vec<String>,
    /// As in a single request: at most `--max-explain`, 100 by default (`maximum`).
    #[schema(value_type = Option<usize>, minimum = 0, maximum = 100)]
    explain: Option<usize>,
}

/// A batch of documents with ids.
#[derive(ToSchema)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
struct BatchDocuments {
    /// The articles with ids. At most `--max-batch` documents, 256 by default (`maxItems`).
    #[schema(min_items = 1, max_items = 256)]
    documents: Vec<BatchDocument>,
    /// As in a single request: at most `--max-explain`, 100 by default (`maximum`).
    #[schema(value_type = Option<usize>, minimum = 0, maximum = 100)]
    explain: Option<usize>,
}

/// A batch body read loosely: each document's raw JSON, so that a document of the wrong shape
/// can be found by its position.
#[derive(Deserialize)]
struct LooseBatch {
    #[serde(default)]
    texts: Option<Vec<Box<RawValue>>>,
    #[serde(default)]
    documents: Option<Vec<Box<RawValue>>>,
}

/// On a 422 `invalid_request` for a batch body, finds the first document of the wrong shape (a
/// text that is not a string, a document with a missing or unknown field...) and names it, as
/// every other per-document error does; serde's own message only gives a line and column of the
/// whole body. Runs only on the error path, so a good batch is parsed once, straight into
/// [`BatchRequest`]. Any other error (or none found) is returned as it was.
fn name_failing_document(bytes: &[u8], e: ApiError) -> ApiError {
    if e.code != "invalid_request" {
        return e;
    }
    let Ok(loose) = serde_json::from_slice::<LooseBatch>(bytes) else {
        return e;
    };
    let wrong = |raw: &RawValue, as_text: bool| {
        let r = if as_text {
            serde_json::from_str::<String>(raw.get()).map(drop)
        } else {
            serde_json::from_str::<BatchDocument>(raw.get()).map(drop)
        };
        r.err()
    };
    let lists = [(loose.texts, true), (loose.documents, false)];
    for (list, as_text) in lists {
        for (i, raw) in list.iter().flatten().enumerate() {
            if let Some(err) = wrong(raw, as_text) {
                // The position is within the document's own JSON, which would mislead.
                let msg = err.to_string();
                let msg = msg.split(" at line ").next().unwrap_or(&msg);
                return ApiError::unprocessable("invalid_request", format!("document {i}: {msg}"));
            }
        }
    }
    e
}

/// The model that produced a score.
#[derive(Debug, Serialize, ToSchema)]
pub struct ModelRef {
    pub version: String,
}

/// The stance of one article.
#[derive(Debug, Serialize, ToSchema)]
pub struct ClassifyResponse {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// The most probable label.
    pub label: String,
    /// Probability of `label`.
    pub confidence: f64,
    /// Probability of every label; finite, summing to 1.
    pub scores: BTreeMap<String, f64>,
    /// Tokens in the article.
    pub tokens: usize,
    /// Tokens the model has never seen (no evidence either way).
    pub unknown_tokens: usize,
    /// Distinct known stance features the score rests on.
    pub evidence: usize,
    /// True when `evidence` is below the service's minimum (`--min-evidence`): too little text
    /// to judge; treat the label as a guess.
    pub insufficient_evidence: bool,
    /// Probability that the text is about the open-versus-closed AI models debate (absent for a
    /// model trained without an off-topic corpus).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub relevance: Option<f64>,
    /// `relevance` at or above `--relevance-threshold`. When false, the stance fields are still
    /// given but describe a text that is not about the debate.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub on_topic: Option<bool>,
    pub model: ModelRef,
    /// Per label, the features that pushed hardest toward it, strongest first: at most
    /// `explain`, and in a batch of n documents at most min(explain, 2560 / n) (10 in a full
    /// batch of 256), so that the response stays small; `explanation_truncated` says whether
    /// that cut a list.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub explanation: Option<BTreeMap<String, Vec<TokenWeight>>>,
    /// With `explain`: the probabilities the model gives a text with no known feature (its
    /// class priors and calibration offsets). The features in `explanation` move the score away
    /// from these, so a label the baseline favours can win with no feature listed under it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub baseline: Option<BTreeMap<String, f64>>,
    /// Per relevance label (`on-topic`, `off-topic`), the features that pushed hardest toward it,
    /// as many as in `explanation`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub relevance_explanation: Option<BTreeMap<String, Vec<TokenWeight>>>,
    /// With `explain`: true when the batch's shared budget listed fewer features under some label
    /// of `explanation` or `relevance_explanation` than `explain` asked for and the text had;
    /// those lists hold the strongest ones. Always false for a text scored alone.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub explanation_truncated: Option<bool>,
    /// With `explain`: every occurrence in the text of a stance feature listed in `explanation`,
    /// in text order, at most 2000 (in a batch of n documents, at most min(2000, 16000 / n)
    /// each, so that the response stays small). Offsets are given twice: `start`/`end` in UTF-16 code units
    /// (JavaScript string indices) and `byte_start`/`byte_end` in bytes of the UTF-8 text; both
    /// are half-open. A bigram spans both words; a negation-marked feature (`NOT_open`) spans
    /// its word.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub spans: Option<Vec<Span>>,
    /// With `explain`: true when the text had more occurrences than its span limit and `spans`
    /// holds the first ones.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub spans_truncated: Option<bool>,
}

/// Results in input order.
#[derive(Debug, Serialize, ToSchema)]
pub struct BatchResponse {
    pub results: Vec<ClassifyResponse>,
    pub model: ModelRef,
}

/// `explain` is read from its raw JSON so that every invalid value (negative, fractional, out of
/// range like `1e400`, a string...) gets the same 422 `invalid_explain`. What counts is how the
/// number is written: an integer, digits with no fraction or exponent, so `-0` (JSON's integer
/// zero, which serde_json reads as the float -0.0) is 0, while `0.0`, `-0.0` and `0e0` are refused
/// like `2.5` and `1e2`.
fn check_explain(explain: Option<&RawValue>, max: usize) -> Result<usize, ApiError> {
    let Some(raw) = explain else { return Ok(0) };
    let written = raw.get().trim();
    let written = if written == "-0" { "0" } else { written };
    match serde_json::from_str::<u64>(written) {
        Ok(n) if n <= max as u64 => Ok(n as usize),
        _ => {
            let got: String = raw.get().chars().take(40).collect();
            Err(ApiError::unprocessable(
                "invalid_explain",
                format!("explain must be an integer between 0 and {max}, got {got}"),
            ))
        }
    }
}

/// Runs heavy scoring on the blocking pool, holding one of the `--max-heavy` slots until it is
/// done; with none free, 429 `overloaded` (with `Retry-After`) at once instead of a queue.
async fn off_worker<T: Send + 'static>(
    state: &AppState,
    work: impl FnOnce() -> Result<T, ApiError> + Send + 'static,
) -> Result<T, ApiError> {
    match state.heavy.run(work).await {
        Ok(result) => result,
        Err(Refused::Full) => {
            state.metrics.shed.inc();
            Err(ApiError::new(
                actix_web::http::StatusCode::TOO_MANY_REQUESTS,
                "overloaded",
                format!(
                    "{} long or heavy requests are already being scored (--max-heavy); retry shortly",
                    state.heavy.limit()
                ),
            ))
        }
        Err(Refused::Pool(why)) => Err(ApiError::new(
            actix_web::http::StatusCode::SERVICE_UNAVAILABLE,
            "busy",
            why,
        )),
    }
}

fn check_text(text: &str, what: &str) -> Result<(), ApiError> {
    if text.trim().is_empty() {
        return Err(ApiError::unprocessable(
            "empty_text",
            format!("{what} is empty"),
        ));
    }
    Ok(())
}

impl ClassifyResponse {
    /// The response for a score; the CLI's `--json` output uses the same shape.
    pub fn from_score(s: Score, version: &str, id: Option<String>) -> Self {
        ClassifyResponse {
            id,
            label: s.label,
            confidence: s.confidence,
            scores: s.scores.into_iter().collect(),
            tokens: s.tokens,
            unknown_tokens: s.unknown_tokens,
            evidence: s.evidence,
            insufficient_evidence: s.insufficient_evidence,
            relevance: s.relevance,
            on_topic: s.on_topic,
            model: ModelRef {
                version: version.to_string(),
            },
            explanation: s.explanation.map(|e| e.into_iter().collect()),
            baseline: s.baseline.map(|b| b.into_iter().collect()),
            relevance_explanation: s.relevance_explanation.map(|e| e.into_iter().collect()),
            explanation_truncated: s.explanation_truncated,
            spans: s.spans,
            spans_truncated: s.spans_truncated,
        }
    }
}

fn score_one(
    model: &Classifier,
    id: Option<String>,
    text: &str,
    explain: usize,
    share: Share,
) -> Result<ClassifyResponse, ApiError> {
    let s = model
        .score_shared(text, explain, share)
        .map_err(|e| ApiError::unprocessable("unscorable_text", e.to_string()))?;
    Ok(ClassifyResponse::from_score(s, model.version(), id))
}

fn record(state: &AppState, results: &[ClassifyResponse]) {
    state.metrics.documents.inc_by(results.len() as u64);
    state
        .metrics
        .tokens
        .inc_by(results.iter().map(|r| r.tokens as u64).sum());
    let off = results.iter().filter(|r| r.on_topic == Some(false)).count();
    state.metrics.off_topic.inc_by(off as u64);
    let thin = results.iter().filter(|r| r.insufficient_evidence).count();
    state.metrics.insufficient_evidence.inc_by(thin as u64);
}

/// Score one article, sent as JSON or as a raw `text/plain` body.
#[utoipa::path(
    post,
    path = "/v1/classify",
    tag = "classify",
    request_body(
        content(
            (ClassifyRequest = "application/json"),
            (String = "text/plain")
        ),
    ),
    responses(
        (status = 200, description = "The article's stance", body = ClassifyResponse),
        (status = 400, description = "Malformed JSON (`invalid_json`), invalid UTF-8 (`invalid_utf8`), undecodable gzip (`invalid_gzip`), a body cut short or badly framed (`invalid_body`), a bad X-Request-Id (`invalid_request_id`), or a malformed HTTP request (`bad_request`)", body = ErrorBody),
        (status = 413, description = "Body over the size limit", body = ErrorBody),
        (status = 408, description = "`request_timeout`: request head not received within --request-timeout, body not within --body-timeout, or request not done within --request-deadline", body = ErrorBody),
        (status = 415, description = "Content-Type is not JSON or text/plain, charset not UTF-8, or Content-Encoding not gzip", body = ErrorBody),
        (status = 429, description = "Too many heavy requests in flight (--max-heavy); retry after the Retry-After header's seconds", body = ErrorBody),
        (status = 422, description = "Missing, empty or non-string text, or an unknown field (`invalid_request`, `empty_text`); bad explain (`invalid_explain`); text the tokenizer refuses (`unscorable_text`)", body = ErrorBody),
        (status = 503, description = "`busy`: the blocking pool could not run the scoring; retry after the Retry-After header's seconds", body = ErrorBody),
    )
)]
pub async fn classify(
    req: HttpRequest,
    payload: web::Payload,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    body::within(
        state.limits.request_deadline,
        classify_inner(req, payload, state),
    )
    .await
}

async fn classify_inner(
    req: HttpRequest,
    payload: web::Payload,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let limits = &state.limits;
    let (text, explain) =
        match body::read(&req, payload, limits.max_body, limits.body_timeout, true).await? {
            Body::Json(bytes) => {
                let r: ClassifyRequest = body::parse_json(&bytes)?;
                (
                    r.text,
                    check_explain(r.explain.as_deref(), limits.max_explain)?,
                )
            }
            Body::Text(t) => (t, 0),
        };
    check_text(&text, "text")?;
    let model = state.snapshot();
    let result = if inline(&model, &text, explain) {
        score_one(&model, None, &text, explain, Share::ALONE)?
    } else {
        off_worker(&state, move || {
            score_one(&model, None, &text, explain, Share::ALONE)
        })
        .await?
    };
    record(&state, std::slice::from_ref(&result));
    Ok(HttpResponse::Ok().json(result))
}

/// Score many articles at once; results come back in input order.
#[utoipa::path(
    post,
    path = "/v1/classify/batch",
    tag = "classify",
    request_body(content = BatchRequestSchema, content_type = "application/json"),
    responses(
        (status = 200, description = "One result per document, in input order", body = BatchResponse),
        (status = 400, description = "Malformed JSON (`invalid_json`), invalid UTF-8 (`invalid_utf8`), undecodable gzip (`invalid_gzip`), a body cut short or badly framed (`invalid_body`), a bad X-Request-Id (`invalid_request_id`), or a malformed HTTP request (`bad_request`)", body = ErrorBody),
        (status = 413, description = "Body or batch over the limit", body = ErrorBody),
        (status = 408, description = "`request_timeout`: request head not received within --request-timeout, body not within --body-timeout, or request not done within --request-deadline", body = ErrorBody),
        (status = 415, description = "Content-Type is not JSON, charset not UTF-8, or Content-Encoding not gzip", body = ErrorBody),
        (status = 429, description = "Too many heavy requests in flight (--max-heavy); retry after the Retry-After header's seconds", body = ErrorBody),
        (status = 422, description = "Wrong shape, an unknown field, or not exactly one of texts and documents (`invalid_request`); an empty batch (`empty_batch`) or text (`empty_text`); bad explain (`invalid_explain`); text the tokenizer refuses (`unscorable_text`); each message names the document", body = ErrorBody),
        (status = 503, description = "`busy`: the blocking pool could not run the scoring; retry after the Retry-After header's seconds", body = ErrorBody),
    )
)]
pub async fn classify_batch(
    req: HttpRequest,
    payload: web::Payload,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    body::within(
        state.limits.request_deadline,
        batch_inner(req, payload, state),
    )
    .await
}

async fn batch_inner(
    req: HttpRequest,
    payload: web::Payload,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let limits = &state.limits;
    let Body::Json(bytes) =
        body::read(&req, payload, limits.max_body, limits.body_timeout, false).await?
    else {
        return Err(ApiError::bad_request(
            "invalid_body",
            "expected a JSON body",
        ));
    };
    let r: BatchRequest = body::parse_json(&bytes).map_err(|e| name_failing_document(&bytes, e))?;
    let explain = check_explain(r.explain.as_deref(), limits.max_explain)?;
    let docs: Vec<(Option<String>, String)> = match (r.texts, r.documents) {
        (Some(t), None) => t.into_iter().map(|t| (None, t)).collect(),
        (None, Some(d)) => d.into_iter().map(|d| (d.id, d.text)).collect(),
        _ => {
            return Err(ApiError::unprocessable(
                "invalid_request",
                "give exactly one of \"texts\" or \"documents\"",
            ))
        }
    };
    if docs.is_empty() {
        return Err(ApiError::unprocessable(
            "empty_batch",
            "the batch has no documents",
        ));
    }
    if docs.len() > state.limits.max_batch {
        return Err(ApiError::too_large(
            "batch_too_large",
            format!(
                "the batch has {} documents; the limit is {}",
                docs.len(),
                state.limits.max_batch
            ),
        ));
    }
    for (i, (_, t)) in docs.iter().enumerate() {
        check_text(t, &format!("document {i}"))?;
    }
    let model: Arc<Classifier> = state.snapshot();
    let limit = if explain > 0 {
        INLINE_EXPLAIN_BYTES
    } else {
        INLINE_BYTES
    };
    let small = docs.iter().map(|(_, t)| t.len()).sum::<usize>() <= limit
        && docs.iter().all(|(_, t)| model.tokenizer().is_fast(t));
    // Each error names its document: in a batch of 256 a bare "text at byte 0" says nothing.
    let share = Share::of_batch(docs.len());
    let score = move |m: &Classifier, i: usize, (id, t): (Option<String>, String)| {
        score_one(m, id, &t, explain, share).map_err(|e| e.in_document(i))
    };
    let results = if small {
        docs.into_iter()
            .enumerate()
            .map(|(i, d)| score(&model, i, d))
            .collect::<Result<Vec<_>, _>>()?
    } else {
        let m = model.clone();
        off_worker(&state, move || {
            if docs.len() >= PARALLEL_BATCH {
                docs.into_par_iter()
                    .enumerate()
                    .map(|(i, d)| score(&m, i, d))
                    .collect::<Result<Vec<_>, _>>()
            } else {
                docs.into_iter()
                    .enumerate()
                    .map(|(i, d)| score(&m, i, d))
                    .collect::<Result<Vec<_>, _>>()
            }
        })
        .await?
    };
    record(&state, &results);
    Ok(HttpResponse::Ok().json(BatchResponse {
        results,
        model: ModelRef {
            version: model.version().to_string(),
        },
    }))
}

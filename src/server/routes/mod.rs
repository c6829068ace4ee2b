//! The HTTP routes, each in its own module, and the table that mounts them.

pub mod admin;
pub mod body;
pub mod classify;
pub mod health;
pub mod model_info;
pub mod playground;

use actix_web::{web, HttpResponse};
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi, PartialSchema};

use super::error::method_not_allowed;
use super::state::AppState;

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
    }
}

/// The responses the HTTP layer or the route table gives on every route, whatever the handler:
/// 400 for a malformed HTTP request or a bad `X-Request-Id`, 405 (with `Allow`) for a method the
/// route does not answer, 408 for a request head slower than `--request-timeout`, 414 for a URI
/// over the `http` crate's limit and 431 for a request head over actix-http's limit, all with
/// the JSON error body (a route's own description of a status, where it has one, stays). Added to every operation here, since
/// utoipa has no document-wide responses; 404 (a path not listed) has no operation to sit on,
/// so it is a named component response, referred to from the description.
struct HttpLayerResponses;

impl Modify for HttpLayerResponses {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::{ContentBuilder, Ref, ResponseBuilder};
        let error = |description: &str| {
            ResponseBuilder::new().description(description).content(
                "application/json",
                ContentBuilder::new()
                    .schema(Some(Ref::from_schema_name("ErrorBody")))
                    .build(),
            )
        };
        let allow = utoipa::openapi::header::HeaderBuilder::new()
            .schema(String::schema())
            .description(Some(
                "The methods the route answers, e.g. `GET, HEAD` or `POST`",
            ))
            .build();
        let components = openapi.components.get_or_insert_with(Default::default);
        for (name, response) in [
            (
                "MethodNotAllowed",
                error("`method_not_allowed`: the route does not answer this method")
                    .header("Allow", allow)
                    .build(),
            ),
            (
                "BadRequest",
                error("`bad_request`: a malformed HTTP request; `invalid_request_id`: X-Request-Id is not 1 to 128 visible ASCII characters").build(),
            ),
            (
                "RequestTimeout",
                error("`request_timeout`: the request head did not arrive within --request-timeout").build(),
            ),
            (
                "UriTooLong",
                error("`uri_too_long`: the request URI is over 65,534 bytes").build(),
            ),
            (
                "RequestHeaderFieldsTooLarge",
                error("`request_header_fields_too_large`: the request head is too large").build(),
            ),
            (
                "NotFound",
                error("`not_found`: any path not in this document").build(),
            ),
        ] {
            components.responses.insert(name.into(), response.into());
        }
        for item in openapi.paths.paths.values_mut() {
            let operations = [
                &mut item.get,
                &mut item.put,
                &mut item.post,
                &mut item.delete,
                &mut item.options,
                &mut item.head,
                &mut item.patch,
                &mut item.trace,
            ];
            for op in operations.into_iter().flatten() {
                for (status, name) in [
                    ("400", "BadRequest"),
                    ("405", "MethodNotAllowed"),
                    ("408", "RequestTimeout"),
                    ("414", "UriTooLong"),
                    ("431", "RequestHeaderFieldsTooLarge"),
                ] {
                    op.responses
                        .responses
                        .entry(status.into())
                        .or_insert_with(|| Ref::from_response_name(name).into());
                }
            }
        }
    }
}

/// The OpenAPI document, generated from the handlers' annotations.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "stance",
        description = "Scores an article's stance on open versus closed AI models. Every error is \
                       the JSON `ErrorBody`; a path not listed here answers 404 (the `NotFound` \
                       response), a listed path 405 for a method it does not answer."
    ),
    paths(
        classify::classify,
        classify::classify_batch,
        model_info::model_info,
        health::healthz,
        health::readyz,
        admin::reload,
        metrics,
        openapi_json,
    ),
    modifiers(&BearerAuth, &HttpLayerResponses)
)]
pub struct ApiDoc;

/// Prometheus metrics in the text exposition format.
#[utoipa::path(get, path = "/metrics", tag = "probes", responses((status = 200, description = "Prometheus text format", body = String, content_type = "text/plain")))]
pub async fn metrics(state: web::Data<AppState>) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4; charset=utf-8")
        .body(state.metrics.render())
}

/// This document.
#[utoipa::path(get, path = "/openapi.json", tag = "probes", responses((status = 200, description = "OpenAPI 3 document", body = serde_json::Value)))]
pub async fn openapi_json() -> HttpResponse {
    HttpResponse::Ok().json(ApiDoc::openapi())
}

/// Every mounted route (the `route` label of the request metrics takes only these values, or
/// `other`).
pub const ROUTES: [&str; 11] = [
    "/v1/classify",
    "/v1/classify/batch",
    "/v1/model",
    "/v1/admin/reload",
    "/healthz",
    "/readyz",
    "/metrics",
    "/openapi.json",
    "/",
    "/playground/app.js",
    "/playground/style.css",
];

/// A route that answers GET and HEAD.
const GET: &str = "GET, HEAD";
/// A route that answers POST.
const POST: &str = "POST";

/// A resource whose other methods answer 405 with `Allow: allow`; `allow` must list the methods
/// of the routes added to it (the black-box test checks every route's list both ways).
fn resource(path: &str, allow: &'static str) -> actix_web::Resource {
    web::resource(path.to_string())
        .default_service(web::to(move || async move { method_not_allowed(allow) }))
}

/// Mounts the routes an orchestrator polls (`/healthz`, `/readyz`, `/metrics`): on the main
/// listener, and alone on the `--probe-bind` listener, whose own thread answers them while the
/// main workers are saturated.
pub fn configure_probes(cfg: &mut web::ServiceConfig) {
    let r = resource;
    cfg.service(
        r("/healthz", GET)
            .route(web::get().to(health::healthz))
            .route(web::head().to(health::healthz)),
    )
    .service(
        r("/readyz", GET)
            .route(web::get().to(health::readyz))
            .route(web::head().to(health::readyz)),
    )
    .service(
        r("/metrics", GET)
            .route(web::get().to(metrics))
            .route(web::head().to(metrics)),
    );
}

/// Mounts every route; a known path with the wrong method answers 405. HEAD is answered like GET
/// on every GET route (headers only, as HTTP requires). The playground's three routes are not in
/// the OpenAPI document: they serve a page for people, not an API.
pub fn configure(cfg: &mut web::ServiceConfig) {
    let r = resource;
    configure_probes(cfg);
    cfg.service(r("/v1/classify", POST).route(web::post().to(classify::classify)))
        .service(r("/v1/classify/batch", POST).route(web::post().to(classify::classify_batch)))
        .service(
            r("/v1/model", GET)
                .route(web::get().to(model_info::model_info))
                .route(web::head().to(model_info::model_info)),
        )
        .service(r("/v1/admin/reload", POST).route(web::post().to(admin::reload)))
        .service(
            r("/openapi.json", GET)
                .route(web::get().to(openapi_json))
                .route(web::head().to(openapi_json)),
        )
        .service(
            r("/", GET)
                .route(web::get().to(playground::index))
                .route(web::head().to(playground::index)),
        )
        .service(
            r("/playground/app.js", GET)
                .route(web::get().to(playground::app_js))
                .route(web::head().to(playground::app_js)),
        )
        .service(
            r("/playground/style.css", GET)
                .route(web::get().to(playground::style_css))
                .route(web::head().to(playground::style_css)),
        );
}

//! `GET /`: the playground, one page where a person pastes an article and sees its score, its
//! relevance and the words that pushed it, highlighted in place. The page, its style sheet and
//! its script are compiled into the binary (no CDN, no build step, works offline and in the
//! container) and served as three routes, so that the page can carry a strict
//! Content-Security-Policy with no inline script or style: the only code that runs is
//! `/playground/app.js`, and it inserts the article as text nodes, never as HTML.

use actix_web::http::header;
use actix_web::HttpResponse;

/// The page's policy: nothing but this origin's script, style and API; no framing, no forms, no
/// `<base>`. `img-src data:` only lets the page's empty favicon load without a request.
pub const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; \
connect-src 'self'; img-src 'self' data:; base-uri 'none'; form-action 'none'; \
frame-ancestors 'none'";

const INDEX_HTML: &str = include_str!("../playground/index.html");
const APP_JS: &str = include_str!("../playground/app.js");
const STYLE_CSS: &str = include_str!("../playground/style.css");

fn asset(content_type: &'static str, body: &'static str) -> HttpResponse {
    HttpResponse::Ok()
        .content_type(content_type)
        .insert_header((header::CONTENT_SECURITY_POLICY, CSP))
        .insert_header((header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
        .insert_header((header::REFERRER_POLICY, "no-referrer"))
        .insert_header((header::X_FRAME_OPTIONS, "DENY"))
        // The assets change with the binary; revalidating costs one small request.
        .insert_header((header::CACHE_CONTROL, "no-cache"))
        .body(body)
}

/// The playground page.
pub async fn index() -> HttpResponse {
    asset("text/html; charset=utf-8", INDEX_HTML)
}

/// The playground's script.
pub async fn app_js() -> HttpResponse {
    asset("text/javascript; charset=utf-8", APP_JS)
}

/// The playground's style sheet.
pub async fn style_css() -> HttpResponse {
    asset("text/css; charset=utf-8", STYLE_CSS)
}

//! Black-box tests of the playground (issue 12) over real HTTP: the page, its assets and its
//! Content-Security-Policy. The page's behaviour is tested in a real browser by
//! `tests/browser.sh`.

use serde_json::Value;

use super::helpers::*;

#[test]
fn playground_is_served_with_a_strict_policy() {
    let s = Server::start(&[]);
    let c = client();
    let r = c.get(s.url("/")).send().unwrap();
    assert_eq!(r.status(), 200);
    let h = r.headers().clone();
    assert_eq!(h["content-type"], "text/html; charset=utf-8");
    let csp = h["content-security-policy"].to_str().unwrap().to_string();
    for directive in [
        "default-src 'none'",
        "script-src 'self'",
        "style-src 'self'",
        "connect-src 'self'",
        "base-uri 'none'",
        "form-action 'none'",
        "frame-ancestors 'none'",
    ] {
        assert!(csp.contains(directive), "{directive} missing from {csp}");
    }
    assert!(!csp.contains("unsafe"), "{csp}");
    assert_eq!(h["x-content-type-options"], "nosniff");
    let html = r.text().unwrap();
    assert!(html.starts_with("<!doctype html>"), "{html:.80}");
    assert!(html.contains(r#"<script src="/playground/app.js" defer></script>"#));
    assert!(html.contains(r#"href="/playground/style.css""#));
    assert!(html.contains(r#"href="/openapi.json""#));
    // Nothing inline that the policy would block: the only script has a src, no style element
    // or attribute, no event-handler attribute.
    assert_eq!(html.matches("<script").count(), 1);
    assert!(
        !html.contains("<style") && !html.contains(" style="),
        "inline style"
    );
    assert!(!html.contains(" onclick=") && !html.contains(" onload="));

    for (path, ctype, needle) in [
        (
            "/playground/app.js",
            "text/javascript; charset=utf-8",
            "textContent",
        ),
        (
            "/playground/style.css",
            "text/css; charset=utf-8",
            ".article mark",
        ),
    ] {
        let r = c.get(s.url(path)).send().unwrap();
        assert_eq!(r.status(), 200, "{path}");
        assert_eq!(r.headers()["content-type"], ctype, "{path}");
        assert_eq!(r.headers()["x-content-type-options"], "nosniff");
        let body = r.text().unwrap();
        assert!(body.contains(needle), "{path}");
        if path.ends_with(".js") {
            for sink in [
                "innerHTML",
                "outerHTML",
                "insertAdjacentHTML",
                "document.write",
                "eval(",
            ] {
                assert!(!body.contains(sink), "the script uses {sink}");
            }
        }
        let head = c.head(s.url(path)).send().unwrap();
        assert_eq!(head.status(), 200, "HEAD {path}");
    }
    // The routes are counted under their own names, not `other`.
    let metrics = c.get(s.url("/metrics")).send().unwrap().text().unwrap();
    assert!(
        metrics.contains("route=\"/playground/app.js\",status=\"200\""),
        "{metrics}"
    );
    // Unknown paths under the playground are still JSON 404s.
    let r = c.get(s.url("/playground/nothing.js")).send().unwrap();
    assert_eq!(r.status(), 404);
    assert!(r.json::<Value>().unwrap()["error"]["code"] == "not_found");
}

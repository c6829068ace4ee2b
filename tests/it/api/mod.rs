//! Black-box tests of `stance serve` over real HTTP on an ephemeral port.

mod hardening;
mod helpers;
mod playground;
mod spans;

use std::collections::HashSet;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use helpers::*;
use reqwest::blocking::Response;
use serde_json::{json, Value};

fn json_of(r: Response) -> Value {
    r.json().unwrap()
}

#[track_caller]
fn assert_error(r: Response, status: u16, code: &str) {
    assert_eq!(r.status().as_u16(), status, "expected {status} {code}");
    let v: Value = r.json().expect("error bodies are JSON");
    assert_eq!(v["error"]["code"], code, "{v}");
    assert!(
        v["error"]["message"]
            .as_str()
            .is_some_and(|m| !m.is_empty()),
        "{v}"
    );
}

fn assert_score(v: &Value) {
    let scores = v["scores"].as_object().unwrap();
    assert_eq!(scores.len(), 3);
    let sum: f64 = scores.values().map(|p| p.as_f64().unwrap()).sum();
    assert!(scores.values().all(|p| p.as_f64().unwrap().is_finite()));
    assert!((sum - 1.0).abs() < 1e-9, "{v}");
    let label = v["label"].as_str().unwrap();
    assert_eq!(v["confidence"], scores[label]);
    assert!(v["model"]["version"].as_str().is_some());
}

#[test]
fn endpoints_answer_as_documented() {
    let s = Server::start(&[]);
    let c = client();
    let version = std::fs::read_to_string(s.models.join("CURRENT"))
        .unwrap()
        .trim()
        .to_string();

    assert_eq!(
        json_of(c.get(s.url("/healthz")).send().unwrap())["status"],
        "ok"
    );
    let ready = json_of(c.get(s.url("/readyz")).send().unwrap());
    assert_eq!(ready["status"], "ready");
    assert_eq!(ready["model"]["version"], version.as_str());

    let model = json_of(c.get(s.url("/v1/model")).send().unwrap());
    assert_eq!(model["version"], version.as_str());
    assert_eq!(
        model["labels"],
        json!(["neutral", "pro-closed", "pro-open"])
    );
    assert!(model["vocabulary_size"].as_u64().unwrap() > 1000);

    let r = c
        .post(s.url("/v1/classify"))
        .header("X-Request-Id", "req-abc-123")
        .json(&json!({"text": "Publishing the weights lets anyone audit, fork and fine-tune the model.", "explain": 4}))
        .send()
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["x-request-id"], "req-abc-123");
    let v = json_of(r);
    assert_score(&v);
    assert_eq!(v["model"]["version"], version.as_str());
    let expl = v["explanation"].as_object().unwrap();
    assert_eq!(expl.len(), 3);
    assert!(expl.values().all(|l| l.as_array().unwrap().len() <= 4));

    let r = c
        .post(s.url("/v1/classify"))
        .header("Content-Type", "text/plain; charset=utf-8")
        .body("A hosted API lets the provider monitor misuse and revoke access.")
        .send()
        .unwrap();
    assert_eq!(r.status(), 200);
    assert!(
        r.headers()
            .get("x-request-id")
            .is_some_and(|v| v.len() >= 16),
        "generated request id"
    );
    let v = json_of(r);
    assert_score(&v);
    assert!(v.get("explanation").is_none());

    let texts: Vec<String> = (0..20)
        .map(|i| format!("article number {i} about open weights and hosted APIs"))
        .collect();
    let v = json_of(
        c.post(s.url("/v1/classify/batch"))
            .json(&json!({"texts": texts}))
            .send()
            .unwrap(),
    );
    assert_eq!(v["results"].as_array().unwrap().len(), 20);
    let v = json_of(
        c.post(s.url("/v1/classify/batch"))
            .json(&json!({"documents": [{"id": "first", "text": "open weights for all"}, {"id": "second", "text": "keep it behind an API"}], "explain": 2}))
            .send()
            .unwrap(),
    );
    let results = v["results"].as_array().unwrap();
    assert_eq!(results[0]["id"], "first");
    assert_eq!(results[1]["id"], "second");
    results.iter().for_each(assert_score);
    assert_eq!(v["model"]["version"], version.as_str());

    let metrics = c.get(s.url("/metrics")).send().unwrap().text().unwrap();
    for needle in [
        "stance_http_requests_total{method=\"POST\",route=\"/v1/classify\",status=\"200\"} 2",
        "stance_http_request_duration_seconds_bucket",
        "stance_documents_scored_total 24",
        "stance_tokens_scored_total",
        &format!("stance_model_info{{version=\"{version}\"}} 1"),
        "stance_model_reloads_total{result=\"failure\"} 0",
    ] {
        assert!(metrics.contains(needle), "{needle} missing from\n{metrics}");
    }

    let logged = |l: &str| {
        l.contains("req-abc-123") && l.contains("/v1/classify") && l.contains("status=200")
    };
    let logs = s.log_when(logged, Duration::from_secs(20));
    assert!(logged(&logs), "{logs}");
    assert!(logs.contains(&format!("serving model {version}")), "{logs}");
}

#[test]
fn openapi_lists_every_route() {
    let s = Server::start(&[]);
    let c = client();
    let doc = json_of(c.get(s.url("/openapi.json")).send().unwrap());
    assert!(doc["openapi"].as_str().unwrap().starts_with("3."));
    let paths = doc["paths"].as_object().unwrap();
    let routes = [
        ("post", "/v1/classify"),
        ("post", "/v1/classify/batch"),
        ("get", "/v1/model"),
        ("post", "/v1/admin/reload"),
        ("get", "/healthz"),
        ("get", "/readyz"),
        ("get", "/metrics"),
        ("get", "/openapi.json"),
    ];
    for (method, path) in routes {
        assert!(
            paths.get(path).and_then(|p| p.get(method)).is_some(),
            "{method} {path} missing"
        );
        // And the route really exists on the server (not a 404).
        let r = c
            .request(method.parse().unwrap(), s.url(path))
            .send()
            .unwrap();
        assert_ne!(r.status(), 404, "{method} {path}");
    }
    assert_eq!(
        paths.len(),
        routes.len(),
        "the document lists a route the server lacks"
    );

    // The request bounds, at the service's defaults (`--max-explain`, `--max-batch`).
    let schemas = &doc["components"]["schemas"];
    assert_eq!(
        schemas["ClassifyRequest"]["properties"]["explain"]["maximum"],
        100
    );
    // A batch gives exactly one of `texts` and `documents`: `oneOf` two object schemas, each
    // requiring its list and allowing no other field, so that a body with both or neither fits
    // neither.
    let resolve = |v: &Value| match v["$ref"].as_str() {
        Some(r) => schemas[r.trim_start_matches("#/components/schemas/")].clone(),
        None => v.clone(),
    };
    let batch = &schemas["BatchRequest"];
    let shapes: Vec<Value> = batch["oneOf"]
        .as_array()
        .unwrap_or_else(|| panic!("oneOf in {batch}"))
        .iter()
        .map(resolve)
        .collect();
    assert_eq!(shapes.len(), 2, "{batch}");
    for (shape, list) in shapes.iter().zip(["texts", "documents"]) {
        assert_eq!(shape["type"], "object", "{shape}");
        assert_eq!(shape["required"], json!([list]), "{shape}");
        assert_eq!(shape["additionalProperties"], false, "{shape}");
        let fields = shape["properties"].as_object().unwrap();
        let mut names: Vec<&str> = fields.keys().map(String::as_str).collect();
        names.sort_unstable();
        let mut expected = ["explain", list];
        expected.sort_unstable();
        assert_eq!(names, expected, "{shape}");
        assert_eq!(fields["explain"]["maximum"], 100, "{shape}");
        assert_eq!(fields[list]["maxItems"], 256, "{shape}");
        assert_eq!(fields[list]["minItems"], 1, "{shape}");
    }
    // Each error a route can give is listed, with the JSON error body.
    let error_body = |r: &Value| {
        let r = match r["$ref"].as_str() {
            Some(name) => {
                let name = name.trim_start_matches("#/components/responses/");
                &doc["components"]["responses"][name]
            }
            None => r,
        };
        r["content"]["application/json"]["schema"]["$ref"] == "#/components/schemas/ErrorBody"
    };
    for (method, path) in routes {
        let responses = &paths[path][method]["responses"];
        // Every route: what the HTTP layer answers before any handler runs.
        let mut expected = vec!["400", "405", "408", "414", "431"];
        if path.starts_with("/v1/classify") {
            expected.extend(["413", "415", "422", "429", "503"]);
        }
        if path == "/v1/admin/reload" {
            expected.extend(["401", "403", "409", "503"]);
        }
        for status in expected {
            assert!(
                error_body(&responses[status]),
                "{method} {path} {status}: {responses}"
            );
        }
    }
    assert!(
        doc["components"]["responses"]["MethodNotAllowed"]["headers"]["Allow"].is_object(),
        "{}",
        doc["components"]["responses"]
    );
    assert!(error_body(&doc["components"]["responses"]["NotFound"]));
}

#[test]
fn bad_input_gets_clear_json_errors() {
    let s = Server::start(&[
        "--max-body",
        "65536",
        "--max-batch",
        "4",
        "--admin-token",
        TOKEN,
    ]);
    let c = client();
    let url = s.url("/v1/classify");
    let post = |ct: &str, body: Vec<u8>| {
        c.post(&url)
            .header("Content-Type", ct)
            .body(body)
            .send()
            .unwrap()
    };

    let cases: [(&str, &[u8], u16, &str); 11] = [
        ("application/json", b"{\"text\": ", 400, "invalid_json"),
        (
            "application/json",
            b"{\"text\": \"\xff\xfe\"}",
            400,
            "invalid_utf8",
        ),
        ("text/plain", b"caf\xe9", 400, "invalid_utf8"),
        ("application/json", b"{}", 422, "invalid_request"),
        (
            "application/json",
            b"{\"text\": 42}",
            422,
            "invalid_request",
        ),
        ("application/json", b"[\"text\"]", 422, "invalid_request"),
        ("application/json", b"{\"text\": \"\"}", 422, "empty_text"),
        ("text/plain", b"   ", 422, "empty_text"),
        (
            "application/json",
            b"{\"text\": \"x\", \"explain\": 1000}",
            422,
            "invalid_explain",
        ),
        ("application/xml", b"<text/>", 415, "unsupported_media_type"),
        ("text/plain", &[b'a'; 70_000], 413, "payload_too_large"),
    ];
    for (content_type, body, status, code) in cases {
        assert_error(post(content_type, body.to_vec()), status, code);
    }
    assert_error(
        c.post(&url).body("no content type").send().unwrap(),
        415,
        "unsupported_media_type",
    );
    let big = serde_json::to_vec(&json!({"text": "a ".repeat(40_000)})).unwrap();
    assert_error(post("application/json", big), 413, "payload_too_large");

    let batch = s.url("/v1/classify/batch");
    assert_error(
        c.post(&batch)
            .json(&json!({"texts": ["a", "b", "c", "d", "e"]}))
            .send()
            .unwrap(),
        413,
        "batch_too_large",
    );
    assert_error(
        c.post(&batch).json(&json!({"texts": []})).send().unwrap(),
        422,
        "empty_batch",
    );
    assert_error(
        c.post(&batch)
            .json(&json!({"texts": ["a"], "documents": []}))
            .send()
            .unwrap(),
        422,
        "invalid_request",
    );
    assert_error(
        c.post(&batch)
            .json(&json!({"texts": ["ok", ""]}))
            .send()
            .unwrap(),
        422,
        "empty_text",
    );
    assert_error(
        c.post(&batch)
            .header("Content-Type", "text/plain")
            .body("x")
            .send()
            .unwrap(),
        415,
        "unsupported_media_type",
    );

    assert_error(
        c.get(s.url("/v2/nothing")).send().unwrap(),
        404,
        "not_found",
    );
    assert_error(c.get(&url).send().unwrap(), 405, "method_not_allowed");
    assert_error(
        c.delete(s.url("/healthz")).send().unwrap(),
        405,
        "method_not_allowed",
    );

    let reload = s.url("/v1/admin/reload");
    assert_error(c.post(&reload).send().unwrap(), 401, "unauthorized");
    assert_error(
        c.post(&reload).bearer_auth("wrong").send().unwrap(),
        403,
        "forbidden",
    );
    assert_eq!(
        c.post(&reload).bearer_auth(TOKEN).send().unwrap().status(),
        200
    );

    // No request above may have hurt the server.
    assert_eq!(c.get(s.url("/readyz")).send().unwrap().status(), 200);
}

#[test]
fn admin_routes_are_off_without_a_token() {
    let s = Server::start(&[]);
    assert_error(
        client()
            .post(s.url("/v1/admin/reload"))
            .bearer_auth("anything")
            .send()
            .unwrap(),
        403,
        "admin_disabled",
    );
}

#[test]
fn odd_articles_get_normal_finite_answers() {
    let s = Server::start(&[]);
    let c = client();
    let megabyte: String =
        "Open weights and hosted APIs both have defenders. ".repeat(21_000)[..1 << 20].to_string();
    let texts = [
        megabyte.as_str(),
        "🤖🚀🔥👩‍💻 🤔🤔",
        "!!! ??? ... --- ;;; ((( )))",
        "Открытые модели позволяют проверять веса. 開放權重。 النماذج المفتوحة",
        "null\u{0}bytes\u{0}inside\u{0}",
        "qwxzv plorthing snerg blarfulous zindle",
    ];
    for t in texts {
        let r = c
            .post(s.url("/v1/classify"))
            .header("Content-Type", "text/plain")
            .body(t.to_string())
            .send()
            .unwrap();
        assert_eq!(r.status(), 200, "{:.40}", t);
        assert_score(&json_of(r));
        let r = c
            .post(s.url("/v1/classify"))
            .json(&json!({"text": t, "explain": 3}))
            .send()
            .unwrap();
        if t.len() < 1 << 20 {
            assert_eq!(r.status(), 200);
            assert_score(&json_of(r));
        } else {
            assert_eq!(
                r.status(),
                413,
                "1 MiB of text plus JSON framing is over the 1 MiB default"
            );
        }
    }
}

#[test]
fn reference_essay_is_pro_open_over_http() {
    let Some(essay) = reference_essay() else {
        return;
    };
    let s = Server::start(&[]);
    let c = client();
    let plain = json_of(
        c.post(s.url("/v1/classify"))
            .header("Content-Type", "text/plain")
            .body(essay.clone())
            .send()
            .unwrap(),
    );
    let as_json = json_of(
        c.post(s.url("/v1/classify"))
            .json(&json!({"text": essay}))
            .send()
            .unwrap(),
    );
    for v in [plain, as_json] {
        assert_eq!(v["label"], "pro-open", "{v}");
        // Calibrated: a clear majority, not the raw model's 1.000.
        assert!(v["confidence"].as_f64().unwrap() > 0.5, "{v}");
        assert_eq!(v["on_topic"], true, "{v}");
    }
}

/// A request whose body is still arriving when SIGTERM lands must be answered, then the process
/// exits 0; meanwhile concurrent clients see no server errors.
#[test]
fn sigterm_drains_in_flight_requests() {
    let mut s = Server::start(&["--shutdown-timeout", "10"]);
    let body = br#"{"text": "Open weights let anyone audit the model."}"#;
    let mut slow = TcpStream::connect(s.addr()).unwrap();
    write!(
        slow,
        "POST /v1/classify HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    )
    .unwrap();
    slow.write_all(&body[..10]).unwrap();
    slow.flush().unwrap();
    std::thread::sleep(Duration::from_millis(200));

    let stop = Arc::new(AtomicBool::new(false));
    let statuses = Arc::new(Mutex::new(Vec::new()));
    let base = s.base.clone();
    let load: Vec<_> = (0..4)
        .map(|_| {
            let (stop, statuses, base) = (stop.clone(), statuses.clone(), base.clone());
            std::thread::spawn(move || {
                let c = client();
                while !stop.load(Ordering::Relaxed) {
                    match c
                        .post(format!("{base}/v1/classify"))
                        .json(&json!({"text": "closed API"}))
                        .send()
                    {
                        Ok(r) => statuses.lock().unwrap().push(r.status().as_u16()),
                        Err(_) => break,
                    }
                }
            })
        })
        .collect();
    std::thread::sleep(Duration::from_millis(300));
    s.signal(libc::SIGTERM);
    std::thread::sleep(Duration::from_millis(300));
    slow.write_all(&body[10..]).unwrap();
    let mut response = String::new();
    slow.read_to_string(&mut response).unwrap();
    assert!(
        response.starts_with("HTTP/1.1 200"),
        "in-flight request was not finished: {response:?}"
    );
    assert!(response.contains("\"label\""));
    stop.store(true, Ordering::Relaxed);
    for t in load {
        t.join().unwrap();
    }
    assert_eq!(
        s.wait_exit(Duration::from_secs(15)),
        Some(0),
        "clean exit after drain"
    );
    let statuses = statuses.lock().unwrap();
    assert!(!statuses.is_empty());
    assert!(statuses.iter().all(|&c| c == 200), "{statuses:?}");
    let logs = s.log_when(|l| l.contains("SIGTERM"), Duration::from_secs(20));
    assert!(logs.contains("SIGTERM"), "{logs}");
}

/// Reads one HTTP/1.1 response with a `Content-Length` body from a connection that stays open.
fn read_one_response(c: &mut TcpStream) -> String {
    let mut buf = Vec::new();
    let mut byte = [0u8; 1];
    while !buf.ends_with(b"\r\n\r\n") {
        assert_eq!(c.read(&mut byte).unwrap(), 1, "connection closed mid-head");
        buf.push(byte[0]);
    }
    let head = String::from_utf8_lossy(&buf).to_ascii_lowercase();
    let length: usize = head
        .lines()
        .find_map(|l| l.strip_prefix("content-length:"))
        .map_or(0, |v| v.trim().parse().unwrap());
    let mut body = vec![0u8; length];
    c.read_exact(&mut body).unwrap();
    buf.extend_from_slice(&body);
    String::from_utf8_lossy(&buf).into_owned()
}

/// Review finding: an idle keep-alive connection held the drain until `--shutdown-timeout` ran
/// out (every rollout waited the full 20 s). On SIGTERM it must be closed at once, a request in
/// flight on another keep-alive connection must still be answered (then that connection closed),
/// and the process must exit without waiting for the shutdown timeout. Both timeouts are 60 s
/// and the bound on the exit is 30 s, so only the drain itself can end the process in time.
#[test]
fn sigterm_closes_idle_keep_alive_connections_at_once() {
    let mut s = Server::start(&["--shutdown-timeout", "60", "--keep-alive", "60"]);
    let host = s.addr();
    let mut idle = TcpStream::connect(s.addr()).unwrap();
    idle.set_read_timeout(Some(Duration::from_secs(40)))
        .unwrap();
    write!(idle, "GET /healthz HTTP/1.1\r\nHost: {host}\r\n\r\n").unwrap();
    let first = read_one_response(&mut idle);
    assert!(first.starts_with("HTTP/1.1 200"), "{first}");
    assert!(
        !first.to_ascii_lowercase().contains("connection: close"),
        "kept alive before the shutdown: {first}"
    );

    let body = br#"{"text": "Open weights let anyone audit the model."}"#;
    let mut busy = TcpStream::connect(s.addr()).unwrap();
    busy.set_read_timeout(Some(Duration::from_secs(40)))
        .unwrap();
    write!(
        busy,
        "POST /v1/classify HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
        body.len()
    )
    .unwrap();
    busy.write_all(&body[..10]).unwrap();
    busy.flush().unwrap();
    // The server has the head of the in-flight request before the signal lands.
    std::thread::sleep(Duration::from_millis(300));

    s.signal(libc::SIGTERM);
    let mut rest = Vec::new();
    assert_eq!(
        idle.read_to_end(&mut rest).map_err(|e| e.kind()),
        Ok(0),
        "the idle connection is closed, with nothing sent on it"
    );
    busy.write_all(&body[10..]).unwrap();
    let answer = read_one_response(&mut busy);
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert!(answer.contains("\"label\""), "{answer}");
    let mut after = Vec::new();
    assert_eq!(
        busy.read_to_end(&mut after).map_err(|e| e.kind()),
        Ok(0),
        "closed after its response"
    );
    assert_eq!(
        s.wait_exit(Duration::from_secs(30)),
        Some(0),
        "exits without waiting for the shutdown timeout"
    );
}

#[test]
fn sigint_also_exits_cleanly() {
    let mut s = Server::start(&[]);
    assert_eq!(
        client().get(s.url("/healthz")).send().unwrap().status(),
        200
    );
    s.signal(libc::SIGINT);
    assert_eq!(s.wait_exit(Duration::from_secs(15)), Some(0));
}

/// Many concurrent classify requests while the model is retrained and reloaded twice: zero
/// failures, and every response names a version that existed at that moment.
#[test]
fn reload_under_load_loses_nothing() {
    let s = Server::start(&["--admin-token", TOKEN]);
    let v0 = std::fs::read_to_string(s.models.join("CURRENT"))
        .unwrap()
        .trim()
        .to_string();
    let stop = Arc::new(AtomicBool::new(false));
    let seen: Arc<Mutex<Vec<(Instant, u16, String)>>> = Arc::new(Mutex::new(Vec::new()));
    let workers: Vec<_> = (0..8)
        .map(|i| {
            let (stop, seen, base) = (stop.clone(), seen.clone(), s.base.clone());
            std::thread::spawn(move || {
                let c = client();
                let mut n = 0;
                while !stop.load(Ordering::Relaxed) {
                    let text =
                        format!("request {i}-{n}: open weights, closed APIs and the safety debate");
                    let r = c
                        .post(format!("{base}/v1/classify"))
                        .json(&json!({"text": text}))
                        .send();
                    let entry = match r {
                        Ok(r) => {
                            let status = r.status().as_u16();
                            let v: Value = r.json().unwrap_or(Value::Null);
                            (
                                Instant::now(),
                                status,
                                v["model"]["version"].as_str().unwrap_or("").to_string(),
                            )
                        }
                        Err(e) => (Instant::now(), 0, e.to_string()),
                    };
                    seen.lock().unwrap().push(entry);
                    n += 1;
                }
            })
        })
        .collect();

    let c = client();
    let mut available = vec![(v0.clone(), Instant::now() - Duration::from_secs(3600))];
    for params in [["--alpha", "0.7"], ["--alpha", "0.9"]] {
        std::thread::sleep(Duration::from_millis(300));
        let v = retrain(&s.models, &params);
        available.push((v.clone(), Instant::now()));
        let r = c
            .post(s.url("/v1/admin/reload"))
            .bearer_auth(TOKEN)
            .send()
            .unwrap();
        assert_eq!(r.status(), 200);
        assert_eq!(json_of(r)["version"], v.as_str());
    }
    std::thread::sleep(Duration::from_millis(300));
    stop.store(true, Ordering::Relaxed);
    for w in workers {
        w.join().unwrap();
    }

    let seen = seen.lock().unwrap();
    assert!(seen.len() > 50, "only {} requests", seen.len());
    let failures: Vec<_> = seen.iter().filter(|(_, s, _)| *s != 200).collect();
    assert!(
        failures.is_empty(),
        "{} failed: {:?}",
        failures.len(),
        &failures[..failures.len().min(5)]
    );
    let mut versions = HashSet::new();
    for (at, _, version) in seen.iter() {
        let (_, born) = available
            .iter()
            .find(|(v, _)| v == version)
            .unwrap_or_else(|| panic!("response names unknown version {version:?}"));
        assert!(at >= born, "{version} answered before it existed");
        versions.insert(version.clone());
    }
    assert!(
        versions.len() >= 2,
        "the reloads must show up in responses: {versions:?}"
    );
    assert!(
        versions.contains(&available[2].0),
        "the last version serves at the end"
    );
}

#[test]
fn failed_reload_keeps_the_old_model_and_sighup_reloads() {
    let s = Server::start(&["--admin-token", TOKEN]);
    let c = client();
    let v0 = std::fs::read_to_string(s.models.join("CURRENT"))
        .unwrap()
        .trim()
        .to_string();
    std::fs::write(s.models.join("CURRENT"), "no-such-version\n").unwrap();
    let r = c
        .post(s.url("/v1/admin/reload"))
        .bearer_auth(TOKEN)
        .send()
        .unwrap();
    assert_eq!(r.status(), 409);
    let v = json_of(r);
    assert_eq!(v["error"]["code"], "reload_failed");
    assert!(
        v["error"]["message"]
            .as_str()
            .unwrap()
            .contains("no-such-version"),
        "{v}"
    );
    let v = json_of(
        c.post(s.url("/v1/classify"))
            .json(&json!({"text": "still serving"}))
            .send()
            .unwrap(),
    );
    assert_eq!(v["model"]["version"], v0.as_str());
    let metrics = c.get(s.url("/metrics")).send().unwrap().text().unwrap();
    assert!(
        metrics.contains("stance_model_reloads_total{result=\"failure\"} 1"),
        "{metrics}"
    );

    let v1 = retrain(&s.models, &["--alpha", "0.8"]);
    s.signal(libc::SIGHUP);
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let m = json_of(c.get(s.url("/v1/model")).send().unwrap());
        if m["version"] == v1.as_str() {
            break;
        }
        assert!(Instant::now() < deadline, "SIGHUP did not reload");
        std::thread::sleep(Duration::from_millis(50));
    }
    let metrics = c.get(s.url("/metrics")).send().unwrap().text().unwrap();
    assert!(
        metrics.contains("stance_model_reloads_total{result=\"success\"} 1"),
        "{metrics}"
    );
}

#[test]
fn slow_clients_are_cut_off() {
    let s = Server::start(&["--request-timeout", "1"]);
    let mut stalled = TcpStream::connect(s.addr()).unwrap();
    stalled
        .write_all(b"POST /v1/classify HTTP/1.1\r\nHost: x\r\n")
        .unwrap();
    stalled
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let start = Instant::now();
    let mut buf = Vec::new();
    let _ = stalled.read_to_end(&mut buf);
    assert!(
        start.elapsed() < Duration::from_secs(8),
        "a stalled client must be disconnected"
    );
    let text = String::from_utf8_lossy(&buf);
    assert!(buf.is_empty() || text.starts_with("HTTP/1.1 408"), "{text}");
}

#[test]
fn relevance_and_evidence_fields_over_http() {
    let s = Server::start(&[]);
    let c = client();
    let recipe = "Sourdough starter, day five\n\nFeed the starter twice a day with equal weights of flour and water, keep it somewhere warm, and wait until it doubles within six hours of a feed. Then mix 500 grams of bread flour with 350 grams of water, rest it for an hour, add 100 grams of starter and ten grams of salt, and fold the dough every half hour for two hours. Shape it, proof it overnight in the fridge, and bake it in a covered pot at 250 degrees for twenty minutes, then uncovered until the crust is deep brown.";
    let debate = "Why we publish our weights\n\nWe release the full weights of our model under Apache 2.0 because open models let anyone audit, fork and fine-tune them on their own hardware. Closed models behind an API leave customers locked in to one vendor's prices and policies. Independent researchers found and fixed safety problems in earlier open releases faster than any single lab could, and national labs and universities can build on the same foundation. Open weights are how this field should work.";
    let v = json_of(
        c.post(s.url("/v1/classify"))
            .json(&json!({"text": recipe, "explain": 3}))
            .send()
            .unwrap(),
    );
    assert_score(&v);
    assert_eq!(v["on_topic"], false, "{v}");
    let r = v["relevance"].as_f64().unwrap();
    assert!((0.0..=1.0).contains(&r), "{v}");
    assert!(
        v["relevance_explanation"]["off-topic"]
            .as_array()
            .is_some_and(|a| !a.is_empty()),
        "{v}"
    );
    let v = json_of(
        c.post(s.url("/v1/classify"))
            .json(&json!({"text": debate}))
            .send()
            .unwrap(),
    );
    assert_eq!(v["on_topic"], true, "{v}");
    assert_eq!(v["insufficient_evidence"], false, "{v}");
    assert!(v["evidence"].as_u64().unwrap() > 10, "{v}");
    let v = json_of(
        c.post(s.url("/v1/classify"))
            .header("Content-Type", "text/plain")
            .body("Open weights.")
            .send()
            .unwrap(),
    );
    assert_eq!(v["insufficient_evidence"], true, "{v}");
    let v = json_of(
        c.post(s.url("/v1/classify/batch"))
            .json(&json!({"texts": [recipe, debate]}))
            .send()
            .unwrap(),
    );
    let on: Vec<&Value> = v["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| &r["on_topic"])
        .collect();
    assert_eq!(on, [&json!(false), &json!(true)], "{v}");
    let m = c.get(s.url("/metrics")).send().unwrap().text().unwrap();
    assert!(m.contains("stance_off_topic_total"), "{m}");
}

/// The baseline is what a text with no known feature scores, and it is what makes a label win
/// with nothing listed under it: a reader is never shown a label without the reason for it.
#[test]
fn explanations_carry_the_baseline_that_decides_a_label_without_evidence() {
    let s = Server::start(&[]);
    let c = client();
    let score = |text: &str| {
        json_of(
            c.post(s.url("/v1/classify"))
                .json(&json!({"text": text, "explain": 5}))
                .send()
                .unwrap(),
        )
    };
    // Words the vocabulary cannot have: no feature at all, so the scores are the baseline.
    let none = score("zqxv wkpfh qqzrt");
    assert_eq!(none["evidence"], 0, "{none}");
    let baseline = none["baseline"].as_object().expect("baseline with explain");
    for (label, p) in baseline {
        let got = none["scores"][label].as_f64().unwrap();
        assert!((got - p.as_f64().unwrap()).abs() < 1e-12, "{none}");
    }
    let total: f64 = baseline.values().map(|p| p.as_f64().unwrap()).sum();
    assert!((total - 1.0).abs() < 1e-9, "{none}");
    for text in [
        "open weights",
        "keep it behind an API",
        "The panel met on Tuesday.",
        "Publishing the weights lets anyone audit, fork and fine-tune the model.",
    ] {
        let v = score(text);
        assert_eq!(
            v["baseline"], none["baseline"],
            "one baseline per model: {v}"
        );
        let label = v["label"].as_str().unwrap();
        let listed = v["explanation"][label].as_array().unwrap();
        if listed.is_empty() {
            let top = baseline
                .iter()
                .max_by(|a, b| a.1.as_f64().unwrap().total_cmp(&b.1.as_f64().unwrap()))
                .unwrap()
                .0;
            assert_eq!(
                label, top,
                "a label with no evidence must be the baseline's: {v}"
            );
        }
    }
    // Without explain there is no baseline.
    let v = json_of(
        c.post(s.url("/v1/classify"))
            .json(&json!({"text": "open weights"}))
            .send()
            .unwrap(),
    );
    assert!(v.get("baseline").is_none(), "{v}");
}

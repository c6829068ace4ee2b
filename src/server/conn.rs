//! A connection wrapper that gives the HTTP layer's own error responses the JSON error shape.
//!
//! actix-http answers a few conditions itself, before any handler runs, with an empty body: a
//! malformed request (400), a request head that does not arrive within `--request-timeout`
//! (408), a request head too large (431), and an internal dispatch failure (500). Every such
//! response is the last on its connection. This wrapper follows the response stream (head,
//! then `Content-Length` bytes of body), and replaces any error head that carries no body and no
//! `X-Request-Id` (every response of the application has one) by the same status with the JSON
//! error body, a generated request id and `Connection: close`. Anything it cannot follow
//! (chunked bodies, which stance never sends, or an oversized head) passes through untouched.
//!
//! It also follows the request stream, for what actix-http does not do:
//! - actix-http's `--request-timeout` covers only a connection's first request head. A client
//!   that sends one request and then part of a second could hold the connection (and one of the
//!   probe listener's few connection slots) for as long as it liked. After the first response,
//!   the wrapper times each later head itself: from its first byte, the head must be complete
//!   within the same `--request-timeout`, or the client gets the same 408 `request_timeout` and
//!   the connection closes. It does not frame bodies, so once bytes arrive between a head and
//!   its response (a request body, or pipelined requests) it stops timing heads on that
//!   connection rather than risk timing a body as a head; such connections are bounded only by
//!   actix-http's keep-alive, as before.
//! - A request line too long for a URI (over 65,534 bytes, the `http` crate's limit) makes
//!   actix-http answer a bare 400; the wrapper, which saw the line, makes it 414 `uri_too_long`.
//! - Every response the wrapper writes or rewrites is counted by status
//!   (`stance_http_layer_responses_total`), since no route, and so no request metric, sees it.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::task::{ready, Context, Poll};
use std::time::Duration;

use prometheus::IntCounterVec;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::time::Sleep;

use super::error::{ErrorBody, ErrorDetail};

const MAX_HEAD: usize = 64 * 1024;

/// The longest URI the `http` crate parses; a request line longer than this cannot be served.
const MAX_URI: usize = 65_534;

/// Set by the application (`telemetry::middleware`) on every response to a HEAD request, whose
/// `Content-Length` describes a body that is never sent: the wrapper cannot see the request's
/// method, so without it, it would count the next response's bytes as that body (and could hold
/// a response back waiting for a head that never ends). Removed before the head is sent.
pub const HEAD_MARK: &str = "x-stance-head-response";

enum Out {
    /// Expecting a response head.
    Head,
    /// Inside a body with this many bytes left.
    Body(u64),
    /// Passing everything through.
    Through,
    /// The wrapper answered and closed the connection itself: later writes are dropped.
    Closed,
}

/// What the wrapper knows of the request stream.
#[derive(Debug, Clone, Copy, PartialEq)]
enum In {
    /// The connection's first request head: actix-http's own timeout covers it.
    First,
    /// Between requests: nothing of the next head read yet.
    Idle,
    /// A later request's head, under the wrapper's timer.
    Head,
    /// The head is complete; what follows is its body (the body timeout's business) or
    /// pipelined requests, until its response is written.
    Past,
}

impl Out {
    /// The state after `sent` more bytes of a body that had `left` to go.
    fn after_body(left: u64, sent: usize) -> Out {
        match left - sent as u64 {
            0 => Out::Head,
            rest => Out::Body(rest),
        }
    }
}

/// See the module documentation.
pub struct JsonErrors<T> {
    inner: T,
    out: Out,
    head: Vec<u8>,
    pending: Vec<u8>,
    written: usize,
    input: In,
    /// Progress toward the blank line that ends a head: 1 after a `\n`, 2 after `\n\r`.
    blank: u8,
    /// Bytes of the current request line so far, and whether it has ended.
    line: usize,
    line_done: bool,
    head_timeout: Duration,
    /// Bytes arrived after a head and before its response: a body or pipelined requests. The
    /// wrapper does not frame bodies, so from then on it cannot tell a head from a body and
    /// times no more heads on this connection (timing body bytes as a head answered valid
    /// pipelined requests with 408).
    untracked: bool,
    timer: Option<Pin<Box<Sleep>>>,
    answered: Option<IntCounterVec>,
}

impl<T> JsonErrors<T> {
    /// `head_timeout` is `--request-timeout`; `answered` counts the responses the wrapper
    /// writes itself, by status.
    pub fn new(inner: T, head_timeout: Duration, answered: Option<IntCounterVec>) -> Self {
        JsonErrors {
            inner,
            out: Out::Head,
            head: Vec::new(),
            pending: Vec::new(),
            written: 0,
            input: In::First,
            blank: 0,
            line: 0,
            line_done: false,
            head_timeout,
            untracked: false,
            timer: None,
            answered,
        }
    }

    /// Follows request bytes just read: where a head starts (arming the timer) and ends.
    fn scan(&mut self, bytes: &[u8]) {
        for &b in bytes {
            match self.input {
                In::Past => {
                    self.untracked = true;
                    self.timer = None;
                    return;
                }
                // Blank lines between requests are allowed (RFC 9112, 2.2) and start nothing.
                In::Idle if b == b'\r' || b == b'\n' => continue,
                In::Idle => {
                    self.input = In::Head;
                    (self.blank, self.line, self.line_done) = (0, 0, false);
                    if !self.untracked {
                        self.timer = Some(Box::pin(tokio::time::sleep(self.head_timeout)));
                    }
                }
                In::First | In::Head => {}
            }
            if !self.line_done {
                if b == b'\n' {
                    self.line_done = true;
                } else {
                    self.line += 1;
                }
            }
            self.blank = match (self.blank, b) {
                (1 | 2, b'\n') => {
                    self.input = In::Past;
                    self.timer = None;
                    0
                }
                (_, b'\n') => 1,
                (1, b'\r') => 2,
                _ => 0,
            };
        }
    }

    /// A whole response (not an interim 1xx) has been written: the next request's head is due.
    fn response_done(&mut self) {
        if matches!(self.input, In::First | In::Past) {
            self.input = In::Idle;
        }
    }

    fn count(&self, status: u16) {
        if let Some(c) = &self.answered {
            c.with_label_values(&[&status.to_string()]).inc();
        }
    }
}

fn code_of(status: u16) -> (&'static str, &'static str) {
    match status {
        400 => ("bad_request", "malformed HTTP request"),
        408 => (
            "request_timeout",
            "the request head did not arrive within the request timeout",
        ),
        413 => ("payload_too_large", "request too large"),
        414 => ("uri_too_long", "request URI too long"),
        431 => (
            "request_header_fields_too_large",
            "the request head is too large",
        ),
        500 => (
            "internal_error",
            "internal error while handling the request",
        ),
        _ => ("http_error", "the request could not be handled"),
    }
}

/// The JSON error response the HTTP layer's bare `status` head becomes.
fn json_error(status: u16, reason: &str, date: Option<&str>) -> Vec<u8> {
    let (code, message) = code_of(status);
    let json = serde_json::to_string(&ErrorBody {
        error: ErrorDetail {
            code: code.into(),
            message: message.into(),
        },
    })
    .unwrap_or_default();
    let mut out = format!(
        "HTTP/1.1 {status} {reason}\r\ncontent-type: application/json\r\n\
         cache-control: no-store\r\nx-request-id: {}\r\nconnection: close\r\n",
        uuid::Uuid::new_v4().simple()
    );
    if let Some(d) = date {
        out.push_str(&format!("date: {d}\r\n"));
    }
    out.push_str(&format!("content-length: {}\r\n\r\n{json}", json.len()));
    out.into_bytes()
}

/// Whether a response head is an interim (1xx) one, which a final response follows.
fn is_interim(head: &[u8]) -> bool {
    head.get(9) == Some(&b'1')
}

/// Decides what to do with one complete response head: the bytes to send, the body length
/// that follows (`None`: cannot follow, pass the rest through), and the status when the head was
/// the HTTP layer's own and became a JSON error. `long_uri`: the request's line was too long
/// for a URI, so a bare 400 means 414.
fn process_head(head: &[u8], long_uri: bool) -> (Vec<u8>, Option<u64>, Option<u16>) {
    let mut headers = [httparse::EMPTY_HEADER; 64];
    let mut res = httparse::Response::new(&mut headers);
    let Ok(httparse::Status::Complete(_)) = res.parse(head) else {
        return (head.to_vec(), None, None);
    };
    let status = res.code.unwrap_or(0);
    let mut length = None;
    let mut chunked = false;
    let mut has_id = false;
    let mut date = None;
    let mut head_response = false;
    for h in res.headers.iter() {
        if h.name.eq_ignore_ascii_case("content-length") {
            length = std::str::from_utf8(h.value)
                .ok()
                .and_then(|v| v.trim().parse::<u64>().ok());
        } else if h.name.eq_ignore_ascii_case("transfer-encoding") {
            chunked = true;
        } else if h.name.eq_ignore_ascii_case("x-request-id") {
            has_id = true;
        } else if h.name.eq_ignore_ascii_case("date") {
            date = std::str::from_utf8(h.value).ok();
        } else if h.name.eq_ignore_ascii_case(HEAD_MARK) {
            head_response = true;
        }
    }
    if head_response {
        return (without_header(head, HEAD_MARK), Some(0), None);
    }
    let body = match status {
        100..=199 | 204 | 304 => Some(0),
        _ if chunked => None,
        _ => length,
    };
    if status >= 400 && !has_id && body.unwrap_or(0) == 0 && !chunked {
        let (status, reason) = match status {
            400 if long_uri => (414, "URI Too Long"),
            _ => (status, res.reason.unwrap_or("")),
        };
        return (json_error(status, reason, date), Some(0), Some(status));
    }
    (head.to_vec(), body, None)
}

/// `head` without its header lines named `name` (a complete head, CRLF line ends).
fn without_header(head: &[u8], name: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(head.len());
    let mut lines = head.split_inclusive(|&b| b == b'\n');
    if let Some(status_line) = lines.next() {
        out.extend_from_slice(status_line);
    }
    for line in lines {
        let named = line.len() > name.len()
            && line[..name.len()].eq_ignore_ascii_case(name.as_bytes())
            && line[name.len()] == b':';
        if !named {
            out.extend_from_slice(line);
        }
    }
    out
}

impl<T: AsyncWrite + Unpin> JsonErrors<T> {
    fn poll_drain(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        while self.written < self.pending.len() {
            let n =
                ready!(Pin::new(&mut self.inner).poll_write(cx, &self.pending[self.written..]))?;
            if n == 0 {
                return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
            }
            self.written += n;
        }
        self.pending.clear();
        self.written = 0;
        Poll::Ready(Ok(()))
    }
}

impl<T: AsyncRead + AsyncWrite + Unpin> AsyncRead for JsonErrors<T> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if matches!(this.out, Out::Closed) {
            return Poll::Ready(Ok(()));
        }
        let before = buf.filled().len();
        match Pin::new(&mut this.inner).poll_read(cx, buf) {
            Poll::Ready(Ok(())) => {
                this.scan(&buf.filled()[before..]);
                Poll::Ready(Ok(()))
            }
            Poll::Ready(Err(e)) => Poll::Ready(Err(e)),
            Poll::Pending => {
                let Some(timer) = this.timer.as_mut() else {
                    return Poll::Pending;
                };
                if timer.as_mut().poll(cx).is_pending() {
                    return Poll::Pending;
                }
                this.timer = None;
                // Only between responses: never inside one still being written.
                if !(matches!(this.out, Out::Head) && this.head.is_empty()) {
                    let mut again = Box::pin(tokio::time::sleep(this.head_timeout));
                    let _ = again.as_mut().poll(cx);
                    this.timer = Some(again);
                    return Poll::Pending;
                }
                this.pending
                    .extend_from_slice(&json_error(408, "Request Timeout", None));
                this.out = Out::Closed;
                this.count(408);
                let _ = this.poll_drain(cx)?;
                // End of input: actix-http drops the unfinished request and closes; what is
                // left of the 408 goes out with the shutdown.
                Poll::Ready(Ok(()))
            }
        }
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for JsonErrors<T> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        ready!(this.poll_drain(cx))?;
        if buf.is_empty() {
            return Poll::Ready(Ok(0));
        }
        match this.out {
            Out::Closed => Poll::Ready(Ok(buf.len())),
            Out::Through => Pin::new(&mut this.inner).poll_write(cx, buf),
            Out::Body(left) => {
                let k = (buf.len() as u64).min(left) as usize;
                let n = ready!(Pin::new(&mut this.inner).poll_write(cx, &buf[..k]))?;
                this.out = Out::after_body(left, n);
                if matches!(this.out, Out::Head) {
                    this.response_done();
                }
                Poll::Ready(Ok(n))
            }
            Out::Head => {
                let before = this.head.len();
                this.head.extend_from_slice(buf);
                let from = before.saturating_sub(3);
                let end = this.head[from..]
                    .windows(4)
                    .position(|w| w == b"\r\n\r\n")
                    .map(|i| from + i + 4);
                let consumed = match end {
                    Some(end) => {
                        this.head.truncate(end);
                        let interim = is_interim(&this.head);
                        let long_uri = this.line > MAX_URI;
                        let (bytes, body, answered) = process_head(&this.head, long_uri);
                        if let Some(status) = answered {
                            this.count(status);
                        }
                        this.head.clear();
                        this.pending = bytes;
                        this.out = match body {
                            Some(0) => Out::Head,
                            Some(n) => Out::Body(n),
                            None => Out::Through,
                        };
                        let mut consumed = end - before;
                        // The body usually follows in the same buffer: send it in the head's
                        // write, so that a response is one TCP segment, not two.
                        if let Out::Body(left) = this.out {
                            let rest = &buf[consumed..];
                            let k = (rest.len() as u64).min(left) as usize;
                            this.pending.extend_from_slice(&rest[..k]);
                            consumed += k;
                            this.out = Out::after_body(left, k);
                        }
                        if matches!(this.out, Out::Head) && !interim {
                            this.response_done();
                        }
                        consumed
                    }
                    None if this.head.len() > MAX_HEAD => {
                        this.pending = std::mem::take(&mut this.head);
                        this.out = Out::Through;
                        buf.len()
                    }
                    None => buf.len(),
                };
                // Start sending now; what is left goes out on the next write or flush.
                let _ = this.poll_drain(cx)?;
                Poll::Ready(Ok(consumed))
            }
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        ready!(this.poll_drain(cx))?;
        Pin::new(&mut this.inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if !this.head.is_empty() && this.pending.is_empty() {
            this.pending = std::mem::take(&mut this.head);
        }
        ready!(this.poll_drain(cx))?;
        Pin::new(&mut this.inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bare_error_heads_get_json_bodies_and_others_pass() {
        let (out, body, answered) = process_head(
            b"HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\nconnection: close\r\ndate: x\r\n\r\n",
            false,
        );
        assert_eq!(answered, Some(400));
        let text = String::from_utf8(out).unwrap();
        assert!(text.starts_with("HTTP/1.1 400 Bad Request\r\n"), "{text}");
        assert!(text
            .ends_with(r#"{"error":{"code":"bad_request","message":"malformed HTTP request"}}"#));
        assert_eq!(body, Some(0));
        let app = b"HTTP/1.1 404 Not Found\r\ncontent-length: 5\r\nx-request-id: a\r\n\r\n";
        assert_eq!(process_head(app, true), (app.to_vec(), Some(5), None));
        let ok = b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n";
        assert_eq!(process_head(ok, false), (ok.to_vec(), Some(0), None));
        // After a request line too long for a URI, actix's bare 400 is a 414.
        let (out, _, answered) = process_head(
            b"HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\n\r\n",
            true,
        );
        assert_eq!(answered, Some(414));
        let text = String::from_utf8(out).unwrap();
        assert!(text.starts_with("HTTP/1.1 414 URI Too Long\r\n"), "{text}");
        assert!(text.contains(r#""code":"uri_too_long""#), "{text}");
    }

    /// Records every write it is given, accepting at most `limit` bytes per call.
    struct Recorder {
        writes: Vec<Vec<u8>>,
        limit: usize,
    }

    impl AsyncWrite for Recorder {
        fn poll_write(
            mut self: Pin<&mut Self>,
            _: &mut Context<'_>,
            buf: &[u8],
        ) -> Poll<io::Result<usize>> {
            let n = buf.len().min(self.limit);
            self.writes.push(buf[..n].to_vec());
            Poll::Ready(Ok(n))
        }
        fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
            Poll::Ready(Ok(()))
        }
        fn poll_shutdown(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
            Poll::Ready(Ok(()))
        }
    }

    /// Writes `chunks` through the wrapper as a caller would (retrying what was not consumed),
    /// flushes, and returns the inner writer's calls.
    fn send(chunks: &[&[u8]], limit: usize) -> Vec<Vec<u8>> {
        let mut w = JsonErrors::new(
            Recorder {
                writes: Vec::new(),
                limit,
            },
            Duration::from_secs(5),
            None,
        );
        let mut cx = Context::from_waker(std::task::Waker::noop());
        for chunk in chunks {
            let mut at = 0;
            while at < chunk.len() {
                match Pin::new(&mut w).poll_write(&mut cx, &chunk[at..]) {
                    Poll::Ready(Ok(n)) => at += n,
                    other => panic!("{other:?}"),
                }
            }
        }
        assert!(matches!(
            Pin::new(&mut w).poll_flush(&mut cx),
            Poll::Ready(Ok(()))
        ));
        w.inner.writes
    }

    #[test]
    fn a_head_and_its_body_in_one_buffer_go_out_in_one_write() {
        let one = b"HTTP/1.1 200 OK\r\ncontent-length: 5\r\nx-request-id: a\r\n\r\nhello";
        let two = b"HTTP/1.1 200 OK\r\ncontent-length: 3\r\nx-request-id: b\r\n\r\nbye";
        assert_eq!(send(&[one], usize::MAX), vec![one.to_vec()]);
        // Pipelined responses in one buffer: one write each, nothing merged across them.
        let both = [&one[..], &two[..]].concat();
        assert_eq!(send(&[&both], usize::MAX), vec![one.to_vec(), two.to_vec()]);
        // A body that arrives in its own buffer passes through as it comes.
        let (head, body) = one.split_at(one.len() - 5);
        assert_eq!(
            send(&[head, &body[..2], &body[2..]], usize::MAX),
            vec![head.to_vec(), b"he".to_vec(), b"llo".to_vec()]
        );
        // A writer that takes a few bytes at a time still gets every byte, in order.
        let out = send(&[&both, one], 7);
        assert!(out.iter().all(|w| w.len() <= 7));
        assert_eq!(out.concat(), [&both[..], &one[..]].concat());
    }

    /// Writes `bytes` through the wrapper in one go.
    fn write_all(w: &mut JsonErrors<Recorder>, bytes: &[u8]) {
        let mut cx = Context::from_waker(std::task::Waker::noop());
        let mut at = 0;
        while at < bytes.len() {
            match Pin::new(&mut *w).poll_write(&mut cx, &bytes[at..]) {
                Poll::Ready(Ok(n)) => at += n,
                other => panic!("{other:?}"),
            }
        }
    }

    /// The first head is actix-http's to time; each later one is timed from its first byte
    /// until its blank line, and only once the previous response is whole.
    #[tokio::test]
    async fn later_request_heads_are_timed_from_their_first_byte() {
        let mut w = JsonErrors::new(
            Recorder {
                writes: Vec::new(),
                limit: usize::MAX,
            },
            Duration::from_secs(5),
            None,
        );
        w.scan(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n");
        assert_eq!(w.input, In::Past);
        assert!(
            w.timer.is_none(),
            "the first head is not the wrapper's to time"
        );
        write_all(&mut w, b"HTTP/1.1 100 Continue\r\n\r\n");
        assert_eq!(w.input, In::Past, "an interim response ends nothing");
        write_all(
            &mut w,
            b"HTTP/1.1 200 OK\r\ncontent-length: 5\r\nx-request-id: a\r\n\r\nhel",
        );
        assert_eq!(w.input, In::Past, "the response is not whole yet");
        write_all(&mut w, b"lo");
        assert_eq!(w.input, In::Idle);
        w.scan(b"\r\n");
        assert!(
            w.timer.is_none(),
            "a blank line between requests arms nothing"
        );
        w.scan(b"GET /healthz HT");
        assert_eq!(w.input, In::Head);
        assert!(w.timer.is_some(), "a started head is timed");
        w.scan(b"TP/1.1\nHost: x\n\n");
        assert_eq!(w.input, In::Past, "a head with bare LF line ends ends too");
        assert!(w.timer.is_none());
        write_all(
            &mut w,
            b"HTTP/1.1 204 No Content\r\nx-request-id: b\r\n\r\n",
        );
        w.scan(&vec![b'a'; MAX_URI + 1]);
        assert!(w.line > MAX_URI, "the request line is measured for the 414");
        // Bytes after a head and before its response (a body, pipelined requests): heads can no
        // longer be told from body bytes, so none is timed any more.
        w.scan(b"\r\n\r\n{\"text\": \"x\"}");
        assert_eq!(w.input, In::Past);
        write_all(
            &mut w,
            b"HTTP/1.1 204 No Content\r\nx-request-id: c\r\n\r\n",
        );
        w.scan(b"GET / HT");
        assert!(w.timer.is_none(), "after untracked bytes, no head is timed");
    }

    #[test]
    fn head_responses_have_no_body_and_lose_their_mark() {
        let head = b"HTTP/1.1 200 OK\r\ncontent-length: 6775\r\nx-stance-head-response: 1\r\nx-request-id: a\r\n\r\n";
        let (out, body, _) = process_head(head, false);
        assert_eq!(body, Some(0));
        assert_eq!(
            out,
            b"HTTP/1.1 200 OK\r\ncontent-length: 6775\r\nx-request-id: a\r\n\r\n".to_vec()
        );
    }
}

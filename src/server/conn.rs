//! A connection wrapper that serves each connection's requests one at a time and gives the HTTP
//! layer's own error responses the JSON error shape.
//!
//! actix-http answers a few conditions itself, before any handler runs, with an empty body: a
//! malformed request (400), a first request head that does not arrive within
//! `--request-timeout` (408), a request head too large (431), and an internal dispatch failure
//! (500). Every such response is the last on its connection. The wrapper follows the response
//! stream (head, then a `Content-Length` or chunked body; none after a response to HEAD, a 1xx,
//! 204 or 304), and replaces any error head that carries no body and no `X-Request-Id` (every
//! response of the application has one) by the same status with the JSON error body, a
//! generated request id and `Connection: close`.
//!
//! It also frames the request stream as actix-http's decoder does (head, then a `Content-Length`
//! or chunked body), and hands actix-http one request at a time: the bytes after a request are
//! held back until its response has been written whole. Because:
//! - Given pipelined requests, actix-http decodes ahead and encodes earlier responses with the
//!   flags of the last request decoded (a HEAD's response got a body, a GET's response a HEAD's
//!   framing). One at a time, each response is encoded for its own request, and the wrapper
//!   knows which request each response answers, so that a response to HEAD has no body whatever
//!   its `Content-Length` says.
//! - actix-http's `--request-timeout` covers only a connection's first head. A client that sent
//!   requests and then part of another could hold the connection (and one of the probe
//!   listener's few slots) for as long as it liked. The wrapper times every later head,
//!   pipelined or not, from its first byte (read while held back too): if it is not complete
//!   within the same `--request-timeout`, the client gets the same 408 `request_timeout` once the
//!   responses before it are written, and the connection closes.
//! - A request line too long for a URI (over 65,534 bytes, the `http` crate's limit) makes
//!   actix-http answer a bare 400; the wrapper, which saw the line, makes it 414 `uri_too_long`.
//!
//! Memory stays bounded: at most `MAX_HEAD` (64 KiB) of request bytes are held back, and past
//! that the socket keeps the rest until the response is written. A request the wrapper does not
//! frame (a head longer than that, a body that runs to the connection's end: `Upgrade:
//! websocket` or CONNECT; or framing actix-http refuses, which it answers with an error) goes to
//! actix-http as it comes, and its response, marked `Connection: close`, is the connection's last.
//!
//! A response stream the wrapper cannot follow (a head it cannot parse or longer than
//! `MAX_HEAD`, an invalid `Content-Length`, malformed chunks) ends the connection after what it
//! has written, rather than let through bytes it cannot judge (an error head it would not
//! rewrite, a body taken for the next head). Two cases are legitimately unframed, and pass
//! through both ways to the connection's end: a response delimited by the end of the connection
//! (neither a length nor a chunked coding) and a 101 protocol switch. stance sends neither.
//!
//! Every response the wrapper writes or rewrites is counted by status
//! (`stance_http_layer_responses_total`), since no route, and so no request metric, sees it.
//!
//! Writes are timed too (`--write-timeout`). actix-http has no write timeout, and neither its
//! keep-alive nor its request timers run while a response is being written: a client that sends
//! requests for large responses and never reads them held its connection (and its
//! `--max-connections` or probe slot) for good once the socket buffers were full. When no byte
//! of a response can be written for the bound, the write fails with `TimedOut`, which ends the
//! connection in actix-http and frees its slot. Any progress restarts the bound, so a client
//! that reads, however slowly, is not cut off.

use std::collections::VecDeque;
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::task::{ready, Context, Poll};
use std::time::Duration;

use prometheus::{IntCounter, IntCounterVec};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::time::{Instant, Sleep};

use super::error::{ErrorBody, ErrorDetail};

/// The longest response head the wrapper follows, the longest request head it frames, and the
/// most request bytes it holds back: bounds on what a connection can make it keep.
const MAX_HEAD: usize = 64 * 1024;

/// The longest URI the `http` crate parses; a request line longer than this cannot be served.
const MAX_URI: usize = 65_534;

/// actix-http's own limit: a request with more headers is refused, so framing it is moot.
const MAX_HEADERS: usize = 96;

/// Where a chunked body is, state for state as actix-http's decoder reads one (its
/// `h1/chunked.rs`): where the two disagreed, the wrapper would hand actix-http the next request
/// as body, or hold back body bytes actix-http waits for. A size rides along until its data.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Chunks {
    SizeFirst,
    Size(u64),
    SizeLws(u64),
    Extension(u64),
    SizeLf(u64),
    Data(u64),
    DataCr,
    DataLf,
    Trailer,
    TrailerLf,
    EndCr,
    EndLf,
    End,
}

impl Chunks {
    /// Follows `bytes` up to the end of the body: how many belong to it, or `None` where the
    /// framing is malformed (actix-http fails the body there too).
    fn advance(&mut self, bytes: &[u8]) -> Option<usize> {
        let mut i = 0;
        while i < bytes.len() && *self != Chunks::End {
            if let Chunks::Data(left) = *self {
                let k = left.min((bytes.len() - i) as u64);
                i += k as usize;
                *self = match left - k {
                    0 => Chunks::DataCr,
                    rest => Chunks::Data(rest),
                };
                continue;
            }
            *self = self.step(bytes[i])?;
            i += 1;
        }
        Some(i)
    }

    fn step(self, b: u8) -> Option<Chunks> {
        use Chunks::*;
        let hex = (b as char).to_digit(16).map(u64::from);
        Some(match (self, b) {
            (SizeFirst, _) => Size(hex?),
            (Size(n), _) if hex.is_some() => Size(n.checked_mul(16)? + hex?),
            (Size(n) | SizeLws(n), b'\t' | b' ') => SizeLws(n),
            (Size(n) | SizeLws(n), b';') => Extension(n),
            (Size(n) | SizeLws(n) | Extension(n), b'\r') => SizeLf(n),
            (Extension(_), 0x00..=0x08 | 0x0a..=0x1f | 0x7f) => return None,
            (Extension(n), _) => Extension(n),
            (SizeLf(0), b'\n') => EndCr,
            (SizeLf(n), b'\n') => Data(n),
            (DataCr, b'\r') => DataLf,
            (DataLf, b'\n') => SizeFirst,
            (Trailer, b'\r') => TrailerLf,
            (Trailer, _) => Trailer,
            (TrailerLf, b'\n') => EndCr,
            (EndCr, b'\r') => EndLf,
            (EndCr, _) => Trailer,
            (EndLf, b'\n') => End,
            _ => return None,
        })
    }
}

/// How actix-http delimits the body of a request.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Body {
    None,
    Length(u64),
    Chunked,
    /// To the end of the connection, or unknown: an `Upgrade: websocket` or CONNECT request
    /// (actix-http reads the rest of the connection as its body), a head longer than
    /// [`MAX_HEAD`], or one actix-http refuses (its error response closes the connection).
    Rest,
}

/// The body framing of the request whose complete head is `head`, decided as actix-http's
/// decoder (`h1/decoder.rs`) decides it for every head it accepts.
fn frame(head: &[u8]) -> Body {
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut req = httparse::Request::new(&mut headers);
    if !matches!(req.parse(head), Ok(httparse::Status::Complete(n)) if n == head.len()) {
        return Body::Rest;
    }
    let (mut length, mut chunked, mut upgrade) = (None, false, false);
    for h in req.headers.iter() {
        let value = std::str::from_utf8(h.value).unwrap_or("").trim();
        if h.name.eq_ignore_ascii_case("content-length") {
            // `u64::from_str` takes a leading `+`; actix-http does not.
            match value.parse::<u64>() {
                Ok(n) if length.is_none() && !value.starts_with('+') => length = Some(n),
                _ => return Body::Rest,
            }
        } else if h.name.eq_ignore_ascii_case("transfer-encoding") {
            // actix-http takes `chunked` alone, once, in HTTP/1.1 only.
            if chunked || req.version != Some(1) || !value.eq_ignore_ascii_case("chunked") {
                return Body::Rest;
            }
            chunked = true;
        } else if h.name.eq_ignore_ascii_case("upgrade") && value.eq_ignore_ascii_case("websocket")
        {
            upgrade = true;
        }
    }
    match length {
        _ if chunked && length.is_some() => Body::Rest,
        _ if chunked => Body::Chunked,
        _ if upgrade => Body::Rest,
        Some(n) if n > 0 => Body::Length(n),
        _ if req.method == Some("CONNECT") => Body::Rest,
        _ => Body::None,
    }
}

/// Where the request stream is.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
enum Scan {
    /// Between requests, where blank lines may stand (RFC 9112, 2.2) and start nothing.
    #[default]
    Idle,
    Head,
    /// Inside a `Content-Length` body, with this many bytes to go.
    Length(u64),
    Chunked(Chunks),
    /// Past anything the wrapper can frame: the rest goes to actix-http as it comes.
    Rest,
}

/// One request, from the first byte of its head to the last of its body.
#[derive(Debug, Clone, Copy, Default)]
struct Req {
    /// Where it ends in the request stream, once known.
    end: Option<u64>,
    /// A HEAD request, whose response has no body whatever its `Content-Length` says.
    head_method: bool,
    /// Its request line is too long for a URI, so actix-http's bare 400 for it means 414.
    long_uri: bool,
    /// Not framed ([`Body::Rest`]): the connection ends with its response.
    rest: bool,
    /// Its final response has been written.
    responded: bool,
}

/// Follows the request stream as actix-http reads it, to know where each request ends, so that
/// the next one can wait for the response to this one.
#[derive(Debug, Default)]
struct Framer {
    scan: Scan,
    /// The head being read, up to [`MAX_HEAD`] bytes (`overlong` past that).
    head: Vec<u8>,
    overlong: bool,
    /// Progress toward the blank line that ends a head: 1 after a `\n`, 2 after `\n\r`.
    blank: u8,
    /// Bytes of the current request line so far, and whether it has ended.
    line: usize,
    line_done: bool,
    /// Heads started on the connection, to tell a new head from the one being timed.
    heads: u64,
    /// Bytes scanned.
    at: u64,
    /// Requests not yet both delivered to actix-http and answered, oldest first.
    requests: VecDeque<Req>,
}

impl Framer {
    fn scan(&mut self, bytes: &[u8]) {
        let mut i = 0;
        while i < bytes.len() {
            match self.scan {
                Scan::Idle if matches!(bytes[i], b'\r' | b'\n') => i += 1,
                Scan::Idle => {
                    self.heads += 1;
                    self.requests.push_back(Req::default());
                    (self.blank, self.line, self.line_done) = (0, 0, false);
                    self.overlong = false;
                    self.scan = Scan::Head;
                }
                Scan::Head => {
                    let b = bytes[i];
                    i += 1;
                    if self.head.len() < MAX_HEAD {
                        self.head.push(b);
                    } else {
                        self.overlong = true;
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
                            self.head_done(self.at + i as u64);
                            0
                        }
                        (_, b'\n') => 1,
                        (1, b'\r') => 2,
                        _ => 0,
                    };
                }
                Scan::Length(left) => {
                    let k = left.min((bytes.len() - i) as u64);
                    i += k as usize;
                    self.scan = match left - k {
                        0 => Scan::Idle,
                        rest => Scan::Length(rest),
                    };
                }
                Scan::Chunked(mut chunks) => match chunks.advance(&bytes[i..]) {
                    Some(k) => {
                        i += k;
                        self.scan = Scan::Chunked(chunks);
                        if chunks == Chunks::End {
                            self.last().end = Some(self.at + i as u64);
                            self.scan = Scan::Idle;
                        }
                    }
                    None => {
                        self.last().rest = true;
                        self.scan = Scan::Rest;
                    }
                },
                Scan::Rest => break,
            }
        }
        self.at += bytes.len() as u64;
    }

    /// The head ending at `end` is complete: what follows is its body, then the next request.
    fn head_done(&mut self, end: u64) {
        let body = if self.overlong {
            Body::Rest
        } else {
            frame(&self.head)
        };
        let (head_method, long_uri) = (self.head.starts_with(b"HEAD "), self.line > MAX_URI);
        let req = self.last();
        (req.head_method, req.long_uri, req.rest) = (head_method, long_uri, body == Body::Rest);
        (req.end, self.scan) = match body {
            Body::None => (Some(end), Scan::Idle),
            Body::Length(n) => (Some(end + n), Scan::Length(n)),
            Body::Chunked => (None, Scan::Chunked(Chunks::SizeFirst)),
            Body::Rest => (None, Scan::Rest),
        };
        // A long head's buffer is not kept for the connection's life.
        if self.head.capacity() > 4096 {
            self.head = Vec::new();
        } else {
            self.head.clear();
        }
    }

    fn last(&mut self) -> &mut Req {
        self.requests
            .back_mut()
            .expect("a head or body being scanned belongs to a request")
    }

    /// How many bytes past the first `delivered` may go to actix-http now: up to the end of
    /// the request it is on; none of the next until that one is answered.
    fn open(&self, delivered: u64) -> u64 {
        match self.requests.front().and_then(|r| r.end) {
            Some(end) => end.saturating_sub(delivered),
            None => u64::MAX,
        }
    }

    /// Forgets the requests that are both delivered and answered.
    fn settle(&mut self, delivered: u64) {
        while let Some(r) = self.requests.front() {
            if !(r.responded && r.end.is_some_and(|end| end <= delivered)) {
                break;
            }
            self.requests.pop_front();
        }
    }
}

/// Where the response stream is.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Out {
    /// Expecting a response head.
    Head,
    /// Inside a `Content-Length` body with this many bytes left.
    Length(u64),
    Chunked(Chunks),
    /// A response delimited by the connection's end, or a protocol switch: everything passes
    /// through, both ways, from here on.
    Through,
    /// The connection is over for the wrapper (it answered, a response said `Connection:
    /// close`, or the stream could not be followed): later writes are dropped, reads end.
    Closed,
}

/// What a listener's connections are bounded by and counted in.
#[derive(Clone)]
pub struct Config {
    /// `--request-timeout`, for every request head after a connection's first.
    pub head_timeout: Duration,
    /// `--write-timeout`: the longest a response may go without a byte written.
    pub write_timeout: Duration,
    /// Counts the responses the wrapper writes itself, by status.
    pub answered: Option<IntCounterVec>,
    /// Counts the connections the write timeout ends.
    pub write_timeouts: Option<IntCounter>,
}

/// Times the writes to the socket: see the module documentation.
struct WriteTimer {
    bound: Duration,
    /// Kept between stalls and reset at each, so that a slow reader costs no allocation per
    /// write.
    timer: Option<Pin<Box<Sleep>>>,
    /// The last write pended: the timer runs from the first write that pends after progress.
    stalled: bool,
    /// The bound ran out: every later write fails at once, so the connection is counted once
    /// and nothing more is sent on it.
    expired: bool,
    counter: Option<IntCounter>,
    peer: Option<SocketAddr>,
}

impl WriteTimer {
    /// `inner.poll_write`, failing with `TimedOut` once writes have made no progress for the
    /// bound. A write of 0 bytes is no progress, and is passed on: the caller ends the
    /// connection on it.
    fn write<T: AsyncWrite + Unpin>(
        &mut self,
        inner: &mut T,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        if self.expired {
            return Poll::Ready(Err(write_timed_out()));
        }
        match Pin::new(inner).poll_write(cx, buf) {
            Poll::Ready(Ok(n)) if n > 0 => {
                self.stalled = false;
                Poll::Ready(Ok(n))
            }
            Poll::Pending => match self.poll_stalled(cx) {
                Poll::Ready(()) => Poll::Ready(Err(write_timed_out())),
                Poll::Pending => Poll::Pending,
            },
            other => other,
        }
    }

    /// A write pended: starts the timer if this is the first stalled write since progress, and
    /// registers for its end. `Ready` once it has run out.
    fn poll_stalled(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        if !std::mem::replace(&mut self.stalled, true) {
            let deadline = Instant::now() + self.bound;
            match self.timer.as_mut() {
                Some(timer) => timer.as_mut().reset(deadline),
                None => self.timer = Some(Box::pin(tokio::time::sleep_until(deadline))),
            }
        }
        let timer = self.timer.as_mut().expect("a stalled write's timer runs");
        ready!(timer.as_mut().poll(cx));
        self.expired = true;
        self.timer = None;
        if let Some(c) = &self.counter {
            c.inc();
        }
        let peer = self.peer.map(|p| p.to_string());
        tracing::info!(
            peer = peer.as_deref().unwrap_or("unknown"),
            write_timeout_s = self.bound.as_secs_f64(),
            "closing a connection: no byte of its response could be written within \
             --write-timeout (the client is not reading)"
        );
        Poll::Ready(())
    }
}

fn write_timed_out() -> io::Error {
    io::Error::new(
        io::ErrorKind::TimedOut,
        "no byte of the response could be written within --write-timeout",
    )
}

/// See the module documentation.
pub struct JsonErrors<T> {
    inner: T,
    out: Out,
    /// The response head being collected.
    head: Vec<u8>,
    pending: Vec<u8>,
    written: usize,
    /// The response being written is the connection's last.
    closing: bool,
    framer: Framer,
    /// Request bytes read from the socket but not yet given to actix-http.
    held: VecDeque<u8>,
    delivered: u64,
    /// The client has closed its side: held bytes still go to actix-http before the end does.
    eof: bool,
    /// Unframed from here on (see [`Out::Through`]).
    through: bool,
    head_timeout: Duration,
    /// The head being timed (its number in [`Framer::heads`]), and its timer.
    timed: u64,
    timer: Option<Pin<Box<Sleep>>>,
    /// The timer ran out while a response was still due: the 408 waits until it is written.
    overdue: bool,
    answered: Option<IntCounterVec>,
    writer: WriteTimer,
}

impl<T> JsonErrors<T> {
    /// `peer` names the client in the log line of a write timeout.
    pub fn new(inner: T, config: &Config, peer: Option<SocketAddr>) -> Self {
        JsonErrors {
            inner,
            out: Out::Head,
            head: Vec::new(),
            pending: Vec::new(),
            written: 0,
            closing: false,
            framer: Framer::default(),
            held: VecDeque::new(),
            delivered: 0,
            eof: false,
            through: false,
            head_timeout: config.head_timeout,
            timed: 0,
            timer: None,
            overdue: false,
            answered: config.answered.clone(),
            writer: WriteTimer {
                bound: config.write_timeout,
                timer: None,
                stalled: false,
                expired: false,
                counter: config.write_timeouts.clone(),
                peer,
            },
        }
    }

    /// Follows request bytes just read, and times the head they leave open, if any.
    fn scan(&mut self, bytes: &[u8]) {
        if self.through {
            return;
        }
        self.framer.scan(bytes);
        if self.framer.scan != Scan::Head {
            self.timer = None;
            self.overdue = false;
        } else if self.framer.heads != self.timed {
            self.timed = self.framer.heads;
            self.overdue = false;
            // The first head is actix-http's to time (from the connection's start).
            if self.timed > 1 {
                self.timer = Some(Box::pin(tokio::time::sleep(self.head_timeout)));
            }
        }
    }

    /// How many request bytes past those delivered may go to actix-http now.
    fn open(&self) -> u64 {
        if self.through {
            u64::MAX
        } else {
            self.framer.open(self.delivered)
        }
    }

    fn delivered(&mut self, n: usize) {
        self.delivered += n as u64;
        self.framer.settle(self.delivered);
    }

    /// No response is due or being written, and the head being read is the only request left:
    /// a 408 now is the answer to that head.
    fn idle(&self) -> bool {
        self.framer.scan == Scan::Head
            && self.framer.requests.len() == 1
            && self.out == Out::Head
            && self.head.is_empty()
    }

    /// A final response has been written whole: the next request may go to actix-http.
    fn response_done(&mut self, cx: &Context<'_>) {
        if std::mem::take(&mut self.closing) {
            self.out = Out::Closed;
            self.held = VecDeque::new();
            // actix-http learns of the end from its next read.
            cx.waker().wake_by_ref();
            return;
        }
        self.out = Out::Head;
        if let Some(r) = self.framer.requests.front_mut() {
            r.responded = true;
        }
        self.framer.settle(self.delivered);
        // actix-http may have read to `Pending` and wait for the socket, which has nothing new.
        if !self.held.is_empty() || self.overdue || self.eof {
            cx.waker().wake_by_ref();
        }
    }

    /// The response stream went where the wrapper cannot follow: rather than pass on bytes it
    /// cannot judge (an error head it would not rewrite, a body it would take for the next
    /// head), it ends the connection after what it has written.
    fn lose(&mut self, cx: &Context<'_>) {
        self.out = Out::Closed;
        self.head.clear();
        self.held = VecDeque::new();
        cx.waker().wake_by_ref();
    }

    /// Ends the response when `out` says its body is complete.
    fn body_sent(&mut self, cx: &Context<'_>) {
        if matches!(
            self.out,
            Out::Head | Out::Length(0) | Out::Chunked(Chunks::End)
        ) {
            self.response_done(cx);
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

/// The JSON error response the HTTP layer's bare `status` head becomes; only its head when it
/// answers a HEAD request (`body` false).
fn json_error(status: u16, reason: &str, date: Option<&str>, body: bool) -> Vec<u8> {
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
    out.push_str(&format!("content-length: {}\r\n\r\n", json.len()));
    if body {
        out.push_str(&json);
    }
    out.into_bytes()
}

/// What to do with one complete response head.
#[derive(Debug, PartialEq)]
struct Reply {
    /// The bytes to send in its place.
    bytes: Vec<u8>,
    /// What follows it; [`Out::Closed`] when the wrapper cannot follow the stream.
    next: Out,
    /// A 1xx head, which the final response follows.
    interim: bool,
    /// The connection ends after this response.
    close: bool,
    /// The status, when the head was the HTTP layer's own and became a JSON error.
    answered: Option<u16>,
}

/// Decides what to do with one complete response head, the answer to `to`.
fn process_head(head: &[u8], to: &Req) -> Reply {
    let lost = Reply {
        bytes: Vec::new(),
        next: Out::Closed,
        interim: false,
        close: true,
        answered: None,
    };
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut res = httparse::Response::new(&mut headers);
    let Ok(httparse::Status::Complete(_)) = res.parse(head) else {
        return lost;
    };
    let status = res.code.unwrap_or(0);
    let mut length = None;
    // `Some(true)` when the last transfer coding is chunked (RFC 9112, 6.3).
    let mut chunked = None;
    let (mut has_id, mut date, mut close) = (false, None, false);
    for h in res.headers.iter() {
        let value = std::str::from_utf8(h.value).unwrap_or("");
        if h.name.eq_ignore_ascii_case("content-length") {
            match value.trim().parse::<u64>() {
                Ok(n) => length = Some(n),
                Err(_) => return lost,
            }
        } else if h.name.eq_ignore_ascii_case("transfer-encoding") {
            let last = value.rsplit(',').next().unwrap_or("").trim();
            chunked = Some(last.eq_ignore_ascii_case("chunked"));
        } else if h.name.eq_ignore_ascii_case("x-request-id") {
            has_id = true;
        } else if h.name.eq_ignore_ascii_case("date") {
            date = Some(value);
        } else if h.name.eq_ignore_ascii_case("connection") {
            close |= value
                .split(',')
                .any(|t| t.trim().eq_ignore_ascii_case("close"));
        }
    }
    if status >= 400 && !has_id && chunked.is_none() && length.unwrap_or(0) == 0 {
        let (status, reason) = match status {
            400 if to.long_uri => (414, "URI Too Long"),
            _ => (status, res.reason.unwrap_or("")),
        };
        return Reply {
            bytes: json_error(status, reason, date, !to.head_method),
            next: Out::Head,
            interim: false,
            close: true,
            answered: Some(status),
        };
    }
    let interim = (100..200).contains(&status) && status != 101;
    let next = match (chunked, length) {
        _ if status == 101 => Out::Through,
        _ if interim || to.head_method || status == 204 || status == 304 => Out::Head,
        (Some(true), _) => Out::Chunked(Chunks::SizeFirst),
        (Some(false), _) | (None, None) => Out::Through,
        (None, Some(0)) => Out::Head,
        (None, Some(n)) => Out::Length(n),
    };
    let close = !interim && (close || to.rest);
    let bytes = if to.rest && !interim {
        with_close(head)
    } else {
        head.to_vec()
    };
    Reply {
        bytes,
        next,
        interim,
        close,
        answered: None,
    }
}

/// `head` saying `Connection: close`: the client learns that the connection ends here, as
/// RFC 9112 (9.6) asks, instead of finding out when its next request goes unanswered.
fn with_close(head: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(head.len() + 19);
    let mut lines = head.split_inclusive(|&b| b == b'\n');
    if let Some(status_line) = lines.next() {
        out.extend_from_slice(status_line);
    }
    for line in lines {
        let connection =
            line.len() > 11 && line[..10].eq_ignore_ascii_case(b"connection") && line[10] == b':';
        if !connection && line != b"\r\n" {
            out.extend_from_slice(line);
        }
    }
    out.extend_from_slice(b"connection: close\r\n\r\n");
    out
}

impl<T: AsyncWrite + Unpin> JsonErrors<T> {
    fn poll_drain(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        while self.written < self.pending.len() {
            let n = ready!(self
                .writer
                .write(&mut self.inner, cx, &self.pending[self.written..]))?;
            if n == 0 {
                return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
            }
            self.written += n;
        }
        self.pending.clear();
        self.written = 0;
        Poll::Ready(Ok(()))
    }

    /// Answers the head being read with the JSON 408 and ends the connection, once its timer has
    /// run out and nothing else is due on the connection; `Pending` until then.
    fn poll_head_timer(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        if let Some(timer) = self.timer.as_mut() {
            if timer.as_mut().poll(cx).is_ready() {
                self.timer = None;
                self.overdue = true;
            }
        }
        if !(self.overdue && self.idle()) {
            return Poll::Pending;
        }
        self.pending
            .extend_from_slice(&json_error(408, "Request Timeout", None, true));
        self.out = Out::Closed;
        self.held = VecDeque::new();
        self.count(408);
        let _ = self.poll_drain(cx)?;
        // End of input: actix-http drops the unfinished request and closes; what is left of the
        // 408 goes out with the shutdown.
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
        loop {
            if this.out == Out::Closed || buf.remaining() == 0 {
                return Poll::Ready(Ok(()));
            }
            let open = this.open();
            if !this.held.is_empty() && open > 0 {
                let n = (open.min(this.held.len() as u64) as usize).min(buf.remaining());
                let (front, back) = this.held.as_slices();
                let k = n.min(front.len());
                buf.put_slice(&front[..k]);
                buf.put_slice(&back[..n - k]);
                this.held.drain(..n);
                if this.held.is_empty() {
                    this.held = VecDeque::new();
                }
                this.delivered(n);
                return Poll::Ready(Ok(()));
            }
            if this.eof {
                if this.held.is_empty() {
                    return Poll::Ready(Ok(()));
                }
                return this.poll_head_timer(cx);
            }
            // Backpressure: past this much held back, the socket keeps the rest.
            let room = MAX_HEAD.saturating_sub(this.held.len());
            if room == 0 {
                return this.poll_head_timer(cx);
            }
            let before = buf.filled().len();
            let read = if room >= buf.remaining() {
                Pin::new(&mut this.inner).poll_read(cx, buf)
            } else {
                let (read, n) = {
                    let mut part = ReadBuf::new(buf.initialize_unfilled_to(room));
                    let read = Pin::new(&mut this.inner).poll_read(cx, &mut part);
                    (read, part.filled().len())
                };
                buf.advance(n);
                read
            };
            match read {
                Poll::Ready(Ok(())) => {}
                Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
                Poll::Pending => return this.poll_head_timer(cx),
            }
            let got = buf.filled().len() - before;
            if got == 0 {
                this.eof = true;
                continue;
            }
            this.scan(&buf.filled()[before..]);
            // Bytes go to actix-http in order: none past bytes held back.
            let keep = match this.held.is_empty() {
                true => this.open().min(got as u64) as usize,
                false => 0,
            };
            this.held.extend(&buf.filled()[before + keep..]);
            buf.set_filled(before + keep);
            if keep > 0 {
                this.delivered(keep);
                return Poll::Ready(Ok(()));
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
            Out::Through => this.writer.write(&mut this.inner, cx, buf),
            Out::Length(left) => {
                let k = (buf.len() as u64).min(left) as usize;
                let n = ready!(this.writer.write(&mut this.inner, cx, &buf[..k]))?;
                this.out = Out::Length(left - n as u64);
                this.body_sent(cx);
                Poll::Ready(Ok(n))
            }
            Out::Chunked(chunks) => {
                let mut after = chunks;
                let Some(k) = after.advance(buf) else {
                    this.lose(cx);
                    return Poll::Ready(Ok(buf.len()));
                };
                let n = ready!(this.writer.write(&mut this.inner, cx, &buf[..k]))?;
                if n < k {
                    after = chunks;
                    after.advance(&buf[..n]);
                }
                this.out = Out::Chunked(after);
                this.body_sent(cx);
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
                        let to = this.framer.requests.front().copied().unwrap_or_default();
                        let reply = process_head(&this.head, &to);
                        this.head.clear();
                        if let Some(status) = reply.answered {
                            this.count(status);
                        }
                        this.pending = reply.bytes;
                        this.out = reply.next;
                        this.closing = reply.close;
                        this.through |= this.out == Out::Through;
                        let mut consumed = end - before;
                        // The body usually follows in the same buffer: send it in the head's
                        // write, so that a response is one TCP segment, not two.
                        if let Out::Length(left) = this.out {
                            let rest = &buf[consumed..];
                            let k = (rest.len() as u64).min(left) as usize;
                            this.pending.extend_from_slice(&rest[..k]);
                            consumed += k;
                            this.out = Out::Length(left - k as u64);
                        }
                        if this.out == Out::Closed {
                            this.lose(cx);
                            consumed = buf.len();
                        } else if !reply.interim {
                            this.body_sent(cx);
                        }
                        consumed
                    }
                    None if this.head.len() > MAX_HEAD => {
                        this.lose(cx);
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
    use std::task::Waker;

    const OK: &[u8] = b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\nx-request-id: a\r\n\r\nok";

    fn reply(bytes: &[u8], next: Out, close: bool) -> Reply {
        Reply {
            bytes: bytes.to_vec(),
            next,
            interim: false,
            close,
            answered: None,
        }
    }

    #[test]
    fn bare_error_heads_get_json_bodies_and_others_pass() {
        let plain = Req::default();
        let r = process_head(
            b"HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\nconnection: close\r\ndate: x\r\n\r\n",
            &plain,
        );
        assert_eq!((r.answered, r.next, r.close), (Some(400), Out::Head, true));
        let text = String::from_utf8(r.bytes).unwrap();
        assert!(text.starts_with("HTTP/1.1 400 Bad Request\r\n"), "{text}");
        assert!(text
            .ends_with(r#"{"error":{"code":"bad_request","message":"malformed HTTP request"}}"#));
        let app = b"HTTP/1.1 404 Not Found\r\ncontent-length: 5\r\nx-request-id: a\r\n\r\n";
        let long = Req {
            long_uri: true,
            ..Req::default()
        };
        assert_eq!(process_head(app, &long), reply(app, Out::Length(5), false));
        let ok = b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n";
        assert_eq!(process_head(ok, &plain), reply(ok, Out::Head, false));
        // After a request line too long for a URI, actix's bare 400 is a 414.
        let bare = b"HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\n\r\n";
        let r = process_head(bare, &long);
        assert_eq!(r.answered, Some(414));
        let text = String::from_utf8(r.bytes).unwrap();
        assert!(text.starts_with("HTTP/1.1 414 URI Too Long\r\n"), "{text}");
        assert!(text.contains(r#""code":"uri_too_long""#), "{text}");
        // The answer to a HEAD request is a head alone, the error one too.
        let head = Req {
            head_method: true,
            ..Req::default()
        };
        let text = String::from_utf8(process_head(bare, &head).bytes).unwrap();
        assert!(
            text.contains("content-length: ") && text.ends_with("\r\n\r\n"),
            "{text}"
        );
    }

    #[test]
    fn responses_are_framed_by_their_request_and_their_head() {
        let plain = Req::default();
        let head = Req {
            head_method: true,
            ..Req::default()
        };
        let cases: [(&[u8], &Req, Out); 8] = [
            (
                b"HTTP/1.1 200 OK\r\ncontent-length: 6775\r\n\r\n",
                &head,
                Out::Head,
            ),
            (
                b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n",
                &head,
                Out::Head,
            ),
            (b"HTTP/1.1 204 No Content\r\n\r\n", &plain, Out::Head),
            (
                b"HTTP/1.1 304 Not Modified\r\ncontent-length: 9\r\n\r\n",
                &plain,
                Out::Head,
            ),
            (
                b"HTTP/1.1 200 OK\r\ntransfer-encoding: gzip, chunked\r\n\r\n",
                &plain,
                Out::Chunked(Chunks::SizeFirst),
            ),
            // Delimited by the connection's end, and a protocol switch: legitimately unframed.
            (
                b"HTTP/1.1 200 OK\r\nx-request-id: a\r\n\r\n",
                &plain,
                Out::Through,
            ),
            (
                b"HTTP/1.1 101 Switching Protocols\r\n\r\n",
                &plain,
                Out::Through,
            ),
            // Not to be followed: the wrapper ends the connection rather than guess.
            (
                b"HTTP/1.1 200 OK\r\ncontent-length: x\r\n\r\n",
                &plain,
                Out::Closed,
            ),
        ];
        for (bytes, to, next) in cases {
            assert_eq!(process_head(bytes, to).next, next, "{bytes:?}");
        }
        assert_eq!(
            process_head(b"HTTP/1.1 200\r\n\r", &plain).next,
            Out::Closed
        );
        let interim = process_head(b"HTTP/1.1 100 Continue\r\n\r\n", &plain);
        assert!(interim.interim && !interim.close);
        let closing =
            b"HTTP/1.1 200 OK\r\nConnection: keep-alive, close\r\ncontent-length: 0\r\n\r\n";
        assert!(process_head(closing, &plain).close);
        // The answer to a request the wrapper could not frame ends the connection, and says so.
        let rest = Req {
            rest: true,
            ..Req::default()
        };
        let r = process_head(
            b"HTTP/1.1 200 OK\r\nconnection: keep-alive\r\ncontent-length: 2\r\n\r\n",
            &rest,
        );
        assert_eq!(
            r,
            reply(
                b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\nconnection: close\r\n\r\n",
                Out::Length(2),
                true
            )
        );
    }

    #[test]
    fn chunked_bodies_end_where_actix_http_ends_them() {
        let body = b"5;name=\"a b\"\r\nhello\r\nA \t\r\n0123456789\r\n0\r\nX-Trailer: 1\r\n\r\n";
        for split in 0..=body.len() {
            let mut c = Chunks::SizeFirst;
            assert_eq!(c.advance(&body[..split]), Some(split), "split at {split}");
            let rest = [&body[split..], b"GET / HTTP/1.1"].concat();
            assert_eq!(
                c.advance(&rest),
                Some(body.len() - split),
                "split at {split}"
            );
            assert_eq!(c, Chunks::End);
        }
        let mut c = Chunks::SizeFirst;
        assert_eq!((c.advance(b"0\r\n\r\nnext"), c), (Some(5), Chunks::End));
        for bad in [
            &b"5\nhello\r\n"[..],
            b"5\r\nhelloX",
            b"g\r\n",
            b"5 5\r\n",
            b"11111111111111111\r\n",
            b"5;\x01\r\n",
            b"0\r\n\r\r",
            b"0\r\nX: 1\r\r",
        ] {
            assert_eq!(Chunks::SizeFirst.advance(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn request_bodies_are_framed_as_actix_http_frames_them() {
        let cases: [(&[u8], Body); 13] = [
            (b"GET / HTTP/1.1\r\nHost: x\r\n\r\n", Body::None),
            (
                b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n",
                Body::None,
            ),
            (
                b"POST / HTTP/1.1\nHost: x\ncontent-length:  12 \n\n",
                Body::Length(12),
            ),
            (
                b"POST / HTTP/1.1\r\nTransfer-Encoding: Chunked\r\n\r\n",
                Body::Chunked,
            ),
            (
                b"POST / HTTP/1.1\r\nTransfer-Encoding: gzip, chunked\r\n\r\n",
                Body::Rest,
            ),
            (
                b"POST / HTTP/1.1\r\nTransfer-Encoding: identity\r\n\r\n",
                Body::Rest,
            ),
            (
                b"POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n",
                Body::Rest,
            ),
            (
                b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n",
                Body::Rest,
            ),
            (b"POST / HTTP/1.1\r\nContent-Length: +3\r\n\r\n", Body::Rest),
            (
                b"POST / HTTP/1.1\r\nContent-Length: 3\r\nContent-Length: 3\r\n\r\n",
                Body::Rest,
            ),
            (
                b"GET / HTTP/1.1\r\nUpgrade: websocket\r\nContent-Length: 3\r\n\r\n",
                Body::Rest,
            ),
            (b"CONNECT x:1 HTTP/1.1\r\nHost: x\r\n\r\n", Body::Rest),
            (b"NOT HTTP\r\n\r\n", Body::Rest),
        ];
        for (head, body) in cases {
            assert_eq!(frame(head), body, "{}", String::from_utf8_lossy(head));
        }
    }

    /// Pipelined requests of every framing, one that ends in a half head.
    const PIPELINED: [&[u8]; 5] = [
        b"POST /a HTTP/1.1\r\nHost: x\r\nContent-Length: 31\r\n\r\nGET /fake HTTP/1.1\r\nHost: x\r\n\r\n",
        b"\r\n\nPOST /b HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n4\r\nbody\r\n0\r\n\r\n",
        b"HEAD /c HTTP/1.1\nHost: x\n\n",
        b"GET /d HTTP/1.1\r\nHost: x\r\n\r\n",
        b"GET /e HTTP/1",
    ];

    #[test]
    fn the_framer_finds_each_request_however_the_bytes_are_cut() {
        let stream = PIPELINED.concat();
        let mut end = 0;
        let ends: Vec<Option<u64>> = PIPELINED[..4]
            .iter()
            .map(|r| {
                end += r.len() as u64;
                Some(end)
            })
            .chain([None])
            .collect();
        for split in 0..=stream.len() {
            let mut f = Framer::default();
            f.scan(&stream[..split]);
            f.scan(&stream[split..]);
            let got: Vec<_> = f.requests.iter().map(|r| r.end).collect();
            assert_eq!(got, ends, "split at {split}");
            let heads: Vec<_> = f.requests.iter().map(|r| r.head_method).collect();
            assert_eq!(heads, [false, false, true, false, false]);
            assert_eq!((f.scan, f.heads), (Scan::Head, 5));
            // Nothing past the first request may go to actix-http before it is answered.
            assert_eq!(f.open(0), PIPELINED[0].len() as u64);
        }
    }

    /// Records every write it is given, accepting at most `limit` bytes per call (none, and
    /// `Pending`, at 0: a socket whose client stopped reading), and reads out `input`, one piece
    /// per read at most, then `Pending` (or the end, with `eof`).
    struct Recorder {
        writes: Vec<Vec<u8>>,
        limit: usize,
        input: VecDeque<Vec<u8>>,
        eof: bool,
    }

    impl AsyncWrite for Recorder {
        fn poll_write(
            mut self: Pin<&mut Self>,
            _: &mut Context<'_>,
            buf: &[u8],
        ) -> Poll<io::Result<usize>> {
            if self.limit == 0 {
                return Poll::Pending;
            }
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

    impl AsyncRead for Recorder {
        fn poll_read(
            mut self: Pin<&mut Self>,
            _: &mut Context<'_>,
            buf: &mut ReadBuf<'_>,
        ) -> Poll<io::Result<()>> {
            let Some(mut piece) = self.input.pop_front() else {
                return match self.eof {
                    true => Poll::Ready(Ok(())),
                    false => Poll::Pending,
                };
            };
            let n = piece.len().min(buf.remaining());
            buf.put_slice(&piece[..n]);
            if n < piece.len() {
                self.input.push_front(piece.split_off(n));
            }
            Poll::Ready(Ok(()))
        }
    }

    fn wrapper(input: &[&[u8]], limit: usize, timeout: Duration) -> JsonErrors<Recorder> {
        let inner = Recorder {
            writes: Vec::new(),
            limit,
            input: input
                .iter()
                .filter(|p| !p.is_empty())
                .map(|p| p.to_vec())
                .collect(),
            eof: false,
        };
        let config = Config {
            head_timeout: timeout,
            write_timeout: Duration::from_secs(5),
            answered: None,
            write_timeouts: None,
        };
        JsonErrors::new(inner, &config, None)
    }

    /// Writes `chunks` through the wrapper as a caller would (retrying what was not consumed),
    /// flushes, and returns the inner writer's calls.
    fn send(chunks: &[&[u8]], limit: usize) -> Vec<Vec<u8>> {
        let mut w = wrapper(&[], limit, Duration::from_secs(5));
        for chunk in chunks {
            write_all(&mut w, chunk);
        }
        let mut cx = Context::from_waker(Waker::noop());
        assert!(matches!(
            Pin::new(&mut w).poll_flush(&mut cx),
            Poll::Ready(Ok(()))
        ));
        w.inner.writes
    }

    /// Writes `bytes` through the wrapper in one go.
    fn write_all(w: &mut JsonErrors<Recorder>, bytes: &[u8]) {
        let mut cx = Context::from_waker(Waker::noop());
        let mut at = 0;
        while at < bytes.len() {
            match Pin::new(&mut *w).poll_write(&mut cx, &bytes[at..]) {
                Poll::Ready(Ok(n)) => at += n,
                other => panic!("{other:?}"),
            }
        }
    }

    /// What the wrapper hands actix-http now, read as actix-http reads (into a buffer of
    /// `space` bytes, until `Pending`), and whether the input ended.
    fn read_now(w: &mut JsonErrors<Recorder>, space: usize) -> (Vec<u8>, bool) {
        let mut cx = Context::from_waker(Waker::noop());
        let mut got = Vec::new();
        loop {
            let mut space = vec![0; space];
            let mut buf = ReadBuf::new(&mut space);
            match Pin::new(&mut *w).poll_read(&mut cx, &mut buf) {
                Poll::Ready(Ok(())) if buf.filled().is_empty() => return (got, true),
                Poll::Ready(Ok(())) => got.extend_from_slice(buf.filled()),
                Poll::Pending => return (got, false),
                Poll::Ready(Err(e)) => panic!("{e}"),
            }
        }
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
        // So does a chunked body, followed chunk by chunk.
        let chunked = b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\nx-request-id: c\r\n\r\n\
                        3\r\nabc\r\n0\r\n\r\n";
        let bare = b"HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\n\r\n";
        let out = send(&[chunked, bare], 5).concat();
        assert!(
            out.starts_with(chunked),
            "{}",
            String::from_utf8_lossy(&out)
        );
        assert!(out.ends_with(br#""message":"malformed HTTP request"}}"#));
    }

    /// Each request reaches actix-http only once the response to the one before is written,
    /// however the bytes arrive and however small actix-http's read buffer.
    #[tokio::test]
    async fn each_request_waits_for_the_response_to_the_one_before() {
        let stream = PIPELINED.concat();
        for space in [7, 8192] {
            for split in 0..=stream.len() {
                let mut w = wrapper(
                    &[&stream[..split], &stream[split..]],
                    usize::MAX,
                    Duration::from_secs(5),
                );
                for (i, request) in PIPELINED.iter().enumerate() {
                    let (got, eof) = read_now(&mut w, space);
                    assert_eq!(
                        String::from_utf8_lossy(&got),
                        String::from_utf8_lossy(request),
                        "request {i}, split at {split}, reads of {space}"
                    );
                    assert!(!eof);
                    // The response to HEAD says how long a body it does not send.
                    let response = if i == 2 { &OK[..OK.len() - 2] } else { OK };
                    write_all(&mut w, response);
                }
            }
        }
    }

    #[tokio::test]
    async fn held_back_bytes_are_bounded_and_the_socket_keeps_the_rest() {
        let request = b"GET / HTTP/1.1\r\nHost: x\r\n\r\n";
        let flood = request.repeat(10_000);
        let mut w = wrapper(&[&flood], usize::MAX, Duration::from_secs(5));
        let (got, _) = read_now(&mut w, 8192);
        assert_eq!(got, request);
        assert!(w.held.len() <= MAX_HEAD, "{}", w.held.len());
        assert!(!w.inner.input.is_empty(), "the rest stays unread");
        // Answering lets the next request in.
        write_all(&mut w, OK);
        assert_eq!(read_now(&mut w, 8192).0, request);
    }

    #[test]
    fn an_interim_response_lets_the_body_through_and_ends_nothing() {
        let head =
            b"POST / HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\n";
        let mut w = wrapper(&[head], usize::MAX, Duration::from_secs(5));
        assert_eq!(read_now(&mut w, 8192).0, head);
        write_all(&mut w, b"HTTP/1.1 100 Continue\r\n\r\n");
        w.inner.input.push_back(b"hello".to_vec());
        w.inner
            .input
            .push_back(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n".to_vec());
        assert_eq!(read_now(&mut w, 8192).0, b"hello");
        write_all(&mut w, OK);
        assert_eq!(
            read_now(&mut w, 8192).0,
            b"GET / HTTP/1.1\r\nHost: x\r\n\r\n"
        );
    }

    #[test]
    fn the_connection_ends_after_what_the_wrapper_cannot_follow_or_frame() {
        // A response head that cannot be followed: nothing of it goes out, and reads end.
        let mut w = wrapper(
            &[b"GET / HTTP/1.1\r\n\r\n"],
            usize::MAX,
            Duration::from_secs(5),
        );
        read_now(&mut w, 8192);
        write_all(
            &mut w,
            b"HTTP/1.1 200 OK\r\ncontent-length: many\r\n\r\nbody",
        );
        write_all(&mut w, OK);
        assert!(w.inner.writes.concat().is_empty());
        assert_eq!(read_now(&mut w, 8192), (Vec::new(), true));
        // A request read to the end of the connection: its response says the connection closes,
        // and is the last.
        let upgrade = b"GET / HTTP/1.1\r\nUpgrade: websocket\r\n\r\nGET / HTTP/1.1\r\n\r\n";
        let mut w = wrapper(&[upgrade], usize::MAX, Duration::from_secs(5));
        assert_eq!(read_now(&mut w, 8192).0, upgrade);
        write_all(&mut w, OK);
        write_all(&mut w, OK);
        let out = String::from_utf8(w.inner.writes.concat()).unwrap();
        assert!(out.ends_with("connection: close\r\n\r\nok"), "{out}");
        assert_eq!(out.matches("HTTP/1.1").count(), 1, "{out}");
        assert_eq!(read_now(&mut w, 8192), (Vec::new(), true));
    }

    /// Held-back requests still go to actix-http after the client closes its side, and the end
    /// only after them.
    #[test]
    fn the_end_of_input_waits_for_the_requests_held_back() {
        let two = b"GET /a HTTP/1.1\r\n\r\nGET /b HTTP/1.1\r\n\r\n";
        let mut w = wrapper(&[two], usize::MAX, Duration::from_secs(5));
        w.inner.eof = true;
        assert_eq!(read_now(&mut w, 8192), (two[..19].to_vec(), false));
        write_all(&mut w, OK);
        assert_eq!(read_now(&mut w, 8192), (two[19..].to_vec(), true));
    }

    /// The first head is actix-http's to time; each later one is timed from its first byte
    /// until its blank line, also when it arrives with the requests before it.
    #[tokio::test]
    async fn later_request_heads_are_timed_from_their_first_byte() {
        let mut w = wrapper(&[], usize::MAX, Duration::from_secs(5));
        w.scan(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n");
        assert!(
            w.timer.is_none(),
            "the first head is not the wrapper's to time"
        );
        w.scan(b"\r\n");
        assert!(
            w.timer.is_none(),
            "a blank line between requests arms nothing"
        );
        w.scan(b"GET /healthz HT");
        assert!(w.timer.is_some(), "a started head is timed");
        w.scan(b"TP/1.1\nHost: x\n\n");
        assert!(w.timer.is_none(), "a head with bare LF line ends ends too");
        let body = br#"{"text": "GET / HTTP/1.1"}"#;
        w.scan(format!("POST / HTTP/1.1\r\nContent-Length: {}\r\n\r\n", body.len()).as_bytes());
        w.scan(body);
        assert!(w.timer.is_none(), "a body is not a head");
        w.scan(b"GET / HTTP/1.1\r\n\r\nGET / HT");
        assert!(
            w.timer.is_some(),
            "a half head in the same read as a whole one"
        );
        let timed = w.timed;
        w.scan(b"TP/1.1\r\n\r\nG");
        assert!(
            w.timer.is_some() && w.timed == timed + 1,
            "the next head has its own timer"
        );
        w.scan(&vec![b'a'; MAX_URI + 1]);
        w.scan(b" HTTP/1.1\r\n\r\n");
        assert!(
            w.framer.requests.back().unwrap().long_uri,
            "measured for the 414"
        );
    }

    /// A half head after pipelined requests gets the 408 once it is the only request left, and
    /// not while responses before it are due.
    #[tokio::test]
    async fn a_pipelined_half_head_gets_408_after_the_responses_before_it() {
        let get = b"GET / HTTP/1.1\r\nHost: x\r\n\r\n";
        let input = [&get[..], get, b"GET / HT"].concat();
        let mut w = wrapper(&[&input], usize::MAX, Duration::from_millis(20));
        assert_eq!(read_now(&mut w, 8192).0, get);
        tokio::time::sleep(Duration::from_millis(100)).await;
        assert_eq!(
            read_now(&mut w, 8192),
            (Vec::new(), false),
            "a response is due"
        );
        write_all(&mut w, OK);
        assert_eq!(read_now(&mut w, 8192), (get.to_vec(), false));
        assert!(w.overdue, "the timer ran out while a response was due");
        write_all(&mut w, OK);
        assert_eq!(read_now(&mut w, 8192), (b"GET / HT".to_vec(), true));
        let out = String::from_utf8(w.inner.writes.concat()).unwrap();
        assert!(out.starts_with("HTTP/1.1 200 OK\r\n"), "{out}");
        let (_, last) = out.rsplit_once("okHTTP/1.1 ").unwrap();
        assert!(last.starts_with("408 Request Timeout\r\n"), "{out}");
        assert!(last.contains(r#""code":"request_timeout""#), "{out}");
    }

    /// A wrapper that has handed actix-http a `GET /` to answer, whose writes time out after
    /// `bound`, and the counter of its write timeouts.
    fn stalling(bound: Duration) -> (JsonErrors<Recorder>, IntCounter) {
        let mut w = wrapper(
            &[b"GET / HTTP/1.1\r\n\r\n"],
            usize::MAX,
            Duration::from_secs(5),
        );
        let counter = IntCounter::new("write_timeouts", "test").unwrap();
        (w.writer.bound, w.writer.counter) = (bound, Some(counter.clone()));
        read_now(&mut w, 8192);
        (w, counter)
    }

    /// A response head announcing a body of `n` bytes.
    fn head_of(n: usize) -> Vec<u8> {
        format!("HTTP/1.1 200 OK\r\ncontent-length: {n}\r\nx-request-id: a\r\n\r\n").into_bytes()
    }

    /// A socket that takes nothing, whether the head is still held or the body is being
    /// written: once the bound has passed, the write fails with `TimedOut` (so actix-http ends
    /// the connection), the connection is counted once, and nothing more is written on it.
    #[tokio::test]
    async fn a_write_that_makes_no_progress_for_the_write_timeout_ends_the_connection() {
        let mut cx = Context::from_waker(Waker::noop());
        let body = [b'a'; 100];
        for body_written in [false, true] {
            let (mut w, counter) = stalling(Duration::from_millis(20));
            let head = head_of(body.len());
            if body_written {
                write_all(&mut w, &head);
            }
            w.inner.limit = 0;
            let sent = w.inner.writes.concat();
            if !body_written {
                // The head is taken, to be sent as the socket allows.
                write_all(&mut w, &head);
            }
            let mut poll = |w: &mut JsonErrors<Recorder>| match body_written {
                true => Pin::new(w).poll_write(&mut cx, &body).map_ok(|_| ()),
                false => Pin::new(w).poll_flush(&mut cx),
            };
            assert!(poll(&mut w).is_pending(), "within the bound");
            tokio::time::sleep(Duration::from_millis(100)).await;
            match poll(&mut w) {
                Poll::Ready(Err(e)) => assert_eq!(e.kind(), io::ErrorKind::TimedOut),
                other => panic!("{other:?}"),
            }
            // A socket that takes bytes again changes nothing: the connection is over.
            w.inner.limit = usize::MAX;
            assert!(matches!(poll(&mut w), Poll::Ready(Err(_))));
            assert_eq!(w.inner.writes.concat(), sent, "nothing written after");
            assert_eq!(counter.get(), 1, "counted once");
        }
    }

    /// The bound runs from the first write that pends after the last progress, not from each
    /// retry, and any progress restarts it: a client reading a few bytes at a time, for longer
    /// than the bound in all, is never cut off.
    #[tokio::test]
    async fn progress_restarts_the_write_timeout() {
        let bound = Duration::from_secs(1);
        let (mut w, counter) = stalling(bound);
        let mut cx = Context::from_waker(Waker::noop());
        let body = vec![b'a'; 4096];
        write_all(&mut w, &head_of(body.len()));
        w.inner.limit = 0;
        let deadline = |w: &JsonErrors<Recorder>| w.writer.timer.as_ref().unwrap().deadline();
        assert!(Pin::new(&mut w).poll_write(&mut cx, &body).is_pending());
        let first = deadline(&w);
        tokio::time::sleep(Duration::from_millis(10)).await;
        assert!(Pin::new(&mut w).poll_write(&mut cx, &body).is_pending());
        assert_eq!(deadline(&w), first, "a retry does not restart the bound");
        let (start, mut at, mut last) = (std::time::Instant::now(), 0, first);
        while start.elapsed() < bound + bound / 5 {
            tokio::time::sleep(Duration::from_millis(25)).await;
            w.inner.limit = 7;
            match Pin::new(&mut w).poll_write(&mut cx, &body[at..]) {
                Poll::Ready(Ok(n)) => at += n,
                other => panic!("{other:?} after {:?}", start.elapsed()),
            }
            w.inner.limit = 0;
            assert!(Pin::new(&mut w)
                .poll_write(&mut cx, &body[at..])
                .is_pending());
            assert!(deadline(&w) > last, "progress restarts the bound");
            last = deadline(&w);
        }
        assert_eq!(counter.get(), 0);
        assert_eq!(
            w.inner.writes.concat()[head_of(body.len()).len()..],
            body[..at]
        );
    }
}

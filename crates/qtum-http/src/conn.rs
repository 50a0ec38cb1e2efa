//! The HTTP/1.1 front: one connection at a time per worker, every read and write against a
//! deadline, every size capped.
//!
//! A worker reads a request's head (at most [`Limits::max_head`] bytes, [`MAX_HEADERS`] header
//! lines: 431 beyond) and body (`Content-Length` only, at most [`Limits::max_body`]: 413 beyond,
//! 411 for a chunked body) within [`Limits::request_timeout`] of starting on it; a client that
//! trickles bytes gets 408 and is cut off. Reads wait in short slices so a worker notices the
//! server stopping. Between keep-alive requests a connection may sit idle for
//! [`Limits::idle_timeout`], but gives its worker up as soon as another connection is waiting in
//! the queue. Responses are written against the same deadline plus one second per 32 KiB (a
//! client that does not read cannot hold a worker either).

use std::io::{ErrorKind, Read, Write};
use std::net::Shutdown;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use crate::stream::Conn;

/// Header lines accepted in one request.
pub const MAX_HEADERS: usize = 64;
/// How long a worker waits for one read or write before looking at the stop flag and deadline.
const SLICE: Duration = Duration::from_millis(100);
/// After an error answer, how long (and how much) the rest of a request is read and dropped so
/// the answer is not lost to a TCP reset.
const LINGER: Duration = Duration::from_millis(500);
const LINGER_BYTES: usize = 256 * 1024;
/// The slowest reader an answer waits for beyond the request timeout: a 2 MB raw block gets
/// 10 s plus 64 s, a small JSON answer the request timeout alone.
const MIN_SEND_RATE: u64 = 32 * 1024;

/// The limits a connection is held to.
#[derive(Debug, Clone)]
pub struct Limits {
    /// Largest request head (request line and header fields), in bytes: 431 beyond.
    pub max_head: usize,
    /// Largest request body, in bytes: 413 beyond.
    pub max_body: usize,
    /// Time to receive a whole request once a worker starts on it (and to send its answer,
    /// plus one second per 32 KiB).
    pub request_timeout: Duration,
    /// Time a keep-alive connection may wait for its next request while no other connection
    /// waits for a worker.
    pub idle_timeout: Duration,
}

/// State the acceptor and the workers share.
#[derive(Debug, Default)]
pub(crate) struct Shared {
    pub(crate) stop: AtomicBool,
    /// How the server words its own refusals (oversize, malformed, timeouts, busy); plain text
    /// when `None`.
    pub(crate) error_body: Option<fn(u16, &str) -> Response>,
    /// Connections accepted and not yet picked up by a worker.
    pub(crate) waiting: AtomicUsize,
}

impl Shared {
    /// `response`, a refusal of the server's own, in the words of `error_body`.
    pub(crate) fn reword(&self, response: Response) -> Response {
        match self.error_body {
            Some(f) => f(response.status, &String::from_utf8_lossy(&response.body)),
            None => response,
        }
    }
}

/// One parsed request. Its `Debug` leaves out the header values and the body (an
/// `Authorization` header, a password in a JSON body).
pub struct Request {
    /// The method token, e.g. `GET`.
    pub method: String,
    /// The request target (path and query), as sent.
    pub target: String,
    /// The header fields, names as sent, values without surrounding whitespace.
    pub headers: Vec<(String, String)>,
    /// The body (`Content-Length` bytes).
    pub body: Vec<u8>,
    keep_alive: bool,
}

impl std::fmt::Debug for Request {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Request")
            .field("method", &self.method)
            .field("target", &self.target)
            .field("body_len", &self.body.len())
            .finish_non_exhaustive()
    }
}

impl Request {
    /// The value of the first header field named `name` (any case).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The target's path, without the query.
    pub fn path(&self) -> &str {
        self.target.split_once('?').map_or(&self.target, |(p, _)| p)
    }

    /// The target's query (after `?`), empty without one.
    pub fn query(&self) -> &str {
        self.target.split_once('?').map_or("", |(_, q)| q)
    }
}

/// An answer.
#[derive(Debug)]
pub struct Response {
    /// The status code.
    pub status: u16,
    /// The `Content-Type`.
    pub content_type: &'static str,
    /// Extra header fields (name, value); both must be free of CR and LF.
    pub headers: Vec<(&'static str, String)>,
    /// The body.
    pub body: Vec<u8>,
}

impl Response {
    /// A `text/plain` answer.
    pub fn text(status: u16, text: impl Into<String>) -> Response {
        Response {
            status,
            content_type: "text/plain",
            headers: Vec::new(),
            body: text.into().into_bytes(),
        }
    }

    /// An `application/json` answer.
    pub fn json(status: u16, body: Vec<u8>) -> Response {
        Response {
            status,
            content_type: "application/json",
            headers: Vec::new(),
            body,
        }
    }
}

fn reason(status: u16) -> &'static str {
    match status {
        100 => "Continue",
        200 => "OK",
        204 => "No Content",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        409 => "Conflict",
        408 => "Request Timeout",
        411 => "Length Required",
        413 => "Content Too Large",
        415 => "Unsupported Media Type",
        417 => "Expectation Failed",
        422 => "Unprocessable Content",
        429 => "Too Many Requests",
        431 => "Request Header Fields Too Large",
        500 => "Internal Server Error",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        505 => "HTTP Version Not Supported",
        _ => "",
    }
}

/// Why a request could not be read: an answer to send before closing, or nothing to send.
enum ReadError {
    Answer(Response),
    /// The client closed, went idle, or the server is stopping: close without an answer.
    Close,
}

fn refuse(status: u16, text: &str) -> ReadError {
    ReadError::Answer(Response::text(status, text))
}

enum Got {
    Bytes(usize),
    Closed,
    Deadline,
    /// Idle between requests and another connection is waiting for a worker.
    Yield,
}

/// One read of at most `buf.len()` bytes before `deadline`, in slices that watch the stop flag
/// (and, when `idle`, the queue).
fn read_some(
    stream: &mut Conn,
    buf: &mut [u8],
    deadline: Instant,
    shared: &Shared,
    idle: bool,
) -> Result<Got, ReadError> {
    loop {
        if shared.stop.load(Ordering::SeqCst) {
            return Err(ReadError::Close);
        }
        if idle && shared.waiting.load(Ordering::SeqCst) > 0 {
            return Ok(Got::Yield);
        }
        let now = Instant::now();
        if now >= deadline {
            return Ok(Got::Deadline);
        }
        let wait = (deadline - now).clamp(Duration::from_millis(1), SLICE);
        if stream.tcp().set_read_timeout(Some(wait)).is_err() {
            return Err(ReadError::Close);
        }
        match stream.read(buf) {
            Ok(0) => return Ok(Got::Closed),
            Ok(n) => return Ok(Got::Bytes(n)),
            Err(e)
                if matches!(
                    e.kind(),
                    ErrorKind::WouldBlock | ErrorKind::TimedOut | ErrorKind::Interrupted
                ) => {}
            Err(_) => return Err(ReadError::Close),
        }
    }
}

fn find_head_end(buf: &[u8]) -> Option<usize> {
    buf.windows(4).position(|w| w == b"\r\n\r\n").map(|i| i + 4)
}

/// A token as HTTP defines it (method, header name).
fn is_token(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
}

struct Head {
    method: String,
    target: String,
    headers: Vec<(String, String)>,
    http10: bool,
    content_length: usize,
    connection_close: bool,
    connection_keep_alive: bool,
    expect_continue: bool,
}

fn parse_head(head: &[u8], limits: &Limits) -> Result<Head, ReadError> {
    let text = std::str::from_utf8(head).map_err(|_| refuse(400, "Bad request"))?;
    let mut lines = text.split("\r\n");
    let request_line = lines.next().unwrap_or("");
    let mut parts = request_line.split(' ');
    let (Some(method), Some(target), Some(version), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(refuse(400, "Bad request line"));
    };
    // The target is visible ASCII only (RFC 9112): no control characters, and above all no bare
    // CR or LF, which a proxy in front may take for a line end (found by fuzz/esplora_http_request).
    if !is_token(method)
        || !target.starts_with('/')
        || !target.bytes().all(|b| b.is_ascii_graphic())
    {
        return Err(refuse(400, "Bad request line"));
    }
    let http10 = match version {
        "HTTP/1.1" => false,
        "HTTP/1.0" => true,
        _ => return Err(refuse(505, "HTTP/1.1 only")),
    };
    let mut head = Head {
        method: method.to_string(),
        target: target.to_string(),
        headers: Vec::new(),
        http10,
        content_length: 0,
        connection_close: false,
        connection_keep_alive: false,
        expect_continue: false,
    };
    let mut content_length: Option<u64> = None;
    let mut count = 0;
    for line in lines.filter(|l| !l.is_empty()) {
        count += 1;
        if count > MAX_HEADERS {
            return Err(refuse(431, "Too many header fields"));
        }
        // Lines end with CRLF only: a bare CR or LF, or any other control character but a tab,
        // would let a proxy and this server see different header fields (request smuggling).
        if line.bytes().any(|b| b.is_ascii_control() && b != b'\t') {
            return Err(refuse(400, "Bad header line"));
        }
        // No folded lines, no whitespace before the colon (request smuggling material).
        let Some((name, value)) = line.split_once(':') else {
            return Err(refuse(400, "Bad header line"));
        };
        if !is_token(name) {
            return Err(refuse(400, "Bad header line"));
        }
        let value = value.trim_matches([' ', '\t']);
        head.headers.push((name.to_string(), value.to_string()));
        if name.eq_ignore_ascii_case("content-length") {
            let n: u64 = value
                .parse()
                .ok()
                .filter(|_| value.bytes().all(|b| b.is_ascii_digit()))
                .ok_or_else(|| refuse(400, "Bad Content-Length"))?;
            if content_length.is_some_and(|c| c != n) {
                return Err(refuse(400, "Conflicting Content-Length"));
            }
            content_length = Some(n);
        } else if name.eq_ignore_ascii_case("transfer-encoding") {
            return Err(refuse(411, "Send the body with a Content-Length"));
        } else if name.eq_ignore_ascii_case("connection") {
            for token in value.split(',').map(str::trim) {
                head.connection_close |= token.eq_ignore_ascii_case("close");
                head.connection_keep_alive |= token.eq_ignore_ascii_case("keep-alive");
            }
        } else if name.eq_ignore_ascii_case("expect") {
            if !value.eq_ignore_ascii_case("100-continue") {
                return Err(refuse(417, "Only 100-continue is supported"));
            }
            head.expect_continue = true;
        }
    }
    let length = content_length.unwrap_or(0);
    if length > limits.max_body as u64 {
        return Err(refuse(
            413,
            format!("Request body too large (at most {} bytes)", limits.max_body).as_str(),
        ));
    }
    head.content_length = length as usize;
    Ok(head)
}

/// Reads the next request of the connection. `buf` holds bytes already read past the previous
/// request (pipelining). `first` says whether this is the connection's first request: it must
/// arrive within the request timeout of the worker picking the connection up; a later one may
/// be preceded by an idle keep-alive wait.
fn read_request(
    stream: &mut Conn,
    buf: &mut Vec<u8>,
    first: bool,
    limits: &Limits,
    shared: &Shared,
) -> Result<Request, ReadError> {
    let mut chunk = [0u8; 8192];
    let mut deadline = Instant::now() + limits.request_timeout;
    if !first && buf.is_empty() {
        // Idle keep-alive: wait for the first byte of the next request.
        let idle_until = Instant::now() + limits.idle_timeout;
        match read_some(stream, &mut chunk, idle_until, shared, true)? {
            Got::Bytes(n) => buf.extend_from_slice(&chunk[..n]),
            Got::Closed | Got::Deadline | Got::Yield => return Err(ReadError::Close),
        }
        deadline = Instant::now() + limits.request_timeout;
    }
    let head_end = loop {
        if let Some(end) = find_head_end(buf) {
            if end > limits.max_head {
                return Err(refuse(431, "Request header too large"));
            }
            break end;
        }
        if buf.len() >= limits.max_head {
            return Err(refuse(431, "Request header too large"));
        }
        let room = (limits.max_head + 4 - buf.len()).min(chunk.len());
        match read_some(stream, &mut chunk[..room], deadline, shared, false)? {
            Got::Bytes(n) => buf.extend_from_slice(&chunk[..n]),
            Got::Closed | Got::Yield => return Err(ReadError::Close),
            Got::Deadline if buf.is_empty() => return Err(ReadError::Close),
            Got::Deadline => return Err(refuse(408, "Request timeout")),
        }
    };
    let head = parse_head(&buf[..head_end - 4], limits)?;
    let total = head_end + head.content_length;
    if head.expect_continue && head.content_length > 0 && buf.len() < total {
        let interim = b"HTTP/1.1 100 Continue\r\n\r\n";
        if write_all(stream, interim, deadline, shared).is_err() {
            return Err(ReadError::Close);
        }
    }
    while buf.len() < total {
        let room = (total - buf.len()).min(chunk.len());
        match read_some(stream, &mut chunk[..room], deadline, shared, false)? {
            Got::Bytes(n) => buf.extend_from_slice(&chunk[..n]),
            Got::Closed | Got::Yield => return Err(ReadError::Close),
            Got::Deadline => return Err(refuse(408, "Request timeout")),
        }
    }
    let body = buf[head_end..total].to_vec();
    buf.drain(..total);
    let keep_alive = if head.http10 {
        head.connection_keep_alive && !head.connection_close
    } else {
        !head.connection_close
    };
    Ok(Request {
        method: head.method,
        target: head.target,
        headers: head.headers,
        body,
        keep_alive,
    })
}

/// Writes all of `data` before `deadline`.
fn write_all(
    stream: &mut Conn,
    mut data: &[u8],
    deadline: Instant,
    shared: &Shared,
) -> Result<(), ()> {
    while !data.is_empty() {
        if shared.stop.load(Ordering::SeqCst) {
            return Err(());
        }
        let now = Instant::now();
        if now >= deadline {
            return Err(());
        }
        let wait = (deadline - now).clamp(Duration::from_millis(1), SLICE);
        stream.tcp().set_write_timeout(Some(wait)).map_err(|_| ())?;
        match stream.write(data) {
            Ok(0) => return Err(()),
            Ok(n) => data = &data[n..],
            Err(e)
                if matches!(
                    e.kind(),
                    ErrorKind::WouldBlock | ErrorKind::TimedOut | ErrorKind::Interrupted
                ) => {}
            Err(_) => return Err(()),
        }
    }
    stream.flush_before(deadline, &shared.stop)
}

/// When sending `bytes` must be done by.
fn send_deadline(bytes: usize, timeout: Duration) -> Instant {
    Instant::now() + timeout + Duration::from_secs(bytes as u64 / MIN_SEND_RATE)
}

/// The bytes of `response`, with `Connection: close` unless `keep_alive`.
fn encode(response: &Response, keep_alive: bool) -> Vec<u8> {
    let mut out = format!(
        "HTTP/1.1 {} {}\r\nContent-Type: {}\r\nContent-Length: {}\r\n",
        response.status,
        reason(response.status),
        response.content_type,
        response.body.len()
    );
    if response.status == 503 {
        out.push_str("Retry-After: 1\r\n");
    }
    for (name, value) in &response.headers {
        if !value.bytes().any(|b| b == b'\r' || b == b'\n') {
            out.push_str(&format!("{name}: {value}\r\n"));
        }
    }
    if !keep_alive {
        out.push_str("Connection: close\r\n");
    }
    out.push_str("\r\n");
    let mut bytes = out.into_bytes();
    bytes.extend_from_slice(&response.body);
    bytes
}

/// Sends `response` and closes: the write side first, then whatever the client still sends
/// is read and dropped for a moment, so the answer reaches it instead of a reset.
pub(crate) fn answer_and_close(
    mut stream: Conn,
    response: &Response,
    timeout: Duration,
    shared: &Shared,
) {
    let bytes = encode(response, false);
    let deadline = send_deadline(bytes.len(), timeout);
    if write_all(&mut stream, &bytes, deadline, shared).is_err() {
        return;
    }
    stream.close_notify(deadline, &shared.stop);
    let _ = stream.tcp().shutdown(Shutdown::Write);
    let until = Instant::now() + LINGER;
    let mut drained = 0;
    let mut sink = [0u8; 8192];
    while drained < LINGER_BYTES {
        match read_some(&mut stream, &mut sink, until, shared, false) {
            Ok(Got::Bytes(n)) => drained += n,
            _ => break,
        }
    }
}

/// Serves one connection until it closes, idles out, misbehaves or the server stops.
pub(crate) fn serve(
    mut stream: Conn,
    limits: &Limits,
    shared: &Shared,
    handle: &dyn Fn(&Request) -> Response,
) {
    if stream
        .handshake(Instant::now() + limits.request_timeout, &shared.stop)
        .is_err()
    {
        return;
    }
    let mut buf = Vec::new();
    let mut first = true;
    loop {
        let request = match read_request(&mut stream, &mut buf, first, limits, shared) {
            Ok(r) => r,
            Err(ReadError::Close) => return,
            Err(ReadError::Answer(response)) => {
                let response = shared.reword(response);
                answer_and_close(stream, &response, limits.request_timeout, shared);
                return;
            }
        };
        first = false;
        let response = if request.method == "GET" || request.method == "POST" {
            handle(&request)
        } else {
            shared.reword(Response::text(405, "Method not allowed"))
        };
        let keep_alive = request.keep_alive
            && response.status != 405
            && !shared.stop.load(Ordering::SeqCst)
            && shared.waiting.load(Ordering::SeqCst) == 0;
        let bytes = encode(&response, keep_alive);
        let deadline = send_deadline(bytes.len(), limits.request_timeout);
        if write_all(&mut stream, &bytes, deadline, shared).is_err() || !keep_alive {
            return;
        }
    }
}

/// The request-head parser on plain bytes, for the fuzz targets in `fuzz/` (feature `fuzzing`,
/// never on in a build of the server).
#[cfg(feature = "fuzzing")]
pub mod fuzzing {
    use super::{find_head_end, parse_head, Limits, ReadError};
    use std::time::Duration;

    /// What a request head says, as the server reads it.
    #[derive(Debug, Clone, PartialEq, Eq)]
    pub struct ParsedHead {
        /// The method token.
        pub method: String,
        /// The request target (path and query).
        pub target: String,
        /// `HTTP/1.0` rather than `HTTP/1.1`.
        pub http10: bool,
        /// The body length announced (0 without `Content-Length`).
        pub content_length: usize,
        /// A `Connection: close` token was given.
        pub connection_close: bool,
        /// A `Connection: keep-alive` token was given.
        pub connection_keep_alive: bool,
        /// `Expect: 100-continue` was given.
        pub expect_continue: bool,
    }

    /// The offset just past the blank line ending the head in `buf`, if it is complete.
    pub fn head_end(buf: &[u8]) -> Option<usize> {
        find_head_end(buf)
    }

    /// Parses a head (without its final blank line) as a worker does with a body limit of
    /// `max_body`; `Err` is the status the server answers before closing.
    pub fn parse_request_head(head: &[u8], max_body: usize) -> Result<ParsedHead, u16> {
        let limits = Limits {
            max_head: 8 * 1024,
            max_body,
            request_timeout: Duration::from_secs(1),
            idle_timeout: Duration::from_secs(1),
        };
        match parse_head(head, &limits) {
            Ok(h) => Ok(ParsedHead {
                method: h.method,
                target: h.target,
                http10: h.http10,
                content_length: h.content_length,
                connection_close: h.connection_close,
                connection_keep_alive: h.connection_keep_alive,
                expect_continue: h.expect_continue,
            }),
            Err(ReadError::Answer(response)) => Err(response.status),
            Err(ReadError::Close) => Err(0),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{parse_head, Limits, ReadError};
    use std::time::Duration;

    fn status(head: &[u8]) -> u16 {
        let limits = Limits {
            max_head: 8 * 1024,
            max_body: 1000,
            request_timeout: Duration::from_secs(1),
            idle_timeout: Duration::from_secs(1),
        };
        match parse_head(head, &limits) {
            Ok(_) => 200,
            Err(ReadError::Answer(response)) => response.status,
            Err(ReadError::Close) => 0,
        }
    }

    #[test]
    fn bare_cr_lf_and_control_characters_are_refused() {
        assert_eq!(status(b"GET /blocks/tip/height HTTP/1.1\r\nHost: x"), 200);
        assert_eq!(status(b"POST /tx HTTP/1.1\r\nHost: x\tY"), 200);
        // The fuzzer's find: a bare LF and CR inside the target.
        assert_eq!(status(b"GET /blocks/\x0e\n\rdtip/height HTTP/1.0"), 400);
        assert_eq!(status(b"GET /a\x7f HTTP/1.1"), 400);
        // A proxy that ends lines at a bare LF would see a body length this server does not.
        assert_eq!(
            status(b"POST /tx HTTP/1.1\r\nHost: x\nContent-Length: 5"),
            400
        );
        assert_eq!(
            status(b"POST /tx HTTP/1.1\r\nHost: x\rContent-Length: 5"),
            400
        );
        assert_eq!(status(b"GET / HTTP/1.1\r\nX-A: \x00"), 400);
    }
}

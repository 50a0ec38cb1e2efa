//! Helpers shared by the fuzz targets: splitting an input into scripted answers, and a loopback
//! HTTP server that plays those answers to the SDK's chain sources.
//!
//! The chain sources (`RpcSource`, `EsploraSource`) parse what a server sends inside private
//! functions; the targets reach that code the way a hostile server does, through HTTP on
//! 127.0.0.1. The server here is deliberately plain and always well framed (status line,
//! `Content-Length`, keep-alive): what the fuzzer controls is what the SDK parses, the bodies and
//! statuses.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::str::FromStr;
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};
use std::thread;

/// What separates the parts of a scripted input: the operation first, then one answer per part.
pub const SEPARATOR: &[u8] = b"\n--\n";

/// Splits `data` at every [`SEPARATOR`].
pub fn split_parts(data: &[u8]) -> Vec<&[u8]> {
    let mut parts = Vec::new();
    let mut rest = data;
    while let Some(at) = find(rest, SEPARATOR) {
        parts.push(&rest[..at]);
        rest = &rest[at + SEPARATOR.len()..];
    }
    parts.push(rest);
    parts
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// The words of an operation line, and typed accessors that fall back to a default so every
/// input runs something.
pub struct Op<'a> {
    words: Vec<&'a str>,
}

impl<'a> Op<'a> {
    /// Reads the operation part (lossy: invalid UTF-8 just yields fewer usable words).
    pub fn parse(part: &'a [u8]) -> Op<'a> {
        let text = match std::str::from_utf8(part) {
            Ok(t) => t,
            Err(e) => std::str::from_utf8(&part[..e.valid_up_to()]).unwrap_or(""),
        };
        Op {
            words: text.split_whitespace().collect(),
        }
    }

    /// The operation name (first word).
    pub fn name(&self) -> &'a str {
        self.words.first().copied().unwrap_or("")
    }

    /// Argument `i` (after the name) parsed as `T`, or `default`.
    pub fn arg<T: FromStr>(&self, i: usize, default: T) -> T {
        self.words
            .get(i + 1)
            .and_then(|w| w.parse().ok())
            .unwrap_or(default)
    }

    /// Argument `i` as raw text, or "".
    pub fn text(&self, i: usize) -> &'a str {
        self.words.get(i + 1).copied().unwrap_or("")
    }
}

/// Answers a request: (target, body) to (status, body), from the scripted answers.
pub type Handler = fn(&mut Script, &str, &[u8]) -> (u16, Vec<u8>);

/// The scripted answers of the current input.
#[derive(Default)]
pub struct Script {
    answers: Vec<Vec<u8>>,
    next: usize,
}

impl Script {
    /// The next scripted answer, if any is left.
    pub fn take(&mut self) -> Option<Vec<u8>> {
        let answer = self.answers.get(self.next).cloned();
        if answer.is_some() {
            self.next += 1;
        }
        answer
    }
}

/// A loopback HTTP/1.1 server answering from the current [`Script`].
pub struct FakeServer {
    url: String,
    script: Arc<Mutex<Script>>,
}

fn lock(m: &Mutex<Script>) -> MutexGuard<'_, Script> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl FakeServer {
    /// Starts a server on an ephemeral port of 127.0.0.1 (one thread per connection).
    pub fn start(handler: Handler) -> FakeServer {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind loopback");
        let url = format!("http://{}", listener.local_addr().expect("local addr"));
        let script = Arc::new(Mutex::new(Script::default()));
        let shared = Arc::clone(&script);
        thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let script = Arc::clone(&shared);
                thread::spawn(move || serve(stream, &script, handler));
            }
        });
        FakeServer { url, script }
    }

    /// One server per target process, started on first use.
    pub fn shared(cell: &'static OnceLock<FakeServer>, handler: Handler) -> &'static FakeServer {
        cell.get_or_init(|| FakeServer::start(handler))
    }

    /// The base URL (`http://127.0.0.1:port`).
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Replaces the scripted answers with `answers`.
    pub fn load(&self, answers: &[&[u8]]) {
        let mut script = lock(&self.script);
        script.answers = answers.iter().map(|a| a.to_vec()).collect();
        script.next = 0;
    }
}

fn serve(stream: TcpStream, script: &Mutex<Script>, handler: Handler) {
    let _ = stream.set_nodelay(true);
    let mut writer = match stream.try_clone() {
        Ok(w) => w,
        Err(_) => return,
    };
    let mut reader = BufReader::new(stream);
    loop {
        let mut request_line = String::new();
        match reader.read_line(&mut request_line) {
            Ok(0) | Err(_) => return,
            Ok(_) => {}
        }
        let target = request_line
            .split_whitespace()
            .nth(1)
            .unwrap_or("/")
            .to_string();
        let mut length = 0usize;
        loop {
            let mut line = String::new();
            match reader.read_line(&mut line) {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            }
            let line = line.trim_end();
            if line.is_empty() {
                break;
            }
            if let Some((name, value)) = line.split_once(':') {
                if name.eq_ignore_ascii_case("content-length") {
                    length = value.trim().parse().unwrap_or(0);
                }
            }
        }
        let mut body = vec![0u8; length];
        if reader.read_exact(&mut body).is_err() {
            return;
        }
        let (status, answer) = handler(&mut lock(script), &target, &body);
        let mut out = format!(
            "HTTP/1.1 {status} X\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
            answer.len()
        )
        .into_bytes();
        out.extend_from_slice(&answer);
        if writer.write_all(&out).is_err() {
            return;
        }
    }
}

/// A hex string of `bytes`.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

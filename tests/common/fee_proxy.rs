//! An HTTP/1.1 proxy in front of an Esplora-style server that answers `GET /fee-estimates`
//! itself, from a setting the test changes while nodes run: a node behind it sees exactly the
//! fee data the test wants (none, the floor, high and moving), everything else unchanged.
//!
//! One request per connection: every answer says `Connection: close` (the SDK's HTTP client
//! then opens a new connection for the next request). Other requests go to the upstream as
//! they came, with `Host` and `Connection` rewritten; its answer comes back byte for byte but
//! for those headers.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

/// Longest a connection may stall (reading the request, or the upstream's answer).
const IO_TIMEOUT: Duration = Duration::from_secs(60);
/// Largest request head or body accepted (a raw transaction is far below).
const MAX_REQUEST_BYTES: usize = 4 * 1024 * 1024;

/// What `GET /fee-estimates` answers.
#[derive(Clone, Debug, PartialEq)]
pub enum FeeAnswer {
    /// `{}`: what a fresh Esplora (or qtumd without fee data) says.
    NoData,
    /// `{"<blocks>": <sat/vB>, …}`, as Esplora answers.
    Rates(Vec<(u16, f64)>),
}

impl FeeAnswer {
    fn json(&self) -> String {
        match self {
            FeeAnswer::NoData => "{}".to_string(),
            FeeAnswer::Rates(rates) => {
                let fields: Vec<String> = rates
                    .iter()
                    .map(|(blocks, rate)| format!("\"{blocks}\":{rate:.1}"))
                    .collect();
                format!("{{{}}}", fields.join(","))
            }
        }
    }
}

struct Setting {
    answer: FeeAnswer,
    /// `/fee-estimates` requests answered so far.
    served: u64,
    /// Other requests forwarded so far, and the time the upstream took to answer them.
    forwarded: u64,
    upstream_time: Duration,
    /// Bodies of every `POST /tx` (a broadcast: the transaction's hex), in order.
    posted: Vec<String>,
    /// How many of the next other `POST`s are forwarded but their answer not returned (the
    /// connection is closed instead, as when a reply is lost on the way).
    swallow_post_replies: u32,
}

/// The running proxy. Stops when dropped (requests in flight are finished first).
pub struct FeeProxy {
    addr: SocketAddr,
    setting: Arc<Mutex<Setting>>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl FeeProxy {
    /// Listen on a free 127.0.0.1 port in front of `upstream_base_url` (`http://host:port`),
    /// answering `{}` to `/fee-estimates` until [`FeeProxy::set`] says otherwise.
    pub fn start(upstream_base_url: &str) -> FeeProxy {
        let upstream = upstream_base_url
            .strip_prefix("http://")
            .expect("an http:// upstream")
            .trim_end_matches('/')
            .to_string();
        assert!(
            !upstream.contains('/'),
            "the upstream must be a bare http://host:port"
        );
        let listener = TcpListener::bind("127.0.0.1:0").expect("proxy binds");
        let addr = listener.local_addr().expect("proxy address");
        let setting = Arc::new(Mutex::new(Setting {
            answer: FeeAnswer::NoData,
            served: 0,
            forwarded: 0,
            upstream_time: Duration::ZERO,
            posted: Vec::new(),
            swallow_post_replies: 0,
        }));
        let stop = Arc::new(AtomicBool::new(false));
        let thread = {
            let setting = Arc::clone(&setting);
            let stop = Arc::clone(&stop);
            std::thread::Builder::new()
                .name("fee-proxy".into())
                .spawn(move || accept_loop(listener, upstream, setting, stop))
                .expect("proxy thread")
        };
        FeeProxy {
            addr,
            setting,
            stop,
            thread: Some(thread),
        }
    }

    /// The base URL to give a node: `http://127.0.0.1:<port>`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Answer `/fee-estimates` with `answer` from now on.
    pub fn set(&self, answer: FeeAnswer) {
        lock(&self.setting).answer = answer;
    }

    /// How many `/fee-estimates` requests were answered so far. A count read after
    /// [`FeeProxy::set`] that is higher than one read before it means a node was given the new
    /// answer.
    pub fn fee_requests(&self) -> u64 {
        lock(&self.setting).served
    }

    /// Forward the next `n` `POST`s (other than broadcasts) but lose their answers.
    pub fn swallow_post_replies(&self, n: u32) {
        lock(&self.setting).swallow_post_replies = n;
    }

    /// Every transaction a node behind the proxy broadcast so far (hex, in order), whatever
    /// the upstream answered.
    pub fn posted_transactions(&self) -> Vec<String> {
        lock(&self.setting).posted.clone()
    }

    /// How many other requests were forwarded so far, and the time the upstream took to
    /// answer them (for progress lines).
    pub fn forwarded(&self) -> (u64, Duration) {
        let s = lock(&self.setting);
        (s.forwarded, s.upstream_time)
    }
}

impl Drop for FeeProxy {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // Wake the blocking accept: the loop then sees `stop` and ends.
        let _ = TcpStream::connect(self.addr);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn lock(setting: &Mutex<Setting>) -> std::sync::MutexGuard<'_, Setting> {
    setting.lock().unwrap_or_else(|p| p.into_inner())
}

fn accept_loop(
    listener: TcpListener,
    upstream: String,
    setting: Arc<Mutex<Setting>>,
    stop: Arc<AtomicBool>,
) {
    let mut handlers: Vec<JoinHandle<()>> = Vec::new();
    loop {
        let accepted = listener.accept();
        if stop.load(Ordering::SeqCst) {
            break;
        }
        match accepted {
            Ok((stream, _)) => {
                let upstream = upstream.clone();
                let setting = Arc::clone(&setting);
                let spawned = std::thread::Builder::new()
                    .name("fee-proxy-conn".into())
                    .spawn(move || {
                        if let Err(e) = serve(stream, &upstream, &setting) {
                            eprintln!("fee proxy: {e}");
                        }
                    });
                match spawned {
                    Ok(h) => handlers.push(h),
                    Err(e) => eprintln!("fee proxy: cannot spawn: {e}"),
                }
                handlers.retain(|h| !h.is_finished());
            }
            Err(e) => {
                eprintln!("fee proxy: accept: {e}");
                std::thread::sleep(Duration::from_millis(50));
            }
        }
    }
    // Every handler ends within IO_TIMEOUT.
    for h in handlers {
        let _ = h.join();
    }
}

/// One request: its head (request line and headers, without the blank line) and body.
struct Request {
    method: String,
    target: String,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

fn read_request(reader: &mut BufReader<TcpStream>) -> std::io::Result<Option<Request>> {
    let bad = |what: &str| std::io::Error::new(std::io::ErrorKind::InvalidData, what.to_string());
    let mut line = String::new();
    if reader.read_line(&mut line)? == 0 {
        return Ok(None); // the client closed without a request
    }
    let mut parts = line.split_whitespace();
    let (Some(method), Some(target), Some(_version)) = (parts.next(), parts.next(), parts.next())
    else {
        return Err(bad("malformed request line"));
    };
    let (method, target) = (method.to_string(), target.to_string());
    let mut headers = Vec::new();
    let mut head_bytes = line.len();
    loop {
        let mut h = String::new();
        let n = reader.read_line(&mut h)?;
        head_bytes += n;
        if n == 0 || head_bytes > MAX_REQUEST_BYTES {
            return Err(bad("request head cut short or too long"));
        }
        let h = h.trim_end_matches(['\r', '\n']);
        if h.is_empty() {
            break;
        }
        let (name, value) = h.split_once(':').ok_or_else(|| bad("malformed header"))?;
        headers.push((name.trim().to_string(), value.trim().to_string()));
    }
    let header = |name: &str| {
        headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.clone())
    };
    if header("transfer-encoding").is_some() {
        return Err(bad("chunked request bodies are not supported"));
    }
    let length: usize = match header("content-length") {
        Some(v) => v.parse().map_err(|_| bad("bad Content-Length"))?,
        None => 0,
    };
    if length > MAX_REQUEST_BYTES {
        return Err(bad("request body too large"));
    }
    let mut body = vec![0u8; length];
    reader.read_exact(&mut body)?;
    Ok(Some(Request {
        method,
        target,
        headers,
        body,
    }))
}

fn is_hop_by_hop(name: &str) -> bool {
    ["connection", "keep-alive", "proxy-connection", "host"]
        .iter()
        .any(|h| name.eq_ignore_ascii_case(h))
}

fn serve(client: TcpStream, upstream: &str, setting: &Mutex<Setting>) -> std::io::Result<()> {
    client.set_read_timeout(Some(IO_TIMEOUT))?;
    client.set_write_timeout(Some(IO_TIMEOUT))?;
    let mut reader = BufReader::new(client.try_clone()?);
    let Some(req) = read_request(&mut reader)? else {
        return Ok(());
    };
    let mut client = client;
    let path = req.target.split('?').next().unwrap_or("");
    let answer = if req.method == "GET" && path == "/fee-estimates" {
        let body = {
            let mut s = lock(setting);
            s.served += 1;
            s.answer.json()
        };
        format!(
            "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\
             Connection: close\r\n\r\n{body}",
            body.len()
        )
        .into_bytes()
    } else {
        if req.method == "POST" && path == "/tx" {
            let body = String::from_utf8_lossy(&req.body).trim().to_string();
            lock(setting).posted.push(body);
        }
        let started = std::time::Instant::now();
        let answer = forward(&req, upstream)?;
        let mut s = lock(setting);
        s.forwarded += 1;
        s.upstream_time += started.elapsed();
        if req.method == "POST" && path != "/tx" && s.swallow_post_replies > 0 {
            s.swallow_post_replies -= 1;
            drop(s);
            let _ = client.shutdown(std::net::Shutdown::Both);
            return Ok(());
        }
        answer
    };
    client.write_all(&answer)?;
    client.flush()?;
    let _ = client.shutdown(std::net::Shutdown::Both);
    Ok(())
}

/// Send `req` to the upstream on a connection of its own and return its answer, with
/// `Connection: close`.
fn forward(req: &Request, upstream: &str) -> std::io::Result<Vec<u8>> {
    let mut up = TcpStream::connect(upstream)?;
    up.set_read_timeout(Some(IO_TIMEOUT))?;
    up.set_write_timeout(Some(IO_TIMEOUT))?;
    let mut head = format!(
        "{} {} HTTP/1.1\r\nHost: {upstream}\r\n",
        req.method, req.target
    );
    for (name, value) in &req.headers {
        if !is_hop_by_hop(name) {
            head.push_str(&format!("{name}: {value}\r\n"));
        }
    }
    head.push_str("Connection: close\r\n\r\n");
    up.write_all(head.as_bytes())?;
    up.write_all(&req.body)?;
    up.flush()?;
    let mut answer = Vec::new();
    up.read_to_end(&mut answer)?;
    let end = answer
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or_else(|| {
            std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                "upstream answer without a complete head",
            )
        })?;
    let head = String::from_utf8_lossy(&answer[..end]).to_string();
    let mut out = String::new();
    for (i, line) in head.split("\r\n").enumerate() {
        let keep = i == 0
            || line
                .split_once(':')
                .is_some_and(|(name, _)| !is_hop_by_hop(name.trim()));
        if keep {
            out.push_str(line);
            out.push_str("\r\n");
        }
    }
    out.push_str("Connection: close\r\n\r\n");
    let mut bytes = out.into_bytes();
    bytes.extend_from_slice(&answer[end + 4..]);
    Ok(bytes)
}

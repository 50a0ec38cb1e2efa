//! A small synchronous HTTP/1.1 server for the project's services (`qtum-esplora`'s REST API,
//! `qtum-lnd`'s node API): a fixed pool of worker threads, a bounded queue of accepted
//! connections, every read and write against a deadline, every size capped, and optional TLS
//! (feature `tls`, rustls on ring).
//!
//! Why hand-written rather than hyper or tiny_http: both services are small JSON APIs that must
//! hold up against clients that trickle bytes, never read, or send oversized or ambiguous heads
//! (request smuggling material); these rules are easier to see and test in a few hundred lines
//! than to configure into a general server, and the services need no async runtime for them.
//!
//! A connection the queue has no room for gets `503` from a separate refuser thread (or is
//! closed when that one is behind too). Only `GET` and `POST` reach the handler; other methods
//! get `405`.

#![deny(missing_docs)]
#![cfg_attr(not(test), deny(clippy::unwrap_used))]

mod conn;
mod stream;

/// The request-head parser on bytes, for the fuzz targets (feature `fuzzing` only).
#[cfg(feature = "fuzzing")]
#[doc(hidden)]
pub use conn::fuzzing;
pub use conn::{Limits, Request, Response, MAX_HEADERS};

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, SyncSender, TrySendError};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use crate::conn::Shared;
use crate::stream::Conn;

/// Connections refused with 503 waiting for their answer at once; more are just closed.
const OVERFLOW_QUEUE: usize = 16;
/// How long a refused connection is given to send its request before it gets its 503.
const OVERFLOW_TIMEOUT: Duration = Duration::from_millis(500);
/// Largest request head read by default: 8 KiB, what common servers allow per line.
pub const DEFAULT_MAX_HEAD_BYTES: usize = 8 * 1024;

/// What answers a request. Runs on a worker thread; may block (a long poll), holding that
/// worker, and should return early once [`HttpServer`] is dropped if it waits long.
pub type Handler = Arc<dyn Fn(&Request) -> Response + Send + Sync>;

/// How to start a server.
#[derive(Clone)]
pub struct ServerConfig {
    /// Where to listen (port 0: any free port).
    pub listen: SocketAddr,
    /// Worker threads; each serves one connection at a time.
    pub threads: usize,
    /// Accepted connections that may wait for a worker; a connection beyond gets 503.
    pub queue: usize,
    /// Size and time limits of each connection.
    pub limits: Limits,
    /// Prefix of the threads' names (`<name>-0`, `<name>-accept`, ...).
    pub name: String,
    /// How the server words its own refusals (oversize 413, malformed 400, slow 408, busy 503,
    /// other methods 405), e.g. as JSON; plain text when `None`.
    pub error_body: Option<fn(u16, &str) -> Response>,
    /// Serve HTTPS with this configuration instead of plain HTTP.
    #[cfg(feature = "tls")]
    pub tls: Option<Arc<rustls::ServerConfig>>,
}

impl std::fmt::Debug for ServerConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut d = f.debug_struct("ServerConfig");
        d.field("listen", &self.listen)
            .field("threads", &self.threads)
            .field("queue", &self.queue)
            .field("limits", &self.limits)
            .field("name", &self.name);
        #[cfg(feature = "tls")]
        d.field("tls", &self.tls.is_some());
        d.finish()
    }
}

impl ServerConfig {
    /// A plain-HTTP configuration: 16 workers, a queue of 64, 8 KiB heads, 1 MB bodies, 10 s to
    /// receive a request, 20 s of keep-alive idling.
    pub fn new(name: impl Into<String>, listen: SocketAddr) -> ServerConfig {
        ServerConfig {
            listen,
            threads: 16,
            queue: 64,
            limits: Limits {
                max_head: DEFAULT_MAX_HEAD_BYTES,
                max_body: 1_000_000,
                request_timeout: Duration::from_secs(10),
                idle_timeout: Duration::from_secs(20),
            },
            name: name.into(),
            error_body: None,
            #[cfg(feature = "tls")]
            tls: None,
        }
    }
}

/// Loads a certificate chain and its private key (PEM files) into a TLS server configuration
/// (TLS 1.2 and 1.3, ring).
#[cfg(feature = "tls")]
pub fn tls_config(
    cert_file: &std::path::Path,
    key_file: &std::path::Path,
) -> Result<Arc<rustls::ServerConfig>, String> {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let certs = CertificateDer::pem_file_iter(cert_file)
        .and_then(|it| it.collect::<Result<Vec<_>, _>>())
        .map_err(|e| {
            format!(
                "cannot read the certificates in {}: {e}",
                cert_file.display()
            )
        })?;
    if certs.is_empty() {
        return Err(format!("no certificate in {}", cert_file.display()));
    }
    // The key file's contents never reach an error text.
    let key = PrivateKeyDer::from_pem_file(key_file)
        .map_err(|_| format!("no usable private key in {}", key_file.display()))?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("TLS setup: {e}"))?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .map_err(|e| format!("the certificate and key do not go together: {e}"))?;
    Ok(Arc::new(config))
}

/// Counts kept while serving.
#[derive(Debug, Default)]
struct Counters {
    busy: AtomicU64,
}

/// A running server; stops when dropped (connections in progress get their answer cut off at
/// the next read or write slice, at most 100 ms later).
pub struct HttpServer {
    addr: SocketAddr,
    shared: Arc<Shared>,
    threads: Vec<JoinHandle<()>>,
    counters: Arc<Counters>,
}

impl std::fmt::Debug for HttpServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HttpServer")
            .field("addr", &self.addr)
            .finish()
    }
}

fn spawn(name: String, f: impl FnOnce() + Send + 'static) -> Result<JoinHandle<()>, String> {
    std::thread::Builder::new()
        .name(name)
        .spawn(f)
        .map_err(|e| format!("cannot start a thread: {e}"))
}

/// Hands accepted connections to the workers; a connection the queue has no room for goes to
/// the refuser (503), or is closed when the refuser is busy too.
fn accept_loop(
    listener: TcpListener,
    queue: SyncSender<TcpStream>,
    overflow: SyncSender<TcpStream>,
    shared: Arc<Shared>,
    counters: Arc<Counters>,
) {
    for stream in listener.incoming() {
        if shared.stop.load(Ordering::SeqCst) {
            break;
        }
        let stream = match stream {
            Ok(s) => s,
            Err(e) => {
                // Out of file descriptors, most likely: let connections finish.
                log::warn!("accept failed: {e}");
                std::thread::sleep(Duration::from_millis(50));
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        shared.waiting.fetch_add(1, Ordering::SeqCst);
        match queue.try_send(stream) {
            Ok(()) => {}
            Err(TrySendError::Full(stream)) => {
                shared.waiting.fetch_sub(1, Ordering::SeqCst);
                counters.busy.fetch_add(1, Ordering::Relaxed);
                // Dropped (closed) when the refuser is behind as well.
                let _ = overflow.try_send(stream);
            }
            Err(TrySendError::Disconnected(_)) => break,
        }
    }
}

/// Wraps an accepted socket as the server serves it (TLS when configured).
#[derive(Clone)]
struct Wrap {
    #[cfg(feature = "tls")]
    tls: Option<Arc<rustls::ServerConfig>>,
}

impl Wrap {
    fn conn(&self, stream: TcpStream) -> Option<Conn> {
        #[cfg(feature = "tls")]
        if let Some(config) = &self.tls {
            let tls = rustls::ServerConnection::new(Arc::clone(config)).ok()?;
            return Some(Conn::Tls(Box::new(stream::TlsConn::new(tls, stream))));
        }
        Some(Conn::Plain(stream))
    }
}

fn worker_loop(
    queue: Arc<Mutex<Receiver<TcpStream>>>,
    handler: Handler,
    limits: Limits,
    shared: Arc<Shared>,
    wrap: Wrap,
) {
    loop {
        let next = {
            let queue = queue.lock().unwrap_or_else(|p| p.into_inner());
            queue.recv_timeout(Duration::from_millis(100))
        };
        match next {
            Ok(stream) => {
                shared.waiting.fetch_sub(1, Ordering::SeqCst);
                if let Some(conn) = wrap.conn(stream) {
                    conn::serve(conn, &limits, &shared, &*handler);
                }
            }
            Err(RecvTimeoutError::Timeout) if !shared.stop.load(Ordering::SeqCst) => {}
            Err(_) => return,
        }
    }
}

fn refuse_loop(overflow: Receiver<TcpStream>, shared: Arc<Shared>, wrap: Wrap) {
    let busy = || shared.reword(Response::text(503, "Server busy, try again"));
    loop {
        match overflow.recv_timeout(Duration::from_millis(100)) {
            Ok(stream) => {
                let Some(mut conn) = wrap.conn(stream) else {
                    continue;
                };
                let deadline = std::time::Instant::now() + OVERFLOW_TIMEOUT;
                if conn.handshake(deadline, &shared.stop).is_err() {
                    continue;
                }
                // Read the request (as far as it came) so the answer is not lost to a reset.
                let mut head = [0u8; DEFAULT_MAX_HEAD_BYTES];
                let _ = conn.tcp().set_read_timeout(Some(OVERFLOW_TIMEOUT));
                let _ = std::io::Read::read(&mut conn, &mut head);
                conn::answer_and_close(conn, &busy(), OVERFLOW_TIMEOUT, &shared);
            }
            Err(RecvTimeoutError::Timeout) if !shared.stop.load(Ordering::SeqCst) => {}
            Err(_) => return,
        }
    }
}

impl HttpServer {
    /// Binds `config.listen` and starts serving with `handler`.
    pub fn start(config: ServerConfig, handler: Handler) -> Result<HttpServer, String> {
        let listener = TcpListener::bind(config.listen)
            .map_err(|e| format!("cannot listen on {}: {e}", config.listen))?;
        let addr = listener
            .local_addr()
            .map_err(|e| format!("cannot listen on {}: {e}", config.listen))?;
        let shared = Arc::new(Shared {
            error_body: config.error_body,
            ..Shared::default()
        });
        let counters = Arc::new(Counters::default());
        let wrap = Wrap {
            #[cfg(feature = "tls")]
            tls: config.tls.clone(),
        };
        let (queue_tx, queue_rx) = mpsc::sync_channel(config.queue.max(1));
        let queue_rx = Arc::new(Mutex::new(queue_rx));
        let (overflow_tx, overflow_rx) = mpsc::sync_channel(OVERFLOW_QUEUE);
        let mut server = HttpServer {
            addr,
            shared: Arc::clone(&shared),
            threads: Vec::new(),
            counters: Arc::clone(&counters),
        };
        // From here on a failure drops `server`, which stops what was started.
        for i in 0..config.threads.max(1) {
            let (queue, handler, limits, shared, wrap) = (
                Arc::clone(&queue_rx),
                Arc::clone(&handler),
                config.limits.clone(),
                Arc::clone(&shared),
                wrap.clone(),
            );
            server
                .threads
                .push(spawn(format!("{}-{i}", config.name), move || {
                    worker_loop(queue, handler, limits, shared, wrap)
                })?);
        }
        {
            let (shared, wrap) = (Arc::clone(&shared), wrap.clone());
            server
                .threads
                .push(spawn(format!("{}-busy", config.name), move || {
                    refuse_loop(overflow_rx, shared, wrap)
                })?);
        }
        {
            let (shared, counters) = (Arc::clone(&shared), Arc::clone(&counters));
            server
                .threads
                .push(spawn(format!("{}-accept", config.name), move || {
                    accept_loop(listener, queue_tx, overflow_tx, shared, counters)
                })?);
        }
        Ok(server)
    }

    /// The address served.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Whether the server was asked to stop (for handlers that wait long).
    pub fn stopping(&self) -> bool {
        self.shared.stop.load(Ordering::SeqCst)
    }

    /// Connections refused because every worker was busy and the queue was full.
    pub fn refused_busy(&self) -> u64 {
        self.counters.busy.load(Ordering::Relaxed)
    }

    /// Blocks until the server stops (for a binary: it never does on its own).
    pub fn wait(mut self) {
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }
}

impl Drop for HttpServer {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::SeqCst);
        // Wake the acceptor, blocked in accept(), with a connection of our own.
        let ip = match self.addr.ip() {
            IpAddr::V4(ip) if ip.is_unspecified() => IpAddr::V4(Ipv4Addr::LOCALHOST),
            IpAddr::V6(ip) if ip.is_unspecified() => IpAddr::V6(Ipv6Addr::LOCALHOST),
            ip => ip,
        };
        let _ = TcpStream::connect_timeout(
            &SocketAddr::new(ip, self.addr.port()),
            Duration::from_secs(1),
        );
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }
}

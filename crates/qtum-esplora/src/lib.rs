//! An Esplora-style REST server for Qtum over a qtumd JSON-RPC backend with `-addrindex`.
//!
//! No Esplora exists for Qtum; this serves the subset of Blockstream's Esplora API that the SDK
//! and `bdk_esplora`-style clients use, with Esplora's JSON shapes and status codes:
//!
//! | route | answer |
//! |---|---|
//! | `GET /blocks/tip/height`, `/blocks/tip/hash` | text |
//! | `GET /block-height/:h` | text hash, 404 above the tip |
//! | `GET /block/:hash` | block JSON |
//! | `GET /block/:hash/header` | raw **Qtum** header, hex text (181+ bytes, not 80) |
//! | `GET /block/:hash/raw` | raw block, bytes |
//! | `GET /block/:hash/status`, `/block/:hash/txids`, `/block/:hash/txid/:i` | JSON / JSON / text |
//! | `GET /tx/:txid`, `/tx/:txid/hex`, `/tx/:txid/raw`, `/tx/:txid/status` | JSON / hex / bytes / JSON |
//! | `GET /tx/:txid/merkle-proof` | `{block_height, merkle, pos}` |
//! | `GET /tx/:txid/outspend/:vout`, `/tx/:txid/outspends` | JSON |
//! | `GET /scripthash/:hash/txs[/chain/:last_txid]`, `/txs/mempool` | JSON, 50 mempool + 25 confirmed, then pages of 25 |
//! | `GET /scripthash/:hash/utxo` | JSON, at most [`ServerConfig::max_utxos`] (500): 400 beyond |
//! | `GET /fee-estimates` | `{"<blocks>": sat/vB}` (empty when qtumd has no data) |
//! | `POST /tx` | body: tx hex; answer: txid, or 400 with qtumd's reason |
//!
//! 400 for malformed input, 404 for unknown objects, 503 when qtumd does not answer (or refuses
//! the login, or is warming up), 502 when it answers something unreadable, 500 for anything else
//! that fails on the server's side (the index database included). Error answers carry our own short texts only:
//! what qtumd or the database said is logged (`log` crate, `warn`), never sent, with one
//! exception Esplora clients rely on: the reason qtumd refused a broadcast transaction
//! (`sendrawtransaction RPC error: {"code":-26,"message":"dust"}`, printable ASCII, at most 200
//! characters, for qtumd's rejection codes -22, -25, -26 and -27 only).
//!
//! # Limits (fit for a public deployment)
//!
//! The HTTP/1.1 front is the crate's own (std networking, no runtime): a fixed pool of
//! [`ServerConfig::threads`] workers (16) takes accepted connections from a queue of
//! [`ServerConfig::queue`] (64); a connection that finds the queue full is answered
//! `503 Service Unavailable` with `Retry-After: 1` by one refusing thread, or just closed when
//! that one is behind too. No thread is ever started per connection.
//!
//! | limit | value | beyond it |
//! |---|---|---|
//! | request head (request line and header fields) | [`MAX_HEAD_BYTES`], 8 KiB, 64 fields | 431 |
//! | request body (`POST /tx`) | [`MAX_BODY_BYTES`], 1 MB, `Content-Length` only | 413 (411 for chunked) |
//! | time to receive a request | [`ServerConfig::request_timeout`], 10 s | 408 and the connection is closed |
//! | time to send an answer | the request timeout plus 1 s per 32 KiB | the connection is closed |
//! | keep-alive idle time | [`ServerConfig::idle_timeout`], 20 s; at once when another connection waits | closed |
//! | unspent outputs listed | [`ServerConfig::max_utxos`], 500 | 400 `Too many unspent outputs …` |
//!
//! A client trickling bytes (slowloris) holds a worker for at most the request timeout; the
//! workers read in 100 ms slices, so stopping the server never waits for a client.
//! Connection-level floods from many addresses still exhaust any fixed pool: put a reverse proxy
//! with per-address limits in front of a public server.
//!
//! # Script index and mempool
//!
//! A script hash (sha256 of the script, as Esplora defines it) cannot be turned back into the
//! script the address index needs, so the server learns every output script it meets: a
//! background indexer reads each block once (caught up again before every script-hash
//! query). It keeps only `hash → script`; the history itself comes from `getaddresstxids` /
//! `getaddressutxos` / `getspentinfo`.
//!
//! The index lives in SQLite. With [`ServerConfig::data_dir`] (the binary's `--data-dir`, by
//! default `~/.qtum-esplora`) it is the file `<data_dir>/<chain>/index.sqlite`, locked by the
//! running server, and holds with the scripts the index state: the hashes of the last 1,000
//! blocks read, the highest being the index's tip. A restart resumes after that tip; if the
//! tip left the best chain while the server was down (a reorganisation), blocks are dropped from
//! the top until the tip is a best-chain block again and reading goes on from there (a
//! reorganisation deeper than 1,000 blocks reads the chain again from genesis). A database of
//! another chain (different genesis block) or of a newer layout is refused at start. Without a
//! data directory the index is an in-memory database, read from genesis on every start.
//!
//! Mempool transactions are not read per request: a view of the mempool, indexed by the scripts
//! each transaction pays to or spends from, is reused for at most
//! [`ServerConfig::mempool_refresh`] (1 s), and read again sooner when the best block changes or
//! after a broadcast through this server; a refresh fetches only transactions it has not seen.

#![deny(missing_docs)]
#![cfg_attr(not(test), deny(clippy::unwrap_used))]

mod index;
mod mempool;
mod routes;

/// The HTTP request-head parser on bytes, for the fuzz targets (feature `fuzzing` only).
#[cfg(feature = "fuzzing")]
#[doc(hidden)]
pub use qtum_http::fuzzing as http_fuzzing;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use qtum_chain::{RpcAuth, RpcClient};
use qtum_http::{HttpServer, Limits, ServerConfig as HttpConfig};

use crate::routes::{Backend, BackendConfig};

/// Largest request head (request line and header fields) read: 8 KiB, what common servers
/// allow per line; every request of this API fits in a few hundred bytes.
pub const MAX_HEAD_BYTES: usize = 8 * 1024;
/// Largest request body read (`POST /tx`): qtumd relays transactions of at most 400,000 weight
/// units, at most 400 kB, 800 kB of hex; 1 MB leaves room for whitespace.
pub const MAX_BODY_BYTES: usize = 1_000_000;

/// How to start the server.
///
/// | field | default | |
/// |---|---|---|
/// | `threads` | 16 | workers; each serves one connection at a time |
/// | `queue` | 64 | accepted connections waiting for a worker; beyond, 503 |
/// | `request_timeout` | 10 s | to receive a whole request (head and body); to send an answer, plus 1 s per 32 KiB |
/// | `idle_timeout` | 20 s | a keep-alive connection's wait for its next request |
/// | `data_dir` | none: in memory | where the script index is kept |
/// | `mempool_refresh` | 1 s | longest a mempool view is reused |
/// | `max_utxos` | 500 | longest `/scripthash/:hash/utxo` list |
/// | `rpc_timeout` | 30 s | per RPC call to qtumd |
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// qtumd's RPC URL.
    pub rpc_url: String,
    /// RPC credentials (user/password or cookie file).
    pub rpc_auth: RpcAuth,
    /// Where to listen, e.g. `127.0.0.1:3002` (port 0: any free port).
    pub listen: SocketAddr,
    /// Worker threads; each serves one connection at a time.
    pub threads: usize,
    /// Accepted connections that may wait for a worker; a connection beyond gets 503.
    pub queue: usize,
    /// Time to receive a whole request once a worker starts on it (and to send its answer).
    pub request_timeout: Duration,
    /// Time a keep-alive connection may wait for its next request while no other connection
    /// waits for a worker.
    pub idle_timeout: Duration,
    /// Directory of the script index (`<data_dir>/<chain>/index.sqlite`); `None` keeps it in
    /// memory, to be read again from genesis on every start.
    pub data_dir: Option<PathBuf>,
    /// Longest time a read of the mempool is reused for `/scripthash` answers (it is read again
    /// sooner when the best block changes or after a broadcast through this server).
    pub mempool_refresh: Duration,
    /// Most unspent outputs `/scripthash/:hash/utxo` lists; a script with more gets 400.
    pub max_utxos: usize,
    /// Timeout of each RPC call to qtumd.
    pub rpc_timeout: Duration,
}

impl ServerConfig {
    /// A configuration with the defaults above.
    pub fn new(rpc_url: impl Into<String>, rpc_auth: RpcAuth, listen: SocketAddr) -> ServerConfig {
        ServerConfig {
            rpc_url: rpc_url.into(),
            rpc_auth,
            listen,
            threads: 16,
            queue: 64,
            request_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(20),
            data_dir: None,
            mempool_refresh: Duration::from_secs(1),
            max_utxos: 500,
            rpc_timeout: Duration::from_secs(30),
        }
    }
}

/// A running server; stops when dropped.
pub struct EsploraServer {
    http: Option<HttpServer>,
    stop: Arc<AtomicBool>,
    indexer: Option<JoinHandle<()>>,
    backend: Arc<Backend>,
}

impl std::fmt::Debug for EsploraServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EsploraServer")
            .field("addr", &self.addr())
            .finish()
    }
}

impl EsploraServer {
    /// Binds `config.listen`, asks qtumd which network it runs, opens the script index and
    /// starts serving.
    pub fn start(config: ServerConfig) -> Result<EsploraServer, String> {
        let rpc = RpcClient::new(
            config.rpc_url.clone(),
            config.rpc_auth.clone(),
            config.rpc_timeout,
        );
        let backend = Arc::new(Backend::new(
            rpc,
            &BackendConfig {
                data_dir: config.data_dir.clone(),
                mempool_refresh: config.mempool_refresh,
                max_utxos: config.max_utxos,
            },
        )?);
        let mut http_config = HttpConfig::new("qtum-esplora", config.listen);
        http_config.threads = config.threads;
        http_config.queue = config.queue;
        http_config.limits = Limits {
            max_head: MAX_HEAD_BYTES,
            max_body: MAX_BODY_BYTES,
            request_timeout: config.request_timeout,
            idle_timeout: config.idle_timeout,
        };
        let answering = Arc::clone(&backend);
        let http = HttpServer::start(
            http_config,
            Arc::new(move |request| routes::answer(&answering, request)),
        )?;
        let stop = Arc::new(AtomicBool::new(false));
        let indexer = {
            let (backend, stop) = (Arc::clone(&backend), Arc::clone(&stop));
            std::thread::Builder::new()
                .name("qtum-esplora-index".into())
                .spawn(move || {
                    while !stop.load(Ordering::SeqCst) {
                        if let Err(e) = backend.catch_up() {
                            log::warn!("script index: {e}");
                        }
                        for _ in 0..5 {
                            if stop.load(Ordering::SeqCst) {
                                return;
                            }
                            std::thread::sleep(Duration::from_millis(100));
                        }
                    }
                })
                .map_err(|e| format!("cannot start a thread: {e}"))?
        };
        log::info!("qtum-esplora listening on http://{}", http.addr());
        Ok(EsploraServer {
            http: Some(http),
            stop,
            indexer: Some(indexer),
            backend,
        })
    }

    /// The address served.
    pub fn addr(&self) -> SocketAddr {
        match &self.http {
            Some(http) => http.addr(),
            None => SocketAddr::from(([0, 0, 0, 0], 0)),
        }
    }

    /// The base URL for clients, `http://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr())
    }

    /// RPC requests made to qtumd so far.
    pub fn backend_requests(&self) -> u64 {
        self.backend.requests_made()
    }

    /// Blocks this server read into its script index since it started (a restart on a data
    /// directory reads only the blocks mined while it was stopped).
    pub fn blocks_indexed(&self) -> u64 {
        self.backend.blocks_indexed()
    }

    /// Times this server read qtumd's mempool.
    pub fn mempool_reads(&self) -> u64 {
        self.backend.mempool_reads()
    }

    /// Connections refused because every worker was busy and the queue was full.
    pub fn refused_busy(&self) -> u64 {
        self.http.as_ref().map_or(0, HttpServer::refused_busy)
    }

    /// Blocks until the server stops (for the binary: it never does on its own).
    pub fn wait(mut self) {
        if let Some(http) = self.http.take() {
            http.wait();
        }
    }
}

impl Drop for EsploraServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        drop(self.http.take());
        if let Some(indexer) = self.indexer.take() {
            let _ = indexer.join();
        }
    }
}

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
//! | `GET /scripthash/:hash/txs[/chain/:last_txid]`, `/txs/mempool`, `/utxo` | JSON |
//! | `GET /fee-estimates` | `{"<blocks>": sat/vB}` (empty when qtumd has no data) |
//! | `POST /tx` | body: tx hex; answer: txid, or 400 with qtumd's reason |
//!
//! 400 for malformed input, 404 for unknown objects, 503 when qtumd does not answer.
//!
//! A script hash (sha256 of the script, as Esplora defines it) cannot be turned back into the
//! script the address index needs, so the server learns every output script it meets: a
//! background indexer reads each block once (caught up again before every script-hash
//! query) and the mempool is read at query time. It keeps only `hash → script`; the history
//! itself comes from `getaddresstxids` / `getaddressutxos` / `getspentinfo`.

#![deny(missing_docs)]
#![cfg_attr(not(test), deny(clippy::unwrap_used))]

mod index;
mod routes;

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use qtum_chain::{RpcAuth, RpcClient};

pub use routes::Backend;

/// How to start the server.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// qtumd's RPC URL.
    pub rpc_url: String,
    /// RPC credentials (user/password or cookie file).
    pub rpc_auth: RpcAuth,
    /// Where to listen, e.g. `127.0.0.1:3002` (port 0: any free port).
    pub listen: SocketAddr,
    /// Worker threads answering requests.
    pub threads: usize,
    /// Timeout of each RPC call to qtumd.
    pub rpc_timeout: Duration,
}

impl ServerConfig {
    /// A configuration with 4 threads and a 30 s RPC timeout.
    pub fn new(rpc_url: impl Into<String>, rpc_auth: RpcAuth, listen: SocketAddr) -> ServerConfig {
        ServerConfig {
            rpc_url: rpc_url.into(),
            rpc_auth,
            listen,
            threads: 4,
            rpc_timeout: Duration::from_secs(30),
        }
    }
}

/// A running server; stops when dropped.
pub struct EsploraServer {
    addr: SocketAddr,
    server: Arc<tiny_http::Server>,
    stop: Arc<AtomicBool>,
    threads: Vec<JoinHandle<()>>,
    backend: Arc<Backend>,
}

impl std::fmt::Debug for EsploraServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EsploraServer")
            .field("addr", &self.addr)
            .finish()
    }
}

impl EsploraServer {
    /// Binds `config.listen`, asks qtumd which network it runs, and starts serving.
    pub fn start(config: ServerConfig) -> Result<EsploraServer, String> {
        let rpc = RpcClient::new(
            config.rpc_url.clone(),
            config.rpc_auth.clone(),
            config.rpc_timeout,
        );
        let backend = Arc::new(Backend::new(rpc).map_err(|e| format!("qtumd backend: {e}"))?);
        let server = tiny_http::Server::http(config.listen)
            .map_err(|e| format!("cannot listen on {}: {e}", config.listen))?;
        let addr = server
            .server_addr()
            .to_ip()
            .ok_or_else(|| "listening on a non-IP socket".to_string())?;
        let server = Arc::new(server);
        let stop = Arc::new(AtomicBool::new(false));
        let mut threads = Vec::new();
        for i in 0..config.threads.max(1) {
            let server = Arc::clone(&server);
            let backend = Arc::clone(&backend);
            let stop = Arc::clone(&stop);
            let t = std::thread::Builder::new()
                .name(format!("qtum-esplora-{i}"))
                .spawn(move || {
                    while !stop.load(Ordering::SeqCst) {
                        match server.recv_timeout(Duration::from_millis(100)) {
                            Ok(Some(request)) => routes::handle(&backend, request),
                            Ok(None) => {}
                            Err(e) => log::warn!("accept error: {e}"),
                        }
                    }
                })
                .map_err(|e| e.to_string())?;
            threads.push(t);
        }
        let indexer = {
            let backend = Arc::clone(&backend);
            let stop = Arc::clone(&stop);
            std::thread::Builder::new()
                .name("qtum-esplora-index".into())
                .spawn(move || {
                    while !stop.load(Ordering::SeqCst) {
                        if let Err(e) = backend.catch_up() {
                            log::warn!("script index: {e}");
                        }
                        std::thread::sleep(Duration::from_millis(500));
                    }
                })
                .map_err(|e| e.to_string())?
        };
        threads.push(indexer);
        log::info!("qtum-esplora listening on http://{addr}");
        Ok(EsploraServer {
            addr,
            server,
            stop,
            threads,
            backend,
        })
    }

    /// The address served.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The base URL for clients, `http://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// RPC requests made to qtumd so far.
    pub fn backend_requests(&self) -> u64 {
        self.backend.requests_made()
    }

    /// Blocks until the server stops (for the binary: it never does on its own).
    pub fn wait(mut self) {
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }
}

impl Drop for EsploraServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        self.server.unblock();
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }
}

//! [`RegtestNode`]: the harness in-process, serving JSON-RPC over HTTP/1.1 with basic auth on
//! 127.0.0.1, plus direct Rust methods for tests (mine, fund, reorg).

use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};
use std::io::Read;
use std::net::TcpListener;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::Duration;

use bitcoin::{BlockHash, OutPoint, Script, ScriptBuf, Transaction, Txid};

use crate::chain::{AcceptOptions, BlockReject, ChainState};
use crate::rpc::{self, NodeState};
use crate::validation::TxReject;
use crate::wallet::FundError;
use qtum_primitives::QtumBlock;

/// Largest request body the server reads (a block of 2,000 transactions fits comfortably).
const MAX_BODY_BYTES: u64 = 64 * 1024 * 1024;

/// How to start a node.
///
/// | field | default |
/// |---|---|
/// | `port` | 0: a free port chosen by the OS |
/// | `user` | `"qtum"` |
/// | `password` | 32 random hex digits |
/// | `datadir` | `None`: the chain lives in memory only |
/// | `without_addrindex` | `false`: the `-addrindex` calls answer |
#[derive(Clone, Debug, Default)]
pub struct NodeConfig {
    /// TCP port on 127.0.0.1 (0 = any free port).
    pub port: u16,
    /// RPC user name.
    pub user: Option<String>,
    /// RPC password.
    pub password: Option<String>,
    /// Keep the chain and mempool in this directory (created if missing) and resume from it
    /// on the next start; see [`crate::store`].
    pub datadir: Option<std::path::PathBuf>,
    /// Run as qtumd without `-addrindex` (the index calls answer as qtumd then does).
    pub without_addrindex: bool,
    /// Publish `rawblock` notifications here, as qtumd's `-zmqpubrawblock` (port 0: any).
    pub zmq_pub_raw_block: Option<std::net::SocketAddr>,
    /// Publish `rawtx` notifications here, as `-zmqpubrawtx` (the same address as blocks: one
    /// socket for both).
    pub zmq_pub_raw_tx: Option<std::net::SocketAddr>,
}

/// Failure to start a node.
#[derive(Debug)]
pub enum StartError {
    /// The port could not be bound.
    Bind(std::io::Error),
    /// The HTTP server could not start.
    Http(String),
    /// The data directory cannot be used (foreign, corrupt, locked or unreadable).
    Datadir(crate::store::StoreError),
}

impl std::fmt::Display for StartError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            StartError::Bind(e) => write!(f, "cannot bind 127.0.0.1: {e}"),
            StartError::Http(e) => write!(f, "cannot start the HTTP server: {e}"),
            StartError::Datadir(e) => write!(f, "cannot use the data directory: {e}"),
        }
    }
}

impl std::error::Error for StartError {}

/// Failure of a direct call on a running node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NodeError {
    /// A block could not be mined or found, or a reorg step failed.
    Block(String),
    /// A transaction was refused (qtumd's reason inside).
    Rejected(TxReject),
    /// The wallet could not pay.
    Fund(String),
    /// The data directory could not be written.
    Datadir(String),
}

impl std::fmt::Display for NodeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            NodeError::Block(e) => write!(f, "block error: {e}"),
            NodeError::Rejected(r) => write!(f, "transaction rejected: {r}"),
            NodeError::Fund(e) => write!(f, "funding failed: {e}"),
            NodeError::Datadir(e) => write!(f, "data directory: {e}"),
        }
    }
}

impl std::error::Error for NodeError {}

impl From<BlockReject> for NodeError {
    fn from(e: BlockReject) -> Self {
        NodeError::Block(e.0)
    }
}

/// A running Qtum regtest node. Stops (and frees its port) when dropped.
pub struct RegtestNode {
    url: String,
    port: u16,
    user: String,
    password: String,
    state: Arc<Mutex<NodeState>>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
    feed: Option<crate::notify::Feed>,
}

impl std::fmt::Debug for RegtestNode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RegtestNode")
            .field("url", &self.url)
            .field("user", &self.user)
            .finish()
    }
}

fn random_hex(bytes: usize) -> String {
    // RandomState is seeded from the OS per process and per instance: enough for a local
    // test password without another dependency.
    let mut out = String::new();
    while out.len() < bytes * 2 {
        let mut h = RandomState::new().build_hasher();
        h.write_usize(out.len());
        out.push_str(&format!("{:016x}", h.finish()));
    }
    out.truncate(bytes * 2);
    out
}

/// The `Authorization` header value HTTP basic auth sends for `user:password` (for clients
/// of the harness, e.g. tests that talk to its RPC with a raw HTTP client).
pub fn basic_auth_header(user: &str, password: &str) -> String {
    format!("Basic {}", base64(format!("{user}:{password}").as_bytes()))
}

fn base64(data: &[u8]) -> String {
    const T: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut s = String::with_capacity(data.len().div_ceil(3) * 4);
    for chunk in data.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        s.push(T[(n >> 18) as usize & 63] as char);
        s.push(T[(n >> 12) as usize & 63] as char);
        s.push(if chunk.len() > 1 {
            T[(n >> 6) as usize & 63] as char
        } else {
            '='
        });
        s.push(if chunk.len() > 2 {
            T[n as usize & 63] as char
        } else {
            '='
        });
    }
    s
}

/// A listener on 127.0.0.1:`port` (0: any free port) whose connections send without delay
/// (TCP_NODELAY, inherited by accepted sockets on Linux): tiny_http writes a response in several
/// writes, and with Nagle's algorithm the last one waited for the client's delayed
/// acknowledgement. Public for tests' own tiny_http servers (proxies in front of the node).
pub fn nodelay_listener(port: u16) -> std::io::Result<TcpListener> {
    use socket2::{Domain, Protocol, Socket, Type};
    let socket = Socket::new(Domain::IPV4, Type::STREAM, Some(Protocol::TCP))?;
    socket.set_tcp_nodelay(true)?;
    // A restarted harness (same --datadir and port) binds at once, as qtumd does.
    socket.set_reuse_address(true)?;
    let addr = std::net::SocketAddr::from(([127, 0, 0, 1], port));
    socket.bind(&addr.into())?;
    socket.listen(128)?;
    Ok(socket.into())
}

impl RegtestNode {
    /// Start a node on a free 127.0.0.1 port with generated credentials.
    pub fn start() -> Result<Self, StartError> {
        Self::start_with(NodeConfig::default())
    }

    /// Start a node with a configuration.
    pub fn start_with(config: NodeConfig) -> Result<Self, StartError> {
        let mut node_state = match &config.datadir {
            Some(dir) => NodeState::open(dir).map_err(StartError::Datadir)?,
            None => NodeState::new(),
        };
        node_state.addrindex = !config.without_addrindex;
        let listener = nodelay_listener(config.port).map_err(StartError::Bind)?;
        let port = listener.local_addr().map_err(StartError::Bind)?.port();
        let server = tiny_http::Server::from_listener(listener, None)
            .map_err(|e| StartError::Http(e.to_string()))?;
        let user = config.user.unwrap_or_else(|| "qtum".to_string());
        let password = config.password.unwrap_or_else(|| random_hex(16));
        let expected_auth = basic_auth_header(&user, &password);
        let state = Arc::new(Mutex::new(node_state));
        let stop = Arc::new(AtomicBool::new(false));
        let thread = {
            let state = Arc::clone(&state);
            let stop = Arc::clone(&stop);
            std::thread::Builder::new()
                .name("qtum-regtest-rpc".into())
                .spawn(move || serve(server, state, stop, expected_auth))
                .map_err(|e| StartError::Http(e.to_string()))?
        };
        let feed = crate::notify::start(
            Arc::clone(&state),
            config.zmq_pub_raw_block,
            config.zmq_pub_raw_tx,
            Arc::clone(&stop),
        );
        let feed = match feed {
            Ok(feed) => feed,
            Err(e) => {
                stop.store(true, Ordering::SeqCst);
                let _ = thread.join();
                return Err(StartError::Http(e));
            }
        };
        Ok(RegtestNode {
            url: format!("http://127.0.0.1:{port}"),
            port,
            user,
            password,
            state,
            stop,
            thread: Some(thread),
            feed,
        })
    }

    /// The RPC URL, `http://127.0.0.1:<port>`.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The `rawblock` ZMQ endpoint (`tcp://127.0.0.1:port`), when configured.
    pub fn zmq_block_endpoint(&self) -> Option<&str> {
        self.feed.as_ref().and_then(|f| f.block_endpoint.as_deref())
    }

    /// The `rawtx` ZMQ endpoint, when configured.
    pub fn zmq_tx_endpoint(&self) -> Option<&str> {
        self.feed.as_ref().and_then(|f| f.tx_endpoint.as_deref())
    }

    /// The RPC port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The RPC user.
    pub fn rpc_user(&self) -> &str {
        &self.user
    }

    /// The RPC password.
    pub fn rpc_password(&self) -> &str {
        &self.password
    }

    fn lock(&self) -> MutexGuard<'_, NodeState> {
        // See rpc::parse_and_call: state changes are all-or-nothing, a poisoned lock is usable.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// How many `method` calls the node has answered (batched calls count one each).
    pub fn calls(&self, method: &str) -> u64 {
        self.lock().calls.get(method).copied().unwrap_or(0)
    }

    /// Read the chain state.
    pub fn with_chain<R>(&self, f: impl FnOnce(&ChainState) -> R) -> R {
        f(&self.lock().chain)
    }

    /// Height of the tip.
    pub fn height(&self) -> u32 {
        self.lock().chain.height()
    }

    /// Hash of the tip.
    pub fn tip_hash(&self) -> BlockHash {
        self.lock().chain.tip_hash()
    }

    /// Mine `n` blocks paying `address_script`, with mempool transactions.
    pub fn mine_blocks(
        &self,
        n: u32,
        address_script: &Script,
    ) -> Result<Vec<BlockHash>, NodeError> {
        let mut g = self.lock();
        let script = address_script.to_owned();
        let r = (0..n)
            .map(|_| g.chain.mine_block(&script, None).map_err(NodeError::from))
            .collect();
        synced(&mut g, r)
    }

    /// Pay `amount_sat` to `script` from the harness wallet (mining 2,001 blocks to it first if
    /// it has no mature coin). The payment waits in the mempool; returns its output.
    pub fn fund_address(&self, script: &Script, amount_sat: u64) -> Result<OutPoint, NodeError> {
        let mut g = self.lock();
        let NodeState { chain, wallet, .. } = &mut *g;
        let r = wallet
            .ensure_mature_coin(chain)
            .map_err(NodeError::from)
            .and_then(|()| {
                wallet
                    .pay(chain, &script.to_owned(), amount_sat)
                    .map_err(|e| match e {
                        FundError::Rejected(r) => NodeError::Rejected(r),
                        other => NodeError::Fund(other.to_string()),
                    })
            });
        synced(&mut g, r)
    }

    /// The harness wallet's script (its coinbases and change go there).
    pub fn wallet_script(&self) -> ScriptBuf {
        self.lock().wallet.script_pubkey().clone()
    }

    /// Submit a transaction to the mempool (as `sendrawtransaction`, without the max-fee cap).
    pub fn send_transaction(&self, tx: &Transaction) -> Result<Txid, NodeError> {
        let mut g = self.lock();
        let r = g
            .chain
            .submit_to_mempool(tx, AcceptOptions::default())
            .map(|a| a.txid)
            .map_err(NodeError::Rejected);
        synced(&mut g, r)
    }

    /// Check a transaction against the mempool without adding it (as `testmempoolaccept`).
    pub fn test_transaction(&self, tx: &Transaction) -> Result<Txid, NodeError> {
        let opts = AcceptOptions {
            test_only: true,
            ..Default::default()
        };
        self.lock()
            .chain
            .accept_to_mempool(tx, opts)
            .map(|a| a.txid)
            .map_err(NodeError::Rejected)
    }

    /// Every transaction this node refused when it was submitted (`sendrawtransaction`,
    /// [`RegtestNode::send_transaction`], [`RegtestNode::fund_address`]), in order of first
    /// refusal, each (txid, reason) pair once however often it was sent again: the txid and
    /// qtumd's message, i.e. the reject reason (`dust`, `min relay fee not met`,
    /// `txn-mempool-conflict`, `bad-txns-inputs-missingorspent`, …) followed by `, ` and debug
    /// text when qtumd adds some (`min relay fee not met, 56399 < 56400`). A transaction
    /// already confirmed is recorded as `txn-already-known`. `testmempoolaccept`,
    /// [`RegtestNode::test_transaction`] and the re-validation of transactions after a
    /// reorganisation record nothing. In memory only: a restart with a data directory starts
    /// an empty record.
    pub fn refused_transactions(&self) -> Vec<(Txid, String)> {
        self.lock().chain.refused_transactions().to_vec()
    }

    /// `submitblock` for a block built on the tip (by another harness, say: two harnesses
    /// share a chain only by passing blocks, as their mined blocks carry each one's clock).
    pub fn submit_block(&self, block: QtumBlock) -> Result<BlockHash, NodeError> {
        let mut g = self.lock();
        let r = g.chain.submit_tip_block(block).map_err(NodeError::from);
        synced(&mut g, r)
    }

    /// `invalidateblock`.
    pub fn invalidate_block(&self, hash: &BlockHash) -> Result<(), NodeError> {
        let mut g = self.lock();
        let r = g.chain.invalidate_block(hash).map_err(NodeError::from);
        synced(&mut g, r)
    }

    /// `reconsiderblock`.
    pub fn reconsider_block(&self, hash: &BlockHash) -> Result<(), NodeError> {
        let mut g = self.lock();
        let r = g.chain.reconsider_block(hash).map_err(NodeError::from);
        synced(&mut g, r)
    }

    /// True once the `stop` RPC was called (the server has then shut down).
    pub fn is_stopped(&self) -> bool {
        self.stop.load(Ordering::SeqCst)
    }

    /// Block the calling thread until the `stop` RPC is called (for the binary).
    pub fn wait(mut self) {
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
        if let Some(feed) = self.feed.take() {
            let _ = feed.thread.join();
        }
    }
}

/// Make the changes of a call durable (with a data directory) before returning its result.
fn synced<T>(g: &mut NodeState, r: Result<T, NodeError>) -> Result<T, NodeError> {
    g.chain.sync_store().map_err(NodeError::Datadir)?;
    r
}

impl Drop for RegtestNode {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
        if let Some(feed) = self.feed.take() {
            let _ = feed.thread.join();
        }
    }
}

fn serve(
    server: tiny_http::Server,
    state: Arc<Mutex<NodeState>>,
    stop: Arc<AtomicBool>,
    expected_auth: String,
) {
    while !stop.load(Ordering::SeqCst) {
        let req = match server.recv_timeout(Duration::from_millis(50)) {
            Ok(Some(r)) => r,
            Ok(None) => continue,
            Err(e) => {
                log::warn!("rpc accept error: {e}");
                continue;
            }
        };
        handle_http(req, &state, &expected_auth);
        let stopping = state
            .lock()
            .map(|s| s.stop_requested)
            .unwrap_or_else(|p| p.into_inner().stop_requested);
        if stopping {
            stop.store(true, Ordering::SeqCst);
        }
    }
}

fn header(name: &str, value: &str) -> Option<tiny_http::Header> {
    tiny_http::Header::from_bytes(name.as_bytes(), value.as_bytes()).ok()
}

fn handle_http(mut req: tiny_http::Request, state: &Mutex<NodeState>, expected_auth: &str) {
    let authorized = req
        .headers()
        .iter()
        .any(|h| h.field.equiv("Authorization") && h.value.as_str().trim() == expected_auth);
    if !authorized {
        let mut resp = tiny_http::Response::from_data(Vec::new()).with_status_code(401);
        if let Some(h) = header("WWW-Authenticate", "Basic realm=\"jsonrpc\"") {
            resp = resp.with_header(h);
        }
        let _ = req.respond(resp);
        return;
    }
    if *req.method() != tiny_http::Method::Post {
        let resp = tiny_http::Response::from_string("JSONRPC server handles only POST requests")
            .with_status_code(405);
        let _ = req.respond(resp);
        return;
    }
    let mut body = Vec::new();
    if req
        .as_reader()
        .take(MAX_BODY_BYTES)
        .read_to_end(&mut body)
        .is_err()
    {
        let _ = req.respond(tiny_http::Response::from_data(Vec::new()).with_status_code(400));
        return;
    }
    let (status, mut text) = rpc::handle_body(state, &body);
    text.push('\n');
    let mut resp = tiny_http::Response::from_string(text).with_status_code(status);
    if let Some(h) = header("Content-Type", "application/json") {
        resp = resp.with_header(h);
    }
    let _ = req.respond(resp);
}

#[cfg(test)]
mod tests {
    #[test]
    fn base64_matches_rfc4648() {
        assert_eq!(super::base64(b"u:p"), "dTpw");
        assert_eq!(super::base64(b"foobar"), "Zm9vYmFy");
        assert_eq!(super::base64(b"fooba"), "Zm9vYmE=");
    }
}

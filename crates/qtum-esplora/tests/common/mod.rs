//! Shared pieces of the chain-source tests: the harness, both sources, a recording `Confirm`,
//! and a proxy that can go down, slow down or lie.
#![allow(dead_code)]

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use bitcoin::block::Header;
use bitcoin::{
    Amount, BlockHash, OutPoint, ScriptBuf, Sequence, Transaction, TxIn, TxOut, Txid, Witness,
};
use lightning::chain::Confirm;
use qtum_chain::{
    ChainSource, EsploraConfig, EsploraSource, RpcAuth, RpcConfig, RpcEndpoint, RpcSource,
};
use qtum_esplora::{EsploraServer, ServerConfig};
use qtum_primitives::network::Network;
use qtum_regtest::RegtestNode;

/// The harness plus, for the Esplora flavour, our server in front of it.
pub struct Env {
    pub node: RegtestNode,
    pub esplora: Option<EsploraServer>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Rpc,
    Esplora,
}

pub fn rpc_auth(node: &RegtestNode) -> RpcAuth {
    RpcAuth::UserPass {
        user: node.rpc_user().into(),
        password: node.rpc_password().into(),
    }
}

impl Env {
    pub fn start(kind: Kind) -> Env {
        Env::start_with(kind, qtum_regtest::NodeConfig::default())
    }

    /// An environment over a harness started with `config`.
    pub fn start_with(kind: Kind, config: qtum_regtest::NodeConfig) -> Env {
        let node = RegtestNode::start_with(config).expect("harness starts");
        let esplora = (kind == Kind::Esplora).then(|| start_esplora(&node));
        Env { node, esplora }
    }

    /// The base URL a source of this kind talks to directly.
    pub fn base_url(&self) -> String {
        match &self.esplora {
            Some(s) => s.url(),
            None => self.node.url().to_string(),
        }
    }

    pub fn kind(&self) -> Kind {
        if self.esplora.is_some() {
            Kind::Esplora
        } else {
            Kind::Rpc
        }
    }

    /// A source of this kind over `urls` (each either the real endpoint or a proxy of it).
    pub fn source_over(&self, urls: &[String], timeout: Duration) -> Arc<dyn ChainSource> {
        match self.kind() {
            Kind::Rpc => {
                let endpoints = urls
                    .iter()
                    .map(|u| RpcEndpoint::new(u.clone(), rpc_auth(&self.node)))
                    .collect();
                let mut config = RpcConfig::new(Network::Regtest, endpoints);
                config.timeout = timeout;
                config.retry_after = Duration::from_millis(50);
                Arc::new(RpcSource::new(config).expect("rpc source"))
            }
            Kind::Esplora => {
                let mut config = EsploraConfig::new(urls.to_vec());
                config.timeout = timeout;
                config.retry_after = Duration::from_millis(50);
                Arc::new(EsploraSource::new(config).expect("esplora source"))
            }
        }
    }

    pub fn source(&self) -> Arc<dyn ChainSource> {
        self.source_over(&[self.base_url()], Duration::from_secs(30))
    }

    pub fn mine(&self, n: u32) -> Vec<BlockHash> {
        let script = self.node.wallet_script();
        self.node.mine_blocks(n, &script).expect("mine")
    }

    /// The Qtum header of block `hash`, from the harness.
    pub fn qtum_header(&self, hash: &BlockHash) -> qtum_primitives::header::QtumHeader {
        self.node
            .with_chain(|c| c.block(hash).map(|b| b.block.header.clone()))
            .expect("block known")
    }
}

pub fn start_esplora(node: &RegtestNode) -> EsploraServer {
    start_esplora_with(node, |_| {})
}

/// A server over `node` whose configuration `adjust` changes.
pub fn start_esplora_with(
    node: &RegtestNode,
    adjust: impl FnOnce(&mut ServerConfig),
) -> EsploraServer {
    let listen = "127.0.0.1:0".parse().expect("addr");
    let mut config = ServerConfig::new(node.url(), rpc_auth(node), listen);
    adjust(&mut config);
    EsploraServer::start(config).expect("esplora server")
}

/// An Esplora source over `urls` (tried in order) with the tests' short back-off.
pub fn esplora_source(urls: &[String]) -> EsploraSource {
    let mut config = EsploraConfig::new(urls.to_vec());
    config.timeout = Duration::from_secs(30);
    config.retry_after = Duration::from_millis(50);
    EsploraSource::new(config).expect("esplora source")
}

/// Esplora's script hash of `script`, as hex.
pub fn script_hash_hex(script: &bitcoin::Script) -> String {
    use bitcoin::hashes::{sha256, Hash};
    format!("{:x}", sha256::Hash::hash(script.as_bytes()))
}

/// Spends `outpoint` (an OP_TRUE P2WSH output of `value` sat) to `outputs`, leaving the rest
/// (at least 2,000,000 sat, far above Qtum's 400 sat/vB for any size used here) as fee.
pub fn split_op_true(outpoint: OutPoint, value: u64, outputs: &[(ScriptBuf, u64)]) -> Transaction {
    let paid: u64 = outputs.iter().map(|(_, v)| v).sum();
    assert!(paid + 2_000_000 <= value, "fee");
    let mut tx = spend_op_true(outpoint, value, op_true_p2wsh());
    tx.output = outputs
        .iter()
        .map(|(script, v)| TxOut {
            value: Amount::from_sat(*v),
            script_pubkey: script.clone(),
        })
        .collect();
    tx
}

/// Gives the OP_TRUE P2WSH script a confirmed history of `n + 2` transactions (a funding, a
/// split into `n` outputs, and `n` spends of them back to the script), and returns the script.
pub fn script_with_history(env: &Env, n: usize) -> ScriptBuf {
    let script = op_true_p2wsh();
    let value = 100 * 100_000_000;
    let funding = env.node.fund_address(&script, value).expect("fund");
    env.mine(1);
    let each = 100_000_000;
    let split = split_op_true(funding, value, &vec![(script.clone(), each); n]);
    let split_txid = env.node.send_transaction(&split).expect("split");
    env.mine(1);
    for vout in 0..n as u32 {
        let spend = spend_op_true(OutPoint::new(split_txid, vout), each, script.clone());
        env.node.send_transaction(&spend).expect("spend");
    }
    env.mine(1);
    script
}

/// A P2WSH output anyone can spend with the witness script `OP_TRUE`: lets the tests spend a
/// watched output without keys.
pub fn op_true_script() -> ScriptBuf {
    ScriptBuf::from_bytes(vec![0x51])
}

pub fn op_true_p2wsh() -> ScriptBuf {
    ScriptBuf::new_p2wsh(&op_true_script().wscript_hash())
}

/// Spends `outpoint` (an OP_TRUE P2WSH output of `value` sat) to `to`, paying a fee well above
/// Qtum's 400 sat/vB.
pub fn spend_op_true(outpoint: OutPoint, value: u64, to: ScriptBuf) -> Transaction {
    Transaction {
        version: bitcoin::transaction::Version::TWO,
        lock_time: bitcoin::absolute::LockTime::ZERO,
        input: vec![TxIn {
            previous_output: outpoint,
            script_sig: ScriptBuf::new(),
            sequence: Sequence::ENABLE_RBF_NO_LOCKTIME,
            witness: Witness::from_slice(&[op_true_script().into_bytes()]),
        }],
        output: vec![TxOut {
            value: Amount::from_sat(value - 200_000),
            script_pubkey: to,
        }],
    }
}

/// What a `Confirm` was told, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    Confirmed {
        header: Header,
        txs: Vec<(usize, Txid)>,
        height: u32,
    },
    Unconfirmed(Txid),
    BestBlock {
        header: Header,
        height: u32,
    },
}

/// A `Confirm` that records every call and answers `get_relevant_txids` like LDK would.
#[derive(Default)]
pub struct Recorder {
    pub events: Mutex<Vec<Event>>,
    confirmed: Mutex<HashMap<Txid, (u32, BlockHash)>>,
}

impl Recorder {
    pub fn events(&self) -> Vec<Event> {
        self.events.lock().expect("lock").clone()
    }

    pub fn clear(&self) {
        self.events.lock().expect("lock").clear();
    }

    pub fn confirmations_of(&self, txid: &Txid) -> Vec<(Header, u32)> {
        self.events()
            .into_iter()
            .filter_map(|e| match e {
                Event::Confirmed {
                    header,
                    txs,
                    height,
                } if txs.iter().any(|(_, t)| t == txid) => Some((header, height)),
                _ => None,
            })
            .collect()
    }

    pub fn is_confirmed(&self, txid: &Txid) -> bool {
        self.confirmed.lock().expect("lock").contains_key(txid)
    }
}

impl Confirm for Recorder {
    fn transactions_confirmed(
        &self,
        header: &Header,
        txdata: &lightning::chain::transaction::TransactionData,
        height: u32,
    ) {
        let txs: Vec<(usize, Txid)> = txdata
            .iter()
            .map(|(i, tx)| (*i, tx.compute_txid()))
            .collect();
        let mut confirmed = self.confirmed.lock().expect("lock");
        for (_, txid) in &txs {
            confirmed.insert(*txid, (height, header.block_hash()));
        }
        self.events.lock().expect("lock").push(Event::Confirmed {
            header: *header,
            txs,
            height,
        });
    }

    fn transaction_unconfirmed(&self, txid: &Txid) {
        self.confirmed.lock().expect("lock").remove(txid);
        self.events
            .lock()
            .expect("lock")
            .push(Event::Unconfirmed(*txid));
    }

    fn best_block_updated(&self, header: &Header, height: u32) {
        self.events.lock().expect("lock").push(Event::BestBlock {
            header: *header,
            height,
        });
    }

    fn get_relevant_txids(&self) -> Vec<(Txid, u32, Option<BlockHash>)> {
        self.confirmed
            .lock()
            .expect("lock")
            .iter()
            .map(|(t, (h, b))| (*t, *h, Some(*b)))
            .collect()
    }
}

/// How the proxy misbehaves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Honest,
    /// Connection accepted, answer after 3 s (tests use a 1 s timeout).
    Slow,
    /// 200 with a body that is not JSON / not hex.
    Garbage,
    /// Flips a byte inside every raw header (after the first 80 bytes: only the real hash sees it).
    TamperHeaders,
    /// Esplora: shifts merkle-proof positions; RPC: flips a byte near the end of raw blocks.
    TamperProofs,
    /// RPC: a qtumd without `-addrindex` ("Method not found" for the index calls).
    NoAddrIndex,
}

/// A forwarding proxy in front of `upstream` whose honesty the test switches.
pub struct Proxy {
    pub url: String,
    pub mode: Arc<Mutex<Mode>>,
    stop: Arc<AtomicBool>,
    server: Arc<tiny_http::Server>,
    thread: Option<JoinHandle<()>>,
}

impl Proxy {
    pub fn start(upstream: String, mode: Mode) -> Proxy {
        let listener = qtum_regtest::node::nodelay_listener(0).expect("proxy binds");
        let server = Arc::new(tiny_http::Server::from_listener(listener, None).expect("proxy"));
        let port = server.server_addr().to_ip().expect("ip").port();
        let mode = Arc::new(Mutex::new(mode));
        let stop = Arc::new(AtomicBool::new(false));
        let thread = {
            let (server, mode, stop) = (Arc::clone(&server), Arc::clone(&mode), Arc::clone(&stop));
            std::thread::spawn(move || {
                while !stop.load(Ordering::SeqCst) {
                    let Ok(Some(req)) = server.recv_timeout(Duration::from_millis(50)) else {
                        continue;
                    };
                    let mode = *mode.lock().expect("lock");
                    let upstream = upstream.clone();
                    // One thread per request so a slow answer does not hold up the others.
                    std::thread::spawn(move || forward(req, &upstream, mode));
                }
            })
        };
        Proxy {
            url: format!("http://127.0.0.1:{port}"),
            mode,
            stop,
            server,
            thread: Some(thread),
        }
    }

    pub fn set(&self, mode: Mode) {
        *self.mode.lock().expect("lock") = mode;
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        self.server.unblock();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn flip_hex(s: &mut String, at: usize) {
    if at < s.len() {
        let c = s.as_bytes()[at];
        let flipped = if c == b'0' { '1' } else { '0' };
        s.replace_range(at..at + 1, &flipped.to_string());
    }
}

fn tamper_rpc_value(v: &mut serde_json::Value, mode: Mode) {
    match v {
        serde_json::Value::Array(items) => items.iter_mut().for_each(|i| tamper_rpc_value(i, mode)),
        serde_json::Value::Object(map) => {
            if let Some(serde_json::Value::String(s)) = map.get_mut("result") {
                let is_hex = s.bytes().all(|b| b.is_ascii_hexdigit());
                // 181-byte PoW header: 362 hex digits; flip inside the state-root area.
                if mode == Mode::TamperHeaders && is_hex && s.len() == 362 {
                    flip_hex(s, 250);
                }
                // A whole block: flip a byte near the end (inside the last transaction).
                if mode == Mode::TamperProofs && is_hex && s.len() > 600 {
                    let at = s.len() - 20;
                    flip_hex(s, at);
                }
            }
        }
        _ => {}
    }
}

fn forward(mut req: tiny_http::Request, upstream: &str, mode: Mode) {
    if mode == Mode::Slow {
        std::thread::sleep(Duration::from_secs(3));
    }
    if mode == Mode::Garbage {
        let _ = req
            .respond(tiny_http::Response::from_string("{\"result\": [oops").with_status_code(200));
        return;
    }
    let mut body = Vec::new();
    let _ = req.as_reader().read_to_end(&mut body);
    if mode == Mode::NoAddrIndex {
        let text = String::from_utf8_lossy(&body);
        if text.contains("\"getaddresstxids\"") || text.contains("\"getspentinfo\"") {
            let reply =
                r#"{"result":null,"error":{"code":-32601,"message":"Method not found"},"id":1}"#;
            let _ = req.respond(tiny_http::Response::from_string(reply).with_status_code(404));
            return;
        }
    }
    let url = format!("{upstream}{}", req.url());
    let mut out = match req.method() {
        tiny_http::Method::Post => minreq::post(url).with_body(body),
        _ => minreq::get(url),
    };
    for h in req.headers() {
        if h.field.equiv("Authorization") || h.field.equiv("Content-Type") {
            out = out.with_header(h.field.as_str().as_str(), h.value.as_str());
        }
    }
    let Ok(resp) = out.with_timeout(30).send() else {
        let _ =
            req.respond(tiny_http::Response::from_string("upstream down").with_status_code(502));
        return;
    };
    let status = resp.status_code;
    let mut data = resp.into_bytes();
    let path = req.url().to_string();
    if mode == Mode::TamperHeaders || mode == Mode::TamperProofs {
        if path.ends_with("/header") && mode == Mode::TamperHeaders {
            let mut s = String::from_utf8_lossy(&data).to_string();
            flip_hex(&mut s, 250);
            data = s.into_bytes();
        } else if path.ends_with("/merkle-proof") && mode == Mode::TamperProofs {
            if let Ok(mut v) = serde_json::from_slice::<serde_json::Value>(&data) {
                let pos = v["pos"].as_u64().unwrap_or(0);
                v["pos"] = serde_json::json!(pos ^ 1);
                data = v.to_string().into_bytes();
            }
        } else if let Ok(mut v) = serde_json::from_slice::<serde_json::Value>(&data) {
            if v.get("result").is_some() || v.is_array() {
                tamper_rpc_value(&mut v, mode);
                data = v.to_string().into_bytes();
            }
        }
    }
    let _ = req.respond(tiny_http::Response::from_data(data).with_status_code(status));
}

/// A TCP port nobody listens on.
pub fn dead_url() -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    drop(listener);
    format!("http://127.0.0.1:{port}")
}

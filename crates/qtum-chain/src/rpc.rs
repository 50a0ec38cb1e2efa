//! Qtum Core JSON-RPC: [`RpcClient`] (one endpoint, single and batch calls) and [`RpcSource`]
//! (a [`ChainSource`] over several endpoints with failover).
//!
//! Headers and blocks are always fetched raw (`getblockheader <hash> false`, `getblock <hash> 0`)
//! and decoded by the Qtum codec, then checked against the hash asked for; verbose JSON is only
//! used for facts the raw data does not carry (heights, which block holds a transaction).
//!
//! # Script history and spends without `-addrindex`
//!
//! With `-addrindex`, [`ChainSource::script_history`] uses `getaddresstxids` (plus
//! `getaddressmempool` or a mempool scan) and [`ChainSource::outspend`] uses `getspentinfo`.
//! Without it the source scans blocks, never more than [`RpcConfig::max_scan_blocks`] in one
//! call, and a longer scan goes on where the last call stopped, so a chain of any age works:
//!
//! - [`ChainSource::scripts_history_from`] (what the wallet uses) scans from the `start_height`
//!   it is given and says how far it got ([`ScriptHistories::scanned_to`]); the caller keeps
//!   what it found and asks again from there (the wallet stores that height, see
//!   `qtum_wallet::Wallet::sync`). A spend from a P2WPKH script is recognised by the public key
//!   in its witness, so spends of outputs paid before the scanned window are found too.
//!   [`ChainSource::scripts_history`] has no way to say it stopped early: a window longer than
//!   `max_scan_blocks` is refused there ([`ChainError::Unsupported`]).
//! - [`ChainSource::outspend`] of an output spent in a block scans from the block that created
//!   it and keeps a cursor per output (the next height to scan and the hash of the block below
//!   it). A call that reaches `max_scan_blocks` blocks without finding the spend records the
//!   cursor and answers [`ChainError::Unsupported`] saying how far it got; the next call goes
//!   on from the cursor, after checking that the block below it is still in the best chain
//!   (otherwise it starts over from the output's block). [`RpcSource::spend_scan_progress`]
//!   and [`RpcSource::resume_spend_scans`] carry the cursors over a restart.
//!
//! | constant | value | meaning |
//! |---|---|---|
//! | [`RpcConfig::max_scan_blocks`] default | 20,000 (≈ 7.4 days of 32-s blocks) | most blocks one call scans |
//! | [`SCAN_SAFETY_MARGIN`] | 10 blocks (≈ 5 min) | a cursor never passes `tip + 1 - margin`: the blocks Qtum may still reorganise are scanned again on each call |
//! | [`MAX_SPEND_SCANS`] | 1,000 | cursors kept; the least recently asked go first |

use core::fmt;
use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::atomic::{AtomicU64, AtomicU8, Ordering};
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use bitcoin::consensus::encode::serialize_hex;
use bitcoin::hashes::{hash160, Hash};
use bitcoin::hex::FromHex;
use bitcoin::{BlockHash, OutPoint, Script, ScriptBuf, Transaction, Txid, WPubkeyHash, Witness};
use serde_json::{json, Value};

use qtum_primitives::address::QtumAddress;
use qtum_primitives::block::QtumBlock;
use qtum_primitives::header::QtumHeader;
use qtum_primitives::network::Network;
use qtum_primitives::policy::sat_per_kvb_to_sat_per_kw;

use crate::http::{self, Counter, EndpointHealth, Failover, HttpAgent};
use crate::verify;
use crate::{
    BlockRef, ChainError, ChainSource, FeeEstimates, HistoryEntry, ScriptHistories, Spend, TxStatus,
};

/// How to authenticate to qtumd.
#[derive(Clone, PartialEq, Eq)]
pub enum RpcAuth {
    /// No `Authorization` header (an RPC proxy that authenticates otherwise).
    None,
    /// `-rpcuser`/`-rpcpassword`.
    UserPass {
        /// RPC user.
        user: String,
        /// RPC password.
        password: String,
    },
    /// qtumd's `.cookie` file, read again for every request because qtumd rewrites it on each
    /// restart.
    CookieFile(PathBuf),
}

impl fmt::Debug for RpcAuth {
    // Credentials never reach logs, not even through `{:?}` of a config.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RpcAuth::None => write!(f, "None"),
            RpcAuth::UserPass { user, .. } => write!(f, "UserPass({user}, <redacted>)"),
            RpcAuth::CookieFile(path) => write!(f, "CookieFile({})", path.display()),
        }
    }
}

/// One qtumd (or RPC proxy) endpoint. Its `Debug` shows the URL redacted.
#[derive(Clone, PartialEq, Eq)]
pub struct RpcEndpoint {
    /// `http://host:port` (`https://` with the crate's `https` feature).
    pub url: String,
    /// Credentials.
    pub auth: RpcAuth,
    /// With the `https` feature: a PEM file whose certificates are the only roots this
    /// endpoint's certificate is checked against (an RPC proxy with a private CA). `None` trusts
    /// the webpki roots (Mozilla's list, compiled in).
    pub ca_file: Option<PathBuf>,
}

impl fmt::Debug for RpcEndpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RpcEndpoint")
            .field("url", &http::redact_url(&self.url))
            .field("auth", &self.auth)
            .field("ca_file", &self.ca_file)
            .finish()
    }
}

impl RpcEndpoint {
    /// An endpoint at `url` with `auth`, trusting the webpki roots if it is `https://`.
    pub fn new(url: impl Into<String>, auth: RpcAuth) -> RpcEndpoint {
        RpcEndpoint {
            url: url.into(),
            auth,
            ca_file: None,
        }
    }

    /// Trust `ca_file` (PEM) instead of the webpki roots.
    pub fn with_ca_file(mut self, ca_file: impl Into<PathBuf>) -> RpcEndpoint {
        self.ca_file = Some(ca_file.into());
        self
    }
}

/// Configuration of an [`RpcSource`].
///
/// | field | default | note |
/// |---|---|---|
/// | `timeout` | 10 s | per HTTP request |
/// | `retry_after` | 5 s | back-off of a failed endpoint, doubling per consecutive failure up to 32× |
/// | `max_scan_blocks` | 20,000 (≈ 7.4 days of 32-s blocks) | most blocks one call scans without `-addrindex` (longer scans go on at the next call) |
/// | `batch_size` | 500 | calls per JSON-RPC batch for header ranges (25 for whole blocks) |
/// | `use_addrindex` | true | ask the `-addrindex` calls (false: always scan blocks, as without the index) |
#[derive(Debug, Clone)]
pub struct RpcConfig {
    /// Endpoints in order of preference; at least one.
    pub endpoints: Vec<RpcEndpoint>,
    /// The network the node runs (used to turn scripts into `-addrindex` addresses).
    pub network: Network,
    /// Per-request timeout.
    pub timeout: Duration,
    /// Back-off of an endpoint after a fault.
    pub retry_after: Duration,
    /// Most blocks one call scans when the node has no `-addrindex`; a longer scan goes on at
    /// the next call (see the module docs).
    pub max_scan_blocks: u32,
    /// Calls per batch request.
    pub batch_size: usize,
    /// Whether to ask `getaddresstxids`/`getspentinfo` at all. `false` scans blocks even when
    /// the node has `-addrindex` (a pool of nodes of which only some have it, or tests).
    pub use_addrindex: bool,
}

impl RpcConfig {
    /// The defaults above for `endpoints` on `network`.
    pub fn new(network: Network, endpoints: Vec<RpcEndpoint>) -> RpcConfig {
        RpcConfig {
            endpoints,
            network,
            timeout: Duration::from_secs(10),
            retry_after: Duration::from_secs(5),
            max_scan_blocks: 20_000,
            batch_size: 500,
            use_addrindex: true,
        }
    }
}

/// A JSON-RPC client for one qtumd endpoint. Usable on its own (the `qtum-esplora` server uses
/// it as its backend); [`RpcSource`] puts several behind failover and verification.
pub struct RpcClient {
    url: String,
    auth: RpcAuth,
    timeout: Duration,
    http: HttpAgent,
    counter: Counter,
    next_id: AtomicU64,
    /// Whether this endpoint has `-addrindex` (`ADDRINDEX_*`; asked once, see
    /// [`RpcSource::index_on`]).
    addrindex: AtomicU8,
}

impl fmt::Debug for RpcClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RpcClient")
            .field("url", &http::redact_url(&self.url))
            .field("auth", &self.auth)
            .field("timeout", &self.timeout)
            .finish()
    }
}

impl RpcClient {
    /// A client for `url` (`https://` trusting the webpki roots).
    pub fn new(url: impl Into<String>, auth: RpcAuth, timeout: Duration) -> RpcClient {
        RpcClient::with_counter(url.into(), auth, timeout, None, Counter::default())
    }

    /// A client for `endpoint`, with its TLS trust. A configuration error (an unreadable CA
    /// file, `https://` without the `https` feature) comes back here rather than on each call.
    pub fn for_endpoint(endpoint: RpcEndpoint, timeout: Duration) -> Result<RpcClient, ChainError> {
        HttpAgent::check_url(&endpoint.url)?;
        let client = RpcClient::with_counter(
            endpoint.url,
            endpoint.auth,
            timeout,
            endpoint.ca_file.as_deref(),
            Counter::default(),
        );
        match client.http.config_error() {
            Some(e) => Err(e.clone()),
            None => Ok(client),
        }
    }

    fn with_counter(
        url: String,
        auth: RpcAuth,
        timeout: Duration,
        ca_file: Option<&Path>,
        counter: Counter,
    ) -> RpcClient {
        RpcClient {
            http: HttpAgent::new(timeout, ca_file),
            url,
            auth,
            timeout,
            counter,
            next_id: AtomicU64::new(1),
            addrindex: AtomicU8::new(ADDRINDEX_UNKNOWN),
        }
    }

    /// The endpoint URL without credentials.
    pub fn url(&self) -> String {
        http::redact_url(&self.url)
    }

    /// HTTP requests sent so far.
    pub fn requests_made(&self) -> u64 {
        self.counter.get()
    }

    /// Calls `method`; an RPC error object becomes [`ChainError::Source`].
    pub fn call(&self, method: &str, params: Value) -> Result<Value, ChainError> {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let body = json!({"jsonrpc": "1.0", "id": id, "method": method, "params": params});
        let (status, reply) = self.post(body.to_string().into_bytes())?;
        match serde_json::from_slice::<Value>(&reply) {
            Ok(reply) => parse_reply(&reply),
            Err(_) => Err(http_error(status, &reply)),
        }
    }

    /// Sends `calls` as one batch request; answers come back in the order of `calls`, each its
    /// own result. Fails as a whole only when the batch itself fails.
    pub fn call_batch(
        &self,
        calls: &[(&str, Value)],
    ) -> Result<Vec<Result<Value, ChainError>>, ChainError> {
        if calls.is_empty() {
            return Ok(Vec::new());
        }
        let first = self
            .next_id
            .fetch_add(calls.len() as u64, Ordering::Relaxed);
        let body: Vec<Value> = calls
            .iter()
            .enumerate()
            .map(|(i, (method, params))| {
                json!({"jsonrpc": "1.0", "id": first + i as u64, "method": method, "params": params})
            })
            .collect();
        let (status, reply) = self.post(Value::Array(body).to_string().into_bytes())?;
        let replies = match serde_json::from_slice::<Value>(&reply) {
            Ok(Value::Array(replies)) => replies,
            Ok(other) => {
                // qtumd answers a batch with a single error object when it refuses the batch
                // as a whole (e.g. a proxy that does not do batches).
                return Err(parse_reply(&other).err().unwrap_or_else(|| {
                    ChainError::InvalidResponse("batch answered by one object".into())
                }));
            }
            Err(_) => return Err(http_error(status, &reply)),
        };
        let mut by_id: HashMap<u64, &Value> = HashMap::new();
        for r in &replies {
            if let Some(id) = r.get("id").and_then(Value::as_u64) {
                by_id.insert(id, r);
            }
        }
        (0..calls.len())
            .map(|i| match by_id.get(&(first + i as u64)) {
                Some(r) => Ok(parse_reply(r)),
                None => Err(ChainError::InvalidResponse(format!(
                    "batch answer lacks call {i} ({})",
                    calls[i].0
                ))),
            })
            .collect()
    }

    fn authorization(&self) -> Result<Option<String>, ChainError> {
        let pair = match &self.auth {
            RpcAuth::None => return Ok(None),
            RpcAuth::UserPass { user, password } => format!("{user}:{password}"),
            RpcAuth::CookieFile(path) => std::fs::read_to_string(path)
                .map_err(|e| {
                    ChainError::Unreachable(format!(
                        "cannot read RPC cookie file {}: {}",
                        path.display(),
                        e.kind()
                    ))
                })?
                .trim()
                .to_string(),
        };
        Ok(Some(format!("Basic {}", http::base64(pair.as_bytes()))))
    }

    fn post(&self, body: Vec<u8>) -> Result<(u16, Vec<u8>), ChainError> {
        let authorization = self.authorization()?;
        let mut headers = vec![("Content-Type", "application/json")];
        if let Some(auth) = &authorization {
            headers.push(("Authorization", auth.as_str()));
        }
        self.counter.bump();
        let response = self.http.post(&self.url, &headers, &body)?;
        Ok((response.status, response.body))
    }
}

fn http_error(status: u16, body: &[u8]) -> ChainError {
    let text: String = String::from_utf8_lossy(body).chars().take(200).collect();
    match status {
        200 => ChainError::InvalidResponse(format!("not JSON: {text}")),
        401 | 403 => ChainError::Source {
            code: i64::from(status),
            message: "RPC authorization failed".into(),
        },
        _ => ChainError::Source {
            code: i64::from(status),
            message: text,
        },
    }
}

fn parse_reply(reply: &Value) -> Result<Value, ChainError> {
    match reply.get("error") {
        Some(Value::Null) | None => match reply.get("result") {
            Some(result) => Ok(result.clone()),
            None => Err(ChainError::InvalidResponse(
                "JSON-RPC reply without result".into(),
            )),
        },
        Some(error) => Err(ChainError::Source {
            code: error.get("code").and_then(Value::as_i64).unwrap_or(0),
            message: error
                .get("message")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string(),
        }),
    }
}

// --- small JSON accessors: everything a source sends is checked, nothing unwrapped ---

fn bad(what: &str) -> ChainError {
    ChainError::InvalidResponse(format!("unexpected RPC answer: {what}"))
}

fn as_str<'a>(v: &'a Value, what: &str) -> Result<&'a str, ChainError> {
    v.as_str().ok_or_else(|| bad(what))
}

fn field<'a>(v: &'a Value, key: &str) -> Result<&'a Value, ChainError> {
    v.get(key).ok_or_else(|| bad(key))
}

fn parse_hash<T: FromStr>(v: &Value, what: &str) -> Result<T, ChainError> {
    as_str(v, what)?.parse().map_err(|_| bad(what))
}

fn parse_u32(v: &Value, what: &str) -> Result<u32, ChainError> {
    v.as_u64()
        .and_then(|n| u32::try_from(n).ok())
        .ok_or_else(|| bad(what))
}

fn hex_bytes(v: &Value, what: &str) -> Result<Vec<u8>, ChainError> {
    Vec::from_hex(as_str(v, what)?).map_err(|_| bad(what))
}

fn decode_tx(v: &Value) -> Result<Transaction, ChainError> {
    bitcoin::consensus::deserialize(&hex_bytes(v, "raw transaction")?)
        .map_err(|e| ChainError::InvalidResponse(format!("undecodable transaction: {e}")))
}

fn is_code(e: &ChainError, codes: &[i64]) -> bool {
    matches!(e, ChainError::Source { code, .. } if codes.contains(code))
}

/// RPC errors that mean "this node has no address index".
fn is_no_index(e: &ChainError) -> bool {
    match e {
        // -32601: method not found (a node or proxy without the RPC at all).
        ChainError::Source { code: -32601, .. } => true,
        // -5 "No information available for address": what qtumd's `getaddresstxids` answers
        // without `-addrindex` (with it, an unknown address is an empty list; only a failed
        // index read gives this, and scanning blocks instead is correct then too).
        ChainError::Source { code: -5, message }
            if message
                .to_ascii_lowercase()
                .contains("no information available") =>
        {
            true
        }
        ChainError::Source { message, .. } => {
            let m = message.to_ascii_lowercase();
            m.contains("index") && (m.contains("not enabled") || m.contains("disabled"))
        }
        _ => false,
    }
}

const ADDRINDEX_UNKNOWN: u8 = 0;
const ADDRINDEX_YES: u8 = 1;
const ADDRINDEX_NO: u8 = 2;

/// Blocks below the tip a scan cursor stays (see the module docs): they are scanned again on
/// every call, so a reorganisation of up to this depth cannot hide a transaction.
pub const SCAN_SAFETY_MARGIN: u32 = 10;

/// Most spend-scan cursors an [`RpcSource`] keeps (the least recently asked are dropped).
pub const MAX_SPEND_SCANS: usize = 1_000;

/// Where the scan for the spend of one output stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct SpendScan {
    /// Height of the block that created the output.
    created: u32,
    /// Next height to scan: no block in `created..next` spends the output.
    next: u32,
    /// Hash of the block at `next - 1` when it was scanned (`None` when `next == created`).
    anchor: Option<BlockHash>,
    /// Last use, for dropping the oldest cursors.
    used: u64,
}

#[derive(Debug, Default)]
struct SpendScans {
    by_output: HashMap<OutPoint, SpendScan>,
    clock: u64,
}

impl SpendScans {
    const VERSION: u8 = 1;
    /// txid, vout, created, next, anchor flag, anchor.
    const ENTRY: usize = 32 + 4 + 4 + 4 + 1 + 32;

    fn put(&mut self, outpoint: OutPoint, mut scan: SpendScan) {
        self.clock += 1;
        scan.used = self.clock;
        self.by_output.insert(outpoint, scan);
        if self.by_output.len() > MAX_SPEND_SCANS {
            if let Some(oldest) = self
                .by_output
                .iter()
                .min_by_key(|(_, s)| s.used)
                .map(|(o, _)| *o)
            {
                self.by_output.remove(&oldest);
            }
        }
    }

    fn encode(&self) -> Vec<u8> {
        let mut entries: Vec<(&OutPoint, &SpendScan)> = self.by_output.iter().collect();
        entries.sort_by_key(|(_, s)| s.used);
        let mut out = Vec::with_capacity(5 + entries.len() * Self::ENTRY);
        out.push(Self::VERSION);
        out.extend_from_slice(&(entries.len() as u32).to_le_bytes());
        for (outpoint, scan) in entries {
            out.extend_from_slice(outpoint.txid.as_byte_array());
            out.extend_from_slice(&outpoint.vout.to_le_bytes());
            out.extend_from_slice(&scan.created.to_le_bytes());
            out.extend_from_slice(&scan.next.to_le_bytes());
            match scan.anchor {
                Some(hash) => {
                    out.push(1);
                    out.extend_from_slice(hash.as_byte_array());
                }
                None => out.extend_from_slice(&[0; 33]),
            }
        }
        out
    }

    fn decode(bytes: &[u8]) -> Option<Vec<(OutPoint, SpendScan)>> {
        let (&version, rest) = bytes.split_first()?;
        if version != Self::VERSION || rest.len() < 4 {
            return None;
        }
        let count = u32::from_le_bytes(rest[..4].try_into().ok()?) as usize;
        let body = &rest[4..];
        if body.len() != count.checked_mul(Self::ENTRY)? {
            return None;
        }
        let u32_at = |b: &[u8], i: usize| b.get(i..i + 4).and_then(|s| s.try_into().ok());
        body.chunks_exact(Self::ENTRY)
            .map(|e| {
                let txid = Txid::from_slice(&e[..32]).ok()?;
                let vout = u32::from_le_bytes(u32_at(e, 32)?);
                let created = u32::from_le_bytes(u32_at(e, 36)?);
                let next = u32::from_le_bytes(u32_at(e, 40)?);
                let anchor = match e[44] {
                    0 => None,
                    1 => Some(BlockHash::from_slice(&e[45..77]).ok()?),
                    _ => return None,
                };
                if next < created || (next > created) != anchor.is_some() {
                    return None;
                }
                let scan = SpendScan {
                    created,
                    next,
                    anchor,
                    used: 0,
                };
                Some((OutPoint::new(txid, vout), scan))
            })
            .collect()
    }
}

/// The P2WPKH script a witness spends from, when it has the shape of a P2WPKH spend
/// (a signature and a compressed public key).
fn p2wpkh_spent_by(witness: &Witness) -> Option<ScriptBuf> {
    if witness.len() != 2 {
        return None;
    }
    let key = witness.nth(1)?;
    if key.len() != 33 || !matches!(key[0], 2 | 3) {
        return None;
    }
    let hash = WPubkeyHash::from_raw_hash(hash160::Hash::hash(key));
    Some(ScriptBuf::new_p2wpkh(&hash))
}

/// Confirmation targets asked of `estimatesmartfee` (blocks).
pub const FEE_TARGETS: [u16; 10] = [1, 2, 3, 6, 12, 24, 72, 144, 504, 1008];

/// A [`ChainSource`] over qtumd JSON-RPC endpoints.
#[derive(Debug)]
pub struct RpcSource {
    endpoints: Failover<RpcClient>,
    network: Network,
    max_scan_blocks: u32,
    batch_size: usize,
    counter: Counter,
    /// [`RpcConfig::use_addrindex`].
    use_addrindex: bool,
    /// What the endpoint asked last said about `-addrindex` (for [`RpcSource::has_addrindex`];
    /// decisions use each endpoint's own answer).
    addrindex: AtomicU8,
    spend_scans: Mutex<SpendScans>,
}

impl RpcSource {
    /// A source over `config.endpoints` (tried in order, failing over on faults).
    pub fn new(config: RpcConfig) -> Result<RpcSource, ChainError> {
        if config.endpoints.is_empty() {
            return Err(ChainError::Unsupported(
                "an RPC source needs at least one endpoint".into(),
            ));
        }
        let counter = Counter::default();
        let mut clients = Vec::with_capacity(config.endpoints.len());
        for e in config.endpoints {
            HttpAgent::check_url(&e.url)?;
            let client = RpcClient::with_counter(
                e.url,
                e.auth,
                config.timeout,
                e.ca_file.as_deref(),
                counter.clone(),
            );
            if let Some(err) = client.http.config_error() {
                return Err(err.clone());
            }
            clients.push(client);
        }
        Ok(RpcSource {
            endpoints: Failover::new(clients, config.retry_after),
            network: config.network,
            max_scan_blocks: config.max_scan_blocks,
            batch_size: config.batch_size.max(1),
            counter,
            use_addrindex: config.use_addrindex,
            addrindex: AtomicU8::new(if config.use_addrindex {
                ADDRINDEX_UNKNOWN
            } else {
                ADDRINDEX_NO
            }),
            spend_scans: Mutex::new(SpendScans::default()),
        })
    }

    fn spend_scans(&self) -> MutexGuard<'_, SpendScans> {
        // Only whole entries are ever written under the lock: a poisoned one is consistent.
        self.spend_scans
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// The spend-scan cursors (see the module docs), encoded for a store: persist them and hand
    /// them to [`RpcSource::resume_spend_scans`] after a restart, so a long scan does not start
    /// over. A few dozen bytes per output whose spend is being or was looked for.
    pub fn spend_scan_progress(&self) -> Vec<u8> {
        self.spend_scans().encode()
    }

    /// Takes over cursors saved by [`RpcSource::spend_scan_progress`]. Each is checked against
    /// the chain again before it is used. Bytes of another format are refused
    /// ([`ChainError::InvalidResponse`]) and change nothing.
    pub fn resume_spend_scans(&self, bytes: &[u8]) -> Result<(), ChainError> {
        let entries = SpendScans::decode(bytes).ok_or_else(|| {
            ChainError::InvalidResponse("the saved spend-scan progress is not readable".into())
        })?;
        let mut scans = self.spend_scans();
        for (outpoint, scan) in entries {
            scans.put(outpoint, scan);
        }
        Ok(())
    }

    /// Health of each endpoint, for a status page.
    pub fn endpoint_health(&self) -> Vec<EndpointHealth> {
        self.endpoints.health(RpcClient::url)
    }

    /// Runs `f` on the first healthy endpoint, failing over on endpoint faults.
    pub fn with_client<T>(
        &self,
        f: impl FnMut(&RpcClient) -> Result<T, ChainError>,
    ) -> Result<T, ChainError> {
        self.endpoints.run(RpcClient::url, f)
    }

    /// One RPC call with failover.
    pub fn call(&self, method: &str, params: Value) -> Result<Value, ChainError> {
        self.with_client(|c| c.call(method, params.clone()))
    }

    /// Whether the endpoint asked last has `-addrindex` (`None`: not asked yet).
    pub fn has_addrindex(&self) -> Option<bool> {
        match self.addrindex.load(Ordering::Relaxed) {
            ADDRINDEX_YES => Some(true),
            ADDRINDEX_NO => Some(false),
            _ => None,
        }
    }

    /// Whether endpoint `c` has `-addrindex`, asked once per endpoint. qtumd registers the index
    /// calls with or without the index: without it `getaddresstxids` answers -5 "No information
    /// available for address" and `getspentinfo` answers -5 "Unable to get spent info" for
    /// every output, the same answer an unspent output gets with the index. So `getspentinfo`
    /// is believed only from an endpoint whose `getaddresstxids` answered with a list: the probe
    /// asks it about an address nobody can pay (the hash160 of nothing known, all zero), which
    /// with the index is a quick empty list.
    fn index_on(&self, c: &RpcClient) -> Result<bool, ChainError> {
        if !self.use_addrindex {
            return Ok(false);
        }
        match c.addrindex.load(Ordering::Relaxed) {
            ADDRINDEX_YES => return Ok(true),
            ADDRINDEX_NO => return Ok(false),
            _ => {}
        }
        let probe = QtumAddress::from_script(
            &ScriptBuf::new_p2pkh(&bitcoin::PubkeyHash::all_zeros()),
            self.network,
        )
        .map_err(|e| ChainError::InvalidResponse(format!("no probe address: {e}")))?;
        let found = match c.call(
            "getaddresstxids",
            json!([{"addresses": [probe.to_string()]}]),
        ) {
            Ok(v) if v.is_array() => true,
            Ok(_) => return Err(bad("getaddresstxids")),
            Err(e) if is_no_index(&e) => false,
            Err(e) => return Err(e),
        };
        self.set_index(c, found);
        Ok(found)
    }

    fn set_index(&self, c: &RpcClient, found: bool) {
        let state = if found { ADDRINDEX_YES } else { ADDRINDEX_NO };
        c.addrindex.store(state, Ordering::Relaxed);
        self.addrindex.store(state, Ordering::Relaxed);
    }

    fn tip_on(c: &RpcClient) -> Result<(BlockRef, QtumHeader), ChainError> {
        let hash: BlockHash =
            parse_hash(&c.call("getbestblockhash", json!([]))?, "best block hash")?;
        let mut answers = c
            .call_batch(&[
                ("getblockheader", json!([hash.to_string(), true])),
                ("getblockheader", json!([hash.to_string(), false])),
            ])?
            .into_iter();
        let verbose = answers.next().ok_or_else(|| bad("batch"))??;
        let raw = answers.next().ok_or_else(|| bad("batch"))??;
        let height = parse_u32(field(&verbose, "height")?, "height")?;
        let header = verify::header_from_bytes(&hex_bytes(&raw, "header")?, &hash)?;
        Ok((BlockRef::of(&header, height), header))
    }

    fn header_on(c: &RpcClient, hash: &BlockHash) -> Result<QtumHeader, ChainError> {
        let raw = c.call("getblockheader", json!([hash.to_string(), false]))?;
        verify::header_from_bytes(&hex_bytes(&raw, "header")?, hash)
    }

    fn block_on(c: &RpcClient, hash: &BlockHash) -> Result<QtumBlock, ChainError> {
        let raw = c.call("getblock", json!([hash.to_string(), 0]))?;
        verify::block_from_bytes(&hex_bytes(&raw, "block")?, hash)
    }

    fn block_hash_on(c: &RpcClient, height: u32) -> Result<Option<BlockHash>, ChainError> {
        match c.call("getblockhash", json!([height])) {
            Ok(v) => Ok(Some(parse_hash(&v, "block hash")?)),
            // -8: "Block height out of range".
            Err(e) if is_code(&e, &[-8]) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Verified headers for `start..=end` in the best chain, fetched in two batched round trips
    /// per `batch_size` heights; stops early at the tip.
    pub fn headers_range(
        &self,
        start: u32,
        end: u32,
    ) -> Result<Vec<(BlockRef, QtumHeader)>, ChainError> {
        self.with_client(|c| {
            let mut out = Vec::new();
            let mut from = start;
            while from <= end {
                let to = end.min(from.saturating_add(self.batch_size as u32 - 1));
                let calls: Vec<(&str, Value)> =
                    (from..=to).map(|h| ("getblockhash", json!([h]))).collect();
                let mut hashes = Vec::new();
                for answer in c.call_batch(&calls)? {
                    match answer {
                        Ok(v) => hashes.push(parse_hash::<BlockHash>(&v, "block hash")?),
                        Err(e) if is_code(&e, &[-8]) => break,
                        Err(e) => return Err(e),
                    }
                }
                let calls: Vec<(&str, Value)> = hashes
                    .iter()
                    .map(|h| ("getblockheader", json!([h.to_string(), false])))
                    .collect();
                for (i, (answer, hash)) in
                    c.call_batch(&calls)?.into_iter().zip(&hashes).enumerate()
                {
                    let header = verify::header_from_bytes(&hex_bytes(&answer?, "header")?, hash)?;
                    out.push((BlockRef::of(&header, from + i as u32), header));
                }
                if hashes.len() < (to - from + 1) as usize || to == u32::MAX {
                    break;
                }
                from = to + 1;
            }
            Ok(out)
        })
    }

    /// Height of the block holding `txid` in the best chain, from verbose RPC answers (the
    /// block hash is checked again wherever the height is used).
    fn confirmed_block_of(
        c: &RpcClient,
        verbose_tx: &Value,
    ) -> Result<Option<(BlockHash, u32)>, ChainError> {
        let Some(hash) = verbose_tx.get("blockhash") else {
            return Ok(None);
        };
        let hash: BlockHash = parse_hash(hash, "blockhash")?;
        let header = c.call("getblockheader", json!([hash.to_string(), true]))?;
        // -1 confirmations: the block is on a stale branch.
        if header
            .get("confirmations")
            .and_then(Value::as_i64)
            .unwrap_or(0)
            < 1
        {
            return Ok(None);
        }
        Ok(Some((
            hash,
            parse_u32(field(&header, "height")?, "height")?,
        )))
    }

    fn tx_status_on(c: &RpcClient, txid: &Txid) -> Result<TxStatus, ChainError> {
        let verbose = match c.call("getrawtransaction", json!([txid.to_string(), true])) {
            Ok(v) => v,
            // -5: not in mempool nor (with -txindex) in the chain.
            Err(e) if is_code(&e, &[-5]) => return Ok(TxStatus::Unknown),
            Err(e) => return Err(e),
        };
        let Some((hash, height)) = Self::confirmed_block_of(c, &verbose)? else {
            return Ok(TxStatus::Unconfirmed);
        };
        // The block must still be the one at that height, and it must hold the transaction:
        // the full block is checked against its header, so the position is proven.
        if Self::block_hash_on(c, height)? != Some(hash) {
            return Ok(TxStatus::Unconfirmed);
        }
        let block = Self::block_on(c, &hash)?;
        let position = block
            .txdata
            .iter()
            .position(|tx| tx.compute_txid() == *txid)
            .ok_or_else(|| {
                ChainError::InvalidResponse(format!("block {hash} does not hold {txid}"))
            })?;
        Ok(TxStatus::Confirmed {
            block: BlockRef::of(&block.header, height),
            header: block.header,
            position,
        })
    }

    fn address_of(&self, script: &Script) -> Option<String> {
        QtumAddress::from_script(script, self.network)
            .ok()
            .map(|a| a.to_string())
    }

    /// History through `-addrindex`; `Ok(None)` when the node has no index.
    fn indexed_history(
        &self,
        c: &RpcClient,
        scripts: &[ScriptBuf],
    ) -> Result<Option<Vec<Vec<HistoryEntry>>>, ChainError> {
        if !self.index_on(c)? {
            return Ok(None);
        }
        let mut out = Vec::with_capacity(scripts.len());
        let mut funding: Vec<HashSet<OutPoint>> = Vec::with_capacity(scripts.len());
        for script in scripts {
            let Some(address) = self.address_of(script) else {
                // A script without an address (P2PK, bare multisig) cannot be asked of the index.
                return Ok(None);
            };
            let txids = match c.call("getaddresstxids", json!([{"addresses": [address]}])) {
                Ok(v) => v,
                Err(e) if is_no_index(&e) => {
                    self.set_index(c, false);
                    return Ok(None);
                }
                Err(e) => return Err(e),
            };
            let txids: Vec<Txid> = txids
                .as_array()
                .ok_or_else(|| bad("getaddresstxids"))?
                .iter()
                .map(|t| parse_hash(t, "txid"))
                .collect::<Result<_, _>>()?;
            // Heights and paid outputs, two batched round trips.
            let calls: Vec<(&str, Value)> = txids
                .iter()
                .map(|t| ("getrawtransaction", json!([t.to_string(), true])))
                .collect();
            let verbose: Vec<Value> = c
                .call_batch(&calls)?
                .into_iter()
                .collect::<Result<_, _>>()?;
            let calls: Vec<(&str, Value)> = verbose
                .iter()
                .filter_map(|v| v.get("blockhash").cloned())
                .map(|h| ("getblockheader", json!([h, true])))
                .collect();
            let mut heights: HashMap<String, u32> = HashMap::new();
            for h in c.call_batch(&calls)? {
                let h = h?;
                if h.get("confirmations").and_then(Value::as_i64).unwrap_or(0) >= 1 {
                    let hash = as_str(field(&h, "hash")?, "hash")?.to_string();
                    heights.insert(hash, parse_u32(field(&h, "height")?, "height")?);
                }
            }
            let mut entries = Vec::with_capacity(txids.len());
            let mut outs = HashSet::new();
            for (txid, v) in txids.iter().zip(&verbose) {
                let height = v
                    .get("blockhash")
                    .and_then(Value::as_str)
                    .and_then(|h| heights.get(h))
                    .copied();
                entries.push(HistoryEntry {
                    txid: *txid,
                    height,
                });
                let tx = decode_tx(field(v, "hex")?)?;
                verify::check_txid(&tx, txid)?;
                for (vout, o) in tx.output.iter().enumerate() {
                    if o.script_pubkey == *script {
                        outs.insert(OutPoint::new(*txid, vout as u32));
                    }
                }
            }
            out.push(entries);
            funding.push(outs);
        }
        self.add_mempool_history(c, scripts, &mut out, &mut funding)?;
        Ok(Some(out))
    }

    /// Adds unconfirmed transactions that pay to or spend from `scripts`. Scans the mempool
    /// (qtumd's `getaddressmempool` does not say which inputs spend what, and a proxy may not
    /// have it), following chains of unconfirmed transactions.
    fn add_mempool_history(
        &self,
        c: &RpcClient,
        scripts: &[ScriptBuf],
        out: &mut [Vec<HistoryEntry>],
        funding: &mut [HashSet<OutPoint>],
    ) -> Result<(), ChainError> {
        let mempool: Vec<Txid> = c
            .call("getrawmempool", json!([]))?
            .as_array()
            .ok_or_else(|| bad("getrawmempool"))?
            .iter()
            .map(|t| parse_hash(t, "txid"))
            .collect::<Result<_, _>>()?;
        if mempool.is_empty() {
            return Ok(());
        }
        let calls: Vec<(&str, Value)> = mempool
            .iter()
            .map(|t| ("getrawtransaction", json!([t.to_string(), false])))
            .collect();
        let mut txs = Vec::new();
        for (txid, raw) in mempool.iter().zip(c.call_batch(&calls)?) {
            match raw {
                Ok(raw) => {
                    let tx = decode_tx(&raw)?;
                    verify::check_txid(&tx, txid)?;
                    txs.push(tx);
                }
                // Mined or evicted between the two calls: the next sync sees it.
                Err(e) if is_code(&e, &[-5]) => {}
                Err(e) => return Err(e),
            }
        }
        let mut seen: Vec<HashSet<Txid>> = out
            .iter()
            .map(|entries| entries.iter().map(|e| e.txid).collect())
            .collect();
        loop {
            let mut grew = false;
            for tx in &txs {
                let txid = tx.compute_txid();
                for (i, script) in scripts.iter().enumerate() {
                    let pays = tx.output.iter().any(|o| o.script_pubkey == *script);
                    let spends = tx
                        .input
                        .iter()
                        .any(|inp| funding[i].contains(&inp.previous_output));
                    if (pays || spends) && seen[i].insert(txid) {
                        out[i].push(HistoryEntry { txid, height: None });
                        grew = true;
                    }
                    if pays {
                        for (vout, o) in tx.output.iter().enumerate() {
                            if o.script_pubkey == *script {
                                grew |= funding[i].insert(OutPoint::new(txid, vout as u32));
                            }
                        }
                    }
                }
            }
            if !grew {
                return Ok(());
            }
        }
    }

    /// History by scanning blocks from `start_height` (no `-addrindex`): up to the tip, or with
    /// `bounded` up to [`RpcConfig::max_scan_blocks`] blocks; returns the last height scanned.
    fn scanned_history(
        &self,
        c: &RpcClient,
        scripts: &[ScriptBuf],
        start_height: u32,
        bounded: bool,
    ) -> Result<(Vec<Vec<HistoryEntry>>, u32), ChainError> {
        let (tip, _) = Self::tip_on(c)?;
        let mut out: Vec<Vec<HistoryEntry>> = vec![Vec::new(); scripts.len()];
        let mut funding: Vec<HashSet<OutPoint>> = vec![HashSet::new(); scripts.len()];
        // P2WPKH scripts by value: a spend from one shows its public key in the witness, also
        // when the output it spends was paid before the scanned window.
        let mut by_key_hash: HashMap<&ScriptBuf, Vec<usize>> = HashMap::new();
        for (i, script) in scripts.iter().enumerate() {
            if script.is_p2wpkh() {
                by_key_hash.entry(script).or_default().push(i);
            }
        }
        let mut scanned_to = start_height.saturating_sub(1);
        if start_height <= tip.height {
            let end = if bounded {
                tip.height
                    .min(start_height.saturating_add(self.max_scan_blocks.max(1) - 1))
            } else {
                self.check_scan_window(start_height, tip.height)?;
                tip.height
            };
            scanned_to = end;
            self.scan_blocks(c, start_height, end, |height, block| {
                for tx in &block.txdata {
                    let txid = tx.compute_txid();
                    let mut key_spends: HashSet<usize> = HashSet::new();
                    if !by_key_hash.is_empty() && !tx.is_coinbase() {
                        for inp in &tx.input {
                            if let Some(spent) = p2wpkh_spent_by(&inp.witness) {
                                if let Some(ids) = by_key_hash.get(&spent) {
                                    key_spends.extend(ids);
                                }
                            }
                        }
                    }
                    for (i, script) in scripts.iter().enumerate() {
                        let mut hit = key_spends.contains(&i)
                            || tx
                                .input
                                .iter()
                                .any(|inp| funding[i].contains(&inp.previous_output));
                        for (vout, o) in tx.output.iter().enumerate() {
                            if o.script_pubkey == *script {
                                funding[i].insert(OutPoint::new(txid, vout as u32));
                                hit = true;
                            }
                        }
                        if hit {
                            out[i].push(HistoryEntry {
                                txid,
                                height: Some(height),
                            });
                        }
                    }
                }
                false
            })?;
        }
        self.add_mempool_history(c, scripts, &mut out, &mut funding)?;
        Ok((out, scanned_to))
    }

    fn check_scan_window(&self, start: u32, tip: u32) -> Result<(), ChainError> {
        let blocks = tip.saturating_sub(start).saturating_add(1);
        if blocks > self.max_scan_blocks {
            return Err(ChainError::Unsupported(format!(
                "the node has no -addrindex and scanning from height {start} means {blocks} \
                 blocks (more than the {} one call scans): enable -addrindex, give a later start \
                 height or use scripts_history_from, which scans in steps",
                self.max_scan_blocks
            )));
        }
        Ok(())
    }

    /// Fetches verified blocks `start..=end` in batches and hands them to `visit` in order;
    /// `visit` returns true to stop.
    fn scan_blocks(
        &self,
        c: &RpcClient,
        start: u32,
        end: u32,
        mut visit: impl FnMut(u32, &QtumBlock) -> bool,
    ) -> Result<(), ChainError> {
        // Whole blocks are big; keep batches small so one answer stays a few MB at most.
        let chunk = self.batch_size.min(25) as u32;
        let mut from = start;
        while from <= end {
            let to = end.min(from.saturating_add(chunk - 1));
            let calls: Vec<(&str, Value)> =
                (from..=to).map(|h| ("getblockhash", json!([h]))).collect();
            let hashes: Vec<BlockHash> = c
                .call_batch(&calls)?
                .into_iter()
                .map(|a| a.and_then(|v| parse_hash(&v, "block hash")))
                .collect::<Result<_, _>>()?;
            let calls: Vec<(&str, Value)> = hashes
                .iter()
                .map(|h| ("getblock", json!([h.to_string(), 0])))
                .collect();
            for ((i, answer), hash) in c.call_batch(&calls)?.into_iter().enumerate().zip(&hashes) {
                let block = verify::block_from_bytes(&hex_bytes(&answer?, "block")?, hash)?;
                if visit(from + i as u32, &block) {
                    return Ok(());
                }
            }
            if to == u32::MAX {
                break;
            }
            from = to + 1;
        }
        Ok(())
    }

    fn outspend_on(&self, c: &RpcClient, outpoint: &OutPoint) -> Result<Option<Spend>, ChainError> {
        if self.index_on(c)? {
            let query = json!([{"txid": outpoint.txid.to_string(), "index": outpoint.vout}]);
            match c.call("getspentinfo", query) {
                Ok(v) => {
                    let txid = parse_hash(field(&v, "txid")?, "txid")?;
                    let vin = parse_u32(field(&v, "index")?, "index")?;
                    // Mempool spends carry height -1 (or none).
                    let height = v.get("height").and_then(Value::as_i64).filter(|h| *h > 0);
                    let height = height.and_then(|h| u32::try_from(h).ok());
                    return Ok(Some(Spend { txid, vin, height }));
                }
                // -5 "Unable to get spent info" from an endpoint with the index: not spent.
                Err(e) if is_code(&e, &[-5]) => return Ok(None),
                Err(e) if is_no_index(&e) => self.set_index(c, false),
                Err(e) => return Err(e),
            }
        }
        // No index: gettxout knows the UTXO set and the mempool.
        let utxo = c.call(
            "gettxout",
            json!([outpoint.txid.to_string(), outpoint.vout, true]),
        )?;
        if !utxo.is_null() {
            return Ok(None);
        }
        let matches = |tx: &Transaction| {
            tx.input
                .iter()
                .position(|i| i.previous_output == *outpoint)
                .map(|vin| (tx.compute_txid(), vin as u32))
        };
        // Spent in the mempool?
        let mempool = c.call("getrawmempool", json!([]))?;
        let mempool: Vec<Txid> = mempool
            .as_array()
            .ok_or_else(|| bad("getrawmempool"))?
            .iter()
            .map(|t| parse_hash(t, "txid"))
            .collect::<Result<_, _>>()?;
        let calls: Vec<(&str, Value)> = mempool
            .iter()
            .map(|t| ("getrawtransaction", json!([t.to_string(), false])))
            .collect();
        for raw in c.call_batch(&calls)?.into_iter().flatten() {
            if let Some((txid, vin)) = matches(&decode_tx(&raw)?) {
                return Ok(Some(Spend {
                    txid,
                    vin,
                    height: None,
                }));
            }
        }
        // Spent in a block: scan from the block that created it.
        let verbose = match c.call(
            "getrawtransaction",
            json!([outpoint.txid.to_string(), true]),
        ) {
            Ok(v) => v,
            Err(e) if is_code(&e, &[-5]) => return Ok(None),
            Err(e) => return Err(e),
        };
        let Some((_, created)) = Self::confirmed_block_of(c, &verbose)? else {
            return Ok(None);
        };
        let (tip, _) = Self::tip_on(c)?;
        // Go on from the cursor if the block below it is still in the best chain.
        let saved = self
            .spend_scans()
            .by_output
            .get(outpoint)
            .copied()
            .filter(|s| s.created == created);
        let mut start = created;
        if let Some(SpendScan {
            next,
            anchor: Some(anchor),
            ..
        }) = saved
        {
            if next > created && Self::block_hash_on(c, next - 1)? == Some(anchor) {
                start = next;
            } else {
                log::info!(
                    "the chain changed below the spend scan of {outpoint} (height {next}); \
                     scanning again from its block {created}"
                );
            }
        }
        if start > tip.height {
            return Ok(None);
        }
        let end = tip
            .height
            .min(start.saturating_add(self.max_scan_blocks.max(1) - 1));
        // Where the cursor goes when nothing is found: past `end`, but never into the blocks
        // that may still be reorganised.
        let next_after = if end < tip.height {
            end + 1
        } else {
            (tip.height + 1)
                .saturating_sub(SCAN_SAFETY_MARGIN)
                .clamp(start, end + 1)
        };
        let mut anchor_after = None;
        let mut found = None;
        self.scan_blocks(c, start, end, |height, block| {
            if height + 1 == next_after {
                anchor_after = Some(block.block_hash());
            }
            found = block.txdata.iter().find_map(&matches).map(|(txid, vin)| {
                let spend = Spend {
                    txid,
                    vin,
                    height: Some(height),
                };
                // The cursor stays at the spend's block: asked again, it is found at once.
                let anchor = (height > created).then_some(block.header.prev_blockhash);
                (spend, height, anchor)
            });
            found.is_some()
        })?;
        let mut scans = self.spend_scans();
        let mut cursor = |next: u32, anchor: Option<BlockHash>| {
            let scan = SpendScan {
                created,
                next,
                anchor,
                used: 0,
            };
            scans.put(*outpoint, scan);
        };
        match found {
            Some((spend, height, anchor)) => {
                cursor(height, anchor);
                Ok(Some(spend))
            }
            None if next_after > start => {
                cursor(next_after, anchor_after);
                if end < tip.height {
                    Err(ChainError::Unsupported(format!(
                        "the node has no -addrindex: looking for the spend of {outpoint} by \
                         scanning blocks, at height {end} of {} (created at {created}; goes on \
                         at the next call, {} blocks per call)",
                        tip.height, self.max_scan_blocks
                    )))
                } else {
                    // Spent (the UTXO set says so) but not in a block up to the tip nor in the
                    // mempool: mined or replaced meanwhile; the next call sees it.
                    Ok(None)
                }
            }
            None => Ok(None),
        }
    }
}

impl ChainSource for RpcSource {
    fn describe(&self) -> String {
        match self.endpoints.first() {
            Some(c) => format!("rpc {}", c.url()),
            None => "rpc".into(),
        }
    }

    fn tip(&self) -> Result<BlockRef, ChainError> {
        Ok(self.with_client(Self::tip_on)?.0)
    }

    fn tip_header(&self) -> Result<(BlockRef, QtumHeader), ChainError> {
        self.with_client(Self::tip_on)
    }

    fn block_hash_at(&self, height: u32) -> Result<Option<BlockHash>, ChainError> {
        self.with_client(|c| Self::block_hash_on(c, height))
    }

    fn header(&self, hash: &BlockHash) -> Result<QtumHeader, ChainError> {
        self.with_client(|c| Self::header_on(c, hash))
    }

    fn block(&self, hash: &BlockHash) -> Result<QtumBlock, ChainError> {
        self.with_client(|c| Self::block_on(c, hash))
    }

    fn transaction(&self, txid: &Txid) -> Result<Option<Transaction>, ChainError> {
        self.with_client(
            |c| match c.call("getrawtransaction", json!([txid.to_string(), false])) {
                Ok(raw) => {
                    let tx = decode_tx(&raw)?;
                    verify::check_txid(&tx, txid)?;
                    Ok(Some(tx))
                }
                Err(e) if is_code(&e, &[-5]) => Ok(None),
                Err(e) => Err(e),
            },
        )
    }

    fn tx_status(&self, txid: &Txid) -> Result<TxStatus, ChainError> {
        self.with_client(|c| Self::tx_status_on(c, txid))
    }

    fn script_history(&self, script: &Script) -> Result<Vec<HistoryEntry>, ChainError> {
        let mut all = self.scripts_history(&[script.to_owned()], 0)?;
        Ok(all.pop().unwrap_or_default())
    }

    fn scripts_history(
        &self,
        scripts: &[ScriptBuf],
        start_height: u32,
    ) -> Result<Vec<Vec<HistoryEntry>>, ChainError> {
        self.with_client(|c| match self.indexed_history(c, scripts)? {
            Some(history) => Ok(history),
            None => Ok(self.scanned_history(c, scripts, start_height, false)?.0),
        })
    }

    fn scripts_history_from(
        &self,
        scripts: &[ScriptBuf],
        start_height: u32,
    ) -> Result<ScriptHistories, ChainError> {
        self.with_client(|c| match self.indexed_history(c, scripts)? {
            Some(histories) => Ok(ScriptHistories {
                histories,
                scanned_to: None,
            }),
            None => {
                let (histories, last) = self.scanned_history(c, scripts, start_height, true)?;
                Ok(ScriptHistories {
                    histories,
                    scanned_to: Some(last),
                })
            }
        })
    }

    fn outspend(&self, outpoint: &OutPoint) -> Result<Option<Spend>, ChainError> {
        self.with_client(|c| self.outspend_on(c, outpoint))
    }

    fn broadcast(&self, tx: &Transaction) -> Result<Txid, ChainError> {
        let hex = serialize_hex(tx);
        self.with_client(|c| match c.call("sendrawtransaction", json!([hex])) {
            Ok(v) => parse_hash(&v, "txid"),
            // -25 missing inputs, -26 policy, -27 already in chain, -22 undecodable.
            Err(ChainError::Source { code, message }) if [-22, -25, -26, -27].contains(&code) => {
                Err(ChainError::Rejected {
                    code,
                    reason: message,
                })
            }
            Err(e) => Err(e),
        })
    }

    fn fee_estimates(&self) -> Result<FeeEstimates, ChainError> {
        self.with_client(|c| {
            let calls: Vec<(&str, Value)> = FEE_TARGETS
                .iter()
                .map(|t| ("estimatesmartfee", json!([t])))
                .collect();
            let mut by_target = Vec::new();
            for (target, answer) in FEE_TARGETS.iter().zip(c.call_batch(&calls)?) {
                // No "feerate" (with an "errors" list) is how qtumd says it has no data.
                if let Some(rate) = answer?.get("feerate").and_then(Value::as_f64) {
                    if rate.is_finite() && rate > 0.0 {
                        let sat_per_kvb = (rate * 100_000_000.0).round() as u64;
                        by_target.push((*target, sat_per_kvb_to_sat_per_kw(sat_per_kvb)));
                    }
                }
            }
            Ok(FeeEstimates { by_target })
        })
    }

    fn header_at(&self, height: u32) -> Result<Option<(BlockRef, QtumHeader)>, ChainError> {
        self.with_client(|c| match Self::block_hash_on(c, height)? {
            None => Ok(None),
            Some(hash) => {
                let header = Self::header_on(c, &hash)?;
                Ok(Some((BlockRef::of(&header, height), header)))
            }
        })
    }

    fn headers_between(
        &self,
        start: u32,
        end: u32,
    ) -> Result<Vec<(BlockRef, QtumHeader)>, ChainError> {
        self.headers_range(start, end)
    }

    fn requests_made(&self) -> u64 {
        self.counter.get()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_output_hides_credentials() {
        let auth = RpcAuth::UserPass {
            user: "u".into(),
            password: "hunter2".into(),
        };
        let client = RpcClient::new(
            "http://x:alsosecret@127.0.0.1:1",
            auth.clone(),
            Duration::from_secs(1),
        );
        let text = format!("{client:?} {auth:?}");
        assert!(
            !text.contains("hunter2") && !text.contains("alsosecret"),
            "{text}"
        );
        let config = RpcConfig::new(
            Network::Regtest,
            vec![RpcEndpoint::new("http://127.0.0.1:1", auth)],
        );
        assert!(!format!("{config:?}").contains("hunter2"));
    }

    #[test]
    fn parses_qtumd_error_objects() {
        let reply = json!({"result": null, "error": {"code": -26, "message": "min relay fee not met, 56399 < 56400"}, "id": 1});
        assert_eq!(
            parse_reply(&reply),
            Err(ChainError::Source {
                code: -26,
                message: "min relay fee not met, 56399 < 56400".into()
            })
        );
        assert!(is_no_index(&ChainError::Source {
            code: -32601,
            message: "Method not found".into()
        }));
        assert!(is_no_index(&ChainError::Source {
            code: -5,
            message: "Address index not enabled".into()
        }));
        assert!(is_no_index(&ChainError::Source {
            code: -5,
            message: "No information available for address".into()
        }));
        // getspentinfo's answer for an unspent output, with or without the index: not a sign.
        assert!(!is_no_index(&ChainError::Source {
            code: -5,
            message: "Unable to get spent info".into()
        }));
    }
}

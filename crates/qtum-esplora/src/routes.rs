//! Request routing and the qtumd backend behind each route.

use std::collections::{HashMap, HashSet};
use std::path::PathBuf;
use std::str::FromStr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use bitcoin::consensus::encode::{deserialize, serialize};
use bitcoin::hashes::Hash;
use bitcoin::hex::{DisplayHex, FromHex};
use bitcoin::{BlockHash, OutPoint, Script, ScriptBuf, Transaction, TxOut, Txid};
use serde_json::{json, Value};

use qtum_chain::{verify, ChainError, RpcClient};
use qtum_primitives::address::QtumAddress;
use qtum_primitives::network::Network;

use crate::index::{IndexError, IndexedBlock, ScriptIndex};
use crate::mempool::{Delta, MempoolView};
use qtum_http::{Request, Response};

/// Confirmed transactions per `/scripthash/:hash/txs` page, as Esplora.
const CHAIN_PAGE: usize = 25;
/// Mempool transactions listed before the first confirmed page, as Esplora.
const MEMPOOL_PAGE: usize = 50;
/// Blocks read per batch while catching up (and stored per SQLite transaction).
const INDEX_BATCH: u32 = 25;
/// Targets answered by `/fee-estimates`.
const FEE_TARGETS: [u16; 15] = [1, 2, 3, 4, 5, 6, 8, 10, 12, 15, 20, 25, 144, 504, 1008];
/// qtumd's codes for a transaction it refuses (verify error, policy rejection, already in the
/// chain, undecodable): their reason goes back to the client, as Esplora does. Any other
/// `sendrawtransaction` failure is a server error whose text stays in the log.
const REJECTION_CODES: [i64; 4] = [-25, -26, -27, -22];
/// Longest rejection reason passed on (qtumd's are short: `dust`, `min relay fee not met, …`).
const MAX_REASON: usize = 200;

/// Why a route failed, as the HTTP answer it becomes. Only our own texts reach the client:
/// whatever qtumd or the database said is logged and answered with a generic message.
pub(crate) enum Fail {
    BadRequest(String),
    NotFound(&'static str),
    /// A transaction qtumd refused, with its (sanitised) reason.
    Rejected {
        code: i64,
        reason: String,
    },
    Backend(ChainError),
    Index(IndexError),
}

impl From<ChainError> for Fail {
    fn from(e: ChainError) -> Fail {
        match e {
            // -5 no such block/transaction, -8 height out of range.
            ChainError::Source { code: -5 | -8, .. } => Fail::NotFound("Not found"),
            e => Fail::Backend(e),
        }
    }
}

impl From<IndexError> for Fail {
    fn from(e: IndexError) -> Fail {
        Fail::Index(e)
    }
}

impl std::fmt::Display for Fail {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Fail::BadRequest(m) => write!(f, "bad request: {m}"),
            Fail::NotFound(m) => write!(f, "{m}"),
            Fail::Rejected { code, reason } => write!(f, "rejected ({code}): {reason}"),
            Fail::Backend(e) => write!(f, "{e}"),
            Fail::Index(e) => write!(f, "{e}"),
        }
    }
}

enum Body {
    Text(String),
    Json(Value),
    Bytes(Vec<u8>),
}

type Answer = Result<Body, Fail>;

/// What the backend needs from the server's configuration.
pub(crate) struct BackendConfig {
    pub(crate) data_dir: Option<PathBuf>,
    pub(crate) mempool_refresh: Duration,
    pub(crate) max_utxos: usize,
}

/// The qtumd side of the server.
pub(crate) struct Backend {
    rpc: RpcClient,
    network: Network,
    index: Mutex<ScriptIndex>,
    // Serialises catch-ups (one reader of new blocks at a time) without blocking look-ups.
    catching_up: Mutex<()>,
    mempool: Mutex<MempoolView>,
    mempool_refresh: Duration,
    max_utxos: usize,
    blocks_indexed: AtomicU64,
    mempool_reads: AtomicU64,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

fn bad(what: &str) -> ChainError {
    ChainError::InvalidResponse(format!("unexpected RPC answer: {what}"))
}

fn parse<T: FromStr>(v: &Value, what: &str) -> Result<T, ChainError> {
    v.as_str()
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| bad(what))
}

fn hex_of(v: &Value, what: &str) -> Result<Vec<u8>, ChainError> {
    v.as_str()
        .and_then(|s| Vec::from_hex(s).ok())
        .ok_or_else(|| bad(what))
}

fn tx_of(v: &Value) -> Result<Transaction, ChainError> {
    deserialize(&hex_of(v, "transaction hex")?).map_err(|_| bad("transaction"))
}

fn script_type(script: &Script) -> &'static str {
    if script.is_p2pkh() {
        "p2pkh"
    } else if script.is_p2sh() {
        "p2sh"
    } else if script.is_p2wpkh() {
        "v0_p2wpkh"
    } else if script.is_p2wsh() {
        "v0_p2wsh"
    } else if script.is_p2tr() {
        "v1_p2tr"
    } else if script.is_op_return() {
        "op_return"
    } else if script.is_p2pk() {
        "p2pk"
    } else {
        "unknown"
    }
}

/// qtumd's rejection reason fit to pass on: printable ASCII, at most [`MAX_REASON`] characters.
fn sanitise_reason(reason: &str) -> String {
    reason
        .chars()
        .filter(|c| c.is_ascii_graphic() || *c == ' ')
        .take(MAX_REASON)
        .collect()
}

/// One row of `getaddressutxos`.
struct AddressUtxo {
    outpoint: OutPoint,
    value: Value,
    height: u64,
}

impl Backend {
    /// A backend over `rpc`: asks qtumd which chain it runs and opens the script index (in
    /// `config.data_dir/<chain>/index.sqlite`, or in memory).
    pub(crate) fn new(rpc: RpcClient, config: &BackendConfig) -> Result<Backend, String> {
        let info = rpc
            .call("getblockchaininfo", json!([]))
            .map_err(|e| format!("qtumd backend: {e}"))?;
        let chain = info.get("chain").and_then(Value::as_str).unwrap_or("");
        let network = match chain {
            "main" => Network::Mainnet,
            "test" => Network::Testnet,
            "regtest" => Network::Regtest,
            other => return Err(format!("qtumd backend: unknown chain {other:?}")),
        };
        // qtumd answers the index calls with or without `-addrindex`; without it `getspentinfo`
        // says "Unable to get spent info" for every output, which this server would pass on
        // as "unspent". An address nobody can pay must come back as a list.
        let probe = QtumAddress::from_script(
            &ScriptBuf::new_p2pkh(&bitcoin::PubkeyHash::all_zeros()),
            network,
        )
        .map_err(|e| format!("probe address: {e}"))?;
        match rpc.call(
            "getaddresstxids",
            json!([{"addresses": [probe.to_string()]}]),
        ) {
            Ok(v) if v.is_array() => {}
            Ok(_) => return Err("qtumd backend: getaddresstxids answered no list".into()),
            Err(ChainError::Source { code, message }) if code == -5 || code == -32601 => {
                return Err(format!(
                    "qtumd backend has no address index ({message}): start it with \
                     -addrindex=1 (and -reindex once)"
                ))
            }
            Err(e) => return Err(format!("qtumd backend: {e}")),
        }
        let genesis: BlockHash = rpc
            .call("getblockhash", json!([0]))
            .and_then(|v| parse(&v, "genesis hash"))
            .map_err(|e| format!("qtumd backend: {e}"))?;
        let index = match &config.data_dir {
            None => ScriptIndex::in_memory(&genesis).map_err(|e| format!("script index: {e}"))?,
            Some(dir) => {
                let dir = dir.join(chain);
                std::fs::create_dir_all(&dir)
                    .map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
                let path = dir.join("index.sqlite");
                ScriptIndex::open(&path, &genesis)
                    .map_err(|e| format!("script index {}: {e}", path.display()))?
            }
        };
        if let Some(tip) = index.tip().map_err(|e| format!("script index: {e}"))? {
            log::info!(
                "script index resumes after block {} at height {}",
                tip.hash,
                tip.height
            );
        }
        Ok(Backend {
            rpc,
            network,
            index: Mutex::new(index),
            catching_up: Mutex::new(()),
            mempool: Mutex::new(MempoolView::default()),
            mempool_refresh: config.mempool_refresh,
            max_utxos: config.max_utxos,
            blocks_indexed: AtomicU64::new(0),
            mempool_reads: AtomicU64::new(0),
        })
    }

    /// RPC requests made so far.
    pub(crate) fn requests_made(&self) -> u64 {
        self.rpc.requests_made()
    }

    /// Blocks this process read into the script index.
    pub(crate) fn blocks_indexed(&self) -> u64 {
        self.blocks_indexed.load(Ordering::Relaxed)
    }

    /// Times this process read the mempool.
    pub(crate) fn mempool_reads(&self) -> u64 {
        self.mempool_reads.load(Ordering::Relaxed)
    }

    fn call(&self, method: &str, params: Value) -> Result<Value, ChainError> {
        self.rpc.call(method, params)
    }

    /// The transactions `txids` that the node knows, in one batched request; unknown ones are
    /// left out (a parent may be pruned or not indexed).
    fn transactions(&self, txids: &[Txid]) -> Result<HashMap<Txid, Transaction>, ChainError> {
        let calls: Vec<(&str, Value)> = txids
            .iter()
            .map(|t| ("getrawtransaction", json!([t.to_string(), false])))
            .collect();
        let mut found = HashMap::new();
        for (txid, answer) in txids.iter().zip(self.batch(&calls)?) {
            if let Ok(raw) = answer {
                let tx = tx_of(&raw)?;
                verify::check_txid(&tx, txid)?;
                found.insert(*txid, tx);
            }
        }
        Ok(found)
    }

    fn batch(&self, calls: &[(&str, Value)]) -> Result<Vec<Result<Value, ChainError>>, ChainError> {
        let mut out = Vec::with_capacity(calls.len());
        // Keep each batch answer a reasonable size.
        for chunk in calls.chunks(200) {
            out.extend(self.rpc.call_batch(chunk)?);
        }
        Ok(out)
    }

    /// Reads new best-chain blocks into the script index, first dropping blocks a
    /// reorganisation removed (including one that happened while the server was stopped).
    /// Returns the best block it caught up to.
    pub(crate) fn catch_up(&self) -> Result<BlockHash, Fail> {
        let _one_at_a_time = lock(&self.catching_up);
        let best: BlockHash = parse(&self.call("getbestblockhash", json!([]))?, "hash")?;
        if lock(&self.index).tip()?.map(|t| t.hash) == Some(best) {
            return Ok(best);
        }
        let height: u32 = self
            .call("getblockcount", json!([]))?
            .as_u64()
            .and_then(|h| u32::try_from(h).ok())
            .ok_or_else(|| bad("getblockcount"))?;
        // Rounds in a row whose first block did not link to the tip although the tip is still
        // qtumd's block at its height: a chain changing under us, or a broken backend.
        let mut unlinked = 0;
        loop {
            let tip = lock(&self.index).tip()?;
            // Drop the tip while it is not the best chain's block at its height; the scripts
            // of dropped blocks stay known, which is harmless.
            if let Some(t) = tip {
                let still_best = t.height <= height
                    && parse::<BlockHash>(&self.call("getblockhash", json!([t.height]))?, "hash")?
                        == t.hash;
                if !still_best {
                    log::info!(
                        "script index: block {} at {} left the best chain",
                        t.hash,
                        t.height
                    );
                    let mut index = lock(&self.index);
                    index.pop_tip()?;
                    if index.tip()?.is_none() && t.height > 0 {
                        log::warn!(
                            "script index: reorganisation deeper than the {} blocks kept; \
                             reading the chain again from genesis",
                            crate::index::RECENT_BLOCKS
                        );
                    }
                    continue;
                }
            }
            let from = tip.map_or(0, |t| t.height + 1);
            if from > height {
                return Ok(best);
            }
            let to = height.min(from + INDEX_BATCH - 1);
            let calls: Vec<(&str, Value)> =
                (from..=to).map(|h| ("getblockhash", json!([h]))).collect();
            let hashes: Vec<BlockHash> = self
                .rpc
                .call_batch(&calls)?
                .into_iter()
                .map(|a| a.and_then(|v| parse(&v, "hash")))
                .collect::<Result<_, _>>()?;
            let calls: Vec<(&str, Value)> = hashes
                .iter()
                .map(|h| ("getblock", json!([h.to_string(), 0])))
                .collect();
            let mut previous = tip.map(|t| t.hash);
            let mut read = Vec::new();
            for ((answer, hash), height) in self
                .rpc
                .call_batch(&calls)?
                .into_iter()
                .zip(&hashes)
                .zip(from..)
            {
                let block = verify::block_from_bytes(&hex_of(&answer?, "block")?, hash)?;
                // A reorganisation between two batches: stop here, the next round drops the
                // stale tip.
                if previous.is_some_and(|p| p != block.header.prev_blockhash) {
                    break;
                }
                previous = Some(*hash);
                let scripts = block
                    .txdata
                    .iter()
                    .flat_map(|tx| tx.output.iter().map(|o| o.script_pubkey.clone()))
                    .collect();
                read.push((
                    IndexedBlock {
                        height,
                        hash: *hash,
                    },
                    scripts,
                ));
            }
            let n = read.len() as u64;
            lock(&self.index).add_blocks(&read)?;
            self.blocks_indexed.fetch_add(n, Ordering::Relaxed);
            if n == 0 {
                // The first block did not link to the tip: check the tip again, a few times.
                unlinked += 1;
                if unlinked > 3 {
                    return Err(Fail::Backend(bad(
                        "blocks that do not link to the index's tip",
                    )));
                }
                continue;
            }
            unlinked = 0;
        }
    }

    /// Runs `f` on the mempool view, reading the mempool again first if the view is older than
    /// the refresh interval or from before `best`.
    fn with_mempool<R>(
        &self,
        best: &BlockHash,
        f: impl FnOnce(&MempoolView) -> R,
    ) -> Result<R, ChainError> {
        let mut view = lock(&self.mempool);
        if view.is_stale(best, self.mempool_refresh) {
            self.mempool_reads.fetch_add(1, Ordering::Relaxed);
            let txids: Vec<Txid> = self
                .call("getrawmempool", json!([]))?
                .as_array()
                .ok_or_else(|| bad("getrawmempool"))?
                .iter()
                .map(|t| parse(t, "txid"))
                .collect::<Result<_, _>>()?;
            let unseen: Vec<Txid> = txids
                .iter()
                .filter(|t| !view.contains(t))
                .copied()
                .collect();
            // Gone between the two calls (mined or evicted) are left out.
            let new = self.transactions(&unseen)?;
            let parents = self.transactions(&view.missing_parents(&new))?;
            view.apply(
                Delta {
                    txids,
                    new,
                    parents,
                },
                *best,
            );
        }
        Ok(f(&view))
    }

    /// The script whose hash is `hash`: from the index, else from the mempool.
    fn script_for(&self, hash: &[u8; 32], best: &BlockHash) -> Result<Option<ScriptBuf>, Fail> {
        if let Some(script) = lock(&self.index).lookup(hash)? {
            return Ok(Some(script));
        }
        Ok(self.with_mempool(best, |view| view.script(hash))?)
    }

    fn address(&self, script: &Script) -> Option<String> {
        QtumAddress::from_script(script, self.network)
            .ok()
            .map(|a| a.to_string())
    }

    /// `(status JSON, block hash)` for the block `hash`, from its verbose header.
    fn statuses(&self, hashes: &[String]) -> Result<HashMap<String, Value>, ChainError> {
        let unique: Vec<&String> = hashes.iter().collect::<HashSet<_>>().into_iter().collect();
        let calls: Vec<(&str, Value)> = unique
            .iter()
            .map(|h| ("getblockheader", json!([h, true])))
            .collect();
        let mut out = HashMap::new();
        for (hash, answer) in unique.into_iter().zip(self.batch(&calls)?) {
            let header = answer?;
            let in_chain = header
                .get("confirmations")
                .and_then(Value::as_i64)
                .unwrap_or(0)
                >= 1;
            let status = if in_chain {
                json!({
                    "confirmed": true,
                    "block_height": header.get("height"),
                    "block_hash": hash,
                    "block_time": header.get("time"),
                })
            } else {
                json!({"confirmed": false})
            };
            out.insert(hash.clone(), status);
        }
        Ok(out)
    }

    /// Esplora transaction JSON for each txid (in order), in three batched RPC round trips.
    /// Unknown txids are skipped.
    fn txs_json(&self, txids: &[Txid]) -> Result<Vec<Value>, ChainError> {
        let calls: Vec<(&str, Value)> = txids
            .iter()
            .map(|t| ("getrawtransaction", json!([t.to_string(), true])))
            .collect();
        let mut found = Vec::new();
        for (txid, answer) in txids.iter().zip(self.batch(&calls)?) {
            let verbose = match answer {
                Ok(v) => v,
                Err(ChainError::Source { code: -5, .. }) => continue,
                Err(e) => return Err(e),
            };
            let tx = tx_of(verbose.get("hex").ok_or_else(|| bad("hex"))?)?;
            verify::check_txid(&tx, txid)?;
            let block = verbose
                .get("blockhash")
                .and_then(Value::as_str)
                .map(str::to_string);
            found.push((tx, block));
        }
        let blocks: Vec<String> = found.iter().filter_map(|(_, b)| b.clone()).collect();
        let statuses = self.statuses(&blocks)?;
        let parents: Vec<Txid> = found
            .iter()
            .flat_map(|(tx, _)| tx.input.iter())
            .filter(|i| !i.previous_output.is_null())
            .map(|i| i.previous_output.txid)
            .collect::<HashSet<_>>()
            .into_iter()
            .collect();
        let parent_txs = self.transactions(&parents)?;
        Ok(found
            .iter()
            .map(|(tx, block)| {
                let status = block
                    .as_ref()
                    .and_then(|b| statuses.get(b).cloned())
                    .unwrap_or_else(|| json!({"confirmed": false}));
                let prevouts: Vec<Option<TxOut>> = tx
                    .input
                    .iter()
                    .map(|i| {
                        parent_txs
                            .get(&i.previous_output.txid)
                            .and_then(|p| p.output.get(i.previous_output.vout as usize))
                            .cloned()
                    })
                    .collect();
                self.tx_json(tx, &prevouts, status)
            })
            .collect())
    }

    fn output_json(&self, out: &TxOut) -> Value {
        let mut v = json!({
            "scriptpubkey": out.script_pubkey.as_bytes().to_lower_hex_string(),
            "scriptpubkey_type": script_type(&out.script_pubkey),
            "value": out.value.to_sat(),
        });
        if let (Some(addr), Some(map)) = (self.address(&out.script_pubkey), v.as_object_mut()) {
            map.insert("scriptpubkey_address".into(), json!(addr));
        }
        v
    }

    fn tx_json(&self, tx: &Transaction, prevouts: &[Option<TxOut>], status: Value) -> Value {
        let coinbase = tx.is_coinbase();
        let vin: Vec<Value> = tx
            .input
            .iter()
            .zip(prevouts)
            .map(|(i, prev)| {
                json!({
                    "txid": i.previous_output.txid.to_string(),
                    "vout": i.previous_output.vout,
                    "prevout": prev.as_ref().map(|p| self.output_json(p)),
                    "scriptsig": i.script_sig.as_bytes().to_lower_hex_string(),
                    "witness": i.witness.iter().map(|w| w.to_lower_hex_string()).collect::<Vec<_>>(),
                    "is_coinbase": coinbase,
                    "sequence": i.sequence.0,
                })
            })
            .collect();
        let vout: Vec<Value> = tx.output.iter().map(|o| self.output_json(o)).collect();
        let fee = if coinbase {
            0
        } else {
            let inputs: u64 = prevouts.iter().flatten().map(|p| p.value.to_sat()).sum();
            let outputs: u64 = tx.output.iter().map(|o| o.value.to_sat()).sum();
            inputs.saturating_sub(outputs)
        };
        json!({
            "txid": tx.compute_txid().to_string(),
            "version": tx.version.0,
            "locktime": tx.lock_time.to_consensus_u32(),
            "vin": vin,
            "vout": vout,
            "size": tx.total_size(),
            "weight": tx.weight().to_wu(),
            "fee": fee,
            "status": status,
        })
    }

    /// Esplora status JSON of each of `txids` (unconfirmed when qtumd has no block for it).
    fn tx_statuses(&self, txids: &[Txid]) -> Result<HashMap<Txid, Value>, ChainError> {
        let calls: Vec<(&str, Value)> = txids
            .iter()
            .map(|t| ("getrawtransaction", json!([t.to_string(), true])))
            .collect();
        let mut blocks: HashMap<Txid, String> = HashMap::new();
        for (txid, answer) in txids.iter().zip(self.batch(&calls)?) {
            match answer {
                Ok(verbose) => {
                    if let Some(block) = verbose.get("blockhash").and_then(Value::as_str) {
                        blocks.insert(*txid, block.to_string());
                    }
                }
                Err(ChainError::Source { code: -5, .. }) => {}
                Err(e) => return Err(e),
            }
        }
        let hashes: Vec<String> = blocks.values().cloned().collect();
        let statuses = self.statuses(&hashes)?;
        Ok(txids
            .iter()
            .map(|t| {
                let status = blocks
                    .get(t)
                    .and_then(|b| statuses.get(b).cloned())
                    .unwrap_or_else(|| json!({"confirmed": false}));
                (*t, status)
            })
            .collect())
    }

    fn tx_status(&self, txid: &Txid) -> Result<Value, Fail> {
        // An unknown transaction is a 404, not an unconfirmed one.
        self.call("getrawtransaction", json!([txid.to_string(), false]))?;
        Ok(self
            .tx_statuses(std::slice::from_ref(txid))?
            .remove(txid)
            .unwrap_or_else(|| json!({"confirmed": false})))
    }

    /// Esplora outspend JSON for each of `outpoints`, in a fixed number of batched round trips
    /// however many there are.
    fn outspends(&self, outpoints: &[OutPoint]) -> Result<Vec<Value>, Fail> {
        let calls: Vec<(&str, Value)> = outpoints
            .iter()
            .map(|o| {
                (
                    "getspentinfo",
                    json!([{"txid": o.txid.to_string(), "index": o.vout}]),
                )
            })
            .collect();
        let mut spenders: Vec<Option<(Txid, Value)>> = Vec::with_capacity(outpoints.len());
        for answer in self.batch(&calls)? {
            match answer {
                Ok(info) => {
                    let spender: Txid = parse(info.get("txid").unwrap_or(&Value::Null), "spender")?;
                    spenders.push(Some((
                        spender,
                        info.get("index").cloned().unwrap_or_default(),
                    )));
                }
                Err(ChainError::Source { code: -5, .. }) => spenders.push(None),
                Err(e) => return Err(e.into()),
            }
        }
        let unique: Vec<Txid> = spenders
            .iter()
            .flatten()
            .map(|(t, _)| *t)
            .collect::<HashSet<_>>()
            .into_iter()
            .collect();
        let statuses = self.tx_statuses(&unique)?;
        Ok(spenders
            .into_iter()
            .map(|s| match s {
                None => json!({"spent": false}),
                Some((txid, vin)) => json!({
                    "spent": true,
                    "txid": txid.to_string(),
                    "vin": vin,
                    "status": statuses.get(&txid).cloned().unwrap_or_else(|| json!({"confirmed": false})),
                }),
            })
            .collect())
    }

    /// Confirmed txids of `script` (oldest first), from qtumd's address index.
    fn confirmed_txids(&self, script: &Script) -> Result<Vec<Txid>, ChainError> {
        match self.address(script) {
            Some(address) => self
                .call("getaddresstxids", json!([{"addresses": [address]}]))?
                .as_array()
                .ok_or_else(|| bad("getaddresstxids"))?
                .iter()
                .map(|t| parse(t, "txid"))
                .collect(),
            // Scripts without an address are not in qtumd's index.
            None => Ok(Vec::new()),
        }
    }

    fn scripthash_txs(
        &self,
        hash: &[u8; 32],
        last_seen: Option<Txid>,
        mempool_only: bool,
    ) -> Answer {
        let best = self.catch_up()?;
        let Some(script) = self.script_for(hash, &best)? else {
            return Ok(Body::Json(json!([])));
        };
        let confirmed = if mempool_only {
            Vec::new()
        } else {
            self.confirmed_txids(&script)?
        };
        let mut newest_first: Vec<Txid> = confirmed.into_iter().rev().collect();
        let mut page: Vec<Txid> = Vec::new();
        match last_seen {
            Some(last) => {
                let Some(at) = newest_first.iter().position(|t| *t == last) else {
                    return Err(Fail::BadRequest(
                        "last_seen txid is not in this history".into(),
                    ));
                };
                page.extend(newest_first.drain(..).skip(at + 1).take(CHAIN_PAGE));
            }
            None => {
                // A transaction mined since the view was read is listed once, as confirmed.
                let in_chain: HashSet<&Txid> = newest_first.iter().collect();
                let unconfirmed = self.with_mempool(&best, |view| view.touching(hash))?;
                page.extend(
                    unconfirmed
                        .into_iter()
                        .filter(|t| !in_chain.contains(t))
                        .take(MEMPOOL_PAGE),
                );
                if !mempool_only {
                    page.extend(newest_first.into_iter().take(CHAIN_PAGE));
                }
            }
        }
        Ok(Body::Json(Value::Array(self.txs_json(&page)?)))
    }

    fn address_utxos(&self, script: &Script) -> Result<Vec<AddressUtxo>, ChainError> {
        let Some(address) = self.address(script) else {
            return Ok(Vec::new());
        };
        let rows = self.call("getaddressutxos", json!([{"addresses": [address]}]))?;
        rows.as_array()
            .ok_or_else(|| bad("getaddressutxos"))?
            .iter()
            .map(|row| {
                let txid: Txid = parse(row.get("txid").unwrap_or(&Value::Null), "txid")?;
                let vout = row
                    .get("outputIndex")
                    .and_then(Value::as_u64)
                    .and_then(|v| u32::try_from(v).ok())
                    .ok_or_else(|| bad("outputIndex"))?;
                let height = row
                    .get("height")
                    .and_then(Value::as_u64)
                    .ok_or_else(|| bad("height"))?;
                Ok(AddressUtxo {
                    outpoint: OutPoint::new(txid, vout),
                    value: row.get("satoshis").cloned().unwrap_or_default(),
                    height,
                })
            })
            .collect()
    }

    fn scripthash_utxo(&self, hash: &[u8; 32]) -> Answer {
        let best = self.catch_up()?;
        let Some(script) = self.script_for(hash, &best)? else {
            return Ok(Body::Json(json!([])));
        };
        let rows = self.address_utxos(&script)?;
        let (rows, in_mempool) = self.with_mempool(&best, |view| {
            let rows: Vec<AddressUtxo> = rows
                .into_iter()
                .filter(|r| !view.is_spent(&r.outpoint))
                .collect();
            (rows, view.unspent_outputs(hash))
        })?;
        // Counted before anything is fetched for them.
        if rows.len() + in_mempool.len() > self.max_utxos {
            return Err(Fail::BadRequest(format!(
                "Too many unspent outputs for this script (more than {}): this server lists at \
                 most {} per script",
                self.max_utxos, self.max_utxos
            )));
        }
        let calls: Vec<(&str, Value)> = rows
            .iter()
            .map(|r| ("getblockhash", json!([r.height])))
            .collect();
        let hashes: Vec<String> = self
            .batch(&calls)?
            .into_iter()
            .map(|a| a.and_then(|v| v.as_str().map(str::to_string).ok_or_else(|| bad("hash"))))
            .collect::<Result<_, _>>()?;
        let statuses = self.statuses(&hashes)?;
        let mut out: Vec<Value> = rows
            .iter()
            .zip(&hashes)
            .map(|(r, block)| {
                json!({
                    "txid": r.outpoint.txid.to_string(),
                    "vout": r.outpoint.vout,
                    "value": r.value,
                    "status": statuses.get(block),
                })
            })
            .collect();
        out.extend(in_mempool.into_iter().map(|(outpoint, value)| {
            json!({
                "txid": outpoint.txid.to_string(),
                "vout": outpoint.vout,
                "value": value,
                "status": {"confirmed": false},
            })
        }));
        Ok(Body::Json(Value::Array(out)))
    }

    fn fee_estimates(&self) -> Answer {
        let calls: Vec<(&str, Value)> = FEE_TARGETS
            .iter()
            .map(|t| ("estimatesmartfee", json!([t])))
            .collect();
        let mut out = serde_json::Map::new();
        for (target, answer) in FEE_TARGETS.iter().zip(self.batch(&calls)?) {
            // qtumd's QTUM/kvB to Esplora's sat/vB.
            if let Some(rate) = answer?.get("feerate").and_then(Value::as_f64) {
                out.insert(target.to_string(), json!(rate * 100_000_000.0 / 1000.0));
            }
        }
        Ok(Body::Json(Value::Object(out)))
    }

    fn block_json(&self, hash: &BlockHash) -> Answer {
        let answers = self.rpc.call_batch(&[
            ("getblock", json!([hash.to_string(), 0])),
            ("getblockheader", json!([hash.to_string(), true])),
        ])?;
        let mut answers = answers.into_iter();
        let raw = answers.next().ok_or_else(|| bad("batch"))??;
        let verbose = answers.next().ok_or_else(|| bad("batch"))??;
        let block = verify::block_from_bytes(&hex_of(&raw, "block")?, hash)?;
        Ok(Body::Json(json!({
            "id": hash.to_string(),
            "height": verbose.get("height"),
            "version": block.header.version,
            "timestamp": block.header.time,
            "tx_count": block.txdata.len(),
            "size": block.total_size(),
            "weight": block.weight().to_wu(),
            "merkle_root": block.header.merkle_root.to_string(),
            "previousblockhash": (block.header.prev_blockhash != BlockHash::all_zeros()).then(|| block.header.prev_blockhash.to_string()),
            "mediantime": verbose.get("mediantime"),
            "nonce": block.header.nonce,
            "bits": block.header.bits.to_consensus(),
            "difficulty": verbose.get("difficulty"),
        })))
    }

    fn raw_block(&self, hash: &BlockHash) -> Result<qtum_primitives::block::QtumBlock, Fail> {
        let raw = self.call("getblock", json!([hash.to_string(), 0]))?;
        Ok(verify::block_from_bytes(&hex_of(&raw, "block")?, hash)?)
    }

    fn route(&self, method: &str, path: &[&str], body: &[u8]) -> Answer {
        const GET: &str = "GET";
        const POST: &str = "POST";
        match (method, path) {
            (GET, ["blocks", "tip", "height"]) => Ok(Body::Text(
                self.call("getblockcount", json!([]))?.to_string(),
            )),
            (GET, ["blocks", "tip", "hash"]) => Ok(Body::Text(
                parse::<BlockHash>(&self.call("getbestblockhash", json!([]))?, "hash")?.to_string(),
            )),
            (GET, ["block-height", h]) => {
                let h: u32 = h
                    .parse()
                    .map_err(|_| Fail::BadRequest("invalid height".into()))?;
                match self.call("getblockhash", json!([h])) {
                    Ok(v) => Ok(Body::Text(parse::<BlockHash>(&v, "hash")?.to_string())),
                    Err(ChainError::Source { code: -8, .. }) => {
                        Err(Fail::NotFound("Block not found"))
                    }
                    Err(e) => Err(e.into()),
                }
            }
            (GET, ["block", hash, rest @ ..]) => {
                let hash: BlockHash = hash
                    .parse()
                    .map_err(|_| Fail::BadRequest("Invalid hex string".into()))?;
                match rest {
                    [] => self.block_json(&hash),
                    ["header"] => {
                        let raw = self.call("getblockheader", json!([hash.to_string(), false]))?;
                        let header = verify::header_from_bytes(&hex_of(&raw, "header")?, &hash)?;
                        Ok(Body::Text(header.to_hex()))
                    }
                    ["raw"] => Ok(Body::Bytes(self.raw_block(&hash)?.to_bytes())),
                    ["status"] => {
                        let v = self.call("getblockheader", json!([hash.to_string(), true]))?;
                        let best = v.get("confirmations").and_then(Value::as_i64).unwrap_or(0) >= 1;
                        Ok(Body::Json(json!({
                            "in_best_chain": best,
                            "height": v.get("height"),
                            "next_best": if best { v.get("nextblockhash").cloned() } else { None },
                        })))
                    }
                    ["txids"] => {
                        let ids: Vec<String> = self
                            .raw_block(&hash)?
                            .txids()
                            .iter()
                            .map(Txid::to_string)
                            .collect();
                        Ok(Body::Json(json!(ids)))
                    }
                    ["txid", i] => {
                        let i: usize = i
                            .parse()
                            .map_err(|_| Fail::BadRequest("invalid index".into()))?;
                        let ids = self.raw_block(&hash)?.txids();
                        ids.get(i)
                            .map(|t| Body::Text(t.to_string()))
                            .ok_or_else(|| Fail::NotFound("Transaction not found"))
                    }
                    _ => Err(Fail::NotFound("Not found")),
                }
            }
            (GET, ["tx", txid, rest @ ..]) => {
                let txid: Txid = txid
                    .parse()
                    .map_err(|_| Fail::BadRequest("Invalid hex string".into()))?;
                self.tx_route(&txid, rest)
            }
            (GET, ["scripthash", hash, rest @ ..]) => {
                let bytes: [u8; 32] = <[u8; 32]>::from_hex(hash)
                    .map_err(|_| Fail::BadRequest("Invalid script hash".into()))?;
                match rest {
                    ["txs"] => self.scripthash_txs(&bytes, None, false),
                    ["txs", "mempool"] => self.scripthash_txs(&bytes, None, true),
                    ["txs", "chain"] => self.scripthash_txs(&bytes, None, false),
                    ["txs", "chain", last] => {
                        let last: Txid = last
                            .parse()
                            .map_err(|_| Fail::BadRequest("Invalid hex string".into()))?;
                        self.scripthash_txs(&bytes, Some(last), false)
                    }
                    ["utxo"] => self.scripthash_utxo(&bytes),
                    _ => Err(Fail::NotFound("Not found")),
                }
            }
            (GET, ["fee-estimates"]) => self.fee_estimates(),
            (POST, ["tx"]) => {
                let text = std::str::from_utf8(body)
                    .map_err(|_| Fail::BadRequest("body is not text".into()))?;
                let bytes = Vec::from_hex(text.trim())
                    .map_err(|_| Fail::BadRequest("Invalid hex string".into()))?;
                let tx: Transaction = deserialize(&bytes)
                    .map_err(|_| Fail::BadRequest("Invalid transaction".into()))?;
                match self.call(
                    "sendrawtransaction",
                    json!([serialize(&tx).to_lower_hex_string()]),
                ) {
                    Ok(v) => {
                        lock(&self.mempool).invalidate();
                        Ok(Body::Text(parse::<Txid>(&v, "txid")?.to_string()))
                    }
                    Err(ChainError::Source { code, message })
                        if REJECTION_CODES.contains(&code) =>
                    {
                        Err(Fail::Rejected {
                            code,
                            reason: sanitise_reason(&message),
                        })
                    }
                    Err(e) => Err(Fail::Backend(e)),
                }
            }
            _ => Err(Fail::NotFound("Not found")),
        }
    }

    fn tx_route(&self, txid: &Txid, rest: &[&str]) -> Answer {
        let raw_tx = || -> Result<Transaction, Fail> {
            let tx = tx_of(&self.call("getrawtransaction", json!([txid.to_string(), false]))?)?;
            verify::check_txid(&tx, txid)?;
            Ok(tx)
        };
        match rest {
            [] => match self.txs_json(std::slice::from_ref(txid))?.pop() {
                Some(v) => Ok(Body::Json(v)),
                None => Err(Fail::NotFound("Transaction not found")),
            },
            ["hex"] => Ok(Body::Text(serialize(&raw_tx()?).to_lower_hex_string())),
            ["raw"] => Ok(Body::Bytes(serialize(&raw_tx()?))),
            ["status"] => Ok(Body::Json(self.tx_status(txid)?)),
            ["merkle-proof"] => {
                let verbose = self.call("getrawtransaction", json!([txid.to_string(), true]))?;
                let Some(block) = verbose.get("blockhash") else {
                    return Err(Fail::NotFound("Transaction not found or is unconfirmed"));
                };
                let hash: BlockHash = parse(block, "blockhash")?;
                let header = self.call("getblockheader", json!([hash.to_string(), true]))?;
                if header
                    .get("confirmations")
                    .and_then(Value::as_i64)
                    .unwrap_or(0)
                    < 1
                {
                    return Err(Fail::NotFound("Transaction not found or is unconfirmed"));
                }
                let txids = self.raw_block(&hash)?.txids();
                let pos = txids
                    .iter()
                    .position(|t| t == txid)
                    .ok_or_else(|| bad("block without the transaction"))?;
                let merkle: Vec<String> = verify::merkle_branch(&txids, pos)
                    .iter()
                    .map(Txid::to_string)
                    .collect();
                Ok(Body::Json(
                    json!({"block_height": header.get("height"), "merkle": merkle, "pos": pos}),
                ))
            }
            ["outspend", vout] => {
                let vout: u32 = vout
                    .parse()
                    .map_err(|_| Fail::BadRequest("invalid vout".into()))?;
                let mut one = self.outspends(&[OutPoint::new(*txid, vout)])?;
                Ok(Body::Json(
                    one.pop().unwrap_or_else(|| json!({"spent": false})),
                ))
            }
            ["outspends"] => {
                let tx = raw_tx()?;
                let outpoints: Vec<OutPoint> = (0..tx.output.len() as u32)
                    .map(|vout| OutPoint::new(*txid, vout))
                    .collect();
                Ok(Body::Json(Value::Array(self.outspends(&outpoints)?)))
            }
            _ => Err(Fail::NotFound("Not found")),
        }
    }
}

/// The answer to `request`. Failures from qtumd or the index are logged here with their
/// details; the client gets a generic message and the status that fits.
pub(crate) fn answer(backend: &Backend, request: &Request) -> Response {
    let path: Vec<&str> = request
        .target
        .split('?')
        .next()
        .unwrap_or("")
        .split('/')
        .filter(|s| !s.is_empty())
        .collect();
    match backend.route(&request.method, &path, &request.body) {
        Ok(Body::Text(text)) => Response::text(200, text),
        Ok(Body::Json(v)) => Response::json(200, v.to_string().into_bytes()),
        Ok(Body::Bytes(b)) => Response {
            status: 200,
            content_type: "application/octet-stream",
            headers: Vec::new(),
            body: b,
        },
        Err(Fail::BadRequest(m)) => Response::text(400, m),
        Err(Fail::NotFound(m)) => Response::text(404, m),
        Err(Fail::Rejected { code, reason }) => Response::text(
            400,
            format!(
                "sendrawtransaction RPC error: {}",
                json!({"code": code, "message": reason})
            ),
        ),
        Err(fail) => {
            // The path is logged without the query string.
            let shown = request.target.split('?').next().unwrap_or("");
            log::warn!("{} {shown}: {fail}", request.method);
            match fail {
                Fail::Backend(e) if e.is_endpoint_fault() => match e {
                    ChainError::InvalidResponse(_) => Response::text(502, "Bad gateway"),
                    _ => Response::text(503, "Service unavailable"),
                },
                _ => Response::text(500, "Internal server error"),
            }
        }
    }
}

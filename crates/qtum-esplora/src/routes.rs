//! Request routing and the qtumd backend behind each route.

use std::collections::{HashMap, HashSet};
use std::io::Read;
use std::str::FromStr;
use std::sync::{Mutex, MutexGuard};

use bitcoin::consensus::encode::{deserialize, serialize};
use bitcoin::hashes::Hash;
use bitcoin::hex::{DisplayHex, FromHex};
use bitcoin::{BlockHash, OutPoint, Script, ScriptBuf, Transaction, TxOut, Txid};
use serde_json::{json, Value};

use qtum_chain::{verify, ChainError, RpcClient};
use qtum_primitives::address::QtumAddress;
use qtum_primitives::network::Network;

use crate::index::ScriptIndex;

/// Largest `POST /tx` body read (a 400 kWU transaction is 800 kB of hex).
const MAX_TX_BODY: u64 = 2_000_000;
/// Confirmed transactions per `/scripthash/:hash/txs` page, as Esplora.
const CHAIN_PAGE: usize = 25;
/// Mempool transactions listed before the first confirmed page, as Esplora.
const MEMPOOL_PAGE: usize = 50;
/// Targets answered by `/fee-estimates`.
const FEE_TARGETS: [u16; 15] = [1, 2, 3, 4, 5, 6, 8, 10, 12, 15, 20, 25, 144, 504, 1008];

/// Why a route failed, as the HTTP answer it becomes.
enum Fail {
    BadRequest(String),
    NotFound(String),
    Backend(ChainError),
}

impl From<ChainError> for Fail {
    fn from(e: ChainError) -> Fail {
        match e {
            // -5 no such block/transaction, -8 height out of range.
            ChainError::Source {
                code: -5 | -8,
                message,
            } => Fail::NotFound(message),
            e => Fail::Backend(e),
        }
    }
}

enum Body {
    Text(String),
    Json(Value),
    Bytes(Vec<u8>),
}

type Answer = Result<Body, Fail>;

/// The qtumd side of the server.
pub struct Backend {
    rpc: RpcClient,
    network: Network,
    index: Mutex<ScriptIndex>,
    // Serialises catch-ups (one reader of new blocks at a time) without blocking look-ups.
    catching_up: Mutex<()>,
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

impl Backend {
    /// A backend over `rpc`; asks qtumd which network it runs.
    pub fn new(rpc: RpcClient) -> Result<Backend, ChainError> {
        let info = rpc.call("getblockchaininfo", json!([]))?;
        let network = match info.get("chain").and_then(Value::as_str) {
            Some("main") => Network::Mainnet,
            Some("test") => Network::Testnet,
            Some("regtest") => Network::Regtest,
            other => return Err(ChainError::Unsupported(format!("unknown chain {other:?}"))),
        };
        Ok(Backend {
            rpc,
            network,
            index: Mutex::new(ScriptIndex::default()),
            catching_up: Mutex::new(()),
        })
    }

    /// RPC requests made so far.
    pub fn requests_made(&self) -> u64 {
        self.rpc.requests_made()
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
                found.insert(*txid, tx_of(&raw)?);
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

    /// Reads new best-chain blocks into the script index (and drops blocks a reorg removed).
    pub(crate) fn catch_up(&self) -> Result<(), ChainError> {
        let _one_at_a_time = lock(&self.catching_up);
        let tip: u32 = self
            .call("getblockcount", json!([]))?
            .as_u64()
            .and_then(|h| u32::try_from(h).ok())
            .ok_or_else(|| bad("getblockcount"))?;
        // Drop blocks that left the best chain; their scripts stay known, which is harmless.
        loop {
            let last = { lock(&self.index).chain.last().copied() };
            let Some(last) = last else { break };
            let height = lock(&self.index).chain.len() as u32 - 1;
            let now = if height <= tip {
                Some(parse::<BlockHash>(
                    &self.call("getblockhash", json!([height]))?,
                    "hash",
                )?)
            } else {
                None
            };
            if now == Some(last) {
                break;
            }
            lock(&self.index).chain.pop();
        }
        let mut from = lock(&self.index).chain.len() as u32;
        while from <= tip {
            let to = tip.min(from + 24);
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
            let blocks = self.rpc.call_batch(&calls)?;
            let mut index = lock(&self.index);
            for (answer, hash) in blocks.into_iter().zip(&hashes) {
                let block = verify::block_from_bytes(&hex_of(&answer?, "block")?, hash)?;
                for tx in &block.txdata {
                    index.add_tx(tx);
                }
                index.chain.push(*hash);
            }
            from = to + 1;
        }
        Ok(())
    }

    fn mempool_txs(&self) -> Result<Vec<Transaction>, ChainError> {
        let ids: Vec<Txid> = self
            .call("getrawmempool", json!([]))?
            .as_array()
            .ok_or_else(|| bad("getrawmempool"))?
            .iter()
            .map(|t| parse(t, "txid"))
            .collect::<Result<_, _>>()?;
        let calls: Vec<(&str, Value)> = ids
            .iter()
            .map(|t| ("getrawtransaction", json!([t.to_string(), false])))
            .collect();
        let mut txs = Vec::new();
        for (txid, answer) in ids.iter().zip(self.batch(&calls)?) {
            // Gone between the two calls: mined or evicted.
            let Ok(raw) = answer else { continue };
            let tx = tx_of(&raw)?;
            verify::check_txid(&tx, txid)?;
            txs.push(tx);
        }
        Ok(txs)
    }

    fn script_for(
        &self,
        hash: &[u8; 32],
        mempool: &[Transaction],
    ) -> Result<Option<ScriptBuf>, ChainError> {
        self.catch_up()?;
        let mut index = lock(&self.index);
        for tx in mempool {
            if index.mempool_unseen(&tx.compute_txid()) {
                index.add_tx(tx);
            }
        }
        Ok(index.lookup(hash))
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

    fn tx_status(&self, txid: &Txid) -> Result<Value, Fail> {
        let verbose = self.call("getrawtransaction", json!([txid.to_string(), true]))?;
        match verbose.get("blockhash").and_then(Value::as_str) {
            None => Ok(json!({"confirmed": false})),
            Some(block) => {
                let block = block.to_string();
                let statuses = self.statuses(std::slice::from_ref(&block))?;
                Ok(statuses
                    .get(&block)
                    .cloned()
                    .unwrap_or_else(|| json!({"confirmed": false})))
            }
        }
    }

    fn outspend(&self, outpoint: &OutPoint) -> Result<Value, Fail> {
        match self.call(
            "getspentinfo",
            json!([{"txid": outpoint.txid.to_string(), "index": outpoint.vout}]),
        ) {
            Ok(info) => {
                let spender: Txid = parse(info.get("txid").unwrap_or(&Value::Null), "spender")?;
                let status = self.tx_status(&spender)?;
                Ok(
                    json!({"spent": true, "txid": spender.to_string(), "vin": info.get("index"), "status": status}),
                )
            }
            Err(ChainError::Source { code: -5, .. }) => Ok(json!({"spent": false})),
            Err(e) => Err(e.into()),
        }
    }

    /// Confirmed txids of `script`, oldest first, and the mempool transactions touching it.
    fn script_txids(
        &self,
        script: &Script,
        mempool: &[Transaction],
    ) -> Result<(Vec<Txid>, Vec<Txid>), ChainError> {
        let confirmed: Vec<Txid> = match self.address(script) {
            Some(address) => self
                .call("getaddresstxids", json!([{"addresses": [address]}]))?
                .as_array()
                .ok_or_else(|| bad("getaddresstxids"))?
                .iter()
                .map(|t| parse(t, "txid"))
                .collect::<Result<_, _>>()?,
            // Scripts without an address are not in qtumd's index.
            None => Vec::new(),
        };
        let in_mempool: HashMap<Txid, &Transaction> =
            mempool.iter().map(|t| (t.compute_txid(), t)).collect();
        // Parents of mempool inputs, to tell which inputs spend from the script.
        let parents: Vec<Txid> = mempool
            .iter()
            .flat_map(|t| t.input.iter().map(|i| i.previous_output.txid))
            .filter(|t| !in_mempool.contains_key(t))
            .collect::<HashSet<_>>()
            .into_iter()
            .collect();
        let parent_txs = self.transactions(&parents)?;
        let pays = |tx: &Transaction| tx.output.iter().any(|o| o.script_pubkey == *script);
        let spends = |tx: &Transaction| {
            tx.input.iter().any(|i| {
                let parent = in_mempool
                    .get(&i.previous_output.txid)
                    .copied()
                    .or_else(|| parent_txs.get(&i.previous_output.txid));
                parent
                    .and_then(|p| p.output.get(i.previous_output.vout as usize))
                    .is_some_and(|o| o.script_pubkey == *script)
            })
        };
        let unconfirmed = mempool
            .iter()
            .filter(|t| pays(t) || spends(t))
            .map(Transaction::compute_txid)
            .collect();
        Ok((confirmed, unconfirmed))
    }

    fn scripthash_txs(
        &self,
        hash: &[u8; 32],
        last_seen: Option<Txid>,
        mempool_only: bool,
    ) -> Answer {
        let mempool = self.mempool_txs()?;
        let Some(script) = self.script_for(hash, &mempool)? else {
            return Ok(Body::Json(json!([])));
        };
        let (confirmed, unconfirmed) = self.script_txids(&script, &mempool)?;
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
                page.extend(unconfirmed.iter().take(MEMPOOL_PAGE));
                if !mempool_only {
                    page.extend(newest_first.into_iter().take(CHAIN_PAGE));
                }
            }
        }
        Ok(Body::Json(Value::Array(self.txs_json(&page)?)))
    }

    fn scripthash_utxo(&self, hash: &[u8; 32]) -> Answer {
        let mempool = self.mempool_txs()?;
        let Some(script) = self.script_for(hash, &mempool)? else {
            return Ok(Body::Json(json!([])));
        };
        let spent_in_mempool: HashSet<OutPoint> = mempool
            .iter()
            .flat_map(|t| t.input.iter().map(|i| i.previous_output))
            .collect();
        let mut out = Vec::new();
        if let Some(address) = self.address(&script) {
            let rows = self.call("getaddressutxos", json!([{"addresses": [address]}]))?;
            let rows = rows.as_array().ok_or_else(|| bad("getaddressutxos"))?;
            let heights: Vec<u64> = rows
                .iter()
                .filter_map(|r| r.get("height").and_then(Value::as_u64))
                .collect();
            let calls: Vec<(&str, Value)> = heights
                .iter()
                .map(|h| ("getblockhash", json!([h])))
                .collect();
            let hashes: Vec<String> = self
                .batch(&calls)?
                .into_iter()
                .map(|a| a.and_then(|v| v.as_str().map(str::to_string).ok_or_else(|| bad("hash"))))
                .collect::<Result<_, _>>()?;
            let statuses = self.statuses(&hashes)?;
            for (row, block) in rows.iter().zip(&hashes) {
                let txid: Txid = parse(row.get("txid").unwrap_or(&Value::Null), "txid")?;
                let vout = row
                    .get("outputIndex")
                    .and_then(Value::as_u64)
                    .ok_or_else(|| bad("outputIndex"))?;
                if spent_in_mempool.contains(&OutPoint::new(txid, vout as u32)) {
                    continue;
                }
                out.push(json!({
                    "txid": txid.to_string(),
                    "vout": vout,
                    "value": row.get("satoshis"),
                    "status": statuses.get(block),
                }));
            }
        }
        for tx in &mempool {
            let txid = tx.compute_txid();
            for (vout, o) in tx.output.iter().enumerate() {
                if o.script_pubkey == script
                    && !spent_in_mempool.contains(&OutPoint::new(txid, vout as u32))
                {
                    out.push(json!({"txid": txid.to_string(), "vout": vout, "value": o.value.to_sat(), "status": {"confirmed": false}}));
                }
            }
        }
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

    fn route(&self, method: &tiny_http::Method, path: &[&str], body: &[u8]) -> Answer {
        use tiny_http::Method::{Get, Post};
        match (method, path) {
            (Get, ["blocks", "tip", "height"]) => Ok(Body::Text(
                self.call("getblockcount", json!([]))?.to_string(),
            )),
            (Get, ["blocks", "tip", "hash"]) => Ok(Body::Text(
                parse::<BlockHash>(&self.call("getbestblockhash", json!([]))?, "hash")?.to_string(),
            )),
            (Get, ["block-height", h]) => {
                let h: u32 = h
                    .parse()
                    .map_err(|_| Fail::BadRequest("invalid height".into()))?;
                match self.call("getblockhash", json!([h])) {
                    Ok(v) => Ok(Body::Text(parse::<BlockHash>(&v, "hash")?.to_string())),
                    Err(ChainError::Source { code: -8, .. }) => {
                        Err(Fail::NotFound("Block not found".into()))
                    }
                    Err(e) => Err(e.into()),
                }
            }
            (Get, ["block", hash, rest @ ..]) => {
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
                            .ok_or_else(|| Fail::NotFound("Transaction not found".into()))
                    }
                    _ => Err(Fail::NotFound("Not found".into())),
                }
            }
            (Get, ["tx", txid, rest @ ..]) => {
                let txid: Txid = txid
                    .parse()
                    .map_err(|_| Fail::BadRequest("Invalid hex string".into()))?;
                self.tx_route(&txid, rest)
            }
            (Get, ["scripthash", hash, rest @ ..]) => {
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
                    _ => Err(Fail::NotFound("Not found".into())),
                }
            }
            (Get, ["fee-estimates"]) => self.fee_estimates(),
            (Post, ["tx"]) => {
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
                    Ok(v) => Ok(Body::Text(parse::<Txid>(&v, "txid")?.to_string())),
                    Err(ChainError::Source { code, message }) if code < 0 => {
                        Err(Fail::BadRequest(format!(
                            "sendrawtransaction RPC error: {}",
                            json!({"code": code, "message": message})
                        )))
                    }
                    Err(e) => Err(Fail::Backend(e)),
                }
            }
            _ => Err(Fail::NotFound("Not found".into())),
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
                None => Err(Fail::NotFound("Transaction not found".into())),
            },
            ["hex"] => Ok(Body::Text(serialize(&raw_tx()?).to_lower_hex_string())),
            ["raw"] => Ok(Body::Bytes(serialize(&raw_tx()?))),
            ["status"] => Ok(Body::Json(self.tx_status(txid)?)),
            ["merkle-proof"] => {
                let verbose = self.call("getrawtransaction", json!([txid.to_string(), true]))?;
                let Some(block) = verbose.get("blockhash") else {
                    return Err(Fail::NotFound(
                        "Transaction not found or is unconfirmed".into(),
                    ));
                };
                let hash: BlockHash = parse(block, "blockhash")?;
                let header = self.call("getblockheader", json!([hash.to_string(), true]))?;
                if header
                    .get("confirmations")
                    .and_then(Value::as_i64)
                    .unwrap_or(0)
                    < 1
                {
                    return Err(Fail::NotFound(
                        "Transaction not found or is unconfirmed".into(),
                    ));
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
                Ok(Body::Json(self.outspend(&OutPoint::new(*txid, vout))?))
            }
            ["outspends"] => {
                let tx = raw_tx()?;
                let all: Vec<Value> = (0..tx.output.len() as u32)
                    .map(|vout| self.outspend(&OutPoint::new(*txid, vout)))
                    .collect::<Result<_, _>>()?;
                Ok(Body::Json(Value::Array(all)))
            }
            _ => Err(Fail::NotFound("Not found".into())),
        }
    }
}

fn respond(request: tiny_http::Request, status: u16, content_type: &str, data: Vec<u8>) {
    let mut response = tiny_http::Response::from_data(data).with_status_code(status);
    if let Ok(h) = tiny_http::Header::from_bytes(&b"Content-Type"[..], content_type.as_bytes()) {
        response = response.with_header(h);
    }
    if let Err(e) = request.respond(response) {
        log::debug!("client went away: {e}");
    }
}

/// Answers one HTTP request.
pub(crate) fn handle(backend: &Backend, mut request: tiny_http::Request) {
    let url = request.url().to_string();
    let path: Vec<&str> = url
        .split('?')
        .next()
        .unwrap_or("")
        .split('/')
        .filter(|s| !s.is_empty())
        .collect();
    let mut body = Vec::new();
    if *request.method() == tiny_http::Method::Post
        && request
            .as_reader()
            .take(MAX_TX_BODY)
            .read_to_end(&mut body)
            .is_err()
    {
        respond(request, 400, "text/plain", b"unreadable body".to_vec());
        return;
    }
    let method = request.method().clone();
    match backend.route(&method, &path, &body) {
        Ok(Body::Text(text)) => respond(request, 200, "text/plain", text.into_bytes()),
        Ok(Body::Json(v)) => respond(request, 200, "application/json", v.to_string().into_bytes()),
        Ok(Body::Bytes(b)) => respond(request, 200, "application/octet-stream", b),
        Err(Fail::BadRequest(m)) => respond(request, 400, "text/plain", m.into_bytes()),
        Err(Fail::NotFound(m)) => respond(request, 404, "text/plain", m.into_bytes()),
        Err(Fail::Backend(e)) => {
            log::warn!("{method} {url}: {e}");
            let status = match e {
                ChainError::Unreachable(_) => 503,
                _ => 500,
            };
            respond(request, status, "text/plain", e.to_string().into_bytes())
        }
    }
}

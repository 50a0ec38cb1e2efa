//! qtumd's JSON-RPC methods over the chain state: request parsing (positional and named
//! parameters, batches), qtumd's error objects and the method implementations.

use std::collections::BTreeSet;
use std::sync::Mutex;
use std::time::Instant;

use bitcoin::consensus::encode;
use bitcoin::{BlockHash, OutPoint, ScriptBuf, Transaction, Txid};
use serde_json::{json, Map, Value};

use crate::chain::{AcceptOptions, ChainState};
use crate::json::{self, amount, TxExtra};
use crate::params::{self, COIN, DEFAULT_MAX_FEE_RATE_SAT_PER_KVB};
use crate::script::{self, hex, unhex};
use crate::validation::RejectKind;
use crate::wallet::Wallet;

/// JSON-RPC error codes qtumd uses.
pub mod code {
    /// Generic error (also: wrong number of parameters, with the usage text).
    pub const MISC_ERROR: i64 = -1;
    /// Wrong JSON type of a parameter.
    pub const TYPE_ERROR: i64 = -3;
    /// Unknown block, transaction or address.
    pub const INVALID_ADDRESS_OR_KEY: i64 = -5;
    /// Invalid, missing or duplicate parameter.
    pub const INVALID_PARAMETER: i64 = -8;
    /// Error parsing or validating structure in raw format.
    pub const DESERIALIZATION_ERROR: i64 = -22;
    /// General error during transaction or block submission.
    pub const VERIFY_ERROR: i64 = -25;
    /// Transaction or block was rejected by network rules.
    pub const VERIFY_REJECTED: i64 = -26;
    /// Transaction already in chain.
    pub const VERIFY_ALREADY_IN_CHAIN: i64 = -27;
    /// Request object is not valid JSON-RPC.
    pub const INVALID_REQUEST: i64 = -32600;
    /// Method not found.
    pub const METHOD_NOT_FOUND: i64 = -32601;
    /// Body is not JSON.
    pub const PARSE_ERROR: i64 = -32700;
}

/// A JSON-RPC error object.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RpcError {
    /// qtumd's error code.
    pub code: i64,
    /// qtumd's message.
    pub message: String,
}

impl RpcError {
    /// An error with a code and message.
    pub fn new(code: i64, message: impl Into<String>) -> Self {
        RpcError {
            code,
            message: message.into(),
        }
    }

    fn to_json(&self) -> Value {
        json!({"code": self.code, "message": self.message})
    }
}

type RpcResult = Result<Value, RpcError>;

/// Everything the RPC methods act on.
#[derive(Debug)]
pub struct NodeState {
    /// The chain and mempool.
    pub chain: ChainState,
    /// The harness wallet.
    pub wallet: Wallet,
    /// Set by the `stop` method.
    pub stop_requested: bool,
    /// Whether the address index calls answer (qtumd's `-addrindex`). Without it they answer
    /// what qtumd answers then: -5 "No information available for address", and -5 "Unable to
    /// get spent info" for every output.
    pub addrindex: bool,
    /// Calls answered so far, by method (tests count what a client asked).
    pub calls: std::collections::HashMap<String, u64>,
    started: Instant,
}

impl Default for NodeState {
    fn default() -> Self {
        Self::new()
    }
}

impl NodeState {
    /// A fresh regtest node state (genesis only).
    pub fn new() -> Self {
        NodeState {
            chain: ChainState::new(),
            wallet: Wallet::new(),
            stop_requested: false,
            addrindex: true,
            calls: std::collections::HashMap::new(),
            started: Instant::now(),
        }
    }

    /// The node state kept in a data directory (see [`crate::store`]).
    pub fn open(datadir: &std::path::Path) -> Result<Self, crate::store::StoreError> {
        Ok(NodeState {
            chain: ChainState::open(datadir)?,
            ..Self::new()
        })
    }
}

/// (method, parameter names, required count, usage) of every method served.
const METHODS: &[(&str, &[&str], usize, &str)] = &[
    ("getblockchaininfo", &[], 0, "getblockchaininfo"),
    ("getblockcount", &[], 0, "getblockcount"),
    ("getbestblockhash", &[], 0, "getbestblockhash"),
    ("getblockhash", &["height"], 1, "getblockhash height"),
    (
        "getblockheader",
        &["blockhash", "verbose"],
        1,
        "getblockheader \"blockhash\" ( verbose )",
    ),
    (
        "getblock",
        &["blockhash", "verbosity"],
        1,
        "getblock \"blockhash\" ( verbosity )",
    ),
    ("getdifficulty", &[], 0, "getdifficulty"),
    ("getchaintips", &[], 0, "getchaintips"),
    (
        "getrawtransaction",
        &["txid", "verbose", "blockhash"],
        1,
        "getrawtransaction \"txid\" ( verbosity \"blockhash\" )",
    ),
    (
        "sendrawtransaction",
        &["hexstring", "maxfeerate"],
        1,
        "sendrawtransaction \"hexstring\" ( maxfeerate )",
    ),
    (
        "testmempoolaccept",
        &["rawtxs", "maxfeerate"],
        1,
        "testmempoolaccept [\"rawtx\",...] ( maxfeerate )",
    ),
    (
        "getrawmempool",
        &["verbose", "mempool_sequence"],
        0,
        "getrawmempool ( verbose mempool_sequence )",
    ),
    ("getmempoolentry", &["txid"], 1, "getmempoolentry \"txid\""),
    ("getmempoolinfo", &[], 0, "getmempoolinfo"),
    (
        "gettxout",
        &["txid", "n", "include_mempool"],
        2,
        "gettxout \"txid\" n ( include_mempool )",
    ),
    (
        "estimatesmartfee",
        &["conf_target", "estimate_mode"],
        1,
        "estimatesmartfee conf_target ( \"estimate_mode\" )",
    ),
    (
        "generatetoaddress",
        &["nblocks", "address", "maxtries"],
        2,
        "generatetoaddress nblocks \"address\" ( maxtries )",
    ),
    (
        "generateblock",
        &["output", "transactions", "submit"],
        2,
        "generateblock \"output\" [\"rawtx/txid\",...] ( submit )",
    ),
    (
        "invalidateblock",
        &["blockhash"],
        1,
        "invalidateblock \"blockhash\"",
    ),
    (
        "reconsiderblock",
        &["blockhash"],
        1,
        "reconsiderblock \"blockhash\"",
    ),
    (
        "getaddressutxos",
        &["addresses"],
        1,
        "getaddressutxos {\"addresses\":[\"address\",...],\"chainInfo\":bool}",
    ),
    (
        "getaddresstxids",
        &["addresses"],
        1,
        "getaddresstxids {\"addresses\":[\"address\",...],\"start\":n,\"end\":n}",
    ),
    (
        "getaddressbalance",
        &["addresses"],
        1,
        "getaddressbalance {\"addresses\":[\"address\",...]}",
    ),
    (
        "getspentinfo",
        &["argument"],
        1,
        "getspentinfo {\"txid\":\"hex\",\"index\":n}",
    ),
    ("getsubsidy", &["height"], 0, "getsubsidy ( height )"),
    ("uptime", &[], 0, "uptime"),
    ("ping", &[], 0, "ping"),
    ("help", &["command"], 0, "help ( \"command\" )"),
    ("stop", &[], 0, "stop"),
];

fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "bool",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

fn type_error(v: &Value, expected: &str) -> RpcError {
    RpcError::new(
        code::TYPE_ERROR,
        format!(
            "JSON value of type {} is not of expected type {}",
            type_name(v),
            expected
        ),
    )
}

fn invalid_param(msg: impl Into<String>) -> RpcError {
    RpcError::new(code::INVALID_PARAMETER, msg)
}

fn not_found(msg: &str) -> RpcError {
    RpcError::new(code::INVALID_ADDRESS_OR_KEY, msg)
}

/// Positional parameters of one call.
struct Params {
    args: Vec<Value>,
}

impl Params {
    fn opt(&self, i: usize) -> Option<&Value> {
        self.args.get(i).filter(|v| !v.is_null())
    }

    fn str(&self, i: usize) -> Result<&str, RpcError> {
        let v = self.args.get(i).unwrap_or(&Value::Null);
        v.as_str().ok_or_else(|| type_error(v, "string"))
    }

    fn int(&self, i: usize) -> Result<i64, RpcError> {
        let v = self.args.get(i).unwrap_or(&Value::Null);
        match v {
            Value::Number(n) => n
                .as_i64()
                .or_else(|| {
                    n.as_f64()
                        .filter(|f| f.fract() == 0.0 && f.abs() < 9e15)
                        .map(|f| f as i64)
                })
                .ok_or_else(|| type_error(v, "integer")),
            _ => Err(type_error(v, "number")),
        }
    }

    fn opt_bool(&self, i: usize, default: bool) -> Result<bool, RpcError> {
        match self.opt(i) {
            None => Ok(default),
            Some(Value::Bool(b)) => Ok(*b),
            Some(v) => Err(type_error(v, "bool")),
        }
    }

    /// A 64-hex-digit hash parameter, qtumd's `ParseHashV`.
    fn hash<T: std::str::FromStr>(&self, i: usize, name: &str) -> Result<T, RpcError> {
        let s = self.str(i)?;
        if s.len() != 64 {
            return Err(invalid_param(format!(
                "{name} must be of length 64 (not {}, for '{s}')",
                s.len()
            )));
        }
        if unhex(s).is_none() {
            return Err(invalid_param(format!(
                "{name} must be hexadecimal string (not '{s}')"
            )));
        }
        s.parse::<T>()
            .map_err(|_| invalid_param(format!("{name} must be hexadecimal string (not '{s}')")))
    }

    /// A fee rate in QTUM/kvB (number or string), in sat/kvB.
    fn fee_rate(&self, i: usize) -> Result<Option<u64>, RpcError> {
        let Some(v) = self.opt(i) else {
            return Ok(None);
        };
        let f = match v {
            Value::Number(n) => n.as_f64(),
            Value::String(s) => s.parse::<f64>().ok(),
            _ => return Err(type_error(v, "number")),
        }
        .ok_or_else(|| RpcError::new(code::TYPE_ERROR, "Invalid amount"))?;
        if !(0.0..=params::MAX_MONEY as f64 / COIN as f64).contains(&f) {
            return Err(RpcError::new(code::TYPE_ERROR, "Amount out of range"));
        }
        Ok(Some((f * COIN as f64).round() as u64))
    }
}

fn decode_tx(s: &str) -> Option<Transaction> {
    let bytes = unhex(s)?;
    encode::deserialize::<Transaction>(&bytes).ok()
}

/// Handle one HTTP body: a request object or a batch array. Returns (HTTP status, JSON text).
pub fn handle_body(state: &Mutex<NodeState>, body: &[u8]) -> (u16, String) {
    let parsed: Value = match serde_json::from_slice(body) {
        Ok(v) => v,
        Err(_) => {
            let reply = json!({"result": null, "error": {"code": code::PARSE_ERROR, "message": "Parse error"}, "id": null});
            return (500, reply.to_string());
        }
    };
    match parsed {
        Value::Array(items) => {
            let replies: Vec<Value> = items
                .iter()
                .map(|item| handle_request(state, item).0)
                .collect();
            (200, Value::Array(replies).to_string())
        }
        Value::Object(_) => {
            let (reply, err) = handle_request(state, &parsed);
            let status = match err {
                None => 200,
                Some(code::INVALID_REQUEST) => 400,
                Some(code::METHOD_NOT_FOUND) => 404,
                Some(_) => 500,
            };
            (status, reply.to_string())
        }
        _ => {
            let reply = json!({"result": null, "error": {"code": code::PARSE_ERROR, "message": "Top-level object parse error"}, "id": null});
            (500, reply.to_string())
        }
    }
}

fn handle_request(state: &Mutex<NodeState>, req: &Value) -> (Value, Option<i64>) {
    let id = req.get("id").cloned().unwrap_or(Value::Null);
    let result = parse_and_call(state, req);
    match result {
        Ok(v) => (json!({"result": v, "error": null, "id": id}), None),
        Err(e) => (
            json!({"result": null, "error": e.to_json(), "id": id}),
            Some(e.code),
        ),
    }
}

fn parse_and_call(state: &Mutex<NodeState>, req: &Value) -> RpcResult {
    let Value::Object(obj) = req else {
        return Err(RpcError::new(
            code::INVALID_REQUEST,
            "Invalid Request object",
        ));
    };
    let method = match obj.get("method") {
        Some(Value::String(m)) => m.as_str(),
        None => return Err(RpcError::new(code::INVALID_REQUEST, "Missing method")),
        Some(_) => {
            return Err(RpcError::new(
                code::INVALID_REQUEST,
                "Method must be a string",
            ))
        }
    };
    let Some(&(_, names, required, usage)) = METHODS.iter().find(|m| m.0 == method) else {
        return Err(RpcError::new(code::METHOD_NOT_FOUND, "Method not found"));
    };
    let args: Vec<Value> = match obj.get("params") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(a)) => a.clone(),
        Some(Value::Object(named)) => {
            let mut args = vec![Value::Null; names.len()];
            for (k, v) in named {
                match names.iter().position(|n| n == k) {
                    Some(i) => args[i] = v.clone(),
                    None => return Err(invalid_param(format!("Unknown named parameter {k}"))),
                }
            }
            while args.last().is_some_and(|v| v.is_null()) {
                args.pop();
            }
            args
        }
        Some(_) => {
            return Err(RpcError::new(
                code::INVALID_REQUEST,
                "Params must be an array or object",
            ))
        }
    };
    if args.len() < required
        || args.len() > names.len()
        || args.iter().take(required).any(|v| v.is_null())
    {
        return Err(RpcError::new(code::MISC_ERROR, usage));
    }
    // A poisoned lock means a previous call panicked half-way; the state it protects is only
    // changed by validated, all-or-nothing operations, so it is still consistent.
    let mut guard = state.lock().unwrap_or_else(|p| p.into_inner());
    let result = call(&mut guard, method, &Params { args });
    // With a data directory, whatever the call changed is made durable before the answer.
    if let Err(e) = guard.chain.sync_store() {
        log::error!("{e}");
        return Err(RpcError::new(code::MISC_ERROR, e));
    }
    result
}

fn call(node: &mut NodeState, method: &str, p: &Params) -> RpcResult {
    *node.calls.entry(method.to_string()).or_default() += 1;
    if !node.addrindex {
        match method {
            "getaddressutxos" | "getaddresstxids" | "getaddressbalance" => {
                return Err(not_found("No information available for address"))
            }
            "getspentinfo" => return Err(not_found("Unable to get spent info")),
            _ => {}
        }
    }
    match method {
        "getblockchaininfo" => Ok(blockchain_info(&node.chain)),
        "getblockcount" => Ok(json!(node.chain.height())),
        "getbestblockhash" => Ok(json!(node.chain.tip_hash().to_string())),
        "getdifficulty" => Ok(json!(params::difficulty(params::pow_bits()))),
        "getblockhash" => {
            let h = p.int(0)?;
            u32::try_from(h)
                .ok()
                .and_then(|h| node.chain.hash_at(h))
                .map(|b| json!(b.to_string()))
                .ok_or_else(|| invalid_param("Block height out of range"))
        }
        "getblockheader" => {
            let hash: BlockHash = p.hash(0, "blockhash")?;
            let verbose = p.opt_bool(1, true)?;
            let rec = node
                .chain
                .block(&hash)
                .ok_or_else(|| not_found("Block not found"))?;
            if verbose {
                Ok(json::header_json(&node.chain, rec))
            } else {
                Ok(json!(hex(&rec.block.header.to_bytes())))
            }
        }
        "getblock" => {
            let hash: BlockHash = p.hash(0, "blockhash")?;
            let verbosity = match p.opt(1) {
                None => 1,
                Some(Value::Bool(b)) => u8::from(*b),
                Some(_) => p.int(1)?.clamp(0, 3) as u8,
            };
            let rec = node
                .chain
                .block(&hash)
                .ok_or_else(|| not_found("Block not found"))?;
            if verbosity == 0 {
                Ok(json!(hex(&encode::serialize(&rec.block))))
            } else {
                Ok(json::block_json(&node.chain, rec, verbosity))
            }
        }
        "getchaintips" => Ok(chain_tips(&node.chain)),
        "getrawtransaction" => get_raw_transaction(&node.chain, p),
        "sendrawtransaction" => send_raw_transaction(&mut node.chain, p),
        "testmempoolaccept" => test_mempool_accept(&mut node.chain, p),
        "getrawmempool" => {
            let verbose = p.opt_bool(0, false)?;
            let seq = p.opt_bool(1, false)?;
            if verbose && seq {
                return Err(invalid_param(
                    "Verbose results cannot contain mempool sequence values.",
                ));
            }
            let chain = &node.chain;
            if verbose {
                let mut m = Map::new();
                for e in chain.mempool.entries() {
                    m.insert(e.txid.to_string(), json::mempool_entry_json(chain, e));
                }
                Ok(Value::Object(m))
            } else {
                let ids: Vec<Value> = chain
                    .mempool
                    .entries()
                    .map(|e| json!(e.txid.to_string()))
                    .collect();
                if seq {
                    Ok(json!({"txids": ids, "mempool_sequence": chain.mempool.sequence()}))
                } else {
                    Ok(Value::Array(ids))
                }
            }
        }
        "getmempoolentry" => {
            let txid: Txid = p.hash(0, "txid")?;
            let e = node
                .chain
                .mempool
                .get(&txid)
                .ok_or_else(|| not_found("Transaction not in mempool"))?;
            Ok(json::mempool_entry_json(&node.chain, e))
        }
        "getmempoolinfo" => {
            let pool = &node.chain.mempool;
            let bytes: u64 = pool.entries().map(|e| e.vsize).sum();
            let fees: u64 = pool.entries().map(|e| e.fee).sum();
            Ok(json!({
                "loaded": true,
                "size": pool.len(),
                "bytes": bytes,
                "usage": bytes * 6,
                "total_fee": amount(fees),
                "maxmempool": 300_000_000u64,
                "mempoolminfee": amount(params::MIN_RELAY_FEE_SAT_PER_KVB),
                "minrelaytxfee": amount(params::MIN_RELAY_FEE_SAT_PER_KVB),
                "incrementalrelayfee": amount(params::INCREMENTAL_RELAY_FEE_SAT_PER_KVB),
                "unbroadcastcount": pool.len(),
                "fullrbf": false,
            }))
        }
        "gettxout" => get_tx_out(&node.chain, p),
        "estimatesmartfee" => {
            let target = p.int(0)?;
            if !(1..=1008).contains(&target) {
                return Err(invalid_param(
                    "Invalid conf_target, must be between 1 and 1008",
                ));
            }
            if let Some(mode) = p.opt(1) {
                let m = mode
                    .as_str()
                    .ok_or_else(|| type_error(mode, "string"))?
                    .to_ascii_lowercase();
                if !["unset", "economical", "conservative"].contains(&m.as_str()) {
                    return Err(invalid_param(
                        "Invalid estimate_mode parameter, must be one of: \"unset\", \"economical\", \"conservative\"",
                    ));
                }
            }
            let target = target as u32;
            Ok(match node.chain.estimate_fee(target) {
                Some(rate) => json!({"feerate": amount(rate), "blocks": target.max(2)}),
                None => json!({"errors": ["Insufficient data or no feerate found"], "blocks": 0}),
            })
        }
        "generatetoaddress" => {
            let n = p.int(0)?;
            let addr = p.str(1)?;
            if let Some(v) = p.opt(2) {
                p.int(2).map_err(|_| type_error(v, "number"))?;
            }
            let script = script::parse_address(addr).ok_or_else(|| {
                RpcError::new(code::INVALID_ADDRESS_OR_KEY, "Error: Invalid address")
            })?;
            if n > 100_000 {
                return Err(invalid_param(
                    "nblocks is limited to 100000 per call by this harness",
                ));
            }
            let mut hashes = Vec::new();
            for _ in 0..n.max(0) {
                let h = node.chain.mine_block(&script, None).map_err(|e| {
                    RpcError::new(
                        code::MISC_ERROR,
                        format!("ProcessNewBlock, block not accepted: {e}"),
                    )
                })?;
                hashes.push(json!(h.to_string()));
            }
            Ok(Value::Array(hashes))
        }
        "generateblock" => generate_block(&mut node.chain, p),
        "invalidateblock" | "reconsiderblock" => {
            let hash: BlockHash = p.hash(0, "blockhash")?;
            if node.chain.block(&hash).is_none() {
                return Err(not_found("Block not found"));
            }
            let r = if method == "invalidateblock" {
                node.chain.invalidate_block(&hash)
            } else {
                node.chain.reconsider_block(&hash)
            };
            r.map_err(|e| RpcError::new(code::DESERIALIZATION_ERROR, e.0))?;
            Ok(Value::Null)
        }
        "getaddressutxos" => address_utxos(&node.chain, p),
        "getaddresstxids" => address_txids(&node.chain, p),
        "getaddressbalance" => address_balance(&node.chain, p),
        "getspentinfo" => spent_info(&node.chain, p),
        "getsubsidy" => {
            let h = match p.opt(0) {
                None => node.chain.height() + 1,
                Some(_) => u32::try_from(p.int(0)?)
                    .map_err(|_| invalid_param("Block height out of range"))?,
            };
            Ok(json!(params::block_subsidy(h)))
        }
        "uptime" => Ok(json!(node.started.elapsed().as_secs())),
        "ping" => Ok(Value::Null),
        "help" => Ok(json!(METHODS
            .iter()
            .map(|m| m.3)
            .collect::<Vec<_>>()
            .join("\n"))),
        "stop" => {
            node.stop_requested = true;
            Ok(json!("Qtum Core stopping"))
        }
        _ => Err(RpcError::new(code::METHOD_NOT_FOUND, "Method not found")),
    }
}

fn blockchain_info(chain: &ChainState) -> Value {
    let tip = chain.tip();
    json!({
        "chain": "regtest",
        "blocks": chain.height(),
        "headers": chain.height(),
        "bestblockhash": tip.hash.to_string(),
        "difficulty": params::difficulty(tip.block.header.bits),
        "moneysupply": params::money_supply(chain.height()) / COIN,
        "time": tip.block.header.time,
        "mediantime": tip.mtp,
        "verificationprogress": 1,
        "initialblockdownload": chain.initial_block_download(),
        "chainwork": format!("{:064x}", tip.chain_work),
        "size_on_disk": chain.size_on_disk(),
        "pruned": false,
        "warnings": "",
    })
}

fn chain_tips(chain: &ChainState) -> Value {
    let parents: BTreeSet<BlockHash> = chain
        .all_blocks()
        .filter(|r| r.height > 0)
        .map(|r| r.block.header.prev_blockhash)
        .collect();
    let mut tips: Vec<Value> = Vec::new();
    for r in chain.all_blocks().filter(|r| !parents.contains(&r.hash)) {
        let mut fork = r;
        while !chain.is_active(fork) {
            match chain.block(&fork.block.header.prev_blockhash) {
                Some(p) => fork = p,
                None => break,
            }
        }
        let status = if r.hash == chain.tip_hash() {
            "active"
        } else if r.status != crate::chain::BlockStatus::Valid {
            "invalid"
        } else {
            "valid-fork"
        };
        tips.push(json!({"height": r.height, "hash": r.hash.to_string(), "branchlen": r.height - fork.height, "status": status}));
    }
    tips.sort_by_key(|t| std::cmp::Reverse(t["height"].as_u64().unwrap_or(0)));
    Value::Array(tips)
}

fn get_raw_transaction(chain: &ChainState, p: &Params) -> RpcResult {
    let txid: Txid = p.hash(0, "parameter 1")?;
    let verbosity = match p.opt(1) {
        None => 0,
        Some(Value::Bool(b)) => u8::from(*b),
        Some(Value::Number(_)) => p.int(1)?.clamp(0, 2) as u8,
        Some(v) => return Err(type_error(v, "number")),
    };
    let genesis = params::genesis_block();
    if genesis.txdata.first().map(|t| t.compute_txid()) == Some(txid) {
        return Err(not_found(
            "The genesis block coinbase is not considered an ordinary transaction and cannot be retrieved",
        ));
    }
    let want_block: Option<BlockHash> = match p.opt(2) {
        Some(_) => Some(p.hash(2, "parameter 3")?),
        None => None,
    };
    let (tx, rec, pos): (Transaction, Option<&crate::chain::BlockRecord>, usize) = if let Some(bh) =
        want_block
    {
        let rec = chain
            .block(&bh)
            .ok_or_else(|| not_found("Block hash not found"))?;
        let pos = rec.block.txdata.iter().position(|t| t.compute_txid() == txid).ok_or_else(|| {
            not_found("No such transaction found in the provided block. Use gettransaction for wallet transactions.")
        })?;
        (rec.block.txdata[pos].clone(), Some(rec), pos)
    } else if let Some(e) = chain.mempool.get(&txid) {
        (e.tx.clone(), None, 0)
    } else if let Some((tx, rec, pos)) = chain.confirmed_tx(&txid) {
        (tx.clone(), Some(rec), pos as usize)
    } else {
        return Err(not_found("No such mempool or blockchain transaction. Use gettransaction for wallet transactions."));
    };
    if verbosity == 0 {
        return Ok(json!(hex(&encode::serialize(&tx))));
    }
    let (fee, prevouts) = match rec {
        Some(r) if verbosity >= 2 && pos > 0 => (
            r.fees.get(pos).copied(),
            r.undo
                .as_ref()
                .and_then(|u| u.get(pos - 1))
                .map(|c| c.as_slice()),
        ),
        None if verbosity >= 2 => (chain.mempool.get(&txid).map(|e| e.fee), None),
        _ => (None, None),
    };
    let mut v = json::tx_json(
        &tx,
        &TxExtra {
            fee,
            prevouts,
            include_hex: true,
        },
    );
    if let (Some(r), Value::Object(m)) = (rec, &mut v) {
        if want_block.is_some() {
            m.insert("in_active_chain".into(), json!(chain.is_active(r)));
        }
        m.insert("blockhash".into(), json!(r.hash.to_string()));
        if chain.is_active(r) {
            m.insert("confirmations".into(), json!(chain.height() - r.height + 1));
            m.insert("time".into(), json!(r.block.header.time));
            m.insert("blocktime".into(), json!(r.block.header.time));
        } else {
            m.insert("confirmations".into(), json!(0));
        }
    }
    Ok(v)
}

fn send_raw_transaction(chain: &mut ChainState, p: &Params) -> RpcResult {
    let hexstr = p.str(0)?;
    let tx = decode_tx(hexstr).ok_or_else(|| {
        RpcError::new(
            code::DESERIALIZATION_ERROR,
            "TX decode failed. Make sure the tx has at least one input.",
        )
    })?;
    let max_rate = p.fee_rate(1)?.unwrap_or(DEFAULT_MAX_FEE_RATE_SAT_PER_KVB);
    let txid = tx.compute_txid();
    if chain.mempool.get(&txid).is_some() {
        return Ok(json!(txid.to_string()));
    }
    if (0..tx.output.len() as u32).any(|n| chain.utxo(&OutPoint { txid, vout: n }).is_some()) {
        chain.record_refusal(txid, "txn-already-known".into());
        return Err(RpcError::new(
            code::VERIFY_ALREADY_IN_CHAIN,
            "Transaction outputs already in utxo set",
        ));
    }
    let opts = AcceptOptions {
        max_fee_rate: Some(max_rate),
        ..Default::default()
    };
    match chain.submit_to_mempool(&tx, opts) {
        Ok(a) => Ok(json!(a.txid.to_string())),
        Err(r) if r.reason == "max-fee-exceeded" => Err(RpcError::new(
            code::VERIFY_ERROR,
            "Fee exceeds maximum configured by user (e.g. -maxtxfee, maxfeerate)",
        )),
        Err(r) if r.kind == RejectKind::MissingInputs => {
            Err(RpcError::new(code::VERIFY_ERROR, r.to_string()))
        }
        Err(r) => Err(RpcError::new(code::VERIFY_REJECTED, r.to_string())),
    }
}

fn test_mempool_accept(chain: &mut ChainState, p: &Params) -> RpcResult {
    let v = p.args.first().unwrap_or(&Value::Null);
    let raw = v.as_array().ok_or_else(|| type_error(v, "array"))?;
    if raw.is_empty() || raw.len() > 25 {
        return Err(invalid_param(
            "Array must contain between 1 and 25 transactions.",
        ));
    }
    let max_rate = p.fee_rate(1)?.unwrap_or(DEFAULT_MAX_FEE_RATE_SAT_PER_KVB);
    let mut txs = Vec::with_capacity(raw.len());
    for item in raw {
        let s = item.as_str().ok_or_else(|| type_error(item, "string"))?;
        let tx = decode_tx(s).ok_or_else(|| {
            RpcError::new(
                code::DESERIALIZATION_ERROR,
                format!("TX decode failed: {s} Make sure the tx has at least one input."),
            )
        })?;
        txs.push(tx);
    }
    let opts = AcceptOptions {
        test_only: true,
        max_fee_rate: Some(max_rate),
        ..Default::default()
    };
    let results: Vec<Value> = txs
        .iter()
        .map(|tx| {
            let mut m = Map::new();
            m.insert("txid".into(), json!(tx.compute_txid().to_string()));
            m.insert("wtxid".into(), json!(tx.compute_wtxid().to_string()));
            match chain.accept_to_mempool(tx, opts) {
                Ok(a) => {
                    m.insert("allowed".into(), json!(true));
                    m.insert("vsize".into(), json!(a.vsize));
                    m.insert(
                        "fees".into(),
                        json!({
                            "base": amount(a.fee),
                            "effective-feerate": json::fee_rate(a.fee, a.vsize),
                            "effective-includes": [a.wtxid.to_string()],
                        }),
                    );
                }
                Err(r) => {
                    m.insert("allowed".into(), json!(false));
                    let reason = if r.kind == RejectKind::MissingInputs {
                        "missing-inputs".to_string()
                    } else {
                        r.reason
                    };
                    m.insert("reject-reason".into(), json!(reason));
                }
            }
            Value::Object(m)
        })
        .collect();
    Ok(Value::Array(results))
}

fn get_tx_out(chain: &ChainState, p: &Params) -> RpcResult {
    let txid: Txid = p.hash(0, "txid")?;
    let n = p.int(1)?;
    let include_mempool = p.opt_bool(2, true)?;
    let Ok(vout) = u32::try_from(n) else {
        return Ok(Value::Null);
    };
    let op = OutPoint { txid, vout };
    if include_mempool && chain.mempool.spender(&op).is_some() {
        return Ok(Value::Null);
    }
    let (out, confirmations, coinbase) = if let Some(c) = chain.utxo(&op) {
        (
            c.output.clone(),
            chain.height() - c.height + 1,
            c.is_coinbase,
        )
    } else if include_mempool {
        match chain
            .mempool
            .get(&txid)
            .and_then(|e| e.tx.output.get(vout as usize))
        {
            Some(o) => (o.clone(), 0, false),
            None => return Ok(Value::Null),
        }
    } else {
        return Ok(Value::Null);
    };
    Ok(json!({
        "bestblock": chain.tip_hash().to_string(),
        "confirmations": confirmations,
        "value": amount(out.value.to_sat()),
        "scriptPubKey": script::script_pubkey_json(&out.script_pubkey),
        "coinbase": coinbase,
        "coinstake": false,
    }))
}

fn parse_output_target(s: &str) -> Option<ScriptBuf> {
    if let Some(a) = script::parse_address(s) {
        return Some(a);
    }
    let body = s.split('#').next()?;
    if let Some(inner) = body.strip_prefix("addr(").and_then(|r| r.strip_suffix(')')) {
        return script::parse_address(inner);
    }
    if let Some(inner) = body.strip_prefix("raw(").and_then(|r| r.strip_suffix(')')) {
        return unhex(inner).map(ScriptBuf::from_bytes);
    }
    None
}

fn generate_block(chain: &mut ChainState, p: &Params) -> RpcResult {
    let out = p.str(0)?;
    let script = parse_output_target(out).ok_or_else(|| {
        RpcError::new(
            code::INVALID_ADDRESS_OR_KEY,
            "Error: Invalid address or descriptor",
        )
    })?;
    let v = p.args.get(1).unwrap_or(&Value::Null);
    let list = v.as_array().ok_or_else(|| type_error(v, "array"))?;
    let submit = p.opt_bool(2, true)?;
    let mut txs = Vec::with_capacity(list.len());
    for item in list {
        let s = item.as_str().ok_or_else(|| type_error(item, "string"))?;
        if s.len() == 64 && unhex(s).is_some() {
            let txid: Txid = s
                .parse()
                .map_err(|_| invalid_param("txid must be hexadecimal string"))?;
            let e = chain
                .mempool
                .get(&txid)
                .ok_or_else(|| not_found(&format!("Transaction {s} not in mempool.")))?;
            txs.push(e.tx.clone());
        } else if let Some(tx) = decode_tx(s) {
            txs.push(tx);
        } else {
            return Err(RpcError::new(
                code::DESERIALIZATION_ERROR,
                format!(
                    "Transaction decode failed for {s}. Make sure the tx has at least one input."
                ),
            ));
        }
    }
    if !submit {
        let height = chain.height() + 1;
        let tip = chain.tip();
        let time = (crate::chain::now() as u32).max(tip.mtp + 1);
        let block = crate::miner::build_block(tip.hash, height, time, &script, txs, 0);
        return Ok(
            json!({"hash": block.block_hash().to_string(), "hex": hex(&encode::serialize(&block))}),
        );
    }
    let hash = chain
        .mine_block(&script, Some(txs))
        .map_err(|e| RpcError::new(code::VERIFY_ERROR, format!("TestBlockValidity failed: {e}")))?;
    Ok(json!({"hash": hash.to_string()}))
}

/// The addresses of an `-addrindex` call: a single address string or {"addresses": [...]}.
fn index_addresses(p: &Params) -> Result<Vec<(String, ScriptBuf)>, RpcError> {
    let v = p.args.first().unwrap_or(&Value::Null);
    let list: Vec<&Value> = match v {
        Value::String(_) => vec![v],
        Value::Object(o) => match o.get("addresses") {
            Some(Value::Array(a)) => a.iter().collect(),
            _ => return Err(invalid_param("Addresses is expected to be an array")),
        },
        _ => {
            return Err(RpcError::new(
                code::INVALID_ADDRESS_OR_KEY,
                "Invalid address",
            ))
        }
    };
    list.into_iter()
        .map(|a| {
            let s = a
                .as_str()
                .ok_or_else(|| RpcError::new(code::INVALID_ADDRESS_OR_KEY, "Invalid addresses"))?;
            let script = script::parse_address(s)
                .ok_or_else(|| RpcError::new(code::INVALID_ADDRESS_OR_KEY, "Invalid address"))?;
            Ok((s.to_string(), script))
        })
        .collect()
}

fn address_utxos(chain: &ChainState, p: &Params) -> RpcResult {
    let addrs = index_addresses(p)?;
    let chain_info = p
        .args
        .first()
        .and_then(|v| v.get("chainInfo"))
        .and_then(|v| v.as_bool())
        .unwrap_or(false);
    let mut rows: Vec<(u32, Value)> = Vec::new();
    for (addr, script) in &addrs {
        for (op, coin) in chain.address_utxos(script) {
            rows.push((
                coin.height,
                json!({
                    "address": addr,
                    "txid": op.txid.to_string(),
                    "outputIndex": op.vout,
                    "script": hex(coin.output.script_pubkey.as_bytes()),
                    "satoshis": coin.output.value.to_sat(),
                    "height": coin.height,
                    "isStake": false,
                }),
            ));
        }
    }
    rows.sort_by_key(|r| r.0);
    let utxos: Vec<Value> = rows.into_iter().map(|r| r.1).collect();
    if chain_info {
        Ok(json!({"utxos": utxos, "hash": chain.tip_hash().to_string(), "height": chain.height()}))
    } else {
        Ok(Value::Array(utxos))
    }
}

fn address_txids(chain: &ChainState, p: &Params) -> RpcResult {
    let addrs = index_addresses(p)?;
    let arg = p.args.first().unwrap_or(&Value::Null);
    let start = arg.get("start").and_then(|v| v.as_u64()).unwrap_or(0);
    let end = arg.get("end").and_then(|v| v.as_u64()).unwrap_or(0);
    let ranged = start > 0 && end > 0;
    if ranged && end < start {
        return Err(invalid_param(
            "End value is expected to be greater than start",
        ));
    }
    let mut rows: Vec<(u32, Txid)> = Vec::new();
    for (_, script) in &addrs {
        rows.extend(
            chain
                .address_txids(script)
                .into_iter()
                .filter(|(h, _)| !ranged || (u64::from(*h) >= start && u64::from(*h) <= end)),
        );
    }
    rows.sort_by_key(|r| r.0);
    let mut seen = std::collections::HashSet::new();
    let ids: Vec<Value> = rows
        .into_iter()
        .filter(|r| seen.insert(r.1))
        .map(|r| json!(r.1.to_string()))
        .collect();
    Ok(Value::Array(ids))
}

fn address_balance(chain: &ChainState, p: &Params) -> RpcResult {
    let addrs = index_addresses(p)?;
    let (mut balance, mut received, mut immature) = (0u64, 0u64, 0u64);
    for (_, script) in &addrs {
        for (_, coin) in chain.address_utxos(script) {
            balance += coin.output.value.to_sat();
            if coin.is_coinbase && !chain.is_mature(coin.height) {
                immature += coin.output.value.to_sat();
            }
        }
        for (_, txid) in chain.address_txids(script) {
            if let Some((tx, _, _)) = chain.confirmed_tx(&txid) {
                received += tx
                    .output
                    .iter()
                    .filter(|o| &o.script_pubkey == script)
                    .map(|o| o.value.to_sat())
                    .sum::<u64>();
            }
        }
    }
    Ok(json!({"balance": balance, "received": received, "immature": immature}))
}

fn spent_info(chain: &ChainState, p: &Params) -> RpcResult {
    let arg = p.args.first().unwrap_or(&Value::Null);
    let txid = arg
        .get("txid")
        .and_then(|v| v.as_str())
        .and_then(|s| s.parse::<Txid>().ok());
    let index = arg
        .get("index")
        .and_then(|v| v.as_u64())
        .and_then(|i| u32::try_from(i).ok());
    let (Some(txid), Some(vout)) = (txid, index) else {
        return Err(invalid_param("Invalid txid or index"));
    };
    let op = OutPoint { txid, vout };
    if let Some(s) = chain.spent_info(&op) {
        return Ok(json!({"txid": s.txid.to_string(), "index": s.vin, "height": s.height}));
    }
    if let Some(spender) = chain.mempool.spender(&op) {
        let vin = chain
            .mempool
            .get(&spender)
            .and_then(|e| e.tx.input.iter().position(|i| i.previous_output == op))
            .unwrap_or(0);
        return Ok(json!({"txid": spender.to_string(), "index": vin, "height": -1}));
    }
    Err(not_found("Unable to get spent info"))
}

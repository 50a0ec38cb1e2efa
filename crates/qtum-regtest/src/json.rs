//! qtumd's JSON shapes for blocks, headers, transactions and mempool entries.

use bitcoin::consensus::encode;
use bitcoin::Transaction;
use serde_json::{json, Map, Value};

use crate::chain::{BlockRecord, ChainState};
use crate::mempool::MempoolEntry;
use crate::params::{difficulty, COIN};
use crate::script::{asm, hex, script_pubkey_json};
use crate::validation::Coin;

/// An amount in QTUM as a JSON number.
pub fn amount(sat: u64) -> Value {
    json!(sat as f64 / COIN as f64)
}

/// A fee rate in QTUM/kvB from a fee and a virtual size.
pub fn fee_rate(fee: u64, vsize: u64) -> Value {
    // Core truncates the per-kvB rate to whole satoshi.
    let per_kvb = (fee * 1000).checked_div(vsize).unwrap_or(0);
    amount(per_kvb)
}

/// A hash's display hex (reversed bytes) from raw bytes.
pub fn display_hex(raw: &[u8; 32]) -> String {
    let mut r = *raw;
    r.reverse();
    hex(&r)
}

fn chainwork_hex(work: u128) -> String {
    format!("{work:064x}")
}

/// `getblockheader <hash> true`.
pub fn header_json(chain: &ChainState, rec: &BlockRecord) -> Value {
    let h = &rec.block.header;
    let confirmations: i64 = if chain.is_active(rec) {
        i64::from(chain.height() - rec.height) + 1
    } else {
        -1
    };
    let mut m = Map::new();
    m.insert("hash".into(), json!(rec.hash.to_string()));
    m.insert("confirmations".into(), json!(confirmations));
    m.insert("height".into(), json!(rec.height));
    m.insert("version".into(), json!(h.version));
    m.insert("versionHex".into(), json!(format!("{:08x}", h.version)));
    m.insert("merkleroot".into(), json!(h.merkle_root.to_string()));
    m.insert("time".into(), json!(h.time));
    m.insert("mediantime".into(), json!(rec.mtp));
    m.insert("nonce".into(), json!(h.nonce));
    m.insert(
        "bits".into(),
        json!(format!("{:08x}", h.bits.to_consensus())),
    );
    m.insert("difficulty".into(), json!(difficulty(h.bits)));
    m.insert("chainwork".into(), json!(chainwork_hex(rec.chain_work)));
    m.insert("nTx".into(), json!(rec.block.txdata.len()));
    m.insert(
        "hashStateRoot".into(),
        json!(display_hex(&h.hash_state_root)),
    );
    m.insert("hashUTXORoot".into(), json!(display_hex(&h.hash_utxo_root)));
    if rec.height > 0 {
        m.insert(
            "previousblockhash".into(),
            json!(h.prev_blockhash.to_string()),
        );
    }
    if let Some(next) = chain.next_hash(rec) {
        m.insert("nextblockhash".into(), json!(next.to_string()));
    }
    m.insert("flags".into(), json!("proof-of-work"));
    m.insert("proofhash".into(), json!(rec.hash.to_string()));
    m.insert("modifier".into(), json!(display_hex(&rec.modifier)));
    Value::Object(m)
}

/// Extra facts for a transaction's JSON.
#[derive(Default)]
pub struct TxExtra<'a> {
    /// Fee (for non-coinbase transactions whose inputs are known).
    pub fee: Option<u64>,
    /// Spent coins, for `prevout` objects (verbosity 3 / getrawtransaction 2).
    pub prevouts: Option<&'a [Coin]>,
    /// Include the `hex` field.
    pub include_hex: bool,
}

/// Bitcoin Core's `TxToUniv`.
pub fn tx_json(tx: &Transaction, extra: &TxExtra<'_>) -> Value {
    let mut m = Map::new();
    m.insert("txid".into(), json!(tx.compute_txid().to_string()));
    m.insert("hash".into(), json!(tx.compute_wtxid().to_string()));
    m.insert("version".into(), json!(tx.version.0));
    m.insert("size".into(), json!(tx.total_size()));
    m.insert("vsize".into(), json!(tx.vsize()));
    m.insert("weight".into(), json!(tx.weight().to_wu()));
    m.insert("locktime".into(), json!(tx.lock_time.to_consensus_u32()));
    let vin: Vec<Value> = tx
        .input
        .iter()
        .enumerate()
        .map(|(i, input)| {
            let mut o = Map::new();
            if tx.is_coinbase() {
                o.insert("coinbase".into(), json!(hex(input.script_sig.as_bytes())));
            } else {
                o.insert("txid".into(), json!(input.previous_output.txid.to_string()));
                o.insert("vout".into(), json!(input.previous_output.vout));
                o.insert(
                    "scriptSig".into(),
                    json!({"asm": asm(&input.script_sig, true), "hex": hex(input.script_sig.as_bytes())}),
                );
            }
            if !input.witness.is_empty() {
                let items: Vec<Value> = input.witness.iter().map(|w| json!(hex(w))).collect();
                o.insert("txinwitness".into(), Value::Array(items));
            }
            if let Some(coin) = extra.prevouts.and_then(|p| p.get(i)) {
                o.insert(
                    "prevout".into(),
                    json!({
                        "generated": coin.is_coinbase,
                        "height": coin.height,
                        "value": amount(coin.output.value.to_sat()),
                        "scriptPubKey": script_pubkey_json(&coin.output.script_pubkey),
                    }),
                );
            }
            o.insert("sequence".into(), json!(input.sequence.0));
            Value::Object(o)
        })
        .collect();
    m.insert("vin".into(), Value::Array(vin));
    let vout: Vec<Value> = tx
        .output
        .iter()
        .enumerate()
        .map(|(n, o)| {
            json!({
                "value": amount(o.value.to_sat()),
                "n": n,
                "scriptPubKey": script_pubkey_json(&o.script_pubkey),
            })
        })
        .collect();
    m.insert("vout".into(), Value::Array(vout));
    if let Some(fee) = extra.fee {
        if !tx.is_coinbase() {
            m.insert("fee".into(), amount(fee));
        }
    }
    if extra.include_hex {
        m.insert("hex".into(), json!(hex(&encode::serialize(tx))));
    }
    Value::Object(m)
}

/// `getblock <hash> 1|2|3`.
pub fn block_json(chain: &ChainState, rec: &BlockRecord, verbosity: u8) -> Value {
    let mut v = header_json(chain, rec);
    let block = &rec.block;
    let size = encode::serialize(block).len();
    let stripped: usize = {
        let header = block.header.to_bytes().len();
        let count = encode::VarInt(block.txdata.len() as u64).size();
        header + count + block.txdata.iter().map(|t| t.base_size()).sum::<usize>()
    };
    let weight = stripped * 3 + size;
    let txs: Vec<Value> = block
        .txdata
        .iter()
        .enumerate()
        .map(|(i, tx)| {
            if verbosity <= 1 {
                return json!(tx.compute_txid().to_string());
            }
            let prevouts = if verbosity >= 3 && i > 0 {
                rec.undo
                    .as_ref()
                    .and_then(|u| u.get(i - 1))
                    .map(|c| c.as_slice())
            } else {
                None
            };
            let fee = if i > 0 {
                rec.fees.get(i).copied()
            } else {
                None
            };
            tx_json(
                tx,
                &TxExtra {
                    fee,
                    prevouts,
                    include_hex: true,
                },
            )
        })
        .collect();
    if let Value::Object(m) = &mut v {
        m.insert("strippedsize".into(), json!(stripped));
        m.insert("size".into(), json!(size));
        m.insert("weight".into(), json!(weight));
        m.insert("tx".into(), Value::Array(txs));
    }
    v
}

/// `getmempoolentry` / the values of `getrawmempool true`.
pub fn mempool_entry_json(chain: &ChainState, e: &MempoolEntry) -> Value {
    let pool = &chain.mempool;
    let ancestors = pool.ancestors(&e.txid);
    let descendants = pool.descendants(&e.txid);
    let sum = |set: &std::collections::HashSet<bitcoin::Txid>| -> (u64, u64) {
        set.iter()
            .filter_map(|t| pool.get(t))
            .fold((e.vsize, e.fee), |(v, f), x| (v + x.vsize, f + x.fee))
    };
    let (anc_size, anc_fee) = sum(&ancestors);
    let (desc_size, desc_fee) = sum(&descendants);
    let replaceable = e.signals_rbf()
        || ancestors
            .iter()
            .filter_map(|t| pool.get(t))
            .any(|a| a.signals_rbf());
    let depends: Vec<Value> = pool
        .parents(&e.txid)
        .iter()
        .map(|t| json!(t.to_string()))
        .collect();
    let spentby: Vec<Value> = pool
        .children(&e.txid)
        .iter()
        .map(|t| json!(t.to_string()))
        .collect();
    json!({
        "vsize": e.vsize,
        "weight": e.weight,
        "time": e.time,
        "height": e.height,
        "descendantcount": descendants.len() + 1,
        "descendantsize": desc_size,
        "ancestorcount": ancestors.len() + 1,
        "ancestorsize": anc_size,
        "wtxid": e.wtxid.to_string(),
        "fees": {
            "base": amount(e.fee),
            "modified": amount(e.fee),
            "ancestor": amount(anc_fee),
            "descendant": amount(desc_fee),
        },
        "depends": depends,
        "spentby": spentby,
        "bip125-replaceable": replaceable,
        "unbroadcast": true,
    })
}

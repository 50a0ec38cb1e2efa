//! The Esplora REST answers `EsploraSource` parses, played by a loopback server.
//!
//! Input: parts separated by `\n--\n`. The first is the operation (`tip`, `header <hash>`,
//! `block <hash>`, `hashat <h>`, `tx <txid>`, `status <txid>`, `history <script hex>`,
//! `outspend <txid> <vout>`, `broadcast <tx hex>`, `fees`); each later part answers one GET or
//! POST, in order: its first byte picks the status (`2` 200, `4` 404, `3` 400, `5` 500; anything
//! else is a 200 whose body is the whole part), the rest is the body. When the parts run out the
//! server answers 500.
//!
//! Whatever the answers, the source returns an error or a value that holds its promises
//! (headers and blocks hash to what was asked, a confirmation comes with its header), and never
//! panics or hangs.
#![no_main]

use std::sync::OnceLock;
use std::time::Duration;

use bitcoin::{OutPoint, ScriptBuf, Transaction};
use libfuzzer_sys::fuzz_target;
use qtum_chain::esplora::{EsploraConfig, EsploraSource};
use qtum_chain::{ChainSource, TxStatus};
use qtum_fuzz::{split_parts, FakeServer, Op, Script};

fn answer(script: &mut Script, _target: &str, _body: &[u8]) -> (u16, Vec<u8>) {
    let Some(part) = script.take() else {
        return (500, b"no more answers".to_vec());
    };
    match part.split_first() {
        Some((b'2', rest)) => (200, rest.to_vec()),
        Some((b'4', rest)) => (404, rest.to_vec()),
        Some((b'3', rest)) => (400, rest.to_vec()),
        Some((b'5', rest)) => (500, rest.to_vec()),
        _ => (200, part),
    }
}

static SERVER: OnceLock<FakeServer> = OnceLock::new();

fn default_tx() -> Transaction {
    Transaction {
        version: bitcoin::transaction::Version::TWO,
        lock_time: bitcoin::absolute::LockTime::ZERO,
        input: vec![bitcoin::TxIn::default()],
        output: vec![bitcoin::TxOut {
            value: bitcoin::Amount::from_sat(1000),
            script_pubkey: ScriptBuf::new(),
        }],
    }
}

fuzz_target!(|data: &[u8]| {
    let parts = split_parts(data);
    let op = Op::parse(parts[0]);
    let server = FakeServer::shared(&SERVER, answer);
    server.load(&parts[1..]);
    let mut config = EsploraConfig::new(vec![server.url().to_string()]);
    config.timeout = Duration::from_secs(20);
    config.max_history_txs = 60;
    let source = EsploraSource::new(config).expect("an http:// base URL is accepted");
    let zero = bitcoin::BlockHash::from_raw_hash(bitcoin::hashes::Hash::all_zeros());
    let zero_txid = bitcoin::Txid::from_raw_hash(bitcoin::hashes::Hash::all_zeros());
    match op.name() {
        "tip" => {
            if let Ok((tip, header)) = source.tip_header() {
                assert_eq!(tip.hash, header.block_hash());
            }
        }
        "header" => {
            let hash = op.arg(0, zero);
            if let Ok(header) = source.header(&hash) {
                assert_eq!(header.block_hash(), hash);
            }
        }
        "block" => {
            let hash = op.arg(0, zero);
            if let Ok(block) = source.block(&hash) {
                assert_eq!(block.block_hash(), hash);
            }
        }
        "hashat" => {
            let _ = source.block_hash_at(op.arg(0, 0u32));
        }
        "tx" => {
            let txid = op.arg(0, zero_txid);
            if let Ok(Some(tx)) = source.transaction(&txid) {
                assert_eq!(tx.compute_txid(), txid);
            }
        }
        "status" => {
            let txid = op.arg(0, zero_txid);
            if let Ok(TxStatus::Confirmed { block, header, .. }) = source.tx_status(&txid) {
                assert_eq!(block.hash, header.block_hash());
            }
        }
        "history" => {
            let script = ScriptBuf::from_hex(op.text(0)).unwrap_or_default();
            if let Ok(entries) = source.script_history(&script) {
                let mut seen = std::collections::HashSet::new();
                assert!(
                    entries.iter().all(|e| seen.insert(e.txid)),
                    "duplicate txid"
                );
                assert!(entries.iter().filter(|e| e.height.is_some()).count() <= 60);
            }
        }
        "outspend" => {
            let outpoint = OutPoint::new(op.arg(0, zero_txid), op.arg(1, 0u32));
            let _ = source.outspend(&outpoint);
        }
        "broadcast" => {
            let tx = bitcoin::consensus::encode::deserialize_hex::<Transaction>(op.text(0))
                .unwrap_or_else(|_| default_tx());
            if let Ok(txid) = source.broadcast(&tx) {
                assert_eq!(txid, tx.compute_txid());
            }
        }
        _ => {
            if let Ok(fees) = source.fee_estimates() {
                assert!(fees.by_target.windows(2).all(|w| w[0] <= w[1]));
            }
        }
    }
    let _ = source.endpoint_health();
});

//! The qtumd JSON-RPC answers `RpcSource` parses, played by a loopback server.
//!
//! Input: parts separated by `\n--\n`. The first is the operation (`tip`, `header <hash>`,
//! `block <hash>`, `hashat <h>`, `headerat <h>`, `range <from> <to>`, `tx <txid>`,
//! `status <txid>`, `history <script hex> <start>`, `outspend <txid> <vout>`,
//! `broadcast <tx hex>`, `fees`); each later part answers one JSON-RPC call, in order:
//! `r<json>` a result, `s<text>` a string result, `e<code> <message>` an error object,
//! `i<offset> <json>` a result under a wrong id, `x<body>` a raw HTTP body for the whole request,
//! `h<status> <body>` an HTTP status and body. When the parts run out the server answers 500.
//!
//! Whatever the answers, the source returns an error or a value that holds its promises
//! (headers and blocks hash to what was asked, transactions to their txid, ranges are
//! consecutive), and never panics or hangs.
#![no_main]

use std::sync::OnceLock;
use std::time::Duration;

use bitcoin::{OutPoint, ScriptBuf, Transaction};
use libfuzzer_sys::fuzz_target;
use qtum_chain::rpc::{RpcAuth, RpcConfig, RpcEndpoint, RpcSource};
use qtum_chain::{ChainSource, TxStatus};
use qtum_fuzz::{split_parts, FakeServer, Op, Script};
use qtum_primitives::network::Network;
use serde_json::{json, Value};

/// One call's answer object for `id` from a scripted part (`None`: the part is a raw body).
fn reply(part: &[u8], id: &Value) -> Result<Value, (u16, Vec<u8>)> {
    let (mode, rest) = part.split_first().map_or((b'r', &[][..]), |(m, r)| (*m, r));
    let text = String::from_utf8_lossy(rest);
    let as_json = || serde_json::from_slice::<Value>(rest).unwrap_or_else(|_| json!(text));
    Ok(match mode {
        b's' => json!({"result": text, "error": null, "id": id}),
        b'e' => {
            let (code, message) = text.split_once(' ').unwrap_or((&text, ""));
            json!({"result": null, "error": {"code": code.parse::<i64>().unwrap_or(-1), "message": message}, "id": id})
        }
        b'i' => {
            let (offset, body) = text.split_once(' ').unwrap_or((&text, "null"));
            let id = id.as_i64().unwrap_or(0) + offset.parse::<i64>().unwrap_or(1);
            let result = serde_json::from_str::<Value>(body).unwrap_or(Value::Null);
            json!({"result": result, "error": null, "id": id})
        }
        b'x' => return Err((200, rest.to_vec())),
        b'h' => {
            let (status, body) = text.split_once(' ').unwrap_or((&text, ""));
            let status = status
                .parse::<u16>()
                .ok()
                .filter(|s| (200..600).contains(s));
            return Err((status.unwrap_or(500), body.as_bytes().to_vec()));
        }
        _ => json!({"result": as_json(), "error": null, "id": id}),
    })
}

fn answer(script: &mut Script, _target: &str, body: &[u8]) -> (u16, Vec<u8>) {
    let no_more = (500, b"no more answers".to_vec());
    match serde_json::from_slice::<Value>(body) {
        Ok(Value::Array(calls)) => {
            let mut replies = Vec::with_capacity(calls.len());
            for call in &calls {
                let Some(part) = script.take() else {
                    return no_more;
                };
                match reply(&part, &call["id"]) {
                    Ok(r) => replies.push(r),
                    // A raw part answers the whole batch.
                    Err(raw) => return raw,
                }
            }
            (200, Value::Array(replies).to_string().into_bytes())
        }
        Ok(call) => match script.take() {
            None => no_more,
            Some(part) => match reply(&part, &call["id"]) {
                Ok(r) => (200, r.to_string().into_bytes()),
                Err(raw) => raw,
            },
        },
        Err(_) => (400, b"bad request".to_vec()),
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
    let mut config = RpcConfig::new(
        Network::Regtest,
        vec![RpcEndpoint::new(server.url(), RpcAuth::None)],
    );
    config.timeout = Duration::from_secs(20);
    config.batch_size = 3;
    config.max_scan_blocks = 50;
    let source = RpcSource::new(config).expect("an http:// endpoint is accepted");
    let zero = bitcoin::BlockHash::from_raw_hash(bitcoin::hashes::Hash::all_zeros());
    let zero_txid = bitcoin::Txid::from_raw_hash(bitcoin::hashes::Hash::all_zeros());
    match op.name() {
        "tip" => {
            if let Ok((tip, header)) = source.tip_header() {
                assert_eq!(tip.hash, header.block_hash());
                assert_eq!(tip.synthetic_hash, header.synthetic_hash());
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
        "headerat" => {
            let height = op.arg(0, 0u32);
            if let Ok(Some((at, header))) = source.header_at(height) {
                assert_eq!(at.height, height);
                assert_eq!(at.hash, header.block_hash());
            }
        }
        "range" => {
            let (from, to) = (op.arg(0, 0u32), op.arg(1, 2u32));
            if let Ok(run) = source.headers_between(from, to) {
                for (i, (at, header)) in run.iter().enumerate() {
                    assert_eq!(u64::from(at.height), u64::from(from) + i as u64);
                    assert!(at.height <= to);
                    assert_eq!(at.hash, header.block_hash());
                }
            }
        }
        "tx" => {
            let txid = op.arg(0, zero_txid);
            if let Ok(Some(tx)) = source.transaction(&txid) {
                assert_eq!(tx.compute_txid(), txid);
            }
        }
        "status" => {
            let txid = op.arg(0, zero_txid);
            if let Ok(TxStatus::Confirmed {
                block,
                header,
                position,
            }) = source.tx_status(&txid)
            {
                assert_eq!(block.hash, header.block_hash());
                let _ = position;
            }
        }
        "history" => {
            let script = ScriptBuf::from_hex(op.text(0)).unwrap_or_else(|_| {
                ScriptBuf::new_p2wpkh(&bitcoin::WPubkeyHash::from_raw_hash(
                    bitcoin::hashes::Hash::all_zeros(),
                ))
            });
            if let Ok(all) = source.scripts_history(&[script], op.arg(1, 0u32)) {
                assert_eq!(all.len(), 1);
            }
        }
        "outspend" => {
            let outpoint = OutPoint::new(op.arg(0, zero_txid), op.arg(1, 0u32));
            let _ = source.outspend(&outpoint);
        }
        "broadcast" => {
            let tx = bitcoin::consensus::encode::deserialize_hex::<Transaction>(op.text(0))
                .unwrap_or_else(|_| default_tx());
            let _ = source.broadcast(&tx);
        }
        _ => {
            if let Ok(fees) = source.fee_estimates() {
                assert!(fees.by_target.iter().all(|(target, _)| *target > 0));
            }
        }
    }
    let _ = source.endpoint_health();
});

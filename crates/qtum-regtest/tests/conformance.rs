//! Conformance with the data captured from a real `qtumd -regtest` (tests/fixtures/qtum-regtest).

mod common;

use std::collections::BTreeMap;

use common::*;
use qtum_regtest::RegtestNode;
use serde_json::{json, Value};

const GENESIS: &str = "665ed5b402ac0b44efc37d8926332994363e8a7278b7ee9a58fb972efadae943";
const FIXTURE_MINER: &str = "qcrt1q3r86ta5ax9vq0rdh2j0qj0dykee056upj799v2";

/// Field names and JSON types, recursively (arrays by their first element; an empty array
/// matches any array).
fn shape(v: &Value) -> Shape {
    Shape(v.clone())
}

#[derive(Debug)]
struct Shape(Value);

impl PartialEq for Shape {
    fn eq(&self, other: &Shape) -> bool {
        same_shape(&self.0, &other.0)
    }
}

fn same_shape(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len()
                && x.iter()
                    .all(|(k, v)| y.get(k).is_some_and(|w| same_shape(v, w)))
        }
        (Value::Array(x), Value::Array(y)) => match (x.first(), y.first()) {
            (Some(p), Some(q)) => same_shape(p, q),
            _ => true,
        },
        (Value::Number(_), Value::Number(_)) => true,
        (Value::String(_), Value::String(_)) => true,
        (Value::Bool(_), Value::Bool(_)) => true,
        (Value::Null, Value::Null) => true,
        _ => false,
    }
}

#[test]
fn genesis_bytes_and_json_are_qtumds() {
    let node = RegtestNode::start().expect("start");
    let rpc = Rpc::new(&node);
    assert_eq!(rpc.call("getblockhash", json!([0])), json!(GENESIS));
    assert_eq!(rpc.call("getbestblockhash", json!([])), json!(GENESIS));
    assert_eq!(
        rpc.call("getblock", json!([GENESIS, 0])),
        json!(fixture("blocks/h0_genesis/getblock.v0.hex").trim())
    );
    let header_hex = rpc.call("getblockheader", json!([GENESIS, false]));
    assert_eq!(
        header_hex,
        json!(fixture("blocks/h0_genesis/getblockheader.hex").trim())
    );
    assert_eq!(header_hex.as_str().map(|s| s.len() / 2), Some(181));
    // At height 0 every field is deterministic: the answers must be identical.
    assert_eq!(
        rpc.call("getblockheader", json!([GENESIS])),
        fixture_json("blocks/h0_genesis/getblockheader.verbose.json")
    );
    assert_eq!(
        rpc.call("getblock", json!([GENESIS])),
        fixture_json("blocks/h0_genesis/getblock.v1.json")
    );
    assert_eq!(
        rpc.call("getblock", json!([GENESIS, 2])),
        fixture_json("blocks/h0_genesis/getblock.v2.json")
    );
    assert_eq!(
        rpc.call("getblockchaininfo", json!([])),
        fixture_json("chain/height0.getblockchaininfo.json")
    );
    assert_eq!(rpc.call("getblockcount", json!([])), json!(0));
}

#[test]
fn estimatesmartfee_without_data_matches_qtumd() {
    let node = RegtestNode::start().expect("start");
    let rpc = Rpc::new(&node);
    for (target, file) in [(1, "1"), (2, "2"), (6, "6"), (144, "144")] {
        assert_eq!(
            rpc.call("estimatesmartfee", json!([target])),
            fixture_json(&format!("fees/estimatesmartfee.{file}.nodata.json"))
        );
    }
    assert_eq!(
        rpc.call("estimatesmartfee", json!([1, "ECONOMICAL"])),
        fixture_json("fees/estimatesmartfee.1.economical.nodata.json")
    );
    for t in [0, 1009] {
        let (code, msg) = rpc.err("estimatesmartfee", json!([t]));
        assert_eq!(code, -8);
        assert!(fixture(&format!(
            "fees/estimatesmartfee.{t}{}",
            if t == 0 { ".invalid.txt" } else { ".txt" }
        ))
        .contains(&msg));
    }
}

#[test]
fn mined_blocks_have_qtumds_layout_and_json_shapes() {
    let node = RegtestNode::start().expect("start");
    let rpc = Rpc::new(&node);
    let hashes = rpc.call("generatetoaddress", json!([2, FIXTURE_MINER]));
    let h1 = hashes[0].as_str().expect("hash").to_string();
    // The coinbase of block 1 paying the fixture's miner is byte-identical to qtumd's.
    let b1 = rpc.call("getblock", json!([h1, 2]));
    let f1 = fixture_json("blocks/h1_first_pow/getblock.v2.json");
    assert_eq!(b1["tx"][0], f1["tx"][0]);
    assert_eq!(b1["merkleroot"], f1["merkleroot"]);
    assert_eq!(b1["hashStateRoot"], f1["hashStateRoot"]);
    assert_eq!(b1["hashUTXORoot"], f1["hashUTXORoot"]);
    assert_eq!(b1["chainwork"], f1["chainwork"]);
    assert_eq!(b1["bits"], "207fffff");
    assert_eq!(shape(&b1), shape(&f1));
    assert_eq!(
        shape(&rpc.call("getblock", json!([h1]))),
        shape(&fixture_json("blocks/h1_first_pow/getblock.v1.json"))
    );
    assert_eq!(
        shape(&rpc.call("getblockheader", json!([h1]))),
        shape(&fixture_json(
            "blocks/h1_first_pow/getblockheader.verbose.json"
        ))
    );
    // 181-byte header whose bytes after the first 80 are qtumd's (roots, null stake, no sig).
    let raw = rpc.call("getblockheader", json!([h1, false]));
    let raw = raw.as_str().expect("hex");
    let fixture_raw = fixture("blocks/h1_first_pow/getblockheader.hex");
    assert_eq!(raw.len(), 362);
    assert_eq!(&raw[160..], &fixture_raw.trim()[160..]);
    assert_eq!(&raw[..8], &fixture_raw[..8]);
    // The stake modifier follows qtumd's rule for PoW blocks.
    let hdr = rpc.call("getblockheader", json!([h1]));
    assert_eq!(hdr["proofhash"], json!(h1));
    assert_eq!(hdr["flags"], "proof-of-work");
    let info = rpc.call("getblockchaininfo", json!([]));
    assert_eq!(
        shape(&info),
        shape(&fixture_json("chain/tip2024.getblockchaininfo.json"))
    );
    assert_eq!(info["moneysupply"], json!(40_000));
    assert_eq!(info["initialblockdownload"], json!(false));
}

#[test]
fn transaction_mempool_and_acceptance_shapes_match_qtumd() {
    let node = RegtestNode::start().expect("start");
    let rpc = Rpc::new(&node);
    let bob = Key::new("bob");
    let op = node
        .fund_address(&bob.p2wpkh(), 1_000_000_000)
        .expect("fund");
    let txid = op.txid.to_string();
    let entry = rpc.call("getmempoolentry", json!([txid]));
    assert_eq!(
        shape(&entry),
        shape(&fixture_json("tx/p2wsh.getmempoolentry.json"))
    );
    let verbose = rpc.call("getrawmempool", json!([true]));
    assert_eq!(shape(&verbose[&txid]), shape(&entry));
    let mem = rpc.call("getrawtransaction", json!([txid, true]));
    assert_eq!(
        shape(&mem),
        shape(&fixture_json(
            "tx/p2wpkh.getrawtransaction.mempool.verbose.json"
        ))
    );
    let info = rpc.call("getmempoolinfo", json!([]));
    assert_eq!(
        shape(&info),
        shape(&fixture_json("node/getmempoolinfo.2tx.json"))
    );

    rpc.call("generatetoaddress", json!([1, bob.address()]));
    let conf = rpc.call("getrawtransaction", json!([txid, 1]));
    assert_eq!(
        shape(&conf),
        shape(&fixture_json("tx/p2wpkh.getrawtransaction.verbose.json"))
    );
    assert_eq!(conf["confirmations"], json!(1));
    let v2 = rpc.call("getrawtransaction", json!([txid, 2]));
    assert_eq!(
        shape(&v2),
        shape(&fixture_json("tx/p2wpkh.getrawtransaction.verbose2.json"))
    );
    let out = rpc.call("gettxout", json!([txid, 0]));
    assert_eq!(
        shape(&out),
        shape(&fixture_json("tx/gettxout.p2wpkh_unspent.json"))
    );
    assert_eq!(out["value"], json!(10.0));
    assert_eq!(out["scriptPubKey"]["address"], json!(bob.address()));
    let spent = rpc.call(
        "gettxout",
        json!([
            node.with_chain(|c| c
                .block(&c.hash_at(1).expect("h1"))
                .map(|r| r.block.txdata[0].compute_txid().to_string()))
                .expect("cb"),
            0
        ]),
    );
    assert_eq!(spent, Value::Null, "the wallet spent the block-1 coinbase");

    // testmempoolaccept's accepted shape.
    let (cb, value) = coinbase_of(&rpc, 2);
    let wallet = node.wallet_script();
    assert_ne!(wallet, bob.p2wpkh());
    let fresh = Key::new("fresh");
    rpc.call("generatetoaddress", json!([1, fresh.address()]));
    let _ = (cb, value);
    let tip = node.height();
    let (cb_fresh, v) = coinbase_of(&rpc, tip);
    rpc.call("generatetoaddress", json!([2000, fresh.address()]));
    let mut tx = unsigned(
        &[cb_fresh],
        vec![
            (bob.p2wpkh(), 39_200),
            (fresh.p2wpkh(), v - 39_200 - 1_000_000),
        ],
        0xffff_fffd,
        0,
    );
    sign_p2wpkh(&mut tx, 0, &fresh, v);
    let r = rpc.call("testmempoolaccept", json!([[to_hex(&tx)]]));
    assert_eq!(
        shape(&r),
        shape(&fixture_json(
            "policy/dust/testmempoolaccept.p2wpkh.39200sat.json"
        ))
    );
    assert_eq!(r[0]["vsize"], json!(141));
    assert_eq!(r[0]["fees"]["effective-feerate"], json!(0.07092198));
}

#[test]
fn fixture_transactions_get_qtumds_rejection_reasons() {
    // The fixture transactions spend coins of qtumd's own chain. The dust check comes before
    // any input lookup (as in qtumd), so the refused ones must be refused for the same reason;
    // the accepted ones can only miss their inputs here.
    let node = RegtestNode::start().expect("start");
    let rpc = Rpc::new(&node);
    let summary = fixture_json("policy/dust/SUMMARY.json");
    let mut checked = BTreeMap::new();
    for row in summary.as_array().expect("array") {
        let kind = row["output_type"].as_str().expect("type");
        let sat = row["output_sat"].as_u64().expect("sat");
        if kind == "op_return" {
            continue;
        }
        let hex = fixture(&format!("policy/dust/tx.{kind}.{sat}sat.hex"));
        let hex = hex.trim();
        let r = rpc.call("testmempoolaccept", json!([[hex]]));
        let expect = fixture_json(&format!(
            "policy/dust/testmempoolaccept.{kind}.{sat}sat.json"
        ));
        assert_eq!(r[0]["txid"], expect[0]["txid"]);
        assert_eq!(r[0]["wtxid"], expect[0]["wtxid"]);
        if expect[0]["allowed"] == json!(false) {
            assert_eq!(
                r[0]["reject-reason"], expect[0]["reject-reason"],
                "{kind} {sat}"
            );
        } else {
            assert_eq!(
                r[0]["reject-reason"],
                json!("missing-inputs"),
                "{kind} {sat}"
            );
        }
        checked.insert(format!("{kind}.{sat}"), r[0]["reject-reason"].clone());
    }
    assert_eq!(checked.len(), 12);
    // The dust sendrawtransaction error object.
    let hex = fixture("policy/dust/tx.p2wpkh.1000sat.hex");
    assert_eq!(
        rpc.err("sendrawtransaction", json!([hex.trim()])),
        (-26, "dust".to_string())
    );
    assert!(
        fixture("policy/dust/sendrawtransaction.dust_p2wpkh_1000sat.error.txt")
            .contains("error code: -26")
    );
}

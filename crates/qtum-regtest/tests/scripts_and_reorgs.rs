//! P2WSH 2-of-2 spends, CSV-locked spends, reorganisations and the -addrindex RPCs.

mod common;

use bitcoin::opcodes::all::{OP_CHECKMULTISIG, OP_CHECKSIG, OP_CSV, OP_DROP, OP_PUSHNUM_2};
use bitcoin::script::Builder;
use bitcoin::{OutPoint, ScriptBuf, Witness};
use common::*;
use qtum_regtest::RegtestNode;
use serde_json::{json, Value};

fn two_of_two(a: &Key, b: &Key) -> ScriptBuf {
    let (mut x, mut y) = (a.public.serialize(), b.public.serialize());
    if x > y {
        std::mem::swap(&mut x, &mut y);
    }
    Builder::new()
        .push_opcode(OP_PUSHNUM_2)
        .push_slice(x)
        .push_slice(y)
        .push_opcode(OP_PUSHNUM_2)
        .push_opcode(OP_CHECKMULTISIG)
        .into_script()
}

#[test]
fn p2wsh_two_of_two_spend_is_accepted_and_mined() {
    let node = RegtestNode::start().expect("start");
    let rpc = Rpc::new(&node);
    let (a, b, dest) = (
        Key::new("funding-a"),
        Key::new("funding-b"),
        Key::new("dest"),
    );
    let ws = two_of_two(&a, &b);
    let spk = qtum_regtest::script::p2wsh(&ws);
    let funding = node.fund_address(&spk, 500_000_000).expect("fund");
    node.mine_blocks(1, &dest.p2wpkh()).expect("mine");
    let out = rpc.call("gettxout", json!([funding.txid.to_string(), funding.vout]));
    assert_eq!(out["scriptPubKey"]["type"], "witness_v0_scripthash");

    let mut tx = unsigned(
        &[funding],
        vec![(dest.p2wpkh(), 500_000_000 - 200_000)],
        0xffff_fffd,
        0,
    );
    let digest = p2wsh_digest(&tx, 0, &ws, 500_000_000);
    let (first, second) = if a.public.serialize() < b.public.serialize() {
        (&a, &b)
    } else {
        (&b, &a)
    };
    // Signatures in the wrong order fail CHECKMULTISIG: a script failure.
    tx.input[0].witness = Witness::from_slice(&[
        vec![],
        second.sign(digest),
        first.sign(digest),
        ws.to_bytes(),
    ]);
    let r = rpc.call("testmempoolaccept", json!([[to_hex(&tx)]]));
    assert!(
        r[0]["reject-reason"]
            .as_str()
            .unwrap_or("")
            .starts_with("mandatory-script-verify-flag-failed"),
        "{r}"
    );
    tx.input[0].witness = Witness::from_slice(&[
        vec![],
        first.sign(digest),
        second.sign(digest),
        ws.to_bytes(),
    ]);
    let r = rpc.call("testmempoolaccept", json!([[to_hex(&tx)]]));
    assert_eq!(r[0]["allowed"], true, "{r}");
    let txid = rpc.call("sendrawtransaction", json!([to_hex(&tx)]));
    let block = node.mine_blocks(1, &dest.p2wpkh()).expect("mine")[0];
    let conf = rpc.call("getrawtransaction", json!([txid, true]));
    assert_eq!(conf["blockhash"], json!(block.to_string()));
    assert_eq!(
        conf["vin"][0]["txinwitness"].as_array().map(|w| w.len()),
        Some(4)
    );
    assert_eq!(
        rpc.call("gettxout", json!([funding.txid.to_string(), 0])),
        Value::Null
    );
    let spent = rpc.call(
        "getspentinfo",
        json!([{"txid": funding.txid.to_string(), "index": 0}]),
    );
    assert_eq!(
        spent,
        json!({"txid": txid, "index": 0, "height": node.height()})
    );
}

#[test]
fn csv_locked_spend_is_refused_until_its_delay_has_passed() {
    let node = RegtestNode::start().expect("start");
    let rpc = Rpc::new(&node);
    let (owner, dest) = (Key::new("csv-owner"), Key::new("dest"));
    let delay = 10u16;
    let ws = Builder::new()
        .push_int(i64::from(delay))
        .push_opcode(OP_CSV)
        .push_opcode(OP_DROP)
        .push_slice(owner.public.serialize())
        .push_opcode(OP_CHECKSIG)
        .into_script();
    let spk = qtum_regtest::script::p2wsh(&ws);
    let funding = node.fund_address(&spk, 100_000_000).expect("fund");
    node.mine_blocks(1, &dest.p2wpkh()).expect("mine");
    let coin_height = node.height();

    let mut tx = unsigned(
        &[funding],
        vec![(dest.p2wpkh(), 100_000_000 - 100_000)],
        u32::from(delay),
        0,
    );
    let digest = p2wsh_digest(&tx, 0, &ws, 100_000_000);
    tx.input[0].witness = Witness::from_slice(&[owner.sign(digest), ws.to_bytes()]);
    let hex = to_hex(&tx);

    let r = rpc.call("testmempoolaccept", json!([[hex]]));
    assert_eq!(r[0]["reject-reason"], "non-BIP68-final");
    assert_eq!(
        rpc.err("sendrawtransaction", json!([hex])),
        (-26, "non-BIP68-final".to_string())
    );
    // A block that includes it early is invalid too.
    let (code, msg) = rpc.err("generateblock", json!([dest.address(), [hex]]));
    assert_eq!(
        (code, msg.as_str()),
        (-25, "TestBlockValidity failed: bad-txns-nonfinal")
    );
    // The input may be spent in the block at coin_height + delay.
    node.mine_blocks(u32::from(delay) - 2, &dest.p2wpkh())
        .expect("mine");
    assert_eq!(node.height(), coin_height + u32::from(delay) - 2);
    let r = rpc.call("testmempoolaccept", json!([[hex]]));
    assert_eq!(r[0]["reject-reason"], "non-BIP68-final");
    node.mine_blocks(1, &dest.p2wpkh()).expect("mine");
    let r = rpc.call("testmempoolaccept", json!([[hex]]));
    assert_eq!(r[0]["allowed"], true, "{r}");
    rpc.call("sendrawtransaction", json!([hex]));
    node.mine_blocks(1, &dest.p2wpkh()).expect("mine");
    assert_eq!(rpc.call("getrawmempool", json!([])), json!([]));

    // A spend with a sequence below the script's delay fails the script itself.
    let funding2 = node.fund_address(&spk, 100_000_000).expect("fund");
    node.mine_blocks(20, &dest.p2wpkh()).expect("mine");
    let mut tx = unsigned(
        &[funding2],
        vec![(dest.p2wpkh(), 100_000_000 - 100_000)],
        u32::from(delay) - 1,
        0,
    );
    let digest = p2wsh_digest(&tx, 0, &ws, 100_000_000);
    tx.input[0].witness = Witness::from_slice(&[owner.sign(digest), ws.to_bytes()]);
    let r = rpc.call("testmempoolaccept", json!([[to_hex(&tx)]]));
    assert!(
        r[0]["reject-reason"]
            .as_str()
            .unwrap_or("")
            .starts_with("mandatory-script-verify-flag-failed"),
        "{r}"
    );
}

#[test]
fn reorg_returns_confirmed_transactions_to_the_mempool_and_reconsider_restores() {
    let node = RegtestNode::start().expect("start");
    let rpc = Rpc::new(&node);
    let (bob, miner) = (Key::new("bob"), Key::new("miner"));
    let paid = node.fund_address(&bob.p2wpkh(), 250_000_000).expect("fund");
    let txid = paid.txid.to_string();
    let tip_before = node.height();
    let blocks = rpc.call("generatetoaddress", json!([3, miner.address()]));
    let b1 = blocks[0].as_str().expect("hash").to_string();
    assert_eq!(
        rpc.call("getrawtransaction", json!([txid, true]))["blockhash"],
        json!(b1)
    );
    assert_eq!(rpc.call("getrawmempool", json!([])), json!([]));
    let utxos = rpc.call("getaddressutxos", json!([{"addresses": [bob.address()]}]));
    assert_eq!(utxos[0]["satoshis"], json!(250_000_000));
    assert_eq!(utxos[0]["height"], json!(tip_before + 1));
    assert_eq!(
        rpc.call("getaddresstxids", json!([{"addresses": [bob.address()]}])),
        json!([txid])
    );

    // invalidateblock: the chain goes back, the transaction returns to the mempool.
    assert_eq!(rpc.call("invalidateblock", json!([b1])), Value::Null);
    assert_eq!(node.height(), tip_before);
    assert_eq!(rpc.call("getrawmempool", json!([])), json!([txid]));
    assert!(rpc
        .call("getrawtransaction", json!([txid, true]))
        .get("blockhash")
        .is_none());
    assert_eq!(
        rpc.call("getaddressutxos", json!([bob.address()])),
        json!([])
    );
    assert_eq!(
        rpc.call("getblockheader", json!([b1]))["confirmations"],
        json!(-1)
    );
    let tips = rpc.call("getchaintips", json!([]));
    assert!(
        tips.as_array()
            .expect("tips")
            .iter()
            .any(|t| t["status"] == "invalid" && t["branchlen"] == 3),
        "{tips}"
    );

    // reconsiderblock: back to the longer chain, the transaction is confirmed again.
    rpc.call("reconsiderblock", json!([b1]));
    assert_eq!(node.height(), tip_before + 3);
    assert_eq!(rpc.call("getrawmempool", json!([])), json!([]));
    assert_eq!(
        rpc.call("getrawtransaction", json!([txid, true]))["blockhash"],
        json!(b1)
    );
    assert_eq!(
        rpc.call("getaddresstxids", json!([{"addresses": [bob.address()]}])),
        json!([txid])
    );

    // A competing longer branch wins; the transaction is mined again on it.
    rpc.call("invalidateblock", json!([b1]));
    let alt = rpc.call("generatetoaddress", json!([4, miner.address()]));
    let alt1 = alt[0].as_str().expect("hash").to_string();
    assert_eq!(
        rpc.call("getrawtransaction", json!([txid, true]))["blockhash"],
        json!(alt1)
    );
    rpc.call("reconsiderblock", json!([b1]));
    assert_eq!(rpc.call("getbestblockhash", json!([])), alt[3]);
    assert_eq!(
        rpc.call("getblockheader", json!([b1]))["confirmations"],
        json!(-1)
    );
    let tips = rpc.call("getchaintips", json!([]));
    assert!(
        tips.as_array()
            .expect("tips")
            .iter()
            .any(|t| t["status"] == "valid-fork"),
        "{tips}"
    );
}

#[test]
fn a_double_spend_of_a_confirmed_output_is_refused() {
    let node = RegtestNode::start().expect("start");
    let rpc = Rpc::new(&node);
    let (alice, bob) = (Key::new("alice"), Key::new("bob"));
    let coin = node
        .fund_address(&alice.p2wpkh(), 300_000_000)
        .expect("fund");
    node.mine_blocks(1, &bob.p2wpkh()).expect("mine");
    let mut spend = unsigned(
        &[coin],
        vec![(bob.p2wpkh(), 300_000_000 - 100_000)],
        0xffff_ffff,
        0,
    );
    sign_p2wpkh(&mut spend, 0, &alice, 300_000_000);
    rpc.call("sendrawtransaction", json!([to_hex(&spend)]));
    // The first spend does not signal RBF: a second spend of the coin conflicts.
    let mut other = unsigned(
        &[coin],
        vec![(alice.p2wpkh(), 300_000_000 - 200_000)],
        0xffff_ffff,
        0,
    );
    sign_p2wpkh(&mut other, 0, &alice, 300_000_000);
    assert_eq!(
        rpc.err("sendrawtransaction", json!([to_hex(&other)])),
        (-26, "txn-mempool-conflict".to_string())
    );
    node.mine_blocks(1, &bob.p2wpkh()).expect("mine");
    // Once the first is confirmed the second misses its input.
    assert_eq!(
        rpc.err("sendrawtransaction", json!([to_hex(&other)])),
        (-25, "bad-txns-inputs-missingorspent".to_string())
    );
    // Re-sending the confirmed one: qtumd's "already in utxo set".
    assert_eq!(
        rpc.err("sendrawtransaction", json!([to_hex(&spend)])),
        (-27, "Transaction outputs already in utxo set".to_string())
    );
    // A block with both spends is invalid and does not change the chain.
    let tip = node.tip_hash();
    let (code, msg) = rpc.err("generateblock", json!([bob.address(), [to_hex(&other)]]));
    assert_eq!(
        (code, msg.as_str()),
        (
            -25,
            "TestBlockValidity failed: bad-txns-inputs-missingorspent"
        )
    );
    assert_eq!(node.tip_hash(), tip);
    let _ = OutPoint::null();
}

#[test]
fn estimatesmartfee_uses_recent_blocks_and_never_goes_below_the_relay_floor() {
    let node = RegtestNode::start().expect("start");
    let rpc = Rpc::new(&node);
    let bob = Key::new("bob");
    for _ in 0..3 {
        node.fund_address(&bob.p2wpkh(), 100_000_000).expect("fund");
        node.mine_blocks(1, &bob.p2wpkh()).expect("mine");
    }
    let r = rpc.call("estimatesmartfee", json!([6]));
    assert_eq!(r["blocks"], json!(6));
    let rate = r["feerate"].as_f64().expect("feerate");
    assert!(rate >= 0.004, "{r}");
    // The wallet pays 1,000 sat/vB: the estimate is what confirmed.
    assert!((rate - 0.01).abs() < 0.0005, "{r}");
    assert_eq!(rpc.call("estimatesmartfee", json!([1]))["blocks"], json!(2));
}

//! The `-addrindex` emulation lists a transaction whose output a later transaction of the same
//! block spends: both the payment and its spender belong to the paid address's history, as in
//! qtumd, and a reorganisation takes both out again.

mod common;

use common::*;
use qtum_regtest::RegtestNode;
use serde_json::{json, Value};

#[test]
fn output_spent_in_its_own_block_stays_in_the_address_history() {
    let node = RegtestNode::start().expect("start");
    let rpc = Rpc::new(&node);
    let (alice, carol, dave, miner) = (
        Key::new("same-block-alice"),
        Key::new("same-block-carol"),
        Key::new("same-block-dave"),
        Key::new("same-block-miner"),
    );
    let funding = node
        .fund_address(&alice.p2wpkh(), 500_000_000)
        .expect("fund");
    node.mine_blocks(1, &miner.p2wpkh()).expect("mine");

    // a pays carol (its only output); b spends it to dave; both in the next block.
    let mut a = unsigned(
        &[funding],
        vec![(carol.p2wpkh(), 499_800_000)],
        0xffff_fffd,
        0,
    );
    sign_p2wpkh(&mut a, 0, &alice, 500_000_000);
    let a_out = bitcoin::OutPoint::new(a.compute_txid(), 0);
    let mut b = unsigned(&[a_out], vec![(dave.p2wpkh(), 499_600_000)], 0xffff_fffd, 0);
    sign_p2wpkh(&mut b, 0, &carol, 499_800_000);
    rpc.call("sendrawtransaction", json!([to_hex(&a)]));
    rpc.call("sendrawtransaction", json!([to_hex(&b)]));
    let mined = rpc.call("generatetoaddress", json!([1, miner.address()]));
    let block = mined[0].as_str().expect("hash").to_string();
    let in_block = rpc.call("getblock", json!([block, 1]))["tx"].clone();
    assert_eq!(in_block.as_array().map(Vec::len), Some(3), "{in_block}");

    let (a_id, b_id) = (a.compute_txid().to_string(), b.compute_txid().to_string());
    let txids = |who: &Key| rpc.call("getaddresstxids", json!([{"addresses": [who.address()]}]));
    assert_eq!(
        txids(&carol),
        json!([a_id, b_id]),
        "carol was paid and spent"
    );
    assert_eq!(txids(&dave), json!([b_id]));
    assert_eq!(txids(&alice), json!([funding.txid.to_string(), a_id]));
    // Spent within the block: no UTXO, but the spend is indexed.
    assert_eq!(
        rpc.call("getaddressutxos", json!([{"addresses": [carol.address()]}])),
        json!([])
    );
    let spent = rpc.call("getspentinfo", json!([{"txid": a_id, "index": 0}]));
    assert_eq!(spent["txid"], json!(b_id));

    // A reorganisation takes both out of carol's history again.
    assert_eq!(rpc.call("invalidateblock", json!([block])), Value::Null);
    assert_eq!(txids(&carol), json!([]));
    assert_eq!(txids(&dave), json!([]));
    assert_eq!(txids(&alice), json!([funding.txid.to_string()]));
    // The undo put nothing of the block in the UTXO index: alice's coin is back, carol's never.
    let utxos = |who: &Key| rpc.call("getaddressutxos", json!([{"addresses": [who.address()]}]));
    assert_eq!(utxos(&carol), json!([]));
    assert_eq!(utxos(&alice).as_array().map(Vec::len), Some(1));
    rpc.call("reconsiderblock", json!([block]));
    assert_eq!(txids(&carol), json!([a_id, b_id]));
    assert_eq!(txids(&dave), json!([b_id]));
    assert_eq!(txids(&alice), json!([funding.txid.to_string(), a_id]));
}

//! The on-disk mode: a node restarted on the same data directory has the same chain, UTXO
//! set, indexes, mempool and wallet; damaged, foreign and busy directories are refused.

mod common;

use std::path::{Path, PathBuf};

use common::*;
use qtum_regtest::{NodeConfig, RegtestNode, StartError};
use serde_json::{json, Value};

fn fresh_dir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("qtum-regtest-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    d
}

fn start(dir: &Path) -> RegtestNode {
    RegtestNode::start_with(NodeConfig {
        datadir: Some(dir.to_path_buf()),
        ..Default::default()
    })
    .expect("start on datadir")
}

fn start_err(dir: &Path) -> String {
    match RegtestNode::start_with(NodeConfig {
        datadir: Some(dir.to_path_buf()),
        ..Default::default()
    }) {
        Ok(_) => panic!("started on a bad datadir"),
        Err(e @ StartError::Datadir(_)) => e.to_string(),
        Err(e) => panic!("unexpected error {e}"),
    }
}

/// Everything a client could compare across a restart.
fn snapshot(node: &RegtestNode, addrs: &[String]) -> Vec<Value> {
    let rpc = Rpc::new(node);
    let mut info = rpc.call("getblockchaininfo", json!([]));
    // Progress is an estimate against the wall clock.
    info["verificationprogress"] = Value::Null;
    let tip = rpc.call("getbestblockhash", json!([]));
    let mut out = vec![
        info,
        rpc.call("getchaintips", json!([])),
        rpc.call("getblock", json!([tip, 2])),
        rpc.call("getrawmempool", json!([true])),
    ];
    for a in addrs {
        out.push(rpc.call("getaddressutxos", json!([{"addresses": [a]}])));
        out.push(rpc.call("getaddresstxids", json!([{"addresses": [a]}])));
        out.push(rpc.call("getaddressbalance", json!([{"addresses": [a]}])));
    }
    out
}

#[test]
fn restart_keeps_chain_indexes_mempool_and_wallet() {
    let dir = fresh_dir("restart");
    let (alice, bob) = (Key::new("dd-alice"), Key::new("dd-bob"));
    let addrs = vec![alice.address(), bob.address()];
    let (before, funded, wallet) = {
        let node = start(&dir);
        let funded = node
            .fund_address(&alice.p2wpkh(), 300_000_000)
            .expect("fund");
        node.mine_blocks(3, &bob.p2wpkh()).expect("mine");
        // One confirmed spend (for getspentinfo) and one payment left in the mempool.
        let mut tx = unsigned(&[funded], vec![(bob.p2wpkh(), 299_000_000)], 0xffff_fffd, 0);
        sign_p2wpkh(&mut tx, 0, &alice, 300_000_000);
        node.send_transaction(&tx).expect("spend");
        node.mine_blocks(1, &bob.p2wpkh()).expect("mine");
        node.fund_address(&alice.p2wpkh(), 100_000_000)
            .expect("fund again");
        let wallet = qtum_regtest::script::address_of(&node.wallet_script()).expect("addr");
        let mut addrs = addrs.clone();
        addrs.push(wallet.clone());
        (snapshot(&node, &addrs), funded, wallet)
    };
    let node = start(&dir);
    let mut all = addrs.clone();
    all.push(wallet);
    assert_eq!(snapshot(&node, &all), before);
    let rpc = Rpc::new(&node);
    let spent = rpc.call(
        "getspentinfo",
        json!([{"txid": funded.txid.to_string(), "index": funded.vout}]),
    );
    assert_eq!(spent["height"], json!(2005));
    // The wallet still pays (from its confirmed coins and unconfirmed change) and the chain
    // goes on.
    node.fund_address(&bob.p2wpkh(), 50_000_000)
        .expect("wallet pays");
    node.mine_blocks(1, &alice.p2wpkh()).expect("mine");
    assert_eq!(rpc.call("getrawmempool", json!([])), json!([]));
    drop(node);
    let node = start(&dir);
    assert_eq!(node.height(), 2006);
    drop(node);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn invalidate_and_reconsider_survive_restarts() {
    let dir = fresh_dir("reorg");
    let miner = Key::new("dd-miner");
    let (old_tip, fork_point) = {
        let node = start(&dir);
        let hashes = node.mine_blocks(6, &miner.p2wpkh()).expect("mine");
        node.invalidate_block(&hashes[3]).expect("invalidate");
        assert_eq!(node.height(), 3);
        // A competing branch of 2 blocks (shorter than the invalidated one).
        node.mine_blocks(2, &Key::new("dd-other").p2wpkh())
            .expect("mine");
        (hashes[5], hashes[3])
    };
    let node = start(&dir);
    assert_eq!(node.height(), 5);
    assert_ne!(node.tip_hash(), old_tip);
    let tips = Rpc::new(&node).call("getchaintips", json!([]));
    assert!(
        tips.as_array()
            .expect("tips")
            .iter()
            .any(|t| t["hash"] == json!(old_tip.to_string()) && t["status"] == "invalid"),
        "{tips}"
    );
    node.reconsider_block(&fork_point).expect("reconsider");
    assert_eq!(node.tip_hash(), old_tip);
    drop(node);
    let node = start(&dir);
    assert_eq!(node.tip_hash(), old_tip);
    assert_eq!(node.height(), 6);
    drop(node);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn damaged_foreign_and_busy_datadirs_are_refused() {
    let dir = fresh_dir("damaged");
    {
        let node = start(&dir);
        node.mine_blocks(5, &Key::new("dd-d").p2wpkh())
            .expect("mine");
        // Busy: a second node on the same directory.
        let e = start_err(&dir);
        assert!(e.contains("in use by another qtum-regtest process"), "{e}");
    }
    let chain = dir.join("chain.dat");
    let good = std::fs::read(&chain).expect("read");

    // A record cut short at the end (a crash mid-append) is dropped: one block less.
    std::fs::write(&chain, &good[..good.len() - 3]).expect("write");
    let node = start(&dir);
    assert_eq!(node.height(), 4);
    node.mine_blocks(1, &Key::new("dd-d").p2wpkh())
        .expect("mine");
    drop(node);
    assert_eq!(start(&dir).height(), 5);

    // A flipped byte inside a record.
    let mut bad = std::fs::read(&chain).expect("read");
    let mid = bad.len() / 2;
    bad[mid] ^= 0x40;
    std::fs::write(&chain, &bad).expect("write");
    let e = start_err(&dir);
    assert!(e.contains("corrupt data directory"), "{e}");

    // Not our format.
    std::fs::write(&chain, b"hello, world, this is not a chain file at all").expect("write");
    let e = start_err(&dir);
    assert!(e.contains("not a qtum-regtest data directory"), "{e}");

    // Another chain's genesis.
    let mut other = good.clone();
    other[8] ^= 1;
    std::fs::write(&chain, &other).expect("write");
    let e = start_err(&dir);
    assert!(e.contains("another genesis block"), "{e}");

    // A damaged mempool snapshot.
    std::fs::write(&chain, &good).expect("write");
    std::fs::write(dir.join("mempool.dat"), b"QTUMRTM1garbage!").expect("write");
    let e = start_err(&dir);
    assert!(e.contains("mempool.dat"), "{e}");
    let _ = std::fs::remove_dir_all(&dir);

    // A qtumd data directory.
    let qtumd = fresh_dir("qtumd");
    std::fs::create_dir_all(qtumd.join("regtest")).expect("mkdir");
    let e = start_err(&qtumd);
    assert!(e.contains("looks like a qtumd data directory"), "{e}");
    let _ = std::fs::remove_dir_all(&qtumd);
}

//! The wallet on an RPC source that scans blocks (as against a qtumd without `-addrindex`):
//! a wallet without a birthday on a chain longer than one scan catches up over several syncs,
//! keeps its scan cursor in its database across a restart, and sees a spend of its old coins
//! made elsewhere (another device with the same recovery phrase) without rescanning from the
//! coins' blocks.

use std::path::PathBuf;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;

use bitcoin::hashes::Hash as _;
use bitcoin::{ScriptBuf, WPubkeyHash};
use qtum_chain::rpc::SCAN_SAFETY_MARGIN;
use qtum_chain::{ChainSource, RpcAuth, RpcConfig, RpcEndpoint, RpcSource};
use qtum_primitives::address::QtumAddress;
use qtum_primitives::network::Network;
use qtum_regtest::RegtestNode;
use qtum_wallet::{Wallet, WalletConfig, WalletSeed, WordCount};

const COIN: u64 = 100_000_000;
/// Blocks one call scans in this test (the default is 20,000; the mechanism is the same).
const PER_CALL: u32 = 1_000;

struct TempDb(PathBuf);

impl TempDb {
    fn new(name: &str) -> TempDb {
        static N: AtomicU32 = AtomicU32::new(0);
        let path = std::env::temp_dir().join(format!(
            "qtum-wallet-noindex-{name}-{}-{}.sqlite",
            std::process::id(),
            N.fetch_add(1, Ordering::SeqCst)
        ));
        let db = TempDb(path);
        db.remove();
        db
    }

    fn remove(&self) {
        for suffix in ["", "-wal", "-shm"] {
            let _ = std::fs::remove_file(format!("{}{suffix}", self.0.display()));
        }
    }
}

impl Drop for TempDb {
    fn drop(&mut self) {
        self.remove();
    }
}

/// An RPC source that never asks the index calls: it scans blocks, `PER_CALL` per call.
fn scanning_source(node: &RegtestNode) -> Arc<RpcSource> {
    let auth = RpcAuth::UserPass {
        user: node.rpc_user().to_owned(),
        password: node.rpc_password().to_owned(),
    };
    let mut config = RpcConfig::new(Network::Regtest, vec![RpcEndpoint::new(node.url(), auth)]);
    config.use_addrindex = false;
    config.max_scan_blocks = PER_CALL;
    Arc::new(RpcSource::new(config).expect("rpc source"))
}

fn open(db: &TempDb, seed: &WalletSeed, chain: Arc<RpcSource>, birthday: Option<u32>) -> Wallet {
    let config = WalletConfig {
        birthday_height: birthday,
        ..WalletConfig::default()
    };
    Wallet::open(&db.0, seed, Network::Regtest, chain, config).expect("open wallet")
}

fn mine(node: &RegtestNode, n: u32) {
    node.mine_blocks(n, &node.wallet_script()).expect("mine");
}

#[test]
fn a_wallet_without_birthday_catches_up_in_steps_and_keeps_its_cursor() {
    let node = RegtestNode::start().expect("node");
    let seed = WalletSeed::generate(WordCount::Words12, None).expect("seed");
    let db = TempDb::new("a");
    let source = scanning_source(&node);
    let wallet = open(&db, &seed, source.clone(), None);

    // Two payments 1,500 blocks apart, the first after the harness's 2,001 coinbase blocks.
    let first = wallet.new_address().expect("address");
    node.fund_address(&first.script_pubkey(), 5 * COIN)
        .expect("fund");
    mine(&node, 1);
    let first_height = node.height();
    mine(&node, 1_500);
    let second = wallet.new_address().expect("address");
    node.fund_address(&second.script_pubkey(), 3 * COIN)
        .expect("fund");
    mine(&node, 1);
    let tip = node.height();

    // Each sync scans PER_CALL blocks from where the last one stopped, and never fails.
    let mut passes = 0;
    let mut confirmed_after = Vec::new();
    loop {
        let summary = wallet.sync().expect("sync");
        passes += 1;
        let scanned = summary.scanned_to.expect("a block scan answered");
        assert_eq!(scanned, (passes * PER_CALL - 1).min(tip), "pass {passes}");
        confirmed_after.push((scanned, wallet.balance().confirmed_sat));
        if scanned == tip {
            break;
        }
        assert_eq!(wallet.scan_height(), Some(scanned + 1));
        assert!(passes < 10, "the scan does not move");
    }
    assert_eq!(passes, tip / PER_CALL + 1);
    for (scanned, confirmed) in &confirmed_after {
        let expect = match *scanned {
            h if h < first_height => 0,
            h if h < tip => 5 * COIN,
            _ => 8 * COIN,
        };
        assert_eq!(*confirmed, expect, "after scanning to {scanned}");
    }
    // The cursor stops short of the blocks that may still be reorganised.
    assert_eq!(wallet.scan_height(), Some(tip + 1 - SCAN_SAFETY_MARGIN));
    drop(wallet);

    // A restart: the cursor comes from the database; the next sync scans from it (a few
    // requests), not from genesis (dozens of batches), and the balance is all there.
    let restarted_source = scanning_source(&node);
    let wallet = open(&db, &seed, restarted_source.clone(), None);
    assert_eq!(wallet.scan_height(), Some(tip + 1 - SCAN_SAFETY_MARGIN));
    let before = restarted_source.requests_made();
    let summary = wallet.sync().expect("sync after restart");
    let requests = restarted_source.requests_made() - before;
    assert_eq!(summary.scanned_to, Some(tip));
    assert!(
        requests < 20,
        "{requests} requests: rescanned from the birthday?"
    );
    assert_eq!(wallet.balance().confirmed_sat, 8 * COIN);
    assert_eq!(wallet.list_transactions().len(), 2);

    // The same recovery phrase on another device spends both coins, with no change back.
    let other_db = TempDb::new("b");
    let other = open(
        &other_db,
        &seed,
        scanning_source(&node),
        Some(first_height - 1),
    );
    while other.sync().expect("other sync").scanned_to != Some(tip) {}
    assert_eq!(other.balance().confirmed_sat, 8 * COIN);
    let stranger = QtumAddress::from_script(
        &ScriptBuf::new_p2wpkh(&WPubkeyHash::from_byte_array([7; 20])),
        Network::Regtest,
    )
    .expect("address")
    .to_string();
    let sweep = other.send_all(&stranger, None).expect("send all");
    mine(&node, 1);

    // The first wallet's coins were paid below its cursor; the spend is found by the public
    // keys in its witnesses, and the balance goes to zero.
    let summary = wallet.sync().expect("sync");
    assert_eq!(summary.scanned_to, Some(tip + 1));
    let txs = wallet.list_transactions();
    assert!(txs.iter().any(|t| t.txid == sweep), "{txs:?}");
    assert_eq!(wallet.balance().total_sat(), 0);
}

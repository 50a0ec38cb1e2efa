//! The script index on disk: a restart on the same data directory resumes after the stored tip
//! (reading only the blocks mined meanwhile), a reorganisation while the server was down is
//! undone, and one data directory serves one server at a time.

mod common;

use std::path::PathBuf;

use bitcoin::{BlockHash, ScriptBuf, Txid};
use qtum_chain::{ChainSource, HistoryEntry};
use qtum_esplora::EsploraServer;
use qtum_regtest::RegtestNode;

const COIN: u64 = 100_000_000;

/// An empty directory for one test, removed when dropped.
struct TempDir(PathBuf);

impl TempDir {
    fn new(name: &str) -> TempDir {
        let dir = std::env::temp_dir().join(format!("qtum-esplora-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("dir");
        TempDir(dir)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn start(node: &RegtestNode, dir: &TempDir) -> EsploraServer {
    common::start_esplora_with(node, |c| c.data_dir = Some(dir.0.clone()))
}

/// A script nobody used before: P2WSH of `OP_<n>`.
fn fresh_script(n: u8) -> ScriptBuf {
    ScriptBuf::new_p2wsh(&ScriptBuf::from_bytes(vec![0x50 + n]).wscript_hash())
}

fn history(server: &EsploraServer, script: &ScriptBuf) -> Vec<(Txid, Option<u32>)> {
    common::esplora_source(&[server.url()])
        .script_history(script)
        .expect("history")
        .into_iter()
        .map(|HistoryEntry { txid, height }| (txid, height))
        .collect()
}

fn mine(node: &RegtestNode, n: u32) -> Vec<BlockHash> {
    node.mine_blocks(n, &node.wallet_script()).expect("mine")
}

#[test]
fn the_index_survives_a_restart_without_reading_the_chain_again() {
    let node = RegtestNode::start().expect("harness");
    let dir = TempDir::new("restart");
    let first = fresh_script(2);
    let funding = node.fund_address(&first, COIN).expect("fund");
    mine(&node, 1);
    let server = start(&node, &dir);
    assert_eq!(
        history(&server, &first),
        vec![(funding.txid, Some(node.height()))]
    );
    assert!(
        server.blocks_indexed() > u64::from(node.height()),
        "the first start reads from genesis"
    );
    let stopped_at = node.height();
    drop(server);

    // While it is down: a payment to a script it never saw, and blocks.
    let second = fresh_script(3);
    let funding2 = node.fund_address(&second, COIN).expect("fund");
    mine(&node, 3);
    let server = start(&node, &dir);
    assert_eq!(
        history(&server, &second),
        vec![(funding2.txid, Some(stopped_at + 1))]
    );
    // The first script is known from the disk alone: its block is not among those read now.
    assert_eq!(
        history(&server, &first),
        vec![(funding.txid, Some(stopped_at))]
    );
    assert_eq!(
        server.blocks_indexed(),
        u64::from(node.height() - stopped_at),
        "only the blocks mined while it was down were read"
    );
}

#[test]
fn a_reorg_while_stopped_is_undone_on_restart() {
    let node = RegtestNode::start().expect("harness");
    let dir = TempDir::new("reorg");
    let first = fresh_script(2);
    node.fund_address(&first, COIN).expect("fund");
    mine(&node, 1);
    let doomed = mine(&node, 2);
    let server = start(&node, &dir);
    assert_eq!(history(&server, &first).len(), 1);
    let fork_height = node.height() - 1;
    drop(server);

    // The last two blocks the index read are replaced by three others, the first of which pays
    // a script the index never saw.
    node.invalidate_block(&doomed[0]).expect("invalidate");
    let second = fresh_script(3);
    let funding2 = node.fund_address(&second, COIN).expect("fund");
    let replacement = mine(&node, 3);
    assert_ne!(replacement[0], doomed[0]);
    let server = start(&node, &dir);
    assert_eq!(
        history(&server, &second),
        vec![(funding2.txid, Some(fork_height))],
        "the replacement block at the stored tip's height was read"
    );
    assert_eq!(
        server.blocks_indexed(),
        3,
        "from the fork point on, no more"
    );
}

#[test]
fn one_data_directory_serves_one_server() {
    let node = RegtestNode::start().expect("harness");
    let dir = TempDir::new("lock");
    let first = start(&node, &dir);
    let listen = "127.0.0.1:0".parse().expect("addr");
    let mut config = qtum_esplora::ServerConfig::new(node.url(), common::rpc_auth(&node), listen);
    config.data_dir = Some(dir.0.clone());
    let refused = EsploraServer::start(config.clone()).expect_err("second server");
    assert!(refused.contains("in use"), "{refused}");
    drop(first);
    let second = EsploraServer::start(config).expect("free again");
    assert!(dir.0.join("regtest").join("index.sqlite").exists());
    drop(second);
}

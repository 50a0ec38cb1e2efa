//! An RPC source without `-addrindex` on a chain older than one scan: an output spent more than
//! 20,000 blocks (`RpcConfig::max_scan_blocks`, the default) after it was created. The spend
//! lookup scans in steps with a cursor that survives a restart, and the sync engine hands LDK's
//! `Confirm` what it found in a pass even while that lookup is still scanning.
//!
//! The harness always has the index; the proxy answers the index calls "Method not found", as
//! a qtumd started without `-addrindex` does.

mod common;

use std::sync::Arc;
use std::time::Instant;

use common::{Env, Kind, Mode, Proxy, Recorder};
use lightning::chain::{Filter, WatchedOutput};
use qtum_chain::{
    ChainError, ChainSource, ChainSync, RpcConfig, RpcEndpoint, RpcSource, SyncConfig,
};
use qtum_primitives::network::Network;

fn no_index_source(env: &Env, proxy: &Proxy) -> RpcSource {
    let endpoint = RpcEndpoint::new(proxy.url.clone(), common::rpc_auth(&env.node));
    // The defaults: 20,000 blocks per call at most.
    let config = RpcConfig::new(Network::Regtest, vec![endpoint]);
    assert_eq!(config.max_scan_blocks, 20_000);
    RpcSource::new(config).expect("source")
}

fn watch(engine: &ChainSync, outpoint: bitcoin::OutPoint, script: &bitcoin::Script) {
    engine.register_output(WatchedOutput {
        block_hash: None,
        outpoint: lightning::chain::transaction::OutPoint {
            txid: outpoint.txid,
            index: outpoint.vout as u16,
        },
        script_pubkey: script.to_owned(),
    });
}

#[test]
fn a_spend_20000_blocks_after_the_output_reaches_the_confirm_side() {
    let started = Instant::now();
    let env = Env::start(Kind::Rpc);
    let proxy = Proxy::start(env.base_url(), Mode::NoAddrIndex);
    let rpc = Arc::new(no_index_source(&env, &proxy));
    let source: Arc<dyn ChainSource> = rpc.clone();
    let script = common::op_true_p2wsh();

    // The old output, created at `created`, watched from the start (a channel's funding).
    let old = env.node.fund_address(&script, 100_000_000).expect("fund");
    env.mine(1);
    let created = env.node.height();
    let engine = ChainSync::new(Arc::clone(&source), None, SyncConfig::default());
    let recorder = Recorder::default();
    watch(&engine, old, &script);
    let first = engine.sync(&[&recorder]).expect("first sync");
    assert_eq!(first.failed_lookups, 0, "{:?}", engine.lookup_problems());

    let mined = Instant::now();
    env.mine(20_100);
    eprintln!("mined 20,100 blocks in {:?}", mined.elapsed());

    // Spent now, more than 20,000 blocks later; in the same block a watched transaction of
    // another channel confirms.
    let spend = common::spend_op_true(old, 100_000_000, env.node.wallet_script());
    env.node.send_transaction(&spend).expect("spend");
    let other = env.node.fund_address(&script, 50_000_000).expect("fund");
    engine.register_tx(&other.txid, &script);
    env.mine(1);
    let spent_at = env.node.height();
    assert!(spent_at - created > 20_000);
    let spend_header = env.qtum_header(&env.node.tip_hash());

    // Pass 1: the spend lookup scans its first 20,000 blocks and says so; the other
    // confirmation and the new tip reach the Confirm side all the same.
    let scan = Instant::now();
    let report = engine
        .sync(&[&recorder])
        .expect("a failed lookup does not fail the pass");
    eprintln!("pass 1 (20,000 blocks scanned) took {:?}", scan.elapsed());
    assert_eq!(report.failed_lookups, 1);
    assert_eq!(report.tip.height, spent_at);
    assert!(report.tip_changed);
    assert_eq!(
        recorder.confirmations_of(&other.txid),
        vec![(spend_header.synthetic_header(), spent_at)]
    );
    assert!(recorder.confirmations_of(&spend.compute_txid()).is_empty());
    let problems = engine.lookup_problems();
    assert_eq!(problems.len(), 1, "{problems:?}");
    assert!(
        problems[0].contains(&format!("spend of {old}")) && problems[0].contains("-addrindex"),
        "{problems:?}"
    );
    assert_eq!(rpc.has_addrindex(), Some(false));
    let saved = rpc.spend_scan_progress();

    // Pass 2 goes on from the cursor and finds the spend: its confirmation reaches the Confirm
    // side with the block's synthetic header and height.
    let scan = Instant::now();
    let report = engine.sync(&[&recorder]).expect("second sync");
    eprintln!("pass 2 took {:?}", scan.elapsed());
    assert_eq!(report.failed_lookups, 0, "{:?}", engine.lookup_problems());
    assert_eq!(report.confirmed, 1);
    assert_eq!(
        recorder.confirmations_of(&spend.compute_txid()),
        vec![(spend_header.synthetic_header(), spent_at)]
    );
    assert!(engine.lookup_problems().is_empty());
    // Nothing is pending any more: the next pass has nothing to do.
    let report = engine.sync(&[&recorder]).expect("third sync");
    assert_eq!((report.confirmed, report.failed_lookups), (0, 0));

    // A restart: a new source given the cursor saved after pass 1 finds the spend in one call
    // (without it, one call cannot: the spend is more than 20,000 blocks after the output).
    let restarted = no_index_source(&env, &proxy);
    restarted.resume_spend_scans(&saved).expect("resume");
    let found = restarted.outspend(&old).expect("one call").expect("spent");
    assert_eq!(
        (found.txid, found.vin, found.height),
        (spend.compute_txid(), 0, Some(spent_at))
    );
    assert!(matches!(
        restarted.resume_spend_scans(&[1, 2, 3]),
        Err(ChainError::InvalidResponse(_))
    ));
    eprintln!("whole test: {:?}", started.elapsed());
}

/// A cursor whose block left the best chain is not trusted: the scan starts over from the
/// output's block and still finds the spend.
#[test]
fn a_cursor_below_a_reorganisation_starts_the_scan_over() {
    let env = Env::start(Kind::Rpc);
    let proxy = Proxy::start(env.base_url(), Mode::NoAddrIndex);
    let endpoint = RpcEndpoint::new(proxy.url.clone(), common::rpc_auth(&env.node));
    let mut config = RpcConfig::new(Network::Regtest, vec![endpoint]);
    config.max_scan_blocks = 30;
    let source = RpcSource::new(config).expect("source");
    let script = common::op_true_p2wsh();
    let old = env.node.fund_address(&script, 100_000_000).expect("fund");
    env.mine(1);
    let created = env.node.height();
    env.mine(40);
    let spend = common::spend_op_true(old, 100_000_000, env.node.wallet_script());
    env.node.send_transaction(&spend).expect("spend");
    env.mine(1);

    // First call: blocks created..created+29 scanned, the cursor at created+30.
    match source.outspend(&old) {
        Err(ChainError::Unsupported(why)) => {
            assert!(
                why.contains(&format!("at height {}", created + 29)),
                "{why}"
            )
        }
        other => panic!("expected a scan in progress, got {other:?}"),
    }
    // The block below the cursor is replaced (and with it everything above, the spend too).
    let below_cursor = env
        .node
        .with_chain(|c| c.hash_at(created + 29))
        .expect("hash");
    env.node
        .invalidate_block(&below_cursor)
        .expect("invalidate");
    env.mine(60);
    assert!(env.node.with_chain(|c| c.hash_at(created + 29)) != Some(below_cursor));
    // The spend went back to the mempool and was mined again in the new branch: the scan must
    // look at the new blocks from the output's block on.
    let spent_at = env
        .node
        .with_chain(|c| {
            c.confirmed_tx(&spend.compute_txid())
                .map(|(_, b, _)| b.height)
        })
        .expect("mined again");
    let mut answer = source.outspend(&old);
    let mut calls = 1;
    while matches!(answer, Err(ChainError::Unsupported(_))) && calls < 10 {
        answer = source.outspend(&old);
        calls += 1;
    }
    let found = answer.expect("found").expect("spent");
    assert_eq!(
        (found.txid, found.height),
        (spend.compute_txid(), Some(spent_at))
    );
}

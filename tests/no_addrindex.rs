//! Two nodes on a qtumd without `-addrindex` (the harness answering the index calls as qtumd
//! then does), and a channel whose close comes more than 20,000 blocks (7.4 days of 32-second
//! blocks) after its funding, while the phone is away.
//!
//! Without the index every spend lookup scans blocks from the funding, at most 20,000 per sync
//! pass. The test shows, on the phone:
//! - the first pass after its return scans 20,000 blocks, finds nothing yet, and says so in
//!   `status()` (the lookup still scanning, the wallet history not complete);
//! - the scan cursors survive a restart: after the phone is restarted, the close is found
//!   with far fewer than 20,000 blocks fetched (counted at the harness), the channel is
//!   reported closed, and the phone's balance comes back to its wallet.
//!
//! Node logs: `E2E_LOG=debug cargo test --test no_addrindex -- --nocapture`.

mod common;

use std::time::{Duration, Instant};

use common::*;
use qtum_lightning::{Event, Node};
use qtum_regtest::node::{NodeConfig, RegtestNode};

/// Blocks mined while the phone is away (≈ 8.1 days): more than one scan (20,000 blocks), and
/// enough more that after one pass the wallet is still far behind (the status says so beyond
/// 1,000 blocks).
const AWAY_BLOCKS: u32 = 22_000;
/// The scan a sync pass does at most without `-addrindex` (`RpcConfig::max_scan_blocks`).
const MAX_SCAN_BLOCKS: u64 = 20_000;

/// A harness without `-addrindex`, with mature coins.
fn harness_without_index() -> RegtestNode {
    let harness = RegtestNode::start_with(NodeConfig {
        without_addrindex: true,
        ..Default::default()
    })
    .expect("regtest harness");
    mine(&harness, 2_001);
    harness
}

/// Start `node` and wait for the one sync pass `start` runs (the interval is an hour) to reach
/// `tip`. Scanning 20,000 blocks twice (spend lookup and wallet) takes a while in a debug build.
fn start_and_sync_once(node: &Node, tip: u32) {
    node.start().expect("start");
    let deadline = Instant::now() + Duration::from_secs(900);
    while node.status().synced_height != Some(tip) {
        assert!(Instant::now() < deadline, "the first pass never finished");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// The events the node has queued, acknowledged.
fn drain_events(node: &Node) -> Vec<Event> {
    let mut events = Vec::new();
    while let Some(event) = node.next_event() {
        node.event_handled().expect("ack");
        events.push(event);
    }
    events
}

#[test]
fn a_close_20000_blocks_after_the_funding_is_found_across_a_restart() {
    init_logs();
    let started = Instant::now();
    let harness = harness_without_index();
    let mut phone_config = config(&harness, "noindex-phone");
    // The phone syncs only when it starts or is asked: the test counts its passes.
    phone_config.sync_interval_secs = 3_600;
    let phone = build(phone_config.clone(), 21);
    phone.start().expect("phone starts");
    let server = start_node(&harness, "noindex-server", 22);

    fund(&harness, &phone, 2_000_000_000);
    let channel_id = open_ready_channel(&harness, &phone, &server, 1_000_000_000, None);
    let funded_at = harness.height() - 5;
    let funding: bitcoin::OutPoint = phone
        .list_channels()
        .iter()
        .find(|c| c.channel_id == channel_id)
        .and_then(|c| c.funding_txo)
        .expect("funding outpoint");
    let on_chain_before = phone.onchain_balance().total_sat;
    let in_channel = phone
        .list_channels()
        .iter()
        .find(|c| c.channel_id == channel_id)
        .expect("channel")
        .balance_sat;
    assert!(in_channel > 900_000_000, "{in_channel}");
    phone.stop().expect("phone stops");
    eprintln!("channel open after {:?}", started.elapsed());

    // The phone is away for more than one scan's worth of blocks; then the server
    // force-closes (it cannot reach the phone to close cooperatively).
    let mining = Instant::now();
    mine(&harness, AWAY_BLOCKS);
    eprintln!("mined {AWAY_BLOCKS} blocks in {:?}", mining.elapsed());
    server.sync().expect("server sync");
    server
        .force_close_channel(&channel_id, Some("the phone is away".into()))
        .expect("force close");
    wait_until("the server's commitment in the mempool", || {
        harness.with_chain(|c| c.mempool.spender(&funding).is_some())
    });
    mine(&harness, 1);
    assert!(harness.with_chain(|c| c.mempool.spender(&funding).is_none()));
    let closed_at = harness.height();
    assert!(closed_at - funded_at > MAX_SCAN_BLOCKS as u32);
    server.stop().expect("server stops");
    mine(&harness, 2);

    // The phone's first pass: 20,000 blocks of the funding's spend scan, nothing found yet.
    let pass = Instant::now();
    start_and_sync_once(&phone, harness.height());
    eprintln!("first pass after the return took {:?}", pass.elapsed());
    let status = phone.status();
    assert_eq!(status.synced_height, Some(harness.height()));
    assert!(
        phone
            .list_channels()
            .iter()
            .any(|c| c.channel_id == channel_id),
        "one pass cannot have reached the close"
    );
    let scanning = status
        .degraded_reasons
        .iter()
        .any(|r| r.contains("chain sync") && r.contains("-addrindex"));
    assert!(
        scanning,
        "the status says a lookup is still scanning: {status:?}"
    );
    let scanned = status
        .wallet_scanned_height
        .expect("the wallet scans blocks");
    assert!(
        scanned + 1_000 < harness.height(),
        "the wallet is still catching up: {scanned}"
    );
    assert!(
        status
            .degraded_reasons
            .iter()
            .any(|r| r.contains("wallet history scanned up to")),
        "{status:?}"
    );
    phone.stop().expect("phone stops");
    drop(phone);

    // Restarted: the scan goes on from its cursor.
    let fetched_before = harness.calls("getblock");
    let phone = build(phone_config, 21);
    start_and_sync_once(&phone, harness.height());
    let deadline = Instant::now() + Duration::from_secs(300);
    let mut closed = false;
    while !closed {
        assert!(
            Instant::now() < deadline,
            "the close never reached the phone"
        );
        closed = drain_events(&phone)
            .iter()
            .any(|e| matches!(e, Event::ChannelClosed { channel_id: id, .. } if *id == channel_id));
        if !closed {
            phone.sync().expect("sync");
        }
    }
    let fetched = harness.calls("getblock") - fetched_before;
    eprintln!("blocks fetched after the restart until the close: {fetched}");
    // What is left after one pass: ~2,000 blocks for the spend lookup and as many for the
    // wallet. Starting over would mean 20,000 for the lookup alone.
    assert!(
        fetched < MAX_SCAN_BLOCKS / 2,
        "the spend scan started over: {fetched} blocks fetched"
    );
    assert!(phone.list_channels().is_empty());
    let status = phone.status();
    assert!(
        !status
            .degraded_reasons
            .iter()
            .any(|r| r.contains("wallet history scanned up to")),
        "{status:?}"
    );

    // The phone's side of the force close pays its wallet directly (no delay on its side).
    wait_until("the phone's balance back on chain", || {
        mine(&harness, 1);
        let _ = phone.sync();
        phone.onchain_balance().total_sat > on_chain_before + in_channel - 1_000_000
    });
    assert_no_policy_refusals(&harness);
    phone.stop().expect("phone stops");
    eprintln!("test took {:?}", started.elapsed());
}

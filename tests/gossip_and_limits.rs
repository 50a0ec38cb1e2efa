//! Announced channels gossiped over P2P (and the graph persisted across a restart), and inbound
//! channels accepted only within the configured limits.

mod common;

use common::*;
use qtum_lightning::Event;

#[test]
fn announced_channel_reaches_the_graph_and_survives_restart() {
    let harness = harness();
    let alice = start_node(&harness, "gossip-alice", 101);
    let bob_config = config(&harness, "gossip-bob");
    let bob = build(bob_config.clone(), 102);
    bob.start().expect("start");
    fund(&harness, &alice, 20 * QTUM);
    let uri = bob.node_uri().expect("uri");
    alice
        .open_channel(&uri, 10 * QTUM, None, true)
        .expect("open announced");
    expect_event(&alice, "pending", |e| {
        matches!(e, Event::ChannelPending { .. })
    });
    mine(&harness, 6);
    expect_event(&alice, "ready", |e| matches!(e, Event::ChannelReady { .. }));
    assert!(alice.list_channels()[0].is_announced);
    // Announcement signatures are exchanged at 6 confirmations; the announcement then spreads.
    wait_until("the channel is in both graphs", || {
        let _ = alice.sync();
        let _ = bob.sync();
        alice.network_graph_info().channel_count == 1 && bob.network_graph_info().channel_count == 1
    });
    // Once the channel is public, each node announces itself with its alias.
    wait_until("both node announcements in alice's graph", || {
        let _ = alice.sync();
        alice.network_graph_info().announced_node_count == 2
    });
    bob.stop().expect("stop persists the graph");
    drop(bob);
    let bob = build(bob_config, 102);
    assert_eq!(
        bob.network_graph_info().channel_count,
        1,
        "graph read back from the store"
    );
    assert_eq!(bob.network_graph_info().node_count, 2);
}

#[test]
fn inbound_channels_outside_our_limits_are_refused() {
    let harness = harness();
    let alice = start_node(&harness, "limits-alice", 103);
    let mut strict = config(&harness, "limits-bob");
    strict.max_channel_size_sat = 5 * QTUM;
    let bob = build(strict, 104);
    bob.start().expect("start");
    fund(&harness, &alice, 30 * QTUM);
    let uri = bob.node_uri().expect("uri");

    alice
        .open_channel(&uri, 10 * QTUM, None, false)
        .expect("alice asks for 10 QTUM");
    let closed = expect_event(&alice, "refused", |e| {
        matches!(e, Event::ChannelClosed { .. })
    });
    let Event::ChannelClosed { reason, .. } = closed else {
        unreachable!()
    };
    assert!(
        reason.contains("funding must be at most 500000000"),
        "{reason}"
    );
    assert!(alice.list_channels().is_empty());
    // Nothing was spent: the funding was never made.
    assert_eq!(alice.onchain_balance().locked_sat, 0);

    // Within the limits it is accepted.
    let id = open_ready_channel(&harness, &alice, &bob, 4 * QTUM, None);
    assert!(bob
        .list_channels()
        .iter()
        .any(|c| c.channel_id == id && !c.is_outbound));
}

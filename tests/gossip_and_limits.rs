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

/// One host cannot hold more than a few inbound connections: idle sockets from 127.0.0.1 fill
/// its share, a real peer from the same host is then refused, and gets in once they close.
#[test]
fn inbound_connections_are_limited_per_address() {
    use std::io::Read;
    use std::net::TcpStream;

    let harness = harness();
    let alice = start_node(&harness, "limits-alice", 103);
    let bob = start_node(&harness, "limits-bob", 104);
    let uri = alice.node_uri().expect("alice listens");
    let address = uri.split('@').nth(1).expect("host:port").to_string();

    // Fill 127.0.0.1's share with sockets that never handshake.
    let mut idle = Vec::new();
    loop {
        let mut socket = TcpStream::connect(&address).expect("tcp connect");
        socket
            .set_read_timeout(Some(std::time::Duration::from_millis(300)))
            .expect("timeout");
        // A refused connection is closed at once (EOF); an admitted one waits for our act one.
        let mut byte = [0u8; 1];
        match socket.read(&mut byte) {
            Ok(0) => break,
            _ => idle.push(socket),
        }
        assert!(idle.len() <= 64, "no limit per address");
    }
    eprintln!("{} idle connections admitted from 127.0.0.1", idle.len());
    assert!(!idle.is_empty());
    assert!(
        bob.connect(&uri, false).is_err(),
        "a peer from the same host is refused while its share is full"
    );

    drop(idle);
    wait_until("bob connects once the idle sockets are gone", || {
        bob.connect(&uri, false).is_ok()
    });
    assert!(alice
        .list_peers()
        .iter()
        .any(|p| p.node_id == bob.node_id()));
    alice.stop().expect("stop");
    bob.stop().expect("stop");
}

/// `node_uri` never invents an address: none without listening, the announced address over
/// the listening one, nothing for an unspecified listening address alone.
#[test]
fn node_uri_tells_the_truth() {
    let harness = harness();
    let mut quiet = config(&harness, "uri-quiet");
    quiet.listening_addresses.clear();
    let node = build(quiet, 105);
    assert_eq!(node.node_uri(), None, "a node that does not listen");
    drop(node);

    let port = free_port();
    let mut wildcard = config(&harness, "uri-wildcard");
    wildcard.listening_addresses = vec![format!("0.0.0.0:{port}")];
    let node = build(wildcard.clone(), 106);
    assert_eq!(
        node.node_uri(),
        None,
        "0.0.0.0 is not an address anyone can dial"
    );
    drop(node);

    wildcard.announced_addresses = vec![format!("203.0.113.7:{port}")];
    let node = build(wildcard.clone(), 106);
    let uri = node.node_uri().expect("announced");
    assert!(uri.ends_with(&format!("@203.0.113.7:{port}")), "{uri}");
    drop(node);

    wildcard.announced_addresses = vec![format!("0.0.0.0:{port}")];
    let refused = qtum_lightning::Builder::new(wildcard).build();
    assert!(
        matches!(refused, Err(qtum_lightning::BuildError::InvalidConfig(_))),
        "an unspecified announced address is refused"
    );
}

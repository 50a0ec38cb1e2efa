//! Announced channels gossiped over P2P (and the graph persisted across a restart), and inbound
//! channels accepted only within the configured limits.

mod common;

use common::*;
use qtum_lightning::Event;

#[test]
fn announced_channel_reaches_the_graph_and_survives_restart() {
    init_logs();
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

/// A peer that speaks the Lightning protocol and, when asked for its gossip, hands over
/// channel announcements it signed itself: five for outputs that are not on the chain (or are
/// not what the announcement says), then one for a real P2WSH output of its own keys, then the
/// announcement of that channel's first node. Only the real channel may enter the graph.
#[test]
fn forged_channel_announcements_do_not_reach_the_graph() {
    use forged::*;

    init_logs();
    let harness = harness();
    let node = start_node(&harness, "gossip-forged", 107);

    // The real channel's funding output: the P2WSH of its two bitcoin keys, on chain. A decoy
    // output pays other keys than the ones announced for it.
    let real = ChannelKeys::from_seed(10);
    let liar = ChannelKeys::from_seed(20);
    let real_output = harness
        .fund_address(&real.funding_script(), 2 * QTUM)
        .expect("fund the real channel");
    let decoy_output = harness
        .fund_address(&ChannelKeys::from_seed(30).funding_script(), QTUM)
        .expect("fund the decoy");
    mine(&harness, 1);
    let locate = |outpoint: bitcoin::OutPoint| {
        harness
            .with_chain(|chain| {
                chain
                    .confirmed_tx(&outpoint.txid)
                    .map(|(_, block, position)| (block.height, position))
            })
            .expect("confirmed")
    };
    let (height, index) = locate(real_output);
    let (decoy_height, decoy_index) = locate(decoy_output);
    let tip = harness.height();

    let forgeries = [
        (scid(tip + 1_000, 1, 0), "a block that does not exist yet"),
        (
            scid(height, 5_000, 0),
            "a transaction index beyond the block",
        ),
        (
            scid(height, index, 60),
            "an output index beyond the transaction",
        ),
        (scid(height, 0, 0), "the block's coinbase"),
    ];
    let mut announcements: Vec<_> = forgeries
        .iter()
        .enumerate()
        .map(|(n, (scid, what))| {
            eprintln!("forged: {what} ({scid})");
            ChannelKeys::from_seed(40 + 4 * n as u8).announce(*scid)
        })
        .collect();
    // Real output, announced with keys that are not the ones it pays.
    announcements.push(liar.announce(scid(decoy_height, decoy_index, decoy_output.vout)));
    // Last: the real channel, then its node's announcement. The node checks announcements one
    // at a time in the order they came, so once that node announcement is in its graph (LDK
    // holds it until the channel's check is done) every forgery before it has been answered.
    announcements.push(real.announce(scid(height, index, real_output.vout)));
    let node_announcement = real.node_announcement();

    let peer = HostilePeer::connect(&node, announcements, vec![node_announcement]);
    wait_until(
        "the real channel's node announcement is in the graph",
        || node.network_graph_info().announced_node_count == 1,
    );
    let graph = node.network_graph_info();
    assert_eq!(
        graph.channel_count, 1,
        "only the channel whose funding output is on chain: {graph:?}"
    );
    assert_eq!(graph.node_count, 2, "{graph:?}");
    assert!(
        peer.is_connected(&node),
        "ignored gossip costs no disconnection"
    );
    drop(peer);
    node.stop().expect("stop");
}

/// Lightning-protocol pieces of the forged-gossip test.
mod forged {
    use std::collections::VecDeque;
    use std::sync::{Arc, Mutex};
    use std::time::{Duration, SystemTime, UNIX_EPOCH};

    use bitcoin::constants::ChainHash;
    use bitcoin::hashes::{sha256d, Hash};
    use bitcoin::secp256k1::{Message, PublicKey, Secp256k1, SecretKey};
    use bitcoin::ScriptBuf;
    use lightning::ln::chan_utils::make_funding_redeemscript;
    use lightning::ln::msgs::{
        BaseMessageHandler, ChannelAnnouncement, ChannelUpdate, Init, LightningError,
        MessageSendEvent, NodeAnnouncement, QueryChannelRange, QueryShortChannelIds,
        ReplyChannelRange, ReplyShortChannelIdsEnd, RoutingMessageHandler,
        UnsignedChannelAnnouncement, UnsignedNodeAnnouncement,
    };
    use lightning::routing::gossip::{NodeAlias, NodeId};
    use lightning::sign::{EntropySource, KeysManager, NodeSigner};
    use lightning::types::features::{ChannelFeatures, InitFeatures, NodeFeatures};
    use lightning::util::scid_utils::scid_from_parts;
    use lightning::util::ser::Writeable;
    use qtum_lightning::Node;

    pub fn scid(height: u32, index: u32, vout: u32) -> u64 {
        scid_from_parts(height.into(), index.into(), vout.into()).expect("scid in range")
    }

    fn digest(bytes: &[u8]) -> Message {
        Message::from_digest(sha256d::Hash::hash(bytes).to_byte_array())
    }

    fn key(seed: u8) -> SecretKey {
        SecretKey::from_slice(&[seed; 32]).expect("a valid key")
    }

    /// The four keys of a channel: two nodes, two funding keys.
    pub struct ChannelKeys {
        nodes: [SecretKey; 2],
        funding: [SecretKey; 2],
    }

    impl ChannelKeys {
        pub fn from_seed(seed: u8) -> ChannelKeys {
            let secp = Secp256k1::new();
            let mut keys = ChannelKeys {
                nodes: [key(seed), key(seed + 1)],
                funding: [key(seed + 2), key(seed + 3)],
            };
            // BOLT 7: node_id_1 is the lesser id; each funding key goes with its node.
            if keys.nodes[0].public_key(&secp).serialize()
                > keys.nodes[1].public_key(&secp).serialize()
            {
                keys.nodes.swap(0, 1);
                keys.funding.swap(0, 1);
            }
            keys
        }

        fn public(&self, key: &SecretKey) -> PublicKey {
            key.public_key(&Secp256k1::new())
        }

        /// The P2WSH a channel between these keys is funded with.
        pub fn funding_script(&self) -> ScriptBuf {
            make_funding_redeemscript(
                &self.public(&self.funding[0]),
                &self.public(&self.funding[1]),
            )
            .to_p2wsh()
        }

        /// A channel announcement for `short_channel_id`, validly signed by all four keys.
        pub fn announce(&self, short_channel_id: u64) -> ChannelAnnouncement {
            let secp = Secp256k1::new();
            let contents = UnsignedChannelAnnouncement {
                features: ChannelFeatures::empty(),
                chain_hash: ChainHash::using_genesis_block(bitcoin::Network::Regtest),
                short_channel_id,
                node_id_1: NodeId::from_pubkey(&self.public(&self.nodes[0])),
                node_id_2: NodeId::from_pubkey(&self.public(&self.nodes[1])),
                bitcoin_key_1: NodeId::from_pubkey(&self.public(&self.funding[0])),
                bitcoin_key_2: NodeId::from_pubkey(&self.public(&self.funding[1])),
                excess_data: Vec::new(),
            };
            let message = digest(&contents.encode());
            ChannelAnnouncement {
                node_signature_1: secp.sign_ecdsa(&message, &self.nodes[0]),
                node_signature_2: secp.sign_ecdsa(&message, &self.nodes[1]),
                bitcoin_signature_1: secp.sign_ecdsa(&message, &self.funding[0]),
                bitcoin_signature_2: secp.sign_ecdsa(&message, &self.funding[1]),
                contents,
            }
        }

        /// The first node's announcement of itself.
        pub fn node_announcement(&self) -> NodeAnnouncement {
            let now = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .expect("clock")
                .as_secs() as u32;
            let contents = UnsignedNodeAnnouncement {
                features: NodeFeatures::empty(),
                timestamp: now,
                node_id: NodeId::from_pubkey(&self.public(&self.nodes[0])),
                rgb: [1, 2, 3],
                alias: NodeAlias([b'x'; 32]),
                addresses: Vec::new(),
                excess_address_data: Vec::new(),
                excess_data: Vec::new(),
            };
            NodeAnnouncement {
                signature: Secp256k1::new().sign_ecdsa(&digest(&contents.encode()), &self.nodes[0]),
                contents,
            }
        }
    }

    /// A gossip handler that hands out its announcements, in its own order, to a peer that asks
    /// for a sync, and ignores everything it is sent.
    struct ForgedGossip {
        channels: Mutex<VecDeque<ChannelAnnouncement>>,
        nodes: Mutex<VecDeque<NodeAnnouncement>>,
    }

    impl BaseMessageHandler for ForgedGossip {
        fn get_and_clear_pending_msg_events(&self) -> Vec<MessageSendEvent> {
            Vec::new()
        }
        fn peer_disconnected(&self, _: PublicKey) {}
        fn provided_node_features(&self) -> NodeFeatures {
            NodeFeatures::empty()
        }
        fn provided_init_features(&self, _: PublicKey) -> InitFeatures {
            // The node asks peers with gossip queries for a sync (gossip_timestamp_filter).
            let mut features = InitFeatures::empty();
            features.set_gossip_queries_optional();
            features
        }
        fn peer_connected(&self, _: PublicKey, _: &Init, _: bool) -> Result<(), ()> {
            Ok(())
        }
    }

    impl RoutingMessageHandler for ForgedGossip {
        fn handle_node_announcement(
            &self,
            _: Option<PublicKey>,
            _: &NodeAnnouncement,
        ) -> Result<bool, LightningError> {
            Ok(false)
        }
        fn handle_channel_announcement(
            &self,
            _: Option<PublicKey>,
            _: &ChannelAnnouncement,
        ) -> Result<bool, LightningError> {
            Ok(false)
        }
        fn handle_channel_update(
            &self,
            _: Option<PublicKey>,
            _: &ChannelUpdate,
        ) -> Result<bool, LightningError> {
            Ok(false)
        }
        fn get_next_channel_announcement(
            &self,
            _: u64,
        ) -> Option<(
            ChannelAnnouncement,
            Option<ChannelUpdate>,
            Option<ChannelUpdate>,
        )> {
            let next = self.channels.lock().ok()?.pop_front()?;
            Some((next, None, None))
        }
        fn get_next_node_announcement(&self, _: Option<&NodeId>) -> Option<NodeAnnouncement> {
            self.nodes.lock().ok()?.pop_front()
        }
        fn handle_reply_channel_range(
            &self,
            _: PublicKey,
            _: ReplyChannelRange,
        ) -> Result<(), LightningError> {
            Ok(())
        }
        fn handle_reply_short_channel_ids_end(
            &self,
            _: PublicKey,
            _: ReplyShortChannelIdsEnd,
        ) -> Result<(), LightningError> {
            Ok(())
        }
        fn handle_query_channel_range(
            &self,
            _: PublicKey,
            _: QueryChannelRange,
        ) -> Result<(), LightningError> {
            Ok(())
        }
        fn handle_query_short_channel_ids(
            &self,
            _: PublicKey,
            _: QueryShortChannelIds,
        ) -> Result<(), LightningError> {
            Ok(())
        }
        fn processing_queue_high(&self) -> bool {
            false
        }
    }

    struct Quiet;
    impl lightning::util::logger::Logger for Quiet {
        fn log(&self, _: lightning::util::logger::Record) {}
    }

    type PeerManager = lightning::ln::peer_handler::PeerManager<
        lightning_net_tokio::SocketDescriptor,
        lightning::ln::peer_handler::ErroringMessageHandler,
        Arc<ForgedGossip>,
        lightning::ln::peer_handler::IgnoringMessageHandler,
        Arc<Quiet>,
        lightning::ln::peer_handler::IgnoringMessageHandler,
        Arc<KeysManager>,
        lightning::ln::peer_handler::IgnoringMessageHandler,
    >;

    /// LDK's peer manager with [`ForgedGossip`], connected to a node over TCP.
    pub struct HostilePeer {
        runtime: Option<tokio::runtime::Runtime>,
        node_id: PublicKey,
    }

    impl HostilePeer {
        pub fn connect(
            node: &Node,
            channels: Vec<ChannelAnnouncement>,
            nodes: Vec<NodeAnnouncement>,
        ) -> HostilePeer {
            let now = SystemTime::now().duration_since(UNIX_EPOCH).expect("clock");
            let keys = Arc::new(KeysManager::new(
                &[99; 32],
                now.as_secs(),
                now.subsec_nanos(),
                true,
            ));
            let gossip = Arc::new(ForgedGossip {
                channels: Mutex::new(channels.into()),
                nodes: Mutex::new(nodes.into()),
            });
            let manager = Arc::new(PeerManager::new_routing_only(
                gossip,
                now.as_secs() as u32,
                &keys.get_secure_random_bytes(),
                Arc::new(Quiet),
                keys.clone(),
            ));
            let uri = node.node_uri().expect("the node listens");
            let (id, address) = uri.split_once('@').expect("pubkey@host:port");
            let their_id: PublicKey = id.parse().expect("node id");
            let address: std::net::SocketAddr = address.parse().expect("address");
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(1)
                .enable_all()
                .build()
                .expect("runtime");
            let pm = manager.clone();
            runtime.block_on(async move {
                let connection = lightning_net_tokio::connect_outbound(pm, their_id, address)
                    .await
                    .expect("tcp connection to the node");
                tokio::spawn(connection);
            });
            // Drive the peer manager (its sync sends a little more at each call).
            runtime.spawn(async move {
                loop {
                    manager.process_events();
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
            });
            let node_id = keys
                .get_node_id(lightning::sign::Recipient::Node)
                .expect("node id");
            HostilePeer {
                runtime: Some(runtime),
                node_id,
            }
        }

        /// Whether `node` lists this peer as connected.
        pub fn is_connected(&self, node: &Node) -> bool {
            node.list_peers()
                .iter()
                .any(|p| p.is_connected && p.node_id.to_string() == self.node_id.to_string())
        }
    }

    impl Drop for HostilePeer {
        fn drop(&mut self) {
            if let Some(runtime) = self.runtime.take() {
                runtime.shutdown_background();
            }
        }
    }
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
    wildcard.listening_addresses = vec![([0, 0, 0, 0], port).into()];
    let node = build(wildcard.clone(), 106);
    assert_eq!(
        node.node_uri(),
        None,
        "0.0.0.0 is not an address anyone can dial"
    );
    drop(node);

    wildcard.announced_addresses = vec![([203, 0, 113, 7], port).into()];
    let node = build(wildcard.clone(), 106);
    let uri = node.node_uri().expect("announced");
    assert!(uri.ends_with(&format!("@203.0.113.7:{port}")), "{uri}");
    drop(node);

    wildcard.announced_addresses = vec![([0, 0, 0, 0], port).into()];
    let refused = qtum_lightning::Builder::new(wildcard).build();
    assert!(
        matches!(refused, Err(qtum_lightning::BuildError::InvalidConfig(_))),
        "an unspecified announced address is refused"
    );
}

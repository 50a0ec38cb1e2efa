//! The channel's whole life between two SDK nodes over loopback TCP, against the regtest harness
//! that validates like qtumd: fund, open 10 QTUM, ready after confirmations, cooperative close,
//! funds back on chain.

mod common;

use common::*;
use qtum_lightning::{CloseKind, Event, NodeError, OnchainTxKind};

#[test]
fn open_ready_cooperative_close_funds_back() {
    let harness = harness();
    let alice = start_node(&harness, "alice", 1);
    let bob = start_node(&harness, "bob", 2);

    fund(&harness, &alice, 20 * QTUM);
    let before = alice.onchain_balance().total_sat;
    assert_eq!(before, 20 * QTUM);

    let bob_uri = bob.node_uri().expect("bob listens");
    alice
        .open_channel(&bob_uri, 10 * QTUM, None, false)
        .expect("open");
    let pending = expect_event(&alice, "channel pending", |e| {
        matches!(e, Event::ChannelPending { .. })
    });
    let Event::ChannelPending { channel_id, .. } = pending else {
        unreachable!()
    };

    // Not ready before the configured 6 confirmations.
    mine(&harness, 5);
    alice.sync().expect("sync");
    bob.sync().expect("sync");
    assert!(!alice.list_channels().iter().any(|c| c.is_ready));
    mine(&harness, 1);
    expect_event(&alice, "alice ready", |e| {
        matches!(e, Event::ChannelReady { .. })
    });
    expect_event(&bob, "bob ready", |e| {
        matches!(e, Event::ChannelReady { .. })
    });

    let channel = alice
        .list_channels()
        .into_iter()
        .find(|c| c.channel_id == channel_id)
        .expect("listed");
    assert_eq!(channel.capacity_sat, 10 * QTUM);
    assert!(channel.is_outbound && channel.is_ready);
    assert!(channel.confirmations.unwrap_or(0) >= 6);
    let open = alice.balances();
    assert!(
        open.lightning_sat > 9 * QTUM && open.lightning_sat < 10 * QTUM,
        "{open:?}"
    );
    assert!(
        open.total_sat < before && open.total_sat > before - QTUM / 100,
        "{open:?}"
    );

    // Channel calls take the channel id only (the types see to it); a user channel id that
    // happens to spell a valid channel id names no channel.
    let user_id = alice
        .list_channels()
        .into_iter()
        .find(|c| c.channel_id == channel_id)
        .expect("listed")
        .user_channel_id;
    let mut as_channel_id = [0u8; 32];
    as_channel_id[16..].copy_from_slice(&user_id.0.to_be_bytes());
    assert!(matches!(
        alice.close_channel(&qtum_lightning::ChannelId(as_channel_id)),
        Err(NodeError::UnknownChannel(_))
    ));
    assert!(alice
        .list_channels()
        .iter()
        .any(|c| c.channel_id == channel_id && c.is_usable));

    // A payment each way; the close is asked while the second is in flight, with Alice on a
    // slow disk (each of her commits takes 300 ms): her monitor update for Bob's HTLC is on its
    // way to disk then, which LDK's shutdown refuses. The close waits for it instead of failing.
    // (Bob can send once he holds more than his reserve, 1 % of the channel.)
    let invoice = bob
        .receive(QTUM / 2 * 1_000, "to bob", None)
        .expect("invoice");
    alice.send(&invoice, None).expect("send");
    expect_event(&bob, "bob paid", |e| {
        matches!(e, Event::PaymentReceived { .. })
    });
    expect_event(&alice, "alice paid", |e| {
        matches!(e, Event::PaymentSuccessful { .. })
    });
    let invoice = alice
        .receive(QTUM * 2 / 5 * 1_000, "back to alice", None)
        .expect("invoice");
    alice.debug_slow_storage(300);
    let back = bob.send(&invoice, None).expect("send");
    std::thread::sleep(std::time::Duration::from_millis(100));
    alice.close_channel(&channel_id).expect("close");
    alice.debug_slow_storage(0);
    // The HTLC is resolved either way before the channel closes (LDK fails back one whose
    // receipt it had not yet processed when the shutdown began); never left pending.
    expect_event(&bob, "bob's payment resolved", |e| match e {
        Event::PaymentSuccessful { payment_id, .. } | Event::PaymentFailed { payment_id, .. } => {
            *payment_id == back
        }
        _ => false,
    });
    // From the close until the funds are spendable again, Alice's total neither drops (the
    // funds are counted while they travel) nor counts anything twice (wallet and channel).
    let counted_once = |what: &str| {
        let b = alice.balances();
        assert!(
            b.total_sat <= before && b.total_sat > before - QTUM / 2 - QTUM / 100,
            "{what}: {b:?}"
        );
        b
    };
    wait_until("closing transaction in the mempool and mined", || {
        mine(&harness, 1);
        let _ = alice.sync();
        let _ = bob.sync();
        counted_once("closing");
        alice.list_channels().is_empty() && bob.list_channels().is_empty()
    });
    expect_event(&alice, "alice closed", |e| {
        matches!(
            e,
            Event::ChannelClosed {
                kind: CloseKind::CooperativeByUs,
                ..
            }
        )
    });
    expect_event(&bob, "bob closed", |e| {
        matches!(
            e,
            Event::ChannelClosed {
                kind: CloseKind::CooperativeByPeer,
                ..
            }
        )
    });

    // Everything is back on chain, minus the funding and closing fees (a few thousandths of a
    // QTUM at Qtum's 400 sat/vB).
    wait_until("funds back in the wallet", || {
        mine(&harness, 1);
        let _ = alice.sync();
        counted_once("maturing");
        let balance = alice.onchain_balance();
        // 0.5 QTUM went to Bob (0.4 more may have come back).
        balance.unconfirmed_sat == 0 && balance.confirmed_sat > 20 * QTUM - QTUM / 2 - QTUM / 100
    });
    let after = alice.onchain_balance().confirmed_sat;
    assert!(after < before, "fees were paid");
    // The history tells the story, newest first: the close, the funding, the coinbase; and
    // adds up to the balance.
    let history = alice.list_transactions();
    let kinds: Vec<_> = history.iter().map(|t| t.kind.clone()).collect();
    assert_eq!(
        kinds,
        vec![
            OnchainTxKind::ChannelClose { channel_id },
            OnchainTxKind::ChannelFunding { channel_id },
            OnchainTxKind::Payment,
        ],
        "{history:?}"
    );
    let net: i128 = history
        .iter()
        .map(|t| t.received_sat as i128 - t.sent_sat as i128)
        .sum();
    assert_eq!(
        net,
        alice.onchain_balance().total_sat as i128,
        "{history:?}"
    );
    assert!(history[1].fee_sat.is_some_and(|f| f > 0), "{history:?}");
    assert!(history.iter().all(|t| t.confirmations > 0));
    assert!(history[0].confirmation_height > history[1].confirmation_height);
    let settled = counted_once("settled");
    assert_eq!(settled.closing, vec![], "{settled:?}");
    assert_eq!(settled.total_sat, settled.onchain.total_sat);

    // A fee preview, then the send: the same coins, the same fee; a send-all preview spends
    // everything spendable.
    let to_bob = bob.new_address().expect("address");
    let preview = alice
        .preview_send_to_address(&to_bob, QTUM, None)
        .expect("preview");
    assert_eq!(preview.amount_sat, QTUM);
    assert!(preview.fee_rate_sat_per_vb >= 400, "{preview:?}");
    assert!(preview.fee_sat >= preview.vsize * 400, "{preview:?}");
    let all = alice
        .preview_send_all_to_address(&to_bob, None)
        .expect("preview all");
    assert_eq!(
        all.amount_sat + all.fee_sat,
        alice.onchain_balance().spendable_sat
    );
    assert_eq!(all.change_sat, None);
    assert!(matches!(
        alice.preview_send_to_address(&to_bob, 100 * QTUM, None),
        Err(NodeError::InsufficientFunds(_))
    ));
    assert!(matches!(
        alice.preview_send_to_address("qNotAnAddress", QTUM, None),
        Err(NodeError::InvalidAddress(_))
    ));
    let txid = alice.send_to_address(&to_bob, QTUM, None).expect("send");
    let sent = alice
        .list_transactions()
        .into_iter()
        .find(|t| t.txid == txid)
        .expect("in the history");
    assert_eq!(sent.fee_sat, Some(preview.fee_sat));
    assert_eq!(sent.sent_sat - sent.received_sat, QTUM + preview.fee_sat);

    alice.stop().expect("stop");
    bob.stop().expect("stop");
}

#[test]
fn bad_input_is_typed_and_harmless() {
    let harness = harness();
    let alice = start_node(&harness, "alice-bad", 3);
    let bob = start_node(&harness, "bob-bad", 4);
    let bob_uri = bob.node_uri().expect("uri");

    assert!(matches!(
        alice.connect("not a uri", false),
        Err(NodeError::InvalidNodeUri(_))
    ));
    assert!(matches!(
        alice.open_channel("02aa@127.0.0.1:1", 10 * QTUM, None, false),
        Err(NodeError::InvalidNodeUri(_))
    ));
    // Capacity outside Qtum's bounds, or above the wallet.
    assert!(matches!(
        alice.open_channel(&bob_uri, 1_000, None, false),
        Err(NodeError::InvalidAmount(_))
    ));
    assert!(matches!(
        alice.open_channel(&bob_uri, 101 * QTUM, None, false),
        Err(NodeError::InvalidAmount(_))
    ));
    assert!(matches!(
        alice.open_channel(&bob_uri, 10 * QTUM, None, false),
        Err(NodeError::InsufficientFunds(_))
    ));
    // A well-formed URI of a node that is not there.
    let nobody = format!(
        "{}@127.0.0.1:{}",
        bob.node_id().to_string().replacen("02", "03", 1),
        free_port()
    );
    assert!(alice.connect(&nobody, false).is_err());
    assert!(matches!(
        alice.close_channel(&qtum_lightning::ChannelId([0; 32])),
        Err(NodeError::UnknownChannel(_))
    ));
    assert!(matches!(
        alice.force_close_channel(&qtum_lightning::ChannelId([1; 32]), None),
        Err(NodeError::UnknownChannel(_))
    ));
    // Called from inside an app's own async runtime, a blocking call must not panic.
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("rt");
    runtime
        .block_on(async { alice.connect(&bob_uri, false) })
        .expect("connect from an async context");
    // The node still works.
    alice.connect(&bob_uri, true).expect("connect");
    assert!(alice
        .list_peers()
        .iter()
        .any(|p| p.node_id == bob.node_id() && p.is_connected));
}

#[test]
fn signed_messages_verify_across_nodes() {
    let harness = harness();
    let alice = start_node(&harness, "alice", 1);
    let bob = start_node(&harness, "bob", 2);
    let message = "I, Alice, run this node.".as_bytes();
    let signature = alice.sign_message(message).expect("sign");
    // The same key signs the same message the same way (RFC 6979), whoever asks.
    assert_eq!(alice.sign_message(message).expect("sign"), signature);
    assert!(bob
        .verify_message(message, &signature, &alice.node_id())
        .expect("verify"));
    // Not Bob's, not another message, not a damaged or empty signature.
    assert!(!bob
        .verify_message(message, &signature, &bob.node_id())
        .expect("verify"));
    assert!(!bob
        .verify_message(b"I, Alice, run this node!", &signature, &alice.node_id())
        .expect("verify"));
    let mut damaged = signature.clone().into_bytes();
    let last = damaged.len() - 1;
    damaged[last] = if damaged[last] == b'y' { b'b' } else { b'y' };
    let damaged = String::from_utf8(damaged).expect("zbase32 is ASCII");
    for bad in [damaged.as_str(), "", "!!!", &"y".repeat(10_000)] {
        assert!(
            !bob.verify_message(message, bad, &alice.node_id())
                .expect("verify"),
            "{bad:.40}"
        );
    }
    // Stopped nodes sign and verify too.
    alice.stop().expect("stop");
    assert_eq!(alice.sign_message(message).expect("sign"), signature);
    bob.stop().expect("stop");
}

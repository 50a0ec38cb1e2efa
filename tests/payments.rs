//! Payments between SDK nodes over loopback TCP, against the regtest harness: the tutorial's
//! 1-satoshi invoice, larger payments both ways, keysend, a payment across a hop with the fee
//! checked to the millisatoshi, and every refusal.

mod common;

use std::time::Duration;

use bitcoin::hashes::{sha256, Hash};
use bitcoin::secp256k1::SecretKey;
use common::*;
use qtum_lightning::qtum::invoice::{create_signed, InvoiceRequest};
use qtum_lightning::qtum::network::Network;
use qtum_lightning::{
    ChannelId, CustomRecord, Event, Node, NodeError, PaymentDirection, PaymentFailureKind,
    PaymentFilter, PaymentHash, PaymentId, PaymentKind, PaymentPreimage, PaymentStatus,
    SendOptions,
};

const WAIT: Duration = Duration::from_secs(60);

fn pay(from: &Node, to: &Node, amount_msat: u64, what: &str) -> u64 {
    let invoice = to.receive(amount_msat, what, None).expect("invoice");
    assert!(invoice.starts_with("lnqcrt"), "{invoice}");
    let preview = from.decode_invoice(&invoice).expect("decode");
    assert_eq!(preview.amount_msat, Some(amount_msat));
    assert_eq!(preview.payee_node_id, to.node_id());
    assert!(preview.is_payable && !preview.is_expired);
    let id = from.send(&invoice, None).expect("send");
    let sent = from.wait_payment(&id, WAIT).expect("payment");
    assert_eq!(
        sent.status,
        PaymentStatus::Succeeded,
        "{what}: {:?}",
        sent.failure_reason
    );
    assert!(sent.preimage.is_some());
    expect_event(
        from,
        "payment successful",
        |e| matches!(e, Event::PaymentSuccessful { payment_id, .. } if *payment_id == id),
    );
    expect_event(
        to,
        "payment received",
        |e| matches!(e, Event::PaymentReceived { amount_msat: a, .. } if *a == amount_msat),
    );
    let received = to
        .payment(&id_of(&sent.payment_hash))
        .expect("read")
        .expect("recorded");
    assert_eq!(received.direction, PaymentDirection::Inbound);
    assert_eq!(received.status, PaymentStatus::Succeeded);
    assert_eq!(received.amount_msat, Some(amount_msat));
    sent.fee_paid_msat.unwrap_or(0)
}

/// What `node` can send now. Exact to the msat while its balance is above its reserve; a
/// direct payment moves it by exactly the amount (no HTLC output: small ones are trimmed).
fn outbound_msat(node: &Node) -> u64 {
    node.list_channels()
        .iter()
        .map(|c| c.outbound_capacity_msat)
        .sum()
}

/// `node`'s sendable total once its channels settle to `expected`. The payer's success and the
/// payee's `PaymentReceived` come when the preimage is passed on; the last commitment update,
/// which moves the amount into the payee's spendable balance, may follow a moment later. Waits
/// for it (bounded), then asserts the exact figure.
fn assert_outbound(node: &Node, expected: u64) {
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while outbound_msat(node) != expected && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(outbound_msat(node), expected);
}

#[test]
fn one_satoshi_and_half_a_qtum_both_ways() {
    let harness = harness();
    let alice = start_node(&harness, "pay-alice", 11);
    let bob = start_node(&harness, "pay-bob", 12);
    fund(&harness, &alice, 20 * QTUM);
    open_ready_channel(&harness, &alice, &bob, 10 * QTUM, None);

    let a0 = outbound_msat(&alice);
    assert_outbound(&bob, 0); // Bob holds nothing yet
    pay(&alice, &bob, 1_000, "one satoshi");
    assert_outbound(&alice, a0 - 1_000);
    pay(&alice, &bob, QTUM * 1_000 / 2, "half a QTUM");
    pay(&alice, &bob, QTUM * 1_000 / 2, "another half");
    pay(&alice, &bob, 1, "one millisatoshi");
    assert_outbound(&alice, a0 - 1_000 - QTUM * 1_000 - 1);
    // Bob now holds 1 QTUM + 1 sat + 1 msat, of which he must keep 1 % of the channel
    // (0.1 QTUM) as reserve.
    assert_outbound(&bob, QTUM * 1_000 + 1_000 + 1 - QTUM * 1_000 / 10);
    // Back the other way.
    pay(&bob, &alice, 1_000, "one satoshi back");
    pay(&bob, &alice, QTUM * 1_000 / 2, "half a QTUM back");
    assert_outbound(&bob, QTUM * 1_000 / 2 + 1 - QTUM * 1_000 / 10);
    assert_outbound(&alice, a0 - QTUM * 1_000 / 2 - 1);
    // More than Bob can send now: refused up front, nothing moves.
    let invoice = alice
        .receive(QTUM * 1_000 / 2, "too much for bob", None)
        .expect("invoice");
    assert!(matches!(
        bob.send(&invoice, None),
        Err(NodeError::InsufficientCapacity(_))
    ));
    assert_outbound(&alice, a0 - QTUM * 1_000 / 2 - 1);

    let all = alice.list_payments(PaymentFilter::default()).expect("list");
    assert_eq!(all.len(), 7, "4 sent, 2 received, 1 invoice not paid");
    let sent = PaymentFilter {
        direction: Some(PaymentDirection::Outbound),
        ..Default::default()
    };
    assert_eq!(alice.list_payments(sent).expect("list").len(), 4);

    alice.stop().expect("stop");
    bob.stop().expect("stop");
}

#[test]
fn restart_both_nodes_mid_life() {
    let harness = harness();
    let alice_config = config(&harness, "restart-alice");
    let bob_config = config(&harness, "restart-bob");
    let alice = build(alice_config.clone(), 41);
    alice.start().expect("start");
    let bob = build(bob_config.clone(), 42);
    bob.start().expect("start");
    fund(&harness, &alice, 20 * QTUM);
    let channel_id = open_ready_channel(&harness, &alice, &bob, 10 * QTUM, None);
    pay(&alice, &bob, 20_000_000_000, "0.2 QTUM before the restart");
    alice
        .set_channel_fees(&channel_id, Some(1_234), Some(567))
        .expect("fees");

    alice.stop().expect("stop");
    bob.stop().expect("stop");
    drop(alice);
    drop(bob);
    // Blocks arrive while both are down.
    mine(&harness, 3);

    let alice = build(alice_config, 41);
    alice.start().expect("restart");
    let bob = build(bob_config, 42);
    bob.start().expect("restart");
    alice.sync().expect("sync");
    bob.sync().expect("sync");
    // The channel, the history and the peer all came back; the peer reconnects by itself.
    let sent = PaymentFilter {
        direction: Some(PaymentDirection::Outbound),
        ..Default::default()
    };
    assert_eq!(alice.list_payments(sent).expect("list").len(), 1);
    wait_until("channel usable again", || {
        alice
            .list_channels()
            .iter()
            .any(|c| c.channel_id == channel_id && c.is_usable)
    });
    pay(&alice, &bob, 1_000, "after the restart");
    let fees = alice
        .list_channels()
        .into_iter()
        .find(|c| c.channel_id == channel_id)
        .map(|c| (c.forwarding_fee_base_msat, c.forwarding_fee_ppm));
    assert_eq!(fees, Some((1_234, 567)), "fees kept across the restart");

    alice.close_channel(&channel_id).expect("close");
    wait_until("closed on both sides", || {
        mine(&harness, 1);
        let _ = alice.sync();
        let _ = bob.sync();
        alice.list_channels().is_empty() && bob.list_channels().is_empty()
    });
    // Bob's side of the close lands in Bob's wallet.
    wait_until("bob's share on chain", || {
        mine(&harness, 1);
        let _ = bob.sync();
        bob.onchain_balance().confirmed_sat == 20_000_000 + 1
    });
    alice.stop().expect("stop");
    bob.stop().expect("stop");
}

#[test]
fn variable_amount_keysend_and_a_hop() {
    let harness = harness();
    let alice = start_node(&harness, "hop-alice", 21);
    let bob = start_node(&harness, "hop-bob", 22);
    let carol = start_node(&harness, "hop-carol", 23);
    fund(&harness, &alice, 20 * QTUM);
    fund(&harness, &bob, 20 * QTUM);
    open_ready_channel(&harness, &alice, &bob, 10 * QTUM, None);
    let bob_carol = open_ready_channel(&harness, &bob, &carol, 10 * QTUM, None);

    // A → B → C: A has no channel to C; C's invoice carries a hint through B.
    let amount = 12_345_678;
    let invoice = carol
        .receive(amount, "across a hop", None)
        .expect("invoice");
    // Limited to one hop, there is no route (A → B → C is two): refused at once, the row
    // failed, and the same invoice is paid afterwards without the limit.
    let one_hop = SendOptions {
        max_route_hops: Some(1),
        ..Default::default()
    };
    assert!(matches!(
        alice.send(&invoice, Some(one_hop)),
        Err(NodeError::PaymentFailed(_))
    ));
    // Bob charges 400,000 msat + 100 ppm of what he forwards: the estimate says so first.
    let expected_fee = 400_000 + amount * 100 / 1_000_000;
    let estimate = alice
        .estimate_payment_fee(&invoice, None)
        .expect("estimate");
    assert_eq!(
        (estimate.amount_msat, estimate.fee_msat, estimate.max_hops),
        (amount, expected_fee, 2)
    );
    let id = alice.send(&invoice, None).expect("send");
    let sent = alice.wait_payment(&id, WAIT).expect("payment");
    assert_eq!(
        sent.status,
        PaymentStatus::Succeeded,
        "{:?}",
        sent.failure_reason
    );
    assert_eq!(sent.fee_paid_msat, Some(expected_fee));
    let forwarded = expect_event(&bob, "forwarded", |e| {
        matches!(e, Event::PaymentForwarded { .. })
    });
    let Event::PaymentForwarded {
        fee_earned_msat,
        outbound_amount_msat,
        ..
    } = forwarded
    else {
        unreachable!()
    };
    assert_eq!(fee_earned_msat, Some(expected_fee));
    assert_eq!(outbound_amount_msat, Some(amount));
    expect_event(
        &carol,
        "received",
        |e| matches!(e, Event::PaymentReceived { amount_msat, .. } if *amount_msat == amount),
    );

    // Bob raises his fee on the channel to Carol; Carol hears it from Bob, her next invoice's
    // hint carries it, and Alice pays it.
    bob.set_channel_fees(&bob_carol, Some(1_000_000), Some(2_500))
        .expect("fees");
    let listed = bob
        .list_channels()
        .into_iter()
        .find(|c| c.channel_id == bob_carol)
        .expect("listed");
    assert_eq!(
        (listed.forwarding_fee_base_msat, listed.forwarding_fee_ppm),
        (1_000_000, 2_500)
    );
    let expected_fee = 1_000_000 + amount * 2_500 / 1_000_000;
    let mut dearer = String::new();
    wait_until("carol's hint carries bob's new fee", || {
        dearer = carol
            .receive(amount, "after the fee change", None)
            .expect("invoice");
        let id = alice.send(&dearer, None).expect("send");
        let sent = alice.wait_payment(&id, WAIT).expect("payment");
        sent.status == PaymentStatus::Succeeded && sent.fee_paid_msat == Some(expected_fee)
    });
    assert!(matches!(
        bob.set_channel_fees(&bob_carol, None, Some(100_001)),
        Err(NodeError::InvalidAmount(_))
    ));
    assert!(matches!(
        bob.set_channel_fees(&ChannelId([0; 32]), Some(1), None),
        Err(NodeError::UnknownChannel(_))
    ));

    // A variable-amount invoice, paid with the amount the payer chooses.
    let open = carol
        .receive_variable_amount("any amount", None)
        .expect("invoice");
    assert_eq!(
        alice.decode_invoice(&open).expect("decode").amount_msat,
        None
    );
    assert!(matches!(
        alice.send(&open, None),
        Err(NodeError::InvalidAmount(_))
    ));
    let id = alice.send_using_amount(&open, 7_000, None).expect("send");
    assert_eq!(
        alice.wait_payment(&id, WAIT).expect("p").status,
        PaymentStatus::Succeeded
    );

    // An invoice that commits to its description by hash (LNURL-pay's metadata), paid across
    // the hop like any other.
    let metadata = r#"[["text/plain","a coffee"]]"#;
    let hash = sha256::Hash::hash(metadata.as_bytes()).to_string();
    let hashed = carol
        .receive_for_description_hash(Some(9_000), &hash, None)
        .expect("invoice");
    let preview = alice.decode_invoice(&hashed).expect("decode");
    assert_eq!(preview.description, None);
    assert_eq!(preview.description_hash.as_deref(), Some(hash.as_str()));
    let id = alice.send(&hashed, None).expect("send");
    assert_eq!(
        alice.wait_payment(&id, WAIT).expect("p").status,
        PaymentStatus::Succeeded
    );
    for bad in ["", "00", &"g".repeat(64), &"0".repeat(66), &"é".repeat(32)] {
        assert!(
            matches!(
                carol.receive_for_description_hash(None, bad, None),
                Err(NodeError::InvalidInvoice(_))
            ),
            "{bad}"
        );
    }

    // Keysend to a direct peer.
    let id = alice
        .send_spontaneous(&bob.node_id(), 5_000, None)
        .expect("keysend");
    let sent = alice.wait_payment(&id, WAIT).expect("payment");
    assert_eq!(
        sent.status,
        PaymentStatus::Succeeded,
        "{:?}",
        sent.failure_reason
    );
    expect_event(
        &bob,
        "keysend received",
        |e| matches!(e, Event::PaymentReceived { amount_msat, .. } if *amount_msat == 5_000),
    );
    let received = bob
        .payment(&id_of(&sent.payment_hash))
        .expect("read")
        .expect("row");
    assert_eq!(received.amount_msat, Some(5_000));

    // Carol goes away after making an invoice: Bob cannot forward, Alice's payment fails
    // after its retries, and the event says why in a form code can switch on.
    let orphan = carol.receive(3_000, "nobody home", None).expect("invoice");
    carol.stop().expect("stop");
    let id = alice.send(&orphan, None).expect("send");
    assert_eq!(
        alice.wait_payment(&id, WAIT).expect("p").status,
        PaymentStatus::Failed
    );
    expect_event(&alice, "failure with its kind", |e| {
        matches!(
            e,
            Event::PaymentFailed {
                payment_id,
                kind: PaymentFailureKind::RetriesExhausted | PaymentFailureKind::RouteNotFound,
                ..
            } if *payment_id == id
        )
    });
}

#[test]
fn refusals_are_typed_and_risk_nothing() {
    let harness = harness();
    let alice = start_node(&harness, "ref-alice", 31);
    let bob = start_node(&harness, "ref-bob", 32);
    fund(&harness, &alice, 20 * QTUM);
    open_ready_channel(&harness, &alice, &bob, 10 * QTUM, None);
    let before = outbound_msat(&alice);

    // Paying ourselves.
    let own = alice.receive(1_000, "mine", None).expect("invoice");
    assert_eq!(alice.send(&own, None), Err(NodeError::CannotPayOwnInvoice));

    // Another network (a testnet invoice) and another chain.
    let key = SecretKey::from_slice(&[9; 32]).expect("key");
    let request = |network, timestamp_secs, expiry_secs| InvoiceRequest {
        network,
        amount_msat: Some(1_000),
        description: "x".into(),
        payment_hash: sha256::Hash::hash(b"x"),
        payment_secret: [1; 32],
        expiry_secs,
        min_final_cltv_expiry_delta: 144,
        timestamp_secs,
    };
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_secs();
    let testnet = create_signed(&request(Network::Testnet, now, 3600), &key).expect("sign");
    assert!(matches!(
        alice.send(&testnet.to_string(), None),
        Err(NodeError::WrongNetwork(_))
    ));
    // Expired: made an hour and a minute ago with a one-hour expiry.
    let old = create_signed(&request(Network::Regtest, now - 3660, 3600), &key).expect("sign");
    assert!(
        alice
            .decode_invoice(&old.to_string())
            .expect("decodes")
            .is_expired
    );
    assert_eq!(
        alice.send(&old.to_string(), None),
        Err(NodeError::InvoiceExpired)
    );
    // Garbage.
    assert!(matches!(
        alice.send("lnqcrt1garbage", None),
        Err(NodeError::InvalidInvoice(_))
    ));

    // The parser refuses the same, and what a payment URI must not carry.
    assert!(matches!(
        alice.parse_input(&testnet.to_string()),
        Err(NodeError::WrongNetwork(_))
    ));
    let address = bob.new_address().expect("address");
    let fine = alice
        .parse_input(&format!(
            "QTUM:{address}?amount=1.5&message=rent%20due&foo=bar"
        ))
        .expect("a payment URI");
    assert_eq!(
        fine,
        qtum_lightning::ParsedInput::PaymentUri {
            address: Some(address.clone()),
            amount_sat: Some(150_000_000),
            label: None,
            message: Some("rent due".into()),
            invoice: None,
            invoice_preview: None,
        }
    );
    for bad in [
        format!("qtum:{address}?req-somethingnew=1"),
        format!("qtum:{address}?amount=1.123456789"),
        format!("qtum:{address}?amount=1&amount=2"),
        format!("qtum:{address}?amount=0.00000002&lightning={own}"),
        "qtum:".to_string(),
        "lightning:qcrt1qnotanaddress".to_string(),
        "user@localhost".to_string(),
        "lnurl1qqqqqqqq".to_string(),
    ] {
        assert!(
            matches!(alice.parse_input(&bad), Err(NodeError::InvalidInput(_))),
            "{bad}: {:?}",
            alice.parse_input(&bad)
        );
    }
    assert!(matches!(
        alice.parse_input(&format!("qtum:{address}x")),
        Err(NodeError::InvalidAddress(_))
    ));
    // No fee estimate for what cannot be paid.
    assert!(matches!(
        alice.estimate_payment_fee(&own, None),
        Err(NodeError::CannotPayOwnInvoice)
    ));
    assert!(matches!(
        alice.estimate_payment_fee(&testnet.to_string(), None),
        Err(NodeError::WrongNetwork(_))
    ));

    // More than the channel can carry.
    let big = bob
        .receive(11 * QTUM * 1_000, "too much", None)
        .expect("invoice");
    assert!(matches!(
        alice.send(&big, None),
        Err(NodeError::InsufficientCapacity(_))
    ));

    // A duplicate of a succeeded payment.
    let invoice = bob.receive(2_000, "once", None).expect("invoice");
    let id = alice.send(&invoice, None).expect("send");
    assert_eq!(
        alice.wait_payment(&id, WAIT).expect("p").status,
        PaymentStatus::Succeeded
    );
    assert_eq!(alice.send(&invoice, None), Err(NodeError::DuplicatePayment));

    // Only the one real payment moved money.
    assert_outbound(&alice, before - 2_000);
    let failed = PaymentFilter {
        status: Some(PaymentStatus::Failed),
        ..Default::default()
    };
    assert!(
        alice.list_payments(failed).expect("list").is_empty(),
        "refusals leave no rows"
    );
}

fn hash_of(preimage: &[u8; 32]) -> PaymentHash {
    PaymentHash(sha256::Hash::hash(preimage).to_byte_array())
}

/// The id of an invoice payment: its hash.
fn id_of(hash: &PaymentHash) -> PaymentId {
    PaymentId(hash.0)
}

#[test]
fn hold_invoices_claimed_after_a_restart_or_failed_back() {
    let harness = harness();
    let alice = start_node(&harness, "hold-alice", 51);
    let bob_config = config(&harness, "hold-bob");
    let bob = build(bob_config.clone(), 52);
    bob.start().expect("start");
    fund(&harness, &alice, 20 * QTUM);
    open_ready_channel(&harness, &alice, &bob, 10 * QTUM, None);

    let preimage = [7u8; 32];
    let hash = hash_of(&preimage);
    let amount = 50_000_000;
    let invoice = bob
        .receive_for_hash(hash, Some(amount), "held until the goods ship", None)
        .expect("hold invoice");
    assert!(matches!(
        bob.receive_for_hash(hash, Some(amount), "again", None),
        Err(NodeError::DuplicatePayment)
    ));
    assert!(
        matches!(
            bob.claim_for_hash(&hash, &PaymentPreimage(preimage)),
            Err(NodeError::NotClaimable(_))
        ),
        "nothing paid yet"
    );
    let preview = alice.decode_invoice(&invoice).expect("decode");
    assert_eq!(preview.payment_hash, hash);
    // A direct peer charges no routing fee.
    let estimate = alice
        .estimate_payment_fee(&invoice, None)
        .expect("estimate");
    assert_eq!(
        (estimate.fee_msat, estimate.max_hops),
        (0, 1),
        "{estimate:?}"
    );

    let id = alice.send(&invoice, None).expect("send");
    let claimable = expect_event(&bob, "claimable", |e| {
        matches!(e, Event::PaymentClaimable { .. })
    });
    let Event::PaymentClaimable {
        payment_hash,
        amount_msat,
        claim_deadline_height,
        ..
    } = claimable
    else {
        unreachable!()
    };
    assert_eq!((payment_hash, amount_msat), (hash, amount));
    let deadline = claim_deadline_height.expect("a deadline");
    assert!(deadline > harness.height(), "{deadline}");
    let held = bob.payment(&id_of(&hash)).expect("read").expect("row");
    assert_eq!(held.status, PaymentStatus::Pending);
    assert_eq!(held.kind, PaymentKind::Bolt11Hold);
    assert_eq!(held.claim_deadline_height, Some(deadline));
    assert_eq!(
        alice.payment(&id).expect("read").expect("row").status,
        PaymentStatus::Pending,
        "the payer waits while the payee holds"
    );
    assert!(matches!(
        bob.claim_for_hash(&hash, &PaymentPreimage([8u8; 32])),
        Err(NodeError::InvalidInput(_))
    ));

    // The app is killed while it holds the payment; on the next start it claims.
    bob.stop().expect("stop");
    drop(bob);
    let bob = build(bob_config, 52);
    bob.start().expect("restart");
    wait_until("channel back", || {
        bob.list_channels().iter().any(|c| c.is_usable)
    });
    bob.claim_for_hash(&hash, &PaymentPreimage(preimage))
        .expect("claim");
    let sent = alice.wait_payment(&id, WAIT).expect("payment");
    assert_eq!(
        sent.status,
        PaymentStatus::Succeeded,
        "{:?}",
        sent.failure_reason
    );
    assert_eq!(sent.preimage, Some(PaymentPreimage(preimage)));
    expect_event(
        &bob,
        "received",
        |e| matches!(e, Event::PaymentReceived { payment_hash, amount_msat, .. } if *payment_hash == hash && *amount_msat == amount),
    );
    let received = bob.payment(&id_of(&hash)).expect("read").expect("row");
    assert_eq!(received.status, PaymentStatus::Succeeded);
    bob.claim_for_hash(&hash, &PaymentPreimage(preimage))
        .expect("claiming again is harmless");

    // A second one, refused by the app: the payer's payment fails as rejected.
    let other = hash_of(&[9u8; 32]);
    let invoice = bob
        .receive_for_hash(other, None, "any amount", Some(600))
        .expect("hold invoice");
    let id = alice
        .send_using_amount(&invoice, 1_234_000, None)
        .expect("send");
    expect_event(
        &bob,
        "claimable",
        |e| matches!(e, Event::PaymentClaimable { payment_hash, amount_msat: 1_234_000, .. } if *payment_hash == other),
    );
    bob.fail_for_hash(&other).expect("fail back");
    let failed = alice.wait_payment(&id, WAIT).expect("payment");
    assert_eq!(failed.status, PaymentStatus::Failed);
    expect_event(&alice, "failed", |e| {
        matches!(
            e,
            Event::PaymentFailed {
                kind: PaymentFailureKind::RecipientRejected,
                ..
            }
        )
    });
    assert_eq!(
        bob.payment(&id_of(&other))
            .expect("read")
            .expect("row")
            .status,
        PaymentStatus::Failed
    );
    assert!(matches!(
        bob.claim_for_hash(&other, &PaymentPreimage([9u8; 32])),
        Err(NodeError::NotClaimable(_))
    ));
    // Hold calls on what is not a hold invoice, or nothing at all.
    let plain = bob.receive(1_000, "plain", None).expect("invoice");
    let plain_hash = bob.decode_invoice(&plain).expect("decode").payment_hash;
    assert!(matches!(
        bob.fail_for_hash(&plain_hash),
        Err(NodeError::InvalidInput(_))
    ));
    assert!(matches!(
        bob.fail_for_hash(&hash_of(&[1u8; 32])),
        Err(NodeError::UnknownPayment(_))
    ));
    alice.stop().expect("stop");
    bob.stop().expect("stop");
}

#[test]
fn keysend_carries_custom_records() {
    let harness = harness();
    let alice = start_node(&harness, "records-alice", 53);
    let bob = start_node(&harness, "records-bob", 54);
    fund(&harness, &alice, 20 * QTUM);
    open_ready_channel(&harness, &alice, &bob, 10 * QTUM, None);

    let records = vec![
        CustomRecord {
            type_num: 7_629_169,
            value: b"boost from alice".to_vec(),
        },
        CustomRecord {
            type_num: 65_537,
            value: vec![0, 1, 2, 255],
        },
    ];
    let id = alice
        .send_spontaneous_with_records(&bob.node_id(), 21_000, None, records.clone())
        .expect("keysend");
    let sent = alice.wait_payment(&id, WAIT).expect("payment");
    assert_eq!(
        sent.status,
        PaymentStatus::Succeeded,
        "{:?}",
        sent.failure_reason
    );
    assert_eq!(sent.custom_records, records);
    let received = expect_event(&bob, "received", |e| {
        matches!(e, Event::PaymentReceived { .. })
    });
    let Event::PaymentReceived {
        custom_records,
        payment_hash,
        ..
    } = received
    else {
        unreachable!()
    };
    // LDK hands them sorted by type.
    let mut sorted = records.clone();
    sorted.sort_by_key(|r| r.type_num);
    assert_eq!(custom_records, sorted);
    let row = bob
        .payment(&id_of(&payment_hash))
        .expect("read")
        .expect("row");
    assert_eq!(row.custom_records, sorted);

    // An even type is "it's OK to be odd"'s must-understand: the payee, knowing none, rejects.
    let even = vec![CustomRecord {
        type_num: 65_536,
        value: vec![1],
    }];
    let id = alice
        .send_spontaneous_with_records(&bob.node_id(), 21_000, None, even)
        .expect("keysend");
    let failed = alice.wait_payment(&id, WAIT).expect("payment");
    assert_eq!(failed.status, PaymentStatus::Failed);
    expect_event(&alice, "rejected", |e| {
        matches!(
            e,
            Event::PaymentFailed {
                kind: PaymentFailureKind::RecipientRejected,
                ..
            }
        )
    });

    // Refused before anything is sent: protocol types, a type twice, too much data.
    let before = alice
        .list_payments(PaymentFilter::default())
        .expect("list")
        .len();
    for bad in [
        vec![CustomRecord {
            type_num: 100,
            value: vec![1],
        }],
        vec![
            CustomRecord {
                type_num: 70_000,
                value: vec![1],
            },
            CustomRecord {
                type_num: 70_000,
                value: vec![2],
            },
        ],
        vec![CustomRecord {
            type_num: 5_482_373_484,
            value: vec![1],
        }],
        vec![CustomRecord {
            type_num: 70_000,
            value: vec![0; 5_000],
        }],
    ] {
        assert!(matches!(
            alice.send_spontaneous_with_records(&bob.node_id(), 1_000, None, bad),
            Err(NodeError::InvalidInput(_))
        ));
    }
    assert_eq!(
        alice
            .list_payments(PaymentFilter::default())
            .expect("list")
            .len(),
        before
    );
    alice.stop().expect("stop");
    bob.stop().expect("stop");
}

#[test]
fn an_unclaimed_hold_invoice_is_failed_back_at_its_deadline() {
    let harness = harness();
    let alice = start_node(&harness, "deadline-alice", 55);
    let bob = start_node(&harness, "deadline-bob", 56);
    fund(&harness, &alice, 20 * QTUM);
    open_ready_channel(&harness, &alice, &bob, 10 * QTUM, None);

    let preimage = [3u8; 32];
    let hash = hash_of(&preimage);
    let invoice = bob
        .receive_for_hash(hash, Some(7_000_000), "never claimed in time", None)
        .expect("hold invoice");
    let id = alice.send(&invoice, None).expect("send");
    let claimable = expect_event(&bob, "claimable", |e| {
        matches!(e, Event::PaymentClaimable { .. })
    });
    let Event::PaymentClaimable {
        claim_deadline_height: Some(deadline),
        ..
    } = claimable
    else {
        panic!("no deadline: {claimable:?}")
    };
    // The app never answers. Blocks come until the deadline; the payment goes back.
    let blocks = deadline.saturating_sub(harness.height());
    mine(&harness, blocks);
    let failed = {
        let mut outcome = None;
        wait_until("the payer's payment fails back", || {
            let _ = alice.sync();
            let _ = bob.sync();
            outcome = alice.payment(&id).expect("read");
            outcome
                .as_ref()
                .is_some_and(|p| p.status == PaymentStatus::Failed)
        });
        outcome.expect("row")
    };
    assert_eq!(failed.status, PaymentStatus::Failed);
    let held = bob.payment(&id_of(&hash)).expect("read").expect("row");
    assert_eq!(held.claim_deadline_height, None, "nothing waits any more");
    assert!(matches!(
        bob.claim_for_hash(&hash, &PaymentPreimage(preimage)),
        Err(NodeError::NotClaimable(_))
    ));
    // Nothing was force-closed over it.
    assert!(alice.list_channels().iter().any(|c| c.is_usable));
    alice.stop().expect("stop");
    bob.stop().expect("stop");
}

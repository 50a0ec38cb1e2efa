//! Force closes at small balances — the case unpatched LDK gets wrong on Qtum — and a reorg of
//! the funding transaction. Every transaction the nodes broadcast must pass the harness's Qtum
//! policy (it refuses what qtumd refuses, dust included), and every output that reaches the
//! chain must be above Qtum's dust threshold.

mod common;

use common::*;
use qtum_lightning::qtum::policy::dust_threshold;
use qtum_lightning::{CloseKind, CloseSource, ClosingStatus, Event, PaymentStatus};
use qtum_regtest::node::RegtestNode;

/// Every output of every non-coinbase transaction in blocks above `from_height` is standard on
/// Qtum (at or above its dust threshold, or OP_RETURN). Returns how many transactions it saw.
fn assert_no_dust_since(harness: &RegtestNode, from_height: u32) -> usize {
    harness.with_chain(|chain| {
        let mut seen = 0;
        for height in from_height + 1..=chain.height() {
            let hash = chain.hash_at(height).expect("active block");
            let record = chain.block(&hash).expect("record");
            for tx in record.block.txdata.iter().skip(1) {
                seen += 1;
                for out in &tx.output {
                    assert!(
                        out.script_pubkey.is_op_return()
                            || out.value.to_sat() >= dust_threshold(&out.script_pubkey),
                        "dust output of {} sat in {} at height {height}",
                        out.value.to_sat(),
                        tx.compute_txid()
                    );
                }
            }
        }
        seen
    })
}

fn force_close_and_settle(
    harness: &RegtestNode,
    closer: &qtum_lightning::Node,
    other: &qtum_lightning::Node,
    channel_id: &qtum_lightning::ChannelId,
) {
    closer
        .force_close_channel(channel_id, None)
        .expect("force close");
    expect_event(closer, "closed (closer)", |e| {
        matches!(
            e,
            Event::ChannelClosed {
                kind: CloseKind::ForceClosedByUs,
                ..
            }
        )
    });
    wait_until("the peer sees the commitment on chain", || {
        mine(harness, 1);
        let _ = closer.sync();
        let _ = other.sync();
        other.list_channels().is_empty()
    });
    // Told by the closer's error message, or by the chain when the message was lost.
    expect_event(other, "closed (peer)", |e| {
        matches!(
            e,
            Event::ChannelClosed {
                kind: CloseKind::ForceClosedByPeer | CloseKind::CommitmentConfirmed,
                ..
            }
        )
    });
}

#[test]
fn dust_balances_force_closed_from_each_side() {
    let harness = harness();
    let start_height = harness.height();
    let alice = start_node(&harness, "dust-alice", 51);
    let bob = start_node(&harness, "dust-bob", 52);
    fund(&harness, &alice, 30 * QTUM);

    // 1. Bob holds 10,000 sat (below every Qtum dust threshold); Bob force-closes.
    let first = open_ready_channel(&harness, &alice, &bob, 10 * QTUM, Some(10_000_000));
    let alice_before = alice.onchain_balance().total_sat;
    force_close_and_settle(&harness, &bob, &alice, &first);
    // Alice's to_remote output is hers at once; the sweeper moves it into her wallet.
    wait_until("alice's channel funds swept back", || {
        mine(&harness, 1);
        let _ = alice.sync();
        let _ = bob.sync();
        alice.onchain_balance().total_sat > alice_before + 9 * QTUM
    });

    // 2. Bob holds 40,000 sat (above P2WPKH's 39,200 but below the 72,800 channel dust
    //    limit); Alice force-closes: her to_local waits out Bob's 5,400-block delay.
    let second = open_ready_channel(&harness, &alice, &bob, 10 * QTUM, Some(40_000_000));
    let alice_before = alice.onchain_balance().total_sat;
    let held = alice.balances();
    assert!(
        held.lightning_sat > 9 * QTUM && held.lightning_sat < 10 * QTUM - 40_000,
        "{held:?}"
    );
    force_close_and_settle(&harness, &alice, &bob, &second);
    // Gone from the channel list and not in the wallet for 5,400 blocks: the balances show
    // the funds maturing, with the height, and the total stays what it was (less the
    // commitment's fee, already out of lightning_sat).
    let height = harness.height();
    let waiting = alice.balances();
    assert_eq!(waiting.lightning_sat, 0, "{waiting:?}");
    let maturing: Vec<_> = waiting
        .closing
        .iter()
        .filter(|c| c.channel_id == Some(second))
        .collect();
    assert_eq!(maturing.len(), 1, "{waiting:?}");
    assert!(
        matches!(
            maturing[0].status,
            ClosingStatus::Maturing { maturity_height, source: CloseSource::ForceClosedByUs }
                if maturity_height > height + 5_000
        ),
        "{waiting:?}"
    );
    assert_eq!(maturing[0].amount_sat, held.lightning_sat);
    assert!(
        waiting.onchain.total_sat < alice_before + QTUM,
        "not in the wallet yet"
    );
    assert_eq!(
        waiting.total_sat, held.total_sat,
        "nothing vanished, nothing counted twice"
    );
    mine(&harness, 5_400);
    wait_until("alice's to_local swept after the delay", || {
        mine(&harness, 1);
        let _ = alice.sync();
        let _ = bob.sync();
        alice.onchain_balance().total_sat > alice_before + 9 * QTUM
    });
    // In the wallet now, and counted there only (the sweep's fee is the difference).
    wait_until("the sweep counted once", || {
        mine(&harness, 1);
        let _ = alice.sync();
        let now = alice.balances();
        now.closing_sat == 0 && now.total_sat == now.onchain.total_sat
    });
    let swept = alice.balances();
    assert!(
        swept.total_sat < held.total_sat && swept.total_sat > held.total_sat - QTUM / 100,
        "{swept:?} vs {held:?}"
    );

    // 3. A balance Bob can keep: 1 QTUM, and Alice force-closes again; Bob's to_remote comes
    //    back to Bob's wallet.
    let third = open_ready_channel(&harness, &alice, &bob, 10 * QTUM, Some(100_000_000_000));
    force_close_and_settle(&harness, &alice, &bob, &third);
    wait_until("bob's share swept to his wallet", || {
        mine(&harness, 1);
        let _ = bob.sync();
        bob.onchain_balance().total_sat >= QTUM - QTUM / 100
    });

    let seen = assert_no_dust_since(&harness, start_height);
    assert!(
        seen >= 8,
        "funding, commitments and sweeps all confirmed ({seen} transactions)"
    );
    alice.stop().expect("stop");
    bob.stop().expect("stop");
}

/// Bob's side of a force close is worth 80,000 sat: above the 72,800-sat dust limit of the
/// commitment, so it is an output, but below the 83,438 sat a lone `to_remote` needs to pay for
/// its sweep with a change output above dust at Qtum's floor. Unchecked, LDK would broadcast a
/// transaction with no outputs at every block. It must instead be reported, kept across a
/// restart, and swept together with the next output of a closed channel.
#[test]
fn balance_just_above_dust_waits_then_leaves_with_the_next_output() {
    use qtum_lightning::SweepStatus;

    let harness = harness();
    let start_height = harness.height();
    let alice = start_node(&harness, "small-alice", 53);
    let bob_config = config(&harness, "small-bob");
    let bob = build(bob_config.clone(), 54);
    bob.start().expect("start");
    fund(&harness, &alice, 30 * QTUM);
    let bob_start = bob.onchain_balance().total_sat;

    let small_sat = 80_000;
    let first = open_ready_channel(&harness, &alice, &bob, 10 * QTUM, Some(small_sat * 1_000));
    force_close_and_settle(&harness, &alice, &bob, &first);
    let waiting = |node: &qtum_lightning::Node| {
        node.pending_sweeps()
            .into_iter()
            .find(|p| matches!(p.status, SweepStatus::WaitingForFees { .. }))
    };
    wait_until("bob's small output reported as waiting", || {
        mine(&harness, 1);
        let _ = bob.sync();
        waiting(&bob).is_some()
    });
    let report = waiting(&bob).expect("reported");
    eprintln!("reported: {report:?}");
    assert_eq!(report.value_sat, small_sat);
    assert_eq!(report.channel_id, Some(first));
    let SweepStatus::WaitingForFees {
        batch_sat,
        needed_sat,
        fee_rate_sat_per_kw,
    } = report.status
    else {
        unreachable!()
    };
    assert_eq!(batch_sat, small_sat);
    assert!(needed_sat > small_sat, "a sweep needs {needed_sat}");
    assert!(fee_rate_sat_per_kw >= 101_000);

    // Still waiting after more blocks and a restart (the sweeper keeps it; the report comes
    // back at the next attempt), and nothing reached the wallet.
    mine(&harness, 20);
    bob.stop().expect("stop");
    drop(bob);
    let bob = build(bob_config, 54);
    bob.start().expect("restart");
    wait_until("still reported after the restart", || {
        mine(&harness, 1);
        let _ = bob.sync();
        waiting(&bob).is_some_and(|p| p.outpoint == report.outpoint)
    });
    assert_eq!(bob.pending_sweeps().len(), 1);
    assert_eq!(bob.onchain_balance().total_sat, bob_start);

    // A second channel closes with 1 QTUM on Bob's side: one sweep takes both outputs.
    let second = open_ready_channel(&harness, &alice, &bob, 10 * QTUM, Some(QTUM * 1_000));
    force_close_and_settle(&harness, &alice, &bob, &second);
    wait_until("both outputs swept in one confirmed transaction", || {
        mine(&harness, 1);
        let _ = bob.sync();
        let sweeps = bob.pending_sweeps();
        sweeps.len() == 2
            && sweeps
                .iter()
                .all(|p| matches!(p.status, SweepStatus::Confirmed { .. }))
    });
    let sweeps = bob.pending_sweeps();
    let txids: Vec<bitcoin::Txid> = sweeps
        .iter()
        .map(|p| match &p.status {
            SweepStatus::Confirmed { txid, .. } => *txid,
            other => panic!("not confirmed: {other:?}"),
        })
        .collect();
    assert_eq!(txids[0], txids[1], "one transaction spends both");
    wait_until("the wallet has both", || {
        let _ = bob.sync();
        bob.onchain_balance().total_sat > bob_start
    });
    let gained = bob.onchain_balance().total_sat - bob_start;
    // Two inputs and one output at a rate of at most 300,000 sat/kW cost under 200,000 sat.
    assert!(
        gained > small_sat + QTUM - 200_000 && gained < small_sat + QTUM,
        "bob gained {gained}"
    );
    assert_no_dust_since(&harness, start_height);
    assert_no_policy_refusals(&harness);
    alice.stop().expect("stop");
    bob.stop().expect("stop");
}

/// Mine `n` empty blocks (qtumd's `generateblock` with no transactions): the mempool waits.
fn mine_empty(harness: &RegtestNode, n: u32) {
    use qtum_lightning::qtum::address::QtumAddress;
    use qtum_lightning::qtum::network::Network;
    let client = qtum_chain::rpc::RpcClient::new(
        harness.url(),
        qtum_lightning::RpcAuth::UserPass {
            user: harness.rpc_user().into(),
            password: harness.rpc_password().into(),
        },
        std::time::Duration::from_secs(30),
    );
    let address = QtumAddress::from_script(&harness.wallet_script(), Network::Regtest)
        .expect("address")
        .to_string();
    for _ in 0..n {
        client
            .call("generateblock", serde_json::json!([address, []]))
            .expect("generateblock");
    }
}

#[test]
fn funding_reorged_out_before_it_is_buried_gives_no_false_ready() {
    let harness = harness();
    let alice = start_node(&harness, "reorg-alice", 61);
    let bob = start_node(&harness, "reorg-bob", 62);
    fund(&harness, &alice, 20 * QTUM);
    let uri = bob.node_uri().expect("uri");
    alice
        .open_channel(&uri, 10 * QTUM, None, false)
        .expect("open");
    expect_event(&alice, "pending", |e| {
        matches!(e, Event::ChannelPending { .. })
    });

    // The funding confirms at height h and gets 5 confirmations: one short of ready.
    let h = harness.height() + 1;
    mine(&harness, 5);
    alice.sync().expect("sync");
    bob.sync().expect("sync");
    assert_eq!(alice.list_channels()[0].confirmations, Some(5));

    // A reorg replaces h..h+4 with five empty blocks; the funding waits in the mempool and
    // confirms one block later, at h+5. The tip is now 6 blocks above the old confirmation.
    let old = harness.with_chain(|c| c.hash_at(h)).expect("block h");
    harness.invalidate_block(&old).expect("invalidate");
    mine_empty(&harness, 5);
    alice.sync().expect("sync");
    bob.sync().expect("sync");
    assert_eq!(
        alice.list_channels()[0].confirmations,
        Some(0),
        "unconfirmed by the reorg"
    );
    mine(&harness, 1);
    alice.sync().expect("sync");
    bob.sync().expect("sync");

    assert_eq!(alice.list_channels()[0].confirmations, Some(1));
    assert!(
        !alice.list_channels()[0].is_ready,
        "1 confirmation on the best chain is not 6"
    );
    while let Some(event) = alice.next_event() {
        assert!(
            !matches!(event, Event::ChannelReady { .. }),
            "no false ChannelReady"
        );
        alice.event_handled().expect("ack");
    }
    // Once really buried, it is ready.
    mine(&harness, 5);
    expect_event(&alice, "ready after the reorg", |e| {
        matches!(e, Event::ChannelReady { .. })
    });
    expect_event(&bob, "ready after the reorg", |e| {
        matches!(e, Event::ChannelReady { .. })
    });
}

#[test]
fn force_close_with_an_htlc_in_flight_resolves_on_chain() {
    let harness = harness();
    let start_height = harness.height();
    let alice = start_node(&harness, "htlc-alice", 63);
    // Bob keeps LDK's HTLC batching delay (2 s for the first batch): the HTLC is committed on
    // both sides but not yet claimed when Alice force-closes.
    let mut bob_config = config(&harness, "htlc-bob");
    bob_config.batch_htlc_processing = true;
    let bob = build(bob_config, 64);
    bob.start().expect("start");
    fund(&harness, &alice, 20 * QTUM);
    let channel = open_ready_channel(&harness, &alice, &bob, 10 * QTUM, None);
    let alice_channel_txo = alice.list_channels()[0].funding_txo.expect("funded");

    let amount_msat = QTUM * 1_000 / 2;
    let invoice = bob
        .receive(amount_msat, "in flight at the close", None)
        .expect("invoice");
    let id = alice.send(&invoice, None).expect("send");
    wait_until("the HTLC is committed on both sides", || {
        alice.list_channels().iter().any(|c| c.htlcs_in_flight == 1)
    });
    alice
        .force_close_channel(&channel, None)
        .expect("force close with the HTLC in flight");

    // Mine until the HTLC is settled on chain one way or the other (Bob claims it with the
    // preimage, or it times out back to Alice after its CLTV), then past Alice's delay until
    // everything is swept.
    wait_until("the payment is resolved on chain", || {
        mine(&harness, 20);
        let _ = alice.sync();
        let _ = bob.sync();
        alice
            .payment(&id)
            .ok()
            .flatten()
            .is_some_and(|p| p.status != PaymentStatus::Pending)
    });
    let settled = alice.payment(&id).expect("read").expect("row");
    mine(&harness, 5_400);
    let alice_before_sweeps = alice.onchain_balance().total_sat;
    wait_until("every output swept", || {
        mine(&harness, 1);
        let _ = alice.sync();
        let _ = bob.sync();
        let bob_ok = match settled.status {
            // Bob claimed the HTLC with its preimage: the 0.5 QTUM (less the claim fee) is his.
            PaymentStatus::Succeeded => bob.onchain_balance().total_sat > amount_msat / 1_000 / 2,
            _ => true,
        };
        let alice_now = alice.onchain_balance();
        // Swept and confirmed (nothing of hers left waiting in the mempool).
        alice_now.total_sat > alice_before_sweeps
            && alice_now.pending_incoming_sat == 0
            && alice_now.unconfirmed_sat == 0
            && bob_ok
    });
    let seen = assert_no_dust_since(&harness, start_height);
    // Whether the commitment on chain carried the HTLC: Bob may have settled it off-chain in
    // the moment before the force close (his batching delay is short), and then there is no
    // HTLC transaction to see.
    let htlc_on_chain = harness.with_chain(|chain| {
        (start_height + 1..=chain.height()).any(|height| {
            let hash = chain.hash_at(height).expect("active block");
            let record = chain.block(&hash).expect("record");
            record.block.txdata.iter().any(|tx| {
                tx.output
                    .iter()
                    .any(|o| o.value.to_sat() == amount_msat / 1_000)
                    && tx
                        .input
                        .iter()
                        .any(|i| i.previous_output.txid == alice_channel_txo.txid)
            })
        })
    });
    // Funding of Alice, channel funding, commitment, the HTLC's claim or timeout when it was on
    // chain, and Alice's sweeps.
    let expected = if htlc_on_chain { 5 } else { 4 };
    assert!(
        seen >= expected,
        "funding, commitment, HTLC ({htlc_on_chain}) and sweep transactions ({seen})"
    );
}

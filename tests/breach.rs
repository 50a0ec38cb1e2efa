//! A revoked commitment is punished.
//!
//! Node A (ours) and node B (the cheater) share a channel. B keeps a copy of its database from
//! when it held most of the channel, pays most of it to A, then restores the copy while A is
//! offline and force-closes: its broadcast commitment is a revoked one. A comes back 2,000
//! blocks later (well inside the 5,400-block `to_self_delay` B's output waits under), sees the
//! revoked commitment, and takes everything with a justice transaction; B gets nothing back,
//! even after its delay has passed.
//!
//! Node logs: `E2E_LOG=debug cargo test --test breach -- --nocapture`.

mod common;

use std::path::Path;
use std::time::{Duration, Instant};

use bitcoin::{OutPoint, Transaction, Txid};
use common::*;
use qtum_lightning::{Config, Event, Node};
use qtum_regtest::node::RegtestNode;

/// Blocks A stays offline after B's revoked commitment confirmed: a good share of the
/// 5,400-block `to_self_delay`.
const OFFLINE_BLOCKS: u32 = 2_000;
const CHUNK: u32 = 100;

/// The most A can lose to fees: the commitment B broadcast (724 weight units without HTLCs,
/// paid out of A's side as the funder), the justice transaction (one revoked `to_local` input
/// and one output, 485 WU) and the sweep of A's `to_remote` output (one P2WPKH input and
/// output, about 440 WU): 1,649 WU, bounded by 1,700. The commitment rate is capped at 300,000
/// sat/kW, and claims and sweeps are paid at the SDK's estimates (200,000 sat/kW at most with
/// no fee data, 300,000 with a live estimate at the cap) plus one 25 % RBF bump if a claim
/// waits a block: 375 sat per weight unit. 1,700 × 375 = 637,500 sat (0.0064 QTUM); at the
/// 101,000 sat/kW floor the same three transactions cost about 166,500 sat.
const FEE_BOUND_SAT: u64 = 1_700 * 375;

// ----- helpers -----

/// Every event of a node, acknowledged as read and printed.
fn pump(name: &str, node: &Node, seen: &mut Vec<Event>) {
    while let Some(event) = node.next_event() {
        eprintln!("{name}: event {event:?}");
        node.event_handled().expect("ack");
        seen.push(event);
    }
}

fn wait_event(
    name: &str,
    node: &Node,
    seen: &mut Vec<Event>,
    what: &str,
    matches: impl Fn(&Event) -> bool,
) -> Event {
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        pump(name, node, seen);
        if let Some(event) = seen.iter().find(|e| matches(e)) {
            return event.clone();
        }
        assert!(
            Instant::now() < deadline,
            "{name}: gave up waiting for {what}"
        );
        let _ = node.sync();
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn channel(node: &Node, channel_id: &qtum_lightning::ChannelId) -> qtum_lightning::ChannelInfo {
    node.list_channels()
        .into_iter()
        .find(|c| c.channel_id == *channel_id)
        .unwrap_or_else(|| panic!("channel {channel_id} is listed"))
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("mkdir");
    for entry in std::fs::read_dir(from).expect("read dir") {
        let entry = entry.expect("entry");
        let target = to.join(entry.file_name());
        if entry.file_type().expect("type").is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).expect("copy");
        }
    }
}

fn empty_dir(dir: &Path) {
    for entry in std::fs::read_dir(dir).expect("read dir") {
        let path = entry.expect("entry").path();
        if path.is_dir() {
            std::fs::remove_dir_all(&path).expect("rm -r");
        } else {
            std::fs::remove_file(&path).expect("rm");
        }
    }
}

fn mine_syncing(harness: &RegtestNode, node: &Node, blocks: u32) {
    let mut left = blocks;
    while left > 0 {
        let n = left.min(CHUNK);
        mine(harness, n);
        left -= n;
        node.sync().expect("sync");
    }
}

/// The confirmed transaction spending `outpoint`, and its height.
fn spender(harness: &RegtestNode, outpoint: &OutPoint) -> Option<(Transaction, u32)> {
    harness.with_chain(|chain| {
        let info = chain.spent_info(outpoint)?;
        let (tx, _, _) = chain.confirmed_tx(&info.txid)?;
        Some((tx.clone(), info.height))
    })
}

fn output_sum(tx: &Transaction) -> u64 {
    tx.output.iter().map(|o| o.value.to_sat()).sum()
}

fn feerate_sat_per_kw(fee_sat: u64, tx: &Transaction) -> u64 {
    fee_sat * 1_000 / tx.weight().to_wu()
}

#[test]
fn a_revoked_commitment_is_punished_with_a_justice_transaction() {
    init_logs();
    let harness = harness();
    let a_config = config(&harness, "breach-a");
    let b_config: Config = config(&harness, "breach-b");
    let a = build(a_config.clone(), 121);
    a.start().expect("a starts");
    let b = build(b_config.clone(), 122);
    b.start().expect("b starts");
    let (mut a_seen, mut b_seen) = (Vec::new(), Vec::new());
    fund(&harness, &a, 20 * QTUM);
    let channel_id = open_ready_channel(&harness, &a, &b, 10 * QTUM, None);
    let info = channel(&a, &channel_id);
    let capacity_sat = info.capacity_sat;
    let funding: OutPoint = info.funding_txo.expect("funded");

    // B gets a large balance: 6 QTUM in two payments.
    pay(&a, &b, 3 * QTUM * 1_000);
    pay(&a, &b, 3 * QTUM * 1_000);
    wait_until("B's commitment holds its 6 QTUM", || {
        channel(&b, &channel_id).balance_sat == 6 * QTUM
    });
    wait_settled(&a, &b);
    let b_old_sat = channel(&b, &channel_id).balance_sat;
    let a_old_sat = channel(&a, &channel_id).balance_sat;
    eprintln!("old state: A {a_old_sat} sat, B {b_old_sat} sat");

    // B's "old database": a copy of its whole storage directory, taken while it is stopped.
    b.stop().expect("b stops");
    drop(b);
    let old_copy = temp_dir("breach-b-old-database");
    copy_dir(&b_config.storage_dir, &old_copy);
    let b = build(b_config.clone(), 122);
    b.start().expect("b starts again");
    wait_until("reconnected", || {
        channel(&a, &channel_id).is_usable && channel(&b, &channel_id).is_usable
    });

    // B pays most of it back: the old state is revoked, and it favours B.
    for amount_msat in [2 * QTUM * 1_000, 2 * QTUM * 1_000, 3 * QTUM * 1_000 / 2] {
        pay(&b, &a, amount_msat);
    }
    wait_until("B's commitment holds its 0.5 QTUM", || {
        channel(&b, &channel_id).balance_sat == QTUM / 2
    });
    wait_settled(&a, &b);
    let b_new_sat = channel(&b, &channel_id).balance_sat;
    assert!(
        b_new_sat < b_old_sat,
        "the old state favours B ({b_old_sat} > {b_new_sat} sat)"
    );
    eprintln!(
        "latest state: A {} sat, B {b_new_sat} sat",
        channel(&a, &channel_id).balance_sat
    );
    pump("a", &a, &mut a_seen);
    pump("b", &b, &mut b_seen);

    // A goes offline; B restores its old database and force-closes.
    let a_onchain_before = a.onchain_balance();
    assert_eq!(
        a_onchain_before.unconfirmed_sat + a_onchain_before.pending_incoming_sat,
        0,
        "A's wallet is settled"
    );
    let a_before = a_onchain_before.total_sat;
    a.stop().expect("a stops");
    drop(a);
    b.stop().expect("b stops");
    drop(b);
    empty_dir(&b_config.storage_dir);
    copy_dir(&old_copy, &b_config.storage_dir);
    let b = build(b_config.clone(), 122);
    b.start().expect("b starts from its old database");
    assert_eq!(
        channel(&b, &channel_id).balance_sat,
        b_old_sat,
        "B is back at the old state"
    );
    let b_onchain_before = b.onchain_balance().total_sat;
    b.force_close_channel(&channel_id, Some("cheating".into()))
        .expect("B force-closes with its revoked commitment");
    wait_event(
        "b",
        &b,
        &mut b_seen,
        "B's close",
        |e| matches!(e, Event::ChannelClosed { channel_id: c, .. } if *c == channel_id),
    );
    let commitment_txid: Txid = {
        let mut found = None;
        wait_until("the revoked commitment in the mempool", || {
            found = harness.with_chain(|c| c.mempool.spender(&funding));
            found.is_some()
        });
        found.expect("spender")
    };
    mine(&harness, 1);
    let (commitment, commitment_height) = spender(&harness, &funding).expect("confirmed");
    assert_eq!(commitment.compute_txid(), commitment_txid);
    // B's `to_local` is the P2WSH output (no HTLC is pending), A's `to_remote` the P2WPKH one.
    let vout_of = |p2wsh: bool| {
        let outputs: Vec<u32> = (0..commitment.output.len() as u32)
            .filter(|&i| commitment.output[i as usize].script_pubkey.is_p2wsh() == p2wsh)
            .collect();
        assert_eq!(outputs.len(), 1, "{commitment:?}");
        OutPoint::new(commitment_txid, outputs[0])
    };
    let to_local = vout_of(true);
    let to_remote = vout_of(false);
    let to_local_sat = commitment.output[to_local.vout as usize].value.to_sat();
    let to_remote_sat = commitment.output[to_remote.vout as usize].value.to_sat();
    let commitment_fee = capacity_sat - output_sum(&commitment);
    eprintln!(
        "revoked commitment {commitment_txid} at height {commitment_height}: B's to_local \
         {to_local_sat} sat, A's to_remote {to_remote_sat} sat, fee {commitment_fee} sat \
         ({} sat/kW)",
        feerate_sat_per_kw(commitment_fee, &commitment)
    );
    assert_eq!(to_local_sat, b_old_sat, "B's to_local is its old balance");
    assert_eq!(
        to_remote_sat, a_old_sat,
        "A's to_remote is its old balance (the funder's, less the commitment fee)"
    );

    // A stays offline for 2,000 blocks; B syncs along.
    mine_syncing(&harness, &b, OFFLINE_BLOCKS);
    assert!(
        harness.with_chain(|c| c.utxo(&to_local).is_some()),
        "B's to_local is still unspent (its delay has not passed)"
    );
    // B is offline too when A comes back: A learns of the breach from the chain alone.
    b.stop().expect("b stops");
    drop(b);

    eprintln!("A comes back at height {}", harness.height());
    let a = build(a_config.clone(), 121);
    a.start().expect("a starts again");
    let closed = wait_event(
        "a",
        &a,
        &mut a_seen,
        "A's close",
        |e| matches!(e, Event::ChannelClosed { channel_id: c, .. } if *c == channel_id),
    );
    let Event::ChannelClosed { reason, .. } = &closed else {
        unreachable!()
    };
    eprintln!("A: channel closed: {reason}");
    assert!(
        reason.contains("commitment or closing transaction was confirmed on chain"),
        "A closed the channel because the commitment confirmed: {reason}"
    );

    // The justice transaction, and the sweep of A's own output.
    wait_until("B's to_local and A's to_remote are claimed", || {
        mine(&harness, 1);
        let _ = a.sync();
        spender(&harness, &to_local).is_some() && spender(&harness, &to_remote).is_some()
    });
    let (justice, justice_height) = spender(&harness, &to_local).expect("justice");
    let (sweep, _) = spender(&harness, &to_remote).expect("sweep");
    let justice_input = justice
        .input
        .iter()
        .find(|i| i.previous_output == to_local)
        .expect("spends to_local");
    // The revocation branch of the to_local script: <revocation sig> <1> <witness script>.
    // B's own delayed branch would carry an empty element instead of 1.
    assert_eq!(justice_input.witness.len(), 3, "{justice:?}");
    assert_eq!(
        justice_input.witness.nth(1),
        Some(&[1u8][..]),
        "the justice transaction takes the revocation branch"
    );
    assert!(
        justice_height < commitment_height + u32::from(TEST_TO_SELF_DELAY),
        "claimed before B's delay ran out"
    );
    let justice_fee = to_local_sat - output_sum(&justice);
    let sweep_fee = to_remote_sat - output_sum(&sweep);
    eprintln!(
        "justice {} at height {justice_height}: fee {justice_fee} sat ({} sat/kW); sweep {}: \
         fee {sweep_fee} sat ({} sat/kW)",
        justice.compute_txid(),
        feerate_sat_per_kw(justice_fee, &justice),
        sweep.compute_txid(),
        feerate_sat_per_kw(sweep_fee, &sweep)
    );

    // A's wallet: everything the justice transaction and the sweep pay is A's.
    wait_until("A's wallet has both, confirmed", || {
        mine(&harness, 1);
        let _ = a.sync();
        let balance = a.onchain_balance();
        balance.unconfirmed_sat == 0
            && balance.pending_incoming_sat == 0
            && balance.total_sat > a_before
    });
    let a_after = a.onchain_balance().total_sat;
    let gained = a_after - a_before;
    eprintln!(
        "A's wallet: {a_before} -> {a_after} sat, gained {gained} of a {capacity_sat}-sat \
         channel (fees {} sat, bound {FEE_BOUND_SAT})",
        capacity_sat - gained
    );
    assert_eq!(
        gained,
        output_sum(&justice) + output_sum(&sweep),
        "A's wallet holds what the justice transaction and the sweep pay"
    );
    assert!(
        gained + FEE_BOUND_SAT >= capacity_sat,
        "A took the whole channel less fees: gained {gained}, capacity {capacity_sat}"
    );
    assert_eq!(
        capacity_sat - gained,
        commitment_fee + justice_fee + sweep_fee,
        "what A did not get went to fees"
    );
    pump("a", &a, &mut a_seen);
    assert_eq!(
        a_seen
            .iter()
            .filter(|e| matches!(e, Event::ChannelClosed { .. }))
            .count(),
        1,
        "one close on A"
    );

    // B comes back and waits out its delay: its sweeper finds its to_local spent.
    let refused_before = harness.refused_transactions().len();
    let b = build(b_config.clone(), 122);
    b.start().expect("b starts again");
    let past_delay = commitment_height + u32::from(TEST_TO_SELF_DELAY) + 10;
    let now = harness.height();
    mine_syncing(&harness, &b, past_delay.saturating_sub(now));
    // B's monitor hands its to_local to the sweeper once the delay is over; the sweeper's
    // spend (every 30 s) is refused: the output is already spent by the justice transaction.
    let mut refusal = None;
    wait_until("B's sweep of its to_local refused", || {
        mine(&harness, 1);
        let _ = b.sync();
        let _ = a.sync();
        std::thread::sleep(Duration::from_millis(500));
        refusal = harness.refused_transactions()[refused_before..]
            .iter()
            .find(|(_, reason)| reason.starts_with("bad-txns-inputs-missingorspent"))
            .cloned();
        refusal.is_some()
    });
    let (refused_txid, reason) = refusal.expect("refused");
    eprintln!("B's sweep {refused_txid} refused: {reason}");
    pump("b", &b, &mut b_seen);
    let b_after = b.onchain_balance();
    eprintln!(
        "B's wallet at height {}: {b_onchain_before} -> {} sat ({b_after:?})",
        harness.height(),
        b_after.total_sat
    );
    assert!(
        b_after.total_sat + b_after.unconfirmed_sat + b_after.pending_incoming_sat
            <= b_onchain_before,
        "B got nothing back of its {b_old_sat} sat"
    );
    assert_eq!(
        harness.with_chain(|c| c.spent_info(&to_local).map(|s| s.txid)),
        Some(justice.compute_txid()),
        "the to_local output stays A's"
    );
    assert_eq!(
        a.onchain_balance().total_sat,
        a_after,
        "A's wallet did not move since"
    );
    assert_no_policy_refusals(&harness);
    let _ = std::fs::remove_dir_all(&old_copy);
    a.stop().expect("stop");
    b.stop().expect("stop");
}

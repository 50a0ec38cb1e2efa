//! Recovery without any backup: a phone whose node directory is gone, restored from its seed
//! alone.
//!
//! The on-chain wallet comes back from the seed. For the channel, the restored node connects to
//! its peer; the peer still has the channel, LDK answers its `channel_reestablish` with the
//! data-loss one, and the peer force-closes with its latest commitment. With recovery on, the
//! node finds its output in that commitment (one of its 1,000 seed-derived `to_remote` keys),
//! tells the app (`ChannelFundsRecovered`, the report) and sweeps it to the wallet. The amount
//! is checked against the commitment on chain and against the channel balance before the loss.
//! A channel opened afterwards and force-closed by the peer while recovery is still on is left
//! to its monitor: its output reaches the wallet once, and the report does not claim it.
//!
//! Node logs: `E2E_LOG=debug cargo test --test recovery -- --nocapture`.

mod common;

use std::time::{Duration, Instant};

use common::*;
use qtum_lightning::{Event, RecoveredOutput, SweepStatus};

const A_SEED: u8 = 0x51;
const B_SEED: u8 = 0x52;

#[test]
fn a_node_restored_from_its_seed_alone_gets_its_channel_balance_back_through_the_peer() {
    init_logs();
    let harness = harness();
    let a_config = config(&harness, "nobackup-a");
    let a = build(a_config.clone(), A_SEED);
    a.start().expect("a starts");
    let b = channel_to_new_peer(&harness, &a, "nobackup-b", B_SEED);
    for _ in 0..3 {
        pay(&a, &b, 10_000_000_000);
    }
    pay(&b, &a, 2_000_000_000);
    wait_settled(&a, &b);
    let balance_sat = a.list_channels()[0].balance_sat;
    let funding = a.list_channels()[0].funding_txo.expect("funded");
    let wallet_sat = a.onchain_balance().total_sat;
    assert!(wallet_sat > 0, "the funding left change in the wallet");
    let b_uri = b.node_uri().expect("b listens");

    // The phone is lost with its whole directory, and no backup exists.
    a.stop().expect("stop");
    drop(a);
    std::fs::remove_dir_all(&a_config.storage_dir).expect("wipe");

    // A new device: the same seed, nothing else.
    let a = build(a_config.clone(), A_SEED);
    a.start().expect("the restored node starts");
    assert!(
        a.channel_recovery().is_none(),
        "recovery is the app's choice"
    );
    let report = a.start_channel_recovery().expect("recovery starts");
    assert!(report.found.is_empty());
    assert!(report.notice.contains("force-closes"), "{}", report.notice);
    // The wallet comes back from the seed.
    wait_until("the wallet is restored", || {
        let _ = a.sync();
        a.onchain_balance().total_sat == wallet_sat
    });
    assert!(
        a.list_channels().is_empty(),
        "no channel state without a backup"
    );

    // Connecting is enough: the peer force-closes with its latest commitment.
    a.connect(&b_uri, true).expect("connect to the peer");
    expect_event(&b, "the peer closes", |e| {
        matches!(e, Event::ChannelClosed { .. })
    });
    let deadline = Instant::now() + Duration::from_secs(180);
    let mut recovered: Option<(bitcoin::OutPoint, u64)> = None;
    while recovered.is_none() {
        assert!(
            Instant::now() < deadline,
            "the peer's close never reached the report"
        );
        mine(&harness, 1);
        let _ = a.sync();
        while let Some(event) = a.next_event() {
            if let Event::ChannelFundsRecovered {
                outpoint,
                amount_sat,
            } = event
            {
                recovered = Some((outpoint, amount_sat));
            }
            a.event_handled().expect("ack");
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    let (outpoint, amount_sat) = recovered.expect("found");

    // The output is in the peer's commitment (the transaction that spent the funding output),
    // with the value the event gives.
    let commitment_txid = harness
        .with_chain(|chain| chain.spent_info(&funding))
        .expect("the funding output is spent")
        .txid;
    assert_eq!(outpoint.txid, commitment_txid);
    let commitment = harness
        .with_chain(|chain| {
            chain
                .confirmed_tx(&commitment_txid)
                .map(|(tx, _, _)| tx.clone())
        })
        .expect("the commitment is on chain");
    assert_eq!(
        commitment.output[outpoint.vout as usize].value.to_sat(),
        amount_sat
    );
    // A's balance before the loss, less the commitment's fee (A opened the channel, so A pays
    // it: at most 724 WU at Qtum's floor plus the estimate's headroom).
    assert!(
        amount_sat <= balance_sat && amount_sat + 724 * 250 >= balance_sat,
        "recovered {amount_sat} sat of a {balance_sat} sat balance"
    );
    let report = a.channel_recovery().expect("still on");
    assert_eq!(
        report.found,
        vec![RecoveredOutput {
            outpoint,
            amount_sat,
            height: report.found[0].height,
        }]
    );
    assert_eq!(report.found_sat, amount_sat);

    // The sweeper brings it to the wallet: the amount less one sweep's fee (one P2WPKH input
    // and output, at most 440 WU at 375 sat/WU).
    let deadline = Instant::now() + Duration::from_secs(180);
    loop {
        let _ = a.sync();
        let total = a.onchain_balance().confirmed_sat;
        if total > wallet_sat {
            let swept = total - wallet_sat;
            assert!(
                swept <= amount_sat && swept + 440 * 375 >= amount_sat,
                "swept {swept} of {amount_sat} sat"
            );
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the found output never reached the wallet"
        );
        mine(&harness, 1);
        std::thread::sleep(Duration::from_millis(300));
    }

    // A channel opened while recovery is on belongs to its monitor. When the peer force-closes
    // it, its output pays one of the same 1,000 keys: the scan must leave it to the monitor (one
    // output handed to the sweeper twice would go twice into one sweep, which no node accepts,
    // and the sweep would never confirm).
    let channel_id = open_ready_channel(&harness, &a, &b, QTUM / 2, None);
    pay(&a, &b, 5_000_000_000);
    wait_settled(&a, &b);
    let wallet_sat = a.onchain_balance().confirmed_sat;
    b.force_close_channel(&channel_id, None)
        .expect("b force-closes");
    let deadline = Instant::now() + Duration::from_secs(180);
    loop {
        let _ = a.sync();
        while a.next_event().is_some() {
            a.event_handled().expect("ack");
        }
        // LDK keeps a swept output listed, as confirmed, for thousands of blocks.
        let sweeps = a.pending_sweeps();
        if a.onchain_balance().confirmed_sat > wallet_sat
            && sweeps.len() == 2
            && sweeps
                .iter()
                .all(|s| matches!(s.status, SweepStatus::Confirmed { .. }))
        {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the live channel's output never settled in the wallet: {:?}",
            a.pending_sweeps()
        );
        mine(&harness, 1);
        std::thread::sleep(Duration::from_millis(300));
    }
    let sweeps = a.pending_sweeps();
    assert_eq!(
        sweeps
            .iter()
            .filter(|s| s.channel_id == Some(channel_id))
            .count(),
        1,
        "the monitor's claim: {sweeps:?}"
    );
    let report = a.channel_recovery().expect("still on");
    assert_eq!(
        report.found.len(),
        1,
        "the monitor's close is not a recovery's: {report:?}"
    );

    // Recovery stays on across a restart, with what it found; the app turns it off.
    a.stop().expect("stop");
    drop(a);
    let a = build(a_config.clone(), A_SEED);
    let report = a.channel_recovery().expect("still on after a restart");
    assert_eq!(report.found_sat, amount_sat);
    a.stop_channel_recovery().expect("off");
    assert!(a.channel_recovery().is_none());
    drop(a);
    let a = build(a_config, A_SEED);
    assert!(a.channel_recovery().is_none(), "off stays off");
    b.stop().expect("stop");
    assert_no_policy_refusals(&harness);
}

//! Encrypted backup files: export, loss of the device, restore from the seed and the file.
//!
//! 1. A current backup brings back the channel (usable both ways), the payment history and the
//!    exact balances; until the peer has confirmed the restored state no commitment can be
//!    broadcast (a force close is refused). A restore over a node, another seed, another
//!    network and a damaged file are refused with typed errors; the same restore retried opens
//!    the node it restored.
//! 2. A stale backup (taken before 20 more payments) is restored safely: on reconnecting, the
//!    peer proves the state stale, the node closes the channel without broadcasting its revoked
//!    commitment, the peer force-closes with its latest one, and the node's latest balance (not
//!    the stale one) comes back to its wallet.
//!
//! 3. Backups taken while payments run are each a consistent copy: every one of them builds into
//!    a node whose manager and monitors agree (LDK closes a channel at load when they do not).
//!
//! Node logs: `E2E_LOG=debug cargo test --test backup -- --nocapture`.

mod common;

use std::path::Path;
use std::time::{Duration, Instant};

use bitcoin::hex::FromHex;
use common::*;
use qtum_lightning::qtum::network::Network;
use qtum_lightning::{
    BuildError, Builder, ChainSourceConfig, CloseKind, Config, Event, Node, NodeError,
    PaymentDirection, PaymentFilter, PaymentStatus,
};
use qtum_regtest::node::RegtestNode;

const A_SEED: u8 = 0x41;
const B_SEED: u8 = 0x42;

fn restore(config: Config, seed: u8, file: &Path) -> Result<Node, BuildError> {
    let mut builder = Builder::new(config);
    builder.set_entropy_seed_bytes(&[seed; 32]);
    builder.set_restore_from_backup_file(file);
    builder.build()
}

fn refused(built: Result<Node, BuildError>, what: &str) -> BuildError {
    match built {
        Ok(_) => panic!("{what}: the restore was accepted"),
        Err(e) => e,
    }
}

fn history(node: &Node) -> Vec<(String, PaymentDirection, PaymentStatus, Option<u64>)> {
    let mut list: Vec<_> = node
        .list_payments(PaymentFilter::default())
        .expect("list")
        .into_iter()
        .map(|p| (p.id.to_string(), p.direction, p.status, p.amount_msat))
        .collect();
    list.sort_by(|x, y| x.0.cmp(&y.0));
    list
}

/// A and B with a 1 QTUM channel from A, both running. `a_config` is A's configuration.
fn pair(harness: &RegtestNode, a_config: Config) -> (Node, Node, Config) {
    let a = build(a_config.clone(), A_SEED);
    a.start().expect("a starts");
    let b = channel_to_new_peer(harness, &a, "backup-b", B_SEED);
    (a, b, a_config)
}

#[test]
fn a_current_backup_restores_channels_history_and_balances() {
    init_logs();
    let harness = harness();
    let (a, b, a_config) = pair(&harness, config(&harness, "backup-a"));
    for amount in [400_000_000, 500_000_000, 600_000_000] {
        pay(&a, &b, amount);
    }
    pay(&b, &a, 2_000_000);
    wait_settled(&a, &b);

    let file = temp_dir("backup-file").join("a.qtumln-backup");
    // Never into the node's own directory (it could replace the database), never a directory.
    for bad in [
        a_config.storage_dir.join("node.sqlite"),
        a_config.storage_dir.join("copy"),
        temp_dir("backup-dir"),
    ] {
        match a.export_backup(&bad) {
            Err(NodeError::InvalidInput(_)) => {}
            other => panic!("{}: {other:?}", bad.display()),
        }
    }
    let info = a.export_backup(&file).expect("export");
    assert_eq!(info.channel_count, 1);
    assert_eq!(
        info.size_bytes,
        std::fs::metadata(&file).expect("file").len()
    );
    let before_channels = a.list_channels();
    let before_history = history(&a);
    let before_onchain = a.onchain_balance();
    assert_eq!(before_history.len(), 4);

    // The phone is lost: the node stops and its whole directory goes. B is offline for now.
    b.stop().expect("b stops");
    a.stop().expect("stop");
    drop(a);
    std::fs::remove_dir_all(&a_config.storage_dir).expect("wipe");

    // Refusals first: none of them may leave anything behind in the empty directory.
    let mut other_seed = Builder::new(a_config.clone());
    other_seed.set_entropy_seed_bytes(&[0x43; 32]);
    other_seed.set_restore_from_backup_file(&file);
    let err = refused(other_seed.build(), "another seed");
    assert!(matches!(err, BuildError::BackupWrongSeed(_)), "{err}");
    let mut mainnet = a_config.clone();
    mainnet.network = Network::Mainnet;
    mainnet.storage_dir = temp_dir("backup-mainnet");
    let err = refused(restore(mainnet, A_SEED, &file), "another network");
    assert!(matches!(err, BuildError::BackupWrongNetwork(_)), "{err}");
    let damaged = file.with_extension("damaged");
    let mut bytes = std::fs::read(&file).expect("read");
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0x80;
    std::fs::write(&damaged, &bytes).expect("write");
    let err = refused(restore(a_config.clone(), A_SEED, &damaged), "damaged");
    assert!(matches!(err, BuildError::BackupInvalid(_)), "{err}");
    let err = refused(
        restore(
            a_config.clone(),
            A_SEED,
            &a_config.storage_dir.join("missing"),
        ),
        "no such file",
    );
    assert!(matches!(err, BuildError::BackupInvalid(_)), "{err}");
    assert!(
        !a_config.storage_dir.join("node.sqlite").exists(),
        "a refused restore left a database behind"
    );

    let a = restore(a_config.clone(), A_SEED, &file).expect("restore");
    a.start().expect("restored node starts");
    // A second restore into the directory of a running node is refused.
    let err = refused(
        restore(a_config.clone(), A_SEED, &file),
        "over a running node",
    );
    assert!(matches!(err, BuildError::StorageLocked(_)), "{err}");
    // Until B has confirmed A's state, A's commitment may be revoked: it is not broadcast, and
    // a force close is refused.
    let channel_id = before_channels[0].channel_id;
    match a.force_close_channel(&channel_id, None) {
        Err(NodeError::ChannelFailed(why)) => assert!(why.contains("restored"), "{why}"),
        other => panic!("force close of an unconfirmed restored channel: {other:?}"),
    }
    assert!(
        a.status()
            .degraded_reasons
            .iter()
            .any(|r| r.contains("restored from a backup")),
        "{:?}",
        a.status().degraded_reasons
    );
    b.start().expect("b is back");

    assert_eq!(history(&a), before_history, "payment history");
    let after = a.list_channels();
    assert_eq!(after.len(), 1);
    assert_eq!(after[0].channel_id, before_channels[0].channel_id);
    assert_eq!(after[0].balance_sat, before_channels[0].balance_sat);
    assert_eq!(
        after[0].outbound_capacity_msat,
        before_channels[0].outbound_capacity_msat
    );
    wait_until("the restored wallet sees its coins", || {
        let _ = a.sync();
        a.onchain_balance().confirmed_sat == before_onchain.confirmed_sat
    });

    // The channel works both ways with the peer it knew (reconnected from the stored peers).
    wait_until("channel usable after restore", || {
        a.list_channels().iter().any(|c| c.is_usable)
    });
    wait_until("B confirmed the restored state", || {
        !a.status()
            .degraded_reasons
            .iter()
            .any(|r| r.contains("restored from a backup"))
    });
    pay(&a, &b, 3_000_000);
    pay(&b, &a, 1_000_000);
    wait_settled(&a, &b);
    let channel = &a.list_channels()[0];
    assert_eq!(
        channel.outbound_capacity_msat + 2_000_000,
        before_channels[0].outbound_capacity_msat,
        "the balance moved by exactly the two payments"
    );
    assert!(a
        .list_channels()
        .iter()
        .all(|c| c.channel_id == before_channels[0].channel_id));
    let latest = a.list_channels()[0].balance_sat;
    let newer = temp_dir("backup-newer").join("a.qtumln-backup");
    a.export_backup(&newer).expect("export again");
    a.stop().expect("stop");
    drop(a);
    // Over the stopped node: another backup is refused; the same one (a build retried after
    // its restore) opens the node as it is now, without restoring anything over it.
    let err = refused(restore(a_config.clone(), A_SEED, &newer), "another backup");
    assert!(matches!(err, BuildError::RestoreTargetNotEmpty(_)), "{err}");
    let again = restore(a_config.clone(), A_SEED, &file).expect("the same backup again");
    assert_eq!(again.list_channels()[0].balance_sat, latest);
    drop(again);
    b.stop().expect("stop");
}

#[test]
fn a_stale_backup_closes_without_broadcasting_and_the_latest_balance_comes_back() {
    init_logs();
    let harness = harness();
    // A reaches the chain through an Esplora server behind a proxy that records every
    // transaction A broadcasts.
    let server = esplora_server(&harness);
    let proxy = common::fee_proxy::FeeProxy::start(&server.url());
    let mut a_config = config(&harness, "stale-a");
    a_config.chain_source = ChainSourceConfig::esplora(proxy.url());
    let (a, b, a_config) = pair(&harness, a_config);
    for _ in 0..5 {
        pay(&a, &b, 1_000_000);
    }
    wait_settled(&a, &b);
    let file = temp_dir("stale-backup").join("a.qtumln-backup");
    a.export_backup(&file).expect("export");
    let stale_balance_sat = a.list_channels()[0].balance_sat;

    // 20 more payments after the backup: its state is 40 commitments old.
    for _ in 0..20 {
        pay(&a, &b, 2_000_000);
    }
    wait_settled(&a, &b);
    let latest_balance_sat = a.list_channels()[0].balance_sat;
    assert!(latest_balance_sat + 40_000 <= stale_balance_sat);
    let onchain_before = a.onchain_balance().confirmed_sat;
    let funding = a.list_channels()[0].funding_txo.expect("funded");

    a.stop().expect("stop");
    drop(a);
    std::fs::remove_dir_all(&a_config.storage_dir).expect("wipe");

    let a = restore(a_config.clone(), A_SEED, &file).expect("restore the stale backup");
    a.start().expect("starts");
    // On reconnecting, B proves A's state stale: A closes without broadcasting.
    let closed = expect_event(&a, "the stale channel closes", |e| {
        matches!(e, Event::ChannelClosed { .. })
    });
    let Event::ChannelClosed { kind, reason, .. } = &closed else {
        unreachable!()
    };
    assert_eq!(*kind, CloseKind::StaleState, "{reason}");
    // B force-closes on A's error with its latest commitment.
    expect_event(&b, "the peer closes", |e| {
        matches!(e, Event::ChannelClosed { .. })
    });

    // The commitment that spends the funding output is B's: A's revoked one never reaches the
    // chain (a broadcast of it would be refused as a conflict or would win, and then B's
    // justice transaction would take everything; neither may happen).
    mine(&harness, 1);
    wait_until("a commitment confirms", || {
        harness.with_chain(|chain| chain.spent_info(&funding).is_some())
    });
    // A's output in B's commitment is spendable at once (static_remotekey): the sweeper takes
    // it to the wallet. Every block, sync and let the sweeper act.
    let deadline = Instant::now() + Duration::from_secs(180);
    loop {
        let _ = a.sync();
        while let Some(_event) = a.next_event() {
            a.event_handled().expect("ack");
        }
        let onchain = a.onchain_balance().confirmed_sat;
        if onchain > onchain_before {
            break;
        }
        assert!(Instant::now() < deadline, "A's balance never came back");
        mine(&harness, 1);
        std::thread::sleep(Duration::from_millis(300));
    }
    // Nothing A broadcast spends the funding output: its revoked commitment never left it.
    let spends_funding: Vec<String> = proxy
        .posted_transactions()
        .iter()
        .filter_map(|hex| {
            let bytes = Vec::<u8>::from_hex(hex).expect("hex");
            let tx: bitcoin::Transaction = bitcoin::consensus::deserialize(&bytes).expect("tx");
            tx.input
                .iter()
                .any(|i| i.previous_output == funding)
                .then(|| tx.compute_txid().to_string())
        })
        .collect();
    assert!(
        spends_funding.is_empty(),
        "A broadcast a commitment: {spends_funding:?}"
    );
    assert!(
        !proxy.posted_transactions().is_empty(),
        "A's sweep went through the proxy"
    );
    let recovered = a.onchain_balance().confirmed_sat - onchain_before;
    // The latest balance, less the sweep's fee (one P2WPKH input and output, at most
    // 440 WU at 375 sat/WU): not the stale balance, which only A's revoked commitment pays.
    assert!(
        recovered <= latest_balance_sat && recovered + 440 * 375 >= latest_balance_sat,
        "recovered {recovered} sat; latest balance {latest_balance_sat}, stale {stale_balance_sat}"
    );
    assert!(
        harness
            .refused_transactions()
            .iter()
            .all(|(_, why)| !is_policy_refusal(why)),
        "{:?}",
        harness.refused_transactions()
    );
    a.stop().expect("stop");
    b.stop().expect("stop");
}

#[test]
fn backups_taken_while_payments_run_are_consistent() {
    init_logs();
    let harness = harness();
    let (a, b, a_config) = pair(&harness, config(&harness, "busy-a"));
    // Commits that take a while: monitor updates are in flight for longer, so exports land
    // between an update and its commit.
    a.debug_slow_storage(15);
    let start_balance = a.list_channels()[0].balance_sat;
    let dir = temp_dir("busy-backups");
    let files = std::thread::scope(|scope| {
        let payer = scope.spawn(|| {
            for _ in 0..15 {
                pay(&a, &b, 3_000_000);
            }
        });
        let mut files = Vec::new();
        while !payer.is_finished() {
            let file = dir.join(format!("{}.qtumln-backup", files.len()));
            a.export_backup(&file).expect("export while paying");
            files.push(file);
            std::thread::sleep(Duration::from_millis(100));
        }
        payer.join().expect("payments");
        files
    });
    assert!(files.len() >= 5, "only {} backups taken", files.len());
    wait_settled(&a, &b);
    let end_balance = a.list_channels()[0].balance_sat;

    // Each copy, restored elsewhere (built, never started: no networking, no broadcast).
    let mut balances = Vec::new();
    for file in &files {
        let mut copy = a_config.clone();
        copy.storage_dir = temp_dir("busy-restore");
        let node = restore(copy, A_SEED, file).expect("restore");
        let channels = node.list_channels();
        assert_eq!(
            channels.len(),
            1,
            "{}: the channel did not survive the load",
            file.display()
        );
        let balance = channels[0].balance_sat;
        assert!(
            end_balance <= balance && balance <= start_balance,
            "{}: balance {balance} outside [{end_balance}, {start_balance}]",
            file.display()
        );
        balances.push(balance);
    }
    // The copies follow the payments: never going back.
    assert!(balances.windows(2).all(|w| w[1] <= w[0]), "{balances:?}");
    assert!(balances.first() > balances.last(), "{balances:?}");
    a.stop().expect("stop");
    b.stop().expect("stop");
}

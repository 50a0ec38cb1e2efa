//! Continuous backup to a backup server (`qtum-backupd`, here in-process on real TCP with its
//! real SQLite file).
//!
//! 1. A node backs up every change; its directory is deleted; a new node restores from the
//!    mnemonic and the server: the channel is usable, the history is there, the balances are
//!    exact, and the sequence of versions goes on. Another seed finds nothing to restore.
//!    An empty node in the lost one's place is refused while the server holds its backup.
//! 2. A server that answers nonsense, or none at all: the node keeps paying and reports the
//!    backup as degraded.
//! 3. A stale copy of the node (restored from an older version) cannot overwrite the newer
//!    versions: it gets a conflict, stops uploading and says so; the server keeps the newest.
//!
//! 4. With `BackupPolicy::ServerConfirmed`, every state the peer has seen is on the server: a
//!    node lost right after a payment restores from the server with its channel open, and
//!    while the server is down a payment waits instead of running ahead of the backup.
//!
//! 5. A lost answer from the server is not taken for another writer; the backup protocol's
//!    messages cannot be signed through `sign_message`; after a restart with ServerConfirmed,
//!    peers wait for the first copy of the start.
//!
//! Node logs: `E2E_LOG=debug cargo test --test remote_backup -- --nocapture`.

mod common;

use std::io::{Read, Write};
use std::net::TcpListener;
use std::time::Duration;

use common::*;
use qtum_backup_server::BackupServer;
use qtum_lightning::{
    BackupPolicy, BuildError, Builder, Config, Event, Node, PaymentFilter, PaymentStatus,
};
use qtum_regtest::node::RegtestNode;

const A_SEED: u8 = 0x51;
const B_SEED: u8 = 0x52;

fn server() -> (BackupServer, String) {
    let dir = temp_dir("backupd");
    let server = BackupServer::start(qtum_backup_server::Config::new(
        "127.0.0.1:0".parse().expect("addr"),
        dir.join("backups.sqlite"),
    ))
    .expect("backup server starts");
    let url = format!("http://{}", server.addr());
    (server, url)
}

fn builder(config: Config, seed: u8) -> Builder {
    let mut b = Builder::new(config);
    b.set_entropy_seed_bytes(&[seed; 32]);
    b
}

/// Wait until the server has confirmed a copy of the node's current channel state.
fn backed_up(node: &Node) -> u64 {
    wait_until("the backup caught up", || {
        let s = node.status();
        !s.remote_backup_pending && s.remote_backup_version.unwrap_or(0) > 0
    });
    node.status().remote_backup_version.unwrap_or(0)
}

fn history(node: &Node) -> Vec<String> {
    let mut ids: Vec<String> = node
        .list_payments(PaymentFilter::default())
        .expect("list")
        .iter()
        .map(|p| p.id.to_string())
        .collect();
    ids.sort();
    ids
}

/// A (backed up to `url`) and B with a 1 QTUM channel from A.
fn pair(harness: &RegtestNode, url: &str) -> (Node, Node, Config) {
    let a_config = config(harness, "remote-a");
    let mut a = builder(a_config.clone(), A_SEED);
    a.set_backup_server(url);
    let a = a.build().expect("a builds");
    a.start().expect("a starts");
    let b = channel_to_new_peer(harness, &a, "remote-b", B_SEED);
    (a, b, a_config)
}

#[test]
fn a_node_restored_from_the_backup_server_keeps_its_channel() {
    init_logs();
    let harness = harness();
    let (_server, url) = server();
    let (a, b, a_config) = pair(&harness, &url);
    for _ in 0..5 {
        pay(&a, &b, 7_000_000);
    }
    let version = backed_up(&a);
    assert!(version >= 2, "one copy per change: version {version}");
    let channels = a.list_channels();
    let payments = history(&a);
    assert_eq!(payments.len(), 5);

    a.stop().expect("stop");
    drop(a);
    std::fs::remove_dir_all(&a_config.storage_dir).expect("wipe");

    // An empty node in A's place, while the server holds A's backup: refused.
    let mut empty = builder(a_config.clone(), A_SEED);
    empty.set_backup_server(&url);
    match empty.build() {
        Err(BuildError::BackupFound(_)) => {}
        Err(e) => panic!("an empty node over a backed-up one: {e}"),
        Ok(_) => panic!("an empty node started over a backed-up one"),
    }
    // Another seed has no slot on the server.
    let mut other = builder(a_config.clone(), 0x53);
    other.set_restore_from_backup_server(&url);
    match other.build() {
        Err(BuildError::BackupNotFound(_)) => {}
        Err(e) => panic!("another seed: {e}"),
        Ok(_) => panic!("another seed restored something"),
    }
    // Nothing to fetch from a server that is not there.
    let mut nowhere = builder(a_config.clone(), A_SEED);
    nowhere.set_restore_from_backup_server(&format!("http://127.0.0.1:{}", free_port()));
    match nowhere.build() {
        Err(BuildError::BackupUnavailable(_)) => {}
        Err(e) => panic!("no server: {e}"),
        Ok(_) => panic!("restored from no server"),
    }
    assert!(!a_config.storage_dir.join("node.sqlite").exists());

    let mut restoring = builder(a_config.clone(), A_SEED);
    restoring.set_restore_from_backup_server(&url);
    restoring.set_backup_server(&url);
    let a = restoring.build().expect("restore from the server");
    a.start().expect("restored node starts");
    assert_eq!(history(&a), payments);
    let restored = a.list_channels();
    assert_eq!(restored.len(), 1);
    assert_eq!(restored[0].channel_id, channels[0].channel_id);
    assert_eq!(restored[0].balance_sat, channels[0].balance_sat);
    assert_eq!(
        restored[0].outbound_capacity_msat,
        channels[0].outbound_capacity_msat
    );
    wait_until("usable after the restore", || {
        a.list_channels().iter().any(|c| c.is_usable)
    });
    pay(&a, &b, 7_000_000);
    // The sequence goes on from the restored version (no conflict with itself).
    let later = backed_up(&a);
    assert!(later > version, "{later} after {version}");
    assert!(
        !a.status()
            .degraded_reasons
            .iter()
            .any(|r| r.starts_with("backup server")),
        "{:?}",
        a.status().degraded_reasons
    );
    a.stop().expect("stop");
    b.stop().expect("stop");
}

/// A server that answers every request with `200` and nonsense.
fn lying_server() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("addr");
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let _ = stream.set_read_timeout(Some(Duration::from_millis(500)));
            let mut buf = [0u8; 65536];
            let _ = stream.read(&mut buf);
            let _ = stream.write_all(
                b"HTTP/1.1 200 OK\r\nContent-Length: 12\r\nConnection: close\r\n\r\n<html>ok</ht",
            );
        }
    });
    format!("http://{addr}")
}

#[test]
fn a_backup_server_that_lies_or_is_gone_degrades_the_node_and_nothing_else() {
    init_logs();
    let harness = harness();
    for (name, url) in [
        ("lying", lying_server()),
        ("gone", format!("http://127.0.0.1:{}", free_port())),
    ] {
        let (a, b, _) = pair(&harness, &url);
        for _ in 0..3 {
            pay(&a, &b, 5_000_000);
        }
        wait_until("the failure shows", || {
            a.status()
                .degraded_reasons
                .iter()
                .any(|r| r.starts_with("backup server"))
        });
        let status = a.status();
        eprintln!("{name}: {:?}", status.degraded_reasons);
        assert!(status.remote_backup_pending, "{name}");
        assert_eq!(status.remote_backup_version, Some(0), "{name}");
        // Still paying, and the channel is fine.
        pay(&a, &b, 5_000_000);
        assert!(a.list_channels().iter().all(|c| c.is_usable), "{name}");
        a.stop().expect("stop");
        b.stop().expect("stop");
    }
}

#[test]
fn a_stale_copy_cannot_overwrite_newer_backups() {
    init_logs();
    let harness = harness();
    let (_server, url) = server();
    let (a, b, _a_config) = pair(&harness, &url);
    pay(&a, &b, 7_000_000);
    let old_version = backed_up(&a);

    // A second device restores the server's copy now...
    let mut copy_config = config(&harness, "remote-copy");
    copy_config.listening_addresses = Vec::new();
    let mut copy = builder(copy_config, A_SEED);
    copy.set_restore_from_backup_server(&url);
    copy.set_backup_server(&url);
    let copy = copy.build().expect("second device restores");

    // ...while the first goes on paying and backing up.
    for _ in 0..3 {
        pay(&a, &b, 7_000_000);
    }
    let newest = backed_up(&a);
    assert!(newest > old_version);
    let latest_balance = a.list_channels()[0].balance_sat;
    // B goes away so that the copy cannot reach it (two copies of a node talking to a peer
    // would close the channel); the copy starts and tries to back up its older state.
    b.stop().expect("stop b");
    copy.start().expect("the copy starts");
    wait_until("the copy reports the conflict", || {
        copy.status()
            .degraded_reasons
            .iter()
            .any(|r| r.starts_with("backup server") && r.contains("another device"))
    });
    let status = copy.status();
    assert_eq!(
        status.remote_backup_version,
        Some(old_version),
        "{status:?}"
    );
    copy.stop().expect("stop the copy");

    // The server still holds A's newest state: a third restore shows A's latest balance.
    let mut third_config = config(&harness, "remote-third");
    third_config.listening_addresses = Vec::new();
    let mut third = builder(third_config, A_SEED);
    third.set_restore_from_backup_server(&url);
    let third = third.build().expect("third restore");
    assert_eq!(third.list_channels()[0].balance_sat, latest_balance);
    assert_eq!(
        third.status().remote_backup_version,
        None,
        "no backup server configured on the third"
    );
    a.stop().expect("stop");
}

#[test]
fn with_server_confirmed_updates_a_lost_node_restores_without_closing() {
    init_logs();
    let harness = harness();
    let db = temp_dir("backupd-required").join("backups.sqlite");
    let listen: std::net::SocketAddr = format!("127.0.0.1:{}", free_port()).parse().expect("addr");
    let start_server = || {
        BackupServer::start(qtum_backup_server::Config::new(listen, db.clone()))
            .expect("backup server starts")
    };
    let server = start_server();
    let url = format!("http://{listen}");

    let a_config = config(&harness, "required-a");
    let mut a = builder(a_config.clone(), A_SEED);
    a.set_backup_server(&url);
    a.set_backup_policy(BackupPolicy::ServerConfirmed);
    let a = a.build().expect("a builds");
    a.start().expect("a starts");
    let b = channel_to_new_peer(&harness, &a, "required-b", B_SEED);
    for _ in 0..5 {
        pay(&a, &b, 7_000_000);
    }

    // The server goes down: a payment cannot get ahead of the backup. Its first commitment
    // for B waits on the upload, so B never sees the HTLC and the payment stays pending.
    drop(server);
    let invoice = b
        .receive(9_000_000, "while the server is down", None)
        .expect("invoice");
    let waiting = a.send(&invoice, None).expect("send");
    wait_until("the failed upload shows", || {
        a.status()
            .degraded_reasons
            .iter()
            .any(|r| r.starts_with("backup server"))
    });
    assert_eq!(
        a.payment(&waiting).expect("read").expect("known").status,
        PaymentStatus::Pending
    );
    // The server is back: the upload goes through and the payment completes.
    let server = start_server();
    let paid = a
        .wait_payment(&waiting, Duration::from_secs(120))
        .expect("payment");
    assert_eq!(paid.status, PaymentStatus::Succeeded, "{paid:?}");

    // One more, and A is lost right after it succeeded: no waiting for anything.
    pay(&a, &b, 7_000_000);
    let expected_history = history(&a);
    a.stop().expect("stop");
    drop(a);
    std::fs::remove_dir_all(&a_config.storage_dir).expect("wipe");

    let mut restoring = builder(a_config.clone(), A_SEED);
    restoring.set_restore_from_backup_server(&url);
    restoring.set_backup_server(&url);
    restoring.set_backup_policy(BackupPolicy::ServerConfirmed);
    let a = restoring.build().expect("restore from the server");
    a.start().expect("restored node starts");
    // B finds A's state current: the channel comes back usable, never closed as stale.
    wait_until("usable after the restore", || {
        while let Some(event) = a.next_event() {
            if let Event::ChannelClosed { kind, reason, .. } = &event {
                panic!("the restored channel closed ({kind:?}): {reason}");
            }
            a.event_handled().expect("ack");
        }
        a.list_channels().iter().any(|c| c.is_usable)
    });
    assert_eq!(history(&a), expected_history);
    pay(&a, &b, 7_000_000);
    a.stop().expect("stop");
    b.stop().expect("stop");
    drop(server);
}

#[test]
fn a_lost_answer_a_forged_request_and_a_restart_without_the_server() {
    init_logs();
    let harness = harness();
    let db = temp_dir("backupd-lost").join("backups.sqlite");
    let listen: std::net::SocketAddr = format!("127.0.0.1:{}", free_port()).parse().expect("addr");
    let start_server = || {
        BackupServer::start(qtum_backup_server::Config::new(listen, db.clone()))
            .expect("backup server starts")
    };
    let server = start_server();
    let proxy = common::fee_proxy::FeeProxy::start(&format!("http://{listen}"));

    let a_config = config(&harness, "lost-a");
    let mut a = builder(a_config.clone(), A_SEED);
    a.set_backup_server(&proxy.url());
    a.set_backup_policy(BackupPolicy::ServerConfirmed);
    let a = a.build().expect("a builds");
    a.start().expect("a starts");
    let b = channel_to_new_peer(&harness, &a, "lost-b", B_SEED);
    let before = backed_up(&a);

    // The server stores the next copy but its answer is lost: the retry meets version
    // `before + 1` holding our own copy, and goes on after it.
    proxy.swallow_post_replies(1);
    pay(&a, &b, 7_000_000);
    let after = backed_up(&a);
    assert!(after >= before + 2, "{before} then {after}");
    assert!(
        !a.status()
            .degraded_reasons
            .iter()
            .any(|r| r.contains("another device")),
        "{:?}",
        a.status().degraded_reasons
    );

    // Nobody can get the node to sign a request of the backup protocol.
    for message in [
        format!("qtum-ln backup put {} 99 00", a.node_id()),
        format!("qtum-ln backup get {} 1", a.node_id()),
    ] {
        match a.sign_message(message.as_bytes()) {
            Err(qtum_lightning::NodeError::InvalidInput(_)) => {}
            other => panic!("{message}: {other:?}"),
        }
    }

    // A restart while the server is down: the chain syncs, but B is not let in before the
    // server holds this start's state (the restart acknowledged the deferred updates).
    a.stop().expect("stop");
    drop(server);
    a.start().expect("restart");
    wait_until("synced and the upload failed", || {
        let s = a.status();
        s.synced_height.is_some()
            && s.degraded_reasons
                .iter()
                .any(|r| r.starts_with("backup server"))
    });
    assert!(
        !a.list_peers()
            .iter()
            .any(|p| p.node_id == b.node_id() && p.is_connected),
        "B was let in before the backup"
    );
    let _server = start_server();
    wait_until("B connects once the copy is on the server", || {
        a.list_peers()
            .iter()
            .any(|p| p.node_id == b.node_id() && p.is_connected)
    });
    wait_until("usable", || a.list_channels().iter().any(|c| c.is_usable));
    pay(&a, &b, 7_000_000);
    a.stop().expect("stop");
    b.stop().expect("stop");
}

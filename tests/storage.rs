//! Bad storage and dying tasks: a second node on the same directory, damaged or newer
//! databases, a write-ahead log lost after an unclean stop, a full disk under a running
//! channel, and tasks that die. Each gets a typed answer, nothing is overwritten, and the node
//! never goes on after a failed write.

mod common;

use std::time::Duration;

use common::*;
use qtum_lightning::{BuildError, Config, Event, Node, NodeError, PaymentFilter, PaymentStatus};

const WAIT: Duration = Duration::from_secs(60);

fn halted_reason(node: &Node) -> Option<String> {
    node.status().halted_reason
}

/// The error a build of `config` must give.
fn refused(config: Config, seed: u8, what: &str) -> BuildError {
    let mut builder = qtum_lightning::Builder::new(config);
    builder.set_entropy_seed_bytes(&[seed; 32]);
    match builder.build() {
        Ok(_) => panic!("{what} was opened"),
        Err(e) => e,
    }
}

/// A started node and the configuration to build it again.
fn started(harness: &qtum_regtest::node::RegtestNode, name: &str, seed: u8) -> (Node, Config) {
    let config = config(harness, name);
    let node = build(config.clone(), seed);
    node.start().expect("node starts");
    (node, config)
}

#[test]
fn a_second_node_on_the_same_directory_is_refused() {
    let harness = harness();
    let config = config(&harness, "locked");
    let first = build(config.clone(), 31);
    let err = refused(config.clone(), 31, "a directory in use");
    assert!(matches!(err, BuildError::StorageLocked(_)), "{err}");
    drop(first);
    let again = build(config, 31);
    drop(again);
}

#[test]
fn damaged_newer_and_log_less_databases_are_refused_untouched() {
    let harness = harness();
    let config = config(&harness, "damaged");
    let dir = config.storage_dir.clone();
    let db = dir.join("node.sqlite");
    {
        let node = build(config.clone(), 32);
        node.start().expect("start");
        node.receive(1_000, "something to keep", None)
            .expect("invoice");
        // A copy taken while the node runs: the lock file says "open" and the newest commits
        // are still in the write-ahead log. Restoring it without the log must not start.
        let copy = temp_dir("damaged-copy");
        for name in ["node.sqlite", "node.lock"] {
            std::fs::copy(dir.join(name), copy.join(name)).expect("copy");
        }
        let mut log_less = config.clone();
        log_less.storage_dir = copy;
        let err = refused(log_less, 32, "a database without its log");
        assert!(matches!(err, BuildError::StorageCorrupt(_)), "{err}");
        assert!(err.to_string().contains("write-ahead log"), "{err}");
        node.stop().expect("stop");
    }

    // Newer schema: refused, kept.
    {
        let conn = rusqlite::Connection::open(&db).expect("raw");
        conn.execute("UPDATE schema_version SET version = version + 100", [])
            .expect("bump");
    }
    let err = refused(config.clone(), 32, "a newer database");
    assert!(matches!(err, BuildError::StorageTooNew(_)), "{err}");
    {
        let conn = rusqlite::Connection::open(&db).expect("raw");
        conn.execute("UPDATE schema_version SET version = version - 100", [])
            .expect("restore");
    }
    let node = build(config.clone(), 32);
    assert_eq!(
        node.list_payments(PaymentFilter::default())
            .expect("list")
            .len(),
        1,
        "the invoice survived the refusal"
    );
    drop(node);

    // Truncated: refused, and the file is left exactly as it was.
    let bytes = std::fs::read(&db).expect("read");
    let half = &bytes[..bytes.len() / 2];
    std::fs::write(&db, half).expect("truncate");
    let _ = std::fs::remove_file(dir.join("node.sqlite-wal"));
    let err = refused(config.clone(), 32, "a truncated database");
    assert!(matches!(err, BuildError::StorageCorrupt(_)), "{err}");
    assert_eq!(std::fs::read(&db).expect("read"), half);

    // Not a database at all.
    std::fs::write(&db, vec![0xa5u8; 64 * 1024]).expect("garbage");
    let err = refused(config, 32, "garbage");
    assert!(matches!(err, BuildError::StorageCorrupt(_)), "{err}");
}

/// The disk fills up under a node with a channel in use: typed errors for the app's own
/// writes, the node halts at the first failed write of channel state, and a restart (with
/// space again) resumes from the last commit without closing the channel or losing a payment.
#[test]
fn a_full_disk_halts_the_node_and_loses_nothing() {
    let harness = harness();
    let (alice, alice_config) = started(&harness, "full-alice", 33);
    let bob = start_node(&harness, "full-bob", 34);
    fund(&harness, &alice, 20 * QTUM);
    // Bob holds half, so he can pay Alice's invoices.
    let channel_id = open_ready_channel(&harness, &alice, &bob, 10 * QTUM, Some(5 * QTUM * 1_000));

    // Invoices made while there is room; then no more room.
    let invoices: Vec<String> = (0..60u64)
        .map(|i| {
            alice
                .receive(1_000 + i, "paid while the disk is full", None)
                .expect("invoice")
        })
        .collect();
    alice.debug_fill_disk().expect("fill the disk");
    // The app's own writes get a typed error.
    assert!(
        matches!(
            alice.receive(1_000, "no room", None),
            Err(NodeError::StorageFull(_))
        ),
        "an invoice needs a row"
    );
    // Channel state needs room too: the first commit that cannot grow the file halts Alice.
    let mut sent = Vec::new();
    for invoice in &invoices {
        if halted_reason(&alice).is_some() {
            break;
        }
        if let Ok(id) = bob.send(invoice, None) {
            sent.push(id);
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(!sent.is_empty(), "Bob paid nothing before Alice halted");
    wait_until("alice halts", || halted_reason(&alice).is_some());
    let reason = halted_reason(&alice).expect("halted");
    assert!(reason.contains("disk is full"), "halted for: {reason}");
    assert!(!alice.status().is_running);
    assert!(matches!(
        alice.receive(1_000, "after the halt", None),
        Err(NodeError::Halted(_))
    ));

    // Space again: a new process (here a new build) starts from the last commit.
    drop(alice);
    let alice = build(alice_config, 33);
    alice.start().expect("restart");
    wait_until("channel usable again", || {
        alice
            .list_channels()
            .iter()
            .any(|c| c.channel_id == channel_id && c.is_usable)
    });
    // Every payment Bob started ends, and both sides agree on each.
    for id in &sent {
        let outcome = bob.wait_payment(id, WAIT).expect("payment");
        let on_alice = alice
            .payment(&qtum_lightning::PaymentId(outcome.payment_hash.0))
            .expect("read");
        match outcome.status {
            PaymentStatus::Succeeded => {
                let on_alice = on_alice.expect("alice recorded a payment she received");
                assert_eq!(on_alice.status, PaymentStatus::Succeeded, "{id}");
                assert_eq!(on_alice.amount_msat, outcome.amount_msat);
            }
            PaymentStatus::Failed => {
                if let Some(p) = on_alice {
                    assert_ne!(p.status, PaymentStatus::Succeeded, "{id}");
                }
            }
            PaymentStatus::Pending => panic!("payment {id} still pending"),
        }
    }
    // The channel works.
    let invoice = alice
        .receive(5_000, "after the restart", None)
        .expect("invoice");
    let id = bob.send(&invoice, None).expect("send");
    assert_eq!(
        bob.wait_payment(&id, WAIT).expect("payment").status,
        PaymentStatus::Succeeded
    );
    let mut closed = false;
    while let Some(event) = alice.next_event() {
        closed |= matches!(event, Event::ChannelClosed { .. });
        alice.event_handled().expect("ack");
    }
    assert!(!closed, "the channel was closed");
}

#[test]
fn a_dead_task_halts_the_node_and_start_brings_it_back() {
    let harness = harness();
    let node = start_node(&harness, "dead-sync", 35);
    node.debug_fail_task("sync");
    wait_until("the node halts", || halted_reason(&node).is_some());
    let reason = halted_reason(&node).expect("halted");
    assert!(reason.contains("chain sync"), "{reason}");
    assert!(!node.status().is_running);
    assert!(node.status().degraded_reasons.iter().any(|r| r == &reason));
    assert!(matches!(
        node.receive(1_000, "x", None),
        Err(NodeError::Halted(_))
    ));
    node.start().expect("start again");
    assert!(node.status().is_running);
    assert_eq!(halted_reason(&node), None);
    node.receive(1_000, "x", None).expect("works again");

    // The HTLC thread too.
    node.debug_fail_task("htlcs");
    wait_until("the node halts again", || halted_reason(&node).is_some());
    let reason = halted_reason(&node).expect("halted");
    assert!(reason.contains("HTLC thread"), "{reason}");
    node.start().expect("start again");
    node.receive(1_000, "y", None).expect("works again");
}

/// A panic while handling an LDK event (a bug) halts the node; the event is not lost: after a
/// restart LDK hands it again and the payment completes.
#[test]
fn a_panicking_event_handler_halts_and_the_event_is_replayed() {
    let harness = harness();
    let alice = start_node(&harness, "panic-alice", 36);
    let (bob, bob_config) = started(&harness, "panic-bob", 37);
    fund(&harness, &alice, 20 * QTUM);
    open_ready_channel(&harness, &alice, &bob, 10 * QTUM, None);

    let invoice = bob.receive(7_000, "handled twice", None).expect("invoice");
    bob.debug_fail_task("events");
    let id = alice.send(&invoice, None).expect("send");
    wait_until("bob halts", || halted_reason(&bob).is_some());
    assert!(halted_reason(&bob).expect("halted").contains("LDK event"));

    drop(bob);
    let bob = build(bob_config, 37);
    bob.start().expect("restart");
    let sent = alice.wait_payment(&id, WAIT).expect("payment");
    assert_eq!(sent.status, PaymentStatus::Succeeded);
    wait_until("bob recorded it", || {
        bob.payment(&qtum_lightning::PaymentId(sent.payment_hash.0))
            .ok()
            .flatten()
            .is_some_and(|p| p.status == PaymentStatus::Succeeded)
    });
    let received = expect_event(&bob, "payment received", |e| {
        matches!(e, Event::PaymentReceived { .. })
    });
    assert!(matches!(
        received,
        Event::PaymentReceived {
            amount_msat: 7_000,
            ..
        }
    ));
}

#[test]
fn stop_start_and_drop_inside_an_async_runtime() {
    let harness = harness();
    let (node, config) = started(&harness, "in-runtime", 38);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async move {
        node.stop().expect("stop inside a runtime");
        node.start().expect("start inside a runtime");
        drop(node);
    });
    // Dropped inside the runtime, it released its directory.
    drop(build(config, 38));
}

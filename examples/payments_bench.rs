//! Payment throughput and latency between two SDK nodes over loopback TCP, every state change
//! durable in SQLite, against the in-process regtest harness.
//!
//! `cargo run --release --example payments_bench [-- N [MODE]]` (default N = 1000): N
//! sequential payments (invoice → send → the payer's success), then N concurrent ones (N
//! invoices, sent from 8 threads). Prints payments per second and median / p99 latency, for
//! each persistence path side by side in one run: `writer` (the single writer: monitor updates
//! and manager committed together, the shipped path) and `synchronous` (the first release's
//! path, every monitor update written before it returns, the manager later; not crash-safe).
//! MODE runs only one of them. A benchmark, not a test: the numbers go to BENCH.md.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use qtum_lightning::io::JournalStats;
use qtum_lightning::qtum::address::QtumAddress;
use qtum_lightning::qtum::network::Network;
use qtum_lightning::{Builder, ChainSourceConfig, Config, Node, PaymentStatus, RpcAuth};
use qtum_regtest::node::RegtestNode;

const QTUM: u64 = 100_000_000;

fn node(harness: &RegtestNode, name: &str, seed: u8, synchronous: bool) -> Node {
    let dir = std::env::temp_dir().join(format!(
        "qtum-ln-bench-{name}-{}-{synchronous}",
        std::process::id()
    ));
    let _ = std::fs::remove_dir_all(&dir);
    let mut config = Config::new(
        Network::Regtest,
        dir,
        ChainSourceConfig::rpc(
            harness.url().to_string(),
            RpcAuth::UserPass {
                user: harness.rpc_user().into(),
                password: harness.rpc_password().into(),
            },
        ),
    );
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("port");
    config.listening_addresses = vec![([127, 0, 0, 1], port).into()];
    config.sync_interval_secs = 1;
    let mut builder = Builder::new(config);
    builder.set_entropy_seed_bytes(&[seed; 32]);
    builder.set_unsafe_synchronous_persistence_for_benchmarks(synchronous);
    let node = builder.build().expect("build");
    node.start().expect("start");
    node
}

fn wait(mut done: impl FnMut() -> bool) {
    let start = Instant::now();
    while !done() {
        assert!(start.elapsed() < Duration::from_secs(600), "setup hung");
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn report(label: &str, n: usize, total: Duration, mut latencies: Vec<Duration>) -> String {
    latencies.sort();
    let pick = |q: f64| latencies[((latencies.len() as f64 - 1.0) * q).round() as usize];
    let line = format!(
        "{label}: {n} payments in {:.2} s = {:.1} payments/s; latency median {:.1} ms, p99 {:.1} ms",
        total.as_secs_f64(),
        n as f64 / total.as_secs_f64(),
        pick(0.5).as_secs_f64() * 1e3,
        pick(0.99).as_secs_f64() * 1e3,
    );
    println!("{line}");
    line
}

/// Writer commits per payment on both nodes (each commit is one fsync of the log).
fn commits(label: &str, n: usize, before: [JournalStats; 2], nodes: [&Node; 2]) -> String {
    let mut total = 0u64;
    let mut updates = 0u64;
    for (node, before) in nodes.iter().zip(before) {
        let now = node.storage_stats();
        total += now.commits - before.commits;
        updates += now.updates - before.updates;
    }
    let (mut serialize, mut commit) = (0u64, 0u64);
    for (node, before) in nodes.iter().zip(before) {
        let now = node.storage_stats();
        serialize += now.serialize_micros - before.serialize_micros;
        commit += now.commit_micros - before.commit_micros;
    }
    let line = format!(
        "{label}: {:.2} writer commits and {:.2} monitor updates per payment (both nodes); \
         per payment {:.2} ms serializing managers, {:.2} ms committing; last manager {} kB",
        total as f64 / n as f64,
        updates as f64 / n as f64,
        serialize as f64 / n as f64 / 1e3,
        commit as f64 / n as f64 / 1e3,
        nodes[0].storage_stats().last_manager_bytes / 1000,
    );
    println!("{line}");
    line
}

fn main() {
    let mut args = std::env::args().skip(1);
    let n: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(1000);
    let modes: Vec<bool> = match args.next().as_deref() {
        Some("writer") => vec![false],
        Some("synchronous") => vec![true],
        _ => vec![false, true],
    };
    let mut summary = Vec::new();
    for synchronous in modes {
        let name = if synchronous { "synchronous" } else { "writer" };
        println!("== {name} ==");
        for line in run(n, synchronous) {
            summary.push(format!("{name} {line}"));
        }
    }
    println!("== side by side ==");
    for line in summary {
        println!("{line}");
    }
}

fn run(n: usize, synchronous: bool) -> Vec<String> {
    let mut lines = Vec::new();
    let harness = RegtestNode::start().expect("harness");
    let alice = node(&harness, "alice", 1, synchronous);
    let bob = Arc::new(node(&harness, "bob", 2, synchronous));
    let address = alice.new_address().expect("address");
    let script = QtumAddress::from_str_for(&address, Network::Regtest)
        .expect("a")
        .script_pubkey();
    harness.fund_address(&script, 60 * QTUM).expect("fund");
    harness
        .mine_blocks(1, &harness.wallet_script())
        .expect("mine");
    wait(|| {
        let _ = alice.sync();
        alice.onchain_balance().confirmed_sat >= 60 * QTUM
    });
    alice
        .open_channel(&bob.node_uri().expect("uri"), 50 * QTUM, None, false)
        .expect("open");
    wait(|| {
        harness
            .mine_blocks(1, &harness.wallet_script())
            .expect("mine");
        let _ = alice.sync();
        let _ = bob.sync();
        alice.list_channels().iter().any(|c| c.is_usable)
    });

    // Sequential: one payment at a time, invoice to success.
    let before = [alice.storage_stats(), bob.storage_stats()];
    let mut latencies = Vec::with_capacity(n);
    let start = Instant::now();
    for i in 0..n {
        let t = Instant::now();
        let invoice = bob
            .receive(1_000 + i as u64, "bench", None)
            .expect("invoice");
        let id = alice.send(&invoice, None).expect("send");
        let p = alice
            .wait_payment(&id, Duration::from_secs(60))
            .expect("payment");
        assert_eq!(p.status, PaymentStatus::Succeeded, "{:?}", p.failure_reason);
        latencies.push(t.elapsed());
    }
    lines.push(report("sequential", n, start.elapsed(), latencies));
    if !synchronous {
        lines.push(commits("sequential", n, before, [&alice, &bob]));
    }

    // Concurrent: N invoices made first, then sent from 8 threads at once.
    let invoices: Vec<String> = (0..n)
        .map(|i| {
            bob.receive(2_000 + i as u64, "bench", None)
                .expect("invoice")
        })
        .collect();
    let alice = Arc::new(alice);
    let before = [alice.storage_stats(), bob.storage_stats()];
    let queue = Arc::new(Mutex::new(invoices));
    let latencies = Arc::new(Mutex::new(Vec::with_capacity(n)));
    let start = Instant::now();
    let workers: Vec<_> = (0..8)
        .map(|_| {
            let (alice, queue, latencies) = (alice.clone(), queue.clone(), latencies.clone());
            std::thread::spawn(move || loop {
                let Some(invoice) = queue.lock().expect("lock").pop() else {
                    return;
                };
                let t = Instant::now();
                let id = alice.send(&invoice, None).expect("send");
                let p = alice
                    .wait_payment(&id, Duration::from_secs(120))
                    .expect("payment");
                assert_eq!(p.status, PaymentStatus::Succeeded, "{:?}", p.failure_reason);
                latencies.lock().expect("lock").push(t.elapsed());
            })
        })
        .collect();
    for w in workers {
        w.join().expect("worker");
    }
    let latencies = std::mem::take(&mut *latencies.lock().expect("lock"));
    lines.push(report(
        "concurrent (8 senders)",
        n,
        start.elapsed(),
        latencies,
    ));
    if !synchronous {
        lines.push(commits("concurrent", n, before, [&alice, &bob]));
    }
    lines
}

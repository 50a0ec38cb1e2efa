//! Payment throughput and latency between two SDK nodes over loopback TCP, every state change
//! durable in SQLite, against the in-process regtest harness.
//!
//! `cargo run --release --example payments_bench [-- N]` (default N = 1000): N sequential
//! payments (invoice → send → the payer's success), then N concurrent ones (N invoices, sent
//! from 8 threads). Prints payments per second and median / p99 latency. A benchmark, not a
//! test: the numbers go to BENCH.md.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use qtum_lightning::qtum::address::QtumAddress;
use qtum_lightning::qtum::network::Network;
use qtum_lightning::{Builder, ChainSourceConfig, Config, Node, PaymentStatus, RpcAuth};
use qtum_regtest::node::RegtestNode;

const QTUM: u64 = 100_000_000;

fn node(harness: &RegtestNode, name: &str, seed: u8) -> Node {
    let dir = std::env::temp_dir().join(format!("qtum-ln-bench-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let mut config = Config::new(
        Network::Regtest,
        dir,
        ChainSourceConfig::Rpc {
            endpoints: vec![harness.url().to_string()],
            auth: RpcAuth::UserPass {
                user: harness.rpc_user().into(),
                password: harness.rpc_password().into(),
            },
        },
    );
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("port");
    config.listening_addresses = vec![format!("127.0.0.1:{port}")];
    config.sync_interval_secs = 1;
    let mut builder = Builder::new(config);
    builder.set_entropy_seed_bytes(&[seed; 32]);
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

fn report(label: &str, n: usize, total: Duration, mut latencies: Vec<Duration>) {
    latencies.sort();
    let pick = |q: f64| latencies[((latencies.len() as f64 - 1.0) * q).round() as usize];
    println!(
        "{label}: {n} payments in {:.2} s = {:.1} payments/s; latency median {:.1} ms, p99 {:.1} ms",
        total.as_secs_f64(),
        n as f64 / total.as_secs_f64(),
        pick(0.5).as_secs_f64() * 1e3,
        pick(0.99).as_secs_f64() * 1e3,
    );
}

fn main() {
    let n: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(1000);
    let harness = RegtestNode::start().expect("harness");
    let alice = node(&harness, "alice", 1);
    let bob = Arc::new(node(&harness, "bob", 2));
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
    report("sequential", n, start.elapsed(), latencies);

    // Concurrent: N invoices made first, then sent from 8 threads at once.
    let invoices: Vec<String> = (0..n)
        .map(|i| {
            bob.receive(2_000 + i as u64, "bench", None)
                .expect("invoice")
        })
        .collect();
    let alice = Arc::new(alice);
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
    report("concurrent (8 senders)", n, start.elapsed(), latencies);
}

//! A flaky world: the chain source going down and coming back, a second endpoint taking over,
//! a node stopped with a payment in flight, a store opened with the wrong seed.

mod common;

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use common::*;
use qtum_lightning::{
    BuildError, ChainSourceConfig, EsploraServerConfig, PaymentDirection, PaymentFilter,
    PaymentStatus, RpcAuth, RpcEndpointConfig,
};

/// A TCP forwarder to the harness that can be switched off (open connections are cut, new
/// ones accepted and closed at once) and on again.
struct Switch {
    url: String,
    up: Arc<AtomicBool>,
    open: Arc<std::sync::Mutex<Vec<TcpStream>>>,
}

impl Switch {
    fn set_up(&self, up: bool) {
        self.up.store(up, Ordering::Release);
        if !up {
            // Pooled keep-alive connections must die too, as they would with a dead server.
            for stream in self.open.lock().expect("lock").drain(..) {
                let _ = stream.shutdown(std::net::Shutdown::Both);
            }
        }
    }
}

fn pipe(mut from: TcpStream, mut to: TcpStream) {
    let mut buf = [0u8; 16 * 1024];
    loop {
        match from.read(&mut buf) {
            Ok(0) | Err(_) => {
                let _ = to.shutdown(std::net::Shutdown::Both);
                return;
            }
            Ok(n) => {
                if to.write_all(&buf[..n]).is_err() {
                    return;
                }
            }
        }
    }
}

fn switch_to(target: &str) -> Switch {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let up = Arc::new(AtomicBool::new(true));
    let open = Arc::new(std::sync::Mutex::new(Vec::new()));
    let target = target
        .trim_start_matches("http://")
        .trim_end_matches('/')
        .to_string();
    let flag = up.clone();
    let tracked = open.clone();
    std::thread::spawn(move || {
        for client in listener.incoming().flatten() {
            if !flag.load(Ordering::Acquire) {
                drop(client);
                continue;
            }
            if let Ok(server) = TcpStream::connect(&target) {
                if let Ok(c) = client.try_clone() {
                    tracked.lock().expect("lock").push(c);
                }
                let (c2, s2) = match (client.try_clone(), server.try_clone()) {
                    (Ok(c), Ok(s)) => (c, s),
                    _ => continue,
                };
                std::thread::spawn(move || pipe(client, server));
                std::thread::spawn(move || pipe(s2, c2));
            }
        }
    });
    Switch {
        url: format!("http://127.0.0.1:{port}"),
        up,
        open,
    }
}

#[test]
fn chain_source_down_degrades_and_recovers() {
    let harness = harness();
    let switch = switch_to(harness.url());
    let mut config = config(&harness, "flaky");
    if let ChainSourceConfig::Rpc { endpoints, .. } = &mut config.chain_source {
        endpoints[0].url = switch.url.clone();
    }
    let node = build(config, 81);
    node.start().expect("start");
    node.sync().expect("sync while up");
    let height = node.status().synced_height.expect("synced");

    switch.set_up(false);
    mine(&harness, 2);
    assert!(
        node.sync().is_err(),
        "a sync against a dead source is an error"
    );
    let status = node.status();
    assert!(status.is_running, "the node keeps running");
    assert!(
        status
            .degraded_reasons
            .iter()
            .any(|r| r.starts_with("chain sync")),
        "{status:?}"
    );
    assert_eq!(
        status.synced_height,
        Some(height),
        "nothing is made up while down"
    );
    // Calls that do not need the chain keep working.
    assert!(node.new_address().is_ok());
    assert!(node.receive_variable_amount("still here", None).is_ok());

    switch.set_up(true);
    wait_until("sync recovers", || node.sync().is_ok());
    let status = node.status();
    assert_eq!(status.synced_height, Some(height + 2));
    assert!(!status
        .degraded_reasons
        .iter()
        .any(|r| r.starts_with("chain sync")));
    node.stop().expect("stop");
}

#[test]
fn a_dead_first_endpoint_fails_over_to_the_second() {
    let harness = harness();
    let mut config = config(&harness, "failover");
    if let ChainSourceConfig::Rpc { endpoints, .. } = &mut config.chain_source {
        let dead = RpcEndpointConfig {
            url: format!("http://127.0.0.1:{}", free_port()),
            ..endpoints[0].clone()
        };
        endpoints.insert(0, dead);
    }
    let node = build(config, 82);
    node.start().expect("start");
    fund(&harness, &node, 2 * QTUM);
    assert_eq!(node.onchain_balance().confirmed_sat, 2 * QTUM);
    node.stop().expect("stop");
}

#[test]
fn the_store_refuses_another_seed_or_network() {
    let harness = harness();
    let config = config(&harness, "owner");
    build(config.clone(), 91);
    let mut other = qtum_lightning::Builder::new(config.clone());
    other.set_entropy_seed_bytes(&[92; 32]);
    assert!(matches!(other.build(), Err(BuildError::WrongStore(_))));
    let mut mainnet = config.clone();
    mainnet.network = qtum_lightning::qtum::network::Network::Mainnet;
    let mut on_mainnet = qtum_lightning::Builder::new(mainnet);
    on_mainnet.set_entropy_seed_bytes(&[91; 32]);
    assert!(matches!(on_mainnet.build(), Err(BuildError::WrongStore(_))));
    let mut bad = qtum_lightning::Builder::new(config);
    bad.set_entropy_mnemonic("abandon abandon", None);
    assert!(matches!(bad.build(), Err(BuildError::InvalidEntropy(_))));
}

#[test]
fn stopped_with_a_payment_in_flight_it_is_never_lost_nor_paid_twice() {
    let harness = harness();
    let alice_config = config(&harness, "inflight-alice");
    let alice = build(alice_config.clone(), 93);
    alice.start().expect("start");
    let bob = start_node(&harness, "inflight-bob", 94);
    fund(&harness, &alice, 20 * QTUM);
    open_ready_channel(&harness, &alice, &bob, 10 * QTUM, None);
    let before: u64 = alice
        .list_channels()
        .iter()
        .map(|c| c.outbound_capacity_msat)
        .sum();

    let invoice = bob
        .receive(250_000_000, "in flight", None)
        .expect("invoice");
    let id = alice.send(&invoice, None).expect("send");
    // Stop at once, whatever stage the HTLC is at; stop must return promptly and cleanly.
    alice.stop().expect("stop with a payment in flight");
    drop(alice);

    let alice = build(alice_config, 93);
    alice.start().expect("restart");
    let settled = alice
        .wait_payment(&id, Duration::from_secs(60))
        .expect("payment");
    assert_ne!(
        settled.status,
        PaymentStatus::Pending,
        "the payment is resolved after restart"
    );
    let after: u64 = alice
        .list_channels()
        .iter()
        .map(|c| c.outbound_capacity_msat)
        .sum();
    let received = bob
        .list_payments(PaymentFilter {
            direction: Some(PaymentDirection::Inbound),
            ..Default::default()
        })
        .expect("list")
        .into_iter()
        .filter(|p| p.status == PaymentStatus::Succeeded)
        .count();
    match settled.status {
        PaymentStatus::Succeeded => {
            assert_eq!(after, before - 250_000_000);
            assert_eq!(received, 1, "paid once");
        }
        _ => {
            assert_eq!(after, before, "nothing left the channel");
            assert_eq!(received, 0);
        }
    }
    // Sending the same invoice again is refused either way it went: succeeded is final, and a
    // failed one is retried only under LDK's idempotency rules.
    if settled.status == PaymentStatus::Succeeded {
        assert_eq!(
            alice.send(&invoice, None),
            Err(qtum_lightning::NodeError::DuplicatePayment)
        );
    }
    alice.stop().expect("stop");
    bob.stop().expect("stop");
}

/// The chain source of `harness` over RPC with its own credentials.
fn rpc_endpoint(harness: &qtum_regtest::RegtestNode) -> RpcEndpointConfig {
    RpcEndpointConfig {
        url: harness.url().to_string(),
        auth: RpcAuth::UserPass {
            user: harness.rpc_user().into(),
            password: harness.rpc_password().into(),
        },
        ca_file: None,
    }
}

#[test]
fn endpoints_on_different_chains_stop_the_sync_and_show_in_status() {
    // Two harnesses whose chains part after block 2,001: the second endpoint is a witness on
    // another chain, as a server feeding the wallet a chain of its own would be next to an
    // honest one. Once over Esplora servers, once over RPC (each harness has its own
    // credentials: each endpoint carries its own).
    for (seed, over_rpc) in [(83u8, false), (84, true)] {
        let name = if over_rpc {
            "two-chains-rpc"
        } else {
            "two-chains-esplora"
        };
        let honest = harness();
        // The other harness takes the honest blocks, not blocks of its own: a block carries
        // the second it was mined in, so two harnesses mining apart share no block at all.
        let other = qtum_regtest::RegtestNode::start().expect("harness");
        for height in 1..=honest.height() {
            let block = honest.with_chain(|c| {
                let hash = c.hash_at(height).expect("active block");
                c.block(&hash).expect("stored block").block.clone()
            });
            other.submit_block(block).expect("the same block");
        }
        assert_eq!(
            other.tip_hash(),
            honest.tip_hash(),
            "one chain to block 2,001"
        );
        let elsewhere = bitcoin::ScriptBuf::new_op_return([7u8; 4]);
        other
            .mine_blocks(12, &elsewhere)
            .expect("mine the other chain");
        let servers;
        let source = if over_rpc {
            ChainSourceConfig::Rpc {
                endpoints: vec![rpc_endpoint(&honest), rpc_endpoint(&other)],
                allow_insecure_http: false,
            }
        } else {
            servers = (esplora_server(&honest), esplora_server(&other));
            ChainSourceConfig::Esplora {
                servers: [servers.0.url(), servers.1.url()]
                    .into_iter()
                    .map(|url| EsploraServerConfig { url, ca_file: None })
                    .collect(),
                allow_insecure_http: false,
            }
        };
        let mut config = config(&honest, name);
        config.chain_source = source;
        let before = honest.height();
        let node = build(config, seed);
        node.start().expect("start");
        mine(&honest, 10);
        assert!(
            node.sync().is_err(),
            "{name}: a tip the witness contradicts is not synced"
        );
        let status = node.status();
        assert!(status.is_running, "{status:?}");
        assert!(
            status
                .degraded_reasons
                .iter()
                .any(|r| r.contains("different chains")),
            "{name}: {status:?}"
        );
        assert!(
            status.synced_height.unwrap_or(0) <= before,
            "{name}: nothing past the disagreement: {status:?}"
        );
        node.stop().expect("stop");
    }
}

#[test]
fn the_configured_ca_file_reaches_the_chain_source() {
    let harness = qtum_regtest::RegtestNode::start().expect("harness");
    let dir = temp_dir("ca-file");
    std::fs::create_dir_all(&dir).expect("dir");
    let not_a_ca = dir.join("ca.pem");
    std::fs::write(&not_a_ca, "not a certificate\n").expect("write");
    // The CA file belongs to the second endpoint only: each endpoint has its own trust.
    let bad_ca = Some(not_a_ca.to_string_lossy().into_owned());
    let mut with_ca = rpc_endpoint(&harness);
    with_ca.ca_file = bad_ca.clone();
    let server = esplora_server(&harness);
    let sources = [
        ChainSourceConfig::Rpc {
            endpoints: vec![rpc_endpoint(&harness), with_ca],
            allow_insecure_http: false,
        },
        ChainSourceConfig::Esplora {
            servers: vec![
                EsploraServerConfig {
                    url: server.url(),
                    ca_file: None,
                },
                EsploraServerConfig {
                    url: format!("{}/", server.url()),
                    ca_file: bad_ca,
                },
            ],
            allow_insecure_http: false,
        },
    ];
    for source in sources {
        let mut config = config(&harness, "ca-file");
        config.chain_source = source;
        let mut builder = qtum_lightning::Builder::new(config);
        builder.set_entropy_seed_bytes(&[84; 32]);
        let err = builder
            .build()
            .err()
            .expect("a CA file without a certificate is refused");
        assert!(
            matches!(&err, BuildError::ChainSource(why) if why.contains("CA file")),
            "{err}"
        );
    }
}

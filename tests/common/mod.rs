//! Shared pieces of the end-to-end tests: the regtest harness, nodes on loopback, waiting for
//! events while mining.

#![allow(dead_code)]

use std::path::PathBuf;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use bitcoin::ScriptBuf;
use qtum_lightning::qtum::address::QtumAddress;
use qtum_lightning::qtum::network::Network;
use qtum_lightning::{Builder, ChainSourceConfig, Config, Event, Node, RpcAuth};
use qtum_regtest::node::RegtestNode;

pub const QTUM: u64 = 100_000_000;

static COUNTER: AtomicU32 = AtomicU32::new(0);

pub fn temp_dir(name: &str) -> PathBuf {
    let n = COUNTER.fetch_add(1, Ordering::SeqCst);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    let dir = std::env::temp_dir().join(format!(
        "qtum-ln-e2e-{name}-{}-{n}-{nanos}",
        std::process::id()
    ));
    std::fs::create_dir_all(&dir).expect("temp dir");
    dir
}

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// A harness with mature coins (2,001 blocks mined), ready to fund nodes.
pub fn harness() -> RegtestNode {
    let harness = RegtestNode::start().expect("regtest harness");
    let script = harness.wallet_script();
    harness
        .mine_blocks(2_001, &script)
        .expect("mine to maturity");
    harness
}

pub fn config(harness: &RegtestNode, name: &str) -> Config {
    let mut config = Config::new(
        Network::Regtest,
        temp_dir(name),
        ChainSourceConfig::Rpc {
            endpoints: vec![harness.url().to_string()],
            auth: RpcAuth::UserPass {
                user: harness.rpc_user().to_string(),
                password: harness.rpc_password().to_string(),
            },
        },
    );
    config.listening_addresses = vec![format!("127.0.0.1:{}", free_port())];
    config.alias = name.to_string();
    config.sync_interval_secs = 1;
    // The tests mine through force-close delays: they keep the first release's 5,400 blocks
    // (48 hours on Qtum) instead of the 7-day default, to mine less.
    config.our_to_self_delay_blocks = TEST_TO_SELF_DELAY;
    config
}

/// The `our_to_self_delay_blocks` of the end-to-end tests' nodes.
pub const TEST_TO_SELF_DELAY: u16 = 5_400;

pub fn build(config: Config, seed: u8) -> Node {
    let mut builder = Builder::new(config);
    builder.set_entropy_seed_bytes(&[seed; 32]);
    builder.build().expect("node builds")
}

pub fn start_node(harness: &RegtestNode, name: &str, seed: u8) -> Node {
    let node = build(config(harness, name), seed);
    node.start().expect("node starts");
    node
}

pub fn script_of(address: &str) -> ScriptBuf {
    QtumAddress::from_str_for(address, Network::Regtest)
        .expect("regtest address")
        .script_pubkey()
}

/// Pay `amount_sat` to a fresh address of `node`, confirm it and wait until the wallet sees it.
pub fn fund(harness: &RegtestNode, node: &Node, amount_sat: u64) {
    let address = node.new_address().expect("address");
    harness
        .fund_address(&script_of(&address), amount_sat)
        .expect("fund");
    mine(harness, 1);
    wait_until("funds confirmed", || {
        let _ = node.sync();
        node.onchain_balance().confirmed_sat >= amount_sat
    });
}

pub fn mine(harness: &RegtestNode, blocks: u32) {
    let script = harness.wallet_script();
    harness.mine_blocks(blocks, &script).expect("mine");
}

/// Poll `done` until it holds (tests never assert timings; this only bounds a hang).
pub fn wait_until(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(120);
    while !done() {
        assert!(Instant::now() < deadline, "gave up waiting for: {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Wait for the next event matching `matches`, acknowledging (and collecting) the ones before.
pub fn expect_event(node: &Node, what: &str, matches: impl Fn(&Event) -> bool) -> Event {
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        assert!(
            Instant::now() < deadline,
            "gave up waiting for event: {what}"
        );
        let _ = node.sync();
        if let Some(event) = node.wait_next_event(Some(Duration::from_millis(200))) {
            node.event_handled().expect("ack");
            if matches(&event) {
                return event;
            }
        }
    }
}

/// Open a channel from `from` to `to` and wait until both see it ready.
pub fn open_ready_channel(
    harness: &RegtestNode,
    from: &Node,
    to: &Node,
    capacity_sat: u64,
    push_msat: Option<u64>,
) -> String {
    let uri = to.node_uri().expect("listening");
    from.open_channel(&uri, capacity_sat, push_msat, false)
        .expect("open");
    let pending = expect_event(from, "channel pending", |e| {
        matches!(e, Event::ChannelPending { .. })
    });
    let Event::ChannelPending { channel_id, .. } = pending else {
        unreachable!()
    };
    mine(harness, 6);
    expect_event(from, "ready (opener)", |e| {
        matches!(e, Event::ChannelReady { .. })
    });
    expect_event(to, "ready (peer)", |e| {
        matches!(e, Event::ChannelReady { .. })
    });
    wait_until("channel usable on both sides", || {
        from.list_channels()
            .iter()
            .any(|c| c.channel_id == channel_id && c.is_usable)
            && to
                .list_channels()
                .iter()
                .any(|c| c.channel_id == channel_id && c.is_usable)
    });
    channel_id
}

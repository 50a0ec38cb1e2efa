//! Shared pieces of the end-to-end tests: the regtest harness, nodes on loopback, waiting for
//! events while mining.

#![allow(dead_code)]

pub mod fee_proxy;

use std::path::PathBuf;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use bitcoin::ScriptBuf;
use qtum_lightning::qtum::address::QtumAddress;
use qtum_lightning::qtum::network::Network;
use qtum_lightning::{Builder, ChainSourceConfig, Config, Event, Node, PaymentStatus, RpcAuth};
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
        ChainSourceConfig::rpc(
            harness.url().to_string(),
            RpcAuth::UserPass {
                user: harness.rpc_user().to_string(),
                password: harness.rpc_password().to_string(),
            },
        ),
    );
    config.listening_addresses = vec![([127, 0, 0, 1], free_port()).into()];
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
) -> qtum_lightning::ChannelId {
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

/// Reasons for which qtumd refuses a transaction whatever its mempool and chain hold when it
/// arrives: the transaction itself breaks relay policy (or is malformed), so every node refuses
/// it every time it is sent, and the channel close, claim or payment it carries never confirms.
/// Matched against the reject reason (the text before the first `, `); a reason ending in `(`
/// matches every reason it starts with.
///
/// - what the SDK (or LDK) pays: `min relay fee not met` and `mempool min fee not met` (under
///   Qtum's 400 sat/vB), `max-fee-exceeded` (over `sendrawtransaction`'s cap of 1 QTUM/kvB);
/// - its outputs: `dust` (under Qtum's 400 sat/vB dust threshold: LDK's unpatched limits),
///   `bad-txns-vout-empty` (Qtum reserves an empty output for coinbases and coinstakes),
///   `scriptpubkey`, `multi-op-return`, `bare-multisig`;
/// - its shape: `version`, `tx-size`, `tx-size-small`, `scriptsig-size`,
///   `scriptsig-not-pushonly`, `bad-txns-nonstandard-inputs`, `bad-witness-nonstandard`,
///   `bad-txns-too-many-sigops`, and the standard-only script flags
///   (`non-mandatory-script-verify-flag (…)`).
///
/// Not counted: refusals that depend on the moment, which LDK's blind rebroadcasts (every
/// block, every 30 s, after restarts) and the wallet meet all the time and which are harmless:
/// `txn-already-in-mempool`, `txn-same-nonwitness-data-in-mempool`, `txn-already-known` (sent
/// again after it confirmed), `txn-mempool-conflict` (the other side's version is in the
/// mempool), `bad-txns-inputs-missingorspent` (a spent output: e.g. a commitment rebroadcast
/// after the closing transaction confirmed), the BIP 125 replacement rules (`insufficient
/// fee` — in qtumd and the harness it is only ever a replacement's reason —, `too many
/// potential replacements`, `replacement-adds-unconfirmed`, `bad-txns-spends-conflicting-tx`),
/// `too-long-mempool-chain`, and the time locks (`non-final`, `non-BIP68-final`,
/// `bad-txns-premature-spend-of-coinbase`), which a transaction meets once the chain is far
/// enough.
pub const POLICY_REFUSALS: &[&str] = &[
    "min relay fee not met",
    "mempool min fee not met",
    "max-fee-exceeded",
    "dust",
    "bad-txns-vout-empty",
    "scriptpubkey",
    "multi-op-return",
    "bare-multisig",
    "version",
    "tx-size",
    "tx-size-small",
    "scriptsig-size",
    "scriptsig-not-pushonly",
    "bad-txns-nonstandard-inputs",
    "bad-witness-nonstandard",
    "bad-txns-too-many-sigops",
    "non-mandatory-script-verify-flag (",
];

/// Whether a refusal message (as `RegtestNode::refused_transactions` gives it) has one of the
/// [`POLICY_REFUSALS`] reasons.
pub fn is_policy_refusal(message: &str) -> bool {
    let reason = message.split(", ").next().unwrap_or(message);
    POLICY_REFUSALS.iter().any(|p| {
        if p.ends_with('(') {
            reason.starts_with(p)
        } else {
            reason == *p
        }
    })
}

/// Panic, listing them, if the harness refused any submitted transaction for a policy reason
/// ([`POLICY_REFUSALS`]); prints a count of the other refusals (rebroadcast noise).
pub fn assert_no_policy_refusals(harness: &RegtestNode) {
    let refused = harness.refused_transactions();
    let (policy, other): (Vec<_>, Vec<_>) = refused
        .iter()
        .partition(|(_, reason)| is_policy_refusal(reason));
    if !other.is_empty() {
        let mut reasons: Vec<&str> = other
            .iter()
            .map(|(_, r)| r.split(", ").next().unwrap_or(r))
            .collect();
        reasons.sort_unstable();
        reasons.dedup();
        eprintln!(
            "harness: {} refusal(s) of other kinds (not counted): {}",
            other.len(),
            reasons.join("; ")
        );
    }
    assert!(
        policy.is_empty(),
        "the harness refused {} transaction(s) for a policy reason:\n{}",
        policy.len(),
        policy
            .iter()
            .map(|(txid, reason)| format!("  {txid}: {reason}"))
            .collect::<Vec<_>>()
            .join("\n")
    );
}

/// Node logs on stderr for a test being debugged.
struct StderrLog(log::LevelFilter);

impl log::Log for StderrLog {
    fn enabled(&self, metadata: &log::Metadata<'_>) -> bool {
        // The HTTP client's own debug lines would drown the node's.
        metadata.level() <= self.0
            && (metadata.level() <= log::Level::Info || !metadata.target().starts_with("ureq"))
    }

    fn log(&self, record: &log::Record<'_>) {
        if self.enabled(record.metadata()) {
            let thread = std::thread::current();
            eprintln!(
                "[{} {} {}] {}",
                record.level(),
                thread.name().unwrap_or("?"),
                record.target(),
                record.args()
            );
        }
    }

    fn flush(&self) {}
}

/// Node logs on stderr when `E2E_LOG` names a level (`info`, `debug`, `trace`). Call it before
/// the first node is built, so the SDK's own dispatcher stays out of the way.
pub fn init_logs() {
    let Some(level) = std::env::var("E2E_LOG")
        .ok()
        .and_then(|l| l.parse::<log::LevelFilter>().ok())
    else {
        return;
    };
    let logger: &'static StderrLog = Box::leak(Box::new(StderrLog(level)));
    if log::set_logger(logger).is_ok() {
        log::set_max_level(level);
    }
}

/// A `qtum-esplora` server in front of `harness`, on a free loopback port.
pub fn esplora_server(harness: &RegtestNode) -> qtum_esplora::EsploraServer {
    qtum_esplora::EsploraServer::start(qtum_esplora::ServerConfig::new(
        harness.url(),
        qtum_lightning::RpcAuth::UserPass {
            user: harness.rpc_user().into(),
            password: harness.rpc_password().into(),
        },
        "127.0.0.1:0".parse().expect("addr"),
    ))
    .expect("qtum-esplora starts")
}

/// A peer for `a` (running): B, started with `b_name` and `b_seed`, and a usable 1 QTUM channel
/// from A, which is funded with 2 QTUM for it.
pub fn channel_to_new_peer(harness: &RegtestNode, a: &Node, b_name: &str, b_seed: u8) -> Node {
    let b = start_node(harness, b_name, b_seed);
    fund(harness, a, 2 * QTUM);
    open_ready_channel(harness, a, &b, QTUM, None);
    b
}

/// `from` pays an invoice of `to` for `amount_msat`; returns once both sides have it settled.
pub fn pay(from: &Node, to: &Node, amount_msat: u64) {
    let invoice = to.receive(amount_msat, "test", None).expect("invoice");
    let id = from.send(&invoice, None).expect("send");
    let paid = from
        .wait_payment(&id, Duration::from_secs(60))
        .expect("payment");
    assert_eq!(paid.status, PaymentStatus::Succeeded, "{paid:?}");
    wait_until("the payee has it", || {
        to.payment(&id)
            .ok()
            .flatten()
            .is_some_and(|p| p.status == PaymentStatus::Succeeded)
    });
}

/// Wait until neither node has written a monitor update for a second: the commitment dance of
/// the last payment is over (a payment counts as sent on the fulfill, before the HTLC leaves
/// both commitments; a copy taken earlier would hold a commitment with the HTLC still in it).
pub fn wait_settled(a: &Node, b: &Node) {
    let updates = || (a.storage_stats().updates, b.storage_stats().updates);
    let mut last = updates();
    let mut since = Instant::now();
    wait_until("no channel update for a second", || {
        let now = updates();
        if now != last {
            last = now;
            since = Instant::now();
        }
        since.elapsed() >= Duration::from_secs(1)
    });
}

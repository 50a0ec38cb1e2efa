//! Three nodes on three fee sources never disagree about a channel (`qtum_chain::fees`,
//! `docs/qtum-time.md` §2): NONE reads Esplora through a proxy that has no fee data (fallbacks
//! only), FLOOR reads the harness's RPC (`estimatesmartfee` at Qtum's 400 sat/vB floor, from
//! floor-rate transactions the test keeps mining), HIGH reads Esplora through a proxy answering
//! high rates that move over the test (up, down, a stretch at the floor, a stretch with no data).
//!
//! Every node funds a channel to each other one, so each pair has one channel each way, and
//! every channel is paid over in both directions (amounts chosen so that LDK's router takes
//! that channel, checked on both sides' balances). Then more than a day of Qtum blocks is
//! mined in small steps, every node synced to every new tip, so that LDK's low-feerate tracker
//! (144 samples, one per tip) has run its course on every node, while HIGH raises and lowers
//! the commitment feerate of the channels it funded. No channel may close, every one stays
//! usable and is paid over again, every one closes cooperatively with the funds back on chain,
//! and the harness refused no transaction for a policy reason.
//!
//! Logs: `FEE_SOURCES_LOG=debug` (or trace, info, warn, error; default warn) prints the SDK's
//! and LDK's log records to stderr.

mod common;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::fee_proxy::{FeeAnswer, FeeProxy};
use common::*;
use qtum_lightning::ffi::{set_log_writer, LogLevel, LogRecord, LogWriter};
use qtum_lightning::qtum::policy::FEERATE_FLOOR_SAT_PER_KW;
use qtum_lightning::ChannelId;
use qtum_lightning::{ChainSourceConfig, ChannelInfo, Event, Node, PaymentStatus};
use qtum_regtest::node::RegtestNode;

/// Blocks per step: every node syncs to every step's tip.
const STEP_BLOCKS: u32 = 14;
/// A day of Qtum blocks (32 s each).
const DAY_BLOCKS: u32 = 2_700;
/// LDK's low-feerate tracker closes an inbound channel after this many tips (samples) below
/// its minimum (`FEERATE_TRACKING_BLOCKS`).
const FEERATE_SAMPLES: u32 = 144;
/// Capacity of every channel.
const CAPACITY_SAT: u64 = 2 * QTUM;
/// What the funder of a channel gives the other side at the open: both sides then have a
/// balance above their reserve, which payments keep (see `at_rest`).
const PUSH_SAT: u64 = 25_000_000;
/// The small payment; where the router would not send it over the channel wanted, a larger
/// one (see `amount_over`).
const SMALL_SAT: u64 = 1_000;
/// LDK's router gathers routes worth this many times the amount before choosing
/// (`ROUTE_CAPACITY_PROVISION_FACTOR`).
const ROUTE_PROVISION: u64 = 3;
/// Confirmed coins each node is funded with (one coin each).
const FUNDING_COINS: [u64; 3] = [3 * QTUM, 3 * QTUM, QTUM];
/// FLOOR sends itself a floor-rate transaction every this many steps, so that the harness's
/// `estimatesmartfee` (which looks at the last 1,008 blocks) always has floor samples.
const FLOOR_SAMPLE_EVERY_STEPS: u32 = 40;

struct Peer {
    name: &'static str,
    node: Node,
    /// Every event the node emitted, in order (acknowledged as they are read).
    events: Vec<Event>,
    /// Time spent in `sync_all` waiting for this node.
    sync_time: Duration,
}

impl Peer {
    /// Read (and acknowledge) every queued event; a close is fatal unless `closing`.
    fn drain(&mut self, closing: bool) {
        while let Some(event) = self.node.next_event() {
            self.node.event_handled().expect("ack");
            if !closing {
                if let Event::ChannelClosed {
                    channel_id, reason, ..
                } = &event
                {
                    panic!("{}: channel {channel_id} closed: {reason}", self.name);
                }
            }
            self.events.push(event);
        }
    }

    fn channel(&self, id: &ChannelId) -> ChannelInfo {
        self.node
            .list_channels()
            .into_iter()
            .find(|c| c.channel_id == *id)
            .unwrap_or_else(|| panic!("{}: channel {id} is gone", self.name))
    }

    /// Our channels with `peer`, by channel id.
    fn channels_with(&self, peer: &Peer) -> BTreeMap<ChannelId, ChannelInfo> {
        let id = peer.node.node_id();
        self.node
            .list_channels()
            .into_iter()
            .filter(|c| c.counterparty_node_id == id)
            .map(|c| (c.channel_id, c))
            .collect()
    }
}

/// One channel: who funded it and who accepted it (indexes into the peers).
#[derive(Clone, Debug)]
struct Channel {
    id: ChannelId,
    funder: usize,
    fundee: usize,
}

/// The HIGH source's rates (sat/vB for 1, 6, 12, 144 blocks), scaled by `percent`.
fn high_rates(percent: u32) -> FeeAnswer {
    let scale = |r: f64| r * f64::from(percent) / 100.0;
    FeeAnswer::Rates(vec![
        (1, scale(3_000.0)),
        (6, scale(2_000.0)),
        (12, scale(1_500.0)),
        (144, scale(1_000.0)),
    ])
}

/// How HIGH's rates move over the steps of a stretch: up and down around the base.
fn moving(step: u32) -> u32 {
    const WAVE: [u32; 8] = [100, 130, 80, 160, 60, 110, 200, 90];
    WAVE[(step / 5) as usize % WAVE.len()]
}

/// Every rate at Qtum's relay floor.
fn floor_rates() -> FeeAnswer {
    FeeAnswer::Rates(vec![(1, 400.0), (6, 400.0), (12, 400.0), (144, 400.0)])
}

/// The log records, to stderr at the level `FEE_SOURCES_LOG` names.
struct StderrLog;

impl LogWriter for StderrLog {
    fn log(&self, r: LogRecord) {
        eprintln!("[{:?} {}] {}", r.level, r.target, r.message);
    }
}

fn install_log() {
    let level = match std::env::var("FEE_SOURCES_LOG").as_deref() {
        Ok("trace") => LogLevel::Trace,
        Ok("debug") => LogLevel::Debug,
        Ok("info") => LogLevel::Info,
        Ok("error") => LogLevel::Error,
        _ => LogLevel::Warn,
    };
    set_log_writer(Some(Arc::new(StderrLog)), level);
}

/// Sync every node to the harness's tip, the three at once (and read their events).
fn sync_all(harness: &RegtestNode, peers: &mut [Peer], closing: bool) {
    let height = harness.height();
    let took: Vec<Duration> = std::thread::scope(|s| {
        let syncing: Vec<_> = peers
            .iter()
            .map(|p| {
                let (name, node) = (p.name, &p.node);
                s.spawn(move || {
                    let t = Instant::now();
                    wait_until(&format!("{name} synced to {height}"), || {
                        let _ = node.sync();
                        node.status().synced_height == Some(height)
                    });
                    t.elapsed()
                })
            })
            .collect();
        syncing
            .into_iter()
            .map(|h| h.join().unwrap_or_else(|e| std::panic::resume_unwind(e)))
            .collect()
    });
    for (p, t) in peers.iter_mut().zip(took) {
        p.sync_time += t;
        p.drain(closing);
    }
}

/// Time each node took to sync in `sync_all`, for the progress lines.
fn sync_times(peers: &[Peer]) -> String {
    peers
        .iter()
        .map(|p| format!("{} {:.1}s", p.name, p.sync_time.as_secs_f64()))
        .collect::<Vec<_>>()
        .join(", ")
}

/// (lowest, highest) of what LDK's router may send over `c` in one HTLC now, msat: our
/// outbound capacity, capped by the peer's 50 % in-flight limit, less (for the lowest) the fee
/// buffer a funder keeps for its commitment transaction.
fn htlc_limits(c: &ChannelInfo) -> (u64, u64) {
    let in_flight = c.capacity_sat * 1000 / 2;
    let upper = c.outbound_capacity_msat.min(in_flight);
    let buffer_msat = if c.is_outbound {
        1_000_000_000
    } else {
        100_000_000
    };
    let lower = c
        .outbound_capacity_msat
        .saturating_sub(buffer_msat)
        .min(in_flight.saturating_sub(1_000_000));
    (lower, upper)
}

/// Whether LDK's router, sending `amount_sat` to a peer we have `channels` with, takes `target`
/// alone. It sorts first hops to the same peer (`sort_first_hop_channels`): when each can carry
/// three times the amount, the smallest first; otherwise the largest first; and the first one
/// that carries three times the amount completes the route by itself.
fn routes_over(
    channels: &BTreeMap<ChannelId, ChannelInfo>,
    target: &ChannelId,
    amount_sat: u64,
) -> bool {
    let wanted = amount_sat * 1000 * ROUTE_PROVISION;
    let (lower, upper) = htlc_limits(&channels[target]);
    lower >= wanted
        && channels
            .iter()
            .filter(|(id, _)| *id != target)
            .all(|(_, o)| {
                let (o_lower, o_upper) = htlc_limits(o);
                o_upper < wanted || upper < o_lower
            })
}

/// An amount LDK's router sends over `target` alone: SMALL_SAT if it does, else just over a
/// third of the largest other channel's limit.
fn amount_over(channels: &BTreeMap<ChannelId, ChannelInfo>, target: &ChannelId) -> u64 {
    if routes_over(channels, target, SMALL_SAT) {
        return SMALL_SAT;
    }
    let other_max = channels
        .iter()
        .filter(|(id, _)| *id != target)
        .map(|(_, o)| htlc_limits(o).1)
        .max()
        .unwrap_or(0);
    let amount = (other_max / 1000 / ROUTE_PROVISION + 1_000).max(SMALL_SAT);
    assert!(
        routes_over(channels, target, amount),
        "no amount goes over {target} alone: {channels:#?}"
    );
    amount
}

/// The reserve each side of `c` must keep (1 % of the capacity, at least Qtum's dust limit).
fn reserve_sat(c: &ChannelInfo) -> u64 {
    (c.capacity_sat / 100).max(72_800)
}

/// Whether two peers see every channel between them at rest, in the same state: nothing in
/// flight in any state (LDK's outbound and inbound capacities leave out every HTLC not yet
/// fully added or removed, so with both balances above their reserves they add up to the
/// capacity less both reserves only then), and each one's outbound capacity is the other's
/// inbound capacity.
fn at_rest(
    ours: &BTreeMap<ChannelId, ChannelInfo>,
    theirs: &BTreeMap<ChannelId, ChannelInfo>,
) -> bool {
    let full = |c: &ChannelInfo| {
        c.outbound_capacity_msat + c.inbound_capacity_msat
            == (c.capacity_sat - 2 * reserve_sat(c)) * 1000
            && c.htlcs_in_flight == 0
    };
    ours.keys().eq(theirs.keys())
        && ours.iter().all(|(id, c)| {
            let t = &theirs[id];
            full(c)
                && full(t)
                && c.outbound_capacity_msat == t.inbound_capacity_msat
                && c.inbound_capacity_msat == t.outbound_capacity_msat
        })
}

/// Pay `amount_sat` from `payer` to `payee` and check it went over channel `id` alone: the
/// payer's outbound capacity on it fell by the amount (outbound capacity does not depend on
/// the commitment fee) and did not move on the payer's other channels with the payee, as both
/// sides see them at rest.
fn pay_over(payer: &mut Peer, payee: &mut Peer, id: &ChannelId, amount_sat: u64) {
    wait_until(
        &format!("{} and {}: channels at rest", payer.name, payee.name),
        || at_rest(&payer.channels_with(payee), &payee.channels_with(payer)),
    );
    let before = payer.channels_with(payee);
    assert!(
        routes_over(&before, id, amount_sat),
        "test setup: {amount_sat} sat from {} to {} would not go over {id} alone: {before:#?}",
        payer.name,
        payee.name
    );
    let invoice = payee
        .node
        .receive(amount_sat * 1000, "fee sources", None)
        .expect("invoice");
    let payment = payer.node.send(&invoice, None).expect("send");
    let paid = payer
        .node
        .wait_payment(&payment, Duration::from_secs(60))
        .expect("payment");
    assert_eq!(
        paid.status,
        PaymentStatus::Succeeded,
        "{amount_sat} sat from {} to {} over {id}: {:?}",
        payer.name,
        payee.name,
        paid.failure_reason
    );
    assert_eq!(paid.fee_paid_msat.unwrap_or(0), 0, "a direct payment");
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let now = payer.channels_with(payee);
        let theirs = payee.channels_with(payer);
        let settled = now.keys().eq(before.keys())
            && at_rest(&now, &theirs)
            && now.iter().all(|(cid, c)| {
                let expected = if cid == id {
                    before[cid].outbound_capacity_msat - amount_sat * 1000
                } else {
                    before[cid].outbound_capacity_msat
                };
                c.outbound_capacity_msat == expected
            });
        if settled {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "{amount_sat} sat from {} to {} did not settle over {id} alone:\nbefore {before:#?}\nnow {now:#?}\npayee's side {theirs:#?}",
            payer.name,
            payee.name
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    payer.drain(false);
    payee.drain(false);
}

/// Two distinct mutable peers.
fn two(peers: &mut [Peer], a: usize, b: usize) -> (&mut Peer, &mut Peer) {
    assert_ne!(a, b);
    if a < b {
        let (x, y) = peers.split_at_mut(b);
        (&mut x[a], &mut y[0])
    } else {
        let (x, y) = peers.split_at_mut(a);
        (&mut y[0], &mut x[b])
    }
}

/// Pay over every channel, both ways, with an amount the router sends over it alone.
fn pay_every_channel_both_ways(peers: &mut [Peer], channels: &[Channel]) {
    for c in channels {
        for (from, to) in [(c.funder, c.fundee), (c.fundee, c.funder)] {
            let (payer, payee) = two(peers, from, to);
            let amount = amount_over(&payer.channels_with(payee), &c.id);
            pay_over(payer, payee, &c.id, amount);
            eprintln!(
                "  {} -> {}: {amount} sat over {}",
                payer.name,
                payee.name,
                &c.id.to_string()[..8]
            );
        }
    }
}

/// Every channel is there and usable on both sides.
fn assert_all_usable(peers: &[Peer], channels: &[Channel]) {
    for c in channels {
        for side in [c.funder, c.fundee] {
            let info = peers[side].channel(&c.id);
            assert!(
                info.is_usable,
                "{}: channel {} not usable: {info:?}",
                peers[side].name, c.id
            );
        }
    }
}

/// The commitment feerate (sat/kW) of each of `ids`, as their funder `peer` pays it, or
/// `None` while an HTLC is in flight: the funder's balance on close is its share less the
/// commitment fee (724 weight units without HTLCs), its outbound capacity the share less the
/// reserve its peer asks (1 % of the capacity here).
fn commitment_feerates(peer: &Peer, ids: &[ChannelId]) -> Vec<Option<u64>> {
    ids.iter()
        .map(|id| {
            let c = peer.channel(id);
            assert!(c.is_outbound);
            let fee =
                (c.outbound_capacity_msat / 1000 + reserve_sat(&c)).checked_sub(c.balance_sat)?;
            (c.htlcs_in_flight == 0).then_some(fee * 1000 / 724)
        })
        .collect()
}

/// A floor-rate (400 sat/vB, raised to the wallet's 404) transaction from `peer` to itself,
/// in the mempool: the harness's `estimatesmartfee` then answers the floor once it is mined.
fn floor_rate_transaction(harness: &RegtestNode, peer: &Peer) {
    let address = peer.node.new_address().expect("address");
    let txid: bitcoin::Txid = peer
        .node
        .send_to_address(&address, QTUM / 10, Some(400))
        .expect("floor-rate send");
    assert!(
        harness.with_chain(|c| c.mempool.get(&txid).is_some()),
        "the floor-rate transaction is not in the mempool: {:?}",
        harness.refused_transactions()
    );
}

#[test]
fn nodes_on_different_fee_sources_never_disagree() {
    let started = Instant::now();
    let progress = |what: &str| eprintln!("[{:>6.1}s] {what}", started.elapsed().as_secs_f64());
    install_log();

    let harness = harness();
    let server = esplora_server(&harness);
    let none_proxy = FeeProxy::start(&server.url());
    let high_proxy = FeeProxy::start(&server.url());
    high_proxy.set(high_rates(100));
    // The test syncs every node at every step itself; the background sync keeps the SDK's
    // default pace (30 s) instead of the end-to-end tests' 1 s, which would only compete.
    let config = |name: &str| {
        let mut c = config(&harness, name);
        c.sync_interval_secs = 30;
        c
    };
    let esplora = |name: &str, proxy: &FeeProxy| {
        let mut c = config(name);
        c.chain_source = ChainSourceConfig::esplora(proxy.url());
        c
    };

    // NONE and HIGH first. FLOOR reads its first estimates when it is built, so floor-rate
    // samples are mined before: the harness wallet's payments (1,000 sat/vB) and one
    // transaction of NONE's at the floor.
    let none = build(esplora("fees-none", &none_proxy), 91);
    none.start().expect("start");
    let high = build(esplora("fees-high", &high_proxy), 93);
    high.start().expect("start");
    let mut peers = vec![
        Peer {
            name: "NONE",
            node: none,
            events: Vec::new(),
            sync_time: Duration::ZERO,
        },
        Peer {
            name: "HIGH",
            node: high,
            events: Vec::new(),
            sync_time: Duration::ZERO,
        },
    ];
    let fund_all = |peers: &[Peer]| {
        for p in peers {
            for amount in FUNDING_COINS {
                let address = p.node.new_address().expect("address");
                harness
                    .fund_address(&script_of(&address), amount)
                    .expect("fund");
            }
        }
        mine(&harness, 1);
        let total: u64 = FUNDING_COINS.iter().sum();
        for p in peers {
            wait_until(&format!("{} funded", p.name), || {
                let _ = p.node.sync();
                p.node.onchain_balance().confirmed_sat >= total
            });
        }
    };
    fund_all(&peers);
    floor_rate_transaction(&harness, &peers[0]);
    mine(&harness, 1);
    let floor_estimate = harness.with_chain(|c| c.estimate_fee(12));
    assert!(
        floor_estimate.is_some_and(|r| r < 410_000),
        "the harness estimates {floor_estimate:?} sat/kvB, not the floor"
    );
    let floor = build(config("fees-floor"), 92);
    floor.start().expect("start");
    peers.insert(
        1,
        Peer {
            name: "FLOOR",
            node: floor,
            events: Vec::new(),
            sync_time: Duration::ZERO,
        },
    );
    fund_all(&peers[1..2]);
    sync_all(&harness, &mut peers, false);
    progress("three nodes funded: NONE (no fee data), FLOOR (RPC, floor), HIGH (high rates)");

    // A channel from every node to every other one (6), all confirmed together.
    let mut opened: Vec<(usize, usize)> = Vec::new();
    for funder in 0..3 {
        for fundee in 0..3 {
            if funder == fundee {
                continue;
            }
            let uri = peers[fundee].node.node_uri().expect("listening");
            peers[funder]
                .node
                .open_channel(&uri, CAPACITY_SAT, Some(PUSH_SAT * 1000), false)
                .unwrap_or_else(|e| {
                    panic!(
                        "{} cannot open to {}: {e}",
                        peers[funder].name, peers[fundee].name
                    )
                });
            opened.push((funder, fundee));
        }
    }
    wait_until("every funding transaction broadcast", || {
        for p in peers.iter_mut() {
            p.drain(false);
        }
        peers.iter().all(|p| {
            p.events
                .iter()
                .filter(|e| matches!(e, Event::ChannelPending { .. }))
                .count()
                >= 4
        })
    });
    mine(&harness, 6);
    wait_until("every channel ready and usable on both sides", || {
        for p in peers.iter_mut() {
            let _ = p.node.sync();
            p.drain(false);
        }
        let ready = peers.iter().all(|p| {
            let list = p.node.list_channels();
            list.len() == 4 && list.iter().all(|c| c.is_usable)
        });
        if !ready {
            std::thread::sleep(Duration::from_millis(500));
        }
        ready
    });
    let mut channels: Vec<Channel> = Vec::new();
    for &(funder, fundee) in &opened {
        let fundee_id = peers[fundee].node.node_id();
        let c = peers[funder]
            .node
            .list_channels()
            .into_iter()
            .find(|c| c.is_outbound && c.counterparty_node_id == fundee_id)
            .expect("the channel");
        channels.push(Channel {
            id: c.channel_id,
            funder,
            fundee,
        });
    }
    for c in &channels {
        assert!(!peers[c.fundee].channel(&c.id).is_outbound);
    }
    progress("6 channels open, one each way between every two fee sources");

    pay_every_channel_both_ways(&mut peers, &channels);
    progress("paid over every channel both ways");

    // More than a day of blocks in steps of STEP_BLOCKS, every node synced to every tip, HIGH's
    // rates moving in stretches. The first one (high rates, moving) alone gives LDK's tracker
    // more than FEERATE_SAMPLES samples on every node. HIGH reads its estimates once a minute
    // and its channel manager acts on them once a minute: the floor stretch lasts until HIGH
    // has lowered the commitment feerate of the channels it funded to the floor (its peers
    // accepted the `update_fee`), the others until HIGH has read them at least once.
    let high_funded: Vec<ChannelId> = channels
        .iter()
        .filter(|c| c.funder == 2)
        .map(|c| c.id)
        .collect();
    // What a funder at the floor sets: the floor rounded up to 2,500 sat/kW (`qtum_chain::fees`).
    let floor_commitment = u64::from(FEERATE_FLOOR_SAT_PER_KW.div_ceil(2_500) * 2_500);
    type Rates = dyn Fn(u32) -> FeeAnswer;
    let stretches: [(&str, u32, &Rates, Option<u64>); 4] = [
        (
            "high, moving",
            FEERATE_SAMPLES + 6,
            &|s| high_rates(moving(s)),
            None,
        ),
        ("floor", 10, &|_| floor_rates(), Some(floor_commitment)),
        ("no data", 10, &|_| FeeAnswer::NoData, None),
        (
            "high again, moving",
            10,
            &|s| high_rates(moving(s + 3) / 2 + 40),
            None,
        ),
    ];
    let start_height = harness.height();
    let mut steps = 0u32;
    let (none_forwarded, high_forwarded) = (none_proxy.forwarded(), high_proxy.forwarded());
    for (name, min_steps, rates, commitment) in stretches {
        high_proxy.set(rates(0));
        let read_before = high_proxy.fee_requests();
        let stretch_started = Instant::now();
        let mut step = 0u32;
        loop {
            let feerates = commitment_feerates(&peers[2], &high_funded);
            let done = step >= min_steps
                && high_proxy.fee_requests() > read_before
                && commitment.is_none_or(|want| feerates.iter().all(|f| *f == Some(want)));
            if done {
                break;
            }
            assert!(
                step < min_steps || stretch_started.elapsed() < Duration::from_secs(300),
                "HIGH {name}: after {step} steps HIGH's commitment feerates are {feerates:?}, \
                 not {commitment:?} (fee estimates read {} times)",
                high_proxy.fee_requests() - read_before
            );
            high_proxy.set(rates(step));
            if steps.is_multiple_of(FLOOR_SAMPLE_EVERY_STEPS) {
                floor_rate_transaction(&harness, &peers[1]);
            }
            mine(&harness, STEP_BLOCKS);
            sync_all(&harness, &mut peers, false);
            step += 1;
            steps += 1;
            for p in &peers {
                assert_eq!(
                    p.node.list_channels().len(),
                    4,
                    "{}: a channel is gone",
                    p.name
                );
            }
            if steps.is_multiple_of(25) {
                progress(&format!(
                    "step {steps}, tip {}; time syncing so far: {}",
                    harness.height(),
                    sync_times(&peers)
                ));
            }
        }
        progress(&format!(
            "HIGH {name}: {step} steps (tip {}), its estimates read {} time(s), its commitment \
             feerates {:?} sat/kW",
            harness.height(),
            high_proxy.fee_requests() - read_before,
            commitment_feerates(&peers[2], &high_funded)
        ));
    }
    while harness.height() - start_height < DAY_BLOCKS + 100 {
        mine(&harness, STEP_BLOCKS);
        sync_all(&harness, &mut peers, false);
        steps += 1;
    }
    let per_step = |proxy: &FeeProxy, (n0, t0): (u64, Duration)| {
        let (n, t) = proxy.forwarded();
        let n = (n - n0).max(1);
        format!(
            "{} requests per step, {:.1} ms each",
            n / u64::from(steps),
            (t - t0).as_secs_f64() * 1000.0 / n as f64
        )
    };
    eprintln!(
        "  Esplora: NONE {}, HIGH {}",
        per_step(&none_proxy, none_forwarded),
        per_step(&high_proxy, high_forwarded)
    );
    let mined = harness.height() - start_height;
    assert!(mined > DAY_BLOCKS && steps > FEERATE_SAMPLES);
    progress(&format!("{mined} blocks mined in {steps} steps"));

    // Still open and usable everywhere, and paid over again.
    for p in peers.iter_mut() {
        p.drain(false);
    }
    assert_all_usable(&peers, &channels);
    assert!(
        peers.iter().all(|p| !p
            .events
            .iter()
            .any(|e| matches!(e, Event::ChannelClosed { .. }))),
        "no channel closed"
    );
    pay_every_channel_both_ways(&mut peers, &channels);
    progress("every channel usable and paid over both ways after a day of blocks");

    // Close cooperatively: half by the funder, half by the fundee.
    let before: Vec<u64> = peers
        .iter()
        .map(|p| p.node.onchain_balance().total_sat)
        .collect();
    let mut in_channels = [0u64; 3];
    let mut funded = [0u64; 3];
    for c in &channels {
        for side in [c.funder, c.fundee] {
            in_channels[side] += peers[side].channel(&c.id).balance_sat;
        }
        funded[c.funder] += 1;
    }
    for (n, c) in channels.iter().enumerate() {
        let closer = if n % 2 == 0 { c.funder } else { c.fundee };
        peers[closer]
            .node
            .close_channel(&c.id)
            .unwrap_or_else(|e| panic!("{} cannot close {}: {e}", peers[closer].name, c.id));
    }
    wait_until("every channel closed", || {
        mine(&harness, 1);
        sync_all(&harness, &mut peers, true);
        peers.iter().all(|p| p.node.list_channels().is_empty())
    });
    mine(&harness, 1);
    sync_all(&harness, &mut peers, true);
    for p in peers.iter_mut() {
        wait_until(
            &format!("{}: a ChannelClosed for each channel", p.name),
            || {
                p.drain(true);
                p.events
                    .iter()
                    .filter(|e| matches!(e, Event::ChannelClosed { .. }))
                    .count()
                    >= 4
            },
        );
        for e in &p.events {
            if let Event::ChannelClosed {
                channel_id, reason, ..
            } = e
            {
                assert!(
                    reason.contains("cooperatively closed"),
                    "{}: {channel_id} closed: {reason}",
                    p.name
                );
            }
        }
    }
    // Each side gets its channel balance back, the funder less a closing fee (at most its
    // highest commitment rate on a closing transaction, plus LDK's 10,000-sat headroom).
    const MAX_CLOSING_FEE_SAT: u64 = 250_000;
    for (i, p) in peers.iter().enumerate() {
        let floor = before[i] + in_channels[i] - funded[i] * MAX_CLOSING_FEE_SAT;
        let ceiling = before[i] + in_channels[i] + funded[i] * MAX_CLOSING_FEE_SAT;
        wait_until(&format!("{}: funds back on chain", p.name), || {
            let _ = p.node.sync();
            let b = p.node.onchain_balance();
            b.confirmed_sat >= floor && b.total_sat == b.confirmed_sat
        });
        let now = p.node.onchain_balance().total_sat;
        assert!(
            now <= ceiling,
            "{}: {now} sat on chain, more than the {} sat expected",
            p.name,
            before[i] + in_channels[i]
        );
        eprintln!(
            "  {}: {} sat in channels, on chain {} -> {now} sat",
            p.name, in_channels[i], before[i]
        );
    }
    assert_no_policy_refusals(&harness);
    progress("every channel closed cooperatively, funds back on chain");

    for p in &peers {
        p.node.stop().expect("stop");
    }
}

/// The helper the test ends with: a dust output or a fee under the relay floor fails it,
/// rebroadcast noise does not.
#[test]
fn policy_refusals_are_told_from_rebroadcast_noise() {
    for (reason, policy) in [
        ("dust", true),
        ("min relay fee not met, 56399 < 56400", true),
        ("bad-txns-vout-empty", true),
        (
            "non-mandatory-script-verify-flag (Non-canonical DER signature)",
            true,
        ),
        ("scriptpubkey", true),
        ("tx-size-small", true),
        (
            "insufficient fee, rejecting replacement 00ab; new feerate <= old feerate",
            false,
        ),
        ("txn-already-in-mempool", false),
        ("txn-already-known", false),
        ("txn-mempool-conflict", false),
        ("bad-txns-inputs-missingorspent", false),
        ("non-BIP68-final", false),
    ] {
        assert_eq!(is_policy_refusal(reason), policy, "{reason}");
    }

    let harness = harness();
    let script = harness.wallet_script();
    let paid = harness.fund_address(&script, QTUM).expect("fund");
    mine(&harness, 1);
    let tx = harness
        .with_chain(|c| c.confirmed_tx(&paid.txid).map(|(tx, _, _)| tx.clone()))
        .expect("confirmed");
    assert!(harness.send_transaction(&tx).is_err());
    assert_no_policy_refusals(&harness);
    assert!(harness.fund_address(&script, 1_000).is_err());
    let refused = harness.refused_transactions();
    assert_eq!(refused.len(), 2, "{refused:?}");
    let failed = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        assert_no_policy_refusals(&harness)
    }));
    assert!(failed.is_err(), "a dust output must fail the check");
}

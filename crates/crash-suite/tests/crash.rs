//! The crash suite: two SDK nodes in their own `crash-node` processes, a regtest harness in this
//! process, and SIGKILLs at random moments — during payments, channel opens, cooperative closes
//! and force-close sweeps. After every restart on the same storage the suite checks that no
//! channel was lost or force-closed, that both sides agree on every payment to the msat, that
//! channel balances moved by exactly what was paid, and that closed channels' funds reached the
//! wallets. See README.md for the knobs (`KILLS`, `CRASH_SEED`, …).

#![cfg(unix)]

mod support;

use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::time::{Duration, Instant};

use serde_json::Value;
use support::*;

/// Capacity of the channel of the payments scenario, and what is pushed to Bob at open.
const PAY_CHANNEL_SAT: u64 = 20_000_000;
const PAY_PUSH_MSAT: u64 = 10_000_000_000;
/// Kills in the payments scenario land uniformly within this window of load.
const PAY_KILL_WINDOW_MS: u64 = 1_500;
/// Below this expected outbound capacity a side stops paying (the other pays it back).
const LOW_WATER_MSAT: u64 = 3_000_000_000;
/// A full comparison of both payment lists every this many rounds (and at the end).
const FULL_CHECK_EVERY: u32 = 10;

/// Channels opened, closed and force-closed in scenarios b, c and d.
const SMALL_CHANNEL_SAT: u64 = 2_000_000;
/// Kill windows from the `open` and `close` commands on. An open takes ~60 ms from the command to
/// the funding broadcast and a cooperative close ~10 ms to the closing broadcast here (debug
/// build, 2 cores), so kills land before, during and after the handshakes.
const OPEN_KILL_WINDOW_MS: u64 = 150;
const CLOSE_KILL_WINDOW_MS: u64 = 30;
/// The smallest `to_self_delay` LDK accepts (its `BREAKDOWN_TIMEOUT`, 144 blocks).
const SWEEP_TO_SELF_DELAY: u16 = 144;

fn s(v: &Value, key: &str) -> String {
    v[key].as_str().unwrap_or_default().to_string()
}

fn n(v: &Value, key: &str) -> u64 {
    v[key].as_u64().unwrap_or(0)
}

/// No `ChannelClosed` for any of `ids` in these events.
fn assert_not_closed(who: &str, events: &[Value], ids: &HashSet<String>, context: &str) {
    for (id, reason) in closed_events(events) {
        assert!(
            !ids.contains(&id),
            "{who} closed channel {id} ({context}): {reason}"
        );
    }
}

/// A close reason in a few words, for the summaries; the stale-manager close fails the test
/// wherever it shows up.
fn reason_tag(who: &str, reason: &str, context: &str) -> &'static str {
    assert!(
        !reason.contains("stale compared to ChannelMonitor"),
        "{who} ({context}): {reason}"
    );
    if reason.contains("cooperatively closed") {
        "cooperative"
    } else if reason.contains("was confirmed on chain") {
        "closing tx confirmed"
    } else if reason.contains("invalid channel_reestablish") {
        "peer asked to force-close (reestablish)"
    } else if reason.contains("counterparty force-closed") {
        "counterparty force-closed"
    } else if reason.contains("user force-closed") {
        "force-closed by us"
    } else if reason.contains("disconnected prior to the channel being funded") {
        "unfunded, peer disconnected"
    } else {
        "other"
    }
}

// ===== scenario a: payments =====

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum PayState {
    /// `receive` answered but the kill came before `send`.
    Unsent,
    /// `send` answered with a payment id.
    Sent,
    /// The payer was killed while `send` was running: unknown whether it went out.
    Interrupted,
    /// `send` refused it (peer gone, capacity) or it failed: to be sent again.
    Retry,
    Succeeded,
}

struct Payment {
    hash: String,
    invoice: String,
    amount_msat: u64,
    payer: Side,
    state: PayState,
    /// Both sides' rows were checked after it succeeded.
    verified: bool,
}

#[derive(Default)]
struct PayStats {
    kills: BTreeMap<String, u32>,
    moments: BTreeMap<String, u32>,
    paths: BTreeMap<String, u32>,
    restarts: u32,
    refused_sends: u32,
    /// `receive` calls cut by a kill of the payee: their invoice rows may exist unseen.
    receives_cut: HashMap<Side, u32>,
}

struct PayWorld {
    world: World,
    channel_id: String,
    /// Outbound capacities right after the channel became ready.
    alice_out0: u64,
    bob_out0: u64,
    payments: Vec<Payment>,
    stats: PayStats,
}

impl PayWorld {
    /// Net msat Alice paid Bob, over succeeded payments.
    fn net_alice_to_bob(&self) -> i128 {
        self.payments
            .iter()
            .filter(|p| p.state == PayState::Succeeded)
            .map(|p| match p.payer {
                Side::Alice => p.amount_msat as i128,
                Side::Bob => -(p.amount_msat as i128),
            })
            .sum()
    }

    /// Net msat Alice paid Bob if everything sent so far succeeds.
    fn net_if_all_succeed(&self) -> i128 {
        self.payments
            .iter()
            .map(|p| match p.payer {
                Side::Alice => p.amount_msat as i128,
                Side::Bob => -(p.amount_msat as i128),
            })
            .sum()
    }

    fn pick_payer(&self, rng: &mut Rng) -> Side {
        let net = self.net_if_all_succeed();
        let alice = self.alice_out0 as i128 - net;
        let bob = self.bob_out0 as i128 + net;
        if alice < LOW_WATER_MSAT as i128 {
            Side::Bob
        } else if bob < LOW_WATER_MSAT as i128 {
            Side::Alice
        } else {
            Side::pick(rng)
        }
    }

    /// Drive payments until the kill timer fires; returns what the test was doing when it did
    /// (the call during which the kill landed, and whether that call went to the victim).
    fn load(&mut self, rng: &mut Rng, timer: &KillTimer, victim: Side) -> String {
        let role = |node: Side| if node == victim { "victim" } else { "peer" };
        let mut outstanding: VecDeque<usize> = VecDeque::new();
        let mut counter = self.payments.len();
        loop {
            if timer.fired() {
                return "between calls".into();
            }
            let payer = self.pick_payer(rng);
            let payee = payer.other();
            // Mostly trimmed HTLCs (below the 72,800-sat dust limit); one in ten well above it,
            // so the commitment carries an HTLC output.
            let amount_msat = if rng.chance(1, 10) {
                rng.range(300_000_000, 600_000_000)
            } else {
                rng.range(1_000, 60_000_000)
            };
            counter += 1;
            let reply = self
                .world
                .node(payee)
                .call(&format!("receive {amount_msat} crash payment {counter}"));
            let during_receive = format!("during receive on the {}", role(payee));
            let (invoice, hash) = match reply {
                Reply::Ok(v) => (s(&v, "invoice"), s(&v, "payment_hash")),
                Reply::Died => {
                    assert!(timer.fired(), "{} died on its own", payee.name());
                    *self.stats.receives_cut.entry(payee).or_insert(0) += 1;
                    return during_receive;
                }
                other => panic!("{} refused an invoice: {other:?}", payee.name()),
            };
            let index = self.payments.len();
            self.payments.push(Payment {
                hash,
                invoice: invoice.clone(),
                amount_msat,
                payer,
                state: PayState::Unsent,
                verified: false,
            });
            if timer.fired() {
                return during_receive;
            }
            let reply = self.world.node(payer).call(&format!("send {invoice}"));
            let during_send = format!("during send by the {}", role(payer));
            match reply {
                Reply::Ok(_) => {
                    self.payments[index].state = PayState::Sent;
                    outstanding.push_back(index);
                }
                Reply::Died => {
                    assert!(timer.fired(), "{} died on its own", payer.name());
                    self.payments[index].state = PayState::Interrupted;
                    return during_send;
                }
                Reply::Err { kind, .. } if kind == "DuplicatePayment" => {
                    panic!("a fresh invoice was refused as a duplicate")
                }
                Reply::Err { .. } => {
                    // The peer is being killed or reconnecting: sent again after the restart.
                    self.payments[index].state = PayState::Retry;
                    self.stats.refused_sends += 1;
                }
            }
            if timer.fired() {
                return during_send;
            }
            // Keep one to three payments in flight.
            let depth = rng.range(1, 4) as usize;
            while outstanding.len() >= depth {
                let index = outstanding[0];
                let payer = self.payments[index].payer;
                let hash = self.payments[index].hash.clone();
                let reply = self.world.node(payer).call(&format!("payment {hash}"));
                let during_poll = format!("while the {} waited for its payment", role(payer));
                match reply {
                    Reply::Ok(row) if row.is_null() => {
                        panic!("{} has no row for payment {hash} it sent", payer.name())
                    }
                    Reply::Ok(row) => match row["status"].as_str() {
                        Some("succeeded") => {
                            self.payments[index].state = PayState::Succeeded;
                            outstanding.pop_front();
                        }
                        Some("failed") => {
                            self.payments[index].state = PayState::Retry;
                            outstanding.pop_front();
                        }
                        _ => std::thread::sleep(Duration::from_millis(2)),
                    },
                    Reply::Died => {
                        assert!(timer.fired(), "{} died on its own", payer.name());
                        return during_poll;
                    }
                    other => panic!("payment {hash}: {other:?}"),
                }
                if timer.fired() {
                    return during_poll;
                }
            }
        }
    }

    /// Send a payment again; what the node said.
    fn resend(&mut self, index: usize) -> Reply {
        let payer = self.payments[index].payer;
        let invoice = self.payments[index].invoice.clone();
        let reply = self.world.node(payer).call(&format!("send {invoice}"));
        match &reply {
            Reply::Ok(_) => self.payments[index].state = PayState::Sent,
            Reply::Err { kind, .. } if kind == "DuplicatePayment" => {
                self.payments[index].state = PayState::Sent
            }
            Reply::Err { .. } => self.payments[index].state = PayState::Retry,
            Reply::Died => panic!("{} died with no kill pending", payer.name()),
        }
        reply
    }

    /// After a restart: the channel is there and usable on both sides, interrupted payments can
    /// be sent again, everything settles, both sides agree, balances moved by what was paid.
    fn recover(&mut self, victim: Side, round: u32) {
        let id = self.channel_id.clone();
        let ids: HashSet<String> = [id.clone()].into();
        // The channel must be listed by both at once: a stale ChannelManager force-closes it
        // while the node starts.
        for side in [Side::Alice, Side::Bob] {
            let node = self.world.node(side);
            if node.channel(&id).is_none() {
                let events = node.events();
                panic!(
                    "round {round}: after {} was killed, {} no longer lists channel {id}; events: {events:?}; log: {:?}",
                    victim.name(),
                    side.name(),
                    node.log_lines("stale")
                );
            }
        }
        self.world.wait_usable(victim, &id);

        // Sends the kill cut: the same invoice again is either a new attempt or refused as a
        // duplicate because it had gone out.
        let interrupted: Vec<usize> = (0..self.payments.len())
            .filter(|&i| self.payments[i].state == PayState::Interrupted)
            .collect();
        for index in interrupted {
            match self.resend(index) {
                Reply::Ok(_) => bump(&mut self.stats.paths, "cut send, resent: accepted"),
                Reply::Err { kind, .. } if kind == "DuplicatePayment" => bump(
                    &mut self.stats.paths,
                    "cut send, resent: refused as duplicate",
                ),
                Reply::Err { kind, .. } => {
                    bump(&mut self.stats.paths, format!("cut send, resent: {kind}"))
                }
                Reply::Died => unreachable!(),
            }
        }

        // Everything settles: resend what was refused or failed, until all succeeded.
        let deadline = Instant::now() + WAIT_BOUND;
        loop {
            self.world
                .assert_no_panic(&format!("settling payments, round {round}"));
            let mut open = 0;
            for index in 0..self.payments.len() {
                let p = &self.payments[index];
                match p.state {
                    PayState::Succeeded => {}
                    PayState::Unsent | PayState::Retry | PayState::Interrupted => {
                        open += 1;
                        self.resend(index);
                    }
                    PayState::Sent => {
                        open += 1;
                        let payer = p.payer;
                        let hash = p.hash.clone();
                        let row = self.world.node(payer).ok(&format!("payment {hash}"));
                        match row["status"].as_str() {
                            Some("succeeded") => self.payments[index].state = PayState::Succeeded,
                            Some("failed") => self.payments[index].state = PayState::Retry,
                            Some(_) => {}
                            None => panic!(
                                "round {round}: {} has no row for payment {hash} after sending it",
                                payer.name()
                            ),
                        }
                    }
                }
            }
            if open == 0 {
                break;
            }
            if Instant::now() > deadline {
                let stuck: Vec<String> = self
                    .payments
                    .iter()
                    .filter(|p| p.state != PayState::Succeeded)
                    .map(|p| format!("{} ({:?}, {:?} pays)", p.hash, p.state, p.payer))
                    .collect();
                let mut rows = Vec::new();
                for p in self
                    .payments
                    .iter()
                    .filter(|p| p.state != PayState::Succeeded)
                    .take(3)
                {
                    let hash = p.hash.clone();
                    let payer = p.payer;
                    let invoice = p.invoice.clone();
                    rows.push(format!(
                        "payer {:?}, payee {:?}, sending it again: {:?}",
                        self.world.node(payer).call(&format!("payment {hash}")),
                        self.world
                            .node(payer.other())
                            .call(&format!("payment {hash}")),
                        self.world.node(payer).call(&format!("send {invoice}"))
                    ));
                }
                panic!(
                    "round {round}: payments still not settled after the restart of {}: {stuck:?}; rows: {rows:?}; channels: alice {:?} bob {:?}",
                    victim.name(),
                    self.world.alice.channel(&id),
                    self.world.bob.channel(&id)
                );
            }
            std::thread::sleep(Duration::from_millis(20));
        }

        // Both sides' rows of what settled since the last check: same amount to the msat, no
        // routing fee on a direct channel.
        for index in 0..self.payments.len() {
            if self.payments[index].verified {
                continue;
            }
            let (payer, hash, amount) = {
                let p = &self.payments[index];
                (p.payer, p.hash.clone(), p.amount_msat)
            };
            let sent = self.world.node(payer).ok(&format!("payment {hash}"));
            assert_eq!(s(&sent, "status"), "succeeded", "{hash}: {sent}");
            assert_eq!(s(&sent, "direction"), "outbound", "{hash}: {sent}");
            assert_eq!(sent["amount_msat"].as_u64(), Some(amount), "{hash}: {sent}");
            assert!(
                sent["fee_paid_msat"].is_null() || sent["fee_paid_msat"] == 0,
                "a direct payment paid a routing fee: {sent}"
            );
            let payee = payer.other();
            let mut received = Value::Null;
            let node = self.world.node(payee);
            wait_until(&format!("{} records payment {hash}", payee.name()), || {
                received = node.ok(&format!("payment {hash}"));
                received["status"] == "succeeded"
            });
            assert_eq!(s(&received, "direction"), "inbound", "{hash}: {received}");
            assert_eq!(
                received["amount_msat"].as_u64(),
                Some(amount),
                "{} received another amount than {} sent: {received}",
                payee.name(),
                payer.name()
            );
            self.payments[index].verified = true;
        }

        self.check_balances(round);
        for side in [Side::Alice, Side::Bob] {
            self.world
                .node(side)
                .assert_no_panic(&format!("payments round {round}"));
        }

        for side in [Side::Alice, Side::Bob] {
            let events = self.world.node(side).events();
            assert_not_closed(
                side.name(),
                &events,
                &ids,
                &format!("round {round}, {} killed", victim.name()),
            );
        }
    }

    /// Channel balances moved by exactly the net of succeeded payments (LDK's outbound and
    /// inbound capacities leave commitment fees out on non-anchor channels, so this holds to
    /// the msat once no HTLC is in flight).
    fn check_balances(&mut self, round: u32) {
        let net = self.net_alice_to_bob();
        let alice_out = (self.alice_out0 as i128 - net) as u64;
        let bob_out = (self.bob_out0 as i128 + net) as u64;
        let id = self.channel_id.clone();
        let deadline = Instant::now() + WAIT_BOUND;
        loop {
            let a = self.world.alice.channel(&id).expect("alice's channel");
            let b = self.world.bob.channel(&id).expect("bob's channel");
            let now = (
                n(&a, "outbound_capacity_msat"),
                n(&a, "inbound_capacity_msat"),
                n(&b, "outbound_capacity_msat"),
                n(&b, "inbound_capacity_msat"),
            );
            if now == (alice_out, bob_out, bob_out, alice_out) {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "round {round}: channel balances (alice out/in, bob out/in) are {now:?}, expected {:?} after a net {net} msat from alice to bob",
                (alice_out, bob_out, bob_out, alice_out)
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Both complete payment lists: the same hashes, statuses and amounts on both sides, and
    /// nothing pending but invoices whose `receive` answer a kill cut.
    fn full_check(&mut self) {
        for payer in [Side::Alice, Side::Bob] {
            let payee = payer.other();
            let expected: BTreeMap<String, u64> = self
                .payments
                .iter()
                .filter(|p| p.payer == payer)
                .map(|p| (p.hash.clone(), p.amount_msat))
                .collect();
            let rows = |node: &mut NodeProc, direction: &str| -> Vec<Value> {
                node.ok(&format!("payments {direction}"))
                    .as_array()
                    .cloned()
                    .unwrap_or_default()
            };
            let sent = rows(self.world.node(payer), "outbound");
            let received = rows(self.world.node(payee), "inbound");
            for row in sent.iter().chain(received.iter()) {
                assert!(
                    row["status"] == "succeeded" || row["direction"] == "inbound",
                    "an outbound payment is not settled: {row}"
                );
            }
            let succeeded = |rows: &[Value]| -> BTreeMap<String, u64> {
                rows.iter()
                    .filter(|r| r["status"] == "succeeded")
                    .map(|r| (s(r, "payment_hash"), n(r, "amount_msat")))
                    .collect()
            };
            assert_eq!(
                succeeded(&sent),
                expected,
                "{}'s outbound payments differ from what the test paid",
                payer.name()
            );
            assert_eq!(
                succeeded(&received),
                expected,
                "{}'s inbound payments differ from what {} paid",
                payee.name(),
                payer.name()
            );
            let unpaid: Vec<&Value> = received
                .iter()
                .filter(|r| r["status"] != "succeeded")
                .collect();
            for row in &unpaid {
                assert_eq!(row["status"], "pending", "{row}");
                assert!(
                    !expected.contains_key(&s(row, "payment_hash")),
                    "a paid invoice is not settled at the payee: {row}"
                );
            }
            let cut = self.stats.receives_cut.get(&payee).copied().unwrap_or(0);
            assert!(
                unpaid.len() as u32 <= cut,
                "{} has {} unpaid invoices but only {cut} `receive` calls were cut by a kill",
                payee.name(),
                unpaid.len()
            );
        }
    }
}

#[test]
fn a_payments_in_both_directions_survive_kills() {
    let settings = Settings::from_env();
    payments_under_kills("a", settings.kills_payments, false);
}

/// Scenario a with both nodes' state in PostgreSQL: the journal's one-transaction commit is a
/// PostgreSQL transaction there, and a SIGKILL of the node drops its connection mid-way.
#[test]
fn a_payments_survive_kills_on_postgresql() {
    let settings = Settings::from_env();
    payments_under_kills("a-postgresql", settings.kills_postgres, true);
}

fn payments_under_kills(scenario: &str, kills: u32, postgres: bool) {
    let _serial = serial();
    let settings = Settings::from_env();
    let mut rng = settings.rng(scenario);
    let started = Instant::now();

    let mut world = World::start_on(scenario, settings.keep, &[], postgres);
    for name in ["alice", "bob"] {
        let file = world.dir.path.join(name).join("node.sqlite");
        assert_eq!(file.exists(), !postgres, "{}", file.display());
    }
    world.fund_alice(PAY_CHANNEL_SAT + QTUM / 10);
    let (channel_id, _) = world.open_ready(PAY_CHANNEL_SAT, PAY_PUSH_MSAT);
    let a = world.alice.channel(&channel_id).expect("channel");
    let b = world.bob.channel(&channel_id).expect("channel");
    let mut pw = PayWorld {
        world,
        channel_id,
        alice_out0: n(&a, "outbound_capacity_msat"),
        bob_out0: n(&b, "outbound_capacity_msat"),
        payments: Vec::new(),
        stats: PayStats::default(),
    };
    pw.world.alice.events();
    pw.world.bob.events();

    for round in 1..=kills {
        let victim = Side::pick(&mut rng);
        let delay = rng.millis(PAY_KILL_WINDOW_MS);
        let timer = KillTimer::start(pw.world.node(victim), delay);
        let moment = pw.load(&mut rng, &timer, victim);
        timer.finish();
        bump(&mut pw.stats.kills, victim.name());
        bump(&mut pw.stats.moments, moment);
        let unsettled = pw
            .payments
            .iter()
            .filter(|p| p.state != PayState::Succeeded)
            .count();
        bump(
            &mut pw.stats.paths,
            match unsettled {
                0 => "no payment in flight at the kill".to_string(),
                1 => "1 payment in flight at the kill".to_string(),
                n => format!("{} payments in flight at the kill", n.min(4)),
            }
            .replace("4 payments", "4+ payments"),
        );
        pw.world.node(victim).restart();
        pw.stats.restarts += 1;
        pw.recover(victim, round);
        if round % FULL_CHECK_EVERY == 0 {
            pw.full_check();
        }
    }

    // A clean stop and start of both keeps everything too.
    pw.world.alice.stop();
    pw.world.bob.stop();
    pw.world.alice.restart();
    pw.world.bob.restart();
    pw.stats.restarts += 2;
    pw.recover(Side::Alice, kills + 1);
    pw.full_check();

    let ab = pw
        .payments
        .iter()
        .filter(|p| p.payer == Side::Alice)
        .count();
    println!(
        "crash-suite {scenario} (payments): kills {kills} ({}), restarts {}, payments {} succeeded (alice->bob {ab}, bob->alice {}), sends refused while the peer was down {}, kill moments [{}], recovery [{}], {:.0} s, seed {}",
        show(&pw.stats.kills),
        pw.stats.restarts,
        pw.payments.len(),
        pw.payments.len() - ab,
        pw.stats.refused_sends,
        show(&pw.stats.moments),
        show(&pw.stats.paths),
        started.elapsed().as_secs_f64(),
        settings.seed
    );
    pw.world.alice.stop();
    pw.world.bob.stop();
}

// ===== scenario b: kills during channel open =====

#[test]
fn b_kills_during_channel_open() {
    let _serial = serial();
    let settings = Settings::from_env();
    let mut rng = settings.rng("b");
    let kills = settings.kills_open;
    let started = Instant::now();
    let mut world = World::start("b", settings.keep, &[]);
    world.fund_alice(u64::from(kills + 1) * (SMALL_CHANNEL_SAT + 400_000) + QTUM / 10);

    let mut established: HashSet<String> = HashSet::new();
    let mut kill_count: BTreeMap<String, u32> = BTreeMap::new();
    let mut paths: BTreeMap<String, u32> = BTreeMap::new();
    for round in 1..=kills {
        let before = world.alice.balance();
        assert_eq!(before.locked_sat, 0, "round {round}: coins still locked");
        let alice_known = channel_ids(&world.alice.channels());
        let bob_known = channel_ids(&world.bob.channels());
        let victim = Side::pick(&mut rng);
        let delay = rng.millis(OPEN_KILL_WINDOW_MS);
        let uri = world.bob.uri.clone();
        let timer = KillTimer::start(world.node(victim), delay);
        let push = rng.range(0, SMALL_CHANNEL_SAT * 300);
        let opened = world
            .alice
            .call(&format!("open {uri} {SMALL_CHANNEL_SAT} {push}"));
        timer.finish();
        // Every earlier transaction is mined: anything in the mempool is this funding.
        let broadcast = world.harness.with_chain(|c| !c.mempool.is_empty());
        bump(&mut kill_count, victim.name());
        let open_answer = match &opened {
            Reply::Ok(_) => "open answered",
            Reply::Died => "open cut",
            Reply::Err { .. } => "open refused",
        };
        world.node(victim).restart();

        // What is there now: nothing, or a channel that must get ready.
        let deadline = Instant::now() + WAIT_BOUND;
        let mut last_connect: Option<Instant> = None;
        let outcome = loop {
            world.assert_no_panic(&format!("open round {round}"));
            let alice_new: Vec<Value> = world
                .alice
                .channels()
                .into_iter()
                .filter(|c| !alice_known.contains(&s(c, "channel_id")))
                .collect();
            let bob_new: Vec<Value> = world
                .bob
                .channels()
                .into_iter()
                .filter(|c| !bob_known.contains(&s(c, "channel_id")))
                .collect();
            if alice_new.is_empty() && bob_new.is_empty() {
                let now = world.alice.balance();
                if now == before {
                    break "no channel, funds back".to_string();
                }
            }
            if let Some(c) = alice_new.first() {
                let id = s(c, "channel_id");
                let ready_both = c["is_usable"] == true
                    && bob_new
                        .iter()
                        .any(|b| s(b, "channel_id") == id && b["is_usable"] == true);
                if ready_both {
                    let broadcast = if alice_new.len() == 1 {
                        ""
                    } else {
                        " (and more)"
                    };
                    break format!("channel ready after mining{broadcast}");
                }
                // Confirm the funding once it is out.
                let funded = c["funding_txo"]
                    .as_str()
                    .and_then(parse_outpoint)
                    .is_some_and(|o| tx_known(&world.harness, &o.txid));
                if funded {
                    world.mine(1);
                }
            }
            if last_connect.is_none_or(|t| t.elapsed() > Duration::from_secs(2)) {
                let _ = world.alice.call(&format!("connect {uri}"));
                last_connect = Some(Instant::now());
            }
            if Instant::now() > deadline {
                panic!(
                    "round {round} ({} killed {delay:?} into the open, {open_answer}): neither a ready channel nor the funds back; alice's new channels {alice_new:?}, bob's {bob_new:?}, alice's wallet before {before:?} now {:?}",
                    victim.name(),
                    world.alice.balance()
                );
            }
            std::thread::sleep(Duration::from_millis(200));
        };
        let funding = if broadcast {
            "funding broadcast before the kill"
        } else {
            "no funding broadcast before the kill"
        };
        bump(&mut paths, format!("{open_answer}, {funding}, {outcome}"));
        for c in world.alice.channels() {
            if c["is_usable"] == true {
                established.insert(s(&c, "channel_id"));
            }
        }
        // Every channel opened so far is still there, usable on both sides; no close of one.
        for id in established.clone() {
            world.wait_usable(Side::Alice, &id);
        }
        for side in [Side::Alice, Side::Bob] {
            let events = world.node(side).events();
            let context = format!("open round {round}");
            assert_not_closed(side.name(), &events, &established, &context);
            for (_, reason) in closed_events(&events) {
                let tag = reason_tag(side.name(), &reason, &context);
                bump(
                    &mut paths,
                    format!("{} recorded a close: {tag}", side.name()),
                );
            }
        }
    }
    println!(
        "crash-suite b (channel open): kills {kills} ({}), restarts {kills}, channels ready {}, recovery [{}], {:.0} s, seed {}",
        show(&kill_count),
        established.len(),
        show(&paths),
        started.elapsed().as_secs_f64(),
        settings.seed
    );
    world.alice.stop();
    world.bob.stop();
}

// ===== where a closed channel's funds went =====

/// Whether the channel's funding output is spent and everything that followed is confirmed and
/// in the two wallets: Alice's gain plus Bob's gain plus every fee on the way is the capacity,
/// to the satoshi. Then the settlement and both gains.
fn funds_home(
    world: &mut World,
    funding: bitcoin::OutPoint,
    capacity_sat: u64,
    before: (u64, u64),
    what: &str,
) -> Result<(Settlement, u64, u64), String> {
    world.assert_no_panic(what);
    let settled = settlement(&world.harness, funding);
    assert_eq!(
        settled.foreign_inputs_sat, 0,
        "{what}: a transaction of the closed channel spends coins from outside it: {settled:?}"
    );
    let alice = world.alice.balance().total_sat;
    let bob = world.bob.balance().total_sat;
    let gains = (alice.saturating_sub(before.0), bob.saturating_sub(before.1));
    if settled.closing_tx.is_some()
        && !settled.mempool_spend
        && settled.fees_sat + settled.leaves_sat() == capacity_sat
        && gains.0 + gains.1 == settled.leaves_sat()
        && alice >= before.0
        && bob >= before.1
    {
        Ok((settled, gains.0, gains.1))
    } else {
        Err(format!(
            "chain {settled:?}, alice {} -> {alice}, bob {} -> {bob}",
            before.0, before.1
        ))
    }
}

/// Mine block by block until [`funds_home`].
fn wait_funds_home(
    world: &mut World,
    funding: bitcoin::OutPoint,
    capacity_sat: u64,
    before: (u64, u64),
    what: &str,
) -> (Settlement, u64, u64) {
    let deadline = Instant::now() + WAIT_BOUND;
    loop {
        match funds_home(world, funding, capacity_sat, before, what) {
            Ok(done) => return done,
            Err(state) => assert!(
                Instant::now() < deadline,
                "{what}: the funds did not come home: {state}"
            ),
        }
        world.mine(1);
        std::thread::sleep(Duration::from_millis(150));
    }
}

// ===== scenario c: kills during a cooperative close =====

#[test]
fn c_kills_during_cooperative_close() {
    let _serial = serial();
    let settings = Settings::from_env();
    let mut rng = settings.rng("c");
    let kills = settings.kills_close;
    let started = Instant::now();
    let mut world = World::start("c", settings.keep, &[]);
    world.fund_alice(u64::from(kills) * (SMALL_CHANNEL_SAT + 400_000) + QTUM / 10);

    let mut kill_count: BTreeMap<String, u32> = BTreeMap::new();
    let mut paths: BTreeMap<String, u32> = BTreeMap::new();
    for round in 1..=kills {
        let push_msat = rng.range(SMALL_CHANNEL_SAT * 200, SMALL_CHANNEL_SAT * 600);
        let (id, funding) = world.open_ready(SMALL_CHANNEL_SAT, push_msat);
        world.alice.events();
        world.bob.events();
        let before = (
            world.alice.balance().total_sat,
            world.bob.balance().total_sat,
        );
        let closer = Side::pick(&mut rng);
        let victim = Side::pick(&mut rng);
        let delay = rng.millis(CLOSE_KILL_WINDOW_MS);
        let timer = KillTimer::start(world.node(victim), delay);
        let asked = world.node(closer).call(&format!("close {id}"));
        timer.finish();
        bump(&mut kill_count, victim.name());
        world.node(victim).restart();
        let asked = match asked {
            Reply::Ok(_) => "close answered",
            Reply::Died => "close cut",
            Reply::Err { .. } => "close refused",
        };

        // Ask again whenever the channel is back to normal (usable on the closer's side): the
        // close never reached the node, or was lost with it.
        let mut asked_again = 0;
        let deadline = Instant::now() + WAIT_BOUND;
        let mut last_connect: Option<Instant> = None;
        while world.alice.channel(&id).is_some() || world.bob.channel(&id).is_some() {
            world.assert_no_panic(&format!("close round {round}"));
            if settlement(&world.harness, funding).closing_tx.is_some() {
                break;
            }
            if world
                .node(closer)
                .channel(&id)
                .is_some_and(|c| c["is_usable"] == true)
            {
                if let Reply::Ok(_) = world.node(closer).call(&format!("close {id}")) {
                    asked_again += 1;
                }
            }
            if last_connect.is_none_or(|t| t.elapsed() > Duration::from_secs(2)) {
                let uri = world.node(victim.other()).uri.clone();
                let _ = world.node(victim).call(&format!("connect {uri}"));
                last_connect = Some(Instant::now());
            }
            assert!(
                Instant::now() < deadline,
                "round {round}: the close does not finish: alice {:?}, bob {:?}",
                world.alice.channel(&id),
                world.bob.channel(&id)
            );
            world.mine(1);
            std::thread::sleep(Duration::from_millis(100));
        }
        let capacity = SMALL_CHANNEL_SAT;
        let (settled, alice_gain, bob_gain) = wait_funds_home(
            &mut world,
            funding,
            capacity,
            before,
            &format!("close round {round}"),
        );
        assert!(
            !settled.is_force_close(),
            "round {round}: the channel was force-closed, not closed cooperatively ({} killed {delay:?} into the close); alice's events {:?}, bob's {:?}",
            victim.name(),
            world.alice.events(),
            world.bob.events()
        );
        // The non-funder gets exactly its balance; the funder the rest minus the closing fee.
        assert_eq!(bob_gain, push_msat / 1000, "round {round}: bob's share");
        assert_eq!(
            alice_gain,
            capacity - push_msat / 1000 - settled.fees_sat,
            "round {round}: alice's share"
        );
        // The killed side may have learnt of the close from its peer or the chain: its close
        // reason is recorded; the stale-manager one fails.
        let mut reasons = Vec::new();
        for side in [Side::Alice, Side::Bob] {
            for (closed, reason) in closed_events(&world.node(side).events()) {
                let tag = reason_tag(side.name(), &reason, &format!("close round {round}"));
                assert_eq!(
                    closed, id,
                    "round {round}: another channel closed: {reason}"
                );
                reasons.push(format!("{}: {tag}", side.name()));
            }
        }
        for r in reasons {
            bump(&mut paths, format!("reason {r}"));
        }
        let path = match asked_again {
            0 => format!("{asked}, finished without asking again"),
            _ => format!("{asked}, asked again after the restart"),
        };
        bump(&mut paths, path);
    }
    println!(
        "crash-suite c (cooperative close): kills {kills} ({}), restarts {kills}, channels closed {kills}, recovery [{}], {:.0} s, seed {}",
        show(&kill_count),
        show(&paths),
        started.elapsed().as_secs_f64(),
        settings.seed
    );
    world.alice.stop();
    world.bob.stop();
}

// ===== scenario d: kills during force-close sweeps =====

#[test]
fn d_kills_during_force_close_sweeps() {
    let _serial = serial();
    let settings = Settings::from_env();
    let mut rng = settings.rng("d");
    let kills = settings.kills_sweep;
    let rounds = kills.div_ceil(2).max(1);
    let started = Instant::now();
    let delay_flag = SWEEP_TO_SELF_DELAY.to_string();
    let mut world = World::start("d", settings.keep, &["--to-self-delay", &delay_flag]);
    world.fund_alice(u64::from(rounds) * (SMALL_CHANNEL_SAT + 400_000) + QTUM / 10);

    let mut kill_count: BTreeMap<String, u32> = BTreeMap::new();
    let mut paths: BTreeMap<String, u32> = BTreeMap::new();
    let mut done_kills = 0;
    for round in 1..=rounds {
        let push_msat = rng.range(SMALL_CHANNEL_SAT * 200, SMALL_CHANNEL_SAT * 600);
        let (id, funding) = world.open_ready(SMALL_CHANNEL_SAT, push_msat);
        world.alice.events();
        world.bob.events();
        let before = (
            world.alice.balance().total_sat,
            world.bob.balance().total_sat,
        );
        let closer = Side::pick(&mut rng);
        world.node(closer).ok(&format!("force_close {id}"));

        // Mine in random steps until the funds are home; kill at random steps, a random moment
        // after the blocks. About 35 steps bury the commitment under the 144-block delay.
        let this_round = (kills - done_kills).min(2);
        let mut kill_steps: Vec<u64> = (0..this_round).map(|_| rng.range(0, 40)).collect();
        kill_steps.sort_unstable();
        let mut step = 0u64;
        let mut mined = 0u64;
        // Each kill can restart the wait for LDK's sweeper timer (30 s): a generous bound.
        let deadline = Instant::now() + WAIT_BOUND * 3;
        let what = format!("sweep round {round}");
        let (settled, alice_gain, bob_gain) = loop {
            world.assert_no_panic(&what);
            if kill_steps.is_empty() {
                if let Ok(done) = funds_home(&mut world, funding, SMALL_CHANNEL_SAT, before, &what)
                {
                    break done;
                }
            }
            assert!(
                Instant::now() < deadline,
                "{what}: the funds did not come home ({mined} blocks mined): {:?}",
                funds_home(&mut world, funding, SMALL_CHANNEL_SAT, before, &what).err()
            );
            // Quick steps while kills are due; then a block at a time.
            let blocks = if kill_steps.is_empty() {
                1
            } else {
                rng.range(1, 9)
            };
            world.mine(blocks as u32);
            mined += blocks;
            while kill_steps.first() == Some(&step) {
                kill_steps.remove(0);
                let victim = Side::pick(&mut rng);
                std::thread::sleep(rng.millis(600));
                let settled = settlement(&world.harness, funding);
                let stage = if settled.closing_tx.is_none() {
                    "commitment unconfirmed"
                } else if settled.unspent_closing_outputs() > 0 {
                    "commitment confirmed, outputs not all swept"
                } else {
                    "commitment outputs swept"
                };
                world.node(victim).kill();
                world.node(victim).restart();
                bump(&mut kill_count, victim.name());
                let role = if victim == closer {
                    "the closer"
                } else {
                    "the peer"
                };
                bump(&mut paths, format!("killed {role} with {stage}"));
                done_kills += 1;
            }
            step += 1;
            std::thread::sleep(Duration::from_millis(100));
        };
        assert!(
            settled.is_force_close(),
            "round {round}: a commitment transaction should have closed the channel"
        );
        assert!(
            alice_gain > 0 && bob_gain > 0,
            "round {round}: both sides get their funds (alice {alice_gain}, bob {bob_gain})"
        );
        assert!(
            bob_gain <= push_msat / 1000,
            "round {round}: bob gained more than his balance"
        );
        for side in [Side::Alice, Side::Bob] {
            for (closed, reason) in closed_events(&world.node(side).events()) {
                let tag = reason_tag(side.name(), &reason, &format!("sweep round {round}"));
                assert_eq!(
                    closed, id,
                    "round {round}: another channel closed: {reason}"
                );
                bump(&mut paths, format!("reason {}: {tag}", side.name()));
            }
            assert!(
                world.node(side).channel(&id).is_none(),
                "the force-closed channel is still listed"
            );
        }
    }
    println!(
        "crash-suite d (force-close sweeps): kills {done_kills} ({}), restarts {done_kills}, channels force-closed {rounds}, to_self_delay {SWEEP_TO_SELF_DELAY}, recovery [{}], {:.0} s, seed {}",
        show(&kill_count),
        show(&paths),
        started.elapsed().as_secs_f64(),
        settings.seed
    );
    world.alice.stop();
    world.bob.stop();
}

// ===== scenario e: kills while hold invoices are claimed =====

/// What each hold invoice asks.
const HOLD_AMOUNT_MSAT: u64 = 25_000_000;
/// Kills land within this window from the `claim` command on: a claim takes a few ms to reach
/// the monitor and the peer here, so kills land before, during and after it.
const HOLD_KILL_WINDOW_MS: u64 = 12;

/// The node's row for payment `id`, if any.
fn payment_row(node: &mut NodeProc, id: &str) -> Option<Value> {
    match node.call(&format!("payment {id}")) {
        Reply::Ok(Value::Null) => None,
        Reply::Ok(v) => Some(v),
        _ => None,
    }
}

#[test]
fn e_kills_while_hold_invoices_are_claimed() {
    use bitcoin::hashes::{sha256, Hash};
    use bitcoin::hex::DisplayHex;

    let _serial = serial();
    let settings = Settings::from_env();
    let mut rng = settings.rng("e");
    let kills = settings.kills_hold;
    let started = Instant::now();
    let mut world = World::start("e", settings.keep, &[]);
    world.fund_alice(SMALL_CHANNEL_SAT + QTUM / 10);
    let (channel_id, _) = world.open_ready(SMALL_CHANNEL_SAT, 0);
    let mut seen: Vec<Value> = world.alice.events();
    seen.extend(world.bob.events());

    let mut paths: BTreeMap<String, u32> = BTreeMap::new();
    let mut reclaimed = 0;
    for round in 1..=kills {
        let mut preimage = [0u8; 32];
        for chunk in preimage.chunks_mut(8) {
            chunk.copy_from_slice(&rng.next_u64().to_le_bytes());
        }
        let hash = sha256::Hash::hash(&preimage).to_string();
        let preimage = preimage.to_lower_hex_string();
        let invoice = world.bob.ok(&format!("hold {hash} {HOLD_AMOUNT_MSAT}"));
        let invoice = invoice.as_str().expect("invoice").to_string();
        let id = world.alice.ok(&format!("send {invoice}"));
        let id = id.as_str().expect("payment id").to_string();
        {
            let bob = &mut world.bob;
            let seen = &mut seen;
            wait_until("bob holds the payment", || {
                let events = bob.events();
                let held = events.iter().any(|e| {
                    e["type"] == "payment_claimable" && e["payment_hash"] == hash.as_str()
                });
                seen.extend(events);
                held
            });
        }

        // Bob's app claims; Bob is killed somewhere around it: at a random moment, or (one
        // round in three) exactly between storing the preimage and handing it to LDK.
        let path = if rng.chance(1, 3) {
            world.bob.ok("fail_task claim");
            let asked = world.bob.call(&format!("claim {hash} {preimage}"));
            assert!(matches!(asked, Reply::Died), "round {round}: {asked:?}");
            world.bob.restart();
            // The app is not asked to claim again: the node must finish what it stored.
            "killed between storing and making the claim, not asked again"
        } else {
            let delay = rng.millis(HOLD_KILL_WINDOW_MS);
            let timer = KillTimer::start(&world.bob, delay);
            let asked = world.bob.call(&format!("claim {hash} {preimage}"));
            timer.finish();
            world.bob.restart();
            // The app's side: a claim it saw answered is not asked again (the node finishes
            // it alone, after the restart if need be); one cut by the kill is asked again.
            match asked {
                Reply::Ok(_) => "claim answered before the kill",
                Reply::Died | Reply::Err { .. } => {
                    world.bob.ok(&format!("claim {hash} {preimage}"));
                    "claim cut by the kill, asked again"
                }
            }
        };
        bump(&mut paths, path);
        // Whether the restart found a claim stored but not finished, and made it again.
        let reclaims = log_grep(&world.bob.spec.log, "claiming hold invoice").len();
        if reclaims > reclaimed {
            bump(&mut paths, "the restart claimed again");
            reclaimed = reclaims;
        }

        // Both sides settle: the payer has the preimage, the payee its money.
        let deadline = Instant::now() + WAIT_BOUND;
        let mut last_connect: Option<Instant> = None;
        loop {
            world.assert_no_panic(&format!("hold round {round}"));
            let sent = payment_row(&mut world.alice, &id);
            let received = payment_row(&mut world.bob, &hash);
            let status = |row: &Option<Value>| {
                row.as_ref()
                    .and_then(|r| r["status"].as_str().map(str::to_string))
                    .unwrap_or_default()
            };
            if status(&sent) == "succeeded" && status(&received) == "succeeded" {
                assert_eq!(
                    received.as_ref().and_then(|r| r["amount_msat"].as_u64()),
                    Some(HOLD_AMOUNT_MSAT),
                    "round {round}: bob's amount"
                );
                break;
            }
            assert!(
                status(&sent) != "failed",
                "round {round}: the payer's payment failed ({path}): {sent:?}"
            );
            assert!(
                Instant::now() < deadline,
                "round {round}: the held payment does not settle ({path}): alice {sent:?}, bob {received:?}"
            );
            if last_connect.is_none_or(|t| t.elapsed() > Duration::from_secs(2)) {
                let uri = world.alice.uri.clone();
                let _ = world.bob.call(&format!("connect {uri}"));
                last_connect = Some(Instant::now());
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        seen.extend(world.alice.events());
        seen.extend(world.bob.events());
        assert!(
            closed_events(&seen).is_empty(),
            "round {round}: a channel closed: {:?}",
            closed_events(&seen)
        );
        world.wait_usable(Side::Bob, &channel_id);
    }
    println!(
        "crash-suite e (hold invoices): kills {kills} (bob), restarts {kills}, held payments settled {kills}, paths [{}], {:.0} s, seed {}",
        show(&paths),
        started.elapsed().as_secs_f64(),
        settings.seed
    );
    world.alice.stop();
    world.bob.stop();
}

// ===== f: a kill right after a channel became ready =====

/// How long the killed node's chain server stays away after its restart, per round: shorter
/// than the SDK's wait of every peer for the first sync (30 s), then longer.
const READY_ROUNDS: [(Side, Duration); 2] = [
    (Side::Bob, Duration::from_secs(10)),
    (Side::Alice, Duration::from_secs(40)),
];

/// A channel becomes ready by the chain alone: no monitor update, so the manager on disk may be
/// a commit behind. The victim's commits are slowed, it is killed as soon as both sides list the
/// new channel as ready, and it comes back with its chain server down: its stored manager has
/// the channel not ready (checked: else the scenario did not happen). Meanwhile the peer, which
/// had the channel ready, must not be able to use it (it would add an HTLC the victim refuses by
/// closing the channel); once the chain is back the channel works and nothing was closed.
#[test]
fn f_kill_right_after_channel_ready() {
    let _serial = serial();
    let settings = Settings::from_env();
    let started = Instant::now();
    let mut world = World::start("f", settings.keep, &[]);
    world.fund_alice(READY_ROUNDS.len() as u64 * (SMALL_CHANNEL_SAT + 400_000) + QTUM / 10);
    let mut opened: HashSet<String> = HashSet::new();
    for (round, (victim, away)) in READY_ROUNDS.into_iter().enumerate() {
        let round = round + 1;
        let payer = victim.other();
        let switch = ChainSwitch::start(world.harness.url());
        // Takes effect at the restart.
        world.node(victim).spec.rpc_url = switch.url().to_string();

        let known = channel_ids(&world.alice.channels());
        let uri = world.bob.uri.clone();
        // Half the capacity on each side: either may pay.
        world.alice.ok(&format!(
            "open {uri} {SMALL_CHANNEL_SAT} {}",
            SMALL_CHANNEL_SAT * 500
        ));
        let mut id = String::new();
        {
            let alice = &mut world.alice;
            let harness = &world.harness;
            wait_until("the funding transaction is broadcast", || {
                let funded = alice.channels().into_iter().find(|c| {
                    !known.contains(&s(c, "channel_id"))
                        && c["funding_txo"]
                            .as_str()
                            .and_then(parse_outpoint)
                            .is_some_and(|o| tx_known(harness, &o.txid))
                });
                if let Some(c) = funded {
                    id = s(&c, "channel_id");
                }
                !id.is_empty()
            });
        }
        opened.insert(id.clone());
        let invoice = world.node(victim).ok("receive 50000000 after-the-kill")["invoice"]
            .as_str()
            .expect("invoice")
            .to_string();

        // Slow commits on the victim; blocks one at a time until both list the channel ready,
        // then the kill.
        world.node(victim).ok("slow_storage 5000");
        let deadline = Instant::now() + WAIT_BOUND;
        'mining: loop {
            world.mine(1);
            let poll_until = Instant::now() + Duration::from_secs(3);
            while Instant::now() < poll_until {
                let ready = |c: Option<Value>| c.is_some_and(|c| c["is_ready"] == true);
                if ready(world.node(victim).channel(&id)) && ready(world.node(payer).channel(&id)) {
                    break 'mining;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            assert!(
                Instant::now() < deadline,
                "round {round}: channel {id} never got ready"
            );
        }
        world.node(victim).kill();
        switch.set(false);
        world.node(victim).restart();
        let after = world
            .node(victim)
            .channel(&id)
            .expect("the channel is still there");
        assert_eq!(
            after["is_ready"], false,
            "round {round}: the scenario needs the stored manager to be behind (the channel not \
             ready after the restart), and it was not: {after}"
        );

        // The chain server stays away; the peer must not get to use the channel.
        let back_at = Instant::now() + away;
        let mut polls = 0;
        while Instant::now() < back_at {
            world.assert_no_panic(&format!("round {round}, chain away"));
            let peer_view = world
                .node(payer)
                .channel(&id)
                .expect("the peer lists the channel");
            if peer_view["is_usable"] == true {
                // What the peer does with a usable channel: pay. Without the wait for the chain
                // the victim answers by closing the channel.
                let _ = world.node(payer).call(&format!("send {invoice}"));
                std::thread::sleep(Duration::from_secs(2));
                panic!(
                    "round {round}: {} reconnected to {} {:?} after the restart, before its \
                     first chain sync; its events: {:?}",
                    victim.name(),
                    payer.name(),
                    started.elapsed(),
                    world.node(victim).events()
                );
            }
            polls += 1;
            std::thread::sleep(Duration::from_millis(100));
        }
        assert!(polls > 0);
        switch.set(true);
        world.wait_usable(payer, &id);

        // The payment goes through the channel that was in danger, or another: it succeeds, and
        // no channel closed on either side.
        let payment = world.node(payer).ok(&format!("send {invoice}"));
        let payment = payment.as_str().expect("payment id").to_string();
        {
            let node = world.node(payer);
            wait_until("the payment succeeds", || {
                node.ok(&format!("payment {payment}"))["status"] == "succeeded"
            });
        }
        for side in [Side::Alice, Side::Bob] {
            let events = world.node(side).events();
            assert_not_closed(side.name(), &events, &opened, &format!("round {round}"));
        }
        // The restarted node runs against the harness again (the switch goes away).
        world.node(victim).spec.rpc_url = world.harness.url().to_string();
        world.node(victim).restart();
        world.wait_usable(payer, &id);
    }
    println!(
        "crash-suite f (kill right after channel_ready): rounds {}, channels kept {}, {:.0} s",
        READY_ROUNDS.len(),
        opened.len(),
        started.elapsed().as_secs_f64()
    );
    world.alice.stop();
    world.bob.stop();
}

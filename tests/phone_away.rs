//! A phone that is away: a "server" node that is always on and syncs as blocks come, and a
//! "phone" node that is stopped for more than 18 hours of Qtum blocks (2,100 blocks of 32 s)
//! and then started again from the same storage directory and seed.
//!
//! 1. An inbound channel still waiting for its funding to confirm when the phone leaves: when
//!    it comes back the channel becomes ready. (Before the fix the phone closed it: LDK's
//!    funding deadline, 2,016 blocks, was crossed before the phone heard of the confirmation.)
//! 2. An open channel with an HTLC in flight when the phone leaves, in both directions: when
//!    the phone comes back the HTLC settles off-chain, exactly once, nobody force-closes, and
//!    the balances move by the payment to the msat.
//!
//! Node logs: `E2E_LOG=debug cargo test --test phone_away -- --nocapture`.

mod common;

use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::*;
use qtum_lightning::{ChannelId, PaymentId};
use qtum_lightning::{Config, Event, Node, PaymentStatus};
use qtum_regtest::node::RegtestNode;

/// How long the phone is away: more than 18 hours of 32-second blocks, and more than the
/// 2,016 blocks of LDK's unpatched funding deadline.
const AWAY_BLOCKS: u32 = 2_100;
/// Blocks mined between two syncs of the server while the phone is away (under the sync
/// engine's 144-block header-linking window: the server follows the chain block by block).
const CHUNK: u32 = 100;

// ----- events -----

/// Every event a node emitted during the test (across its restarts), acknowledged as read.
struct Seen {
    name: &'static str,
    events: Vec<Event>,
}

impl Seen {
    fn new(name: &'static str) -> Seen {
        Seen {
            name,
            events: Vec::new(),
        }
    }

    /// Take in whatever the node has queued.
    fn pump(&mut self, node: &Node) {
        while let Some(event) = node.next_event() {
            eprintln!("{}: event {event:?}", self.name);
            node.event_handled().expect("ack");
            self.events.push(event);
        }
    }

    /// The first event (already seen or still to come) matching `matches`.
    fn wait(&mut self, node: &Node, what: &str, matches: impl Fn(&Event) -> bool) -> Event {
        let deadline = Instant::now() + Duration::from_secs(120);
        loop {
            self.pump(node);
            if let Some(event) = self.events.iter().find(|e| matches(e)) {
                return event.clone();
            }
            assert!(
                Instant::now() < deadline,
                "{}: gave up waiting for event: {what}",
                self.name
            );
            let _ = node.sync();
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// No channel of this node was ever closed.
    fn assert_no_close(&mut self, node: &Node) {
        self.pump(node);
        let closes: Vec<&Event> = self
            .events
            .iter()
            .filter(|e| matches!(e, Event::ChannelClosed { .. }))
            .collect();
        assert!(
            closes.is_empty(),
            "{}: channel closed: {closes:?}",
            self.name
        );
    }
}

// ----- chain -----

/// Mine `blocks` in chunks, the server syncing after each.
fn mine_with_server_syncing(harness: &RegtestNode, server: &Node, blocks: u32) {
    let start = harness.height();
    let mut left = blocks;
    while left > 0 {
        let n = left.min(CHUNK);
        mine(harness, n);
        left -= n;
        server.sync().expect("the server syncs");
    }
    eprintln!(
        "mined {blocks} blocks ({start} -> {}) with the server syncing along",
        harness.height()
    );
}

/// The funding output is still unspent on chain: nobody broadcast a commitment.
fn assert_funding_unspent(harness: &RegtestNode, funding_txo: &bitcoin::OutPoint) {
    let op = *funding_txo;
    harness.with_chain(|chain| {
        assert!(
            chain.utxo(&op).is_some(),
            "the funding output {funding_txo} is confirmed and unspent"
        );
        assert!(
            chain.mempool.spender(&op).is_none(),
            "no commitment spending {funding_txo} waits in the mempool"
        );
    });
}

fn channel(node: &Node, channel_id: &ChannelId) -> qtum_lightning::ChannelInfo {
    node.list_channels()
        .into_iter()
        .find(|c| c.channel_id == *channel_id)
        .unwrap_or_else(|| panic!("channel {channel_id} is listed"))
}

/// A payment from `from` to `to`, waited for on both sides.
fn pay(
    from: &Node,
    from_seen: &mut Seen,
    to: &Node,
    to_seen: &mut Seen,
    amount_msat: u64,
    what: &str,
) {
    let invoice = to.receive(amount_msat, what, None).expect("invoice");
    let id = from.send(&invoice, None).expect("send");
    let paid = from
        .wait_payment(&id, Duration::from_secs(60))
        .expect("payment");
    assert_eq!(paid.status, PaymentStatus::Succeeded, "{what}: {paid:?}");
    to_seen.wait(
        to,
        "payment received",
        |e| matches!(e, Event::PaymentReceived { payment_hash, .. } if payment_hash.0 == id.0),
    );
    from_seen.wait(
        from,
        "payment successful",
        |e| matches!(e, Event::PaymentSuccessful { payment_id, .. } if *payment_id == id),
    );
    eprintln!("{what}: {amount_msat} msat paid");
}

// ----- 1. a pending inbound channel -----

#[test]
fn an_inbound_channel_pending_when_the_phone_left_is_ready_when_it_returns() {
    init_logs();
    let harness = harness();
    let server = start_node(&harness, "away-pending-server", 101);
    let phone_config = config(&harness, "away-pending-phone");
    let phone = build(phone_config.clone(), 102);
    phone.start().expect("phone starts");
    let mut server_seen = Seen::new("server");
    let mut phone_seen = Seen::new("phone");
    fund(&harness, &server, 20 * QTUM);

    let uri = phone.node_uri().expect("the phone listens");
    server
        .open_channel(&uri, 10 * QTUM, None, false)
        .expect("open");
    let Event::ChannelPending {
        channel_id,
        funding_txo,
        ..
    } = server_seen.wait(&server, "pending (server)", |e| {
        matches!(e, Event::ChannelPending { .. })
    })
    else {
        unreachable!()
    };
    phone_seen.wait(
        &phone,
        "pending (phone)",
        |e| matches!(e, Event::ChannelPending { channel_id: c, .. } if *c == channel_id),
    );
    let funding = funding_txo;
    let in_mempool = harness.with_chain(|c| {
        c.mempool.get(&funding.txid).is_some() && c.tx_location(&funding.txid).is_none()
    });
    assert!(in_mempool, "funding broadcast, not confirmed");
    assert_eq!(
        channel(&phone, &channel_id).confirmations,
        Some(0),
        "the phone has not seen the funding confirmed"
    );
    let created_at = harness.height();
    eprintln!("channel {channel_id} pending at height {created_at}; the phone leaves");
    phone.stop().expect("phone stops");
    drop(phone);

    mine_with_server_syncing(&harness, &server, AWAY_BLOCKS);
    let confirmed_at = harness
        .with_chain(|c| {
            c.confirmed_tx(&funding.txid)
                .map(|(_, block, _)| block.height)
        })
        .expect("the funding confirmed");
    assert_eq!(
        confirmed_at,
        created_at + 1,
        "the funding confirmed in the first block"
    );
    let on_server = channel(&server, &channel_id);
    eprintln!(
        "server while the phone is away: confirmations {:?}, ready {}",
        on_server.confirmations, on_server.is_ready
    );
    assert!(on_server.confirmations.unwrap_or(0) >= AWAY_BLOCKS);
    server_seen.assert_no_close(&server);

    eprintln!("the phone returns at height {}", harness.height());
    let phone = build(phone_config, 102);
    phone.start().expect("phone starts again");
    phone_seen.wait(
        &phone,
        "ready (phone)",
        |e| matches!(e, Event::ChannelReady { channel_id: c, .. } if *c == channel_id),
    );
    server_seen.wait(
        &server,
        "ready (server)",
        |e| matches!(e, Event::ChannelReady { channel_id: c, .. } if *c == channel_id),
    );
    wait_until("the channel is usable on both sides", || {
        channel(&server, &channel_id).is_usable && channel(&phone, &channel_id).is_usable
    });
    let on_phone = channel(&phone, &channel_id);
    eprintln!(
        "phone: confirmations {:?}, ready {}",
        on_phone.confirmations, on_phone.is_ready
    );
    assert!(on_phone.confirmations.unwrap_or(0) >= AWAY_BLOCKS);

    pay(
        &server,
        &mut server_seen,
        &phone,
        &mut phone_seen,
        2 * QTUM * 1_000,
        "server to phone",
    );
    pay(
        &phone,
        &mut phone_seen,
        &server,
        &mut server_seen,
        QTUM * 1_000 / 2,
        "phone to server",
    );

    server_seen.assert_no_close(&server);
    phone_seen.assert_no_close(&phone);
    assert_funding_unspent(&harness, &funding_txo);
    assert_eq!(server.list_channels().len(), 1);
    assert_eq!(phone.list_channels().len(), 1);
    assert_no_policy_refusals(&harness);
    phone.stop().expect("stop");
    server.stop().expect("stop");
}

// ----- 2. an HTLC in flight -----

/// One direction of the proxy below: it forwards what it reads, or swallows it (reads and
/// counts it, never delivers it).
#[derive(Default)]
struct Gate {
    /// Swallow everything from now on.
    hold: AtomicBool,
    /// When not 0: forward this many bytes more (whole reads), then hold.
    pass_then_hold: AtomicU64,
    passed: AtomicU64,
    held: AtomicU64,
    /// Milliseconds (since the proxy started) of the last read.
    last_read_ms: AtomicU64,
}

impl Gate {
    fn held(&self) -> u64 {
        self.held.load(Ordering::Acquire)
    }

    fn reset(&self) {
        self.hold.store(false, Ordering::Release);
        self.pass_then_hold.store(0, Ordering::Release);
        self.passed.store(0, Ordering::Release);
        self.held.store(0, Ordering::Release);
    }
}

/// A TCP forwarder between the server (which connects to it) and the phone's listening port:
/// it holds an HTLC in flight deterministically by swallowing one direction from a chosen
/// moment, until `cut` closes every connection through it and lets new ones through again.
/// LDK writes each (encrypted) message with a write of its own, so on loopback a read never
/// ends inside a message that was sent before the next one.
struct Proxy {
    port: u16,
    started: Instant,
    /// What the server sends to the phone.
    to_phone: Arc<Gate>,
    /// What the phone sends to the server.
    to_server: Arc<Gate>,
    open: Arc<Mutex<Vec<Connection>>>,
}

/// An open connection through the proxy: both sockets and the flag that silences its pipes.
type Connection = (TcpStream, TcpStream, Arc<AtomicBool>);

fn pipe(
    mut from: TcpStream,
    mut to: TcpStream,
    dead: Arc<AtomicBool>,
    gate: Arc<Gate>,
    started: Instant,
) {
    let mut buf = [0u8; 16 * 1024];
    loop {
        let n = match from.read(&mut buf) {
            Ok(0) | Err(_) => {
                let _ = to.shutdown(Shutdown::Both);
                return;
            }
            Ok(n) => n as u64,
        };
        if dead.load(Ordering::Acquire) {
            return;
        }
        gate.last_read_ms
            .store(started.elapsed().as_millis() as u64, Ordering::Release);
        if gate.hold.load(Ordering::Acquire) {
            gate.held.fetch_add(n, Ordering::AcqRel);
            continue;
        }
        if to.write_all(&buf[..n as usize]).is_err() {
            return;
        }
        let budget = gate.pass_then_hold.load(Ordering::Acquire);
        if budget > 0 && gate.passed.fetch_add(n, Ordering::AcqRel) + n >= budget {
            gate.hold.store(true, Ordering::Release);
        }
    }
}

impl Proxy {
    fn to(target_port: u16) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = listener.local_addr().expect("addr").port();
        let proxy = Proxy {
            port,
            started: Instant::now(),
            to_phone: Arc::new(Gate::default()),
            to_server: Arc::new(Gate::default()),
            open: Arc::new(Mutex::new(Vec::new())),
        };
        let (to_phone, to_server) = (proxy.to_phone.clone(), proxy.to_server.clone());
        let (open, started) = (proxy.open.clone(), proxy.started);
        std::thread::spawn(move || {
            for client in listener.incoming().flatten() {
                let Ok(phone) = TcpStream::connect(("127.0.0.1", target_port)) else {
                    // The phone is down: the server sees its connection closed.
                    drop(client);
                    continue;
                };
                let dead = Arc::new(AtomicBool::new(false));
                let clones = (
                    client.try_clone(),
                    phone.try_clone(),
                    client.try_clone(),
                    phone.try_clone(),
                );
                let (Ok(c1), Ok(p1), Ok(c2), Ok(p2)) = clones else {
                    continue;
                };
                open.lock().expect("lock").push((c2, p2, dead.clone()));
                let (d1, g1) = (dead.clone(), to_phone.clone());
                std::thread::spawn(move || pipe(client, phone, d1, g1, started));
                let (d2, g2) = (dead, to_server.clone());
                std::thread::spawn(move || pipe(p1, c1, d2, g2, started));
            }
        });
        proxy
    }

    /// Wait until nothing went through `gate` for half a second (no keep-alive or gossip
    /// about to mix with the HTLC's messages).
    fn wait_quiet(&self, gate: &Gate) {
        wait_until("the connection is quiet", || {
            let now = self.started.elapsed().as_millis() as u64;
            now.saturating_sub(gate.last_read_ms.load(Ordering::Acquire)) >= 500
        });
    }

    /// Close every connection through the proxy, forget what was swallowed and let new
    /// connections through untouched.
    fn cut(&self) {
        for (client, phone, dead) in self.open.lock().expect("lock").drain(..) {
            dead.store(true, Ordering::Release);
            let _ = client.shutdown(Shutdown::Both);
            let _ = phone.shutdown(Shutdown::Both);
        }
        self.to_phone.reset();
        self.to_server.reset();
    }
}

/// A `revoke_and_ack` and a `commitment_signed` with one HTLC signature, encrypted and framed:
/// 133 + 198 bytes at least (365 with LDK 0.2.7's TLVs). The payee's answer to an HTLC.
const ANSWER_BYTES: u64 = 300;
/// An `update_fulfill_htlc`, encrypted and framed (108 bytes at least).
const FULFILL_BYTES: u64 = 100;

/// What the phone leaves behind.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Case {
    /// The server paid; the phone took the payment (released the preimage, told its app
    /// "received"), but its `update_fulfill_htlc` never reached the server.
    ServerPaysPhoneTakenUnsettled,
    /// The phone paid; the server took the payment, but its `update_fulfill_htlc` never
    /// reached the phone.
    PhonePaysServerTakenUnsettled,
    /// The phone paid; the server got the HTLC, but its answer never reached the phone, so it
    /// could not take the payment before the phone left.
    PhonePaysServerNotTaken,
}

impl Case {
    fn phone_pays(self) -> bool {
        self != Case::ServerPaysPhoneTakenUnsettled
    }

    fn taken(self) -> bool {
        self != Case::PhonePaysServerNotTaken
    }
}

struct Phone {
    config: Config,
    seed: u8,
    node: Option<Node>,
}

impl Phone {
    fn node(&self) -> &Node {
        self.node.as_ref().expect("the phone is running")
    }

    fn leave(&mut self) {
        let node = self.node.take().expect("running");
        node.stop().expect("the phone stops cleanly");
        drop(node);
    }

    fn come_back(&mut self) {
        let node = build(self.config.clone(), self.seed);
        node.start().expect("the phone starts again");
        self.node = Some(node);
    }
}

fn outcomes(seen: &Seen, id: &PaymentId) -> Vec<Event> {
    seen.events
        .iter()
        .filter(|e| {
            matches!(e,
                Event::PaymentSuccessful { payment_id, .. }
                | Event::PaymentFailed { payment_id, .. }
                | Event::PaymentReceived { payment_id, .. } if payment_id == id)
        })
        .cloned()
        .collect()
}

/// Stop the phone with an HTLC of `amount_msat` in flight as `case` says, keep it away for
/// `AWAY_BLOCKS` while the server syncs, bring it back, and check how the payment ends.
#[allow(clippy::too_many_arguments)]
fn htlc_in_flight_while_away(
    harness: &RegtestNode,
    server: &Node,
    server_seen: &mut Seen,
    phone: &mut Phone,
    phone_seen: &mut Seen,
    proxy: &Proxy,
    channel_id: &ChannelId,
    funding_txo: &bitcoin::OutPoint,
    case: Case,
    amount_msat: u64,
) {
    eprintln!("--- {case:?}: {amount_msat} msat in flight while the phone is away ---");
    // The phone is not the funder: its outbound capacity is its balance less its reserve, the
    // server's inbound capacity the phone's balance less the same reserve. No fee moves them;
    // the payment does, exactly.
    let phone_out_before = channel(phone.node(), channel_id).outbound_capacity_msat;
    let server_in_before = channel(server, channel_id).inbound_capacity_msat;

    let (payer, payee) = if case.phone_pays() {
        (phone.node(), server)
    } else {
        (server, phone.node())
    };
    let invoice = payee
        .receive(amount_msat, &format!("{case:?}"), None)
        .expect("invoice");
    eprintln!(
        "invoice c = {} blocks; the phone will be away {AWAY_BLOCKS} blocks",
        payer
            .decode_invoice(&invoice)
            .expect("decode")
            .min_final_cltv_expiry_delta
    );
    // The payee's messages to the payer.
    let gate = if case.phone_pays() {
        &proxy.to_phone
    } else {
        &proxy.to_server
    };
    proxy.wait_quiet(gate);
    if case.taken() {
        // Let the payee's answer to the HTLC through (so the payer revokes, the HTLC is
        // committed on both sides and the payee takes it), swallow what follows: the fulfill.
        gate.pass_then_hold.store(ANSWER_BYTES, Ordering::Release);
    } else {
        gate.hold.store(true, Ordering::Release);
    }
    let id = payer.send(&invoice, None).expect("send");
    if case.taken() {
        wait_until("the payee took the payment and its fulfill is held", || {
            payee
                .payment(&id)
                .ok()
                .flatten()
                .is_some_and(|p| p.status == PaymentStatus::Succeeded)
                && gate.held() >= FULFILL_BYTES
        });
    } else {
        wait_until("the payee has the HTLC and its answer is held", || {
            channel(server, channel_id).inbound_capacity_msat + amount_msat <= server_in_before
                && gate.held() >= ANSWER_BYTES
        });
    }

    // The moment of the stop.
    let payer_row = payer.payment(&id).expect("read").expect("payer's row");
    let payee_row = payee.payment(&id).expect("read").expect("payee's row");
    let payer_channel = channel(payer, channel_id);
    server_seen.pump(server);
    phone_seen.pump(phone.node());
    eprintln!(
        "at the stop: payer {:?}, payee {:?}, HTLCs committed on the payer's side {}, payer can \
         send {} msat, {} bytes from the payee held",
        payer_row.status,
        payee_row.status,
        payer_channel.htlcs_in_flight,
        payer_channel.outbound_capacity_msat,
        gate.held()
    );
    assert_eq!(payer_row.status, PaymentStatus::Pending, "payer: in flight");
    let (payer_seen, payee_seen): (&Seen, &Seen) = if case.phone_pays() {
        (phone_seen, server_seen)
    } else {
        (server_seen, phone_seen)
    };
    assert!(
        outcomes(payer_seen, &id).is_empty(),
        "the payer knows no outcome"
    );
    if case.taken() {
        assert_eq!(payee_row.status, PaymentStatus::Succeeded, "payee: taken");
        assert_eq!(
            outcomes(payee_seen, &id).len(),
            1,
            "the payee's app was told: received"
        );
        assert_eq!(
            payer_channel.htlcs_in_flight, 1,
            "the HTLC is committed on the payer's side"
        );
    } else {
        assert_eq!(payee_row.status, PaymentStatus::Pending, "payee: not taken");
        assert!(outcomes(payee_seen, &id).is_empty());
    }

    // The phone leaves (its connection still swallowing), then the proxy lets new
    // connections through: the server redials every 5 s and finds the phone down.
    phone.leave();
    proxy.cut();
    mine_with_server_syncing(harness, server, AWAY_BLOCKS);
    server_seen.assert_no_close(server);
    assert!(
        server
            .list_channels()
            .iter()
            .any(|c| c.channel_id == *channel_id),
        "the server kept the channel"
    );
    assert_funding_unspent(harness, funding_txo);
    if !case.phone_pays() {
        assert_eq!(
            server.payment(&id).expect("read").expect("row").status,
            PaymentStatus::Pending,
            "still in flight on the server after {AWAY_BLOCKS} blocks"
        );
    }

    eprintln!("the phone returns at height {}", harness.height());
    phone.come_back();
    let phone_node = phone.node();
    let (payer, payee) = if case.phone_pays() {
        (phone_node, server)
    } else {
        (server, phone_node)
    };
    let settled = payer
        .wait_payment(&id, Duration::from_secs(120))
        .expect("payment");
    eprintln!("payer's payment after the return: {:?}", settled.status);
    let (payer_seen, payee_seen): (&mut Seen, &mut Seen) = if case.phone_pays() {
        (phone_seen, server_seen)
    } else {
        (server_seen, phone_seen)
    };
    if case.taken() {
        // Expected: the payee already took it, and the HTLC is 600 blocks from its expiry:
        // the fulfill goes through once the channel is re-established. Succeeded on both sides.
        assert_eq!(settled.status, PaymentStatus::Succeeded, "{settled:?}");
        payer_seen.wait(
            payer,
            "payment successful",
            |e| matches!(e, Event::PaymentSuccessful { payment_id, .. } if *payment_id == id),
        );
    } else {
        // Expected: the server gets the HTLC committed only now, 2,100 blocks later, with
        // about 600 blocks left before its expiry: less than its invoice's window (`c`), so it
        // refuses it. Failed on both sides, the money back to the phone.
        assert_eq!(settled.status, PaymentStatus::Failed, "{settled:?}");
        payer_seen.wait(
            payer,
            "payment failed",
            |e| matches!(e, Event::PaymentFailed { payment_id, .. } if *payment_id == id),
        );
    }
    let received = payee.payment(&id).expect("read").expect("row");
    let expected_payee = if case.taken() {
        PaymentStatus::Succeeded
    } else {
        PaymentStatus::Pending
    };
    assert_eq!(received.status, expected_payee, "the payee's row");

    // Balances, to the msat, once the last revocations went through.
    let moved = if !case.taken() {
        0i128
    } else if case.phone_pays() {
        -i128::from(amount_msat)
    } else {
        i128::from(amount_msat)
    };
    let shift = |before: u64| u64::try_from(i128::from(before) + moved).expect("balance");
    let expected = (shift(phone_out_before), shift(server_in_before));
    let deadline = Instant::now() + Duration::from_secs(60);
    let actual = loop {
        let actual = (
            channel(phone_node, channel_id).outbound_capacity_msat,
            channel(server, channel_id).inbound_capacity_msat,
        );
        if actual == expected || Instant::now() > deadline {
            break actual;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    eprintln!(
        "phone can send / server can receive: {actual:?} (before: {phone_out_before}, \
         {server_in_before})"
    );
    assert_eq!(
        actual, expected,
        "the balances moved by {moved} msat exactly"
    );

    // Exactly once, on both sides (events are deduplicated across restarts and replays).
    payer_seen.pump(payer);
    payee_seen.pump(payee);
    let payer_outcomes = outcomes(payer_seen, &id);
    let payee_outcomes = outcomes(payee_seen, &id);
    assert_eq!(payer_outcomes.len(), 1, "payer: {payer_outcomes:?}");
    if case.taken() {
        assert!(
            matches!(&payee_outcomes[..], [Event::PaymentReceived { amount_msat: a, .. }]
                if *a == amount_msat),
            "payee: {payee_outcomes:?}"
        );
    } else {
        assert!(payee_outcomes.is_empty(), "payee: {payee_outcomes:?}");
    }
    payer_seen.assert_no_close(payer);
    payee_seen.assert_no_close(payee);
    assert_funding_unspent(harness, funding_txo);
    wait_until("usable again on both sides", || {
        channel(server, channel_id).is_usable && channel(phone_node, channel_id).is_usable
    });
}

#[test]
fn an_htlc_in_flight_when_the_phone_left_settles_when_it_returns() {
    init_logs();
    let harness = harness();
    let server = start_node(&harness, "away-htlc-server", 103);
    let phone_config = config(&harness, "away-htlc-phone");
    let phone_port: u16 = phone_config.listening_addresses[0].port();
    let mut phone = Phone {
        config: phone_config,
        seed: 104,
        node: None,
    };
    phone.come_back();
    let mut server_seen = Seen::new("server");
    let mut phone_seen = Seen::new("phone");
    fund(&harness, &server, 20 * QTUM);

    // The server reaches the phone only through the proxy (that is the address it keeps and
    // redials); the phone opens no connection of its own.
    let proxy = Proxy::to(phone_port);
    let via_proxy = format!("{}@127.0.0.1:{}", phone.node().node_id(), proxy.port);
    // 1 QTUM pushed to the phone keeps its balance above its reserve from the start, so the
    // capacities compared below move by exactly each payment.
    server
        .open_channel(&via_proxy, 10 * QTUM, Some(QTUM * 1_000), false)
        .expect("open");
    let Event::ChannelPending {
        channel_id,
        funding_txo,
        ..
    } = server_seen.wait(&server, "pending", |e| {
        matches!(e, Event::ChannelPending { .. })
    })
    else {
        unreachable!()
    };
    mine(&harness, 6);
    server_seen.wait(&server, "ready (server)", |e| {
        matches!(e, Event::ChannelReady { .. })
    });
    phone_seen.wait(phone.node(), "ready (phone)", |e| {
        matches!(e, Event::ChannelReady { .. })
    });
    wait_until("usable on both sides", || {
        channel(&server, &channel_id).is_usable && channel(phone.node(), &channel_id).is_usable
    });

    // Server pays phone: where being away matters most. The phone has told its app
    // "received", but until the server has the fulfill, the server holds an outbound HTLC it
    // force-closes on 3 blocks after its expiry, that is the invoice's `c` (one day) after
    // the payment; then it takes the money back on chain by timeout, and the phone, away,
    // cannot claim it first. 2,100 blocks are inside that window (with the old 576-block
    // default they were not).
    let cases = [
        (Case::ServerPaysPhoneTakenUnsettled, 2 * QTUM * 1_000),
        // Phone pays server, taken: the server holds the preimage of an HTLC the phone has not
        // settled, and force-closes to claim it on chain 36 blocks before its expiry. The
        // phone keeps the payment, but loses the channel and pays the fees.
        (Case::PhonePaysServerTakenUnsettled, QTUM * 1_000 / 2),
        // Phone pays server, not taken: nothing forces a close; the late HTLC is refused.
        (Case::PhonePaysServerNotTaken, QTUM * 1_000 / 4),
    ];
    for (case, amount_msat) in cases {
        htlc_in_flight_while_away(
            &harness,
            &server,
            &mut server_seen,
            &mut phone,
            &mut phone_seen,
            &proxy,
            &channel_id,
            &funding_txo,
            case,
            amount_msat,
        );
    }

    // New payments both ways.
    pay(
        &server,
        &mut server_seen,
        phone.node(),
        &mut phone_seen,
        QTUM * 1_000 / 10,
        "a new payment, server to phone",
    );
    pay(
        phone.node(),
        &mut phone_seen,
        &server,
        &mut server_seen,
        QTUM * 1_000 / 10,
        "a new payment, phone to server",
    );
    server_seen.assert_no_close(&server);
    phone_seen.assert_no_close(phone.node());
    assert_funding_unspent(&harness, &funding_txo);
    assert_no_policy_refusals(&harness);
    phone.leave();
    server.stop().expect("stop");
}

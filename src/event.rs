//! The node's events: a persisted, acknowledged queue and a push listener.
//!
//! An event stays at the head of the queue until the app calls `event_handled`, across restarts:
//! an app that crashes while showing "payment received" sees it again. Events are stored as JSON
//! with a `type` tag, so later versions can add fields and variants and still read old rows.

use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

use qtum_sql::{params, Connection};

use crate::io::db::SharedConnection;
use crate::payment::store::CustomRecord;
use crate::types::{ChannelId, OutPoint, PaymentHash, PaymentId, PublicKey, UserChannelId};
use serde::{Deserialize, Serialize};

/// Something that happened that an app wants to know about.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
#[cfg_attr(feature = "uniffi", derive(uniffi::Enum))]
pub enum Event {
    /// A channel's funding transaction was broadcast; it waits for confirmations.
    ChannelPending {
        /// Channel id (hex).
        #[serde(with = "crate::types::as_text")]
        channel_id: ChannelId,
        /// The id the app gave when opening (decimal), or one the node chose.
        #[serde(with = "crate::types::as_text")]
        user_channel_id: UserChannelId,
        /// The peer (hex node id).
        #[serde(with = "crate::types::as_text")]
        counterparty_node_id: PublicKey,
        /// Funding outpoint `txid:vout`.
        #[serde(with = "crate::types::as_text")]
        funding_txo: OutPoint,
    },
    /// A channel is confirmed and usable.
    ChannelReady {
        /// Channel id (hex).
        #[serde(with = "crate::types::as_text")]
        channel_id: ChannelId,
        /// The app's id for the channel.
        #[serde(with = "crate::types::as_text")]
        user_channel_id: UserChannelId,
        /// The peer (hex node id).
        #[serde(with = "crate::types::as_text")]
        counterparty_node_id: PublicKey,
    },
    /// A channel was closed (or failed to open).
    ChannelClosed {
        /// Channel id (hex).
        #[serde(with = "crate::types::as_text")]
        channel_id: ChannelId,
        /// The app's id for the channel.
        #[serde(with = "crate::types::as_text")]
        user_channel_id: UserChannelId,
        /// The peer, when known.
        #[serde(with = "crate::types::opt_text", default)]
        counterparty_node_id: Option<PublicKey>,
        /// Why, in words.
        reason: String,
        /// Why, for code to switch on (`Unknown` for events stored by an older version).
        #[serde(default)]
        kind: CloseKind,
    },
    /// We were paid.
    PaymentReceived {
        /// Payment id (hex).
        #[serde(with = "crate::types::as_text")]
        payment_id: PaymentId,
        /// Payment hash (hex).
        #[serde(with = "crate::types::as_text")]
        payment_hash: PaymentHash,
        /// Amount received, in millisatoshi.
        amount_msat: u64,
        /// Custom records the payer put in the onion (keysend messages and the like).
        #[serde(default)]
        custom_records: Vec<CustomRecord>,
    },
    /// A hold invoice (`receive_for_hash`) was paid: the payment waits until the app calls
    /// `claim_for_hash` with its preimage or `fail_for_hash`, before `claim_deadline_height`.
    PaymentClaimable {
        /// Payment id (hex): the payment hash.
        #[serde(with = "crate::types::as_text")]
        payment_id: PaymentId,
        /// Payment hash (hex).
        #[serde(with = "crate::types::as_text")]
        payment_hash: PaymentHash,
        /// Amount waiting, in millisatoshi.
        amount_msat: u64,
        /// The block height by which it must be claimed; after it the node fails it back.
        claim_deadline_height: Option<u32>,
        /// Custom records the payer put in the onion.
        #[serde(default)]
        custom_records: Vec<CustomRecord>,
    },
    /// A payment we sent arrived.
    PaymentSuccessful {
        /// Payment id (hex).
        #[serde(with = "crate::types::as_text")]
        payment_id: PaymentId,
        /// Payment hash (hex).
        #[serde(with = "crate::types::as_text")]
        payment_hash: PaymentHash,
        /// Routing fees paid, in millisatoshi, when known.
        fee_paid_msat: Option<u64>,
    },
    /// A payment we sent failed for good.
    PaymentFailed {
        /// Payment id (hex).
        #[serde(with = "crate::types::as_text")]
        payment_id: PaymentId,
        /// Payment hash (hex), when known.
        #[serde(with = "crate::types::opt_text", default)]
        payment_hash: Option<PaymentHash>,
        /// Why, in words.
        reason: String,
        /// Why, for code to switch on (`Unknown` for events stored by an older version).
        #[serde(default)]
        kind: PaymentFailureKind,
    },
    /// We forwarded a payment and earned a fee.
    PaymentForwarded {
        /// Inbound channel (hex).
        #[serde(with = "crate::types::opt_text", default)]
        prev_channel_id: Option<ChannelId>,
        /// Outbound channel (hex).
        #[serde(with = "crate::types::opt_text", default)]
        next_channel_id: Option<ChannelId>,
        /// Fee earned, in millisatoshi.
        fee_earned_msat: Option<u64>,
        /// Amount forwarded (outbound), in millisatoshi.
        outbound_amount_msat: Option<u64>,
    },
    /// A recovery without backup (`Node::start_channel_recovery`) found an output of a peer's
    /// force close that pays this node; the sweeper now brings it to the wallet.
    ChannelFundsRecovered {
        /// The output `txid:vout` (its transaction is the peer's commitment).
        #[serde(with = "crate::types::as_text")]
        outpoint: OutPoint,
        /// Its value, in satoshi (the sweep's fee comes off it).
        amount_sat: u64,
    },
    /// A payment to a just-in-time invoice (`Node::receive_via_jit_channel`) arrived over the
    /// channel the liquidity provider opened for it, and was claimed: the provider kept
    /// `opening_fee_msat` of it, within the fee it quoted.
    JitChannelOpened {
        /// The channel the payment came over (hex).
        #[serde(with = "crate::types::as_text")]
        channel_id: ChannelId,
        /// The liquidity provider (hex node id).
        #[serde(with = "crate::types::as_text")]
        lsp_node_id: PublicKey,
        /// The payment (hex).
        #[serde(with = "crate::types::as_text")]
        payment_hash: PaymentHash,
        /// What the provider kept as its opening fee, in millisatoshi.
        opening_fee_msat: u64,
    },
}

impl Event {
    /// What identifies this event across LDK replays (`None`: no stable identity).
    fn dedup_key(&self) -> Option<String> {
        match self {
            Event::ChannelPending { channel_id, .. } => Some(format!("pending:{channel_id}")),
            Event::ChannelReady { channel_id, .. } => Some(format!("ready:{channel_id}")),
            Event::ChannelClosed { channel_id, .. } => Some(format!("closed:{channel_id}")),
            Event::PaymentReceived { payment_hash, .. } => Some(format!("received:{payment_hash}")),
            // Paid again after a failed-back attempt: a new deadline, a new event.
            Event::PaymentClaimable {
                payment_hash,
                claim_deadline_height,
                ..
            } => Some(format!(
                "claimable:{payment_hash}:{}",
                claim_deadline_height.unwrap_or(0)
            )),
            Event::PaymentSuccessful { payment_id, .. } => Some(format!("sent:{payment_id}")),
            Event::PaymentFailed { payment_id, .. } => Some(format!("failed:{payment_id}")),
            Event::PaymentForwarded { .. } => None,
            Event::ChannelFundsRecovered { outpoint, .. } => Some(format!("recovered:{outpoint}")),
            Event::JitChannelOpened { payment_hash, .. } => Some(format!("jit:{payment_hash}")),
        }
    }
}

/// Why a channel closed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "uniffi", derive(uniffi::Enum))]
pub enum CloseKind {
    /// We asked for a cooperative close.
    CooperativeByUs,
    /// The peer asked for a cooperative close.
    CooperativeByPeer,
    /// We force-closed (`force_close_channel`, or the node had to: see `reason`).
    ForceClosedByUs,
    /// The peer force-closed, or sent an error that makes us do it: a commitment goes on chain.
    ForceClosedByPeer,
    /// A commitment transaction confirmed without a word from the peer (usually the peer
    /// force-closed while we were not connected).
    CommitmentConfirmed,
    /// HTLCs were about to expire unresolved; the node force-closed to claim them on chain.
    HtlcsTimedOut,
    /// The peer kept a commitment fee rate too low to confirm; the node force-closed while
    /// it still could.
    PeerFeeRateTooLow,
    /// The funding transaction never confirmed.
    FundingTimedOut,
    /// The channel closed before it was funded (peer left, open cancelled, a batch failed).
    OpenAborted,
    /// The channel state was older than the peer's (a restored older backup, or a manager
    /// behind its monitors): our commitment is not broadcast, the peer's is used instead.
    StaleState,
    /// LDK hit an error processing the channel (see `reason`).
    ProcessingError,
    /// Not known (an event stored before kinds were recorded, or a reason this version does not
    /// know).
    #[default]
    Unknown,
}

/// How the patched LDK's close of a channel whose peer proved our state stale begins.
const STALE_STATE_PREFIX: &str = "our channel state is stale";

impl CloseKind {
    pub(crate) fn of(reason: &lightning::events::ClosureReason) -> Self {
        use lightning::events::ClosureReason as R;
        match reason {
            R::LocallyInitiatedCooperativeClosure => CloseKind::CooperativeByUs,
            R::CounterpartyInitiatedCooperativeClosure => CloseKind::CooperativeByPeer,
            R::LegacyCooperativeClosure => CloseKind::Unknown,
            R::HolderForceClosed { .. } => CloseKind::ForceClosedByUs,
            R::CounterpartyForceClosed { .. } => CloseKind::ForceClosedByPeer,
            R::CommitmentTxConfirmed => CloseKind::CommitmentConfirmed,
            R::HTLCsTimedOut { .. } => CloseKind::HtlcsTimedOut,
            R::PeerFeerateTooLow { .. } => CloseKind::PeerFeeRateTooLow,
            R::FundingTimedOut => CloseKind::FundingTimedOut,
            R::DisconnectedPeer
            | R::CounterpartyCoopClosedUnfundedChannel
            | R::LocallyCoopClosedUnfundedChannel
            | R::FundingBatchClosure => CloseKind::OpenAborted,
            R::OutdatedChannelManager => CloseKind::StaleState,
            // Our LDK patch closes a channel whose peer proved our state stale (a restored
            // older backup) with this message instead of panicking (patches/README.md).
            R::ProcessingError { err } if err.starts_with(STALE_STATE_PREFIX) => {
                CloseKind::StaleState
            }
            R::ProcessingError { .. } => CloseKind::ProcessingError,
        }
    }
}

/// Why a payment failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "uniffi", derive(uniffi::Enum))]
pub enum PaymentFailureKind {
    /// The recipient refused it (unknown payment, wrong amount, expired for them).
    RecipientRejected,
    /// Abandoned by the app before it could succeed.
    Abandoned,
    /// Every route tried failed.
    RetriesExhausted,
    /// The invoice expired before a route worked.
    Expired,
    /// No route to the recipient with enough capacity.
    RouteNotFound,
    /// The invoice needs features this node does not have.
    UnknownRequiredFeatures,
    /// Something unexpected inside the node.
    UnexpectedError,
    /// Not known (an older stored event, or the node failed it while reconciling after a
    /// crash).
    #[default]
    Unknown,
}

impl PaymentFailureKind {
    pub(crate) fn of(reason: Option<&lightning::events::PaymentFailureReason>) -> Self {
        use lightning::events::PaymentFailureReason as R;
        match reason {
            Some(R::RecipientRejected) => PaymentFailureKind::RecipientRejected,
            Some(R::UserAbandoned) => PaymentFailureKind::Abandoned,
            Some(R::RetriesExhausted) => PaymentFailureKind::RetriesExhausted,
            Some(R::PaymentExpired) => PaymentFailureKind::Expired,
            Some(R::RouteNotFound) => PaymentFailureKind::RouteNotFound,
            Some(R::UnknownRequiredFeatures) => PaymentFailureKind::UnknownRequiredFeatures,
            Some(R::UnexpectedError) => PaymentFailureKind::UnexpectedError,
            // BOLT 12 reasons: this node does not make BOLT 12 payments.
            Some(R::InvoiceRequestExpired)
            | Some(R::InvoiceRequestRejected)
            | Some(R::BlindedPathCreationFailed)
            | None => PaymentFailureKind::Unknown,
        }
    }
}

/// Receives every event as it is queued, on the node's own thread. Keep it short: hand the work
/// to the app's own thread. Events still wait in the queue until acknowledged.
pub trait EventListener: Send + Sync {
    /// Called once per new event.
    fn on_event(&self, event: Event);
}

/// The persisted event queue.
///
/// Delivery: every event is queued durably before LDK is told it was handled, and stays in the
/// queue until the app acknowledges it, across crashes and restarts. [`EventQueue::event_handled`]
/// removes exactly the event last handed out by [`EventQueue::next_event`] or
/// [`EventQueue::wait_next_event`] (by its row id), never whatever is at the head now. An event
/// LDK hands to the node twice (LDK replays events after a crash until the manager that saw
/// them handled is on disk) is queued once: payment and channel events carry a key
/// (`received:<hash>`, `sent:<payment id>`, `closed:<channel id>`, …) kept after the event is
/// acknowledged. An app that crashes after acting on an event but before acknowledging it sees
/// it again, so acting on one must be idempotent (the ids in each event make that easy).
pub struct EventQueue {
    conn: SharedConnection,
    /// Row id of the event last handed out and not yet acknowledged.
    handed_out: Mutex<Option<i64>>,
    signal: (Mutex<u64>, Condvar),
    listener: Mutex<Option<Arc<dyn EventListener>>>,
    stopped: std::sync::atomic::AtomicBool,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl EventQueue {
    /// The queue on the node's database (its tables come from the node's migrations).
    pub fn open(conn: SharedConnection) -> qtum_sql::Result<EventQueue> {
        Ok(EventQueue {
            conn,
            handed_out: Mutex::new(None),
            signal: (Mutex::new(0), Condvar::new()),
            listener: Mutex::new(None),
            stopped: std::sync::atomic::AtomicBool::new(false),
        })
    }

    /// Set (or clear) the push listener.
    pub fn set_listener(&self, listener: Option<Arc<dyn EventListener>>) {
        *lock(&self.listener) = listener;
    }

    /// Queue an event durably, then tell the listener and any waiter. An event whose key was
    /// queued before (an LDK replay) is dropped.
    pub fn push(&self, event: Event) -> qtum_sql::Result<()> {
        let body = serde_json::to_string(&event).map_err(qtum_sql::Error::conversion)?;
        {
            let conn = lock(&self.conn);
            let tx = conn.transaction()?;
            if let Some(key) = event.dedup_key() {
                let fresh = tx.execute(
                    "INSERT OR IGNORE INTO event_keys (key) VALUES (?1)",
                    params![key],
                )?;
                if fresh == 0 {
                    log::debug!("event {key} was queued before; not queued again");
                    return Ok(());
                }
            }
            tx.execute("INSERT INTO events (body) VALUES (?1)", params![body])?;
            tx.commit()?;
        }
        {
            let mut generation = lock(&self.signal.0);
            *generation += 1;
        }
        self.signal.1.notify_all();
        let listener = lock(&self.listener).clone();
        if let Some(listener) = listener {
            listener.on_event(event);
        }
        Ok(())
    }

    /// The oldest unacknowledged event we can read, with its row id. Rows that no longer parse
    /// (written by a newer SDK) are skipped over, not deleted.
    fn head(conn: &Connection) -> Option<(i64, Event)> {
        let mut stmt = conn
            .prepare_cached("SELECT id, body FROM events ORDER BY id")
            .ok()?;
        let rows = stmt
            .query_map([], |r| Ok((r.get::<_, i64>(0)?, r.get::<_, String>(1)?)))
            .ok()?;
        rows.flatten()
            .find_map(|(id, body)| serde_json::from_str::<Event>(&body).ok().map(|e| (id, e)))
    }

    /// A failed payment is being tried again under the same id: its outcome events of the new
    /// attempt must be queued, not taken for replays of the old one.
    pub(crate) fn forget_payment_outcome(&self, payment_id: &PaymentId) -> qtum_sql::Result<()> {
        lock(&self.conn).execute(
            "DELETE FROM event_keys WHERE key IN (?1, ?2)",
            params![format!("sent:{payment_id}"), format!("failed:{payment_id}")],
        )?;
        Ok(())
    }

    /// The oldest unacknowledged event, if any; it is the one `event_handled` acknowledges.
    pub fn next_event(&self) -> Option<Event> {
        let mut handed_out = lock(&self.handed_out);
        let (id, event) = EventQueue::head(&lock(&self.conn))?;
        *handed_out = Some(id);
        Some(event)
    }

    /// Block until an event is available (or `timeout` passes, or the node stops), then
    /// return it.
    pub fn wait_next_event(&self, timeout: Option<Duration>) -> Option<Event> {
        let deadline = timeout.map(crate::deadline_after);
        loop {
            let seen = *lock(&self.signal.0);
            if let Some(event) = self.next_event() {
                return Some(event);
            }
            if self.stopped.load(std::sync::atomic::Ordering::Acquire) {
                return None;
            }
            let guard = lock(&self.signal.0);
            if *guard != seen {
                continue;
            }
            match deadline {
                None => {
                    let _unused = self
                        .signal
                        .1
                        .wait_while(guard, |g| *g == seen)
                        .unwrap_or_else(|p| p.into_inner());
                }
                Some(deadline) => {
                    let now = std::time::Instant::now();
                    if now >= deadline {
                        return None;
                    }
                    let _unused = self
                        .signal
                        .1
                        .wait_timeout_while(guard, deadline - now, |g| *g == seen)
                        .unwrap_or_else(|p| p.into_inner());
                }
            }
        }
    }

    /// Acknowledge the event last handed out by `next_event` / `wait_next_event`: it will not
    /// be returned again. Returns whether there was one to acknowledge (a second call without a
    /// new `next_event` acknowledges nothing).
    pub fn event_handled(&self) -> qtum_sql::Result<bool> {
        let mut handed_out = lock(&self.handed_out);
        let Some(id) = *handed_out else {
            return Ok(false);
        };
        let deleted = lock(&self.conn).execute("DELETE FROM events WHERE id = ?1", params![id])?;
        *handed_out = None;
        Ok(deleted > 0)
    }

    /// The node stopped: every waiter returns (with `None` if the queue is empty), and waits
    /// return at once until [`EventQueue::resume`].
    pub fn wake_all(&self) {
        self.stopped
            .store(true, std::sync::atomic::Ordering::Release);
        *lock(&self.signal.0) += 1;
        self.signal.1.notify_all();
    }

    /// The node (re)started: waits block again.
    pub fn resume(&self) {
        self.stopped
            .store(false, std::sync::atomic::Ordering::Release);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn db(name: &str) -> std::path::PathBuf {
        crate::io::db::tests::temp_dir(&format!("events-{name}"))
    }

    fn open(dir: &std::path::Path) -> (crate::io::db::Db, EventQueue) {
        let db = crate::io::db::Db::open(dir).expect("db");
        let q = EventQueue::open(db.shared()).expect("queue");
        (db, q)
    }

    fn ready(n: u32) -> Event {
        let mut id = [0u8; 32];
        id[28..].copy_from_slice(&n.to_be_bytes());
        Event::ChannelReady {
            channel_id: crate::types::ChannelId(id),
            user_channel_id: UserChannelId(u128::from(n)),
            // The secp256k1 generator: any valid key does.
            counterparty_node_id:
                "0279be667ef9dcbbac55a06295ce870b07029bfcdb2dce28d959f2815b16f81798"
                    .parse()
                    .expect("key"),
        }
    }

    #[test]
    fn queue_persists_until_acknowledged() {
        let path = db("ack");
        {
            let (_db, q) = open(&path);
            assert_eq!(q.next_event(), None);
            q.push(ready(1)).expect("push");
            q.push(ready(2)).expect("push");
            assert_eq!(q.next_event(), Some(ready(1)));
            assert_eq!(q.next_event(), Some(ready(1)), "peeking does not consume");
        }
        let (_db, q) = open(&path);
        assert_eq!(q.next_event(), Some(ready(1)), "survives a restart");
        assert!(q.event_handled().expect("ack"));
        assert!(
            !q.event_handled().expect("ack"),
            "a second ack without a new next_event acknowledges nothing"
        );
        assert_eq!(q.next_event(), Some(ready(2)));
        assert!(q.event_handled().expect("ack"));
        assert_eq!(q.next_event(), None);
        assert!(!q.event_handled().expect("nothing left"));
    }

    #[test]
    fn the_acknowledged_event_is_the_one_handed_out() {
        let (_db, q) = open(&db("by-id"));
        q.push(ready(1)).expect("push");
        assert_eq!(q.next_event(), Some(ready(1)));
        // Someone else acknowledges and the queue moves on before this consumer acks.
        lock(&q.conn)
            .execute(
                "DELETE FROM events WHERE id = (SELECT MIN(id) FROM events)",
                [],
            )
            .expect("delete");
        q.push(ready(2)).expect("push");
        assert!(!q.event_handled().expect("ack"), "event 1 was already gone");
        assert_eq!(
            q.next_event(),
            Some(ready(2)),
            "event 2 was not acknowledged by it"
        );
    }

    #[test]
    fn an_ldk_replay_is_queued_once() {
        let (_db, q) = open(&db("replay"));
        let received = Event::PaymentReceived {
            payment_id: PaymentId([0xaa; 32]),
            payment_hash: PaymentHash([0xbb; 32]),
            amount_msat: 1000,
            custom_records: Vec::new(),
        };
        q.push(received.clone()).expect("push");
        assert_eq!(q.next_event(), Some(received.clone()));
        assert!(q.event_handled().expect("ack"));
        // LDK hands the same event again after a crash, even after the app acknowledged it.
        q.push(received).expect("push again");
        assert_eq!(q.next_event(), None);
    }

    #[test]
    fn waiters_and_listeners_are_woken() {
        struct Count(Mutex<Vec<Event>>);
        impl EventListener for Count {
            fn on_event(&self, event: Event) {
                lock(&self.0).push(event);
            }
        }
        let (_db, q) = open(&db("wait"));
        let q = Arc::new(q);
        let listener = Arc::new(Count(Mutex::new(vec![])));
        q.set_listener(Some(listener.clone()));
        assert_eq!(q.wait_next_event(Some(Duration::from_millis(10))), None);
        let q2 = q.clone();
        let waiter = std::thread::spawn(move || q2.wait_next_event(None));
        q.push(ready(7)).expect("push");
        assert_eq!(waiter.join().expect("join"), Some(ready(7)));
        assert_eq!(lock(&listener.0).as_slice(), &[ready(7)]);
        assert!(q.event_handled().expect("ack"));
        // A waiter blocked on an empty queue returns when the node stops.
        let q3 = q.clone();
        let waiter = std::thread::spawn(move || q3.wait_next_event(None));
        std::thread::sleep(Duration::from_millis(20));
        q.wake_all();
        assert_eq!(waiter.join().expect("join"), None);
        q.resume();
        assert_eq!(q.wait_next_event(Some(Duration::from_millis(5))), None);
    }

    #[test]
    fn unknown_rows_are_skipped_not_lost() {
        let (_db, q) = open(&db("unknown"));
        lock(&q.conn)
            .execute(
                "INSERT INTO events (body) VALUES ('{\"type\":\"from_the_future\"}')",
                [],
            )
            .expect("insert");
        q.push(ready(3)).expect("push");
        assert_eq!(q.next_event(), Some(ready(3)));
        assert!(q.event_handled().expect("ack"));
        assert_eq!(q.next_event(), None);
        let n: i64 = lock(&q.conn)
            .query_row("SELECT COUNT(*) FROM events", [], |r| r.get(0))
            .expect("count");
        assert_eq!(n, 1, "the row from a newer SDK is kept");
    }
}

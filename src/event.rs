//! The node's events: a persisted, acknowledged queue and a push listener.
//!
//! An event stays at the head of the queue until the app calls `event_handled`, across restarts:
//! an app that crashes while showing "payment received" sees it again. Events are stored as JSON
//! with a `type` tag, so later versions can add fields and variants and still read old rows.

use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

use rusqlite::{params, Connection};
use serde::{Deserialize, Serialize};

/// Something that happened that an app wants to know about.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
#[cfg_attr(feature = "uniffi", derive(uniffi::Enum))]
pub enum Event {
    /// A channel's funding transaction was broadcast; it waits for confirmations.
    ChannelPending {
        /// Channel id (hex).
        channel_id: String,
        /// The id the app gave when opening (decimal), or one the node chose.
        user_channel_id: String,
        /// The peer (hex node id).
        counterparty_node_id: String,
        /// Funding outpoint `txid:vout`.
        funding_txo: String,
    },
    /// A channel is confirmed and usable.
    ChannelReady {
        /// Channel id (hex).
        channel_id: String,
        /// The app's id for the channel.
        user_channel_id: String,
        /// The peer (hex node id).
        counterparty_node_id: String,
    },
    /// A channel was closed (or failed to open).
    ChannelClosed {
        /// Channel id (hex).
        channel_id: String,
        /// The app's id for the channel.
        user_channel_id: String,
        /// The peer, when known.
        counterparty_node_id: Option<String>,
        /// Why, in words.
        reason: String,
    },
    /// We were paid.
    PaymentReceived {
        /// Payment id (hex).
        payment_id: String,
        /// Payment hash (hex).
        payment_hash: String,
        /// Amount received, in millisatoshi.
        amount_msat: u64,
    },
    /// A payment we sent arrived.
    PaymentSuccessful {
        /// Payment id (hex).
        payment_id: String,
        /// Payment hash (hex).
        payment_hash: String,
        /// Routing fees paid, in millisatoshi, when known.
        fee_paid_msat: Option<u64>,
    },
    /// A payment we sent failed for good.
    PaymentFailed {
        /// Payment id (hex).
        payment_id: String,
        /// Payment hash (hex), when known.
        payment_hash: Option<String>,
        /// Why, in words.
        reason: String,
    },
    /// We forwarded a payment and earned a fee.
    PaymentForwarded {
        /// Inbound channel (hex).
        prev_channel_id: Option<String>,
        /// Outbound channel (hex).
        next_channel_id: Option<String>,
        /// Fee earned, in millisatoshi.
        fee_earned_msat: Option<u64>,
        /// Amount forwarded (outbound), in millisatoshi.
        outbound_amount_msat: Option<u64>,
    },
}

/// Receives every event as it is queued, on the node's own thread. Keep it short: hand the work
/// to the app's own thread. Events still wait in the queue until acknowledged.
pub trait EventListener: Send + Sync {
    /// Called once per new event.
    fn on_event(&self, event: Event);
}

/// The persisted event queue.
pub struct EventQueue {
    conn: Mutex<Connection>,
    signal: (Mutex<u64>, Condvar),
    listener: Mutex<Option<Arc<dyn EventListener>>>,
    stopped: std::sync::atomic::AtomicBool,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl EventQueue {
    /// Open the queue in the node database (creating its table).
    pub fn open(conn: Connection) -> rusqlite::Result<EventQueue> {
        conn.execute_batch(
            "CREATE TABLE IF NOT EXISTS events (
                 id INTEGER PRIMARY KEY AUTOINCREMENT,
                 body TEXT NOT NULL
             );",
        )?;
        Ok(EventQueue {
            conn: Mutex::new(conn),
            signal: (Mutex::new(0), Condvar::new()),
            listener: Mutex::new(None),
            stopped: std::sync::atomic::AtomicBool::new(false),
        })
    }

    /// Set (or clear) the push listener.
    pub fn set_listener(&self, listener: Option<Arc<dyn EventListener>>) {
        *lock(&self.listener) = listener;
    }

    /// Queue an event durably, then tell the listener and any waiter.
    pub fn push(&self, event: Event) -> rusqlite::Result<()> {
        let body = serde_json::to_string(&event)
            .map_err(|e| rusqlite::Error::ToSqlConversionFailure(Box::new(e)))?;
        lock(&self.conn).execute("INSERT INTO events (body) VALUES (?1)", params![body])?;
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
    // The binding outlives `rows`, which borrows `stmt`: returning the expression directly
    // would not compile.
    #[allow(clippy::let_and_return)]
    fn head(conn: &Connection) -> Option<(i64, Event)> {
        let mut stmt = conn
            .prepare_cached("SELECT id, body FROM events ORDER BY id")
            .ok()?;
        let rows = stmt
            .query_map([], |r| Ok((r.get::<_, i64>(0)?, r.get::<_, String>(1)?)))
            .ok()?;
        let head = rows
            .flatten()
            .find_map(|(id, body)| serde_json::from_str::<Event>(&body).ok().map(|e| (id, e)));
        head
    }

    /// The oldest unacknowledged event, if any.
    pub fn next_event(&self) -> Option<Event> {
        EventQueue::head(&lock(&self.conn)).map(|(_, event)| event)
    }

    /// Block until an event is available (or `timeout` passes, or the node stops), then
    /// return it.
    pub fn wait_next_event(&self, timeout: Option<Duration>) -> Option<Event> {
        let deadline = timeout.map(|t| std::time::Instant::now() + t);
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

    /// Acknowledge the event `next_event` returned: it will not be returned again.
    /// Returns whether there was one.
    pub fn event_handled(&self) -> rusqlite::Result<bool> {
        let conn = lock(&self.conn);
        match EventQueue::head(&conn) {
            Some((id, _)) => {
                conn.execute("DELETE FROM events WHERE id = ?1", params![id])?;
                Ok(true)
            }
            None => Ok(false),
        }
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
        let dir =
            std::env::temp_dir().join(format!("qtum-ln-events-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("dir");
        dir.join("node.sqlite")
    }

    fn ready(n: u32) -> Event {
        Event::ChannelReady {
            channel_id: format!("{n:064x}"),
            user_channel_id: n.to_string(),
            counterparty_node_id: "02".repeat(33),
        }
    }

    #[test]
    fn queue_persists_until_acknowledged() {
        let path = db("ack");
        {
            let q = EventQueue::open(Connection::open(&path).expect("db")).expect("queue");
            assert_eq!(q.next_event(), None);
            q.push(ready(1)).expect("push");
            q.push(ready(2)).expect("push");
            assert_eq!(q.next_event(), Some(ready(1)));
            assert_eq!(q.next_event(), Some(ready(1)), "peeking does not consume");
        }
        let q = EventQueue::open(Connection::open(&path).expect("db")).expect("reopen");
        assert_eq!(q.next_event(), Some(ready(1)), "survives a restart");
        assert!(q.event_handled().expect("ack"));
        assert_eq!(q.next_event(), Some(ready(2)));
        assert!(q.event_handled().expect("ack"));
        assert!(!q.event_handled().expect("nothing left"));
    }

    #[test]
    fn waiters_and_listeners_are_woken() {
        struct Count(Mutex<Vec<Event>>);
        impl EventListener for Count {
            fn on_event(&self, event: Event) {
                lock(&self.0).push(event);
            }
        }
        let q = Arc::new(EventQueue::open(Connection::open(db("wait")).expect("db")).expect("q"));
        let listener = Arc::new(Count(Mutex::new(vec![])));
        q.set_listener(Some(listener.clone()));
        assert_eq!(q.wait_next_event(Some(Duration::from_millis(10))), None);
        let q2 = q.clone();
        let waiter = std::thread::spawn(move || q2.wait_next_event(None));
        q.push(ready(7)).expect("push");
        assert_eq!(waiter.join().expect("join"), Some(ready(7)));
        assert_eq!(lock(&listener.0).as_slice(), &[ready(7)]);
        q.event_handled().expect("ack");
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
        let path = db("unknown");
        let q = EventQueue::open(Connection::open(&path).expect("db")).expect("q");
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

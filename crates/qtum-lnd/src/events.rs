//! The daemon's event log: the SDK's events, numbered, for any number of API clients.
//!
//! The SDK's queue has one reader that acknowledges each event; a server has several readers
//! (a CLI, a dashboard, a script) that each want every event. One pump thread takes each SDK
//! event, appends it here with the next sequence number and only then acknowledges it to the
//! SDK (a crash in between shows it again after the restart, never loses it). Clients poll with
//! the last number they saw (`GET /v1/events?after=N&wait=S`). The log keeps the newest
//! [`KEPT`] events in memory; numbers restart with each start of the daemon, which the
//! `boot_id` of every answer tells a client (a new `boot_id`: start again from 0).

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use qtum_lightning::{Event, Node};
use serde_json::{json, Value};

/// Events kept for polling clients.
pub const KEPT: usize = 10_000;
/// The most events one poll returns.
pub const PAGE: usize = 500;

struct Log {
    events: VecDeque<(u64, Value)>,
    last: u64,
}

/// The numbered events.
pub struct EventLog {
    log: Mutex<Log>,
    grew: Condvar,
    boot_id: String,
    stop: AtomicBool,
}

impl EventLog {
    /// An empty log; `boot_id` tells clients which run of the daemon numbered the events.
    pub fn new(boot_id: String) -> EventLog {
        EventLog {
            log: Mutex::new(Log {
                events: VecDeque::new(),
                last: 0,
            }),
            grew: Condvar::new(),
            boot_id,
            stop: AtomicBool::new(false),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Log> {
        self.log.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Appends `event` and wakes the waiting polls.
    pub fn push(&self, event: Value) -> u64 {
        let mut log = self.lock();
        log.last += 1;
        let n = log.last;
        log.events.push_back((n, event));
        while log.events.len() > KEPT {
            log.events.pop_front();
        }
        drop(log);
        self.grew.notify_all();
        n
    }

    /// Ends every wait at once (the daemon is stopping).
    pub fn close(&self) {
        self.stop.store(true, Ordering::SeqCst);
        self.grew.notify_all();
    }

    /// The events numbered after `after` (at most [`PAGE`]), waiting up to `wait` for one.
    pub fn poll(&self, after: u64, wait: Duration) -> Value {
        let deadline = Instant::now() + wait;
        let mut log = self.lock();
        loop {
            if log.last > after || self.stop.load(Ordering::SeqCst) {
                break;
            }
            let now = Instant::now();
            if now >= deadline {
                break;
            }
            log = self
                .grew
                .wait_timeout(log, deadline - now)
                .map(|(guard, _)| guard)
                .unwrap_or_else(|p| p.into_inner().0);
        }
        let first_kept = log.events.front().map_or(log.last + 1, |(n, _)| *n);
        let events: Vec<Value> = log
            .events
            .iter()
            .filter(|(n, _)| *n > after)
            .take(PAGE)
            .map(|(n, e)| json!({"id": n, "event": e}))
            .collect();
        json!({
            "boot_id": self.boot_id,
            "last_id": log.last,
            // Events between `after` and the oldest kept were dropped from memory.
            "missed": after + 1 < first_kept && after < log.last,
            "events": events,
        })
    }
}

/// What one event says, for the daemon's log: its type and identifiers, nothing secret (no
/// preimage is in an event; custom records are left out as the payer's data).
fn describe(event: &Event) -> String {
    match serde_json::to_value(event) {
        Ok(Value::Object(mut map)) => {
            map.remove("custom_records");
            Value::Object(map).to_string()
        }
        _ => "an event that does not serialize".into(),
    }
}

/// Starts the pump from the node's queue into `log`; it ends when `log` is closed.
pub fn start_pump(node: Arc<Node>, log: Arc<EventLog>) -> std::io::Result<JoinHandle<()>> {
    std::thread::Builder::new()
        .name("qtum-lnd-events".into())
        .spawn(move || {
            while !log.stop.load(Ordering::SeqCst) {
                let Some(event) = node.wait_next_event(Some(Duration::from_millis(250))) else {
                    continue;
                };
                log::info!("event: {}", describe(&event));
                match serde_json::to_value(&event) {
                    Ok(value) => {
                        log.push(value);
                    }
                    Err(e) => log::error!("an event could not be turned into JSON: {e}"),
                }
                if let Err(e) = node.event_handled() {
                    // The node stopped or halted; the event stays in the SDK's queue.
                    log::warn!("event not acknowledged: {e}");
                    std::thread::sleep(Duration::from_millis(250));
                }
            }
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn polls_see_every_event_after_their_cursor() {
        let log = EventLog::new("b".into());
        assert_eq!(
            log.poll(0, Duration::ZERO)["events"]
                .as_array()
                .map(Vec::len),
            Some(0)
        );
        for i in 0..3 {
            log.push(json!({"i": i}));
        }
        let page = log.poll(1, Duration::ZERO);
        let ids: Vec<u64> = page["events"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["id"].as_u64().unwrap())
            .collect();
        assert_eq!(ids, vec![2, 3]);
        assert_eq!(page["last_id"], 3);
        assert_eq!(page["missed"], false);
    }

    #[test]
    fn a_poll_wakes_when_an_event_arrives() {
        let log = Arc::new(EventLog::new("b".into()));
        let pusher = Arc::clone(&log);
        let t = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(50));
            pusher.push(json!({"x": 1}));
        });
        let page = log.poll(0, Duration::from_secs(30));
        t.join().unwrap();
        assert_eq!(page["events"].as_array().map(Vec::len), Some(1));
    }

    #[test]
    fn old_events_are_dropped_and_a_late_client_is_told() {
        let log = EventLog::new("b".into());
        for i in 0..(KEPT + 5) {
            log.push(json!({"i": i}));
        }
        let page = log.poll(0, Duration::ZERO);
        assert_eq!(page["missed"], true);
        assert_eq!(page["events"][0]["id"], 6);
        assert_eq!(page["events"].as_array().map(Vec::len), Some(PAGE));
    }
}

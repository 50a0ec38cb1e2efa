//! The single writer of channel state, and the invariant it keeps:
//!
//! > **The ChannelManager on disk is never behind any ChannelMonitor on disk.**
//!
//! LDK force-closes a channel on start when the stored manager is older than a stored monitor
//! (`ClosureReason::OutdatedChannelManager`). With monitors written synchronously and the manager
//! written later by the background processor, a SIGKILL between the two loses the channel. The
//! journal closes that window:
//!
//! 1. Monitor persistence ([`AtomicPersister`]) only *queues* the monitor's records and returns
//!    [`ChannelMonitorUpdateStatus::InProgress`]. LDK then holds every message that depends on
//!    the update, and keeps the update in the manager's in-flight list (it pushes the update
//!    there *before* handing it to the chain monitor, and serializes the list with the manager).
//! 2. The writer thread takes every queued record, **then** serializes the manager, and commits
//!    records and manager in **one SQLite transaction** (`synchronous = FULL`).
//! 3. Only after the commit does it call `ChainMonitor::channel_monitor_updated` for each update,
//!    which releases the held messages.
//!
//! Why it holds: every record in a commit was queued before the manager in that commit was
//! serialized. LDK records an update as in flight and hands it to the chain monitor in one step
//! under the peer's state mutex, and serializing takes every peer's state lock, so the manager
//! already counts that update (its `latest_monitor_update_id` is at least the update's id). Updates
//! queued after the records were taken but before the manager was serialized are in the
//! manager's in-flight list without their records on disk; on load LDK replays every in-flight
//! update above the stored monitor's id. A crash before a commit leaves the previous commit,
//! consistent in the same way; nothing LDK sent to a peer depended on the lost update, because
//! LDK sends nothing until `channel_monitor_updated`. A new channel's first monitor is covered
//! too: a manager stored while the first monitor was still queued marks the channel as waiting
//! for its first persistence, and LDK drops such a channel on load (the funding transaction was
//! never broadcast).
//!
//! The manager is written only through the journal: the background processor's write of the
//! manager key becomes a request that the writer serialize the manager anew (soon, without
//! waiting for it: requests made while the writer is busy share one serialization), so a stale
//! copy serialized before a commit can never overwrite a newer one.
//!
//! Other state (sweeper, gossip, scorer, payments, events, wallet) is written directly through
//! the shared connection, in its own transaction: it has no ordering constraint with channel
//! state, and it must not wait for the writer (the writer waits for LDK's locks when it
//! serializes the manager, and those writes happen while LDK holds them).
//!
//! A failed commit (disk full, I/O error) stops the writer for good: queued updates never
//! complete, so LDK never sends what depended on them, the node halts and reports why, and the
//! next start begins from the last commit.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, OnceLock};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// How long a manager write that no monitor update asked for may wait to share a commit with
/// the next monitor update (every such commit carries a fresh manager anyway).
const MANAGER_LAG: Duration = Duration::from_millis(200);

use lightning::chain::chainmonitor::Persist;
use lightning::chain::channelmonitor::{ChannelMonitor, ChannelMonitorUpdate};
use lightning::chain::ChannelMonitorUpdateStatus;
use lightning::ln::types::ChannelId;
use lightning::util::persist::{
    MonitorName, ARCHIVED_CHANNEL_MONITOR_PERSISTENCE_PRIMARY_NAMESPACE,
    CHANNEL_MONITOR_PERSISTENCE_PRIMARY_NAMESPACE,
    CHANNEL_MONITOR_UPDATE_PERSISTENCE_PRIMARY_NAMESPACE,
};
use qtum_sql::params;

use crate::io::db::{classify, SharedConnection, StorageError};

/// Where archived monitors' update records go (LDK has no namespace for them).
pub const ARCHIVED_MONITOR_UPDATES_NAMESPACE: &str = "archived_monitor_updates";

/// One queued change to the key-value table.
#[derive(Debug)]
pub(crate) enum Op {
    Write {
        primary: String,
        secondary: String,
        key: String,
        value: Vec<u8>,
    },
    Remove {
        primary: String,
        secondary: String,
        key: String,
    },
    /// Move a monitor and its update records to the archive namespaces.
    Archive { monitor_key: String },
}

impl Op {
    fn is_channel_state(&self) -> bool {
        match self {
            // The sync tip too: committed without a fresh manager, it could get ahead of the
            // stored manager's best block, and after a crash the sync would start past blocks
            // the manager never saw (a funding reaching its depth, so no channel_ready).
            Op::Write { primary, key, .. }
                if primary == SDK_TIP_NAMESPACE && key == SDK_TIP_KEY =>
            {
                true
            }
            Op::Write { primary, .. } | Op::Remove { primary, .. } => {
                primary == CHANNEL_MONITOR_PERSISTENCE_PRIMARY_NAMESPACE
                    || primary == CHANNEL_MONITOR_UPDATE_PERSISTENCE_PRIMARY_NAMESPACE
            }
            Op::Archive { .. } => true,
        }
    }
}

/// Where the node's sync engine keeps its tip (see `node::onchain`).
const SDK_TIP_NAMESPACE: &str = "qtum_sdk";
const SDK_TIP_KEY: &str = "sync_tip";

/// What the writer needs from the node once it exists (weak: the journal must not keep the
/// manager alive).
pub(crate) struct Hooks {
    /// Serialize the ChannelManager now (`None` once it is gone).
    pub manager: Box<dyn Fn() -> Option<Vec<u8>> + Send + Sync>,
    /// Tell the chain monitor that an update is durable.
    pub completed: Box<dyn Fn(ChannelId, u64) + Send + Sync>,
}

#[derive(Default)]
struct State {
    ops: Vec<Op>,
    completions: Vec<(ChannelId, u64)>,
    /// Tickets: every queued op takes the next one; `committed` is the highest one on disk.
    queued: u64,
    committed: u64,
    /// Manager requests: `manager_wanted` counts requests, `manager_done` the highest request
    /// answered by a manager serialized after it was made.
    manager_wanted: u64,
    manager_done: u64,
    /// When the oldest manager request not yet served was made.
    manager_since: Option<Instant>,
    /// Callers waiting in `flush` (a pending manager request is then served at once).
    flushing: usize,
    running: bool,
    shutdown: bool,
    failed: Option<StorageError>,
}

/// What becomes of a monitor update handed to [`Journal::complete_after_commit`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Completion {
    /// Reported to the chain monitor after the next commit.
    AfterCommit,
    /// Already durable (the writer is not running).
    Durable,
    /// Never (the writer failed): the update stays in progress.
    Never,
}

/// Counters for benchmarks and the status screen.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct JournalStats {
    /// Transactions committed by the writer.
    pub commits: u64,
    /// Monitor updates made durable.
    pub updates: u64,
    /// Manager serializations written.
    pub managers: u64,
    /// Time spent serializing the manager, microseconds.
    pub serialize_micros: u64,
    /// Time spent in commits (SQL and fsync), microseconds.
    pub commit_micros: u64,
    /// Size of the last manager written, bytes.
    pub last_manager_bytes: u64,
}

/// The queue and its writer thread.
pub(crate) struct Journal {
    conn: SharedConnection,
    state: Mutex<State>,
    /// The writer waits here for work.
    work: Condvar,
    /// Waiters for a commit wait here.
    done: Condvar,
    hooks: OnceLock<Hooks>,
    thread: Mutex<Option<JoinHandle<()>>>,
    commits: AtomicU64,
    updates: AtomicU64,
    managers: AtomicU64,
    serialize_micros: AtomicU64,
    commit_micros: AtomicU64,
    last_manager_bytes: AtomicU64,
    /// A pause before each commit, in milliseconds (tests of slow disks; 0 in real life).
    commit_delay_ms: AtomicU64,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl Journal {
    pub(crate) fn new(conn: SharedConnection) -> Arc<Journal> {
        Arc::new(Journal {
            conn,
            state: Mutex::new(State::default()),
            work: Condvar::new(),
            done: Condvar::new(),
            hooks: OnceLock::new(),
            thread: Mutex::new(None),
            commits: AtomicU64::new(0),
            updates: AtomicU64::new(0),
            managers: AtomicU64::new(0),
            serialize_micros: AtomicU64::new(0),
            commit_micros: AtomicU64::new(0),
            last_manager_bytes: AtomicU64::new(0),
            commit_delay_ms: AtomicU64::new(0),
        })
    }

    /// Make every commit wait `ms` milliseconds first, as on a slow disk (tests only).
    pub(crate) fn set_commit_delay(&self, ms: u64) {
        self.commit_delay_ms.store(ms, Ordering::Relaxed);
    }

    /// Start the writer. Until then (while the node is being built) everything is written
    /// directly and monitor persistence completes synchronously.
    pub(crate) fn start(self: &Arc<Journal>, hooks: Hooks) -> Result<(), StorageError> {
        if self.hooks.set(hooks).is_err() {
            return Err(StorageError::Io("the writer was started twice".into()));
        }
        lock(&self.state).running = true;
        let journal = self.clone();
        let spawned = std::thread::Builder::new()
            .name("qtum-ln-writer".into())
            .spawn(move || {
                let ran = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| journal.run()));
                if ran.is_err() {
                    // A writer that died must not look alive: nothing it had taken was
                    // committed, so nothing may be reported complete, and the node halts.
                    journal.fail(StorageError::Io("the writer thread panicked".into()));
                    lock(&journal.state).running = false;
                    journal.done.notify_all();
                }
            });
        match spawned {
            Ok(handle) => {
                *lock(&self.thread) = Some(handle);
                Ok(())
            }
            Err(e) => {
                lock(&self.state).running = false;
                Err(StorageError::Io(format!(
                    "cannot start the writer thread: {e}"
                )))
            }
        }
    }

    /// Commit everything queued, then stop the writer. Later writes go directly to the
    /// database again.
    pub(crate) fn shutdown(&self) {
        {
            let mut st = lock(&self.state);
            st.shutdown = true;
        }
        self.work.notify_all();
        if let Some(handle) = lock(&self.thread).take() {
            let _ = handle.join();
        }
    }

    /// Whether the writer takes the channel state (else it is written directly).
    pub(crate) fn is_running(&self) -> bool {
        let st = lock(&self.state);
        st.running && !st.shutdown
    }

    /// Why the writer stopped, if a commit failed.
    pub(crate) fn failure(&self) -> Option<StorageError> {
        lock(&self.state).failed.clone()
    }

    pub(crate) fn stats(&self) -> JournalStats {
        JournalStats {
            commits: self.commits.load(Ordering::Relaxed),
            updates: self.updates.load(Ordering::Relaxed),
            managers: self.managers.load(Ordering::Relaxed),
            serialize_micros: self.serialize_micros.load(Ordering::Relaxed),
            commit_micros: self.commit_micros.load(Ordering::Relaxed),
            last_manager_bytes: self.last_manager_bytes.load(Ordering::Relaxed),
        }
    }

    /// Queue an op and return its ticket; `Ok(Err(op))` gives the op back when the writer is
    /// not running (the caller writes it directly).
    pub(crate) fn enqueue(&self, op: Op) -> Result<Result<u64, Op>, StorageError> {
        let mut st = lock(&self.state);
        if let Some(e) = &st.failed {
            return Err(e.clone());
        }
        // Accepted until the writer has exited (it drains the queue before it does), so the
        // records of one channel are never split between the queue and a direct write.
        if !st.running {
            return Ok(Err(op));
        }
        st.ops.push(op);
        st.queued += 1;
        let ticket = st.queued;
        drop(st);
        self.work.notify_one();
        Ok(Ok(ticket))
    }

    /// A write of LDK data failed outside the writer: stop the writer too, so nothing more is
    /// committed on top of a state that is missing a write.
    pub(crate) fn fail(&self, e: StorageError) {
        let mut st = lock(&self.state);
        if st.failed.is_none() {
            log::error!("a write to the node's database failed, the node stops: {e}");
            st.failed = Some(e);
        }
        drop(st);
        self.work.notify_all();
        self.done.notify_all();
    }

    /// Report `update_id` of `channel_id` to the chain monitor once everything queued so far is
    /// committed. `false` when the writer is not running.
    pub(crate) fn complete_after_commit(
        &self,
        channel_id: ChannelId,
        update_id: u64,
    ) -> Completion {
        let mut st = lock(&self.state);
        if st.failed.is_some() {
            return Completion::Never;
        }
        if !st.running {
            // Not started yet, or exited after committing everything queued: what was just
            // written went directly to the database, or was committed before the exit.
            return Completion::Durable;
        }
        st.completions.push((channel_id, update_id));
        drop(st);
        self.work.notify_one();
        Completion::AfterCommit
    }

    /// Wait until everything queued and every manager requested so far is committed.
    pub(crate) fn flush(&self) -> Result<(), StorageError> {
        let mut st = lock(&self.state);
        let ticket = st.queued;
        let manager_ticket = st.manager_wanted;
        st.flushing += 1;
        self.work.notify_one();
        let result = loop {
            if let Some(e) = &st.failed {
                break Err(e.clone());
            }
            if (st.committed >= ticket && st.manager_done >= manager_ticket) || !st.running {
                break Ok(());
            }
            st = self.done.wait(st).unwrap_or_else(|p| p.into_inner());
        };
        st.flushing -= 1;
        result
    }

    /// Have the writer serialize the manager anew and commit it with everything queued, soon.
    /// Does not wait: the manager may lag the monitors (LDK replays what it lacks), only never
    /// fall behind them, which the writer guarantees by itself. `Ok(false)` when the writer is
    /// not running.
    pub(crate) fn request_manager(&self) -> Result<bool, StorageError> {
        let mut st = lock(&self.state);
        if let Some(e) = &st.failed {
            return Err(e.clone());
        }
        if !st.running || st.shutdown {
            return Ok(false);
        }
        st.manager_wanted += 1;
        st.manager_since.get_or_insert_with(Instant::now);
        drop(st);
        self.work.notify_one();
        Ok(true)
    }

    fn run(&self) {
        loop {
            let (ops, completions, manager_wanted, manager_ticket, ticket) = {
                let mut st = lock(&self.state);
                loop {
                    let records = !st.ops.is_empty() || !st.completions.is_empty();
                    let manager_pending = st.manager_wanted > st.manager_done;
                    let manager_wait = st
                        .manager_since
                        .map(|t| MANAGER_LAG.saturating_sub(t.elapsed()))
                        .unwrap_or(MANAGER_LAG);
                    let manager_due =
                        manager_pending && (st.flushing > 0 || manager_wait.is_zero());
                    if records || manager_due || st.shutdown || st.failed.is_some() {
                        break;
                    }
                    st = if manager_pending {
                        self.work
                            .wait_timeout(st, manager_wait)
                            .unwrap_or_else(|p| p.into_inner())
                            .0
                    } else {
                        self.work.wait(st).unwrap_or_else(|p| p.into_inner())
                    };
                }
                let idle = st.ops.is_empty()
                    && st.completions.is_empty()
                    && st.manager_wanted == st.manager_done;
                if (idle && st.shutdown) || st.failed.is_some() {
                    st.running = false;
                    drop(st);
                    self.done.notify_all();
                    return;
                }
                (
                    std::mem::take(&mut st.ops),
                    std::mem::take(&mut st.completions),
                    st.manager_wanted > st.manager_done,
                    st.manager_wanted,
                    st.queued,
                )
            };
            // The order that makes the invariant: records taken above, manager serialized now.
            // Completions alone need no commit: their records were queued before them, so they
            // are in this batch or in an earlier, committed one.
            let wants_manager = manager_wanted || ops.iter().any(Op::is_channel_state);
            let started = Instant::now();
            let manager = if wants_manager {
                self.hooks.get().and_then(|h| (h.manager)())
            } else {
                None
            };
            let serialized = Instant::now();
            let result = self.commit(&ops, manager.as_deref());
            self.serialize_micros
                .fetch_add((serialized - started).as_micros() as u64, Ordering::Relaxed);
            self.commit_micros
                .fetch_add(serialized.elapsed().as_micros() as u64, Ordering::Relaxed);
            if let Some(bytes) = &manager {
                self.last_manager_bytes
                    .store(bytes.len() as u64, Ordering::Relaxed);
            }
            let mut st = lock(&self.state);
            match result {
                Ok(()) => {
                    st.committed = ticket;
                    // Requests made before the drain are answered by the manager serialized
                    // after it (or cannot be, once the manager is gone).
                    st.manager_done = st.manager_done.max(manager_ticket);
                    if st.manager_done >= st.manager_wanted {
                        st.manager_since = None;
                    } else if wants_manager {
                        // Requests made while this commit ran wait their own turn.
                        st.manager_since = Some(Instant::now());
                    }
                    drop(st);
                    self.done.notify_all();
                    self.commits.fetch_add(1, Ordering::Relaxed);
                    if manager.is_some() {
                        self.managers.fetch_add(1, Ordering::Relaxed);
                    }
                    self.updates
                        .fetch_add(completions.len() as u64, Ordering::Relaxed);
                    if let Some(hooks) = self.hooks.get() {
                        for (channel_id, update_id) in completions {
                            (hooks.completed)(channel_id, update_id);
                        }
                    }
                }
                Err(e) => {
                    log::error!(
                        "writing channel state failed, the node stops here and resumes from \
                         the last commit on its next start: {e}"
                    );
                    st.failed = Some(e);
                    st.running = false;
                    drop(st);
                    self.done.notify_all();
                    return;
                }
            }
        }
    }

    fn commit(&self, ops: &[Op], manager: Option<&[u8]>) -> Result<(), StorageError> {
        if ops.is_empty() && manager.is_none() {
            return Ok(());
        }
        let delay = self.commit_delay_ms.load(Ordering::Relaxed);
        if delay > 0 {
            std::thread::sleep(std::time::Duration::from_millis(delay));
        }
        let conn = lock(&self.conn);
        let tx = conn
            .transaction_with_behavior(qtum_sql::TransactionBehavior::Immediate)
            .map_err(|e| classify(&e))?;
        for op in ops {
            apply(&tx, op).map_err(|e| classify(&e))?;
        }
        if let Some(bytes) = manager {
            put(&tx, "", "", "manager", bytes).map_err(|e| classify(&e))?;
        }
        tx.commit().map_err(|e| classify(&e))
    }
}

pub(crate) fn put(
    conn: &qtum_sql::Connection,
    primary: &str,
    secondary: &str,
    key: &str,
    value: &[u8],
) -> qtum_sql::Result<()> {
    conn.prepare_cached(
        "INSERT INTO ldk_kv (primary_namespace, secondary_namespace, key, value)
         VALUES (?1, ?2, ?3, ?4)
         ON CONFLICT (primary_namespace, secondary_namespace, key) DO UPDATE SET value = excluded.value",
    )?
    .execute(params![primary, secondary, key, value])?;
    Ok(())
}

pub(crate) fn delete(
    conn: &qtum_sql::Connection,
    primary: &str,
    secondary: &str,
    key: &str,
) -> qtum_sql::Result<()> {
    conn.prepare_cached(
        "DELETE FROM ldk_kv WHERE primary_namespace = ?1 AND secondary_namespace = ?2 AND key = ?3",
    )?
    .execute(params![primary, secondary, key])?;
    Ok(())
}

pub(crate) fn apply(conn: &qtum_sql::Connection, op: &Op) -> qtum_sql::Result<()> {
    match op {
        Op::Write {
            primary,
            secondary,
            key,
            value,
        } => put(conn, primary, secondary, key, value),
        Op::Remove {
            primary,
            secondary,
            key,
        } => delete(conn, primary, secondary, key),
        Op::Archive { monitor_key } => {
            // Keep the newest archived copy: drop an older archive of the same channel first.
            conn.execute(
                "DELETE FROM ldk_kv WHERE (primary_namespace = ?1 AND key = ?3)
                    OR (primary_namespace = ?2 AND secondary_namespace = ?3)",
                params![
                    ARCHIVED_CHANNEL_MONITOR_PERSISTENCE_PRIMARY_NAMESPACE,
                    ARCHIVED_MONITOR_UPDATES_NAMESPACE,
                    monitor_key
                ],
            )?;
            conn.execute(
                "UPDATE ldk_kv SET primary_namespace = ?2
                 WHERE primary_namespace = ?1 AND secondary_namespace = '' AND key = ?3",
                params![
                    CHANNEL_MONITOR_PERSISTENCE_PRIMARY_NAMESPACE,
                    ARCHIVED_CHANNEL_MONITOR_PERSISTENCE_PRIMARY_NAMESPACE,
                    monitor_key
                ],
            )?;
            conn.execute(
                "UPDATE ldk_kv SET primary_namespace = ?2
                 WHERE primary_namespace = ?1 AND secondary_namespace = ?3",
                params![
                    CHANNEL_MONITOR_UPDATE_PERSISTENCE_PRIMARY_NAMESPACE,
                    ARCHIVED_MONITOR_UPDATES_NAMESPACE,
                    monitor_key
                ],
            )?;
            Ok(())
        }
    }
}

/// LDK's [`Persist`] for the node: LDK's own record layout (a full monitor plus small update
/// records, from [`MonitorUpdatingPersister`]), written through the journal so that records and
/// manager land in one transaction.
///
/// [`MonitorUpdatingPersister`]: lightning::util::persist::MonitorUpdatingPersister
pub(crate) struct AtomicPersister<P> {
    inner: P,
    journal: Arc<Journal>,
}

impl<P> AtomicPersister<P> {
    pub(crate) fn new(inner: P, journal: Arc<Journal>) -> AtomicPersister<P> {
        AtomicPersister { inner, journal }
    }

    pub(crate) fn inner(&self) -> &P {
        &self.inner
    }
}

impl<S, P> Persist<S> for AtomicPersister<P>
where
    S: lightning::sign::ecdsa::EcdsaChannelSigner,
    P: Persist<S>,
{
    fn persist_new_channel(
        &self,
        monitor_name: MonitorName,
        monitor: &ChannelMonitor<S>,
    ) -> ChannelMonitorUpdateStatus {
        let status = self.inner.persist_new_channel(monitor_name, monitor);
        self.finish(status, monitor.channel_id(), monitor.get_latest_update_id())
    }

    fn update_persisted_channel(
        &self,
        monitor_name: MonitorName,
        monitor_update: Option<&ChannelMonitorUpdate>,
        monitor: &ChannelMonitor<S>,
    ) -> ChannelMonitorUpdateStatus {
        let status = self
            .inner
            .update_persisted_channel(monitor_name, monitor_update, monitor);
        match monitor_update {
            Some(update) => self.finish(status, monitor.channel_id(), update.update_id),
            // A chain-sync write of the whole monitor: no update id to report. Its records
            // commit in order with the rest.
            None => match status {
                ChannelMonitorUpdateStatus::Completed if self.journal.is_running() => {
                    ChannelMonitorUpdateStatus::InProgress
                }
                ChannelMonitorUpdateStatus::Completed => ChannelMonitorUpdateStatus::Completed,
                _ => ChannelMonitorUpdateStatus::InProgress,
            },
        }
    }

    fn archive_persisted_channel(&self, monitor_name: MonitorName) {
        // Called with the chain monitor's lock held: queue, never wait for the writer here.
        let monitor_key = monitor_name.to_string();
        match self.journal.enqueue(Op::Archive { monitor_key }) {
            Ok(Ok(_)) => {}
            Ok(Err(op)) => {
                let conn = lock(&self.journal.conn);
                if let Err(e) = apply(&conn, &op) {
                    log::error!("archiving a closed channel's monitor failed: {e}");
                }
            }
            Err(e) => log::error!("archiving a closed channel's monitor failed: {e}"),
        }
    }
}

impl<P> AtomicPersister<P> {
    fn finish(
        &self,
        status: ChannelMonitorUpdateStatus,
        channel_id: ChannelId,
        update_id: u64,
    ) -> ChannelMonitorUpdateStatus {
        match status {
            ChannelMonitorUpdateStatus::Completed => {
                match self.journal.complete_after_commit(channel_id, update_id) {
                    Completion::AfterCommit | Completion::Never => {
                        ChannelMonitorUpdateStatus::InProgress
                    }
                    // Written directly (the node is being built): durable already.
                    Completion::Durable => ChannelMonitorUpdateStatus::Completed,
                }
            }
            // The records could not be queued (the writer failed): the update stays in
            // progress for ever, so LDK sends nothing that depends on it; the node halts and
            // the next start replays it from the manager's in-flight list.
            _ => {
                log::error!(
                    "channel {channel_id}: monitor update {update_id} could not be persisted; \
                     the channel waits until the node restarts"
                );
                ChannelMonitorUpdateStatus::InProgress
            }
        }
    }
}

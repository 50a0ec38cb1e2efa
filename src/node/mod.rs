//! The Lightning node: LDK's channel manager, chain monitor, peer manager, gossip, sweeper and
//! background processor, wired to Qtum's chain layer and the on-chain wallet.

mod backup;
mod balances;
mod builder;
mod channels;
mod gossip;
mod handler;
mod history;
mod input;
pub(crate) mod keys;
pub(crate) mod liquidity;
mod message;
mod onchain;
mod peer_gate;
mod peers;
mod reconcile;
mod recovery;
mod remote_backup;
mod restore_hold;
mod sweep;
mod tasks;
pub(crate) mod types;

use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bitcoin::secp256k1::PublicKey;

pub use crate::payment::{InvoicePreview, PaymentFeeEstimate, SendOptions};
pub use backup::BackupInfo;
pub use balances::{Balances, CloseSource, ClosingBalance, ClosingStatus};
pub use builder::Builder;
pub use channels::ChannelInfo;
pub use gossip::GraphInfo;
pub use history::{OnchainTransaction, OnchainTxKind};
pub use input::ParsedInput;
pub use liquidity::{JitInvoice, JitQuote, LspServiceConfig};
pub use onchain::{OnchainBalance, OnchainFeeBump, OnchainFeeRates, OnchainSendPreview};
pub(crate) use peers::parse_node_id;
pub use peers::PeerInfo;
pub use recovery::{ChannelRecovery, RecoveredOutput};
pub use remote_backup::BackupPolicy;
pub use sweep::{PendingSweep, SweepStatus};
pub(crate) use tasks::{sync_once, take_injected_failure, AliveGuard};

use crate::config::Config;
use crate::error::NodeError;
use crate::event::{Event, EventListener, EventQueue};
use crate::io::sqlite_store::SqliteStore;
use crate::peer::NodeUri;
use crate::qtum::network::Network;
use crate::types::Txid;
use onchain::Onchain;
use peers::PeerStore;
use tasks::{shutdown, start_parts, Running, SharedRunning};
use types::{ChainMonitor, ChannelManager, GossipSync, Graph, PeerManager, Scorer, Sweeper};

/// Where the node stands, for a status screen.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "uniffi", derive(uniffi::Record))]
pub struct NodeStatus {
    /// Whether `start` has been called (and not `stop`).
    pub is_running: bool,
    /// Height of the last block the node synced to.
    pub synced_height: Option<u32>,
    /// Qtum hash (RPC order) of that block.
    pub synced_block_hash: Option<String>,
    /// When the last successful sync finished, seconds since the Unix epoch.
    pub last_sync_timestamp: Option<u64>,
    /// What is not working right now (chain source down, fee estimates missing, …). The node
    /// keeps running and retries.
    pub degraded_reasons: Vec<String>,
    /// Why the node stopped itself, if it did (a failed write of channel state, a background
    /// task that died). It stays stopped until `start` is called again; nothing LDK sent to a
    /// peer depended on the failed write.
    pub halted_reason: Option<String>,
    /// With an RPC source without `-addrindex`, the wallet's history is found by scanning
    /// blocks, at most 20,000 per sync pass: every wallet transaction below this height is
    /// known. Far below `synced_height` the on-chain balance may still be incomplete (a restore
    /// catching up). `None` with an indexed source (Esplora, RPC with `-addrindex`).
    pub wallet_scanned_height: Option<u32>,
    /// With a backup server (`Builder::set_backup_server`): the last version of this node's
    /// backup the server confirmed (0: none yet).
    pub remote_backup_version: Option<u64>,
    /// When the server confirmed it (Unix seconds).
    pub remote_backup_at: Option<u64>,
    /// Whether channel state changed since that copy (an upload is due or failing; a
    /// failure is in `degraded_reasons`).
    pub remote_backup_pending: bool,
}

/// Everything the running node's tasks share.
pub(crate) struct NodeInner {
    pub(crate) config: Config,
    /// The database (its lock is held while the node exists).
    pub(crate) db: Arc<crate::io::db::Db>,
    /// The single writer of channel state.
    pub(crate) journal: Arc<crate::io::journal::Journal>,
    pub(crate) store: Arc<SqliteStore>,
    pub(crate) keys: Arc<lightning::sign::KeysManager>,
    /// Seals the node's backup files (derived from the seed).
    pub(crate) backup_key: crate::io::backup::BackupKey,
    /// Continuous backup to a backup server, when one is configured.
    pub(crate) remote_backup: Option<Arc<remote_backup::RemoteBackup>>,
    /// Restored channels whose commitments may not be broadcast yet.
    pub(crate) restore_hold: Arc<restore_hold::RestoreHold>,
    /// A recovery without backup, when the app started one.
    pub(crate) recovery: recovery::Recovery,
    /// LSPS2/LSPS5, as client of a provider and as provider (see `liquidity`).
    pub(crate) liquidity: liquidity::Liquidity,
    pub(crate) onchain: Arc<Onchain>,
    pub(crate) chain_monitor: Arc<ChainMonitor>,
    pub(crate) channel_manager: Arc<ChannelManager>,
    pub(crate) peer_manager: Arc<PeerManager>,
    /// Holds peers back after a start until LDK has synced with the chain.
    pub(crate) peer_gate: Arc<peer_gate::PeerGate>,
    /// The gossip graph (persisted by the background processor through `gossip_sync`).
    pub(crate) network_graph: Arc<Graph>,
    pub(crate) gossip_sync: Arc<GossipSync>,
    /// Checks channel announcements against the chain (its worker runs while the node does).
    pub(crate) gossip_verifier: Arc<gossip::GossipVerifier>,
    pub(crate) scorer: Arc<RwLock<Scorer>>,
    /// LDK's router with per-payment hop limits.
    pub(crate) router: Arc<types::Router>,
    pub(crate) sweeper: Arc<Sweeper>,
    pub(crate) spender: Arc<sweep::QtumOutputSpender>,
    pub(crate) events: Arc<EventQueue>,
    pub(crate) payments: crate::payment::store::PaymentStore,
    pub(crate) peers: PeerStore,
    pub(crate) logger: types::Logger,
    pub(crate) node_id: PublicKey,
    pub(crate) sync_lock: Mutex<()>,
    pub(crate) status: Mutex<NodeStatus>,
    /// Set when handling an LDK event panicked (a bug): the watchdog halts the node.
    pub(crate) handler_failure: Mutex<Option<String>>,
    /// Test hook: a task to make panic (see `Node::debug_fail_task`).
    pub(crate) injected_failure: Mutex<Option<String>>,
}

/// A Lightning node on Qtum. Build one with [`Builder`], then [`Node::start`] it.
///
/// Every method is blocking and safe to call from any thread; apps call them from a background
/// thread (or coroutine / async task), never the UI thread.
pub struct Node {
    pub(crate) inner: Arc<NodeInner>,
    running: SharedRunning,
}

pub(crate) fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl Node {
    fn inner(&self) -> &NodeInner {
        &self.inner
    }

    pub(crate) fn require_running(&self) -> Result<(), NodeError> {
        if lock(&self.running).is_some() {
            return Ok(());
        }
        match lock(&self.inner.status).halted_reason.clone() {
            Some(reason) => Err(NodeError::Halted(reason)),
            None => Err(NodeError::NotRunning),
        }
    }

    fn with_runtime<T>(
        &self,
        f: impl FnOnce(&tokio::runtime::Runtime) -> T,
    ) -> Result<T, NodeError> {
        self.require_running()?;
        let running = lock(&self.running);
        let runtime = running
            .as_ref()
            .and_then(|r| r.runtime.as_ref())
            .ok_or(NodeError::NotRunning)?;
        Ok(f(runtime))
    }

    /// Counters of the single writer of channel state (commits, updates made durable,
    /// manager serializations written), for benchmarks and diagnostics.
    pub fn storage_stats(&self) -> crate::io::JournalStats {
        self.inner.journal.stats()
    }

    /// Make a task of the running node panic, so a test can watch the node halt: `"sync"` (the
    /// chain sync thread, at its next pass), `"htlcs"` (the HTLC thread, within 100 ms) or
    /// `"events"` (the next LDK event handled). `"claim"` aborts the whole process at the next
    /// `claim_for_hash`, right after its preimage is stored and before LDK hears of it: the crash
    /// suite's SIGKILL at that exact moment. Not for apps.
    #[doc(hidden)]
    pub fn debug_fail_task(&self, task: &str) {
        *lock(&self.inner.injected_failure) = Some(task.to_string());
    }

    /// Make every commit of channel state wait `ms` milliseconds first, as on a slow disk, so a
    /// test can act while monitor updates are in flight. Not for apps.
    #[doc(hidden)]
    pub fn debug_slow_storage(&self, ms: u64) {
        self.inner.journal.set_commit_delay(ms);
    }

    /// Make the disk "full" for this node's database: it may not grow any more (SQLite's
    /// `max_page_count` at its current size) and its free pages are taken, so the next write
    /// that needs a page fails with `SQLITE_FULL`. Not for apps: a test of full disks.
    #[doc(hidden)]
    pub fn debug_fill_disk(&self) -> Result<(), NodeError> {
        let guard = self.inner.db.conn();
        let Some(conn) = guard.as_sqlite() else {
            return Err(NodeError::Persistence(
                "filling the disk is a test of SQLite databases".into(),
            ));
        };
        let err = |e: rusqlite::Error| crate::io::db::node_error("database", &e.into());
        conn.execute_batch("CREATE TABLE IF NOT EXISTS debug_filler (x BLOB NOT NULL)")
            .map_err(err)?;
        let pages: i64 = conn
            .query_row("PRAGMA page_count", [], |r| r.get(0))
            .map_err(err)?;
        let page_size: i64 = conn
            .query_row("PRAGMA page_size", [], |r| r.get(0))
            .map_err(err)?;
        conn.query_row(&format!("PRAGMA max_page_count = {pages}"), [], |r| {
            r.get::<_, i64>(0)
        })
        .map_err(err)?;
        for _ in 0..1_000_000 {
            match conn.execute(
                "INSERT INTO debug_filler (x) VALUES (zeroblob(?1))",
                [page_size / 2],
            ) {
                Ok(_) => {}
                Err(e) if e.sqlite_error_code() == Some(rusqlite::ErrorCode::DiskFull) => {
                    return Ok(())
                }
                Err(e) => return Err(err(e)),
            }
        }
        Ok(())
    }

    /// The node's id (hex public key).
    pub fn node_id(&self) -> PublicKey {
        self.inner().node_id
    }

    /// The Qtum network the node runs on.
    pub fn network(&self) -> Network {
        self.inner().config.network
    }

    /// `pubkey@host:port` others use to connect to us: the first announced address, else the
    /// first listening address with a specific IP. `None` when the node does not listen, or
    /// listens only on an unspecified address (`0.0.0.0`, `::`) with no announced address:
    /// then nobody knows where it can be reached, and a made-up address would be a lie.
    pub fn node_uri(&self) -> Option<String> {
        let address = *self.inner().config.reachable_addresses().first()?;
        Some(
            NodeUri {
                node_id: self.inner().node_id,
                host: address.ip().to_string(),
                port: address.port(),
            }
            .to_string(),
        )
    }

    /// Start networking, chain sync and the background processor. A failed start leaves
    /// nothing running.
    pub fn start(&self) -> Result<(), NodeError> {
        let mut running = lock(&self.running);
        if running.is_some() {
            return Err(NodeError::AlreadyRunning);
        }
        if let Some(e) = self.inner.journal.failure() {
            return Err(NodeError::Halted(format!(
                "an earlier write failed ({e}); build the node again from its storage"
            )));
        }
        // A failure that halted the last run was reported; this run starts clean.
        *lock(&self.inner.handler_failure) = None;
        *lock(&self.inner.injected_failure) = None;
        let mut parts = Running::default();
        match start_parts(&self.inner, &mut parts, self.running.clone()) {
            Ok(()) => {
                self.inner.events.resume();
                let mut status = lock(&self.inner.status);
                status.is_running = true;
                status.halted_reason = None;
                drop(status);
                *running = Some(parts);
                Ok(())
            }
            Err(e) => {
                drop(running);
                let _ = shutdown(&self.inner, parts);
                Err(e)
            }
        }
    }

    /// Stop the node: networking and chain sync first, then the final write of channel state,
    /// then the tasks. Safe with payments in flight (LDK resumes them on the next start), and
    /// safe to call from inside an async runtime. Returns once everything has stopped.
    pub fn stop(&self) -> Result<(), NodeError> {
        let running = lock(&self.running).take().ok_or(NodeError::NotRunning)?;
        shutdown(&self.inner, running)
    }

    /// Why the node halted, if it did: reads only the node's status (no other lock), so a
    /// supervisor can ask while the database or the wallet is busy.
    pub fn halted_reason(&self) -> Option<String> {
        lock(&self.inner.status).halted_reason.clone()
    }

    /// Where the node stands.
    pub fn status(&self) -> NodeStatus {
        let mut status = lock(&self.inner.status).clone();
        status.is_running = lock(&self.running).is_some();
        if let Some(reason) = &status.halted_reason {
            if !status.degraded_reasons.contains(reason) {
                status.degraded_reasons.push(reason.clone());
            }
        }
        let mut reasons = status.degraded_reasons;
        for reason in self.inner.onchain.degraded_reasons() {
            if !reasons.contains(&reason) {
                reasons.push(reason);
            }
        }
        if let Some(reason) = self.inner.recovery.degraded_reason() {
            reasons.push(reason);
        }
        let held = self
            .inner
            .restore_hold
            .open_held(&self.inner.channel_manager);
        if held > 0 {
            reasons.push(format!(
                "{held} channel(s) restored from a backup: no commitment of theirs is broadcast \
                 until the peer confirms our state on reconnection"
            ));
        }
        if let Some(remote) = &self.inner.remote_backup {
            let backup = remote.status(self.inner.journal.stats().commits);
            if let Some(reason) = backup.degraded {
                reasons.push(reason);
            }
            status.remote_backup_version = Some(backup.version);
            status.remote_backup_at = backup.uploaded_at;
            status.remote_backup_pending = backup.pending;
        }
        status.degraded_reasons = reasons;
        status.wallet_scanned_height = self.inner.onchain.wallet_scanned_height();
        status
    }

    /// Sync with the chain now (LDK and the wallet), instead of waiting for the next interval.
    /// With a recovery on ([`Node::start_channel_recovery`]) its scan runs too.
    pub fn sync(&self) -> Result<(), NodeError> {
        sync_once(&self.inner)?;
        self.inner.recovery.scan(&self.inner, true)
    }

    // ----- recovery without a backup -----

    /// Recover channel funds of a node restored from its mnemonic without any backup, as far
    /// as the protocol allows: every peer that still has a channel with this node force-closes
    /// when it connects (connect to them: your LSP, your peers), and while recovery is on the
    /// node finds this node's output in each such close on chain (from the wallet's birthday)
    /// and sweeps it to the wallet (`Event::ChannelFundsRecovered`, `pending_sweeps`). Stays
    /// on across restarts until [`Node::stop_channel_recovery`]. The report's `notice` says
    /// what can and cannot come back; show it to the user.
    pub fn start_channel_recovery(&self) -> Result<ChannelRecovery, NodeError> {
        let from = self.inner.config.wallet_birthday_height.unwrap_or(0);
        self.inner.recovery.start(from)?;
        log::info!("recovery without backup on, scanning from height {from}");
        self.inner
            .recovery
            .report()
            .ok_or_else(|| NodeError::Persistence("the recovery was turned off meanwhile".into()))
    }

    /// Where a recovery without backup stands (`None`: none is on).
    pub fn channel_recovery(&self) -> Option<ChannelRecovery> {
        self.inner.recovery.report()
    }

    /// Turn the recovery without backup off (its scan stops; outputs it found still reach
    /// the wallet).
    pub fn stop_channel_recovery(&self) -> Result<(), NodeError> {
        self.inner.recovery.stop()
    }

    // ----- on-chain wallet -----

    /// A fresh on-chain address of the node's wallet.
    pub fn new_address(&self) -> Result<String, NodeError> {
        self.inner.onchain.new_address()
    }

    /// On-chain balance.
    pub fn onchain_balance(&self) -> onchain::OnchainBalance {
        self.inner.onchain.balance()
    }

    /// Send `amount_sat` on chain; returns the txid.
    pub fn send_to_address(
        &self,
        address: &str,
        amount_sat: u64,
        fee_rate_sat_per_vb: Option<u64>,
    ) -> Result<Txid, NodeError> {
        self.inner
            .onchain
            .send_to_address(address, amount_sat, fee_rate_sat_per_vb)
    }

    /// What sending `amount_sat` to `address` would cost (fee, change, rate), without sending;
    /// the same checks as `send_to_address`, so a refusal shows here first.
    pub fn preview_send_to_address(
        &self,
        address: &str,
        amount_sat: u64,
        fee_rate_sat_per_vb: Option<u64>,
    ) -> Result<onchain::OnchainSendPreview, NodeError> {
        self.inner
            .onchain
            .preview_send(address, Some(amount_sat), fee_rate_sat_per_vb)
    }

    /// What sending everything spendable to `address` would give the recipient and cost.
    pub fn preview_send_all_to_address(
        &self,
        address: &str,
        fee_rate_sat_per_vb: Option<u64>,
    ) -> Result<onchain::OnchainSendPreview, NodeError> {
        self.inner
            .onchain
            .preview_send(address, None, fee_rate_sat_per_vb)
    }

    /// Fee rates for on-chain sends (fast, normal, slow, Qtum's minimum), sat/vB, from the
    /// node's cached estimates: no network call.
    pub fn onchain_fee_rates(&self) -> onchain::OnchainFeeRates {
        self.inner.onchain.fee_rates()
    }

    /// Replace the unconfirmed send `txid` with one paying a higher fee (BIP 125 replace by
    /// fee): same recipients, the fee from the change (or further confirmed coins), at
    /// `fee_rate_sat_per_vb` (default: the fast rate) and at least what relay rules ask of a
    /// replacement. Channel transactions and sends something already builds on are refused
    /// with `CannotBumpFee`.
    pub fn bump_fee(
        &self,
        txid: &Txid,
        fee_rate_sat_per_vb: Option<u64>,
    ) -> Result<onchain::OnchainFeeBump, NodeError> {
        let rate = fee_rate_sat_per_vb.or_else(|| Some(self.onchain_fee_rates().fast_sat_per_vb));
        self.inner.onchain.bump_fee(txid, rate)
    }

    /// Send everything the wallet can spend; returns the txid.
    pub fn send_all_to_address(
        &self,
        address: &str,
        fee_rate_sat_per_vb: Option<u64>,
    ) -> Result<Txid, NodeError> {
        self.inner.onchain.send_all(address, fee_rate_sat_per_vb)
    }

    // ----- events -----

    /// The oldest event not yet acknowledged.
    pub fn next_event(&self) -> Option<Event> {
        self.inner.events.next_event()
    }

    /// Wait for an event (up to `timeout`, or forever).
    pub fn wait_next_event(&self, timeout: Option<Duration>) -> Option<Event> {
        self.inner.events.wait_next_event(timeout)
    }

    /// Acknowledge the event last returned by `next_event` / `wait_next_event` (that event, by
    /// its id, not whatever is at the head now); a second call acknowledges nothing. Events are
    /// delivered until acknowledged, across restarts, and an event LDK replays after a crash is
    /// queued once: act on an event idempotently, then acknowledge it.
    pub fn event_handled(&self) -> Result<(), NodeError> {
        self.inner
            .events
            .event_handled()
            .map(|_| ())
            .map_err(|e| NodeError::Persistence(e.to_string()))
    }

    /// Receive every event as it is queued (they still wait in the queue until acknowledged).
    pub fn set_event_listener(&self, listener: Option<Arc<dyn EventListener>>) {
        self.inner.events.set_listener(listener)
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        let _ = self.stop();
        // Commit what is queued, then release the database (and its directory lock).
        self.inner.journal.shutdown();
        self.inner.db.close();
    }
}

#[allow(dead_code)]
fn _node_is_send_and_sync() {
    fn check<T: Send + Sync>() {}
    check::<Node>();
}

//! The Lightning node: LDK's channel manager, chain monitor, peer manager, gossip, sweeper and
//! background processor, wired to Qtum's chain layer and the on-chain wallet.

mod balances;
mod builder;
mod gossip;
mod handler;
mod history;
mod input;
pub(crate) mod keys;
mod message;
mod onchain;
mod payments;
mod peers;
mod reconcile;
mod sweep;
pub(crate) mod types;

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bitcoin::secp256k1::PublicKey;
use lightning::chain::Confirm;
use lightning::ln::channel_state::{
    ChannelDetails, InboundHTLCStateDetails, OutboundHTLCStateDetails,
};
use lightning::util::config::UserConfig;
use lightning_background_processor::BackgroundProcessor;

pub use balances::{Balances, CloseSource, ClosingBalance, ClosingStatus};
pub use builder::Builder;
pub use history::{OnchainTransaction, OnchainTxKind};
pub use input::ParsedInput;
pub use onchain::{OnchainBalance, OnchainFeeBump, OnchainFeeRates, OnchainSendPreview};
pub use payments::{InvoicePreview, PaymentFeeEstimate, SendOptions};
pub use sweep::{PendingSweep, SweepStatus};

use crate::config::Config;
use crate::error::NodeError;
use crate::event::{Event, EventListener, EventQueue};
use crate::io::sqlite_store::SqliteStore;
use crate::peer::NodeUri;
use crate::qtum::network::Network;
use onchain::Onchain;
use peers::PeerStore;
use types::{ChainMonitor, ChannelManager, GossipSync, Graph, PeerManager, Scorer, Sweeper};

/// How long `connect` and `open_channel` wait for a peer's handshake.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// How often the node announcement is refreshed while we have public channels.
const NODE_ANNOUNCEMENT_INTERVAL: Duration = Duration::from_secs(3600);
/// How often funding transactions waiting for their first confirmation are broadcast again
/// (about 9 Qtum blocks).
const FUNDING_REBROADCAST_INTERVAL: Duration = Duration::from_secs(300);
/// How long `close_channel` waits for the channel's monitor updates in flight to be committed
/// before it gives LDK's refusal back (a commit takes milliseconds; a disk this slow is sick).
const CLOSE_WAIT_FOR_MONITORS: Duration = Duration::from_secs(10);
/// How often persisted peers are reconnected.
const RECONNECT_INTERVAL: Duration = Duration::from_secs(5);

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
}

/// A channel as an app shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "uniffi", derive(uniffi::Record))]
pub struct ChannelInfo {
    /// Channel id (hex).
    pub channel_id: String,
    /// The id given at `open_channel` (decimal), or one the node chose for inbound channels.
    pub user_channel_id: String,
    /// The peer's node id (hex).
    pub counterparty_node_id: String,
    /// Funding outpoint `txid:vout`, once known.
    pub funding_txo: Option<String>,
    /// Total capacity, in satoshi.
    pub capacity_sat: u64,
    /// What closing now would give us on chain, in satoshi, before the claim fees (LDK's
    /// claimable balance; outputs below Qtum's dust limit count as zero).
    pub balance_sat: u64,
    /// What we can send now, in millisatoshi.
    pub outbound_capacity_msat: u64,
    /// What we can receive now, in millisatoshi.
    pub inbound_capacity_msat: u64,
    /// Confirmations of the funding transaction.
    pub confirmations: Option<u32>,
    /// Confirmations needed before the channel is ready.
    pub confirmations_required: Option<u32>,
    /// Whether we opened it.
    pub is_outbound: bool,
    /// Whether both sides consider it ready.
    pub is_ready: bool,
    /// Whether payments can use it now (ready and the peer connected).
    pub is_usable: bool,
    /// Whether it is announced to the network.
    pub is_announced: bool,
    /// HTLCs (payments in flight) irrevocably committed in both sides' commitment
    /// transactions: a force close now would put them on chain.
    pub htlcs_in_flight: u32,
    /// What we charge to forward a payment out through this channel: a base fee, in
    /// millisatoshi…
    pub forwarding_fee_base_msat: u32,
    /// …plus this many millionths of the amount forwarded.
    pub forwarding_fee_ppm: u32,
}

/// The size of the gossip graph.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GraphInfo {
    /// Nodes known (from channel announcements).
    pub node_count: u64,
    /// Nodes that announced themselves (alias, color, addresses).
    pub announced_node_count: u64,
    /// Channels announced.
    pub channel_count: u64,
}

/// A connected or remembered peer.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "uniffi", derive(uniffi::Record))]
pub struct PeerInfo {
    /// The peer's node id (hex).
    pub node_id: String,
    /// Its address, when known.
    pub address: Option<String>,
    /// Whether we are connected now.
    pub is_connected: bool,
    /// Whether the node reconnects to it after restarts and drops.
    pub is_persisted: bool,
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
    pub(crate) onchain: Arc<Onchain>,
    pub(crate) chain_monitor: Arc<ChainMonitor>,
    pub(crate) channel_manager: Arc<ChannelManager>,
    pub(crate) peer_manager: Arc<PeerManager>,
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

/// What a started node runs. Torn down by [`shutdown`] (from `stop`, `Drop`, a failed `start`
/// or the watchdog).
#[derive(Default)]
struct Running {
    runtime: Option<tokio::runtime::Runtime>,
    background: Option<BackgroundProcessor>,
    stop: Arc<AtomicBool>,
    sync_thread: Option<std::thread::JoinHandle<()>>,
    htlc_thread: Option<std::thread::JoinHandle<()>>,
    watchdog: Option<std::thread::JoinHandle<()>>,
}

/// Set to `false` when dropped: a thread (or the background processor's event handler) that
/// holds one and ends, by returning or by panicking, says so.
pub(crate) struct AliveGuard(Arc<AtomicBool>);

impl AliveGuard {
    fn new() -> (AliveGuard, Arc<AtomicBool>) {
        let flag = Arc::new(AtomicBool::new(true));
        (AliveGuard(flag.clone()), flag)
    }
}

/// The most inbound connections open at once.
const MAX_INBOUND_CONNECTIONS: usize = 128;
/// The most inbound connections open at once from one IP address: a peer needs one, a few
/// more allow for reconnects racing a dying connection.
const MAX_INBOUND_PER_IP: usize = 8;

/// Counts of open inbound connections, in total and per IP address, so that one host (or a
/// crowd) cannot exhaust the node's sockets, memory and handshake work. LDK itself bounds what
/// a connected peer can make the node hold (peers without channels, unfunded inbound channels
/// per peer and in total).
#[derive(Default)]
struct InboundLimits {
    open: Mutex<(usize, std::collections::HashMap<std::net::IpAddr, usize>)>,
}

/// One admitted inbound connection; its slot is released when dropped.
struct InboundSlot {
    limits: Arc<InboundLimits>,
    ip: std::net::IpAddr,
}

impl InboundLimits {
    fn admit(limits: &Arc<InboundLimits>, ip: std::net::IpAddr) -> Option<InboundSlot> {
        let mut open = lock(&limits.open);
        let from_ip = open.1.get(&ip).copied().unwrap_or(0);
        if open.0 >= MAX_INBOUND_CONNECTIONS || from_ip >= MAX_INBOUND_PER_IP {
            return None;
        }
        open.0 += 1;
        open.1.insert(ip, from_ip + 1);
        Some(InboundSlot {
            limits: limits.clone(),
            ip,
        })
    }
}

impl Drop for InboundSlot {
    fn drop(&mut self) {
        let mut open = lock(&self.limits.open);
        open.0 = open.0.saturating_sub(1);
        if let Some(n) = open.1.get_mut(&self.ip) {
            *n -= 1;
            if *n == 0 {
                open.1.remove(&self.ip);
            }
        }
    }
}

/// Where peers can reach the node: the announced addresses, else the listening ones with a
/// specific IP (both checked by `Config::validate`).
fn reachable_addresses(config: &Config) -> Vec<SocketAddr> {
    let parse = |list: &[String]| -> Vec<SocketAddr> {
        list.iter()
            .filter_map(|a| a.parse::<SocketAddr>().ok())
            .filter(|a| !a.ip().is_unspecified())
            .collect()
    };
    let announced = parse(&config.announced_addresses);
    if announced.is_empty() {
        parse(&config.listening_addresses)
    } else {
        announced
    }
}

impl Drop for AliveGuard {
    fn drop(&mut self) {
        self.0.store(false, Ordering::Release);
    }
}

type SharedRunning = Arc<Mutex<Option<Running>>>;

/// A Lightning node on Qtum. Build one with [`Builder`], then [`Node::start`] it.
///
/// Every method is blocking and safe to call from any thread; apps call them from a background
/// thread (or coroutine / async task), never the UI thread.
pub struct Node {
    inner: Arc<NodeInner>,
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

/// LDK's configuration from ours (the defaults table in `crate::config`).
pub(crate) fn user_config(config: &Config) -> UserConfig {
    let mut c = UserConfig::default();
    let handshake = &mut c.channel_handshake_config;
    handshake.minimum_depth = config.funding_confirmations;
    handshake.our_to_self_delay = config.our_to_self_delay_blocks;
    handshake.our_htlc_minimum_msat = config.htlc_minimum_msat;
    handshake.our_max_accepted_htlcs = config.max_accepted_htlcs;
    // Anchor outputs are 330 sat: dust on Qtum, so an anchor channel could never force-close.
    handshake.negotiate_anchors_zero_fee_htlc_tx = false;
    handshake.announce_for_forwarding = false;
    // LDK's 10 % would stop a 1-QTUM payment on a 5-QTUM channel; Qtum Eclair allowed 5 QTUM.
    handshake.max_inbound_htlc_value_in_flight_percent_of_channel = 50;
    let limits = &mut c.channel_handshake_limits;
    limits.min_funding_satoshis = config.min_channel_size_sat;
    limits.max_funding_satoshis = config.max_channel_size_sat;
    limits.their_to_self_delay = config.max_to_self_delay_blocks;
    limits.force_announced_channel_preference = false;
    c.channel_config.cltv_expiry_delta = config.cltv_expiry_delta;
    // What a funder may pay above its own commitment rate to end a cooperative close rather
    // than force-close: enough that a peer demanding up to 14,800 sat/kW more than our
    // commitment rate (an older node's fee table) still finds the ranges overlapping.
    c.channel_config.force_close_avoidance_max_fee_satoshis = 10_000;
    c.channel_config.forwarding_fee_base_msat = config.forwarding_fee_base_msat;
    c.channel_config.forwarding_fee_proportional_millionths =
        config.forwarding_fee_proportional_millionths;
    c.accept_inbound_channels = config.accept_inbound_channels;
    c.manually_accept_inbound_channels = false;
    c.accept_forwards_to_priv_channels = true;
    c
}

impl Node {
    fn inner(&self) -> &NodeInner {
        &self.inner
    }

    fn require_running(&self) -> Result<(), NodeError> {
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
    /// `"events"` (the next LDK event handled). Not for apps.
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
        let conn = self.inner.db.conn();
        let err = |e: rusqlite::Error| crate::io::db::node_error("database", &e);
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
    pub fn node_id(&self) -> String {
        self.inner().node_id.to_string()
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
        let address = reachable_addresses(&self.inner().config)
            .into_iter()
            .next()?;
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
        status.degraded_reasons = reasons;
        status.wallet_scanned_height = self.inner.onchain.wallet_scanned_height();
        status
    }

    /// Sync with the chain now (LDK and the wallet), instead of waiting for the next interval.
    pub fn sync(&self) -> Result<(), NodeError> {
        sync_once(&self.inner)
    }

    // ----- peers -----

    /// Connect to `pubkey@host:port`. With `persist`, the node reconnects to it after restarts
    /// and drops.
    pub fn connect(&self, uri: &str, persist: bool) -> Result<(), NodeError> {
        let uri: NodeUri = uri
            .parse()
            .map_err(|e: crate::peer::NodeUriError| NodeError::InvalidNodeUri(e.to_string()))?;
        if uri.node_id == self.inner.node_id {
            return Err(NodeError::InvalidNodeUri(
                "that is this node's own id".into(),
            ));
        }
        let pm = self.inner.peer_manager.clone();
        let handle = self.with_runtime(|rt| rt.handle().clone())?;
        let target = uri.clone();
        let connect = move || handle.block_on(peers::connect(pm, &target, CONNECT_TIMEOUT));
        // `block_on` panics inside an async runtime (an app calling us from a tokio task):
        // then wait on a thread of our own instead.
        let connected = if tokio::runtime::Handle::try_current().is_ok() {
            std::thread::scope(|scope| scope.spawn(connect).join())
                .map_err(|_| NodeError::ConnectionFailed("the connecting thread failed".into()))?
        } else {
            connect()
        };
        connected?;
        if persist {
            self.inner.peers.upsert(&uri)?;
        }
        Ok(())
    }

    /// Disconnect from a peer and forget it (channels with it stay; LDK reconnects them only
    /// when the peer connects to us).
    pub fn disconnect(&self, node_id: &str) -> Result<(), NodeError> {
        let node_id = parse_node_id(node_id)?;
        self.inner.peers.remove(&node_id)?;
        self.inner.peer_manager.disconnect_by_node_id(node_id);
        Ok(())
    }

    /// Connected and remembered peers.
    pub fn list_peers(&self) -> Vec<PeerInfo> {
        let persisted = self.inner.peers.all();
        let mut out: Vec<PeerInfo> = Vec::new();
        for peer in self.inner.peer_manager.list_peers() {
            let stored = persisted
                .iter()
                .find(|u| u.node_id == peer.counterparty_node_id);
            out.push(PeerInfo {
                node_id: peer.counterparty_node_id.to_string(),
                address: stored
                    .map(|u| u.host_port())
                    .or_else(|| peer.socket_address.map(|a| a.to_string())),
                is_connected: true,
                is_persisted: stored.is_some(),
            });
        }
        for uri in persisted {
            if !out.iter().any(|p| p.node_id == uri.node_id.to_string()) {
                out.push(PeerInfo {
                    node_id: uri.node_id.to_string(),
                    address: Some(uri.host_port()),
                    is_connected: false,
                    is_persisted: true,
                });
            }
        }
        out
    }

    // ----- channels -----

    /// Open a channel of `capacity_sat` to the peer at `uri`, funded from the on-chain wallet,
    /// optionally pushing `push_msat` to the peer. Returns the channel's user id; the channel is
    /// usable after `funding_confirmations` blocks (watch for `ChannelReady`).
    pub fn open_channel(
        &self,
        uri: &str,
        capacity_sat: u64,
        push_msat: Option<u64>,
        announce: bool,
    ) -> Result<String, NodeError> {
        self.require_running()?;
        let uri: NodeUri = uri
            .parse()
            .map_err(|e: crate::peer::NodeUriError| NodeError::InvalidNodeUri(e.to_string()))?;
        let config = &self.inner.config;
        if capacity_sat < config.min_channel_size_sat || capacity_sat > config.max_channel_size_sat
        {
            return Err(NodeError::InvalidAmount(format!(
                "a channel holds between {} and {} sat; {capacity_sat} sat asked",
                config.min_channel_size_sat, config.max_channel_size_sat
            )));
        }
        let push_msat = push_msat.unwrap_or(0);
        if push_msat > capacity_sat.saturating_mul(1000) {
            return Err(NodeError::InvalidAmount(
                "push_msat is larger than the channel".into(),
            ));
        }
        let spendable = self.inner.onchain.spendable_sat();
        if spendable < capacity_sat {
            return Err(NodeError::InsufficientFunds(format!(
                "{spendable} sat spendable on chain, {capacity_sat} sat needed plus the funding fee"
            )));
        }
        self.connect(&uri.to_string(), true)?;

        let mut channel_config = user_config(config);
        channel_config
            .channel_handshake_config
            .announce_for_forwarding = announce;
        let user_channel_id: u128 = u128::from_be_bytes(random_bytes16(&self.inner.keys));
        self.inner
            .channel_manager
            .create_channel(
                uri.node_id,
                capacity_sat,
                push_msat,
                user_channel_id,
                None,
                Some(channel_config),
            )
            .map_err(|e| NodeError::ChannelFailed(format!("{e:?}")))?;
        Ok(user_channel_id.to_string())
    }

    /// Our channels, pending and ready.
    pub fn list_channels(&self) -> Vec<ChannelInfo> {
        self.inner
            .channel_manager
            .list_channels()
            .iter()
            .map(|c| channel_info(c, claimable_sat(&self.inner, c)))
            .collect()
    }

    fn find_channel(&self, channel_id: &str) -> Result<ChannelDetails, NodeError> {
        let wanted = channel_id.trim().to_ascii_lowercase();
        self.inner
            .channel_manager
            .list_channels()
            .into_iter()
            .find(|c| c.channel_id.to_string() == wanted || c.user_channel_id.to_string() == wanted)
            .ok_or_else(|| NodeError::UnknownChannel(channel_id.to_string()))
    }

    /// Close a channel cooperatively (by channel id or user channel id). The funds arrive in the
    /// on-chain wallet once the closing transaction confirms.
    ///
    /// Right after a payment the channel's last monitor updates may still be on their way to
    /// disk (they are committed together with the channel manager, see
    /// `docs/persistence.md`), and LDK refuses to begin a shutdown until they are. The call
    /// waits for them (at most [`CLOSE_WAIT_FOR_MONITORS`]) instead of failing: a refusal while
    /// the peer is not connected and nothing is in flight comes back at once.
    pub fn close_channel(&self, channel_id: &str) -> Result<(), NodeError> {
        self.require_running()?;
        let channel = self.find_channel(channel_id)?;
        let deadline = std::time::Instant::now() + CLOSE_WAIT_FOR_MONITORS;
        loop {
            let refused = match self
                .inner
                .channel_manager
                .close_channel(&channel.channel_id, &channel.counterparty.node_id)
            {
                Ok(()) => return Ok(()),
                Err(e) => e,
            };
            // An update in flight, or one committed whose completion LDK has not processed
            // yet (it does on its next event round): both pass while the peer is connected.
            let updating = || {
                self.inner
                    .chain_monitor
                    .list_pending_monitor_updates()
                    .get(&channel.channel_id)
                    .is_some_and(|pending| !pending.is_empty())
            };
            let connected = || {
                self.inner
                    .peer_manager
                    .peer_by_node_id(&channel.counterparty.node_id)
                    .is_some()
            };
            // LDK names both causes in one text; a peer that is not connected is not waited for,
            // nor any other refusal ("shutdown already in progress by remote", say).
            let transient = match &refused {
                lightning::util::errors::APIError::ChannelUnavailable { err } => {
                    updating() || (err.contains("monitor update") && connected())
                }
                _ => false,
            };
            if !transient || std::time::Instant::now() >= deadline {
                return Err(NodeError::ChannelFailed(format!("{refused:?}")));
            }
            std::thread::sleep(Duration::from_millis(20));
            self.require_running()?;
        }
    }

    /// Change what we charge to forward payments out through a channel (by channel id or user
    /// channel id); `None` keeps a value as it is. The peer learns it at once (a
    /// `channel_update`); payers see it in new invoices' route hints, or in gossip for an
    /// announced channel. Kept across restarts.
    pub fn set_channel_fees(
        &self,
        channel_id: &str,
        base_fee_msat: Option<u32>,
        fee_ppm: Option<u32>,
    ) -> Result<(), NodeError> {
        self.require_running()?;
        let channel = self.find_channel(channel_id)?;
        if fee_ppm.is_some_and(|ppm| ppm > MAX_FEE_PPM) {
            return Err(NodeError::InvalidAmount(format!(
                "a fee of more than {MAX_FEE_PPM} ppm (10 % of the amount) is refused"
            )));
        }
        let update = lightning::util::config::ChannelConfigUpdate {
            forwarding_fee_base_msat: base_fee_msat,
            forwarding_fee_proportional_millionths: fee_ppm,
            ..Default::default()
        };
        self.inner
            .channel_manager
            .update_partial_channel_config(
                &channel.counterparty.node_id,
                &[channel.channel_id],
                &update,
            )
            .map_err(|e| NodeError::ChannelFailed(format!("{e:?}")))
    }

    /// Force-close a channel: broadcast our latest commitment. Our funds come back after our
    /// `to_self_delay` (swept to the wallet by the node).
    pub fn force_close_channel(
        &self,
        channel_id: &str,
        reason: Option<String>,
    ) -> Result<(), NodeError> {
        self.require_running()?;
        let channel = self.find_channel(channel_id)?;
        self.inner
            .channel_manager
            .force_close_broadcasting_latest_txn(
                &channel.channel_id,
                &channel.counterparty.node_id,
                reason.unwrap_or_else(|| "closed by the user".into()),
            )
            .map_err(|e| NodeError::ChannelFailed(format!("{e:?}")))
    }

    /// Outputs of closed channels on their way to the on-chain wallet (our side of a force
    /// close once its delay has passed, HTLCs claimed on chain), with where each stands. An
    /// output too small to pay for its own sweep on Qtum stays here as
    /// [`SweepStatus::WaitingForFees`] until it can leave with another one; it is in no
    /// balance until then.
    pub fn pending_sweeps(&self) -> Vec<PendingSweep> {
        let inner = self.inner();
        inner
            .spender
            .describe(inner.sweeper.tracked_spendable_outputs())
    }

    /// How much of the Lightning network this node knows from gossip.
    pub fn network_graph_info(&self) -> GraphInfo {
        let graph = self.inner.network_graph.read_only();
        GraphInfo {
            node_count: graph.nodes().len() as u64,
            announced_node_count: graph
                .nodes()
                .unordered_iter()
                .filter(|(_, n)| n.announcement_info.is_some())
                .count() as u64,
            channel_count: graph.channels().len() as u64,
        }
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
    ) -> Result<String, NodeError> {
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
        txid: &str,
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
    ) -> Result<String, NodeError> {
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

/// Whether a test asked `task` to fail (and forget the request).
pub(crate) fn take_injected_failure(inner: &NodeInner, task: &str) -> bool {
    let mut injected = lock(&inner.injected_failure);
    if injected.as_deref() == Some(task) {
        *injected = None;
        return true;
    }
    false
}

/// How often the watchdog looks at the node's tasks.
const WATCHDOG_INTERVAL: Duration = Duration::from_millis(200);

/// Spawn a named thread that holds an [`AliveGuard`].
fn spawn_guarded(
    name: &str,
    body: impl FnOnce() + Send + 'static,
) -> Result<(std::thread::JoinHandle<()>, Arc<AtomicBool>), NodeError> {
    let (guard, alive) = AliveGuard::new();
    let handle = std::thread::Builder::new()
        .name(name.into())
        .spawn(move || {
            let _guard = guard;
            body()
        })
        .map_err(|e| NodeError::SystemResources(format!("cannot start {name}: {e}")))?;
    Ok((handle, alive))
}

/// Everything `start` starts, filled into `parts` as it goes so a failure can tear down
/// exactly what was started.
fn start_parts(
    inner: &Arc<NodeInner>,
    parts: &mut Running,
    shared: SharedRunning,
) -> Result<(), NodeError> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name("qtum-ln")
        .enable_all()
        .build()
        .map_err(|e| NodeError::SystemResources(format!("runtime: {e}")))?;
    let handle = runtime.handle().clone();
    parts.runtime = Some(runtime);
    let stop = parts.stop.clone();

    // Peers: accept on every listening address, within the connection limits.
    let inbound = Arc::new(InboundLimits::default());
    for address in &inner.config.listening_addresses {
        let listener = std::net::TcpListener::bind(address)
            .map_err(|e| NodeError::Listen(format!("{address}: {e}")))?;
        listener
            .set_nonblocking(true)
            .map_err(|e| NodeError::Listen(format!("{address}: {e}")))?;
        let peer_manager = inner.peer_manager.clone();
        let stop = stop.clone();
        let inbound = inbound.clone();
        handle.spawn(async move {
            let Ok(listener) = tokio::net::TcpListener::from_std(listener) else {
                return;
            };
            loop {
                if stop.load(Ordering::Acquire) {
                    return;
                }
                let accepted =
                    tokio::time::timeout(Duration::from_millis(500), listener.accept()).await;
                if let Ok(Ok((stream, from))) = accepted {
                    let Some(slot) = InboundLimits::admit(&inbound, from.ip()) else {
                        log::debug!("inbound connection from {from} refused: too many");
                        continue;
                    };
                    let peer_manager = peer_manager.clone();
                    if let Ok(stream) = stream.into_std() {
                        tokio::spawn(async move {
                            lightning_net_tokio::setup_inbound(peer_manager, stream).await;
                            drop(slot);
                        });
                    }
                }
            }
        });
    }

    // Channel announcements checked against the chain, off the peers' threads.
    inner.gossip_verifier.start(
        &handle,
        Arc::downgrade(&inner.gossip_sync),
        Arc::downgrade(&inner.peer_manager),
    );

    // Reconnect persisted peers, now and after drops.
    {
        let inner = inner.clone();
        let stop = stop.clone();
        handle.spawn(async move {
            while !stop.load(Ordering::Acquire) {
                for uri in inner.peers.all() {
                    if inner.peer_manager.peer_by_node_id(&uri.node_id).is_none() {
                        let _ =
                            peers::connect(inner.peer_manager.clone(), &uri, CONNECT_TIMEOUT).await;
                    }
                }
                tokio::time::sleep(RECONNECT_INTERVAL).await;
            }
        });
    }

    // Announce ourselves (alias, color, addresses) once we have an announced channel, and
    // again every hour so the announcement stays fresh in the network's graphs.
    {
        let inner = inner.clone();
        let stop = stop.clone();
        handle.spawn(async move {
            let mut announced_at: Option<tokio::time::Instant> = None;
            while !stop.load(Ordering::Acquire) {
                let due = announced_at.is_none_or(|t| t.elapsed() >= NODE_ANNOUNCEMENT_INTERVAL);
                let has_public = inner
                    .channel_manager
                    .list_channels()
                    .iter()
                    .any(|c| c.is_announced && c.is_channel_ready);
                if due && has_public {
                    broadcast_node_announcement(&inner);
                    announced_at = Some(tokio::time::Instant::now());
                }
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        });
    }

    // Act on committed HTLCs at once instead of after LDK's batching delay (see
    // `Config::batch_htlc_processing`): the background processor would do the same call
    // after ~50 ms.
    let mut watched: Vec<(&'static str, Arc<AtomicBool>)> = Vec::new();
    if !inner.config.batch_htlc_processing {
        let inner = inner.clone();
        let stop = stop.clone();
        let (thread, alive) = spawn_guarded("qtum-ln-htlcs", move || {
            while !stop.load(Ordering::Acquire) {
                if take_injected_failure(&inner, "htlcs") {
                    panic!("injected failure of the HTLC thread");
                }
                // Take the future first so a notification between the check and the wait is
                // not lost.
                let wake = inner
                    .channel_manager
                    .get_event_or_persistence_needed_future();
                if inner.channel_manager.needs_pending_htlc_processing() {
                    inner.channel_manager.process_pending_htlc_forwards();
                }
                wake.wait_timeout(Duration::from_millis(100));
            }
        })?;
        parts.htlc_thread = Some(thread);
        watched.push(("the HTLC thread", alive));
    }

    // LDK's background processor: persistence, timers, events.
    let (background, alive) = handler::start_background_processor(inner.clone(), handle.clone());
    parts.background = Some(background);
    watched.push(("the background processor", alive));

    // Hold invoices the app claimed just before the node was killed: claim them again (a
    // claim LDK already made is ignored).
    for row in inner.payments.hold_claims_in_progress()? {
        use bitcoin::hex::FromHex;
        if let Some(preimage) = row
            .preimage
            .as_deref()
            .and_then(|p| <[u8; 32]>::from_hex(p).ok())
        {
            log::info!("claiming hold invoice {} again", row.payment_hash);
            inner
                .channel_manager
                .claim_funds(lightning::types::payment::PaymentPreimage(preimage));
        }
    }

    // Chain sync on its own thread (the chain layer is blocking).
    {
        let inner = inner.clone();
        let stop = stop.clone();
        let (thread, alive) = spawn_guarded("qtum-ln-sync", move || {
            let interval = Duration::from_secs(inner.config.sync_interval_secs.max(1));
            let mut last_rebroadcast: Option<std::time::Instant> = None;
            while !stop.load(Ordering::Acquire) {
                if take_injected_failure(&inner, "sync") {
                    panic!("injected failure of the chain sync thread");
                }
                let _ = sync_once(&inner);
                if last_rebroadcast.is_none_or(|t| t.elapsed() >= FUNDING_REBROADCAST_INTERVAL) {
                    if let Err(e) = reconcile::rebroadcast_funding(&inner) {
                        log::warn!("funding rebroadcast: {e}");
                    }
                    last_rebroadcast = Some(std::time::Instant::now());
                }
                let mut waited = Duration::ZERO;
                while waited < interval && !stop.load(Ordering::Acquire) {
                    std::thread::sleep(Duration::from_millis(100));
                    waited += Duration::from_millis(100);
                }
            }
        })?;
        parts.sync_thread = Some(thread);
        watched.push(("the chain sync thread", alive));
    }

    // The watchdog: a node whose writer failed or one of whose tasks died stops itself,
    // instead of running half-dead.
    {
        let inner = inner.clone();
        let stop = stop.clone();
        let (thread, _alive) = spawn_guarded("qtum-ln-watchdog", move || {
            while !stop.load(Ordering::Acquire) {
                std::thread::sleep(WATCHDOG_INTERVAL);
                if stop.load(Ordering::Acquire) {
                    return;
                }
                let reason = if let Some(e) = inner.journal.failure() {
                    Some(format!("writing the node's state failed: {e}"))
                } else if let Some(reason) = handler::handler_failure(&inner) {
                    Some(reason)
                } else {
                    watched
                        .iter()
                        .find(|(_, alive)| !alive.load(Ordering::Acquire))
                        .map(|(what, _)| format!("{what} stopped unexpectedly"))
                };
                if let Some(reason) = reason {
                    log::error!("the node halts: {reason}");
                    lock(&inner.status).halted_reason = Some(reason);
                    // Taken out first: the lock must not be held while shutting down (an app's
                    // listener on the threads being joined may call into the node).
                    let taken = lock(&shared).take();
                    if let Some(running) = taken {
                        let _ = shutdown(&inner, running);
                    }
                    return;
                }
            }
        })?;
        parts.watchdog = Some(thread);
    }
    Ok(())
}

/// Tear down what `start` started: networking and chain sync first, then the background
/// processor's final write, then the writer's queue. Runs on a thread of its own when called
/// from inside an async runtime (blocking there would panic).
fn shutdown(inner: &Arc<NodeInner>, running: Running) -> Result<(), NodeError> {
    if tokio::runtime::Handle::try_current().is_ok() {
        let inner = inner.clone();
        return std::thread::Builder::new()
            .name("qtum-ln-stop".into())
            .spawn(move || shutdown_blocking(&inner, running))
            .map_err(|e| NodeError::Persistence(format!("cannot start the stop thread: {e}")))?
            .join()
            .unwrap_or_else(|_| Err(NodeError::Persistence("stopping the node panicked".into())));
    }
    shutdown_blocking(inner, running)
}

fn shutdown_blocking(inner: &Arc<NodeInner>, mut running: Running) -> Result<(), NodeError> {
    running.stop.store(true, Ordering::Release);
    // No new messages in or out: peers, listeners and reconnections go first.
    inner.peer_manager.disconnect_all_peers();
    if let Some(runtime) = running.runtime.take() {
        runtime.shutdown_timeout(Duration::from_secs(5));
    }
    // The chain sync finishes its pass (a pass never stops half-way through LDK's calls).
    if let Some(thread) = running.sync_thread.take() {
        let _ = thread.join();
    }
    if let Some(thread) = running.htlc_thread.take() {
        let _ = thread.join();
    }
    // The final write of the manager, through the writer.
    let mut result = Ok(());
    if let Some(background) = running.background.take() {
        let stopped = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| background.stop()));
        result = match stopped {
            Ok(Ok(())) => Ok(()),
            Ok(Err(e)) => Err(NodeError::Persistence(format!(
                "final persistence failed: {e}"
            ))),
            Err(_) => Err(NodeError::Persistence(
                "the background processor had panicked".into(),
            )),
        };
    }
    if let Err(e) = inner.journal.flush() {
        if result.is_ok() {
            result = Err(NodeError::Persistence(format!("final write failed: {e}")));
        }
    }
    if let Some(thread) = running.watchdog.take() {
        if thread.thread().id() != std::thread::current().id() {
            let _ = thread.join();
        }
    }
    lock(&inner.status).is_running = false;
    inner.events.wake_all();
    result
}

fn random_bytes16(keys: &lightning::sign::KeysManager) -> [u8; 16] {
    use lightning::sign::EntropySource;
    let bytes = keys.get_secure_random_bytes();
    let mut out = [0u8; 16];
    out.copy_from_slice(&bytes[..16]);
    out
}

pub(crate) fn parse_node_id(text: &str) -> Result<PublicKey, NodeError> {
    text.trim()
        .parse::<PublicKey>()
        .map_err(|e| NodeError::InvalidNodeId(e.to_string()))
}

fn claimable_sat(inner: &NodeInner, c: &ChannelDetails) -> u64 {
    match inner.chain_monitor.get_monitor(c.channel_id) {
        Ok(monitor) => monitor
            .get_claimable_balances()
            .iter()
            .map(|b| b.claimable_amount_satoshis())
            .sum(),
        // Not funded yet: nothing on chain to claim.
        Err(()) => 0,
    }
}

/// The highest proportional forwarding fee `set_channel_fees` takes: 10 % of the amount.
/// More is a typo (a base fee in the wrong field) that would make every route through us fail.
const MAX_FEE_PPM: u32 = 100_000;

fn channel_info(c: &ChannelDetails, balance_sat: u64) -> ChannelInfo {
    ChannelInfo {
        channel_id: c.channel_id.to_string(),
        user_channel_id: c.user_channel_id.to_string(),
        counterparty_node_id: c.counterparty.node_id.to_string(),
        funding_txo: c.funding_txo.map(|o| format!("{}:{}", o.txid, o.index)),
        capacity_sat: c.channel_value_satoshis,
        balance_sat,
        outbound_capacity_msat: c.outbound_capacity_msat,
        inbound_capacity_msat: c.inbound_capacity_msat,
        confirmations: c.confirmations,
        confirmations_required: c.confirmations_required,
        is_outbound: c.is_outbound,
        is_ready: c.is_channel_ready,
        is_usable: c.is_usable,
        is_announced: c.is_announced,
        htlcs_in_flight: (c
            .pending_inbound_htlcs
            .iter()
            .filter(|h| h.state == Some(InboundHTLCStateDetails::Committed))
            .count()
            + c.pending_outbound_htlcs
                .iter()
                .filter(|h| h.state == Some(OutboundHTLCStateDetails::Committed))
                .count()) as u32,
        forwarding_fee_base_msat: c.config.map_or(0, |c| c.forwarding_fee_base_msat),
        forwarding_fee_ppm: c
            .config
            .map_or(0, |c| c.forwarding_fee_proportional_millionths),
    }
}

/// Gossip our node announcement: alias (at most 32 bytes), color and listening addresses.
fn broadcast_node_announcement(inner: &NodeInner) {
    let mut alias = [0u8; 32];
    let bytes = inner.config.alias.as_bytes();
    // Cut at a character boundary so the alias stays valid UTF-8.
    let mut len = bytes.len().min(32);
    while len > 0 && !inner.config.alias.is_char_boundary(len) {
        len -= 1;
    }
    alias[..len].copy_from_slice(&bytes[..len]);
    let addresses = reachable_addresses(&inner.config)
        .into_iter()
        .map(|a| match a {
            SocketAddr::V4(v4) => lightning::ln::msgs::SocketAddress::TcpIpV4 {
                addr: v4.ip().octets(),
                port: v4.port(),
            },
            SocketAddr::V6(v6) => lightning::ln::msgs::SocketAddress::TcpIpV6 {
                addr: v6.ip().octets(),
                port: v6.port(),
            },
        })
        .collect();
    inner
        .peer_manager
        .broadcast_node_announcement(inner.config.color, alias, addresses);
}

/// One sync round: LDK's confirmables first (channel safety), then the wallet.
pub(crate) fn sync_once(inner: &NodeInner) -> Result<(), NodeError> {
    let _guard = lock(&inner.sync_lock);
    let confirmables: [&dyn Confirm; 3] = [
        &*inner.channel_manager,
        &*inner.chain_monitor,
        &*inner.sweeper,
    ];
    let result = inner.onchain.sync(&confirmables);
    let mut status = lock(&inner.status);
    match result {
        Ok(tip) => {
            status.synced_height = Some(tip.height);
            status.synced_block_hash = Some(tip.hash.to_string());
            status.last_sync_timestamp = Some(now_secs());
            status
                .degraded_reasons
                .retain(|r| !r.starts_with("chain sync"));
            Ok(())
        }
        Err(e) => {
            let reason = format!("chain sync: {e}");
            status
                .degraded_reasons
                .retain(|r| !r.starts_with("chain sync"));
            status.degraded_reasons.push(reason);
            Err(e)
        }
    }
}

#[allow(dead_code)]
fn _node_is_send_and_sync() {
    fn check<T: Send + Sync>() {}
    check::<Node>();
}

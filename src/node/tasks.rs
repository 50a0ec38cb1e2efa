//! What a started node runs, each task a named function: accepting peers, reconnecting them,
//! announcing the node, acting on HTLCs, the chain sync, claiming hold invoices a killed node
//! left half done, and the watchdog that halts the node when one of them dies. `start` calls
//! them in order through [`start_parts`]; [`shutdown`] tears down what was started.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use lightning::chain::Confirm;
use lightning_background_processor::BackgroundProcessor;

use super::peers::{CONNECT_TIMEOUT, RECONNECT_INTERVAL};
use super::{handler, lock, now_secs, peers, reconcile, NodeInner};
use crate::error::NodeError;

/// How often the node announcement is refreshed while we have public channels.
const NODE_ANNOUNCEMENT_INTERVAL: Duration = Duration::from_secs(3600);
/// How often funding transactions waiting for their first confirmation are broadcast again
/// (about 9 Qtum blocks).
const FUNDING_REBROADCAST_INTERVAL: Duration = Duration::from_secs(300);

/// What a started node runs. Torn down by [`shutdown`] (from `stop`, `Drop`, a failed `start`
/// or the watchdog).
#[derive(Default)]
pub(super) struct Running {
    pub(super) runtime: Option<tokio::runtime::Runtime>,
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
    pub(crate) fn new() -> (AliveGuard, Arc<AtomicBool>) {
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

impl Drop for AliveGuard {
    fn drop(&mut self) {
        self.0.store(false, Ordering::Release);
    }
}

pub(super) type SharedRunning = Arc<Mutex<Option<Running>>>;

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
pub(super) fn start_parts(
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
    // Peers wait for the chain again (see `peer_gate`).
    inner.peer_gate.reset();

    accept_peers(inner, &handle, &stop)?;
    // Channel announcements checked against the chain, off the peers' threads.
    inner.gossip_verifier.start(
        &handle,
        Arc::downgrade(&inner.gossip_sync),
        Arc::downgrade(&inner.peer_manager),
    );
    handle.spawn(reconnect_peers(inner.clone(), stop.clone()));
    handle.spawn(announce_node(inner.clone(), stop.clone()));
    if inner.liquidity.service.is_some() {
        handle.spawn(serve_liquidity(inner.clone(), stop.clone()));
    }
    handle.spawn(super::remote_backup::backup_loop(
        inner.clone(),
        stop.clone(),
    ));

    let mut watched: Vec<(&'static str, Arc<AtomicBool>)> = Vec::new();
    if !inner.config.batch_htlc_processing {
        let (thread, alive) = process_htlcs(inner.clone(), stop.clone())?;
        parts.htlc_thread = Some(thread);
        watched.push(("the HTLC thread", alive));
    }
    // LDK's background processor: persistence, timers, events.
    let (background, alive) = handler::start_background_processor(inner.clone(), handle.clone());
    parts.background = Some(background);
    watched.push(("the background processor", alive));

    claim_held_invoices(inner)?;

    let (thread, alive) = sync_chain(inner.clone(), stop.clone())?;
    parts.sync_thread = Some(thread);
    watched.push(("the chain sync thread", alive));

    parts.watchdog = Some(watchdog(inner.clone(), stop, shared, watched)?);
    Ok(())
}

/// Accept peers on every listening address, within the connection limits.
fn accept_peers(
    inner: &NodeInner,
    handle: &tokio::runtime::Handle,
    stop: &Arc<AtomicBool>,
) -> Result<(), NodeError> {
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
    Ok(())
}

/// Reconnect persisted peers, now and after drops: each once the node may talk to it (see
/// `peer_gate`), and at once when the first chain sync opens the way.
async fn reconnect_peers(inner: Arc<NodeInner>, stop: Arc<AtomicBool>) {
    while !stop.load(Ordering::Acquire) {
        for uri in inner.peers.all() {
            let connected = inner.peer_manager.peer_by_node_id(&uri.node_id).is_some();
            if !connected && inner.peer_gate.admits(&inner.channel_manager, &uri.node_id) {
                let _ = peers::connect(inner.peer_manager.clone(), &uri, CONNECT_TIMEOUT).await;
            }
        }
        if inner.peer_gate.is_synced() {
            tokio::time::sleep(RECONNECT_INTERVAL).await;
        } else {
            inner.peer_gate.wait_synced(RECONNECT_INTERVAL).await;
        }
    }
}

/// A liquidity provider answers its clients' requests and opens their channels (see
/// `liquidity`); a client drains the same queue only while it waits for an answer.
async fn serve_liquidity(inner: Arc<NodeInner>, stop: Arc<AtomicBool>) {
    while !stop.load(Ordering::Acquire) {
        super::liquidity::pump(&inner);
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Announce ourselves (alias, color, addresses) once we have an announced channel, and again
/// every hour so the announcement stays fresh in the network's graphs.
async fn announce_node(inner: Arc<NodeInner>, stop: Arc<AtomicBool>) {
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
}

/// Act on committed HTLCs at once instead of after LDK's batching delay (see
/// `Config::batch_htlc_processing`): the background processor would do the same call after
/// ~50 ms.
fn process_htlcs(
    inner: Arc<NodeInner>,
    stop: Arc<AtomicBool>,
) -> Result<(std::thread::JoinHandle<()>, Arc<AtomicBool>), NodeError> {
    spawn_guarded("qtum-ln-htlcs", move || {
        while !stop.load(Ordering::Acquire) {
            if take_injected_failure(&inner, "htlcs") {
                panic!("injected failure of the HTLC thread");
            }
            // Take the future first so a notification between the check and the wait is not
            // lost.
            let wake = inner
                .channel_manager
                .get_event_or_persistence_needed_future();
            if inner.channel_manager.needs_pending_htlc_processing() {
                inner.channel_manager.process_pending_htlc_forwards();
            }
            wake.wait_timeout(Duration::from_millis(100));
        }
    })
}

/// Hold invoices the app claimed just before the node was killed: claim them again (a claim
/// LDK already made is ignored).
fn claim_held_invoices(inner: &NodeInner) -> Result<(), NodeError> {
    for row in inner.payments.hold_claims_in_progress()? {
        if let Some(preimage) = row.preimage {
            log::info!("claiming hold invoice {} again", row.payment_hash);
            inner.channel_manager.claim_funds(preimage);
        }
    }
    Ok(())
}

/// Chain sync on its own thread (the chain layer is blocking), and the rebroadcast of funding
/// transactions still waiting for a confirmation.
fn sync_chain(
    inner: Arc<NodeInner>,
    stop: Arc<AtomicBool>,
) -> Result<(std::thread::JoinHandle<()>, Arc<AtomicBool>), NodeError> {
    spawn_guarded("qtum-ln-sync", move || {
        let interval = Duration::from_secs(inner.config.sync_interval_secs.max(1));
        let mut last_rebroadcast: Option<std::time::Instant> = None;
        while !stop.load(Ordering::Acquire) {
            if take_injected_failure(&inner, "sync") {
                panic!("injected failure of the chain sync thread");
            }
            if sync_once(&inner).is_ok() {
                if let Err(e) = inner.recovery.scan(&inner, false) {
                    log::warn!("{e}");
                }
            }
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
    })
}

/// The watchdog: a node whose writer failed or one of whose `watched` tasks died stops itself,
/// instead of running half-dead.
fn watchdog(
    inner: Arc<NodeInner>,
    stop: Arc<AtomicBool>,
    shared: SharedRunning,
    watched: Vec<(&'static str, Arc<AtomicBool>)>,
) -> Result<std::thread::JoinHandle<()>, NodeError> {
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
            } else if inner.db.try_conn().is_some_and(|c| c.is_broken()) {
                // Nothing can be written any more; every write would fail from here on.
                Some("the connection to the database server is lost".to_string())
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
    Ok(thread)
}

/// Tear down what `start` started: networking and chain sync first, then the background
/// processor's final write, then the writer's queue. Runs on a thread of its own when called
/// from inside an async runtime (blocking there would panic).
pub(super) fn shutdown(inner: &Arc<NodeInner>, running: Running) -> Result<(), NodeError> {
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
    let addresses = inner
        .config
        .reachable_addresses()
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
    let result = inner
        .onchain
        .sync(&confirmables, || inner.peer_gate.chain_synced());
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

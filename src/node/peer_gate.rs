//! No peer before the chain: after every start, the node talks to peers only once LDK has
//! caught up with the chain.
//!
//! Why: a channel becomes ready by the chain alone (enough confirmations of its funding), with
//! no monitor update, so the journal's invariant says nothing about it. The node sends
//! `channel_ready` as soon as its ChannelManager sees the confirmations, and a kill before the
//! next commit of the manager (a few hundred milliseconds) leaves a stored manager in which the
//! channel is not ready. The peer, which received our `channel_ready`, treats the channel as
//! open: after reconnecting it sends its `channel_ready` again and may add an HTLC at once. A
//! manager that has not seen the confirmations again by then closes the channel by force
//! ("add HTLC when channel was not in an operational state"). Once the manager has synced with
//! the chain it knows the channel is ready, sends `channel_ready` again in the reestablish, and
//! accepts the HTLC.
//!
//! So every peer waits for the first successful sync of LDK's chain state after a start, for
//! at most [`FIRST_SYNC_WAIT`]; a node whose chain source is down then still talks to the
//! peers it has only ready channels with (or none), while a peer with which it has a channel
//! that is not ready keeps waiting until the sync succeeds. It applies to every connection,
//! inbound or outbound, at one place: the handshake (see [`PeerAdmission`]).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bitcoin::secp256k1::PublicKey;
use lightning::ln::msgs::{DecodeError, Init, LightningError};
use lightning::ln::peer_handler::CustomMessageHandler;
use lightning::ln::wire::CustomMessageReader;
use lightning::types::features::{InitFeatures, NodeFeatures};
use lightning::util::ser::LengthLimitedRead;
use lightning_liquidity::lsps0::ser::RawLSPSMessage;

use super::liquidity::LiquidityManager;
use super::lock;
use super::types::ChannelManager;

/// How long after a start every peer waits for the first chain sync.
pub(crate) const FIRST_SYNC_WAIT: Duration = Duration::from_secs(30);

/// Whether LDK has synced with the chain since the node last started.
pub(crate) struct PeerGate {
    started: Mutex<Instant>,
    synced: tokio::sync::watch::Sender<bool>,
    /// With `BackupPolicy::ServerConfirmed`: peers also wait for the first copy of this start
    /// on the backup server (a restart acknowledges updates the server may not hold yet).
    needs_backup: AtomicBool,
    backup_confirmed: AtomicBool,
}

impl PeerGate {
    pub(crate) fn new() -> PeerGate {
        PeerGate {
            started: Mutex::new(Instant::now()),
            synced: tokio::sync::watch::Sender::new(false),
            needs_backup: AtomicBool::new(false),
            backup_confirmed: AtomicBool::new(false),
        }
    }

    /// Peers wait for the backup server too (see `needs_backup`).
    pub(crate) fn require_backup(&self) {
        self.needs_backup.store(true, Ordering::Release);
    }

    /// The backup server confirmed a copy taken since this start.
    pub(crate) fn backup_confirmed(&self) {
        if self.needs_backup.load(Ordering::Acquire)
            && !self.backup_confirmed.swap(true, Ordering::AcqRel)
        {
            log::info!("the backup server holds this start's state: peers may connect");
        }
    }

    fn backup_ok(&self) -> bool {
        !self.needs_backup.load(Ordering::Acquire) || self.backup_confirmed.load(Ordering::Acquire)
    }

    /// The node starts: every peer waits for a sync again.
    pub(crate) fn reset(&self) {
        *lock(&self.started) = Instant::now();
        self.synced.send_replace(false);
        self.backup_confirmed.store(false, Ordering::Release);
    }

    /// LDK's chain state is at the tip: every peer may connect.
    pub(crate) fn chain_synced(&self) {
        if !*self.synced.borrow() {
            log::info!("synced with the chain: peers may connect");
        }
        self.synced.send_replace(true);
    }

    pub(crate) fn is_synced(&self) -> bool {
        *self.synced.borrow()
    }

    /// How much longer every peer waits (zero once synced or once the wait is over).
    pub(crate) fn remaining_wait(&self) -> Duration {
        if self.is_synced() {
            return Duration::ZERO;
        }
        FIRST_SYNC_WAIT.saturating_sub(lock(&self.started).elapsed())
    }

    /// Whether `peer` may talk to the node now.
    pub(crate) fn admits(&self, channel_manager: &ChannelManager, peer: &PublicKey) -> bool {
        self.backup_ok()
            && (self.is_synced()
                || (self.remaining_wait().is_zero()
                    && !has_channel_not_ready(channel_manager, peer)))
    }

    /// Wait until the node synced, at most `max`. Whether it has.
    pub(crate) async fn wait_synced(&self, max: Duration) -> bool {
        let mut synced = self.synced.subscribe();
        let waited = tokio::time::timeout(max, synced.wait_for(|s| *s)).await;
        waited.is_ok_and(|r| r.is_ok())
    }
}

/// A channel with `peer` whose funding is not (known to be) deep enough yet.
fn has_channel_not_ready(channel_manager: &ChannelManager, peer: &PublicKey) -> bool {
    channel_manager
        .list_channels_with_counterparty(peer)
        .iter()
        .any(|c| !c.is_channel_ready)
}

/// The handshake-time check of [`PeerGate`], in the slot LDK gives custom messages; the
/// custom messages themselves are the liquidity protocols' (LSPS0 transport, see
/// `crate::node::liquidity`), handed to lightning-liquidity.
pub(crate) struct PeerAdmission {
    gate: Arc<PeerGate>,
    channel_manager: Arc<ChannelManager>,
    liquidity: Arc<LiquidityManager>,
}

impl PeerAdmission {
    pub(crate) fn new(
        gate: Arc<PeerGate>,
        channel_manager: Arc<ChannelManager>,
        liquidity: Arc<LiquidityManager>,
    ) -> Self {
        PeerAdmission {
            gate,
            channel_manager,
            liquidity,
        }
    }
}

impl CustomMessageReader for PeerAdmission {
    type CustomMessage = RawLSPSMessage;

    fn read<R: LengthLimitedRead>(
        &self,
        message_type: u16,
        buffer: &mut R,
    ) -> Result<Option<RawLSPSMessage>, DecodeError> {
        self.liquidity.read(message_type, buffer)
    }
}

impl CustomMessageHandler for PeerAdmission {
    fn handle_custom_message(
        &self,
        msg: RawLSPSMessage,
        sender_node_id: PublicKey,
    ) -> Result<(), LightningError> {
        self.liquidity.handle_custom_message(msg, sender_node_id)
    }

    fn get_and_clear_pending_msg(&self) -> Vec<(PublicKey, RawLSPSMessage)> {
        self.liquidity.get_and_clear_pending_msg()
    }

    fn peer_disconnected(&self, their_node_id: PublicKey) {
        self.liquidity.peer_disconnected(their_node_id)
    }

    fn peer_connected(
        &self,
        their_node_id: PublicKey,
        msg: &Init,
        inbound: bool,
    ) -> Result<(), ()> {
        if self.gate.admits(&self.channel_manager, &their_node_id) {
            return self.liquidity.peer_connected(their_node_id, msg, inbound);
        }
        let direction = if inbound { "from" } else { "to" };
        log::info!(
            "connection {direction} {their_node_id} closed: the node has not synced with the \
             chain since it started"
        );
        Err(())
    }

    fn provided_node_features(&self) -> NodeFeatures {
        self.liquidity.provided_node_features()
    }

    fn provided_init_features(&self, their_node_id: PublicKey) -> InitFeatures {
        self.liquidity.provided_init_features(their_node_id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_gate_opens_with_a_sync_and_closes_with_a_start() {
        let gate = PeerGate::new();
        assert!(!gate.is_synced());
        assert!(gate.remaining_wait() > Duration::ZERO);
        gate.chain_synced();
        assert!(gate.is_synced());
        assert_eq!(gate.remaining_wait(), Duration::ZERO);
        gate.reset();
        assert!(!gate.is_synced());
        assert!(gate.remaining_wait() > FIRST_SYNC_WAIT - Duration::from_secs(5));
    }

    #[test]
    fn waiting_ends_with_the_sync_or_the_bound() {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .expect("runtime");
        let gate = Arc::new(PeerGate::new());
        assert!(!runtime.block_on(gate.wait_synced(Duration::from_millis(20))));
        let opener = {
            let gate = gate.clone();
            std::thread::spawn(move || {
                std::thread::sleep(Duration::from_millis(50));
                gate.chain_synced();
            })
        };
        assert!(runtime.block_on(gate.wait_synced(Duration::from_secs(60))));
        opener.join().expect("opener");
        // Already synced: no wait.
        assert!(runtime.block_on(gate.wait_synced(Duration::ZERO)));
    }
}

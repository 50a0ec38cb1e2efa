//! `Builder` and `Node` as UniFFI objects.
//!
//! Every method delegates to the real [`crate::Builder`] / [`crate::Node`]; the adapters are
//! `Arc`/`Mutex` plumbing, milliseconds for timeouts and the foreign event listener.
//!
//! Blocking calls also come as `*_async` (Kotlin `suspend`, Swift `async`, Python `async def`).
//! They run the blocking call on a thread of their own and complete a future that needs no
//! particular executor, so they work the same under Kotlin coroutines, Swift's cooperative pool
//! and asyncio. (UniFFI 0.31's `async_runtime = "tokio"` would run them inside a tokio context,
//! where the node's own `block_on` calls must not run.) Cancelling the foreign task drops the
//! result; the call itself finishes, since a half-done channel open cannot be undone.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::config::Config;
use crate::error::{BuildError, NodeError};
use crate::event::Event;
use crate::node::{
    ChannelInfo, InvoicePreview, NodeStatus, OnchainBalance, PeerInfo, PendingSweep, SendOptions,
};
use crate::payment::store::{PaymentDetails, PaymentFilter};
use crate::qtum::network::Network;

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// Run `work` on its own thread; the future completes with its result. A panic in `work` is
/// re-raised in the future, where UniFFI turns it into the foreign language's internal error,
/// as for a blocking call.
async fn off_thread<T, F>(work: F) -> T
where
    T: Send + 'static,
    F: FnOnce() -> T + Send + 'static,
{
    let (tx, rx) = tokio::sync::oneshot::channel();
    let spawned = std::thread::Builder::new()
        .name("qtum-ln-call".into())
        .spawn(move || {
            let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(work));
            let _ = tx.send(outcome);
        });
    if let Err(e) = spawned {
        std::panic::panic_any(format!("cannot start a thread for the call: {e}"));
    }
    match rx.await {
        Ok(Ok(value)) => value,
        Ok(Err(panic)) => std::panic::resume_unwind(panic),
        Err(_) => std::panic::panic_any("the call's thread ended without an answer".to_string()),
    }
}

// ----- the event listener the app implements -----

/// Implemented by the app to hear about every event as it is queued (`on_event` runs on the
/// node's thread: hand the work to your own thread and return; do not call the node's blocking
/// methods from it, nor release the last reference to the node). Events still wait in the
/// queue until `event_handled`, so a listener may miss nothing by only waking a UI. An
/// exception it throws is logged and swallowed.
#[uniffi::export(with_foreign)]
pub trait EventListener: Send + Sync {
    /// Called once per new event.
    fn on_event(&self, event: Event);
}

/// Keeps a foreign exception (a panic of the callback on this side) out of the node's threads.
struct ListenerAdapter(Arc<dyn EventListener>);

impl crate::event::EventListener for ListenerAdapter {
    fn on_event(&self, event: Event) {
        let listener = &self.0;
        let delivered =
            std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| listener.on_event(event)));
        if delivered.is_err() {
            log::warn!("the app's event listener threw; the event stays queued");
        }
    }
}

// ----- Builder -----

/// Builds a [`Node`] from a configuration and the node's entropy.
#[derive(uniffi::Object)]
pub struct Builder {
    inner: Mutex<crate::node::Builder>,
}

#[uniffi::export]
impl Builder {
    /// Start from a configuration (`default_config` gives Qtum's defaults). A configuration
    /// value that cannot even cross the FFI (a color that is not `#rrggbb`) is an
    /// `InvalidConfig` error here; everything else is checked by `build`.
    #[uniffi::constructor]
    pub fn new(config: Config) -> Result<Arc<Builder>, BuildError> {
        super::logging::ensure_installed();
        Ok(Arc::new(Builder {
            inner: Mutex::new(crate::node::Builder::new(config)),
        }))
    }

    /// Use a BIP39 recovery phrase (12 to 24 words) and an optional passphrase. Checked by
    /// `build` (or beforehand with `validate_mnemonic`).
    pub fn set_entropy_mnemonic(&self, mnemonic: String, passphrase: Option<String>) {
        // The foreign side's copies are its own to wipe; ours are wiped here.
        let mnemonic = zeroize::Zeroizing::new(mnemonic);
        let passphrase = passphrase.map(zeroize::Zeroizing::new);
        lock(&self.inner)
            .set_entropy_mnemonic(&mnemonic, passphrase.as_deref().map(|p| p.as_str()));
    }

    /// Use raw seed bytes (16 to 64). Checked by `build`.
    pub fn set_entropy_seed_bytes(&self, seed: Vec<u8>) {
        let seed = zeroize::Zeroizing::new(seed);
        lock(&self.inner).set_entropy_seed_bytes(&seed);
    }

    /// Open (or create) the node's store and restore its state. Does not start networking.
    pub fn build(&self) -> Result<Arc<Node>, BuildError> {
        let node = lock(&self.inner).build()?;
        Ok(Arc::new(Node { inner: node }))
    }
}

// ----- Node -----

/// A Lightning node on Qtum, wrapping [`crate::Node`]. Every method is blocking and thread-safe: call it
/// from a background thread, or use its `*_async` twin.
#[derive(uniffi::Object)]
pub struct Node {
    inner: crate::node::Node,
}

impl Node {
    /// The node as Rust code sees it.
    pub fn node(&self) -> &crate::node::Node {
        &self.inner
    }
}

fn millis(timeout_ms: Option<u64>) -> Option<Duration> {
    timeout_ms.map(Duration::from_millis)
}

#[uniffi::export]
impl Node {
    /// The node's id (hex public key).
    pub fn node_id(&self) -> String {
        self.inner.node_id()
    }

    /// The Qtum network the node runs on.
    pub fn network(&self) -> Network {
        self.inner.network()
    }

    /// `pubkey@host:port` that others use to connect to this node.
    pub fn node_uri(&self) -> Option<String> {
        self.inner.node_uri()
    }

    /// Start networking, chain sync and the background tasks.
    pub fn start(&self) -> Result<(), BuildError> {
        self.inner.start()
    }

    /// Persist everything and stop. Safe with payments in flight (they resume on `start`).
    pub fn stop(&self) -> Result<(), NodeError> {
        self.inner.stop()
    }

    /// Where the node stands (sync height, degraded reasons).
    pub fn status(&self) -> NodeStatus {
        self.inner.status()
    }

    /// Sync with the chain now.
    pub fn sync(&self) -> Result<(), NodeError> {
        self.inner.sync()
    }

    /// Connect to `pubkey@host:port`; with `persist`, reconnect after restarts and drops.
    pub fn connect(&self, uri: String, persist: bool) -> Result<(), NodeError> {
        self.inner.connect(&uri, persist)
    }

    /// Disconnect from a peer and forget it.
    pub fn disconnect(&self, node_id: String) -> Result<(), NodeError> {
        self.inner.disconnect(&node_id)
    }

    /// Connected and remembered peers.
    pub fn list_peers(&self) -> Vec<PeerInfo> {
        self.inner.list_peers()
    }

    /// Open a channel of `capacity_sat` to the peer at `uri`, funded on chain. Returns the
    /// channel's user id; watch for `ChannelPending` and `ChannelReady`.
    pub fn open_channel(
        &self,
        uri: String,
        capacity_sat: u64,
        push_msat: Option<u64>,
        announce: bool,
    ) -> Result<String, NodeError> {
        self.inner
            .open_channel(&uri, capacity_sat, push_msat, announce)
    }

    /// Our channels, pending and ready.
    pub fn list_channels(&self) -> Vec<ChannelInfo> {
        self.inner.list_channels()
    }

    /// Close a channel cooperatively (by channel id or user channel id).
    pub fn close_channel(&self, channel_id: String) -> Result<(), NodeError> {
        self.inner.close_channel(&channel_id)
    }

    /// Force-close a channel: our funds come back after the delay the peer asked of us.
    pub fn force_close_channel(
        &self,
        channel_id: String,
        reason: Option<String>,
    ) -> Result<(), NodeError> {
        self.inner.force_close_channel(&channel_id, reason)
    }

    /// Outputs of closed channels on their way to the wallet, with where each stands (an
    /// output too small to pay for its own sweep on Qtum waits as `WaitingForFees`).
    pub fn pending_sweeps(&self) -> Vec<PendingSweep> {
        self.inner.pending_sweeps()
    }

    /// A fresh on-chain address.
    pub fn new_address(&self) -> Result<String, NodeError> {
        self.inner.new_address()
    }

    /// On-chain balances, in satoshi.
    pub fn onchain_balance(&self) -> OnchainBalance {
        self.inner.onchain_balance()
    }

    /// Send `amount_sat` on chain; returns the txid.
    pub fn send_to_address(
        &self,
        address: String,
        amount_sat: u64,
        fee_rate_sat_per_vb: Option<u64>,
    ) -> Result<String, NodeError> {
        self.inner
            .send_to_address(&address, amount_sat, fee_rate_sat_per_vb)
    }

    /// Send everything spendable on chain; returns the txid.
    pub fn send_all_to_address(
        &self,
        address: String,
        fee_rate_sat_per_vb: Option<u64>,
    ) -> Result<String, NodeError> {
        self.inner
            .send_all_to_address(&address, fee_rate_sat_per_vb)
    }

    /// Decode an invoice to show it before paying (any Qtum network; others are refused).
    pub fn decode_invoice(&self, invoice: String) -> Result<InvoicePreview, NodeError> {
        self.inner.decode_invoice(&invoice)
    }

    /// A BOLT 11 invoice for `amount_msat`, expiring after `expiry_secs` (default one hour).
    pub fn receive(
        &self,
        amount_msat: u64,
        description: String,
        expiry_secs: Option<u32>,
    ) -> Result<String, NodeError> {
        self.inner.receive(amount_msat, &description, expiry_secs)
    }

    /// A BOLT 11 invoice that lets the payer choose the amount.
    pub fn receive_variable_amount(
        &self,
        description: String,
        expiry_secs: Option<u32>,
    ) -> Result<String, NodeError> {
        self.inner
            .receive_variable_amount(&description, expiry_secs)
    }

    /// Pay an invoice that states its amount; returns the payment id. The outcome arrives as
    /// `PaymentSuccessful` or `PaymentFailed` (and in `payment`).
    pub fn send(&self, invoice: String, options: Option<SendOptions>) -> Result<String, NodeError> {
        self.inner.send(&invoice, options)
    }

    /// Pay a variable-amount invoice with `amount_msat`.
    pub fn send_using_amount(
        &self,
        invoice: String,
        amount_msat: u64,
        options: Option<SendOptions>,
    ) -> Result<String, NodeError> {
        self.inner.send_using_amount(&invoice, amount_msat, options)
    }

    /// Pay `amount_msat` to `node_id` without an invoice (keysend); returns the payment id.
    pub fn send_spontaneous(
        &self,
        node_id: String,
        amount_msat: u64,
        options: Option<SendOptions>,
    ) -> Result<String, NodeError> {
        self.inner.send_spontaneous(&node_id, amount_msat, options)
    }

    /// One payment by id, if known.
    pub fn payment(&self, payment_id: String) -> Result<Option<PaymentDetails>, NodeError> {
        self.inner.payment(&payment_id)
    }

    /// Payments, newest first.
    pub fn list_payments(&self, filter: PaymentFilter) -> Result<Vec<PaymentDetails>, NodeError> {
        self.inner.list_payments(filter)
    }

    /// Wait up to `timeout_ms` for a payment to succeed or fail, and return it.
    pub fn wait_payment(
        &self,
        payment_id: String,
        timeout_ms: u64,
    ) -> Result<PaymentDetails, NodeError> {
        self.inner
            .wait_payment(&payment_id, Duration::from_millis(timeout_ms))
    }

    /// The oldest event not yet acknowledged.
    pub fn next_event(&self) -> Option<Event> {
        self.inner.next_event()
    }

    /// Wait up to `timeout_ms` (or forever) for an event.
    pub fn wait_next_event(&self, timeout_ms: Option<u64>) -> Option<Event> {
        self.inner.wait_next_event(millis(timeout_ms))
    }

    /// Acknowledge the event last returned by `next_event` / `wait_next_event` (that event, by
    /// its id, not whatever is at the head now); a second call acknowledges nothing. Events are
    /// delivered until acknowledged, across restarts, and an event LDK replays after a crash is
    /// queued once: act on an event idempotently, then acknowledge it.
    pub fn event_handled(&self) -> Result<(), NodeError> {
        self.inner.event_handled()
    }

    /// Hear about every event as it is queued; `None` removes the listener.
    pub fn set_event_listener(&self, listener: Option<Arc<dyn EventListener>>) {
        self.inner.set_event_listener(
            listener.map(|l| Arc::new(ListenerAdapter(l)) as Arc<dyn crate::event::EventListener>),
        )
    }
}

/// The `*_async` twins of the blocking calls.
#[uniffi::export]
impl Node {
    /// `start`, off the caller's thread.
    pub async fn start_async(self: Arc<Self>) -> Result<(), BuildError> {
        off_thread(move || self.inner.start()).await
    }

    /// `stop`, off the caller's thread.
    pub async fn stop_async(self: Arc<Self>) -> Result<(), NodeError> {
        off_thread(move || self.inner.stop()).await
    }

    /// `sync`, off the caller's thread.
    pub async fn sync_async(self: Arc<Self>) -> Result<(), NodeError> {
        off_thread(move || self.inner.sync()).await
    }

    /// `connect`, off the caller's thread.
    pub async fn connect_async(
        self: Arc<Self>,
        uri: String,
        persist: bool,
    ) -> Result<(), NodeError> {
        off_thread(move || self.inner.connect(&uri, persist)).await
    }

    /// `open_channel`, off the caller's thread.
    pub async fn open_channel_async(
        self: Arc<Self>,
        uri: String,
        capacity_sat: u64,
        push_msat: Option<u64>,
        announce: bool,
    ) -> Result<String, NodeError> {
        off_thread(move || {
            self.inner
                .open_channel(&uri, capacity_sat, push_msat, announce)
        })
        .await
    }

    /// `close_channel`, off the caller's thread.
    pub async fn close_channel_async(self: Arc<Self>, channel_id: String) -> Result<(), NodeError> {
        off_thread(move || self.inner.close_channel(&channel_id)).await
    }

    /// `force_close_channel`, off the caller's thread.
    pub async fn force_close_channel_async(
        self: Arc<Self>,
        channel_id: String,
        reason: Option<String>,
    ) -> Result<(), NodeError> {
        off_thread(move || self.inner.force_close_channel(&channel_id, reason)).await
    }

    /// `send_to_address`, off the caller's thread.
    pub async fn send_to_address_async(
        self: Arc<Self>,
        address: String,
        amount_sat: u64,
        fee_rate_sat_per_vb: Option<u64>,
    ) -> Result<String, NodeError> {
        off_thread(move || {
            self.inner
                .send_to_address(&address, amount_sat, fee_rate_sat_per_vb)
        })
        .await
    }

    /// `send_all_to_address`, off the caller's thread.
    pub async fn send_all_to_address_async(
        self: Arc<Self>,
        address: String,
        fee_rate_sat_per_vb: Option<u64>,
    ) -> Result<String, NodeError> {
        off_thread(move || {
            self.inner
                .send_all_to_address(&address, fee_rate_sat_per_vb)
        })
        .await
    }

    /// `send`, off the caller's thread.
    pub async fn send_async(
        self: Arc<Self>,
        invoice: String,
        options: Option<SendOptions>,
    ) -> Result<String, NodeError> {
        off_thread(move || self.inner.send(&invoice, options)).await
    }

    /// `send_using_amount`, off the caller's thread.
    pub async fn send_using_amount_async(
        self: Arc<Self>,
        invoice: String,
        amount_msat: u64,
        options: Option<SendOptions>,
    ) -> Result<String, NodeError> {
        off_thread(move || self.inner.send_using_amount(&invoice, amount_msat, options)).await
    }

    /// `send_spontaneous`, off the caller's thread.
    pub async fn send_spontaneous_async(
        self: Arc<Self>,
        node_id: String,
        amount_msat: u64,
        options: Option<SendOptions>,
    ) -> Result<String, NodeError> {
        off_thread(move || self.inner.send_spontaneous(&node_id, amount_msat, options)).await
    }

    /// `wait_payment`, off the caller's thread.
    pub async fn wait_payment_async(
        self: Arc<Self>,
        payment_id: String,
        timeout_ms: u64,
    ) -> Result<PaymentDetails, NodeError> {
        off_thread(move || {
            self.inner
                .wait_payment(&payment_id, Duration::from_millis(timeout_ms))
        })
        .await
    }

    /// `wait_next_event`, off the caller's thread. Cancelling the foreign task ends the wait
    /// within half a second.
    pub async fn next_event_async(self: Arc<Self>, timeout_ms: Option<u64>) -> Option<Event> {
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let _cancel_on_drop = tx;
        let deadline = millis(timeout_ms).map(crate::deadline_after);
        let mut rx = rx;
        off_thread(move || loop {
            let step = match deadline {
                Some(deadline) => {
                    let left = deadline.saturating_duration_since(std::time::Instant::now());
                    if left.is_zero() {
                        return None;
                    }
                    left.min(Duration::from_millis(500))
                }
                None => Duration::from_millis(500),
            };
            if let Some(event) = self.inner.wait_next_event(Some(step)) {
                return Some(event);
            }
            // The future was dropped (the foreign task cancelled): stop waiting.
            if matches!(
                rx.try_recv(),
                Err(tokio::sync::oneshot::error::TryRecvError::Closed)
            ) {
                return None;
            }
        })
        .await
    }
}

//! `Builder` and `Node` as UniFFI objects.
//!
//! Every method delegates to the real [`crate::Builder`] / [`crate::Node`]; the adapters are
//! `Arc`/`Mutex` plumbing, milliseconds for timeouts, defaults for optional arguments and the
//! foreign event listener.
//!
//! Every call that can block (disk, network, waiting) also comes as `*_async` (Kotlin `suspend`,
//! Swift `async`, Python `async def`). Those run the blocking call on the SDK's call pool: the
//! blocking-thread pool of one small tokio runtime shared by all nodes of the process, whose
//! threads are reused from call to call and leave after ten idle seconds. Its futures need no
//! particular executor, so they work the same under Kotlin coroutines, Swift's cooperative pool
//! and asyncio.
//!
//! Why not the node's own runtime: it exists only between `start` and `stop`, while `build`,
//! `status`, the payment history and the event queue are used outside that span; and the node
//! blocks on its runtime inside some calls (`connect`), which must not happen on one of that
//! runtime's own workers. Cancelling the foreign task drops the result; the call itself
//! finishes, since a half-done channel open cannot be undone.

use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use crate::config::Config;
use crate::error::{BuildError, NodeError};
use crate::event::Event;
use crate::node::{
    BackupInfo, BackupPolicy, Balances, ChannelInfo, ChannelRecovery, InvoicePreview, JitInvoice,
    JitQuote, LspServiceConfig, NodeStatus, OnchainBalance, OnchainFeeBump, OnchainFeeRates,
    OnchainSendPreview, OnchainTransaction, ParsedInput, PaymentFeeEstimate, PeerInfo,
    PendingSweep, SendOptions,
};
use crate::payment::store::{CustomRecord, PaymentDetails, PaymentFilter};
use crate::qtum::network::Network;
use crate::types::{
    ChannelId, PaymentHash, PaymentId, PaymentPreimage, PublicKey, Txid, UserChannelId,
};

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// Most calls that may block at once on the pool; more wait for a free thread.
const CALL_POOL_THREADS: usize = 64;

/// The SDK's call pool (see the module documentation), or why the system refused it.
fn call_pool() -> Result<&'static tokio::runtime::Runtime, String> {
    static POOL: OnceLock<Result<tokio::runtime::Runtime, String>> = OnceLock::new();
    POOL.get_or_init(|| {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .max_blocking_threads(CALL_POOL_THREADS)
            .thread_keep_alive(Duration::from_secs(10))
            .thread_name("qtum-ln-call")
            .build()
            .map_err(|e| e.to_string())
    })
    .as_ref()
    .map_err(Clone::clone)
}

/// Run `work` on the call pool; the future completes with its result. A panic in `work` is
/// re-raised in the future, where UniFFI turns it into the foreign language's internal error,
/// as for a blocking call.
async fn on_pool<T, F>(work: F) -> T
where
    T: Send + 'static,
    F: FnOnce() -> T + Send + 'static,
{
    let pool = match call_pool() {
        Ok(pool) => pool,
        Err(e) => std::panic::panic_any(format!("the SDK's call pool cannot start: {e}")),
    };
    match pool.spawn_blocking(work).await {
        Ok(value) => value,
        Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
        Err(e) => std::panic::panic_any(format!("the call did not finish: {e}")),
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
    #[uniffi::method(default(passphrase = None))]
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

    /// Restore the node from a backup file made by `export_backup` when building (same
    /// mnemonic or seed; the storage directory must not hold a node yet). An older backup is
    /// safe: the peers prove its channels stale, the node closes them without broadcasting,
    /// and the balances come back on chain.
    pub fn set_restore_from_backup_file(&self, path: String) {
        lock(&self.inner).set_restore_from_backup_file(std::path::Path::new(&path));
    }

    /// Keep an encrypted copy of the node on the backup server at `url`, uploaded after every
    /// change of channel state (see `NodeStatus.remote_backup_*` and `degraded_reasons`).
    pub fn set_backup_server(&self, url: String) {
        lock(&self.inner).set_backup_server(&url);
    }

    /// When a channel update counts as stored: `LOCAL_FIRST` (default) or `SERVER_CONFIRMED`
    /// (only once the backup server holds it: the server never lags the peer; payments wait
    /// while it is unreachable).
    pub fn set_backup_policy(&self, policy: BackupPolicy) {
        lock(&self.inner).set_backup_policy(policy);
    }

    /// Restore the node from the latest backup on the backup server at `url` when building
    /// (same mnemonic; the storage directory must not hold a node yet).
    pub fn set_restore_from_backup_server(&self, url: String) {
        lock(&self.inner).set_restore_from_backup_server(&url);
    }

    /// Buy inbound liquidity from the LSP at `uri` (`pubkey@host:port`): just-in-time channels
    /// (`receive_via_jit_channel`) and webhooks (`register_webhook`). `token`: what the
    /// provider asks of its clients, if anything. `trust_zero_conf`: use the provider's
    /// channels before their funding confirms, so a first payment arrives at once (the
    /// provider could double-spend the funding until then: only for a provider you trust).
    pub fn set_liquidity_source(&self, uri: String, token: Option<String>, trust_zero_conf: bool) {
        let token = token.map(zeroize::Zeroizing::new);
        lock(&self.inner).set_liquidity_source(
            &uri,
            token.as_deref().map(|t| t.as_str()),
            trust_zero_conf,
        );
    }

    /// Act as a liquidity provider: sell just-in-time channels and notify offline clients
    /// (`default_lsp_service_config` gives Qtum's defaults); with `token`, only clients that
    /// present it are served.
    pub fn set_liquidity_service(&self, config: LspServiceConfig, token: Option<String>) {
        let token = token.map(zeroize::Zeroizing::new);
        lock(&self.inner).set_liquidity_service(config, token.as_deref().map(|t| t.as_str()));
    }

    /// Open (or create) the node's store and restore its state: reads the disk and asks the
    /// chain source where the chain stands. Does not start networking.
    pub fn build(&self) -> Result<Arc<Node>, BuildError> {
        let node = lock(&self.inner).build()?;
        Ok(Arc::new(Node { inner: node }))
    }

    /// `build`, on the SDK's call pool.
    pub async fn build_async(self: Arc<Self>) -> Result<Arc<Node>, BuildError> {
        on_pool(move || self.build()).await
    }
}

// ----- Node -----

/// A Lightning node on Qtum, wrapping [`crate::Node`]. Every method is thread-safe; the ones
/// that can block have an `*_async` twin for coroutines, Swift tasks and asyncio.
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

/// How long `wait_payment` waits when no timeout is given: a payment resolves within its
/// route's CLTV budget at the very worst, but an app asking without a limit means "until it
/// resolves", so an hour per call (call again to keep waiting).
const WAIT_PAYMENT_DEFAULT_MS: u64 = 3_600_000;

#[uniffi::export]
impl Node {
    /// The node's id (hex public key).
    pub fn node_id(&self) -> PublicKey {
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
    pub fn start(&self) -> Result<(), NodeError> {
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

    /// Connect to `pubkey@host:port`; with `persist` (the default), reconnect after restarts
    /// and drops.
    #[uniffi::method(default(persist = true))]
    pub fn connect(&self, uri: String, persist: bool) -> Result<(), NodeError> {
        self.inner.connect(&uri, persist)
    }

    /// Disconnect from a peer and forget it.
    pub fn disconnect(&self, node_id: PublicKey) -> Result<(), NodeError> {
        self.inner.disconnect(&node_id)
    }

    /// Connected and remembered peers.
    pub fn list_peers(&self) -> Vec<PeerInfo> {
        self.inner.list_peers()
    }

    /// Open a channel of `capacity_sat` to the peer at `uri`, funded on chain (`push_msat`
    /// given to the peer at once; `announce` to route for others). Returns the channel's user
    /// id; watch for `ChannelPending` and `ChannelReady`.
    #[uniffi::method(default(push_msat = None, announce = false))]
    pub fn open_channel(
        &self,
        uri: String,
        capacity_sat: u64,
        push_msat: Option<u64>,
        announce: bool,
    ) -> Result<UserChannelId, NodeError> {
        self.inner
            .open_channel(&uri, capacity_sat, push_msat, announce)
    }

    /// Our channels, pending and ready.
    pub fn list_channels(&self) -> Vec<ChannelInfo> {
        self.inner.list_channels()
    }

    /// Close a channel cooperatively (by its channel id, from `ChannelInfo` or the events).
    pub fn close_channel(&self, channel_id: ChannelId) -> Result<(), NodeError> {
        self.inner.close_channel(&channel_id)
    }

    /// Change what we charge to forward out through a channel; `None` keeps a value.
    #[uniffi::method(default(base_fee_msat = None, fee_ppm = None))]
    pub fn set_channel_fees(
        &self,
        channel_id: ChannelId,
        base_fee_msat: Option<u32>,
        fee_ppm: Option<u32>,
    ) -> Result<(), NodeError> {
        self.inner
            .set_channel_fees(&channel_id, base_fee_msat, fee_ppm)
    }

    /// Force-close a channel: our funds come back after the delay the peer asked of us.
    #[uniffi::method(default(reason = None))]
    pub fn force_close_channel(
        &self,
        channel_id: ChannelId,
        reason: Option<String>,
    ) -> Result<(), NodeError> {
        self.inner.force_close_channel(&channel_id, reason)
    }

    /// Write an encrypted backup of the whole node (channels, payments, peers, wallet) to
    /// `path`, readable only with this node's seed. Written under a temporary name and renamed
    /// when complete.
    pub fn export_backup(&self, path: String) -> Result<BackupInfo, NodeError> {
        self.inner.export_backup(std::path::Path::new(&path))
    }

    /// The liquidity provider's current terms for a just-in-time channel (what
    /// `receive_via_jit_channel` would cost), to show before buying.
    pub fn jit_channel_quote(&self) -> Result<JitQuote, NodeError> {
        self.inner.jit_channel_quote()
    }

    /// An invoice for `amount_msat` payable while this node has no inbound capacity: the
    /// liquidity provider opens a channel when the payment arrives and keeps its opening fee
    /// (`JitInvoice.opening_fee_msat`). `LiquidityFeeTooHigh` when that fee would be above
    /// `max_opening_fee_msat`.
    #[uniffi::method(default(expiry_secs = None, max_opening_fee_msat = None))]
    pub fn receive_via_jit_channel(
        &self,
        amount_msat: u64,
        description: String,
        expiry_secs: Option<u32>,
        max_opening_fee_msat: Option<u64>,
    ) -> Result<JitInvoice, NodeError> {
        self.inner.receive_via_jit_channel(
            amount_msat,
            &description,
            expiry_secs,
            max_opening_fee_msat,
        )
    }

    /// A variable-amount invoice through a just-in-time channel; `LiquidityFeeTooHigh` when the
    /// provider's rate is above `max_proportional_fee_ppm`.
    #[uniffi::method(default(expiry_secs = None, max_proportional_fee_ppm = None))]
    pub fn receive_variable_amount_via_jit_channel(
        &self,
        description: String,
        expiry_secs: Option<u32>,
        max_proportional_fee_ppm: Option<u32>,
    ) -> Result<JitInvoice, NodeError> {
        self.inner.receive_variable_amount_via_jit_channel(
            &description,
            expiry_secs,
            max_proportional_fee_ppm,
        )
    }

    /// Buy a just-in-time channel on the terms of `quote` (from `jit_channel_quote`, shown to
    /// the user): `LiquidityQuoteExpired` once it has expired. `amount_msat` `None` for a
    /// variable amount.
    #[uniffi::method(default(expiry_secs = None))]
    pub fn receive_via_jit_quote(
        &self,
        quote: JitQuote,
        amount_msat: Option<u64>,
        description: String,
        expiry_secs: Option<u32>,
    ) -> Result<JitInvoice, NodeError> {
        self.inner
            .receive_via_jit_quote(quote, amount_msat, &description, expiry_secs)
    }

    /// Register an HTTPS `url` with the liquidity provider under `app_name`: it is called when
    /// a payment waits for this node while it is offline (LSPS5).
    pub fn register_webhook(&self, app_name: String, url: String) -> Result<(), NodeError> {
        self.inner.register_webhook(&app_name, &url)
    }

    /// The app names with a webhook at the liquidity provider.
    pub fn list_webhooks(&self) -> Result<Vec<String>, NodeError> {
        self.inner.list_webhooks()
    }

    /// Remove the webhook of `app_name` at the liquidity provider.
    pub fn remove_webhook(&self, app_name: String) -> Result<(), NodeError> {
        self.inner.remove_webhook(&app_name)
    }

    /// Recover channel funds without a backup after a restore from the mnemonic: connect to
    /// every peer the wallet had channels with; each force-closes, and this node's share of its
    /// close is found on chain and swept to the wallet. Stays on until
    /// `stop_channel_recovery`; show the report's `notice` to the user.
    pub fn start_channel_recovery(&self) -> Result<ChannelRecovery, NodeError> {
        self.inner.start_channel_recovery()
    }

    /// Where a recovery without backup stands (`null`: none is on).
    pub fn channel_recovery(&self) -> Option<ChannelRecovery> {
        self.inner.channel_recovery()
    }

    /// Turn the recovery without backup off.
    pub fn stop_channel_recovery(&self) -> Result<(), NodeError> {
        self.inner.stop_channel_recovery()
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

    /// Sign `message` with the node's key (lnd's and Core Lightning's `signmessage` format).
    pub fn sign_message(&self, message: Vec<u8>) -> Result<String, NodeError> {
        self.inner.sign_message(&message)
    }

    /// Whether `signature` is `node_id`'s signature of `message` (`false` for a signature that
    /// is not well-formed; `InvalidNodeId` for a node id that is not valid).
    pub fn verify_message(
        &self,
        message: Vec<u8>,
        signature: String,
        node_id: PublicKey,
    ) -> Result<bool, NodeError> {
        self.inner.verify_message(&message, &signature, &node_id)
    }

    /// Every transaction touching the on-chain wallet, newest first, with what each was for.
    pub fn list_transactions(&self) -> Vec<OnchainTransaction> {
        self.inner.list_transactions()
    }

    /// Everything the node holds: on chain, in open channels, and closed channels' funds on
    /// their way to the wallet (with the height at which each matures).
    pub fn balances(&self) -> Balances {
        self.inner.balances()
    }

    /// Send `amount_sat` on chain (at `fee_rate_sat_per_vb`, or the estimate); returns the
    /// txid.
    #[uniffi::method(default(fee_rate_sat_per_vb = None))]
    pub fn send_to_address(
        &self,
        address: String,
        amount_sat: u64,
        fee_rate_sat_per_vb: Option<u64>,
    ) -> Result<Txid, NodeError> {
        self.inner
            .send_to_address(&address, amount_sat, fee_rate_sat_per_vb)
    }

    /// What `send_to_address` would cost (fee, change, rate), without sending.
    #[uniffi::method(default(fee_rate_sat_per_vb = None))]
    pub fn preview_send_to_address(
        &self,
        address: String,
        amount_sat: u64,
        fee_rate_sat_per_vb: Option<u64>,
    ) -> Result<OnchainSendPreview, NodeError> {
        self.inner
            .preview_send_to_address(&address, amount_sat, fee_rate_sat_per_vb)
    }

    /// What `send_all_to_address` would give the recipient and cost, without sending.
    #[uniffi::method(default(fee_rate_sat_per_vb = None))]
    pub fn preview_send_all_to_address(
        &self,
        address: String,
        fee_rate_sat_per_vb: Option<u64>,
    ) -> Result<OnchainSendPreview, NodeError> {
        self.inner
            .preview_send_all_to_address(&address, fee_rate_sat_per_vb)
    }

    /// Send everything spendable on chain; returns the txid.
    #[uniffi::method(default(fee_rate_sat_per_vb = None))]
    pub fn send_all_to_address(
        &self,
        address: String,
        fee_rate_sat_per_vb: Option<u64>,
    ) -> Result<Txid, NodeError> {
        self.inner
            .send_all_to_address(&address, fee_rate_sat_per_vb)
    }

    /// Fee rates for on-chain sends (fast, normal, slow, Qtum's minimum), sat/vB, from the
    /// node's cached estimates: no network call.
    pub fn onchain_fee_rates(&self) -> OnchainFeeRates {
        self.inner.onchain_fee_rates()
    }

    /// Replace the unconfirmed send `txid` with one paying more (replace by fee), at
    /// `fee_rate_sat_per_vb` (default: the fast rate); `CannotBumpFee` says why not.
    #[uniffi::method(default(fee_rate_sat_per_vb = None))]
    pub fn bump_fee(
        &self,
        txid: Txid,
        fee_rate_sat_per_vb: Option<u64>,
    ) -> Result<OnchainFeeBump, NodeError> {
        self.inner.bump_fee(&txid, fee_rate_sat_per_vb)
    }

    /// What `text` is: an invoice, a node URI or id, a Qtum address, a `qtum:` URI, an LNURL
    /// or a Lightning Address. Nothing is fetched.
    pub fn parse_input(&self, text: String) -> Result<ParsedInput, NodeError> {
        self.inner.parse_input(&text)
    }

    /// The routing fee paying `invoice` would cost now (`amount_msat` only for an invoice
    /// without an amount).
    #[uniffi::method(default(amount_msat = None))]
    pub fn estimate_payment_fee(
        &self,
        invoice: String,
        amount_msat: Option<u64>,
    ) -> Result<PaymentFeeEstimate, NodeError> {
        self.inner.estimate_payment_fee(&invoice, amount_msat)
    }

    /// A hold invoice for `payment_hash` (64 hex digits): once paid, a `PaymentClaimable`
    /// event; settle with `claim_for_hash` or refuse with `fail_for_hash` before its deadline.
    #[uniffi::method(default(amount_msat = None, expiry_secs = None))]
    pub fn receive_for_hash(
        &self,
        payment_hash: PaymentHash,
        description: String,
        amount_msat: Option<u64>,
        expiry_secs: Option<u32>,
    ) -> Result<String, NodeError> {
        self.inner
            .receive_for_hash(payment_hash, amount_msat, &description, expiry_secs)
    }

    /// Settle a paid hold invoice with its preimage (64 hex digits).
    pub fn claim_for_hash(
        &self,
        payment_hash: PaymentHash,
        preimage: PaymentPreimage,
    ) -> Result<(), NodeError> {
        self.inner.claim_for_hash(&payment_hash, &preimage)
    }

    /// Refuse a hold invoice: what waits goes back to the payer.
    pub fn fail_for_hash(&self, payment_hash: PaymentHash) -> Result<(), NodeError> {
        self.inner.fail_for_hash(&payment_hash)
    }

    /// Decode an invoice to show it before paying (any Qtum network; others are refused).
    pub fn decode_invoice(&self, invoice: String) -> Result<InvoicePreview, NodeError> {
        self.inner.decode_invoice(&invoice)
    }

    /// A BOLT 11 invoice for `amount_msat`, expiring after `expiry_secs` (default: the
    /// configured one hour).
    #[uniffi::method(default(expiry_secs = None))]
    pub fn receive(
        &self,
        amount_msat: u64,
        description: String,
        expiry_secs: Option<u32>,
    ) -> Result<String, NodeError> {
        self.inner.receive(amount_msat, &description, expiry_secs)
    }

    /// A BOLT 11 invoice that lets the payer choose the amount.
    #[uniffi::method(default(expiry_secs = None))]
    pub fn receive_variable_amount(
        &self,
        description: String,
        expiry_secs: Option<u32>,
    ) -> Result<String, NodeError> {
        self.inner
            .receive_variable_amount(&description, expiry_secs)
    }

    /// An invoice committing to a description by its SHA-256 (64 hex digits), as LNURL-pay
    /// asks; `amount_msat` `None` lets the payer choose.
    #[uniffi::method(default(expiry_secs = None))]
    pub fn receive_for_description_hash(
        &self,
        amount_msat: Option<u64>,
        description_hash: String,
        expiry_secs: Option<u32>,
    ) -> Result<String, NodeError> {
        self.inner
            .receive_for_description_hash(amount_msat, &description_hash, expiry_secs)
    }

    /// Pay an invoice that states its amount; returns the payment id. The outcome arrives as
    /// `PaymentSuccessful` or `PaymentFailed` (and in `payment`).
    #[uniffi::method(default(options = None))]
    pub fn send(
        &self,
        invoice: String,
        options: Option<SendOptions>,
    ) -> Result<PaymentId, NodeError> {
        self.inner.send(&invoice, options)
    }

    /// Pay a variable-amount invoice with `amount_msat`.
    #[uniffi::method(default(options = None))]
    pub fn send_using_amount(
        &self,
        invoice: String,
        amount_msat: u64,
        options: Option<SendOptions>,
    ) -> Result<PaymentId, NodeError> {
        self.inner.send_using_amount(&invoice, amount_msat, options)
    }

    /// Pay `amount_msat` to `node_id` without an invoice (keysend), with `custom_records`
    /// (types 65,536 and up) in the onion; returns the payment id.
    #[uniffi::method(default(options = None, custom_records = []))]
    pub fn send_spontaneous(
        &self,
        node_id: PublicKey,
        amount_msat: u64,
        options: Option<SendOptions>,
        custom_records: Vec<CustomRecord>,
    ) -> Result<PaymentId, NodeError> {
        self.inner
            .send_spontaneous_with_records(&node_id, amount_msat, options, custom_records)
    }

    /// One payment by id, if known.
    pub fn payment(&self, payment_id: PaymentId) -> Result<Option<PaymentDetails>, NodeError> {
        self.inner.payment(&payment_id)
    }

    /// Payments, newest first (all of them without a filter).
    #[uniffi::method(default(filter = None))]
    pub fn list_payments(
        &self,
        filter: Option<PaymentFilter>,
    ) -> Result<Vec<PaymentDetails>, NodeError> {
        self.inner.list_payments(filter.unwrap_or_default())
    }

    /// Wait up to `timeout_ms` (default an hour) for a payment to succeed or fail, and return
    /// it as it then stands.
    #[uniffi::method(default(timeout_ms = None))]
    pub fn wait_payment(
        &self,
        payment_id: PaymentId,
        timeout_ms: Option<u64>,
    ) -> Result<PaymentDetails, NodeError> {
        self.inner.wait_payment(
            &payment_id,
            Duration::from_millis(timeout_ms.unwrap_or(WAIT_PAYMENT_DEFAULT_MS)),
        )
    }

    /// The oldest event not yet acknowledged.
    pub fn next_event(&self) -> Option<Event> {
        self.inner.next_event()
    }

    /// Wait up to `timeout_ms` (or forever) for an event.
    #[uniffi::method(default(timeout_ms = None))]
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

/// The `*_async` twins of every call that can block, run on the SDK's call pool.
#[uniffi::export]
impl Node {
    /// `start`, on the call pool.
    pub async fn start_async(self: Arc<Self>) -> Result<(), NodeError> {
        on_pool(move || self.inner.start()).await
    }

    /// `stop`, on the call pool.
    pub async fn stop_async(self: Arc<Self>) -> Result<(), NodeError> {
        on_pool(move || self.inner.stop()).await
    }

    /// `status`, on the call pool (it waits while a sync pass holds the status).
    pub async fn status_async(self: Arc<Self>) -> NodeStatus {
        on_pool(move || self.inner.status()).await
    }

    /// `sync`, on the call pool.
    pub async fn sync_async(self: Arc<Self>) -> Result<(), NodeError> {
        on_pool(move || self.inner.sync()).await
    }

    /// `connect`, on the call pool.
    #[uniffi::method(default(persist = true))]
    pub async fn connect_async(
        self: Arc<Self>,
        uri: String,
        persist: bool,
    ) -> Result<(), NodeError> {
        on_pool(move || self.inner.connect(&uri, persist)).await
    }

    /// `disconnect`, on the call pool.
    pub async fn disconnect_async(self: Arc<Self>, node_id: PublicKey) -> Result<(), NodeError> {
        on_pool(move || self.inner.disconnect(&node_id)).await
    }

    /// `list_peers`, on the call pool.
    pub async fn list_peers_async(self: Arc<Self>) -> Vec<PeerInfo> {
        on_pool(move || self.inner.list_peers()).await
    }

    /// `open_channel`, on the call pool.
    #[uniffi::method(default(push_msat = None, announce = false))]
    pub async fn open_channel_async(
        self: Arc<Self>,
        uri: String,
        capacity_sat: u64,
        push_msat: Option<u64>,
        announce: bool,
    ) -> Result<UserChannelId, NodeError> {
        on_pool(move || {
            self.inner
                .open_channel(&uri, capacity_sat, push_msat, announce)
        })
        .await
    }

    /// `list_channels`, on the call pool.
    pub async fn list_channels_async(self: Arc<Self>) -> Vec<ChannelInfo> {
        on_pool(move || self.inner.list_channels()).await
    }

    /// `close_channel`, on the call pool.
    pub async fn close_channel_async(
        self: Arc<Self>,
        channel_id: ChannelId,
    ) -> Result<(), NodeError> {
        on_pool(move || self.inner.close_channel(&channel_id)).await
    }

    /// `set_channel_fees`, on the call pool.
    #[uniffi::method(default(base_fee_msat = None, fee_ppm = None))]
    pub async fn set_channel_fees_async(
        self: Arc<Self>,
        channel_id: ChannelId,
        base_fee_msat: Option<u32>,
        fee_ppm: Option<u32>,
    ) -> Result<(), NodeError> {
        on_pool(move || {
            self.inner
                .set_channel_fees(&channel_id, base_fee_msat, fee_ppm)
        })
        .await
    }

    /// `force_close_channel`, on the call pool.
    #[uniffi::method(default(reason = None))]
    pub async fn force_close_channel_async(
        self: Arc<Self>,
        channel_id: ChannelId,
        reason: Option<String>,
    ) -> Result<(), NodeError> {
        on_pool(move || self.inner.force_close_channel(&channel_id, reason)).await
    }

    /// `jit_channel_quote`, on the call pool.
    pub async fn jit_channel_quote_async(self: Arc<Self>) -> Result<JitQuote, NodeError> {
        on_pool(move || self.inner.jit_channel_quote()).await
    }

    /// `receive_via_jit_channel`, on the call pool.
    #[uniffi::method(default(expiry_secs = None, max_opening_fee_msat = None))]
    pub async fn receive_via_jit_channel_async(
        self: Arc<Self>,
        amount_msat: u64,
        description: String,
        expiry_secs: Option<u32>,
        max_opening_fee_msat: Option<u64>,
    ) -> Result<JitInvoice, NodeError> {
        on_pool(move || {
            self.inner.receive_via_jit_channel(
                amount_msat,
                &description,
                expiry_secs,
                max_opening_fee_msat,
            )
        })
        .await
    }

    /// `receive_variable_amount_via_jit_channel`, on the call pool.
    #[uniffi::method(default(expiry_secs = None, max_proportional_fee_ppm = None))]
    pub async fn receive_variable_amount_via_jit_channel_async(
        self: Arc<Self>,
        description: String,
        expiry_secs: Option<u32>,
        max_proportional_fee_ppm: Option<u32>,
    ) -> Result<JitInvoice, NodeError> {
        on_pool(move || {
            self.inner.receive_variable_amount_via_jit_channel(
                &description,
                expiry_secs,
                max_proportional_fee_ppm,
            )
        })
        .await
    }

    /// `receive_via_jit_quote`, on the call pool.
    #[uniffi::method(default(expiry_secs = None))]
    pub async fn receive_via_jit_quote_async(
        self: Arc<Self>,
        quote: JitQuote,
        amount_msat: Option<u64>,
        description: String,
        expiry_secs: Option<u32>,
    ) -> Result<JitInvoice, NodeError> {
        on_pool(move || {
            self.inner
                .receive_via_jit_quote(quote, amount_msat, &description, expiry_secs)
        })
        .await
    }

    /// `register_webhook`, on the call pool.
    pub async fn register_webhook_async(
        self: Arc<Self>,
        app_name: String,
        url: String,
    ) -> Result<(), NodeError> {
        on_pool(move || self.inner.register_webhook(&app_name, &url)).await
    }

    /// `list_webhooks`, on the call pool.
    pub async fn list_webhooks_async(self: Arc<Self>) -> Result<Vec<String>, NodeError> {
        on_pool(move || self.inner.list_webhooks()).await
    }

    /// `remove_webhook`, on the call pool.
    pub async fn remove_webhook_async(self: Arc<Self>, app_name: String) -> Result<(), NodeError> {
        on_pool(move || self.inner.remove_webhook(&app_name)).await
    }

    /// `start_channel_recovery`, on the call pool.
    pub async fn start_channel_recovery_async(
        self: Arc<Self>,
    ) -> Result<ChannelRecovery, NodeError> {
        on_pool(move || self.inner.start_channel_recovery()).await
    }

    /// `channel_recovery`, on the call pool (React Native apps see only the async calls).
    pub async fn channel_recovery_async(self: Arc<Self>) -> Option<ChannelRecovery> {
        on_pool(move || self.inner.channel_recovery()).await
    }

    /// `stop_channel_recovery`, on the call pool.
    pub async fn stop_channel_recovery_async(self: Arc<Self>) -> Result<(), NodeError> {
        on_pool(move || self.inner.stop_channel_recovery()).await
    }

    /// `export_backup`, on the call pool.
    pub async fn export_backup_async(
        self: Arc<Self>,
        path: String,
    ) -> Result<BackupInfo, NodeError> {
        on_pool(move || self.inner.export_backup(std::path::Path::new(&path))).await
    }

    /// `pending_sweeps`, on the call pool.
    pub async fn pending_sweeps_async(self: Arc<Self>) -> Vec<PendingSweep> {
        on_pool(move || self.inner.pending_sweeps()).await
    }

    /// `new_address`, on the call pool.
    pub async fn new_address_async(self: Arc<Self>) -> Result<String, NodeError> {
        on_pool(move || self.inner.new_address()).await
    }

    /// `onchain_balance`, on the call pool.
    pub async fn onchain_balance_async(self: Arc<Self>) -> OnchainBalance {
        on_pool(move || self.inner.onchain_balance()).await
    }

    /// `list_transactions`, on the call pool.
    pub async fn list_transactions_async(self: Arc<Self>) -> Vec<OnchainTransaction> {
        on_pool(move || self.inner.list_transactions()).await
    }

    /// `balances`, on the call pool.
    pub async fn balances_async(self: Arc<Self>) -> Balances {
        on_pool(move || self.inner.balances()).await
    }

    /// `send_to_address`, on the call pool.
    #[uniffi::method(default(fee_rate_sat_per_vb = None))]
    pub async fn send_to_address_async(
        self: Arc<Self>,
        address: String,
        amount_sat: u64,
        fee_rate_sat_per_vb: Option<u64>,
    ) -> Result<Txid, NodeError> {
        on_pool(move || {
            self.inner
                .send_to_address(&address, amount_sat, fee_rate_sat_per_vb)
        })
        .await
    }

    /// `preview_send_to_address`, on the call pool.
    #[uniffi::method(default(fee_rate_sat_per_vb = None))]
    pub async fn preview_send_to_address_async(
        self: Arc<Self>,
        address: String,
        amount_sat: u64,
        fee_rate_sat_per_vb: Option<u64>,
    ) -> Result<OnchainSendPreview, NodeError> {
        on_pool(move || {
            self.inner
                .preview_send_to_address(&address, amount_sat, fee_rate_sat_per_vb)
        })
        .await
    }

    /// `preview_send_all_to_address`, on the call pool.
    #[uniffi::method(default(fee_rate_sat_per_vb = None))]
    pub async fn preview_send_all_to_address_async(
        self: Arc<Self>,
        address: String,
        fee_rate_sat_per_vb: Option<u64>,
    ) -> Result<OnchainSendPreview, NodeError> {
        on_pool(move || {
            self.inner
                .preview_send_all_to_address(&address, fee_rate_sat_per_vb)
        })
        .await
    }

    /// `send_all_to_address`, on the call pool.
    #[uniffi::method(default(fee_rate_sat_per_vb = None))]
    pub async fn send_all_to_address_async(
        self: Arc<Self>,
        address: String,
        fee_rate_sat_per_vb: Option<u64>,
    ) -> Result<Txid, NodeError> {
        on_pool(move || {
            self.inner
                .send_all_to_address(&address, fee_rate_sat_per_vb)
        })
        .await
    }

    /// `decode_invoice`, on the call pool.
    pub async fn decode_invoice_async(
        self: Arc<Self>,
        invoice: String,
    ) -> Result<InvoicePreview, NodeError> {
        on_pool(move || self.inner.decode_invoice(&invoice)).await
    }

    /// `receive`, on the call pool.
    #[uniffi::method(default(expiry_secs = None))]
    pub async fn receive_async(
        self: Arc<Self>,
        amount_msat: u64,
        description: String,
        expiry_secs: Option<u32>,
    ) -> Result<String, NodeError> {
        on_pool(move || self.inner.receive(amount_msat, &description, expiry_secs)).await
    }

    /// `receive_variable_amount`, on the call pool.
    #[uniffi::method(default(expiry_secs = None))]
    pub async fn receive_variable_amount_async(
        self: Arc<Self>,
        description: String,
        expiry_secs: Option<u32>,
    ) -> Result<String, NodeError> {
        on_pool(move || {
            self.inner
                .receive_variable_amount(&description, expiry_secs)
        })
        .await
    }

    /// `receive_for_description_hash`, on the call pool.
    #[uniffi::method(default(expiry_secs = None))]
    pub async fn receive_for_description_hash_async(
        self: Arc<Self>,
        amount_msat: Option<u64>,
        description_hash: String,
        expiry_secs: Option<u32>,
    ) -> Result<String, NodeError> {
        on_pool(move || {
            self.inner
                .receive_for_description_hash(amount_msat, &description_hash, expiry_secs)
        })
        .await
    }

    /// `send`, on the call pool.
    #[uniffi::method(default(options = None))]
    pub async fn send_async(
        self: Arc<Self>,
        invoice: String,
        options: Option<SendOptions>,
    ) -> Result<PaymentId, NodeError> {
        on_pool(move || self.inner.send(&invoice, options)).await
    }

    /// `send_using_amount`, on the call pool.
    #[uniffi::method(default(options = None))]
    pub async fn send_using_amount_async(
        self: Arc<Self>,
        invoice: String,
        amount_msat: u64,
        options: Option<SendOptions>,
    ) -> Result<PaymentId, NodeError> {
        on_pool(move || self.inner.send_using_amount(&invoice, amount_msat, options)).await
    }

    /// `send_spontaneous`, on the call pool.
    #[uniffi::method(default(options = None, custom_records = []))]
    pub async fn send_spontaneous_async(
        self: Arc<Self>,
        node_id: PublicKey,
        amount_msat: u64,
        options: Option<SendOptions>,
        custom_records: Vec<CustomRecord>,
    ) -> Result<PaymentId, NodeError> {
        on_pool(move || {
            self.inner
                .send_spontaneous_with_records(&node_id, amount_msat, options, custom_records)
        })
        .await
    }

    /// `onchain_fee_rates`, on the call pool.
    pub async fn onchain_fee_rates_async(self: Arc<Self>) -> OnchainFeeRates {
        on_pool(move || self.inner.onchain_fee_rates()).await
    }

    /// `bump_fee`, on the call pool.
    #[uniffi::method(default(fee_rate_sat_per_vb = None))]
    pub async fn bump_fee_async(
        self: Arc<Self>,
        txid: Txid,
        fee_rate_sat_per_vb: Option<u64>,
    ) -> Result<OnchainFeeBump, NodeError> {
        on_pool(move || self.inner.bump_fee(&txid, fee_rate_sat_per_vb)).await
    }

    /// `parse_input`, on the call pool.
    pub async fn parse_input_async(
        self: Arc<Self>,
        text: String,
    ) -> Result<ParsedInput, NodeError> {
        on_pool(move || self.inner.parse_input(&text)).await
    }

    /// `estimate_payment_fee`, on the call pool.
    #[uniffi::method(default(amount_msat = None))]
    pub async fn estimate_payment_fee_async(
        self: Arc<Self>,
        invoice: String,
        amount_msat: Option<u64>,
    ) -> Result<PaymentFeeEstimate, NodeError> {
        on_pool(move || self.inner.estimate_payment_fee(&invoice, amount_msat)).await
    }

    /// `receive_for_hash`, on the call pool.
    #[uniffi::method(default(amount_msat = None, expiry_secs = None))]
    pub async fn receive_for_hash_async(
        self: Arc<Self>,
        payment_hash: PaymentHash,
        description: String,
        amount_msat: Option<u64>,
        expiry_secs: Option<u32>,
    ) -> Result<String, NodeError> {
        on_pool(move || {
            self.inner
                .receive_for_hash(payment_hash, amount_msat, &description, expiry_secs)
        })
        .await
    }

    /// `claim_for_hash`, on the call pool.
    pub async fn claim_for_hash_async(
        self: Arc<Self>,
        payment_hash: PaymentHash,
        preimage: PaymentPreimage,
    ) -> Result<(), NodeError> {
        on_pool(move || self.inner.claim_for_hash(&payment_hash, &preimage)).await
    }

    /// `fail_for_hash`, on the call pool.
    pub async fn fail_for_hash_async(
        self: Arc<Self>,
        payment_hash: PaymentHash,
    ) -> Result<(), NodeError> {
        on_pool(move || self.inner.fail_for_hash(&payment_hash)).await
    }

    /// `payment`, on the call pool.
    pub async fn payment_async(
        self: Arc<Self>,
        payment_id: PaymentId,
    ) -> Result<Option<PaymentDetails>, NodeError> {
        on_pool(move || self.inner.payment(&payment_id)).await
    }

    /// `list_payments`, on the call pool.
    #[uniffi::method(default(filter = None))]
    pub async fn list_payments_async(
        self: Arc<Self>,
        filter: Option<PaymentFilter>,
    ) -> Result<Vec<PaymentDetails>, NodeError> {
        on_pool(move || self.inner.list_payments(filter.unwrap_or_default())).await
    }

    /// `wait_payment`, on the call pool.
    #[uniffi::method(default(timeout_ms = None))]
    pub async fn wait_payment_async(
        self: Arc<Self>,
        payment_id: PaymentId,
        timeout_ms: Option<u64>,
    ) -> Result<PaymentDetails, NodeError> {
        on_pool(move || {
            self.inner.wait_payment(
                &payment_id,
                Duration::from_millis(timeout_ms.unwrap_or(WAIT_PAYMENT_DEFAULT_MS)),
            )
        })
        .await
    }

    /// `event_handled`, on the call pool.
    pub async fn event_handled_async(self: Arc<Self>) -> Result<(), NodeError> {
        on_pool(move || self.inner.event_handled()).await
    }

    /// `wait_next_event`, on the call pool. Cancelling the foreign task ends the wait within
    /// half a second (the pool's thread is free again then).
    #[uniffi::method(default(timeout_ms = None))]
    pub async fn next_event_async(self: Arc<Self>, timeout_ms: Option<u64>) -> Option<Event> {
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let _cancel_on_drop = tx;
        let deadline = millis(timeout_ms).map(crate::deadline_after);
        let mut rx = rx;
        on_pool(move || loop {
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

#[cfg(test)]
mod tests {
    use super::on_pool;

    fn run<T>(future: impl std::future::Future<Output = T>) -> T {
        tokio::runtime::Builder::new_current_thread()
            .build()
            .expect("runtime")
            .block_on(future)
    }

    #[test]
    fn calls_reuse_the_pools_threads() {
        // One after another, calls find the previous call's thread idle and run on it (a
        // thread per call, as before, would give 20 different threads).
        let threads: std::collections::HashSet<_> = (0..20)
            .map(|_| run(on_pool(|| std::thread::current().id())))
            .collect();
        assert!(threads.len() < 20, "{} threads for 20 calls", threads.len());
        let name = run(on_pool(|| {
            std::thread::current().name().map(str::to_string)
        }));
        assert_eq!(name.as_deref(), Some("qtum-ln-call"));
    }

    #[test]
    fn a_panic_in_a_call_reaches_the_caller() {
        let outcome = std::panic::catch_unwind(|| run(on_pool(|| -> u8 { panic!("a bug") })));
        let panic = outcome.expect_err("the panic is re-raised in the future");
        assert_eq!(panic.downcast_ref::<&str>(), Some(&"a bug"));
        // The pool survives it.
        assert_eq!(run(on_pool(|| 7)), 7);
    }
}

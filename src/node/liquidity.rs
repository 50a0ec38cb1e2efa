//! Inbound liquidity: LSPS2 just-in-time channels and LSPS5 webhooks, on both sides.
//!
//! **Client (a phone).** With a liquidity provider configured
//! ([`Builder::set_liquidity_source`](crate::Builder::set_liquidity_source)), a node with no
//! channel can still be paid: [`Node::receive_via_jit_channel`] buys a promise from the
//! provider (LSPS2 `get_info`, then `buy`) and returns an invoice whose route hint names an
//! intercept short channel id at the provider. When the payment arrives there, the provider
//! opens a channel to us, keeps its opening fee from the payment and forwards the rest. The
//! fee is shown before anything is bought ([`Node::jit_channel_quote`]) and checked again when
//! the payment arrives: a payment from which the provider kept more than it quoted is failed
//! back, and so is any other payment from which a forwarding node kept something.
//!
//! Zero-confirmation is a choice the app makes when configuring the provider: with it, the
//! provider's channel is usable before its funding confirms, so the payment arrives at once;
//! the provider could double-spend the funding until then, so only a trusted provider should
//! get it. Without it, the channel waits for the usual confirmations and the payment with it.
//!
//! **Service (the server node).** With [`LspServiceConfig`] the node answers LSPS2 requests:
//! one fee menu entry from its configuration, a promise bound to the client and the parameters
//! by an HMAC whose key comes from the node's seed, an intercept scid per purchase, and a
//! channel when the payment arrives (funded at Qtum's fee floor or above, like every funding
//! of this node). A client that is offline when its payment arrives gets an LSPS5 webhook
//! notification; its channel is opened once it connects, while the payer's HTLC waits.
//!
//! Messages go through LDK's peer connections (LSPS0 over custom message type 37913); the
//! protocol state machines are lightning-liquidity's. Its events are drained by
//! [`pump`]: on a server every 100 ms, on a client while a call waits for the provider's
//! answer (a phone polls nothing when it is not asking).

use std::collections::HashMap;
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use bitcoin::hashes::{sha256, Hash, HashEngine, Hmac, HmacEngine};
use bitcoin::secp256k1::{PublicKey, Secp256k1};
use lightning::routing::gossip::RoutingFees;
use lightning::routing::router::{RouteHint, RouteHintHop};
use lightning::util::persist::KVStoreSync;
use lightning_invoice::{Bolt11InvoiceDescription, Description, InvoiceBuilder};
use lightning_liquidity::events::LiquidityEvent;
use lightning_liquidity::lsps0::ser::{LSPSDateTime, LSPSRequestId, LSPSResponseError};
use lightning_liquidity::lsps2::client::LSPS2ClientConfig;
use lightning_liquidity::lsps2::event::{LSPS2ClientEvent, LSPS2ServiceEvent};
use lightning_liquidity::lsps2::msgs::{LSPS2OpeningFeeParams, LSPS2RawOpeningFeeParams};
use lightning_liquidity::lsps2::service::LSPS2ServiceConfig;
use lightning_liquidity::lsps2::utils::compute_opening_fee;
use lightning_liquidity::lsps5::client::LSPS5ClientConfig;
use lightning_liquidity::lsps5::event::{LSPS5ClientEvent, LSPS5ServiceEvent};
use lightning_liquidity::lsps5::msgs::LSPS5Error;
use lightning_liquidity::lsps5::service::LSPS5ServiceConfig;
use lightning_liquidity::utils::time::DefaultTimeProvider;
use lightning_liquidity::{LiquidityClientConfig, LiquidityManagerSync, LiquidityServiceConfig};
use serde::{Deserialize, Serialize};

use crate::error::NodeError;
use crate::io::sqlite_store::SqliteStore;
use crate::node::types::{ChannelManager, DynBroadcaster, DynFilter};
use crate::node::{Node, NodeInner};
use crate::payment::store::{new_payment, PaymentDirection, PaymentKind};
use crate::peer::NodeUri;
use crate::types::PaymentId;

/// lightning-liquidity's manager over this node's LDK objects.
pub(crate) type LiquidityManager = LiquidityManagerSync<
    Arc<lightning::sign::KeysManager>,
    Arc<lightning::sign::KeysManager>,
    Arc<ChannelManager>,
    Arc<DynFilter>,
    Arc<SqliteStore>,
    DefaultTimeProvider,
    Arc<DynBroadcaster>,
>;

/// How long a call waits for the provider's answer.
const ANSWER_TIMEOUT: Duration = Duration::from_secs(30);
/// Where the client keeps what it agreed to pay per JIT invoice (checked when it is paid).
const JIT_NAMESPACE: &str = "qtumln_jit";
/// Room for the commitment transaction's fee and the reserve the client asks the provider to
/// keep: the funder pays the commitment fee, which at Qtum's floor rate (400 sat/vB) and with a
/// few HTLCs and LDK's fee-spike buffer approaches 0.004 QTUM. Without it the provider's new
/// channel could not forward the very payment it was opened for.
const CHANNEL_FEE_ROOM_SAT: u64 = 500_000;
/// Most webhooks a client may register.
const MAX_WEBHOOKS_PER_CLIENT: u32 = 5;

/// A liquidity provider this node buys inbound channels from. `Debug` leaves the token out.
#[derive(Clone, PartialEq, Eq)]
pub(crate) struct LiquiditySource {
    pub(crate) uri: NodeUri,
    pub(crate) token: Option<String>,
    pub(crate) trust_zero_conf: bool,
}

impl std::fmt::Debug for LiquiditySource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LiquiditySource")
            .field("uri", &self.uri.to_string())
            .field("token", &self.token.as_ref().map(|_| "<redacted>"))
            .field("trust_zero_conf", &self.trust_zero_conf)
            .finish()
    }
}

/// What a node acting as liquidity provider (LSP) offers, and charges (the token clients
/// must present, a secret, is given apart: `Builder::set_liquidity_service`). The defaults
/// ([`LspServiceConfig::default`]) are Qtum's: an opening costs the provider a funding
/// transaction at 400 sat/vB or more and, some day, a closing one, so the minimum fee covers
/// both with room; the smallest payment leaves the client more than Qtum's dust limits.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "uniffi", derive(uniffi::Record))]
pub struct LspServiceConfig {
    /// The smallest opening fee, in millisatoshi (default 0.002 QTUM).
    pub min_opening_fee_msat: u64,
    /// The opening fee in millionths of the payment, when above the minimum (default 1 %).
    pub opening_fee_ppm: u32,
    /// The smallest first payment a channel is opened for, in millisatoshi (default
    /// 0.01 QTUM).
    pub min_payment_msat: u64,
    /// The largest first payment a channel is opened for, in millisatoshi (default 10 QTUM).
    pub max_payment_msat: u64,
    /// How long the provider promises to keep a new channel open, in blocks (default 81,000:
    /// 30 days of 32-second blocks).
    pub min_channel_lifetime_blocks: u32,
    /// The longest `to_self_delay` a client may ask of the provider, in blocks (default
    /// 20,160, what this SDK accepts).
    pub max_client_to_self_delay_blocks: u32,
    /// How long a fee quote can be used to buy, in seconds (default 3,600). An unpaid
    /// just-in-time invoice lapses with its quote: the provider forgets the purchase.
    pub quote_validity_secs: u32,
    /// Extra inbound capacity in the new channel, in millionths of the first payment (default
    /// 1,000,000: the channel is twice the payment, so the client can receive as much again).
    pub channel_over_provisioning_ppm: u32,
    /// PEM file of the certificate authorities webhook servers must chain to, for a private
    /// push gateway; `None` uses the usual public roots.
    pub webhook_ca_file: Option<String>,
}

impl Default for LspServiceConfig {
    fn default() -> Self {
        LspServiceConfig {
            min_opening_fee_msat: 200_000_000,
            opening_fee_ppm: 10_000,
            min_payment_msat: 1_000_000_000,
            max_payment_msat: 1_000_000_000_000,
            min_channel_lifetime_blocks: 81_000,
            max_client_to_self_delay_blocks: 20_160,
            quote_validity_secs: 3_600,
            channel_over_provisioning_ppm: 1_000_000,
            webhook_ca_file: None,
        }
    }
}

impl LspServiceConfig {
    /// Refuses settings with which no channel could ever be sold: `max_channel_size_sat` is
    /// the node's largest channel (`Config::max_channel_size_sat`).
    pub fn validate(&self, max_channel_size_sat: u64) -> Result<(), String> {
        if self.min_payment_msat == 0 || self.min_payment_msat > self.max_payment_msat {
            return Err(format!(
                "LSP payments: min {} msat must be above 0 and at most max {} msat",
                self.min_payment_msat, self.max_payment_msat
            ));
        }
        if self.min_opening_fee_msat >= self.min_payment_msat {
            return Err(format!(
                "LSP opening fee minimum {} msat leaves nothing of the smallest payment {} msat",
                self.min_opening_fee_msat, self.min_payment_msat
            ));
        }
        // What the client is left with must be a real output on Qtum: above the floor LDK's
        // patched dust and reserve limits never go under.
        let floor_msat = qtum_primitives::policy::BOLT_DUST_LIMIT_FLOOR_SAT * 1000;
        if self
            .min_payment_msat
            .saturating_sub(self.min_opening_fee_msat)
            < floor_msat
        {
            return Err(format!(
                "LSP smallest payment {} msat less the fee minimum {} msat leaves the client \
                 under Qtum's {floor_msat} msat dust floor",
                self.min_payment_msat, self.min_opening_fee_msat
            ));
        }
        if self.opening_fee_ppm > 1_000_000 {
            return Err(format!(
                "LSP opening_fee_ppm {} is above 1,000,000 (all of the payment)",
                self.opening_fee_ppm
            ));
        }
        if self.quote_validity_secs < 10 {
            return Err("LSP quote_validity_secs must be at least 10".into());
        }
        let largest = channel_size_sat(self, self.max_payment_msat);
        if largest > max_channel_size_sat {
            return Err(format!(
                "LSP max_payment_msat {} needs channels of {largest} sat, above \
                 max_channel_size_sat {max_channel_size_sat}",
                self.max_payment_msat
            ));
        }
        Ok(())
    }
}

/// The channel the provider opens for a forward of `amt_to_forward_msat`.
fn channel_size_sat(config: &LspServiceConfig, amt_to_forward_msat: u64) -> u64 {
    let forward_sat = amt_to_forward_msat.div_ceil(1000);
    let extra = u64::try_from(
        u128::from(forward_sat) * u128::from(config.channel_over_provisioning_ppm) / 1_000_000,
    )
    .unwrap_or(u64::MAX);
    forward_sat
        .saturating_add(extra)
        .saturating_add(CHANNEL_FEE_ROOM_SAT)
}

/// A fee offer from the liquidity provider: what a just-in-time channel costs. The fee for a
/// payment of `amount` msat is `max(min_fee_msat, ceil(amount × proportional_ppm / 10⁶))`
/// ([`JitQuote::fee_for`]).
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "uniffi", derive(uniffi::Record))]
pub struct JitQuote {
    /// The provider (hex node id).
    pub lsp_node_id: crate::types::PublicKey,
    /// The smallest fee, in millisatoshi.
    pub min_fee_msat: u64,
    /// The fee in millionths of the payment, when above the minimum.
    pub proportional_ppm: u32,
    /// Until when the quote can be used (seconds since the Unix epoch).
    pub valid_until_secs: u64,
    /// The same, exactly as the provider wrote it (RFC 3339): part of what `promise` signs.
    pub valid_until: String,
    /// The smallest payment the provider opens a channel for, in millisatoshi.
    pub min_payment_msat: u64,
    /// The largest, in millisatoshi.
    pub max_payment_msat: u64,
    /// How long the provider promises to keep the channel open, in blocks.
    pub min_lifetime_blocks: u32,
    /// The longest `to_self_delay` the client may ask of the provider, in blocks.
    pub max_client_to_self_delay_blocks: u32,
    /// The provider's signature over these terms (opaque).
    pub promise: String,
}

impl JitQuote {
    /// The opening fee for a payment of `amount_msat`, or `None` on overflow.
    pub fn fee_for(&self, amount_msat: u64) -> Option<u64> {
        compute_opening_fee(
            amount_msat,
            self.min_fee_msat,
            u64::from(self.proportional_ppm),
        )
    }

    fn from_params(lsp: PublicKey, p: &LSPS2OpeningFeeParams) -> JitQuote {
        JitQuote {
            lsp_node_id: lsp,
            min_fee_msat: p.min_fee_msat,
            proportional_ppm: p.proportional,
            valid_until_secs: p.valid_until.0.timestamp().max(0) as u64,
            valid_until: p.valid_until.to_rfc3339(),
            min_payment_msat: p.min_payment_size_msat,
            max_payment_msat: p.max_payment_size_msat,
            min_lifetime_blocks: p.min_lifetime,
            max_client_to_self_delay_blocks: p.max_client_to_self_delay,
            promise: p.promise.clone(),
        }
    }

    fn to_params(&self) -> Result<LSPS2OpeningFeeParams, NodeError> {
        let valid_until: LSPSDateTime = self.valid_until.parse().map_err(|()| {
            NodeError::InvalidInput(format!(
                "valid_until '{}' is not RFC 3339",
                self.valid_until
            ))
        })?;
        Ok(LSPS2OpeningFeeParams {
            min_fee_msat: self.min_fee_msat,
            proportional: self.proportional_ppm,
            valid_until,
            min_lifetime: self.min_lifetime_blocks,
            max_client_to_self_delay: self.max_client_to_self_delay_blocks,
            min_payment_size_msat: self.min_payment_msat,
            max_payment_size_msat: self.max_payment_msat,
            promise: self.promise.clone(),
        })
    }
}

/// A just-in-time invoice and what it costs.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "uniffi", derive(uniffi::Record))]
pub struct JitInvoice {
    /// The BOLT 11 invoice to give the payer.
    pub invoice: String,
    /// The opening fee the provider keeps, in millisatoshi; `None` for a variable-amount
    /// invoice, whose fee follows from the amount paid (`quote.fee_for`).
    pub opening_fee_msat: Option<u64>,
    /// The terms bought.
    pub quote: JitQuote,
}

/// What the client agreed to pay for one JIT invoice, kept until it is paid.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct JitTerms {
    lsp_node_id: String,
    /// The fee of a fixed-amount invoice.
    fixed_fee_msat: Option<u64>,
    min_fee_msat: u64,
    proportional_ppm: u32,
}

/// An answer of the provider to one of our requests.
#[derive(Debug)]
enum Answer {
    Menu(Vec<LSPS2OpeningFeeParams>),
    InvoiceParams {
        intercept_scid: u64,
        cltv_expiry_delta: u32,
    },
    Failed(LSPSResponseError),
    WebhookSet,
    WebhookFailed(String),
    Webhooks(Vec<String>),
}

/// A channel open the provider owes a client that was offline. Kept in the store: the
/// payer's HTLC waits across a restart of the provider, and so does the debt (lightning-liquidity
/// may also replay its `OpenChannel` event after a restart; `try_open` makes both harmless).
#[derive(Debug, Clone, Serialize, Deserialize)]
struct PendingOpen {
    #[serde(with = "crate::types::as_text")]
    client: PublicKey,
    amt_to_forward_msat: u64,
    /// As text: JSON numbers do not hold 128 bits everywhere.
    #[serde(with = "u128_text")]
    user_channel_id: u128,
    /// The scid sold: when LDK fails the waiting HTLC back (near its expiry), the debt ends.
    intercept_scid: u64,
}

mod u128_text {
    use serde::{Deserialize, Deserializer, Serializer};

    pub(super) fn serialize<S: Serializer>(v: &u128, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&v.to_string())
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<u128, D::Error> {
        String::deserialize(d)?
            .parse()
            .map_err(serde::de::Error::custom)
    }
}

/// Where the provider keeps the opens it owes (`PendingOpen`).
const LSP_NAMESPACE: &str = "qtumln_lsp";
const PENDING_OPENS_KEY: &str = "pending_opens";
/// Answers nobody waits for any more (a call that timed out) are dropped beyond this many.
const MAX_KEPT_ANSWERS: usize = 64;

/// The node's liquidity side.
pub(crate) struct Liquidity {
    pub(crate) manager: Arc<LiquidityManager>,
    pub(crate) source: Option<LiquiditySource>,
    pub(crate) service: Option<LspServiceConfig>,
    /// SHA-256 of the token the provider asks of its clients (compared as digests: the
    /// comparison's timing says nothing about the token).
    service_token: Option<[u8; 32]>,
    /// One `pump` at a time: the provider's loop and a waiting call may both drain.
    pump_lock: Mutex<()>,
    /// Webhook posts under way (each on a thread of its own), bounded.
    webhooks_in_flight: Arc<std::sync::atomic::AtomicUsize>,
    answers: Mutex<HashMap<String, Answer>>,
    answered: Condvar,
    pending_opens: Mutex<Vec<PendingOpen>>,
    store: Arc<SqliteStore>,
    webhook_agent: Option<Arc<qtum_chain::HttpAgent>>,
}

fn token_digest(token: &str) -> [u8; 32] {
    sha256::Hash::hash(token.as_bytes()).to_byte_array()
}

/// Most webhook posts under way at once; notifications beyond are dropped (logged).
const MAX_WEBHOOKS_IN_FLIGHT: usize = 8;

/// The HMAC key of the provider's promises: from the node's seed, so promises survive a
/// restart, and domain-separated from every other key.
pub(crate) fn promise_secret(ldk_seed: &[u8; 32]) -> [u8; 32] {
    let mut engine = HmacEngine::<sha256::Hash>::new(b"qtum-ln lsps2 promise");
    engine.input(ldk_seed);
    Hmac::<sha256::Hash>::from_engine(engine).to_byte_array()
}

impl Liquidity {
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn new(
        keys: Arc<lightning::sign::KeysManager>,
        channel_manager: Arc<ChannelManager>,
        store: Arc<SqliteStore>,
        broadcaster: Arc<DynBroadcaster>,
        source: Option<LiquiditySource>,
        service: Option<LspServiceConfig>,
        service_token: Option<&str>,
        promise_secret: [u8; 32],
    ) -> Result<Liquidity, String> {
        let service_config = service.as_ref().map(|_| LiquidityServiceConfig {
            lsps2_service_config: Some(LSPS2ServiceConfig { promise_secret }),
            lsps5_service_config: Some(LSPS5ServiceConfig {
                max_webhooks_per_client: MAX_WEBHOOKS_PER_CLIENT,
            }),
            advertise_service: true,
        });
        let client_config = Some(LiquidityClientConfig {
            lsps1_client_config: None,
            lsps2_client_config: Some(LSPS2ClientConfig::default()),
            lsps5_client_config: Some(LSPS5ClientConfig::default()),
        });
        let pending_opens: Vec<PendingOpen> = match store.read(LSP_NAMESPACE, "", PENDING_OPENS_KEY)
        {
            Ok(bytes) => serde_json::from_slice(&bytes)
                .map_err(|e| format!("pending JIT channel opens: {e}"))?,
            Err(e) if e.kind() == lightning::io::ErrorKind::NotFound => Vec::new(),
            Err(e) => return Err(format!("pending JIT channel opens: {e}")),
        };
        let manager = LiquidityManagerSync::new(
            keys.clone(),
            keys,
            channel_manager,
            None,
            None,
            store.clone(),
            broadcaster,
            service_config,
            client_config,
        )
        .map_err(|e| format!("liquidity state: {e}"))?;
        let webhook_agent = service.as_ref().map(|s| {
            Arc::new(qtum_chain::HttpAgent::new(
                Duration::from_secs(10),
                s.webhook_ca_file.as_deref().map(std::path::Path::new),
            ))
        });
        Ok(Liquidity {
            manager: Arc::new(manager),
            source,
            service,
            service_token: service_token.map(token_digest),
            pump_lock: Mutex::new(()),
            webhooks_in_flight: Arc::new(std::sync::atomic::AtomicUsize::new(0)),
            answers: Mutex::new(HashMap::new()),
            answered: Condvar::new(),
            pending_opens: Mutex::new(pending_opens),
            store,
            webhook_agent,
        })
    }

    fn answer(&self, request_id: &LSPSRequestId, answer: Answer) {
        let mut answers = self.answers.lock().unwrap_or_else(|p| p.into_inner());
        if answers.len() >= MAX_KEPT_ANSWERS {
            answers.clear();
        }
        answers.insert(request_id.0.clone(), answer);
        self.answered.notify_all();
    }

    /// Change the owed opens and write them down; `false` if the write failed (logged).
    fn update_pending(&self, change: impl FnOnce(&mut Vec<PendingOpen>)) -> bool {
        let mut pending = self.pending_opens.lock().unwrap_or_else(|p| p.into_inner());
        change(&mut pending);
        let written = serde_json::to_vec(&*pending)
            .map_err(|e| e.to_string())
            .and_then(|bytes| {
                self.store
                    .write(LSP_NAMESPACE, "", PENDING_OPENS_KEY, bytes)
                    .map_err(|e| e.to_string())
            });
        if let Err(e) = &written {
            log::error!("LSPS2: writing the pending channel opens: {e}");
        }
        written.is_ok()
    }
}

/// Act on lightning-liquidity's events: answers to our requests go to the waiting call,
/// requests of clients are served.
pub(crate) fn pump(inner: &NodeInner) {
    let liquidity = &inner.liquidity;
    // Another thread is draining: it routes our answers too.
    let Ok(_pumping) = liquidity.pump_lock.try_lock() else {
        return;
    };
    for event in liquidity.manager.get_and_clear_pending_events() {
        match event {
            LiquidityEvent::LSPS2Client(event) => match event {
                LSPS2ClientEvent::OpeningParametersReady {
                    request_id,
                    opening_fee_params_menu,
                    ..
                } => liquidity.answer(&request_id, Answer::Menu(opening_fee_params_menu)),
                LSPS2ClientEvent::InvoiceParametersReady {
                    request_id,
                    intercept_scid,
                    cltv_expiry_delta,
                    ..
                } => liquidity.answer(
                    &request_id,
                    Answer::InvoiceParams {
                        intercept_scid,
                        cltv_expiry_delta,
                    },
                ),
                LSPS2ClientEvent::GetInfoFailed {
                    request_id, error, ..
                }
                | LSPS2ClientEvent::BuyRequestFailed {
                    request_id, error, ..
                } => liquidity.answer(&request_id, Answer::Failed(error)),
            },
            LiquidityEvent::LSPS5Client(event) => match event {
                LSPS5ClientEvent::WebhookRegistered { request_id, .. }
                | LSPS5ClientEvent::WebhookRemoved { request_id, .. } => {
                    liquidity.answer(&request_id, Answer::WebhookSet)
                }
                LSPS5ClientEvent::WebhookRegistrationFailed {
                    request_id, error, ..
                }
                | LSPS5ClientEvent::WebhookRemovalFailed {
                    request_id, error, ..
                } => liquidity.answer(&request_id, Answer::WebhookFailed(lsps5_text(&error))),
                LSPS5ClientEvent::WebhooksListed {
                    request_id,
                    app_names,
                    ..
                } => liquidity.answer(
                    &request_id,
                    Answer::Webhooks(app_names.iter().map(|a| a.to_string()).collect()),
                ),
            },
            LiquidityEvent::LSPS2Service(event) => serve_lsps2(inner, event),
            LiquidityEvent::LSPS5Service(LSPS5ServiceEvent::SendWebhookNotification {
                counterparty_node_id,
                url,
                notification,
                headers,
                ..
            }) => send_webhook(
                inner,
                counterparty_node_id,
                url.as_str(),
                &notification,
                headers,
            ),
            other => log::debug!("liquidity event not used: {other:?}"),
        }
    }
    retry_pending_opens(inner);
}

fn serve_lsps2(inner: &NodeInner, event: LSPS2ServiceEvent) {
    let (Some(config), Some(handler)) = (
        inner.liquidity.service.as_ref(),
        inner.liquidity.manager.lsps2_service_handler(),
    ) else {
        return;
    };
    match event {
        LSPS2ServiceEvent::GetInfo {
            request_id,
            counterparty_node_id,
            token,
        } => {
            let accepted = match &inner.liquidity.service_token {
                None => true,
                Some(expected) => token.as_deref().map(token_digest) == Some(*expected),
            };
            if !accepted {
                log::info!("LSPS2 get_info from {counterparty_node_id}: wrong or missing token");
                if let Err(e) = handler.invalid_token_provided(&counterparty_node_id, request_id) {
                    log::warn!("LSPS2: refusing a token: {e:?}");
                }
                return;
            }
            // Whole seconds: the promise signs the text of this time.
            let valid_until = Duration::from_secs(
                SystemTime::now()
                    .duration_since(UNIX_EPOCH)
                    .unwrap_or_default()
                    .as_secs()
                    + u64::from(config.quote_validity_secs),
            );
            let params = LSPS2RawOpeningFeeParams {
                min_fee_msat: config.min_opening_fee_msat,
                proportional: config.opening_fee_ppm,
                valid_until: LSPSDateTime::new_from_duration_since_epoch(valid_until),
                min_lifetime: config.min_channel_lifetime_blocks,
                max_client_to_self_delay: config.max_client_to_self_delay_blocks,
                min_payment_size_msat: config.min_payment_msat,
                max_payment_size_msat: config.max_payment_msat,
            };
            if let Err(e) = handler.opening_fee_params_generated(
                &counterparty_node_id,
                request_id,
                vec![params],
            ) {
                log::warn!("LSPS2: answering get_info of {counterparty_node_id}: {e:?}");
            }
        }
        LSPS2ServiceEvent::BuyRequest {
            request_id,
            counterparty_node_id,
            payment_size_msat,
            ..
        } => {
            let intercept_scid = inner.channel_manager.get_intercept_scid();
            let user_channel_id = super::channels::new_user_channel_id(&inner.keys);
            log::info!(
                "LSPS2: {counterparty_node_id} bought a channel for {payment_size_msat:?} msat \
                 (intercept scid {intercept_scid})"
            );
            if let Err(e) = handler.invoice_parameters_generated(
                &counterparty_node_id,
                request_id,
                intercept_scid,
                u32::from(inner.config.cltv_expiry_delta),
                false,
                user_channel_id,
            ) {
                log::warn!("LSPS2: answering buy of {counterparty_node_id}: {e:?}");
            }
        }
        LSPS2ServiceEvent::OpenChannel {
            their_network_key,
            amt_to_forward_msat,
            opening_fee_msat,
            user_channel_id,
            intercept_scid,
        } => {
            log::info!(
                "LSPS2: a payment for {their_network_key} arrived: opening its channel \
                 ({amt_to_forward_msat} msat to forward, fee {opening_fee_msat} msat)"
            );
            let open = PendingOpen {
                client: their_network_key,
                amt_to_forward_msat,
                user_channel_id,
                intercept_scid,
            };
            if !try_open(inner, &open) {
                inner.liquidity.update_pending(|pending| {
                    if !pending
                        .iter()
                        .any(|p| p.user_channel_id == open.user_channel_id)
                    {
                        pending.push(open);
                    }
                });
            }
        }
    }
}

/// Open the channel of `open` if its client is connected; `false` when it must wait.
fn try_open(inner: &NodeInner, open: &PendingOpen) -> bool {
    // The event may be replayed after a restart: one channel per purchase.
    if inner
        .channel_manager
        .list_channels()
        .iter()
        .any(|c| c.user_channel_id == open.user_channel_id)
    {
        return true;
    }
    if inner.peer_manager.peer_by_node_id(&open.client).is_none() {
        // Wake the app: its LSPS5 webhooks fire (at most once a minute per client).
        if let Some(lsps5) = inner.liquidity.manager.lsps5_service_handler() {
            if let Err(e) = lsps5.notify_payment_incoming(open.client) {
                log::debug!("LSPS5: no notification for {}: {e:?}", open.client);
            }
        }
        return false;
    }
    let Some(config) = inner.liquidity.service.as_ref() else {
        return true;
    };
    // Never below the smallest channel this SDK accepts by default (its clients refuse less).
    let size_sat =
        channel_size_sat(config, open.amt_to_forward_msat).max(inner.config.min_channel_size_sat);
    let mut user_config = crate::config::ldk_user_config(&inner.config);
    // The client uses the channel before it confirms; we trust our own funding.
    user_config.channel_handshake_limits.trust_own_funding_0conf = true;
    // The delay the client may impose on us is what the quote promised it.
    user_config.channel_handshake_limits.their_to_self_delay =
        u16::try_from(config.max_client_to_self_delay_blocks).unwrap_or(u16::MAX);
    match inner.channel_manager.create_channel(
        open.client,
        size_sat,
        0,
        open.user_channel_id,
        None,
        Some(user_config),
    ) {
        Ok(channel_id) => {
            log::info!(
                "LSPS2: opening channel {channel_id} of {size_sat} sat to {}",
                open.client
            );
            true
        }
        Err(e) => {
            log::warn!("LSPS2: cannot open a channel to {}: {e:?}", open.client);
            if let Some(handler) = inner.liquidity.manager.lsps2_service_handler() {
                // The payer's HTLCs are failed back now rather than at their expiry.
                if let Err(e) = handler.channel_open_failed(&open.client, open.user_channel_id) {
                    log::debug!("LSPS2: channel_open_failed: {e:?}");
                }
            }
            true
        }
    }
}

fn retry_pending_opens(inner: &NodeInner) {
    let ready: Vec<PendingOpen> = inner
        .liquidity
        .pending_opens
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .iter()
        .filter(|p| inner.peer_manager.peer_by_node_id(&p.client).is_some())
        .cloned()
        .collect();
    for open in ready {
        if try_open(inner, &open) {
            inner.liquidity.update_pending(|pending| {
                pending.retain(|p| p.user_channel_id != open.user_channel_id)
            });
        }
    }
}

fn send_webhook(
    inner: &NodeInner,
    client: PublicKey,
    url: &str,
    notification: &lightning_liquidity::lsps5::msgs::WebhookNotification,
    headers: Vec<(String, String)>,
) {
    let Some(agent) = inner.liquidity.webhook_agent.clone() else {
        return;
    };
    let private_ca = inner
        .liquidity
        .service
        .as_ref()
        .is_some_and(|s| s.webhook_ca_file.is_some());
    if !webhook_host_allowed(url, private_ca) {
        // A client must not make the provider post into the provider's own network.
        log::warn!(
            "LSPS5: not notifying {client}: {} is an internal address (set webhook_ca_file to \
             allow a private push gateway)",
            qtum_chain::redact_url(url)
        );
        return;
    }
    let in_flight = inner.liquidity.webhooks_in_flight.clone();
    if in_flight.fetch_add(1, std::sync::atomic::Ordering::AcqRel) >= MAX_WEBHOOKS_IN_FLIGHT {
        in_flight.fetch_sub(1, std::sync::atomic::Ordering::AcqRel);
        log::warn!(
            "LSPS5: {MAX_WEBHOOKS_IN_FLIGHT} notifications under way: one to {client} dropped"
        );
        return;
    }
    let body = match serde_json::to_vec(notification) {
        Ok(body) => body,
        Err(e) => {
            log::warn!("LSPS5: cannot encode a notification: {e}");
            return;
        }
    };
    let url = url.to_string();
    // Off the caller's thread: a slow push gateway must not hold up the node.
    let spawned = std::thread::Builder::new()
        .name("qtum-ln-webhook".into())
        .spawn(move || {
            let headers: Vec<(&str, &str)> = headers
                .iter()
                .map(|(k, v)| (k.as_str(), v.as_str()))
                .collect();
            match agent.post(&url, &headers, &body) {
                Ok(r) => log::info!(
                    "LSPS5: notified {client} at {} ({})",
                    qtum_chain::redact_url(&url),
                    r.status
                ),
                Err(e) => log::warn!(
                    "LSPS5: notifying {client} at {}: {e}",
                    qtum_chain::redact_url(&url)
                ),
            }
            in_flight.fetch_sub(1, std::sync::atomic::Ordering::AcqRel);
        });
    if let Err(e) = spawned {
        inner
            .liquidity
            .webhooks_in_flight
            .fetch_sub(1, std::sync::atomic::Ordering::AcqRel);
        log::warn!("LSPS5: no thread for a notification: {e}");
    }
}

/// Whether the provider may post to `url`: not to a loopback, private, link-local or
/// unspecified address (nor `localhost`) unless the operator configured a private CA for a
/// push gateway of its own. Names are not resolved: a name pointing inside is the operator's
/// DNS to keep clean.
fn webhook_host_allowed(url: &str, private_ca: bool) -> bool {
    if private_ca {
        return true;
    }
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
    let host_port = authority.rsplit('@').next().unwrap_or("");
    let host = if let Some(v6) = host_port.strip_prefix('[') {
        v6.split(']').next().unwrap_or("")
    } else {
        host_port.rsplit_once(':').map_or(host_port, |(h, _)| h)
    };
    if host.eq_ignore_ascii_case("localhost") || host.to_ascii_lowercase().ends_with(".localhost") {
        return false;
    }
    match host.parse::<std::net::IpAddr>() {
        Ok(std::net::IpAddr::V4(ip)) => {
            !(ip.is_loopback() || ip.is_private() || ip.is_link_local() || ip.is_unspecified())
        }
        Ok(std::net::IpAddr::V6(ip)) => {
            let unique_local = (ip.segments()[0] & 0xfe00) == 0xfc00;
            let link_local = (ip.segments()[0] & 0xffc0) == 0xfe80;
            !(ip.is_loopback() || ip.is_unspecified() || unique_local || link_local)
        }
        Err(_) => true,
    }
}

// ----- LDK events the liquidity side needs -----

/// The provider's part of LDK's events; each returns quietly for channels and HTLCs that are
/// not part of a JIT purchase.
pub(crate) fn on_htlc_intercepted(
    inner: &NodeInner,
    intercept_id: lightning::ln::channelmanager::InterceptId,
    requested_next_hop_scid: u64,
    expected_outbound_amount_msat: u64,
    payment_hash: lightning::types::payment::PaymentHash,
) {
    let Some(handler) = inner.liquidity.manager.lsps2_service_handler() else {
        // Not a provider: nothing should be intercepted; fail it back rather than hold it.
        let _ = inner.channel_manager.fail_intercepted_htlc(intercept_id);
        return;
    };
    if let Err(e) = handler.htlc_intercepted(
        requested_next_hop_scid,
        intercept_id,
        expected_outbound_amount_msat,
        payment_hash,
    ) {
        log::warn!("LSPS2: intercepted HTLC {payment_hash}: {e:?}");
    }
    // An scid the service does not know (none we sold) is left intercepted; LDK fails it
    // back before it expires.
}

pub(crate) fn on_channel_ready(
    inner: &NodeInner,
    user_channel_id: u128,
    channel_id: &lightning::ln::types::ChannelId,
    counterparty: &PublicKey,
) {
    if let Some(handler) = inner.liquidity.manager.lsps2_service_handler() {
        if let Err(e) = handler.channel_ready(user_channel_id, channel_id, counterparty) {
            log::debug!("LSPS2: channel_ready {channel_id}: {e:?}");
        }
    }
}

/// A channel closed: if it was sold and never became ready (its funding failed), the payer's
/// HTLCs waiting for it are failed back now rather than at their expiry.
pub(crate) fn on_channel_closed(
    inner: &NodeInner,
    counterparty: &PublicKey,
    user_channel_id: u128,
) {
    if let Some(handler) = inner.liquidity.manager.lsps2_service_handler() {
        if let Err(e) = handler.channel_open_failed(counterparty, user_channel_id) {
            log::debug!("LSPS2: channel_open_failed: {e:?}");
        }
    }
}

pub(crate) fn on_htlc_handling_failed(
    inner: &NodeInner,
    failure_type: lightning::events::HTLCHandlingFailureType,
) {
    // The payment an offline client's channel was owed for is gone (failed back before its
    // expiry): so is the debt; opening the channel now would lock up our coins and spend a
    // funding fee for nothing.
    if let lightning::events::HTLCHandlingFailureType::InvalidForward {
        requested_forward_scid,
    } = &failure_type
    {
        let owed = inner
            .liquidity
            .pending_opens
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
            .any(|p| p.intercept_scid == *requested_forward_scid);
        if owed {
            log::info!(
                "LSPS2: the payment for scid {requested_forward_scid} was failed back: no channel"
            );
            let mut dropped = Vec::new();
            inner.liquidity.update_pending(|pending| {
                pending.retain(|p| {
                    let keep = p.intercept_scid != *requested_forward_scid;
                    if !keep {
                        dropped.push(p.clone());
                    }
                    keep
                })
            });
            // lightning-liquidity learns of forwards that failed, not of intercepted HTLCs
            // that timed out: without this the purchase would wait for a channel forever, and
            // hold every later payment to its scid until that expires too.
            if let Some(handler) = inner.liquidity.manager.lsps2_service_handler() {
                for open in dropped {
                    if let Err(e) = handler.channel_open_failed(&open.client, open.user_channel_id)
                    {
                        log::debug!("LSPS2: channel_open_failed: {e:?}");
                    }
                }
            }
        }
    }
    if let Some(handler) = inner.liquidity.manager.lsps2_service_handler() {
        if let Err(e) = handler.htlc_handling_failed(failure_type) {
            log::debug!("LSPS2: htlc_handling_failed: {e:?}");
        }
    }
}

pub(crate) fn on_payment_forwarded(
    inner: &NodeInner,
    next_channel_id: Option<lightning::ln::types::ChannelId>,
    skimmed_fee_msat: Option<u64>,
) {
    if let (Some(handler), Some(channel_id)) = (
        inner.liquidity.manager.lsps2_service_handler(),
        next_channel_id,
    ) {
        if let Err(e) = handler.payment_forwarded(channel_id, skimmed_fee_msat.unwrap_or(0)) {
            log::debug!("LSPS2: payment_forwarded {channel_id}: {e:?}");
        }
    }
}

/// A channel the provider opened for us is accepted as zero-conf only if the app said it
/// trusts the provider; any other inbound channel as configured.
pub(crate) fn on_open_channel_request(
    inner: &NodeInner,
    temporary_channel_id: &lightning::ln::types::ChannelId,
    counterparty: &PublicKey,
) {
    let user_channel_id = super::channels::new_user_channel_id(&inner.keys);
    let from_lsp = inner
        .liquidity
        .source
        .as_ref()
        .filter(|s| s.uri.node_id == *counterparty);
    let accepted = match from_lsp {
        Some(source) if source.trust_zero_conf => inner
            .channel_manager
            .accept_inbound_channel_from_trusted_peer_0conf(
                temporary_channel_id,
                counterparty,
                user_channel_id,
                None,
            ),
        _ if from_lsp.is_some() || inner.config.accept_inbound_channels => inner
            .channel_manager
            .accept_inbound_channel(temporary_channel_id, counterparty, user_channel_id, None),
        _ => inner
            .channel_manager
            .force_close_broadcasting_latest_txn(
                temporary_channel_id,
                counterparty,
                "inbound channels are not accepted".into(),
            )
            .map(|_| ()),
    };
    if let Err(e) = accepted {
        log::warn!("inbound channel from {counterparty}: {e:?}");
    }
}

/// The client's check of a payment the last hop kept something of: allowed only for a JIT
/// invoice, only over channels with its provider, and only up to the fee its terms give for
/// `total_msat`. `Some(lsp)` when allowed.
pub(crate) fn skim_allowed(
    inner: &NodeInner,
    payment_hash: &lightning::types::payment::PaymentHash,
    receiving_channels: &[lightning::ln::types::ChannelId],
    total_msat: u64,
    skimmed_msat: u64,
) -> Option<PublicKey> {
    let terms = read_terms(inner, payment_hash)?;
    let lsp: PublicKey = terms.lsp_node_id.parse().ok()?;
    let channels = inner.channel_manager.list_channels();
    let from_lsp = !receiving_channels.is_empty()
        && receiving_channels.iter().all(|id| {
            channels
                .iter()
                .any(|c| c.channel_id == *id && c.counterparty.node_id == lsp)
        });
    if !from_lsp {
        log::warn!("payment {payment_hash}: kept from by a node that is not the provider");
        return None;
    }
    match allowed_skim_msat(&terms, total_msat) {
        Some(allowed) if skimmed_msat <= allowed => Some(lsp),
        allowed => {
            log::warn!(
                "payment {payment_hash}: the provider kept {skimmed_msat} msat, more than the \
                 {allowed:?} msat agreed: failing it back"
            );
            None
        }
    }
}

/// The most a provider may keep of a payment of `total_msat` under `terms`.
fn allowed_skim_msat(terms: &JitTerms, total_msat: u64) -> Option<u64> {
    match terms.fixed_fee_msat {
        Some(fee) => Some(fee),
        None => compute_opening_fee(
            total_msat,
            terms.min_fee_msat,
            u64::from(terms.proportional_ppm),
        ),
    }
}

fn read_terms(
    inner: &NodeInner,
    payment_hash: &lightning::types::payment::PaymentHash,
) -> Option<JitTerms> {
    let bytes = inner
        .store
        .read(JIT_NAMESPACE, "", &payment_hash.to_string())
        .ok()?;
    serde_json::from_slice(&bytes).ok()
}

// ----- the client's calls -----

impl Node {
    fn liquidity_source(&self) -> Result<&LiquiditySource, NodeError> {
        self.inner
            .liquidity
            .source
            .as_ref()
            .ok_or(NodeError::NoLiquiditySource)
    }

    /// Connected to the provider, connecting if needed.
    fn lsp_connected(&self) -> Result<PublicKey, NodeError> {
        self.require_running()?;
        let source = self.liquidity_source()?;
        let lsp = source.uri.node_id;
        if self.inner.peer_manager.peer_by_node_id(&lsp).is_none() {
            self.connect(&source.uri.to_string(), true)
                .map_err(|e| NodeError::LiquiditySourceUnavailable(e.to_string()))?;
        }
        Ok(lsp)
    }

    /// Wait for the provider's answer to `request_id`.
    fn wait_answer(&self, lsp: PublicKey, request_id: LSPSRequestId) -> Result<Answer, NodeError> {
        let liquidity = &self.inner.liquidity;
        let deadline = Instant::now() + ANSWER_TIMEOUT;
        loop {
            pump(&self.inner);
            let mut answers = liquidity.answers.lock().unwrap_or_else(|p| p.into_inner());
            if let Some(answer) = answers.remove(&request_id.0) {
                return Ok(answer);
            }
            if self.inner.peer_manager.peer_by_node_id(&lsp).is_none() {
                return Err(NodeError::LiquiditySourceUnavailable(
                    "the provider disconnected before answering".into(),
                ));
            }
            let now = Instant::now();
            if now >= deadline {
                return Err(NodeError::LiquiditySourceUnavailable(format!(
                    "no answer within {} s",
                    ANSWER_TIMEOUT.as_secs()
                )));
            }
            let _ = liquidity
                .answered
                .wait_timeout(answers, Duration::from_millis(50).min(deadline - now));
        }
    }

    /// The provider's current terms for a just-in-time channel, to show the app's user before
    /// buying: the cheapest of its offers that is still valid for a while.
    pub fn jit_channel_quote(&self) -> Result<JitQuote, NodeError> {
        let lsp = self.lsp_connected()?;
        let token = self.liquidity_source()?.token.clone();
        let client = self
            .inner
            .liquidity
            .manager
            .lsps2_client_handler()
            .ok_or(NodeError::NoLiquiditySource)?;
        let request_id = client.request_opening_params(lsp, token);
        match self.wait_answer(lsp, request_id)? {
            Answer::Menu(menu) => {
                let now = crate::node::now_secs();
                let ours = u32::from(self.inner.config.our_to_self_delay_blocks);
                let valid: Vec<JitQuote> = menu
                    .iter()
                    .map(|p| JitQuote::from_params(lsp, p))
                    .filter(|q| q.valid_until_secs > now)
                    .collect();
                if valid.is_empty() {
                    return Err(NodeError::LiquidityRefused(
                        "the provider offers no valid terms".into(),
                    ));
                }
                // Its channel would carry our to_self_delay: terms that refuse it would fail
                // only once the payment had arrived.
                valid
                    .into_iter()
                    .filter(|q| q.max_client_to_self_delay_blocks >= ours)
                    .min_by_key(|q| (q.min_fee_msat, q.proportional_ppm))
                    .ok_or_else(|| {
                        NodeError::LiquidityRefused(format!(
                            "the provider accepts a to_self_delay of at most its quoted maximum; \
                             this node asks {ours} blocks (our_to_self_delay_blocks)"
                        ))
                    })
            }
            Answer::Failed(e) => Err(refusal(e)),
            other => Err(unexpected(other)),
        }
    }

    /// An invoice for `amount_msat` that a node with no inbound capacity can be paid by: the
    /// provider opens a channel when the payment arrives and keeps its opening fee from it.
    /// Fails with `LiquidityFeeTooHigh` when the fee would exceed `max_opening_fee_msat`.
    pub fn receive_via_jit_channel(
        &self,
        amount_msat: u64,
        description: &str,
        expiry_secs: Option<u32>,
        max_opening_fee_msat: Option<u64>,
    ) -> Result<JitInvoice, NodeError> {
        let quote = self.jit_channel_quote()?;
        let fee = quote.fee_for(amount_msat).ok_or_else(|| {
            NodeError::InvalidAmount(format!("{amount_msat} msat overflows the fee"))
        })?;
        if let Some(max) = max_opening_fee_msat {
            if fee > max {
                return Err(NodeError::LiquidityFeeTooHigh(format!(
                    "{fee} msat asked, at most {max} msat allowed"
                )));
            }
        }
        self.receive_via_jit_quote(quote, Some(amount_msat), description, expiry_secs)
    }

    /// A variable-amount invoice through a just-in-time channel. The fee follows from the
    /// amount paid; `max_proportional_fee_ppm` refuses terms above that rate.
    pub fn receive_variable_amount_via_jit_channel(
        &self,
        description: &str,
        expiry_secs: Option<u32>,
        max_proportional_fee_ppm: Option<u32>,
    ) -> Result<JitInvoice, NodeError> {
        let quote = self.jit_channel_quote()?;
        if let Some(max) = max_proportional_fee_ppm {
            if quote.proportional_ppm > max {
                return Err(NodeError::LiquidityFeeTooHigh(format!(
                    "{} ppm asked, at most {max} ppm allowed",
                    quote.proportional_ppm
                )));
            }
        }
        self.receive_via_jit_quote(quote, None, description, expiry_secs)
    }

    /// Buy a just-in-time channel on the terms of `quote` (from [`Node::jit_channel_quote`])
    /// and return its invoice; `amount_msat` `None` for a variable amount. The invoice expires
    /// after `expiry_secs` (default: the configured one) or with the quote, if sooner.
    pub fn receive_via_jit_quote(
        &self,
        quote: JitQuote,
        amount_msat: Option<u64>,
        description: &str,
        expiry_secs: Option<u32>,
    ) -> Result<JitInvoice, NodeError> {
        let lsp = self.lsp_connected()?;
        if quote.lsp_node_id != lsp {
            return Err(NodeError::InvalidInput(
                "the quote is from another provider".into(),
            ));
        }
        if quote.valid_until_secs <= crate::node::now_secs() {
            return Err(NodeError::LiquidityQuoteExpired);
        }
        let opening_fee_msat = match amount_msat {
            Some(0) => {
                return Err(NodeError::InvalidAmount(
                    "an invoice for 0 msat cannot be paid".into(),
                ))
            }
            Some(amount) => {
                if amount < quote.min_payment_msat || amount > quote.max_payment_msat {
                    return Err(NodeError::LiquidityRefused(format!(
                        "{amount} msat is outside the provider's range of {} to {} msat",
                        quote.min_payment_msat, quote.max_payment_msat
                    )));
                }
                Some(quote.fee_for(amount).ok_or_else(|| {
                    NodeError::InvalidAmount(format!("{amount} msat overflows the fee"))
                })?)
            }
            None => None,
        };
        let text = description.to_string();
        let description = Description::new(text.clone())
            .map_err(|e| NodeError::InvalidInvoice(format!("description: {e}")))?;
        let client = self
            .inner
            .liquidity
            .manager
            .lsps2_client_handler()
            .ok_or(NodeError::NoLiquiditySource)?;
        let request_id = client
            .select_opening_params(lsp, amount_msat, quote.to_params()?)
            .map_err(|e| NodeError::LiquiditySourceUnavailable(format!("{e:?}")))?;
        let (intercept_scid, cltv_expiry_delta) = match self.wait_answer(lsp, request_id)? {
            Answer::InvoiceParams {
                intercept_scid,
                cltv_expiry_delta,
            } => (intercept_scid, cltv_expiry_delta),
            // Invalid terms: expired by the provider's clock, or not the terms it signed.
            Answer::Failed(e)
                if e.code == 201 && quote.valid_until_secs > crate::node::now_secs() =>
            {
                return Err(NodeError::LiquidityRefused(format!(
                    "the provider did not accept the quote's terms ({})",
                    e.message
                )))
            }
            Answer::Failed(e) => return Err(refusal(e)),
            other => return Err(unexpected(other)),
        };
        let cltv_expiry_delta = u16::try_from(cltv_expiry_delta).map_err(|_| {
            NodeError::LiquidityRefused(format!("CLTV delta {cltv_expiry_delta} is too large"))
        })?;
        // The provider forgets an unpaid purchase when its quote lapses: so does the invoice.
        let expiry = expiry_secs
            .unwrap_or(self.inner.config.invoice_expiry_secs)
            .min(
                u32::try_from(
                    quote
                        .valid_until_secs
                        .saturating_sub(crate::node::now_secs()),
                )
                .unwrap_or(u32::MAX),
            )
            .max(1);
        let invoice = self.jit_invoice(
            lsp,
            amount_msat,
            description,
            expiry,
            intercept_scid,
            cltv_expiry_delta,
        )?;
        let terms = JitTerms {
            lsp_node_id: lsp.to_string(),
            fixed_fee_msat: opening_fee_msat,
            min_fee_msat: quote.min_fee_msat,
            proportional_ppm: quote.proportional_ppm,
        };
        let hash = lightning::types::payment::PaymentHash(invoice.payment_hash().to_byte_array());
        let bytes =
            serde_json::to_vec(&terms).map_err(|e| NodeError::Persistence(e.to_string()))?;
        self.inner
            .store
            .write(JIT_NAMESPACE, "", &hash.to_string(), bytes)
            .map_err(|e| NodeError::Persistence(e.to_string()))?;
        let mut row = new_payment(
            PaymentId(hash.0),
            PaymentDirection::Inbound,
            PaymentKind::Bolt11,
            hash,
        );
        row.amount_msat = amount_msat;
        row.description = Some(text);
        row.invoice = Some(invoice.to_string());
        self.inner.payments.insert(&row)?;
        Ok(JitInvoice {
            invoice: invoice.to_string(),
            opening_fee_msat,
            quote,
        })
    }

    fn jit_invoice(
        &self,
        lsp: PublicKey,
        amount_msat: Option<u64>,
        description: Description,
        expiry: u32,
        intercept_scid: u64,
        cltv_expiry_delta: u16,
    ) -> Result<lightning_invoice::Bolt11Invoice, NodeError> {
        let inner = &self.inner;
        let (payment_hash, payment_secret) = inner
            .channel_manager
            .create_inbound_payment(
                amount_msat,
                expiry,
                Some(inner.config.min_final_cltv_expiry_delta),
            )
            .map_err(|()| NodeError::InvalidAmount("LDK refused the amount".into()))?;
        let hint = RouteHint(vec![RouteHintHop {
            src_node_id: lsp,
            short_channel_id: intercept_scid,
            fees: RoutingFees {
                base_msat: 0,
                proportional_millionths: 0,
            },
            cltv_expiry_delta,
            htlc_minimum_msat: None,
            htlc_maximum_msat: None,
        }]);
        let builder = InvoiceBuilder::new(crate::qtum::invoice::currency(inner.config.network))
            .invoice_description(Bolt11InvoiceDescription::Direct(description))
            .payment_hash(sha256::Hash::from_byte_array(payment_hash.0))
            .payment_secret(payment_secret)
            .duration_since_epoch(
                SystemTime::now()
                    .duration_since(UNIX_EPOCH)
                    .unwrap_or_default(),
            )
            .min_final_cltv_expiry_delta(u64::from(inner.config.min_final_cltv_expiry_delta))
            .expiry_time(Duration::from_secs(u64::from(expiry)))
            .private_route(hint);
        let secret = inner.keys.get_node_secret_key();
        let secp = Secp256k1::signing_only();
        match amount_msat {
            // LSPS2 lets a fixed amount arrive in parts; a variable amount in one HTLC only.
            Some(msat) => builder
                .amount_milli_satoshis(msat)
                .basic_mpp()
                .build_signed(|hash| secp.sign_ecdsa_recoverable(hash, &secret)),
            None => builder.build_signed(|hash| secp.sign_ecdsa_recoverable(hash, &secret)),
        }
        .map_err(|e| NodeError::InvalidInvoice(e.to_string()))
    }

    /// One LSPS5 request to the provider (sent by `send`), and its answer; the provider's
    /// refusal is `LiquidityRefused`.
    fn webhook_request(
        &self,
        send: impl FnOnce(
            &lightning_liquidity::lsps5::client::LSPS5ClientHandler<
                Arc<lightning::sign::KeysManager>,
                lightning::util::persist::KVStoreSyncWrapper<Arc<SqliteStore>>,
            >,
            PublicKey,
        ) -> Result<LSPSRequestId, LSPS5Error>,
    ) -> Result<Answer, NodeError> {
        let lsp = self.lsp_connected()?;
        let client = self
            .inner
            .liquidity
            .manager
            .lsps5_client_handler()
            .ok_or(NodeError::NoLiquiditySource)?;
        let request_id = send(client, lsp)
            .map_err(|e| NodeError::InvalidInput(format!("webhook: {}", lsps5_text(&e))))?;
        match self.wait_answer(lsp, request_id)? {
            Answer::WebhookFailed(e) => Err(NodeError::LiquidityRefused(e)),
            answer => Ok(answer),
        }
    }

    /// Register `url` (HTTPS) with the liquidity provider under `app_name`: the provider posts
    /// an LSPS5 notification there when a payment for this node waits while it is offline (a
    /// push gateway turns it into a notification that wakes the app). The provider accepts
    /// registrations only from clients with a channel or a purchase in progress.
    pub fn register_webhook(&self, app_name: &str, url: &str) -> Result<(), NodeError> {
        match self.webhook_request(|client, lsp| {
            client.set_webhook(lsp, app_name.to_string(), url.to_string())
        })? {
            Answer::WebhookSet => Ok(()),
            other => Err(unexpected(other)),
        }
    }

    /// The app names with a webhook at the liquidity provider.
    pub fn list_webhooks(&self) -> Result<Vec<String>, NodeError> {
        match self.webhook_request(|client, lsp| Ok(client.list_webhooks(lsp)))? {
            Answer::Webhooks(names) => Ok(names),
            other => Err(unexpected(other)),
        }
    }

    /// Remove the webhook registered under `app_name`.
    pub fn remove_webhook(&self, app_name: &str) -> Result<(), NodeError> {
        match self
            .webhook_request(|client, lsp| client.remove_webhook(lsp, app_name.to_string()))?
        {
            Answer::WebhookSet => Ok(()),
            other => Err(unexpected(other)),
        }
    }
}

/// An answer that is not one the request can get: the provider is not following the protocol.
fn unexpected(answer: Answer) -> NodeError {
    NodeError::LiquiditySourceUnavailable(format!("unexpected answer {answer:?}"))
}

fn lsps5_text(e: &LSPS5Error) -> String {
    match e {
        LSPS5Error::Protocol(p) => p.message().to_string(),
        LSPS5Error::Client(c) => c.message().to_string(),
    }
}

/// The typed error for a provider's error response (codes of LSPS2, bLIP-52).
fn refusal(e: LSPSResponseError) -> NodeError {
    match e.code {
        200 => NodeError::LiquidityRefused(format!("the token was not accepted ({})", e.message)),
        201 => NodeError::LiquidityQuoteExpired,
        202 => NodeError::LiquidityRefused(format!("payment too small ({})", e.message)),
        203 => NodeError::LiquidityRefused(format!("payment too large ({})", e.message)),
        _ => NodeError::LiquidityRefused(format!("error {}: {}", e.code, e.message)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn channel_fits_the_forward_and_its_fees() {
        let config = LspServiceConfig::default();
        // 0.5 QTUM forwarded: a channel of twice that plus room for the commitment fee.
        assert_eq!(
            channel_size_sat(&config, 50_000_000_000),
            100_000_000 + CHANNEL_FEE_ROOM_SAT
        );
        assert_eq!(config.validate(100 * 100_000_000), Ok(()));
        let dust = LspServiceConfig {
            min_payment_msat: 250_000_000,
            ..LspServiceConfig::default()
        };
        assert!(dust.validate(100 * 100_000_000).is_err());
        let too_big = LspServiceConfig {
            max_payment_msat: 60 * 100_000_000_000,
            ..LspServiceConfig::default()
        };
        assert!(too_big.validate(100 * 100_000_000).is_err());
    }

    #[test]
    fn the_provider_keeps_at_most_the_agreed_fee() {
        let fixed = JitTerms {
            lsp_node_id: String::new(),
            fixed_fee_msat: Some(500_000_000),
            min_fee_msat: 200_000_000,
            proportional_ppm: 10_000,
        };
        // A fixed-amount invoice: the fee quoted, whatever the amount.
        assert_eq!(allowed_skim_msat(&fixed, 50_000_000_000), Some(500_000_000));
        assert_eq!(allowed_skim_msat(&fixed, 90_000_000_000), Some(500_000_000));
        let variable = JitTerms {
            fixed_fee_msat: None,
            ..fixed
        };
        // A variable amount: the terms applied to what was paid, rounded up, at least the
        // minimum; an overflow allows nothing.
        assert_eq!(
            allowed_skim_msat(&variable, 50_000_000_000),
            Some(500_000_000)
        );
        assert_eq!(
            allowed_skim_msat(&variable, 50_000_000_001),
            Some(500_000_001)
        );
        assert_eq!(
            allowed_skim_msat(&variable, 1_000_000_000),
            Some(200_000_000)
        );
        assert_eq!(allowed_skim_msat(&variable, u64::MAX), None);
    }

    #[test]
    fn webhooks_to_internal_addresses_need_a_private_ca() {
        for url in [
            "https://127.0.0.1:8443/push",
            "https://10.0.0.7/push",
            "https://192.168.1.1/x",
            "https://169.254.169.254/latest",
            "https://[::1]:443/push",
            "https://[fd00::1]/push",
            "https://localhost/push",
            "https://user@172.16.0.1/push",
            "https://0.0.0.0/push",
        ] {
            assert!(!webhook_host_allowed(url, false), "{url}");
            assert!(webhook_host_allowed(url, true), "{url}");
        }
        for url in [
            "https://push.example.org/qtum",
            "https://8.8.8.8/push",
            "https://[2001:db8::1]/p",
        ] {
            assert!(webhook_host_allowed(url, false), "{url}");
        }
    }

    #[test]
    fn promise_secret_is_per_seed_and_domain_separated() {
        let a = promise_secret(&[1; 32]);
        assert_ne!(a, promise_secret(&[2; 32]));
        assert_ne!(a, [1; 32]);
        assert_eq!(a, promise_secret(&[1; 32]));
    }

    #[test]
    fn quote_round_trips_and_fee_rounds_up() {
        let lsp: PublicKey = "0279be667ef9dcbbac55a06295ce870b07029bfcdb2dce28d959f2815b16f81798"
            .parse()
            .expect("key");
        let quote = JitQuote {
            lsp_node_id: lsp,
            min_fee_msat: 200_000_000,
            proportional_ppm: 10_000,
            valid_until_secs: 1_900_000_000,
            valid_until: "2030-03-17T17:46:40+00:00".into(),
            min_payment_msat: 1_000_000_000,
            max_payment_msat: 1_000_000_000_000,
            min_lifetime_blocks: 81_000,
            max_client_to_self_delay_blocks: 20_160,
            promise: "ab".repeat(32),
        };
        let params = quote.to_params().expect("params");
        assert_eq!(JitQuote::from_params(lsp, &params), quote);
        // 1 % of 0.5 QTUM is above the minimum; a small payment pays the minimum.
        assert_eq!(quote.fee_for(50_000_000_000), Some(500_000_000));
        assert_eq!(quote.fee_for(1_000_000_000), Some(200_000_000));
        assert_eq!(quote.fee_for(u64::MAX), None);
    }
}

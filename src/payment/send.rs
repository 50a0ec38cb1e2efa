//! Sending: invoices and keysend, the routing-fee estimate before paying, and the limits of
//! each payment.

use std::time::Duration;

use bitcoin::hashes::Hash;
use lightning::ln::channelmanager::{
    Bolt11PaymentError, PaymentId, RecipientOnionFields, Retry, RetryableSendFailure,
};
use lightning::routing::router::{PaymentParameters, RouteParameters, RouteParametersConfig};
use lightning::sign::EntropySource;
use lightning::types::payment::PaymentHash;

use crate::config::Config;
use crate::error::NodeError;
use crate::node::{now_secs, Node};
use crate::payment::store::{new_payment, CustomRecord, PaymentDirection, PaymentKind};
use crate::qtum::invoice::{DecodedInvoice, InvoiceDescription};
use crate::qtum::network::Network;
use crate::types::PublicKey;

/// How long a send waits for channels in mid-update before calling capacity insufficient.
const CAPACITY_SETTLE_WAIT: Duration = Duration::from_secs(5);

/// What an app shows before paying an invoice.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "uniffi", derive(uniffi::Record))]
pub struct InvoicePreview {
    /// The Qtum network the invoice is for.
    pub network: Network,
    /// Amount asked, in millisatoshi; `None` lets the payer choose.
    pub amount_msat: Option<u64>,
    /// The payee's node id (hex).
    pub payee_node_id: PublicKey,
    /// Payment hash (hex).
    pub payment_hash: PaymentHash,
    /// The description, when the invoice carries it.
    pub description: Option<String>,
    /// The SHA-256 of the description, when the invoice carries only that (hex).
    pub description_hash: Option<String>,
    /// Creation time, seconds since the Unix epoch.
    pub timestamp: u64,
    /// Seconds after `timestamp` when it expires.
    pub expiry_secs: u64,
    /// Whether it has expired now.
    pub is_expired: bool,
    /// The final CLTV delta in blocks.
    pub min_final_cltv_expiry_delta: u64,
    /// On-chain fallback addresses (Qtum addresses).
    pub fallback_addresses: Vec<String>,
    /// Whether this node could pay it (network, signature and payment secret all fine;
    /// expiry aside).
    pub is_payable: bool,
}

/// Per-payment limits; every field falls back to the node's configuration.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[cfg_attr(feature = "uniffi", derive(uniffi::Record))]
pub struct SendOptions {
    /// Most routing fees to pay, in millisatoshi (default max(8,400 sat, 3 %)).
    #[cfg_attr(feature = "uniffi", uniffi(default = None))]
    pub max_fee_msat: Option<u64>,
    /// Attempts before giving up (default 5).
    #[cfg_attr(feature = "uniffi", uniffi(default = None))]
    pub retries: Option<u32>,
    /// Longest route in hops (default 6).
    #[cfg_attr(feature = "uniffi", uniffi(default = None))]
    pub max_route_hops: Option<u8>,
}

use crate::config::ROUTE_CLTV_BUDGET_BLOCKS;

fn send_failure(e: RetryableSendFailure) -> NodeError {
    match e {
        RetryableSendFailure::DuplicatePayment => NodeError::DuplicatePayment,
        RetryableSendFailure::RouteNotFound => NodeError::PaymentFailed(
            "no route to the payee with the channels' current capacity and fee limit".into(),
        ),
        RetryableSendFailure::PaymentExpired => NodeError::InvoiceExpired,
        other => NodeError::PaymentFailed(format!("{other:?}")),
    }
}

/// What paying an invoice would cost in routing fees, found before paying.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "uniffi", derive(uniffi::Record))]
pub struct PaymentFeeEstimate {
    /// The amount the payee would get, in millisatoshi.
    pub amount_msat: u64,
    /// Routing fees along the route found, in millisatoshi (0 to a direct peer).
    pub fee_msat: u64,
    /// How many parts the payment would be split into.
    pub parts: u32,
    /// The longest part's length in hops.
    pub max_hops: u32,
}

/// Most custom records one keysend carries, and most bytes of values: the onion has 1,300
/// bytes for every hop's data, and a route needs room.
const MAX_CUSTOM_RECORDS: usize = 32;
const MAX_CUSTOM_RECORD_BYTES: usize = 1_000;

fn onion_fields(records: &[CustomRecord]) -> Result<RecipientOnionFields, NodeError> {
    if records.len() > MAX_CUSTOM_RECORDS {
        return Err(NodeError::InvalidInput(format!(
            "{} custom records: at most {MAX_CUSTOM_RECORDS}",
            records.len()
        )));
    }
    let bytes: usize = records.iter().map(|r| r.value.len()).sum();
    if bytes > MAX_CUSTOM_RECORD_BYTES {
        return Err(NodeError::InvalidInput(format!(
            "custom records of {bytes} bytes: at most {MAX_CUSTOM_RECORD_BYTES}"
        )));
    }
    let mut types: Vec<u64> = records.iter().map(|r| r.type_num).collect();
    types.sort_unstable();
    if let Some(low) = types.iter().find(|t| **t < 1 << 16) {
        return Err(NodeError::InvalidInput(format!(
            "custom record type {low}: types below 65536 belong to the protocol"
        )));
    }
    if types.windows(2).any(|w| w[0] == w[1]) {
        return Err(NodeError::InvalidInput(
            "a custom record type appears twice".into(),
        ));
    }
    RecipientOnionFields::spontaneous_empty()
        .with_custom_tlvs(
            records
                .iter()
                .map(|r| (r.type_num, r.value.clone()))
                .collect(),
        )
        .map_err(|()| {
            NodeError::InvalidInput(
                "a custom record type is reserved (5482373484 keysend, 77777)".into(),
            )
        })
}

/// The route limits of a payment of `amount_msat`: its fee limit (or the configured one) and
/// Qtum's CLTV budget. LDK's 1,008 blocks are a week on Bitcoin but 9 hours on Qtum: a one-day
/// invoice window plus a few hops would not fit.
fn route_limits(amount_msat: u64, options: &SendOptions) -> RouteParametersConfig {
    RouteParametersConfig {
        max_total_cltv_expiry_delta: ROUTE_CLTV_BUDGET_BLOCKS,
        max_total_routing_fee_msat: Some(
            options
                .max_fee_msat
                .unwrap_or_else(|| Config::route_fee_limit_msat(amount_msat)),
        ),
        ..RouteParametersConfig::default()
    }
}

/// What the router is asked for: a route for `payment_params` and `amount_msat` within `limits`.
fn route_parameters(
    payment_params: PaymentParameters,
    amount_msat: u64,
    limits: &RouteParametersConfig,
) -> RouteParameters {
    let mut params = RouteParameters::from_payment_params_and_value(payment_params, amount_msat);
    params.payment_params.max_total_cltv_expiry_delta = limits.max_total_cltv_expiry_delta;
    params.max_total_routing_fee_msat = limits.max_total_routing_fee_msat;
    params
}

impl Node {
    fn preview(&self, decoded: &DecodedInvoice) -> InvoicePreview {
        let (description, description_hash) = match &decoded.description {
            InvoiceDescription::Direct(text) => (Some(text.clone()), None),
            InvoiceDescription::Hash(hash) => (None, Some(hash.to_string())),
        };
        InvoicePreview {
            network: decoded.network,
            amount_msat: decoded.amount_msat,
            payee_node_id: decoded.payee_pubkey,
            payment_hash: PaymentHash(decoded.payment_hash.to_byte_array()),
            description,
            description_hash,
            timestamp: decoded.timestamp_secs,
            expiry_secs: decoded.expiry_secs,
            is_expired: decoded.is_expired_at(now_secs()),
            min_final_cltv_expiry_delta: decoded.min_final_cltv_expiry_delta,
            fallback_addresses: decoded
                .fallback_addresses
                .iter()
                .map(|a| a.to_string())
                .collect(),
            is_payable: decoded.payable_on(self.network()).is_ok(),
        }
    }

    /// Decode an invoice to show it before paying. Accepts a `lightning:` prefix and any case.
    /// Invoices of other Qtum networks decode (with their network); non-Qtum ones are refused.
    pub fn decode_invoice(&self, invoice: &str) -> Result<InvoicePreview, NodeError> {
        let decoded = DecodedInvoice::decode(invoice)?;
        Ok(self.preview(&decoded))
    }

    /// The routing fee paying `invoice` would cost now, from the channels and the network
    /// graph this node knows (the payment itself may find another route). `amount_msat` only
    /// for an invoice without an amount. Errors like `send` would (no route: `PaymentFailed`).
    pub fn estimate_payment_fee(
        &self,
        invoice: &str,
        amount_msat: Option<u64>,
    ) -> Result<PaymentFeeEstimate, NodeError> {
        use lightning::routing::router::Router;
        self.require_running()?;
        let inner = &self.inner;
        let decoded = DecodedInvoice::decode(invoice)?;
        let invoice = decoded.payable_on(self.network())?;
        if decoded.payee_pubkey == inner.node_id {
            return Err(NodeError::CannotPayOwnInvoice);
        }
        let amount = match (decoded.amount_msat, amount_msat) {
            (Some(a), None) => a,
            (None, Some(a)) if a > 0 => a,
            (Some(a), Some(b)) if a == b => a,
            (Some(_), Some(_)) => {
                return Err(NodeError::InvalidAmount(
                    "this invoice states its amount".into(),
                ))
            }
            _ => {
                return Err(NodeError::InvalidAmount(
                    "this invoice has no amount: give one above 0".into(),
                ))
            }
        };
        let route_params = route_parameters(
            PaymentParameters::from_bolt11_invoice(&invoice),
            amount,
            &route_limits(amount, &SendOptions::default()),
        );
        let channels = inner.channel_manager.list_usable_channels();
        let first_hops: Vec<&lightning::ln::channel_state::ChannelDetails> =
            channels.iter().collect();
        let route = inner
            .router
            .find_route(
                &inner.node_id,
                &route_params,
                Some(&first_hops),
                inner.channel_manager.compute_inflight_htlcs(),
            )
            .map_err(|e| NodeError::PaymentFailed(format!("no route: {e}")))?;
        let hops = route.paths.iter().map(|p| p.hops.len()).max().unwrap_or(0);
        Ok(PaymentFeeEstimate {
            amount_msat: amount,
            fee_msat: route.get_total_fees(),
            parts: u32::try_from(route.paths.len()).unwrap_or(u32::MAX),
            max_hops: u32::try_from(hops).unwrap_or(u32::MAX),
        })
    }

    /// Pay an invoice that states its amount. Returns the payment id; the outcome arrives as a
    /// `PaymentSuccessful` or `PaymentFailed` event (and in [`Node::payment`]).
    pub fn send(
        &self,
        invoice: &str,
        options: Option<SendOptions>,
    ) -> Result<PaymentId, NodeError> {
        self.pay_invoice(invoice, None, options.unwrap_or_default())
    }

    /// Pay a variable-amount invoice with `amount_msat`.
    pub fn send_using_amount(
        &self,
        invoice: &str,
        amount_msat: u64,
        options: Option<SendOptions>,
    ) -> Result<PaymentId, NodeError> {
        self.pay_invoice(invoice, Some(amount_msat), options.unwrap_or_default())
    }

    fn usable_outbound_msat(&self) -> u64 {
        self.inner
            .channel_manager
            .list_usable_channels()
            .iter()
            .map(|c| c.next_outbound_htlc_limit_msat)
            .sum()
    }

    /// The route limits of payment `payment_id` (see [`route_limits`]); its hop limit goes to
    /// the router (`HopLimitRouter`), which applies it to every attempt.
    fn route_config(
        &self,
        payment_id: PaymentId,
        amount_msat: u64,
        options: &SendOptions,
    ) -> RouteParametersConfig {
        if let Some(hops) = options.max_route_hops {
            self.inner.router.limit(payment_id, hops);
        }
        route_limits(amount_msat, options)
    }

    /// Whether a channel is in the middle of a commitment update (an HTLC being added or
    /// settled): its capacity is about to change.
    fn channels_settling(&self) -> bool {
        self.inner
            .channel_manager
            .list_usable_channels()
            .iter()
            .any(|c| !c.pending_inbound_htlcs.is_empty() || !c.pending_outbound_htlcs.is_empty())
    }

    /// Refuse up front what the channels cannot carry. Right after a payment, the commitment
    /// dance that moves its amount to our side takes a few round trips; wait for it (briefly)
    /// instead of refusing money that is already ours.
    fn check_capacity(&self, amount_msat: u64) -> Result<(), NodeError> {
        let deadline = std::time::Instant::now() + CAPACITY_SETTLE_WAIT;
        loop {
            let can_send = self.usable_outbound_msat();
            if amount_msat <= can_send {
                return Ok(());
            }
            if !self.channels_settling() || std::time::Instant::now() >= deadline {
                return Err(NodeError::InsufficientCapacity(format!(
                    "{amount_msat} msat asked, the channels can send {can_send} msat now"
                )));
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    fn pay_invoice(
        &self,
        text: &str,
        amount_msat: Option<u64>,
        options: SendOptions,
    ) -> Result<PaymentId, NodeError> {
        self.require_running()?;
        let inner = &self.inner;
        let decoded = DecodedInvoice::decode(text)?;
        let invoice = decoded.payable_on(self.network())?;
        if decoded.is_expired_at(now_secs()) {
            return Err(NodeError::InvoiceExpired);
        }
        if decoded.payee_pubkey == inner.node_id {
            return Err(NodeError::CannotPayOwnInvoice);
        }
        // LDK would take an amount above the invoice's as an overpayment; two calls keep the
        // app from sending one by mistake, and say which call it needs.
        let amount = match (decoded.amount_msat, amount_msat) {
            (Some(a), None) => a,
            (None, Some(a)) if a > 0 => a,
            (None, Some(_)) => {
                return Err(NodeError::InvalidAmount("amount must be above 0".into()))
            }
            (None, None) => {
                return Err(NodeError::InvalidAmount(
                    "this invoice has no amount: use send_using_amount".into(),
                ))
            }
            (Some(_), Some(_)) => {
                return Err(NodeError::InvalidAmount(
                    "this invoice states its amount: use send".into(),
                ))
            }
        };
        self.check_capacity(amount)?;

        let hash = PaymentHash(decoded.payment_hash.to_byte_array());
        let payment_id = PaymentId(hash.0);
        let mut row = new_payment(
            payment_id,
            PaymentDirection::Outbound,
            PaymentKind::Bolt11,
            hash,
        );
        row.amount_msat = Some(amount);
        row.invoice = Some(decoded.to_text());
        row.description = match &decoded.description {
            InvoiceDescription::Direct(d) => Some(d.clone()),
            InvoiceDescription::Hash(_) => None,
        };
        row.counterparty_node_id = Some(decoded.payee_pubkey);
        // The one duplicate check: a pending or paid invoice is refused, a failed one is
        // paid again.
        inner.payments.start_outbound(&row)?;
        inner
            .events
            .forget_payment_outcome(&payment_id)
            .map_err(|e| crate::io::db::node_error("events", &e))?;

        let route_config = self.route_config(payment_id, amount, &options);
        let retries = options.retries.unwrap_or(inner.config.payment_retries);
        let sent = inner.channel_manager.pay_for_bolt11_invoice(
            &invoice,
            payment_id,
            amount_msat,
            route_config,
            Retry::Attempts(retries),
        );
        match sent {
            Ok(()) => Ok(payment_id),
            Err(e) => {
                inner.router.forget(&payment_id);
                let error = match e {
                    Bolt11PaymentError::InvalidAmount => {
                        NodeError::InvalidAmount("LDK refused the amount".into())
                    }
                    Bolt11PaymentError::SendingFailed(e) => send_failure(e),
                };
                // A duplicate here is LDK still winding down an earlier failed attempt of the
                // invoice (it keeps a failed payment's id for a few minutes): this attempt
                // did not start.
                let reason = match &error {
                    NodeError::DuplicatePayment => {
                        "an earlier attempt of this invoice is still being wound down; \
                         try again in a few minutes"
                            .to_string()
                    }
                    other => other.to_string(),
                };
                inner.payments.fail(&payment_id, &reason)?;
                Err(error)
            }
        }
    }

    /// Pay `amount_msat` to `node_id` without an invoice (keysend). Returns the payment id.
    pub fn send_spontaneous(
        &self,
        node_id: &PublicKey,
        amount_msat: u64,
        options: Option<SendOptions>,
    ) -> Result<PaymentId, NodeError> {
        self.send_spontaneous_with_records(node_id, amount_msat, options, Vec::new())
    }

    /// Keysend carrying `custom_records` in the onion (types 65,536 and up, each once; the
    /// payee sees them on its `PaymentReceived` event and payment). Records too large for the
    /// onion are refused before anything is sent. Use odd types: an even type means "reject
    /// the payment unless you understand this" (BOLT 1), and payees, this SDK's included,
    /// reject even types they do not know.
    pub fn send_spontaneous_with_records(
        &self,
        node_id: &PublicKey,
        amount_msat: u64,
        options: Option<SendOptions>,
        custom_records: Vec<CustomRecord>,
    ) -> Result<PaymentId, NodeError> {
        self.require_running()?;
        let onion = onion_fields(&custom_records)?;
        let inner = &self.inner;
        let options = options.unwrap_or_default();
        let payee = *node_id;
        if payee == inner.node_id {
            return Err(NodeError::CannotPayOwnInvoice);
        }
        if amount_msat == 0 {
            return Err(NodeError::InvalidAmount("amount must be above 0".into()));
        }
        self.check_capacity(amount_msat)?;
        let payment_id = PaymentId(inner.keys.get_secure_random_bytes());
        let payment_params = PaymentParameters::for_keysend(
            payee,
            u32::from(inner.config.min_final_cltv_expiry_delta),
            false,
        );
        let route_params = route_parameters(
            payment_params,
            amount_msat,
            &self.route_config(payment_id, amount_msat, &options),
        );
        // The preimage is chosen here so the row has its hash before LDK can report anything.
        let preimage =
            lightning::types::payment::PaymentPreimage(inner.keys.get_secure_random_bytes());
        let hash: PaymentHash = preimage.into();
        let mut row = new_payment(
            payment_id,
            PaymentDirection::Outbound,
            PaymentKind::Spontaneous,
            hash,
        );
        row.amount_msat = Some(amount_msat);
        row.counterparty_node_id = Some(payee);
        row.custom_records = custom_records;
        inner.payments.insert(&row)?;
        let retries = options.retries.unwrap_or(inner.config.payment_retries);
        match inner.channel_manager.send_spontaneous_payment(
            Some(preimage),
            onion,
            payment_id,
            route_params,
            Retry::Attempts(retries),
        ) {
            Ok(_) => Ok(payment_id),
            Err(e) => {
                inner.router.forget(&payment_id);
                let error = send_failure(e);
                inner.payments.fail(&payment_id, &error.to_string())?;
                Err(error)
            }
        }
    }
}

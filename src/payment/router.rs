//! LDK's router with a hop limit per payment.
//!
//! `ChannelManager::pay_for_bolt11_invoice` takes the route limits LDK knows (fee, CLTV budget,
//! number of parts) but not the longest path an app accepts: LDK only derives that from the
//! onion's size. This router lowers `max_path_length` to the payment's limit (the one given
//! when sending, else the configuration's `max_route_hops`) on every route it finds, retries
//! included, and otherwise is LDK's `DefaultRouter`.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, RwLock};

use bitcoin::secp256k1::{PublicKey, Secp256k1};
use lightning::blinded_path::payment::{BlindedPaymentPath, ReceiveTlvs};
use lightning::ln::channel_state::ChannelDetails;
use lightning::ln::channelmanager::PaymentId;
use lightning::routing::router::{
    DefaultRouter, InFlightHtlcs, Route, RouteParameters, Router as LdkRouter,
};
use lightning::routing::scoring::ProbabilisticScoringFeeParameters;
use lightning::sign::KeysManager;
use lightning::types::payment::PaymentHash;

use crate::node::types::{Graph, Logger, Scorer};

type Inner = DefaultRouter<
    Arc<Graph>,
    Logger,
    Arc<KeysManager>,
    Arc<RwLock<Scorer>>,
    ProbabilisticScoringFeeParameters,
    Scorer,
>;

/// The most payments whose own hop limit is remembered; beyond it the oldest limits are
/// dropped (those payments fall back to the configured limit). Limits are forgotten when
/// their payment ends; this bounds what a stream of never-ending payments could hold.
const MAX_REMEMBERED: usize = 1_000;

/// [`DefaultRouter`] with a longest-path limit, per payment or from the configuration.
pub(crate) struct HopLimitRouter {
    inner: Inner,
    default_hops: u8,
    per_payment: Mutex<HashMap<PaymentId, (u64, u8)>>,
    order: std::sync::atomic::AtomicU64,
}

impl HopLimitRouter {
    pub(crate) fn new(inner: Inner, default_hops: u8) -> HopLimitRouter {
        HopLimitRouter {
            inner,
            default_hops,
            per_payment: Mutex::new(HashMap::new()),
            order: std::sync::atomic::AtomicU64::new(0),
        }
    }

    fn limits(&self) -> std::sync::MutexGuard<'_, HashMap<PaymentId, (u64, u8)>> {
        self.per_payment.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Route `payment_id` over at most `hops` hops (until [`HopLimitRouter::forget`]).
    pub(crate) fn limit(&self, payment_id: PaymentId, hops: u8) {
        let n = self
            .order
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let mut limits = self.limits();
        if limits.len() >= MAX_REMEMBERED {
            if let Some(oldest) = limits
                .iter()
                .min_by_key(|(_, (n, _))| *n)
                .map(|(id, _)| *id)
            {
                limits.remove(&oldest);
            }
        }
        limits.insert(payment_id, (n, hops));
    }

    /// The payment ended: its own limit is no longer needed.
    pub(crate) fn forget(&self, payment_id: &PaymentId) {
        self.limits().remove(payment_id);
    }

    fn hops_for(&self, payment_id: Option<&PaymentId>) -> u8 {
        payment_id
            .and_then(|id| self.limits().get(id).map(|(_, hops)| *hops))
            .unwrap_or(self.default_hops)
    }

    /// LDK expects a route to carry the parameters it asked with (it retries from them); the
    /// lower hop limit was only for finding it.
    fn as_asked(
        route: Result<Route, &'static str>,
        asked: &RouteParameters,
    ) -> Result<Route, &'static str> {
        route.map(|mut route| {
            route.route_params = Some(asked.clone());
            route
        })
    }

    fn limited(&self, params: &RouteParameters, hops: u8) -> RouteParameters {
        let mut params = params.clone();
        params.payment_params.max_path_length = params.payment_params.max_path_length.min(hops);
        params
    }
}

impl LdkRouter for HopLimitRouter {
    fn find_route(
        &self,
        payer: &PublicKey,
        route_params: &RouteParameters,
        first_hops: Option<&[&ChannelDetails]>,
        inflight_htlcs: InFlightHtlcs,
    ) -> Result<Route, &'static str> {
        let params = self.limited(route_params, self.hops_for(None));
        let route = self
            .inner
            .find_route(payer, &params, first_hops, inflight_htlcs);
        Self::as_asked(route, route_params)
    }

    fn find_route_with_id(
        &self,
        payer: &PublicKey,
        route_params: &RouteParameters,
        first_hops: Option<&[&ChannelDetails]>,
        inflight_htlcs: InFlightHtlcs,
        payment_hash: PaymentHash,
        payment_id: PaymentId,
    ) -> Result<Route, &'static str> {
        let params = self.limited(route_params, self.hops_for(Some(&payment_id)));
        let route = self.inner.find_route_with_id(
            payer,
            &params,
            first_hops,
            inflight_htlcs,
            payment_hash,
            payment_id,
        );
        Self::as_asked(route, route_params)
    }

    fn create_blinded_payment_paths<
        T: bitcoin::secp256k1::Signing + bitcoin::secp256k1::Verification,
    >(
        &self,
        recipient: PublicKey,
        first_hops: Vec<ChannelDetails>,
        tlvs: ReceiveTlvs,
        amount_msats: Option<u64>,
        secp_ctx: &Secp256k1<T>,
    ) -> Result<Vec<BlindedPaymentPath>, ()> {
        self.inner
            .create_blinded_payment_paths(recipient, first_hops, tlvs, amount_msats, secp_ctx)
    }
}

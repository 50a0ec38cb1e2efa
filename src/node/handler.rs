//! LDK's events, handled: funding from the wallet, sweeping spendable outputs, claiming
//! payments, and translating what an app cares about into our persisted [`Event`]s.
//!
//! The handler returns `ReplayEvent` when it could not persist what it learned, so LDK hands
//! the same event again later instead of losing it.

use std::sync::Arc;

use lightning::chain::chaininterface::ConfirmationTarget;
use lightning::events::{Event as LdkEvent, HTLCHandlingFailureType, PaymentPurpose, ReplayEvent};
use lightning_background_processor::{BackgroundProcessor, GossipSync, NO_ONION_MESSENGER};

use crate::event::{CloseKind, Event, PaymentFailureKind};
use crate::node::NodeInner;
use crate::payment::store::{new_payment, CustomRecord, PaymentDirection, PaymentKind};
use crate::peer::NodeUri;
use crate::types::{PaymentId, UserChannelId};

/// Start LDK's background processor. The flag turns `false` when its thread ends, whether
/// by `stop`, by an error or by a panic (the event handler, which owns the guard, is dropped).
pub(crate) fn start_background_processor(
    inner: Arc<NodeInner>,
    runtime: tokio::runtime::Handle,
) -> (BackgroundProcessor, Arc<std::sync::atomic::AtomicBool>) {
    let handler_inner = inner.clone();
    let (guard, alive) = super::AliveGuard::new();
    let event_handler = move |event: LdkEvent| {
        let _owned = &guard;
        let handled = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            if super::take_injected_failure(&handler_inner, "events") {
                panic!("injected failure of the event handler");
            }
            handle_event(&handler_inner, &runtime, event)
        }));
        handled.unwrap_or_else(|_| {
            // A bug: keep the event for a later run and halt the node.
            let mut failure = handler_inner
                .handler_failure
                .lock()
                .unwrap_or_else(|p| p.into_inner());
            failure.get_or_insert_with(|| "handling an LDK event panicked".into());
            Err(ReplayEvent())
        })
    };
    let processor = BackgroundProcessor::start(
        inner.store.clone(),
        event_handler,
        inner.chain_monitor.clone(),
        inner.channel_manager.clone(),
        NO_ONION_MESSENGER,
        GossipSync::p2p(inner.gossip_sync.clone()),
        inner.peer_manager.clone(),
        Some(inner.liquidity.manager.clone()),
        Some(inner.sweeper.clone()),
        inner.logger.clone(),
        Some(inner.scorer.clone()),
    );
    (processor, alive)
}

/// Why event handling failed, if it did.
pub(crate) fn handler_failure(inner: &NodeInner) -> Option<String> {
    inner
        .handler_failure
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .clone()
}

fn push(inner: &NodeInner, event: Event) -> Result<(), ReplayEvent> {
    inner.events.push(event).map_err(|e| {
        log::error!("could not persist an event, LDK will replay it: {e}");
        ReplayEvent()
    })
}

/// The custom TLV records of a payment's onion.
fn custom_records(
    fields: Option<&lightning::ln::channelmanager::RecipientOnionFields>,
) -> Vec<CustomRecord> {
    fields
        .map(|f| {
            f.custom_tlvs()
                .iter()
                .map(|(type_num, value)| CustomRecord {
                    type_num: *type_num,
                    value: value.clone(),
                })
                .collect()
        })
        .unwrap_or_default()
}

fn handle_event(
    inner: &NodeInner,
    runtime: &tokio::runtime::Handle,
    event: LdkEvent,
) -> Result<(), ReplayEvent> {
    match event {
        LdkEvent::FundingGenerationReady {
            temporary_channel_id,
            counterparty_node_id,
            channel_value_satoshis,
            output_script,
            ..
        } => {
            let feerate = inner
                .onchain
                .fee_estimator()
                .get_est_sat_per_1000_weight(ConfirmationTarget::NonAnchorChannelFee)
                .max(crate::qtum::policy::FEERATE_FLOOR_SAT_PER_KW);
            let mut made = None;
            let funded = inner
                .onchain
                .funding_transaction(&output_script, channel_value_satoshis, feerate)
                .and_then(|tx| {
                    // Remembered first: broadcast again until the channel confirms.
                    super::reconcile::remember_funding(inner, &tx)?;
                    made = Some(tx.compute_txid());
                    inner
                        .channel_manager
                        .funding_transaction_generated(
                            temporary_channel_id,
                            counterparty_node_id,
                            tx,
                        )
                        .map_err(|e| crate::error::NodeError::ChannelFailed(format!("{e:?}")))
                });
            if let Err(e) = funded {
                log::error!("funding channel {temporary_channel_id} failed: {e}");
                if let Some(txid) = made {
                    // LDK did not take it: its inputs are free again.
                    let _ = inner.onchain.release_funding(&txid);
                }
                let _ = inner.channel_manager.force_close_broadcasting_latest_txn(
                    &temporary_channel_id,
                    &counterparty_node_id,
                    format!("funding failed: {e}"),
                );
            }
            Ok(())
        }
        LdkEvent::ChannelPending {
            channel_id,
            user_channel_id,
            counterparty_node_id,
            funding_txo,
            ..
        } => {
            // The channel holds the current close script now; the next one gets its own.
            if let Err(e) = inner.onchain.close_script_funded() {
                log::error!("no new close script after channel {channel_id}: {e}");
            }
            push(
                inner,
                Event::ChannelPending {
                    channel_id,
                    user_channel_id: UserChannelId(user_channel_id),
                    counterparty_node_id,
                    funding_txo,
                },
            )
        }
        LdkEvent::ChannelReady {
            channel_id,
            user_channel_id,
            counterparty_node_id,
            ..
        } => {
            // A channel sold just in time: the HTLCs waiting for it go on now.
            super::liquidity::on_channel_ready(
                inner,
                user_channel_id,
                &channel_id,
                &counterparty_node_id,
            );
            push(
                inner,
                Event::ChannelReady {
                    channel_id,
                    user_channel_id: UserChannelId(user_channel_id),
                    counterparty_node_id,
                },
            )
        }
        LdkEvent::OpenChannelRequest {
            temporary_channel_id,
            counterparty_node_id,
            ..
        } => {
            super::liquidity::on_open_channel_request(
                inner,
                &temporary_channel_id,
                &counterparty_node_id,
            );
            Ok(())
        }
        LdkEvent::HTLCIntercepted {
            intercept_id,
            requested_next_hop_scid,
            payment_hash,
            expected_outbound_amount_msat,
            ..
        } => {
            super::liquidity::on_htlc_intercepted(
                inner,
                intercept_id,
                requested_next_hop_scid,
                expected_outbound_amount_msat,
                payment_hash,
            );
            Ok(())
        }
        LdkEvent::ChannelClosed {
            channel_id,
            user_channel_id,
            reason,
            counterparty_node_id,
            ..
        } => {
            if let Some(counterparty) = &counterparty_node_id {
                super::liquidity::on_channel_closed(inner, counterparty, user_channel_id);
            }
            push(
                inner,
                Event::ChannelClosed {
                    channel_id,
                    user_channel_id: UserChannelId(user_channel_id),
                    counterparty_node_id,
                    kind: CloseKind::of(&reason),
                    reason: reason.to_string(),
                },
            )
        }
        LdkEvent::SpendableOutputs {
            outputs,
            channel_id,
        } => {
            // Swept into the wallet by LDK's sweeper once spendable; persisted by it first.
            // Outputs that already pay a wallet address (cooperative closes, HTLC and justice
            // claims: `StaticOutput`) are the wallet's: its sync finds them. Handing them to
            // the sweeper would break every sweep, since LDK's keys cannot sign for them.
            // An output a recovery without backup found first (`recovery.rs`) is tracked
            // already, under another key identifier: a second entry would put it twice into
            // one sweep.
            let tracked: std::collections::HashSet<bitcoin::OutPoint> = inner
                .sweeper
                .tracked_spendable_outputs()
                .iter()
                .map(|o| super::sweep::outpoint_of(&o.descriptor))
                .collect();
            let outputs: Vec<_> = outputs
                .into_iter()
                .filter(|d| {
                    let outpoint = super::sweep::outpoint_of(d);
                    let fresh = !tracked.contains(&outpoint);
                    if !fresh {
                        log::info!("{outpoint} is already being swept");
                    }
                    fresh
                })
                .collect();
            inner
                .sweeper
                .track_spendable_outputs(outputs, channel_id, true, None)
                .map_err(|()| ReplayEvent())
        }
        LdkEvent::PaymentClaimable {
            payment_hash,
            purpose,
            amount_msat,
            counterparty_skimmed_fee_msat,
            onion_fields,
            claim_deadline,
            receiving_channel_ids,
            ..
        } => {
            let id = PaymentId(payment_hash.0);
            // The last hop kept part of the payment: only a liquidity provider may, for a JIT
            // invoice, and only what it quoted.
            let mut jit = None;
            if counterparty_skimmed_fee_msat > 0 {
                let total = amount_msat.saturating_add(counterparty_skimmed_fee_msat);
                let channels: Vec<_> = receiving_channel_ids.iter().map(|(id, _)| *id).collect();
                match super::liquidity::skim_allowed(
                    inner,
                    &payment_hash,
                    &channels,
                    total,
                    counterparty_skimmed_fee_msat,
                ) {
                    Some(lsp) => jit = Some(lsp),
                    None => {
                        log::warn!(
                            "payment {payment_hash}: {counterparty_skimmed_fee_msat} msat kept by \
                             the last hop without an agreement: failing it back"
                        );
                        inner.channel_manager.fail_htlc_backwards(&payment_hash);
                        return Ok(());
                    }
                }
            }
            if let (Some(lsp), true) = (jit, purpose.preimage().is_some()) {
                if let Some((channel_id, _)) = receiving_channel_ids.first() {
                    push(
                        inner,
                        Event::JitChannelOpened {
                            channel_id: *channel_id,
                            lsp_node_id: lsp,
                            payment_hash,
                            opening_fee_msat: counterparty_skimmed_fee_msat,
                        },
                    )?;
                }
            }
            let records = custom_records(onion_fields.as_ref());
            let row = inner.payments.get(&id).map_err(|_| ReplayEvent())?;
            if matches!(purpose, PaymentPurpose::SpontaneousPayment(_)) && row.is_none() {
                // Keysend: no invoice row exists yet; it is written with its records.
                let mut row = new_payment(
                    id,
                    PaymentDirection::Inbound,
                    PaymentKind::Spontaneous,
                    payment_hash,
                );
                row.amount_msat = Some(amount_msat);
                row.custom_records = records.clone();
                inner.payments.insert(&row).map_err(|_| ReplayEvent())?;
            } else if purpose.preimage().is_some() {
                // An invoice's row exists: the records join it.
                inner
                    .payments
                    .set_custom_records(&id, &records)
                    .map_err(|_| ReplayEvent())?;
            }
            if let Some(preimage) = purpose.preimage() {
                inner.channel_manager.claim_funds(preimage);
                return Ok(());
            }
            // No preimage known to LDK: a hold invoice waits for the app, anything else is
            // failed back.
            let hold = row.filter(|r| {
                r.is_hold_invoice() && r.status == crate::payment::store::PaymentStatus::Pending
            });
            let Some(hold) = hold else {
                log::warn!("claimable payment {payment_hash} of {amount_msat} msat has no preimage we know: failing it back");
                inner.channel_manager.fail_htlc_backwards(&payment_hash);
                return Ok(());
            };
            if let Some(preimage) = hold.preimage {
                // The app already gave the preimage (a replay after a restart).
                inner.channel_manager.claim_funds(preimage);
                return Ok(());
            }
            inner
                .payments
                .set_claimable(&id, Some(amount_msat), claim_deadline, &records)
                .map_err(|_| ReplayEvent())?;
            push(
                inner,
                Event::PaymentClaimable {
                    payment_id: id,
                    payment_hash,
                    amount_msat,
                    claim_deadline_height: claim_deadline,
                    custom_records: records,
                },
            )
        }
        LdkEvent::HTLCHandlingFailed {
            failure_type: HTLCHandlingFailureType::Receive { payment_hash },
            ..
        } => {
            // A hold invoice's HTLCs failed back near their expiry: nothing waits any more
            // (the payer may try again, which makes it claimable again).
            let id = PaymentId(payment_hash.0);
            let row = inner.payments.get(&id).map_err(|_| ReplayEvent())?;
            if let Some(row) =
                row.filter(|r| r.is_hold_invoice() && r.claim_deadline_height.is_some())
            {
                log::warn!(
                    "hold invoice {} was not claimed in time: failed back",
                    row.payment_hash
                );
                inner
                    .payments
                    .set_claimable(&id, None, None, &[])
                    .map_err(|_| ReplayEvent())?;
            }
            Ok(())
        }
        LdkEvent::HTLCHandlingFailed { failure_type, .. } => {
            // A forward failed: if it was a JIT channel's payment, the provider's state learns.
            super::liquidity::on_htlc_handling_failed(inner, failure_type);
            Ok(())
        }
        LdkEvent::PaymentClaimed {
            payment_hash,
            amount_msat,
            purpose,
            onion_fields,
            ..
        } => {
            let id = PaymentId(payment_hash.0);
            let preimage = purpose.preimage();
            inner
                .payments
                .succeed(&id, preimage.as_ref(), Some(amount_msat), None)
                .map_err(|_| ReplayEvent())?;
            push(
                inner,
                Event::PaymentReceived {
                    payment_id: id,
                    payment_hash,
                    amount_msat,
                    custom_records: custom_records(onion_fields.as_ref()),
                },
            )
        }
        LdkEvent::PaymentSent {
            payment_id,
            payment_hash,
            payment_preimage,
            fee_paid_msat,
            ..
        } => {
            if let Some(id) = &payment_id {
                inner.router.forget(id);
            }
            let id = payment_id.unwrap_or(PaymentId(payment_hash.0));
            inner
                .payments
                .succeed(&id, Some(&payment_preimage), None, fee_paid_msat)
                .map_err(|_| ReplayEvent())?;
            push(
                inner,
                Event::PaymentSuccessful {
                    payment_id: id,
                    payment_hash,
                    fee_paid_msat,
                },
            )
        }
        LdkEvent::PaymentFailed {
            payment_id,
            payment_hash,
            reason,
        } => {
            inner.router.forget(&payment_id);
            let kind = PaymentFailureKind::of(reason.as_ref());
            let reason = reason
                .map(|r| format!("{r:?}"))
                .unwrap_or_else(|| "unknown".into());
            inner
                .payments
                .fail(&payment_id, &reason)
                .map_err(|_| ReplayEvent())?;
            push(
                inner,
                Event::PaymentFailed {
                    payment_id,
                    payment_hash,
                    reason,
                    kind,
                },
            )
        }
        LdkEvent::PaymentForwarded {
            prev_channel_id,
            next_channel_id,
            total_fee_earned_msat,
            skimmed_fee_msat,
            outbound_amount_forwarded_msat,
            ..
        } => {
            // A JIT channel's first payment went through: the provider's fee is earned.
            super::liquidity::on_payment_forwarded(inner, next_channel_id, skimmed_fee_msat);
            push(
                inner,
                Event::PaymentForwarded {
                    prev_channel_id,
                    next_channel_id,
                    fee_earned_msat: total_fee_earned_msat,
                    outbound_amount_msat: outbound_amount_forwarded_msat,
                },
            )
        }
        LdkEvent::ConnectionNeeded { node_id, addresses } => {
            if !inner.peer_gate.admits(&inner.channel_manager, &node_id) {
                // Not before the chain sync (see `peer_gate`); LDK asks again when it still
                // needs the peer.
                return Ok(());
            }
            let peer_manager = inner.peer_manager.clone();
            let uris: Vec<NodeUri> = addresses
                .iter()
                .filter_map(|a| format!("{node_id}@{a}").parse().ok())
                .collect();
            runtime.spawn(async move {
                for uri in uris {
                    let connected = super::peers::connect(
                        peer_manager.clone(),
                        &uri,
                        super::peers::CONNECT_TIMEOUT,
                    )
                    .await;
                    if connected.is_ok() {
                        break;
                    }
                }
            });
            Ok(())
        }
        LdkEvent::DiscardFunding {
            channel_id,
            funding_info,
        } => {
            inner.onchain.discard_funding(&funding_info);
            log::info!("funding of channel {channel_id} discarded");
            Ok(())
        }
        other => {
            log::debug!("unhandled LDK event: {other:?}");
            Ok(())
        }
    }
}

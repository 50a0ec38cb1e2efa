//! Putting the SDK's own records back in line with LDK after a crash.
//!
//! The SDK's tables and LDK's state are written at different moments, so a process killed in
//! between leaves records that LDK contradicts. On every build, before anything runs:
//!
//! - an outbound payment our table shows pending but LDK does not know was never handed to LDK
//!   (the process died between the insert and `send_payment`, or before a manager that knew it
//!   reached the disk, which also means no HTLC of it was ever committed): it becomes failed
//!   with that reason, so the invoice can be paid again instead of being refused as a
//!   duplicate for ever;
//! - funding inputs the wallet locked for a channel LDK no longer has (the process died
//!   between building the funding transaction and handing it to LDK, and LDK does not persist
//!   channels that were never funded) are released;
//!
//! and while the node runs, a funding transaction LDK has broadcast is broadcast again until it
//! confirms or its channel is gone (LDK broadcasts it once; a mempool that dropped it, or a
//! crash right after the broadcast, would otherwise leave the channel pending until LDK's
//! funding deadline closes it). Never before LDK broadcast it: only once the channel's first
//! monitor is durable, which LDK waits for (with the peer's signature on our first commitment)
//! before it broadcasts.

use std::collections::HashSet;

use bitcoin::consensus::encode::{deserialize, serialize};
use bitcoin::{Transaction, Txid};
use lightning::ln::channelmanager::RecentPaymentDetails;
use qtum_sql::params;

use crate::error::NodeError;
use crate::node::NodeInner;
use crate::payment::store::{PaymentDirection, PaymentFilter, PaymentStatus};

/// Why a reconciled payment failed, as the app reads it.
pub(crate) const NEVER_SENT: &str =
    "the node stopped before the payment was handed to Lightning; nothing was sent, it can be paid again";

fn db_err(e: qtum_sql::Error) -> NodeError {
    crate::io::db::node_error("funding transactions", &e)
}

/// Funding transactions of channels LDK still has (open or closing) and of monitors it keeps.
fn live_funding_txids(inner: &NodeInner) -> HashSet<Txid> {
    let mut live: HashSet<Txid> = inner
        .channel_manager
        .list_channels()
        .iter()
        .filter_map(|c| c.funding_txo.map(|o| o.txid))
        .collect();
    for channel_id in inner.chain_monitor.list_monitors() {
        if let Ok(monitor) = inner.chain_monitor.get_monitor(channel_id) {
            live.insert(monitor.get_funding_txo().txid);
        }
    }
    live
}

/// Tell LDK that every stored monitor is durable up to its own latest update.
///
/// A manager can be committed while a channel's *first* monitor was still queued in the same
/// or an earlier batch; if the process dies before the writer reported that monitor complete,
/// the stored manager still waits for it, and LDK only reconciles in-flight *updates* on load,
/// not a first persistence. The monitor is on disk (LDK drops the channel when it is not), and
/// a stored monitor with no update in flight is exactly what the manager expects, so reporting
/// it complete is true and lets the channel go on. For channels with updates to replay it
/// changes nothing: LDK waits for those.
pub(crate) fn complete_stored_monitors(inner: &NodeInner) {
    for channel_id in inner.chain_monitor.list_monitors() {
        let latest = match inner.chain_monitor.get_monitor(channel_id) {
            Ok(monitor) => monitor.get_latest_update_id(),
            Err(()) => continue,
        };
        if let Err(e) = inner
            .chain_monitor
            .channel_monitor_updated(channel_id, latest)
        {
            log::warn!("channel {channel_id}: reporting its stored monitor: {e:?}");
        }
    }
}

/// Run once when the node is built, before it starts.
pub(crate) fn on_build(inner: &NodeInner) -> Result<(), NodeError> {
    complete_stored_monitors(inner);
    // Payments LDK never got.
    let known: HashSet<crate::types::PaymentId> = inner
        .channel_manager
        .list_recent_payments()
        .into_iter()
        .map(|p| match p {
            RecentPaymentDetails::AwaitingInvoice { payment_id }
            | RecentPaymentDetails::Pending { payment_id, .. }
            | RecentPaymentDetails::Fulfilled { payment_id, .. }
            | RecentPaymentDetails::Abandoned { payment_id, .. } => payment_id,
        })
        .collect();
    let pending = inner.payments.list(&PaymentFilter {
        direction: Some(PaymentDirection::Outbound),
        status: Some(PaymentStatus::Pending),
        ..Default::default()
    })?;
    for payment in pending {
        if !known.contains(&payment.id) {
            log::warn!(
                "payment {} was never handed to LDK before the node stopped: marked failed",
                payment.id
            );
            inner.payments.fail(&payment.id, NEVER_SENT)?;
        }
    }

    // Funding inputs of channels that do not exist.
    let live = live_funding_txids(inner);
    for txid in inner.onchain.funding_lock_txids() {
        if !live.contains(&txid) {
            match inner.onchain.release_funding(&txid) {
                Ok(n) => log::warn!(
                    "released {n} input(s) locked for funding transaction {txid}, whose channel \
                     does not exist"
                ),
                Err(e) => log::error!("could not release the inputs of {txid}: {e}"),
            }
            forget_funding(inner, &txid)?;
        }
    }
    Ok(())
}

/// Keep a funding transaction we made until its channel confirms or goes away.
pub(crate) fn remember_funding(inner: &NodeInner, tx: &Transaction) -> Result<(), NodeError> {
    inner
        .db
        .conn()
        .execute(
            "INSERT INTO funding_txs (txid, raw, created_at) VALUES (?1, ?2, ?3)
             ON CONFLICT (txid) DO UPDATE SET raw = excluded.raw, created_at = excluded.created_at",
            params![
                tx.compute_txid().to_string(),
                serialize(tx),
                super::now_secs() as i64
            ],
        )
        .map_err(db_err)?;
    Ok(())
}

fn forget_funding(inner: &NodeInner, txid: &Txid) -> Result<(), NodeError> {
    inner
        .db
        .conn()
        .execute(
            "DELETE FROM funding_txs WHERE txid = ?1",
            params![txid.to_string()],
        )
        .map_err(db_err)?;
    Ok(())
}

/// Broadcast again every remembered funding transaction whose channel is still waiting for
/// its first confirmation; forget the ones whose channel confirmed or is gone.
pub(crate) fn rebroadcast_funding(inner: &NodeInner) -> Result<(), NodeError> {
    let rows: Vec<(String, Vec<u8>)> = {
        let conn = inner.db.conn();
        let mut stmt = conn
            .prepare("SELECT txid, raw FROM funding_txs")
            .map_err(db_err)?;
        stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
            .map_err(db_err)?
            .collect::<Result<Vec<_>, _>>()
            .map_err(db_err)?
    };
    if rows.is_empty() {
        return Ok(());
    }
    let channels = inner.channel_manager.list_channels();
    let live = live_funding_txids(inner);
    // Channels whose first monitor is not yet durable: LDK has not broadcast their funding
    // (it waits for the peer's signature on our first commitment and for that monitor), and
    // neither may we: without them the funds would be locked in a 2-of-2 we cannot spend.
    let unsettled: HashSet<lightning::ln::types::ChannelId> = inner
        .chain_monitor
        .list_pending_monitor_updates()
        .into_iter()
        .filter(|(_, pending)| !pending.is_empty())
        .map(|(channel_id, _)| channel_id)
        .collect();
    for (txid_text, raw) in rows {
        let Ok(txid) = txid_text.parse::<Txid>() else {
            continue;
        };
        let channel = channels
            .iter()
            .find(|c| c.funding_txo.map(|o| o.txid) == Some(txid));
        match channel {
            Some(c)
                if inner.chain_monitor.get_monitor(c.channel_id).is_err()
                    || unsettled.contains(&c.channel_id) =>
            {
                // Not broadcast by LDK yet (see above): wait.
            }
            Some(c) if c.confirmations.unwrap_or(0) == 0 => {
                if let Ok(tx) = deserialize::<Transaction>(&raw) {
                    log::debug!("broadcasting funding transaction {txid} again");
                    inner.onchain.broadcaster().broadcast_transactions(&[&tx]);
                }
            }
            // Confirmed: the chain has it.
            Some(_) => forget_funding(inner, &txid)?,
            // Closed before confirming, but LDK still watches it: keep quiet, keep the row.
            None if live.contains(&txid) => {}
            None => forget_funding(inner, &txid)?,
        }
    }
    Ok(())
}

//! The on-chain history an app lists: every wallet transaction with what it did to the balance
//! and, where the node knows, what it was for (a channel's funding or close, a sweep).

use std::collections::HashMap;

use crate::node::sweep::SweepStatus;
use crate::node::Node;
use crate::types::{ChannelId, Txid};

/// A transaction touching the on-chain wallet.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "uniffi", derive(uniffi::Record))]
pub struct OnchainTransaction {
    /// Transaction id.
    pub txid: Txid,
    /// What its outputs pay the wallet, in satoshi.
    pub received_sat: u64,
    /// What it spends of the wallet's coins, in satoshi.
    pub sent_sat: u64,
    /// Its fee, when the wallet knows every input (always for its own sends).
    pub fee_sat: Option<u64>,
    /// Height of the block that confirms it; `None` while unconfirmed.
    pub confirmation_height: Option<u32>,
    /// That block's time, Unix seconds.
    pub confirmation_time: Option<u32>,
    /// Confirmations now (0 while unconfirmed).
    pub confirmations: u32,
    /// When the wallet first saw it, Unix seconds.
    pub first_seen: u64,
    /// What it was for.
    pub kind: OnchainTxKind,
}

/// What an on-chain transaction was for, as far as the node knows.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "uniffi", derive(uniffi::Enum))]
pub enum OnchainTxKind {
    /// A payment to or from the wallet (an address, a coinbase or coinstake).
    Payment,
    /// Funding a channel we opened.
    ChannelFunding {
        /// The channel.
        channel_id: ChannelId,
    },
    /// Closing a channel: its funds (our share) coming back.
    ChannelClose {
        /// The channel.
        channel_id: ChannelId,
    },
    /// The node's sweeper moving a closed channel's output into the wallet.
    Sweep {
        /// The channel, when known.
        channel_id: Option<ChannelId>,
    },
}

impl Node {
    /// Every transaction touching the on-chain wallet, unconfirmed first, then from the
    /// newest block down; each with what it was for. Works whether or not the node runs.
    pub fn list_transactions(&self) -> Vec<OnchainTransaction> {
        let inner = &self.inner;
        let mut kinds: HashMap<Txid, OnchainTxKind> = HashMap::new();
        for channel_id in inner.chain_monitor.list_monitors() {
            let Ok(monitor) = inner.chain_monitor.get_monitor(channel_id) else {
                continue;
            };
            let funding = monitor.get_funding_txo().into_bitcoin_outpoint();
            kinds.insert(funding.txid, OnchainTxKind::ChannelFunding { channel_id });
            if let Some(close) = inner.onchain.spender_of(&funding) {
                kinds.insert(close, OnchainTxKind::ChannelClose { channel_id });
            }
        }
        for sweep in self.pending_sweeps() {
            if let SweepStatus::Broadcast { txid } | SweepStatus::Confirmed { txid, .. } =
                &sweep.status
            {
                kinds.insert(
                    *txid,
                    OnchainTxKind::Sweep {
                        channel_id: sweep.channel_id,
                    },
                );
            }
        }
        let tip = self.status().synced_height;
        inner
            .onchain
            .transactions()
            .into_iter()
            .map(|t| OnchainTransaction {
                txid: t.txid,
                received_sat: t.received_sat,
                sent_sat: t.sent_sat,
                fee_sat: t.fee_sat,
                confirmation_height: t.confirmation.map(|c| c.height),
                confirmation_time: t.confirmation.map(|c| c.time),
                confirmations: match (t.confirmation, tip) {
                    (Some(c), Some(tip)) => tip.saturating_sub(c.height).saturating_add(1),
                    (Some(_), None) => 1,
                    (None, _) => 0,
                },
                first_seen: t.first_seen,
                kind: kinds.remove(&t.txid).unwrap_or(OnchainTxKind::Payment),
            })
            .collect()
    }
}

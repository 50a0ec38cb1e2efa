//! Everything the node holds, in one answer: the on-chain wallet, open channels, and closed
//! channels' funds on their way back to the wallet.
//!
//! A closed channel's funds leave `list_channels` at once, and reach the wallet only after the
//! closing transaction's confirmations, a force close's `to_self_delay` (7 days by default on
//! Qtum) and the sweep. In between they are in LDK's channel monitors and then in the sweeper;
//! [`Node::balances`] reports them there, so a wallet's total never drops while funds travel.
//! Nothing is counted twice: a closing transaction the wallet already holds is counted by
//! the wallet only, and so is a sweep whose transaction the wallet holds.

use lightning::chain::channelmonitor::{Balance as LdkBalance, BalanceSource};

use crate::node::onchain::OnchainBalance;
use crate::node::sweep::{PendingSweep, SweepStatus};
use crate::node::Node;
use crate::types::{ChannelId, PublicKey};

/// The node's funds, in satoshi unless named otherwise.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "uniffi", derive(uniffi::Record))]
pub struct Balances {
    /// The on-chain wallet.
    pub onchain: OnchainBalance,
    /// Ours in open channels: what closing them now would give us (before the closing fee of
    /// a cooperative close; a force close pays the commitment fee already deducted here).
    pub lightning_sat: u64,
    /// What the usable channels can send now, in millisatoshi.
    pub lightning_sendable_msat: u64,
    /// What the usable channels can receive now, in millisatoshi.
    pub lightning_receivable_msat: u64,
    /// Closed channels' funds on their way to the wallet (the sum of `closing`'s
    /// `amount_sat`).
    pub closing_sat: u64,
    /// Each of them, with where it stands.
    pub closing: Vec<ClosingBalance>,
    /// `onchain.total_sat + lightning_sat + closing_sat`.
    pub total_sat: u64,
}

/// Funds of a closed channel (or of a channel being closed) not in the wallet yet.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "uniffi", derive(uniffi::Record))]
pub struct ClosingBalance {
    /// The channel (hex), when known.
    pub channel_id: Option<ChannelId>,
    /// The peer (hex node id), when known.
    pub counterparty_node_id: Option<PublicKey>,
    /// What is ours, in satoshi (0 for an HTLC whose outcome is still open).
    pub amount_sat: u64,
    /// Where it stands.
    pub status: ClosingStatus,
}

/// Where a [`ClosingBalance`] stands.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "uniffi", derive(uniffi::Enum))]
pub enum ClosingStatus {
    /// The closing transaction is not confirmed yet.
    AwaitingCloseConfirmation,
    /// Ours once the chain reaches `maturity_height`: the closing transaction's
    /// confirmations, or our `to_self_delay` after we force-closed (then swept to the wallet).
    Maturing {
        /// The block height at which it is ours to spend.
        maturity_height: u32,
        /// How the channel closed.
        source: CloseSource,
    },
    /// An HTLC we hold the preimage of, being claimed on chain; the peer may take it back
    /// after `timeout_height` if our claim has not confirmed by then.
    ClaimingHtlc {
        /// The height after which the peer can claim it instead.
        timeout_height: u32,
    },
    /// An HTLC that comes back to us at `claimable_height` unless the peer claims it with the
    /// preimage first. `amount_sat` is 0 for our own payment (it may still succeed);
    /// `htlc_sat` is the HTLC's value.
    HtlcTimingOut {
        /// The height at which we can take it back.
        claimable_height: u32,
        /// The HTLC's value, in satoshi.
        htlc_sat: u64,
    },
    /// An incoming HTLC we could claim if we learn its preimage before `expiry_height`
    /// (`amount_sat` 0: not counted).
    HtlcAwaitingPreimage {
        /// The height after which the peer takes it back.
        expiry_height: u32,
        /// The HTLC's value, in satoshi.
        htlc_sat: u64,
    },
    /// An output of a revoked commitment the peer broadcast: ours, being claimed as a penalty.
    PenaltyClaim,
    /// Spendable, with the node's sweeper, which moves it into the wallet (see
    /// `pending_sweeps`).
    Sweeping {
        /// Where the sweep stands.
        sweep: SweepStatus,
    },
}

/// How a channel closed, for a maturing balance.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "uniffi", derive(uniffi::Enum))]
pub enum CloseSource {
    /// A cooperative close.
    Cooperative,
    /// We force-closed.
    ForceClosedByUs,
    /// The peer force-closed.
    ForceClosedByPeer,
    /// An HTLC's claim.
    Htlc,
}

fn close_source(source: &BalanceSource) -> CloseSource {
    match source {
        BalanceSource::CoopClose => CloseSource::Cooperative,
        BalanceSource::HolderForceClosed => CloseSource::ForceClosedByUs,
        BalanceSource::CounterpartyForceClosed => CloseSource::ForceClosedByPeer,
        BalanceSource::Htlc => CloseSource::Htlc,
    }
}

/// One LDK balance of a closed channel as the app sees it, or `None` when the wallet counts it
/// already (`closing_in_wallet`: the wallet holds the transaction spending the funding output,
/// so what that transaction pays the wallet is in the on-chain balance).
fn closing_status(balance: &LdkBalance, closing_in_wallet: bool) -> Option<ClosingStatus> {
    Some(match balance {
        LdkBalance::ClaimableOnChannelClose { .. } => {
            if closing_in_wallet {
                return None;
            }
            ClosingStatus::AwaitingCloseConfirmation
        }
        LdkBalance::ClaimableAwaitingConfirmations {
            confirmation_height,
            source,
            ..
        } => {
            // A cooperative close pays the wallet's script; the peer's commitment pays our
            // share to a wallet script too when it is a plain output (otherwise the sweeper
            // gets it, and the wallet does not hold that commitment).
            let paid_to_wallet = matches!(
                source,
                BalanceSource::CoopClose | BalanceSource::CounterpartyForceClosed
            );
            if closing_in_wallet && paid_to_wallet {
                return None;
            }
            ClosingStatus::Maturing {
                maturity_height: *confirmation_height,
                source: close_source(source),
            }
        }
        LdkBalance::ContentiousClaimable { timeout_height, .. } => ClosingStatus::ClaimingHtlc {
            timeout_height: *timeout_height,
        },
        LdkBalance::MaybeTimeoutClaimableHTLC {
            claimable_height,
            amount_satoshis,
            ..
        } => ClosingStatus::HtlcTimingOut {
            claimable_height: *claimable_height,
            htlc_sat: *amount_satoshis,
        },
        LdkBalance::MaybePreimageClaimableHTLC {
            expiry_height,
            amount_satoshis,
            ..
        } => ClosingStatus::HtlcAwaitingPreimage {
            expiry_height: *expiry_height,
            htlc_sat: *amount_satoshis,
        },
        LdkBalance::CounterpartyRevokedOutputClaimable { .. } => ClosingStatus::PenaltyClaim,
    })
}

/// A sweeper output not yet counted by the wallet: the wallet holds its sweep transaction
/// once it has seen it (then the funds are in the on-chain balance).
fn sweep_in_flight(node: &Node, sweep: &PendingSweep) -> bool {
    let txid = match &sweep.status {
        SweepStatus::Broadcast { txid } | SweepStatus::Confirmed { txid, .. } => txid,
        SweepStatus::Pending | SweepStatus::WaitingForFees { .. } => return true,
    };
    !node.inner.onchain.holds_transaction(txid)
}

impl Node {
    /// Everything the node holds: the on-chain wallet, open channels, and closed channels'
    /// funds on their way to the wallet (with the height at which each matures). Works
    /// whether or not the node is running.
    pub fn balances(&self) -> Balances {
        let inner = &self.inner;
        let onchain = inner.onchain.balance();
        let channels = inner.channel_manager.list_channels();
        let open: std::collections::HashSet<_> = channels.iter().map(|c| c.channel_id).collect();
        // A channel we fund whose funding transaction the wallet has not seen yet: its coins
        // are still the wallet's (locked), counted there.
        let funding_unseen: std::collections::HashSet<_> = channels
            .iter()
            .filter(|c| c.is_outbound)
            .filter(|c| {
                c.funding_txo
                    .is_some_and(|o| !inner.onchain.holds_transaction(&o.txid))
            })
            .map(|c| c.channel_id)
            .collect();
        let mut lightning_sat = 0u64;
        let mut closing = Vec::new();
        for channel_id in inner.chain_monitor.list_monitors() {
            let Ok(monitor) = inner.chain_monitor.get_monitor(channel_id) else {
                continue;
            };
            let balances = monitor.get_claimable_balances();
            if funding_unseen.contains(&channel_id) {
                continue;
            }
            if open.contains(&channel_id) {
                lightning_sat = lightning_sat.saturating_add(
                    balances
                        .iter()
                        .map(LdkBalance::claimable_amount_satoshis)
                        .fold(0u64, u64::saturating_add),
                );
                continue;
            }
            let closing_in_wallet = inner
                .onchain
                .holds_spend_of(&monitor.get_funding_txo().into_bitcoin_outpoint());
            let counterparty = monitor.get_counterparty_node_id();
            for balance in &balances {
                if let Some(status) = closing_status(balance, closing_in_wallet) {
                    closing.push(ClosingBalance {
                        channel_id: Some(channel_id),
                        counterparty_node_id: Some(counterparty),
                        amount_sat: balance.claimable_amount_satoshis(),
                        status,
                    });
                }
            }
        }
        for sweep in self.pending_sweeps() {
            if sweep_in_flight(self, &sweep) {
                closing.push(ClosingBalance {
                    channel_id: sweep.channel_id,
                    counterparty_node_id: None,
                    amount_sat: sweep.value_sat,
                    status: ClosingStatus::Sweeping {
                        sweep: sweep.status,
                    },
                });
            }
        }
        let closing_sat = closing
            .iter()
            .map(|c| c.amount_sat)
            .fold(0u64, u64::saturating_add);
        let usable: Vec<_> = channels.iter().filter(|c| c.is_usable).collect();
        Balances {
            total_sat: onchain
                .total_sat
                .saturating_add(lightning_sat)
                .saturating_add(closing_sat),
            onchain,
            lightning_sat,
            lightning_sendable_msat: usable
                .iter()
                .map(|c| c.next_outbound_htlc_limit_msat)
                .fold(0u64, u64::saturating_add),
            lightning_receivable_msat: usable
                .iter()
                .map(|c| c.inbound_capacity_msat)
                .fold(0u64, u64::saturating_add),
            closing_sat,
            closing,
        }
    }
}

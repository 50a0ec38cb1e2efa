//! Channels: opening, listing, closing and the forwarding fees an app sets on them.

use std::time::Duration;

use lightning::ln::channel_state::{
    ChannelDetails, InboundHTLCStateDetails, OutboundHTLCStateDetails,
};

use super::{Node, NodeInner};
use crate::config::ldk_user_config;
use crate::error::NodeError;
use crate::peer::NodeUri;
use crate::types::{ChannelId, OutPoint, PublicKey, UserChannelId};

/// How long `close_channel` waits for the channel's monitor updates in flight to be committed
/// before it gives LDK's refusal back (a commit takes milliseconds; a disk this slow is sick).
const CLOSE_WAIT_FOR_MONITORS: Duration = Duration::from_secs(10);

/// A channel as an app shows it. Its JSON form (serde) has the identifiers as text, as the
/// server's API and the tools print it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[cfg_attr(feature = "uniffi", derive(uniffi::Record))]
pub struct ChannelInfo {
    /// Channel id.
    #[serde(with = "crate::types::as_text")]
    pub channel_id: ChannelId,
    /// The id given at `open_channel` (decimal), or one the node chose for inbound channels.
    #[serde(with = "crate::types::as_text")]
    pub user_channel_id: UserChannelId,
    /// The peer's node id (hex).
    #[serde(with = "crate::types::as_text")]
    pub counterparty_node_id: PublicKey,
    /// Funding outpoint `txid:vout`, once known.
    #[serde(with = "crate::types::opt_text")]
    pub funding_txo: Option<OutPoint>,
    /// Total capacity, in satoshi.
    pub capacity_sat: u64,
    /// What closing now would give us on chain, in satoshi, before the claim fees (LDK's
    /// claimable balance; outputs below Qtum's dust limit count as zero).
    pub balance_sat: u64,
    /// What we can send now, in millisatoshi.
    pub outbound_capacity_msat: u64,
    /// What we can receive now, in millisatoshi.
    pub inbound_capacity_msat: u64,
    /// Confirmations of the funding transaction.
    pub confirmations: Option<u32>,
    /// Confirmations needed before the channel is ready.
    pub confirmations_required: Option<u32>,
    /// Whether we opened it.
    pub is_outbound: bool,
    /// Whether both sides consider it ready.
    pub is_ready: bool,
    /// Whether payments can use it now (ready and the peer connected).
    pub is_usable: bool,
    /// Whether it is announced to the network.
    pub is_announced: bool,
    /// HTLCs (payments in flight) irrevocably committed in both sides' commitment
    /// transactions: a force close now would put them on chain.
    pub htlcs_in_flight: u32,
    /// What we charge to forward a payment out through this channel: a base fee, in
    /// millisatoshi…
    pub forwarding_fee_base_msat: u32,
    /// …plus this many millionths of the amount forwarded.
    pub forwarding_fee_ppm: u32,
}

impl Node {
    /// Open a channel of `capacity_sat` to the peer at `uri`, funded from the on-chain wallet,
    /// optionally pushing `push_msat` to the peer. Returns the channel's user id: its channel id,
    /// which the other calls take, is only known once the funding transaction exists and comes
    /// with the `ChannelPending` event carrying this user id (and in `list_channels`). The
    /// channel is usable after `funding_confirmations` blocks (watch for `ChannelReady`).
    pub fn open_channel(
        &self,
        uri: &str,
        capacity_sat: u64,
        push_msat: Option<u64>,
        announce: bool,
    ) -> Result<UserChannelId, NodeError> {
        self.require_running()?;
        let uri: NodeUri = uri.parse()?;
        let config = &self.inner.config;
        if capacity_sat < config.min_channel_size_sat || capacity_sat > config.max_channel_size_sat
        {
            return Err(NodeError::InvalidAmount(format!(
                "a channel holds between {} and {} sat; {capacity_sat} sat asked",
                config.min_channel_size_sat, config.max_channel_size_sat
            )));
        }
        let push_msat = push_msat.unwrap_or(0);
        if push_msat > capacity_sat.saturating_mul(1000) {
            return Err(NodeError::InvalidAmount(
                "push_msat is larger than the channel".into(),
            ));
        }
        let spendable = self.inner.onchain.spendable_sat();
        if spendable < capacity_sat {
            return Err(NodeError::InsufficientFunds(format!(
                "{spendable} sat spendable on chain, {capacity_sat} sat needed plus the funding fee"
            )));
        }
        self.connect(&uri.to_string(), true)?;

        let mut channel_config = ldk_user_config(config);
        channel_config
            .channel_handshake_config
            .announce_for_forwarding = announce;
        let user_channel_id = new_user_channel_id(&self.inner.keys);
        self.inner
            .channel_manager
            .create_channel(
                uri.node_id,
                capacity_sat,
                push_msat,
                user_channel_id,
                None,
                Some(channel_config),
            )
            .map_err(|e| NodeError::ChannelFailed(format!("{e:?}")))?;
        Ok(UserChannelId(user_channel_id))
    }

    /// Our channels, pending and ready.
    pub fn list_channels(&self) -> Vec<ChannelInfo> {
        self.inner
            .channel_manager
            .list_channels()
            .iter()
            .map(|c| channel_info(c, claimable_sat(&self.inner, c)))
            .collect()
    }

    /// The channel with this channel id (as in `ChannelInfo` and the events). Channel calls
    /// take one kind of id only, the channel id.
    fn find_channel(&self, channel_id: &ChannelId) -> Result<ChannelDetails, NodeError> {
        self.inner
            .channel_manager
            .list_channels()
            .into_iter()
            .find(|c| c.channel_id == *channel_id)
            .ok_or_else(|| NodeError::UnknownChannel(channel_id.to_string()))
    }

    /// Close a channel cooperatively (by its channel id). The funds arrive in the on-chain
    /// wallet once the closing transaction confirms.
    ///
    /// Right after a payment the channel's last monitor updates may still be on their way to
    /// disk (they are committed together with the channel manager, see
    /// `docs/persistence.md`), and LDK refuses to begin a shutdown until they are. The call
    /// waits for them (at most [`CLOSE_WAIT_FOR_MONITORS`]) instead of failing: a refusal while
    /// the peer is not connected and nothing is in flight comes back at once.
    pub fn close_channel(&self, channel_id: &ChannelId) -> Result<(), NodeError> {
        self.require_running()?;
        let channel = self.find_channel(channel_id)?;
        let deadline = std::time::Instant::now() + CLOSE_WAIT_FOR_MONITORS;
        loop {
            let refused = match self
                .inner
                .channel_manager
                .close_channel(&channel.channel_id, &channel.counterparty.node_id)
            {
                Ok(()) => return Ok(()),
                Err(e) => e,
            };
            // An update in flight, or one committed whose completion LDK has not processed
            // yet (it does on its next event round): both pass while the peer is connected.
            let updating = || {
                self.inner
                    .chain_monitor
                    .list_pending_monitor_updates()
                    .get(&channel.channel_id)
                    .is_some_and(|pending| !pending.is_empty())
            };
            let connected = || {
                self.inner
                    .peer_manager
                    .peer_by_node_id(&channel.counterparty.node_id)
                    .is_some()
            };
            // LDK names both causes in one text; a peer that is not connected is not waited for,
            // nor any other refusal ("shutdown already in progress by remote", say).
            let transient = match &refused {
                lightning::util::errors::APIError::ChannelUnavailable { err } => {
                    updating() || (err.contains("monitor update") && connected())
                }
                _ => false,
            };
            if !transient || std::time::Instant::now() >= deadline {
                return Err(NodeError::ChannelFailed(format!("{refused:?}")));
            }
            std::thread::sleep(Duration::from_millis(20));
            self.require_running()?;
        }
    }

    /// Change what we charge to forward payments out through a channel (by its channel id);
    /// `None` keeps a value as it is. The peer learns it at once (a
    /// `channel_update`); payers see it in new invoices' route hints, or in gossip for an
    /// announced channel. Kept across restarts.
    pub fn set_channel_fees(
        &self,
        channel_id: &ChannelId,
        base_fee_msat: Option<u32>,
        fee_ppm: Option<u32>,
    ) -> Result<(), NodeError> {
        self.require_running()?;
        let channel = self.find_channel(channel_id)?;
        if fee_ppm.is_some_and(|ppm| ppm > MAX_FEE_PPM) {
            return Err(NodeError::InvalidAmount(format!(
                "a fee of more than {MAX_FEE_PPM} ppm (10 % of the amount) is refused"
            )));
        }
        let update = lightning::util::config::ChannelConfigUpdate {
            forwarding_fee_base_msat: base_fee_msat,
            forwarding_fee_proportional_millionths: fee_ppm,
            ..Default::default()
        };
        self.inner
            .channel_manager
            .update_partial_channel_config(
                &channel.counterparty.node_id,
                &[channel.channel_id],
                &update,
            )
            .map_err(|e| NodeError::ChannelFailed(format!("{e:?}")))
    }

    /// Force-close a channel: broadcast our latest commitment. Our funds come back after our
    /// `to_self_delay` (swept to the wallet by the node).
    pub fn force_close_channel(
        &self,
        channel_id: &ChannelId,
        reason: Option<String>,
    ) -> Result<(), NodeError> {
        self.require_running()?;
        let channel = self.find_channel(channel_id)?;
        if let Some(funding) = channel.funding_txo {
            if self
                .inner
                .restore_hold
                .is_held(&funding.into_bitcoin_outpoint())
            {
                return Err(NodeError::ChannelFailed(
                    "this channel was restored from a backup and its peer has not confirmed our \
                     state yet: our commitment may be revoked, and broadcasting it could lose \
                     the channel. It can be closed once the peer has reconnected"
                        .into(),
                ));
            }
        }
        self.inner
            .channel_manager
            .force_close_broadcasting_latest_txn(
                &channel.channel_id,
                &channel.counterparty.node_id,
                reason.unwrap_or_else(|| "closed by the user".into()),
            )
            .map_err(|e| NodeError::ChannelFailed(format!("{e:?}")))
    }
}

/// A fresh random `user_channel_id` (for channels we open, accept or sell).
pub(crate) fn new_user_channel_id(keys: &lightning::sign::KeysManager) -> u128 {
    use lightning::sign::EntropySource;
    let bytes = keys.get_secure_random_bytes();
    let mut out = [0u8; 16];
    out.copy_from_slice(&bytes[..16]);
    u128::from_be_bytes(out)
}

fn claimable_sat(inner: &NodeInner, c: &ChannelDetails) -> u64 {
    match inner.chain_monitor.get_monitor(c.channel_id) {
        Ok(monitor) => monitor
            .get_claimable_balances()
            .iter()
            .map(|b| b.claimable_amount_satoshis())
            .sum(),
        // Not funded yet: nothing on chain to claim.
        Err(()) => 0,
    }
}

/// The highest proportional forwarding fee `set_channel_fees` takes: 10 % of the amount.
/// More is a typo (a base fee in the wrong field) that would make every route through us fail.
const MAX_FEE_PPM: u32 = 100_000;

fn channel_info(c: &ChannelDetails, balance_sat: u64) -> ChannelInfo {
    ChannelInfo {
        channel_id: c.channel_id,
        user_channel_id: UserChannelId(c.user_channel_id),
        counterparty_node_id: c.counterparty.node_id,
        funding_txo: c.funding_txo.map(|o| o.into_bitcoin_outpoint()),
        capacity_sat: c.channel_value_satoshis,
        balance_sat,
        outbound_capacity_msat: c.outbound_capacity_msat,
        inbound_capacity_msat: c.inbound_capacity_msat,
        confirmations: c.confirmations,
        confirmations_required: c.confirmations_required,
        is_outbound: c.is_outbound,
        is_ready: c.is_channel_ready,
        is_usable: c.is_usable,
        is_announced: c.is_announced,
        htlcs_in_flight: (c
            .pending_inbound_htlcs
            .iter()
            .filter(|h| h.state == Some(InboundHTLCStateDetails::Committed))
            .count()
            + c.pending_outbound_htlcs
                .iter()
                .filter(|h| h.state == Some(OutboundHTLCStateDetails::Committed))
                .count()) as u32,
        forwarding_fee_base_msat: c.config.map_or(0, |c| c.forwarding_fee_base_msat),
        forwarding_fee_ppm: c
            .config
            .map_or(0, |c| c.forwarding_fee_proportional_millionths),
    }
}

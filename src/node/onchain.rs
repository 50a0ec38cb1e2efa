//! The node's on-chain stack: the chain source, the sync engine LDK is fed from, fee estimation,
//! broadcasting and the wallet, built from the configuration and shared by the node's tasks.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use bitcoin::{Script, ScriptBuf, Transaction};
use lightning::chain::Confirm;
use lightning::events::FundingInfo;
use lightning::sign::ChangeDestinationSourceSync;
use lightning::util::persist::KVStoreSync;
use qtum_chain::broadcast::ChainBroadcaster;
use qtum_chain::esplora::{EsploraConfig, EsploraSource};
use qtum_chain::fees::{FeeRefresher, LdkFeeEstimator};
use qtum_chain::rpc::{RpcConfig, RpcEndpoint, RpcSource};
use qtum_chain::sync::{ChainSync, SyncConfig, SyncTip};
use qtum_chain::{BlockRef, ChainError, ChainSource, GuardedSource, HeaderRules};
use qtum_wallet::keys::WalletSeed;
use qtum_wallet::{Wallet, WalletConfig};

use crate::config::{ChainSourceConfig, Config, EsploraServerConfig, RpcEndpointConfig};
use crate::error::{BuildError, NodeError};
use crate::io::sqlite_store::{SqliteStore, SDK_NAMESPACE};
use crate::node::types::{DynBroadcaster, DynChangeDestination, DynFees, DynFilter};

/// Where the sync engine's last tip is kept in the node's key-value store (namespace
/// [`SDK_NAMESPACE`]: it commits in order with the monitors' chain data).
const SYNC_TIP_KEY: &str = "sync_tip";
/// Where the RPC sources' spend-scan cursors are kept (namespace [`SDK_NAMESPACE`]; the
/// primary's under this key, witness `i`'s under this key and `_i`): without `-addrindex` a
/// lookup of a spend scans at most 20,000 blocks per sync pass, and a restart should not send it
/// back to the output's block.
const SPEND_SCANS_KEY: &str = "spend_scans";
/// How far (blocks, ≈ 9 hours) the wallet's block scan may be behind the synced tip before the
/// status says its history is incomplete (a few blocks behind is normal: the scan stays clear of
/// the blocks Qtum may still reorganise).
const WALLET_BEHIND_BLOCKS: u32 = 1_000;
/// How often fee estimates are refreshed in the background.
const FEE_REFRESH: Duration = Duration::from_secs(60);
/// Where the script handed to new channels for their closes and claims is kept (namespace
/// [`SDK_NAMESPACE`]).
const CLOSE_SCRIPT_KEY: &str = "close_script";

/// On-chain balances, in satoshi.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[cfg_attr(feature = "uniffi", derive(uniffi::Record))]
pub struct OnchainBalance {
    /// Confirmed and spendable.
    pub confirmed_sat: u64,
    /// Unconfirmed but ours to spend (own change).
    pub unconfirmed_sat: u64,
    /// Unconfirmed incoming from others.
    pub pending_incoming_sat: u64,
    /// Coinbase or coinstake outputs not yet 2000 blocks deep.
    pub immature_sat: u64,
    /// Locked by channel funding transactions not yet confirmed.
    pub locked_sat: u64,
    /// What can be spent now.
    pub spendable_sat: u64,
    /// Everything.
    pub total_sat: u64,
}

/// What an on-chain send would cost, worked out without sending. Sending the same amount at
/// the same rate right after picks the same coins (nothing is reserved in between: a payment
/// arriving or leaving meanwhile can change the choice).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "uniffi", derive(uniffi::Record))]
pub struct OnchainSendPreview {
    /// What the recipient would get, in satoshi (for a send-all: everything less the fee).
    pub amount_sat: u64,
    /// The fee, in satoshi (including change too small to keep).
    pub fee_sat: u64,
    /// Change back to the wallet, if any.
    pub change_sat: Option<u64>,
    /// The fee rate used, sat/vB (Qtum's floor is about 400).
    pub fee_rate_sat_per_vb: u64,
    /// The transaction's virtual size (an upper bound), vbytes.
    pub vsize: u64,
    /// How many of the wallet's coins it spends.
    pub input_count: u32,
}

/// Fee rates for on-chain sends, sat/vB, from the node's cached estimates (refreshed every
/// minute; no network call). Qtum nodes relay nothing below `minimum_sat_per_vb`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "uniffi", derive(uniffi::Record))]
pub struct OnchainFeeRates {
    /// To confirm in the next block or so (≈ 32 s).
    pub fast_sat_per_vb: u64,
    /// Within about 6 blocks (≈ 3 min): what sends use when given no rate.
    pub normal_sat_per_vb: u64,
    /// Within about 144 blocks (≈ 77 min).
    pub slow_sat_per_vb: u64,
    /// Qtum's relay minimum (400).
    pub minimum_sat_per_vb: u64,
    /// `true` when the rates are the chain source's estimates; `false` when it has none (a
    /// quiet chain, or the source is unreachable) and these are the built-in defaults.
    pub is_estimate: bool,
}

/// A stuck send replaced by one paying more (`bump_fee`).
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "uniffi", derive(uniffi::Record))]
pub struct OnchainFeeBump {
    /// The replacement's id.
    pub txid: bitcoin::Txid,
    /// The transaction it replaced (gone from the history).
    pub replaced_txid: bitcoin::Txid,
    /// What the replaced one paid, in satoshi.
    pub original_fee_sat: u64,
    /// What the replacement pays, in satoshi.
    pub fee_sat: u64,
    /// The replacement's virtual size (an upper bound), vbytes.
    pub vsize: u64,
}

fn sat_per_vb(sat_per_kw: u32) -> u64 {
    (u64::from(sat_per_kw) * 4).div_ceil(1000)
}

/// The sweeper's change destination. LDK asks for one before every sweep attempt (every 30
/// seconds while an output waits for fees), so the same unused change script is handed out
/// until a transaction paying it is seen: a fresh one each time would reveal thousands of
/// addresses a day, slowing every sync and putting later change beyond a restore's gap limit.
struct WalletChange {
    wallet: Arc<Wallet>,
    last: Mutex<Option<ScriptBuf>>,
}

impl ChangeDestinationSourceSync for WalletChange {
    fn get_change_destination_script(&self) -> Result<ScriptBuf, ()> {
        let mut last = self.last.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(script) = last.as_ref() {
            if !self.wallet.is_used(script) {
                return Ok(script.clone());
            }
        }
        let script = self
            .wallet
            .change_script()
            .map_err(|e| log::error!("no change script from the wallet: {e}"))?;
        *last = Some(script.clone());
        Ok(script)
    }
}

pub(crate) struct Onchain {
    /// The guard in front of the chain source (its problems go to the node's status).
    guard: Arc<GuardedSource>,
    source: Arc<dyn ChainSource>,
    sync: Arc<ChainSync>,
    fees: Arc<LdkFeeEstimator>,
    _fee_refresher: Mutex<Option<FeeRefresher>>,
    broadcaster: Arc<ChainBroadcaster>,
    wallet: Arc<Wallet>,
    store: Arc<SqliteStore>,
    /// The wallet script every new channel gets for its cooperative close and on-chain claims,
    /// until a channel is funded with it (see [`Onchain::close_script`]).
    close_script: Mutex<ScriptBuf>,
    /// The RPC sources (primary first, then the witnesses) with the spend-scan cursors last
    /// written for each.
    rpc_scans: Vec<(Arc<RpcSource>, Mutex<Vec<u8>>)>,
}

/// The source the node syncs from (all endpoints, failing over), one source per further
/// endpoint to compare it with (the guard's witnesses), and for RPC the same sources typed
/// (primary first) for their spend-scan cursors.
struct Sources {
    primary: Arc<dyn ChainSource>,
    witnesses: Vec<Arc<dyn ChainSource>>,
    rpc: Vec<Arc<RpcSource>>,
}

fn spend_scans_key(index: usize) -> String {
    match index {
        0 => SPEND_SCANS_KEY.to_string(),
        i => format!("{SPEND_SCANS_KEY}_{i}"),
    }
}

fn chain_sources(config: &Config) -> Result<Sources, ChainError> {
    match &config.chain_source {
        ChainSourceConfig::Rpc { endpoints, .. } => {
            let endpoint = |e: &RpcEndpointConfig| {
                let endpoint = RpcEndpoint::new(e.url.clone(), e.auth.clone());
                match &e.ca_file {
                    Some(ca) => endpoint.with_ca_file(ca),
                    None => endpoint,
                }
            };
            let all = endpoints.iter().map(endpoint).collect();
            let mut rpc = vec![Arc::new(RpcSource::new(RpcConfig::new(
                config.network,
                all,
            ))?)];
            for e in endpoints.iter().skip(1) {
                rpc.push(Arc::new(RpcSource::new(RpcConfig::new(
                    config.network,
                    vec![endpoint(e)],
                ))?));
            }
            let primary: Arc<dyn ChainSource> = rpc[0].clone();
            let witnesses = rpc[1..]
                .iter()
                .map(|w| w.clone() as Arc<dyn ChainSource>)
                .collect();
            Ok(Sources {
                primary,
                witnesses,
                rpc,
            })
        }
        ChainSourceConfig::Esplora { servers, .. } => {
            let esplora = |servers: &[EsploraServerConfig]| {
                let urls = servers.iter().map(|s| s.url.clone()).collect();
                let mut config = EsploraConfig::new(urls);
                for s in servers {
                    if let Some(ca) = &s.ca_file {
                        config = config.with_ca_file_for(s.url.clone(), ca);
                    }
                }
                EsploraSource::new(config)
            };
            let primary: Arc<dyn ChainSource> = Arc::new(esplora(servers)?);
            let mut witnesses: Vec<Arc<dyn ChainSource>> = Vec::new();
            for server in servers.iter().skip(1) {
                witnesses.push(Arc::new(esplora(std::slice::from_ref(server))?));
            }
            Ok(Sources {
                primary,
                witnesses,
                rpc: Vec::new(),
            })
        }
    }
}

impl Onchain {
    /// The node's chain source behind its guard (the gossip checks ask it too).
    pub(crate) fn chain_source(&self) -> Arc<dyn ChainSource> {
        self.source.clone()
    }

    pub(crate) fn build(
        config: &Config,
        seed: &WalletSeed,
        store: Arc<SqliteStore>,
        db: &crate::io::db::Db,
    ) -> Result<Onchain, BuildError> {
        let tip = match store.read(SDK_NAMESPACE, "", SYNC_TIP_KEY) {
            Ok(bytes) => Some(SyncTip::decode(&bytes).ok_or_else(|| {
                BuildError::ReadFailed("the stored sync tip is not readable".into())
            })?),
            Err(e) if e.kind() == lightning::io::ErrorKind::NotFound => None,
            Err(e) => return Err(BuildError::Storage(e.to_string())),
        };
        let sources = chain_sources(config).map_err(|e| BuildError::ChainSource(e.to_string()))?;
        let mut rpc_scans = Vec::with_capacity(sources.rpc.len());
        for (i, rpc) in sources.rpc.iter().enumerate() {
            let saved = match store.read(SDK_NAMESPACE, "", &spend_scans_key(i)) {
                Ok(bytes) => bytes,
                Err(e) if e.kind() == lightning::io::ErrorKind::NotFound => Vec::new(),
                Err(e) => return Err(BuildError::Storage(e.to_string())),
            };
            // Unreadable cursors only cost a rescan: each is checked against the chain anyway.
            if !saved.is_empty() {
                if let Err(e) = rpc.resume_spend_scans(&saved) {
                    log::warn!("spend-scan progress of RPC source {i} not resumed: {e}");
                }
            }
            rpc_scans.push((rpc.clone(), Mutex::new(saved)));
        }
        let guard = Arc::new(GuardedSource::new(
            sources.primary,
            sources.witnesses,
            HeaderRules::for_network(config.network),
            tip,
        ));
        let source: Arc<dyn ChainSource> = guard.clone();
        let sync = Arc::new(ChainSync::new(source.clone(), tip, SyncConfig::default()));
        let fees = Arc::new(LdkFeeEstimator::new(source.clone()));
        // A first refresh now, so the first channel opens at a real rate; failure only degrades.
        fees.refresh();
        let refresher = fees.start_background(FEE_REFRESH);
        let broadcaster = Arc::new(ChainBroadcaster::new(source.clone()));
        let wallet_config = WalletConfig {
            birthday_height: config.wallet_birthday_height,
            ..WalletConfig::default()
        };
        let wallet = Arc::new(
            Wallet::open_shared(
                db.shared(),
                seed,
                config.network,
                source.clone(),
                wallet_config,
            )
            .map_err(|e| BuildError::Storage(format!("wallet: {e}")))?,
        );
        let close_script = match store.read(SDK_NAMESPACE, "", CLOSE_SCRIPT_KEY) {
            Ok(bytes) if !wallet.is_used(&ScriptBuf::from_bytes(bytes.clone())) => {
                Some(ScriptBuf::from_bytes(bytes))
            }
            Ok(_) => None,
            Err(e) if e.kind() == lightning::io::ErrorKind::NotFound => None,
            Err(e) => return Err(BuildError::Storage(e.to_string())),
        };
        let close_script = match close_script {
            Some(script) => script,
            None => {
                let script = wallet
                    .change_script()
                    .map_err(|e| BuildError::Storage(format!("wallet: {e}")))?;
                store
                    .write(SDK_NAMESPACE, "", CLOSE_SCRIPT_KEY, script.to_bytes())
                    .map_err(|e| BuildError::Storage(e.to_string()))?;
                script
            }
        };
        Ok(Onchain {
            guard,
            source,
            sync,
            fees,
            _fee_refresher: Mutex::new(Some(refresher)),
            broadcaster,
            wallet,
            store,
            close_script: Mutex::new(close_script),
            rpc_scans,
        })
    }

    /// Writes the RPC sources' spend-scan cursors that changed since they were last written.
    fn persist_spend_scans(&self) -> Result<(), NodeError> {
        for (i, (rpc, written)) in self.rpc_scans.iter().enumerate() {
            let now = rpc.spend_scan_progress();
            let mut written = written.lock().unwrap_or_else(|p| p.into_inner());
            if *written != now {
                self.store
                    .write(SDK_NAMESPACE, "", &spend_scans_key(i), now.clone())
                    .map_err(|e| NodeError::Persistence(e.to_string()))?;
                *written = now;
            }
        }
        Ok(())
    }

    pub(crate) fn filter(&self) -> Arc<DynFilter> {
        self.sync.clone()
    }

    pub(crate) fn broadcaster(&self) -> Arc<DynBroadcaster> {
        self.broadcaster.clone()
    }

    pub(crate) fn fee_estimator(&self) -> Arc<DynFees> {
        self.fees.clone()
    }

    pub(crate) fn change_destination(&self) -> Arc<DynChangeDestination> {
        Arc::new(WalletChange {
            wallet: self.wallet.clone(),
            last: Mutex::new(None),
        })
    }

    pub(crate) fn tip(&self) -> Result<BlockRef, ChainError> {
        self.source.tip()
    }

    /// The wallet script for a new channel's cooperative close and on-chain claims. LDK asks
    /// for it (twice) whenever a channel is created, also for an inbound `open_channel` that a
    /// peer never funds: revealing a new address each time would let any peer push the wallet's
    /// later addresses beyond a restore's gap limit by opening and dropping channels in a loop.
    /// So every new channel gets the same script until one is funded with it
    /// ([`Onchain::close_script_funded`]); funded channels get one each (two channels created
    /// in the same moment may share one). Never touches the store: LDK calls it under its locks.
    pub(crate) fn close_script(&self) -> Result<ScriptBuf, ()> {
        Ok(self
            .close_script
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone())
    }

    /// A channel was funded (its funding transaction exists) with the current close script:
    /// the next channel gets a new one. Called outside LDK's locks (event handling).
    pub(crate) fn close_script_funded(&self) -> Result<(), NodeError> {
        let script = self.wallet.change_script().map_err(NodeError::from)?;
        self.store
            .write(SDK_NAMESPACE, "", CLOSE_SCRIPT_KEY, script.to_bytes())
            .map_err(|e| NodeError::Persistence(e.to_string()))?;
        *self.close_script.lock().unwrap_or_else(|p| p.into_inner()) = script;
        Ok(())
    }

    /// Feed LDK, then the wallet. The tip is persisted only after LDK has seen it;
    /// `ldk_synced` is called once LDK is at the tip, before the wallet's turn.
    pub(crate) fn sync(
        &self,
        confirmables: &[&dyn Confirm],
        ldk_synced: impl FnOnce(),
    ) -> Result<BlockRef, NodeError> {
        let report = self.sync.sync(confirmables);
        // The cursors moved even when the pass failed later on.
        self.persist_spend_scans()?;
        let report = report.map_err(|e| NodeError::ChainSource(e.to_string()))?;
        if let Some(tip) = self.sync.synced_tip() {
            self.store
                .write(SDK_NAMESPACE, "", SYNC_TIP_KEY, tip.encode())
                .map_err(|e| NodeError::Persistence(e.to_string()))?;
        }
        ldk_synced();
        self.wallet.sync().map_err(NodeError::from)?;
        Ok(report.tip)
    }

    /// See `NodeStatus::wallet_scanned_height`.
    pub(crate) fn wallet_scanned_height(&self) -> Option<u32> {
        self.wallet.scan_height()
    }

    pub(crate) fn degraded_reasons(&self) -> Vec<String> {
        let mut reasons = Vec::new();
        if let (Some(scanned), Some(tip)) = (
            self.wallet.scan_height(),
            self.sync.synced_tip().map(|t| t.height),
        ) {
            if tip.saturating_sub(scanned) > WALLET_BEHIND_BLOCKS {
                reasons.push(format!(
                    "wallet history scanned up to block {scanned} of {tip} (no -addrindex: up to \
                     20,000 blocks per sync); the on-chain balance may be incomplete until then"
                ));
            }
        }
        if let qtum_chain::fees::FeeStatus::Degraded { error } = self.fees.status() {
            reasons.push(format!(
                "fee estimates unavailable, using the last or fallback rates: {error}"
            ));
        }
        reasons.extend(self.guard.problems());
        // Look-ups the last chain sync could not finish (retried on the next pass).
        reasons.extend(
            self.sync
                .lookup_problems()
                .into_iter()
                .map(|p| format!("chain sync: {p}")),
        );
        reasons
    }

    pub(crate) fn funding_transaction(
        &self,
        script: &Script,
        amount_sat: u64,
        feerate_sat_per_kw: u32,
    ) -> Result<Transaction, NodeError> {
        self.wallet
            .create_funding_transaction(script, amount_sat, feerate_sat_per_kw)
            .map_err(NodeError::from)
    }

    /// Funding transactions whose inputs the wallet keeps locked.
    pub(crate) fn funding_lock_txids(&self) -> Vec<bitcoin::Txid> {
        self.wallet.funding_locks()
    }

    /// Release the inputs locked for funding transaction `txid`.
    pub(crate) fn release_funding(&self, txid: &bitcoin::Txid) -> Result<usize, NodeError> {
        self.wallet
            .abandon_funding_transaction(txid)
            .map_err(NodeError::from)
    }

    pub(crate) fn discard_funding(&self, info: &FundingInfo) {
        let txid = match info {
            FundingInfo::Tx { transaction } => transaction.compute_txid(),
            FundingInfo::OutPoint { outpoint } => outpoint.txid,
        };
        if let Err(e) = self.wallet.abandon_funding_transaction(&txid) {
            log::error!("could not release the inputs of funding transaction {txid}: {e}");
        }
    }

    pub(crate) fn spendable_sat(&self) -> u64 {
        self.wallet.balance().spendable_sat()
    }

    pub(crate) fn balance(&self) -> OnchainBalance {
        let b = self.wallet.balance();
        OnchainBalance {
            confirmed_sat: b.confirmed_sat,
            unconfirmed_sat: b.unconfirmed_sat,
            pending_incoming_sat: b.untrusted_pending_sat,
            immature_sat: b.immature_sat,
            locked_sat: b.locked_sat,
            spendable_sat: b.spendable_sat(),
            total_sat: b.total_sat(),
        }
    }

    /// Whether the wallet holds `txid`.
    pub(crate) fn holds_transaction(&self, txid: &bitcoin::Txid) -> bool {
        self.wallet.holds_transaction(txid)
    }

    /// Whether the wallet holds a transaction spending `outpoint`.
    pub(crate) fn holds_spend_of(&self, outpoint: &bitcoin::OutPoint) -> bool {
        self.wallet.holds_spend_of(outpoint)
    }

    /// The transaction the wallet holds that spends `outpoint`, if any.
    pub(crate) fn spender_of(&self, outpoint: &bitcoin::OutPoint) -> Option<bitcoin::Txid> {
        self.wallet.spender_of(outpoint)
    }

    /// Every transaction touching the wallet, newest first.
    pub(crate) fn transactions(&self) -> Vec<qtum_wallet::TransactionDetails> {
        self.wallet.list_transactions()
    }

    pub(crate) fn new_address(&self) -> Result<String, NodeError> {
        self.wallet
            .new_address()
            .map(|a| a.to_string())
            .map_err(NodeError::from)
    }

    pub(crate) fn send_to_address(
        &self,
        address: &str,
        amount_sat: u64,
        fee_rate_sat_per_vb: Option<u64>,
    ) -> Result<bitcoin::Txid, NodeError> {
        self.wallet
            .send_to_address(address, amount_sat, fee_rate_sat_per_vb)
            .map_err(NodeError::from)
    }

    pub(crate) fn preview_send(
        &self,
        address: &str,
        amount_sat: Option<u64>,
        fee_rate_sat_per_vb: Option<u64>,
    ) -> Result<OnchainSendPreview, NodeError> {
        let prepared = match amount_sat {
            Some(amount) => self
                .wallet
                .prepare_send(address, amount, fee_rate_sat_per_vb),
            None => self.wallet.prepare_send_all(address, fee_rate_sat_per_vb),
        }
        .map_err(NodeError::from)?;
        Ok(OnchainSendPreview {
            amount_sat: prepared.amount_sat,
            fee_sat: prepared.fee_sat,
            change_sat: prepared.change_sat,
            // sat/kW to sat/vB (4 weight units a vbyte), rounded up.
            fee_rate_sat_per_vb: sat_per_vb(prepared.fee_rate_sat_per_kw),
            vsize: prepared.vsize,
            input_count: u32::try_from(prepared.inputs.len()).unwrap_or(u32::MAX),
        })
    }

    pub(crate) fn send_all(
        &self,
        address: &str,
        fee_rate_sat_per_vb: Option<u64>,
    ) -> Result<bitcoin::Txid, NodeError> {
        self.wallet
            .send_all(address, fee_rate_sat_per_vb)
            .map_err(NodeError::from)
    }

    pub(crate) fn fee_rates(&self) -> OnchainFeeRates {
        let rate = |blocks| sat_per_vb(self.fees.rate_for_blocks(blocks));
        OnchainFeeRates {
            fast_sat_per_vb: rate(1),
            normal_sat_per_vb: rate(qtum_wallet::fees::DEFAULT_TARGET_BLOCKS),
            slow_sat_per_vb: rate(144),
            minimum_sat_per_vb: qtum_wallet::fees::MIN_FEE_RATE_SAT_PER_VB,
            is_estimate: matches!(self.fees.status(), qtum_chain::fees::FeeStatus::Live { .. }),
        }
    }

    pub(crate) fn bump_fee(
        &self,
        txid: &bitcoin::Txid,
        fee_rate_sat_per_vb: Option<u64>,
    ) -> Result<OnchainFeeBump, NodeError> {
        let bump = self
            .wallet
            .bump_fee(txid, fee_rate_sat_per_vb)
            .map_err(NodeError::from)?;
        Ok(OnchainFeeBump {
            txid: bump.txid,
            replaced_txid: bump.replaced,
            original_fee_sat: bump.original_fee_sat,
            fee_sat: bump.fee_sat,
            vsize: bump.vsize,
        })
    }
}

//! [`Builder`]: from a [`Config`] and entropy to a [`Node`], restoring everything the node's
//! database holds. Nothing stored is ever silently replaced: unreadable state is an error.

use std::sync::{Arc, Mutex, RwLock};
use std::time::{SystemTime, UNIX_EPOCH};

use bitcoin::BlockHash;
use lightning::chain::{BestBlock, Watch};
use lightning::ln::channelmanager::{ChainParameters, ChannelManagerReadArgs};
use lightning::ln::peer_handler::{IgnoringMessageHandler, MessageHandler};
use lightning::onion_message::messenger::DefaultMessageRouter;
use lightning::routing::gossip::{NetworkGraph, P2PGossipSync};
use lightning::routing::router::DefaultRouter;
use lightning::routing::scoring::{
    ProbabilisticScorer, ProbabilisticScoringDecayParameters, ProbabilisticScoringFeeParameters,
};
use lightning::sign::{EntropySource, KeysManager, NodeSigner, Recipient};
use lightning::util::persist::{
    KVStoreSync, CHANNEL_MANAGER_PERSISTENCE_KEY, CHANNEL_MANAGER_PERSISTENCE_PRIMARY_NAMESPACE,
    CHANNEL_MANAGER_PERSISTENCE_SECONDARY_NAMESPACE, NETWORK_GRAPH_PERSISTENCE_KEY,
    NETWORK_GRAPH_PERSISTENCE_PRIMARY_NAMESPACE, NETWORK_GRAPH_PERSISTENCE_SECONDARY_NAMESPACE,
    OUTPUT_SWEEPER_PERSISTENCE_KEY, OUTPUT_SWEEPER_PERSISTENCE_PRIMARY_NAMESPACE,
    OUTPUT_SWEEPER_PERSISTENCE_SECONDARY_NAMESPACE, SCORER_PERSISTENCE_KEY,
    SCORER_PERSISTENCE_PRIMARY_NAMESPACE, SCORER_PERSISTENCE_SECONDARY_NAMESPACE,
};
use lightning::util::ser::{ReadableArgs, Writeable};
use lightning::util::sweep::OutputSweeperSync;
use qtum_sql::{params, OptionalExtension};

use crate::config::Config;
use crate::error::BuildError;
use crate::event::EventQueue;
use crate::io::backup::BackupKey;
use crate::io::db::{Db, StorageError};
use crate::io::journal::{AtomicPersister, Hooks, Journal};
use crate::io::sqlite_store::SqliteStore;
use crate::logger::LdkLogger;
use crate::node::keys::{ScriptSource, WalletSignerProvider};
use crate::node::onchain::Onchain;
use crate::node::peer_gate::{PeerAdmission, PeerGate};
use crate::node::peers::PeerStore;
use crate::node::restore_hold::{HoldingBroadcaster, RestoreHold};
use zeroize::Zeroizing;

use crate::config::ldk_user_config;
use crate::node::gossip::GossipVerifier;
use crate::node::sweep::QtumOutputSpender;
use crate::node::types::{
    ChannelManager, DynBroadcaster, DynChangeDestination, DynUtxoLookup, Sweeper,
};
use crate::node::{Node, NodeInner, NodeStatus};

/// How many monitor updates are stored as small records before the whole ChannelMonitor is
/// written again (and the records dropped).
pub(crate) const MONITOR_UPDATES_PER_FULL_WRITE: u64 = 100;

/// How a [`StorageError`] met while opening reads to the app.
pub(crate) fn storage_build_error(e: StorageError) -> BuildError {
    match e {
        StorageError::Locked(w) => BuildError::StorageLocked(w),
        e @ (StorageError::Corrupt(_) | StorageError::WalMissing(_)) => {
            BuildError::StorageCorrupt(e.to_string())
        }
        e @ StorageError::TooNew { .. } => BuildError::StorageTooNew(e.to_string()),
        e => BuildError::Storage(e.to_string()),
    }
}

/// Where the node's keys come from. Every copy is wiped from memory when dropped.
#[derive(Clone)]
enum Entropy {
    Mnemonic {
        phrase: Zeroizing<String>,
        passphrase: Option<Zeroizing<String>>,
    },
    SeedBytes(Zeroizing<Vec<u8>>),
}

/// Builds a [`Node`].
pub struct Builder {
    config: Config,
    entropy: Option<Entropy>,
    synchronous_persistence: bool,
    /// A backup file to restore into the (empty) storage directory before opening it.
    restore_from: Option<std::path::PathBuf>,
    /// A backup server to restore from instead.
    restore_from_server: Option<String>,
    /// A backup server to upload every change of channel state to.
    backup_server: Option<String>,
    backup_policy: super::remote_backup::BackupPolicy,
    /// The liquidity provider to buy inbound channels from (`pubkey@host:port` as given; its
    /// token is never printed).
    liquidity_source: Option<(String, Option<Zeroizing<String>>, bool)>,
    /// Serve LSPS2/LSPS5 as a liquidity provider, asking clients for this token (if any).
    liquidity_service: Option<(
        super::liquidity::LspServiceConfig,
        Option<Zeroizing<String>>,
    )>,
    /// A PostgreSQL database instead of the SQLite file (its URL may carry a password: never
    /// printed).
    #[cfg(feature = "postgres")]
    postgres_url: Option<Zeroizing<String>>,
    #[cfg(feature = "postgres")]
    postgres_ca_file: Option<std::path::PathBuf>,
}

impl std::fmt::Debug for Builder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print the mnemonic or seed.
        f.debug_struct("Builder")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

fn read_failed(what: &str, e: impl std::fmt::Display) -> BuildError {
    BuildError::ReadFailed(format!("{what}: {e}"))
}

impl Builder {
    /// Start from a configuration (see [`Config::new`] for Qtum's defaults).
    pub fn new(config: Config) -> Builder {
        Builder {
            config,
            entropy: None,
            synchronous_persistence: false,
            restore_from: None,
            restore_from_server: None,
            backup_server: None,
            backup_policy: Default::default(),
            liquidity_source: None,
            liquidity_service: None,
            #[cfg(feature = "postgres")]
            postgres_url: None,
            #[cfg(feature = "postgres")]
            postgres_ca_file: None,
        }
    }

    /// Keep the node's state (channels, payments, events, peers, the on-chain wallet) in a
    /// PostgreSQL database instead of `node.sqlite` in the storage directory: `url` like
    /// `postgresql://user:password@host:port/dbname` (or `host=… user=… dbname=…`). One node
    /// per database. TLS follows the URL's `sslmode` (`sslmode=require` insists on it); the
    /// server's certificate must chain to `ca_file` (PEM) or, without one, to the webpki roots.
    #[cfg(feature = "postgres")]
    pub fn set_postgres_storage(
        &mut self,
        url: &str,
        ca_file: Option<&std::path::Path>,
    ) -> &mut Builder {
        self.postgres_url = Some(Zeroizing::new(url.to_string()));
        self.postgres_ca_file = ca_file.map(std::path::Path::to_path_buf);
        self
    }

    /// Use a BIP39 mnemonic (12 or 24 words) and an optional passphrase.
    pub fn set_entropy_mnemonic(&mut self, phrase: &str, passphrase: Option<&str>) -> &mut Builder {
        self.entropy = Some(Entropy::Mnemonic {
            phrase: Zeroizing::new(phrase.to_string()),
            passphrase: passphrase.map(|p| Zeroizing::new(p.to_string())),
        });
        self
    }

    /// The persistence of the first release, kept only to measure the writer against: each
    /// monitor update written synchronously, the manager written later by the background
    /// processor. **A crash between the two force-closes channels**; never use it in an app.
    #[doc(hidden)]
    pub fn set_unsafe_synchronous_persistence_for_benchmarks(&mut self, on: bool) -> &mut Builder {
        self.synchronous_persistence = on;
        self
    }

    /// Restore the node from a backup file made by [`Node::export_backup`] (with the same
    /// mnemonic and passphrase, or seed bytes) when building: the storage directory must not
    /// hold a node yet. The backup brings back the channels, the payment history, the peers and
    /// the on-chain wallet as they were when it was made.
    ///
    /// Restoring an *older* backup is safe: on the first reconnection each peer proves which
    /// of our channel states are stale, and the node closes those channels without
    /// broadcasting them ([`crate::Event::ChannelClosed`]); the peer's own commitment then
    /// returns our balance on chain, which the node sweeps to its wallet. Never run the old
    /// device and the restored one at the same time.
    pub fn set_restore_from_backup_file(&mut self, path: &std::path::Path) -> &mut Builder {
        self.restore_from = Some(path.to_path_buf());
        self
    }

    /// Keep an encrypted copy of the node on a backup server (`qtum-backupd`, or the server
    /// daemon's backup endpoint) at `url`: after every change of channel state the node uploads
    /// a fresh copy as the next version of its slot, signed with its node key. The server
    /// holds ciphertext only. A server that is down delays the copy and shows in
    /// [`NodeStatus::degraded_reasons`]; a server holding a newer version (another device, an
    /// older copy of this node running) stops the uploads rather than overwrite it.
    pub fn set_backup_server(&mut self, url: &str) -> &mut Builder {
        self.backup_server = Some(url.to_string());
        self
    }

    /// When a channel update counts as stored (see [`super::BackupPolicy`]): by default once
    /// it is in the local database; with `ServerConfirmed`, only once the backup server holds
    /// a copy with it, so that the server never lags behind what the peer has seen.
    pub fn set_backup_policy(&mut self, policy: super::BackupPolicy) -> &mut Builder {
        self.backup_policy = policy;
        self
    }

    /// Restore the node from the latest backup on the backup server at `url` when building
    /// (same seed; the storage directory must not hold a node yet). Call
    /// [`Builder::set_backup_server`] too to go on backing up there: the sequence continues
    /// from the version restored.
    pub fn set_restore_from_backup_server(&mut self, url: &str) -> &mut Builder {
        self.restore_from_server = Some(url.to_string());
        self
    }

    /// Buy inbound liquidity from the LSP at `uri` (`pubkey@host:port`): LSPS2 just-in-time
    /// channels ([`Node::receive_via_jit_channel`]) and LSPS5 webhooks. `token` is what the
    /// provider asks of its clients, if anything. `trust_zero_conf` lets the provider's
    /// channels be used before their funding confirms, so a first payment arrives at once;
    /// until the funding confirms the provider could double-spend it, so say `true` only for a
    /// provider you trust. Checked by `build`.
    pub fn set_liquidity_source(
        &mut self,
        uri: &str,
        token: Option<&str>,
        trust_zero_conf: bool,
    ) -> &mut Builder {
        self.liquidity_source = Some((
            uri.to_string(),
            token.map(|t| Zeroizing::new(t.to_string())),
            trust_zero_conf,
        ));
        self
    }

    /// Act as a liquidity provider for other nodes: sell just-in-time channels (LSPS2) and
    /// notify offline clients through their webhooks (LSPS5). With `token`, only clients that
    /// present it are served (an API key or coupon; never logged). Checked by `build`.
    pub fn set_liquidity_service(
        &mut self,
        config: super::liquidity::LspServiceConfig,
        token: Option<&str>,
    ) -> &mut Builder {
        self.liquidity_service = Some((config, token.map(|t| Zeroizing::new(t.to_string()))));
        self
    }

    /// Use raw seed bytes (16 to 64 bytes).
    pub fn set_entropy_seed_bytes(&mut self, seed: &[u8]) -> &mut Builder {
        self.entropy = Some(Entropy::SeedBytes(Zeroizing::new(seed.to_vec())));
        self
    }

    /// Build the node: open (or create) its database, restore channels and state, connect the
    /// chain source. Does not start networking; call [`Node::start`].
    pub fn build(&self) -> Result<Node, BuildError> {
        let config = self.config.clone();
        config.validate().map_err(BuildError::InvalidConfig)?;
        let seed = match self.entropy.as_ref().ok_or_else(|| {
            BuildError::InvalidEntropy("no entropy given: set a mnemonic or seed bytes".into())
        })? {
            Entropy::Mnemonic { phrase, passphrase } => {
                qtum_wallet::keys::WalletSeed::from_mnemonic(
                    phrase,
                    passphrase.as_ref().map(|p| p.as_str()),
                )
            }
            Entropy::SeedBytes(bytes) => qtum_wallet::keys::WalletSeed::from_seed_bytes(bytes),
        }
        .map_err(|e| BuildError::InvalidEntropy(e.to_string()))?;

        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default();
        let keys = Arc::new(KeysManager::new(
            &seed.ldk_seed(),
            now.as_secs(),
            now.subsec_nanos(),
            true,
        ));
        let node_id = keys
            .get_node_id(Recipient::Node)
            .map_err(|()| BuildError::InvalidEntropy("cannot derive the node id".into()))?;
        let backup_key = BackupKey::derive(&seed.ldk_seed());
        if self.backup_server.is_some() {
            #[cfg(feature = "postgres")]
            if self.postgres_url.is_some() {
                return Err(BuildError::InvalidConfig(
                    "a backup server keeps nodes stored in SQLite; a node kept in PostgreSQL is \
                     backed up with the database's own tools"
                        .into(),
                ));
            }
            if self.synchronous_persistence
                && self.backup_policy == super::BackupPolicy::ServerConfirmed
            {
                return Err(BuildError::InvalidConfig(
                    "ServerConfirmed needs the node's journal; the benchmark persistence \
                     acknowledges updates at once"
                        .into(),
                ));
            }
        }
        if self.restore_from.is_some() && self.restore_from_server.is_some() {
            return Err(BuildError::InvalidConfig(
                "restore from a backup file or from a backup server, not both".into(),
            ));
        }
        #[cfg(feature = "postgres")]
        if (self.restore_from.is_some() || self.restore_from_server.is_some())
            && self.postgres_url.is_some()
        {
            return Err(BuildError::InvalidConfig(
                "a backup restores a node kept in SQLite; a node kept in PostgreSQL is \
                 restored with the database's own tools"
                    .into(),
            ));
        }
        let mut restored_version = None;
        // A new node (no database yet) whose backup server holds a copy of it is almost
        // certainly a lost device's replacement: starting it empty would meet the peers with no
        // channel state. Ask the app to restore instead.
        if let (Some(url), None, None) = (
            &self.backup_server,
            &self.restore_from,
            &self.restore_from_server,
        ) {
            let fresh = !config
                .storage_dir
                .join(crate::io::db::DATABASE_FILE)
                .exists();
            if fresh {
                match super::remote_backup::stored_version(url, &keys, &node_id.to_string()) {
                    Ok(version) => {
                        return Err(BuildError::BackupFound(format!(
                            "the backup server holds version {version} of node {node_id}: \
                             restore it (set_restore_from_backup_server) instead of starting \
                             an empty node"
                        )))
                    }
                    Err(BuildError::BackupNotFound(_)) => {}
                    // Cannot tell: the first upload meets the newer version and stops.
                    Err(e) => log::warn!("cannot ask the backup server for a backup: {e}"),
                }
            }
        }
        if let Some(url) = &self.restore_from_server {
            let (bytes, version) = super::remote_backup::fetch(url, &keys, &node_id.to_string())?;
            restore_bytes(&config, &backup_key, &node_id.to_string(), &bytes)?;
            restored_version = Some(version);
        }
        if let Some(file) = &self.restore_from {
            #[cfg(feature = "postgres")]
            if self.postgres_url.is_some() {
                return Err(BuildError::InvalidConfig(
                    "a backup file restores a node kept in SQLite; a node kept in PostgreSQL is \
                     restored with the database's own tools"
                        .into(),
                ));
            }
            restore(&config, &backup_key, &node_id.to_string(), file)?;
        }

        #[cfg(feature = "postgres")]
        let db = match &self.postgres_url {
            Some(url) => {
                Db::open_postgres(&config.storage_dir, url, self.postgres_ca_file.as_deref())
            }
            None => Db::open(&config.storage_dir),
        };
        #[cfg(not(feature = "postgres"))]
        let db = Db::open(&config.storage_dir);
        let db = Arc::new(db.map_err(storage_build_error)?);
        let db_path = db.path().to_path_buf();
        let journal = Journal::new(db.shared());
        let store = Arc::new(SqliteStore::new(db.shared(), journal.clone(), &db_path));

        check_identity(&db.conn(), &config, &node_id.to_string())?;
        if let Some(version) = restored_version {
            super::remote_backup::record_version(&store, version)?;
        }
        let mut peer_gate_backup = false;
        if self.backup_server.is_some()
            && self.backup_policy == super::BackupPolicy::ServerConfirmed
        {
            // A restart acknowledges the updates the last run deferred: peers wait until this
            // start's first copy is on the server.
            peer_gate_backup = true;
        }
        let remote_backup = match &self.backup_server {
            Some(url) => Some(Arc::new(super::remote_backup::RemoteBackup::new(
                url,
                self.backup_policy,
                &store,
            )?)),
            None => None,
        };

        let logger = Arc::new(LdkLogger);
        let onchain = Arc::new(Onchain::build(&config, &seed, store.clone(), &db)?);
        // Every channel component broadcasts through the restore hold (see `restore_hold`).
        let restore_hold = Arc::new(RestoreHold::load(store.clone()));
        let broadcaster: Arc<DynBroadcaster> = Arc::new(HoldingBroadcaster::new(
            onchain.broadcaster(),
            restore_hold.clone(),
        ));
        let scripts_onchain = onchain.clone();
        let scripts: ScriptSource = Arc::new(move || scripts_onchain.close_script());
        let signer_provider = Arc::new(WalletSignerProvider::new(keys.clone(), scripts));

        let persister = Arc::new(AtomicPersister::new(
            lightning::util::persist::MonitorUpdatingPersister::new(
                store.clone(),
                logger.clone(),
                MONITOR_UPDATES_PER_FULL_WRITE,
                keys.clone(),
                signer_provider.clone(),
                broadcaster.clone(),
                onchain.fee_estimator(),
            ),
            journal.clone(),
        ));
        let chain_monitor = Arc::new(lightning::chain::chainmonitor::ChainMonitor::new(
            Some(onchain.filter()),
            broadcaster.clone(),
            logger.clone(),
            onchain.fee_estimator(),
            persister.clone(),
            keys.clone(),
            keys.get_peer_storage_key(),
        ));

        let btc_network = config.network.bitcoin_network();
        let network_graph = Arc::new(
            match store.read(
                NETWORK_GRAPH_PERSISTENCE_PRIMARY_NAMESPACE,
                NETWORK_GRAPH_PERSISTENCE_SECONDARY_NAMESPACE,
                NETWORK_GRAPH_PERSISTENCE_KEY,
            ) {
                Ok(bytes) => NetworkGraph::read(&mut &bytes[..], logger.clone())
                    .map_err(|e| read_failed("network graph", format!("{e:?}")))?,
                Err(e) if e.kind() == lightning::io::ErrorKind::NotFound => {
                    NetworkGraph::new(btc_network, logger.clone())
                }
                Err(e) => return Err(read_failed("network graph", e)),
            },
        );
        let decay = ProbabilisticScoringDecayParameters::default();
        let scorer = Arc::new(RwLock::new(
            match store.read(
                SCORER_PERSISTENCE_PRIMARY_NAMESPACE,
                SCORER_PERSISTENCE_SECONDARY_NAMESPACE,
                SCORER_PERSISTENCE_KEY,
            ) {
                Ok(bytes) => ProbabilisticScorer::read(
                    &mut &bytes[..],
                    (decay, network_graph.clone(), logger.clone()),
                )
                .map_err(|e| read_failed("scorer", format!("{e:?}")))?,
                Err(e) if e.kind() == lightning::io::ErrorKind::NotFound => {
                    ProbabilisticScorer::new(decay, network_graph.clone(), logger.clone())
                }
                Err(e) => return Err(read_failed("scorer", e)),
            },
        ));
        let router = Arc::new(crate::payment::router::HopLimitRouter::new(
            DefaultRouter::new(
                network_graph.clone(),
                logger.clone(),
                keys.clone(),
                scorer.clone(),
                ProbabilisticScoringFeeParameters::default(),
            ),
            config.max_route_hops,
        ));
        let message_router = Arc::new(DefaultMessageRouter::new(
            network_graph.clone(),
            keys.clone(),
        ));

        // Full monitors with their pending update records applied.
        let monitors = persister
            .inner()
            .read_all_channel_monitors_with_updates()
            .map_err(|e| read_failed("channel monitors", e))?;
        // A restore that crashed before its channels were held left a marker behind.
        let hold_pending = config
            .storage_dir
            .join(crate::io::db::HOLD_PENDING_FILE)
            .exists();
        if self.restore_from.is_some() || self.restore_from_server.is_some() || hold_pending {
            // Before anything can broadcast: every restored channel is held until its peer
            // confirms our state.
            restore_hold
                .hold(
                    monitors
                        .iter()
                        .map(|(_, m)| m.get_funding_txo().into_bitcoin_outpoint()),
                )
                .map_err(BuildError::Storage)?;
            let _ = std::fs::remove_file(config.storage_dir.join(crate::io::db::HOLD_PENDING_FILE));
        }
        // Update records already folded into a full monitor are garbage now.
        persister
            .inner()
            .cleanup_stale_updates(false)
            .map_err(|e| BuildError::Storage(format!("monitor update cleanup: {e}")))?;

        let liquidity_source = match &self.liquidity_source {
            Some((uri, token, trust_zero_conf)) => Some(super::liquidity::LiquiditySource {
                uri: uri.parse().map_err(|e| {
                    BuildError::InvalidConfig(format!("liquidity source {uri}: {e}"))
                })?,
                token: token.as_ref().map(|t| t.to_string()),
                trust_zero_conf: *trust_zero_conf,
            }),
            None => None,
        };
        if let Some((service, _)) = &self.liquidity_service {
            service
                .validate(config.max_channel_size_sat)
                .map_err(BuildError::InvalidConfig)?;
        }
        let mut user_config = ldk_user_config(&config);
        if liquidity_source.is_some() {
            // The provider's channel is accepted by `liquidity::on_open_channel_request`
            // (zero-conf only when trusted), and its opening fee is kept from the payment it
            // forwards: LDK lets a forwarder keep part of an HTLC only where this is on, and
            // the payment handler fails back every payment that lost more than a JIT
            // invoice's terms allow.
            user_config.manually_accept_inbound_channels = true;
            user_config.channel_config.accept_underpaying_htlcs = true;
            // LDK refuses before asking when this is off; the handler applies the app's
            // `accept_inbound_channels` to everyone but the provider.
            user_config.accept_inbound_channels = true;
        }
        if self.liquidity_service.is_some() {
            // Payments to the scids sold to clients are held until their channel exists.
            user_config.accept_intercept_htlcs = true;
        }
        let stored_manager = match store.read(
            CHANNEL_MANAGER_PERSISTENCE_PRIMARY_NAMESPACE,
            CHANNEL_MANAGER_PERSISTENCE_SECONDARY_NAMESPACE,
            CHANNEL_MANAGER_PERSISTENCE_KEY,
        ) {
            Ok(bytes) => Some(bytes),
            Err(e) if e.kind() == lightning::io::ErrorKind::NotFound => None,
            Err(e) => return Err(read_failed("channel manager", e)),
        };
        let channel_manager: Arc<ChannelManager> = match stored_manager {
            Some(bytes) => {
                let monitor_refs = monitors.iter().map(|(_, m)| m).collect();
                let args = ChannelManagerReadArgs::new(
                    keys.clone(),
                    keys.clone(),
                    signer_provider.clone(),
                    onchain.fee_estimator(),
                    chain_monitor.clone(),
                    broadcaster.clone(),
                    router.clone(),
                    message_router.clone(),
                    logger.clone(),
                    user_config,
                    monitor_refs,
                );
                let (_hash, manager): (BlockHash, ChannelManager) =
                    ReadableArgs::read(&mut &bytes[..], args)
                        .map_err(|e| read_failed("channel manager", format!("{e:?}")))?;
                Arc::new(manager)
            }
            None => {
                if !monitors.is_empty() {
                    return Err(BuildError::ReadFailed(
                        "channel monitors exist but the channel manager is missing".into(),
                    ));
                }
                let tip = onchain.tip().map_err(|e| {
                    BuildError::ChainSource(format!("cannot read the chain tip: {e}"))
                })?;
                let params = ChainParameters {
                    network: btc_network,
                    best_block: BestBlock::new(tip.synthetic_hash, tip.height),
                };
                let manager = ChannelManager::new(
                    onchain.fee_estimator(),
                    chain_monitor.clone(),
                    broadcaster.clone(),
                    router.clone(),
                    message_router.clone(),
                    logger.clone(),
                    keys.clone(),
                    keys.clone(),
                    signer_provider.clone(),
                    user_config,
                    params,
                    now.as_secs() as u32,
                );
                // Persist at once, so a crash before the first background write cannot leave
                // monitors without a manager.
                store
                    .write(
                        CHANNEL_MANAGER_PERSISTENCE_PRIMARY_NAMESPACE,
                        CHANNEL_MANAGER_PERSISTENCE_SECONDARY_NAMESPACE,
                        CHANNEL_MANAGER_PERSISTENCE_KEY,
                        manager.encode(),
                    )
                    .map_err(|e| BuildError::Storage(e.to_string()))?;
                Arc::new(manager)
            }
        };
        for (_, monitor) in monitors {
            let channel_id = monitor.channel_id();
            chain_monitor
                .watch_channel(channel_id, monitor)
                .map_err(|()| read_failed("channel monitor", channel_id))?;
        }
        let change_destination: Arc<DynChangeDestination> = onchain.change_destination();
        let spender = Arc::new(QtumOutputSpender::new(keys.clone()));
        let sweeper_args = (
            broadcaster.clone(),
            onchain.fee_estimator(),
            Some(onchain.filter()),
            spender.clone(),
            change_destination.clone(),
            store.clone(),
            logger.clone(),
        );
        let sweeper: Arc<Sweeper> = Arc::new(
            match store.read(
                OUTPUT_SWEEPER_PERSISTENCE_PRIMARY_NAMESPACE,
                OUTPUT_SWEEPER_PERSISTENCE_SECONDARY_NAMESPACE,
                OUTPUT_SWEEPER_PERSISTENCE_KEY,
            ) {
                Ok(bytes) => {
                    let (_best, sweeper): (BestBlock, Sweeper) =
                        ReadableArgs::read(&mut &bytes[..], sweeper_args)
                            .map_err(|e| read_failed("output sweeper", format!("{e:?}")))?;
                    sweeper
                }
                Err(e) if e.kind() == lightning::io::ErrorKind::NotFound => OutputSweeperSync::new(
                    channel_manager.current_best_block(),
                    broadcaster.clone(),
                    onchain.fee_estimator(),
                    Some(onchain.filter()),
                    spender.clone(),
                    change_destination,
                    store.clone(),
                    logger.clone(),
                ),
                Err(e) => return Err(read_failed("output sweeper", e)),
            },
        );

        // Channel announcements are checked against the chain before they enter the graph
        // (see `crate::node::gossip`).
        let gossip_verifier = Arc::new(GossipVerifier::new(
            network_graph.get_chain_hash(),
            onchain.chain_source(),
        ));
        let utxo_lookup: Arc<DynUtxoLookup> = gossip_verifier.clone();
        let gossip_sync = Arc::new(P2PGossipSync::new(
            network_graph.clone(),
            Some(utxo_lookup),
            logger.clone(),
        ));
        let liquidity = super::liquidity::Liquidity::new(
            keys.clone(),
            channel_manager.clone(),
            store.clone(),
            broadcaster.clone(),
            liquidity_source,
            self.liquidity_service.as_ref().map(|(c, _)| c.clone()),
            self.liquidity_service
                .as_ref()
                .and_then(|(_, t)| t.as_ref().map(|t| t.as_str())),
            super::liquidity::promise_secret(&seed.ldk_seed()),
        )
        .map_err(BuildError::ReadFailed)?;
        let peer_gate = Arc::new(PeerGate::new());
        if peer_gate_backup {
            peer_gate.require_backup();
        }
        let handlers = MessageHandler {
            chan_handler: channel_manager.clone(),
            route_handler: gossip_sync.clone(),
            onion_message_handler: Arc::new(IgnoringMessageHandler {}),
            custom_message_handler: Arc::new(PeerAdmission::new(
                peer_gate.clone(),
                channel_manager.clone(),
                liquidity.manager.clone(),
            )),
            send_only_message_handler: chain_monitor.clone(),
        };
        let peer_manager = Arc::new(lightning::ln::peer_handler::PeerManager::new(
            handlers,
            now.as_secs() as u32,
            &keys.get_secure_random_bytes(),
            logger.clone(),
            keys.clone(),
        ));

        let events = Arc::new(
            EventQueue::open(db.shared()).map_err(|e| BuildError::Storage(e.to_string()))?,
        );
        let peers = PeerStore::open(db.shared());
        let payments = crate::payment::store::PaymentStore::open(db.shared())
            .map_err(|e| BuildError::Storage(e.to_string()))?;

        let recovery = super::recovery::Recovery::load(store.clone(), keys.clone());
        let inner = Arc::new(NodeInner {
            config,
            db,
            journal,
            store,
            keys,
            backup_key,
            remote_backup,
            restore_hold,
            recovery,
            liquidity,
            onchain,
            chain_monitor,
            channel_manager,
            peer_manager,
            peer_gate,
            network_graph,
            gossip_sync,
            gossip_verifier,
            router: router.clone(),
            scorer,
            sweeper,
            spender,
            events,
            payments,
            peers,
            logger,
            node_id,
            sync_lock: Mutex::new(()),
            status: Mutex::new(NodeStatus {
                is_running: false,
                synced_height: None,
                synced_block_hash: None,
                last_sync_timestamp: None,
                degraded_reasons: Vec::new(),
                halted_reason: None,
                wallet_scanned_height: None,
                remote_backup_version: None,
                remote_backup_at: None,
                remote_backup_pending: false,
            }),
            handler_failure: Mutex::new(None),
            injected_failure: Mutex::new(None),
        });
        // A crash can leave our records ahead of or behind LDK's: line them up first.
        super::reconcile::on_build(&inner).map_err(|e| BuildError::Storage(e.to_string()))?;
        // From here on channel state goes through the single writer (see `crate::io::journal`).
        if !self.synchronous_persistence {
            inner.journal.start(Hooks {
                manager: {
                    let manager = Arc::downgrade(&inner.channel_manager);
                    Box::new(move || manager.upgrade().map(|m| m.encode()))
                },
                completed: {
                    let monitor = Arc::downgrade(&inner.chain_monitor);
                    let remote = inner
                        .remote_backup
                        .clone()
                        .filter(|r| r.waits_for_server());
                    Box::new(move |channel_id, update_id| {
                        if let Some(remote) = &remote {
                            remote.defer(channel_id, update_id);
                            return;
                        }
                        if let Some(monitor) = monitor.upgrade() {
                            if let Err(e) = monitor.channel_monitor_updated(channel_id, update_id)
                            {
                                log::error!(
                                    "channel {channel_id}: completing monitor update {update_id}: {e:?}"
                                );
                            }
                        }
                    })
                },
            })
            .map_err(storage_build_error)?;
        }

        Ok(Node {
            inner,
            running: Arc::new(Mutex::new(None)),
        })
    }
}

/// Check a backup file against this seed and network and install its database in the empty
/// storage directory.
fn restore(
    config: &Config,
    key: &BackupKey,
    node_id: &str,
    file: &std::path::Path,
) -> Result<(), BuildError> {
    let bytes = std::fs::read(file)
        .map_err(|e| BuildError::BackupInvalid(format!("cannot read {}: {e}", file.display())))?;
    restore_bytes(config, key, node_id, &bytes)
}

/// Check a backup file's bytes against this seed and network and install its database.
fn restore_bytes(
    config: &Config,
    key: &BackupKey,
    node_id: &str,
    bytes: &[u8],
) -> Result<(), BuildError> {
    use crate::io::backup::{self, BackupFileError};
    let (header, database) =
        backup::open(key, bytes, config.network, node_id).map_err(|e| match e {
            BackupFileError::WrongNode { .. } => BuildError::BackupWrongSeed(e.to_string()),
            BackupFileError::WrongNetwork { .. } => BuildError::BackupWrongNetwork(e.to_string()),
            e => BuildError::BackupInvalid(e.to_string()),
        })?;
    if header.schema_version > crate::io::db::SCHEMA_VERSION {
        return Err(BuildError::StorageTooNew(format!(
            "the backup has schema version {}; this SDK understands up to {}",
            header.schema_version,
            crate::io::db::SCHEMA_VERSION
        )));
    }
    use bitcoin::hashes::Hash as _;
    let backup_id = bitcoin::hashes::sha256::Hash::hash(bytes).to_string();
    use crate::io::db::InstallError;
    let installed = crate::io::db::install_restored(&config.storage_dir, &database, &backup_id)
        .map_err(|e| match e {
            InstallError::NotEmpty(w) => BuildError::RestoreTargetNotEmpty(w),
            InstallError::Locked(w) => BuildError::StorageLocked(w),
            InstallError::Storage(e) => storage_build_error(e),
        })?;
    if installed {
        log::info!(
            "restored the node's database from a backup made at {} (Unix time)",
            header.created_at
        );
    } else {
        log::info!("this backup was already restored here: opening the node it restored");
    }
    Ok(())
}

/// A database belongs to one node on one network: refuse another seed or network rather than
/// mixing two nodes' state.
fn check_identity(
    conn: &qtum_sql::Connection,
    config: &Config,
    node_id: &str,
) -> Result<(), BuildError> {
    let storage = |e: qtum_sql::Error| BuildError::Storage(e.to_string());
    let stored: Option<(String, String)> = conn
        .query_row(
            "SELECT network, node_id FROM node_meta WHERE id = 1",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .optional()
        .map_err(storage)?;
    let network = config.network.to_string();
    match stored {
        None => {
            conn.execute(
                "INSERT INTO node_meta (id, network, node_id) VALUES (1, ?1, ?2)",
                params![network, node_id],
            )
            .map_err(storage)?;
            Ok(())
        }
        Some((n, id)) if n == network && id == node_id => Ok(()),
        Some((n, _)) if n != network => Err(BuildError::WrongStore(format!(
            "it holds a Qtum {n} node; this configuration is for {network}"
        ))),
        Some((_, id)) => Err(BuildError::WrongStore(format!(
            "it holds node {id}; these keys are node {node_id}"
        ))),
    }
}

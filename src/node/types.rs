//! The LDK object graph of a node, spelled out once.
//!
//! Chain-facing pieces (filter, broadcaster, fee estimator) are trait objects: the node does not
//! care whether they come from the RPC or the Esplora source.

use std::sync::Arc;

use lightning::chain::chaininterface::{BroadcasterInterface, FeeEstimator};
use lightning::chain::Filter;
use lightning::ln::peer_handler::IgnoringMessageHandler;
use lightning::onion_message::messenger::DefaultMessageRouter;
use lightning::routing::gossip::{NetworkGraph, P2PGossipSync};
use lightning::routing::scoring::ProbabilisticScorer;
use lightning::routing::utxo::UtxoLookup;
use lightning::sign::{ChangeDestinationSourceSync, InMemorySigner, KeysManager};
use lightning::util::sweep::OutputSweeperSync;

use crate::node::sweep::QtumOutputSpender;

use crate::io::sqlite_store::SqliteStore;
use crate::logger::LdkLogger;
use crate::node::keys::WalletSignerProvider;

pub(crate) type Logger = Arc<LdkLogger>;
pub(crate) type DynFilter = dyn Filter + Send + Sync;
pub(crate) type DynBroadcaster = dyn BroadcasterInterface + Send + Sync;
pub(crate) type DynFees = dyn FeeEstimator + Send + Sync;
pub(crate) type DynUtxoLookup = dyn UtxoLookup + Send + Sync;
pub(crate) type DynChangeDestination = dyn ChangeDestinationSourceSync + Send + Sync;

/// Monitor records: small update records per change, the whole monitor every
/// [`crate::node::builder::MONITOR_UPDATES_PER_FULL_WRITE`] updates (a busy channel's monitor
/// grows to hundreds of kilobytes; rewriting it on every payment dominated the write volume).
pub(crate) type MonitorRecords = lightning::util::persist::MonitorUpdatingPersister<
    Arc<SqliteStore>,
    Logger,
    Arc<KeysManager>,
    Arc<WalletSignerProvider>,
    Arc<DynBroadcaster>,
    Arc<DynFees>,
>;

/// Monitor persistence: LDK's record layout, committed by the node's single writer together
/// with the manager (see `crate::io::journal`).
pub(crate) type Persister = crate::io::journal::AtomicPersister<MonitorRecords>;

pub(crate) type ChainMonitor = lightning::chain::chainmonitor::ChainMonitor<
    InMemorySigner,
    Arc<DynFilter>,
    Arc<DynBroadcaster>,
    Arc<DynFees>,
    Logger,
    Arc<Persister>,
    Arc<KeysManager>,
>;

pub(crate) type Graph = NetworkGraph<Logger>;
pub(crate) type Scorer = ProbabilisticScorer<Arc<Graph>, Logger>;
pub(crate) type Router = crate::payment::router::HopLimitRouter;
pub(crate) type MessageRouter = DefaultMessageRouter<Arc<Graph>, Logger, Arc<KeysManager>>;

pub(crate) type ChannelManager = lightning::ln::channelmanager::ChannelManager<
    Arc<ChainMonitor>,
    Arc<DynBroadcaster>,
    Arc<KeysManager>,
    Arc<KeysManager>,
    Arc<WalletSignerProvider>,
    Arc<DynFees>,
    Arc<Router>,
    Arc<MessageRouter>,
    Logger,
>;

pub(crate) type GossipSync = P2PGossipSync<Arc<Graph>, Arc<DynUtxoLookup>, Logger>;

pub(crate) type PeerManager = lightning::ln::peer_handler::PeerManager<
    lightning_net_tokio::SocketDescriptor,
    Arc<ChannelManager>,
    Arc<GossipSync>,
    Arc<IgnoringMessageHandler>,
    Logger,
    Arc<crate::node::peer_gate::PeerAdmission>,
    Arc<KeysManager>,
    Arc<ChainMonitor>,
>;

pub(crate) type Sweeper = OutputSweeperSync<
    Arc<DynBroadcaster>,
    Arc<DynChangeDestination>,
    Arc<DynFees>,
    Arc<DynFilter>,
    Arc<SqliteStore>,
    Logger,
    Arc<QtumOutputSpender>,
>;

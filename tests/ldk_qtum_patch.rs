//! The Qtum patch set seen from LDK itself: two real `ChannelManager`s exchange the messages of a
//! channel opening in memory, and what they say on the wire must be Qtum's (chain hash, dust
//! limit, reserve, fee floor, to_self_delay), while Bitcoin-chain or Bitcoin-dust peers are
//! refused. Invoices made by the `ChannelManager` carry Qtum's prefix.

use std::sync::{Arc, Mutex, RwLock};
use std::time::{SystemTime, UNIX_EPOCH};

use bitcoin::constants::ChainHash;
use bitcoin::secp256k1::PublicKey;
use bitcoin::Network as BitcoinNetwork;
use lightning::chain::chaininterface::{BroadcasterInterface, ConfirmationTarget, FeeEstimator};
use lightning::chain::chainmonitor::{ChainMonitor, Persist};
use lightning::chain::channelmonitor::{ChannelMonitor, ChannelMonitorUpdate};
use lightning::chain::{BestBlock, ChannelMonitorUpdateStatus, Filter};
use lightning::ln::channelmanager::{Bolt11InvoiceParameters, ChainParameters, ChannelManager};
use lightning::ln::msgs::{
    BaseMessageHandler, ChannelMessageHandler, ErrorAction, Init, MessageSendEvent, OpenChannel,
};
use lightning::onion_message::messenger::DefaultMessageRouter;
use lightning::routing::gossip::NetworkGraph;
use lightning::routing::router::DefaultRouter;
use lightning::routing::scoring::{
    ProbabilisticScorer, ProbabilisticScoringDecayParameters, ProbabilisticScoringFeeParameters,
};
use lightning::sign::{InMemorySigner, KeysManager, NodeSigner, Recipient};
use lightning::util::config::UserConfig;
use lightning::util::logger::{Logger, Record};
use lightning::util::persist::MonitorName;
use lightning_invoice::Bolt11InvoiceDescription;
use qtum_lightning::qtum::invoice::DecodedInvoice;
use qtum_lightning::qtum::network::Network;

struct StderrLogger;
impl Logger for StderrLogger {
    fn log(&self, record: Record) {
        if record.level >= lightning::util::logger::Level::Debug {
            eprintln!("{} {}", record.level, record.args);
        }
    }
}

/// A fee source that answers Bitcoin-sized feerates; LDK must floor them at Qtum's minimum.
struct BitcoinSizedFees;
impl FeeEstimator for BitcoinSizedFees {
    fn get_est_sat_per_1000_weight(&self, _: ConfirmationTarget) -> u32 {
        253
    }
}

#[derive(Default)]
struct Broadcasts(Mutex<Vec<bitcoin::Transaction>>);
impl BroadcasterInterface for Broadcasts {
    fn broadcast_transactions(&self, txs: &[&bitcoin::Transaction]) {
        self.0
            .lock()
            .expect("lock")
            .extend(txs.iter().map(|tx| (*tx).clone()));
    }
}

struct NoopPersister;
impl Persist<InMemorySigner> for NoopPersister {
    fn persist_new_channel(
        &self,
        _: MonitorName,
        _: &ChannelMonitor<InMemorySigner>,
    ) -> ChannelMonitorUpdateStatus {
        ChannelMonitorUpdateStatus::Completed
    }
    fn update_persisted_channel(
        &self,
        _: MonitorName,
        _: Option<&ChannelMonitorUpdate>,
        _: &ChannelMonitor<InMemorySigner>,
    ) -> ChannelMonitorUpdateStatus {
        ChannelMonitorUpdateStatus::Completed
    }
    fn archive_persisted_channel(&self, _: MonitorName) {}
}

type Log = Arc<StderrLogger>;
type Graph = NetworkGraph<Log>;
type Scorer = ProbabilisticScorer<Arc<Graph>, Log>;
type Monitor = ChainMonitor<
    InMemorySigner,
    Arc<dyn Filter + Send + Sync>,
    Arc<Broadcasts>,
    Arc<BitcoinSizedFees>,
    Log,
    Arc<NoopPersister>,
    Arc<KeysManager>,
>;
type Router = DefaultRouter<
    Arc<Graph>,
    Log,
    Arc<KeysManager>,
    Arc<RwLock<Scorer>>,
    ProbabilisticScoringFeeParameters,
    Scorer,
>;
type MsgRouter = DefaultMessageRouter<Arc<Graph>, Log, Arc<KeysManager>>;
type Manager = ChannelManager<
    Arc<Monitor>,
    Arc<Broadcasts>,
    Arc<KeysManager>,
    Arc<KeysManager>,
    Arc<KeysManager>,
    Arc<BitcoinSizedFees>,
    Arc<Router>,
    Arc<MsgRouter>,
    Log,
>;

struct TestNode {
    manager: Manager,
    node_id: PublicKey,
}

fn qtum_config() -> UserConfig {
    let mut config = UserConfig::default();
    config.channel_handshake_config.our_to_self_delay = 5_400;
    config
        .channel_handshake_config
        .negotiate_anchors_zero_fee_htlc_tx = false;
    config.channel_handshake_limits.their_to_self_delay = 20_160;
    config.channel_handshake_limits.max_funding_satoshis = 100 * 100_000_000;
    config
}

fn node(seed: u8, network: Network) -> TestNode {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock after 1970");
    let logger = Arc::new(StderrLogger);
    let keys = Arc::new(KeysManager::new(
        &[seed; 32],
        now.as_secs(),
        now.subsec_nanos(),
        true,
    ));
    let fees = Arc::new(BitcoinSizedFees);
    let broadcaster = Arc::new(Broadcasts::default());
    let btc_network = network.bitcoin_network();
    let graph = Arc::new(NetworkGraph::new(btc_network, logger.clone()));
    let scorer = Arc::new(RwLock::new(ProbabilisticScorer::new(
        ProbabilisticScoringDecayParameters::default(),
        graph.clone(),
        logger.clone(),
    )));
    let router = Arc::new(DefaultRouter::new(
        graph.clone(),
        logger.clone(),
        keys.clone(),
        scorer,
        ProbabilisticScoringFeeParameters::default(),
    ));
    let msg_router = Arc::new(DefaultMessageRouter::new(graph, keys.clone()));
    let monitor = Arc::new(ChainMonitor::new(
        None,
        broadcaster.clone(),
        logger.clone(),
        fees.clone(),
        Arc::new(NoopPersister),
        keys.clone(),
        keys.get_peer_storage_key(),
    ));
    let params = ChainParameters {
        network: btc_network,
        best_block: BestBlock::from_network(btc_network),
    };
    let manager = ChannelManager::new(
        fees,
        monitor,
        broadcaster,
        router,
        msg_router,
        logger,
        keys.clone(),
        keys.clone(),
        keys.clone(),
        qtum_config(),
        params,
        now.as_secs() as u32,
    );
    let node_id = keys.get_node_id(Recipient::Node).expect("node id");
    TestNode { manager, node_id }
}

fn connect(a: &TestNode, b: &TestNode) {
    let init_b = Init {
        features: b.manager.provided_init_features(a.node_id),
        networks: b.manager.get_chain_hashes(),
        remote_network_address: None,
    };
    let init_a = Init {
        features: a.manager.provided_init_features(b.node_id),
        networks: a.manager.get_chain_hashes(),
        remote_network_address: None,
    };
    a.manager
        .peer_connected(b.node_id, &init_b, true)
        .expect("a accepts b");
    b.manager
        .peer_connected(a.node_id, &init_a, false)
        .expect("b accepts a");
}

fn take_open_channel(node: &TestNode) -> OpenChannel {
    let events = node.manager.get_and_clear_pending_msg_events();
    for event in events {
        if let MessageSendEvent::SendOpenChannel { msg, .. } = event {
            return msg;
        }
    }
    panic!("no open_channel was sent");
}

/// The error B sends back for a message it refuses, if any.
fn refusal(node: &TestNode) -> Option<String> {
    for event in node.manager.get_and_clear_pending_msg_events() {
        if let MessageSendEvent::HandleError { action, .. } = event {
            return Some(match action {
                ErrorAction::SendErrorMessage { msg } => msg.data,
                ErrorAction::DisconnectPeer { msg } => msg.map(|m| m.data).unwrap_or_default(),
                other => format!("{other:?}"),
            });
        }
    }
    None
}

fn accepted(node: &TestNode) -> bool {
    node.manager
        .get_and_clear_pending_msg_events()
        .iter()
        .any(|e| matches!(e, MessageSendEvent::SendAcceptChannel { .. }))
}

#[test]
fn init_announces_qtum_chain_hashes() {
    let expected = [
        (
            Network::Mainnet,
            "6c98ed82555ef9e3d63483d921fa6c09c3f8e68caef8803585f23cf8ae750000",
        ),
        (
            Network::Testnet,
            "2242e1f551bab2fe66ad2a971786823f4d5920922f0dca84065c21ee03e80000",
        ),
        (
            Network::Regtest,
            "43e9dafa2e97fb589aeeb778728a3e3694293326897dc3ef440bac02b4d55e66",
        ),
    ];
    for (i, (network, wire_hex)) in expected.into_iter().enumerate() {
        let n = node(10 + i as u8, network);
        let hashes = n.manager.get_chain_hashes().expect("a chain hash for init");
        assert_eq!(hashes.len(), 1);
        let wire: [u8; 32] = hashes[0].to_bytes();
        assert_eq!(
            bitcoin::hex::DisplayHex::to_lower_hex_string(&wire[..]),
            wire_hex
        );
        assert_eq!(hashes[0], network.chain_hash());
        // The patched bitcoin crate agrees, so every LDK component built from a network does.
        assert_eq!(
            ChainHash::using_genesis_block(network.bitcoin_network()),
            network.chain_hash()
        );
    }
}

#[test]
fn channel_manager_makes_lnqcrt_invoices() {
    let n = node(1, Network::Regtest);
    let params = Bolt11InvoiceParameters {
        amount_msats: Some(1_000),
        description: Bolt11InvoiceDescription::Direct(
            lightning_invoice::Description::new("one satoshi".into()).expect("description"),
        ),
        invoice_expiry_delta_secs: Some(3600),
        min_final_cltv_expiry_delta: Some(144),
        payment_hash: None,
    };
    let invoice = n.manager.create_bolt11_invoice(params).expect("invoice");
    let text = invoice.to_string();
    assert!(text.starts_with("lnqcrt10n1"), "{text}");
    let decoded = DecodedInvoice::decode_for(&text, Network::Regtest).expect("decodes");
    assert_eq!(decoded.amount_msat, Some(1_000));
    assert_eq!(decoded.payee_pubkey, n.node_id);
    assert!(decoded.signature_valid && decoded.payment_secret_present);
    // LDK writes the asked delta plus a 3-block buffer for blocks found while the HTLC travels.
    assert_eq!(decoded.min_final_cltv_expiry_delta, 144 + 3);
    assert!(decoded.payable_on(Network::Regtest).is_ok());
    assert!(decoded.payable_on(Network::Mainnet).is_err());
}

#[test]
fn open_channel_carries_qtum_parameters() {
    let a = node(2, Network::Regtest);
    let b = node(3, Network::Regtest);
    connect(&a, &b);
    let capacity_sat = 10 * 100_000_000;
    a.manager
        .create_channel(b.node_id, capacity_sat, 0, 1, None, None)
        .expect("create channel");
    let open = take_open_channel(&a);

    assert_eq!(open.common_fields.chain_hash, Network::Regtest.chain_hash());
    assert_eq!(open.common_fields.dust_limit_satoshis, 72_800);
    assert_eq!(open.common_fields.to_self_delay, 5_400);
    assert_eq!(open.common_fields.funding_satoshis, capacity_sat);
    // The fee source said 253 sat/kW; LDK's floor lifts it to Qtum's minimum.
    assert!(open.common_fields.commitment_feerate_sat_per_1000_weight >= 101_000);
    // 1 % reserve on 10 QTUM, and never below Qtum's dust threshold.
    assert_eq!(open.channel_reserve_satoshis, capacity_sat / 100);

    // B accepts the Qtum open_channel as it is.
    b.manager.handle_open_channel(a.node_id, &open);
    assert!(accepted(&b), "B must accept a Qtum-conformant open_channel");
}

#[test]
fn small_channels_get_a_reserve_above_qtum_dust() {
    let a = node(4, Network::Regtest);
    let b = node(5, Network::Regtest);
    connect(&a, &b);
    // 0.01 QTUM: 1 % would be 10,000 sat, below Qtum dust; the patched floor is 72,800.
    a.manager
        .create_channel(b.node_id, 1_000_000, 0, 1, None, None)
        .expect("create channel");
    let open = take_open_channel(&a);
    assert_eq!(open.channel_reserve_satoshis, 72_800);
}

#[test]
fn bitcoin_chain_and_bitcoin_dust_are_refused() {
    let a = node(6, Network::Regtest);
    let b = node(7, Network::Regtest);
    connect(&a, &b);
    a.manager
        .create_channel(b.node_id, 100_000_000, 0, 1, None, None)
        .expect("create channel");
    let open = take_open_channel(&a);

    let mut bitcoin_chain = open.clone();
    // Bitcoin signet's chain hash (kept by the patch, since Qtum has no signet): what a peer
    // on a Bitcoin chain would send.
    bitcoin_chain.common_fields.chain_hash = ChainHash::SIGNET;
    b.manager.handle_open_channel(a.node_id, &bitcoin_chain);
    let why = refusal(&b).expect("a Bitcoin chain hash is refused");
    assert!(why.contains("genesis"), "{why}");

    let mut bitcoin_dust = open.clone();
    bitcoin_dust.common_fields.dust_limit_satoshis = 354;
    b.manager.handle_open_channel(a.node_id, &bitcoin_dust);
    let why = refusal(&b).expect("a Bitcoin-sized dust limit is refused");
    assert!(why.contains("dust_limit_satoshis (354)"), "{why}");
}

#[test]
fn to_self_delay_cap_allows_a_week_on_qtum() {
    let a = node(8, Network::Regtest);
    let b = node(9, Network::Regtest);
    connect(&a, &b);
    a.manager
        .create_channel(b.node_id, 100_000_000, 0, 1, None, None)
        .expect("create channel");
    let open = take_open_channel(&a);

    let mut too_long = open.clone();
    too_long.common_fields.to_self_delay = 20_161;
    b.manager.handle_open_channel(a.node_id, &too_long);
    assert!(refusal(&b).is_some(), "20,161 blocks is above the cap");

    let mut week = open;
    week.common_fields.to_self_delay = 20_160;
    b.manager.handle_open_channel(a.node_id, &week);
    assert!(
        accepted(&b),
        "20,160 blocks (~7.5 days of 32 s blocks) is accepted"
    );
}

#[test]
fn bitcoin_crate_policy_is_qtum() {
    use bitcoin::hashes::Hash as _;
    use bitcoin::{Amount, ScriptBuf, WPubkeyHash};
    let p2wpkh = ScriptBuf::new_p2wpkh(&WPubkeyHash::from_byte_array([1; 20]));
    assert_eq!(p2wpkh.minimal_non_dust(), Amount::from_sat(39_200));
    assert_eq!(bitcoin::policy::DUST_RELAY_TX_FEE, 400_000);
    assert_eq!(
        lightning::chain::chaininterface::FEERATE_FLOOR_SATS_PER_KW,
        101_000
    );
    assert_eq!(
        lightning::chain::chaininterface::INCREMENTAL_RELAY_FEE_SAT_PER_1000_WEIGHT,
        2_500
    );
    // LDK's genesis BestBlock lives in the synthetic-header namespace: sha256d of the first
    // 80 bytes of Qtum's genesis header.
    let regtest = Network::Regtest;
    assert_eq!(
        BestBlock::from_network(BitcoinNetwork::Regtest).block_hash,
        regtest.genesis_header().synthetic_hash()
    );
    assert_eq!(
        bitcoin::constants::genesis_block(BitcoinNetwork::Regtest).header,
        regtest.genesis_header().synthetic_header()
    );
}

#[test]
fn funding_deadline_is_seven_days_of_qtum_blocks() {
    // The deadline itself is crate-private; LDK names it in the reason it gives for the close.
    let reason = lightning::events::ClosureReason::FundingTimedOut.to_string();
    assert!(reason.contains("within 18900 blocks"), "{reason}");
    // Level 2 brought the deadline; level 3 the stale-state close (tests/backup.rs).
    assert_eq!(lightning::QTUM_PATCH_LEVEL, 3);
}

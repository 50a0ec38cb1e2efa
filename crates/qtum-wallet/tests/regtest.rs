//! The wallet against the Qtum regtest harness (which validates like qtumd), through the RPC
//! chain source.

mod common;

use common::Offline;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex, TryLockError};

use bitcoin::{OutPoint, ScriptBuf, Transaction, Txid};
use qtum_chain::{
    BlockRef, ChainError, ChainSource, FeeEstimates, HistoryEntry, RpcAuth, RpcConfig, RpcEndpoint,
    RpcSource, Spend, TxStatus,
};
use qtum_primitives::address::{AddressError, QtumAddress};
use qtum_primitives::network::Network;
use qtum_regtest::RegtestNode;
use qtum_wallet::{SharedConnection, Wallet, WalletConfig, WalletError, WalletSeed, WordCount};

const COIN: u64 = 100_000_000;

struct TempDb(PathBuf);

impl TempDb {
    fn new(name: &str) -> TempDb {
        static N: AtomicU32 = AtomicU32::new(0);
        let path = std::env::temp_dir().join(format!(
            "qtum-wallet-{name}-{}-{}.sqlite",
            std::process::id(),
            N.fetch_add(1, Ordering::SeqCst)
        ));
        let db = TempDb(path);
        db.remove();
        db
    }

    fn remove(&self) {
        for suffix in ["", "-wal", "-shm"] {
            let _ = std::fs::remove_file(format!("{}{suffix}", self.0.display()));
        }
    }
}

impl Drop for TempDb {
    fn drop(&mut self) {
        self.remove();
    }
}

fn rpc_source(node: &RegtestNode) -> Arc<dyn ChainSource> {
    let auth = RpcAuth::UserPass {
        user: node.rpc_user().to_owned(),
        password: node.rpc_password().to_owned(),
    };
    let config = RpcConfig::new(Network::Regtest, vec![RpcEndpoint::new(node.url(), auth)]);
    Arc::new(RpcSource::new(config).expect("rpc source"))
}

fn open(db: &TempDb, seed: &WalletSeed, chain: Arc<dyn ChainSource>) -> Wallet {
    let config = WalletConfig {
        birthday_height: Some(0),
        ..WalletConfig::default()
    };
    Wallet::open(&db.0, seed, Network::Regtest, chain, config).expect("open wallet")
}

fn mine(node: &RegtestNode, n: u32) {
    node.mine_blocks(n, &node.wallet_script()).expect("mine");
}

fn harness_address(node: &RegtestNode) -> String {
    QtumAddress::from_script(&node.wallet_script(), Network::Regtest)
        .expect("address")
        .to_string()
}

/// A P2WPKH address of some other wallet.
fn stranger_address() -> QtumAddress {
    let seed = WalletSeed::generate(WordCount::Words12, None).expect("seed");
    let db = TempDb::new("stranger");
    let chain: Arc<dyn ChainSource> = Arc::new(Offline);
    let w = Wallet::open(
        &db.0,
        &seed,
        Network::Regtest,
        chain,
        WalletConfig::default(),
    )
    .expect("open");
    w.new_address().expect("address")
}

fn fund(node: &RegtestNode, wallet: &Wallet, amount_sat: u64) -> OutPoint {
    let addr = wallet.new_address().expect("address");
    node.fund_address(&addr.script_pubkey(), amount_sat)
        .expect("fund")
}

fn tx_of(chain: &Arc<dyn ChainSource>, txid: &Txid) -> Transaction {
    chain
        .transaction(txid)
        .expect("rpc")
        .expect("known to the node")
}

#[test]
fn receive_confirms_after_one_block_with_real_qtum_hash() {
    let node = RegtestNode::start().expect("node");
    let chain = rpc_source(&node);
    let db = TempDb::new("receive");
    let seed = WalletSeed::generate(WordCount::Words12, None).expect("seed");
    let wallet = open(&db, &seed, chain.clone());
    assert!(wallet
        .new_address()
        .expect("addr")
        .to_string()
        .starts_with("qcrt1q"));

    fund(&node, &wallet, 5 * COIN);
    wallet.sync().expect("sync");
    let b = wallet.balance();
    assert_eq!(b.untrusted_pending_sat, 5 * COIN, "{b:?}");
    assert_eq!(b.confirmed_sat, 0);
    assert_eq!(
        b.spendable_sat(),
        0,
        "someone else's unconfirmed payment is not spendable"
    );

    mine(&node, 1);
    let summary = wallet.sync().expect("sync");
    assert_eq!(summary.tip_height, node.height());
    let b = wallet.balance();
    assert_eq!(b.confirmed_sat, 5 * COIN, "{b:?}");
    assert_eq!(b.untrusted_pending_sat, 0);

    let txs = wallet.list_transactions();
    assert_eq!(txs.len(), 1);
    assert_eq!(txs[0].received_sat, 5 * COIN);
    assert_eq!(txs[0].sent_sat, 0);
    let c = txs[0].confirmation.expect("confirmed");
    assert_eq!(c.height, node.height());
    assert_eq!(
        c.block_hash,
        node.tip_hash(),
        "Qtum's real block hash, not the 80-byte one"
    );
    let header = chain.header(&c.block_hash).expect("header");
    assert_ne!(header.synthetic_hash(), c.block_hash);
    assert_eq!(c.time, header.time);
}

#[test]
fn send_is_accepted_by_qtum_policy_and_change_is_trusted() {
    let node = RegtestNode::start().expect("node");
    let chain = rpc_source(&node);
    let db = TempDb::new("send");
    let seed = WalletSeed::generate(WordCount::Words24, None).expect("seed");
    let wallet = open(&db, &seed, chain.clone());
    fund(&node, &wallet, 10 * COIN);
    mine(&node, 1);
    wallet.sync().expect("sync");

    let to = harness_address(&node);
    let prepared = wallet.prepare_send(&to, COIN, None).expect("prepare");
    // Nothing is broadcast by preparing.
    assert_eq!(wallet.list_transactions().len(), 1);
    assert!(prepared.fee_rate_sat_per_kw >= 101_000);
    assert!(prepared.fee_sat >= 400 * prepared.vsize);
    let txid = wallet
        .send_prepared(&prepared)
        .expect("accepted by the harness");
    let tx = tx_of(&chain, &txid);
    assert!(
        prepared.fee_sat >= 400 * tx.vsize() as u64,
        "≥ 400 sat/vB on the real vsize"
    );
    assert!(tx.vsize() as u64 <= prepared.vsize);
    for out in &tx.output {
        assert!(!qtum_primitives::policy::is_dust(
            out.value.to_sat(),
            &out.script_pubkey
        ));
    }

    // Own change is spendable before confirmation.
    let change = prepared.change_sat.expect("change");
    let b = wallet.balance();
    assert_eq!(b.unconfirmed_sat, change, "{b:?}");
    assert_eq!(b.confirmed_sat, 0);
    assert_eq!(change, 10 * COIN - COIN - prepared.fee_sat);

    // An explicit 400 sat/vB (Qtum's floor) spending the unconfirmed change is accepted too.
    let second = wallet
        .send_to_address(&to, COIN, Some(400))
        .expect("accepted at 400 sat/vB");
    let tx2 = tx_of(&chain, &second);
    let fee2 = wallet
        .list_transactions()
        .into_iter()
        .find(|t| t.txid == second)
        .and_then(|t| t.fee_sat)
        .expect("fee known");
    assert!(fee2 >= 400 * tx2.vsize() as u64);

    mine(&node, 1);
    wallet.sync().expect("sync");
    let b = wallet.balance();
    assert_eq!(b.unconfirmed_sat, 0);
    assert_eq!(
        b.confirmed_sat,
        10 * COIN - 2 * COIN - prepared.fee_sat - fee2
    );
    let sent: Vec<_> = wallet
        .list_transactions()
        .into_iter()
        .filter(|t| t.sent_sat > 0)
        .collect();
    assert_eq!(sent.len(), 2);
    assert!(sent.iter().all(|t| t.confirmation.is_some()));
}

#[test]
fn change_of_39199_sat_is_never_created() {
    let node = RegtestNode::start().expect("node");
    let chain = rpc_source(&node);
    let db = TempDb::new("dustchange");
    let seed = WalletSeed::generate(WordCount::Words12, None).expect("seed");
    let wallet = open(&db, &seed, chain.clone());
    fund(&node, &wallet, 10 * COIN);
    mine(&node, 1);
    wallet.sync().expect("sync");
    let to = stranger_address().to_string();

    // 1 P2WPKH input, 2 P2WPKH outputs: vsize 141, so 56,400 sat at 400 sat/vB (the fixture
    // policy/minrelay boundary).
    let fee_with_change = 56_400;
    let amount = 10 * COIN - fee_with_change - 39_199;
    let p = wallet
        .prepare_send(&to, amount, Some(400))
        .expect("prepare");
    assert_eq!(p.change_sat, None, "39,199 sat of change would be dust");
    assert_eq!(p.fee_sat, fee_with_change + 39_199);

    let p = wallet
        .prepare_send(&to, amount - 1, Some(400))
        .expect("prepare");
    assert_eq!(p.change_sat, Some(39_200), "exactly the threshold is kept");
    assert_eq!(p.fee_sat, fee_with_change);
    let txid = wallet.send_prepared(&p).expect("accepted");
    let tx = tx_of(&chain, &txid);
    assert_eq!(tx.output.len(), 2);
    assert!(tx.output.iter().all(|o| o.value.to_sat() >= 39_200));

    mine(&node, 1);
    wallet.sync().expect("sync");
    let b = wallet.balance();
    assert_eq!(b.confirmed_sat, 39_200, "{b:?}");
}

#[test]
fn send_all_leaves_no_dust() {
    let node = RegtestNode::start().expect("node");
    let chain = rpc_source(&node);
    let db = TempDb::new("sendall");
    let seed = WalletSeed::generate(WordCount::Words12, None).expect("seed");
    let wallet = open(&db, &seed, chain.clone());
    fund(&node, &wallet, 3 * COIN);
    fund(&node, &wallet, 2 * COIN + 12_345);
    mine(&node, 1);
    wallet.sync().expect("sync");

    let to = stranger_address().to_string();
    let p = wallet.prepare_send_all(&to, None).expect("prepare");
    assert_eq!(p.change_sat, None);
    assert_eq!(p.inputs.len(), 2);
    assert_eq!(p.amount_sat + p.fee_sat, 5 * COIN + 12_345);
    let txid = wallet.send_prepared(&p).expect("accepted");
    let tx = tx_of(&chain, &txid);
    assert_eq!(tx.output.len(), 1);
    assert_eq!(tx.output[0].value.to_sat(), p.amount_sat);

    mine(&node, 1);
    wallet.sync().expect("sync");
    let b = wallet.balance();
    assert_eq!(b.total_sat(), 0, "{b:?}");
    assert!(wallet.list_unspent().is_empty());
    // Nothing left: a second send_all is a typed error.
    assert!(matches!(
        wallet.send_all(&to, None),
        Err(WalletError::InsufficientFunds {
            available_sat: 0,
            ..
        })
    ));
}

#[test]
fn restore_on_a_fresh_store_finds_the_same_funds() {
    let node = RegtestNode::start().expect("node");
    let chain = rpc_source(&node);
    let db = TempDb::new("original");
    let seed = WalletSeed::generate(WordCount::Words12, Some("qtum")).expect("seed");
    let phrase = seed.mnemonic_phrase().expect("phrase");
    let wallet = open(&db, &seed, chain.clone());
    // Payments to receive indices 0, 15 and 30 (gaps under 20), then a send with change.
    let addrs: Vec<QtumAddress> = (0..31)
        .map(|_| wallet.new_address().expect("addr"))
        .collect();
    for (i, amount) in [(0usize, 4 * COIN), (15, 3 * COIN), (30, 2 * COIN)] {
        node.fund_address(&addrs[i].script_pubkey(), amount)
            .expect("fund");
    }
    mine(&node, 1);
    wallet.sync().expect("sync");
    wallet
        .send_to_address(&harness_address(&node), 5 * COIN, None)
        .expect("send");
    mine(&node, 1);
    wallet.sync().expect("sync");
    let balance = wallet.balance();
    assert!(balance.confirmed_sat > 3 * COIN);
    let history = wallet.list_transactions();
    assert_eq!(history.len(), 4);

    // Same mnemonic and passphrase, empty store.
    let restored_db = TempDb::new("restored");
    let restored_seed = WalletSeed::from_mnemonic(&phrase, Some("qtum")).expect("valid");
    let restored = open(&restored_db, &restored_seed, chain.clone());
    assert_eq!(restored.balance().total_sat(), 0);
    restored.sync().expect("sync");
    assert_eq!(restored.balance(), balance);
    assert_eq!(restored.list_transactions(), {
        let mut h = history.clone();
        // first_seen is when each wallet saw the transaction.
        let restored_h = restored.list_transactions();
        for (a, b) in h.iter_mut().zip(&restored_h) {
            a.first_seen = b.first_seen;
        }
        h
    });
    // Discovery moved the receive index past the last used one.
    let next = restored.new_address().expect("addr");
    assert_eq!(next, wallet.new_address().expect("addr"));

    // Another passphrase is another wallet.
    let other_db = TempDb::new("otherpass");
    let other = open(
        &other_db,
        &WalletSeed::from_mnemonic(&phrase, None).expect("valid"),
        chain,
    );
    other.sync().expect("sync");
    assert_eq!(other.balance().total_sat(), 0);
}

#[test]
fn wrong_network_and_bitcoin_addresses_are_refused() {
    let node = RegtestNode::start().expect("node");
    let chain = rpc_source(&node);
    let db = TempDb::new("addresses");
    let seed = WalletSeed::from_mnemonic(
        "abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon about",
        None,
    )
    .expect("valid");
    let wallet = open(&db, &seed, chain);
    let cases = [
        // Same key on Qtum mainnet and testnet.
        (
            "qc1qakdff2tuy9tsu6u6qxgkhncgx0uq765ql5qtjn",
            Some(Network::Mainnet),
        ),
        (
            "tq1qds9trk9tfnv9clr825py2v9my7ahg9amzt3z89",
            Some(Network::Testnet),
        ),
        // Bitcoin: BIP84's vector, a P2PKH and a regtest address.
        ("bc1qcr8te4kr609gcawutmrza0j4xv80jy8z306fyu", None),
        ("1BvBMSEYstWetqTFn5Au4m4GFg7xJaNVN2", None),
        ("bcrt1qw508d6qejxtdg4y5r3zarvary0c5xw7kygt080", None),
        ("not an address", None),
    ];
    let mainnet_p2pkh =
        QtumAddress::p2pkh(bitcoin::PubkeyHash::all_zeros(), Network::Mainnet).to_string();
    assert!(mainnet_p2pkh.starts_with('Q'));
    let cases = cases
        .into_iter()
        .chain([(mainnet_p2pkh.as_str(), Some(Network::Mainnet))]);
    for (address, network) in cases {
        let err = wallet.prepare_send(address, COIN, None).expect_err(address);
        match (network, &err) {
            (
                Some(found),
                WalletError::InvalidAddress(AddressError::WrongNetwork { expected, found: f }),
            ) => {
                assert_eq!(*expected, Network::Regtest);
                assert_eq!(*f, found, "{address}");
            }
            (None, WalletError::InvalidAddress(e)) => {
                assert!(
                    !matches!(e, AddressError::WrongNetwork { .. }),
                    "{address}: {e}"
                );
            }
            _ => panic!("{address}: unexpected {err:?}"),
        }
        assert!(err.to_string().starts_with("invalid address"), "{err}");
        assert!(wallet.prepare_send_all(address, None).is_err());
    }
}

#[test]
fn insufficient_funds_and_dust_amounts_are_typed() {
    let node = RegtestNode::start().expect("node");
    let chain = rpc_source(&node);
    let db = TempDb::new("insufficient");
    let seed = WalletSeed::generate(WordCount::Words12, None).expect("seed");
    let wallet = open(&db, &seed, chain);
    let to = harness_address(&node);
    fund(&node, &wallet, COIN);
    wallet.sync().expect("sync");
    // Unconfirmed from someone else: not available yet.
    match wallet.prepare_send(&to, COIN / 2, None) {
        Err(WalletError::InsufficientFunds {
            available_sat: 0, ..
        }) => {}
        other => panic!("{other:?}"),
    }
    mine(&node, 1);
    wallet.sync().expect("sync");
    match wallet.prepare_send(&to, 2 * COIN, None) {
        Err(
            e @ WalletError::InsufficientFunds {
                available_sat,
                needed_sat,
            },
        ) => {
            assert_eq!(available_sat, COIN);
            assert!(needed_sat > 2 * COIN);
            assert!(e.to_string().contains(&COIN.to_string()), "{e}");
        }
        other => panic!("{other:?}"),
    }
    // Exactly the balance leaves nothing for the fee.
    assert!(matches!(
        wallet.prepare_send(&to, COIN, None),
        Err(WalletError::InsufficientFunds { .. })
    ));
    let stranger = stranger_address().to_string();
    assert_eq!(
        wallet.prepare_send(&stranger, 39_199, None).map(|_| ()),
        Err(WalletError::AmountBelowDust {
            amount_sat: 39_199,
            dust_threshold_sat: 39_200
        })
    );
    assert!(wallet.prepare_send(&stranger, 39_200, None).is_ok());
    assert!(matches!(
        wallet.prepare_send(&stranger, 100_000, Some(399)),
        Err(WalletError::FeeRateTooLow {
            minimum_sat_per_vb: 400,
            ..
        })
    ));
}

/// Forwards to a real source but hands the network a damaged copy of each transaction (its
/// first output cut to 1,000 sat), so the harness refuses it as qtumd would.
struct DamagingSource(Arc<dyn ChainSource>);

impl ChainSource for DamagingSource {
    fn describe(&self) -> String {
        self.0.describe()
    }
    fn tip(&self) -> Result<BlockRef, ChainError> {
        self.0.tip()
    }
    fn block_hash_at(&self, height: u32) -> Result<Option<bitcoin::BlockHash>, ChainError> {
        self.0.block_hash_at(height)
    }
    fn header(&self, hash: &bitcoin::BlockHash) -> Result<qtum_primitives::QtumHeader, ChainError> {
        self.0.header(hash)
    }
    fn block(&self, hash: &bitcoin::BlockHash) -> Result<qtum_primitives::QtumBlock, ChainError> {
        self.0.block(hash)
    }
    fn transaction(&self, txid: &Txid) -> Result<Option<Transaction>, ChainError> {
        self.0.transaction(txid)
    }
    fn tx_status(&self, txid: &Txid) -> Result<TxStatus, ChainError> {
        self.0.tx_status(txid)
    }
    fn script_history(&self, script: &bitcoin::Script) -> Result<Vec<HistoryEntry>, ChainError> {
        self.0.script_history(script)
    }
    fn outspend(&self, outpoint: &OutPoint) -> Result<Option<Spend>, ChainError> {
        self.0.outspend(outpoint)
    }
    fn broadcast(&self, tx: &Transaction) -> Result<Txid, ChainError> {
        let mut damaged = tx.clone();
        damaged.output[0].value = bitcoin::Amount::from_sat(1_000);
        self.0.broadcast(&damaged)
    }
    fn fee_estimates(&self) -> Result<FeeEstimates, ChainError> {
        self.0.fee_estimates()
    }
}

#[test]
fn rejected_broadcast_leaves_the_wallet_unchanged() {
    let node = RegtestNode::start().expect("node");
    let chain = rpc_source(&node);
    let db = TempDb::new("rejected");
    let seed = WalletSeed::generate(WordCount::Words12, None).expect("seed");
    {
        let wallet = open(&db, &seed, chain.clone());
        fund(&node, &wallet, 10 * COIN);
        mine(&node, 1);
        wallet.sync().expect("sync");
    }
    let damaging: Arc<dyn ChainSource> = Arc::new(DamagingSource(chain.clone()));
    let wallet = open(&db, &seed, damaging);
    let (balance, unspent, history) = (
        wallet.balance(),
        wallet.list_unspent(),
        wallet.list_transactions(),
    );
    let to = harness_address(&node);
    match wallet.send_to_address(&to, COIN, None) {
        Err(e @ WalletError::Rejected { .. }) => {
            let WalletError::Rejected { code, reason } = &e else {
                unreachable!()
            };
            assert_eq!(*code, -26, "{e}");
            assert!(reason.contains("dust"), "qtumd's reason is kept: {reason}");
            assert!(e.to_string().contains("dust"));
        }
        other => panic!("expected a rejection, got {other:?}"),
    }
    assert_eq!(wallet.balance(), balance);
    assert_eq!(wallet.list_unspent(), unspent);
    assert_eq!(wallet.list_transactions(), history);
    drop(wallet);
    // The coins were not marked spent, in the database either: the same send works.
    let wallet = open(&db, &seed, chain);
    assert_eq!(wallet.balance(), balance);
    wallet.send_to_address(&to, COIN, None).expect("accepted");
}

#[test]
fn persistence_survives_reopening() {
    let node = RegtestNode::start().expect("node");
    let chain = rpc_source(&node);
    let db = TempDb::new("reopen");
    let seed = WalletSeed::generate(WordCount::Words12, None).expect("seed");
    let (balance, history, next_address, locked) = {
        let wallet = open(&db, &seed, chain.clone());
        fund(&node, &wallet, 3 * COIN);
        fund(&node, &wallet, 4 * COIN);
        mine(&node, 1);
        wallet.sync().expect("sync");
        wallet
            .send_to_address(&harness_address(&node), COIN, None)
            .expect("send");
        let funding = wallet
            .create_funding_transaction(
                &ScriptBuf::new_p2wsh(&bitcoin::WScriptHash::all_zeros()),
                COIN,
                101_000,
            )
            .expect("funding");
        let locked: Vec<OutPoint> = funding.input.iter().map(|i| i.previous_output).collect();
        (
            wallet.balance(),
            wallet.list_transactions(),
            wallet.new_address().expect("a"),
            locked,
        )
    };
    let wallet = open(&db, &seed, chain.clone());
    assert_eq!(wallet.balance(), balance);
    assert!(balance.locked_sat > 0);
    assert_eq!(wallet.list_transactions(), history);
    for u in wallet.list_unspent() {
        assert_eq!(
            !u.spendable && u.confirmation.is_some(),
            locked.contains(&u.outpoint)
        );
    }
    // The receive index is persisted: no address is handed out twice.
    let again = wallet.new_address().expect("address");
    assert_ne!(again, next_address);
    // The tables are where the node expects them, with the schema version row.
    drop(wallet);
    let conn = rusqlite::Connection::open(&db.0).expect("sqlite");
    let version: String = conn
        .query_row(
            "SELECT value FROM wallet_meta WHERE key = 'schema_version'",
            [],
            |r| r.get(0),
        )
        .expect("version row");
    assert_eq!(version, "1");
    let mode: String = conn
        .query_row("PRAGMA journal_mode", [], |r| r.get(0))
        .expect("mode");
    assert_eq!(mode, "wal");
    // Another seed on the same file is refused.
    let other = WalletSeed::generate(WordCount::Words12, None).expect("seed");
    assert!(matches!(
        Wallet::open(
            &db.0,
            &other,
            Network::Regtest,
            chain,
            WalletConfig::default()
        ),
        Err(WalletError::StoreMismatch(_))
    ));
}

use bitcoin::hashes::Hash as _;

#[test]
fn funding_transactions_lock_inputs_until_confirmed_or_abandoned() {
    let node = RegtestNode::start().expect("node");
    let chain = rpc_source(&node);
    let db = TempDb::new("funding");
    let seed = WalletSeed::generate(WordCount::Words12, None).expect("seed");
    let wallet = open(&db, &seed, chain.clone());
    fund(&node, &wallet, 2 * COIN);
    fund(&node, &wallet, 3 * COIN);
    mine(&node, 1);
    wallet.sync().expect("sync");

    let script = ScriptBuf::new_p2wsh(&bitcoin::WScriptHash::hash(b"2-of-2 funding script"));
    // LDK's 253 sat/kW is raised to Qtum's floor.
    let tx = wallet
        .create_funding_transaction(&script, COIN, 253)
        .expect("funding");
    assert_eq!(
        tx.output
            .iter()
            .filter(|o| o.script_pubkey == script)
            .count(),
        1
    );
    assert!(tx.input.iter().all(|i| !i.witness.is_empty()), "signed");
    let locked = wallet.balance().locked_sat;
    assert!(locked >= COIN);
    node.test_transaction(&tx).expect("valid under Qtum policy");

    // Locked coins are not spent by anything else.
    let second = wallet
        .create_funding_transaction(&script, COIN, 101_000)
        .expect("other coin");
    assert!(second.input.iter().all(|i| !tx
        .input
        .iter()
        .any(|j| j.previous_output == i.previous_output)));
    assert!(matches!(
        wallet.create_funding_transaction(&script, COIN, 101_000),
        Err(WalletError::InsufficientFunds {
            available_sat: 0,
            ..
        })
    ));
    assert_eq!(
        wallet
            .abandon_funding_transaction(&second.compute_txid())
            .expect("abandon"),
        1
    );

    // LDK broadcasts the first; once confirmed its locks are gone and its change is ours.
    node.send_transaction(&tx).expect("broadcast");
    mine(&node, 1);
    wallet.sync().expect("sync");
    let b = wallet.balance();
    assert_eq!(b.locked_sat, 0, "{b:?}");
    let sent = wallet
        .list_transactions()
        .into_iter()
        .find(|t| t.txid == tx.compute_txid())
        .expect("the funding transaction is in the history");
    assert!(sent.fee_sat.expect("fee") >= 400 * tx.vsize() as u64);
    assert_eq!(
        b.confirmed_sat,
        5 * COIN - COIN - sent.fee_sat.expect("fee")
    );
}

#[test]
fn swept_outputs_to_change_scripts_are_the_wallets() {
    let node = RegtestNode::start().expect("node");
    let chain = rpc_source(&node);
    let db = TempDb::new("sweep");
    let seed = WalletSeed::generate(WordCount::Words12, None).expect("seed");
    let wallet = open(&db, &seed, chain.clone());
    let s1 = wallet.change_script().expect("script");
    let s2 = wallet.change_script().expect("script");
    assert_ne!(s1, s2, "a fresh script each time");
    assert!(wallet.is_mine(&s1));
    // What LDK's sweeper would do: pay a claimed output to the destination script.
    node.fund_address(&s2, 2 * COIN).expect("sweep");
    mine(&node, 1);
    wallet.sync().expect("sync");
    assert_eq!(wallet.balance().confirmed_sat, 2 * COIN);
    assert!(wallet.list_unspent()[0].is_change);
    // And a restore finds it on the change chain.
    let db2 = TempDb::new("sweep-restore");
    let restored = open(&db2, &seed, chain);
    restored.sync().expect("sync");
    assert_eq!(restored.balance().confirmed_sat, 2 * COIN);
}

#[test]
fn coinbase_outputs_mature_after_2000_confirmations() {
    let node = RegtestNode::start().expect("node");
    let chain = rpc_source(&node);
    let db = TempDb::new("coinbase");
    let seed = WalletSeed::generate(WordCount::Words12, None).expect("seed");
    let wallet = open(&db, &seed, chain);
    let script = wallet.new_address().expect("addr").script_pubkey();
    node.mine_blocks(1, &script).expect("mine to the wallet");
    let height = node.height();
    wallet.sync().expect("sync");
    let b = wallet.balance();
    assert!(b.immature_sat > 0, "{b:?}");
    assert_eq!(b.confirmed_sat, 0);
    let subsidy = b.immature_sat;
    // 1,999 confirmations: still immature.
    mine(&node, 1998);
    assert_eq!(node.height() - height + 1, 1999);
    wallet.sync().expect("sync");
    assert_eq!(wallet.balance().immature_sat, subsidy);
    // 2,000: consensus lets the next block spend it.
    mine(&node, 1);
    wallet.sync().expect("sync");
    let b = wallet.balance();
    assert_eq!((b.immature_sat, b.confirmed_sat), (0, subsidy), "{b:?}");
    wallet
        .send_to_address(&harness_address(&node), COIN, None)
        .expect("spend the coinbase");
}

#[test]
fn reorg_moves_the_confirmation_to_the_new_block() {
    let node = RegtestNode::start().expect("node");
    let chain = rpc_source(&node);
    let db = TempDb::new("reorg");
    let seed = WalletSeed::generate(WordCount::Words12, None).expect("seed");
    let wallet = open(&db, &seed, chain);
    fund(&node, &wallet, 2 * COIN);
    mine(&node, 1);
    wallet.sync().expect("sync");
    let first = wallet.list_transactions()[0]
        .confirmation
        .expect("confirmed");
    assert_eq!(first.block_hash, node.tip_hash());

    // The block is reorganised away: the payment is unconfirmed again.
    node.invalidate_block(&first.block_hash)
        .expect("invalidate");
    wallet.sync().expect("sync");
    let b = wallet.balance();
    assert_eq!(b.confirmed_sat, 0, "{b:?}");
    assert_eq!(wallet.list_transactions()[0].confirmation, None);

    // A competing block confirms it again, under another hash.
    mine(&node, 1);
    wallet.sync().expect("sync");
    let second = wallet.list_transactions()[0]
        .confirmation
        .expect("confirmed again");
    assert_eq!(second.height, first.height);
    assert_eq!(second.block_hash, node.tip_hash());
    assert_ne!(second.block_hash, first.block_hash);
    assert_eq!(wallet.balance().confirmed_sat, 2 * COIN);
}

/// Forwards to a real source and counts the calls made while someone holds the shared
/// connection: the wallet must never keep it locked across network I/O.
struct ConnectionFreeSource {
    chain: Arc<dyn ChainSource>,
    conn: SharedConnection,
    calls: AtomicU32,
    calls_while_locked: AtomicU32,
}

impl ConnectionFreeSource {
    fn check(&self) {
        self.calls.fetch_add(1, Ordering::SeqCst);
        if let Err(TryLockError::WouldBlock) = self.conn.try_lock() {
            self.calls_while_locked.fetch_add(1, Ordering::SeqCst);
        }
    }
}

impl ChainSource for ConnectionFreeSource {
    fn describe(&self) -> String {
        self.chain.describe()
    }
    fn tip(&self) -> Result<BlockRef, ChainError> {
        self.check();
        self.chain.tip()
    }
    fn block_hash_at(&self, height: u32) -> Result<Option<bitcoin::BlockHash>, ChainError> {
        self.check();
        self.chain.block_hash_at(height)
    }
    fn header(&self, hash: &bitcoin::BlockHash) -> Result<qtum_primitives::QtumHeader, ChainError> {
        self.check();
        self.chain.header(hash)
    }
    fn block(&self, hash: &bitcoin::BlockHash) -> Result<qtum_primitives::QtumBlock, ChainError> {
        self.check();
        self.chain.block(hash)
    }
    fn transaction(&self, txid: &Txid) -> Result<Option<Transaction>, ChainError> {
        self.check();
        self.chain.transaction(txid)
    }
    fn tx_status(&self, txid: &Txid) -> Result<TxStatus, ChainError> {
        self.check();
        self.chain.tx_status(txid)
    }
    fn script_history(&self, script: &bitcoin::Script) -> Result<Vec<HistoryEntry>, ChainError> {
        self.check();
        self.chain.script_history(script)
    }
    fn outspend(&self, outpoint: &OutPoint) -> Result<Option<Spend>, ChainError> {
        self.check();
        self.chain.outspend(outpoint)
    }
    fn broadcast(&self, tx: &Transaction) -> Result<Txid, ChainError> {
        self.check();
        self.chain.broadcast(tx)
    }
    fn fee_estimates(&self) -> Result<FeeEstimates, ChainError> {
        self.check();
        self.chain.fee_estimates()
    }
    fn header_at(
        &self,
        height: u32,
    ) -> Result<Option<(BlockRef, qtum_primitives::QtumHeader)>, ChainError> {
        self.check();
        self.chain.header_at(height)
    }
    fn scripts_history(
        &self,
        scripts: &[ScriptBuf],
        start_height: u32,
    ) -> Result<Vec<Vec<HistoryEntry>>, ChainError> {
        self.check();
        self.chain.scripts_history(scripts, start_height)
    }
}

/// The node's own use of the shared connection: one row in a table of its own, in one
/// transaction, under the lock (as the node's LDK, payment and event stores do).
fn node_writes(conn: &SharedConnection, what: &str) {
    let conn = conn.lock().unwrap_or_else(|p| p.into_inner());
    let tx = conn.transaction().expect("begin");
    tx.execute(
        "INSERT INTO node_events (what) VALUES (?1)",
        qtum_sql::params![what],
    )
    .expect("insert");
    tx.commit().expect("commit");
}

fn pragma(conn: &SharedConnection, name: &str) -> i64 {
    conn.lock()
        .expect("lock")
        .query_row(&format!("PRAGMA {name}"), [], |r| r.get(0))
        .expect("pragma")
}

#[test]
fn shared_connection_carries_the_wallet_and_the_node() {
    let node = RegtestNode::start().expect("node");
    let rpc = rpc_source(&node);
    let db = TempDb::new("shared");
    let seed = WalletSeed::generate(WordCount::Words12, None).expect("seed");
    let config = WalletConfig {
        birthday_height: Some(0),
        ..WalletConfig::default()
    };

    // The node owns the connection and chooses its pragmas; values unlike `Wallet::open`'s
    // show that `open_shared` leaves them alone.
    let owned = rusqlite::Connection::open(&db.0).expect("sqlite");
    owned
        .busy_timeout(std::time::Duration::from_millis(2_500))
        .expect("timeout");
    let mode: String = owned
        .query_row("PRAGMA journal_mode=WAL", [], |r| r.get(0))
        .expect("wal");
    assert_eq!(mode, "wal");
    owned
        .pragma_update(None, "synchronous", "EXTRA")
        .expect("sync");
    owned
        .execute_batch("CREATE TABLE node_events (id INTEGER PRIMARY KEY, what TEXT NOT NULL);")
        .expect("node table");
    let conn: SharedConnection = Arc::new(Mutex::new(owned.into()));
    node_writes(&conn, "before the wallet");
    let source = Arc::new(ConnectionFreeSource {
        chain: rpc.clone(),
        conn: conn.clone(),
        calls: AtomicU32::new(0),
        calls_while_locked: AtomicU32::new(0),
    });
    let chain: Arc<dyn ChainSource> = source.clone();
    let to = harness_address(&node);
    let funding_script = ScriptBuf::new_p2wsh(&bitcoin::WScriptHash::all_zeros());

    // The first wallet: receive, sync, send, lock coins for a funding transaction.
    let (funding, change_scripts) = {
        let wallet = Wallet::open_shared(
            conn.clone(),
            &seed,
            Network::Regtest,
            chain.clone(),
            config.clone(),
        )
        .expect("open shared");
        assert_eq!(pragma(&conn, "synchronous"), 3, "the owner's EXTRA is kept");
        assert_eq!(
            pragma(&conn, "busy_timeout"),
            2_500,
            "the owner's timeout is kept"
        );
        node_writes(&conn, "after open");
        fund(&node, &wallet, 3 * COIN);
        node_writes(&conn, "after an address");
        fund(&node, &wallet, 4 * COIN);
        mine(&node, 1);
        wallet.sync().expect("sync");
        node_writes(&conn, "after a sync");
        assert_eq!(wallet.balance().confirmed_sat, 7 * COIN);
        wallet.send_to_address(&to, COIN, None).expect("send");
        node_writes(&conn, "after a send");
        let funding = wallet
            .create_funding_transaction(&funding_script, COIN, 101_000)
            .expect("funding");
        node_writes(&conn, "after a funding");
        assert!(wallet.balance().locked_sat > 0);

        // The node writes from its own thread while the wallet hands out scripts.
        let writer = {
            let conn = conn.clone();
            std::thread::spawn(move || {
                for i in 0..100 {
                    node_writes(&conn, &format!("concurrent {i}"));
                }
            })
        };
        let change_scripts: Vec<ScriptBuf> = (0..20)
            .map(|_| wallet.change_script().expect("change script"))
            .collect();
        writer.join().expect("writer");
        (funding, change_scripts)
    };

    // A second wallet on the same connection continues where the first stopped.
    let (balance, history, unspent, next_address) = {
        let wallet = Wallet::open_shared(
            conn.clone(),
            &seed,
            Network::Regtest,
            chain.clone(),
            config.clone(),
        )
        .expect("reopen shared");
        node_writes(&conn, "after the second open");
        assert!(wallet.is_mine(&change_scripts[19]));
        let fresh = wallet.change_script().expect("change script");
        assert!(
            !change_scripts.contains(&fresh),
            "no change script handed out twice"
        );
        assert_eq!(
            wallet
                .abandon_funding_transaction(&funding.compute_txid())
                .expect("abandon"),
            funding.input.len()
        );
        node_writes(&conn, "after an abandon");
        assert_eq!(wallet.balance().locked_sat, 0);
        mine(&node, 1);
        wallet.sync().expect("sync");
        wallet.send_to_address(&to, COIN, None).expect("send");
        node_writes(&conn, "after the second send");
        let funding = wallet
            .create_funding_transaction(&funding_script, COIN, 101_000)
            .expect("funding");
        assert!(wallet.balance().locked_sat > 0);
        assert!(!funding.input.is_empty());
        // Another seed is refused on the shared connection too, and changes nothing.
        let other = WalletSeed::generate(WordCount::Words12, None).expect("seed");
        assert!(matches!(
            Wallet::open_shared(
                conn.clone(),
                &other,
                Network::Regtest,
                chain.clone(),
                config.clone(),
            ),
            Err(WalletError::StoreMismatch(_))
        ));
        (
            wallet.balance(),
            wallet.list_transactions(),
            wallet.list_unspent(),
            wallet.new_address().expect("address"),
        )
    };
    assert_eq!(history.len(), 4, "two receives, two sends");
    assert!(source.calls.load(Ordering::SeqCst) > 0);
    assert_eq!(
        source.calls_while_locked.load(Ordering::SeqCst),
        0,
        "the connection was locked during a chain call"
    );

    // Everything is in the file: the node's rows and the wallet's, after reopening.
    drop(chain);
    drop(source);
    assert_eq!(
        Arc::strong_count(&conn),
        1,
        "the wallets let go of the connection"
    );
    drop(conn);
    let check = rusqlite::Connection::open(&db.0).expect("sqlite");
    let rows: i64 = check
        .query_row("SELECT COUNT(*) FROM node_events", [], |r| r.get(0))
        .expect("node rows");
    assert_eq!(rows, 9 + 100);
    drop(check);
    let wallet = Wallet::open(&db.0, &seed, Network::Regtest, rpc, config).expect("reopen");
    assert_eq!(wallet.balance(), balance);
    assert_eq!(wallet.list_transactions(), history);
    assert_eq!(wallet.list_unspent(), unspent);
    assert_ne!(wallet.new_address().expect("address"), next_address);
    assert!(wallet.is_mine(&change_scripts[19]));
}

fn fee_of(wallet: &Wallet, txid: &Txid) -> u64 {
    wallet
        .list_transactions()
        .into_iter()
        .find(|t| t.txid == *txid)
        .and_then(|t| t.fee_sat)
        .expect("fee of a transaction the wallet made")
}

#[test]
fn a_stuck_send_is_replaced_by_one_paying_more() {
    let node = RegtestNode::start().expect("node");
    let chain = rpc_source(&node);
    let db = TempDb::new("bump");
    let seed = WalletSeed::generate(WordCount::Words12, None).expect("seed");
    let wallet = open(&db, &seed, chain.clone());
    fund(&node, &wallet, 10 * COIN);
    mine(&node, 1);
    wallet.sync().expect("sync");
    let to = harness_address(&node);

    let first = wallet
        .send_to_address(&to, COIN, Some(400))
        .expect("send at the floor");
    let first_tx = tx_of(&chain, &first);
    let first_fee = fee_of(&wallet, &first);
    let spendable_before = wallet.balance().spendable_sat();

    // The same rate again still makes a valid replacement: the wallet adds what relay needs.
    let bump = wallet.bump_fee(&first, Some(400)).expect("bump");
    assert_eq!(bump.replaced, first);
    assert!(bump.fee_sat > first_fee, "{bump:?} vs {first_fee}");
    let replacement = tx_of(&chain, &bump.txid);
    assert!(
        bump.fee_sat >= first_fee + 10 * replacement.vsize() as u64,
        "BIP 125's incremental relay fee is paid"
    );
    // The recipient is paid the same; only the change paid for the bump.
    let paid = |tx: &Transaction| {
        tx.output
            .iter()
            .filter(|o| o.script_pubkey == node.wallet_script())
            .map(|o| o.value.to_sat())
            .sum::<u64>()
    };
    assert_eq!(paid(&replacement), COIN);
    assert_eq!(paid(&first_tx), COIN);
    assert_eq!(
        chain.tx_status(&first).expect("status"),
        TxStatus::Unknown,
        "the network dropped the original"
    );
    let history = wallet.list_transactions();
    assert!(
        history.iter().all(|t| t.txid != first),
        "the original left the history"
    );
    assert_eq!(fee_of(&wallet, &bump.txid), bump.fee_sat);
    assert_eq!(
        wallet.balance().spendable_sat(),
        spendable_before - (bump.fee_sat - first_fee)
    );

    // A higher rate bumps the replacement again; a sync does not bring the old ones back.
    let again = wallet
        .bump_fee(&bump.txid, Some(2_000))
        .expect("bump again");
    let again_vsize = tx_of(&chain, &again.txid).vsize() as u64;
    assert!(again.fee_sat >= 2_000 * (again_vsize - 1), "{again:?}");
    wallet.sync().expect("sync");
    let ids: Vec<Txid> = wallet.list_transactions().iter().map(|t| t.txid).collect();
    assert!(ids.contains(&again.txid));
    assert!(!ids.contains(&bump.txid) && !ids.contains(&first));

    // Typed refusals, nothing changed.
    let balance = wallet.balance();
    assert!(matches!(
        wallet.bump_fee(&again.txid, Some(399)),
        Err(WalletError::FeeRateTooLow { .. })
    ));
    assert!(matches!(
        wallet.bump_fee(&first, None),
        Err(WalletError::CannotBump(_))
    ));
    // Built upon: a second send spends the replacement's change.
    let child = wallet
        .send_to_address(&to, COIN, Some(400))
        .expect("spends the unconfirmed change");
    match wallet.bump_fee(&again.txid, Some(1_000)) {
        Err(WalletError::CannotBump(why)) => assert!(why.contains("spends its outputs"), "{why}"),
        other => panic!("expected CannotBump, got {other:?}"),
    }
    assert_eq!(tx_of(&chain, &child).compute_txid(), child);
    mine(&node, 1);
    wallet.sync().expect("sync");
    assert!(matches!(
        wallet.bump_fee(&child, Some(1_000)),
        Err(WalletError::CannotBump(why)) if why.contains("confirmed")
    ));
    assert!(wallet.balance().spendable_sat() < balance.spendable_sat());
}

#[test]
fn a_bump_without_change_adds_a_confirmed_coin() {
    let node = RegtestNode::start().expect("node");
    let chain = rpc_source(&node);
    let db = TempDb::new("bump-add");
    let seed = WalletSeed::generate(WordCount::Words12, None).expect("seed");
    let wallet = open(&db, &seed, chain.clone());
    let to = harness_address(&node);
    fund(&node, &wallet, COIN);
    mine(&node, 1);
    wallet.sync().expect("sync");
    // The amount that spends the 1 QTUM coin exactly, with no change.
    let exact = wallet
        .prepare_send_all(&to, Some(400))
        .expect("preview")
        .amount_sat;
    fund(&node, &wallet, 5 * COIN);
    mine(&node, 1);
    wallet.sync().expect("sync");
    let prepared = wallet.prepare_send(&to, exact, Some(400)).expect("prepare");
    assert_eq!(prepared.inputs.len(), 1, "{prepared:?}");
    assert_eq!(prepared.change_sat, None, "{prepared:?}");
    let first = wallet.send_prepared(&prepared).expect("send");

    let bump = wallet.bump_fee(&first, Some(800)).expect("bump");
    assert_eq!(bump.input_count, 2, "{bump:?}");
    let replacement = tx_of(&chain, &bump.txid);
    assert_eq!(replacement.output.len(), 2, "recipient and new change");
    assert!(replacement
        .output
        .iter()
        .any(|o| o.script_pubkey == node.wallet_script() && o.value.to_sat() == exact));
    mine(&node, 1);
    wallet.sync().expect("sync");
    let b = wallet.balance();
    assert_eq!(b.confirmed_sat, 6 * COIN - exact - bump.fee_sat, "{b:?}");
}

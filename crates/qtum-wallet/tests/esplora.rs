//! The wallet through the Esplora-style source (qtum-esplora in front of the regtest harness).

use std::sync::Arc;
use std::time::Duration;

use qtum_chain::{ChainSource, EsploraConfig, EsploraSource, RpcAuth};
use qtum_esplora::{EsploraServer, ServerConfig};
use qtum_primitives::address::QtumAddress;
use qtum_primitives::network::Network;
use qtum_regtest::RegtestNode;
use qtum_wallet::{Balance, Wallet, WalletConfig, WalletSeed, WordCount};

const COIN: u64 = 100_000_000;

/// Syncs until `done` holds: the server indexes new blocks in the background. Bounded; the
/// test fails (never on a timing assertion) if the index never catches up.
fn sync_until(wallet: &Wallet, done: impl Fn(&Balance) -> bool) -> Balance {
    for _ in 0..300 {
        wallet.sync().expect("sync");
        let b = wallet.balance();
        if done(&b) {
            return b;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!(
        "the Esplora index never showed the expected balance: {:?}",
        wallet.balance()
    );
}

#[test]
fn receive_send_and_restore_through_esplora() {
    let node = RegtestNode::start().expect("node");
    let auth = RpcAuth::UserPass {
        user: node.rpc_user().to_owned(),
        password: node.rpc_password().to_owned(),
    };
    let listen = "127.0.0.1:0".parse().expect("addr");
    let server = EsploraServer::start(ServerConfig::new(node.url(), auth, listen)).expect("server");
    let chain: Arc<dyn ChainSource> = Arc::new(
        EsploraSource::new(EsploraConfig::new(vec![server.url()])).expect("esplora source"),
    );
    let path =
        std::env::temp_dir().join(format!("qtum-wallet-esplora-{}.sqlite", std::process::id()));
    let restore_path = std::env::temp_dir().join(format!(
        "qtum-wallet-esplora-r-{}.sqlite",
        std::process::id()
    ));
    for p in [&path, &restore_path] {
        let _ = std::fs::remove_file(p);
    }
    let seed = WalletSeed::generate(WordCount::Words12, None).expect("seed");
    let config = WalletConfig {
        birthday_height: Some(0),
        ..WalletConfig::default()
    };
    let wallet = Wallet::open(
        &path,
        &seed,
        Network::Regtest,
        chain.clone(),
        config.clone(),
    )
    .expect("open");

    let addr = wallet.new_address().expect("address");
    node.fund_address(&addr.script_pubkey(), 5 * COIN)
        .expect("fund");
    node.mine_blocks(1, &node.wallet_script()).expect("mine");
    let b = sync_until(&wallet, |b| b.confirmed_sat == 5 * COIN);
    assert_eq!(b.untrusted_pending_sat, 0);

    let to = QtumAddress::from_script(&node.wallet_script(), Network::Regtest).expect("addr");
    let prepared = wallet
        .prepare_send(&to.to_string(), COIN, None)
        .expect("prepare");
    wallet
        .send_prepared(&prepared)
        .expect("broadcast through Esplora");
    node.mine_blocks(1, &node.wallet_script()).expect("mine");
    let expected = 5 * COIN - COIN - prepared.fee_sat;
    let b = sync_until(&wallet, |b| {
        b.confirmed_sat == expected && b.unconfirmed_sat == 0
    });
    assert_eq!(b.total_sat(), expected);

    let restored =
        Wallet::open(&restore_path, &seed, Network::Regtest, chain, config).expect("open");
    let rb = sync_until(&restored, |b| b.confirmed_sat == expected);
    assert_eq!(rb, b);
    assert_eq!(restored.list_transactions().len(), 2);
    drop((wallet, restored));
    for p in [&path, &restore_path] {
        for suffix in ["", "-wal", "-shm"] {
            let _ = std::fs::remove_file(format!("{}{suffix}", p.display()));
        }
    }
}

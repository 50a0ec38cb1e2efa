//! The wallet's store on PostgreSQL: a throwaway server per test (`qtum-pgtest`), the wallet on
//! a `qtum_sql` connection to it through the public API (`Wallet::open_shared`), and the regtest
//! harness as chain. Fails (does not skip) when PostgreSQL is not installed.
//!
//! Run with `cargo test -p qtum-wallet --features postgres --test postgres`.

#![cfg(feature = "postgres")]

mod common;

use common::Offline;
use std::sync::{Arc, Barrier, Mutex};

use bitcoin::hashes::Hash as _;
use bitcoin::{OutPoint, ScriptBuf};
use qtum_chain::{ChainSource, RpcAuth, RpcConfig, RpcEndpoint, RpcSource};
use qtum_pgtest::PgServer;
use qtum_primitives::address::QtumAddress;
use qtum_primitives::network::Network;
use qtum_regtest::RegtestNode;
use qtum_sql::{params, Backend, Connection};
use qtum_wallet::{SharedConnection, Wallet, WalletConfig, WalletError, WalletSeed, WordCount};

const COIN: u64 = 100_000_000;

/// A fresh server with one empty database; the URL of that database.
fn server_with_database(name: &str) -> (PgServer, String) {
    let server = PgServer::start().unwrap_or_else(|e| panic!("PostgreSQL server: {e}"));
    let url = server
        .create_database(name)
        .unwrap_or_else(|e| panic!("database {name}: {e}"));
    (server, url)
}

fn connect(url: &str) -> SharedConnection {
    let conn = Connection::open_postgres(url, None).expect("connect to PostgreSQL");
    assert_eq!(conn.backend(), Backend::Postgres);
    Arc::new(Mutex::new(conn))
}

fn config(birthday_height: Option<u32>) -> WalletConfig {
    WalletConfig {
        birthday_height,
        ..WalletConfig::default()
    }
}

fn offline() -> Arc<dyn ChainSource> {
    Arc::new(Offline)
}

fn rpc_source(node: &RegtestNode) -> Arc<dyn ChainSource> {
    let auth = RpcAuth::UserPass {
        user: node.rpc_user().to_owned(),
        password: node.rpc_password().to_owned(),
    };
    let config = RpcConfig::new(Network::Regtest, vec![RpcEndpoint::new(node.url(), auth)]);
    Arc::new(RpcSource::new(config).expect("rpc source"))
}

fn mine(node: &RegtestNode, n: u32) {
    node.mine_blocks(n, &node.wallet_script()).expect("mine");
}

fn fund(node: &RegtestNode, wallet: &Wallet, amount_sat: u64) -> OutPoint {
    let addr = wallet.new_address().expect("address");
    node.fund_address(&addr.script_pubkey(), amount_sat)
        .expect("fund")
}

/// One value of the wallet's metadata, read straight from the database.
fn meta(conn: &SharedConnection, key: &str) -> Option<String> {
    let conn = conn.lock().expect("lock");
    let rows = conn
        .query_map(
            "SELECT value FROM wallet_meta WHERE key = ?1",
            params![key],
            |r| r.get(0),
        )
        .expect("read wallet_meta");
    rows.into_iter().next()
}

/// The PostgreSQL type of a column of the wallet's tables.
fn column_type(conn: &SharedConnection, table: &str, column: &str) -> String {
    conn.lock()
        .expect("lock")
        .query_row(
            "SELECT CAST(data_type AS TEXT) FROM information_schema.columns
             WHERE table_schema = current_schema() AND table_name = ?1 AND column_name = ?2",
            params![table, column],
            |r| r.get(0),
        )
        .unwrap_or_else(|e| panic!("type of {table}.{column}: {e}"))
}

#[test]
fn a_wallet_is_created_bound_and_reopened_on_postgres() {
    let (_server, url) = server_with_database("wallet_bind");
    let seed = WalletSeed::generate(WordCount::Words12, None).expect("seed");

    // Create: the tables, with PostgreSQL's types, and the binding to the seed and network.
    let conn = connect(&url);
    let (first_address, change) = {
        let wallet = Wallet::open_shared(
            conn.clone(),
            &seed,
            Network::Regtest,
            offline(),
            config(Some(5)),
        )
        .expect("create the wallet on PostgreSQL");
        assert_eq!(wallet.birthday_height(), Some(5));
        let change = wallet.change_script().expect("change script");
        (wallet.new_address().expect("address"), change)
    };
    assert_eq!(meta(&conn, "schema_version").as_deref(), Some("1"));
    assert_eq!(meta(&conn, "network").as_deref(), Some("regtest"));
    assert_eq!(meta(&conn, "next_external").as_deref(), Some("1"));
    assert_eq!(column_type(&conn, "wallet_txs", "raw"), "bytea");
    assert_eq!(column_type(&conn, "wallet_txs", "height"), "bigint");
    assert_eq!(column_type(&conn, "wallet_txs", "first_seen"), "bigint");
    assert_eq!(column_type(&conn, "wallet_locks", "vout"), "bigint");
    assert_eq!(column_type(&conn, "wallet_meta", "value"), "text");

    // Reopen on the same connection: the same wallet, its cursors and birthday kept (a
    // config without a birthday does not change the recorded one).
    {
        let wallet = Wallet::open_shared(
            conn.clone(),
            &seed,
            Network::Regtest,
            offline(),
            config(None),
        )
        .expect("reopen");
        assert_eq!(wallet.birthday_height(), Some(5));
        assert!(wallet.is_mine(&first_address.script_pubkey()));
        assert!(wallet.is_mine(&change));
        assert_ne!(
            wallet.new_address().expect("address"),
            first_address,
            "no address handed out twice"
        );
    }
    drop(conn);

    // Reopen on a new connection: everything came from the server, not from memory.
    let conn = connect(&url);
    let next_address = {
        let wallet = Wallet::open_shared(
            conn.clone(),
            &seed,
            Network::Regtest,
            offline(),
            config(None),
        )
        .expect("reopen on a new connection");
        assert_eq!(wallet.birthday_height(), Some(5));
        assert!(wallet.is_mine(&change));
        let next = wallet.new_address().expect("address");
        assert_ne!(next, first_address);
        next
    };
    assert_eq!(meta(&conn, "next_external").as_deref(), Some("3"));

    // Another seed, or another network, is refused and changes nothing.
    let other = WalletSeed::generate(WordCount::Words12, None).expect("seed");
    let refused = Wallet::open_shared(
        conn.clone(),
        &other,
        Network::Regtest,
        offline(),
        config(None),
    );
    assert!(
        matches!(refused, Err(WalletError::StoreMismatch(_))),
        "another seed: {:?}",
        refused.map(|_| ())
    );
    let refused = Wallet::open_shared(
        conn.clone(),
        &seed,
        Network::Testnet,
        offline(),
        config(None),
    );
    assert!(
        matches!(refused, Err(WalletError::StoreMismatch(_))),
        "another network: {:?}",
        refused.map(|_| ())
    );
    assert_eq!(meta(&conn, "network").as_deref(), Some("regtest"));

    // A failed open left the connection usable and outside any transaction.
    assert!(conn.lock().expect("lock").is_autocommit());
    let wallet = Wallet::open_shared(
        conn.clone(),
        &seed,
        Network::Regtest,
        offline(),
        config(None),
    )
    .expect("the right wallet still opens");
    assert_ne!(wallet.new_address().expect("address"), next_address);
    drop(wallet);

    // A database written by a newer build is refused, never reset.
    conn.lock()
        .expect("lock")
        .execute(
            "UPDATE wallet_meta SET value = ?1 WHERE key = 'schema_version'",
            params!["99"],
        )
        .expect("pretend a newer build wrote it");
    match Wallet::open_shared(
        conn.clone(),
        &seed,
        Network::Regtest,
        offline(),
        config(None),
    ) {
        Err(WalletError::StoreTooNew {
            found: 99,
            supported: 1,
        }) => {}
        other => panic!("expected StoreTooNew, got {:?}", other.map(|_| ())),
    }
    assert_eq!(meta(&conn, "schema_version").as_deref(), Some("99"));
    assert_eq!(meta(&conn, "next_external").as_deref(), Some("4"));
}

#[test]
fn wallets_opening_a_fresh_database_at_once_migrate_it_once() {
    let (_server, url) = server_with_database("wallet_race");
    let seed = WalletSeed::generate(WordCount::Words12, None).expect("seed");
    // Each its own connection, all creating the tables at the same moment: the wallet's write
    // lock makes them take turns, as SQLite's `BEGIN IMMEDIATE` does on one file.
    let n = 4;
    let start = Arc::new(Barrier::new(n));
    let openers: Vec<_> = (0..n)
        .map(|_| {
            let conn = connect(&url);
            let seed = seed.clone();
            let start = start.clone();
            std::thread::spawn(move || {
                start.wait();
                Wallet::open_shared(conn, &seed, Network::Regtest, offline(), config(Some(0)))
                    .map(|_| ())
            })
        })
        .collect();
    for opener in openers {
        opener
            .join()
            .expect("opener thread")
            .expect("every concurrent open succeeds");
    }
    let conn = connect(&url);
    assert_eq!(meta(&conn, "schema_version").as_deref(), Some("1"));
    Wallet::open_shared(conn, &seed, Network::Regtest, offline(), config(None))
        .expect("open after the race");
}

/// The node's own use of the shared connection: one row in a table of its own, in one
/// transaction, under the lock.
fn node_writes(conn: &SharedConnection, what: &str) {
    let conn = conn.lock().unwrap_or_else(|p| p.into_inner());
    let tx = conn.transaction().expect("begin");
    tx.execute("INSERT INTO node_events (what) VALUES (?1)", params![what])
        .expect("insert");
    tx.commit().expect("commit");
}

#[test]
fn a_funded_wallet_keeps_its_balance_and_history_across_reopens_on_postgres() {
    let node = RegtestNode::start().expect("regtest node");
    let chain = rpc_source(&node);
    let (_server, url) = server_with_database("wallet_funded");
    let seed = WalletSeed::generate(WordCount::Words12, None).expect("seed");
    let to = QtumAddress::from_script(&node.wallet_script(), Network::Regtest)
        .expect("address")
        .to_string();
    let funding_script = ScriptBuf::new_p2wsh(&bitcoin::WScriptHash::all_zeros());

    let conn = connect(&url);
    conn.lock()
        .expect("lock")
        .execute_batch("CREATE TABLE node_events (id BIGSERIAL PRIMARY KEY, what TEXT NOT NULL)")
        .expect("node table");
    node_writes(&conn, "before the wallet");

    let (balance, history, unspent, locks, next_address, funding) = {
        let wallet = Wallet::open_shared(
            conn.clone(),
            &seed,
            Network::Regtest,
            chain.clone(),
            config(Some(0)),
        )
        .expect("open on PostgreSQL");
        fund(&node, &wallet, 3 * COIN);
        node_writes(&conn, "after an address");
        fund(&node, &wallet, 4 * COIN);
        mine(&node, 1);
        wallet.sync().expect("sync");
        node_writes(&conn, "after a sync");
        let b = wallet.balance();
        assert_eq!(b.confirmed_sat, 7 * COIN, "{b:?}");
        let sent = wallet.send_to_address(&to, COIN, None).expect("send");
        assert!(wallet.holds_transaction(&sent));
        let funding = wallet
            .create_funding_transaction(&funding_script, COIN, 101_000)
            .expect("funding");
        node_writes(&conn, "after a funding");
        assert!(wallet.balance().locked_sat > 0);
        let history = wallet.list_transactions();
        assert_eq!(history.len(), 3, "two receives and a send");
        assert_eq!(
            history.iter().filter(|t| t.confirmation.is_some()).count(),
            2
        );
        (
            wallet.balance(),
            history,
            wallet.list_unspent(),
            wallet.funding_locks(),
            wallet.new_address().expect("address"),
            funding,
        )
    };
    assert_eq!(locks, vec![funding.compute_txid()]);
    assert_eq!(meta(&conn, "tip_height"), Some(node.height().to_string()));
    drop(conn);

    // A new connection finds everything on the server.
    let conn = connect(&url);
    {
        let wallet = Wallet::open_shared(
            conn.clone(),
            &seed,
            Network::Regtest,
            chain.clone(),
            config(Some(0)),
        )
        .expect("reopen on PostgreSQL");
        assert_eq!(wallet.balance(), balance);
        assert_eq!(wallet.list_transactions(), history);
        assert_eq!(wallet.list_unspent(), unspent);
        assert_eq!(wallet.funding_locks(), locks);
        assert_ne!(wallet.new_address().expect("address"), next_address);

        // The send confirms; the funding is abandoned and its coins come back.
        mine(&node, 1);
        wallet.sync().expect("sync");
        assert!(wallet
            .list_transactions()
            .iter()
            .all(|t| t.confirmation.is_some()));
        assert_eq!(
            wallet
                .abandon_funding_transaction(&funding.compute_txid())
                .expect("abandon"),
            funding.input.len()
        );
        assert_eq!(wallet.balance().locked_sat, 0);
        node_writes(&conn, "after an abandon");
    }
    drop(conn);

    let conn = connect(&url);
    let wallet = Wallet::open_shared(
        conn.clone(),
        &seed,
        Network::Regtest,
        chain,
        config(Some(0)),
    )
    .expect("reopen again");
    assert!(wallet.funding_locks().is_empty());
    assert_eq!(wallet.balance().locked_sat, 0);
    assert_eq!(wallet.balance().confirmed_sat, balance.total_sat());
    let history = wallet.list_transactions();
    assert_eq!(history.len(), 3);
    assert!(history.iter().all(|t| t.confirmation.is_some()));
    let rows: i64 = conn
        .lock()
        .expect("lock")
        .query_row("SELECT COUNT(*) FROM node_events", [], |r| r.get(0))
        .expect("node rows");
    assert_eq!(
        rows, 5,
        "the node's rows share the database with the wallet's"
    );
}

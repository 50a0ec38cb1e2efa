//! The layer on a real PostgreSQL server (feature `postgres`): the same statements as on
//! SQLite, and a transaction whose statement failed is never reported committed.
#![cfg(feature = "postgres")]

use qtum_sql::{params, Connection, OptionalExtension, TransactionBehavior};

fn connection() -> (qtum_pgtest::PgServer, Connection) {
    let server = qtum_pgtest::PgServer::start().expect("PostgreSQL");
    let url = server.create_database("sqltest").expect("database");
    let conn = Connection::open_postgres(&url, None).expect("connect");
    conn.execute_batch("CREATE TABLE t (k TEXT PRIMARY KEY, v BIGINT NOT NULL, b BYTEA)")
        .expect("table");
    (server, conn)
}

#[test]
fn shared_sql_runs_on_postgresql() {
    let (_server, conn) = connection();
    conn.execute(
        "INSERT INTO t (k, v, b) VALUES (?1, ?2, ?3)",
        params!["a", u32::MAX, vec![1u8, 2]],
    )
    .expect("insert");
    // The upsert form both databases accept, and INSERT OR IGNORE rewritten.
    conn.execute(
        "INSERT INTO t (k, v) VALUES (?1, ?2) ON CONFLICT (k) DO UPDATE SET v = excluded.v",
        params!["a", 7],
    )
    .expect("upsert");
    let ignored = conn
        .execute(
            "INSERT OR IGNORE INTO t (k, v) VALUES (?1, ?2)",
            params!["a", 9],
        )
        .expect("ignore");
    assert_eq!(ignored, 0);
    let (v, b): (i64, Vec<u8>) = conn
        .query_row("SELECT v, b FROM t WHERE k = ?1", params!["a"], |r| {
            Ok((r.get("v")?, r.get(1)?))
        })
        .expect("row");
    assert_eq!((v, b), (7, vec![1, 2]));
    let none = conn
        .query_row("SELECT v FROM t WHERE k = ?1", params!["zz"], |r| {
            r.get::<_, i64>(0)
        })
        .optional()
        .expect("query");
    assert_eq!(none, None);
    assert!(!conn.is_broken());
}

#[test]
fn a_transaction_with_a_failed_statement_is_not_committed() {
    let (_server, conn) = connection();
    let tx = conn
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .expect("begin");
    tx.execute("INSERT INTO t (k, v) VALUES ('x', 1)", [])
        .expect("insert");
    // NOT NULL refuses this one; PostgreSQL aborts the whole transaction, and would answer the
    // COMMIT with a rollback and no error.
    assert!(tx
        .execute("INSERT INTO t (k, v) VALUES ('y', NULL)", [])
        .is_err());
    let committed = tx.commit();
    assert!(
        committed.is_err(),
        "a rolled-back transaction reported committed"
    );
    assert!(conn.is_autocommit());
    let n: i64 = conn
        .query_row("SELECT COUNT(*) FROM t", [], |r| r.get(0))
        .expect("count");
    assert_eq!(n, 0, "nothing of the failed transaction is there");
    // The connection is usable afterwards.
    let tx = conn.transaction().expect("begin");
    tx.execute("INSERT INTO t (k, v) VALUES ('z', 3)", [])
        .expect("insert");
    tx.commit().expect("commit");
}

#[test]
fn a_killed_server_is_seen_as_broken() {
    let (mut server, conn) = connection();
    assert!(!conn.is_broken());
    server.kill();
    // The probe asks the server at most every two seconds.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while !conn.is_broken() {
        assert!(
            std::time::Instant::now() < deadline,
            "the probe never sees the server gone"
        );
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
    assert!(conn
        .execute("INSERT INTO t (k, v) VALUES ('q', 1)", [])
        .is_err());
}

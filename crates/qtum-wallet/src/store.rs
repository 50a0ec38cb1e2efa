//! Persistence in the node's database (SQLite, or PostgreSQL with the `postgres` feature),
//! tables prefixed `wallet_`.
//!
//! Schema (version 1; on PostgreSQL the integers are `BIGINT` and `raw` is `BYTEA`):
//!
//! | table | rows |
//! |---|---|
//! | `wallet_meta(key, value)` | `schema_version`, `network`, `account_id`, `birthday_height`, `next_external`, `next_internal`, `tip_height`, `tip_hash`, and for block scans (an RPC source without `-addrindex`) `scan_height` (every confirmed wallet transaction below it is in `wallet_txs`) and `scan_hash` (the block below it when scanned, absent at the birthday) |
//! | `wallet_txs(txid, raw, height, block_hash, block_time, first_seen)` | every transaction paying to or spending from the wallet; `height`/`block_hash` (Qtum's real hash) NULL while unconfirmed |
//! | `wallet_locks(txid, vout, locked_by, created_at)` | inputs reserved for a funding transaction until it confirms or is abandoned |
//!
//! Ownership: the wallet works on a [`SharedConnection`], one `qtum_sql::Connection` (SQLite or
//! PostgreSQL) behind a mutex. In a node that connection belongs to the node (LDK data,
//! payments, events, peers and the wallet share it and its one writer) and
//! `Wallet::open_shared` only creates or migrates the wallet tables: the owner sets the pragmas
//! (journal mode, `synchronous`, busy timeout) or configures the server, so the durability of
//! wallet writes is the owner's setting. `Wallet::open` is the standalone SQLite case: it opens
//! its own connection with [`open_file`] (WAL, `synchronous = FULL`, on Apple targets
//! `fullfsync = ON`, a 10 s busy timeout), so a change the caller was told succeeded survives a
//! crash or power loss, and then goes through the same code.
//!
//! Locking: every operation here locks the mutex for its SQL only (never across a chain-source
//! call or other network I/O; the wallet's own lock is always taken first, so the order is
//! wallet → connection). A poisoned mutex is recovered with `into_inner`: the panicking
//! holder's SQL transaction was rolled back or never committed, so the file is consistent.
//! Every multi-row change is one `BEGIN IMMEDIATE` transaction, taken with the lock held (on
//! PostgreSQL a transaction that first takes a transaction-scoped advisory lock, so wallet
//! writers of every connection to the database run one at a time, as SQLite's write lock makes
//! them); a write finding the connection inside someone else's open transaction is refused
//! rather than nested in it (its commit would then be theirs to make). Upgrades run
//! `MIGRATIONS[v]` (SQLite) or `PG_MIGRATIONS[v]` (PostgreSQL) for each version above the stored
//! one, each step in its own transaction; a database from a newer build is refused, never
//! reset.
//!
//! SQL: every statement outside the schema is written once, in the subset both databases accept
//! (see `qtum_sql`): `?N` placeholders, `INSERT … ON CONFLICT (key) DO UPDATE` for upserts. No
//! statement's error is caught inside a transaction to carry on: PostgreSQL aborts the whole
//! transaction at the first failed statement.

use std::path::Path;
use std::str::FromStr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use bitcoin::consensus::encode::{deserialize, serialize};
use bitcoin::{BlockHash, OutPoint, Txid};
use qtum_sql::{params, Backend, Connection, OptionalExtension, Transaction, TransactionBehavior};

use qtum_primitives::network::Network;

use crate::error::WalletError;
use crate::keys::Keychain;
use crate::state::{Confirmation, State, WalletTx};

/// One database connection, SQLite or PostgreSQL, shared by everything that keeps state in a
/// node's database (LDK data, payments, events, peers and the wallet): whoever needs it locks
/// the mutex for one operation (one SQL transaction) and releases it before any network I/O.
///
/// The wallet never changes the connection's settings (SQLite's pragmas, the server's
/// configuration); its owner chooses them. A poisoned mutex is usable (recover it with
/// `into_inner`): a `qtum_sql::Transaction` rolls back on drop, so what a panicking holder did
/// not commit is undone. Do not call into the wallet while holding the lock (the wallet takes its
/// own lock first, then this one).
pub type SharedConnection = Arc<Mutex<Connection>>;

/// Newest schema this build writes.
pub(crate) const SCHEMA_VERSION: u32 = 1;

/// How long a standalone wallet's write waits for other connections to the file.
const BUSY_TIMEOUT: Duration = Duration::from_secs(10);

/// `MIGRATIONS[v]` upgrades an SQLite database from version `v` to `v + 1`.
const MIGRATIONS: &[&str] = &[
    // 0 → 1: the first schema.
    "CREATE TABLE IF NOT EXISTS wallet_meta (
         key   TEXT PRIMARY KEY NOT NULL,
         value TEXT NOT NULL
     );
     CREATE TABLE IF NOT EXISTS wallet_txs (
         txid       TEXT PRIMARY KEY NOT NULL,
         raw        BLOB NOT NULL,
         height     INTEGER,
         block_hash TEXT,
         block_time INTEGER,
         first_seen INTEGER NOT NULL
     );
     CREATE TABLE IF NOT EXISTS wallet_locks (
         txid       TEXT NOT NULL,
         vout       INTEGER NOT NULL,
         locked_by  TEXT NOT NULL,
         created_at INTEGER NOT NULL,
         PRIMARY KEY (txid, vout)
     );",
];

/// `PG_MIGRATIONS[v]` upgrades a PostgreSQL database from version `v` to `v + 1`: the same
/// tables as [`MIGRATIONS`], step for step, with `BIGINT` for integers and `BYTEA` for bytes.
const PG_MIGRATIONS: &[&str] = &[
    // 0 → 1: the first schema.
    "CREATE TABLE IF NOT EXISTS wallet_meta (
         key   TEXT PRIMARY KEY NOT NULL,
         value TEXT NOT NULL
     );
     CREATE TABLE IF NOT EXISTS wallet_txs (
         txid       TEXT PRIMARY KEY NOT NULL,
         raw        BYTEA NOT NULL,
         height     BIGINT,
         block_hash TEXT,
         block_time BIGINT,
         first_seen BIGINT NOT NULL
     );
     CREATE TABLE IF NOT EXISTS wallet_locks (
         txid       TEXT NOT NULL,
         vout       BIGINT NOT NULL,
         locked_by  TEXT NOT NULL,
         created_at BIGINT NOT NULL,
         PRIMARY KEY (txid, vout)
     );",
];

/// The key of the PostgreSQL advisory lock every wallet write transaction takes first (the
/// bytes of "qtumwalt"): a second writer, on any connection to the database, waits for the
/// first to commit, as SQLite's `BEGIN IMMEDIATE` makes it wait.
const PG_WRITE_LOCK: i64 = 0x7174_756d_7761_6c74;

/// The migration steps for `conn`'s database.
fn migrations(conn: &Connection) -> &'static [&'static str] {
    match conn.backend() {
        Backend::Sqlite => MIGRATIONS,
        Backend::Postgres => PG_MIGRATIONS,
    }
}

/// Opens (creating if needed) the database at `path` for a standalone wallet, with durable
/// settings: WAL (readers never block the writer), `synchronous = FULL` (every commit is on
/// disk before it returns; WAL's usual `NORMAL` can lose the last commits on power loss),
/// `fullfsync` on Apple targets (there a plain `fsync` does not reach the disk's platter or
/// flash) and a busy timeout instead of an immediate `SQLITE_BUSY` when another connection to
/// the file writes.
pub(crate) fn open_file(path: &Path) -> Result<Connection, WalletError> {
    // The pragmas are SQLite's own: set on the rusqlite connection, then handed to qtum-sql.
    let sqlite = |e: rusqlite::Error| WalletError::from(qtum_sql::Error::from(e));
    let conn = rusqlite::Connection::open(path).map_err(sqlite)?;
    conn.busy_timeout(BUSY_TIMEOUT).map_err(sqlite)?;
    // `journal_mode` answers with the mode in force.
    let mode: String = conn
        .query_row("PRAGMA journal_mode=WAL", [], |r| r.get(0))
        .map_err(sqlite)?;
    if !mode.eq_ignore_ascii_case("wal") {
        log::warn!("wallet database: journal mode {mode}, not WAL");
    }
    conn.pragma_update(None, "synchronous", "FULL")
        .map_err(sqlite)?;
    #[cfg(any(target_os = "macos", target_os = "ios"))]
    conn.pragma_update(None, "fullfsync", true)
        .map_err(sqlite)?;
    Ok(conn.into())
}

/// The wallet's tables on a [`SharedConnection`].
pub(crate) struct Store {
    conn: SharedConnection,
}

impl Store {
    /// Brings the wallet tables on `conn` to [`SCHEMA_VERSION`] (creating them if needed),
    /// without touching the connection's pragmas.
    pub fn new(conn: SharedConnection) -> Result<Store, WalletError> {
        let store = Store { conn };
        store.migrate()?;
        Ok(store)
    }

    /// An in-memory database (tests, throwaway wallets).
    #[cfg(test)]
    pub fn in_memory() -> Result<Store, WalletError> {
        Self::new(Arc::new(Mutex::new(Connection::open_in_memory()?)))
    }

    /// The connection (tests).
    #[cfg(test)]
    pub fn connection(&self) -> &SharedConnection {
        &self.conn
    }

    /// Locks the connection for one operation.
    fn lock(&self) -> MutexGuard<'_, Connection> {
        // A holder that panicked left no half-written change: its uncommitted transaction was
        // rolled back (`qtum_sql::Transaction` on drop), so the connection is usable.
        self.conn
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Runs `f` in one write transaction (`BEGIN IMMEDIATE`: the write lock is taken at the
    /// start, so a read-then-write never fails on a snapshot another connection outdated; on
    /// PostgreSQL the wallet's advisory lock, see [`PG_WRITE_LOCK`]) and commits it, all under
    /// the connection's lock. An error drops the transaction, which rolls it back.
    fn write<T>(
        &self,
        f: impl FnOnce(&Transaction<'_>) -> Result<T, WalletError>,
    ) -> Result<T, WalletError> {
        let conn = self.lock();
        if !conn.is_autocommit() {
            return Err(WalletError::Store(
                "the shared database connection is inside a transaction someone else opened"
                    .to_owned(),
            ));
        }
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        if tx.backend() == Backend::Postgres {
            // Held until the transaction ends (commit or rollback). `execute`: the function
            // returns `void`, a value no row of this layer carries.
            tx.execute("SELECT pg_advisory_xact_lock(?1)", params![PG_WRITE_LOCK])?;
        }
        let value = f(&tx)?;
        tx.commit()?;
        Ok(value)
    }

    /// The schema version of the wallet tables (0 when there are none).
    #[cfg(test)]
    pub fn schema_version(&self) -> Result<u32, WalletError> {
        schema_version(&self.lock())
    }

    fn migrate(&self) -> Result<(), WalletError> {
        loop {
            // One step per transaction, the version read inside it: two processes opening the
            // same file never run a step twice.
            let done = self.write(|tx| {
                let found = schema_version(tx)?;
                if found > SCHEMA_VERSION {
                    return Err(WalletError::StoreTooNew {
                        found,
                        supported: SCHEMA_VERSION,
                    });
                }
                if found == SCHEMA_VERSION {
                    return Ok(true);
                }
                let step = migrations(tx).get(found as usize).ok_or_else(|| {
                    WalletError::Store(format!("no migration from version {found}"))
                })?;
                tx.execute_batch(step)?;
                set_meta(tx, "schema_version", &(found + 1).to_string())?;
                log::info!("wallet tables migrated to schema version {}", found + 1);
                Ok(false)
            })?;
            if done {
                return Ok(());
            }
        }
    }

    /// Binds a fresh store to `network` and `account_id`, or checks that an existing one holds
    /// the same wallet.
    pub fn bind(
        &self,
        network: Network,
        account_id: &str,
        birthday_height: Option<u32>,
    ) -> Result<(), WalletError> {
        self.write(|tx| match (meta(tx, "network")?, meta(tx, "account_id")?) {
            (None, None) => {
                set_meta(tx, "network", network.as_str())?;
                set_meta(tx, "account_id", account_id)?;
                if let Some(h) = birthday_height {
                    set_meta(tx, "birthday_height", &h.to_string())?;
                }
                Ok(())
            }
            (Some(n), _) if n != network.as_str() => Err(WalletError::StoreMismatch(format!(
                "the database holds a {n} wallet, not {network}"
            ))),
            (_, Some(a)) if a != account_id => Err(WalletError::StoreMismatch(
                "the database holds the wallet of another recovery phrase".to_owned(),
            )),
            (Some(_), Some(_)) => Ok(()),
            _ => Err(WalletError::StoreMismatch(
                "the wallet database is incomplete".to_owned(),
            )),
        })
    }

    /// Reads everything into memory, from one consistent state: under the connection's lock
    /// and in one read transaction (other connections to the database may write meanwhile).
    pub fn load(&self) -> Result<State, WalletError> {
        let guard = self.lock();
        let conn: &Connection = &guard;
        // Inside a transaction someone else left open, its view is as consistent as it gets.
        let snapshot = if conn.is_autocommit() {
            let tx = conn.transaction()?;
            if tx.backend() == Backend::Postgres {
                // PostgreSQL's default (READ COMMITTED) takes a new snapshot per statement; one
                // snapshot for the whole read, as an SQLite read transaction has, must be asked
                // for before the first query.
                tx.execute_batch("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")?;
            }
            Some(tx)
        } else {
            None
        };
        let state = read_state(conn)?;
        if let Some(tx) = snapshot {
            tx.commit()?;
        }
        Ok(state)
    }

    /// Writes a set of changes atomically (one transaction; nothing when there are none).
    pub fn apply(&self, changes: &Changes) -> Result<(), WalletError> {
        if changes.is_empty() {
            return Ok(());
        }
        self.write(|tx| {
            for (txid, wtx) in &changes.upsert_txs {
                let (height, hash, time) = match wtx.confirmation {
                    Some(c) => (Some(c.height), Some(c.block_hash.to_string()), Some(c.time)),
                    None => (None, None, None),
                };
                tx.execute(
                    "INSERT INTO wallet_txs (txid, raw, height, block_hash, block_time, first_seen)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6)
                     ON CONFLICT(txid) DO UPDATE SET height = excluded.height,
                         block_hash = excluded.block_hash, block_time = excluded.block_time",
                    params![
                        txid.to_string(),
                        serialize(&wtx.tx),
                        height,
                        hash,
                        time,
                        i64::try_from(wtx.first_seen).unwrap_or(i64::MAX)
                    ],
                )?;
            }
            for txid in &changes.delete_txs {
                tx.execute(
                    "DELETE FROM wallet_txs WHERE txid = ?1",
                    params![txid.to_string()],
                )?;
            }
            for (outpoint, by) in &changes.add_locks {
                tx.execute(
                    "INSERT INTO wallet_locks (txid, vout, locked_by, created_at)
                     VALUES (?1, ?2, ?3, ?4)
                     ON CONFLICT(txid, vout) DO UPDATE SET locked_by = excluded.locked_by,
                         created_at = excluded.created_at",
                    params![
                        outpoint.txid.to_string(),
                        outpoint.vout,
                        by.to_string(),
                        unix_now_i64()
                    ],
                )?;
            }
            for outpoint in &changes.remove_locks {
                tx.execute(
                    "DELETE FROM wallet_locks WHERE txid = ?1 AND vout = ?2",
                    params![outpoint.txid.to_string(), outpoint.vout],
                )?;
            }
            for (keychain, next) in &changes.next_index {
                let key = match keychain {
                    Keychain::External => "next_external",
                    Keychain::Internal => "next_internal",
                };
                set_meta(tx, key, &next.to_string())?;
            }
            if let Some((height, hash)) = changes.tip {
                set_meta(tx, "tip_height", &height.to_string())?;
                set_meta(tx, "tip_hash", &hash.to_string())?;
            }
            if let Some((height, anchor)) = changes.scan {
                set_meta(tx, "scan_height", &height.to_string())?;
                match anchor {
                    Some(hash) => set_meta(tx, "scan_hash", &hash.to_string())?,
                    None => {
                        tx.execute("DELETE FROM wallet_meta WHERE key = 'scan_hash'", [])?;
                    }
                }
            }
            Ok(())
        })
    }
}

/// The wallet's rows, in memory.
fn read_state(conn: &Connection) -> Result<State, WalletError> {
    let mut state = State::default();
    let num = |key: &str| -> Result<Option<u32>, WalletError> {
        match meta(conn, key)? {
            None => Ok(None),
            Some(v) => v
                .parse()
                .map(Some)
                .map_err(|_| WalletError::Store(format!("unreadable {key}: {v:?}"))),
        }
    };
    state.next_index = [
        num("next_external")?.unwrap_or(0),
        num("next_internal")?.unwrap_or(0),
    ];
    state.birthday_height = num("birthday_height")?;
    if let (Some(h), Some(hash)) = (num("tip_height")?, meta(conn, "tip_hash")?) {
        state.tip = Some((h, parse_hash::<BlockHash>(&hash)?));
    }
    if let Some(h) = num("scan_height")? {
        let anchor = match meta(conn, "scan_hash")? {
            Some(hash) => Some(parse_hash::<BlockHash>(&hash)?),
            None => None,
        };
        state.scan = Some((h, anchor));
    }

    let mut stmt = conn
        .prepare("SELECT txid, raw, height, block_hash, block_time, first_seen FROM wallet_txs")?;
    let rows = stmt.query_map([], |r| {
        Ok((
            r.get::<_, String>(0)?,
            r.get::<_, Vec<u8>>(1)?,
            r.get::<_, Option<u32>>(2)?,
            r.get::<_, Option<String>>(3)?,
            r.get::<_, Option<u32>>(4)?,
            r.get::<_, i64>(5)?,
        ))
    })?;
    for row in rows {
        let (txid, raw, height, hash, time, first_seen) = row?;
        let txid: Txid = parse_hash(&txid)?;
        let tx: bitcoin::Transaction = deserialize(&raw)
            .map_err(|e| WalletError::Store(format!("unreadable transaction {txid}: {e}")))?;
        let confirmation = match (height, hash) {
            (Some(height), Some(hash)) => Some(Confirmation {
                height,
                block_hash: parse_hash(&hash)?,
                time: time.unwrap_or(0),
            }),
            _ => None,
        };
        let first_seen = u64::try_from(first_seen).unwrap_or(0);
        state.txs.insert(
            txid,
            WalletTx {
                tx,
                confirmation,
                first_seen,
            },
        );
    }

    let mut stmt = conn.prepare("SELECT txid, vout, locked_by FROM wallet_locks")?;
    let rows = stmt.query_map([], |r| {
        Ok((
            r.get::<_, String>(0)?,
            r.get::<_, u32>(1)?,
            r.get::<_, String>(2)?,
        ))
    })?;
    for row in rows {
        let (txid, vout, by) = row?;
        state.locks.insert(
            OutPoint {
                txid: parse_hash(&txid)?,
                vout,
            },
            parse_hash(&by)?,
        );
    }
    Ok(state)
}

/// The schema version of the wallet tables (0 when there are none).
fn schema_version(conn: &Connection) -> Result<u32, WalletError> {
    let has_meta = match conn.backend() {
        Backend::Sqlite => {
            "SELECT EXISTS (SELECT 1 FROM sqlite_master
                 WHERE type = 'table' AND name = 'wallet_meta')"
        }
        // `current_schema()`: the first schema of the connection's `search_path`, where the
        // unqualified `wallet_meta` is created and found.
        Backend::Postgres => {
            "SELECT EXISTS (SELECT 1 FROM information_schema.tables
                 WHERE table_schema = current_schema() AND table_name = 'wallet_meta')"
        }
    };
    let has_meta: bool = conn.query_row(has_meta, [], |r| r.get(0))?;
    if !has_meta {
        return Ok(0);
    }
    match meta(conn, "schema_version")? {
        None => Ok(0),
        Some(v) => v
            .parse()
            .map_err(|_| WalletError::Store(format!("unreadable schema version {v:?}"))),
    }
}

fn meta(conn: &Connection, key: &str) -> Result<Option<String>, WalletError> {
    Ok(conn
        .query_row(
            "SELECT value FROM wallet_meta WHERE key = ?1",
            params![key],
            |r| r.get(0),
        )
        .optional()?)
}

fn set_meta(conn: &Connection, key: &str, value: &str) -> Result<(), WalletError> {
    conn.execute(
        "INSERT INTO wallet_meta (key, value) VALUES (?1, ?2)
         ON CONFLICT(key) DO UPDATE SET value = excluded.value",
        params![key, value],
    )?;
    Ok(())
}

/// A batch of changes, applied to the database first and to memory after it succeeded.
#[derive(Clone, Debug, Default)]
pub(crate) struct Changes {
    pub upsert_txs: Vec<(Txid, WalletTx)>,
    pub delete_txs: Vec<Txid>,
    pub add_locks: Vec<(OutPoint, Txid)>,
    pub remove_locks: Vec<OutPoint>,
    pub next_index: Vec<(Keychain, u32)>,
    pub tip: Option<(u32, BlockHash)>,
    /// A new block-scan cursor (height, hash of the block below it).
    pub scan: Option<(u32, Option<BlockHash>)>,
}

impl Changes {
    /// Nothing to write.
    pub fn is_empty(&self) -> bool {
        self.upsert_txs.is_empty()
            && self.delete_txs.is_empty()
            && self.add_locks.is_empty()
            && self.remove_locks.is_empty()
            && self.next_index.is_empty()
            && self.tip.is_none()
            && self.scan.is_none()
    }

    /// Applies the changes to the in-memory state (after the database took them).
    pub fn apply_to(&self, state: &mut State) {
        for (txid, wtx) in &self.upsert_txs {
            let first_seen = state
                .txs
                .get(txid)
                .map(|w| w.first_seen)
                .unwrap_or(wtx.first_seen);
            state.txs.insert(
                *txid,
                WalletTx {
                    first_seen,
                    ..wtx.clone()
                },
            );
        }
        for txid in &self.delete_txs {
            state.txs.remove(txid);
        }
        for (outpoint, by) in &self.add_locks {
            state.locks.insert(*outpoint, *by);
        }
        for outpoint in &self.remove_locks {
            state.locks.remove(outpoint);
        }
        for (keychain, next) in &self.next_index {
            state.set_next(*keychain, *next);
        }
        if let Some(tip) = self.tip {
            state.tip = Some(tip);
        }
        if let Some(scan) = self.scan {
            state.scan = Some(scan);
        }
    }
}

fn parse_hash<T: FromStr>(s: &str) -> Result<T, WalletError> {
    T::from_str(s).map_err(|_| WalletError::Store(format!("unreadable hash {s:?}")))
}

pub(crate) fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

fn unix_now_i64() -> i64 {
    i64::try_from(unix_now()).unwrap_or(i64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shared(conn: Connection) -> SharedConnection {
        Arc::new(Mutex::new(conn))
    }

    #[test]
    fn fresh_store_migrates_to_current_version() {
        let store = Store::in_memory().expect("open");
        assert_eq!(store.schema_version().expect("version"), SCHEMA_VERSION);
        // Reopening an up-to-date store is a no-op.
        store.migrate().expect("idempotent");
        Store::new(store.connection().clone()).expect("reopen");
        assert_eq!(store.schema_version().expect("version"), SCHEMA_VERSION);
    }

    #[test]
    fn newer_schema_is_refused_not_reset() {
        let path =
            std::env::temp_dir().join(format!("qtum-wallet-newer-{}.sqlite", std::process::id()));
        let remove = || {
            for suffix in ["", "-wal", "-shm"] {
                let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
            }
        };
        remove();
        {
            let store = Store::new(shared(open_file(&path).expect("open"))).expect("store");
            store.bind(Network::Regtest, "abc", None).expect("bind");
            let conn = store.lock();
            set_meta(&conn, "schema_version", "99").expect("write");
        }
        match Store::new(shared(open_file(&path).expect("open"))) {
            Err(WalletError::StoreTooNew {
                found: 99,
                supported: SCHEMA_VERSION,
            }) => {}
            other => panic!("expected StoreTooNew, got {:?}", other.map(|_| ())),
        }
        let conn = open_file(&path).expect("open");
        assert_eq!(schema_version(&conn).expect("version"), 99);
        assert_eq!(
            meta(&conn, "account_id").expect("read").as_deref(),
            Some("abc"),
            "nothing was reset"
        );
        drop(conn);
        remove();
    }

    #[test]
    fn writes_are_not_nested_in_someone_elses_transaction() {
        let store = Store::in_memory().expect("open");
        let conn = store.connection().clone();
        let next = Changes {
            next_index: vec![(Keychain::External, 3)],
            ..Default::default()
        };
        // A plain `BEGIN`, not a `Transaction`: the owner's transaction must stay open after
        // the owner lets go of the mutex (a `Transaction` borrows the locked connection and
        // would keep the mutex, so the wallet's write would wait forever instead of finding it).
        conn.lock()
            .expect("lock")
            .execute_batch(
                "CREATE TABLE node_rows (n INTEGER); BEGIN; INSERT INTO node_rows VALUES (1);",
            )
            .expect("owner's open transaction");
        // Nested, the wallet's change would be committed (or rolled back) by someone else.
        assert!(matches!(store.apply(&next), Err(WalletError::Store(_))));
        conn.lock()
            .expect("lock")
            .execute_batch("COMMIT")
            .expect("commit");
        store.apply(&next).expect("apply");
        assert_eq!(store.load().expect("load").next_index, [3, 0]);
    }

    #[test]
    fn a_poisoned_connection_is_recovered_without_the_panickers_changes() {
        let store = Store::in_memory().expect("open");
        let conn = store.connection().clone();
        let holder = conn.clone();
        let panicked = std::thread::spawn(move || {
            let conn = holder.lock().expect("lock");
            let tx = conn.transaction().expect("begin");
            set_meta(&tx, "next_external", "7").expect("write");
            panic!("the holder dies before committing");
        })
        .join();
        assert!(panicked.is_err());
        assert!(conn.is_poisoned());
        assert_eq!(store.load().expect("load").next_index, [0, 0]);
        store
            .apply(&Changes {
                next_index: vec![(Keychain::Internal, 2)],
                ..Default::default()
            })
            .expect("apply");
        assert_eq!(store.load().expect("load").next_index, [0, 2]);
    }

    #[test]
    fn binding_refuses_other_wallets() {
        let store = Store::in_memory().expect("open");
        store.bind(Network::Regtest, "abc", Some(5)).expect("bind");
        store
            .bind(Network::Regtest, "abc", None)
            .expect("same wallet");
        assert!(matches!(
            store.bind(Network::Mainnet, "abc", None),
            Err(WalletError::StoreMismatch(_))
        ));
        assert!(matches!(
            store.bind(Network::Regtest, "def", None),
            Err(WalletError::StoreMismatch(_))
        ));
        assert_eq!(store.load().expect("load").birthday_height, Some(5));
    }
}

//! SQLite persistence in the node's database file, tables prefixed `wallet_`.
//!
//! Schema (version 1):
//!
//! | table | rows |
//! |---|---|
//! | `wallet_meta(key, value)` | `schema_version`, `network`, `account_id`, `birthday_height`, `next_external`, `next_internal`, `tip_height`, `tip_hash` |
//! | `wallet_txs(txid, raw, height, block_hash, block_time, first_seen)` | every transaction paying to or spending from the wallet; `height`/`block_hash` (Qtum's real hash) NULL while unconfirmed |
//! | `wallet_locks(txid, vout, locked_by, created_at)` | inputs reserved for a funding transaction until it confirms or is abandoned |
//!
//! The node opens the same file for its own tables, so: WAL (readers never block the writer),
//! a busy timeout instead of immediate `SQLITE_BUSY`, and every multi-row change in one SQL
//! transaction. Upgrades run `MIGRATIONS[v]` for each version above the stored one; a database
//! from a newer build is refused, never reset.

use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

use bitcoin::consensus::encode::{deserialize, serialize};
use bitcoin::{BlockHash, OutPoint, Txid};
use rusqlite::{params, Connection, OptionalExtension};

use qtum_primitives::network::Network;

use crate::error::WalletError;
use crate::keys::Keychain;
use crate::state::{Confirmation, State, WalletTx};

/// Newest schema this build writes.
pub(crate) const SCHEMA_VERSION: u32 = 1;

/// How long a write waits for the node's own writers before failing.
const BUSY_TIMEOUT: Duration = Duration::from_secs(10);

/// `MIGRATIONS[v]` upgrades a database from version `v` to `v + 1`.
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

pub(crate) struct Store {
    conn: Connection,
}

impl Store {
    /// Opens (creating if needed) the database at `path` and brings the wallet tables to
    /// [`SCHEMA_VERSION`].
    pub fn open(path: &Path) -> Result<Store, WalletError> {
        let conn = Connection::open(path)?;
        Self::from_connection(conn)
    }

    /// An in-memory database (tests, throwaway wallets).
    #[cfg(test)]
    pub fn in_memory() -> Result<Store, WalletError> {
        Self::from_connection(Connection::open_in_memory()?)
    }

    fn from_connection(conn: Connection) -> Result<Store, WalletError> {
        conn.busy_timeout(BUSY_TIMEOUT)?;
        // `journal_mode` answers with the mode in force (`memory` for in-memory databases).
        let _mode: String = conn.query_row("PRAGMA journal_mode=WAL", [], |r| r.get(0))?;
        conn.pragma_update(None, "synchronous", "NORMAL")?;
        let mut store = Store { conn };
        store.migrate()?;
        Ok(store)
    }

    /// The schema version of the wallet tables (0 when there are none).
    pub fn schema_version(&self) -> Result<u32, WalletError> {
        let has_meta: bool = self.conn.query_row(
            "SELECT EXISTS (SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'wallet_meta')",
            [],
            |r| r.get(0),
        )?;
        if !has_meta {
            return Ok(0);
        }
        match self.meta("schema_version")? {
            None => Ok(0),
            Some(v) => v
                .parse()
                .map_err(|_| WalletError::Store(format!("unreadable schema version {v:?}"))),
        }
    }

    fn migrate(&mut self) -> Result<(), WalletError> {
        let found = self.schema_version()?;
        if found > SCHEMA_VERSION {
            return Err(WalletError::StoreTooNew {
                found,
                supported: SCHEMA_VERSION,
            });
        }
        for version in found..SCHEMA_VERSION {
            let step = MIGRATIONS.get(version as usize).ok_or_else(|| {
                WalletError::Store(format!("no migration from version {version}"))
            })?;
            let tx = self.conn.transaction()?;
            tx.execute_batch(step)?;
            tx.execute(
                "INSERT INTO wallet_meta (key, value) VALUES ('schema_version', ?1)
                 ON CONFLICT(key) DO UPDATE SET value = excluded.value",
                params![(version + 1).to_string()],
            )?;
            tx.commit()?;
            log::info!("wallet tables migrated to schema version {}", version + 1);
        }
        Ok(())
    }

    pub fn meta(&self, key: &str) -> Result<Option<String>, WalletError> {
        Ok(self
            .conn
            .query_row(
                "SELECT value FROM wallet_meta WHERE key = ?1",
                params![key],
                |r| r.get(0),
            )
            .optional()?)
    }

    pub fn set_meta(&self, key: &str, value: &str) -> Result<(), WalletError> {
        self.conn.execute(
            "INSERT INTO wallet_meta (key, value) VALUES (?1, ?2)
             ON CONFLICT(key) DO UPDATE SET value = excluded.value",
            params![key, value],
        )?;
        Ok(())
    }

    /// Binds a fresh store to `network` and `account_id`, or checks that an existing one holds
    /// the same wallet.
    pub fn bind(
        &self,
        network: Network,
        account_id: &str,
        birthday_height: Option<u32>,
    ) -> Result<(), WalletError> {
        match (self.meta("network")?, self.meta("account_id")?) {
            (None, None) => {
                self.set_meta("network", network.as_str())?;
                self.set_meta("account_id", account_id)?;
                if let Some(h) = birthday_height {
                    self.set_meta("birthday_height", &h.to_string())?;
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
        }
    }

    /// Reads everything into memory.
    pub fn load(&self) -> Result<State, WalletError> {
        let mut state = State::default();
        let num = |key: &str| -> Result<Option<u32>, WalletError> {
            match self.meta(key)? {
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
        if let (Some(h), Some(hash)) = (num("tip_height")?, self.meta("tip_hash")?) {
            state.tip = Some((h, parse_hash::<BlockHash>(&hash)?));
        }

        let mut stmt = self.conn.prepare(
            "SELECT txid, raw, height, block_hash, block_time, first_seen FROM wallet_txs",
        )?;
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

        let mut stmt = self
            .conn
            .prepare("SELECT txid, vout, locked_by FROM wallet_locks")?;
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

    /// Writes a set of changes atomically.
    pub fn apply(&mut self, changes: &Changes) -> Result<(), WalletError> {
        let tx = self.conn.transaction()?;
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
                "INSERT OR REPLACE INTO wallet_locks (txid, vout, locked_by, created_at)
                 VALUES (?1, ?2, ?3, ?4)",
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
            tx.execute(
                "INSERT INTO wallet_meta (key, value) VALUES (?1, ?2)
                 ON CONFLICT(key) DO UPDATE SET value = excluded.value",
                params![key, next.to_string()],
            )?;
        }
        if let Some((height, hash)) = changes.tip {
            for (key, value) in [
                ("tip_height", height.to_string()),
                ("tip_hash", hash.to_string()),
            ] {
                tx.execute(
                    "INSERT INTO wallet_meta (key, value) VALUES (?1, ?2)
                     ON CONFLICT(key) DO UPDATE SET value = excluded.value",
                    params![key, value],
                )?;
            }
        }
        tx.commit()?;
        Ok(())
    }
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
}

impl Changes {
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

    #[test]
    fn fresh_store_migrates_to_current_version() {
        let store = Store::in_memory().expect("open");
        assert_eq!(store.schema_version().expect("version"), SCHEMA_VERSION);
        // Reopening an up-to-date store is a no-op.
        let mut store = store;
        store.migrate().expect("idempotent");
    }

    #[test]
    fn newer_schema_is_refused_not_reset() {
        let dir = std::env::temp_dir().join(format!("qtum-wallet-newer-{}", std::process::id()));
        let _ = std::fs::remove_file(&dir);
        {
            let store = Store::open(&dir).expect("open");
            store.set_meta("schema_version", "99").expect("write");
        }
        match Store::open(&dir) {
            Err(WalletError::StoreTooNew {
                found: 99,
                supported: SCHEMA_VERSION,
            }) => {}
            other => panic!("expected StoreTooNew, got {:?}", other.map(|_| ())),
        }
        let _ = std::fs::remove_file(&dir);
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

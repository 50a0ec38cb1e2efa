//! The script registry: `sha256(script) → script` for every output script seen in the best
//! chain, because a script hash cannot be inverted and qtumd's address index is keyed by
//! address. It lives in SQLite: a file under the data directory (so a restart resumes where it
//! stopped instead of reading the chain again from genesis), or an in-memory database.
//!
//! Besides the scripts it keeps the hashes of the last [`RECENT_BLOCKS`] blocks read, by height;
//! the highest row is the index's tip. A reorganisation (while running or while stopped) is
//! undone by dropping rows from the top until the tip is a best-chain block again; the scripts
//! of the dropped blocks stay known, which is harmless (the history itself comes from qtumd).
//! A reorganisation deeper than the rows kept empties the table and the chain is read again from
//! genesis. Each batch of blocks is stored in one transaction with its scripts, so the tip never
//! names a block whose scripts are missing.

use std::path::Path;
use std::time::Duration;

use bitcoin::hashes::{sha256, Hash};
use bitcoin::{BlockHash, ScriptBuf};
use rusqlite::{params, Connection, OptionalExtension};

/// Blocks remembered below the tip to find where a reorganisation forked: about 9 hours of
/// 32-second blocks, far deeper than any reorganisation a running chain sees.
pub(crate) const RECENT_BLOCKS: u32 = 1_000;

/// The layout written by this version; a database of a newer one is refused.
const SCHEMA_VERSION: i64 = 1;

/// A block the index has read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct IndexedBlock {
    pub(crate) height: u32,
    pub(crate) hash: BlockHash,
}

/// Why the index cannot be used.
#[derive(Debug)]
pub(crate) enum IndexError {
    /// Another process holds the database (a second server on the same data directory).
    InUse,
    /// The database belongs to another chain or a newer version.
    Foreign(String),
    /// SQLite failed (disk full, unreadable file, ...).
    Db(rusqlite::Error),
}

impl std::fmt::Display for IndexError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            IndexError::InUse => write!(f, "the index is in use by another qtum-esplora"),
            IndexError::Foreign(why) => write!(f, "{why}"),
            IndexError::Db(e) => write!(f, "script index database: {e}"),
        }
    }
}

impl From<rusqlite::Error> for IndexError {
    fn from(e: rusqlite::Error) -> IndexError {
        match e.sqlite_error_code() {
            Some(rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked) => {
                IndexError::InUse
            }
            _ => IndexError::Db(e),
        }
    }
}

/// Scripts by their Esplora script hash, plus the recent blocks they were read from.
pub(crate) struct ScriptIndex {
    db: Connection,
}

fn script_hash(script: &ScriptBuf) -> [u8; 32] {
    sha256::Hash::hash(script.as_bytes()).to_byte_array()
}

impl ScriptIndex {
    /// An index that lives as long as the process (tests, `ServerConfig::data_dir` unset).
    pub(crate) fn in_memory(genesis: &BlockHash) -> Result<ScriptIndex, IndexError> {
        ScriptIndex::init(Connection::open_in_memory()?, genesis)
    }

    /// The index in the file `path` (created if missing), for the chain starting at `genesis`.
    /// The file is locked for this process until the index is dropped.
    pub(crate) fn open(path: &Path, genesis: &BlockHash) -> Result<ScriptIndex, IndexError> {
        let db = Connection::open(path)?;
        // A second server on the same file fails at once rather than waiting for the lock.
        db.busy_timeout(Duration::ZERO)?;
        // Exclusive before WAL: no shared-memory index, and the lock is held until close.
        db.pragma_update(None, "locking_mode", "EXCLUSIVE")?;
        let mode: String = db.query_row("PRAGMA journal_mode=WAL", [], |r| r.get(0))?;
        if !mode.eq_ignore_ascii_case("wal") {
            log::warn!("script index: journal mode {mode}, not WAL");
        }
        // A power cut may lose the last batch, never make it half-written: the index is a
        // cache that is read again from qtumd.
        db.pragma_update(None, "synchronous", "NORMAL")?;
        ScriptIndex::init(db, genesis)
    }

    fn init(mut db: Connection, genesis: &BlockHash) -> Result<ScriptIndex, IndexError> {
        let tx = db.transaction_with_behavior(rusqlite::TransactionBehavior::Exclusive)?;
        tx.execute_batch(
            "CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value BLOB NOT NULL);
             CREATE TABLE IF NOT EXISTS scripts (
                 hash BLOB PRIMARY KEY, script BLOB NOT NULL) WITHOUT ROWID;
             CREATE TABLE IF NOT EXISTS blocks (
                 height INTEGER PRIMARY KEY, hash BLOB NOT NULL);",
        )?;
        let meta = |key: &str| -> Result<Option<Vec<u8>>, rusqlite::Error> {
            tx.query_row("SELECT value FROM meta WHERE key = ?1", [key], |r| r.get(0))
                .optional()
        };
        match meta("schema")? {
            None => {
                tx.execute(
                    "INSERT INTO meta (key, value) VALUES ('schema', ?1)",
                    [SCHEMA_VERSION.to_le_bytes().to_vec()],
                )?;
            }
            Some(v) => {
                let version = <[u8; 8]>::try_from(v.as_slice())
                    .map(i64::from_le_bytes)
                    .unwrap_or(i64::MAX);
                if version != SCHEMA_VERSION {
                    return Err(IndexError::Foreign(format!(
                        "the index was written by another version (schema {version}, this one \
                         reads {SCHEMA_VERSION})"
                    )));
                }
            }
        }
        match meta("genesis")? {
            None => {
                tx.execute(
                    "INSERT INTO meta (key, value) VALUES ('genesis', ?1)",
                    [genesis.to_byte_array().to_vec()],
                )?;
            }
            Some(stored) if stored == genesis.to_byte_array() => {}
            Some(_) => {
                return Err(IndexError::Foreign(
                    "the index belongs to another chain (its genesis block is not qtumd's)".into(),
                ))
            }
        }
        tx.commit()?;
        Ok(ScriptIndex { db })
    }

    /// The script whose hash is `hash`, if a block read so far had it in an output.
    pub(crate) fn lookup(&self, hash: &[u8; 32]) -> Result<Option<ScriptBuf>, IndexError> {
        Ok(self
            .db
            .prepare_cached("SELECT script FROM scripts WHERE hash = ?1")?
            .query_row([&hash[..]], |r| r.get::<_, Vec<u8>>(0))
            .optional()?
            .map(ScriptBuf::from_bytes))
    }

    /// The highest block read, or `None` before the first (or after a rewind past every row).
    pub(crate) fn tip(&self) -> Result<Option<IndexedBlock>, IndexError> {
        let row: Option<(u32, Vec<u8>)> = self
            .db
            .prepare_cached("SELECT height, hash FROM blocks ORDER BY height DESC LIMIT 1")?
            .query_row([], |r| Ok((r.get(0)?, r.get(1)?)))
            .optional()?;
        match row {
            None => Ok(None),
            Some((height, hash)) => {
                let hash = BlockHash::from_slice(&hash).map_err(|_| {
                    IndexError::Foreign(format!("the index holds a bad hash at height {height}"))
                })?;
                Ok(Some(IndexedBlock { height, hash }))
            }
        }
    }

    /// Forgets the tip block (it left the best chain); its scripts stay.
    pub(crate) fn pop_tip(&mut self) -> Result<(), IndexError> {
        self.db.execute(
            "DELETE FROM blocks WHERE height = (SELECT MAX(height) FROM blocks)",
            [],
        )?;
        Ok(())
    }

    /// Stores `blocks` (consecutive, each with the output scripts of its transactions) in one
    /// transaction, and forgets rows more than [`RECENT_BLOCKS`] below the new tip.
    pub(crate) fn add_blocks(
        &mut self,
        blocks: &[(IndexedBlock, Vec<ScriptBuf>)],
    ) -> Result<(), IndexError> {
        let Some((last, _)) = blocks.last() else {
            return Ok(());
        };
        let tx = self.db.transaction()?;
        {
            let mut script = tx.prepare_cached(
                "INSERT INTO scripts (hash, script) VALUES (?1, ?2) ON CONFLICT DO NOTHING",
            )?;
            let mut block =
                tx.prepare_cached("INSERT OR REPLACE INTO blocks (height, hash) VALUES (?1, ?2)")?;
            for (b, scripts) in blocks {
                for s in scripts {
                    script.execute(params![&script_hash(s)[..], s.as_bytes()])?;
                }
                block.execute(params![b.height, &b.hash.to_byte_array()[..]])?;
            }
        }
        tx.execute(
            "DELETE FROM blocks WHERE height < ?1",
            [last.height.saturating_sub(RECENT_BLOCKS)],
        )?;
        tx.commit()?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hash(n: u8) -> BlockHash {
        BlockHash::from_byte_array([n; 32])
    }

    #[test]
    fn keeps_scripts_and_a_window_of_blocks_across_reopening() {
        let dir = std::env::temp_dir().join(format!("qtum-esplora-index-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("dir");
        let path = dir.join("index.sqlite");
        let _ = std::fs::remove_file(&path);
        let script = ScriptBuf::from_bytes(vec![0x51]);
        {
            let mut index = ScriptIndex::open(&path, &hash(0)).expect("open");
            assert_eq!(index.tip().expect("tip"), None);
            let blocks: Vec<(IndexedBlock, Vec<ScriptBuf>)> = (0..RECENT_BLOCKS + 10)
                .map(|h| {
                    let b = IndexedBlock {
                        height: h,
                        hash: hash((h % 200) as u8 + 1),
                    };
                    (b, if h == 3 { vec![script.clone()] } else { vec![] })
                })
                .collect();
            index.add_blocks(&blocks).expect("add");
            // A second opener is refused while this one holds the file.
            assert!(matches!(
                ScriptIndex::open(&path, &hash(0)),
                Err(IndexError::InUse)
            ));
        }
        let mut index = ScriptIndex::open(&path, &hash(0)).expect("reopen");
        let tip = index.tip().expect("tip").expect("some");
        assert_eq!(tip.height, RECENT_BLOCKS + 9);
        assert_eq!(
            index.lookup(&script_hash(&script)).expect("lookup"),
            Some(script.clone())
        );
        index.pop_tip().expect("pop");
        assert_eq!(
            index.tip().expect("tip").map(|t| t.height),
            Some(RECENT_BLOCKS + 8)
        );
        let rows: u32 = index
            .db
            .query_row("SELECT COUNT(*) FROM blocks", [], |r| r.get(0))
            .expect("count");
        assert_eq!(rows, RECENT_BLOCKS, "only the recent window is kept");
        drop(index);
        assert!(matches!(
            ScriptIndex::open(&path, &hash(9)),
            Err(IndexError::Foreign(_))
        ));
        let _ = std::fs::remove_dir_all(&dir);
    }
}

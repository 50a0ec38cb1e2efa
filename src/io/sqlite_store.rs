//! LDK's key-value store on the node's database (the `ldk_kv` table, SQLite or PostgreSQL).
//!
//! Channel state (monitors, their update records and the manager) goes through the
//! [`Journal`](crate::io::journal), which commits it in one transaction per batch and keeps the
//! manager on disk never behind a monitor on disk. Everything else LDK stores (sweeper, gossip,
//! scorer) is written directly, each `write` its own transaction, durable before it returns
//! (`synchronous = FULL`). Before the writer starts (while a node is being built) and after it
//! stops, channel state is written directly too.

use std::path::{Path, PathBuf};
use std::sync::{Arc, MutexGuard};

use lightning::io;
use lightning::util::persist::{
    KVStoreSync, CHANNEL_MANAGER_PERSISTENCE_KEY, CHANNEL_MANAGER_PERSISTENCE_PRIMARY_NAMESPACE,
    CHANNEL_MANAGER_PERSISTENCE_SECONDARY_NAMESPACE, CHANNEL_MONITOR_PERSISTENCE_PRIMARY_NAMESPACE,
    CHANNEL_MONITOR_UPDATE_PERSISTENCE_PRIMARY_NAMESPACE, KVSTORE_NAMESPACE_KEY_ALPHABET,
    KVSTORE_NAMESPACE_KEY_MAX_LEN,
};
use qtum_sql::{params, Connection, OptionalExtension};

use crate::io::db::{classify, SharedConnection, StorageError};
use crate::io::journal::{self, Journal, Op};

/// The namespace of the SDK's own small records in the key-value table (the sync tip). They
/// go through the writer so they commit in order with the monitors' chain data.
pub(crate) const SDK_NAMESPACE: &str = "qtum_sdk";

/// [`KVStoreSync`] on the node's database.
#[derive(Clone)]
pub struct SqliteStore {
    conn: SharedConnection,
    journal: Arc<Journal>,
    path: PathBuf,
}

impl std::fmt::Debug for SqliteStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqliteStore")
            .field("path", &self.path)
            .finish()
    }
}

pub(crate) fn storage_to_io(e: StorageError) -> io::Error {
    let kind = match e {
        StorageError::Corrupt(_) | StorageError::TooNew { .. } => io::ErrorKind::InvalidData,
        _ => io::ErrorKind::Other,
    };
    io::Error::new(kind, format!("database: {e}"))
}

fn to_io(e: qtum_sql::Error) -> io::Error {
    storage_to_io(classify(&e))
}

fn check_name(kind: &str, name: &str) -> Result<(), io::Error> {
    if name.len() > KVSTORE_NAMESPACE_KEY_MAX_LEN
        || !name
            .chars()
            .all(|c| KVSTORE_NAMESPACE_KEY_ALPHABET.contains(c))
    {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("invalid {kind} {name:?} for the key-value store"),
        ));
    }
    Ok(())
}

fn check_names(primary: &str, secondary: &str, key: Option<&str>) -> Result<(), io::Error> {
    check_name("primary namespace", primary)?;
    check_name("secondary namespace", secondary)?;
    if primary.is_empty() && !secondary.is_empty() {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "a secondary namespace needs a primary namespace",
        ));
    }
    if let Some(key) = key {
        if key.is_empty() {
            return Err(io::Error::new(io::ErrorKind::InvalidInput, "empty key"));
        }
        check_name("key", key)?;
    }
    Ok(())
}

/// Whether records of `primary` go through the writer.
fn journaled(primary: &str) -> bool {
    primary == CHANNEL_MONITOR_PERSISTENCE_PRIMARY_NAMESPACE
        || primary == CHANNEL_MONITOR_UPDATE_PERSISTENCE_PRIMARY_NAMESPACE
        || primary == SDK_NAMESPACE
}

fn is_manager(primary: &str, secondary: &str, key: &str) -> bool {
    primary == CHANNEL_MANAGER_PERSISTENCE_PRIMARY_NAMESPACE
        && secondary == CHANNEL_MANAGER_PERSISTENCE_SECONDARY_NAMESPACE
        && key == CHANNEL_MANAGER_PERSISTENCE_KEY
}

impl SqliteStore {
    /// The store on the node's shared connection, writing channel state through `journal`.
    pub(crate) fn new(conn: SharedConnection, journal: Arc<Journal>, path: &Path) -> SqliteStore {
        SqliteStore {
            conn,
            journal,
            path: path.to_path_buf(),
        }
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn lock(&self) -> MutexGuard<'_, Connection> {
        // A poisoned lock means a thread panicked mid-call; SQLite's own transaction kept the
        // file consistent, so the connection is still usable.
        self.conn
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// A direct write failed: the node must not go on as if it had succeeded.
    fn failed(&self, e: qtum_sql::Error) -> io::Error {
        let e = classify(&e);
        self.journal.fail(e.clone());
        storage_to_io(e)
    }

    /// Reads of journaled records see everything queued before them. Only called outside LDK's
    /// locks (at start-up): waiting for the writer under them could deadlock.
    fn settle(&self, primary: &str) -> Result<(), io::Error> {
        if journaled(primary) || primary.is_empty() {
            self.journal.flush().map_err(storage_to_io)?;
        }
        Ok(())
    }
}

impl KVStoreSync for SqliteStore {
    fn read(
        &self,
        primary_namespace: &str,
        secondary_namespace: &str,
        key: &str,
    ) -> Result<Vec<u8>, io::Error> {
        check_names(primary_namespace, secondary_namespace, Some(key))?;
        self.settle(primary_namespace)?;
        let conn = self.lock();
        conn.query_row(
            "SELECT value FROM ldk_kv WHERE primary_namespace = ?1 AND secondary_namespace = ?2 AND key = ?3",
            params![primary_namespace, secondary_namespace, key],
            |row| row.get::<_, Vec<u8>>(0),
        )
        .optional()
        .map_err(to_io)?
        .ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::NotFound,
                format!("no value for {primary_namespace}/{secondary_namespace}/{key}"),
            )
        })
    }

    fn write(
        &self,
        primary_namespace: &str,
        secondary_namespace: &str,
        key: &str,
        buf: Vec<u8>,
    ) -> Result<(), io::Error> {
        check_names(primary_namespace, secondary_namespace, Some(key))?;
        if is_manager(primary_namespace, secondary_namespace, key) {
            // `buf` was serialized before this call: possibly before the writer's last commit.
            // Have the writer serialize a fresh one instead.
            if self.journal.request_manager().map_err(storage_to_io)? {
                return Ok(());
            }
        } else if journaled(primary_namespace) {
            let op = Op::Write {
                primary: primary_namespace.to_string(),
                secondary: secondary_namespace.to_string(),
                key: key.to_string(),
                value: buf,
            };
            match self.journal.enqueue(op).map_err(storage_to_io)? {
                Ok(_) => return Ok(()),
                Err(Op::Write {
                    primary,
                    secondary,
                    key,
                    value,
                }) => {
                    let conn = self.lock();
                    return journal::put(&conn, &primary, &secondary, &key, &value)
                        .map_err(|e| self.failed(e));
                }
                Err(_) => unreachable!("enqueue gives back the op it was given"),
            }
        }
        let conn = self.lock();
        journal::put(&conn, primary_namespace, secondary_namespace, key, &buf)
            .map_err(|e| self.failed(e))
    }

    fn remove(
        &self,
        primary_namespace: &str,
        secondary_namespace: &str,
        key: &str,
        _lazy: bool,
    ) -> Result<(), io::Error> {
        check_names(primary_namespace, secondary_namespace, Some(key))?;
        if journaled(primary_namespace) {
            let op = Op::Remove {
                primary: primary_namespace.to_string(),
                secondary: secondary_namespace.to_string(),
                key: key.to_string(),
            };
            if self.journal.enqueue(op).map_err(storage_to_io)?.is_ok() {
                return Ok(());
            }
        }
        let conn = self.lock();
        journal::delete(&conn, primary_namespace, secondary_namespace, key)
            .map_err(|e| self.failed(e))
    }

    fn list(
        &self,
        primary_namespace: &str,
        secondary_namespace: &str,
    ) -> Result<Vec<String>, io::Error> {
        check_names(primary_namespace, secondary_namespace, None)?;
        self.settle(primary_namespace)?;
        let conn = self.lock();
        let mut stmt = conn
            .prepare_cached(
                "SELECT key FROM ldk_kv WHERE primary_namespace = ?1 AND secondary_namespace = ?2",
            )
            .map_err(to_io)?;
        let keys = stmt
            .query_map(params![primary_namespace, secondary_namespace], |row| {
                row.get(0)
            })
            .map_err(to_io)?
            .collect::<Result<Vec<String>, _>>()
            .map_err(to_io)?;
        Ok(keys)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::io::db::tests::temp_dir;
    use crate::io::db::Db;
    use crate::io::journal::Hooks;
    use std::sync::Mutex;

    fn store(db: &Db) -> SqliteStore {
        SqliteStore::new(db.shared(), Journal::new(db.shared()), db.path())
    }

    #[test]
    fn write_read_list_remove_and_reopen() {
        let dir = temp_dir("kv");
        {
            let db = Db::open(&dir).expect("open");
            let store = store(&db);
            store
                .write("monitors", "", "abc_1", vec![1, 2, 3])
                .expect("write");
            store
                .write("monitors", "", "abc_2", vec![4])
                .expect("write");
            store
                .write("", "", "manager", vec![9; 1000])
                .expect("write");
            store
                .write("monitors", "", "abc_1", vec![7])
                .expect("overwrite");
            assert_eq!(store.read("monitors", "", "abc_1").expect("read"), vec![7]);
            let mut keys = store.list("monitors", "").expect("list");
            keys.sort();
            assert_eq!(keys, vec!["abc_1".to_string(), "abc_2".to_string()]);
            store
                .remove("monitors", "", "abc_2", false)
                .expect("remove");
            store
                .remove("monitors", "", "never_there", true)
                .expect("remove is idempotent");
        }
        // A new process opening the same file sees exactly what was committed.
        let db = Db::open(&dir).expect("reopen");
        let store = store(&db);
        assert_eq!(store.read("monitors", "", "abc_1").expect("read"), vec![7]);
        assert_eq!(store.read("", "", "manager").expect("read").len(), 1000);
        let err = store.read("monitors", "", "abc_2").expect_err("removed");
        assert_eq!(err.kind(), io::ErrorKind::NotFound);
        assert!(store.list("unknown", "").expect("list").is_empty());
    }

    #[test]
    fn bad_names_are_refused() {
        let db = Db::open(&temp_dir("names")).expect("open");
        let store = store(&db);
        assert!(store.write("mon/itors", "", "k", vec![]).is_err());
        assert!(store.write("", "sub", "k", vec![]).is_err());
        assert!(store.write("p", "", "", vec![]).is_err());
        assert!(store.write("p", "", &"k".repeat(121), vec![]).is_err());
        assert!(store.read("p", "", "k\0").is_err());
    }

    /// The writer's contract, without LDK: queued monitor records and the manager serialized
    /// after them land in one commit; completions are reported only after it.
    #[test]
    fn journaled_records_commit_with_a_fresh_manager() {
        let db = Db::open(&temp_dir("journal")).expect("open");
        let journal = Journal::new(db.shared());
        let store = SqliteStore::new(db.shared(), journal.clone(), db.path());
        // The "manager" is a counter of the records queued when it was serialized.
        let queued = Arc::new(Mutex::new(0u32));
        let completed = Arc::new(Mutex::new(Vec::new()));
        let q = queued.clone();
        let c = completed.clone();
        journal
            .start(Hooks {
                manager: Box::new(move || Some(q.lock().expect("lock").to_be_bytes().to_vec())),
                completed: Box::new(move |_, id| c.lock().expect("lock").push(id)),
            })
            .expect("start");
        for i in 1..=50u64 {
            store
                .write("monitor_updates", "chan", &i.to_string(), vec![i as u8])
                .expect("queue");
            *queued.lock().expect("lock") += 1;
            assert_eq!(
                journal.complete_after_commit(lightning::ln::types::ChannelId([1; 32]), i),
                crate::io::journal::Completion::AfterCommit
            );
        }
        // A stale manager handed in by the background processor is not written: a fresh one is.
        store
            .write("", "", "manager", b"stale".to_vec())
            .expect("manager");
        journal.flush().expect("flush");
        let manager = store.read("", "", "manager").expect("manager");
        assert_eq!(manager, 50u32.to_be_bytes().to_vec());
        assert_eq!(
            store.list("monitor_updates", "chan").expect("list").len(),
            50
        );
        journal.shutdown();
        let done = completed.lock().expect("lock").clone();
        assert_eq!(done, (1..=50).collect::<Vec<u64>>());
        assert!(journal.stats().commits >= 1);
    }

    #[test]
    fn a_full_disk_stops_the_writer_and_loses_nothing_committed() {
        let dir = temp_dir("full");
        let db = Db::open(&dir).expect("open");
        let journal = Journal::new(db.shared());
        let store = SqliteStore::new(db.shared(), journal.clone(), db.path());
        journal
            .start(Hooks {
                manager: Box::new(|| Some(vec![1; 64])),
                completed: Box::new(|_, _| {}),
            })
            .expect("start");
        store
            .write("monitors", "", "before", vec![1; 100])
            .expect("queue");
        journal.flush().expect("first commit");
        // The database may not grow any more: the next big commit fails with SQLITE_FULL.
        let pages: i64 = db
            .conn()
            .query_row("PRAGMA page_count", [], |r| r.get(0))
            .expect("pages");
        db.conn()
            .query_row(&format!("PRAGMA max_page_count = {pages}"), [], |r| {
                r.get::<_, i64>(0)
            })
            .expect("limit");
        store
            .write("monitors", "", "big", vec![7; 1 << 20])
            .expect("queued");
        let err = journal.flush().expect_err("disk full");
        assert!(matches!(err, StorageError::Full(_)), "{err}");
        assert!(matches!(journal.failure(), Some(StorageError::Full(_))));
        // Nothing is accepted after the failure, and the last commit is intact.
        assert!(store.write("monitors", "", "after", vec![1]).is_err());
        assert!(store.write("", "", "manager", vec![1]).is_err());
        journal.shutdown();
        drop(store);
        drop(db);
        let db = Db::open(&dir).expect("reopen");
        let store = SqliteStore::new(db.shared(), Journal::new(db.shared()), db.path());
        assert_eq!(
            store.read("monitors", "", "before").expect("read"),
            vec![1; 100]
        );
        assert!(store.read("monitors", "", "big").is_err());
    }
}

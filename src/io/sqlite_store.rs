//! LDK's key-value store on SQLite: one database file per node, in WAL mode.
//!
//! Every `write` is its own transaction, committed with `synchronous = FULL` before it returns:
//! LDK's persistence contract says a ChannelMonitor update must be durable before the messages
//! that depend on it go out, and LDK only sends them once `write` has returned `Ok`. The same file
//! holds our own tables (payments, events, wallet), each module owning its own.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};

use lightning::io;
use lightning::util::persist::{
    KVStoreSync, KVSTORE_NAMESPACE_KEY_ALPHABET, KVSTORE_NAMESPACE_KEY_MAX_LEN,
};
use rusqlite::{params, Connection, OptionalExtension};

/// Version of the `ldk_kv` table layout; a newer file is refused rather than misread.
const SCHEMA_VERSION: i64 = 1;

/// SQLite-backed [`KVStoreSync`].
#[derive(Clone)]
pub struct SqliteStore {
    conn: Arc<Mutex<Connection>>,
    path: PathBuf,
}

impl std::fmt::Debug for SqliteStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqliteStore")
            .field("path", &self.path)
            .finish()
    }
}

/// Open a connection to the node database with the settings every module relies on.
pub fn open_connection(path: &Path) -> rusqlite::Result<Connection> {
    let conn = Connection::open(path)?;
    // WAL lets the wallet and the node's own connections read while LDK writes; FULL makes each
    // commit durable before it returns (see the module docs).
    conn.pragma_update(None, "journal_mode", "WAL")?;
    conn.pragma_update(None, "synchronous", "FULL")?;
    conn.busy_timeout(std::time::Duration::from_secs(10))?;
    Ok(conn)
}

fn to_io(e: rusqlite::Error) -> io::Error {
    io::Error::new(io::ErrorKind::Other, format!("sqlite: {e}"))
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

impl SqliteStore {
    /// Open (or create) the store in the database file at `path`.
    pub fn open(path: impl AsRef<Path>) -> Result<SqliteStore, io::Error> {
        let path = path.as_ref().to_path_buf();
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        let conn = open_connection(&path).map_err(to_io)?;
        conn.execute_batch(
            "CREATE TABLE IF NOT EXISTS ldk_kv_meta (
                 id INTEGER PRIMARY KEY CHECK (id = 1),
                 schema_version INTEGER NOT NULL
             );
             CREATE TABLE IF NOT EXISTS ldk_kv (
                 primary_namespace TEXT NOT NULL,
                 secondary_namespace TEXT NOT NULL,
                 key TEXT NOT NULL,
                 value BLOB NOT NULL,
                 PRIMARY KEY (primary_namespace, secondary_namespace, key)
             ) WITHOUT ROWID;",
        )
        .map_err(to_io)?;
        let version: Option<i64> = conn
            .query_row(
                "SELECT schema_version FROM ldk_kv_meta WHERE id = 1",
                [],
                |r| r.get(0),
            )
            .optional()
            .map_err(to_io)?;
        match version {
            None => {
                conn.execute(
                    "INSERT INTO ldk_kv_meta (id, schema_version) VALUES (1, ?1)",
                    params![SCHEMA_VERSION],
                )
                .map_err(to_io)?;
            }
            Some(v) if v == SCHEMA_VERSION => {}
            Some(v) => {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!(
                        "the node database has key-value schema {v}; this SDK understands up to {SCHEMA_VERSION}"
                    ),
                ))
            }
        }
        Ok(SqliteStore {
            conn: Arc::new(Mutex::new(conn)),
            path,
        })
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn lock(&self) -> Result<MutexGuard<'_, Connection>, io::Error> {
        // A poisoned lock means a thread panicked mid-call; SQLite's own transaction kept the
        // file consistent, so the connection is still usable.
        Ok(self
            .conn
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner()))
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
        let conn = self.lock()?;
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
        let conn = self.lock()?;
        conn.execute(
            "INSERT INTO ldk_kv (primary_namespace, secondary_namespace, key, value)
             VALUES (?1, ?2, ?3, ?4)
             ON CONFLICT (primary_namespace, secondary_namespace, key) DO UPDATE SET value = excluded.value",
            params![primary_namespace, secondary_namespace, key, buf],
        )
        .map_err(to_io)?;
        Ok(())
    }

    fn remove(
        &self,
        primary_namespace: &str,
        secondary_namespace: &str,
        key: &str,
        _lazy: bool,
    ) -> Result<(), io::Error> {
        check_names(primary_namespace, secondary_namespace, Some(key))?;
        let conn = self.lock()?;
        conn.execute(
            "DELETE FROM ldk_kv WHERE primary_namespace = ?1 AND secondary_namespace = ?2 AND key = ?3",
            params![primary_namespace, secondary_namespace, key],
        )
        .map_err(to_io)?;
        Ok(())
    }

    fn list(
        &self,
        primary_namespace: &str,
        secondary_namespace: &str,
    ) -> Result<Vec<String>, io::Error> {
        check_names(primary_namespace, secondary_namespace, None)?;
        let conn = self.lock()?;
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

    fn temp_db(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!(
            "qtum-ln-store-{}-{}-{}",
            name,
            std::process::id(),
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_nanos())
                .unwrap_or(0)
        ));
        dir.join("node.sqlite")
    }

    #[test]
    fn write_read_list_remove_and_reopen() {
        let path = temp_db("kv");
        {
            let store = SqliteStore::open(&path).expect("open");
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
        let store = SqliteStore::open(&path).expect("reopen");
        assert_eq!(store.read("monitors", "", "abc_1").expect("read"), vec![7]);
        assert_eq!(store.read("", "", "manager").expect("read").len(), 1000);
        let err = store.read("monitors", "", "abc_2").expect_err("removed");
        assert_eq!(err.kind(), io::ErrorKind::NotFound);
        assert!(store.list("unknown", "").expect("list").is_empty());
    }

    #[test]
    fn bad_names_are_refused() {
        let store = SqliteStore::open(temp_db("names")).expect("open");
        assert!(store.write("mon/itors", "", "k", vec![]).is_err());
        assert!(store.write("", "sub", "k", vec![]).is_err());
        assert!(store.write("p", "", "", vec![]).is_err());
        assert!(store.write("p", "", &"k".repeat(121), vec![]).is_err());
        assert!(store.read("p", "", "k\0").is_err());
    }

    #[test]
    fn a_newer_schema_is_refused_not_reset() {
        let path = temp_db("schema");
        SqliteStore::open(&path)
            .expect("create")
            .write("p", "", "k", vec![1])
            .expect("write");
        {
            let conn = Connection::open(&path).expect("raw open");
            conn.execute("UPDATE ldk_kv_meta SET schema_version = 99", [])
                .expect("bump");
        }
        let err = SqliteStore::open(&path).expect_err("newer schema");
        assert_eq!(err.kind(), io::ErrorKind::InvalidData);
        // The data is still there for a newer SDK.
        let conn = Connection::open(&path).expect("raw open");
        let n: i64 = conn
            .query_row("SELECT COUNT(*) FROM ldk_kv", [], |r| r.get(0))
            .expect("count");
        assert_eq!(n, 1);
    }
}

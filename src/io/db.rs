//! The node's database: one SQLite file, one connection, one owner.
//!
//! Everything a node keeps (LDK's channel state, payments, events, peers, the sync tip and the
//! on-chain wallet) lives in `node.sqlite` inside the storage directory and goes through the one
//! [`SharedConnection`] that [`Db::open`] hands out. Opening:
//!
//! 1. takes an exclusive lock on `node.lock` in the storage directory (a second node, in this
//!    process or another, gets [`StorageError::Locked`] instead of writing conflicting channel
//!    state next to the first);
//! 2. refuses a database whose write-ahead log went missing after an unclean shutdown (see
//!    [`StorageError::WalMissing`]): the main file alone holds *older* channel state, and
//!    starting from old channel state can lose the channel's funds;
//! 3. sets WAL mode, `synchronous = FULL` (a commit is on disk before it returns) and, on Apple
//!    platforms, `fullfsync` (their `fsync` does not flush the drive's cache);
//! 4. checks the file (`PRAGMA quick_check`) and brings the schema to [`SCHEMA_VERSION`] with
//!    the ordered [`MIGRATIONS`]; a newer schema is refused and nothing is rewritten.
//!
//! The wallet crate keeps the version of its own tables in `wallet_meta` (it is usable without
//! a node); everything else is versioned here.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use qtum_sql::{params, Backend, Connection, ErrorCode, OptionalExtension};

/// The one connection to the node's database, shared by every module (the wallet's type).
pub use qtum_wallet::SharedConnection;

/// The node's database file inside the storage directory.
pub const DATABASE_FILE: &str = "node.sqlite";
/// The lock file inside the storage directory.
pub const LOCK_FILE: &str = "node.lock";
/// A backup's plain copy of the database while it is being read (removed at once).
const SNAPSHOT_FILE: &str = "backup-snapshot.tmp";
/// A restored database while it is being written (linked to [`DATABASE_FILE`] when complete).
const RESTORE_FILE: &str = "node.sqlite.restoring";
/// Names the backup a directory's database was restored from (see [`install_restored`]).
const RESTORED_MARKER: &str = "restored-from";
/// Written by a restore before its database is in place, removed once the builder has held the
/// restored channels (see `node::restore_hold`): a crash in between still holds them.
pub const HOLD_PENDING_FILE: &str = "restore-hold-pending";

/// Newest schema of the node's tables this build writes.
pub const SCHEMA_VERSION: u32 = 4;

/// `MIGRATIONS[v]` brings the node's tables from version `v` to `v + 1`, in one transaction.
///
/// Version 1 is the layout of the first release (whose modules created their own tables with
/// `IF NOT EXISTS`), so a database from that release migrates to 1 without change.
const MIGRATIONS: &[&str] = &[
    // 0 → 1
    "CREATE TABLE IF NOT EXISTS node_meta (
         id INTEGER PRIMARY KEY CHECK (id = 1),
         network TEXT NOT NULL,
         node_id TEXT NOT NULL
     );
     CREATE TABLE IF NOT EXISTS ldk_kv_meta (
         id INTEGER PRIMARY KEY CHECK (id = 1),
         schema_version INTEGER NOT NULL
     );
     INSERT OR IGNORE INTO ldk_kv_meta (id, schema_version) VALUES (1, 1);
     CREATE TABLE IF NOT EXISTS ldk_kv (
         primary_namespace TEXT NOT NULL,
         secondary_namespace TEXT NOT NULL,
         key TEXT NOT NULL,
         value BLOB NOT NULL,
         PRIMARY KEY (primary_namespace, secondary_namespace, key)
     ) WITHOUT ROWID;
     CREATE TABLE IF NOT EXISTS events (
         id INTEGER PRIMARY KEY AUTOINCREMENT,
         body TEXT NOT NULL
     );
     CREATE TABLE IF NOT EXISTS peers (
         node_id TEXT PRIMARY KEY NOT NULL,
         uri TEXT NOT NULL
     );
     CREATE TABLE IF NOT EXISTS payments_meta (
         id INTEGER PRIMARY KEY CHECK (id = 1),
         schema_version INTEGER NOT NULL
     );
     INSERT OR IGNORE INTO payments_meta (id, schema_version) VALUES (1, 1);
     CREATE TABLE IF NOT EXISTS payments (
         id TEXT PRIMARY KEY NOT NULL,
         direction TEXT NOT NULL,
         kind TEXT NOT NULL,
         status TEXT NOT NULL,
         amount_msat INTEGER,
         fee_paid_msat INTEGER,
         payment_hash TEXT NOT NULL,
         preimage TEXT,
         description TEXT,
         invoice TEXT,
         failure_reason TEXT,
         counterparty_node_id TEXT,
         created_at INTEGER NOT NULL,
         updated_at INTEGER NOT NULL
     );
     CREATE INDEX IF NOT EXISTS payments_by_hash ON payments (payment_hash);
     CREATE INDEX IF NOT EXISTS payments_by_time ON payments (created_at);",
    // 1 → 2: keys of queued events, so an event LDK replays after a crash is queued once.
    "CREATE TABLE event_keys (key TEXT PRIMARY KEY NOT NULL) WITHOUT ROWID;",
    // 2 → 3: funding transactions we made, broadcast again until their channel confirms.
    "CREATE TABLE funding_txs (
         txid TEXT PRIMARY KEY NOT NULL,
         raw BLOB NOT NULL,
         created_at INTEGER NOT NULL
     );",
    // 3 → 4: hold invoices (the block height by which a claimable payment must be claimed)
    // and the custom records a payment carried (JSON).
    "ALTER TABLE payments ADD COLUMN claim_deadline_height INTEGER;
     ALTER TABLE payments ADD COLUMN custom_records TEXT;",
];

/// The same versions on PostgreSQL (`BIGINT` for integers, `BYTEA` for bytes, keys compared
/// byte by byte as SQLite does, whatever the database's collation). `payments.rowid` is the
/// insertion order SQLite keeps implicitly (the list's tie-break).
const PG_MIGRATIONS: &[&str] = &[
    // 0 → 1
    "CREATE TABLE node_meta (
         id BIGINT PRIMARY KEY CHECK (id = 1),
         network TEXT NOT NULL,
         node_id TEXT NOT NULL
     );
     CREATE TABLE ldk_kv_meta (
         id BIGINT PRIMARY KEY CHECK (id = 1),
         schema_version BIGINT NOT NULL
     );
     INSERT INTO ldk_kv_meta (id, schema_version) VALUES (1, 1);
     CREATE TABLE ldk_kv (
         primary_namespace TEXT COLLATE \"C\" NOT NULL,
         secondary_namespace TEXT COLLATE \"C\" NOT NULL,
         key TEXT COLLATE \"C\" NOT NULL,
         value BYTEA NOT NULL,
         PRIMARY KEY (primary_namespace, secondary_namespace, key)
     );
     CREATE TABLE events (
         id BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
         body TEXT NOT NULL
     );
     CREATE TABLE peers (
         node_id TEXT COLLATE \"C\" PRIMARY KEY NOT NULL,
         uri TEXT NOT NULL
     );
     CREATE TABLE payments_meta (
         id BIGINT PRIMARY KEY CHECK (id = 1),
         schema_version BIGINT NOT NULL
     );
     INSERT INTO payments_meta (id, schema_version) VALUES (1, 1);
     CREATE TABLE payments (
         rowid BIGINT GENERATED BY DEFAULT AS IDENTITY UNIQUE,
         id TEXT COLLATE \"C\" PRIMARY KEY NOT NULL,
         direction TEXT NOT NULL,
         kind TEXT NOT NULL,
         status TEXT NOT NULL,
         amount_msat BIGINT,
         fee_paid_msat BIGINT,
         payment_hash TEXT COLLATE \"C\" NOT NULL,
         preimage TEXT,
         description TEXT,
         invoice TEXT,
         failure_reason TEXT,
         counterparty_node_id TEXT,
         created_at BIGINT NOT NULL,
         updated_at BIGINT NOT NULL
     );
     CREATE INDEX payments_by_hash ON payments (payment_hash);
     CREATE INDEX payments_by_time ON payments (created_at);",
    // 1 → 2
    "CREATE TABLE event_keys (key TEXT COLLATE \"C\" PRIMARY KEY NOT NULL);",
    // 2 → 3
    "CREATE TABLE funding_txs (
         txid TEXT COLLATE \"C\" PRIMARY KEY NOT NULL,
         raw BYTEA NOT NULL,
         created_at BIGINT NOT NULL
     );",
    // 3 → 4
    "ALTER TABLE payments ADD COLUMN claim_deadline_height BIGINT;
     ALTER TABLE payments ADD COLUMN custom_records TEXT;",
];

/// How long opening a PostgreSQL database waits for another session's lock to go.
#[cfg(feature = "postgres")]
const PG_LOCK_WAIT: Duration = Duration::from_secs(30);

/// Written in the storage directory of a node whose state is in PostgreSQL; an SQLite open
/// of that directory is refused.
const PG_MARKER_FILE: &str = "postgres-storage";
#[cfg(feature = "postgres")]
const PG_MARKER_TEXT: &str = "this node's state is in a PostgreSQL database\n";

/// The key of the session-level advisory lock a node holds on its PostgreSQL database (one
/// node per database, as one node per directory on SQLite): "qtumln" in ASCII.
#[cfg(feature = "postgres")]
const PG_LOCK_KEY: i64 = 0x7174_756d_6c6e;

/// Why the database cannot be used. Nothing is modified when one of these is returned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StorageError {
    /// Another node (in this process or another) has the storage directory open.
    Locked(String),
    /// The file is not a database, is truncated or damaged.
    Corrupt(String),
    /// The write-ahead log of an uncleanly stopped node is gone: the main file alone holds
    /// older state.
    WalMissing(String),
    /// The database was written by a newer SDK.
    TooNew {
        /// Schema version found.
        found: u32,
        /// Newest version this build understands.
        supported: u32,
    },
    /// The disk is full (or the database hit its size limit).
    Full(String),
    /// Any other I/O or SQLite failure.
    Io(String),
}

impl std::fmt::Display for StorageError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            StorageError::Locked(w) => write!(f, "the storage directory is in use: {w}"),
            StorageError::Corrupt(w) => write!(f, "the database is damaged: {w}"),
            StorageError::WalMissing(w) => {
                write!(f, "the database's write-ahead log is missing: {w}")
            }
            StorageError::TooNew { found, supported } => write!(
                f,
                "the database has schema version {found}; this SDK understands up to {supported}"
            ),
            StorageError::Full(w) => write!(f, "the disk is full: {w}"),
            StorageError::Io(w) => write!(f, "{w}"),
        }
    }
}

impl std::error::Error for StorageError {}

impl From<qtum_sql::Error> for StorageError {
    fn from(e: qtum_sql::Error) -> StorageError {
        classify(&e)
    }
}

impl From<rusqlite::Error> for StorageError {
    fn from(e: rusqlite::Error) -> StorageError {
        classify(&e.into())
    }
}

/// Map a database error to what it means for the node.
pub fn classify(e: &qtum_sql::Error) -> StorageError {
    match e.code() {
        Some(ErrorCode::DiskFull) => StorageError::Full(e.to_string()),
        Some(ErrorCode::Corrupt) => StorageError::Corrupt(e.to_string()),
        Some(ErrorCode::Busy) => StorageError::Locked(e.to_string()),
        _ => StorageError::Io(e.to_string()),
    }
}

/// A failed database call of a running node, as the app sees it.
pub(crate) fn node_error(what: &str, e: &qtum_sql::Error) -> crate::error::NodeError {
    match classify(e) {
        StorageError::Full(w) => crate::error::NodeError::StorageFull(format!("{what}: {w}")),
        other => crate::error::NodeError::Persistence(format!("{what}: {other}")),
    }
}

/// Lock-file states: written (and fsync'd) at open and at a clean close.
const STATE_OPEN: &[u8] = b"open\n";
const STATE_CLOSED: &[u8] = b"closed\n";

/// The open database of one node.
pub struct Db {
    conn: SharedConnection,
    path: PathBuf,
    /// The directory's lock file (SQLite; PostgreSQL's lock lives in the connection).
    lock: Mutex<Option<File>>,
}

impl std::fmt::Debug for Db {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Db").field("path", &self.path).finish()
    }
}

fn io_err(what: &str, path: &Path, e: std::io::Error) -> StorageError {
    if e.raw_os_error() == Some(28) {
        // ENOSPC
        return StorageError::Full(format!("{what} {}: {e}", path.display()));
    }
    StorageError::Io(format!("{what} {}: {e}", path.display()))
}

/// Set the pragmas every connection to a node database needs.
pub fn configure(conn: &rusqlite::Connection) -> Result<(), StorageError> {
    let mode: String = conn.query_row("PRAGMA journal_mode=WAL", [], |r| r.get(0))?;
    if !mode.eq_ignore_ascii_case("wal") && !mode.eq_ignore_ascii_case("memory") {
        return Err(StorageError::Io(format!(
            "cannot switch the database to WAL mode (it stays in {mode} mode)"
        )));
    }
    conn.pragma_update(None, "synchronous", "FULL")?;
    // Every commit of channel state carries the ChannelManager (tens to hundreds of kB, the
    // same pages again and again): a longer log between checkpoints copies each page once
    // instead of once per 4 MB. The log file is cut back to this size after a checkpoint.
    conn.query_row("PRAGMA wal_autocheckpoint = 8192", [], |r| {
        r.get::<_, i64>(0)
    })?;
    conn.pragma_update(None, "journal_size_limit", 32 * 1024 * 1024)?;
    #[cfg(any(target_os = "macos", target_os = "ios"))]
    conn.pragma_update(None, "fullfsync", "ON")?;
    conn.busy_timeout(Duration::from_secs(10))?;
    Ok(())
}

impl Db {
    /// Open (or create) the database of the node stored in `dir`.
    pub fn open(dir: &Path) -> Result<Db, StorageError> {
        std::fs::create_dir_all(dir).map_err(|e| io_err("cannot create", dir, e))?;
        if dir.join(PG_MARKER_FILE).exists() {
            return Err(StorageError::Locked(format!(
                "the node of {} keeps its state in PostgreSQL ({PG_MARKER_FILE}): starting it on \
                 a new SQLite file would start it from nothing next to its real state",
                dir.display()
            )));
        }
        let lock_path = dir.join(LOCK_FILE);
        let mut lock = take_lock(dir)?;
        // Plain copies a killed export or restore left behind go first.
        remove_leftovers(dir);
        let mut state = Vec::new();
        lock.read_to_end(&mut state)
            .map_err(|e| io_err("cannot read", &lock_path, e))?;

        let path = dir.join(DATABASE_FILE);
        let wal = dir.join(format!("{DATABASE_FILE}-wal"));
        if state == STATE_OPEN && path.exists() && !wal.exists() {
            return Err(StorageError::WalMissing(format!(
                "the node in {} was not stopped cleanly and {} is gone; the main file alone \
                 holds older channel state, and running a channel from old state can lose its \
                 funds. Put the -wal file back (or restore a backup) before starting",
                dir.display(),
                wal.display()
            )));
        }

        let raw = rusqlite::Connection::open(&path).map_err(StorageError::from)?;
        let prepared = configure(&raw);
        let conn: Connection = raw.into();
        let prepared = prepared
            .and_then(|()| {
                let check: String = conn
                    .query_row("PRAGMA quick_check", [], |r| r.get(0))
                    .map_err(|e| classify(&e))?;
                if check != "ok" {
                    return Err(StorageError::Corrupt(format!(
                        "{}: integrity check failed: {check}",
                        path.display()
                    )));
                }
                Ok(())
            })
            .and_then(|()| migrate(&conn));
        if let Err(e) = prepared {
            // Closing this connection may fold the log into the main file and delete it (it
            // is SQLite's last one). If it does, the main file is complete: record that, or
            // the next open would take the missing log for a lost one.
            drop(conn);
            if state == STATE_OPEN && !wal.exists() {
                let _ = write_state(&mut lock, STATE_CLOSED);
            }
            return Err(e);
        }

        // From here on the log exists; an unclean stop now leaves "open" behind.
        write_state(&mut lock, STATE_OPEN).map_err(|e| io_err("cannot write", &lock_path, e))?;
        Ok(Db {
            conn: Arc::new(Mutex::new(conn)),
            path,
            lock: Mutex::new(Some(lock)),
        })
    }

    /// Open (or create) the tables of the node stored in a PostgreSQL database (`url`, e.g.
    /// `postgresql://qtum@127.0.0.1/qtumln`).
    ///
    /// One node per database: the connection holds a session-level advisory lock, and a
    /// second node on the same database gets [`StorageError::Locked`]. Commits are durable when
    /// they return as long as the server keeps `synchronous_commit = on` (its default), which
    /// is checked here. `dir` is the node's storage directory (created if missing) for what is
    /// not in the database.
    ///
    /// TLS follows the URL's `sslmode` (`require` insists on it); the server's certificate
    /// must chain to `ca_file` (PEM) or, without one, to the webpki roots.
    #[cfg(feature = "postgres")]
    pub fn open_postgres(
        dir: &Path,
        url: &str,
        ca_file: Option<&Path>,
    ) -> Result<Db, StorageError> {
        std::fs::create_dir_all(dir).map_err(|e| io_err("cannot create", dir, e))?;
        // A directory holds one node, in one place: an SQLite node here is not moved to
        // PostgreSQL by a setting (its channel state would be left behind and could be
        // started again later, from old state).
        let sqlite = dir.join(DATABASE_FILE);
        if sqlite.exists() {
            return Err(StorageError::Locked(format!(
                "{} holds an SQLite node: use another storage directory for a node in PostgreSQL",
                dir.display()
            )));
        }
        let marker = dir.join(PG_MARKER_FILE);
        std::fs::write(&marker, PG_MARKER_TEXT).map_err(|e| io_err("cannot write", &marker, e))?;
        let conn = Connection::open_postgres(url, ca_file).map_err(|e| {
            // The URL may carry a password: say where, not what.
            StorageError::Io(format!("cannot connect to the PostgreSQL server: {e}"))
        })?;
        // The server releases a killed node's lock once it sees the connection gone, which can
        // take a moment after a SIGKILL (a backend finishing its commit): wait a little.
        let deadline = std::time::Instant::now() + PG_LOCK_WAIT;
        let locked = loop {
            let locked: bool = conn.query_row(
                "SELECT pg_try_advisory_lock(?1)",
                params![PG_LOCK_KEY],
                |r| r.get(0),
            )?;
            if locked || std::time::Instant::now() >= deadline {
                break locked;
            }
            std::thread::sleep(Duration::from_millis(500));
        };
        if !locked {
            return Err(StorageError::Locked(
                "another node uses this PostgreSQL database (stop it first)".into(),
            ));
        }
        let sync: String = conn.query_row("SHOW synchronous_commit", [], |r| r.get(0))?;
        if sync == "off" {
            return Err(StorageError::Io(
                "the PostgreSQL server has synchronous_commit = off: a commit it acknowledged \
                 could be lost in a crash, and lost channel state can lose funds. Turn it on \
                 for this database"
                    .into(),
            ));
        }
        migrate(&conn)?;
        Ok(Db {
            conn: Arc::new(Mutex::new(conn)),
            path: dir.to_path_buf(),
            lock: Mutex::new(None),
        })
    }

    /// The shared connection (lock it per operation, never across network I/O).
    pub fn shared(&self) -> SharedConnection {
        self.conn.clone()
    }

    /// Lock the connection. A poisoned lock is recovered: SQLite's transactions kept the file
    /// consistent whatever the panicking thread was doing.
    pub fn conn(&self) -> MutexGuard<'_, Connection> {
        self.conn.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The connection if nobody holds it now (the watchdog must not wait behind a write that
    /// a hung server blocks).
    pub fn try_conn(&self) -> Option<MutexGuard<'_, Connection>> {
        match self.conn.try_lock() {
            Ok(g) => Some(g),
            Err(std::sync::TryLockError::Poisoned(p)) => Some(p.into_inner()),
            Err(std::sync::TryLockError::WouldBlock) => None,
        }
    }

    /// The database file (SQLite) or the storage directory (PostgreSQL).
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// A consistent copy of the whole SQLite database, as its bytes: what a crash at this
    /// moment would leave on disk (every commit before, none after), which the crash-proof
    /// persistence makes a safe restart point. Taken with `VACUUM INTO` while this node's one
    /// connection is held, so no write lands in the middle; the copy is written next to the
    /// database (the same protection as the database itself) and removed once read. `None` on
    /// PostgreSQL, whose own tools back it up.
    pub fn snapshot(&self) -> Result<Option<zeroize::Zeroizing<Vec<u8>>>, StorageError> {
        let conn = self.conn();
        if conn.backend() != Backend::Sqlite {
            return Ok(None);
        }
        let dir = self.path.parent().unwrap_or(Path::new("."));
        let tmp = dir.join(SNAPSHOT_FILE);
        let _ = std::fs::remove_file(&tmp);
        let taken = conn
            .execute("VACUUM INTO ?1", params![tmp.to_string_lossy().to_string()])
            .map_err(|e| classify(&e));
        drop(conn);
        let read = taken.and_then(|_| {
            std::fs::read(&tmp)
                .map(zeroize::Zeroizing::new)
                .map_err(|e| io_err("cannot read", &tmp, e))
        });
        let _ = std::fs::remove_file(&tmp);
        read.map(Some)
    }

    /// A clean close: fold the log into the main file, mark the directory closed and release
    /// the lock. Safe to call twice.
    pub fn close(&self) {
        let mut lock = self.lock.lock().unwrap_or_else(|p| p.into_inner());
        let Some(mut file) = lock.take() else {
            return;
        };
        let checkpointed = self
            .conn()
            .query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |r| {
                r.get::<_, i64>(0)
            })
            .map(|busy| busy == 0)
            .unwrap_or(false);
        if checkpointed {
            let _ = write_state(&mut file, STATE_CLOSED);
        }
        let _ = file.unlock();
    }
}

impl Drop for Db {
    fn drop(&mut self) {
        self.close();
    }
}

/// Why a restored database could not be installed.
#[derive(Debug)]
pub enum InstallError {
    /// The directory already holds a node (not the one this backup installed).
    NotEmpty(String),
    /// Another node has the directory open.
    Locked(String),
    /// Reading or writing failed.
    Storage(StorageError),
}

/// Put a restored database into the storage directory `dir`, which must hold no node yet.
///
/// `backup_id` names the backup (a hash of its file): a directory this same backup was already
/// installed in is left as it is and `Ok(false)` returned, so a build that failed after the
/// restore (a chain source down, say) can simply be retried. The file is written under another
/// name, flushed, and linked into place without replacing anything, under the directory's lock,
/// so a crash during the restore leaves no half-written database and nothing is ever
/// overwritten.
pub fn install_restored(
    dir: &Path,
    database: &[u8],
    backup_id: &str,
) -> Result<bool, InstallError> {
    let storage = InstallError::Storage;
    std::fs::create_dir_all(dir).map_err(|e| storage(io_err("cannot create", dir, e)))?;
    let lock_path = dir.join(LOCK_FILE);
    let mut lock = take_lock(dir).map_err(|e| match e {
        StorageError::Locked(w) => InstallError::Locked(w),
        e => storage(e),
    })?;
    let marker = dir.join(RESTORED_MARKER);
    let target = dir.join(DATABASE_FILE);
    if target.exists() && std::fs::read_to_string(&marker).is_ok_and(|m| m.trim() == backup_id) {
        return Ok(false);
    }
    for taken in [
        DATABASE_FILE.to_string(),
        format!("{DATABASE_FILE}-wal"),
        PG_MARKER_FILE.to_string(),
    ] {
        if dir.join(&taken).exists() {
            return Err(InstallError::NotEmpty(format!(
                "{} already holds a node ({taken}): a backup is restored only into an empty \
                 storage directory, never over a node's state",
                dir.display()
            )));
        }
    }
    remove_leftovers(dir);
    let _ = std::fs::remove_file(dir.join(format!("{DATABASE_FILE}-shm")));
    let tmp = dir.join(RESTORE_FILE);
    let written = (|| {
        let mut file = File::create(&tmp)?;
        file.write_all(database)?;
        file.sync_all()?;
        std::fs::write(&marker, format!("{backup_id}\n"))?;
        File::open(&marker)?.sync_all()?;
        let pending = dir.join(HOLD_PENDING_FILE);
        std::fs::write(&pending, b"hold the restored channels\n")?;
        File::open(&pending)?.sync_all()
    })()
    .map_err(|e| io_err("cannot write", &tmp, e));
    if let Err(e) = written {
        let _ = std::fs::remove_file(&tmp);
        return Err(storage(e));
    }
    // A node that crashed here earlier left "open" in the lock file; the restored database is
    // complete without a log, so the lock file must say so.
    write_state(&mut lock, STATE_CLOSED)
        .map_err(|e| storage(io_err("cannot write", &lock_path, e)))?;
    // A hard link fails rather than replace a file that appeared meanwhile.
    std::fs::hard_link(&tmp, &target).map_err(|e| storage(io_err("cannot link", &target, e)))?;
    let _ = std::fs::remove_file(&tmp);
    // The link itself is durable once the directory is flushed.
    if let Ok(d) = File::open(dir) {
        let _ = d.sync_all();
    }
    let _ = lock.unlock();
    Ok(true)
}

/// Remove the plain copies a killed export or restore may have left in `dir`.
fn remove_leftovers(dir: &Path) {
    for name in [SNAPSHOT_FILE, RESTORE_FILE] {
        let path = dir.join(name);
        if path.exists() {
            match std::fs::remove_file(&path) {
                Ok(()) => log::info!("removed {} left by an interrupted backup", path.display()),
                Err(e) => log::warn!("cannot remove {}: {e}", path.display()),
            }
        }
    }
}

/// Open the lock file of the storage directory `dir` and lock it exclusively (a node, or a
/// restore, holds it): [`StorageError::Locked`] while another holds it.
fn take_lock(dir: &Path) -> Result<File, StorageError> {
    let lock_path = dir.join(LOCK_FILE);
    let lock = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(&lock_path)
        .map_err(|e| io_err("cannot open", &lock_path, e))?;
    match lock.try_lock() {
        Ok(()) => Ok(lock),
        Err(std::fs::TryLockError::WouldBlock) => Err(StorageError::Locked(format!(
            "another node has {} open (stop it first)",
            dir.display()
        ))),
        Err(std::fs::TryLockError::Error(e)) => Err(io_err("cannot lock", &lock_path, e)),
    }
}

fn write_state(file: &mut File, state: &[u8]) -> std::io::Result<()> {
    file.set_len(0)?;
    file.seek(SeekFrom::Start(0))?;
    file.write_all(state)?;
    file.sync_all()
}

/// The schema version of the node's tables (0 for a database without the version table).
pub fn schema_version(conn: &Connection) -> Result<u32, StorageError> {
    let exists = match conn.backend() {
        Backend::Sqlite => {
            "SELECT EXISTS (SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'schema_version')"
        }
        Backend::Postgres => {
            "SELECT EXISTS (SELECT 1 FROM information_schema.tables
                            WHERE table_schema = current_schema() AND table_name = 'schema_version')"
        }
    };
    let has_table: bool = conn.query_row(exists, [], |r| r.get(0))?;
    if !has_table {
        return Ok(0);
    }
    let v: Option<i64> = conn
        .query_row("SELECT version FROM schema_version WHERE id = 1", [], |r| {
            r.get(0)
        })
        .optional()?;
    Ok(v.map(|v| v.clamp(0, u32::MAX as i64) as u32).unwrap_or(0))
}

/// Bring the node's tables to [`SCHEMA_VERSION`], one transaction per step.
pub fn migrate(conn: &Connection) -> Result<(), StorageError> {
    let (steps, version_table) = match conn.backend() {
        Backend::Sqlite => (
            MIGRATIONS,
            "CREATE TABLE IF NOT EXISTS schema_version (
                 id INTEGER PRIMARY KEY CHECK (id = 1),
                 version INTEGER NOT NULL
             );",
        ),
        Backend::Postgres => (
            PG_MIGRATIONS,
            "CREATE TABLE IF NOT EXISTS schema_version (
                 id BIGINT PRIMARY KEY CHECK (id = 1),
                 version BIGINT NOT NULL
             );",
        ),
    };
    let found = schema_version(conn)?;
    if found > SCHEMA_VERSION {
        return Err(StorageError::TooNew {
            found,
            supported: SCHEMA_VERSION,
        });
    }
    for version in found..SCHEMA_VERSION {
        let step = steps
            .get(version as usize)
            .ok_or_else(|| StorageError::Io(format!("no migration from version {version}")))?;
        let tx = conn.transaction()?;
        tx.execute_batch(step)?;
        tx.execute_batch(version_table)?;
        tx.execute(
            "INSERT INTO schema_version (id, version) VALUES (1, ?1)
             ON CONFLICT (id) DO UPDATE SET version = excluded.version",
            params![version + 1],
        )?;
        tx.commit()?;
        log::info!("node database migrated to schema version {}", version + 1);
    }
    Ok(())
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    pub(crate) fn temp_dir(name: &str) -> PathBuf {
        std::env::temp_dir().join(format!(
            "qtum-ln-db-{name}-{}-{}",
            std::process::id(),
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_nanos())
                .unwrap_or(0)
        ))
    }

    #[test]
    fn a_second_open_of_the_same_directory_is_refused() {
        let dir = temp_dir("lock");
        let first = Db::open(&dir).expect("open");
        let err = Db::open(&dir).expect_err("second open");
        assert!(matches!(err, StorageError::Locked(_)), "{err}");
        drop(first);
        Db::open(&dir).expect("open again once the first is closed");
    }

    #[test]
    fn settings_and_schema() {
        let dir = temp_dir("settings");
        let db = Db::open(&dir).expect("open");
        let conn = db.conn();
        let sync: i64 = conn
            .query_row("PRAGMA synchronous", [], |r| r.get(0))
            .expect("pragma");
        assert_eq!(sync, 2, "synchronous = FULL");
        let mode: String = conn
            .query_row("PRAGMA journal_mode", [], |r| r.get(0))
            .expect("pragma");
        assert_eq!(mode, "wal");
        assert_eq!(schema_version(&conn).expect("version"), SCHEMA_VERSION);
    }

    #[test]
    fn a_newer_schema_is_refused_and_kept() {
        let dir = temp_dir("newer");
        {
            let db = Db::open(&dir).expect("open");
            let conn = db.conn();
            conn.execute("UPDATE schema_version SET version = 99", [])
                .expect("bump");
            conn.execute("INSERT INTO peers (node_id, uri) VALUES ('a', 'b')", [])
                .expect("row");
        }
        let err = Db::open(&dir).expect_err("newer");
        assert_eq!(
            err,
            StorageError::TooNew {
                found: 99,
                supported: SCHEMA_VERSION
            }
        );
        let conn = rusqlite::Connection::open(dir.join(DATABASE_FILE)).expect("raw");
        let n: i64 = conn
            .query_row("SELECT COUNT(*) FROM peers", [], |r| r.get(0))
            .expect("count");
        assert_eq!(n, 1, "nothing was reset");
    }

    #[test]
    fn a_first_release_database_migrates_in_place() {
        let dir = temp_dir("v0");
        std::fs::create_dir_all(&dir).expect("dir");
        {
            // The first release's tables, created by its modules, with no version table.
            let conn = rusqlite::Connection::open(dir.join(DATABASE_FILE)).expect("raw");
            conn.execute_batch(MIGRATIONS[0]).expect("old layout");
            conn.execute("INSERT INTO ldk_kv VALUES ('monitors', '', 'k', x'01')", [])
                .expect("row");
        }
        let db = Db::open(&dir).expect("open");
        let conn = db.conn();
        assert_eq!(schema_version(&conn).expect("version"), SCHEMA_VERSION);
        let n: i64 = conn
            .query_row("SELECT COUNT(*) FROM ldk_kv", [], |r| r.get(0))
            .expect("count");
        assert_eq!(n, 1);
    }

    #[test]
    fn garbage_and_truncated_files_are_corrupt_not_overwritten() {
        let dir = temp_dir("garbage");
        std::fs::create_dir_all(&dir).expect("dir");
        let garbage = vec![0x5au8; 8192];
        std::fs::write(dir.join(DATABASE_FILE), &garbage).expect("write");
        let err = Db::open(&dir).expect_err("garbage");
        assert!(matches!(err, StorageError::Corrupt(_)), "{err}");
        assert_eq!(
            std::fs::read(dir.join(DATABASE_FILE)).expect("read"),
            garbage,
            "the file is left as it was"
        );

        let dir = temp_dir("truncated");
        {
            let db = Db::open(&dir).expect("open");
            let conn = db.conn();
            for i in 0..2000 {
                conn.execute(
                    "INSERT INTO events (body) VALUES (?1)",
                    params![format!("{i:0>200}")],
                )
                .expect("row");
            }
        }
        let file = dir.join(DATABASE_FILE);
        let bytes = std::fs::read(&file).expect("read");
        assert!(bytes.len() > 100_000, "{} bytes", bytes.len());
        std::fs::write(&file, &bytes[..bytes.len() / 2]).expect("truncate");
        let err = Db::open(&dir).expect_err("truncated");
        assert!(matches!(err, StorageError::Corrupt(_)), "{err}");
    }

    #[test]
    fn a_lost_write_ahead_log_after_an_unclean_stop_is_refused() {
        let dir = temp_dir("wal");
        let db = Db::open(&dir).expect("open");
        db.conn()
            .execute("INSERT INTO peers (node_id, uri) VALUES ('a', 'b')", [])
            .expect("row");
        // An unclean stop: the lock file still says "open", the log holds the last commits.
        std::mem::forget(db);
        let wal = dir.join(format!("{DATABASE_FILE}-wal"));
        assert!(wal.exists());
        let saved = std::fs::read(&wal).expect("read log");
        std::fs::remove_file(&wal).expect("lose the log");
        // The forgotten connection still holds the flock in this process: a new open file
        // description conflicts with it, so release it by dropping nothing and reopening
        // through a copy of the directory instead.
        let copy = temp_dir("wal-copy");
        std::fs::create_dir_all(&copy).expect("dir");
        for name in [DATABASE_FILE, LOCK_FILE] {
            std::fs::copy(dir.join(name), copy.join(name)).expect("copy");
        }
        let err = Db::open(&copy).expect_err("log missing");
        assert!(matches!(err, StorageError::WalMissing(_)), "{err}");
        // With the log back, the node opens and sees its last commit.
        std::fs::write(copy.join(format!("{DATABASE_FILE}-wal")), saved).expect("restore log");
        let db = Db::open(&copy).expect("open with the log");
        let n: i64 = db
            .conn()
            .query_row("SELECT COUNT(*) FROM peers", [], |r| r.get(0))
            .expect("count");
        assert_eq!(n, 1);
    }

    #[test]
    fn a_refused_open_after_a_crash_does_not_look_like_a_lost_log_later() {
        let dir = temp_dir("refused");
        let db = Db::open(&dir).expect("open");
        db.conn()
            .execute("UPDATE schema_version SET version = 99", [])
            .expect("bump");
        // An unclean stop, seen through a copy (the forgotten connection keeps its lock).
        std::mem::forget(db);
        let copy = temp_dir("refused-copy");
        std::fs::create_dir_all(&copy).expect("dir");
        for name in [
            DATABASE_FILE.to_string(),
            LOCK_FILE.to_string(),
            format!("{DATABASE_FILE}-wal"),
        ] {
            std::fs::copy(dir.join(&name), copy.join(&name)).expect("copy");
        }
        for _ in 0..2 {
            let err = Db::open(&copy).expect_err("newer schema");
            assert!(
                matches!(err, StorageError::TooNew { found: 99, .. }),
                "{err}"
            );
        }
    }

    #[test]
    fn a_clean_close_leaves_no_log_to_lose() {
        let dir = temp_dir("clean");
        {
            let db = Db::open(&dir).expect("open");
            db.conn()
                .execute("INSERT INTO peers (node_id, uri) VALUES ('a', 'b')", [])
                .expect("row");
        }
        let _ = std::fs::remove_file(dir.join(format!("{DATABASE_FILE}-wal")));
        let db = Db::open(&dir).expect("a cleanly closed database opens without its log");
        let n: i64 = db
            .conn()
            .query_row("SELECT COUNT(*) FROM peers", [], |r| r.get(0))
            .expect("count");
        assert_eq!(n, 1, "the clean close folded the log into the file");
    }
}

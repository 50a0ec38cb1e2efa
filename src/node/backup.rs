//! Backups of the whole node into one encrypted file (see `crate::io::backup` for the format).

use std::io::Write;
use std::path::Path;
use std::time::{SystemTime, UNIX_EPOCH};

use lightning::sign::EntropySource;

use crate::error::NodeError;
use crate::io::backup::{self, BackupHeader};
use crate::io::db::{self, StorageError};
use crate::node::{Node, NodeInner};

/// What [`Node::export_backup`] wrote.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "uniffi", derive(uniffi::Record))]
pub struct BackupInfo {
    /// When the copy was taken (Unix seconds).
    pub created_at: u64,
    /// Size of the file in bytes.
    pub size_bytes: u64,
    /// Channels in the copy (open or still closing).
    pub channel_count: u32,
}

impl Node {
    /// Write an encrypted backup of the whole node to `path`: channels, payment history,
    /// peers and the on-chain wallet, as one consistent copy (what a crash at this moment would
    /// leave). Only this node's seed opens it ([`crate::Builder::set_restore_from_backup_file`]);
    /// the file may be stored anywhere, in an app's cloud folder for instance. The file is
    /// written under a temporary name and renamed when complete, so `path` always holds a
    /// whole backup. Works whether the node is running or not.
    ///
    /// A backup goes stale with every payment: restoring an old one is safe (the peers prove
    /// the channels stale, the node closes them without broadcasting, and the balances come
    /// back on chain through the peers' commitments) but it closes those channels. Take one
    /// after each change that matters.
    pub fn export_backup(&self, path: &Path) -> Result<BackupInfo, NodeError> {
        check_target(path, &self.inner.config.storage_dir)?;
        let (sealed, info) = sealed_copy(&self.inner)?;
        write_atomically(path, &sealed)?;
        log::info!(
            "backup written: {} bytes, {} channel(s)",
            info.size_bytes,
            info.channel_count
        );
        Ok(info)
    }
}

/// A consistent copy of the node's database, sealed into a backup file's bytes.
pub(crate) fn sealed_copy(inner: &NodeInner) -> Result<(Vec<u8>, BackupInfo), NodeError> {
    let channel_count = inner.chain_monitor.list_monitors().len() as u32;
    let database = inner
        .db
        .snapshot()
        .map_err(|e| match e {
            StorageError::Full(w) => NodeError::StorageFull(w),
            e => NodeError::BackupFailed(format!("cannot copy the database: {e}")),
        })?
        .ok_or_else(|| {
            NodeError::BackupFailed(
                "this node keeps its state in PostgreSQL: back up the database with its own \
                 tools (pg_dump, replication)"
                    .into(),
            )
        })?;
    let schema_version = {
        let conn = inner.db.conn();
        db::schema_version(&conn).map_err(|e| NodeError::BackupFailed(e.to_string()))?
    };
    let created_at = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let header = BackupHeader {
        network: inner.config.network,
        node_id: inner.node_id.to_string(),
        created_at,
        schema_version,
    };
    let random = inner.keys.get_secure_random_bytes();
    let mut nonce = [0u8; 12];
    nonce.copy_from_slice(&random[..12]);
    let sealed = backup::seal(&inner.backup_key, &header, nonce, &database)
        .map_err(|e| NodeError::BackupFailed(e.to_string()))?;
    let info = BackupInfo {
        created_at,
        size_bytes: sealed.len() as u64,
        channel_count,
    };
    Ok((sealed, info))
}

/// The directory a path's file goes in (`.` for a bare file name).
fn parent_of(path: &Path) -> &Path {
    path.parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."))
}

/// Refuse a target that is a directory or lies inside the node's storage directory (where it
/// could replace the database, its log or its lock file).
fn check_target(path: &Path, storage_dir: &Path) -> Result<(), NodeError> {
    if path.is_dir() || path.file_name().is_none() {
        return Err(NodeError::InvalidInput(format!(
            "{} is a directory: give the backup file's path",
            path.display()
        )));
    }
    let parent = std::fs::canonicalize(parent_of(path)).map_err(|e| {
        NodeError::BackupFailed(format!(
            "cannot write into {}: {e}",
            parent_of(path).display()
        ))
    })?;
    if let Ok(storage) = std::fs::canonicalize(storage_dir) {
        if parent.starts_with(&storage) {
            return Err(NodeError::InvalidInput(format!(
                "{} is inside the node's storage directory: a backup there is lost with the \
                 device and could replace the node's own files",
                path.display()
            )));
        }
    }
    Ok(())
}

/// Write `bytes` to `path` through a temporary file in the same directory, flushed and renamed.
fn write_atomically(path: &Path, bytes: &[u8]) -> Result<(), NodeError> {
    let failed = |what: &str, e: std::io::Error| {
        if e.raw_os_error() == Some(28) {
            NodeError::StorageFull(format!("{what} {}: {e}", path.display()))
        } else {
            NodeError::BackupFailed(format!("{what} {}: {e}", path.display()))
        }
    };
    let name = path
        .file_name()
        .ok_or_else(|| NodeError::InvalidInput(format!("{} is not a file path", path.display())))?;
    let mut tmp_name = name.to_os_string();
    tmp_name.push(".partial");
    let tmp = path.with_file_name(tmp_name);
    let written = (|| {
        let mut file = std::fs::File::create(&tmp)?;
        file.write_all(bytes)?;
        file.sync_all()
    })();
    if let Err(e) = written {
        let _ = std::fs::remove_file(&tmp);
        return Err(failed("cannot write", e));
    }
    std::fs::rename(&tmp, path).map_err(|e| {
        let _ = std::fs::remove_file(&tmp);
        failed("cannot rename to", e)
    })?;
    if let Ok(d) = std::fs::File::open(parent_of(path)) {
        let _ = d.sync_all();
    }
    Ok(())
}

//! Continuous backup to a backup server (`qtum-backupd`, crates/qtum-backup-server).
//!
//! After every commit of channel state the node seals a fresh copy of its database (the same
//! file `Node::export_backup` writes) and posts it as the next version of its slot, signed with
//! its node key. The server accepts exactly the version after the one it holds, so a second
//! device or a restored older copy cannot overwrite newer state: it gets a conflict, stops
//! uploading and says so in the node's status. A server that is down or answers nonsense only
//! delays the next copy (the node keeps working on its local state) and shows as degraded.
//!
//! The last version the server confirmed is kept in the node's own store, so a restart
//! continues the sequence; a restore from the server continues from the version it fetched.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bitcoin::hashes::{sha256, Hash};
use bitcoin::hex::{DisplayHex, FromHex};
use lightning::ln::types::ChannelId;
use lightning::sign::NodeSigner;
use lightning::util::persist::KVStoreSync;
use qtum_chain::HttpAgent;

use crate::error::BuildError;
use crate::io::sqlite_store::SqliteStore;
use crate::node::{now_secs, NodeInner};

const NAMESPACE: &str = "qtumln_backup";
const VERSION_KEY: &str = "server_version";
/// The version being attempted and the hashes of the copies sent for it (a copy the server
/// stored whose answer was lost is recognized by its hash, not taken for another writer's).
const ATTEMPT_KEY: &str = "server_attempt";
/// One request's limit (a slow link uploading a few megabytes).
const TIMEOUT: Duration = Duration::from_secs(60);
const FIRST_RETRY: Duration = Duration::from_secs(2);
const LAST_RETRY: Duration = Duration::from_secs(120);
/// Prefix of the node's degraded reasons about the backup.
pub(crate) const DEGRADED_PREFIX: &str = "backup server";

/// How every message of the backup protocol begins (`Node::sign_message` refuses them).
pub(crate) const PROTOCOL_PREFIX: &str = "qtum-ln backup ";

/// The message a node signs to write `version` of its slot with `body`.
pub(crate) fn put_message(node_id: &str, version: u64, body: &[u8]) -> String {
    let digest = sha256::Hash::hash(body).to_byte_array();
    format!(
        "qtum-ln backup put {node_id} {version} {}",
        digest.to_lower_hex_string()
    )
}

/// The message a node signs to read its slot at Unix time `time`.
pub(crate) fn get_message(node_id: &str, time: u64) -> String {
    format!("qtum-ln backup get {node_id} {time}")
}

fn slot_url(base: &str, node_id: &str) -> String {
    format!("{}/v1/backups/{node_id}", base.trim_end_matches('/'))
}

/// When the node tells LDK that a channel update is safely stored (which lets LDK send the
/// peer the messages that depend on it).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[cfg_attr(feature = "uniffi", derive(uniffi::Enum))]
pub enum BackupPolicy {
    /// Once it is committed to the local database; the server gets a copy within a second or
    /// so. A phone lost in that second leaves a server copy one step behind the peer: restoring
    /// it is safe (the peer proves it stale and the funds come back through its force close)
    /// but closes the channel.
    #[default]
    LocalFirst,
    /// Only once the backup server has confirmed a copy that holds it: every state the peer
    /// has seen is on the server, and restoring the latest copy never closes a channel. While
    /// the server cannot be reached, payments wait.
    ServerConfirmed,
}

struct State {
    /// The last version the server confirmed (0: none yet).
    version: u64,
    /// Journal commits covered by the last confirmed copy.
    uploaded_commits: Option<u64>,
    /// When the server last confirmed a copy (Unix seconds).
    uploaded_at: Option<u64>,
    /// The version another writer put on the server: uploads stop.
    conflict: Option<u64>,
    /// Why the last attempt failed.
    error: Option<String>,
    retry_after: Option<Instant>,
    backoff: Duration,
    /// Monitor updates committed locally, acknowledged to LDK once a copy holding them is on
    /// the server ([`BackupPolicy::ServerConfirmed`]).
    deferred: Vec<(ChannelId, u64)>,
    /// The version last attempted and the hashes of the copies sent for it.
    attempt: (u64, Vec<[u8; 32]>),
}

fn encode_attempt(attempt: &(u64, Vec<[u8; 32]>)) -> Vec<u8> {
    let mut out = attempt.0.to_be_bytes().to_vec();
    for h in &attempt.1 {
        out.extend_from_slice(h);
    }
    out
}

fn decode_attempt(bytes: &[u8]) -> (u64, Vec<[u8; 32]>) {
    let Some((v, rest)) = bytes.split_first_chunk::<8>() else {
        return (0, Vec::new());
    };
    let hashes = rest
        .chunks_exact(32)
        .filter_map(|c| <[u8; 32]>::try_from(c).ok())
        .collect();
    (u64::from_be_bytes(*v), hashes)
}

/// The node's link to its backup server.
pub(crate) struct RemoteBackup {
    policy: BackupPolicy,
    base: String,
    agent: HttpAgent,
    state: Mutex<State>,
}

/// What the status shows of the remote backup.
pub(crate) struct RemoteStatus {
    pub version: u64,
    pub uploaded_at: Option<u64>,
    pub pending: bool,
    pub degraded: Option<String>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl RemoteBackup {
    /// The link to `url`, continuing from the version recorded in `store`.
    pub(crate) fn new(
        url: &str,
        policy: BackupPolicy,
        store: &SqliteStore,
    ) -> Result<RemoteBackup, BuildError> {
        let agent = HttpAgent::new(TIMEOUT, None);
        if let Some(e) = agent.config_error() {
            return Err(BuildError::InvalidConfig(format!("backup server: {e}")));
        }
        let version = store
            .read(NAMESPACE, "", VERSION_KEY)
            .ok()
            .and_then(|b| <[u8; 8]>::try_from(b.as_slice()).ok())
            .map(u64::from_be_bytes)
            .unwrap_or(0);
        let attempt = store
            .read(NAMESPACE, "", ATTEMPT_KEY)
            .map(|b| decode_attempt(&b))
            .unwrap_or((0, Vec::new()));
        Ok(RemoteBackup {
            policy,
            base: url.trim_end_matches('/').to_string(),
            agent,
            state: Mutex::new(State {
                version,
                uploaded_commits: None,
                uploaded_at: None,
                conflict: None,
                error: None,
                retry_after: None,
                backoff: FIRST_RETRY,
                deferred: Vec::new(),
                attempt,
            }),
        })
    }

    /// Whether monitor updates wait for the server.
    pub(crate) fn waits_for_server(&self) -> bool {
        self.policy == BackupPolicy::ServerConfirmed
    }

    /// Acknowledge this committed monitor update once a server copy holds it.
    pub(crate) fn defer(&self, channel_id: ChannelId, update_id: u64) {
        lock(&self.state).deferred.push((channel_id, update_id));
    }

    /// Whether updates wait for an upload (the loop then checks more often).
    pub(crate) fn has_deferred(&self) -> bool {
        !lock(&self.state).deferred.is_empty()
    }

    pub(crate) fn status(&self, commits: u64) -> RemoteStatus {
        let s = lock(&self.state);
        let degraded = match (s.conflict, &s.error) {
            (Some(theirs), _) => Some(format!(
                "{DEGRADED_PREFIX}: it holds version {theirs} of this node's backup, written by \
                 another device or an older copy of this node; uploads stopped so that it is not \
                 overwritten"
            )),
            (None, Some(e)) => Some(format!("{DEGRADED_PREFIX}: {e}")),
            _ => None,
        };
        RemoteStatus {
            version: s.version,
            uploaded_at: s.uploaded_at,
            pending: s.uploaded_commits != Some(commits),
            degraded,
        }
    }

    /// Upload a fresh copy if channel state changed since the last confirmed one.
    pub(crate) fn tick(&self, inner: &NodeInner) {
        let commits = inner.journal.stats().commits;
        let (version, covered) = {
            let mut s = lock(&self.state);
            if s.conflict.is_some()
                || (s.uploaded_commits == Some(commits) && s.deferred.is_empty())
            {
                return;
            }
            if s.retry_after.is_some_and(|t| Instant::now() < t) {
                return;
            }
            // Every update deferred so far was committed before the copy below is taken: the
            // copy holds it.
            (s.version + 1, std::mem::take(&mut s.deferred))
        };
        let result = self.upload(inner, version, &inner.store);
        let mut s = lock(&self.state);
        if result.is_err() {
            // Still waiting; the order of acknowledgements is kept.
            let later = std::mem::take(&mut s.deferred);
            s.deferred = covered;
            s.deferred.extend(later);
        } else {
            drop(s);
            for (channel_id, update_id) in covered {
                if let Err(e) = inner
                    .chain_monitor
                    .channel_monitor_updated(channel_id, update_id)
                {
                    log::error!(
                        "channel {channel_id}: completing monitor update {update_id}: {e:?}"
                    );
                }
            }
            s = lock(&self.state);
        }
        match result {
            Ok(()) => {
                s.version = version;
                s.uploaded_commits = Some(commits);
                s.uploaded_at = Some(now_secs());
                s.error = None;
                s.retry_after = None;
                s.backoff = FIRST_RETRY;
                record(&inner.store, VERSION_KEY, version.to_be_bytes().to_vec());
                inner.peer_gate.backup_confirmed();
            }
            Err(Upload::OursAlready(theirs)) => {
                // An earlier copy of ours is stored under `theirs` (its answer was lost): go on
                // from there at once; the updates wait for the next copy.
                log::info!("backup server holds our own version {theirs}; continuing after it");
                s.version = theirs;
                s.retry_after = None;
                record(&inner.store, VERSION_KEY, theirs.to_be_bytes().to_vec());
            }
            Err(Upload::Conflict(theirs)) => {
                log::error!(
                    "backup server holds version {theirs}; ours would be {version}: uploads stop"
                );
                s.conflict = Some(theirs);
            }
            Err(Upload::Failed(why)) => {
                log::warn!("backup upload failed: {why}");
                s.error = Some(why);
                s.retry_after = Some(Instant::now() + s.backoff);
                s.backoff = (s.backoff * 2).min(LAST_RETRY);
            }
        }
    }

    fn upload(&self, inner: &NodeInner, version: u64, store: &SqliteStore) -> Result<(), Upload> {
        let (sealed, _) = super::backup::sealed_copy(inner)
            .map_err(|e| Upload::Failed(format!("cannot make the copy: {e}")))?;
        let digest = sha256::Hash::hash(&sealed).to_byte_array();
        // Recorded before sending: a copy the server stores may lose its answer.
        let attempt = {
            let mut s = lock(&self.state);
            if s.attempt.0 != version {
                s.attempt = (version, Vec::new());
            }
            s.attempt.1.push(digest);
            if s.attempt.1.len() > 64 {
                s.attempt.1.remove(0);
            }
            s.attempt.clone()
        };
        store
            .write(NAMESPACE, "", ATTEMPT_KEY, encode_attempt(&attempt))
            .map_err(|e| Upload::Failed(format!("cannot record the attempt: {e}")))?;
        let node_id = inner.node_id.to_string();
        let signature = inner
            .keys
            .sign_message(put_message(&node_id, version, &sealed).as_bytes())
            .map_err(|()| Upload::Failed("the node key could not sign".into()))?;
        let version_text = version.to_string();
        let response = self
            .agent
            .post(
                &slot_url(&self.base, &node_id),
                &[
                    ("Content-Type", "application/octet-stream"),
                    ("X-Backup-Version", &version_text),
                    ("X-Backup-Signature", &signature),
                ],
                &sealed,
            )
            .map_err(|e| Upload::Failed(format!("unreachable: {e}")))?;
        let json = serde_json::from_slice::<serde_json::Value>(&response.body).ok();
        let answered = json
            .as_ref()
            .and_then(|v| v.get("version").and_then(|v| v.as_u64()));
        let stored_hash = json
            .as_ref()
            .and_then(|v| v.get("sha256").and_then(|v| v.as_str()))
            .and_then(|h| <[u8; 32]>::from_hex(h).ok());
        match (response.status, answered) {
            (200, Some(v)) if v == version => Ok(()),
            (409, Some(theirs))
                if theirs == attempt.0 && stored_hash.is_some_and(|h| attempt.1.contains(&h)) =>
            {
                Err(Upload::OursAlready(theirs))
            }
            (409, Some(theirs)) => Err(Upload::Conflict(theirs)),
            (status, _) => Err(Upload::Failed(format!(
                "unexpected answer (HTTP {status}, {} bytes)",
                response.body.len()
            ))),
        }
    }
}

/// Write a small record of ours; a failure is logged (the next success writes it again).
fn record(store: &SqliteStore, key: &str, value: Vec<u8>) {
    if let Err(e) = store.write(NAMESPACE, "", key, value) {
        log::warn!("cannot record the backup state ({key}): {e}");
    }
}

enum Upload {
    /// The server holds a copy of ours under this version.
    OursAlready(u64),
    Conflict(u64),
    Failed(String),
}

/// Check for changes every second while the node runs.
/// Also releases restored channels their peers have confirmed (`restore_hold`).
pub(crate) async fn backup_loop(inner: Arc<NodeInner>, stop: Arc<AtomicBool>) {
    while !stop.load(Ordering::Acquire) {
        inner.restore_hold.release_confirmed(&inner.channel_manager);
        if inner.remote_backup.is_some() {
            let inner = inner.clone();
            let _ = tokio::task::spawn_blocking(move || {
                if let Some(remote) = &inner.remote_backup {
                    remote.tick(&inner);
                }
            })
            .await;
        }
        let waiting = inner
            .remote_backup
            .as_ref()
            .is_some_and(|r| r.has_deferred());
        // Payments wait on the upload when updates are deferred: look again soon.
        let pause = if waiting { 100 } else { 1000 };
        tokio::time::sleep(Duration::from_millis(pause)).await;
    }
}

/// Fetch the latest backup of `node_id` from the server at `url` (for a restore).
pub(crate) fn fetch(
    url: &str,
    keys: &lightning::sign::KeysManager,
    node_id: &str,
) -> Result<(Vec<u8>, u64), BuildError> {
    read(url, keys, node_id, false)
}

/// The version of the latest backup of `node_id` on the server at `url`, without the file.
pub(crate) fn stored_version(
    url: &str,
    keys: &lightning::sign::KeysManager,
    node_id: &str,
) -> Result<u64, BuildError> {
    read(url, keys, node_id, true).map(|(_, version)| version)
}

fn read(
    url: &str,
    keys: &lightning::sign::KeysManager,
    node_id: &str,
    version_only: bool,
) -> Result<(Vec<u8>, u64), BuildError> {
    let agent = HttpAgent::new(TIMEOUT, None);
    let time = now_secs();
    let signature = keys
        .sign_message(get_message(node_id, time).as_bytes())
        .map_err(|()| BuildError::InvalidEntropy("the node key could not sign".into()))?;
    let time_text = time.to_string();
    let mut headers = vec![
        ("X-Backup-Time", time_text.as_str()),
        ("X-Backup-Signature", signature.as_str()),
    ];
    if version_only {
        headers.push(("X-Backup-Version-Only", "1"));
    }
    let response = agent
        .get_with(&slot_url(url, node_id), &headers)
        .map_err(|e| BuildError::BackupUnavailable(format!("backup server: {e}")))?;
    match response.status {
        200 => {
            let version = response
                .header("x-backup-version")
                .and_then(|v| v.parse::<u64>().ok())
                .filter(|v| *v >= 1)
                .ok_or_else(|| {
                    BuildError::BackupUnavailable(
                        "the backup server's answer has no version".into(),
                    )
                })?;
            Ok((response.body, version))
        }
        404 => Err(BuildError::BackupNotFound(format!(
            "the backup server holds no backup of node {node_id}"
        ))),
        status => Err(BuildError::BackupUnavailable(format!(
            "backup server answered HTTP {status}"
        ))),
    }
}

/// Record `version` as the last one the server holds (after a restore from it).
pub(crate) fn record_version(store: &SqliteStore, version: u64) -> Result<(), BuildError> {
    store
        .write(NAMESPACE, "", VERSION_KEY, version.to_be_bytes().to_vec())
        .map_err(|e| BuildError::Storage(format!("cannot record the backup version: {e}")))
}

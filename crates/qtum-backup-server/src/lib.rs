//! A versioned store of encrypted node backups.
//!
//! One slot per node id. Only the node itself can write its slot or read it back: every request
//! carries the node's signature (LDK's signed-message format) over what it asks. The server never
//! sees a key: the bodies are the SDK's sealed backup files, and the server only checks their
//! clear header (magic and node id) so a client cannot store something else under its name.
//!
//! Writes are versioned for optimistic concurrency: a write names the version it creates, which
//! must be exactly one above the stored one. A device holding an older copy (a second phone, a
//! restored old backup) gets `409` with the stored version and cannot overwrite newer state; a
//! replayed write is refused the same way.
//!
//! `POST /v1/backups/<node id>` — headers `X-Backup-Version: <n>` and `X-Backup-Signature:
//! <sig of "qtum-ln backup put <node id> <n> <sha256 of the body, hex>">`, the file as body:
//! `200 {"version": n}`, `409 {"error": …, "version": stored, "sha256": of the stored body}`,
//! `401`, `400`, `413`.
//!
//! `GET /v1/backups/<node id>` — headers `X-Backup-Time: <unix seconds>` (within ten minutes
//! of the server's clock) and `X-Backup-Signature: <sig of "qtum-ln backup get <node id>
//! <time>">`: `200` with the file and `X-Backup-Version`, `404` when the slot is empty, `401`.
//! With `X-Backup-Version-Only: 1` the answer is `200 {"version": n}` without the file (a new
//! device asking whether a backup exists need not download it).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bitcoin::hashes::{sha256, Hash};
use bitcoin::hex::DisplayHex;
use bitcoin::secp256k1::PublicKey;
use qtum_http::{HttpServer, Request, Response, ServerConfig};
use rusqlite::{params, OptionalExtension};

/// First bytes of a backup file (the SDK's format).
const MAGIC: &[u8; 8] = b"QTUMLNBK";
/// Where the node id sits in a backup file's clear header.
const NODE_ID_RANGE: std::ops::Range<usize> = 10..43;
/// How far a read's signed time may be from the server's clock.
const READ_WINDOW_SECS: u64 = 600;

/// The message a node signs to write version `version` of its slot with `body`.
pub fn put_message(node_id: &str, version: u64, body: &[u8]) -> String {
    let digest = sha256::Hash::hash(body).to_byte_array();
    format!(
        "qtum-ln backup put {node_id} {version} {}",
        digest.to_lower_hex_string()
    )
}

/// The message a node signs to read its slot at Unix time `time`.
pub fn get_message(node_id: &str, time: u64) -> String {
    format!("qtum-ln backup get {node_id} {time}")
}

/// How to run the server.
#[derive(Debug, Clone)]
pub struct Config {
    /// Where to listen (port 0: any free port).
    pub listen: SocketAddr,
    /// The SQLite file holding the slots (created if missing).
    pub database: PathBuf,
    /// Largest backup accepted, in bytes.
    pub max_backup_bytes: usize,
}

impl Config {
    /// `database` on `listen`, backups up to 64 MiB.
    pub fn new(listen: SocketAddr, database: PathBuf) -> Config {
        Config {
            listen,
            database,
            max_backup_bytes: 64 * 1024 * 1024,
        }
    }
}

/// The running server; stops when dropped.
pub struct BackupServer {
    http: HttpServer,
}

impl BackupServer {
    /// Open the database and start serving.
    pub fn start(config: Config) -> Result<BackupServer, String> {
        let conn = rusqlite::Connection::open(&config.database)
            .map_err(|e| format!("cannot open {}: {e}", config.database.display()))?;
        conn.query_row("PRAGMA journal_mode = WAL", [], |r| r.get::<_, String>(0))
            .and_then(|_| conn.pragma_update(None, "synchronous", "FULL"))
            .and_then(|()| {
                conn.execute_batch(
                    "CREATE TABLE IF NOT EXISTS backups (
                         node_id TEXT PRIMARY KEY NOT NULL,
                         version INTEGER NOT NULL,
                         body BLOB NOT NULL,
                         updated_at INTEGER NOT NULL
                     )",
                )
            })
            .map_err(|e| format!("cannot prepare {}: {e}", config.database.display()))?;
        let store = Arc::new(Store {
            conn: Mutex::new(conn),
        });
        let mut http = ServerConfig::new("qtum-backupd", config.listen);
        http.threads = 8;
        http.limits.max_body = config.max_backup_bytes;
        http.limits.request_timeout = Duration::from_secs(120);
        http.error_body = Some(error);
        let handler = Arc::new(move |request: &Request| store.handle(request));
        let http = HttpServer::start(http, handler)?;
        log::info!("backup server listening on {}", http.addr());
        Ok(BackupServer { http })
    }

    /// The address it listens on.
    pub fn addr(&self) -> SocketAddr {
        self.http.addr()
    }

    /// Serve until the process is stopped.
    pub fn wait(self) {
        self.http.wait()
    }
}

struct Store {
    conn: Mutex<rusqlite::Connection>,
}

fn error(status: u16, text: &str) -> Response {
    let body = serde_json::json!({ "error": text })
        .to_string()
        .into_bytes();
    Response::json(status, body)
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

fn signed_by(node_id: &PublicKey, message: &str, request: &Request) -> bool {
    request.header("x-backup-signature").is_some_and(|sig| {
        lightning::util::message_signing::verify(message.as_bytes(), sig, node_id)
    })
}

impl Store {
    fn handle(&self, request: &Request) -> Response {
        let Some(text) = request.path().strip_prefix("/v1/backups/") else {
            return error(404, "no such endpoint");
        };
        let node_id: PublicKey = match text.parse() {
            Ok(pk) => pk,
            Err(_) => return error(400, "the path does not name a node id"),
        };
        // Always the canonical (lowercase, compressed) spelling in the database.
        let id = node_id.to_string();
        match request.method.as_str() {
            "POST" => self.put(&node_id, &id, request),
            "GET" => self.get(&node_id, &id, request),
            _ => error(405, "GET or POST"),
        }
    }

    fn put(&self, node_id: &PublicKey, id: &str, request: &Request) -> Response {
        let Some(version) = request
            .header("x-backup-version")
            .and_then(|v| v.parse::<u64>().ok())
            .filter(|v| *v >= 1 && *v <= i64::MAX as u64)
        else {
            return error(400, "X-Backup-Version must be a positive integer");
        };
        let body = &request.body;
        if !signed_by(node_id, &put_message(id, version, body), request) {
            return error(401, "the signature is not this node's");
        }
        if body.len() < NODE_ID_RANGE.end || &body[..MAGIC.len()] != MAGIC {
            return error(400, "the body is not a backup file");
        }
        if body[NODE_ID_RANGE] != node_id.serialize()[..] {
            return error(400, "the backup file is another node's");
        }
        let mut conn = self.conn.lock().unwrap_or_else(|p| p.into_inner());
        let result = (|| -> rusqlite::Result<Result<(), (u64, String)>> {
            let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
            let stored: Option<(i64, Vec<u8>)> = tx
                .query_row(
                    "SELECT version, body FROM backups WHERE node_id = ?1",
                    params![id],
                    |r| Ok((r.get(0)?, r.get(1)?)),
                )
                .optional()?;
            let (stored, stored_hash) = match stored {
                Some((v, body)) => (
                    v as u64,
                    sha256::Hash::hash(&body)
                        .to_byte_array()
                        .to_lower_hex_string(),
                ),
                None => (0, String::new()),
            };
            if version != stored + 1 {
                return Ok(Err((stored, stored_hash)));
            }
            tx.execute(
                "INSERT INTO backups (node_id, version, body, updated_at) VALUES (?1, ?2, ?3, ?4)
                 ON CONFLICT (node_id) DO UPDATE SET
                     version = excluded.version, body = excluded.body,
                     updated_at = excluded.updated_at",
                params![id, version as i64, body, now() as i64],
            )?;
            tx.commit()?;
            Ok(Ok(()))
        })();
        match result {
            Ok(Ok(())) => {
                log::info!("backup of {id}: version {version}, {} bytes", body.len());
                Response::json(
                    200,
                    serde_json::json!({ "version": version })
                        .to_string()
                        .into_bytes(),
                )
            }
            Ok(Err((stored, stored_hash))) => {
                log::warn!("backup of {id}: version {version} refused, {stored} is stored");
                // The stored copy's hash lets a client whose earlier answer was lost see that
                // the stored version is its own.
                let body = serde_json::json!({
                    "error": format!("version {version} does not follow the stored version {stored}"),
                    "version": stored,
                    "sha256": stored_hash,
                });
                Response::json(409, body.to_string().into_bytes())
            }
            Err(e) => {
                log::error!("backup of {id}: {e}");
                error(500, "the backup could not be stored")
            }
        }
    }

    fn get(&self, node_id: &PublicKey, id: &str, request: &Request) -> Response {
        let Some(time) = request
            .header("x-backup-time")
            .and_then(|v| v.parse::<u64>().ok())
        else {
            return error(400, "X-Backup-Time must be Unix seconds");
        };
        if now().abs_diff(time) > READ_WINDOW_SECS {
            return error(401, "X-Backup-Time is too far from the server's clock");
        }
        if !signed_by(node_id, &get_message(id, time), request) {
            return error(401, "the signature is not this node's");
        }
        let version_only = request.header("x-backup-version-only") == Some("1");
        let conn = self.conn.lock().unwrap_or_else(|p| p.into_inner());
        // The body is not even read for a version-only request.
        let row: rusqlite::Result<Option<(i64, Option<Vec<u8>>)>> = conn
            .query_row(
                "SELECT version, CASE WHEN ?2 THEN NULL ELSE body END
                 FROM backups WHERE node_id = ?1",
                params![id, version_only],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional();
        match row {
            Ok(Some((version, Some(body)))) => Response {
                status: 200,
                content_type: "application/octet-stream",
                headers: vec![("X-Backup-Version", version.to_string())],
                body,
            },
            Ok(Some((version, None))) => {
                let mut response = Response::json(
                    200,
                    serde_json::json!({ "version": version })
                        .to_string()
                        .into_bytes(),
                );
                response
                    .headers
                    .push(("X-Backup-Version", version.to_string()));
                response
            }
            Ok(None) => error(404, "no backup of this node"),
            Err(e) => {
                log::error!("backup of {id}: {e}");
                error(500, "the backup could not be read")
            }
        }
    }
}

//! Peers we keep connections to: persisted so a restart reconnects, and connected through
//! `lightning-net-tokio`.

use std::net::ToSocketAddrs;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bitcoin::secp256k1::PublicKey;
use rusqlite::{params, Connection};

use crate::error::NodeError;
use crate::io::db::SharedConnection;
use crate::node::types::PeerManager;
use crate::peer::NodeUri;

/// The `peers` table: node id → last known address.
pub(crate) struct PeerStore {
    conn: SharedConnection,
}

fn lock(m: &Mutex<Connection>) -> std::sync::MutexGuard<'_, Connection> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl PeerStore {
    /// The store on the node's database (its table comes from the node's migrations).
    pub(crate) fn open(conn: SharedConnection) -> PeerStore {
        PeerStore { conn }
    }

    pub(crate) fn upsert(&self, uri: &NodeUri) -> Result<(), NodeError> {
        lock(&self.conn)
            .execute(
                "INSERT INTO peers (node_id, uri) VALUES (?1, ?2)
                 ON CONFLICT (node_id) DO UPDATE SET uri = excluded.uri",
                params![uri.node_id.to_string(), uri.to_string()],
            )
            .map(|_| ())
            .map_err(|e| crate::io::db::node_error("peers", &e))
    }

    pub(crate) fn remove(&self, node_id: &PublicKey) -> Result<(), NodeError> {
        lock(&self.conn)
            .execute(
                "DELETE FROM peers WHERE node_id = ?1",
                params![node_id.to_string()],
            )
            .map(|_| ())
            .map_err(|e| crate::io::db::node_error("peers", &e))
    }

    /// Every stored peer whose URI still parses.
    pub(crate) fn all(&self) -> Vec<NodeUri> {
        let conn = lock(&self.conn);
        let Ok(mut stmt) = conn.prepare("SELECT uri FROM peers") else {
            return Vec::new();
        };
        let Ok(rows) = stmt.query_map([], |r| r.get::<_, String>(0)) else {
            return Vec::new();
        };
        rows.flatten().filter_map(|uri| uri.parse().ok()).collect()
    }
}

/// Connect to `uri` and wait until the Lightning handshake completed (or failed).
pub(crate) async fn connect(
    peer_manager: Arc<PeerManager>,
    uri: &NodeUri,
    timeout: Duration,
) -> Result<(), NodeError> {
    if peer_manager.peer_by_node_id(&uri.node_id).is_some() {
        return Ok(());
    }
    let host_port = uri.host_port();
    let addr = tokio::task::spawn_blocking(move || host_port.to_socket_addrs())
        .await
        .map_err(|e| NodeError::ConnectionFailed(e.to_string()))?
        .map_err(|e| NodeError::ConnectionFailed(format!("cannot resolve {}: {e}", uri.host)))?
        .next()
        .ok_or_else(|| NodeError::ConnectionFailed(format!("no address for {}", uri.host)))?;

    let connection = tokio::time::timeout(
        timeout,
        lightning_net_tokio::connect_outbound(peer_manager.clone(), uri.node_id, addr),
    )
    .await
    .map_err(|_| NodeError::ConnectionFailed(format!("timed out connecting to {addr}")))?
    .ok_or_else(|| NodeError::ConnectionFailed(format!("{addr} refused the connection")))?;

    let mut connection = Box::pin(connection);
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        // The future drives the connection; it returns when the connection closes.
        match tokio::time::timeout(Duration::from_millis(10), &mut connection).await {
            Ok(()) => {
                return Err(NodeError::ConnectionFailed(format!(
                    "{} closed the connection during the handshake",
                    uri
                )))
            }
            Err(_) => {
                if peer_manager.peer_by_node_id(&uri.node_id).is_some() {
                    // Keep driving the connection in the background.
                    tokio::spawn(connection);
                    return Ok(());
                }
                if tokio::time::Instant::now() >= deadline {
                    return Err(NodeError::ConnectionFailed(format!(
                        "no Lightning handshake with {uri} (wrong node id?)"
                    )));
                }
            }
        }
    }
}

//! Peers we keep connections to: persisted so a restart reconnects, and connected through
//! `lightning-net-tokio`.

use std::net::ToSocketAddrs;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bitcoin::secp256k1::PublicKey;
use qtum_sql::{params, Connection};

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

/// How long `connect` and `open_channel` wait for a peer's handshake.
pub(super) const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// How often persisted peers are reconnected.
pub(super) const RECONNECT_INTERVAL: Duration = Duration::from_secs(5);

/// A connected or remembered peer.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "uniffi", derive(uniffi::Record))]
pub struct PeerInfo {
    /// The peer's node id.
    pub node_id: PublicKey,
    /// Its address, when known.
    pub address: Option<String>,
    /// Whether we are connected now.
    pub is_connected: bool,
    /// Whether the node reconnects to it after restarts and drops.
    pub is_persisted: bool,
}

impl super::Node {
    /// Connect to `pubkey@host:port`. With `persist`, the node reconnects to it after restarts
    /// and drops.
    pub fn connect(&self, uri: &str, persist: bool) -> Result<(), NodeError> {
        let uri: NodeUri = uri.parse()?;
        if uri.node_id == self.inner.node_id {
            return Err(NodeError::InvalidNodeUri(
                "that is this node's own id".into(),
            ));
        }
        let pm = self.inner.peer_manager.clone();
        let handle = self.with_runtime(|rt| rt.handle().clone())?;
        let target = uri.clone();
        let inner = self.inner.clone();
        // `Ok(false)`: the node may not talk to the peer yet.
        let connect = move || {
            handle.block_on(async {
                // Right after a start the peer waits for the chain sync (see `peer_gate`).
                let gate = &inner.peer_gate;
                gate.wait_synced(gate.remaining_wait()).await;
                if !gate.admits(&inner.channel_manager, &target.node_id) {
                    return Ok(false);
                }
                connect(pm, &target, CONNECT_TIMEOUT).await.map(|()| true)
            })
        };
        // `block_on` panics inside an async runtime (an app calling us from a tokio task):
        // then wait on a thread of our own instead.
        let connected = if tokio::runtime::Handle::try_current().is_ok() {
            std::thread::scope(|scope| scope.spawn(connect).join())
                .map_err(|_| NodeError::ConnectionFailed("the connecting thread failed".into()))?
        } else {
            connect()
        }?;
        if persist {
            self.inner.peers.upsert(&uri)?;
        }
        if !connected {
            let remembered = if persist
                || self
                    .inner
                    .peers
                    .all()
                    .iter()
                    .any(|p| p.node_id == uri.node_id)
            {
                "it connects once it has"
            } else {
                "connect again once it has (or connect with `persist`)"
            };
            return Err(NodeError::ConnectionFailed(format!(
                "the node has a channel with {} that is not ready yet and has not synced with \
                 the chain since it started: {remembered}",
                uri.node_id
            )));
        }
        Ok(())
    }

    /// Disconnect from a peer and forget it (channels with it stay; LDK reconnects them only
    /// when the peer connects to us).
    pub fn disconnect(&self, node_id: &PublicKey) -> Result<(), NodeError> {
        self.inner.peers.remove(node_id)?;
        self.inner.peer_manager.disconnect_by_node_id(*node_id);
        Ok(())
    }

    /// Connected and remembered peers.
    pub fn list_peers(&self) -> Vec<PeerInfo> {
        let persisted = self.inner.peers.all();
        let mut out: Vec<PeerInfo> = Vec::new();
        for peer in self.inner.peer_manager.list_peers() {
            let stored = persisted
                .iter()
                .find(|u| u.node_id == peer.counterparty_node_id);
            out.push(PeerInfo {
                node_id: peer.counterparty_node_id,
                address: stored
                    .map(|u| u.host_port())
                    .or_else(|| peer.socket_address.map(|a| a.to_string())),
                is_connected: true,
                is_persisted: stored.is_some(),
            });
        }
        for uri in persisted {
            if !out.iter().any(|p| p.node_id == uri.node_id) {
                out.push(PeerInfo {
                    node_id: uri.node_id,
                    address: Some(uri.host_port()),
                    is_connected: false,
                    is_persisted: true,
                });
            }
        }
        out
    }
}

pub(crate) fn parse_node_id(text: &str) -> Result<PublicKey, NodeError> {
    text.trim()
        .parse::<PublicKey>()
        .map_err(|e| NodeError::InvalidNodeId(e.to_string()))
}

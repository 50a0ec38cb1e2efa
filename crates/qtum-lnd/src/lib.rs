//! `qtum-lnd`: the Qtum Lightning server node, a thin layer over the SDK's `Node`.
//!
//! The daemon reads one TOML file ([`config`]), keeps its seed and database in a data
//! directory, serves an authenticated HTTP+JSON API ([`api`]) and numbers the node's events
//! for API clients ([`events`]). Everything Lightning (channels, payments, chain sync,
//! persistence, crash safety) is the SDK's; this crate only decides how a server exposes it.

#![deny(missing_docs)]
#![cfg_attr(not(test), deny(clippy::unwrap_used))]

pub mod api;
#[allow(missing_docs)]
pub mod config;
pub mod events;
pub mod logging;
pub mod zmq;

use std::io::Write;
use std::path::Path;
use std::sync::Arc;
use std::thread::JoinHandle;

use qtum_http::{HttpServer, Limits, ServerConfig};
use qtum_lightning::{Builder, Node};
use zeroize::Zeroizing;

use crate::api::Api;
use crate::config::{DaemonConfig, StorageConfig};
use crate::events::EventLog;

/// A running daemon: the node, its API and the event pump. [`Daemon::stop`] ends them in order.
pub struct Daemon {
    node: Arc<Node>,
    http: Option<HttpServer>,
    events: Arc<EventLog>,
    pump: Option<JoinHandle<()>>,
    feed: Option<zmq::Feed>,
}

/// Reads the mnemonic at `path`, or creates one (24 words, mode 0600) when there is none yet.
/// The phrase never reaches a log line or an error text.
pub fn load_or_create_mnemonic(path: &Path) -> Result<Zeroizing<String>, String> {
    match std::fs::read_to_string(path) {
        Ok(text) => {
            let phrase = Zeroizing::new(text.trim().to_string());
            qtum_wallet::WalletSeed::from_mnemonic(&phrase, None)
                .map_err(|e| format!("the mnemonic in {} is not valid: {e}", path.display()))?;
            Ok(phrase)
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let seed = qtum_wallet::WalletSeed::generate(qtum_wallet::WordCount::Words24, None)
                .map_err(|e| format!("cannot generate a mnemonic: {e}"))?;
            let phrase =
                Zeroizing::new(seed.mnemonic_phrase().ok_or("cannot generate a mnemonic")?);
            if let Some(dir) = path.parent() {
                std::fs::create_dir_all(dir)
                    .map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
            }
            let mut options = std::fs::OpenOptions::new();
            options.write(true).create_new(true);
            #[cfg(unix)]
            std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
            let mut file = options
                .open(path)
                .map_err(|e| format!("cannot create {}: {e}", path.display()))?;
            file.write_all(phrase.as_bytes())
                .and_then(|()| file.write_all(b"\n"))
                .and_then(|()| file.sync_all())
                .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
            log::warn!(
                "created a new wallet mnemonic in {}: back it up, it is the only way to recover \
                 the on-chain funds",
                path.display()
            );
            Ok(phrase)
        }
        Err(e) => Err(format!("cannot read {}: {e}", path.display())),
    }
}

impl Daemon {
    /// Builds and starts the node, then the event pump and the API.
    pub fn start(config: &DaemonConfig) -> Result<Daemon, String> {
        std::fs::create_dir_all(&config.data_dir)
            .map_err(|e| format!("cannot create {}: {e}", config.data_dir.display()))?;
        let phrase = load_or_create_mnemonic(&config.mnemonic_file)?;
        let mut builder = Builder::new(config.node.clone());
        builder.set_entropy_mnemonic(&phrase, None);
        drop(phrase);
        if let Some(lsp) = &config.lsp {
            builder.set_liquidity_service(lsp.service.clone(), lsp.token.as_deref());
            log::info!("serving LSPS2 just-in-time channels and LSPS5 webhooks");
        }
        if let StorageConfig::Postgres { url, ca_file } = &config.storage {
            builder.set_postgres_storage(url, ca_file.as_deref());
            log::info!("node state in PostgreSQL");
        }
        let node = Arc::new(
            builder
                .build()
                .map_err(|e| format!("cannot build the node: {e}"))?,
        );
        node.start()
            .map_err(|e| format!("cannot start the node: {e}"))?;
        log::info!("node {} started on {}", node.node_id(), node.network());
        if let Some(uri) = node.node_uri() {
            log::info!("peers reach this node at {uri}");
        }

        let boot_id = format!(
            "{:x}",
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_nanos())
                .unwrap_or(0)
        );
        let events = Arc::new(EventLog::new(boot_id));
        let mut daemon = Daemon {
            node: Arc::clone(&node),
            http: None,
            events: Arc::clone(&events),
            pump: None,
            feed: None,
        };
        daemon.feed = zmq::Feed::start(&config.zmq, Arc::clone(&node))
            .map_err(|e| format!("cannot start a thread: {e}"))?;
        daemon.pump = Some(
            events::start_pump(Arc::clone(&node), Arc::clone(&events))
                .map_err(|e| format!("cannot start a thread: {e}"))?,
        );

        let api = Arc::new(Api::new(
            Arc::clone(&node),
            config.api.password.clone(),
            Arc::clone(&events),
        ));
        let mut http = ServerConfig::new("qtum-lnd-api", config.api.listen);
        http.threads = config.api.threads;
        http.queue = 32;
        http.limits = Limits {
            max_head: qtum_http::DEFAULT_MAX_HEAD_BYTES,
            max_body: config.api.max_body_bytes,
            request_timeout: std::time::Duration::from_secs(10),
            idle_timeout: std::time::Duration::from_secs(30),
        };
        http.error_body = Some(api::transport_error);
        let scheme = match &config.api.tls {
            Some((cert, key)) => {
                http.tls = Some(qtum_http::tls_config(cert, key)?);
                "https"
            }
            None => "http",
        };
        let server = HttpServer::start(http, Arc::new(move |r| api.handle(r)))?;
        log::info!("API listening on {scheme}://{}", server.addr());
        daemon.http = Some(server);
        Ok(daemon)
    }

    /// The node.
    pub fn node(&self) -> &Arc<Node> {
        &self.node
    }

    /// Where the API listens.
    pub fn api_addr(&self) -> Option<std::net::SocketAddr> {
        self.http.as_ref().map(HttpServer::addr)
    }

    /// Stops the API (answers in progress end), the event pump, then the node (which persists
    /// its state and disconnects its peers).
    pub fn stop(mut self) {
        self.shutdown();
    }

    fn shutdown(&mut self) {
        self.events.close();
        drop(self.http.take());
        if let Some(feed) = self.feed.take() {
            feed.stop();
        }
        if let Some(pump) = self.pump.take() {
            let _ = pump.join();
        }
        if let Err(e) = self.node.stop() {
            log::warn!("stopping the node: {e}");
        }
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        if self.http.is_some() || self.pump.is_some() {
            self.shutdown();
        }
    }
}

//! `qtum-lnd.toml`: the daemon's one configuration file.
//!
//! Every key is optional but `network` and the chain source; the defaults are the SDK's Qtum
//! defaults (the `qtum_lightning::config` module) plus a server's choices (listen on 9735, API on
//! 127.0.0.1:8080). Unknown keys and bad values are refused at start with the key named, so a
//! typo never silently falls back to a default. `docs/server.md` lists every key next to the
//! `eclair.conf` key it replaces.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use qtum_lightning::qtum::network::Network;
use qtum_lightning::{ChainSourceConfig, Config, EsploraServerConfig, RpcAuth, RpcEndpointConfig};
use serde::Deserialize;

/// The API's default address: this machine only.
pub const DEFAULT_API_LISTEN: &str = "127.0.0.1:8080";
/// The default request body limit of the API (the largest request, a BOLT 11 invoice with a
/// long route hint list, is a few kilobytes).
pub const DEFAULT_API_MAX_BODY: usize = 64 * 1024;

/// The file as written.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileConfig {
    /// `mainnet`, `testnet` or `regtest`.
    pub network: Option<String>,
    /// Where the node's database, seed and logs live; default: the config file's directory.
    pub data_dir: Option<PathBuf>,
    #[serde(default)]
    pub node: NodeSection,
    #[serde(default)]
    pub api: ApiSection,
    #[serde(default)]
    pub chain: ChainSection,
    #[serde(default)]
    pub channels: ChannelsSection,
    #[serde(default)]
    pub payments: PaymentsSection,
    #[serde(default)]
    pub log: LogSection,
    #[serde(default)]
    pub storage: StorageSection,
    #[serde(default)]
    pub lsp: LspSection,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NodeSection {
    pub alias: Option<String>,
    /// `#rrggbb`.
    pub color: Option<String>,
    /// Where peers connect (`IP:port`); default `0.0.0.0:9735`; `[]` to accept none.
    pub listen: Option<Vec<String>>,
    /// Where peers reach this node when that differs (NAT, proxy).
    pub announce: Option<Vec<String>>,
    /// A file holding the BIP 39 mnemonic; default `<data_dir>/mnemonic`, created on first start.
    pub mnemonic_file: Option<PathBuf>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApiSection {
    pub listen: Option<String>,
    pub password: Option<String>,
    pub password_file: Option<PathBuf>,
    pub tls_cert: Option<PathBuf>,
    pub tls_key: Option<PathBuf>,
    pub max_body_bytes: Option<usize>,
    pub threads: Option<usize>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChainSection {
    pub rpc_url: Option<String>,
    pub rpc_user: Option<String>,
    pub rpc_password: Option<String>,
    /// A file whose first line is the RPC password (instead of `rpc_password`).
    pub rpc_password_file: Option<PathBuf>,
    pub rpc_cookie_file: Option<PathBuf>,
    pub rpc_ca_file: Option<PathBuf>,
    /// Esplora-style servers, in order of preference (instead of `rpc_url`).
    pub esplora_urls: Option<Vec<String>>,
    /// A PEM file whose certificates alone are trusted for the Esplora servers' `https://`.
    pub esplora_ca_file: Option<PathBuf>,
    pub allow_insecure_http: Option<bool>,
    /// qtumd's `zmqpubrawblock` address, e.g. `tcp://127.0.0.1:28332`.
    pub zmq_block: Option<String>,
    /// qtumd's `zmqpubrawtx` address.
    pub zmq_tx: Option<String>,
    pub poll_interval_secs: Option<u64>,
    pub wallet_birthday_height: Option<u32>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChannelsSection {
    pub min_funding_sat: Option<u64>,
    pub max_funding_sat: Option<u64>,
    pub funding_confirmations: Option<u32>,
    pub to_self_delay_blocks: Option<u16>,
    pub max_to_self_delay_blocks: Option<u16>,
    pub cltv_expiry_delta: Option<u16>,
    pub min_final_cltv_expiry_delta: Option<u16>,
    pub htlc_minimum_msat: Option<u64>,
    pub max_accepted_htlcs: Option<u16>,
    pub fee_base_msat: Option<u32>,
    pub fee_proportional_millionths: Option<u32>,
    pub accept_inbound: Option<bool>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PaymentsSection {
    pub invoice_expiry_secs: Option<u32>,
    pub retries: Option<u32>,
    pub max_route_hops: Option<u8>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LogSection {
    /// `error`, `warn`, `info`, `debug` or `trace`.
    pub level: Option<String>,
    /// A file to append to instead of stdout.
    pub file: Option<PathBuf>,
}

/// `Debug` leaves the URL out: it may carry a password.
#[derive(Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StorageSection {
    /// `sqlite` (default) or `postgres`.
    pub backend: Option<String>,
    /// The PostgreSQL database (`postgres` only): `postgresql://user:password@host/db`.
    pub postgres_url: Option<String>,
    /// A file whose first line is that URL (keeps a password out of the config file).
    pub postgres_url_file: Option<PathBuf>,
    /// The CA (PEM) the server's certificate must chain to when TLS is used.
    pub postgres_ca_file: Option<PathBuf>,
}

/// `[lsp]`: act as a liquidity provider (LSPS2 just-in-time channels, LSPS5 webhooks). Every
/// value defaults to the SDK's `LspServiceConfig::default()`. The token stays in its file.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LspSection {
    pub enabled: Option<bool>,
    pub min_opening_fee_msat: Option<u64>,
    pub opening_fee_ppm: Option<u32>,
    pub min_payment_msat: Option<u64>,
    pub max_payment_msat: Option<u64>,
    pub min_channel_lifetime_blocks: Option<u32>,
    pub max_client_to_self_delay_blocks: Option<u32>,
    pub quote_validity_secs: Option<u32>,
    pub channel_over_provisioning_ppm: Option<u32>,
    /// A file whose first line is the token clients must present.
    pub token_file: Option<PathBuf>,
    /// The CAs (PEM) webhook servers must chain to; default: the public roots.
    pub webhook_ca_file: Option<PathBuf>,
}

/// A bad configuration: the key and what is wrong with it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    /// The key, dotted (`api.listen`), or empty for the file as a whole.
    pub key: String,
    /// What is wrong.
    pub message: String,
}

impl std::fmt::Display for ConfigError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.key.is_empty() {
            write!(f, "{}", self.message)
        } else {
            write!(f, "{}: {}", self.key, self.message)
        }
    }
}

fn bad(key: &str, message: impl Into<String>) -> ConfigError {
    ConfigError {
        key: key.into(),
        message: message.into(),
    }
}

/// How the API is served.
#[derive(Clone)]
pub struct ApiConfig {
    pub listen: SocketAddr,
    /// The password every request must carry (never logged, never in `Debug`).
    pub password: String,
    pub tls: Option<(PathBuf, PathBuf)>,
    pub max_body_bytes: usize,
    pub threads: usize,
}

impl std::fmt::Debug for ApiConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ApiConfig")
            .field("listen", &self.listen)
            .field("password", &"<redacted>")
            .field("tls", &self.tls)
            .field("max_body_bytes", &self.max_body_bytes)
            .field("threads", &self.threads)
            .finish()
    }
}

impl std::fmt::Debug for StorageSection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StorageSection")
            .field("backend", &self.backend)
            .field(
                "postgres_url",
                &self.postgres_url.as_ref().map(|_| "<redacted>"),
            )
            .field("postgres_url_file", &self.postgres_url_file)
            .field("postgres_ca_file", &self.postgres_ca_file)
            .finish()
    }
}

/// Where the node keeps its state.
#[derive(Clone, PartialEq, Eq)]
pub enum StorageConfig {
    /// `node.sqlite` in the data directory.
    Sqlite,
    /// A PostgreSQL database (the URL may carry a password: never logged, never in `Debug`),
    /// and the CA its certificate chains to when TLS is used (the webpki roots without one).
    Postgres {
        url: String,
        ca_file: Option<PathBuf>,
    },
}

impl std::fmt::Debug for StorageConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            StorageConfig::Sqlite => f.write_str("Sqlite"),
            StorageConfig::Postgres { ca_file, .. } => f
                .debug_struct("Postgres")
                .field("url", &"<redacted>")
                .field("ca_file", ca_file)
                .finish(),
        }
    }
}

/// Where new blocks and transactions are announced (qtumd's ZMQ feed).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ZmqConfig {
    pub block: Option<String>,
    pub tx: Option<String>,
}

/// Everything the daemon needs, checked.
#[derive(Debug, Clone)]
pub struct DaemonConfig {
    pub node: Config,
    pub data_dir: PathBuf,
    pub mnemonic_file: PathBuf,
    pub api: ApiConfig,
    pub zmq: ZmqConfig,
    pub log_level: log::LevelFilter,
    pub log_file: Option<PathBuf>,
    pub storage: StorageConfig,
    /// Serve LSPS2/LSPS5 (`[lsp] enabled = true`).
    pub lsp: Option<LspConfig>,
}

/// The liquidity provider's terms and the token its clients must present. `Debug` leaves the
/// token out.
#[derive(Clone)]
pub struct LspConfig {
    pub service: qtum_lightning::LspServiceConfig,
    pub token: Option<String>,
}

impl std::fmt::Debug for LspConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LspConfig")
            .field("service", &self.service)
            .field("token", &self.token.as_ref().map(|_| "<redacted>"))
            .finish()
    }
}

/// The first line of a secret file (a trailing newline, or anything after the first line, is
/// not part of the secret; the contents never reach an error text).
fn read_secret(key: &str, path: &Path) -> Result<String, ConfigError> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| bad(key, format!("cannot read {}: {}", path.display(), e.kind())))?;
    let line = text
        .lines()
        .next()
        .unwrap_or("")
        .trim_end_matches('\r')
        .to_string();
    if line.is_empty() {
        return Err(bad(key, format!("{} is empty", path.display())));
    }
    Ok(line)
}

fn socket(key: &str, text: &str) -> Result<SocketAddr, ConfigError> {
    text.parse()
        .map_err(|_| bad(key, format!("'{text}' is not an IP:port address")))
}

fn sockets(key: &str, list: &[String]) -> Result<Vec<SocketAddr>, ConfigError> {
    list.iter().map(|t| socket(key, t)).collect()
}

fn relative(base: &Path, p: PathBuf) -> PathBuf {
    if p.is_absolute() {
        p
    } else {
        base.join(p)
    }
}

fn zmq_endpoint(key: &str, v: Option<String>) -> Result<Option<String>, ConfigError> {
    match v {
        None => Ok(None),
        Some(v) => {
            let addr = v
                .strip_prefix("tcp://")
                .ok_or_else(|| bad(key, "must be tcp://host:port"))?;
            if addr
                .rsplit_once(':')
                .and_then(|(_, p)| p.parse::<u16>().ok())
                .is_none()
            {
                return Err(bad(key, "must be tcp://host:port"));
            }
            Ok(Some(v))
        }
    }
}

impl DaemonConfig {
    /// Reads and checks the file at `path`.
    pub fn load(path: &Path) -> Result<DaemonConfig, ConfigError> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| bad("", format!("cannot read {}: {e}", path.display())))?;
        let base = path
            .parent()
            .map(Path::to_path_buf)
            .unwrap_or_else(|| PathBuf::from("."));
        DaemonConfig::parse(&text, &base)
    }

    /// Checks `text` (TOML); relative paths are taken from `base`.
    pub fn parse(text: &str, base: &Path) -> Result<DaemonConfig, ConfigError> {
        let file: FileConfig = toml::from_str(text).map_err(|e| toml_error(text, &e))?;
        let network: Network = file
            .network
            .as_deref()
            .ok_or_else(|| bad("network", "missing (mainnet, testnet or regtest)"))?
            .parse()
            .map_err(|_| bad("network", "must be mainnet, testnet or regtest"))?;
        let data_dir = relative(base, file.data_dir.unwrap_or_else(|| PathBuf::from(".")));

        let chain = file.chain;
        let allow_insecure_http = chain.allow_insecure_http.unwrap_or(false);
        let chain_source = match (&chain.rpc_url, &chain.esplora_urls) {
            (Some(_), Some(_)) => {
                return Err(bad("chain", "give rpc_url or esplora_urls, not both"));
            }
            (None, None) => return Err(bad("chain", "missing: rpc_url or esplora_urls")),
            (Some(url), None) => {
                if chain.esplora_ca_file.is_some() {
                    return Err(bad("chain.esplora_ca_file", "given without esplora_urls"));
                }
                let file_password = match (&chain.rpc_password, &chain.rpc_password_file) {
                    (Some(_), Some(_)) => {
                        return Err(bad(
                            "chain.rpc_password_file",
                            "give rpc_password or rpc_password_file, not both",
                        ))
                    }
                    (None, Some(f)) => Some(read_secret(
                        "chain.rpc_password_file",
                        &relative(base, f.clone()),
                    )?),
                    _ => None,
                };
                let password = chain.rpc_password.clone().or(file_password);
                let auth = match (&chain.rpc_user, &password, &chain.rpc_cookie_file) {
                    (Some(user), Some(password), None) => RpcAuth::UserPass {
                        user: user.clone(),
                        password: password.clone(),
                    },
                    (None, None, Some(cookie)) => {
                        RpcAuth::CookieFile(relative(base, cookie.clone()))
                    }
                    (None, None, None) => RpcAuth::None,
                    (_, _, Some(_)) => {
                        return Err(bad(
                            "chain.rpc_cookie_file",
                            "give rpc_user/rpc_password or rpc_cookie_file, not both",
                        ))
                    }
                    (Some(_), None, None) => {
                        return Err(bad(
                            "chain.rpc_password",
                            "missing, or rpc_password_file (rpc_user is given)",
                        ))
                    }
                    (None, Some(_), None) => {
                        return Err(bad("chain.rpc_user", "missing (rpc_password is given)"))
                    }
                };
                ChainSourceConfig::Rpc {
                    endpoints: vec![RpcEndpointConfig {
                        url: url.clone(),
                        auth,
                        ca_file: chain
                            .rpc_ca_file
                            .clone()
                            .map(|p| relative(base, p).to_string_lossy().into_owned()),
                    }],
                    allow_insecure_http,
                }
            }
            (None, Some(urls)) => {
                if chain.rpc_user.is_some()
                    || chain.rpc_password.is_some()
                    || chain.rpc_password_file.is_some()
                    || chain.rpc_cookie_file.is_some()
                {
                    return Err(bad("chain", "RPC credentials given without rpc_url"));
                }
                if chain.rpc_ca_file.is_some() {
                    return Err(bad(
                        "chain.rpc_ca_file",
                        "given without rpc_url (esplora_ca_file is the Esplora servers' CA)",
                    ));
                }
                let ca_file = chain
                    .esplora_ca_file
                    .clone()
                    .map(|p| relative(base, p).to_string_lossy().into_owned());
                if urls.is_empty() {
                    return Err(bad("chain.esplora_urls", "empty"));
                }
                ChainSourceConfig::Esplora {
                    servers: urls
                        .iter()
                        .map(|url| EsploraServerConfig {
                            url: url.clone(),
                            ca_file: ca_file.clone(),
                        })
                        .collect(),
                    allow_insecure_http,
                }
            }
        };
        chain_source
            .validate(network)
            .map_err(|m| bad("chain", m))?;

        let mut node = Config::new(network, data_dir.clone(), chain_source);
        let n = file.node;
        node.listening_addresses = match n.listen {
            Some(list) => sockets("node.listen", &list)?,
            None => vec![SocketAddr::from((
                [0, 0, 0, 0],
                qtum_lightning::config::DEFAULT_LISTEN_PORT,
            ))],
        };
        if let Some(list) = n.announce {
            node.announced_addresses = sockets("node.announce", &list)?;
        }
        if let Some(alias) = n.alias {
            if alias.len() > 32 {
                return Err(bad("node.alias", "at most 32 bytes"));
            }
            node.alias = alias;
        }
        if let Some(color) = n.color {
            node.color = parse_color(&color).ok_or_else(|| bad("node.color", "must be #rrggbb"))?;
        }
        let mnemonic_file = relative(
            &data_dir,
            n.mnemonic_file.unwrap_or_else(|| PathBuf::from("mnemonic")),
        );

        if let Some(v) = chain.poll_interval_secs {
            if v == 0 || v > 3600 {
                return Err(bad("chain.poll_interval_secs", "must be 1 to 3600"));
            }
            node.sync_interval_secs = v;
        }
        node.wallet_birthday_height = chain.wallet_birthday_height;
        let zmq = ZmqConfig {
            block: zmq_endpoint("chain.zmq_block", chain.zmq_block)?,
            tx: zmq_endpoint("chain.zmq_tx", chain.zmq_tx)?,
        };

        let c = file.channels;
        macro_rules! set {
            ($src:expr => $dst:expr) => {
                if let Some(v) = $src {
                    $dst = v;
                }
            };
        }
        set!(c.min_funding_sat => node.min_channel_size_sat);
        set!(c.max_funding_sat => node.max_channel_size_sat);
        set!(c.funding_confirmations => node.funding_confirmations);
        set!(c.to_self_delay_blocks => node.our_to_self_delay_blocks);
        set!(c.max_to_self_delay_blocks => node.max_to_self_delay_blocks);
        set!(c.cltv_expiry_delta => node.cltv_expiry_delta);
        set!(c.min_final_cltv_expiry_delta => node.min_final_cltv_expiry_delta);
        set!(c.htlc_minimum_msat => node.htlc_minimum_msat);
        set!(c.max_accepted_htlcs => node.max_accepted_htlcs);
        set!(c.fee_base_msat => node.forwarding_fee_base_msat);
        set!(c.fee_proportional_millionths => node.forwarding_fee_proportional_millionths);
        set!(c.accept_inbound => node.accept_inbound_channels);
        let p = file.payments;
        set!(p.invoice_expiry_secs => node.invoice_expiry_secs);
        set!(p.retries => node.payment_retries);
        set!(p.max_route_hops => node.max_route_hops);
        node.validate().map_err(|m| bad(config_key_of(&m), m))?;

        let a = file.api;
        let listen = socket(
            "api.listen",
            a.listen.as_deref().unwrap_or(DEFAULT_API_LISTEN),
        )?;
        let password = match (a.password, a.password_file) {
            (Some(p), None) => p,
            (None, Some(f)) => read_secret("api.password_file", &relative(base, f))?,
            (Some(_), Some(_)) => {
                return Err(bad(
                    "api.password",
                    "give password or password_file, not both",
                ))
            }
            (None, None) => return Err(bad("api.password", "missing (or api.password_file)")),
        };
        if password.len() < 12 {
            return Err(bad("api.password", "at least 12 characters"));
        }
        let tls = match (a.tls_cert, a.tls_key) {
            (Some(c), Some(k)) => Some((relative(base, c), relative(base, k))),
            (None, None) => None,
            (Some(_), None) => return Err(bad("api.tls_key", "missing (api.tls_cert is given)")),
            (None, Some(_)) => return Err(bad("api.tls_cert", "missing (api.tls_key is given)")),
        };
        let max_body_bytes = a.max_body_bytes.unwrap_or(DEFAULT_API_MAX_BODY);
        if !(1024..=16 * 1024 * 1024).contains(&max_body_bytes) {
            return Err(bad("api.max_body_bytes", "must be 1024 to 16777216"));
        }
        let threads = a.threads.unwrap_or(16);
        if !(1..=256).contains(&threads) {
            return Err(bad("api.threads", "must be 1 to 256"));
        }

        let log_level = match file.log.level.as_deref().unwrap_or("info") {
            "error" => log::LevelFilter::Error,
            "warn" => log::LevelFilter::Warn,
            "info" => log::LevelFilter::Info,
            "debug" => log::LevelFilter::Debug,
            "trace" => log::LevelFilter::Trace,
            _ => {
                return Err(bad(
                    "log.level",
                    "must be error, warn, info, debug or trace",
                ))
            }
        };
        let log_file = file.log.file.map(|f| relative(&data_dir, f));
        let st = &file.storage;
        let storage = match st.backend.as_deref().unwrap_or("sqlite") {
            "sqlite" => {
                if st.postgres_url.is_some() {
                    return Err(bad(
                        "storage.postgres_url",
                        "only with backend = \"postgres\"",
                    ));
                }
                if st.postgres_url_file.is_some() {
                    return Err(bad(
                        "storage.postgres_url_file",
                        "only with backend = \"postgres\"",
                    ));
                }
                if st.postgres_ca_file.is_some() {
                    return Err(bad(
                        "storage.postgres_ca_file",
                        "only with backend = \"postgres\"",
                    ));
                }
                StorageConfig::Sqlite
            }
            "postgres" | "postgresql" => {
                let url = match (&st.postgres_url, &st.postgres_url_file) {
                    (Some(url), None) => url.clone(),
                    (None, Some(path)) => read_secret(
                        "storage.postgres_url_file",
                        &relative(&data_dir, path.clone()),
                    )?,
                    (Some(_), Some(_)) => {
                        return Err(bad(
                            "storage.postgres_url",
                            "give postgres_url or postgres_url_file, not both",
                        ))
                    }
                    (None, None) => {
                        return Err(bad(
                            "storage.postgres_url",
                            "required with backend = \"postgres\" (or postgres_url_file)",
                        ))
                    }
                };
                // Only the scheme is checked here; the server refuses what it does not
                // understand at start, with the key named by the daemon.
                if !(url.starts_with("postgresql://")
                    || url.starts_with("postgres://")
                    || url.contains("host=")
                    || url.contains("dbname="))
                {
                    return Err(bad(
                        "storage.postgres_url",
                        "must be postgresql://user@host/dbname or key=value pairs",
                    ));
                }
                let ca_file = match &st.postgres_ca_file {
                    Some(path) => {
                        let path = relative(&data_dir, path.clone());
                        if !path.is_file() {
                            return Err(bad(
                                "storage.postgres_ca_file",
                                format!("{} is not a readable file", path.display()),
                            ));
                        }
                        Some(path)
                    }
                    None => None,
                };
                StorageConfig::Postgres { url, ca_file }
            }
            _ => return Err(bad("storage.backend", "must be sqlite or postgres")),
        };

        let lsp = match file.lsp.enabled {
            Some(true) => {
                let l = &file.lsp;
                let d = qtum_lightning::LspServiceConfig::default();
                let token = match &l.token_file {
                    Some(path) => Some(read_secret(
                        "lsp.token_file",
                        &relative(&data_dir, path.clone()),
                    )?),
                    None => None,
                };
                let webhook_ca_file = match &l.webhook_ca_file {
                    Some(path) => {
                        let path = relative(&data_dir, path.clone());
                        if !path.is_file() {
                            return Err(bad(
                                "lsp.webhook_ca_file",
                                format!("{} is not a readable file", path.display()),
                            ));
                        }
                        Some(path.display().to_string())
                    }
                    None => None,
                };
                let service = qtum_lightning::LspServiceConfig {
                    min_opening_fee_msat: l.min_opening_fee_msat.unwrap_or(d.min_opening_fee_msat),
                    opening_fee_ppm: l.opening_fee_ppm.unwrap_or(d.opening_fee_ppm),
                    min_payment_msat: l.min_payment_msat.unwrap_or(d.min_payment_msat),
                    max_payment_msat: l.max_payment_msat.unwrap_or(d.max_payment_msat),
                    min_channel_lifetime_blocks: l
                        .min_channel_lifetime_blocks
                        .unwrap_or(d.min_channel_lifetime_blocks),
                    max_client_to_self_delay_blocks: l
                        .max_client_to_self_delay_blocks
                        .unwrap_or(d.max_client_to_self_delay_blocks),
                    quote_validity_secs: l.quote_validity_secs.unwrap_or(d.quote_validity_secs),
                    channel_over_provisioning_ppm: l
                        .channel_over_provisioning_ppm
                        .unwrap_or(d.channel_over_provisioning_ppm),
                    webhook_ca_file,
                };
                service
                    .validate(node.max_channel_size_sat)
                    .map_err(|e| bad("lsp", e))?;
                Some(LspConfig { service, token })
            }
            Some(false) | None => None,
        };

        Ok(DaemonConfig {
            node,
            data_dir,
            mnemonic_file,
            api: ApiConfig {
                listen,
                password,
                tls,
                max_body_bytes,
                threads,
            },
            zmq,
            log_level,
            log_file,
            storage,
            lsp,
        })
    }

    /// How long a long poll may wait at most.
    pub fn max_poll() -> Duration {
        Duration::from_secs(60)
    }
}

/// The TOML key an SDK validation message is about (its first word names the SDK field).
fn config_key_of(message: &str) -> &'static str {
    const KEYS: [(&str, &str); 11] = [
        ("announced address", "node.announce"),
        ("our_to_self_delay_blocks", "channels.to_self_delay_blocks"),
        (
            "max_to_self_delay_blocks",
            "channels.max_to_self_delay_blocks",
        ),
        (
            "min_final_cltv_expiry_delta",
            "channels.min_final_cltv_expiry_delta",
        ),
        ("cltv_expiry_delta", "channels.cltv_expiry_delta"),
        ("min_channel_size_sat", "channels.min_funding_sat"),
        ("max_channel_size_sat", "channels.max_funding_sat"),
        ("max_accepted_htlcs", "channels.max_accepted_htlcs"),
        ("funding_confirmations", "channels.funding_confirmations"),
        ("max_route_hops", "payments.max_route_hops"),
        ("invoice_expiry_secs", "payments.invoice_expiry_secs"),
    ];
    KEYS.iter()
        .find(|(field, _)| message.contains(field))
        .map_or("", |(_, key)| key)
}

fn parse_color(text: &str) -> Option<[u8; 3]> {
    let hex = text.strip_prefix('#')?;
    if hex.len() != 6 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    let byte = |i: usize| u8::from_str_radix(&hex[i..i + 2], 16).ok();
    Some([byte(0)?, byte(2)?, byte(4)?])
}

/// A TOML error as the dotted key it is about and toml's message. The key comes from the line
/// the error points at (`name = value`, under the last `[section]` before it); toml's message
/// names the field too for an unknown key.
fn toml_error(text: &str, e: &toml::de::Error) -> ConfigError {
    let message = e.message().trim().to_string();
    let Some(span) = e.span() else {
        return bad("", message);
    };
    let before = &text[..span.start.min(text.len())];
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    let line = text[line_start..].lines().next().unwrap_or("");
    let name = line
        .split_once('=')
        .map(|(k, _)| k.trim().trim_matches('"').to_string())
        .filter(|k| !k.is_empty() && !k.starts_with('['));
    let section = before[..line_start]
        .lines()
        .rev()
        .map(str::trim)
        .find(|l| l.starts_with('[') && l.ends_with(']'))
        .map(|l| l.trim_matches(['[', ']']).trim().to_string());
    let key = match (section, name) {
        (Some(s), Some(n)) => format!("{s}.{n}"),
        (None, Some(n)) => n,
        (Some(s), None) => s,
        (None, None) => String::new(),
    };
    bad(&key, message)
}

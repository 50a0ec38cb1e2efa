//! Node configuration with Qtum's defaults.
//!
//! Qtum blocks come every 32 seconds, so every delay counted in blocks lasts 18.75 times less
//! wall-clock time than on Bitcoin. The defaults below are chosen in wall-clock terms.
//!
//! | setting | default | unit | on Qtum that is |
//! |---|---|---|---|
//! | `listening_addresses` | none: the node does not listen (a phone dials its peers) | | |
//! | `announced_addresses` | none | | where peers can reach a listening node |
//! | `funding_confirmations` | 6 | blocks | ≈ 3.2 minutes |
//! | `our_to_self_delay_blocks` (asked of the peer) | 18,900 | blocks | ≈ 7 days |
//! | `max_to_self_delay_blocks` (accepted from the peer) | 20,160 | blocks | ≈ 7.5 days |
//! | `cltv_expiry_delta` (forwarding) | 288 | blocks | ≈ 2.6 hours |
//! | `min_final_cltv_expiry_delta` (invoices: `c` is 3 more) | 2,697 | blocks | ≈ 1 day |
//! | `dust_limit_sat` (ours; accepted from peers) | 72,800 (72,800 – 364,000) | sat | P2PKH dust at 400 sat/vB |
//! | channel reserve | max(1 % of capacity, 72,800) | sat | |
//! | `min_channel_size_sat` / `max_channel_size_sat` | 1,000,000 / 10,000,000,000 | sat | 0.01 / 100 QTUM |
//! | `htlc_minimum_msat` / `max_accepted_htlcs` | 1 / 30 | msat / count | |
//! | `forwarding_fee_base_msat` / `forwarding_fee_proportional_millionths` | 400,000 / 100 | msat / ppm | 4 sat + 0.01 % |
//! | `invoice_expiry_secs` | 3,600 | seconds | 1 hour |
//! | `payment_retries` | 5 | attempts | |
//! | route fee limit | max(8,400 sat, 3 %) | | |
//! | `max_route_hops` | 6 | hops | |
//! | feerate floor | 101,000 | sat/kW | 404 sat/vB |
//! | fallback feerates (1 / 6 / 72 blocks) | 300,000 / 200,000 / 102,500 | sat/kW | Qtum Eclair's table |
//! | route CLTV budget (paying) | 5,400 | blocks | ≈ 2 days (LDK: 1,008) |
//! | `force_close_avoidance_max_fee_satoshis` | 10,000 | sat | headroom of a cooperative close's fee range |
//! | `sync_interval_secs` | 30 | seconds | about one block |
//! | `wallet_birthday_height` | none (scan from genesis) | height | |
//! | `batch_htlc_processing` | off (HTLCs handled at once) | | LDK's ~50 ms privacy delay when on |
//! | anchors, zero-fee commitments | off | | a 330-sat anchor is dust on Qtum |
//!
//! What a phone app must do for its funds to be safe: come online (start the node and let it
//! sync) at least once every `our_to_self_delay_blocks` (7 days by default) while it has
//! channels: that is how long the peer must wait for its own funds after broadcasting a
//! commitment, so it is our window to answer a revoked one with a justice transaction. While
//! receiving, a payment that was claimed but not yet settled with the peer must be finished
//! within the invoice's `min_final_cltv_expiry_delta` (about one day) of its arrival, or
//! claimed on chain. The fee rules the node answers LDK with are in `qtum_chain::fees`; every
//! block count LDK uses, in Qtum time, is in the repository's `docs/qtum-time.md`.

use std::path::PathBuf;

use crate::qtum::network::Network;

/// The default Lightning port.
pub const DEFAULT_LISTEN_PORT: u16 = 9735;

/// The most blocks a payment we send may lock funds along its route (about two days): the sum
/// of the forwarding deltas, the invoice's `c` and LDK's shadow offset. Under the 8,064 blocks
/// a forwarder running this SDK accepts (LDK's `CLTV_FAR_FAR_AWAY`, patched).
pub const ROUTE_CLTV_BUDGET_BLOCKS: u32 = 5_400;

/// LDK's lowest `to_self_delay` (its `BREAKDOWN_TIMEOUT`, 77 minutes on Qtum).
const MIN_TO_SELF_DELAY_BLOCKS: u16 = 144;
/// The highest `to_self_delay` a node running this SDK accepts from a peer (7.5 days).
const MAX_TO_SELF_DELAY_BLOCKS: u16 = 20_160;

/// One qtumd JSON-RPC endpoint. Its `Debug` redacts the URL and the password.
#[derive(Clone, PartialEq, Eq)]
#[cfg_attr(feature = "uniffi", derive(uniffi::Record))]
pub struct RpcEndpointConfig {
    /// `http://host:port` or `https://host:port` (credentials in `auth`, never in the URL).
    pub url: String,
    /// How to authenticate to this endpoint.
    pub auth: RpcAuth,
    /// A PEM file whose certificates are the only roots this endpoint's `https://` is trusted
    /// by (a private CA); `None` trusts the usual public roots.
    #[cfg_attr(feature = "uniffi", uniffi(default))]
    pub ca_file: Option<String>,
}

/// One Esplora-style REST server. Its `Debug` redacts the URL (an API key in a query string).
#[derive(Clone, PartialEq, Eq)]
#[cfg_attr(feature = "uniffi", derive(uniffi::Record))]
pub struct EsploraServerConfig {
    /// Base URL, e.g. `https://esplora.example/api`.
    pub url: String,
    /// As for [`RpcEndpointConfig::ca_file`].
    #[cfg_attr(feature = "uniffi", uniffi(default))]
    pub ca_file: Option<String>,
}

/// Where the node reads the chain. Its `Debug` redacts the URLs (credentials, query values)
/// and the RPC passwords.
#[derive(Clone, PartialEq, Eq)]
#[cfg_attr(feature = "uniffi", derive(uniffi::Enum))]
pub enum ChainSourceConfig {
    /// Qtum Core JSON-RPC (qtumd, or an RPC proxy in front of it). Several endpoints are tried in
    /// order, the next one taking over when one fails; with two or more, every tip and
    /// confirmation is also compared between them (see the repository's `docs/chain-trust.md`).
    /// Each endpoint has its own credentials and TLS trust (two providers, two accounts).
    Rpc {
        /// The endpoints, in order of preference.
        endpoints: Vec<RpcEndpointConfig>,
        /// On mainnet and testnet, `http://` is refused for anything but this machine
        /// (loopback): on a network, a plain-text chain source can be read and changed by anyone
        /// on the path. Set this to allow it anyway (a VPN, a private network).
        #[cfg_attr(feature = "uniffi", uniffi(default))]
        allow_insecure_http: bool,
    },
    /// Esplora-style REST servers (such as `qtum-esplora`), tried in order, compared like RPC
    /// endpoints.
    Esplora {
        /// The servers, in order of preference.
        servers: Vec<EsploraServerConfig>,
        /// As for `Rpc`.
        #[cfg_attr(feature = "uniffi", uniffi(default))]
        allow_insecure_http: bool,
    },
}

impl ChainSourceConfig {
    /// One qtumd endpoint, trusted by the public roots if `https://`.
    pub fn rpc(url: impl Into<String>, auth: RpcAuth) -> ChainSourceConfig {
        ChainSourceConfig::Rpc {
            endpoints: vec![RpcEndpointConfig {
                url: url.into(),
                auth,
                ca_file: None,
            }],
            allow_insecure_http: false,
        }
    }

    /// One Esplora server, trusted by the public roots if `https://`.
    pub fn esplora(url: impl Into<String>) -> ChainSourceConfig {
        ChainSourceConfig::Esplora {
            servers: vec![EsploraServerConfig {
                url: url.into(),
                ca_file: None,
            }],
            allow_insecure_http: false,
        }
    }

    /// The endpoints' URLs, in order.
    pub fn urls(&self) -> Vec<&str> {
        match self {
            ChainSourceConfig::Rpc { endpoints, .. } => {
                endpoints.iter().map(|e| e.url.as_str()).collect()
            }
            ChainSourceConfig::Esplora { servers, .. } => {
                servers.iter().map(|e| e.url.as_str()).collect()
            }
        }
    }

    /// The endpoints' CA files, in the order of [`ChainSourceConfig::urls`].
    fn ca_files(&self) -> Vec<Option<&str>> {
        match self {
            ChainSourceConfig::Rpc { endpoints, .. } => {
                endpoints.iter().map(|e| e.ca_file.as_deref()).collect()
            }
            ChainSourceConfig::Esplora { servers, .. } => {
                servers.iter().map(|e| e.ca_file.as_deref()).collect()
            }
        }
    }

    /// Checks what the network allows: at least one endpoint, each `http://` or `https://`,
    /// and on mainnet and testnet no plain `http://` beyond loopback unless allowed.
    pub fn validate(&self, network: Network) -> Result<(), String> {
        let allow_insecure_http = match self {
            ChainSourceConfig::Rpc {
                allow_insecure_http,
                ..
            }
            | ChainSourceConfig::Esplora {
                allow_insecure_http,
                ..
            } => *allow_insecure_http,
        };
        if self.urls().is_empty() {
            return Err("the chain source has no endpoint".into());
        }
        for (url, ca_file) in self.urls().into_iter().zip(self.ca_files()) {
            let shown = redact_url(url);
            if ca_file.is_some_and(|f| f.trim().is_empty()) {
                return Err(format!("chain source '{shown}': its ca_file is empty"));
            }
            let Some((scheme, rest)) = url.split_once("://") else {
                return Err(format!(
                    "chain source '{shown}' is not a URL (http:// or https://)"
                ));
            };
            match scheme.to_ascii_lowercase().as_str() {
                "https" => {}
                "http" => {
                    let plain_text_allowed = matches!(network, Network::Regtest)
                        || allow_insecure_http
                        || is_loopback_host(rest);
                    if !plain_text_allowed {
                        return Err(format!(
                            "chain source '{shown}': plain http:// to another machine on {} \
                             (anyone on the path could forge the chain the wallet sees); use \
                             https://, or set allow_insecure_http for a private network",
                            network.as_str()
                        ));
                    }
                }
                other => {
                    return Err(format!(
                        "chain source '{shown}': scheme '{other}' (http:// or https://)"
                    ))
                }
            }
        }
        Ok(())
    }
}

/// Whether the authority part of a URL (after `scheme://`) names this machine.
fn is_loopback_host(rest: &str) -> bool {
    let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
    let host_port = authority.rsplit('@').next().unwrap_or("");
    let host = if let Some(v6) = host_port.strip_prefix('[') {
        v6.split(']').next().unwrap_or("")
    } else {
        host_port.split(':').next().unwrap_or("")
    };
    if host.eq_ignore_ascii_case("localhost") {
        return true;
    }
    host.parse::<std::net::IpAddr>()
        .map(|ip| ip.is_loopback())
        .unwrap_or(false)
}

impl std::fmt::Debug for RpcEndpointConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RpcEndpointConfig")
            .field("url", &redact_url(&self.url))
            .field("auth", &self.auth)
            .field("ca_file", &self.ca_file)
            .finish()
    }
}

impl std::fmt::Debug for EsploraServerConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EsploraServerConfig")
            .field("url", &redact_url(&self.url))
            .field("ca_file", &self.ca_file)
            .finish()
    }
}

impl std::fmt::Debug for ChainSourceConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ChainSourceConfig::Rpc {
                endpoints,
                allow_insecure_http,
            } => f
                .debug_struct("Rpc")
                .field("endpoints", endpoints)
                .field("allow_insecure_http", allow_insecure_http)
                .finish(),
            ChainSourceConfig::Esplora {
                servers,
                allow_insecure_http,
            } => f
                .debug_struct("Esplora")
                .field("servers", servers)
                .field("allow_insecure_http", allow_insecure_http)
                .finish(),
        }
    }
}

use qtum_chain::redact_url;
pub use qtum_chain::rpc::RpcAuth;

/// Everything a node needs to start. See the module docs for the defaults and what they mean
/// in wall-clock time on Qtum.
#[derive(Debug, Clone)]
#[cfg_attr(feature = "uniffi", derive(uniffi::Record))]
pub struct Config {
    /// Qtum network.
    pub network: Network,
    /// Directory for the node's database (created if missing).
    pub storage_dir: PathBuf,
    /// Addresses to accept peers on (`IP:port`, e.g. `0.0.0.0:9735` for a server); empty
    /// (the default) to accept none: a phone dials its peers and needs no open port.
    pub listening_addresses: Vec<std::net::SocketAddr>,
    /// Where peers can reach this node (`host:port`), when that differs from where it listens
    /// (a server behind NAT or a proxy listens on `0.0.0.0:9735` and is reached at its public
    /// address). Used by `node_uri` and in the node announcement; when empty, the listening
    /// addresses with a specific IP are used.
    pub announced_addresses: Vec<std::net::SocketAddr>,
    /// Node alias announced in gossip (at most 32 bytes).
    pub alias: String,
    /// Node color announced in gossip, RGB.
    pub color: [u8; 3],
    /// Where the chain comes from.
    pub chain_source: ChainSourceConfig,
    /// Confirmations before a channel is usable.
    pub funding_confirmations: u32,
    /// The delay we ask the peer to wait before claiming its funds after a force close, in
    /// blocks: our window to react to a revoked commitment.
    pub our_to_self_delay_blocks: u16,
    /// The longest delay we accept from the peer before getting our funds back, in blocks.
    pub max_to_self_delay_blocks: u16,
    /// CLTV delta we require to forward an HTLC, in blocks.
    pub cltv_expiry_delta: u16,
    /// The `c` field of our invoices, in blocks.
    pub min_final_cltv_expiry_delta: u16,
    /// Smallest channel we open or accept, in satoshi.
    pub min_channel_size_sat: u64,
    /// Largest channel we open or accept, in satoshi.
    pub max_channel_size_sat: u64,
    /// Smallest HTLC we accept, in millisatoshi.
    pub htlc_minimum_msat: u64,
    /// Most HTLCs we accept in flight per channel.
    pub max_accepted_htlcs: u16,
    /// Base forwarding fee, in millisatoshi.
    pub forwarding_fee_base_msat: u32,
    /// Proportional forwarding fee, in millionths.
    pub forwarding_fee_proportional_millionths: u32,
    /// Whether to accept channels opened by peers.
    pub accept_inbound_channels: bool,
    /// Default invoice expiry, in seconds.
    pub invoice_expiry_secs: u32,
    /// Payment attempts before giving up.
    pub payment_retries: u32,
    /// Longest route, in hops.
    pub max_route_hops: u8,
    /// How often to poll the chain source, in seconds.
    pub sync_interval_secs: u64,
    /// Height before which the wallet has no history (restores scan from here); `None` scans
    /// from the genesis block.
    pub wallet_birthday_height: Option<u32>,
    /// Hold received and forwarded HTLCs for LDK's random ~50 ms batching delay before acting on
    /// them, which makes timing analysis of payments routed through this node harder. Off by
    /// default: a wallet mostly sends and receives, and the delay is most of a payment's latency.
    pub batch_htlc_processing: bool,
}

impl Config {
    /// A configuration with Qtum's defaults for `network`, storing under `storage_dir` and
    /// reading the chain from `chain_source`.
    pub fn new(
        network: Network,
        storage_dir: impl Into<PathBuf>,
        chain_source: ChainSourceConfig,
    ) -> Config {
        Config {
            network,
            storage_dir: storage_dir.into(),
            listening_addresses: Vec::new(),
            announced_addresses: Vec::new(),
            alias: String::new(),
            color: [0x2e, 0x9a, 0xd0],
            chain_source,
            funding_confirmations: 6,
            our_to_self_delay_blocks: 18_900,
            max_to_self_delay_blocks: 20_160,
            cltv_expiry_delta: 288,
            min_final_cltv_expiry_delta: 2_697,
            min_channel_size_sat: 1_000_000,
            max_channel_size_sat: 100 * 100_000_000,
            htlc_minimum_msat: 1,
            max_accepted_htlcs: 30,
            forwarding_fee_base_msat: 400_000,
            forwarding_fee_proportional_millionths: 100,
            accept_inbound_channels: true,
            invoice_expiry_secs: 3_600,
            payment_retries: 5,
            max_route_hops: 6,
            sync_interval_secs: 30,
            wallet_birthday_height: None,
            batch_htlc_processing: false,
        }
    }

    /// Checks the block counts against what LDK and peers running this SDK accept, so a bad
    /// value is refused when the node is built, not when the first channel opens.
    pub fn validate(&self) -> Result<(), String> {
        let in_range = |name: &str, value: u64, low: u64, high: u64, why: &str| {
            if value < low || value > high {
                Err(format!("{name} = {value}: must be {low} to {high} ({why})"))
            } else {
                Ok(())
            }
        };
        in_range(
            "our_to_self_delay_blocks",
            self.our_to_self_delay_blocks.into(),
            u64::from(MIN_TO_SELF_DELAY_BLOCKS),
            u64::from(MAX_TO_SELF_DELAY_BLOCKS),
            "LDK refuses less; peers running this SDK refuse more",
        )?;
        in_range(
            "max_to_self_delay_blocks",
            self.max_to_self_delay_blocks.into(),
            u64::from(MIN_TO_SELF_DELAY_BLOCKS),
            u64::from(MAX_TO_SELF_DELAY_BLOCKS),
            "LDK caps what it accepts at 20,160",
        )?;
        in_range(
            "funding_confirmations",
            self.funding_confirmations.into(),
            1,
            144,
            "a funder running LDK refuses to wait longer",
        )?;
        in_range(
            "cltv_expiry_delta",
            self.cltv_expiry_delta.into(),
            48,
            u64::from(ROUTE_CLTV_BUDGET_BLOCKS / 4),
            "LDK's minimum; above a quarter of a payer's budget few routes would fit",
        )?;
        // A payer running this SDK must reach us through one forwarding hop: our `c`, the
        // hop's delta and the 80 blocks LDK's router keeps for its random shadow offset.
        let through_one_hop = u32::from(self.cltv_expiry_delta) + 80 + 3;
        in_range(
            "min_final_cltv_expiry_delta",
            self.min_final_cltv_expiry_delta.into(),
            42,
            u64::from(ROUTE_CLTV_BUDGET_BLOCKS.saturating_sub(through_one_hop)),
            "LDK's minimum; above it, no payer could reach us through a forwarding node",
        )?;
        if self.min_channel_size_sat > self.max_channel_size_sat {
            return Err(format!(
                "min_channel_size_sat {} is above max_channel_size_sat {}",
                self.min_channel_size_sat, self.max_channel_size_sat
            ));
        }
        if let Some(a) = self
            .announced_addresses
            .iter()
            .find(|a| a.ip().is_unspecified())
        {
            return Err(format!(
                "announced address {a}: peers cannot dial an unspecified IP"
            ));
        }
        if self.sync_interval_secs == 0 {
            return Err("sync_interval_secs must be at least 1".into());
        }
        self.chain_source.validate(self.network)?;
        Ok(())
    }

    /// Where peers can reach the node: the announced addresses, else the listening ones with a
    /// specific IP (`validate` refuses an unspecified announced IP: nobody can dial it).
    pub(crate) fn reachable_addresses(&self) -> Vec<std::net::SocketAddr> {
        if !self.announced_addresses.is_empty() {
            return self.announced_addresses.clone();
        }
        self.listening_addresses
            .iter()
            .filter(|a| !a.ip().is_unspecified())
            .copied()
            .collect()
    }

    /// The route fee limit for a payment of `amount_msat`: max(8,400 sat, 3 %), in msat.
    pub fn route_fee_limit_msat(amount_msat: u64) -> u64 {
        core::cmp::max(
            8_400_000,
            amount_msat / 100 * 3 + (amount_msat % 100) * 3 / 100,
        )
    }
}

/// LDK's configuration from ours (the defaults table in `crate::config`).
pub(crate) fn ldk_user_config(config: &Config) -> lightning::util::config::UserConfig {
    let mut c = lightning::util::config::UserConfig::default();
    let handshake = &mut c.channel_handshake_config;
    handshake.minimum_depth = config.funding_confirmations;
    handshake.our_to_self_delay = config.our_to_self_delay_blocks;
    handshake.our_htlc_minimum_msat = config.htlc_minimum_msat;
    handshake.our_max_accepted_htlcs = config.max_accepted_htlcs;
    // Anchor outputs are 330 sat: dust on Qtum, so an anchor channel could never force-close.
    handshake.negotiate_anchors_zero_fee_htlc_tx = false;
    handshake.announce_for_forwarding = false;
    // LDK's 10 % would stop a 1-QTUM payment on a 5-QTUM channel; Qtum Eclair allowed 5 QTUM.
    handshake.max_inbound_htlc_value_in_flight_percent_of_channel = 50;
    let limits = &mut c.channel_handshake_limits;
    limits.min_funding_satoshis = config.min_channel_size_sat;
    limits.max_funding_satoshis = config.max_channel_size_sat;
    limits.their_to_self_delay = config.max_to_self_delay_blocks;
    limits.force_announced_channel_preference = false;
    c.channel_config.cltv_expiry_delta = config.cltv_expiry_delta;
    // What a funder may pay above its own commitment rate to end a cooperative close rather
    // than force-close: enough that a peer demanding up to 14,800 sat/kW more than our
    // commitment rate (an older node's fee table) still finds the ranges overlapping.
    c.channel_config.force_close_avoidance_max_fee_satoshis = 10_000;
    c.channel_config.forwarding_fee_base_msat = config.forwarding_fee_base_msat;
    c.channel_config.forwarding_fee_proportional_millionths =
        config.forwarding_fee_proportional_millionths;
    c.accept_inbound_channels = config.accept_inbound_channels;
    c.manually_accept_inbound_channels = false;
    c.accept_forwards_to_priv_channels = true;
    c
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_qtums() {
        let c = Config::new(
            Network::Regtest,
            "/tmp/x",
            ChainSourceConfig::esplora("http://127.0.0.1:1"),
        );
        assert_eq!(c.our_to_self_delay_blocks, 18_900);
        assert!(c.our_to_self_delay_blocks <= c.max_to_self_delay_blocks);
        // An invoice plus several forwarding hops fit a payer's budget, with LDK's 80 blocks of
        // shadow offset; and the defaults pass their own validation.
        assert!(
            c.min_final_cltv_expiry_delta as u32 + 3 + 6 * c.cltv_expiry_delta as u32 + 80
                <= ROUTE_CLTV_BUDGET_BLOCKS
        );
        assert_eq!(c.validate(), Ok(()));
        assert_eq!(c.max_to_self_delay_blocks, 20_160);
        assert!(c.listening_addresses.is_empty(), "a phone does not listen");
        assert_eq!(c.max_channel_size_sat, 10_000_000_000);
    }

    #[test]
    fn out_of_range_block_counts_are_refused() {
        let base = Config::new(
            Network::Regtest,
            "/tmp/x",
            ChainSourceConfig::esplora("http://127.0.0.1:1"),
        );
        let refused = |f: &dyn Fn(&mut Config)| {
            let mut c = base.clone();
            f(&mut c);
            c.validate().expect_err("refused")
        };
        assert!(refused(&|c| c.our_to_self_delay_blocks = 143).contains("our_to_self_delay"));
        assert!(refused(&|c| c.our_to_self_delay_blocks = 20_161).contains("20160"));
        assert!(refused(&|c| c.funding_confirmations = 0).contains("funding"));
        assert!(refused(&|c| c.cltv_expiry_delta = 47).contains("cltv_expiry_delta"));
        assert!(refused(&|c| c.min_final_cltv_expiry_delta = 41).contains("min_final"));
        // The largest `c` that a payer can still reach through one hop is accepted, one more
        // block is not.
        let mut c = base.clone();
        c.min_final_cltv_expiry_delta = (ROUTE_CLTV_BUDGET_BLOCKS - 288 - 83) as u16;
        assert_eq!(c.validate(), Ok(()));
        c.min_final_cltv_expiry_delta += 1;
        assert!(c.validate().is_err());
        assert!(refused(&|c| c.sync_interval_secs = 0).contains("sync_interval"));
    }

    #[test]
    fn debug_shows_no_credentials() {
        let mut c = Config::new(
            Network::Regtest,
            "/tmp/x",
            ChainSourceConfig::rpc(
                "https://rpcuser:hunter2@node.example:443/?apikey=topsecret",
                RpcAuth::UserPass {
                    user: "alice".into(),
                    password: "correct horse".into(),
                },
            ),
        );
        let shown = format!("{c:?}");
        for secret in ["hunter2", "topsecret", "correct horse"] {
            assert!(!shown.contains(secret), "{secret} in {shown}");
        }
        assert!(shown.contains("node.example:443"), "{shown}");
        c.chain_source = ChainSourceConfig::esplora("https://esplora.example/api?key=topsecret");
        let shown = format!("{c:?}");
        assert!(!shown.contains("topsecret") && shown.contains("esplora.example"));
    }

    #[test]
    fn plain_http_chain_sources_only_where_safe() {
        let with = |network, url: &str, allow| {
            ChainSourceConfig::Esplora {
                servers: vec![EsploraServerConfig {
                    url: url.to_string(),
                    ca_file: None,
                }],
                allow_insecure_http: allow,
            }
            .validate(network)
        };
        use Network::*;
        for net in [Mainnet, Testnet] {
            let refused = with(net, "http://esplora.example:3002", false).expect_err("refused");
            assert!(refused.contains("https://"), "{refused}");
            assert!(with(net, "http://10.0.0.7:3002", false).is_err());
            assert!(with(net, "http://127.0.0.1.evil.example", false).is_err());
            assert!(with(net, "http://localhost.evil.example:80", false).is_err());
            assert!(with(net, "http://esplora.example:3002", true).is_ok());
            for ok in [
                "https://esplora.example/api",
                "http://127.0.0.1:3002",
                "http://localhost:3889",
                "http://[::1]:3889/",
                "http://user:p%40ss@127.0.0.1:3889",
            ] {
                assert_eq!(with(net, ok, false), Ok(()), "{ok}");
            }
        }
        assert!(with(Regtest, "http://10.0.0.7:3002", false).is_ok());
        assert!(with(Mainnet, "ftp://esplora.example", false).is_err());
        assert!(with(Mainnet, "esplora.example:3002", false).is_err());
        let none = ChainSourceConfig::Esplora {
            servers: vec![],
            allow_insecure_http: false,
        };
        assert!(none.validate(Regtest).is_err());
        // A CA file per server; an empty one is refused, naming the server.
        let cas = ChainSourceConfig::Rpc {
            endpoints: vec![
                RpcEndpointConfig {
                    url: "https://a.example".into(),
                    auth: RpcAuth::None,
                    ca_file: Some("/etc/a-ca.pem".into()),
                },
                RpcEndpointConfig {
                    url: "https://b.example".into(),
                    auth: RpcAuth::None,
                    ca_file: Some(" ".into()),
                },
            ],
            allow_insecure_http: false,
        };
        let refused = cas.validate(Mainnet).expect_err("empty CA file");
        assert!(
            refused.contains("b.example") && refused.contains("ca_file"),
            "{refused}"
        );
        // The error never shows credentials.
        let shown = with(Mainnet, "http://alice:hunter2@node.example:3889", false).unwrap_err();
        assert!(!shown.contains("hunter2"), "{shown}");
    }

    #[test]
    fn route_fee_limit() {
        assert_eq!(Config::route_fee_limit_msat(1_000), 8_400_000);
        assert_eq!(Config::route_fee_limit_msat(1_000_000_000), 30_000_000);
        assert_eq!(Config::route_fee_limit_msat(u64::MAX), u64::MAX / 100 * 3);
    }

    #[test]
    fn passwords_stay_out_of_debug() {
        let auth = RpcAuth::UserPass {
            user: "u".into(),
            password: "hunter2".into(),
        };
        assert!(!format!("{auth:?}").contains("hunter2"));
    }
}

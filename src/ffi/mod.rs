//! What the UniFFI bindings (Kotlin, Swift, Python) need beyond the real types.
//!
//! The records, enums and errors cross the FFI as themselves (`#[cfg_attr(feature = "uniffi",
//! derive(...))]` where they live). This module only adapts:
//!
//! | item | why it is here |
//! |---|---|
//! | [`Builder`], [`Node`] | UniFFI objects are shared `Arc`s: the builder needs interior mutability, the node gets `*_async` variants and foreign listeners |
//! | [`EventListener`], [`LogWriter`] | traits the app implements in Kotlin/Swift/Python; a thrown exception never unwinds into the node |
//! | custom types | `PathBuf`, public keys and the alias color cross as strings |
//! | remote enums | `Network`, `RpcAuth` and `WordCount` come from the workspace's other crates |
//! | free functions | mnemonics, node URIs, the default configuration |
//!
//! Timeouts cross as milliseconds, not `Duration`: UniFFI maps `Duration` to `java.time.Duration`,
//! which Android has only from API 26, and the SDK supports API 24.

pub mod logging;
pub mod node;

use std::path::PathBuf;

use std::net::SocketAddr;

use bitcoin::secp256k1::PublicKey;

use crate::config::{ChainSourceConfig, Config, RpcAuth};
use crate::error::{BuildError, NodeError};
use crate::peer::NodeUri;
use crate::qtum::network::Network;
use qtum_wallet::keys::{WalletSeed, WordCount};

pub use logging::{set_log_writer, LogLevel, LogRecord, LogWriter};
pub use node::{Builder, EventListener, Node};

// ----- types of other crates, crossing as they are -----

/// A Qtum network.
#[uniffi::remote(Enum)]
pub enum Network {
    /// Qtum mainnet.
    Mainnet,
    /// Qtum testnet.
    Testnet,
    /// Qtum regtest (local test chains).
    Regtest,
}

/// How the node authenticates to qtumd. The password never reaches a log.
#[uniffi::remote(Enum)]
pub enum RpcAuth {
    /// No `Authorization` header (an RPC proxy that authenticates otherwise).
    None,
    /// `-rpcuser`/`-rpcpassword`.
    UserPass {
        /// RPC user.
        user: String,
        /// RPC password.
        password: String,
    },
    /// qtumd's `.cookie` file (a path).
    CookieFile(PathBuf),
}

/// Number of words of a new recovery phrase.
#[uniffi::remote(Enum)]
pub enum WordCount {
    /// 12 words, 128 bits of entropy.
    Words12,
    /// 24 words, 256 bits of entropy.
    Words24,
}

// ----- custom types: crossing as strings -----

uniffi::custom_type!(PathBuf, String, {
    remote,
    lower: |path| path.to_string_lossy().into_owned(),
    try_lift: |text| Ok(PathBuf::from(text)),
});

// A node id from a foreign caller is checked where it enters; a bad one is a typed
// `NodeError::InvalidNodeId` (UniFFI hands an argument's lift error to the function's own error
// type when it is that type).
uniffi::custom_type!(PublicKey, String, {
    remote,
    lower: |key| key.to_string(),
    try_lift: |text| text
        .trim()
        .parse::<PublicKey>()
        .map_err(|e| NodeError::InvalidNodeId(format!("{text}: {e}")).into()),
});

// A listening or announced address crosses as `"IP:port"`; a bad one is refused when the
// configuration enters (`BuildError::InvalidConfig`, naming it).
uniffi::custom_type!(SocketAddr, String, {
    remote,
    lower: |address| address.to_string(),
    try_lift: |text| text
        .trim()
        .parse::<SocketAddr>()
        .map_err(|e| BuildError::InvalidConfig(format!("address {text}: {e} (expected IP:port)")).into()),
});

/// The alias color, RGB. Crosses as `"#rrggbb"`.
pub type Rgb = [u8; 3];

uniffi::custom_type!(Rgb, String, {
    remote,
    lower: |rgb| format!("#{:02x}{:02x}{:02x}", rgb[0], rgb[1], rgb[2]),
    try_lift: |text| parse_rgb(&text).map_err(Into::into),
});

fn parse_rgb(text: &str) -> Result<Rgb, BuildError> {
    let hex = text.trim().trim_start_matches('#');
    let bad = || BuildError::InvalidConfig(format!("color '{text}' is not #rrggbb"));
    if hex.len() != 6 || !hex.is_ascii() {
        return Err(bad());
    }
    let mut rgb = [0u8; 3];
    for (i, byte) in rgb.iter_mut().enumerate() {
        *byte = u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).map_err(|_| bad())?;
    }
    Ok(rgb)
}

// ----- free functions -----

/// A configuration with Qtum's defaults (see `Config`'s documentation for the table) for
/// `network`, storing under `storage_dir` and reading the chain from `chain_source`.
#[uniffi::export]
pub fn default_config(
    network: Network,
    storage_dir: String,
    chain_source: ChainSourceConfig,
) -> Config {
    Config::new(network, storage_dir, chain_source)
}

/// What a liquidity provider offers with Qtum's defaults (0.002 QTUM or 1 % opening fee,
/// payments of 0.01 to 10 QTUM, channels kept 30 days); see `LspServiceConfig`.
#[uniffi::export]
pub fn default_lsp_service_config() -> crate::node::LspServiceConfig {
    crate::node::LspServiceConfig::default()
}

/// The opening fee `quote` charges for a payment of `amount_msat`, in millisatoshi (`None` on
/// overflow).
#[uniffi::export]
pub fn jit_quote_fee(quote: crate::node::JitQuote, amount_msat: u64) -> Option<u64> {
    quote.fee_for(amount_msat)
}

/// A chain source of one qtumd JSON-RPC endpoint (`ChainSourceConfig.Rpc` with more endpoints
/// for failover and comparison, or a private CA).
#[uniffi::export]
pub fn rpc_chain_source(url: String, auth: RpcAuth) -> ChainSourceConfig {
    ChainSourceConfig::rpc(url, auth)
}

/// A chain source of one Esplora server (`ChainSourceConfig.Esplora` for more servers or a
/// private CA).
#[uniffi::export]
pub fn esplora_chain_source(url: String) -> ChainSourceConfig {
    ChainSourceConfig::esplora(url)
}

/// A fresh English BIP39 recovery phrase from the operating system's randomness.
#[uniffi::export]
pub fn generate_mnemonic(word_count: WordCount) -> Result<String, BuildError> {
    WalletSeed::generate(word_count, None)
        .map_err(|e| BuildError::InvalidEntropy(e.to_string()))?
        .mnemonic_phrase()
        .ok_or_else(|| BuildError::InvalidEntropy("no phrase was generated".into()))
}

/// Check a recovery phrase (word list, count and checksum) before using it. The error says
/// which word is wrong, never echoing the phrase.
#[uniffi::export]
pub fn validate_mnemonic(mnemonic: String) -> Result<(), BuildError> {
    WalletSeed::from_mnemonic(&mnemonic, None)
        .map(|_| ())
        .map_err(|e| BuildError::InvalidEntropy(e.to_string()))
}

/// Read `pubkey@host:port` (the port defaults to 9735).
#[uniffi::export]
pub fn parse_node_uri(uri: String) -> Result<NodeUri, NodeError> {
    uri.parse::<NodeUri>()
        .map_err(|e| NodeError::InvalidNodeUri(e.to_string()))
}

/// Write a node URI as `pubkey@host:port` (IPv6 hosts in brackets).
#[uniffi::export]
pub fn node_uri_to_string(uri: NodeUri) -> String {
    uri.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn colors_cross_as_hex() {
        assert_eq!(parse_rgb("#2e9ad0"), Ok([0x2e, 0x9a, 0xd0]));
        assert_eq!(parse_rgb("FFFFFF"), Ok([255, 255, 255]));
        for bad in ["", "#12345", "#gggggg", "#12345é"] {
            assert!(
                matches!(parse_rgb(bad), Err(BuildError::InvalidConfig(_))),
                "{bad}"
            );
        }
    }

    #[test]
    fn mnemonic_helpers() {
        let phrase = generate_mnemonic(WordCount::Words12).expect("generate");
        assert_eq!(phrase.split_whitespace().count(), 12);
        validate_mnemonic(phrase.clone()).expect("valid");
        // A fixed phrase with a bad checksum (swapping words of a random phrase keeps a valid
        // 4-bit checksum one time in 16, which made this test flaky).
        let bad_checksum = ["abandon"; 12].join(" ");
        let err = validate_mnemonic(bad_checksum.clone()).expect_err("checksum");
        assert!(matches!(err, BuildError::InvalidEntropy(_)));
        assert!(
            !err.to_string().contains(&bad_checksum),
            "never echoes the phrase"
        );
        let good = format!("{} about", ["abandon"; 11].join(" "));
        validate_mnemonic(good).expect("the BIP39 test phrase is valid");
        assert!(matches!(
            validate_mnemonic("hello world".into()),
            Err(BuildError::InvalidEntropy(_))
        ));
    }

    #[test]
    fn node_uri_helpers() {
        let key = "02".to_string() + &"11".repeat(32);
        let err = parse_node_uri(format!("{key}@127.0.0.1:9735")).expect_err("not a point");
        assert!(matches!(err, NodeError::InvalidNodeUri(_)));
        let key = "0279be667ef9dcbbac55a06295ce870b07029bfcdb2dce28d959f2815b16f81798";
        let uri = parse_node_uri(format!("{key}@[::1]:9736")).expect("parse");
        assert_eq!(uri.port, 9736);
        assert_eq!(node_uri_to_string(uri), format!("{key}@[::1]:9736"));
    }
}

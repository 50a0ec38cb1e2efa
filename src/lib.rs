//! A Lightning Network node SDK for Qtum, built on LDK.
//!
//! | module | what it holds |
//! |---|---|
//! | [`qtum`] | Qtum networks, block headers and blocks, addresses, relay policy, BOLT 11 invoices |
//! | [`config`] | the node's configuration and its Qtum defaults (with wall-clock times) |
//! | [`peer`] | `pubkey@host:port` node URIs |
//! | [`event`] | the persisted, acknowledged event queue and the push listener |
//! | [`io`] | the node's SQLite database: LDK's key-value store and our tables |
//! | `ffi` | (feature `uniffi`) what the Kotlin, Swift and Python bindings need beyond the real types |
//! | [`node`] | [`Builder`] and [`Node`]: lifecycle, peers, channels, payments, on-chain wallet |
//! | [`payment`] | the payment store |
//! | [`error`] | [`BuildError`] and [`NodeError`] |
//!
//! LDK, `lightning-invoice` and `bitcoin` are used through the small Qtum patch set in
//! `patches/` (chain hashes, invoice prefixes, dust, reserve and fee floors, the to_self_delay
//! cap); the build refuses to compile against unpatched copies.
#![deny(missing_docs)]
#![cfg_attr(not(test), deny(clippy::unwrap_used))]

pub mod config;
pub mod error;
pub mod event;
#[cfg(feature = "uniffi")]
pub mod ffi;
pub mod io;
mod logger;
pub mod node;
mod patch_check;
pub mod payment;
pub mod peer;
pub mod qtum;
pub mod types;

// The UniFFI scaffolding (`crate::UniFfiTag`, the exported functions) lives at the crate root.
#[cfg(feature = "uniffi")]
uniffi::setup_scaffolding!("qtum_lightning");

pub use config::{ChainSourceConfig, Config, EsploraServerConfig, RpcAuth, RpcEndpointConfig};
pub use error::{BuildError, NodeError};
pub use event::{CloseKind, Event, EventListener, PaymentFailureKind};
pub use node::{
    BackupInfo, BackupPolicy, Balances, Builder, ChannelInfo, ChannelRecovery, CloseSource,
    ClosingBalance, ClosingStatus, InvoicePreview, JitInvoice, JitQuote, LspServiceConfig, Node,
    NodeStatus, OnchainBalance, OnchainFeeBump, OnchainFeeRates, OnchainSendPreview,
    OnchainTransaction, OnchainTxKind, ParsedInput, PaymentFeeEstimate, PeerInfo, PendingSweep,
    RecoveredOutput, SendOptions, SweepStatus,
};
pub use payment::store::{
    CustomRecord, PaymentDetails, PaymentDirection, PaymentFilter, PaymentKind, PaymentStatus,
};
pub use types::{
    ChannelId, OutPoint, PaymentHash, PaymentId, PaymentPreimage, PublicKey, Txid, UserChannelId,
};

/// The README's Rust example, compiled as a doctest by `cargo test` so it cannot drift from the
/// API.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeExamples;

/// `now + timeout`, or about a century from now when that does not fit an `Instant` (an app
/// passing `Duration::MAX` or `u64::MAX` milliseconds means "no limit", not a panic).
pub(crate) fn deadline_after(timeout: std::time::Duration) -> std::time::Instant {
    let now = std::time::Instant::now();
    now.checked_add(timeout)
        .or_else(|| now.checked_add(std::time::Duration::from_secs(100 * 365 * 24 * 3600)))
        .unwrap_or(now)
}

#[cfg(test)]
mod deadline_tests {
    #[test]
    fn huge_timeouts_do_not_overflow() {
        let far = super::deadline_after(std::time::Duration::MAX);
        assert!(far > std::time::Instant::now() + std::time::Duration::from_secs(3600));
        let soon = super::deadline_after(std::time::Duration::from_millis(5));
        assert!(soon <= std::time::Instant::now() + std::time::Duration::from_millis(5));
    }
}

//! Qtum primitives: networks, block headers and blocks, addresses, relay policy.
//!
//! Qtum reuses Bitcoin's transaction format, scripts and sighashes, so this crate builds on the
//! `bitcoin` crate for those and only adds what Qtum changes:
//!
//! | module | what Qtum changes |
//! |---|---|
//! | [`network`] | genesis blocks, chain hashes, magic bytes, ports, address prefixes, HRPs, timing |
//! | [`header`] | the 181+ byte header (state roots, staked prevout, block signature) and its hash |
//! | [`block`] | blocks carrying that header; PoS-aware witness commitment |
//! | [`merkle_block`] | `gettxoutproof` inclusion proofs with that header |
//! | [`address`] | base58 version bytes and bech32 HRPs (`qc`, `tq`, `qcrt`) |
//! | [`policy`] | relay fee and dust thresholds at 400 sat/vB |
//!
//! Nothing here relies on `bitcoin`'s own network constants (`ChainHash::BITCOIN`,
//! `genesis_block()`, dust helpers): the workspace patches some of them for Qtum and this crate
//! must give the same answers with or without that patch.
#![deny(missing_docs)]
#![cfg_attr(not(test), deny(clippy::unwrap_used))]

pub mod address;
pub mod block;
mod codec;
mod genesis;
pub mod header;
mod hex_const;
pub mod merkle_block;
pub mod network;
pub mod policy;

pub use address::{AddressError, AddressType, QtumAddress};
pub use block::{BlockError, QtumBlock};
pub use header::{HeaderError, QtumHeader, StakeSignatureError};
pub use merkle_block::{MerkleProofError, QtumMerkleBlock};
pub use network::{Network, ParseNetworkError, COIN, MAX_MONEY, MAX_REORG_DEPTH};

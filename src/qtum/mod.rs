//! Qtum-specific primitives: networks, headers and blocks, addresses, relay policy and BOLT 11.
//!
//! The chain codecs live in the `qtum-primitives` workspace crate (shared with the regtest
//! harness and the Esplora server, which do not need LDK) and are re-exported here.

pub use qtum_primitives::{address, block, header, network, policy};

pub mod invoice;

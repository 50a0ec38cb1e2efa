//! A Qtum regtest node for one machine that validates like qtumd.
//!
//! - [`chain`]: blocks, active chain, UTXO set, indexes, mempool acceptance, reorgs.
//! - [`validation`] and [`policy`]: qtumd's consensus and relay rules with its reject strings.
//! - [`interp`]: the standard-flag script rules libbitcoinconsensus cannot enforce.
//! - [`miner`]: block assembly and PoW.
//! - [`rpc`]: qtumd's JSON-RPC over HTTP.
//! - [`node`]: [`RegtestNode`], the in-process handle.
//!
//! See the crate README for usage and the known differences from qtumd.
#![doc = include_str!("../README.md")]
#![deny(missing_docs)]
#![cfg_attr(not(test), deny(clippy::unwrap_used))]

pub mod chain;
pub mod interp;
pub mod json;
pub mod mempool;
pub mod miner;
pub mod node;
mod notify;
pub mod params;
pub mod policy;
pub mod rpc;
pub mod script;
pub mod store;
pub mod validation;
pub mod wallet;

pub use node::{NodeConfig, NodeError, RegtestNode, StartError};

//! A Lightning Network node SDK for Qtum, built on LDK.
//!
//! - [`qtum`]: Qtum networks, block headers and blocks, addresses, relay policy, BOLT 11 invoices.
//!
//! LDK, `lightning-invoice` and `bitcoin` are used through the small Qtum patch set in
//! `patches/` (chain hashes, invoice prefixes, dust, reserve and fee floors, the to_self_delay
//! cap); the build refuses to compile against unpatched copies.
#![deny(missing_docs)]

pub mod io;
mod patch_check;
pub mod qtum;

//! Qtum primitives: networks, block headers and blocks, addresses, relay policy.
#![deny(missing_docs)]

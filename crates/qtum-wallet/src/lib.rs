//! The SDK's on-chain Qtum wallet.
//!
//! A BIP39 mnemonic (or raw seed) gives both the wallet's keys and the Lightning node's seed;
//! the wallet is BIP84 P2WPKH at Qtum Core's path and formats addresses for Qtum
//! (`qc1…`/`tq1…`/`qcrt1…`), syncs through any [`qtum_chain::ChainSource`], persists in the
//! node's database, SQLite or PostgreSQL (through the node's one [`SharedConnection`], or an
//! SQLite file of its own when standalone), and builds transactions that Qtum's relay policy
//! accepts: at least 400 sat/vB, no output below Qtum's dust thresholds (39,200 sat for P2WPKH).
//!
//! | module | job |
//! |---|---|
//! | [`keys`] | mnemonic → seed → account keys and LDK seed (derivation table there) |
//! | [`fees`] | fee rates and weights at Qtum's relay policy |
//! | `coin_selection` | branch and bound, then largest first; dust change folded into the fee |
//! | `state` | transactions → unspent outputs, trust, maturity |
//! | `store` | tables `wallet_*` (SQLite or PostgreSQL) on a [`SharedConnection`], versioned with migrations; ownership and durability |
//! | [`wallet`] | the [`Wallet`]: addresses, balance, history, sync, send, LDK funding and sweeps |
//!
//! Key derivation (all networks):
//!
//! | what | path |
//! |---|---|
//! | receive address *i* | `m/84'/88'/0'/0/i` |
//! | change *i* (also LDK sweep destinations) | `m/84'/88'/0'/1/i` |
//! | LDK `KeysManager` seed | private key bytes of `m/535'` |
#![deny(missing_docs)]
#![cfg_attr(not(test), deny(clippy::unwrap_used))]

mod coin_selection;
mod error;
pub mod fees;
pub mod keys;
mod state;
mod store;
pub mod wallet;

pub use error::WalletError;
pub use keys::{KeyError, Keychain, WalletSeed, WordCount};
pub use state::Confirmation;
pub use store::SharedConnection;
pub use wallet::{
    Balance, FeeBump, PreparedSend, SyncSummary, TransactionDetails, Utxo, Wallet, WalletConfig,
};

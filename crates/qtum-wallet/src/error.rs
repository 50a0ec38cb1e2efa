//! The wallet's runtime error: flat variants a UI can switch on, messages it can show.

use core::fmt;

use qtum_chain::ChainError;
use qtum_primitives::address::AddressError;

use crate::keys::KeyError;

/// What can go wrong in a wallet call.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum WalletError {
    /// The mnemonic or seed was refused.
    Key(KeyError),
    /// The address is not a valid Qtum address of the wallet's network (a Bitcoin address, an
    /// address of another Qtum network, a typo).
    InvalidAddress(AddressError),
    /// The amount would create an output Qtum nodes refuse to relay.
    AmountBelowDust {
        /// Amount asked for.
        amount_sat: u64,
        /// Smallest amount this destination accepts.
        dust_threshold_sat: u64,
    },
    /// Not enough spendable funds for the amount plus the fee.
    InsufficientFunds {
        /// Amount plus the fee it would need (an estimate when even all coins fall short).
        needed_sat: u64,
        /// What the wallet can spend now (confirmed and own change, not locked, not immature).
        available_sat: u64,
    },
    /// The fee rate is below what Qtum nodes relay.
    FeeRateTooLow {
        /// Rate asked for, sat/vB.
        requested_sat_per_vb: u64,
        /// Qtum's relay minimum, sat/vB.
        minimum_sat_per_vb: u64,
    },
    /// The fee rate is above what a Qtum node accepts by default (1 QTUM/kvB): surely a mistake.
    FeeRateTooHigh {
        /// Rate asked for, sat/vB.
        requested_sat_per_vb: u64,
        /// Highest accepted rate, sat/vB.
        maximum_sat_per_vb: u64,
    },
    /// The transaction would exceed the standard weight limit (too many small coins).
    TransactionTooLarge {
        /// Its weight in weight units.
        weight: u64,
    },
    /// The network refused the transaction; nothing was spent.
    Rejected {
        /// The node's error code (-26 policy, -25 missing inputs, …).
        code: i64,
        /// The node's reason (e.g. `dust`, `min relay fee not met`).
        reason: String,
    },
    /// The chain source failed (unreachable, bad answer).
    Chain(ChainError),
    /// A prepared transaction spends coins that are no longer available; prepare it again.
    StalePreparation,
    /// The transaction cannot be replaced by one paying more (not the wallet's, confirmed,
    /// not signalling replaceability, or already built upon); the text says which.
    CannotBump(String),
    /// The database failed.
    Store(String),
    /// The database holds another wallet (other seed or network); it is never overwritten.
    StoreMismatch(String),
    /// The database was written by a newer version of this software.
    StoreTooNew {
        /// Schema version found.
        found: u32,
        /// Newest version this build reads.
        supported: u32,
    },
}

impl fmt::Display for WalletError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            WalletError::Key(e) => e.fmt(f),
            WalletError::InvalidAddress(e) => write!(f, "invalid address: {e}"),
            WalletError::AmountBelowDust {
                amount_sat,
                dust_threshold_sat,
            } => write!(
                f,
                "{amount_sat} sat is too small to send to this address: Qtum nodes refuse \
                 outputs below {dust_threshold_sat} sat"
            ),
            WalletError::InsufficientFunds {
                needed_sat,
                available_sat,
            } => write!(
                f,
                "insufficient funds: {needed_sat} sat needed including the fee, \
                 {available_sat} sat available"
            ),
            WalletError::FeeRateTooLow {
                requested_sat_per_vb,
                minimum_sat_per_vb,
            } => write!(
                f,
                "fee rate {requested_sat_per_vb} sat/vB is below Qtum's minimum of \
                 {minimum_sat_per_vb} sat/vB"
            ),
            WalletError::FeeRateTooHigh {
                requested_sat_per_vb,
                maximum_sat_per_vb,
            } => write!(
                f,
                "fee rate {requested_sat_per_vb} sat/vB is above the maximum of \
                 {maximum_sat_per_vb} sat/vB"
            ),
            WalletError::TransactionTooLarge { weight } => write!(
                f,
                "the transaction would be too large ({weight} weight units): send a smaller \
                 amount"
            ),
            WalletError::Rejected { code, reason } => {
                write!(f, "the network refused the transaction ({code}): {reason}")
            }
            WalletError::Chain(e) => e.fmt(f),
            WalletError::StalePreparation => f.write_str(
                "the prepared transaction spends coins that are no longer available; prepare \
                 it again",
            ),
            WalletError::CannotBump(why) => write!(f, "cannot raise this transaction's fee: {why}"),
            WalletError::Store(why) => write!(f, "wallet database error: {why}"),
            WalletError::StoreMismatch(why) => write!(f, "wallet database mismatch: {why}"),
            WalletError::StoreTooNew { found, supported } => write!(
                f,
                "the wallet database has version {found}, newer than this software reads \
                 ({supported}): update the app"
            ),
        }
    }
}

impl std::error::Error for WalletError {}

impl From<KeyError> for WalletError {
    fn from(e: KeyError) -> Self {
        WalletError::Key(e)
    }
}

impl From<AddressError> for WalletError {
    fn from(e: AddressError) -> Self {
        WalletError::InvalidAddress(e)
    }
}

impl From<ChainError> for WalletError {
    fn from(e: ChainError) -> Self {
        match e {
            ChainError::Rejected { code, reason } => WalletError::Rejected { code, reason },
            other => WalletError::Chain(other),
        }
    }
}

impl From<qtum_sql::Error> for WalletError {
    /// The database's message: SQLite's, or PostgreSQL's primary message (without the detail
    /// line that can quote row values). The wallet's statements bind no secrets (transactions,
    /// outpoints, cursors, the account's public key hash), and the server's address and
    /// credentials belong to the connection's owner, never to a statement.
    fn from(e: qtum_sql::Error) -> Self {
        WalletError::Store(e.to_string())
    }
}

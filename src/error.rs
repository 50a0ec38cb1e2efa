//! The two error types a caller switches on: [`BuildError`] when building a node,
//! [`NodeError`] for everything a running node is asked to do. Variants are flat and their
//! messages are written for a person reading them in an app.

use core::fmt;

/// Why a node could not be built.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "uniffi", derive(uniffi::Error), uniffi(flat_error))]
pub enum BuildError {
    /// The mnemonic, passphrase or seed bytes are not usable.
    InvalidEntropy(String),
    /// The configuration is inconsistent (a listening address that does not parse, …).
    InvalidConfig(String),
    /// The storage directory or database cannot be opened or created.
    Storage(String),
    /// Another node (in this process or another) has the storage directory open.
    StorageLocked(String),
    /// The database is damaged: not a database, truncated, failing its integrity check, or its
    /// write-ahead log is missing after an unclean stop. Nothing was modified.
    StorageCorrupt(String),
    /// The database was written by a newer version of the SDK. Nothing was modified.
    StorageTooNew(String),
    /// Stored data cannot be read (corrupt, or written by a newer SDK). Nothing is overwritten.
    ReadFailed(String),
    /// The stored node was made with another seed or another network.
    WrongStore(String),
    /// The chain source is unusable (bad URL, bad credentials).
    ChainSource(String),
    /// The file given to restore from is not a usable backup (not a backup, damaged or changed,
    /// a newer format).
    BackupInvalid(String),
    /// The backup is of another node: another mnemonic or passphrase.
    BackupWrongSeed(String),
    /// The backup is of a node on another network.
    BackupWrongNetwork(String),
    /// A restore was asked into a storage directory that already holds a node.
    RestoreTargetNotEmpty(String),
    /// The backup server holds no backup of this node.
    BackupNotFound(String),
    /// The backup server could not be reached or gave no usable answer.
    BackupUnavailable(String),
    /// A new, empty node was asked for, but the backup server holds a backup of this node:
    /// restore it instead (an empty node would meet its peers with no channel state).
    BackupFound(String),
}

impl fmt::Display for BuildError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BuildError::InvalidEntropy(w) => write!(f, "invalid seed or mnemonic: {w}"),
            BuildError::InvalidConfig(w) => write!(f, "invalid configuration: {w}"),
            BuildError::Storage(w) => write!(f, "cannot open the node's storage: {w}"),
            BuildError::StorageLocked(w) => write!(f, "the node's storage is locked: {w}"),
            BuildError::StorageCorrupt(w) => write!(f, "the node's storage is damaged: {w}"),
            BuildError::StorageTooNew(w) => {
                write!(f, "the node's storage is from a newer SDK: {w}")
            }
            BuildError::ReadFailed(w) => write!(f, "cannot read the node's stored state: {w}"),
            BuildError::WrongStore(w) => write!(f, "this storage belongs to another node: {w}"),
            BuildError::ChainSource(w) => write!(f, "chain source: {w}"),
            BuildError::BackupInvalid(w) => write!(f, "cannot restore this backup: {w}"),
            BuildError::BackupWrongSeed(w) => {
                write!(f, "the backup belongs to another seed: {w}")
            }
            BuildError::BackupWrongNetwork(w) => {
                write!(f, "the backup is for another network: {w}")
            }
            BuildError::RestoreTargetNotEmpty(w) => {
                write!(f, "cannot restore over an existing node: {w}")
            }
            BuildError::BackupNotFound(w) => write!(f, "no backup to restore: {w}"),
            BuildError::BackupUnavailable(w) => write!(f, "cannot fetch the backup: {w}"),
            BuildError::BackupFound(w) => write!(f, "this node has a backup: {w}"),
        }
    }
}

impl std::error::Error for BuildError {}

/// Why a call on a node failed. The node itself is unaffected unless the variant says so.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "uniffi", derive(uniffi::Error), uniffi(flat_error))]
pub enum NodeError {
    /// The node is not running (call `start`).
    NotRunning,
    /// A `pubkey@host:port` could not be read.
    InvalidNodeUri(String),
    /// A node id is not valid.
    InvalidNodeId(String),
    /// The peer could not be reached.
    ConnectionFailed(String),
    /// We have no connection to that peer.
    PeerNotConnected(String),
    /// An amount is zero, too small, too large or not what the call needs.
    InvalidAmount(String),
    /// No channel with that id.
    UnknownChannel(String),
    /// LDK refused the channel operation (limits, state).
    ChannelFailed(String),
    /// Not enough on-chain funds.
    InsufficientFunds(String),
    /// An on-chain address that does not parse or is for another network.
    InvalidAddress(String),
    /// An invoice that does not parse or cannot be paid.
    InvalidInvoice(String),
    /// An invoice or address for another network or another blockchain.
    WrongNetwork(String),
    /// The invoice was made by this node.
    CannotPayOwnInvoice,
    /// More than the channels can send now.
    InsufficientCapacity(String),
    /// The invoice has expired.
    InvoiceExpired,
    /// A payment with that hash is already pending or succeeded.
    DuplicatePayment,
    /// The payment could not be started (no route, over capacity, paying ourselves).
    PaymentFailed(String),
    /// No payment with that id.
    UnknownPayment(String),
    /// The chain source failed; the node keeps running and retries.
    ChainSource(String),
    /// The wallet failed.
    Wallet(String),
    /// Writing to the node's database failed.
    Persistence(String),
    /// The disk is full: the write was not made (and nothing was lost).
    StorageFull(String),
    /// The node stopped itself after a failure it cannot continue from (a failed write of
    /// channel state, a dead background task); `status` says why. Restart it.
    Halted(String),
    /// `start` on a node that is running.
    AlreadyRunning,
    /// `start` could not bind a listening address.
    Listen(String),
    /// The operating system refused a thread or a runtime (out of memory or thread limits).
    SystemResources(String),
    /// An argument that does not parse or is out of range (a hash, a preimage, a transaction
    /// id, a custom record type); the text says which.
    InvalidInput(String),
    /// The transaction's fee cannot be raised (not the wallet's own unconfirmed send, or
    /// already built upon); the text says why.
    CannotBumpFee(String),
    /// Nothing is waiting to be claimed for this hold invoice (not paid yet, or failed back).
    NotClaimable(String),
    /// A backup could not be made (a PostgreSQL node, or the target cannot be written).
    BackupFailed(String),
    /// No liquidity provider is configured (`Builder::set_liquidity_source`).
    NoLiquiditySource,
    /// The liquidity provider could not be reached or did not answer in time; nothing was
    /// bought.
    LiquiditySourceUnavailable(String),
    /// The liquidity provider refused the request (an unknown token, an amount outside its
    /// range); the text gives its reason.
    LiquidityRefused(String),
    /// The provider's quote expired before it was used: ask for a new one.
    LiquidityQuoteExpired,
    /// The provider's opening fee is above the limit the app set; the text gives both.
    LiquidityFeeTooHigh(String),
}

impl fmt::Display for NodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            NodeError::NotRunning => f.write_str("the node is not running"),
            NodeError::InvalidNodeUri(w) => write!(f, "invalid node URI: {w}"),
            NodeError::InvalidNodeId(w) => write!(f, "invalid node id: {w}"),
            NodeError::ConnectionFailed(w) => write!(f, "could not connect to the peer: {w}"),
            NodeError::PeerNotConnected(w) => write!(f, "not connected to peer {w}"),
            NodeError::InvalidAmount(w) => write!(f, "invalid amount: {w}"),
            NodeError::UnknownChannel(w) => write!(f, "no channel {w}"),
            NodeError::ChannelFailed(w) => write!(f, "channel operation failed: {w}"),
            NodeError::InsufficientFunds(w) => write!(f, "insufficient funds: {w}"),
            NodeError::InvalidAddress(w) => write!(f, "invalid address: {w}"),
            NodeError::InvalidInvoice(w) => write!(f, "invalid invoice: {w}"),
            NodeError::WrongNetwork(w) => write!(f, "wrong network: {w}"),
            NodeError::CannotPayOwnInvoice => f.write_str("this invoice was made by this node"),
            NodeError::InsufficientCapacity(w) => {
                write!(f, "not enough channel capacity: {w}")
            }
            NodeError::InvoiceExpired => f.write_str("the invoice has expired"),
            NodeError::DuplicatePayment => {
                f.write_str("this invoice is already being paid or was paid")
            }
            NodeError::PaymentFailed(w) => write!(f, "payment failed: {w}"),
            NodeError::UnknownPayment(w) => write!(f, "no payment {w}"),
            NodeError::ChainSource(w) => write!(f, "chain source: {w}"),
            NodeError::Wallet(w) => write!(f, "wallet: {w}"),
            NodeError::Persistence(w) => write!(f, "storage: {w}"),
            NodeError::StorageFull(w) => write!(f, "the disk is full: {w}"),
            NodeError::Halted(w) => write!(f, "the node has halted: {w}"),
            NodeError::AlreadyRunning => f.write_str("the node is already running"),
            NodeError::Listen(w) => write!(f, "cannot listen for peers: {w}"),
            NodeError::SystemResources(w) => write!(f, "the system refused resources: {w}"),
            NodeError::InvalidInput(w) => write!(f, "invalid input: {w}"),
            NodeError::CannotBumpFee(w) => write!(f, "cannot raise the fee: {w}"),
            NodeError::NotClaimable(w) => write!(f, "nothing to claim: {w}"),
            NodeError::BackupFailed(w) => write!(f, "backup failed: {w}"),
            NodeError::NoLiquiditySource => f.write_str("no liquidity provider is configured"),
            NodeError::LiquiditySourceUnavailable(w) => {
                write!(f, "the liquidity provider is unavailable: {w}")
            }
            NodeError::LiquidityRefused(w) => write!(f, "the liquidity provider refused: {w}"),
            NodeError::LiquidityQuoteExpired => {
                f.write_str("the liquidity provider's quote has expired")
            }
            NodeError::LiquidityFeeTooHigh(w) => write!(f, "opening fee too high: {w}"),
        }
    }
}

impl std::error::Error for NodeError {}

impl From<qtum_wallet::WalletError> for NodeError {
    fn from(e: qtum_wallet::WalletError) -> Self {
        use qtum_wallet::WalletError as W;
        match e {
            W::InvalidAddress(a) => NodeError::InvalidAddress(a.to_string()),
            e @ W::InsufficientFunds { .. } => NodeError::InsufficientFunds(e.to_string()),
            e
            @ (W::AmountBelowDust { .. } | W::FeeRateTooLow { .. } | W::FeeRateTooHigh { .. }) => {
                NodeError::InvalidAmount(e.to_string())
            }
            W::CannotBump(why) => NodeError::CannotBumpFee(why),
            other => NodeError::Wallet(other.to_string()),
        }
    }
}

impl From<crate::qtum::invoice::InvoiceError> for NodeError {
    fn from(e: crate::qtum::invoice::InvoiceError) -> Self {
        use crate::qtum::invoice::InvoiceError;
        match e {
            InvoiceError::WrongNetwork { .. } | InvoiceError::NotQtum { .. } => {
                NodeError::WrongNetwork(e.to_string())
            }
            other => NodeError::InvalidInvoice(other.to_string()),
        }
    }
}

impl From<crate::peer::NodeUriError> for NodeError {
    fn from(e: crate::peer::NodeUriError) -> Self {
        NodeError::InvalidNodeUri(e.to_string())
    }
}

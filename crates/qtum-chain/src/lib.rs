//! Qtum chain access: the [`ChainSource`] trait the node and the wallet stand on, its two
//! implementations (Qtum RPC and Esplora-style REST), the sync engine that feeds LDK's `Confirm`
//! and the wallet, and fee estimation.
//!
//! Two hash namespaces exist (DESIGN §3): Qtum's real block hash (sha256d of the whole header)
//! identifies blocks everywhere in this module and in the wallet; LDK only ever sees the
//! "synthetic" id, sha256d of the first 80 header bytes. [`BlockRef`] carries both so nobody has
//! to recompute or, worse, mix them.
//!
//! The trait is blocking: chain calls run on the sync task's own thread (or `spawn_blocking`),
//! which keeps the HTTP stack small and the failure modes simple.

#![deny(missing_docs)]

use core::fmt;

use bitcoin::{BlockHash, OutPoint, Script, Transaction, Txid};

use qtum_primitives::block::QtumBlock;
use qtum_primitives::header::QtumHeader;

/// A block as the SDK tracks it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct BlockRef {
    /// Height in the chain.
    pub height: u32,
    /// Qtum's block hash: sha256d of the whole header.
    pub hash: BlockHash,
    /// The id LDK knows the block by: sha256d of the header's first 80 bytes.
    pub synthetic_hash: BlockHash,
}

impl BlockRef {
    /// The reference of `header` at `height`.
    pub fn of(header: &QtumHeader, height: u32) -> BlockRef {
        BlockRef { height, hash: header.block_hash(), synthetic_hash: header.synthetic_hash() }
    }
}

/// Where a transaction stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TxStatus {
    /// The source does not know it (neither mempool nor chain).
    Unknown,
    /// In the source's mempool.
    Unconfirmed,
    /// In the best chain, with the header it was proven against.
    Confirmed {
        /// The block that holds it.
        block: BlockRef,
        /// That block's header (already checked to hash to `block.hash`).
        header: QtumHeader,
        /// Position of the transaction in the block (LDK's `txdata` index).
        position: usize,
    },
}

/// A transaction that touched a script, as a source's history lists it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct HistoryEntry {
    /// The transaction.
    pub txid: Txid,
    /// The height of its block, or `None` while unconfirmed.
    pub height: Option<u32>,
}

/// The spender of an output.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Spend {
    /// The spending transaction.
    pub txid: Txid,
    /// The input of `txid` that spends the output.
    pub vin: u32,
    /// The height of its block, or `None` while unconfirmed.
    pub height: Option<u32>,
}

/// Fee estimates in sat/kW, by confirmation target in blocks.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FeeEstimates {
    /// `(target_blocks, sat_per_kw)` pairs, sorted by target.
    pub by_target: Vec<(u16, u32)>,
}

/// What can go wrong talking to a chain source.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChainError {
    /// No endpoint answered (connection refused, timeout, DNS): try again later.
    Unreachable(String),
    /// The source answered with an error of its own (an RPC error object, an HTTP status).
    Source {
        /// RPC error code or HTTP status.
        code: i64,
        /// The source's message.
        message: String,
    },
    /// The source answered something that cannot be right: malformed JSON, a header whose hash
    /// is not the one asked for, a merkle proof that does not verify. Never trusted.
    InvalidResponse(String),
    /// The transaction was refused by the source's mempool policy (qtumd's reason, e.g. `dust`,
    /// `min relay fee not met, 56399 < 56400`).
    Rejected {
        /// RPC error code (-26 for policy, -25 for missing inputs, …).
        code: i64,
        /// qtumd's reason string.
        reason: String,
    },
    /// The source lacks something this call needs (e.g. qtumd without `-addrindex`).
    Unsupported(String),
}

impl fmt::Display for ChainError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ChainError::Unreachable(why) => write!(f, "chain source unreachable: {why}"),
            ChainError::Source { code, message } => {
                write!(f, "chain source error {code}: {message}")
            }
            ChainError::InvalidResponse(why) => write!(f, "chain source answered badly: {why}"),
            ChainError::Rejected { code, reason } => {
                write!(f, "transaction rejected by the chain source ({code}): {reason}")
            }
            ChainError::Unsupported(why) => write!(f, "chain source does not support this: {why}"),
        }
    }
}

impl std::error::Error for ChainError {}

/// A Qtum chain source. Implementations check what they return: a header hashes to the hash
/// asked for, a block's merkle root matches its header, a confirmed status comes with a proof.
pub trait ChainSource: Send + Sync {
    /// A short name for logs and status (e.g. `rpc http://127.0.0.1:13889`); never credentials.
    fn describe(&self) -> String;

    /// The best block.
    fn tip(&self) -> Result<BlockRef, ChainError>;

    /// The hash of the best-chain block at `height`, or `None` above the tip.
    fn block_hash_at(&self, height: u32) -> Result<Option<BlockHash>, ChainError>;

    /// The header of block `hash`, verified to hash to `hash`.
    fn header(&self, hash: &BlockHash) -> Result<QtumHeader, ChainError>;

    /// The whole block `hash`, verified against its header and merkle root.
    fn block(&self, hash: &BlockHash) -> Result<QtumBlock, ChainError>;

    /// A transaction from the mempool or the chain, if the source has it.
    fn transaction(&self, txid: &Txid) -> Result<Option<Transaction>, ChainError>;

    /// Where `txid` stands; a confirmed answer is proven against the block's merkle root.
    fn tx_status(&self, txid: &Txid) -> Result<TxStatus, ChainError>;

    /// Transactions paying to or spending from `script`, confirmed and unconfirmed.
    fn script_history(&self, script: &Script) -> Result<Vec<HistoryEntry>, ChainError>;

    /// Who spent `outpoint`, if anyone.
    fn outspend(&self, outpoint: &OutPoint) -> Result<Option<Spend>, ChainError>;

    /// Hand a transaction to the network; a policy refusal is [`ChainError::Rejected`].
    fn broadcast(&self, tx: &Transaction) -> Result<Txid, ChainError>;

    /// The source's fee estimates (possibly empty: a fresh regtest has none).
    fn fee_estimates(&self) -> Result<FeeEstimates, ChainError>;
}

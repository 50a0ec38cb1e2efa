//! Qtum chain access: the [`ChainSource`] trait the node and the wallet stand on, its two
//! implementations (Qtum RPC and Esplora-style REST), the sync engine that feeds LDK's `Confirm`
//! and the wallet, and fee estimation.
//!
//! Two hash namespaces exist: Qtum's real block hash (sha256d of the whole header)
//! identifies blocks everywhere in this module and in the wallet; LDK only ever sees the
//! "synthetic" id, sha256d of the first 80 header bytes. [`BlockRef`] carries both so nobody has
//! to recompute or, worse, mix them.
//!
//! The trait is blocking: chain calls run on the sync task's own thread (or `spawn_blocking`),
//! which keeps the HTTP stack small and the failure modes simple.
//!
//! | module | what it holds |
//! |---|---|
//! | [`rpc`] | [`RpcSource`](rpc::RpcSource): qtumd JSON-RPC, batching, `-addrindex` or block scans |
//! | [`esplora`] | [`EsploraSource`](esplora::EsploraSource): Esplora REST, raw Qtum headers |
//! | [`sync`] | [`ChainSync`](sync::ChainSync) for LDK's `Filter`/`Confirm`, [`ScriptSync`](sync::ScriptSync) for the wallet |
//! | [`fees`] | [`LdkFeeEstimator`](fees::LdkFeeEstimator): cached, floored, degraded instead of dead |
//! | [`broadcast`] | [`ChainBroadcaster`](broadcast::ChainBroadcaster): LDK's `BroadcasterInterface` |
//! | [`verify`] | merkle-proof and header checks shared by the sources |
//! | [`guard`] | [`GuardedSource`](guard::GuardedSource): header rules, tip bounds, cross-checks between endpoints |

#![deny(missing_docs)]
#![cfg_attr(not(test), deny(clippy::unwrap_used))]

use core::fmt;

use bitcoin::{BlockHash, OutPoint, Script, ScriptBuf, Transaction, Txid};

pub mod broadcast;
pub mod esplora;
pub mod fees;
pub mod guard;
mod http;
pub mod rpc;
pub mod sync;
pub mod verify;

pub use broadcast::ChainBroadcaster;
pub use esplora::{EsploraConfig, EsploraSource};
pub use fees::{FeeStatus, LdkFeeEstimator};
pub use guard::{GuardedSource, HeaderRules};
pub use http::{redact_url, EndpointHealth, HttpAgent, HttpResponse};
pub use rpc::{RpcAuth, RpcClient, RpcConfig, RpcEndpoint, RpcSource};
pub use sync::{
    ChainSync, ScriptSync, ScriptSyncResult, SyncConfig, SyncReport, SyncTip, TxConfirmation,
    WalletTx,
};

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
        BlockRef {
            height,
            hash: header.block_hash(),
            synthetic_hash: header.synthetic_hash(),
        }
    }
}

/// Where a transaction stands.
// Returned by value once per query and matched right away: boxing the header would only add an
// allocation.
#[allow(clippy::large_enum_variant)]
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

/// The answer of [`ChainSource::scripts_history_from`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ScriptHistories {
    /// One list per script, in the order given: confirmed and unconfirmed transactions.
    pub histories: Vec<Vec<HistoryEntry>>,
    /// `None`: the lists are the scripts' whole history (an index answered). `Some(h)`: a block
    /// scan answered, and the confirmed entries cover heights `start_height..=h` only (`h` may be
    /// below the tip: the source bounds the work of one call; ask again from `h + 1`).
    pub scanned_to: Option<u32>,
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
                write!(
                    f,
                    "transaction rejected by the chain source ({code}): {reason}"
                )
            }
            ChainError::Unsupported(why) => write!(f, "chain source does not support this: {why}"),
        }
    }
}

impl std::error::Error for ChainError {}

impl ChainError {
    /// Whether the error says something about the endpoint rather than about the request: it
    /// did not answer, answered garbage, failed at the HTTP level (5xx, refused credentials,
    /// rate limit) or is still warming up. Sources try their next endpoint on such errors; an
    /// answer about the request itself (unknown transaction, 404, bad parameter) is not a fault.
    pub fn is_endpoint_fault(&self) -> bool {
        match self {
            ChainError::Unreachable(_) | ChainError::InvalidResponse(_) => true,
            // Positive codes are HTTP statuses; -28 is RPC_IN_WARMUP.
            ChainError::Source { code, .. } => *code >= 500 || [401, 403, 429, -28].contains(code),
            ChainError::Rejected { .. } | ChainError::Unsupported(_) => false,
        }
    }
}

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

    /// The best block with its verified header.
    fn tip_header(&self) -> Result<(BlockRef, QtumHeader), ChainError> {
        let tip = self.tip()?;
        let header = self.header(&tip.hash)?;
        Ok((tip, header))
    }

    /// Verified best-chain headers for heights `start..=end`, stopping early at the tip.
    /// Sources that can batch (RPC) override this; the default asks height by height.
    fn headers_between(
        &self,
        start: u32,
        end: u32,
    ) -> Result<Vec<(BlockRef, QtumHeader)>, ChainError> {
        let mut out = Vec::new();
        for height in start..=end {
            match self.header_at(height)? {
                Some(entry) => out.push(entry),
                None => break,
            }
        }
        Ok(out)
    }

    /// The verified header at `height` in the best chain with its [`BlockRef`], or `None` above
    /// the tip. Sources that can batch override this.
    fn header_at(&self, height: u32) -> Result<Option<(BlockRef, QtumHeader)>, ChainError> {
        match self.block_hash_at(height)? {
            None => Ok(None),
            Some(hash) => {
                let header = self.header(&hash)?;
                Ok(Some((BlockRef::of(&header, height), header)))
            }
        }
    }

    /// The histories of several scripts, looking no further back than `start_height` where the
    /// source has to scan blocks (an RPC source without `-addrindex`); sources with an index
    /// return the whole history and ignore it. One entry per script, in order.
    fn scripts_history(
        &self,
        scripts: &[ScriptBuf],
        start_height: u32,
    ) -> Result<Vec<Vec<HistoryEntry>>, ChainError> {
        let _ = start_height;
        scripts
            .iter()
            .map(|script| self.script_history(script))
            .collect()
    }

    /// Like [`ChainSource::scripts_history`], for callers that keep what they found and move
    /// `start_height` forward (a wallet): a source that scans blocks (an RPC source without
    /// `-addrindex`) scans a bounded number of blocks from `start_height` and says how far it
    /// got in [`ScriptHistories::scanned_to`]. The default asks [`ChainSource::scripts_history`]
    /// and reports the whole history; wrappers of another source should forward this.
    fn scripts_history_from(
        &self,
        scripts: &[ScriptBuf],
        start_height: u32,
    ) -> Result<ScriptHistories, ChainError> {
        Ok(ScriptHistories {
            histories: self.scripts_history(scripts, start_height)?,
            scanned_to: None,
        })
    }

    /// How many HTTP requests this source has sent so far (for benchmarks and status pages).
    fn requests_made(&self) -> u64 {
        0
    }
}

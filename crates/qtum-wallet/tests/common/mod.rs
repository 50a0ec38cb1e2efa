//! What the wallet's integration tests share.

use bitcoin::{OutPoint, Transaction, Txid};
use qtum_chain::{BlockRef, ChainError, ChainSource, FeeEstimates, HistoryEntry, Spend, TxStatus};

/// A chain source that is never reached: for wallets that only open, bind and derive
/// addresses.
pub struct Offline;

impl ChainSource for Offline {
    fn describe(&self) -> String {
        "offline".into()
    }
    fn tip(&self) -> Result<BlockRef, ChainError> {
        Err(ChainError::Unreachable("offline".into()))
    }
    fn block_hash_at(&self, _: u32) -> Result<Option<bitcoin::BlockHash>, ChainError> {
        Err(ChainError::Unreachable("offline".into()))
    }
    fn header(&self, _: &bitcoin::BlockHash) -> Result<qtum_primitives::QtumHeader, ChainError> {
        Err(ChainError::Unreachable("offline".into()))
    }
    fn block(&self, _: &bitcoin::BlockHash) -> Result<qtum_primitives::QtumBlock, ChainError> {
        Err(ChainError::Unreachable("offline".into()))
    }
    fn transaction(&self, _: &Txid) -> Result<Option<Transaction>, ChainError> {
        Err(ChainError::Unreachable("offline".into()))
    }
    fn tx_status(&self, _: &Txid) -> Result<TxStatus, ChainError> {
        Err(ChainError::Unreachable("offline".into()))
    }
    fn script_history(&self, _: &bitcoin::Script) -> Result<Vec<HistoryEntry>, ChainError> {
        Err(ChainError::Unreachable("offline".into()))
    }
    fn outspend(&self, _: &OutPoint) -> Result<Option<Spend>, ChainError> {
        Err(ChainError::Unreachable("offline".into()))
    }
    fn broadcast(&self, _: &Transaction) -> Result<Txid, ChainError> {
        Err(ChainError::Unreachable("offline".into()))
    }
    fn fee_estimates(&self) -> Result<FeeEstimates, ChainError> {
        Err(ChainError::Unreachable("offline".into()))
    }
}

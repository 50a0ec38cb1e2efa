//! [`ChainBroadcaster`]: LDK's `BroadcasterInterface` over a [`ChainSource`].
//!
//! Broadcasting is best effort here: a refusal is logged with qtumd's reason and the next
//! transaction goes out anyway. LDK rebroadcasts what does not confirm, and the node decides
//! what else to retry; callers that need the answer use [`ChainBroadcaster::broadcast`].

use std::collections::HashSet;
use std::sync::Arc;

use bitcoin::{Transaction, Txid};
use lightning::chain::chaininterface::BroadcasterInterface;

use crate::{ChainError, ChainSource};

/// Sends LDK's transactions through a [`ChainSource`]. Calls block for at most the source's
/// request timeout per endpoint.
pub struct ChainBroadcaster {
    source: Arc<dyn ChainSource>,
}

impl ChainBroadcaster {
    /// A broadcaster over `source`.
    pub fn new(source: Arc<dyn ChainSource>) -> ChainBroadcaster {
        ChainBroadcaster { source }
    }

    /// Broadcasts one transaction; a policy refusal is [`ChainError::Rejected`] with qtumd's
    /// reason (`dust`, `min relay fee not met, …`).
    pub fn broadcast(&self, tx: &Transaction) -> Result<Txid, ChainError> {
        self.source.broadcast(tx)
    }

    /// Broadcasts `txs` parents first and returns each result in the order given.
    pub fn broadcast_all(&self, txs: &[&Transaction]) -> Vec<Result<Txid, ChainError>> {
        let order = parents_first(txs);
        let mut results: Vec<Option<Result<Txid, ChainError>>> = vec![None; txs.len()];
        for i in order {
            results[i] = Some(self.source.broadcast(txs[i]));
        }
        results
            .into_iter()
            .map(|r| r.unwrap_or_else(|| Err(ChainError::Unsupported("not broadcast".into()))))
            .collect()
    }
}

/// Indices of `txs` so that a transaction comes after the ones in the set it spends from
/// (LDK does not promise any order for packages).
fn parents_first(txs: &[&Transaction]) -> Vec<usize> {
    let ids: Vec<Txid> = txs.iter().map(|t| t.compute_txid()).collect();
    let mut done: HashSet<Txid> = HashSet::new();
    let mut order = Vec::with_capacity(txs.len());
    while order.len() < txs.len() {
        let before = order.len();
        for (i, tx) in txs.iter().enumerate() {
            if done.contains(&ids[i]) {
                continue;
            }
            let waits = tx.input.iter().any(|inp| {
                let parent = inp.previous_output.txid;
                parent != ids[i] && ids.contains(&parent) && !done.contains(&parent)
            });
            if !waits {
                done.insert(ids[i]);
                order.push(i);
            }
        }
        if order.len() == before {
            // A cycle cannot happen with real txids; keep the rest in the order given.
            order.extend((0..txs.len()).filter(|i| !done.contains(&ids[*i])));
            break;
        }
    }
    order
}

impl BroadcasterInterface for ChainBroadcaster {
    fn broadcast_transactions(&self, txs: &[&Transaction]) {
        for (tx, result) in txs.iter().zip(self.broadcast_all(txs)) {
            match result {
                Ok(txid) => log::info!("broadcast {txid}"),
                Err(ChainError::Rejected { code, reason }) => {
                    log::warn!(
                        "transaction {} rejected ({code}): {reason}",
                        tx.compute_txid()
                    )
                }
                Err(e) => log::warn!("broadcast of {} failed: {e}", tx.compute_txid()),
            }
        }
    }
}

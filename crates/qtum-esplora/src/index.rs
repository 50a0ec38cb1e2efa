//! The script registry: `sha256(script) → script` for every output script seen in the best
//! chain and the mempool, because a script hash cannot be inverted and qtumd's address index
//! is keyed by address.

use std::collections::{HashMap, HashSet};

use bitcoin::hashes::{sha256, Hash};
use bitcoin::{BlockHash, ScriptBuf, Transaction, Txid};

/// Scripts by their Esplora script hash, plus the chain they were read from.
#[derive(Default)]
pub(crate) struct ScriptIndex {
    scripts: HashMap<[u8; 32], ScriptBuf>,
    /// Hashes of the blocks read, by height, to notice reorgs.
    pub(crate) chain: Vec<BlockHash>,
    mempool_seen: HashSet<Txid>,
}

impl ScriptIndex {
    pub(crate) fn add_tx(&mut self, tx: &Transaction) {
        for out in &tx.output {
            let hash = sha256::Hash::hash(out.script_pubkey.as_bytes()).to_byte_array();
            self.scripts
                .entry(hash)
                .or_insert_with(|| out.script_pubkey.clone());
        }
    }

    pub(crate) fn lookup(&self, hash: &[u8; 32]) -> Option<ScriptBuf> {
        self.scripts.get(hash).cloned()
    }

    /// Whether a mempool transaction still needs reading; marks it read.
    pub(crate) fn mempool_unseen(&mut self, txid: &Txid) -> bool {
        self.mempool_seen.insert(*txid)
    }
}

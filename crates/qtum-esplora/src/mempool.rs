//! A cached view of qtumd's mempool, indexed by script hash, so a `/scripthash` request does not
//! read the whole mempool.
//!
//! The view is read again when it is older than the refresh interval, when the best block
//! changed, or after this server broadcast a transaction; a refresh asks qtumd for the txids
//! (`getrawmempool`) and fetches only the transactions it has not seen yet, plus their parents
//! outside the mempool (to learn which scripts their inputs spend from). Each transaction is
//! filed under every script it pays to or spends from.

use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};

use bitcoin::hashes::{sha256, Hash};
use bitcoin::{BlockHash, OutPoint, Script, ScriptBuf, Transaction, TxOut, Txid};

type ScriptHash = [u8; 32];

fn script_hash(script: &Script) -> ScriptHash {
    sha256::Hash::hash(script.as_bytes()).to_byte_array()
}

struct Entry {
    tx: Transaction,
    /// Arrival order in this view (Esplora lists mempool transactions newest first).
    seq: u64,
    /// The scripts this transaction pays to or spends from.
    touches: Vec<ScriptHash>,
}

/// The transactions touching one script, and the script itself.
struct ByScript {
    script: ScriptBuf,
    txids: Vec<Txid>,
}

/// What a refresh learned: the txids in the mempool now, the transactions new to the view and
/// the parents of their inputs that are not in the mempool.
pub(crate) struct Delta {
    pub(crate) txids: Vec<Txid>,
    pub(crate) new: HashMap<Txid, Transaction>,
    pub(crate) parents: HashMap<Txid, Transaction>,
}

/// The mempool as last read.
#[derive(Default)]
pub(crate) struct MempoolView {
    read_at: Option<Instant>,
    tip: Option<BlockHash>,
    txs: HashMap<Txid, Entry>,
    by_script: HashMap<ScriptHash, ByScript>,
    /// Outputs spent by mempool transactions.
    spent: HashSet<OutPoint>,
    next_seq: u64,
}

impl MempoolView {
    /// Whether the view must be read again before answering at best block `tip`.
    pub(crate) fn is_stale(&self, tip: &BlockHash, refresh: Duration) -> bool {
        match self.read_at {
            None => true,
            Some(at) => self.tip.as_ref() != Some(tip) || at.elapsed() >= refresh,
        }
    }

    /// Forces a read before the next answer (after a broadcast through this server).
    pub(crate) fn invalidate(&mut self) {
        self.read_at = None;
    }

    /// Whether `txid` is in the view.
    pub(crate) fn contains(&self, txid: &Txid) -> bool {
        self.txs.contains_key(txid)
    }

    /// The inputs' parents a refresh must fetch: those of `new` outside the view and outside
    /// `new` itself.
    pub(crate) fn missing_parents(&self, new: &HashMap<Txid, Transaction>) -> Vec<Txid> {
        new.values()
            .flat_map(|tx| tx.input.iter().map(|i| i.previous_output))
            .filter(|op| !op.is_null())
            .map(|op| op.txid)
            .filter(|t| !self.txs.contains_key(t) && !new.contains_key(t))
            .collect::<HashSet<_>>()
            .into_iter()
            .collect()
    }

    /// Applies what a refresh read at best block `tip`.
    pub(crate) fn apply(&mut self, delta: Delta, tip: BlockHash) {
        let now: HashSet<Txid> = delta.txids.iter().copied().collect();
        let gone: Vec<Txid> = self
            .txs
            .keys()
            .filter(|t| !now.contains(*t))
            .copied()
            .collect();
        for txid in gone {
            self.remove(&txid);
        }
        for txid in &delta.txids {
            let Some(tx) = delta.new.get(txid) else {
                continue;
            };
            let prevout = |op: &OutPoint| -> Option<TxOut> {
                let parent = self
                    .txs
                    .get(&op.txid)
                    .map(|e| &e.tx)
                    .or_else(|| delta.new.get(&op.txid))
                    .or_else(|| delta.parents.get(&op.txid))?;
                parent.output.get(op.vout as usize).cloned()
            };
            let mut scripts: Vec<ScriptBuf> =
                tx.output.iter().map(|o| o.script_pubkey.clone()).collect();
            scripts.extend(
                tx.input
                    .iter()
                    .filter_map(|i| prevout(&i.previous_output))
                    .map(|o| o.script_pubkey),
            );
            let mut touches = Vec::new();
            for script in scripts {
                let hash = script_hash(&script);
                if touches.contains(&hash) {
                    continue;
                }
                touches.push(hash);
                self.by_script
                    .entry(hash)
                    .or_insert_with(|| ByScript {
                        script,
                        txids: Vec::new(),
                    })
                    .txids
                    .push(*txid);
            }
            self.spent
                .extend(tx.input.iter().map(|i| i.previous_output));
            self.txs.insert(
                *txid,
                Entry {
                    tx: tx.clone(),
                    seq: self.next_seq,
                    touches,
                },
            );
            self.next_seq += 1;
        }
        self.read_at = Some(Instant::now());
        self.tip = Some(tip);
    }

    fn remove(&mut self, txid: &Txid) {
        let Some(entry) = self.txs.remove(txid) else {
            return;
        };
        for hash in &entry.touches {
            if let Some(by) = self.by_script.get_mut(hash) {
                by.txids.retain(|t| t != txid);
                if by.txids.is_empty() {
                    self.by_script.remove(hash);
                }
            }
        }
        for input in &entry.tx.input {
            self.spent.remove(&input.previous_output);
        }
    }

    /// The script with hash `hash` if a mempool transaction pays to or spends from it.
    pub(crate) fn script(&self, hash: &ScriptHash) -> Option<ScriptBuf> {
        self.by_script.get(hash).map(|b| b.script.clone())
    }

    /// The mempool transactions touching the script `hash`, newest first.
    pub(crate) fn touching(&self, hash: &ScriptHash) -> Vec<Txid> {
        let Some(by) = self.by_script.get(hash) else {
            return Vec::new();
        };
        let mut txids: Vec<(u64, Txid)> = by
            .txids
            .iter()
            .filter_map(|t| self.txs.get(t).map(|e| (e.seq, *t)))
            .collect();
        txids.sort_by_key(|t| std::cmp::Reverse(t.0));
        txids.into_iter().map(|(_, t)| t).collect()
    }

    /// Whether a mempool transaction spends `outpoint`.
    pub(crate) fn is_spent(&self, outpoint: &OutPoint) -> bool {
        self.spent.contains(outpoint)
    }

    /// Unspent outputs of mempool transactions paying to `script` (hash `hash`).
    pub(crate) fn unspent_outputs(&self, hash: &ScriptHash) -> Vec<(OutPoint, u64)> {
        let mut out = Vec::new();
        for txid in self.touching(hash) {
            let Some(entry) = self.txs.get(&txid) else {
                continue;
            };
            for (vout, o) in entry.tx.output.iter().enumerate() {
                let outpoint = OutPoint::new(txid, vout as u32);
                if script_hash(&o.script_pubkey) == *hash && !self.is_spent(&outpoint) {
                    out.push((outpoint, o.value.to_sat()));
                }
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bitcoin::{Amount, Sequence, TxIn, Witness};

    fn tx(inputs: &[OutPoint], outputs: &[(&ScriptBuf, u64)]) -> Transaction {
        Transaction {
            version: bitcoin::transaction::Version::TWO,
            lock_time: bitcoin::absolute::LockTime::ZERO,
            input: inputs
                .iter()
                .map(|op| TxIn {
                    previous_output: *op,
                    script_sig: ScriptBuf::new(),
                    sequence: Sequence::MAX,
                    witness: Witness::new(),
                })
                .collect(),
            output: outputs
                .iter()
                .map(|(s, v)| TxOut {
                    value: Amount::from_sat(*v),
                    script_pubkey: (*s).clone(),
                })
                .collect(),
        }
    }

    #[test]
    fn files_transactions_under_the_scripts_they_pay_and_spend() {
        let a = ScriptBuf::from_bytes(vec![0x51]);
        let b = ScriptBuf::from_bytes(vec![0x52]);
        // A confirmed parent paying `a`, a mempool child spending it to `b`, a grandchild
        // spending that to `a` again.
        let parent = tx(&[OutPoint::new(Txid::all_zeros(), 7)], &[(&a, 1_000)]);
        let child = tx(&[OutPoint::new(parent.compute_txid(), 0)], &[(&b, 900)]);
        let grandchild = tx(&[OutPoint::new(child.compute_txid(), 0)], &[(&a, 800)]);
        let (c, g) = (child.compute_txid(), grandchild.compute_txid());
        let tip = BlockHash::all_zeros();
        let mut view = MempoolView::default();
        assert!(view.is_stale(&tip, Duration::from_secs(3600)));
        let new: HashMap<Txid, Transaction> = [(c, child.clone()), (g, grandchild.clone())].into();
        assert_eq!(view.missing_parents(&new), vec![parent.compute_txid()]);
        view.apply(
            Delta {
                txids: vec![c, g],
                new,
                parents: [(parent.compute_txid(), parent.clone())].into(),
            },
            tip,
        );
        assert!(!view.is_stale(&tip, Duration::from_secs(3600)));
        assert!(view.is_stale(
            &BlockHash::from_byte_array([1; 32]),
            Duration::from_secs(3600)
        ));
        let (ha, hb) = (script_hash(&a), script_hash(&b));
        assert_eq!(view.touching(&ha), vec![g, c], "newest first");
        assert_eq!(view.touching(&hb), vec![g, c]);
        assert_eq!(view.script(&hb), Some(b.clone()));
        assert_eq!(view.unspent_outputs(&ha), vec![(OutPoint::new(g, 0), 800)]);
        assert!(
            view.unspent_outputs(&hb).is_empty(),
            "spent by the grandchild"
        );
        assert!(view.is_spent(&OutPoint::new(parent.compute_txid(), 0)));

        // The child is mined (and the grandchild with it): both leave the view.
        view.apply(
            Delta {
                txids: vec![],
                new: HashMap::new(),
                parents: HashMap::new(),
            },
            tip,
        );
        assert!(view.touching(&ha).is_empty());
        assert_eq!(view.script(&hb), None);
        assert!(!view.is_spent(&OutPoint::new(parent.compute_txid(), 0)));
        view.invalidate();
        assert!(view.is_stale(&tip, Duration::from_secs(3600)));
    }
}

//! The mempool: accepted transactions with their fee facts and the links between them.

use std::collections::{BTreeMap, HashMap, HashSet};

use bitcoin::{OutPoint, Transaction, Txid, Wtxid};

/// One mempool transaction.
#[derive(Clone, Debug)]
pub struct MempoolEntry {
    /// The transaction.
    pub tx: Transaction,
    /// Its txid.
    pub txid: Txid,
    /// Its wtxid.
    pub wtxid: Wtxid,
    /// Fee in satoshi.
    pub fee: u64,
    /// Virtual size (sigop-adjusted).
    pub vsize: u64,
    /// Weight.
    pub weight: u64,
    /// Entry time, seconds since the epoch.
    pub time: u64,
    /// Chain height when it entered.
    pub height: u32,
    /// Arrival order, for stable listings and block assembly ties.
    pub seq: u64,
}

impl MempoolEntry {
    /// BIP 125 opt-in signal on one of its own inputs.
    pub fn signals_rbf(&self) -> bool {
        self.tx.input.iter().any(|i| i.sequence.0 < 0xffff_fffe)
    }
}

/// The set of unconfirmed transactions.
#[derive(Default, Debug)]
pub struct Mempool {
    entries: HashMap<Txid, MempoolEntry>,
    by_wtxid: HashMap<Wtxid, Txid>,
    spends: HashMap<OutPoint, Txid>,
    order: BTreeMap<u64, Txid>,
    next_seq: u64,
    changes: u64,
}

impl Mempool {
    /// Number of transactions.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// True when empty.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Count of additions so far (`getrawmempool`'s `mempool_sequence`).
    pub fn sequence(&self) -> u64 {
        self.next_seq
    }

    /// A counter bumped by every insertion and removal (to know when to persist).
    pub fn changes(&self) -> u64 {
        self.changes
    }

    /// Entry by txid.
    pub fn get(&self, txid: &Txid) -> Option<&MempoolEntry> {
        self.entries.get(txid)
    }

    /// True if a transaction with this wtxid is present.
    pub fn contains_wtxid(&self, wtxid: &Wtxid) -> bool {
        self.by_wtxid.contains_key(wtxid)
    }

    /// The mempool transaction spending an outpoint.
    pub fn spender(&self, outpoint: &OutPoint) -> Option<Txid> {
        self.spends.get(outpoint).copied()
    }

    /// Entries in arrival order.
    pub fn entries(&self) -> impl Iterator<Item = &MempoolEntry> {
        self.order.values().filter_map(|t| self.entries.get(t))
    }

    /// Insert an entry (validation has been done by the caller).
    pub fn insert(&mut self, mut entry: MempoolEntry) {
        entry.seq = self.next_seq;
        self.next_seq += 1;
        self.changes += 1;
        for i in &entry.tx.input {
            self.spends.insert(i.previous_output, entry.txid);
        }
        self.by_wtxid.insert(entry.wtxid, entry.txid);
        self.order.insert(entry.seq, entry.txid);
        self.entries.insert(entry.txid, entry);
    }

    /// Restore an entry's original arrival time (after a reorganisation re-added it).
    pub fn set_time(&mut self, txid: &Txid, time: u64) {
        if let Some(e) = self.entries.get_mut(txid) {
            e.time = time;
        }
    }

    /// In-mempool parents of a transaction.
    pub fn parents(&self, txid: &Txid) -> Vec<Txid> {
        let Some(e) = self.entries.get(txid) else {
            return Vec::new();
        };
        let mut out: Vec<Txid> = Vec::new();
        for i in &e.tx.input {
            let p = i.previous_output.txid;
            if self.entries.contains_key(&p) && !out.contains(&p) {
                out.push(p);
            }
        }
        out
    }

    /// In-mempool children of a transaction.
    pub fn children(&self, txid: &Txid) -> Vec<Txid> {
        let Some(e) = self.entries.get(txid) else {
            return Vec::new();
        };
        let mut out: Vec<Txid> = Vec::new();
        for n in 0..e.tx.output.len() as u32 {
            if let Some(c) = self.spends.get(&OutPoint {
                txid: *txid,
                vout: n,
            }) {
                if !out.contains(c) {
                    out.push(*c);
                }
            }
        }
        out
    }

    fn closure(&self, start: &[Txid], next: impl Fn(&Txid) -> Vec<Txid>) -> HashSet<Txid> {
        let mut seen: HashSet<Txid> = HashSet::new();
        let mut stack: Vec<Txid> = start.to_vec();
        while let Some(t) = stack.pop() {
            for n in next(&t) {
                if seen.insert(n) {
                    stack.push(n);
                }
            }
        }
        seen
    }

    /// All in-mempool ancestors (not including the transaction itself).
    pub fn ancestors(&self, txid: &Txid) -> HashSet<Txid> {
        self.closure(&[*txid], |t| self.parents(t))
    }

    /// Ancestors of a transaction not yet in the pool, given its in-mempool parents.
    pub fn ancestors_of_parents(&self, parents: &[Txid]) -> HashSet<Txid> {
        let mut set = self.closure(parents, |t| self.parents(t));
        set.extend(parents.iter().copied());
        set
    }

    /// All in-mempool descendants (not including the transaction itself).
    pub fn descendants(&self, txid: &Txid) -> HashSet<Txid> {
        self.closure(&[*txid], |t| self.children(t))
    }

    /// Remove one entry without touching its descendants (it was mined).
    pub fn remove_one(&mut self, txid: &Txid) -> Option<MempoolEntry> {
        let e = self.entries.remove(txid)?;
        self.changes += 1;
        for i in &e.tx.input {
            if self.spends.get(&i.previous_output) == Some(txid) {
                self.spends.remove(&i.previous_output);
            }
        }
        self.by_wtxid.remove(&e.wtxid);
        self.order.remove(&e.seq);
        Some(e)
    }

    /// Remove an entry and everything that depends on it.
    pub fn remove_recursive(&mut self, txid: &Txid) -> Vec<MempoolEntry> {
        let mut all: Vec<Txid> = self.descendants(txid).into_iter().collect();
        all.push(*txid);
        all.iter().filter_map(|t| self.remove_one(t)).collect()
    }

    /// Remove transactions confirmed by a block and those that conflict with it.
    pub fn remove_for_block(&mut self, txs: &[Transaction]) {
        for tx in txs {
            let txid = tx.compute_txid();
            self.remove_one(&txid);
        }
        for tx in txs {
            for i in &tx.input {
                if let Some(conflict) = self.spends.get(&i.previous_output).copied() {
                    self.remove_recursive(&conflict);
                }
            }
        }
    }

    /// Take every entry out, in arrival order.
    pub fn drain(&mut self) -> Vec<MempoolEntry> {
        self.changes += 1;
        let order: Vec<Txid> = self.order.values().copied().collect();
        let out = order
            .iter()
            .filter_map(|t| self.entries.remove(t))
            .collect();
        self.entries.clear();
        self.by_wtxid.clear();
        self.spends.clear();
        self.order.clear();
        out
    }
}

//! The wallet's view of its coins, rebuilt from its transactions.
//!
//! Only transactions are stored (with where they are confirmed); unspent outputs, balances and
//! trust are derived from them each time. That keeps one source of truth: a transaction that
//! disappears (evicted, reorged away and conflicted) frees its inputs with no bookkeeping.

use std::collections::{HashMap, HashSet};

use bitcoin::{BlockHash, OutPoint, Script, ScriptBuf, Transaction, TxOut, Txid};

use crate::keys::{AccountKeys, Keychain};

/// Where a transaction is confirmed, with Qtum's real block hash (sha256d of the whole header).
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
pub struct Confirmation {
    /// Block height.
    pub height: u32,
    /// Qtum block hash (never LDK's synthetic 80-byte id).
    pub block_hash: BlockHash,
    /// Block header time, Unix seconds.
    pub time: u32,
}

/// A transaction the wallet knows.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct WalletTx {
    pub tx: Transaction,
    pub confirmation: Option<Confirmation>,
    /// When the wallet first saw it (Unix seconds): orders unconfirmed transactions.
    pub first_seen: u64,
}

/// One of the wallet's unspent outputs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct OwnedOutput {
    pub outpoint: OutPoint,
    pub txout: TxOut,
    pub keychain: Keychain,
    pub index: u32,
    pub confirmation: Option<Confirmation>,
    /// Coinbase or coinstake output: spendable only after maturity.
    pub needs_maturity: bool,
    /// Confirmed, or unconfirmed but created by the wallet itself from trusted coins.
    pub trusted: bool,
}

impl OwnedOutput {
    /// Whether consensus lets a transaction in the next block spend it.
    pub fn is_mature(&self, tip_height: Option<u32>, maturity: u32) -> bool {
        if !self.needs_maturity {
            return true;
        }
        match (self.confirmation, tip_height) {
            // Core's rule: spend height (tip + 1) − coin height ≥ COINBASE_MATURITY.
            (Some(c), Some(tip)) => tip.saturating_add(1).saturating_sub(c.height) >= maturity,
            _ => false,
        }
    }
}

/// The scripts of both chains derived so far, for "is this mine?" lookups.
#[derive(Clone, Debug)]
pub(crate) struct ScriptIndex {
    keys: AccountKeys,
    by_script: HashMap<ScriptBuf, (Keychain, u32)>,
    derived: [u32; 2],
}

impl ScriptIndex {
    pub fn new(keys: AccountKeys) -> ScriptIndex {
        ScriptIndex {
            keys,
            by_script: HashMap::new(),
            derived: [0, 0],
        }
    }

    /// Derives every script of `keychain` below `count`.
    pub fn ensure(&mut self, keychain: Keychain, count: u32) {
        let slot = keychain.index() as usize;
        while self.derived[slot] < count {
            let index = self.derived[slot];
            if let Some(script) = self.keys.script(keychain, index) {
                self.by_script.insert(script, (keychain, index));
            }
            self.derived[slot] = index + 1;
        }
    }

    pub fn script(&mut self, keychain: Keychain, index: u32) -> Option<ScriptBuf> {
        self.ensure(keychain, index.saturating_add(1));
        self.keys.script(keychain, index)
    }

    pub fn lookup(&self, script: &Script) -> Option<(Keychain, u32)> {
        self.by_script.get(script).copied()
    }
}

/// Everything the wallet persists, in memory.
#[derive(Clone, Debug, Default)]
pub(crate) struct State {
    pub txs: HashMap<Txid, WalletTx>,
    /// Inputs reserved for a funding transaction not yet confirmed, by the transaction.
    pub locks: HashMap<OutPoint, Txid>,
    /// Next unrevealed index of each chain (receive, change).
    pub next_index: [u32; 2],
    /// The chain tip at the last sync.
    pub tip: Option<(u32, BlockHash)>,
    pub birthday_height: Option<u32>,
    /// Block-scan cursor (sources without an index): every confirmed transaction of the wallet
    /// below this height is in `txs`; with the hash of the block below it when it was scanned.
    pub scan: Option<(u32, Option<BlockHash>)>,
}

impl State {
    pub fn next(&self, keychain: Keychain) -> u32 {
        self.next_index[keychain.index() as usize]
    }

    pub fn set_next(&mut self, keychain: Keychain, value: u32) {
        self.next_index[keychain.index() as usize] = value;
    }

    /// Outpoints spent by any known transaction (confirmed or not).
    fn spent(&self) -> HashSet<OutPoint> {
        self.txs
            .values()
            .flat_map(|w| w.tx.input.iter().map(|i| i.previous_output))
            .collect()
    }

    /// The output `outpoint` if it is one of the wallet's.
    pub fn owned_txout(&self, outpoint: &OutPoint, scripts: &ScriptIndex) -> Option<&TxOut> {
        let out = self
            .txs
            .get(&outpoint.txid)?
            .tx
            .output
            .get(outpoint.vout as usize)?;
        scripts.lookup(&out.script_pubkey).map(|_| out)
    }

    fn trusted_inner(
        &self,
        txid: &Txid,
        scripts: &ScriptIndex,
        memo: &mut HashMap<Txid, bool>,
        depth: usize,
    ) -> bool {
        if let Some(v) = memo.get(txid) {
            return *v;
        }
        let Some(wtx) = self.txs.get(txid) else {
            return false;
        };
        let trusted = if wtx.confirmation.is_some() {
            true
        } else if depth > 100 || wtx.tx.is_coinbase() {
            // A chain of 100 unconfirmed own transactions is beyond what nodes relay anyway.
            false
        } else {
            wtx.tx.input.iter().all(|input| {
                self.owned_txout(&input.previous_output, scripts).is_some()
                    && self.trusted_inner(&input.previous_output.txid, scripts, memo, depth + 1)
            })
        };
        memo.insert(*txid, trusted);
        trusted
    }

    /// The wallet's unspent outputs.
    pub fn unspent(&self, scripts: &ScriptIndex) -> Vec<OwnedOutput> {
        let spent = self.spent();
        let mut memo = HashMap::new();
        let mut out = Vec::new();
        for (txid, wtx) in &self.txs {
            let needs_maturity = wtx.tx.is_coinbase() || is_coinstake(&wtx.tx);
            for (vout, txout) in wtx.tx.output.iter().enumerate() {
                let Some((keychain, index)) = scripts.lookup(&txout.script_pubkey) else {
                    continue;
                };
                let Ok(vout) = u32::try_from(vout) else {
                    continue;
                };
                let outpoint = OutPoint { txid: *txid, vout };
                if spent.contains(&outpoint) {
                    continue;
                }
                out.push(OwnedOutput {
                    outpoint,
                    txout: txout.clone(),
                    keychain,
                    index,
                    confirmation: wtx.confirmation,
                    needs_maturity,
                    trusted: self.trusted_inner(txid, scripts, &mut memo, 0),
                });
            }
        }
        // Deterministic order (HashMap iteration is not): oldest confirmed first.
        out.sort_by_key(|o| {
            (
                o.confirmation.map(|c| c.height).unwrap_or(u32::MAX),
                o.outpoint.txid,
                o.outpoint.vout,
            )
        });
        out
    }
}

/// Qtum's coinstake: a non-coinbase transaction whose first output is empty (value 0, empty
/// script) and that has more outputs after it. Its outputs mature like a coinbase's.
pub(crate) fn is_coinstake(tx: &Transaction) -> bool {
    !tx.is_coinbase()
        && !tx.input.is_empty()
        && tx.output.len() >= 2
        && tx
            .output
            .first()
            .is_some_and(|o| o.value.to_sat() == 0 && o.script_pubkey.is_empty())
}

//! The sync engine: [`ChainSync`] feeds LDK's `Confirm` from any [`ChainSource`];
//! [`ScriptSync`] gives the on-chain wallet its transactions.
//!
//! # LDK side
//!
//! [`ChainSync`] implements `lightning::chain::Filter`: hand it to the `ChainMonitor` and LDK
//! registers the transactions and outputs it cares about. Each [`ChainSync::sync`] then calls
//! the given `Confirm` implementations in chain order, as LDK's own transaction sync does:
//!
//! 1. `transaction_unconfirmed` for every `(txid, height, Some(id))` of `get_relevant_txids()`
//!    whose `id` is no longer the synthetic id of the best chain's header at `height` (rule 2);
//! 2. `transactions_confirmed(synthetic header, [(position, tx)], height)` block by block, in
//!    height order, for watched transactions and for spends of watched outputs. A confirmation
//!    comes from [`ChainSource::tx_status`], which proves the transaction against a header whose
//!    real Qtum hash was checked (merkle branch or whole block, rule 5); outputs registered while
//!    LDK handles a block are looked up in the same sync;
//! 3. `best_block_updated(synthetic tip header, height)` when the tip changed (rule 3). After
//!    the confirmations, as in LDK's own per-block order (`Listen::block_connected`): a node
//!    that was away for hours must learn that a funding transaction confirmed before LDK sees
//!    the new height, or LDK's funding deadline closes the channel first.
//!
//! One look-up that fails (a source error, a spend an RPC source without `-addrindex` is still
//! scanning for, an answer that does not check out) does not hold up the others: what the pass
//! found still reaches LDK, the failed item is asked again on the next pass (the engine stays
//! "dirty" until every look-up succeeded), and the failures are counted in
//! [`SyncReport::failed_lookups`], logged, and listed by [`ChainSync::lookup_problems`] for a
//! status page. Confirmations found in one pass reach LDK in chain order; one that a failed
//! look-up delays reaches it in a later pass, below heights LDK has seen by then (LDK's monitors
//! take a confirmation at any height; only one channel's own transactions depend on each other,
//! and LDK registers a transaction's outputs only once it saw that transaction confirmed). The
//! new tip still goes to LDK, so its timeouts keep running.
//!
//! LDK only ever sees synthetic headers and ids (rule 1); everything kept here (the tip, the
//! confirmations) carries real Qtum hashes in [`BlockRef`]s (rule 4). `Listen` is never used
//! (rule 6).
//!
//! # Tip authentication and restarts
//!
//! The engine remembers the last synced tip ([`ChainSync::synced_tip`], a [`SyncTip`] with a
//! real hash) for the node to persist and hand back to [`ChainSync::new`] on restart. When the
//! new tip is at most [`SyncConfig::max_link_walk`] blocks above it, the headers in between are
//! fetched and linked by `prev_blockhash` from the old tip to the new one, which also pins down a
//! reorg below the stored tip. Further apart (a phone back after days) the engine checks that the
//! stored block is still in the best chain and relies on per-height checks for everything it
//! reports, which keeps the Esplora source at a few requests per watched item instead of one per
//! block.
//!
//! # Wallet side
//!
//! [`ScriptSync::sync`] takes the wallet's scripts and returns every transaction touching them
//! with its confirmation ([`BlockRef`] with the real hash, and the position in the block), plus
//! which scripts were used (for gap-limit address discovery).

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::{Arc, Mutex, MutexGuard};

use bitcoin::hashes::Hash;
use bitcoin::{BlockHash, OutPoint, Script, ScriptBuf, Transaction, Txid};
use lightning::chain::{Confirm, Filter, WatchedOutput};

use qtum_primitives::header::QtumHeader;

use crate::{BlockRef, ChainError, ChainSource, TxStatus};

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// The last block a sync completed at, to persist between runs (real Qtum hash).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct SyncTip {
    /// Height of the block.
    pub height: u32,
    /// Its real Qtum hash.
    pub hash: BlockHash,
}

impl SyncTip {
    const VERSION: u8 = 1;

    /// A versioned 37-byte encoding: version, height (LE), hash.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(37);
        out.push(Self::VERSION);
        out.extend_from_slice(&self.height.to_le_bytes());
        out.extend_from_slice(self.hash.as_byte_array());
        out
    }

    /// Decodes [`SyncTip::encode`]'s output; `None` for anything else.
    pub fn decode(bytes: &[u8]) -> Option<SyncTip> {
        if bytes.len() != 37 || bytes[0] != Self::VERSION {
            return None;
        }
        let height = u32::from_le_bytes(bytes[1..5].try_into().ok()?);
        let hash = BlockHash::from_slice(&bytes[5..]).ok()?;
        Some(SyncTip { height, hash })
    }
}

impl From<BlockRef> for SyncTip {
    fn from(b: BlockRef) -> SyncTip {
        SyncTip {
            height: b.height,
            hash: b.hash,
        }
    }
}

/// Settings of [`ChainSync`].
///
/// | field | default | note |
/// |---|---|---|
/// | `max_link_walk` | 144 blocks (≈ 77 min of 32-s blocks) | longest header chain linked from the old tip to the new one |
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SyncConfig {
    /// Longest header walk from the last synced tip to the new one.
    pub max_link_walk: u32,
}

impl Default for SyncConfig {
    fn default() -> SyncConfig {
        SyncConfig { max_link_walk: 144 }
    }
}

/// What one [`ChainSync::sync`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyncReport {
    /// The tip synced to.
    pub tip: BlockRef,
    /// Whether `best_block_updated` was called.
    pub tip_changed: bool,
    /// Whether the block of the previous tip left the best chain.
    pub reorg_detected: bool,
    /// Transactions given to `transactions_confirmed`.
    pub confirmed: usize,
    /// Transactions given to `transaction_unconfirmed`.
    pub unconfirmed: usize,
    /// Look-ups of watched transactions or outputs that failed in this pass (asked again on the
    /// next; see [`ChainSync::lookup_problems`]).
    pub failed_lookups: usize,
}

#[derive(Default)]
struct Registrations {
    txs: HashMap<Txid, ScriptBuf>,
    outputs: HashMap<OutPoint, WatchedOutput>,
}

struct State {
    tip: Option<SyncTip>,
    watched_txs: HashMap<Txid, ScriptBuf>,
    watched_outputs: HashMap<OutPoint, WatchedOutput>,
    /// Transactions we reported confirmed, with their block.
    confirmed: HashMap<Txid, BlockRef>,
    /// Watched outputs whose confirmed spender we reported.
    spent: HashMap<OutPoint, Txid>,
    /// Set when a sync stopped half-way or a look-up failed: the next one must not take the
    /// "nothing changed" shortcut.
    dirty: bool,
    /// Why look-ups failed in the last pass, by what was looked up.
    problems: BTreeMap<String, String>,
}

/// Feeds LDK's `Confirm` implementations from a [`ChainSource`]; see the module docs.
pub struct ChainSync {
    source: Arc<dyn ChainSource>,
    config: SyncConfig,
    state: Mutex<State>,
    // Separate from `state`: LDK registers outputs from inside our `transactions_confirmed`
    // calls, while a sync holds `state`.
    registrations: Mutex<Registrations>,
}

/// A confirmed transaction found during a sync.
struct Found {
    block: BlockRef,
    header: QtumHeader,
    position: usize,
    tx: Transaction,
}

impl ChainSync {
    /// An engine over `source`, resuming from `tip` (what [`ChainSync::synced_tip`] returned
    /// before a restart), or starting fresh with `None`.
    pub fn new(
        source: Arc<dyn ChainSource>,
        tip: Option<SyncTip>,
        config: SyncConfig,
    ) -> ChainSync {
        ChainSync {
            source,
            config,
            state: Mutex::new(State {
                tip,
                watched_txs: HashMap::new(),
                watched_outputs: HashMap::new(),
                confirmed: HashMap::new(),
                spent: HashMap::new(),
                dirty: true,
                problems: BTreeMap::new(),
            }),
            registrations: Mutex::new(Registrations::default()),
        }
    }

    /// The last tip a sync completed at: persist it and pass it to [`ChainSync::new`].
    pub fn synced_tip(&self) -> Option<SyncTip> {
        lock(&self.state).tip
    }

    /// Look-ups that failed in the last pass, one line each (what was looked up and why); empty
    /// when every one succeeded. They are asked again on the next pass.
    pub fn lookup_problems(&self) -> Vec<String> {
        lock(&self.state)
            .problems
            .iter()
            .map(|(what, why)| format!("{what}: {why}"))
            .collect()
    }

    /// The source this engine reads.
    pub fn source(&self) -> &Arc<dyn ChainSource> {
        &self.source
    }

    /// Number of watched transactions and outputs.
    pub fn watched(&self) -> (usize, usize) {
        let state = lock(&self.state);
        let pending = lock(&self.registrations);
        (
            state.watched_txs.len() + pending.txs.len(),
            state.watched_outputs.len() + pending.outputs.len(),
        )
    }

    fn take_registrations(&self, state: &mut State) -> bool {
        let mut pending = lock(&self.registrations);
        let any = !pending.txs.is_empty() || !pending.outputs.is_empty();
        state.watched_txs.extend(pending.txs.drain());
        state.watched_outputs.extend(pending.outputs.drain());
        any
    }

    /// Brings `confirmables` (ChannelManager, ChainMonitor, OutputSweeper, …) up to the
    /// source's tip. Calls them in chain order; on an error nothing false has been reported and
    /// the next call picks up where this one stopped.
    pub fn sync(&self, confirmables: &[&dyn Confirm]) -> Result<SyncReport, ChainError> {
        let mut state = lock(&self.state);
        let registered = self.take_registrations(&mut state);
        let (tip, tip_header) = self.source.tip_header()?;
        let tip_changed = state.tip.map(|t| t.hash) != Some(tip.hash);
        if !tip_changed && !registered && !state.dirty {
            return Ok(SyncReport {
                tip,
                tip_changed: false,
                reorg_detected: false,
                confirmed: 0,
                unconfirmed: 0,
                failed_lookups: 0,
            });
        }
        state.dirty = true;

        let mut at_height: HashMap<u32, Option<BlockRef>> = HashMap::new();
        at_height.insert(tip.height, Some(tip));
        let reorg_detected = match state.tip {
            Some(last) if tip_changed => self.link(last, &tip, &tip_header, &mut at_height)?,
            _ => false,
        };
        if reorg_detected {
            log::info!("chain reorganised below the last synced tip; rechecking confirmations");
        }

        // 1. Rule 2: what LDK believes confirmed must still be in the block at that height.
        let mut unconfirmed = Vec::new();
        let mut seen = HashSet::new();
        for c in confirmables {
            for (txid, height, block_id) in c.get_relevant_txids() {
                if !seen.insert(txid) {
                    continue;
                }
                let still = match block_id {
                    Some(id) => {
                        self.block_at(height, tip.height, &mut at_height)?
                            .map(|b| b.synthetic_hash)
                            == Some(id)
                    }
                    // No id to compare: unconfirm, the confirmation step re-confirms it if it
                    // still is (what LDK's own sync does).
                    None => false,
                };
                if !still {
                    unconfirmed.push(txid);
                }
            }
        }
        // Our own record of reported confirmations follows the same rule.
        let stale: Vec<Txid> = state
            .confirmed
            .iter()
            .filter(|(_, b)| b.height > tip.height)
            .map(|(t, _)| *t)
            .collect();
        let mut forget = stale;
        for (txid, block) in state.confirmed.iter() {
            if block.height <= tip.height
                && self
                    .block_at(block.height, tip.height, &mut at_height)?
                    .map(|b| b.hash)
                    != Some(block.hash)
            {
                forget.push(*txid);
            }
        }
        for txid in &unconfirmed {
            for c in confirmables {
                c.transaction_unconfirmed(txid);
            }
        }
        for txid in unconfirmed.iter().chain(&forget) {
            state.confirmed.remove(txid);
            state.spent.retain(|_, spender| spender != txid);
        }

        // 2. Confirmations, until LDK stops registering new things to watch. They come before
        // the new tip, as LDK's own per-block order does: a node back after a day must learn
        // that its channel's funding confirmed before LDK sees the new height, or LDK's funding
        // deadline closes the channel first.
        let mut confirmed_count = 0;
        let mut problems: BTreeMap<String, String> = BTreeMap::new();
        loop {
            let found = self.find_confirmed(&mut state, &tip, &mut problems);
            confirmed_count += found.values().map(Vec::len).sum::<usize>();
            for txs in found.values() {
                let Some(first) = txs.first() else { continue };
                let synthetic = first.header.synthetic_header();
                let txdata: Vec<(usize, &Transaction)> =
                    txs.iter().map(|f| (f.position, &f.tx)).collect();
                for c in confirmables {
                    c.transactions_confirmed(&synthetic, &txdata, first.block.height);
                }
                for f in txs {
                    state.confirmed.insert(f.tx.compute_txid(), f.block);
                }
            }
            if !self.take_registrations(&mut state) {
                break;
            }
        }

        // 3. The new tip.
        if tip_changed {
            let synthetic = tip_header.synthetic_header();
            for c in confirmables {
                c.best_block_updated(&synthetic, tip.height);
            }
        }

        state.tip = Some(tip.into());
        for (what, why) in &problems {
            log::warn!("chain sync: {what}: {why} (asked again on the next pass)");
        }
        state.dirty = !problems.is_empty();
        let failed_lookups = problems.len();
        state.problems = problems;
        Ok(SyncReport {
            tip,
            tip_changed,
            reorg_detected,
            confirmed: confirmed_count,
            unconfirmed: unconfirmed.len(),
            failed_lookups,
        })
    }

    /// Links the new tip to the last synced one; returns whether the old tip left the chain.
    fn link(
        &self,
        last: SyncTip,
        tip: &BlockRef,
        tip_header: &QtumHeader,
        at_height: &mut HashMap<u32, Option<BlockRef>>,
    ) -> Result<bool, ChainError> {
        if tip.height >= last.height && tip.height - last.height <= self.config.max_link_walk {
            let headers = self.source.headers_between(last.height, tip.height)?;
            let mut prev: Option<&BlockRef> = None;
            for (block, header) in &headers {
                if let Some(p) = prev {
                    if header.prev_blockhash != p.hash {
                        return Err(ChainError::InvalidResponse(format!(
                            "header at height {} does not link to the one below it",
                            block.height
                        )));
                    }
                }
                at_height.insert(block.height, Some(*block));
                prev = Some(block);
            }
            match (headers.first(), headers.last()) {
                (Some((first, _)), Some((end, end_header)))
                    if end.hash == tip.hash && end_header == tip_header =>
                {
                    Ok(first.hash != last.hash)
                }
                // The tip moved while we read the chain: try again next time.
                _ => Err(ChainError::Unreachable(
                    "the chain moved during sync".into(),
                )),
            }
        } else {
            Ok(self
                .block_at(last.height, tip.height, at_height)?
                .map(|b| b.hash)
                != Some(last.hash))
        }
    }

    fn block_at(
        &self,
        height: u32,
        tip_height: u32,
        cache: &mut HashMap<u32, Option<BlockRef>>,
    ) -> Result<Option<BlockRef>, ChainError> {
        if height > tip_height {
            return Ok(None);
        }
        if let Some(b) = cache.get(&height) {
            return Ok(*b);
        }
        let b = self.source.header_at(height)?.map(|(b, _)| b);
        cache.insert(height, b);
        Ok(b)
    }

    /// Watched transactions and spends of watched outputs now confirmed at or below `tip`,
    /// grouped by block in height order, by position within a block. A look-up that fails is
    /// put in `problems` (and taken out again when it succeeds later in the pass); the others go
    /// on.
    fn find_confirmed(
        &self,
        state: &mut State,
        tip: &BlockRef,
        problems: &mut BTreeMap<String, String>,
    ) -> BTreeMap<(u32, BlockHash), Vec<Found>> {
        let mut found: BTreeMap<(u32, BlockHash), Vec<Found>> = BTreeMap::new();
        let mut taken: HashSet<Txid> = HashSet::new();
        // A lookup's answer: what it found goes in once, a failure is kept as a problem (and
        // the lookup retried next pass), a success clears the problem it had.
        let mut record = |found: &mut BTreeMap<(u32, BlockHash), Vec<Found>>,
                          what: String,
                          result: Result<Option<Found>, ChainError>| {
            match result {
                Ok(f) => {
                    problems.remove(&what);
                    if let Some(f) = f.filter(|f| taken.insert(f.tx.compute_txid())) {
                        let list = found.entry((f.block.height, f.block.hash)).or_default();
                        list.push(f);
                        list.sort_by_key(|f| f.position);
                    }
                }
                Err(e) => {
                    problems.insert(what, e.to_string());
                }
            }
        };
        let txids: Vec<Txid> = state
            .watched_txs
            .keys()
            .filter(|t| !state.confirmed.contains_key(*t))
            .copied()
            .collect();
        for txid in txids {
            let result = self.confirmed_tx(&txid, tip);
            record(&mut found, format!("confirmation of {txid}"), result);
        }
        let outputs: Vec<OutPoint> = state
            .watched_outputs
            .keys()
            .filter(|o| !state.spent.contains_key(*o))
            .copied()
            .collect();
        for outpoint in outputs {
            let result = self.spend_of(state, &outpoint, tip);
            record(&mut found, format!("spend of {outpoint}"), result);
        }
        found
    }

    /// The confirmed spend of a watched output, if there is one LDK has not been told of.
    fn spend_of(
        &self,
        state: &mut State,
        outpoint: &OutPoint,
        tip: &BlockRef,
    ) -> Result<Option<Found>, ChainError> {
        let Some(spend) = self.source.outspend(outpoint)? else {
            return Ok(None);
        };
        if spend.height.is_none() {
            return Ok(None); // only in the mempool so far
        }
        if state.confirmed.contains_key(&spend.txid) {
            state.spent.insert(*outpoint, spend.txid);
            return Ok(None);
        }
        let Some(f) = self.confirmed_tx(&spend.txid, tip)? else {
            return Ok(None);
        };
        if !f.tx.input.iter().any(|i| i.previous_output == *outpoint) {
            return Err(ChainError::InvalidResponse(format!(
                "{} does not spend {outpoint}, as the source claimed",
                spend.txid
            )));
        }
        state.spent.insert(*outpoint, spend.txid);
        Ok(Some(f))
    }

    fn confirmed_tx(&self, txid: &Txid, tip: &BlockRef) -> Result<Option<Found>, ChainError> {
        match self.source.tx_status(txid)? {
            TxStatus::Confirmed {
                block,
                header,
                position,
            } if block.height <= tip.height => {
                let tx = self.source.transaction(txid)?.ok_or_else(|| {
                    ChainError::InvalidResponse(format!(
                        "{txid} is confirmed but the source has no copy"
                    ))
                })?;
                crate::verify::check_txid(&tx, txid)?;
                Ok(Some(Found {
                    block,
                    header,
                    position,
                    tx,
                }))
            }
            _ => Ok(None),
        }
    }
}

impl Filter for ChainSync {
    fn register_tx(&self, txid: &Txid, script_pubkey: &Script) {
        lock(&self.registrations)
            .txs
            .insert(*txid, script_pubkey.to_owned());
    }

    fn register_output(&self, output: WatchedOutput) {
        lock(&self.registrations)
            .outputs
            .insert(output.outpoint.into_bitcoin_outpoint(), output);
    }
}

/// Where a wallet transaction was confirmed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct TxConfirmation {
    /// The block (real Qtum hash, and the synthetic id should anyone need it).
    pub block: BlockRef,
    /// Position of the transaction in the block.
    pub position: usize,
}

/// A transaction touching one of the wallet's scripts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WalletTx {
    /// Its id.
    pub txid: Txid,
    /// The transaction (its txid checked).
    pub tx: Transaction,
    /// `None` while unconfirmed.
    pub confirmation: Option<TxConfirmation>,
}

/// The answer of [`ScriptSync::sync`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScriptSyncResult {
    /// The tip the answer is consistent with.
    pub tip: BlockRef,
    /// Every transaction paying to or spending from the scripts: confirmed ones first in
    /// chain order (height, position), then unconfirmed ones.
    pub txs: Vec<WalletTx>,
    /// Indices (into the `scripts` given) of scripts with any history, for gap-limit discovery.
    pub used_scripts: Vec<usize>,
}

/// The wallet's view of the chain: transactions of a set of scripts with verified
/// confirmations. Confirmed transactions are cached and only re-checked (one header look-up per
/// height) on later calls, so repeated syncs cost a history query per script plus the new
/// transactions.
///
/// ```no_run
/// # use std::sync::Arc;
/// # use qtum_chain::{ChainSource, ScriptSync};
/// # fn demo(source: Arc<dyn ChainSource>, scripts: Vec<bitcoin::ScriptBuf>, birthday: u32) -> Result<(), qtum_chain::ChainError> {
/// let wallet_sync = ScriptSync::new(source);
/// let result = wallet_sync.sync(&scripts, birthday)?;
/// for wtx in &result.txs {
///     // wtx.confirmation.map(|c| c.block.hash) is a real Qtum block hash.
/// }
/// # Ok(()) }
/// ```
pub struct ScriptSync {
    source: Arc<dyn ChainSource>,
    cache: Mutex<HashMap<Txid, (Transaction, TxConfirmation)>>,
}

impl ScriptSync {
    /// A wallet sync over `source`.
    pub fn new(source: Arc<dyn ChainSource>) -> ScriptSync {
        ScriptSync {
            source,
            cache: Mutex::new(HashMap::new()),
        }
    }

    /// All transactions of `scripts`. `start_height` (the wallet's birthday) bounds block scans
    /// on an RPC source without `-addrindex`; indexed sources ignore it.
    pub fn sync(
        &self,
        scripts: &[ScriptBuf],
        start_height: u32,
    ) -> Result<ScriptSyncResult, ChainError> {
        let tip = self.source.tip()?;
        let histories = self.source.scripts_history(scripts, start_height)?;
        let mut used_scripts = Vec::new();
        let mut wanted: Vec<(Txid, Option<u32>)> = Vec::new();
        let mut seen = HashSet::new();
        for (i, history) in histories.iter().enumerate() {
            if !history.is_empty() {
                used_scripts.push(i);
            }
            for entry in history {
                if seen.insert(entry.txid) {
                    wanted.push((entry.txid, entry.height));
                }
            }
        }
        let mut at_height: HashMap<u32, Option<BlockHash>> = HashMap::new();
        let mut txs = Vec::with_capacity(wanted.len());
        for (txid, height) in wanted {
            let cached = lock(&self.cache).get(&txid).cloned();
            if let Some((tx, conf)) = cached {
                let current = match at_height.get(&conf.block.height) {
                    Some(h) => *h,
                    None => {
                        let h = self.source.block_hash_at(conf.block.height)?;
                        at_height.insert(conf.block.height, h);
                        h
                    }
                };
                if current == Some(conf.block.hash) {
                    txs.push(WalletTx {
                        txid,
                        tx,
                        confirmation: Some(conf),
                    });
                    continue;
                }
                lock(&self.cache).remove(&txid);
            }
            let status = if height.is_some() {
                self.source.tx_status(&txid)?
            } else {
                TxStatus::Unconfirmed
            };
            let confirmation = match status {
                TxStatus::Confirmed {
                    block, position, ..
                } => Some(TxConfirmation { block, position }),
                TxStatus::Unconfirmed => None,
                // Evicted from the mempool between the two questions.
                TxStatus::Unknown => continue,
            };
            let Some(tx) = self.source.transaction(&txid)? else {
                continue;
            };
            crate::verify::check_txid(&tx, &txid)?;
            if let Some(conf) = confirmation {
                lock(&self.cache).insert(txid, (tx.clone(), conf));
            }
            txs.push(WalletTx {
                txid,
                tx,
                confirmation,
            });
        }
        txs.sort_by_key(|t| match t.confirmation {
            Some(c) => (0, c.block.height, c.position),
            None => (1, 0, 0),
        });
        Ok(ScriptSyncResult {
            tip,
            txs,
            used_scripts,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sync_tip_round_trips_and_rejects_garbage() {
        let tip = SyncTip {
            height: 4028,
            hash: BlockHash::from_byte_array([7; 32]),
        };
        assert_eq!(SyncTip::decode(&tip.encode()), Some(tip));
        assert_eq!(SyncTip::decode(&[0; 37]), None);
        assert_eq!(SyncTip::decode(&tip.encode()[..36]), None);
    }
}

//! The wallet: addresses, balance, history, sends, LDK funding.
//!
//! # Sync from a source that scans blocks
//!
//! Indexed sources (Esplora, qtumd with `-addrindex`) answer a script's whole history at once.
//! An RPC source without `-addrindex` scans blocks, a bounded number per call
//! ([`qtum_chain::ChainSource::scripts_history_from`]). For it the wallet keeps a scan cursor in
//! its store (`wallet_meta`: `scan_height`, `scan_hash`): every confirmed transaction of the
//! wallet below `scan_height` is already stored, so each [`Wallet::sync`] scans from the cursor,
//! not from the birthday, and a wallet whose birthday is far back (or absent: genesis) catches
//! up over several syncs instead of failing. Transactions the wallet stored below the scanned
//! window are kept as long as their block is still at its height (one header per height).
//!
//! | constant | value | meaning |
//! |---|---|---|
//! | cursor margin ([`qtum_chain::rpc::SCAN_SAFETY_MARGIN`]) | 10 blocks (≈ 5 min) | the cursor never passes `tip + 1 - margin`: the last blocks, which Qtum may still reorganise, are scanned again at every sync |
//! | blocks scanned per call | the source's `RpcConfig::max_scan_blocks` (20,000) | one sync scans at most that much per batch of scripts |
//!
//! Before it is used the cursor is checked: the block below it must still be the one scanned
//! (`scan_hash`); after a reorganisation below it the scan starts over from the birthday.
//! Spends from the wallet's P2WPKH scripts are found by their witness (the public key), also for
//! coins paid before the scanned window. Limit: a script that gap-limit discovery reveals only
//! once the cursor has moved on is scanned from the cursor, not from the birthday (a payment to
//! it below the cursor is found when the coin is spent, by its witness).

use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, Mutex, MutexGuard};

use bitcoin::absolute::LockTime;
use bitcoin::secp256k1::{All, Message, Secp256k1};
use bitcoin::sighash::{EcdsaSighashType, SighashCache};
use bitcoin::transaction::Version;
use bitcoin::{
    Amount, BlockHash, OutPoint, Script, ScriptBuf, Sequence, Transaction, TxIn, TxOut, Txid,
    Witness,
};

use qtum_chain::rpc::SCAN_SAFETY_MARGIN;
use qtum_chain::{ChainError, ChainSource, TxStatus};
use qtum_primitives::address::QtumAddress;
use qtum_primitives::network::Network;
use qtum_primitives::policy::{
    dust_threshold, vsize_from_weight, INCREMENTAL_RELAY_FEE_SAT_PER_KVB,
};

use crate::coin_selection::{self, Target};
use crate::error::WalletError;
use crate::fees::{self, MAX_STANDARD_TX_WEIGHT};
use crate::keys::{child_secret, AccountKeys, Keychain, WalletSeed};
use crate::state::{Confirmation, OwnedOutput, ScriptIndex, State, WalletTx};
use crate::store::{self, unix_now, Changes, SharedConnection, Store};

/// Wallet settings.
///
/// | field | default | meaning |
/// |---|---|---|
/// | `gap_limit` | 20 | unused addresses scanned past the last used one on each chain |
/// | `birthday_height` | `None` | first block that can hold the wallet's transactions (recorded on a fresh store) |
/// | `fee_target_blocks` | 6 (≈ 3 min at 32 s) | confirmation target of the default fee rate |
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WalletConfig {
    /// Unused addresses scanned past the last used one on each chain (BIP44's 20).
    pub gap_limit: u32,
    /// First block that can hold the wallet's transactions, recorded on a fresh store. Indexed
    /// sources (Esplora, RPC with `-addrindex`) return every transaction of a script whatever
    /// its height and ignore it; an RPC source without `-addrindex` scans blocks from here
    /// (so a birthday later than the first payment would miss it: when unsure, give less).
    pub birthday_height: Option<u32>,
    /// Confirmation target of the default fee rate, in blocks.
    pub fee_target_blocks: u16,
}

impl Default for WalletConfig {
    fn default() -> Self {
        WalletConfig {
            gap_limit: 20,
            birthday_height: None,
            fee_target_blocks: fees::DEFAULT_TARGET_BLOCKS,
        }
    }
}

/// The wallet's funds, in satoshis.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Balance {
    /// Confirmed and mature (includes `locked_sat`'s confirmed part).
    pub confirmed_sat: u64,
    /// Unconfirmed but trusted: the wallet's own change (spendable now).
    pub unconfirmed_sat: u64,
    /// Unconfirmed payments from others (not spent until confirmed).
    pub untrusted_pending_sat: u64,
    /// Coinbase/coinstake outputs waiting for 2000 confirmations.
    pub immature_sat: u64,
    /// Reserved for a channel funding transaction not yet confirmed.
    pub locked_sat: u64,
}

impl Balance {
    /// What sends can use now: confirmed and own change, minus locked coins.
    pub fn spendable_sat(&self) -> u64 {
        self.confirmed_sat
            .saturating_add(self.unconfirmed_sat)
            .saturating_sub(self.locked_sat)
    }

    /// Everything the wallet holds, mature or not.
    pub fn total_sat(&self) -> u64 {
        self.confirmed_sat
            .saturating_add(self.unconfirmed_sat)
            .saturating_add(self.untrusted_pending_sat)
            .saturating_add(self.immature_sat)
    }
}

/// A transaction in the wallet's history.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TransactionDetails {
    /// Its id.
    pub txid: Txid,
    /// Sum of its outputs paying the wallet.
    pub received_sat: u64,
    /// Sum of the wallet's coins it spends.
    pub sent_sat: u64,
    /// Fee, when the wallet knows every input (always for its own sends).
    pub fee_sat: Option<u64>,
    /// Where it is confirmed; `None` while unconfirmed.
    pub confirmation: Option<Confirmation>,
    /// When the wallet first saw it, Unix seconds.
    pub first_seen: u64,
}

/// One of the wallet's unspent outputs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Utxo {
    /// The output.
    pub outpoint: OutPoint,
    /// Its value.
    pub value_sat: u64,
    /// Where its transaction is confirmed.
    pub confirmation: Option<Confirmation>,
    /// On the change chain.
    pub is_change: bool,
    /// A send or funding transaction may spend it now (mature, trusted, not locked).
    pub spendable: bool,
}

/// A send that is ready to be signed and broadcast, with its fee (prepare-then-execute).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PreparedSend {
    /// Recipient.
    pub recipient: QtumAddress,
    /// Amount the recipient gets.
    pub amount_sat: u64,
    /// Fee (including any change too small to keep).
    pub fee_sat: u64,
    /// Change back to the wallet, if any (never below the dust threshold).
    pub change_sat: Option<u64>,
    /// Fee rate used, sat/kW.
    pub fee_rate_sat_per_kw: u32,
    /// Upper bound of the virtual size, vbytes.
    pub vsize: u64,
    /// The coins spent.
    pub inputs: Vec<OutPoint>,
    unsigned: Transaction,
    change_index: Option<u32>,
}

/// A fee bump: the replacement broadcast in place of an unconfirmed send.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FeeBump {
    /// The replacement.
    pub txid: Txid,
    /// The transaction it replaces.
    pub replaced: Txid,
    /// What the replaced transaction paid.
    pub original_fee_sat: u64,
    /// What the replacement pays (including change too small to keep).
    pub fee_sat: u64,
    /// The replacement's virtual size (an upper bound), vbytes.
    pub vsize: u64,
    /// How many coins it spends (more than the original's when its change could not pay).
    pub input_count: usize,
}

/// What a sync found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SyncSummary {
    /// `None` when the source answered from an index (the history is complete). From a block
    /// scan: the height up to which the wallet's confirmed history is complete, below the tip
    /// while a long scan catches up over several syncs (see the module docs).
    pub scanned_to: Option<u32>,
    /// Tip height at the sync.
    pub tip_height: u32,
    /// Tip hash (Qtum's).
    pub tip_hash: BlockHash,
    /// Transactions added or whose confirmation changed.
    pub updated_transactions: usize,
    /// Transactions dropped (evicted or conflicted).
    pub dropped_transactions: usize,
}

/// A transaction chosen and built, not yet signed.
struct Built {
    unsigned: Transaction,
    coins: Vec<OwnedOutput>,
    amount_sat: u64,
    fee_sat: u64,
    change_sat: Option<u64>,
    change_index: Option<u32>,
    sat_per_kw: u32,
    weight: u64,
}

impl Built {
    fn into_prepared(self, recipient: QtumAddress) -> PreparedSend {
        PreparedSend {
            recipient,
            amount_sat: self.amount_sat,
            fee_sat: self.fee_sat,
            change_sat: self.change_sat,
            fee_rate_sat_per_kw: self.sat_per_kw,
            vsize: self.weight.div_ceil(4),
            inputs: self.coins.iter().map(|c| c.outpoint).collect(),
            unsigned: self.unsigned,
            change_index: self.change_index,
        }
    }
}

struct Inner {
    store: Store,
    state: State,
    scripts: ScriptIndex,
}

/// The on-chain wallet (BIP84 P2WPKH at `m/84'/88'/0'`), persisted in the node's database
/// (SQLite or PostgreSQL) through the node's [`SharedConnection`] ([`Wallet::open_shared`]) or
/// an SQLite connection of its own ([`Wallet::open`]).
///
/// All methods take `&self`; the wallet is `Send + Sync` and can be shared in an `Arc` with LDK
/// (funding, sweeps). Sends and funding hold the wallet's lock from coin selection to the
/// database write, so two of them never pick the same coins.
pub struct Wallet {
    network: Network,
    config: WalletConfig,
    chain: Arc<dyn ChainSource>,
    seed: WalletSeed,
    keys: AccountKeys,
    secp: Secp256k1<All>,
    inner: Mutex<Inner>,
}

impl std::fmt::Debug for Wallet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Wallet")
            .field("network", &self.network)
            .field("chain", &self.chain.describe())
            .field("seed", &self.seed)
            .finish()
    }
}

impl Wallet {
    /// Opens a standalone wallet: its own SQLite connection to the file at `db_path` (created if
    /// missing) with durable settings (WAL, `synchronous = FULL`, `fullfsync` on macOS and iOS,
    /// a 10 s busy timeout), for `seed` on `network`; otherwise as [`Wallet::open_shared`].
    pub fn open(
        db_path: impl AsRef<Path>,
        seed: &WalletSeed,
        network: Network,
        chain: Arc<dyn ChainSource>,
        config: WalletConfig,
    ) -> Result<Wallet, WalletError> {
        let conn = store::open_file(db_path.as_ref())?;
        Self::open_shared(Arc::new(Mutex::new(conn)), seed, network, chain, config)
    }

    /// Opens the wallet on `conn`, the connection the node keeps all its state through, for
    /// `seed` on `network`. Every wallet read and write goes through `conn`, locking it for one
    /// SQL transaction at a time (never across a chain-source call), so the wallet and the
    /// connection's other users share one writer. The connection's settings (SQLite's pragmas,
    /// the server's configuration) are left as its owner set them (the durability of wallet
    /// writes is theirs); only the `wallet_*` tables are created or migrated. A fresh store
    /// records `config.birthday_height`; a store of another seed or network is refused
    /// ([`WalletError::StoreMismatch`]), one written by a newer build too
    /// ([`WalletError::StoreTooNew`]).
    ///
    /// Don't call the wallet while holding `conn`'s lock: it takes its own lock, then `conn`'s.
    pub fn open_shared(
        conn: SharedConnection,
        seed: &WalletSeed,
        network: Network,
        chain: Arc<dyn ChainSource>,
        config: WalletConfig,
    ) -> Result<Wallet, WalletError> {
        let store = Store::new(conn)?;
        let keys = AccountKeys::new(seed.account_xpub());
        store.bind(network, &keys.account_id(), config.birthday_height)?;
        let state = store.load()?;
        let mut scripts = ScriptIndex::new(keys.clone());
        for keychain in Keychain::ALL {
            scripts.ensure(
                keychain,
                state.next(keychain).saturating_add(config.gap_limit),
            );
        }
        Ok(Wallet {
            network,
            config,
            chain,
            seed: seed.clone(),
            keys,
            secp: Secp256k1::new(),
            inner: Mutex::new(Inner {
                store,
                state,
                scripts,
            }),
        })
    }

    /// The database connection (tests).
    #[cfg(test)]
    pub(crate) fn connection(&self) -> SharedConnection {
        self.lock().store.connection().clone()
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // A panic while holding the lock leaves the in-memory state as the database has it
        // (changes reach memory only after the database took them), so the data is usable.
        self.inner
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// The wallet's network.
    pub fn network(&self) -> Network {
        self.network
    }

    /// The block-scan cursor (see the module docs): every confirmed transaction of the wallet
    /// below this height is known. `None` before the first scan or with an indexed source.
    pub fn scan_height(&self) -> Option<u32> {
        self.lock().state.scan.map(|(h, _)| h)
    }

    /// The birthday height recorded in the store.
    pub fn birthday_height(&self) -> Option<u32> {
        self.lock().state.birthday_height
    }

    /// A new receive address (the next index of the receive chain, persisted).
    pub fn new_address(&self) -> Result<QtumAddress, WalletError> {
        let (keychain, index) = self.reveal(Keychain::External)?;
        self.keys
            .address(keychain, index, self.network)
            .ok_or_else(|| WalletError::Store(format!("cannot derive receive address {index}")))
    }

    /// A fresh script of the change chain (persisted), for LDK's `ChangeDestinationSource`:
    /// outputs LDK sweeps there are the wallet's and show up at the next sync.
    pub fn change_script(&self) -> Result<ScriptBuf, WalletError> {
        let (keychain, index) = self.reveal(Keychain::Internal)?;
        self.keys
            .script(keychain, index)
            .ok_or_else(|| WalletError::Store(format!("cannot derive change script {index}")))
    }

    fn reveal(&self, keychain: Keychain) -> Result<(Keychain, u32), WalletError> {
        let mut inner = self.lock();
        let index = inner.state.next(keychain);
        let changes = Changes {
            next_index: vec![(keychain, index.saturating_add(1))],
            ..Default::default()
        };
        inner.store.apply(&changes)?;
        changes.apply_to(&mut inner.state);
        inner.scripts.ensure(
            keychain,
            index
                .saturating_add(1)
                .saturating_add(self.config.gap_limit),
        );
        Ok((keychain, index))
    }

    /// Whether any transaction the wallet knows pays to `script`.
    pub fn is_used(&self, script: &Script) -> bool {
        self.lock()
            .state
            .txs
            .values()
            .any(|w| w.tx.output.iter().any(|o| o.script_pubkey == *script))
    }

    /// Whether `script` is one of the wallet's (within the scanned window).
    pub fn is_mine(&self, script: &Script) -> bool {
        self.lock().scripts.lookup(script).is_some()
    }

    /// The wallet's balance as of the last sync.
    pub fn balance(&self) -> Balance {
        let inner = self.lock();
        let tip = inner.state.tip.map(|t| t.0);
        let maturity = self.network.coinbase_maturity();
        let mut b = Balance::default();
        for o in inner.state.unspent(&inner.scripts) {
            let value = o.txout.value.to_sat();
            if o.needs_maturity && !o.is_mature(tip, maturity) {
                b.immature_sat = b.immature_sat.saturating_add(value);
            } else if o.confirmation.is_some() {
                b.confirmed_sat = b.confirmed_sat.saturating_add(value);
            } else if o.trusted {
                b.unconfirmed_sat = b.unconfirmed_sat.saturating_add(value);
            } else {
                b.untrusted_pending_sat = b.untrusted_pending_sat.saturating_add(value);
            }
            if inner.state.locks.contains_key(&o.outpoint) {
                b.locked_sat = b.locked_sat.saturating_add(value);
            }
        }
        b
    }

    /// The wallet's unspent outputs.
    pub fn list_unspent(&self) -> Vec<Utxo> {
        let inner = self.lock();
        let tip = inner.state.tip.map(|t| t.0);
        let maturity = self.network.coinbase_maturity();
        inner
            .state
            .unspent(&inner.scripts)
            .into_iter()
            .map(|o| Utxo {
                outpoint: o.outpoint,
                value_sat: o.txout.value.to_sat(),
                confirmation: o.confirmation,
                is_change: o.keychain == Keychain::Internal,
                spendable: is_spendable(&o, &inner.state, tip, maturity),
            })
            .collect()
    }

    /// Whether the wallet holds `txid` (a transaction paying it or spending its coins).
    pub fn holds_transaction(&self, txid: &Txid) -> bool {
        self.lock().state.txs.contains_key(txid)
    }

    /// Whether the wallet holds a transaction spending `outpoint` (one that pays the wallet,
    /// such as a channel's cooperative close spending its funding output).
    pub fn holds_spend_of(&self, outpoint: &OutPoint) -> bool {
        self.spender_of(outpoint).is_some()
    }

    /// The transaction the wallet holds that spends `outpoint`, if any.
    pub fn spender_of(&self, outpoint: &OutPoint) -> Option<Txid> {
        self.lock()
            .state
            .txs
            .iter()
            .find(|(_, wtx)| wtx.tx.input.iter().any(|i| i.previous_output == *outpoint))
            .map(|(txid, _)| *txid)
    }

    /// Every transaction touching the wallet: unconfirmed first (newest first), then confirmed
    /// from the highest block down.
    pub fn list_transactions(&self) -> Vec<TransactionDetails> {
        let inner = self.lock();
        let state = &inner.state;
        let mut list: Vec<TransactionDetails> = state
            .txs
            .iter()
            .map(|(txid, wtx)| {
                let received_sat = wtx
                    .tx
                    .output
                    .iter()
                    .filter(|o| inner.scripts.lookup(&o.script_pubkey).is_some())
                    .fold(0u64, |sum, o| sum.saturating_add(o.value.to_sat()));
                let mut sent_sat = 0u64;
                let mut inputs_known = !wtx.tx.is_coinbase();
                let mut input_sum = 0u64;
                for input in &wtx.tx.input {
                    let prev = state
                        .txs
                        .get(&input.previous_output.txid)
                        .and_then(|p| p.tx.output.get(input.previous_output.vout as usize));
                    match prev {
                        Some(out) => {
                            input_sum = input_sum.saturating_add(out.value.to_sat());
                            if inner.scripts.lookup(&out.script_pubkey).is_some() {
                                sent_sat = sent_sat.saturating_add(out.value.to_sat());
                            }
                        }
                        None => inputs_known = false,
                    }
                }
                // Saturating: the transactions come from an untrusted chain source.
                let output_sum = wtx
                    .tx
                    .output
                    .iter()
                    .fold(0u64, |sum, o| sum.saturating_add(o.value.to_sat()));
                let fee_sat = if inputs_known {
                    input_sum.checked_sub(output_sum)
                } else {
                    None
                };
                TransactionDetails {
                    txid: *txid,
                    received_sat,
                    sent_sat,
                    fee_sat,
                    confirmation: wtx.confirmation,
                    first_seen: wtx.first_seen,
                }
            })
            .collect();
        list.sort_by(|a, b| {
            let key = |t: &TransactionDetails| {
                (
                    t.confirmation.map(|c| c.height).unwrap_or(u32::MAX),
                    t.first_seen,
                    t.txid,
                )
            };
            key(b).cmp(&key(a))
        });
        list
    }

    /// Brings the wallet up to date with the chain: scans both chains up to the gap limit past
    /// the last used script, records new transactions and confirmations (with Qtum's real block
    /// hashes), drops transactions the source no longer knows, releases funding locks whose
    /// transaction confirmed. Restores and discovers funds received before a restore.
    pub fn sync(&self) -> Result<SyncSummary, WalletError> {
        let chain = &*self.chain;
        let tip = chain.tip()?;
        let (next, known, birthday, cursor) = {
            let inner = self.lock();
            let known: HashMap<Txid, Option<Confirmation>> = inner
                .state
                .txs
                .iter()
                .map(|(t, w)| (*t, w.confirmation))
                .collect();
            let birthday = inner.state.birthday_height.unwrap_or(0);
            (inner.state.next_index, known, birthday, inner.state.scan)
        };

        // Where a block scan starts: the stored cursor while the block below it is still the
        // one scanned, else the birthday.
        let start_height = match cursor {
            Some((height, Some(anchor))) if height > birthday => {
                if chain.block_hash_at(height - 1)? == Some(anchor) {
                    height
                } else {
                    log::info!(
                        "wallet: the chain changed below the scan cursor {height}; scanning again \
                         from the birthday {birthday}"
                    );
                    birthday
                }
            }
            _ => birthday,
        };

        // 1. Script histories, with gap-limit discovery: windows of `gap_limit` scripts on both
        //    chains, asked together, until a whole window past the last used script is unused.
        let gap = self.config.gap_limit.max(1);
        let mut seen: HashMap<Txid, Option<u32>> = HashMap::new();
        let mut new_next = next;
        let mut ends = [next[0].saturating_add(gap), next[1].saturating_add(gap)];
        let mut froms = [0u32; 2];
        // Lowest height every block scan of this sync reached (`None`: an index answered all).
        let mut scanned_to: Option<u32> = None;
        loop {
            let mut batch: Vec<(Keychain, u32)> = Vec::new();
            for keychain in Keychain::ALL {
                let slot = keychain.index() as usize;
                while froms[slot] < ends[slot] {
                    let to = froms[slot].saturating_add(gap);
                    batch.extend((froms[slot]..to).map(|i| (keychain, i)));
                    froms[slot] = to;
                }
            }
            if batch.is_empty() {
                break;
            }
            let scripts = batch
                .iter()
                .map(|(keychain, i)| self.keys.script(*keychain, *i))
                .collect::<Option<Vec<ScriptBuf>>>()
                .ok_or_else(|| WalletError::Store("cannot derive wallet scripts".to_owned()))?;
            let answer = chain.scripts_history_from(&scripts, start_height)?;
            if answer.histories.len() != scripts.len() {
                return Err(WalletError::Chain(ChainError::InvalidResponse(format!(
                    "{} histories for {} scripts",
                    answer.histories.len(),
                    scripts.len()
                ))));
            }
            if let Some(h) = answer.scanned_to {
                scanned_to = Some(scanned_to.map_or(h, |s| s.min(h)));
            }
            for ((keychain, index), history) in batch.iter().zip(answer.histories) {
                let slot = keychain.index() as usize;
                if !history.is_empty() {
                    new_next[slot] = new_next[slot].max(index + 1);
                    ends[slot] = ends[slot].max(index.saturating_add(1).saturating_add(gap));
                }
                for entry in history {
                    let height = seen.entry(entry.txid).or_insert(entry.height);
                    if height.is_none() {
                        *height = entry.height;
                    }
                }
            }
        }

        // 2. Resolve what changed.
        let mut blocks: HashMap<u32, Option<(BlockHash, u32)>> = HashMap::new();
        let mut block_at = |height: u32| -> Result<Option<(BlockHash, u32)>, WalletError> {
            if let Some(b) = blocks.get(&height) {
                return Ok(*b);
            }
            // Verified header: its hash is Qtum's real block hash.
            let b = chain
                .header_at(height)?
                .map(|(block, header)| (block.hash, header.time));
            blocks.insert(height, b);
            Ok(b)
        };
        let mut upserts: Vec<(Txid, Option<Confirmation>)> = Vec::new();
        for (txid, height) in &seen {
            let confirmation = match height {
                Some(h) => block_at(*h)?.map(|(block_hash, time)| Confirmation {
                    height: *h,
                    block_hash,
                    time,
                }),
                None => None,
            };
            if known.get(txid) != Some(&confirmation) {
                upserts.push((*txid, confirmation));
            }
        }
        let mut dropped = Vec::new();
        for (txid, confirmation) in &known {
            if seen.contains_key(txid) {
                continue;
            }
            // Outside the window a block scan covered: kept while its block is still there.
            if let (Some(last), Some(c)) = (scanned_to, confirmation) {
                if (c.height < start_height || c.height > last)
                    && block_at(c.height)?.map(|(hash, _)| hash) == Some(c.block_hash)
                {
                    continue;
                }
            }
            // Not in any history: indexing lag, a reorg, or gone. Ask about the transaction.
            match chain.tx_status(txid)? {
                TxStatus::Unknown => dropped.push(*txid),
                TxStatus::Unconfirmed => {
                    if confirmation.is_some() {
                        upserts.push((*txid, None));
                    }
                }
                TxStatus::Confirmed { block, header, .. } => {
                    let c = Confirmation {
                        height: block.height,
                        block_hash: block.hash,
                        time: header.time,
                    };
                    if *confirmation != Some(c) {
                        upserts.push((*txid, Some(c)));
                    }
                }
            }
        }
        let mut fetched: Vec<(Txid, WalletTx)> = Vec::new();
        let now = unix_now();
        for (txid, confirmation) in upserts {
            let existing = self.lock().state.txs.get(&txid).map(|w| w.tx.clone());
            let tx = match existing {
                Some(tx) => tx,
                None => match chain.transaction(&txid)? {
                    Some(tx) => tx,
                    None => {
                        // Listed in a history but gone by now (evicted): the next sync settles it.
                        log::debug!("wallet sync: {txid} listed but not available");
                        continue;
                    }
                },
            };
            if tx.compute_txid() != txid {
                return Err(WalletError::Chain(ChainError::InvalidResponse(format!(
                    "transaction {txid} hashes to {}",
                    tx.compute_txid()
                ))));
            }
            fetched.push((
                txid,
                WalletTx {
                    tx,
                    confirmation,
                    first_seen: now,
                },
            ));
        }

        // The new scan cursor: past what every scan covered, short of the blocks that may still
        // be reorganised.
        let new_cursor = match scanned_to {
            Some(last) => {
                let limit = (tip.height + 1).saturating_sub(SCAN_SAFETY_MARGIN);
                let next_height = last.saturating_add(1).min(limit).max(start_height);
                let anchor = if next_height > birthday {
                    block_at(next_height - 1)?.map(|(hash, _)| hash)
                } else {
                    None
                };
                let cursor = (next_height, anchor);
                (Some(cursor) != self.lock().state.scan).then_some(cursor)
            }
            None => None,
        };

        // 3. Apply atomically.
        let mut inner = self.lock();
        let mut changes = Changes {
            upsert_txs: fetched,
            delete_txs: dropped.clone(),
            tip: Some((tip.height, tip.hash)),
            scan: new_cursor,
            ..Default::default()
        };
        for keychain in Keychain::ALL {
            let slot = keychain.index() as usize;
            if new_next[slot] > inner.state.next(keychain) {
                changes.next_index.push((keychain, new_next[slot]));
            }
        }
        let updated = changes.upsert_txs.len();
        let mut preview = inner.state.clone();
        changes.apply_to(&mut preview);
        for (outpoint, by) in &preview.locks {
            let funding_confirmed = preview
                .txs
                .get(by)
                .is_some_and(|w| w.confirmation.is_some());
            let conflicted = preview.txs.iter().any(|(id, w)| {
                id != by
                    && w.confirmation.is_some()
                    && w.tx.input.iter().any(|i| i.previous_output == *outpoint)
            });
            if funding_confirmed || conflicted {
                changes.remove_locks.push(*outpoint);
            }
        }
        inner.store.apply(&changes)?;
        changes.apply_to(&mut inner.state);
        for keychain in Keychain::ALL {
            let count = inner
                .state
                .next(keychain)
                .saturating_add(self.config.gap_limit);
            inner.scripts.ensure(keychain, count);
        }
        Ok(SyncSummary {
            scanned_to,
            tip_height: tip.height,
            tip_hash: tip.hash,
            updated_transactions: updated,
            dropped_transactions: dropped.len(),
        })
    }

    fn default_fee_rate(&self) -> u32 {
        match self.chain.fee_estimates() {
            Ok(estimates) => fees::rate_from_estimates(&estimates, self.config.fee_target_blocks),
            Err(e) => {
                log::warn!("fee estimates unavailable ({e}); using the fallback rate");
                fees::FALLBACK_FEE_RATE_SAT_PER_KW
            }
        }
    }

    fn parse_recipient(&self, address: &str) -> Result<QtumAddress, WalletError> {
        Ok(QtumAddress::from_str_for(address.trim(), self.network)?)
    }

    /// The checked recipient of a send and the fee rate to use (the caller's, after Qtum's
    /// bounds, or the chain's estimate).
    fn recipient_and_rate(
        &self,
        address: &str,
        fee_rate_sat_per_vb: Option<u64>,
    ) -> Result<(QtumAddress, u32), WalletError> {
        let recipient = self.parse_recipient(address)?;
        let rate = match fees::resolve_sat_per_vb(fee_rate_sat_per_vb)? {
            Some(r) => r,
            None => self.default_fee_rate(),
        };
        Ok((recipient, rate))
    }

    /// Prepares a payment of `amount_sat` to `address` without broadcasting: the returned
    /// [`PreparedSend`] shows the fee; [`Wallet::send_prepared`] signs and broadcasts it.
    /// `fee_rate_sat_per_vb`: at least 400; `None` uses the chain's estimate (never below
    /// 101,000 sat/kW ≈ 404 sat/vB).
    pub fn prepare_send(
        &self,
        address: &str,
        amount_sat: u64,
        fee_rate_sat_per_vb: Option<u64>,
    ) -> Result<PreparedSend, WalletError> {
        let (recipient, rate) = self.recipient_and_rate(address, fee_rate_sat_per_vb)?;
        let mut inner = self.lock();
        let built = self.build(
            &mut inner,
            recipient.script_pubkey(),
            amount_sat,
            rate,
            false,
        )?;
        Ok(built.into_prepared(recipient))
    }

    /// Prepares sending every spendable coin to `address` (one output, no change).
    pub fn prepare_send_all(
        &self,
        address: &str,
        fee_rate_sat_per_vb: Option<u64>,
    ) -> Result<PreparedSend, WalletError> {
        let (recipient, rate) = self.recipient_and_rate(address, fee_rate_sat_per_vb)?;
        let mut inner = self.lock();
        let built = self.build(&mut inner, recipient.script_pubkey(), 0, rate, true)?;
        Ok(built.into_prepared(recipient))
    }

    /// Signs and broadcasts a prepared send. On a refusal by the network (e.g. qtumd's `dust`
    /// or fee reason) the error carries the reason and the wallet is unchanged.
    pub fn send_prepared(&self, prepared: &PreparedSend) -> Result<Txid, WalletError> {
        let mut inner = self.lock();
        let spendable = spendable_outputs(&inner, self.network);
        let mut coins = Vec::with_capacity(prepared.inputs.len());
        for outpoint in &prepared.inputs {
            match spendable.iter().find(|o| o.outpoint == *outpoint) {
                Some(o) => coins.push(o.clone()),
                None => return Err(WalletError::StalePreparation),
            }
        }
        let tx = self.sign(prepared.unsigned.clone(), &coins)?;
        let txid = self.chain.broadcast(&tx)?;
        self.record_broadcast(&mut inner, tx, None, prepared.change_index);
        Ok(txid)
    }

    /// Records a transaction the network already took (with the one it `replaced`, now gone),
    /// moves the change cursor past `change_index` when the transaction used that change
    /// script, and derives the scripts that made room for. The network has the transaction: a
    /// database error here must not hide that (it is logged; the next sync records it).
    fn record_broadcast(
        &self,
        inner: &mut Inner,
        tx: Transaction,
        replaced: Option<Txid>,
        change_index: Option<u32>,
    ) {
        let txid = tx.compute_txid();
        let mut changes = Changes {
            upsert_txs: vec![(
                txid,
                WalletTx {
                    tx,
                    confirmation: None,
                    first_seen: unix_now(),
                },
            )],
            delete_txs: replaced.into_iter().collect(),
            ..Default::default()
        };
        if let Some(index) = change_index {
            if index >= inner.state.next(Keychain::Internal) {
                changes.next_index.push((Keychain::Internal, index + 1));
            }
        }
        if let Err(e) = inner.store.apply(&changes) {
            log::error!("broadcast {txid} but could not record it ({e}); the next sync will");
        }
        changes.apply_to(&mut inner.state);
        let count = inner
            .state
            .next(Keychain::Internal)
            .saturating_add(self.config.gap_limit);
        inner.scripts.ensure(Keychain::Internal, count);
    }

    /// Sends `amount_sat` to `address` (prepare then broadcast); returns the txid.
    pub fn send_to_address(
        &self,
        address: &str,
        amount_sat: u64,
        fee_rate_sat_per_vb: Option<u64>,
    ) -> Result<Txid, WalletError> {
        let prepared = self.prepare_send(address, amount_sat, fee_rate_sat_per_vb)?;
        self.send_prepared(&prepared)
    }

    /// Sends every spendable coin to `address`; returns the txid.
    pub fn send_all(
        &self,
        address: &str,
        fee_rate_sat_per_vb: Option<u64>,
    ) -> Result<Txid, WalletError> {
        let prepared = self.prepare_send_all(address, fee_rate_sat_per_vb)?;
        self.send_prepared(&prepared)
    }

    /// Replaces the unconfirmed send `txid` with one paying a higher fee (BIP 125): the same
    /// recipients and amounts, the fee taken from the change (which is dropped when what is
    /// left of it would be dust), and further confirmed coins added when the change cannot pay
    /// it. `fee_rate_sat_per_vb`: the new rate (at least 400; `None`: the chain's estimate).
    /// Whatever is asked, the replacement pays what Qtum's relay rules demand of one: a higher
    /// rate than the original and, on top of its fee, 10 sat/vB of its own size.
    ///
    /// Refused ([`WalletError::CannotBump`]) for a transaction that is not the wallet's own
    /// send (channel closes and sweeps are LDK's to bump), that is confirmed, that does not
    /// signal replaceability (channel funding never does), or whose outputs something already
    /// spends or a channel funding has reserved (replacing it would take those down too).
    pub fn bump_fee(
        &self,
        txid: &Txid,
        fee_rate_sat_per_vb: Option<u64>,
    ) -> Result<FeeBump, WalletError> {
        let requested = fees::resolve_sat_per_vb(fee_rate_sat_per_vb)?;
        let rate = match requested {
            Some(r) => r,
            None => self.default_fee_rate(),
        };
        let mut inner = self.lock();
        let refuse = |why: &str| Err(WalletError::CannotBump(why.to_owned()));
        let Some(original) = inner.state.txs.get(txid).cloned() else {
            return refuse("the wallet has no such transaction");
        };
        if original.confirmation.is_some() {
            return refuse("it is already confirmed");
        }
        if !original.tx.input.iter().any(|i| i.sequence.is_rbf()) {
            return refuse("it does not signal replaceability (channel funding never does)");
        }
        // The original's own coins, with the keys that sign them again.
        let mut coins: Vec<OwnedOutput> = Vec::with_capacity(original.tx.input.len());
        for input in &original.tx.input {
            let prev = input.previous_output;
            let owned = inner
                .state
                .owned_txout(&prev, &inner.scripts)
                .cloned()
                .and_then(|txout| {
                    let (keychain, index) = inner.scripts.lookup(&txout.script_pubkey)?;
                    let confirmation = inner.state.txs.get(&prev.txid)?.confirmation;
                    Some(OwnedOutput {
                        outpoint: prev,
                        txout,
                        keychain,
                        index,
                        confirmation,
                        needs_maturity: false,
                        trusted: true,
                    })
                });
            match owned {
                Some(coin) => coins.push(coin),
                None => {
                    return refuse(
                        "it spends coins that are not the wallet's (a channel transaction, \
                         whose fees LDK manages)",
                    )
                }
            }
        }
        let built_upon = inner.state.txs.iter().any(|(id, w)| {
            id != txid && w.tx.input.iter().any(|i| i.previous_output.txid == *txid)
        });
        if built_upon {
            return refuse("a later transaction spends its outputs; bump that one instead");
        }
        if inner.state.locks.keys().any(|o| o.txid == *txid) {
            return refuse("its change funds a channel being opened");
        }

        let input_sum = |coins: &[OwnedOutput]| {
            coins
                .iter()
                .fold(0u64, |s, c| s.saturating_add(c.txout.value.to_sat()))
        };
        let original_in = input_sum(&coins);
        let original_out = original
            .tx
            .output
            .iter()
            .fold(0u64, |s, o| s.saturating_add(o.value.to_sat()));
        let original_fee = original_in.saturating_sub(original_out);
        let original_vsize = vsize_from_weight(original.tx.weight().to_wu());

        // Recipients stay as they are; the wallet's change outputs are rebuilt.
        let is_change = |o: &TxOut| {
            matches!(
                inner.scripts.lookup(&o.script_pubkey),
                Some((Keychain::Internal, _))
            )
        };
        let recipients: Vec<TxOut> = original
            .tx
            .output
            .iter()
            .filter(|o| !is_change(o))
            .cloned()
            .collect();
        let old_change = original.tx.output.iter().find(|o| is_change(o)).cloned();
        let (change_script, new_change_index) = match &old_change {
            Some(o) => (o.script_pubkey.clone(), None),
            None => {
                let index = inner.state.next(Keychain::Internal);
                let script = inner
                    .scripts
                    .script(Keychain::Internal, index)
                    .ok_or_else(|| WalletError::Store(format!("cannot derive change {index}")))?;
                (script, Some(index))
            }
        };
        let change_dust = dust_threshold(&change_script);
        let recipient_sum = recipients
            .iter()
            .fold(0u64, |s, o| s.saturating_add(o.value.to_sat()));
        let recipient_lens: Vec<usize> = recipients.iter().map(|o| o.script_pubkey.len()).collect();

        // The fee a replacement of `weight` must pay: the asked rate, a higher rate than the
        // original's, and the original's fee plus the incremental relay fee on its own size.
        let needed = |weight: u64| {
            let vsize = vsize_from_weight(weight);
            let at_rate = fees::fee_at(rate, weight);
            let above_original = original_fee
                .saturating_add(vsize.saturating_mul(INCREMENTAL_RELAY_FEE_SAT_PER_KVB) / 1000);
            let higher_rate = (u128::from(original_fee) * u128::from(vsize))
                .div_ceil(u128::from(original_vsize.max(1)))
                .saturating_add(1);
            at_rate
                .max(above_original)
                .max(u64::try_from(higher_rate).unwrap_or(u64::MAX))
        };

        // Further coins, largest first; confirmed only (a replacement may not add unconfirmed
        // inputs).
        let mut extra: Vec<OwnedOutput> = spendable_outputs(&inner, self.network)
            .into_iter()
            .filter(|c| c.confirmation.is_some())
            .collect();
        extra.sort_by_key(|c| std::cmp::Reverse(c.txout.value.to_sat()));
        let mut extra = extra.into_iter();
        let (fee_sat, change_sat) = loop {
            let available = input_sum(&coins).saturating_sub(recipient_sum);
            let mut with_change = recipient_lens.clone();
            with_change.push(change_script.len());
            let fee_with_change = needed(fees::tx_weight(coins.len(), &with_change));
            if available >= fee_with_change.saturating_add(change_dust) {
                break (fee_with_change, Some(available - fee_with_change));
            }
            let fee_without = needed(fees::tx_weight(coins.len(), &recipient_lens));
            if available >= fee_without {
                // What is left is less than a change output worth keeping: all of it is fee.
                break (available, None);
            }
            match extra.next() {
                Some(coin) => coins.push(coin),
                None => {
                    return Err(WalletError::InsufficientFunds {
                        needed_sat: recipient_sum.saturating_add(fee_without),
                        available_sat: input_sum(&coins),
                    })
                }
            }
        };
        let mut output = recipients;
        if let Some(value) = change_sat {
            output.push(TxOut {
                value: Amount::from_sat(value),
                script_pubkey: change_script,
            });
        }
        let (unsigned, weight) =
            unsigned_spend(&coins, output, original.tx.version, original.tx.lock_time)?;
        let tx = self.sign(unsigned, &coins)?;
        let new_txid = self.chain.broadcast(&tx)?;
        // The network dropped the original for the replacement.
        let used_change_index = new_change_index.filter(|_| change_sat.is_some());
        self.record_broadcast(&mut inner, tx, Some(*txid), used_change_index);
        Ok(FeeBump {
            txid: new_txid,
            replaced: *txid,
            original_fee_sat: original_fee,
            fee_sat,
            vsize: vsize_from_weight(weight),
            input_count: coins.len(),
        })
    }

    /// A signed transaction paying `amount_sat` to `output_script` (LDK's funding output), at
    /// `fee_rate_sat_per_kw` (raised to Qtum's floor of 101,000). Spends only confirmed coins
    /// and the wallet's own change; its inputs stay locked (persisted) until it confirms or
    /// [`Wallet::abandon_funding_transaction`] releases them. Not broadcast here: LDK does that.
    pub fn create_funding_transaction(
        &self,
        output_script: &Script,
        amount_sat: u64,
        fee_rate_sat_per_kw: u32,
    ) -> Result<Transaction, WalletError> {
        let rate = fee_rate_sat_per_kw.max(qtum_primitives::policy::FEERATE_FLOOR_SAT_PER_KW);
        let mut inner = self.lock();
        let built = self.build(
            &mut inner,
            output_script.to_owned(),
            amount_sat,
            rate,
            false,
        )?;
        let mut unsigned = built.unsigned;
        // No RBF signal: replacing a funding transaction changes its txid and breaks the channel.
        for input in &mut unsigned.input {
            input.sequence = Sequence::ENABLE_LOCKTIME_NO_RBF;
        }
        let tx = self.sign(unsigned, &built.coins)?;
        let txid = tx.compute_txid();
        let mut changes = Changes {
            add_locks: built.coins.iter().map(|c| (c.outpoint, txid)).collect(),
            ..Default::default()
        };
        if let Some(index) = built.change_index {
            changes.next_index.push((Keychain::Internal, index + 1));
        }
        inner.store.apply(&changes)?;
        changes.apply_to(&mut inner.state);
        let count = inner
            .state
            .next(Keychain::Internal)
            .saturating_add(self.config.gap_limit);
        inner.scripts.ensure(Keychain::Internal, count);
        Ok(tx)
    }

    /// The funding transactions whose inputs are locked (each txid once, in no order).
    pub fn funding_locks(&self) -> Vec<Txid> {
        let inner = self.lock();
        let mut txids: Vec<Txid> = inner.state.locks.values().copied().collect();
        txids.sort();
        txids.dedup();
        txids
    }

    /// Releases the inputs locked for funding transaction `txid` (the channel was never
    /// opened, or LDK discarded the funding). Returns how many inputs were released.
    pub fn abandon_funding_transaction(&self, txid: &Txid) -> Result<usize, WalletError> {
        let mut inner = self.lock();
        let remove: Vec<OutPoint> = inner
            .state
            .locks
            .iter()
            .filter(|(_, by)| *by == txid)
            .map(|(o, _)| *o)
            .collect();
        let changes = Changes {
            remove_locks: remove.clone(),
            ..Default::default()
        };
        inner.store.apply(&changes)?;
        changes.apply_to(&mut inner.state);
        Ok(remove.len())
    }

    /// Selects coins and builds the unsigned transaction. `amount_sat` is ignored when
    /// `send_all`.
    fn build(
        &self,
        inner: &mut Inner,
        script: ScriptBuf,
        amount_sat: u64,
        sat_per_kw: u32,
        send_all: bool,
    ) -> Result<Built, WalletError> {
        let dust = dust_threshold(&script);
        let spendable = spendable_outputs(inner, self.network);
        let values: Vec<u64> = spendable.iter().map(|o| o.txout.value.to_sat()).collect();
        let available_sat = values.iter().fold(0u64, |sum, v| sum.saturating_add(*v));

        let change_index = inner.state.next(Keychain::Internal);
        let change_script = inner
            .scripts
            .script(Keychain::Internal, change_index)
            .ok_or_else(|| WalletError::Store(format!("cannot derive change {change_index}")))?;

        let (chosen, amount_sat, fee_sat, change_sat) = if send_all {
            let (amount, fee) = coin_selection::send_all_amount(&values, script.len(), sat_per_kw);
            if values.is_empty() || amount < dust {
                return Err(WalletError::InsufficientFunds {
                    needed_sat: fee.saturating_add(dust),
                    available_sat,
                });
            }
            ((0..spendable.len()).collect::<Vec<_>>(), amount, fee, None)
        } else {
            if amount_sat < dust {
                return Err(WalletError::AmountBelowDust {
                    amount_sat,
                    dust_threshold_sat: dust,
                });
            }
            let target = Target {
                amount_sat,
                recipient_script_len: script.len(),
                change_script_len: change_script.len(),
                change_dust_sat: dust_threshold(&change_script),
                sat_per_kw,
            };
            let s = coin_selection::select(&values, &target).map_err(|e| {
                WalletError::InsufficientFunds {
                    needed_sat: e.needed_sat,
                    available_sat: e.available_sat,
                }
            })?;
            (s.inputs, amount_sat, s.fee_sat, s.change_sat)
        };

        let coins: Vec<OwnedOutput> = chosen.iter().map(|&i| spendable[i].clone()).collect();
        let lock_time = inner
            .state
            .tip
            .and_then(|(h, _)| LockTime::from_height(h).ok())
            .unwrap_or(LockTime::ZERO);
        let mut output = vec![TxOut {
            value: Amount::from_sat(amount_sat),
            script_pubkey: script,
        }];
        if let Some(change) = change_sat {
            output.push(TxOut {
                value: Amount::from_sat(change),
                script_pubkey: change_script,
            });
        }
        // Version 2 (BIP68; Qtum 27.1 relays nothing above 2); the lock time is anti fee
        // sniping, as Core: only valid from the block after the tip.
        let (unsigned, weight) = unsigned_spend(&coins, output, Version::TWO, lock_time)?;
        Ok(Built {
            unsigned,
            coins,
            amount_sat,
            fee_sat,
            change_sat,
            change_index: change_sat.map(|_| change_index),
            sat_per_kw,
            weight,
        })
    }

    fn sign(&self, mut tx: Transaction, coins: &[OwnedOutput]) -> Result<Transaction, WalletError> {
        let mut witnesses = Vec::with_capacity(coins.len());
        {
            let mut cache = SighashCache::new(&tx);
            for (i, coin) in coins.iter().enumerate() {
                let secret = child_secret(
                    &self.secp,
                    self.seed.account_xpriv(),
                    coin.keychain,
                    coin.index,
                )
                .ok_or_else(|| WalletError::Store("cannot derive a signing key".to_owned()))?;
                let sighash = cache
                    .p2wpkh_signature_hash(
                        i,
                        &coin.txout.script_pubkey,
                        coin.txout.value,
                        EcdsaSighashType::All,
                    )
                    .map_err(|e| WalletError::Store(format!("cannot sign input {i}: {e}")))?;
                let msg = Message::from(sighash);
                // Low-R signatures are at most 71 bytes with the sighash byte: under the fee
                // estimate's 72.
                let signature = self.secp.sign_ecdsa_low_r(&msg, &secret);
                let pubkey = secret.public_key(&self.secp);
                witnesses.push(Witness::p2wpkh(
                    &bitcoin::ecdsa::Signature {
                        signature,
                        sighash_type: EcdsaSighashType::All,
                    },
                    &pubkey,
                ));
            }
        }
        for (input, witness) in tx.input.iter_mut().zip(witnesses) {
            input.witness = witness;
        }
        Ok(tx)
    }
}

/// The unsigned transaction spending `coins` (each signalling replaceability) to `output`, and
/// the upper bound of its weight once signed; refused above the standard weight.
fn unsigned_spend(
    coins: &[OwnedOutput],
    output: Vec<TxOut>,
    version: Version,
    lock_time: LockTime,
) -> Result<(Transaction, u64), WalletError> {
    let lens: Vec<usize> = output.iter().map(|o| o.script_pubkey.len()).collect();
    let weight = fees::tx_weight(coins.len(), &lens);
    if weight > MAX_STANDARD_TX_WEIGHT {
        return Err(WalletError::TransactionTooLarge { weight });
    }
    let unsigned = Transaction {
        version,
        lock_time,
        input: coins
            .iter()
            .map(|c| TxIn {
                previous_output: c.outpoint,
                script_sig: ScriptBuf::new(),
                sequence: Sequence::ENABLE_RBF_NO_LOCKTIME,
                witness: Witness::new(),
            })
            .collect(),
        output,
    };
    Ok((unsigned, weight))
}

fn is_spendable(o: &OwnedOutput, state: &State, tip: Option<u32>, maturity: u32) -> bool {
    o.trusted && o.is_mature(tip, maturity) && !state.locks.contains_key(&o.outpoint)
}

/// Coins a send or funding may use: confirmed and mature, or the wallet's own unconfirmed
/// change; never locked ones.
fn spendable_outputs(inner: &Inner, network: Network) -> Vec<OwnedOutput> {
    let tip = inner.state.tip.map(|t| t.0);
    let maturity = network.coinbase_maturity();
    inner
        .state
        .unspent(&inner.scripts)
        .into_iter()
        .filter(|o| is_spendable(o, &inner.state, tip, maturity))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wallet_can_be_shared_with_ldk() {
        fn assert_send_sync<T: Send + Sync>() {}
        assert_send_sync::<Wallet>();
    }

    /// A source for wallets that only derive addresses.
    struct Offline;

    fn offline<T>() -> Result<T, ChainError> {
        Err(ChainError::Unreachable("offline".into()))
    }

    impl ChainSource for Offline {
        fn describe(&self) -> String {
            "offline".into()
        }
        fn tip(&self) -> Result<qtum_chain::BlockRef, ChainError> {
            offline()
        }
        fn block_hash_at(&self, _: u32) -> Result<Option<BlockHash>, ChainError> {
            offline()
        }
        fn header(&self, _: &BlockHash) -> Result<qtum_primitives::QtumHeader, ChainError> {
            offline()
        }
        fn block(&self, _: &BlockHash) -> Result<qtum_primitives::QtumBlock, ChainError> {
            offline()
        }
        fn transaction(&self, _: &Txid) -> Result<Option<Transaction>, ChainError> {
            offline()
        }
        fn tx_status(&self, _: &Txid) -> Result<TxStatus, ChainError> {
            offline()
        }
        fn script_history(&self, _: &Script) -> Result<Vec<qtum_chain::HistoryEntry>, ChainError> {
            offline()
        }
        fn outspend(&self, _: &OutPoint) -> Result<Option<qtum_chain::Spend>, ChainError> {
            offline()
        }
        fn broadcast(&self, _: &Transaction) -> Result<Txid, ChainError> {
            offline()
        }
        fn fee_estimates(&self) -> Result<qtum_chain::FeeEstimates, ChainError> {
            offline()
        }
    }

    #[test]
    fn standalone_open_is_durable() {
        let path =
            std::env::temp_dir().join(format!("qtum-wallet-durable-{}.sqlite", std::process::id()));
        let remove = || {
            for suffix in ["", "-wal", "-shm"] {
                let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
            }
        };
        remove();
        let seed = WalletSeed::from_seed_bytes(&[7; 64]).expect("seed");
        let wallet = Wallet::open(
            &path,
            &seed,
            Network::Regtest,
            Arc::new(Offline),
            WalletConfig::default(),
        )
        .expect("open");
        {
            let conn = wallet.connection();
            let conn = conn.lock().expect("lock");
            let pragma = |name: &str| -> i64 {
                conn.query_row(&format!("PRAGMA {name}"), [], |r| r.get(0))
                    .expect("pragma")
            };
            // 2 = FULL: the WAL is synced at every commit, not only at checkpoints.
            assert_eq!(pragma("synchronous"), 2);
            assert_eq!(pragma("busy_timeout"), 10_000);
            let fullfsync = i64::from(cfg!(any(target_os = "macos", target_os = "ios")));
            assert_eq!(pragma("fullfsync"), fullfsync);
            let mode: String = conn
                .query_row("PRAGMA journal_mode", [], |r| r.get(0))
                .expect("mode");
            assert_eq!(mode, "wal");
        }
        let first = wallet.new_address().expect("address");
        drop(wallet);
        let wallet = Wallet::open(
            &path,
            &seed,
            Network::Regtest,
            Arc::new(Offline),
            WalletConfig::default(),
        )
        .expect("reopen");
        assert_ne!(wallet.new_address().expect("address"), first);
        drop(wallet);
        remove();
    }

    #[test]
    fn balance_arithmetic() {
        let b = Balance {
            confirmed_sat: 100,
            unconfirmed_sat: 20,
            untrusted_pending_sat: 5,
            immature_sat: 7,
            locked_sat: 30,
        };
        assert_eq!(b.spendable_sat(), 90);
        assert_eq!(b.total_sat(), 132);
    }
}

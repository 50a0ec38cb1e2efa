//! The chain state: every block the harness knows, the active chain, the UTXO set with undo
//! data, the indexes (`-txindex` and `-addrindex` style) and the mempool; block connection,
//! reorganisation, `invalidateblock`/`reconsiderblock` and mempool acceptance.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::time::{SystemTime, UNIX_EPOCH};

use bitcoin::hashes::{sha256d, Hash};
use bitcoin::{BlockHash, OutPoint, ScriptBuf, Target, Transaction, Txid};

use crate::mempool::{Mempool, MempoolEntry};
use crate::miner;
use crate::params::{
    self, fee_for, pow_bits, COINBASE_MATURITY, MAX_ANCESTORS, MIN_RELAY_FEE_SAT_PER_KVB,
};
use crate::policy;
use crate::store::{Event, Loaded, Store, StoreError};
use crate::validation::{self, Coin, RejectKind, TxReject};
use qtum_primitives::QtumBlock;

/// Validity of a stored block.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BlockStatus {
    /// Connected at least once, or not yet tried.
    Valid,
    /// Failed validation or was invalidated by `invalidateblock`.
    Failed,
    /// Descends from a failed block.
    FailedChild,
}

/// A stored block and what the chain knows about it.
#[derive(Clone, Debug)]
pub struct BlockRecord {
    /// The block.
    pub block: QtumBlock,
    /// Its hash (sha256d of the whole header).
    pub hash: BlockHash,
    /// Height.
    pub height: u32,
    /// Total work of the chain ending here (in units of 1; each regtest block adds 2).
    pub chain_work: u128,
    /// Median time past of the 11 blocks ending here.
    pub mtp: u32,
    /// Qtum's stake modifier (for PoW blocks: sha256d(hash || previous modifier)).
    pub modifier: [u8; 32],
    /// Validity.
    pub status: BlockStatus,
    /// Arrival order (ties between equal-work chains go to the first seen).
    pub seq: u64,
    /// Coins spent by each non-coinbase transaction (set while connected).
    pub undo: Option<Vec<Vec<Coin>>>,
    /// Fee of each transaction (0 for the coinbase), set while connected.
    pub fees: Vec<u64>,
    /// (fee rate sat/kvB, blocks waited) of the mempool transactions this block confirmed,
    /// the data of `estimatesmartfee`.
    pub fee_samples: Vec<(u64, u32)>,
}

/// Where a spent output went (`getspentinfo`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SpentInfo {
    /// Spending transaction.
    pub txid: Txid,
    /// Input index in it.
    pub vin: u32,
    /// Height of the block that confirmed it.
    pub height: u32,
}

/// Options of a mempool acceptance.
#[derive(Clone, Copy, Debug, Default)]
pub struct AcceptOptions {
    /// Validate only (`testmempoolaccept`).
    pub test_only: bool,
    /// Skip fee floors (re-adding transactions of disconnected blocks, as Core does).
    pub bypass_limits: bool,
    /// Refuse fees above this rate, sat/kvB.
    pub max_fee_rate: Option<u64>,
}

/// A transaction the mempool accepted (or would accept).
#[derive(Clone, Debug)]
pub struct Accepted {
    /// Txid.
    pub txid: Txid,
    /// Wtxid.
    pub wtxid: bitcoin::Wtxid,
    /// Fee, satoshi.
    pub fee: u64,
    /// Virtual size.
    pub vsize: u64,
}

/// Why a block was refused.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BlockReject(pub String);

impl std::fmt::Display for BlockReject {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// Current time in seconds.
pub fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// The whole node state.
#[derive(Debug)]
pub struct ChainState {
    blocks: HashMap<BlockHash, BlockRecord>,
    active: Vec<BlockHash>,
    utxo: HashMap<OutPoint, Coin>,
    tx_index: HashMap<Txid, (BlockHash, u32)>,
    addr_utxos: HashMap<ScriptBuf, BTreeSet<OutPoint>>,
    addr_txs: HashMap<ScriptBuf, Vec<(u32, Txid)>>,
    spent_index: HashMap<OutPoint, SpentInfo>,
    /// The mempool.
    pub mempool: Mempool,
    next_seq: u64,
    left_ibd: bool,
    size_on_disk: u64,
    store: Option<Store>,
    refused: Vec<(Txid, String)>,
}

impl Default for ChainState {
    fn default() -> Self {
        Self::new()
    }
}

impl ChainState {
    /// A chain holding only the regtest genesis block.
    pub fn new() -> Self {
        let genesis = params::genesis_block();
        let hash = genesis.block_hash();
        let size = bitcoin::consensus::encode::serialize(&genesis).len() as u64;
        let mtp = genesis.header.time;
        let rec = BlockRecord {
            block: genesis,
            hash,
            height: 0,
            chain_work: u128::from(params::WORK_PER_BLOCK),
            mtp,
            modifier: [0u8; 32],
            status: BlockStatus::Valid,
            seq: 0,
            undo: Some(Vec::new()),
            fees: vec![0],
            fee_samples: Vec::new(),
        };
        let mut blocks = HashMap::new();
        blocks.insert(hash, rec);
        // The genesis coinbase is not in the UTXO set: it cannot be spent (as in Core).
        ChainState {
            blocks,
            active: vec![hash],
            utxo: HashMap::new(),
            tx_index: HashMap::new(),
            addr_utxos: HashMap::new(),
            addr_txs: HashMap::new(),
            spent_index: HashMap::new(),
            mempool: Mempool::default(),
            next_seq: 1,
            left_ibd: false,
            size_on_disk: size + 8,
            store: None,
            refused: Vec::new(),
        }
    }

    /// Open the chain kept in a data directory (created if missing): replay its log of blocks,
    /// `invalidateblock` and `reconsiderblock` calls through the usual validation, then load
    /// the mempool snapshot. Later changes are logged there.
    pub fn open(dir: &std::path::Path) -> Result<Self, StoreError> {
        let mut chain = ChainState::new();
        let Loaded {
            mut store,
            events,
            mempool,
        } = Store::open(dir, chain.tip_hash())?;
        for (n, event) in events.into_iter().enumerate() {
            let r = match event {
                Event::Block(b) => {
                    let h = b.block_hash();
                    chain
                        .submit_tip_block(b)
                        .map(|_| ())
                        .map_err(|e| format!("block {h} does not connect: {e}"))
                }
                Event::Invalidate(h) => chain
                    .invalidate_block(&h)
                    .map_err(|e| format!("invalidateblock {h}: {e}")),
                Event::Reconsider(h) => chain
                    .reconsider_block(&h)
                    .map_err(|e| format!("reconsiderblock {h}: {e}")),
            };
            r.map_err(|e| StoreError::Corrupt(format!("replaying record {n}: {e}")))?;
        }
        chain.mempool.drain();
        let opts = AcceptOptions {
            bypass_limits: true,
            ..Default::default()
        };
        for (time, tx) in mempool {
            match chain.accept_to_mempool(&tx, opts) {
                Ok(a) => chain.mempool.set_time(&a.txid, time),
                Err(e) => log::info!("mempool.dat: dropped {}: {e}", tx.compute_txid()),
            }
        }
        store.mempool_written = chain.mempool.changes();
        chain.store = Some(store);
        Ok(chain)
    }

    /// True when the chain is kept in a data directory.
    pub fn is_persistent(&self) -> bool {
        self.store.is_some()
    }

    /// Make every logged change durable (fsync) and rewrite the mempool snapshot if the
    /// mempool changed. Called at the end of every RPC call and node method.
    pub fn sync_store(&mut self) -> Result<(), String> {
        let changes = self.mempool.changes();
        let Some(store) = self.store.as_mut() else {
            return Ok(());
        };
        store.sync().map_err(|e| format!("datadir: {e}"))?;
        if store.mempool_written != changes {
            let entries: Vec<(u64, &Transaction)> =
                self.mempool.entries().map(|e| (e.time, &e.tx)).collect();
            store
                .write_mempool(&entries)
                .map_err(|e| format!("datadir: {e}"))?;
            store.mempool_written = changes;
        }
        Ok(())
    }

    fn log_event(&mut self, event: &Event) -> Result<(), BlockReject> {
        match self.store.as_mut() {
            Some(store) => store
                .append(event)
                .map_err(|e| BlockReject(format!("datadir write failed: {e}"))),
            None => Ok(()),
        }
    }

    // ----- read access -----

    /// Height of the tip.
    pub fn height(&self) -> u32 {
        (self.active.len() - 1) as u32
    }

    /// Hash of the tip.
    pub fn tip_hash(&self) -> BlockHash {
        self.active[self.active.len() - 1]
    }

    /// The tip's record.
    pub fn tip(&self) -> &BlockRecord {
        &self.blocks[&self.tip_hash()]
    }

    /// A block by hash.
    pub fn block(&self, hash: &BlockHash) -> Option<&BlockRecord> {
        self.blocks.get(hash)
    }

    /// The active block at a height.
    pub fn hash_at(&self, height: u32) -> Option<BlockHash> {
        self.active.get(height as usize).copied()
    }

    /// True when the block is on the active chain.
    pub fn is_active(&self, rec: &BlockRecord) -> bool {
        self.hash_at(rec.height) == Some(rec.hash)
    }

    /// Next block on the active chain.
    pub fn next_hash(&self, rec: &BlockRecord) -> Option<BlockHash> {
        if self.is_active(rec) {
            self.hash_at(rec.height + 1)
        } else {
            None
        }
    }

    /// Median time past of the active block at a height (clamped to the tip).
    pub fn mtp_at(&self, height: u32) -> u32 {
        let h = height.min(self.height());
        self.blocks[&self.active[h as usize]].mtp
    }

    /// `initialblockdownload`: true until a tip younger than a day was seen (then latched).
    pub fn initial_block_download(&self) -> bool {
        !self.left_ibd
    }

    /// Approximate `size_on_disk`: serialized blocks plus 8 bytes of framing each.
    pub fn size_on_disk(&self) -> u64 {
        self.size_on_disk
    }

    /// An unspent output of the UTXO set (confirmed only).
    pub fn utxo(&self, outpoint: &OutPoint) -> Option<&Coin> {
        self.utxo.get(outpoint)
    }

    /// Where a confirmed transaction is: block hash and position.
    pub fn tx_location(&self, txid: &Txid) -> Option<(BlockHash, u32)> {
        self.tx_index.get(txid).copied()
    }

    /// Confirmed unspent outputs paying a script.
    pub fn address_utxos(&self, script: &ScriptBuf) -> Vec<(OutPoint, Coin)> {
        self.addr_utxos
            .get(script)
            .map(|set| {
                set.iter()
                    .filter_map(|op| self.utxo.get(op).map(|c| (*op, c.clone())))
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Confirmed transactions touching a script, as (height, txid) in chain order.
    pub fn address_txids(&self, script: &ScriptBuf) -> Vec<(u32, Txid)> {
        self.addr_txs.get(script).cloned().unwrap_or_default()
    }

    /// Who spent a confirmed output (or `None`).
    pub fn spent_info(&self, outpoint: &OutPoint) -> Option<SpentInfo> {
        self.spent_index.get(outpoint).copied()
    }

    /// Blocks that are not on the active chain and have no child (for getchaintips).
    pub fn all_blocks(&self) -> impl Iterator<Item = &BlockRecord> {
        self.blocks.values()
    }

    /// A confirmed transaction and the block holding it.
    pub fn confirmed_tx(&self, txid: &Txid) -> Option<(&Transaction, &BlockRecord, u32)> {
        let (bh, pos) = self.tx_index.get(txid)?;
        let rec = self.blocks.get(bh)?;
        rec.block
            .txdata
            .get(*pos as usize)
            .map(|tx| (tx, rec, *pos))
    }

    // ----- blocks -----

    fn median_time(&self, prev: Option<&BlockHash>, own_time: u32) -> u32 {
        let mut times = vec![own_time];
        let mut cur = prev.copied();
        while let Some(h) = cur {
            if times.len() == 11 {
                break;
            }
            let Some(r) = self.blocks.get(&h) else { break };
            times.push(r.block.header.time);
            cur = (r.height > 0).then_some(r.block.header.prev_blockhash);
        }
        times.sort_unstable();
        times[times.len() / 2]
    }

    fn add_record(&mut self, block: QtumBlock) -> Result<BlockHash, BlockReject> {
        let hash = block.block_hash();
        if self.blocks.contains_key(&hash) {
            return Err(BlockReject("duplicate".into()));
        }
        let prev_hash = block.header.prev_blockhash;
        let Some(prev) = self.blocks.get(&prev_hash) else {
            return Err(BlockReject("prev-blk-not-found".into()));
        };
        let mut status = BlockStatus::Valid;
        if prev.status != BlockStatus::Valid {
            status = BlockStatus::FailedChild;
        }
        let mut m = Vec::with_capacity(64);
        m.extend_from_slice(hash.as_byte_array());
        m.extend_from_slice(&prev.modifier);
        let modifier = sha256d::Hash::hash(&m).to_byte_array();
        let height = prev.height + 1;
        let chain_work = prev.chain_work + u128::from(params::WORK_PER_BLOCK);
        let mtp = self.median_time(Some(&prev_hash), block.header.time);
        let seq = self.next_seq;
        self.next_seq += 1;
        self.size_on_disk += bitcoin::consensus::encode::serialize(&block).len() as u64 + 8;
        self.blocks.insert(
            hash,
            BlockRecord {
                block,
                hash,
                height,
                chain_work,
                mtp,
                modifier,
                status,
                seq,
                undo: None,
                fees: Vec::new(),
                fee_samples: Vec::new(),
            },
        );
        Ok(hash)
    }

    fn remove_record(&mut self, hash: &BlockHash) {
        if let Some(r) = self.blocks.remove(hash) {
            let size = bitcoin::consensus::encode::serialize(&r.block).len() as u64 + 8;
            self.size_on_disk = self.size_on_disk.saturating_sub(size);
        }
    }

    /// Context checks of a block that extends the active tip (Core's CheckBlock and
    /// ContextualCheckBlock[Header]).
    fn check_block(
        &self,
        block: &QtumBlock,
        height: u32,
        prev_mtp: u32,
    ) -> Result<(), BlockReject> {
        let reject = |s: &str| Err(BlockReject(s.to_string()));
        let h = &block.header;
        if h.bits != pow_bits() {
            return reject("bad-diffbits");
        }
        if h.is_proof_of_stake() || !h.block_sig.is_empty() {
            return reject("bad-blk-pos-unsupported");
        }
        if !Target::from_compact(h.bits).is_met_by(bitcoin::BlockHash::from_byte_array(
            block.block_hash().to_byte_array(),
        )) {
            return reject("high-hash");
        }
        if h.time <= prev_mtp {
            return reject("time-too-old");
        }
        if u64::from(h.time) > now() + 2 * 60 * 60 {
            return reject("time-too-new");
        }
        if h.version < 4 {
            return Err(BlockReject(format!("bad-version(0x{:08x})", h.version)));
        }
        let txs = &block.txdata;
        if txs.is_empty() || !txs[0].is_coinbase() {
            return reject("bad-cb-missing");
        }
        if txs.iter().skip(1).any(|t| t.is_coinbase()) {
            return reject("bad-cb-multiple");
        }
        if !block.check_merkle_root() {
            return reject("bad-txnmrklroot");
        }
        let txids: HashSet<Txid> = txs.iter().map(|t| t.compute_txid()).collect();
        if txids.len() != txs.len() {
            return reject("bad-txns-duplicate");
        }
        let mut weight = 0u64;
        for tx in txs {
            validation::check_transaction(tx).map_err(|r| BlockReject(r.reason))?;
            weight += tx.weight().to_wu();
        }
        if weight > params::MAX_BLOCK_WEIGHT {
            return reject("bad-blk-weight");
        }
        for tx in txs {
            if !validation::is_final_tx(tx, height, prev_mtp) {
                return reject("bad-txns-nonfinal");
            }
        }
        let expect = miner::bip34_height_script(height);
        if !txs[0].input[0]
            .script_sig
            .as_bytes()
            .starts_with(expect.as_bytes())
        {
            return reject("bad-cb-height");
        }
        miner::check_witness_commitment(block).map_err(|s| BlockReject(s.to_string()))?;
        Ok(())
    }

    /// Connect a block on top of the active tip, fully validated. Nothing changes on failure.
    fn connect_block(&mut self, hash: &BlockHash) -> Result<(), BlockReject> {
        let rec = self
            .blocks
            .get(hash)
            .ok_or_else(|| BlockReject("block-not-found".into()))?;
        if rec.block.header.prev_blockhash != self.tip_hash() {
            return Err(BlockReject("bad-prevblk".into()));
        }
        let block = rec.block.clone();
        let height = rec.height;
        let prev_mtp = self.tip().mtp;
        self.check_block(&block, height, prev_mtp)?;

        let mut overlay: HashMap<OutPoint, Option<Coin>> = HashMap::new();
        // Every output this block creates, also those a later transaction of the block spends:
        // the address index lists both the creating and the spending transaction for them.
        let mut created: HashMap<OutPoint, Coin> = HashMap::new();
        let mut undo: Vec<Vec<Coin>> = Vec::with_capacity(block.txdata.len().saturating_sub(1));
        let mut fees: Vec<u64> = Vec::with_capacity(block.txdata.len());
        let mut total_fees = 0u64;
        let mut sigops = 0u64;
        for (idx, tx) in block.txdata.iter().enumerate() {
            let txid = tx.compute_txid();
            if idx == 0 {
                sigops += validation::sigop_cost(tx, &[]);
                fees.push(0);
            } else {
                let mut coins = Vec::with_capacity(tx.input.len());
                for input in &tx.input {
                    let op = input.previous_output;
                    let coin = match overlay.get(&op) {
                        Some(c) => c.clone(),
                        None => self.utxo.get(&op).cloned(),
                    };
                    match coin {
                        Some(c) => coins.push(c),
                        None => return Err(BlockReject("bad-txns-inputs-missingorspent".into())),
                    }
                }
                let fee = validation::check_tx_inputs(tx, &coins, height)
                    .map_err(|r| BlockReject(r.reason))?;
                let heights: Vec<u32> = coins.iter().map(|c| c.height).collect();
                let lock = validation::sequence_locks(tx, &heights, |h| self.mtp_at(h));
                if !lock.satisfied(height, prev_mtp) {
                    return Err(BlockReject("bad-txns-nonfinal".into()));
                }
                sigops += validation::sigop_cost(tx, &coins);
                if sigops > params::MAX_BLOCK_SIGOPS_COST {
                    return Err(BlockReject("bad-blk-sigops".into()));
                }
                validation::verify_scripts(tx, &coins, validation::CONSENSUS_FLAGS)
                    .map_err(|r| BlockReject(r.reason))?;
                for input in &tx.input {
                    overlay.insert(input.previous_output, None);
                }
                total_fees += fee;
                fees.push(fee);
                undo.push(coins);
            }
            for (n, out) in tx.output.iter().enumerate() {
                if out.script_pubkey.is_op_return() || out.script_pubkey.len() > 10_000 {
                    continue;
                }
                let op = OutPoint {
                    txid,
                    vout: n as u32,
                };
                let exists = match overlay.get(&op) {
                    Some(c) => c.is_some(),
                    None => self.utxo.contains_key(&op),
                };
                if exists {
                    return Err(BlockReject("bad-txns-BIP30".into()));
                }
                let coin = Coin {
                    output: out.clone(),
                    height,
                    is_coinbase: idx == 0,
                };
                created.insert(op, coin.clone());
                overlay.insert(op, Some(coin));
            }
        }
        if sigops > params::MAX_BLOCK_SIGOPS_COST {
            return Err(BlockReject("bad-blk-sigops".into()));
        }
        let cb_value = block.txdata[0]
            .output
            .iter()
            .fold(0u64, |a, o| a.saturating_add(o.value.to_sat()));
        if cb_value > params::block_subsidy(height).saturating_add(total_fees) {
            return Err(BlockReject("bad-cb-amount".into()));
        }

        // Valid: commit the UTXO changes and the indexes.
        for (idx, tx) in block.txdata.iter().enumerate() {
            let txid = tx.compute_txid();
            self.tx_index.insert(txid, (*hash, idx as u32));
            if idx > 0 {
                for (vin, input) in tx.input.iter().enumerate() {
                    let op = input.previous_output;
                    if let Some(coin) = self.utxo.remove(&op) {
                        if let Some(set) = self.addr_utxos.get_mut(&coin.output.script_pubkey) {
                            set.remove(&op);
                        }
                        self.push_addr_tx(&coin.output.script_pubkey, height, txid);
                    } else if let Some(coin) = created.get(&op) {
                        // Created earlier in this block: never in the UTXO set.
                        let script = coin.output.script_pubkey.clone();
                        self.push_addr_tx(&script, height, txid);
                    }
                    self.spent_index.insert(
                        op,
                        SpentInfo {
                            txid,
                            vin: vin as u32,
                            height,
                        },
                    );
                }
            }
            for (n, out) in tx.output.iter().enumerate() {
                let op = OutPoint {
                    txid,
                    vout: n as u32,
                };
                match overlay.get(&op) {
                    Some(Some(coin)) => {
                        self.utxo.insert(op, coin.clone());
                        self.addr_utxos
                            .entry(out.script_pubkey.clone())
                            .or_default()
                            .insert(op);
                        self.push_addr_tx(&out.script_pubkey, height, txid);
                    }
                    // Spent by a later transaction of the same block: not a UTXO, but the
                    // transaction still paid the script.
                    Some(None) if created.contains_key(&op) => {
                        self.push_addr_tx(&out.script_pubkey, height, txid);
                    }
                    _ => {}
                }
            }
        }
        if let Some(r) = self.blocks.get_mut(hash) {
            r.undo = Some(undo);
            r.fees = fees;
            r.status = BlockStatus::Valid;
        }
        self.active.push(*hash);
        if u64::from(block.header.time) + 24 * 60 * 60 > now() {
            self.left_ibd = true;
        }
        self.mempool.remove_for_block(&block.txdata);
        Ok(())
    }

    fn push_addr_tx(&mut self, script: &ScriptBuf, height: u32, txid: Txid) {
        let list = self.addr_txs.entry(script.clone()).or_default();
        if list.last() != Some(&(height, txid)) {
            list.push((height, txid));
        }
    }

    /// Disconnect the tip; returns its non-coinbase transactions.
    fn disconnect_tip(&mut self) -> Vec<Transaction> {
        if self.active.len() <= 1 {
            return Vec::new();
        }
        let hash = self.tip_hash();
        let Some(rec) = self.blocks.get_mut(&hash) else {
            return Vec::new();
        };
        let undo = rec.undo.take().unwrap_or_default();
        rec.fees.clear();
        let block = rec.block.clone();
        let height = rec.height;
        for (idx, tx) in block.txdata.iter().enumerate().rev() {
            let txid = tx.compute_txid();
            for n in 0..tx.output.len() as u32 {
                let op = OutPoint { txid, vout: n };
                if let Some(coin) = self.utxo.remove(&op) {
                    if let Some(set) = self.addr_utxos.get_mut(&coin.output.script_pubkey) {
                        set.remove(&op);
                    }
                    self.pop_addr_tx(&coin.output.script_pubkey, height, txid);
                }
            }
            if idx > 0 {
                if let Some(coins) = undo.get(idx - 1) {
                    for (input, coin) in tx.input.iter().zip(coins) {
                        let op = input.previous_output;
                        self.pop_addr_tx(&coin.output.script_pubkey, height, txid);
                        self.addr_utxos
                            .entry(coin.output.script_pubkey.clone())
                            .or_default()
                            .insert(op);
                        self.utxo.insert(op, coin.clone());
                        self.spent_index.remove(&op);
                    }
                }
            }
            self.tx_index.remove(&txid);
        }
        self.active.pop();
        block.txdata.into_iter().skip(1).collect()
    }

    fn pop_addr_tx(&mut self, script: &ScriptBuf, height: u32, txid: Txid) {
        if let Some(list) = self.addr_txs.get_mut(script) {
            list.retain(|e| *e != (height, txid));
            if list.is_empty() {
                self.addr_txs.remove(script);
            }
        }
    }

    fn best_candidate(&self) -> BlockHash {
        let mut best = self.tip_hash();
        let mut best_key = {
            let r = self.tip();
            (r.chain_work, std::cmp::Reverse(r.seq))
        };
        for r in self.blocks.values() {
            if r.status != BlockStatus::Valid {
                continue;
            }
            let key = (r.chain_work, std::cmp::Reverse(r.seq));
            if key > best_key {
                best_key = key;
                best = r.hash;
            }
        }
        best
    }

    fn mark_failed(&mut self, hash: &BlockHash) {
        if let Some(r) = self.blocks.get_mut(hash) {
            r.status = BlockStatus::Failed;
        }
        let mut stack = vec![*hash];
        let children = self.children_map();
        while let Some(h) = stack.pop() {
            for c in children.get(&h).into_iter().flatten() {
                if let Some(r) = self.blocks.get_mut(c) {
                    r.status = BlockStatus::FailedChild;
                }
                stack.push(*c);
            }
        }
    }

    fn children_map(&self) -> HashMap<BlockHash, Vec<BlockHash>> {
        let mut m: HashMap<BlockHash, Vec<BlockHash>> = HashMap::new();
        for r in self.blocks.values() {
            if r.height > 0 {
                m.entry(r.block.header.prev_blockhash)
                    .or_default()
                    .push(r.hash);
            }
        }
        m
    }

    /// Move to the valid chain with the most work, re-adding transactions of disconnected blocks
    /// to the mempool.
    fn activate_best_chain(&mut self) {
        let mut disconnected: Vec<Vec<Transaction>> = Vec::new();
        loop {
            let best = self.best_candidate();
            if best == self.tip_hash() {
                break;
            }
            // Path from best back to the active chain.
            let mut path = Vec::new();
            let mut cur = best;
            while let Some(r) = self.blocks.get(&cur) {
                if self.is_active(r) {
                    break;
                }
                path.push(cur);
                cur = r.block.header.prev_blockhash;
            }
            let fork_height = self.blocks.get(&cur).map(|r| r.height).unwrap_or(0);
            while self.height() > fork_height {
                disconnected.push(self.disconnect_tip());
            }
            for h in path.iter().rev() {
                if let Err(e) = self.connect_block(h) {
                    log::info!("block {h} failed to connect: {e}");
                    self.mark_failed(h);
                    break;
                }
            }
        }
        if !disconnected.is_empty() {
            disconnected.reverse();
            self.readd_to_mempool(disconnected.into_iter().flatten().collect());
        }
    }

    /// Rebuild the mempool after a reorganisation: first the transactions of disconnected
    /// blocks (oldest first), then the old mempool; whatever is no longer valid is dropped.
    fn readd_to_mempool(&mut self, disconnected: Vec<Transaction>) {
        let old = self.mempool.drain();
        let opts = AcceptOptions {
            bypass_limits: true,
            ..Default::default()
        };
        for tx in disconnected {
            if let Err(e) = self.accept_to_mempool(&tx, opts) {
                log::debug!("reorg: dropped {}: {e}", tx.compute_txid());
            }
        }
        for e in old {
            let time = e.time;
            if self.accept_to_mempool(&e.tx, opts).is_ok() {
                // Keep the original entry time, as Core does.
                self.mempool.set_time(&e.txid, time);
            }
        }
    }

    /// `invalidateblock`: mark a block and its descendants invalid and reorganise away.
    pub fn invalidate_block(&mut self, hash: &BlockHash) -> Result<(), BlockReject> {
        let Some(rec) = self.blocks.get(hash) else {
            return Err(BlockReject("Block not found".into()));
        };
        if rec.height == 0 {
            return Err(BlockReject("Cannot invalidate the genesis block".into()));
        }
        let height = rec.height;
        let active = self.is_active(rec);
        self.log_event(&Event::Invalidate(*hash))?;
        let mut disconnected: Vec<Vec<Transaction>> = Vec::new();
        if active {
            while self.height() >= height {
                disconnected.push(self.disconnect_tip());
            }
        }
        self.mark_failed(hash);
        disconnected.reverse();
        // Re-add before activating so that a competing chain's conflicts evict them as in Core.
        if !disconnected.is_empty() {
            self.readd_to_mempool(disconnected.into_iter().flatten().collect());
        }
        self.activate_best_chain();
        Ok(())
    }

    /// `reconsiderblock`: clear the failure marks of a block, its ancestors and descendants,
    /// then move to the best chain.
    pub fn reconsider_block(&mut self, hash: &BlockHash) -> Result<(), BlockReject> {
        if !self.blocks.contains_key(hash) {
            return Err(BlockReject("Block not found".into()));
        }
        self.log_event(&Event::Reconsider(*hash))?;
        let children = self.children_map();
        let mut stack = vec![*hash];
        while let Some(h) = stack.pop() {
            if let Some(r) = self.blocks.get_mut(&h) {
                r.status = BlockStatus::Valid;
            }
            stack.extend(children.get(&h).into_iter().flatten().copied());
        }
        let mut cur = *hash;
        while let Some(r) = self.blocks.get_mut(&cur) {
            r.status = BlockStatus::Valid;
            if r.height == 0 {
                break;
            }
            cur = r.block.header.prev_blockhash;
        }
        self.activate_best_chain();
        Ok(())
    }

    /// Validate and connect a block built on the tip; it is forgotten if invalid.
    pub fn submit_tip_block(&mut self, block: QtumBlock) -> Result<BlockHash, BlockReject> {
        if block.header.prev_blockhash != self.tip_hash() {
            return Err(BlockReject("bad-prevblk".into()));
        }
        let hash = self.add_record(block)?;
        if let Err(e) = self.connect_block(&hash) {
            self.remove_record(&hash);
            return Err(e);
        }
        if self.store.is_some() {
            let logged = match self.blocks.get(&hash) {
                Some(r) => Event::Block(r.block.clone()),
                None => return Ok(hash),
            };
            if let Err(e) = self.log_event(&logged) {
                // Not on disk: take the block back so memory and disk agree.
                let txs = self.disconnect_tip();
                self.remove_record(&hash);
                self.readd_to_mempool(txs);
                return Err(e);
            }
        }
        Ok(hash)
    }

    /// Mine one block on the tip paying `script`: with the given transactions, or (if `None`)
    /// with the mempool's best transactions.
    pub fn mine_block(
        &mut self,
        script: &ScriptBuf,
        txs: Option<Vec<Transaction>>,
    ) -> Result<BlockHash, BlockReject> {
        let height = self.height() + 1;
        let mut samples = Vec::new();
        let (txs, fees) = match txs {
            Some(t) => {
                let fees = self.fees_of(&t);
                (t, fees)
            }
            None => {
                let (t, fees) = miner::select_transactions(&self.mempool);
                for tx in &t {
                    if let Some(e) = self.mempool.get(&tx.compute_txid()) {
                        samples.push((
                            e.fee * 1000 / e.vsize.max(1),
                            height.saturating_sub(e.height),
                        ));
                    }
                }
                (t, fees)
            }
        };
        let prev = self.tip();
        let time = (now() as u32).max(prev.mtp + 1).max(prev.block.header.time);
        let mut block = miner::build_block(prev.hash, height, time, script, txs, fees);
        // Re-mining the same transactions in the same second after an invalidateblock would
        // rebuild a known block: move to the next valid nonce instead.
        while self.blocks.contains_key(&block.block_hash()) {
            block.header.nonce = block.header.nonce.wrapping_add(1);
            miner::grind(&mut block);
        }
        let hash = self.submit_tip_block(block)?;
        if let Some(r) = self.blocks.get_mut(&hash) {
            r.fee_samples = samples;
        }
        Ok(hash)
    }

    /// `estimatesmartfee`: the lowest fee rate (sat/kvB) at which at least 85% of the
    /// transactions the last 1008 active blocks confirmed had confirmed within `target` blocks,
    /// never below the relay minimum. `None` without data (as on a fresh regtest chain).
    pub fn estimate_fee(&self, target: u32) -> Option<u64> {
        let from = self.height().saturating_sub(1007);
        let mut samples: Vec<(u64, u32)> = Vec::new();
        for h in from..=self.height() {
            if let Some(r) = self.hash_at(h).and_then(|x| self.blocks.get(&x)) {
                samples.extend_from_slice(&r.fee_samples);
            }
        }
        if samples.is_empty() {
            return None;
        }
        samples.sort_by_key(|s| std::cmp::Reverse(s.0));
        let mut ok = 0usize;
        let mut answer = None;
        for (i, (rate, waited)) in samples.iter().enumerate() {
            if *waited <= target.max(1) {
                ok += 1;
            }
            if ok * 100 >= (i + 1) * 85 {
                answer = Some(*rate);
            }
        }
        answer.map(|r| r.max(MIN_RELAY_FEE_SAT_PER_KVB))
    }

    /// Sum of fees of transactions about to be mined (inputs from the UTXO set or earlier ones
    /// in the list); unknown inputs count 0 and are caught by block validation.
    fn fees_of(&self, txs: &[Transaction]) -> u64 {
        // Saturating sums: the transactions come from a client and are not validated yet.
        let mut outs: HashMap<OutPoint, u64> = HashMap::new();
        let mut total = 0u64;
        for tx in txs {
            let txid = tx.compute_txid();
            let mut vin = 0u64;
            for i in &tx.input {
                let v = outs
                    .get(&i.previous_output)
                    .copied()
                    .or_else(|| {
                        self.utxo
                            .get(&i.previous_output)
                            .map(|c| c.output.value.to_sat())
                    })
                    .unwrap_or(0);
                vin = vin.saturating_add(v);
            }
            let vout = tx
                .output
                .iter()
                .fold(0u64, |a, o| a.saturating_add(o.value.to_sat()));
            total = total.saturating_add(vin.saturating_sub(vout));
            for (n, o) in tx.output.iter().enumerate() {
                outs.insert(
                    OutPoint {
                        txid,
                        vout: n as u32,
                    },
                    o.value.to_sat(),
                );
            }
        }
        total
    }

    // ----- mempool -----

    /// Look up the coin an input spends: UTXO set first, then mempool outputs.
    fn mempool_coin(&self, op: &OutPoint) -> Option<Coin> {
        if let Some(c) = self.utxo.get(op) {
            return Some(c.clone());
        }
        let parent = self.mempool.get(&op.txid)?;
        let out = parent.tx.output.get(op.vout as usize)?;
        Some(Coin {
            output: out.clone(),
            height: self.height() + 1,
            is_coinbase: false,
        })
    }

    /// Validate a transaction for the mempool as qtumd's `AcceptToMemoryPool` does, and add it
    /// unless `test_only`.
    pub fn accept_to_mempool(
        &mut self,
        tx: &Transaction,
        opts: AcceptOptions,
    ) -> Result<Accepted, TxReject> {
        use RejectKind::*;
        validation::check_transaction(tx)?;
        if tx.is_coinbase() {
            return Err(TxReject::new(Consensus, "coinbase"));
        }
        policy::is_standard_tx(tx)?;
        if validation::stripped_size(tx) < params::MIN_STANDARD_TX_NONWITNESS_SIZE {
            return Err(TxReject::new(Policy, "tx-size-small"));
        }
        let tip_height = self.height();
        let next_height = tip_height + 1;
        let tip_mtp = self.tip().mtp;
        if !validation::is_final_tx(tx, next_height, tip_mtp) {
            return Err(TxReject::new(Policy, "non-final"));
        }
        let txid = tx.compute_txid();
        let wtxid = tx.compute_wtxid();
        if self.mempool.contains_wtxid(&wtxid) {
            return Err(TxReject::new(Conflict, "txn-already-in-mempool"));
        }
        if self.mempool.get(&txid).is_some() {
            return Err(TxReject::new(
                Conflict,
                "txn-same-nonwitness-data-in-mempool",
            ));
        }
        let mut conflicts: Vec<Txid> = Vec::new();
        for i in &tx.input {
            if let Some(c) = self.mempool.spender(&i.previous_output) {
                let signals = self.mempool.get(&c).is_some_and(|e| e.signals_rbf());
                if !signals {
                    return Err(TxReject::new(Conflict, "txn-mempool-conflict"));
                }
                if !conflicts.contains(&c) {
                    conflicts.push(c);
                }
            }
        }
        let mut coins = Vec::with_capacity(tx.input.len());
        for i in &tx.input {
            match self.mempool_coin(&i.previous_output) {
                Some(c) => coins.push(c),
                None => {
                    let known = (0..tx.output.len() as u32)
                        .any(|n| self.utxo.contains_key(&OutPoint { txid, vout: n }));
                    if known {
                        return Err(TxReject::new(Conflict, "txn-already-known"));
                    }
                    return Err(TxReject::new(
                        MissingInputs,
                        "bad-txns-inputs-missingorspent",
                    ));
                }
            }
        }
        let heights: Vec<u32> = coins.iter().map(|c| c.height).collect();
        let lock = validation::sequence_locks(tx, &heights, |h| self.mtp_at(h));
        if !lock.satisfied(next_height, tip_mtp) {
            return Err(TxReject::new(Policy, "non-BIP68-final"));
        }
        let fee = validation::check_tx_inputs(tx, &coins, next_height)?;
        if !policy::are_inputs_standard(tx, &coins) {
            return Err(TxReject::new(Policy, "bad-txns-nonstandard-inputs"));
        }
        if !policy::is_witness_standard(tx, &coins) {
            return Err(TxReject::new(Policy, "bad-witness-nonstandard"));
        }
        let sigops = validation::sigop_cost(tx, &coins);
        if sigops > params::MAX_STANDARD_TX_SIGOPS_COST {
            return Err(TxReject::with_debug(
                Policy,
                "bad-txns-too-many-sigops",
                sigops.to_string(),
            ));
        }
        let weight = tx.weight().to_wu();
        let vsize = validation::virtual_size(weight, sigops);
        if !opts.bypass_limits {
            let min = fee_for(MIN_RELAY_FEE_SAT_PER_KVB, vsize);
            if fee < min {
                return Err(TxReject::with_debug(
                    Policy,
                    "min relay fee not met",
                    format!("{fee} < {min}"),
                ));
            }
        }
        let parents: Vec<Txid> = {
            let mut p = Vec::new();
            for i in &tx.input {
                let t = i.previous_output.txid;
                if self.mempool.get(&t).is_some() && !p.contains(&t) {
                    p.push(t);
                }
            }
            p
        };
        let ancestors = self.mempool.ancestors_of_parents(&parents);
        if ancestors.len() + 1 > MAX_ANCESTORS {
            return Err(TxReject::with_debug(
                Policy,
                "too-long-mempool-chain",
                format!("too many unconfirmed ancestors [limit: {MAX_ANCESTORS}]"),
            ));
        }
        if !conflicts.is_empty() {
            self.check_replacement(tx, &txid, fee, vsize, &conflicts, &ancestors)?;
        }
        validation::verify_scripts(tx, &coins, validation::STANDARD_FLAGS)?;
        policy::check_policy_scripts(tx, &coins)?;
        if let Some(max_rate) = opts.max_fee_rate {
            if max_rate > 0 && fee > fee_for(max_rate, vsize) {
                return Err(TxReject::new(Policy, "max-fee-exceeded"));
            }
        }
        let accepted = Accepted {
            txid,
            wtxid,
            fee,
            vsize,
        };
        if opts.test_only {
            return Ok(accepted);
        }
        for c in &conflicts {
            self.mempool.remove_recursive(c);
        }
        self.mempool.insert(MempoolEntry {
            tx: tx.clone(),
            txid,
            wtxid,
            fee,
            vsize,
            weight,
            time: now(),
            height: tip_height,
            seq: 0,
        });
        Ok(accepted)
    }

    /// Submit a transaction as a client does (`sendrawtransaction`, [`crate::RegtestNode`]'s
    /// methods, the harness wallet): [`ChainState::accept_to_mempool`], recording a refusal in
    /// [`ChainState::refused_transactions`] (unless `test_only`). Transactions re-validated
    /// after a reorganisation or a restart go to `accept_to_mempool` directly: not recorded.
    pub fn submit_to_mempool(
        &mut self,
        tx: &Transaction,
        opts: AcceptOptions,
    ) -> Result<Accepted, TxReject> {
        let r = self.accept_to_mempool(tx, opts);
        if let (Err(e), false) = (&r, opts.test_only) {
            self.record_refusal(tx.compute_txid(), e.to_string());
        }
        r
    }

    /// Record that a submitted transaction was refused with qtumd's message `reason`. A
    /// transaction refused again for the same reason (a client rebroadcasting) is kept once.
    pub fn record_refusal(&mut self, txid: Txid, reason: String) {
        if !self.refused.iter().any(|(t, r)| *t == txid && *r == reason) {
            self.refused.push((txid, reason));
        }
    }

    /// Every submitted transaction refused so far, in order, each (txid, reason) once. The
    /// reason is qtumd's `sendrawtransaction` message: the reject reason (`dust`,
    /// `min relay fee not met`, `txn-mempool-conflict`, …), then `, ` and debug text when
    /// qtumd adds some. Kept in memory only (not in a data directory).
    pub fn refused_transactions(&self) -> &[(Txid, String)] {
        &self.refused
    }

    /// BIP 125 replacement rules as Core 27 applies them.
    fn check_replacement(
        &self,
        tx: &Transaction,
        txid: &Txid,
        fee: u64,
        vsize: u64,
        conflicts: &[Txid],
        ancestors: &HashSet<Txid>,
    ) -> Result<(), TxReject> {
        let mut evicted: HashSet<Txid> = HashSet::new();
        for c in conflicts {
            if ancestors.contains(c) {
                return Err(TxReject::with_debug(
                    RejectKind::Consensus,
                    "bad-txns-spends-conflicting-tx",
                    format!("{txid} spends conflicting transaction {c}"),
                ));
            }
            evicted.insert(*c);
            evicted.extend(self.mempool.descendants(c));
        }
        if evicted.len() > 100 {
            return Err(TxReject::with_debug(
                RejectKind::Policy,
                "too many potential replacements",
                format!(
                    "rejecting replacement {txid}; too many potential replacements ({} > 100)",
                    evicted.len()
                ),
            ));
        }
        let conflict_inputs: HashSet<Txid> = conflicts
            .iter()
            .filter_map(|c| self.mempool.get(c))
            .flat_map(|e| e.tx.input.iter().map(|i| i.previous_output.txid))
            .collect();
        for i in &tx.input {
            let p = i.previous_output.txid;
            if self.mempool.get(&p).is_some() && !conflict_inputs.contains(&p) {
                return Err(TxReject::with_debug(
                    RejectKind::Policy,
                    "replacement-adds-unconfirmed",
                    format!("replacement {txid} adds unconfirmed input"),
                ));
            }
        }
        for c in conflicts {
            if let Some(e) = self.mempool.get(c) {
                // Compare fee rates without division: fee/vsize <= e.fee/e.vsize.
                if u128::from(fee) * u128::from(e.vsize) <= u128::from(e.fee) * u128::from(vsize) {
                    return Err(TxReject::with_debug(
                        RejectKind::Policy,
                        "insufficient fee",
                        format!("rejecting replacement {txid}; new feerate <= old feerate"),
                    ));
                }
            }
        }
        let replaced: u64 = evicted
            .iter()
            .filter_map(|t| self.mempool.get(t))
            .map(|e| e.fee)
            .sum();
        if fee < replaced {
            return Err(TxReject::with_debug(
                RejectKind::Policy,
                "insufficient fee",
                format!("rejecting replacement {txid}, less fees than conflicting txs; {replaced} > {fee}"),
            ));
        }
        let need = fee_for(params::INCREMENTAL_RELAY_FEE_SAT_PER_KVB, vsize);
        if fee - replaced < need {
            return Err(TxReject::with_debug(
                RejectKind::Policy,
                "insufficient fee",
                format!("rejecting replacement {txid}, not enough additional fees to relay; {} < {need}", fee - replaced),
            ));
        }
        Ok(())
    }

    /// Coinbase maturity helper: can a coinbase output created at `height` be spent in the next
    /// block?
    pub fn is_mature(&self, height: u32) -> bool {
        self.height() + 1 >= height + COINBASE_MATURITY
    }
}

//! Gossip checked against the chain: LDK's [`UtxoLookup`] for `channel_announcement`s.
//!
//! A channel announcement names its funding output by short channel id: block height, index of
//! the transaction in that block, index of the output. Without a lookup LDK takes any
//! well-signed announcement, so anyone could fill the node's graph (and its router) with channels
//! that do not exist, for the price of four signatures with keys of their own. With
//! [`GossipVerifier`] a channel enters the graph only if that output exists in the best chain
//! (LDK then also checks that it is the P2WSH of the two announced funding keys and takes the
//! channel's capacity from its value).
//!
//! **Nothing waits on the network on LDK's thread.** LDK asks from the code that reads a peer's
//! messages; [`GossipVerifier::get_utxo`] only puts the question in a bounded queue and hands LDK
//! an [`UtxoFuture`]. A worker on the node's runtime answers the questions one at a time, on a
//! blocking thread (the chain layer is blocking): the hash of the best-chain block at that
//! height (one small request), the block from the cache or from the chain source (which checks
//! it against its header and merkle root), the output.
//! The answer goes back through [`UtxoFuture::resolve`]: LDK adds the channel, applies the
//! `channel_update`s and `node_announcement`s it held back meanwhile and forwards them to peers;
//! then the peer manager is woken, since LDK stops reading gossip while many checks are pending.
//! One lookup at a time keeps a phone's traffic flat, and the channels of one block (a batch
//! of channel opens) cost one block download.
//!
//! | LDK asks about | answer |
//! |---|---|
//! | another chain (chain hash not ours) | `UnknownChain` |
//! | a height above the tip | `UnknownTx` |
//! | a transaction index beyond the block, an output index beyond the transaction | `UnknownTx` |
//! | an output that is not P2WSH | `UnknownTx`: it cannot fund a channel (BOLT 7 asks for the P2WSH of the two keys), and keeping only P2WSH outputs keeps a cached block to a few hundred bytes |
//! | a P2WSH output of the best chain | that output (`TxOut`), spent or not (below) |
//! | anything, while the chain source fails or the queue is full or the node is stopped | `UnknownTx`: the announcement is dropped; peers send it again (at the next connection's gossip sync, or when it is re-announced) |
//!
//! | limit | value | why |
//! |---|---|---|
//! | lookups queued at once ([`MAX_QUEUED_LOOKUPS`]) | 64 | LDK stops reading gossip from peers beyond 32 pending checks, but messages already read still arrive (about ten per peer); past 64 an announcement is answered `UnknownTx` at once, never queued |
//! | blocks kept ([`BLOCK_CACHE_BLOCKS`]) | 16 | the last blocks looked up, by block hash (a reorganised block is never reused), each as its P2WSH outputs only: a few kB in all |
//! | pause after a failing source ([`SOURCE_BACKOFF`]) | 30 s | a lookup that failed on an unreachable or misbehaving source makes the next ones answer `UnknownTx` without asking it, so a dead source does not cost a timeout per queued announcement |
//!
//! **Spent outputs are not refused.** Checking would mean a spend lookup per announcement; on a
//! qtumd without `-addrindex` a spent output makes that a scan of the mempool and of every block
//! since the output was created, which any peer could trigger by replaying announcements of
//! closed channels. LDK drops closed channels anyway: their `channel_update`s stop and the graph
//! prunes channels without updates for two weeks, and a permanent channel failure reported by a
//! payment removes one at once.
//!
//! **On a phone.** A light client has no UTXO set: every lookup costs one small request (the
//! block hash at the height), and each block not in the cache costs one whole block download.
//! Qtum blocks usually weigh a few kilobytes to a few hundred; the consensus default limit is
//! 2 MB. A full gossip sync of a graph with N channels opened in B distinct blocks costs N small
//! requests and B block downloads, on top of the gossip itself (about 430 bytes per
//! announcement). Lookups run only while the node is started, one at a time, so they never
//! compete with the node's own chain sync for more than one request.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};

use bitcoin::constants::ChainHash;
use bitcoin::{BlockHash, TxOut};
use lightning::routing::utxo::{UtxoFuture, UtxoLookup, UtxoLookupError, UtxoResult};
use lightning::util::scid_utils::{block_from_scid, tx_index_from_scid, vout_from_scid};
use qtum_chain::{ChainError, ChainSource};
use tokio::sync::mpsc;

use crate::node::types::{GossipSync, PeerManager};

/// The most lookups waiting for the worker; beyond it an announcement is answered `UnknownTx`.
pub(crate) const MAX_QUEUED_LOOKUPS: usize = 64;
/// How many looked-up blocks are kept (their P2WSH outputs only).
pub(crate) const BLOCK_CACHE_BLOCKS: usize = 16;
/// How long lookups are answered `UnknownTx` without asking, after the source failed one.
pub(crate) const SOURCE_BACKOFF: Duration = Duration::from_secs(30);

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// A block's P2WSH outputs, by (transaction index, output index), sorted.
type FundingOutputs = Vec<((u32, u16), TxOut)>;

/// One question for the worker.
struct Job {
    short_channel_id: u64,
    future: UtxoFuture,
}

/// Counters, for tests.
#[cfg(test)]
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub(crate) struct LookupStats {
    /// Lookups answered by the worker.
    pub(crate) lookups: u64,
    /// Blocks downloaded from the source (lookups that missed the cache).
    pub(crate) blocks_fetched: u64,
    /// Announcements answered `UnknownTx` at once because the queue was full.
    pub(crate) refused_queue_full: u64,
}

/// The chain side of a lookup: the source, the block cache, the back-off.
struct Lookup {
    source: Arc<dyn ChainSource>,
    /// Most recently used first.
    blocks: Mutex<VecDeque<(BlockHash, Arc<FundingOutputs>)>>,
    paused_until: Mutex<Option<Instant>>,
    lookups: AtomicU64,
    blocks_fetched: AtomicU64,
}

impl Lookup {
    /// The output `short_channel_id` names, answered as LDK's [`UtxoLookup`] wants it.
    fn utxo(&self, short_channel_id: u64) -> Result<TxOut, UtxoLookupError> {
        self.lookups.fetch_add(1, Ordering::Relaxed);
        if self.paused() {
            return Err(UtxoLookupError::UnknownTx);
        }
        let height = block_from_scid(short_channel_id);
        let index = tx_index_from_scid(short_channel_id);
        let vout = vout_from_scid(short_channel_id);
        let outputs = match self.funding_outputs(height) {
            Ok(Some(outputs)) => outputs,
            Ok(None) => return Err(UtxoLookupError::UnknownTx),
            Err(e) => {
                log::warn!("gossip check of channel {short_channel_id}: {e}");
                if e.is_endpoint_fault() {
                    *lock(&self.paused_until) = Some(Instant::now() + SOURCE_BACKOFF);
                }
                return Err(UtxoLookupError::UnknownTx);
            }
        };
        outputs
            .binary_search_by_key(&(index, vout), |(at, _)| *at)
            .map(|i| outputs[i].1.clone())
            .map_err(|_| UtxoLookupError::UnknownTx)
    }

    fn paused(&self) -> bool {
        let mut paused = lock(&self.paused_until);
        match *paused {
            Some(until) if Instant::now() < until => true,
            Some(_) => {
                *paused = None;
                false
            }
            None => false,
        }
    }

    /// The P2WSH outputs of the best-chain block at `height`, `None` above the tip.
    fn funding_outputs(&self, height: u32) -> Result<Option<Arc<FundingOutputs>>, ChainError> {
        let Some(hash) = self.source.block_hash_at(height)? else {
            return Ok(None);
        };
        {
            let mut blocks = lock(&self.blocks);
            if let Some(at) = blocks.iter().position(|(h, _)| *h == hash) {
                if let Some(entry) = blocks.remove(at) {
                    let outputs = entry.1.clone();
                    blocks.push_front(entry);
                    return Ok(Some(outputs));
                }
            }
        }
        // The source checked the block against its header and merkle root.
        let block = self.source.block(&hash)?;
        self.blocks_fetched.fetch_add(1, Ordering::Relaxed);
        if block.block_hash() != hash {
            return Err(ChainError::InvalidResponse(format!(
                "asked for block {hash}, got {}",
                block.block_hash()
            )));
        }
        let mut outputs = FundingOutputs::new();
        for (index, tx) in block.txdata.iter().enumerate() {
            let Ok(index) = u32::try_from(index) else {
                break;
            };
            for (vout, output) in tx.output.iter().enumerate() {
                let Ok(vout) = u16::try_from(vout) else {
                    break;
                };
                if output.script_pubkey.is_p2wsh() {
                    outputs.push(((index, vout), output.clone()));
                }
            }
        }
        let outputs = Arc::new(outputs);
        let mut blocks = lock(&self.blocks);
        blocks.push_front((hash, outputs.clone()));
        blocks.truncate(BLOCK_CACHE_BLOCKS);
        Ok(Some(outputs))
    }
}

/// The node's [`UtxoLookup`]: answers LDK at once with a future, looks up on the node's runtime
/// (see the module docs).
pub(crate) struct GossipVerifier {
    chain_hash: ChainHash,
    lookup: Arc<Lookup>,
    /// The worker's queue while the node runs.
    queue: Mutex<Option<mpsc::Sender<Job>>>,
    refused_queue_full: AtomicU64,
}

impl GossipVerifier {
    /// A verifier for the chain `chain_hash` (the network graph's) over `source`.
    pub(crate) fn new(chain_hash: ChainHash, source: Arc<dyn ChainSource>) -> GossipVerifier {
        GossipVerifier {
            chain_hash,
            lookup: Arc::new(Lookup {
                source,
                blocks: Mutex::new(VecDeque::with_capacity(BLOCK_CACHE_BLOCKS)),
                paused_until: Mutex::new(None),
                lookups: AtomicU64::new(0),
                blocks_fetched: AtomicU64::new(0),
            }),
            queue: Mutex::new(None),
            refused_queue_full: AtomicU64::new(0),
        }
    }

    /// Start the worker on the node's runtime (from `Node::start`; it ends with the runtime).
    /// Answers go into `gossip`'s graph, then `peers` is woken.
    pub(crate) fn start(
        &self,
        runtime: &tokio::runtime::Handle,
        gossip: Weak<GossipSync>,
        peers: Weak<PeerManager>,
    ) {
        let (sender, mut jobs) = mpsc::channel::<Job>(MAX_QUEUED_LOOKUPS);
        *lock(&self.queue) = Some(sender);
        let lookup = self.lookup.clone();
        runtime.spawn(async move {
            while let Some(job) = jobs.recv().await {
                let lookup = lookup.clone();
                let gossip = gossip.clone();
                let peers = peers.clone();
                let done = tokio::task::spawn_blocking(move || {
                    let result = lookup.utxo(job.short_channel_id);
                    log::debug!(
                        "gossip check of channel {}: {} ({} lookups, {} blocks downloaded)",
                        job.short_channel_id,
                        match &result {
                            Ok(output) => format!("output of {} sat", output.value.to_sat()),
                            Err(e) => format!("{e:?}"),
                        },
                        lookup.lookups.load(Ordering::Relaxed),
                        lookup.blocks_fetched.load(Ordering::Relaxed),
                    );
                    let Some(gossip) = gossip.upgrade() else {
                        return;
                    };
                    job.future.resolve(gossip.network_graph(), &*gossip, result);
                    if let Some(peers) = peers.upgrade() {
                        peers.process_events();
                    }
                })
                .await;
                if done.is_err() {
                    // A bug in the lookup: LDK drops the dangling check by itself.
                    log::error!("a gossip lookup failed");
                }
            }
        });
    }

    /// Ask the worker about `short_channel_id`, or answer at once when it cannot take more.
    fn enqueue(&self, short_channel_id: u64) -> UtxoResult {
        let queue = lock(&self.queue);
        let Some(sender) = queue.as_ref() else {
            return UtxoResult::Sync(Err(UtxoLookupError::UnknownTx));
        };
        let future = UtxoFuture::new();
        let job = Job {
            short_channel_id,
            future: future.clone(),
        };
        match sender.try_send(job) {
            Ok(()) => UtxoResult::Async(future),
            Err(mpsc::error::TrySendError::Full(_)) => {
                self.refused_queue_full.fetch_add(1, Ordering::Relaxed);
                log::debug!(
                    "gossip check of channel {short_channel_id} refused: {MAX_QUEUED_LOOKUPS} \
                     lookups already queued"
                );
                UtxoResult::Sync(Err(UtxoLookupError::UnknownTx))
            }
            // The runtime is gone (the node stopped).
            Err(mpsc::error::TrySendError::Closed(_)) => {
                UtxoResult::Sync(Err(UtxoLookupError::UnknownTx))
            }
        }
    }

    #[cfg(test)]
    pub(crate) fn stats(&self) -> LookupStats {
        LookupStats {
            lookups: self.lookup.lookups.load(Ordering::Relaxed),
            blocks_fetched: self.lookup.blocks_fetched.load(Ordering::Relaxed),
            refused_queue_full: self.refused_queue_full.load(Ordering::Relaxed),
        }
    }
}

impl UtxoLookup for GossipVerifier {
    fn get_utxo(&self, chain_hash: &ChainHash, short_channel_id: u64) -> UtxoResult {
        if *chain_hash != self.chain_hash {
            return UtxoResult::Sync(Err(UtxoLookupError::UnknownChain));
        }
        // While the source is failing, answer without queueing anything.
        if self.lookup.paused() {
            return UtxoResult::Sync(Err(UtxoLookupError::UnknownTx));
        }
        self.enqueue(short_channel_id)
    }
}

/// The size of the gossip graph.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GraphInfo {
    /// Nodes known (from channel announcements).
    pub node_count: u64,
    /// Nodes that announced themselves (alias, color, addresses).
    pub announced_node_count: u64,
    /// Channels announced.
    pub channel_count: u64,
}

impl super::Node {
    /// How much of the Lightning network this node knows from gossip.
    pub fn network_graph_info(&self) -> GraphInfo {
        let graph = self.inner.network_graph.read_only();
        GraphInfo {
            node_count: graph.nodes().len() as u64,
            announced_node_count: graph
                .nodes()
                .unordered_iter()
                .filter(|(_, n)| n.announcement_info.is_some())
                .count() as u64,
            channel_count: graph.channels().len() as u64,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use std::collections::HashMap;

    use bitcoin::hashes::Hash;
    use bitcoin::{
        absolute, transaction, Amount, OutPoint, Script, ScriptBuf, Transaction, TxMerkleNode,
        Txid, WPubkeyHash, WScriptHash,
    };
    use lightning::util::scid_utils::scid_from_parts;
    use qtum_chain::{BlockRef, FeeEstimates, HistoryEntry, Spend, TxStatus};
    use qtum_primitives::block::QtumBlock;
    use qtum_primitives::header::QtumHeader;

    /// A chain in memory that counts block downloads and can be made to fail.
    #[derive(Default)]
    struct MemoryChain {
        blocks: Mutex<HashMap<u32, QtumBlock>>,
        block_calls: AtomicU64,
        failing: Mutex<bool>,
    }

    fn header(height: u32, salt: u32) -> QtumHeader {
        QtumHeader {
            version: 4,
            prev_blockhash: BlockHash::all_zeros(),
            merkle_root: TxMerkleNode::all_zeros(),
            time: 1_700_000_000 + height,
            bits: bitcoin::CompactTarget::from_consensus(0x207f_ffff),
            nonce: salt,
            hash_state_root: [0; 32],
            hash_utxo_root: [0; 32],
            prevout_stake: OutPoint::null(),
            block_sig: Vec::new(),
        }
    }

    fn tx(outputs: Vec<TxOut>) -> Transaction {
        Transaction {
            version: transaction::Version::TWO,
            lock_time: absolute::LockTime::ZERO,
            input: Vec::new(),
            output: outputs,
        }
    }

    fn p2wsh(seed: u8, sat: u64) -> TxOut {
        TxOut {
            value: Amount::from_sat(sat),
            script_pubkey: ScriptBuf::new_p2wsh(&WScriptHash::from_byte_array([seed; 32])),
        }
    }

    fn p2wpkh(sat: u64) -> TxOut {
        TxOut {
            value: Amount::from_sat(sat),
            script_pubkey: ScriptBuf::new_p2wpkh(&WPubkeyHash::from_byte_array([7; 20])),
        }
    }

    impl MemoryChain {
        fn put(&self, height: u32, salt: u32, txdata: Vec<Transaction>) {
            let block = QtumBlock {
                header: header(height, salt),
                txdata,
            };
            lock(&self.blocks).insert(height, block);
        }

        fn fail(&self) -> Result<(), ChainError> {
            if *lock(&self.failing) {
                return Err(ChainError::Unreachable("down".into()));
            }
            Ok(())
        }
    }

    fn unused<T>() -> Result<T, ChainError> {
        Err(ChainError::Unsupported("not in this test".into()))
    }

    impl ChainSource for MemoryChain {
        fn describe(&self) -> String {
            "memory".into()
        }
        fn tip(&self) -> Result<BlockRef, ChainError> {
            unused()
        }
        fn block_hash_at(&self, height: u32) -> Result<Option<BlockHash>, ChainError> {
            self.fail()?;
            Ok(lock(&self.blocks).get(&height).map(QtumBlock::block_hash))
        }
        fn header(&self, _: &BlockHash) -> Result<QtumHeader, ChainError> {
            unused()
        }
        fn block(&self, hash: &BlockHash) -> Result<QtumBlock, ChainError> {
            self.fail()?;
            self.block_calls.fetch_add(1, Ordering::Relaxed);
            lock(&self.blocks)
                .values()
                .find(|b| b.block_hash() == *hash)
                .cloned()
                .ok_or_else(|| ChainError::Source {
                    code: -5,
                    message: "Block not found".into(),
                })
        }
        fn transaction(&self, _: &Txid) -> Result<Option<Transaction>, ChainError> {
            unused()
        }
        fn tx_status(&self, _: &Txid) -> Result<TxStatus, ChainError> {
            unused()
        }
        fn script_history(&self, _: &Script) -> Result<Vec<HistoryEntry>, ChainError> {
            unused()
        }
        fn outspend(&self, _: &OutPoint) -> Result<Option<Spend>, ChainError> {
            unused()
        }
        fn broadcast(&self, _: &Transaction) -> Result<Txid, ChainError> {
            unused()
        }
        fn fee_estimates(&self) -> Result<FeeEstimates, ChainError> {
            unused()
        }
    }

    const CHAIN: ChainHash = ChainHash::REGTEST;

    fn scid(height: u32, index: u32, vout: u16) -> u64 {
        scid_from_parts(height.into(), index.into(), vout.into()).expect("scid in range")
    }

    fn verifier() -> (Arc<MemoryChain>, GossipVerifier) {
        let chain = Arc::new(MemoryChain::default());
        // Height 10: a coinbase, a transaction with a P2WSH and a P2WPKH output, a transaction
        // with a P2WSH output.
        chain.put(
            10,
            0,
            vec![
                tx(vec![p2wpkh(50)]),
                tx(vec![p2wsh(1, 1_000_000), p2wpkh(2_000)]),
                tx(vec![p2wsh(2, 3_000_000)]),
            ],
        );
        let verifier = GossipVerifier::new(CHAIN, chain.clone());
        (chain, verifier)
    }

    fn unknown_tx(result: Result<TxOut, UtxoLookupError>) -> bool {
        matches!(result, Err(UtxoLookupError::UnknownTx))
    }

    #[test]
    fn outputs_of_a_block_come_from_one_download() {
        let (chain, verifier) = verifier();
        let lookup = &verifier.lookup;
        assert_eq!(lookup.utxo(scid(10, 1, 0)).ok(), Some(p2wsh(1, 1_000_000)));
        assert_eq!(lookup.utxo(scid(10, 2, 0)).ok(), Some(p2wsh(2, 3_000_000)));
        assert_eq!(chain.block_calls.load(Ordering::Relaxed), 1, "a cache hit");
        assert_eq!(verifier.stats().blocks_fetched, 1);
    }

    #[test]
    fn what_is_not_a_funding_output_is_unknown() {
        let (chain, verifier) = verifier();
        let lookup = &verifier.lookup;
        assert!(unknown_tx(lookup.utxo(scid(10, 1, 1))), "a P2WPKH output");
        assert!(unknown_tx(lookup.utxo(scid(10, 0, 0))), "the coinbase");
        assert!(
            unknown_tx(lookup.utxo(scid(10, 1, 2))),
            "output index beyond"
        );
        assert!(unknown_tx(lookup.utxo(scid(10, 3, 0))), "tx index beyond");
        assert!(unknown_tx(lookup.utxo(scid(11, 0, 0))), "above the tip");
        assert_eq!(chain.block_calls.load(Ordering::Relaxed), 1);
    }

    #[test]
    fn a_reorganised_block_is_downloaded_again() {
        let (chain, verifier) = verifier();
        let lookup = &verifier.lookup;
        assert!(lookup.utxo(scid(10, 1, 0)).is_ok());
        // Another block at height 10, where the channel's transaction is not.
        chain.put(10, 1, vec![tx(vec![p2wpkh(50)])]);
        assert!(unknown_tx(lookup.utxo(scid(10, 1, 0))));
        assert_eq!(chain.block_calls.load(Ordering::Relaxed), 2);
    }

    #[test]
    fn the_cache_keeps_the_most_recent_blocks() {
        let (chain, verifier) = verifier();
        let lookup = &verifier.lookup;
        for height in 100..100 + BLOCK_CACHE_BLOCKS as u32 + 1 {
            chain.put(
                height,
                0,
                vec![tx(vec![p2wpkh(50)]), tx(vec![p2wsh(3, 10)])],
            );
            assert!(lookup.utxo(scid(height, 1, 0)).is_ok());
        }
        let fetched = chain.block_calls.load(Ordering::Relaxed);
        // The newest is kept, the oldest was dropped.
        let newest = 100 + BLOCK_CACHE_BLOCKS as u32;
        assert!(lookup.utxo(scid(newest, 1, 0)).is_ok());
        assert_eq!(chain.block_calls.load(Ordering::Relaxed), fetched);
        assert!(lookup.utxo(scid(100, 1, 0)).is_ok());
        assert_eq!(chain.block_calls.load(Ordering::Relaxed), fetched + 1);
        assert!(lock(&lookup.blocks).len() <= BLOCK_CACHE_BLOCKS);
    }

    #[test]
    fn another_chain_is_unknown_chain() {
        let (_, verifier) = verifier();
        let answer = verifier.get_utxo(&ChainHash::BITCOIN, scid(10, 1, 0));
        assert!(matches!(
            answer,
            UtxoResult::Sync(Err(UtxoLookupError::UnknownChain))
        ));
    }

    #[test]
    fn the_queue_is_bounded() {
        let (_, verifier) = verifier();
        // Not started: nothing is queued.
        assert!(matches!(
            verifier.get_utxo(&CHAIN, scid(10, 1, 0)),
            UtxoResult::Sync(Err(UtxoLookupError::UnknownTx))
        ));
        // A worker that never takes anything.
        let (sender, _jobs) = mpsc::channel(MAX_QUEUED_LOOKUPS);
        *lock(&verifier.queue) = Some(sender);
        for n in 0..MAX_QUEUED_LOOKUPS {
            assert!(
                matches!(
                    verifier.get_utxo(&CHAIN, scid(10, 1, 0) + n as u64),
                    UtxoResult::Async(_)
                ),
                "lookup {n} is queued"
            );
        }
        assert!(matches!(
            verifier.get_utxo(&CHAIN, scid(10, 2, 0)),
            UtxoResult::Sync(Err(UtxoLookupError::UnknownTx))
        ));
        assert_eq!(verifier.stats().refused_queue_full, 1);
    }

    #[test]
    fn a_failing_source_is_not_asked_again_for_a_while() {
        let (chain, verifier) = verifier();
        *lock(&chain.failing) = true;
        assert!(unknown_tx(verifier.lookup.utxo(scid(10, 1, 0))));
        *lock(&chain.failing) = false;
        // Paused: answered without asking (the block would be there now).
        assert!(unknown_tx(verifier.lookup.utxo(scid(10, 1, 0))));
        assert!(matches!(
            verifier.get_utxo(&CHAIN, scid(10, 1, 0)),
            UtxoResult::Sync(Err(UtxoLookupError::UnknownTx))
        ));
        assert_eq!(chain.block_calls.load(Ordering::Relaxed), 0);
        // Once the pause is over, lookups go to the source again.
        *lock(&verifier.lookup.paused_until) = Some(Instant::now());
        assert!(verifier.lookup.utxo(scid(10, 1, 0)).is_ok());
    }
}

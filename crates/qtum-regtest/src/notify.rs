//! qtumd's ZMQ notifications (`-zmqpubrawblock`, `-zmqpubrawtx`): a block for every block
//! connected to the active chain (after a reorganisation, each block of the new branch), a
//! transaction for every transaction entering the mempool and every one first seen in a
//! connected block, each as `[topic, serialized body, sequence]`.
//!
//! A watcher thread compares the chain and the mempool with what it has published, every
//! 20 ms, so every way the state changes (RPC calls, the test API) is covered by one path.

use std::collections::{BTreeMap, HashSet};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use bitcoin::consensus::encode::serialize;
use bitcoin::{BlockHash, Txid};
use qtum_zmq::Publisher;

use crate::rpc::NodeState;

/// Published block hashes kept to find the fork point of a reorganisation.
const KEPT_HEIGHTS: u32 = 2_000;
/// Published txids kept (then forgotten, and a transaction seen again is published again).
const KEPT_TXIDS: usize = 200_000;

/// The running feed.
pub(crate) struct Feed {
    pub(crate) block_endpoint: Option<String>,
    pub(crate) tx_endpoint: Option<String>,
    pub(crate) thread: JoinHandle<()>,
}

/// Binds the publishers (one socket when both addresses are the same, as qtumd shares it) and
/// starts the watcher.
pub(crate) fn start(
    state: Arc<Mutex<NodeState>>,
    block_addr: Option<SocketAddr>,
    tx_addr: Option<SocketAddr>,
    stop: Arc<AtomicBool>,
) -> Result<Option<Feed>, String> {
    if block_addr.is_none() && tx_addr.is_none() {
        return Ok(None);
    }
    let bind = |a: SocketAddr| {
        Publisher::bind(a)
            .map(Arc::new)
            .map_err(|e| format!("ZMQ {a}: {e}"))
    };
    let block_pub = block_addr.map(bind).transpose()?;
    let tx_pub = match (tx_addr, &block_pub) {
        // The same address shares a socket (port 0 means "any": two sockets).
        (Some(t), Some(b)) if Some(t) == block_addr && t.port() != 0 => Some(Arc::clone(b)),
        (Some(t), _) => Some(bind(t)?),
        (None, _) => None,
    };
    let block_endpoint = block_pub.as_ref().map(|p| p.endpoint());
    let tx_endpoint = tx_pub.as_ref().map(|p| p.endpoint());
    let thread = std::thread::Builder::new()
        .name("qtum-regtest-zmq".into())
        .spawn(move || watch(state, block_pub, tx_pub, stop))
        .map_err(|e| format!("cannot start a thread: {e}"))?;
    Ok(Some(Feed {
        block_endpoint,
        tx_endpoint,
        thread,
    }))
}

fn watch(
    state: Arc<Mutex<NodeState>>,
    block_pub: Option<Arc<Publisher>>,
    tx_pub: Option<Arc<Publisher>>,
    stop: Arc<AtomicBool>,
) {
    let mut published: BTreeMap<u32, BlockHash> = BTreeMap::new();
    let mut txids: HashSet<Txid> = HashSet::new();
    {
        // What exists at start is not news.
        let g = state.lock().unwrap_or_else(|p| p.into_inner());
        published.insert(g.chain.height(), g.chain.tip_hash());
        txids.extend(g.chain.mempool.entries().map(|e| e.txid));
    }
    while !stop.load(Ordering::SeqCst) {
        std::thread::sleep(Duration::from_millis(20));
        let mut blocks: Vec<Vec<u8>> = Vec::new();
        let mut txs: Vec<Vec<u8>> = Vec::new();
        {
            let g = state.lock().unwrap_or_else(|p| p.into_inner());
            let chain = &g.chain;
            let tip = chain.height();
            if published.get(&tip) != Some(&chain.tip_hash()) {
                // The fork point: the highest height where what we published is still active.
                let fork = published
                    .iter()
                    .rev()
                    .find(|(h, hash)| chain.hash_at(**h) == Some(**hash))
                    .map(|(h, _)| *h)
                    .unwrap_or_else(|| tip.saturating_sub(1));
                published.retain(|h, _| *h <= fork);
                for height in fork + 1..=tip {
                    let Some(rec) = chain.hash_at(height).and_then(|h| chain.block(&h)) else {
                        continue;
                    };
                    blocks.push(rec.block.to_bytes());
                    for tx in &rec.block.txdata {
                        if txids.insert(tx.compute_txid()) {
                            txs.push(serialize(tx));
                        }
                    }
                    published.insert(height, rec.hash);
                }
                while published.len() as u32 > KEPT_HEIGHTS {
                    published.pop_first();
                }
            }
            for entry in chain.mempool.entries() {
                if txids.insert(entry.txid) {
                    txs.push(serialize(&entry.tx));
                }
            }
            if txids.len() > KEPT_TXIDS {
                txids.clear();
                txids.extend(chain.mempool.entries().map(|e| e.txid));
            }
        }
        if let Some(p) = &tx_pub {
            for tx in &txs {
                p.publish("rawtx", tx);
            }
        }
        if let Some(p) = &block_pub {
            for block in &blocks {
                p.publish("rawblock", block);
            }
        }
    }
}

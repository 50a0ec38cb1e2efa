//! Benchmark (not a test): time and requests to sync 10,000 new blocks with ten watched outputs,
//! per source, against the regtest harness (the Esplora source through `qtum-esplora`).
//!
//! `cargo run --release -p qtum-esplora --example sync_bench [BLOCKS]`

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bitcoin::block::Header;
use bitcoin::{Amount, BlockHash, ScriptBuf, Sequence, Transaction, TxIn, TxOut, Txid, Witness};
use lightning::chain::transaction::TransactionData;
use lightning::chain::{Confirm, Filter, WatchedOutput};
use qtum_chain::{
    ChainSource, ChainSync, EsploraConfig, EsploraSource, RpcAuth, RpcConfig, RpcEndpoint,
    RpcSource, SyncConfig,
};
use qtum_esplora::{EsploraServer, ServerConfig};
use qtum_primitives::network::Network;
use qtum_regtest::RegtestNode;

#[derive(Default)]
struct Count {
    confirmed: AtomicUsize,
}

impl Confirm for Count {
    fn transactions_confirmed(&self, _: &Header, txdata: &TransactionData, _: u32) {
        self.confirmed.fetch_add(txdata.len(), Ordering::Relaxed);
    }
    fn transaction_unconfirmed(&self, _: &Txid) {}
    fn best_block_updated(&self, _: &Header, _: u32) {}
    fn get_relevant_txids(&self) -> Vec<(Txid, u32, Option<BlockHash>)> {
        Vec::new()
    }
}

fn op_true() -> ScriptBuf {
    ScriptBuf::from_bytes(vec![0x51])
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let blocks: u32 = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(10_000);
    let node = RegtestNode::start()?;
    let auth = RpcAuth::UserPass {
        user: node.rpc_user().into(),
        password: node.rpc_password().into(),
    };
    let miner = node.wallet_script();
    let watched_script = ScriptBuf::new_p2wsh(&op_true().wscript_hash());
    let mut outpoints = Vec::new();
    for _ in 0..10 {
        outpoints.push(node.fund_address(&watched_script, 100_000_000)?);
    }
    node.mine_blocks(1, &miner)?;

    let server = EsploraServer::start(ServerConfig::new(
        node.url(),
        auth.clone(),
        "127.0.0.1:0".parse()?,
    ))?;
    let mut rpc_config = RpcConfig::new(Network::Regtest, vec![RpcEndpoint::new(node.url(), auth)]);
    rpc_config.timeout = Duration::from_secs(60);
    let mut esplora_config = EsploraConfig::new(vec![server.url()]);
    esplora_config.timeout = Duration::from_secs(60);
    let sources: Vec<(&str, Arc<dyn ChainSource>)> = vec![
        ("rpc", Arc::new(RpcSource::new(rpc_config)?)),
        ("esplora", Arc::new(EsploraSource::new(esplora_config)?)),
    ];
    let mut engines = Vec::new();
    for (name, source) in &sources {
        let engine = ChainSync::new(Arc::clone(source), None, SyncConfig::default());
        for outpoint in &outpoints {
            engine.register_output(WatchedOutput {
                block_hash: None,
                outpoint: lightning::chain::transaction::OutPoint {
                    txid: outpoint.txid,
                    index: outpoint.vout as u16,
                },
                script_pubkey: watched_script.clone(),
            });
        }
        let count = Count::default();
        engine.sync(&[&count as &dyn Confirm])?;
        engines.push((*name, engine, count));
    }

    // 10,000 new blocks; the ten watched outputs are spent along the way.
    let start_height = node.height();
    let mined = Instant::now();
    let step = (blocks / 10).max(1);
    for (i, outpoint) in outpoints.iter().enumerate() {
        let spend = Transaction {
            version: bitcoin::transaction::Version::TWO,
            lock_time: bitcoin::absolute::LockTime::ZERO,
            input: vec![TxIn {
                previous_output: *outpoint,
                script_sig: ScriptBuf::new(),
                sequence: Sequence::ENABLE_RBF_NO_LOCKTIME,
                witness: Witness::from_slice(&[op_true().into_bytes()]),
            }],
            output: vec![TxOut {
                value: Amount::from_sat(100_000_000 - 200_000),
                script_pubkey: miner.clone(),
            }],
        };
        node.send_transaction(&spend)?;
        let n = if i == 9 { blocks - step * 9 } else { step };
        node.mine_blocks(n, &miner)?;
    }
    println!(
        "mined {blocks} blocks ({} → {}) in {:.2?}",
        start_height,
        node.height(),
        mined.elapsed()
    );
    // Let the server's script indexer catch up first, so its work is not billed to the sync.
    let indexed = Instant::now();
    let backend_before_index = server.backend_requests();
    let probe = EsploraSource::new(EsploraConfig::new(vec![server.url()]))?;
    let _ = probe.script_history(&ScriptBuf::new_op_return([0u8; 1]))?;
    println!(
        "qtum-esplora script indexer caught up in {:.2?} ({} RPC requests to qtumd)",
        indexed.elapsed(),
        server.backend_requests() - backend_before_index
    );

    println!("| source | blocks | watched outputs | sync time | requests by the source | qtumd RPC requests behind it | confirmations |");
    println!("|---|---|---|---|---|---|---|");
    for ((name, engine, count), (_, source)) in engines.iter().zip(&sources) {
        let before = source.requests_made();
        let backend_before = server.backend_requests();
        let t = Instant::now();
        let report = engine.sync(&[count as &dyn Confirm])?;
        let elapsed = t.elapsed();
        let requests = source.requests_made() - before;
        let backend = if *name == "esplora" {
            (server.backend_requests() - backend_before).to_string()
        } else {
            "-".into()
        };
        println!(
            "| {name} | {blocks} | 10 | {elapsed:.2?} | {requests} | {backend} | {} (tip {}) |",
            count.confirmed.load(Ordering::Relaxed),
            report.tip.height
        );
    }
    Ok(())
}

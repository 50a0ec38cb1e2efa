//! Block assembly: coinbase (BIP 34 height, fees, witness commitment), transaction selection by
//! ancestor fee rate, and the nonce grind against 0x207fffff.

use std::collections::HashSet;

use bitcoin::absolute::LockTime;
use bitcoin::hashes::{sha256d, Hash};
use bitcoin::script::{Builder, ScriptBuf};
use bitcoin::transaction::Version;
use bitcoin::{
    Amount, BlockHash, OutPoint, Sequence, Target, Transaction, TxIn, TxMerkleNode, TxOut, Txid,
    Witness,
};

use crate::mempool::Mempool;
use crate::params::{
    self, pow_bits, BLOCK_ASSEMBLY_RESERVE, BLOCK_VERSION, MAX_BLOCK_WEIGHT, STATE_ROOT, UTXO_ROOT,
};
use qtum_primitives::{QtumBlock, QtumHeader};

const COMMITMENT_HEADER: [u8; 6] = [0x6a, 0x24, 0xaa, 0x21, 0xa9, 0xed];

/// `CScript() << nHeight`: the BIP 34 prefix of a coinbase scriptSig.
pub fn bip34_height_script(height: u32) -> ScriptBuf {
    Builder::new().push_int(i64::from(height)).into_script()
}

/// Position of the witness commitment output in a coinbase (the last matching one).
fn commitment_index(coinbase: &Transaction) -> Option<usize> {
    coinbase.output.iter().rposition(|o| {
        o.script_pubkey.len() >= 38 && o.script_pubkey.as_bytes()[..6] == COMMITMENT_HEADER
    })
}

fn witness_root(txs: &[Transaction]) -> [u8; 32] {
    let hashes = txs.iter().enumerate().map(|(i, t)| {
        if i == 0 {
            sha256d::Hash::all_zeros()
        } else {
            t.compute_wtxid().to_raw_hash()
        }
    });
    bitcoin::merkle_tree::calculate_root(hashes)
        .map(|h| h.to_byte_array())
        .unwrap_or([0u8; 32])
}

fn commitment(txs: &[Transaction], reserved: &[u8]) -> [u8; 32] {
    let mut data = witness_root(txs).to_vec();
    data.extend_from_slice(reserved);
    sha256d::Hash::hash(&data).to_byte_array()
}

/// Core's witness commitment check (`bad-witness-nonce-size`, `bad-witness-merkle-match`,
/// `unexpected-witness`).
pub fn check_witness_commitment(block: &QtumBlock) -> Result<(), &'static str> {
    let txs = &block.txdata;
    let Some(cb) = txs.first() else {
        return Err("bad-cb-missing");
    };
    match commitment_index(cb) {
        Some(idx) => {
            let w = &cb.input[0].witness;
            let reserved = match (w.len(), w.nth(0)) {
                (1, Some(r)) if r.len() == 32 => r.to_vec(),
                _ => return Err("bad-witness-nonce-size"),
            };
            let expect = commitment(txs, &reserved);
            if cb.output[idx].script_pubkey.as_bytes()[6..38] != expect {
                return Err("bad-witness-merkle-match");
            }
        }
        None => {
            if txs
                .iter()
                .any(|t| t.input.iter().any(|i| !i.witness.is_empty()))
            {
                return Err("unexpected-witness");
            }
        }
    }
    Ok(())
}

/// Pick mempool transactions for a block: best ancestor-package fee rate first, parents before
/// children, within the weight limit. Returns the transactions and their total fee.
pub fn select_transactions(pool: &Mempool) -> (Vec<Transaction>, u64) {
    let mut included: HashSet<Txid> = HashSet::new();
    let mut out: Vec<Transaction> = Vec::new();
    let mut fees = 0u64;
    let mut weight = 4_000u64; // header + coinbase allowance
    let limit = MAX_BLOCK_WEIGHT - BLOCK_ASSEMBLY_RESERVE;
    let mut skipped: HashSet<Txid> = HashSet::new();
    loop {
        let mut best: Option<(u128, u128, Vec<Txid>)> = None;
        for e in pool.entries() {
            if included.contains(&e.txid) || skipped.contains(&e.txid) {
                continue;
            }
            let mut pkg: Vec<Txid> = pool
                .ancestors(&e.txid)
                .into_iter()
                .filter(|t| !included.contains(t))
                .collect();
            pkg.push(e.txid);
            let (f, v) = pkg
                .iter()
                .filter_map(|t| pool.get(t))
                .fold((0u128, 0u128), |(f, v), x| {
                    (f + u128::from(x.fee), v + u128::from(x.vsize))
                });
            let better = match &best {
                None => true,
                Some((bf, bv, _)) => f * bv > bf * v,
            };
            if better {
                best = Some((f, v, pkg));
            }
        }
        let Some((_, _, mut pkg)) = best else { break };
        pkg.sort_by_key(|t| pool.get(t).map(|e| e.seq).unwrap_or(0));
        let w: u64 = pkg
            .iter()
            .filter_map(|t| pool.get(t))
            .map(|e| e.weight)
            .sum();
        if weight + w > limit {
            skipped.extend(pkg);
            continue;
        }
        weight += w;
        for t in pkg {
            if let Some(e) = pool.get(&t) {
                fees += e.fee;
                out.push(e.tx.clone());
            }
            included.insert(t);
        }
    }
    (out, fees)
}

/// Build and grind a PoW block on `prev` paying subsidy plus `fees` to `script`.
pub fn build_block(
    prev: BlockHash,
    height: u32,
    time: u32,
    script: &ScriptBuf,
    txs: Vec<Transaction>,
    fees: u64,
) -> QtumBlock {
    let mut script_sig = bip34_height_script(height).into_bytes();
    script_sig.push(0x00); // OP_0 after the height, as qtumd's miner writes it
    let mut witness = Witness::new();
    witness.push([0u8; 32]);
    let coinbase = Transaction {
        version: Version::TWO,
        lock_time: LockTime::ZERO,
        input: vec![TxIn {
            previous_output: OutPoint::null(),
            script_sig: ScriptBuf::from_bytes(script_sig),
            sequence: Sequence::MAX,
            witness,
        }],
        output: vec![
            TxOut {
                value: Amount::from_sat(params::block_subsidy(height).saturating_add(fees)),
                script_pubkey: script.clone(),
            },
            TxOut {
                value: Amount::ZERO,
                script_pubkey: ScriptBuf::new(),
            },
        ],
    };
    let mut all = Vec::with_capacity(txs.len() + 1);
    all.push(coinbase);
    all.extend(txs);
    let c = commitment(&all, &[0u8; 32]);
    let mut spk = COMMITMENT_HEADER.to_vec();
    spk.extend_from_slice(&c);
    all[0].output[1].script_pubkey = ScriptBuf::from_bytes(spk);

    let mut block = QtumBlock {
        header: QtumHeader {
            version: BLOCK_VERSION,
            prev_blockhash: prev,
            merkle_root: TxMerkleNode::all_zeros(),
            time,
            bits: pow_bits(),
            nonce: 0,
            hash_state_root: STATE_ROOT,
            hash_utxo_root: UTXO_ROOT,
            prevout_stake: OutPoint::null(),
            block_sig: Vec::new(),
        },
        txdata: all,
    };
    block.header.merkle_root = block
        .compute_merkle_root()
        .unwrap_or_else(TxMerkleNode::all_zeros);
    grind(&mut block);
    block
}

/// Advance the nonce until the header meets 0x207fffff (about one try in two does).
pub fn grind(block: &mut QtumBlock) {
    let target = Target::from_compact(pow_bits());
    while !target.is_met_by(block.block_hash()) {
        block.header.nonce = block.header.nonce.wrapping_add(1);
        if block.header.nonce == 0 {
            block.header.time = block.header.time.wrapping_add(1);
        }
    }
}

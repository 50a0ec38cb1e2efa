//! Qtum's genesis blocks, rebuilt from their parts.
//!
//! All three networks share one coinbase and the same trie roots; only time, nonce and bits
//! differ. Building the block (instead of storing the three hashes only) lets tests prove that
//! our header codec reproduces Qtum's real genesis hashes.

use bitcoin::absolute::LockTime;
use bitcoin::hashes::Hash;
use bitcoin::transaction::Version as TxVersion;
use bitcoin::{
    Amount, BlockHash, CompactTarget, OutPoint, ScriptBuf, Sequence, Transaction, TxIn,
    TxMerkleNode, TxOut, Witness,
};

use crate::block::QtumBlock;
use crate::header::QtumHeader;
use crate::hex_const;

/// The newspaper line Qtum's genesis coinbase quotes.
const MESSAGE: &[u8] = b"Sep 02, 2017 Bitcoin breaks $5,000 in latest price frenzy";

/// The 65-byte uncompressed key the genesis output pays to (P2PK), as in Qtum's chainparams.
const OUTPUT_PUBKEY: [u8; 65] = hex_const::bytes(
    "040d61d8653448c98731ee5fffd303c15e71ec2057b77f11ab3601979728cdaff2d68afbba14e4fa0bc44f2072b0b23ef63717f8cdfbe58dcd33f32b6afe98741a",
);

/// Genesis `hashStateRoot` (raw bytes): the root of Qtum's empty EVM state trie with the
/// genesis contracts.
pub(crate) const STATE_ROOT: [u8; 32] =
    hex_const::bytes("e965ffd002cd6ad0e2dc402b8044de833e06b23127ea8c3d80aec91410771495");

/// Genesis `hashUTXORoot` (raw bytes): the root of the empty contract UTXO trie.
pub(crate) const UTXO_ROOT: [u8; 32] =
    hex_const::bytes("56e81f171bcc55a6ff8345e692c0f86e5b48e01b996cadc001622fb5e363b421");

/// Genesis timestamp, identical on all networks (2017-09-06).
pub(crate) const TIME: u32 = 1_504_695_029;

/// The genesis coinbase: 50 QTUM to a P2PK output, never spendable.
pub(crate) fn coinbase() -> Transaction {
    // scriptSig = OP_0, push4 488804799 (0x1d2291bf LE), push1 0x04, push57 MESSAGE.
    // Written out byte by byte because Script builders would re-encode the pushes minimally.
    let mut script_sig = vec![
        0x00,
        0x04,
        0xbf,
        0x91,
        0x22,
        0x1d,
        0x01,
        0x04,
        MESSAGE.len() as u8,
    ];
    script_sig.extend_from_slice(MESSAGE);

    let mut script_pubkey = Vec::with_capacity(OUTPUT_PUBKEY.len() + 2);
    script_pubkey.push(OUTPUT_PUBKEY.len() as u8);
    script_pubkey.extend_from_slice(&OUTPUT_PUBKEY);
    script_pubkey.push(0xac); // OP_CHECKSIG

    Transaction {
        version: TxVersion::ONE,
        lock_time: LockTime::ZERO,
        input: vec![TxIn {
            previous_output: OutPoint::null(),
            script_sig: ScriptBuf::from_bytes(script_sig),
            sequence: Sequence::MAX,
            witness: Witness::new(),
        }],
        output: vec![TxOut {
            value: Amount::from_sat(50 * crate::network::COIN),
            script_pubkey: ScriptBuf::from_bytes(script_pubkey),
        }],
    }
}

/// The genesis header for the given per-network nonce and bits.
pub(crate) fn header(nonce: u32, bits: CompactTarget) -> QtumHeader {
    QtumHeader {
        version: 1,
        prev_blockhash: BlockHash::all_zeros(),
        // A one-transaction merkle tree's root is that transaction's txid.
        merkle_root: TxMerkleNode::from_raw_hash(coinbase().compute_txid().to_raw_hash()),
        time: TIME,
        bits,
        nonce,
        hash_state_root: STATE_ROOT,
        hash_utxo_root: UTXO_ROOT,
        prevout_stake: OutPoint::null(),
        block_sig: Vec::new(),
    }
}

/// The genesis block for the given per-network nonce and bits.
pub(crate) fn block(nonce: u32, bits: CompactTarget) -> QtumBlock {
    QtumBlock {
        header: header(nonce, bits),
        txdata: vec![coinbase()],
    }
}

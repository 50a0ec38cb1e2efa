//! Qtum blocks: a [`QtumHeader`] followed by Bitcoin-format transactions.
//!
//! Transactions, txids, wtxids and the merkle tree are Bitcoin's. Two Qtum differences matter
//! here: the header (see [`crate::header`]) and the witness commitment of PoS blocks, where the
//! coinstake's leaf (vtx\[1\]) is zero as well as the coinbase's.

use std::fmt;

use bitcoin::consensus::encode::{self, Decodable, Encodable};
use bitcoin::hashes::{sha256d, Hash, HashEngine};
use bitcoin::hex::DisplayHex;
use bitcoin::{
    io, merkle_tree, BlockHash, Transaction, TxMerkleNode, Txid, VarInt, Weight, WitnessMerkleNode,
};

use crate::codec::{self, Failure};
use crate::header::QtumHeader;

/// The output script prefix of a BIP141 witness commitment: OP_RETURN, push 36, `aa21a9ed`.
const WITNESS_COMMITMENT_PREFIX: [u8; 6] = [0x6a, 0x24, 0xaa, 0x21, 0xa9, 0xed];

/// A Qtum block.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct QtumBlock {
    /// The block header.
    pub header: QtumHeader,
    /// The transactions: coinbase first, then (in PoS blocks) the coinstake.
    pub txdata: Vec<Transaction>,
}

impl QtumBlock {
    /// The Qtum block hash (sha256d of the complete header).
    pub fn block_hash(&self) -> BlockHash {
        self.header.block_hash()
    }

    /// Whether the block is proof of stake (its header stakes an output).
    pub fn is_proof_of_stake(&self) -> bool {
        self.header.is_proof_of_stake()
    }

    /// The coinbase transaction, if the block has any transaction.
    pub fn coinbase(&self) -> Option<&Transaction> {
        self.txdata.first()
    }

    /// The coinstake transaction of a PoS block (always vtx\[1\]).
    pub fn coinstake(&self) -> Option<&Transaction> {
        if self.is_proof_of_stake() {
            self.txdata.get(1)
        } else {
            None
        }
    }

    /// The txids, in block order.
    pub fn txids(&self) -> Vec<Txid> {
        self.txdata.iter().map(Transaction::compute_txid).collect()
    }

    /// The merkle root of the transactions, `None` for a block without transactions.
    pub fn compute_merkle_root(&self) -> Option<TxMerkleNode> {
        let hashes = self.txdata.iter().map(|tx| tx.compute_txid().to_raw_hash());
        merkle_tree::calculate_root(hashes).map(TxMerkleNode::from_raw_hash)
    }

    /// Whether the header's merkle root commits to exactly these transactions.
    pub fn check_merkle_root(&self) -> bool {
        self.compute_merkle_root() == Some(self.header.merkle_root)
    }

    /// The witness merkle root as Qtum computes it: the coinbase leaf is zero and, in PoS
    /// blocks, so is the coinstake leaf (its signature is made after the commitment is fixed).
    pub fn witness_root(&self) -> Option<WitnessMerkleNode> {
        let zero_leaves = if self.is_proof_of_stake() { 2 } else { 1 };
        let hashes = self.txdata.iter().enumerate().map(|(i, tx)| {
            if i < zero_leaves {
                sha256d::Hash::all_zeros()
            } else {
                tx.compute_wtxid().to_raw_hash()
            }
        });
        merkle_tree::calculate_root(hashes).map(WitnessMerkleNode::from_raw_hash)
    }

    /// Checks the BIP141 witness commitment with Qtum's PoS rule.
    ///
    /// Follows Qtum Core's validation: when the coinbase has no commitment output, the block is
    /// valid only if no transaction carries witness data; when it has one (the last output with
    /// the commitment prefix counts), the coinbase witness must be a single 32-byte reserved
    /// value and `sha256d(witness_root || reserved)` must match.
    pub fn check_witness_commitment(&self) -> bool {
        let Some(coinbase) = self.coinbase() else {
            return false;
        };
        let commitment = coinbase.output.iter().rev().find_map(|out| {
            let script = out.script_pubkey.as_bytes();
            (script.len() >= 38 && script[..6] == WITNESS_COMMITMENT_PREFIX).then(|| &script[6..38])
        });
        let Some(commitment) = commitment else {
            return self
                .txdata
                .iter()
                .all(|tx| tx.input.iter().all(|i| i.witness.is_empty()));
        };
        let Some(input) = coinbase.input.first() else {
            return false;
        };
        let reserved = match (input.witness.len(), input.witness.nth(0)) {
            (1, Some(value)) if value.len() == 32 => value,
            _ => return false,
        };
        let Some(root) = self.witness_root() else {
            return false;
        };
        let mut engine = sha256d::Hash::engine();
        engine.input(root.as_byte_array());
        engine.input(reserved);
        sha256d::Hash::from_engine(engine).as_byte_array()[..] == *commitment
    }

    /// Serialized size in bytes, witness data included (RPC `size`).
    pub fn total_size(&self) -> usize {
        self.header.serialized_size()
            + VarInt(self.txdata.len() as u64).size()
            + self
                .txdata
                .iter()
                .map(Transaction::total_size)
                .sum::<usize>()
    }

    /// Serialized size without witness data (RPC `strippedsize`).
    pub fn stripped_size(&self) -> usize {
        self.header.serialized_size()
            + VarInt(self.txdata.len() as u64).size()
            + self
                .txdata
                .iter()
                .map(Transaction::base_size)
                .sum::<usize>()
    }

    /// Block weight as BIP141 defines it (stripped size × 3 + total size); Qtum's header counts
    /// in full, signature included.
    pub fn weight(&self) -> Weight {
        Weight::from_wu_usize(self.stripped_size() * 3 + self.total_size())
    }

    /// The block seen as a `bitcoin::Block` with the [synthetic header](QtumHeader::synthetic_header).
    ///
    /// For APIs that take a `bitcoin::Block` only to read its transactions (LDK's `Listen`).
    /// Its `block_hash()` is not the Qtum block hash: pass [`QtumBlock::block_hash`] separately
    /// wherever a block is identified.
    pub fn synthetic_block(&self) -> bitcoin::Block {
        bitcoin::Block {
            header: self.header.synthetic_header(),
            txdata: self.txdata.clone(),
        }
    }

    /// Parses exactly one serialized block (e.g. `getblock <hash> 0` or a ZMQ `rawblock` body).
    pub fn from_slice(bytes: &[u8]) -> Result<QtumBlock, BlockError> {
        codec::decode_exact(bytes).map_err(BlockError::from)
    }

    /// Parses a hex-encoded block. Surrounding whitespace is ignored.
    pub fn from_hex(s: &str) -> Result<QtumBlock, BlockError> {
        let bytes = codec::hex_to_bytes(s).map_err(BlockError::from)?;
        Self::from_slice(&bytes)
    }

    /// Serializes the block.
    pub fn to_bytes(&self) -> Vec<u8> {
        encode::serialize(self)
    }

    /// Serializes the block as lowercase hex.
    pub fn to_hex(&self) -> String {
        self.to_bytes().to_lower_hex_string()
    }
}

impl Encodable for QtumBlock {
    fn consensus_encode<W: io::Write + ?Sized>(&self, w: &mut W) -> Result<usize, io::Error> {
        let len = self.header.consensus_encode(w)?;
        Ok(len + self.txdata.consensus_encode(w)?)
    }
}

impl Decodable for QtumBlock {
    fn consensus_decode_from_finite_reader<R: io::Read + ?Sized>(
        r: &mut R,
    ) -> Result<Self, encode::Error> {
        Ok(QtumBlock {
            header: Decodable::consensus_decode_from_finite_reader(r)?,
            txdata: Decodable::consensus_decode_from_finite_reader(r)?,
        })
    }
}

/// Why a block could not be parsed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum BlockError {
    /// The text is not hex (odd length or a non-hex character).
    InvalidHex,
    /// The input ends before the block does.
    Truncated,
    /// A complete block was followed by `extra` unexpected bytes.
    TrailingBytes {
        /// Number of bytes left after the block.
        extra: usize,
    },
    /// A length prefix is not minimally encoded, which Qtum nodes reject.
    NonMinimalCompactSize,
    /// A length prefix announces an impossibly large field.
    OversizedField,
    /// Any other malformation (e.g. a bad segwit marker), with the decoder's reason.
    Malformed(String),
}

impl From<Failure> for BlockError {
    fn from(f: Failure) -> Self {
        match f {
            Failure::InvalidHex => BlockError::InvalidHex,
            Failure::Truncated => BlockError::Truncated,
            Failure::TrailingBytes(extra) => BlockError::TrailingBytes { extra },
            Failure::NonMinimalCompactSize => BlockError::NonMinimalCompactSize,
            Failure::Oversized => BlockError::OversizedField,
            Failure::Malformed(reason) => BlockError::Malformed(reason),
        }
    }
}

impl fmt::Display for BlockError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BlockError::InvalidHex => f.write_str("block is not valid hex"),
            BlockError::Truncated => f.write_str("block is truncated"),
            BlockError::TrailingBytes { extra } => {
                write!(f, "block is followed by {extra} unexpected bytes")
            }
            BlockError::NonMinimalCompactSize => {
                f.write_str("block contains a non-minimally encoded length")
            }
            BlockError::OversizedField => f.write_str("block announces an oversized field"),
            BlockError::Malformed(reason) => write!(f, "malformed block: {reason}"),
        }
    }
}

impl std::error::Error for BlockError {}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::network::Network;

    #[test]
    fn genesis_round_trips_and_checks() {
        let block = Network::Mainnet.genesis_block();
        let bytes = block.to_bytes();
        assert_eq!(bytes.len(), 375);
        assert_eq!(QtumBlock::from_slice(&bytes), Ok(block.clone()));
        assert_eq!(QtumBlock::from_hex(&block.to_hex()), Ok(block.clone()));
        assert!(block.check_merkle_root());
        // Genesis predates segwit: no commitment and no witness data is valid.
        assert!(block.check_witness_commitment());
        assert_eq!(block.coinstake(), None);
        assert_eq!(block.txids().len(), 1);
        assert_eq!(block.synthetic_block().txdata, block.txdata);
    }

    #[test]
    fn every_truncation_is_a_typed_error() {
        let bytes = Network::Regtest.genesis_block().to_bytes();
        for len in 0..bytes.len() {
            let err = QtumBlock::from_slice(&bytes[..len]);
            assert!(err.is_err(), "len {len}");
        }
        // Cutting inside the header or the tx list is reported as truncation.
        assert_eq!(
            QtumBlock::from_slice(&bytes[..100]),
            Err(BlockError::Truncated)
        );
        assert_eq!(
            QtumBlock::from_slice(&bytes[..bytes.len() - 1]),
            Err(BlockError::Truncated)
        );
    }

    #[test]
    fn trailing_bytes_and_bad_hex_are_rejected() {
        let mut bytes = Network::Regtest.genesis_block().to_bytes();
        bytes.push(0);
        assert_eq!(
            QtumBlock::from_slice(&bytes),
            Err(BlockError::TrailingBytes { extra: 1 })
        );
        assert_eq!(QtumBlock::from_hex("0g"), Err(BlockError::InvalidHex));
        assert_eq!(QtumBlock::from_hex("000"), Err(BlockError::InvalidHex));
    }

    #[test]
    fn empty_block_has_no_merkle_root() {
        let block = QtumBlock {
            header: Network::Regtest.genesis_header(),
            txdata: vec![],
        };
        assert_eq!(block.compute_merkle_root(), None);
        assert!(!block.check_merkle_root());
        assert!(!block.check_witness_commitment());
        // A header followed by a zero tx count still parses: validity is not this layer's job.
        assert_eq!(QtumBlock::from_slice(&block.to_bytes()), Ok(block));
    }

    #[test]
    fn tampered_transaction_breaks_merkle_root() {
        let mut block = Network::Regtest.genesis_block();
        block.txdata[0].lock_time = bitcoin::absolute::LockTime::from_consensus(1);
        assert!(!block.check_merkle_root());
    }
}

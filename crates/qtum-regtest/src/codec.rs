//! Qtum block header and block codec used by the harness.
//!
//! Why local: the workspace's `qtum-primitives` crate is being written in parallel; until it
//! exports `QtumHeader`/`QtumBlock` this module provides the same names and layout (Qtum Core's
//! `primitives/block.h`): Bitcoin's 80 bytes, then hashStateRoot, hashUTXORoot, prevoutStake and
//! a CompactSize-prefixed block signature. The block hash is sha256d of the whole header.

use bitcoin::consensus::encode::{self, Decodable, Encodable};
use bitcoin::hashes::{sha256d, Hash};
use bitcoin::io::{Read, Write};
use bitcoin::{BlockHash, CompactTarget, OutPoint, Transaction, TxMerkleNode, Txid};

/// A Qtum block header (PoW headers serialize to 181 bytes).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct QtumHeader {
    /// Block version.
    pub version: i32,
    /// Hash of the previous block (the real Qtum hash).
    pub prev_blockhash: BlockHash,
    /// Merkle root of the transactions.
    pub merkle_root: TxMerkleNode,
    /// Block time, seconds since the Unix epoch.
    pub time: u32,
    /// Compact difficulty target.
    pub bits: CompactTarget,
    /// PoW nonce.
    pub nonce: u32,
    /// EVM state root, raw bytes as serialized.
    pub hash_state_root: [u8; 32],
    /// UTXO root, raw bytes as serialized.
    pub hash_utxo_root: [u8; 32],
    /// The staked outpoint (null for PoW).
    pub prevout_stake: OutPoint,
    /// The block signature (empty for PoW).
    pub block_sig: Vec<u8>,
}

impl Encodable for QtumHeader {
    fn consensus_encode<W: Write + ?Sized>(&self, w: &mut W) -> Result<usize, bitcoin::io::Error> {
        let mut len = self.version.consensus_encode(w)?;
        len += self.prev_blockhash.consensus_encode(w)?;
        len += self.merkle_root.consensus_encode(w)?;
        len += self.time.consensus_encode(w)?;
        len += self.bits.consensus_encode(w)?;
        len += self.nonce.consensus_encode(w)?;
        len += self.hash_state_root.consensus_encode(w)?;
        len += self.hash_utxo_root.consensus_encode(w)?;
        len += self.prevout_stake.consensus_encode(w)?;
        len += self.block_sig.consensus_encode(w)?;
        Ok(len)
    }
}

impl Decodable for QtumHeader {
    fn consensus_decode_from_finite_reader<R: Read + ?Sized>(r: &mut R) -> Result<Self, encode::Error> {
        Ok(QtumHeader {
            version: Decodable::consensus_decode_from_finite_reader(r)?,
            prev_blockhash: Decodable::consensus_decode_from_finite_reader(r)?,
            merkle_root: Decodable::consensus_decode_from_finite_reader(r)?,
            time: Decodable::consensus_decode_from_finite_reader(r)?,
            bits: Decodable::consensus_decode_from_finite_reader(r)?,
            nonce: Decodable::consensus_decode_from_finite_reader(r)?,
            hash_state_root: Decodable::consensus_decode_from_finite_reader(r)?,
            hash_utxo_root: Decodable::consensus_decode_from_finite_reader(r)?,
            prevout_stake: Decodable::consensus_decode_from_finite_reader(r)?,
            block_sig: Decodable::consensus_decode_from_finite_reader(r)?,
        })
    }
}

impl QtumHeader {
    /// The block hash: sha256d of the whole serialized header.
    pub fn block_hash(&self) -> BlockHash {
        BlockHash::from_raw_hash(sha256d::Hash::hash(&self.to_bytes()))
    }

    /// Serialized header bytes.
    pub fn to_bytes(&self) -> Vec<u8> {
        encode::serialize(self)
    }

    /// A PoS header carries a non-null staked prevout.
    pub fn is_proof_of_stake(&self) -> bool {
        !self.prevout_stake.is_null()
    }
}

/// A Qtum block.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct QtumBlock {
    /// The header.
    pub header: QtumHeader,
    /// The transactions.
    pub txdata: Vec<Transaction>,
}

impl Encodable for QtumBlock {
    fn consensus_encode<W: Write + ?Sized>(&self, w: &mut W) -> Result<usize, bitcoin::io::Error> {
        let mut len = self.header.consensus_encode(w)?;
        len += self.txdata.consensus_encode(w)?;
        Ok(len)
    }
}

impl Decodable for QtumBlock {
    fn consensus_decode_from_finite_reader<R: Read + ?Sized>(r: &mut R) -> Result<Self, encode::Error> {
        Ok(QtumBlock {
            header: Decodable::consensus_decode_from_finite_reader(r)?,
            txdata: Decodable::consensus_decode_from_finite_reader(r)?,
        })
    }
}

impl QtumBlock {
    /// The block hash (of the header).
    pub fn block_hash(&self) -> BlockHash {
        self.header.block_hash()
    }

    /// Bitcoin's merkle root over the txids; `None` for an empty block.
    pub fn compute_merkle_root(&self) -> Option<TxMerkleNode> {
        let hashes = self.txdata.iter().map(|t| t.compute_txid().to_raw_hash());
        bitcoin::merkle_tree::calculate_root(hashes).map(TxMerkleNode::from_raw_hash)
    }

    /// True when the header commits to the transactions.
    pub fn check_merkle_root(&self) -> bool {
        self.compute_merkle_root() == Some(self.header.merkle_root)
    }

    /// The txids in block order.
    pub fn txids(&self) -> Vec<Txid> {
        self.txdata.iter().map(|t| t.compute_txid()).collect()
    }
}

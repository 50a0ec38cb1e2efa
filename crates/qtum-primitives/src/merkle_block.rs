//! Transaction inclusion proofs (`gettxoutproof`, BIP37 `merkleblock`) with a Qtum header.
//!
//! The format is Bitcoin's `CMerkleBlock`, but the header in front is Qtum's variable-length one,
//! so `bitcoin::MerkleBlock` cannot parse it. The partial merkle tree itself is unchanged.

use std::fmt;

use bitcoin::consensus::encode::{self, Decodable, Encodable};
use bitcoin::hex::DisplayHex;
use bitcoin::merkle_tree::PartialMerkleTree;
use bitcoin::{io, BlockHash, Txid};

use crate::block::BlockError;
use crate::codec;
use crate::header::QtumHeader;

/// A Qtum header plus a partial merkle tree proving some of its transactions.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct QtumMerkleBlock {
    /// The header of the block the transactions are in.
    pub header: QtumHeader,
    /// The partial merkle tree (Bitcoin's format).
    pub txn: PartialMerkleTree,
}

impl QtumMerkleBlock {
    /// Hash of the block the proof is about.
    pub fn block_hash(&self) -> BlockHash {
        self.header.block_hash()
    }

    /// The proven txids with their positions in the block, after checking that the tree hashes
    /// up to the header's merkle root. Authenticate the header itself separately (hash chain).
    pub fn proven_txids(&self) -> Result<Vec<(Txid, u32)>, MerkleProofError> {
        let mut txids = Vec::new();
        let mut indexes = Vec::new();
        let root = self
            .txn
            .extract_matches(&mut txids, &mut indexes)
            .map_err(|e| MerkleProofError::Malformed(e.to_string()))?;
        if root != self.header.merkle_root {
            return Err(MerkleProofError::MerkleRootMismatch);
        }
        Ok(txids.into_iter().zip(indexes).collect())
    }

    /// Parses exactly one serialized proof.
    pub fn from_slice(bytes: &[u8]) -> Result<QtumMerkleBlock, BlockError> {
        codec::decode_exact(bytes).map_err(BlockError::from)
    }

    /// Parses a hex-encoded proof (`gettxoutproof` output). Surrounding whitespace is ignored.
    pub fn from_hex(s: &str) -> Result<QtumMerkleBlock, BlockError> {
        let bytes = codec::hex_to_bytes(s).map_err(BlockError::from)?;
        Self::from_slice(&bytes)
    }

    /// Serializes the proof.
    pub fn to_bytes(&self) -> Vec<u8> {
        encode::serialize(self)
    }

    /// Serializes the proof as lowercase hex.
    pub fn to_hex(&self) -> String {
        self.to_bytes().to_lower_hex_string()
    }
}

impl Encodable for QtumMerkleBlock {
    fn consensus_encode<W: io::Write + ?Sized>(&self, w: &mut W) -> Result<usize, io::Error> {
        let len = self.header.consensus_encode(w)?;
        Ok(len + self.txn.consensus_encode(w)?)
    }
}

impl Decodable for QtumMerkleBlock {
    fn consensus_decode_from_finite_reader<R: io::Read + ?Sized>(
        r: &mut R,
    ) -> Result<Self, encode::Error> {
        Ok(QtumMerkleBlock {
            header: Decodable::consensus_decode_from_finite_reader(r)?,
            txn: Decodable::consensus_decode_from_finite_reader(r)?,
        })
    }
}

/// Why a merkle proof does not prove anything.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum MerkleProofError {
    /// The tree is well formed but hashes to another root than the header's.
    MerkleRootMismatch,
    /// The partial merkle tree is inconsistent, with the reason.
    Malformed(String),
}

impl fmt::Display for MerkleProofError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            MerkleProofError::MerkleRootMismatch => {
                f.write_str("merkle proof does not match the block header")
            }
            MerkleProofError::Malformed(reason) => write!(f, "malformed merkle proof: {reason}"),
        }
    }
}

impl std::error::Error for MerkleProofError {}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::network::Network;

    #[test]
    fn proves_genesis_coinbase() {
        let block = Network::Testnet.genesis_block();
        let txid = block.txdata[0].compute_txid();
        let proof = QtumMerkleBlock {
            header: block.header.clone(),
            txn: PartialMerkleTree::from_txids(&[txid], &[true]),
        };
        // Decoding pads the flag bits to whole bytes, so compare encodings, not values.
        let decoded = QtumMerkleBlock::from_hex(&proof.to_hex()).expect("round trip");
        assert_eq!(decoded.to_bytes(), proof.to_bytes());
        assert_eq!(decoded.proven_txids(), Ok(vec![(txid, 0)]));
        assert_eq!(proof.proven_txids(), Ok(vec![(txid, 0)]));

        let mut wrong = proof.clone();
        wrong.header.merkle_root =
            bitcoin::TxMerkleNode::from_raw_hash(bitcoin::hashes::Hash::all_zeros());
        assert_eq!(
            wrong.proven_txids(),
            Err(MerkleProofError::MerkleRootMismatch)
        );

        let bytes = proof.to_bytes();
        assert_eq!(
            QtumMerkleBlock::from_slice(&bytes[..bytes.len() - 1]),
            Err(BlockError::Truncated)
        );
    }
}

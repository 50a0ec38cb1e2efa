//! The Qtum block header.
//!
//! Layout (`src/primitives/block.h` in Qtum Core), all integers little-endian:
//!
//! | bytes | field |
//! |---|---|
//! | 0..80 | Bitcoin's header: version, prev hash, merkle root, time, bits, nonce |
//! | 80..112 | `hashStateRoot` (EVM state trie root) |
//! | 112..144 | `hashUTXORoot` (contract UTXO trie root) |
//! | 144..180 | `prevoutStake`: txid + u32 index; null (zero txid, `ffffffff`) for PoW |
//! | 180.. | `vchBlockSig`: CompactSize length + bytes; empty for PoW |
//!
//! So a PoW header is 181 bytes and a PoS header 246 (65-byte compact signature) or 311 (plus a
//! 65-byte proof of delegation). The block hash is sha256d of **all** of it, signature included;
//! the first 80 bytes alone hash to a different, meaningless value.

use std::fmt;

use bitcoin::block::{Header as BitcoinHeader, Version};
use bitcoin::consensus::encode::{self, Decodable, Encodable};
use bitcoin::hashes::{sha256d, Hash};
use bitcoin::hex::DisplayHex;
use bitcoin::secp256k1::ecdsa::{RecoverableSignature, RecoveryId};
use bitcoin::secp256k1::{Message, Secp256k1};
use bitcoin::{io, BlockHash, CompactTarget, OutPoint, Target, TxMerkleNode, VarInt};

use crate::codec::{self, Failure};

/// Bytes before `vchBlockSig`: what a PoS block signature signs.
pub const FIXED_HEADER_SIZE: usize = 180;
/// Serialized size of a PoW header (fixed part + a zero CompactSize for the empty signature).
pub const POW_HEADER_SIZE: usize = FIXED_HEADER_SIZE + 1;
/// Size of a compact recoverable ECDSA signature, the form PoS blocks and delegations use.
pub const COMPACT_SIGNATURE_SIZE: usize = 65;
/// Serialized size of a PoS header with a compact signature and no delegation.
pub const POS_HEADER_SIZE: usize = FIXED_HEADER_SIZE + 1 + COMPACT_SIGNATURE_SIZE;

/// A Qtum block header.
///
/// Field names follow `bitcoin::block::Header` where the meaning is the same. The two trie roots
/// are kept exactly as serialized (raw byte order); qtumd's RPC prints them reversed, see
/// [`QtumHeader::hash_state_root_display`].
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct QtumHeader {
    /// Block version (BIP9 bits as in Bitcoin).
    pub version: i32,
    /// Hash of the previous block (a Qtum hash: sha256d of the whole previous header).
    pub prev_blockhash: BlockHash,
    /// Merkle root of the block's transactions (Bitcoin's algorithm).
    pub merkle_root: TxMerkleNode,
    /// Block time, seconds since the Unix epoch.
    pub time: u32,
    /// Difficulty target in compact form.
    pub bits: CompactTarget,
    /// PoW nonce; 0 in PoS blocks.
    pub nonce: u32,
    /// Root of the EVM state trie, raw serialized byte order.
    pub hash_state_root: [u8; 32],
    /// Root of the contract UTXO trie, raw serialized byte order.
    pub hash_utxo_root: [u8; 32],
    /// The output staked by a PoS block; [`OutPoint::null`] for PoW blocks.
    pub prevout_stake: OutPoint,
    /// `vchBlockSig`: block signature, optionally followed by a proof of delegation. Empty for PoW.
    pub block_sig: Vec<u8>,
}

impl QtumHeader {
    /// Qtum block hash: sha256d of the complete serialized header.
    pub fn block_hash(&self) -> BlockHash {
        let mut engine = BlockHash::engine();
        self.consensus_encode(&mut engine)
            .expect("hash engines never fail to write");
        BlockHash::from_engine(engine)
    }

    /// The first 80 bytes viewed as a Bitcoin header.
    ///
    /// Useful for code that needs a `bitcoin::block::Header` shape, but its `block_hash()` is
    /// **not** the Qtum block hash; use [`QtumHeader::block_hash`] for anything that identifies
    /// a block.
    pub fn synthetic_header(&self) -> BitcoinHeader {
        BitcoinHeader {
            version: Version::from_consensus(self.version),
            prev_blockhash: self.prev_blockhash,
            merkle_root: self.merkle_root,
            time: self.time,
            bits: self.bits,
            nonce: self.nonce,
        }
    }

    /// sha256d of the first 80 bytes (what a Bitcoin client would compute). Not a Qtum block id.
    pub fn synthetic_hash(&self) -> BlockHash {
        self.synthetic_header().block_hash()
    }

    /// The hash a PoS block signature signs: sha256d of the 180 fixed bytes, i.e. the header
    /// without `vchBlockSig` (Qtum's `GetHashWithoutSign`).
    pub fn signed_hash(&self) -> sha256d::Hash {
        let mut engine = sha256d::Hash::engine();
        self.encode_fixed(&mut engine)
            .expect("hash engines never fail to write");
        sha256d::Hash::from_engine(engine)
    }

    /// True when the header stakes an output, which is exactly how Qtum tells PoS from PoW.
    pub fn is_proof_of_stake(&self) -> bool {
        !self.prevout_stake.is_null()
    }

    /// The block signature part of `vchBlockSig`.
    ///
    /// Qtum appends a 65-byte proof of delegation only when the field holds at least two compact
    /// signatures' worth of bytes; anything shorter is the signature alone (this also covers
    /// DER signatures of early mainnet PoS blocks).
    pub fn signature(&self) -> &[u8] {
        match self.delegation_split() {
            Some(split) => &self.block_sig[..split],
            None => &self.block_sig,
        }
    }

    /// The proof of delegation (a 65-byte compact signature by the delegating address), present
    /// in blocks staked by a delegate (offline staking).
    pub fn proof_of_delegation(&self) -> Option<&[u8]> {
        self.delegation_split()
            .map(|split| &self.block_sig[split..])
    }

    fn delegation_split(&self) -> Option<usize> {
        // Same rule as Qtum's CBlockHeader::HasProofOfDelegation.
        (self.block_sig.len() >= 2 * COMPACT_SIGNATURE_SIZE)
            .then(|| self.block_sig.len() - COMPACT_SIGNATURE_SIZE)
    }

    /// `hashStateRoot` as hex in the byte order `getblockheader` prints.
    pub fn hash_state_root_display(&self) -> String {
        reversed_hex(&self.hash_state_root)
    }

    /// `hashUTXORoot` as hex in the byte order `getblockheader` prints.
    pub fn hash_utxo_root_display(&self) -> String {
        reversed_hex(&self.hash_utxo_root)
    }

    /// The target the header claims, decoded from `bits`.
    pub fn target(&self) -> Target {
        Target::from_compact(self.bits)
    }

    /// Whether the block hash meets the header's own target.
    ///
    /// Only meaningful for PoW headers: a PoS header's hash is not required to meet the target
    /// (its kernel hash is, which needs the UTXO set). This checks the hash against `bits` only,
    /// not `bits` against the network's difficulty rules; authenticate headers by hash chain.
    pub fn check_pow(&self) -> bool {
        self.target().is_met_by(self.block_hash())
    }

    /// Recovers the public key that signed a PoS header.
    ///
    /// Qtum checks that this key owns the staked output (or, with a proof of delegation, is the
    /// delegated staker). Only compact 65-byte signatures are recoverable; DER signatures of early
    /// mainnet PoS blocks are reported as [`StakeSignatureError::NotCompact`].
    pub fn recover_staker_pubkey(&self) -> Result<bitcoin::PublicKey, StakeSignatureError> {
        if !self.is_proof_of_stake() {
            return Err(StakeSignatureError::NotProofOfStake);
        }
        let sig = self.signature();
        if sig.len() != COMPACT_SIGNATURE_SIZE {
            return Err(StakeSignatureError::NotCompact { len: sig.len() });
        }
        // Compact header byte: 27 + recovery id, + 4 when the key is compressed.
        let flag = sig[0];
        if !(27..=34).contains(&flag) {
            return Err(StakeSignatureError::InvalidRecoveryId);
        }
        let compressed = flag >= 31;
        let rec_id = RecoveryId::from_i32(i32::from((flag - 27) & 3))
            .map_err(|_| StakeSignatureError::InvalidRecoveryId)?;
        let rec_sig = RecoverableSignature::from_compact(&sig[1..], rec_id)
            .map_err(|_| StakeSignatureError::InvalidSignature)?;
        let msg = Message::from_digest(self.signed_hash().to_byte_array());
        let key = Secp256k1::verification_only()
            .recover_ecdsa(&msg, &rec_sig)
            .map_err(|_| StakeSignatureError::InvalidSignature)?;
        Ok(if compressed {
            bitcoin::PublicKey::new(key)
        } else {
            bitcoin::PublicKey::new_uncompressed(key)
        })
    }

    /// Parses exactly one serialized header; trailing bytes are an error.
    pub fn from_slice(bytes: &[u8]) -> Result<QtumHeader, HeaderError> {
        codec::decode_exact(bytes).map_err(HeaderError::from)
    }

    /// Parses a hex-encoded header (e.g. `getblockheader <hash> false`). Surrounding whitespace
    /// is ignored.
    pub fn from_hex(s: &str) -> Result<QtumHeader, HeaderError> {
        let bytes = codec::hex_to_bytes(s).map_err(HeaderError::from)?;
        Self::from_slice(&bytes)
    }

    /// Serialized size in bytes: 181 for PoW, 180 + CompactSize + signature for PoS.
    pub fn serialized_size(&self) -> usize {
        FIXED_HEADER_SIZE + VarInt(self.block_sig.len() as u64).size() + self.block_sig.len()
    }

    /// Serializes the header.
    pub fn to_bytes(&self) -> Vec<u8> {
        encode::serialize(self)
    }

    /// Serializes the header as lowercase hex.
    pub fn to_hex(&self) -> String {
        self.to_bytes().to_lower_hex_string()
    }

    fn encode_fixed<W: io::Write + ?Sized>(&self, w: &mut W) -> Result<usize, io::Error> {
        let mut len = self.version.consensus_encode(w)?;
        len += self.prev_blockhash.consensus_encode(w)?;
        len += self.merkle_root.consensus_encode(w)?;
        len += self.time.consensus_encode(w)?;
        len += self.bits.consensus_encode(w)?;
        len += self.nonce.consensus_encode(w)?;
        len += self.hash_state_root.consensus_encode(w)?;
        len += self.hash_utxo_root.consensus_encode(w)?;
        len += self.prevout_stake.consensus_encode(w)?;
        Ok(len)
    }
}

impl fmt::Debug for QtumHeader {
    // Hand-written so logs show the roots and signature as hex rather than decimal byte lists.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("QtumHeader")
            .field("block_hash", &self.block_hash())
            .field("version", &self.version)
            .field("prev_blockhash", &self.prev_blockhash)
            .field("merkle_root", &self.merkle_root)
            .field("time", &self.time)
            .field("bits", &format_args!("{:08x}", self.bits.to_consensus()))
            .field("nonce", &self.nonce)
            .field(
                "hash_state_root",
                &format_args!("{}", self.hash_state_root.as_hex()),
            )
            .field(
                "hash_utxo_root",
                &format_args!("{}", self.hash_utxo_root.as_hex()),
            )
            .field("prevout_stake", &self.prevout_stake)
            .field("block_sig", &format_args!("{}", self.block_sig.as_hex()))
            .finish()
    }
}

fn reversed_hex(bytes: &[u8; 32]) -> String {
    let mut rev = *bytes;
    rev.reverse();
    rev.to_lower_hex_string()
}

impl Encodable for QtumHeader {
    fn consensus_encode<W: io::Write + ?Sized>(&self, w: &mut W) -> Result<usize, io::Error> {
        let len = self.encode_fixed(w)?;
        Ok(len + self.block_sig.consensus_encode(w)?)
    }
}

impl Decodable for QtumHeader {
    fn consensus_decode_from_finite_reader<R: io::Read + ?Sized>(
        r: &mut R,
    ) -> Result<Self, encode::Error> {
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
            // Vec<u8> decoding reads in bounded chunks, so a huge announced length cannot make
            // us allocate more than the input actually holds.
            block_sig: Decodable::consensus_decode_from_finite_reader(r)?,
        })
    }
}

/// Why a header could not be parsed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum HeaderError {
    /// The text is not hex (odd length or a non-hex character).
    InvalidHex,
    /// The input ends before the header does (a header is at least 181 bytes).
    Truncated,
    /// A complete header was followed by `extra` unexpected bytes.
    TrailingBytes {
        /// Number of bytes left after the header.
        extra: usize,
    },
    /// The signature length prefix is not minimally encoded, which Qtum nodes reject.
    NonMinimalCompactSize,
    /// The signature length prefix announces an impossibly large signature.
    OversizedSignature,
    /// Any other malformation, with the decoder's reason.
    Malformed(String),
}

impl From<Failure> for HeaderError {
    fn from(f: Failure) -> Self {
        match f {
            Failure::InvalidHex => HeaderError::InvalidHex,
            Failure::Truncated => HeaderError::Truncated,
            Failure::TrailingBytes(extra) => HeaderError::TrailingBytes { extra },
            Failure::NonMinimalCompactSize => HeaderError::NonMinimalCompactSize,
            Failure::Oversized => HeaderError::OversizedSignature,
            Failure::Malformed(reason) => HeaderError::Malformed(reason),
        }
    }
}

impl fmt::Display for HeaderError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HeaderError::InvalidHex => f.write_str("block header is not valid hex"),
            HeaderError::Truncated => f.write_str("block header is truncated"),
            HeaderError::TrailingBytes { extra } => {
                write!(f, "block header is followed by {extra} unexpected bytes")
            }
            HeaderError::NonMinimalCompactSize => {
                f.write_str("block header signature length is not minimally encoded")
            }
            HeaderError::OversizedSignature => f.write_str("block header signature is too large"),
            HeaderError::Malformed(reason) => write!(f, "malformed block header: {reason}"),
        }
    }
}

impl std::error::Error for HeaderError {}

/// Why the staker's key could not be recovered from a header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StakeSignatureError {
    /// The header is proof of work; it carries no block signature.
    NotProofOfStake,
    /// The signature is not a 65-byte compact signature (e.g. DER), so no key can be recovered.
    NotCompact {
        /// Length of the signature found.
        len: usize,
    },
    /// The compact signature's header byte does not encode a recovery id.
    InvalidRecoveryId,
    /// The signature bytes are not a valid signature of this header.
    InvalidSignature,
}

impl fmt::Display for StakeSignatureError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StakeSignatureError::NotProofOfStake => {
                f.write_str("proof-of-work header has no block signature")
            }
            StakeSignatureError::NotCompact { len } => {
                write!(
                    f,
                    "block signature is {len} bytes, not a 65-byte compact signature"
                )
            }
            StakeSignatureError::InvalidRecoveryId => {
                f.write_str("block signature has an invalid recovery id")
            }
            StakeSignatureError::InvalidSignature => f.write_str("block signature is invalid"),
        }
    }
}

impl std::error::Error for StakeSignatureError {}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::network::Network;

    fn pos_header() -> QtumHeader {
        let mut h = Network::Regtest.genesis_header();
        h.prevout_stake = OutPoint {
            txid: bitcoin::Txid::from_byte_array([7; 32]),
            vout: 1,
        };
        h.block_sig = vec![0x1f; COMPACT_SIGNATURE_SIZE];
        h
    }

    #[test]
    fn pow_header_is_181_bytes_and_round_trips() {
        let h = Network::Regtest.genesis_header();
        let bytes = h.to_bytes();
        assert_eq!(bytes.len(), POW_HEADER_SIZE);
        assert_eq!(h.serialized_size(), POW_HEADER_SIZE);
        assert_eq!(QtumHeader::from_slice(&bytes), Ok(h.clone()));
        assert_eq!(
            QtumHeader::from_hex(&format!("{}\n", h.to_hex())),
            Ok(h.clone())
        );
        assert!(!h.is_proof_of_stake());
        assert!(h.signature().is_empty());
        assert_eq!(h.proof_of_delegation(), None);
        assert_eq!(
            h.recover_staker_pubkey(),
            Err(StakeSignatureError::NotProofOfStake)
        );
    }

    #[test]
    fn pos_header_sizes_and_delegation_split() {
        let mut h = pos_header();
        assert!(h.is_proof_of_stake());
        assert_eq!(h.to_bytes().len(), POS_HEADER_SIZE);
        assert_eq!(h.signature().len(), 65);
        assert_eq!(h.proof_of_delegation(), None);

        h.block_sig = (0..130u8).collect();
        assert_eq!(h.to_bytes().len(), FIXED_HEADER_SIZE + 1 + 130);
        assert_eq!(h.serialized_size(), FIXED_HEADER_SIZE + 1 + 130);
        assert_eq!(h.signature(), &(0..65u8).collect::<Vec<_>>()[..]);
        assert_eq!(
            h.proof_of_delegation(),
            Some(&(65..130u8).collect::<Vec<_>>()[..])
        );
        assert_eq!(QtumHeader::from_slice(&h.to_bytes()), Ok(h.clone()));

        // A 72-byte DER signature is a signature alone, not signature + delegation.
        h.block_sig = vec![0x30; 72];
        assert_eq!(h.signature().len(), 72);
        assert_eq!(h.proof_of_delegation(), None);
        assert_eq!(
            h.recover_staker_pubkey(),
            Err(StakeSignatureError::NotCompact { len: 72 })
        );
    }

    #[test]
    fn every_truncation_is_a_typed_error() {
        let bytes = pos_header().to_bytes();
        for len in 0..bytes.len() {
            assert_eq!(
                QtumHeader::from_slice(&bytes[..len]),
                Err(HeaderError::Truncated),
                "len {len}"
            );
        }
    }

    #[test]
    fn trailing_bytes_and_bad_hex_are_rejected() {
        let mut bytes = Network::Mainnet.genesis_header().to_bytes();
        bytes.extend_from_slice(&[0, 1, 2]);
        assert_eq!(
            QtumHeader::from_slice(&bytes),
            Err(HeaderError::TrailingBytes { extra: 3 })
        );
        assert_eq!(QtumHeader::from_hex("abc"), Err(HeaderError::InvalidHex));
        assert_eq!(QtumHeader::from_hex("zz"), Err(HeaderError::InvalidHex));
        assert_eq!(QtumHeader::from_hex(""), Err(HeaderError::Truncated));
    }

    #[test]
    fn hostile_signature_lengths_do_not_allocate_or_panic() {
        let mut bytes = Network::Regtest.genesis_header().to_bytes();
        bytes.truncate(FIXED_HEADER_SIZE);
        // CompactSize 0xffffffffffffffff: far beyond any allocation limit.
        let mut huge = bytes.clone();
        huge.extend_from_slice(&[0xff; 9]);
        assert!(QtumHeader::from_slice(&huge).is_err());
        // 0xfe prefix announcing 1 MB with nothing behind it.
        let mut big = bytes.clone();
        big.extend_from_slice(&[0xfe, 0x00, 0x00, 0x10, 0x00]);
        assert_eq!(QtumHeader::from_slice(&big), Err(HeaderError::Truncated));
        // Non-minimal: 0xfd announcing 1 byte.
        let mut nonmin = bytes;
        nonmin.extend_from_slice(&[0xfd, 0x01, 0x00, 0xaa]);
        assert_eq!(
            QtumHeader::from_slice(&nonmin),
            Err(HeaderError::NonMinimalCompactSize)
        );
    }

    #[test]
    fn hash_covers_signature_but_signed_hash_does_not() {
        let a = pos_header();
        let mut b = a.clone();
        b.block_sig[10] ^= 1;
        assert_ne!(a.block_hash(), b.block_hash());
        assert_eq!(a.signed_hash(), b.signed_hash());
        assert_eq!(a.synthetic_hash(), b.synthetic_hash());
        assert_eq!(
            a.signed_hash(),
            sha256d::Hash::hash(&a.to_bytes()[..FIXED_HEADER_SIZE])
        );
    }

    #[test]
    fn display_roots_are_reversed() {
        let h = Network::Regtest.genesis_header();
        assert_eq!(
            h.hash_state_root_display(),
            "9514771014c9ae803d8cea2731b2063e83de44802b40dce2d06acd02d0ff65e9"
        );
        assert_eq!(
            h.hash_utxo_root_display(),
            "21b463e3b52f6201c0ad6c991be0485b6ef8c092e64583ffa655cc1b171fe856"
        );
    }

    #[test]
    fn bad_recovery_flag_is_typed() {
        let mut h = pos_header();
        h.block_sig[0] = 0;
        assert_eq!(
            h.recover_staker_pubkey(),
            Err(StakeSignatureError::InvalidRecoveryId)
        );
    }

    #[test]
    fn debug_shows_hex() {
        let dbg = format!("{:?}", Network::Regtest.genesis_header());
        assert!(
            dbg.contains("e965ffd002cd6ad0e2dc402b8044de833e06b23127ea8c3d80aec91410771495"),
            "{dbg}"
        );
        assert!(dbg.contains("bits: 207fffff"), "{dbg}");
    }

    #[test]
    fn errors_have_messages() {
        assert_eq!(
            HeaderError::TrailingBytes { extra: 2 }.to_string(),
            "block header is followed by 2 unexpected bytes"
        );
        assert!(!StakeSignatureError::InvalidSignature.to_string().is_empty());
    }
}

//! Property tests of the Qtum codecs: for generated values, decode(encode(x)) = x, and what the
//! codecs promise about sizes, hashes and networks holds. The fuzz targets in `fuzz/` check the
//! other direction (encode(decode(bytes)) = bytes for any bytes that decode).

use std::str::FromStr;

use bitcoin::absolute::LockTime;
use bitcoin::hashes::{sha256d, Hash};
use bitcoin::key::{Keypair, TweakedPublicKey};
use bitcoin::merkle_tree::PartialMerkleTree;
use bitcoin::secp256k1::{Secp256k1, SecretKey};
use bitcoin::transaction::Version;
use bitcoin::{
    Amount, BlockHash, CompactTarget, CompressedPublicKey, OutPoint, PubkeyHash, ScriptBuf,
    Sequence, Transaction, TxIn, TxMerkleNode, TxOut, Txid, Witness, WitnessProgram,
    WitnessVersion,
};
use proptest::collection::vec;
use proptest::prelude::*;
use qtum_primitives::address::{AddressType, QtumAddress};
use qtum_primitives::block::QtumBlock;
use qtum_primitives::header::{QtumHeader, COMPACT_SIGNATURE_SIZE, FIXED_HEADER_SIZE};
use qtum_primitives::merkle_block::QtumMerkleBlock;
use qtum_primitives::network::{Network, MAX_MONEY};

fn network() -> impl Strategy<Value = Network> {
    prop::sample::select(Network::ALL.to_vec())
}

fn bytes32() -> impl Strategy<Value = [u8; 32]> {
    any::<[u8; 32]>()
}

fn outpoint() -> impl Strategy<Value = OutPoint> {
    (bytes32(), any::<u32>()).prop_map(|(t, vout)| OutPoint::new(Txid::from_byte_array(t), vout))
}

/// PoW headers (null stake, empty signature) and PoS headers with a compact signature, a DER-like
/// one, or a signature plus a proof of delegation; and anything in between.
fn header() -> impl Strategy<Value = QtumHeader> {
    let stake = prop_oneof![Just(OutPoint::null()), outpoint()];
    let sig = prop_oneof![
        Just(Vec::new()),
        vec(any::<u8>(), COMPACT_SIGNATURE_SIZE),
        vec(any::<u8>(), 2 * COMPACT_SIGNATURE_SIZE),
        vec(any::<u8>(), 0..300),
    ];
    (
        (
            any::<i32>(),
            bytes32(),
            bytes32(),
            any::<u32>(),
            any::<u32>(),
        ),
        (any::<u32>(), bytes32(), bytes32(), stake, sig),
    )
        .prop_map(
            |((version, prev, merkle, time, bits), (nonce, state, utxo, stake, sig))| QtumHeader {
                version,
                prev_blockhash: BlockHash::from_byte_array(prev),
                merkle_root: TxMerkleNode::from_byte_array(merkle),
                time,
                bits: CompactTarget::from_consensus(bits),
                nonce,
                hash_state_root: state,
                hash_utxo_root: utxo,
                prevout_stake: stake,
                block_sig: sig,
            },
        )
}

fn txin() -> impl Strategy<Value = TxIn> {
    (
        outpoint(),
        vec(any::<u8>(), 0..80),
        any::<u32>(),
        vec(vec(any::<u8>(), 0..80), 0..4),
    )
        .prop_map(|(previous_output, script, sequence, witness)| TxIn {
            previous_output,
            script_sig: ScriptBuf::from_bytes(script),
            sequence: Sequence(sequence),
            witness: Witness::from_slice(&witness),
        })
}

fn txout() -> impl Strategy<Value = TxOut> {
    (0..=MAX_MONEY, vec(any::<u8>(), 0..60)).prop_map(|(sat, script)| TxOut {
        value: Amount::from_sat(sat),
        script_pubkey: ScriptBuf::from_bytes(script),
    })
}

/// Transactions with at least one input (a transaction with none has no unambiguous legacy
/// encoding: its empty input count reads as the SegWit marker).
fn transaction() -> impl Strategy<Value = Transaction> {
    (
        any::<i32>(),
        any::<u32>(),
        vec(txin(), 1..4),
        vec(txout(), 0..4),
    )
        .prop_map(|(version, lock, input, output)| Transaction {
            version: Version(version),
            lock_time: LockTime::from_consensus(lock),
            input,
            output,
        })
}

fn block() -> impl Strategy<Value = QtumBlock> {
    (header(), vec(transaction(), 0..5)).prop_map(|(header, txdata)| QtumBlock { header, txdata })
}

fn secret_key() -> impl Strategy<Value = SecretKey> {
    bytes32().prop_filter_map("not a secret key", |b| SecretKey::from_slice(&b).ok())
}

/// Every kind of address the SDK handles, on every network.
fn address() -> impl Strategy<Value = QtumAddress> {
    let secp = Secp256k1::new();
    let kinds = prop_oneof![
        any::<[u8; 20]>().prop_map(|h| (0u8, h.to_vec())),
        vec(any::<u8>(), 0..=520).prop_map(|s| (1u8, s)),
        secret_key().prop_map(|k| (2u8, k.secret_bytes().to_vec())),
        vec(any::<u8>(), 0..100).prop_map(|s| (3u8, s)),
        secret_key().prop_map(|k| (4u8, k.secret_bytes().to_vec())),
        (2u8..=16, vec(any::<u8>(), 2..=40)).prop_map(|(v, p)| (v + 10, p)),
        vec(any::<u8>(), 2..=40)
            .prop_filter("v1 with 32 bytes is taproot", |p| p.len() != 32)
            .prop_map(|p| (11u8, p)),
    ];
    (kinds, network()).prop_map(move |((kind, data), network)| match kind {
        0 => QtumAddress::p2pkh(
            PubkeyHash::from_byte_array(data.try_into().expect("20 bytes")),
            network,
        ),
        1 => QtumAddress::p2sh(&ScriptBuf::from_bytes(data), network).expect("<= 520 bytes"),
        2 => {
            let key = SecretKey::from_slice(&data).expect("key");
            let pubkey = CompressedPublicKey(key.public_key(&secp));
            QtumAddress::p2wpkh(&pubkey, network)
        }
        3 => QtumAddress::p2wsh(&ScriptBuf::from_bytes(data), network),
        4 => {
            let key = SecretKey::from_slice(&data).expect("key");
            let (xonly, _) = Keypair::from_secret_key(&secp, &key).x_only_public_key();
            QtumAddress::p2tr_tweaked(TweakedPublicKey::dangerous_assume_tweaked(xonly), network)
        }
        v => {
            let version = WitnessVersion::try_from(v - 10).expect("1..=16");
            let program = WitnessProgram::new(version, &data).expect("2..=40 bytes");
            QtumAddress::from_witness_program(program, network)
        }
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    #[test]
    fn header_round_trips(h in header()) {
        let bytes = h.to_bytes();
        prop_assert_eq!(bytes.len(), h.serialized_size());
        prop_assert_eq!(QtumHeader::from_slice(&bytes), Ok(h.clone()));
        prop_assert_eq!(QtumHeader::from_hex(&format!(" {}\n", h.to_hex())), Ok(h.clone()));
        // One header exactly: trailing bytes and a missing byte are refused.
        let mut longer = bytes.clone();
        longer.push(0);
        prop_assert!(QtumHeader::from_slice(&longer).is_err());
        prop_assert!(QtumHeader::from_slice(&bytes[..bytes.len() - 1]).is_err());
        // The Qtum hash covers every byte; the signed hash the fixed 180.
        prop_assert_eq!(h.block_hash().to_byte_array(), sha256d::Hash::hash(&bytes).to_byte_array());
        prop_assert_eq!(h.signed_hash(), sha256d::Hash::hash(&bytes[..FIXED_HEADER_SIZE]));
        prop_assert_eq!(
            bitcoin::consensus::encode::serialize(&h.synthetic_header()),
            bytes[..80].to_vec()
        );
        prop_assert_eq!(h.is_proof_of_stake(), !h.prevout_stake.is_null());
        let delegation = h.proof_of_delegation().unwrap_or(&[]);
        prop_assert_eq!([h.signature(), delegation].concat(), h.block_sig.clone());
    }

    #[test]
    fn transaction_round_trips(tx in transaction()) {
        let bytes = bitcoin::consensus::encode::serialize(&tx);
        let again: Transaction = bitcoin::consensus::encode::deserialize(&bytes).expect("decodes");
        prop_assert_eq!(&again, &tx);
        prop_assert_eq!(again.compute_txid(), tx.compute_txid());
    }

    #[test]
    fn block_round_trips(mut b in block()) {
        let bytes = b.to_bytes();
        prop_assert_eq!(bytes.len(), b.total_size());
        prop_assert!(b.stripped_size() <= b.total_size());
        prop_assert_eq!(QtumBlock::from_slice(&bytes), Ok(b.clone()));
        prop_assert_eq!(QtumBlock::from_hex(&b.to_hex()), Ok(b.clone()));
        let mut longer = bytes.clone();
        longer.push(0);
        prop_assert!(QtumBlock::from_slice(&longer).is_err());
        prop_assert_eq!(b.block_hash(), b.header.block_hash());
        // With the merkle root it commits to, the block checks; a proof of some of its
        // transactions round-trips and proves exactly those.
        if let Some(root) = b.compute_merkle_root() {
            b.header.merkle_root = root;
            prop_assert!(b.check_merkle_root());
            let txids = b.txids();
            let matches: Vec<bool> = (0..txids.len()).map(|i| i % 2 == 0).collect();
            let proof = QtumMerkleBlock {
                header: b.header.clone(),
                txn: PartialMerkleTree::from_txids(&txids, &matches),
            };
            // The flag bits travel in whole bytes, so the decoded tree's bit vector is padded
            // with zeros (bitcoin's PartialMerkleTree): compare encodings and what is proven.
            let decoded = QtumMerkleBlock::from_slice(&proof.to_bytes()).expect("decodes");
            prop_assert_eq!(&decoded.header, &proof.header);
            prop_assert_eq!(decoded.to_bytes(), proof.to_bytes());
            prop_assert_eq!(QtumMerkleBlock::from_hex(&proof.to_hex()), Ok(decoded.clone()));
            let proven = decoded.proven_txids().expect("a proof of the block's own root");
            prop_assert_eq!(&proven, &proof.proven_txids().expect("proves"));
            let expected: Vec<(Txid, u32)> = txids
                .iter()
                .enumerate()
                .filter(|(i, _)| i % 2 == 0)
                .map(|(i, t)| (*t, i as u32))
                .collect();
            prop_assert_eq!(proven, expected);
        } else {
            prop_assert!(b.txdata.is_empty());
        }
    }

    #[test]
    fn address_round_trips(a in address()) {
        let text = a.to_string();
        let network = a.network();
        prop_assert_eq!(QtumAddress::from_str_for(&text, network), Ok(a.clone()));
        let any = QtumAddress::parse_any(&text).expect("parses");
        prop_assert_eq!(any.script_pubkey(), a.script_pubkey());
        prop_assert_eq!(any.networks(), a.networks());
        prop_assert_eq!(QtumAddress::from_str(&text), Ok(any));
        prop_assert_eq!(QtumAddress::from_script(&a.script_pubkey(), network), Ok(a.clone()));
        prop_assert!(a.matches_script_pubkey(&a.script_pubkey()));
        for other in Network::ALL {
            prop_assert_eq!(QtumAddress::from_str_for(&text, other).is_ok(), a.is_valid_for(other));
        }
        match a.address_type() {
            AddressType::P2pkh | AddressType::P2sh => {
                // Testnet and regtest share base58 version bytes: valid on both.
                prop_assert_eq!(a.networks().len(), if network == Network::Mainnet { 1 } else { 2 });
                prop_assert!(a.witness_program().is_none());
            }
            _ => {
                prop_assert_eq!(a.networks(), &[network][..]);
                prop_assert_eq!(text.clone(), text.to_lowercase());
                // Bech32 in upper case (QR codes) is the same address.
                prop_assert_eq!(QtumAddress::from_str_for(&text.to_uppercase(), network), Ok(a.clone()));
                prop_assert!(a.witness_program().is_some());
            }
        }
    }

    #[test]
    fn network_names_round_trip(n in network()) {
        prop_assert_eq!(Network::from_str(&n.to_string()), Ok(n));
        prop_assert_eq!(Network::from_str(n.as_str()), Ok(n));
        prop_assert_eq!(Network::from_chain_hash(n.chain_hash()), Some(n));
        prop_assert_eq!(Network::from_bitcoin_network(n.bitcoin_network()), Some(n));
        prop_assert_eq!(n.genesis_block().block_hash(), n.genesis_hash());
        prop_assert_eq!(QtumBlock::from_slice(&n.genesis_block().to_bytes()), Ok(n.genesis_block()));
    }
}

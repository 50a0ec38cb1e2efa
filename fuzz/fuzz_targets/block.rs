//! `QtumBlock` from bytes: decode, encode, decode gives the same block; the derived values
//! (merkle and witness roots, sizes, weight, coinbase/coinstake) never panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use qtum_primitives::block::QtumBlock;
use qtum_primitives::merkle_block::QtumMerkleBlock;

fuzz_target!(|data: &[u8]| {
    if let Ok(proof) = QtumMerkleBlock::from_slice(data) {
        assert_eq!(
            QtumMerkleBlock::from_slice(&proof.to_bytes()).as_ref(),
            Ok(&proof)
        );
        if let Ok(proven) = proof.proven_txids() {
            // Every proven txid is one the proof matched, at a position inside the block.
            for (_, position) in &proven {
                assert!(*position < proof.txn.num_transactions());
            }
        }
        let _ = proof.block_hash();
    }
    let Ok(block) = QtumBlock::from_slice(data) else {
        return;
    };
    let bytes = block.to_bytes();
    let again = QtumBlock::from_slice(&bytes).expect("an encoded block decodes");
    assert_eq!(again, block, "decode(encode(block)) differs");
    assert_eq!(again.to_bytes(), bytes, "encoding is not stable");
    assert_eq!(block.total_size(), bytes.len());
    assert!(block.stripped_size() <= block.total_size());
    assert_eq!(block.block_hash(), block.header.block_hash());
    // Exactly one block: a trailing byte is refused.
    let mut longer = bytes.clone();
    longer.push(0);
    assert!(QtumBlock::from_slice(&longer).is_err());
    let _ = block.weight();
    let txids = block.txids();
    assert_eq!(txids.len(), block.txdata.len());
    let root = block.compute_merkle_root();
    assert_eq!(root.is_some(), !block.txdata.is_empty());
    assert_eq!(
        block.check_merkle_root(),
        root == Some(block.header.merkle_root)
    );
    let _ = block.witness_root();
    let _ = block.check_witness_commitment();
    let _ = block.coinbase();
    let _ = block.coinstake();
    let _ = block.is_proof_of_stake();
    let _ = block.synthetic_block();
});

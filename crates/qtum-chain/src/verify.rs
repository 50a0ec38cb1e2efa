//! Checks applied to everything a source returns before the rest of the SDK may rely on it.
//!
//! A source is an untrusted party: a buggy proxy, a lying Esplora or a corrupted cache must
//! produce an error, never a false confirmation. Headers are identified by Qtum's real hash
//! (sha256d of the whole header, rule 5 in the `sync` module docs); transactions are tied to a header by a
//! merkle branch or by recomputing the whole block's merkle root.

use bitcoin::hashes::{sha256d, Hash, HashEngine};
use bitcoin::{BlockHash, Transaction, TxMerkleNode, Txid};

use qtum_primitives::block::QtumBlock;
use qtum_primitives::header::QtumHeader;

use crate::ChainError;

/// Parses a raw Qtum header and checks that it hashes to `expected`.
pub fn header_from_bytes(bytes: &[u8], expected: &BlockHash) -> Result<QtumHeader, ChainError> {
    let header = QtumHeader::from_slice(bytes)
        .map_err(|e| ChainError::InvalidResponse(format!("undecodable Qtum header: {e}")))?;
    check_header_hash(&header, expected)?;
    Ok(header)
}

/// Checks that `header` is the header of block `expected` (real Qtum hash).
pub fn check_header_hash(header: &QtumHeader, expected: &BlockHash) -> Result<(), ChainError> {
    let got = header.block_hash();
    if got != *expected {
        return Err(ChainError::InvalidResponse(format!(
            "header hashes to {got}, not to the block {expected} asked for"
        )));
    }
    Ok(())
}

/// Parses a raw Qtum block and checks its header hash, merkle root and witness commitment.
pub fn block_from_bytes(bytes: &[u8], expected: &BlockHash) -> Result<QtumBlock, ChainError> {
    let block = QtumBlock::from_slice(bytes)
        .map_err(|e| ChainError::InvalidResponse(format!("undecodable Qtum block: {e}")))?;
    check_block(&block, expected)?;
    Ok(block)
}

/// Checks a decoded block: its header hash is `expected`, its transactions match the merkle root
/// and their witnesses the commitment (so a source cannot swap a spending transaction's witness,
/// which is where LDK reads HTLC preimages from).
pub fn check_block(block: &QtumBlock, expected: &BlockHash) -> Result<(), ChainError> {
    check_header_hash(&block.header, expected)?;
    if !block.check_merkle_root() {
        return Err(ChainError::InvalidResponse(format!(
            "block {expected}: transactions do not match the header's merkle root"
        )));
    }
    if !block.check_witness_commitment() {
        return Err(ChainError::InvalidResponse(format!(
            "block {expected}: witnesses do not match the witness commitment"
        )));
    }
    Ok(())
}

/// Checks that `tx` is the transaction `expected`.
pub fn check_txid(tx: &Transaction, expected: &Txid) -> Result<(), ChainError> {
    let got = tx.compute_txid();
    if got != *expected {
        return Err(ChainError::InvalidResponse(format!(
            "transaction hashes to {got}, not to {expected}"
        )));
    }
    Ok(())
}

/// The deepest merkle branch accepted: a block of Qtum's 8 MB weight limit holds well under
/// 2^17 transactions, so 32 levels is far beyond any real block and keeps every shift in range.
pub const MAX_MERKLE_DEPTH: usize = 32;

/// The merkle root an Esplora-style branch leads to: `branch` lists the sibling hashes from the
/// leaf up, `pos` is the transaction's index in the block. `None` when `pos` does not fit the
/// branch (a position beyond the tree the branch describes) or when the branch is deeper than
/// any block can be ([`MAX_MERKLE_DEPTH`]).
pub fn merkle_root_from_branch(txid: &Txid, branch: &[Txid], pos: usize) -> Option<TxMerkleNode> {
    if branch.len() > MAX_MERKLE_DEPTH || (pos as u64) >> branch.len() != 0 {
        return None;
    }
    let mut current = txid.to_raw_hash();
    for (depth, sibling) in branch.iter().enumerate() {
        let mut engine = sha256d::Hash::engine();
        if (pos >> depth) & 1 == 1 {
            engine.input(sibling.as_byte_array());
            engine.input(current.as_byte_array());
        } else {
            engine.input(current.as_byte_array());
            engine.input(sibling.as_byte_array());
        }
        current = sha256d::Hash::from_engine(engine);
    }
    Some(TxMerkleNode::from_raw_hash(current))
}

/// Checks a merkle branch for `txid` at `pos` against `header`'s merkle root.
pub fn check_merkle_branch(
    header: &QtumHeader,
    txid: &Txid,
    branch: &[Txid],
    pos: usize,
) -> Result<(), ChainError> {
    match merkle_root_from_branch(txid, branch, pos) {
        Some(root) if root == header.merkle_root => Ok(()),
        _ => Err(ChainError::InvalidResponse(format!(
            "merkle proof for {txid} does not lead to the merkle root of block {}",
            header.block_hash()
        ))),
    }
}

/// The merkle branch of the transaction at `pos` among `txids` (Esplora's `merkle` array).
pub fn merkle_branch(txids: &[Txid], pos: usize) -> Vec<Txid> {
    let mut level: Vec<sha256d::Hash> = txids.iter().map(|t| t.to_raw_hash()).collect();
    let mut index = pos;
    let mut branch = Vec::new();
    while level.len() > 1 {
        if level.len() % 2 == 1 {
            if let Some(last) = level.last().copied() {
                level.push(last);
            }
        }
        let sibling = index ^ 1;
        if let Some(h) = level.get(sibling) {
            branch.push(Txid::from_raw_hash(*h));
        }
        level = level
            .chunks(2)
            .map(|pair| {
                let mut engine = sha256d::Hash::engine();
                engine.input(pair[0].as_byte_array());
                engine.input(pair[pair.len() - 1].as_byte_array());
                sha256d::Hash::from_engine(engine)
            })
            .collect();
        index /= 2;
    }
    branch
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn absurd_branches_are_refused_not_panicking() {
        let txid = Txid::from_raw_hash(sha256d::Hash::hash(b"tx"));
        for depth in [33, 64, 65, 200] {
            let branch = vec![txid; depth];
            assert_eq!(merkle_root_from_branch(&txid, &branch, 0), None, "{depth}");
            assert_eq!(merkle_root_from_branch(&txid, &branch, usize::MAX), None);
        }
        let branch = vec![txid; 32];
        assert!(merkle_root_from_branch(&txid, &branch, (1 << 32) - 1).is_some());
        assert_eq!(merkle_root_from_branch(&txid, &branch, 1 << 32), None);
        assert_eq!(merkle_root_from_branch(&txid, &[], 1), None);
    }

    fn fixture(path: &str) -> String {
        let root = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../tests/fixtures/qtum-regtest/"
        );
        std::fs::read_to_string(format!("{root}{path}"))
            .expect("fixture")
            .trim()
            .to_string()
    }

    fn hex(s: &str) -> Vec<u8> {
        use bitcoin::hex::FromHex;
        Vec::from_hex(s).expect("hex")
    }

    #[test]
    fn real_blocks_pass_and_tampered_ones_fail() {
        for dir in [
            "h2002_confirms_p2wpkh_p2wsh_txs",
            "h4027_first_pos",
            "h2005_fee_round_6tx",
        ] {
            let hash: BlockHash = fixture(&format!("blocks/{dir}/getblockhash.txt"))
                .parse()
                .expect("hash");
            let raw = hex(&fixture(&format!("blocks/{dir}/getblock.v0.hex")));
            let block = block_from_bytes(&raw, &hash).expect("real block verifies");
            let header_raw = hex(&fixture(&format!("blocks/{dir}/getblockheader.hex")));
            header_from_bytes(&header_raw, &hash).expect("real header verifies");

            // Every transaction's branch leads to the root; a wrong position does not.
            let txids = block.txids();
            for (pos, txid) in txids.iter().enumerate() {
                let branch = merkle_branch(&txids, pos);
                check_merkle_branch(&block.header, txid, &branch, pos).expect("branch");
                if txids.len() > 1 {
                    let wrong = (pos + 1) % txids.len();
                    assert!(check_merkle_branch(&block.header, txid, &branch, wrong).is_err());
                }
            }

            // A flipped byte in the signature/state-root area changes the real hash even though
            // the first 80 bytes (the synthetic header) stay the same.
            let mut tampered = header_raw.clone();
            tampered[100] ^= 1;
            assert!(matches!(
                header_from_bytes(&tampered, &hash),
                Err(ChainError::InvalidResponse(_))
            ));
            let mut tampered_block = raw.clone();
            let last = tampered_block.len() - 5;
            tampered_block[last] ^= 1;
            assert!(block_from_bytes(&tampered_block, &hash).is_err());
        }
    }

    #[test]
    fn bitcoin_80_byte_header_is_not_a_qtum_header() {
        let hash: BlockHash = fixture("blocks/h2002_confirms_p2wpkh_p2wsh_txs/getblockhash.txt")
            .parse()
            .expect("h");
        let raw = hex(&fixture(
            "blocks/h2002_confirms_p2wpkh_p2wsh_txs/getblockheader.hex",
        ));
        assert!(header_from_bytes(&raw[..80], &hash).is_err());
    }
}

//! Qtum regtest consensus and policy constants (Qtum Core's values, checked against data captured from qtumd).

use bitcoin::CompactTarget;

use qtum_primitives::QtumBlock;

/// Satoshi per QTUM.
pub const COIN: u64 = 100_000_000;
/// MAX_MONEY: 107,822,406.25 QTUM.
pub const MAX_MONEY: u64 = 10_782_240_625_000_000;
/// Coinbase outputs need this many confirmations' worth of height before they can be spent.
pub const COINBASE_MATURITY: u32 = 2000;
/// Regtest pays the big subsidy up to and including this height (`getsubsidy 5001` = 1 QTUM).
pub const LAST_BIG_REWARD_HEIGHT: u32 = 5000;
/// Regtest PoW target bits; regtest never retargets.
pub const POW_BITS_U32: u32 = 0x207f_ffff;
/// [`POW_BITS_U32`] as a compact target.
pub fn pow_bits() -> CompactTarget {
    CompactTarget::from_consensus(POW_BITS_U32)
}
/// Chain work of one block at [`POW_BITS`]: 2^256 / (target + 1) = 2.
pub const WORK_PER_BLOCK: u64 = 2;
/// Version of blocks the harness mines (versionbits top bits, as qtumd regtest).
pub const BLOCK_VERSION: i32 = 0x2000_0000;
/// hashStateRoot of every regtest block after genesis while no contract ran (raw bytes).
pub const STATE_ROOT: [u8; 32] =
    hex32("3b494f854c3c2f6cbf134dbdea078a1b1c7509a9e0acc20ec41e7b258b4447e3");
/// hashUTXORoot of regtest blocks while no contract holds coins (raw bytes; the genesis value).
pub const UTXO_ROOT: [u8; 32] =
    hex32("56e81f171bcc55a6ff8345e692c0f86e5b48e01b996cadc001622fb5e363b421");
/// Consensus block weight limit (Qtum's default 2 MB block size governance value × 4).
pub const MAX_BLOCK_WEIGHT: u64 = 8_000_000;
/// Weight the block assembler leaves unused, as Bitcoin Core does.
pub const BLOCK_ASSEMBLY_RESERVE: u64 = 4_000;
/// Consensus sigop-cost limit per block (scaled with the block size like the weight).
pub const MAX_BLOCK_SIGOPS_COST: u64 = 160_000;
/// Largest standard transaction weight.
pub const MAX_STANDARD_TX_WEIGHT: u64 = 400_000;
/// Largest standard sigop cost per transaction.
pub const MAX_STANDARD_TX_SIGOPS_COST: u64 = 16_000;
/// Smallest standard non-witness transaction size.
pub const MIN_STANDARD_TX_NONWITNESS_SIZE: usize = 65;
/// Highest standard transaction version in Qtum Core 27.1.
pub const MAX_STANDARD_VERSION: i32 = 2;
/// `-minrelaytxfee`: 400 sat/vB.
pub const MIN_RELAY_FEE_SAT_PER_KVB: u64 = 400_000;
/// `-dustrelayfee`: 400 sat/vB.
pub const DUST_RELAY_FEE_SAT_PER_KVB: u64 = 400_000;
/// `-incrementalrelayfee`: 10 sat/vB.
pub const INCREMENTAL_RELAY_FEE_SAT_PER_KVB: u64 = 10_000;
/// `sendrawtransaction`'s default `maxfeerate`: 1 QTUM/kvB.
pub const DEFAULT_MAX_FEE_RATE_SAT_PER_KVB: u64 = COIN;
/// Bytes counted per sigop when computing virtual size.
pub const BYTES_PER_SIGOP: u64 = 20;
/// Mempool ancestor/descendant count limit.
pub const MAX_ANCESTORS: usize = 25;
/// Largest standard OP_RETURN output script.
pub const MAX_OP_RETURN_RELAY: usize = 83;
/// Reorganisations deeper than this are refused by qtumd.
pub const MAX_REORG_DEPTH: u32 = 2000;

/// The regtest genesis block (from the workspace's Qtum codec).
pub fn genesis_block() -> QtumBlock {
    qtum_primitives::Network::Regtest.genesis_block()
}

/// Block subsidy at a height (regtest).
pub fn block_subsidy(height: u32) -> u64 {
    if height <= LAST_BIG_REWARD_HEIGHT {
        20_000 * COIN
    } else {
        COIN
    }
}

/// Money created by the coinbases of heights 1..=tip, as `moneysupply` reports it.
pub fn money_supply(tip: u32) -> u64 {
    let big = u64::from(tip.min(LAST_BIG_REWARD_HEIGHT)) * 20_000 * COIN;
    let small = u64::from(tip.saturating_sub(LAST_BIG_REWARD_HEIGHT)) * COIN;
    big + small
}

/// Bitcoin Core's `GetDifficulty` of compact bits (same float operations, same digits).
pub fn difficulty(bits: CompactTarget) -> f64 {
    let b = bits.to_consensus();
    let mut shift = (b >> 24) & 0xff;
    let mut diff = f64::from(0x0000_ffffu32) / f64::from(b & 0x00ff_ffff);
    while shift < 29 {
        diff *= 256.0;
        shift += 1;
    }
    while shift > 29 {
        diff /= 256.0;
        shift -= 1;
    }
    // UniValue prints doubles with 16 significant digits; round the same way so the JSON
    // number is the one qtumd prints.
    format!("{diff:.15e}").parse().unwrap_or(diff)
}

/// Fee in satoshi for `vsize` at a rate in sat/kvB, rounded up (Core's `CFeeRate::GetFee`).
pub fn fee_for(rate_sat_per_kvb: u64, vsize: u64) -> u64 {
    // u128: a caller-supplied rate (up to MAX_MONEY per kvB) times a size cannot overflow.
    let fee = (u128::from(rate_sat_per_kvb) * u128::from(vsize)).div_ceil(1000);
    u64::try_from(fee).unwrap_or(u64::MAX)
}

const fn hex32(s: &str) -> [u8; 32] {
    let b = s.as_bytes();
    let mut out = [0u8; 32];
    let mut i = 0;
    while i < 32 {
        out[i] = (nib(b[2 * i]) << 4) | nib(b[2 * i + 1]);
        i += 1;
    }
    out
}

const fn nib(c: u8) -> u8 {
    match c {
        b'0'..=b'9' => c - b'0',
        b'a'..=b'f' => c - b'a' + 10,
        _ => 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn genesis_hash_and_difficulty() {
        let g = genesis_block();
        assert_eq!(
            g.block_hash().to_string(),
            "665ed5b402ac0b44efc37d8926332994363e8a7278b7ee9a58fb972efadae943"
        );
        assert_eq!(g.header.to_bytes().len(), 181);
        assert_eq!(
            format!("{:e}", difficulty(pow_bits())),
            "4.656542373906925e-10"
        );
        assert_eq!(fee_for(MIN_RELAY_FEE_SAT_PER_KVB, 141), 56_400);
    }
}

//! Qtum Core's default relay policy: fee floors and dust.
//!
//! Qtum relays nothing below 400 sat/vB (Bitcoin: 1) and its dust threshold uses the same rate,
//! so dust limits are 100–400× Bitcoin's. A transaction that breaks either rule is rejected by
//! every default node, which for Lightning means a channel that cannot close on chain.
//!
//! Units: `sat_per_kvb` = satoshis per 1000 virtual bytes (Qtum Core's unit), `sat_per_vb` =
//! per virtual byte, `sat_per_kw` = per 1000 weight units (LDK's unit; 1 vB = 4 WU).
//!
//! | constant | value |
//! |---|---|
//! | [`MIN_RELAY_FEE_SAT_PER_KVB`] | 400,000 (= 400 sat/vB = 100,000 sat/kW) |
//! | [`DUST_RELAY_FEE_SAT_PER_KVB`] | 400,000 |
//! | [`INCREMENTAL_RELAY_FEE_SAT_PER_KVB`] | 10,000 (RBF bump) |
//! | [`FEERATE_FLOOR_SAT_PER_KW`] | 101,000 (100,000 + margin for vsize rounding) |
//! | [`DEFAULT_MAX_TX_FEE_SAT_PER_KVB`] | 100,000,000 (1 QTUM/kvB) |

use bitcoin::consensus::encode::VarInt;
use bitcoin::Script;

use crate::address::witness_program_parts;

/// `-minrelaytxfee` default: 400,000 sat/kvB (400 sat/vB).
pub const MIN_RELAY_FEE_SAT_PER_KVB: u64 = 400_000;

/// `-dustrelayfee` default: 400,000 sat/kvB.
pub const DUST_RELAY_FEE_SAT_PER_KVB: u64 = 400_000;

/// `-incrementalrelayfee` default (minimum feerate increase for RBF): 10,000 sat/kvB.
pub const INCREMENTAL_RELAY_FEE_SAT_PER_KVB: u64 = 10_000;

/// The incremental relay fee in LDK's unit: 2,500 sat/kW.
pub const INCREMENTAL_RELAY_FEE_SAT_PER_KW: u32 = 2_500;

/// Lowest feerate to hand LDK, in sat/kW.
///
/// The min relay fee is exactly 100,000 sat/kW, but nodes charge it on vsize rounded up to whole
/// vbytes while fees computed from weight are not; 1 % extra covers the rounding for every
/// transaction heavier than 300 WU (all real ones).
pub const FEERATE_FLOOR_SAT_PER_KW: u32 = 101_000;

/// Highest transaction version Qtum Core 27.1 relays (no v3/TRUC transactions).
pub const MAX_STANDARD_TX_VERSION: i32 = 2;

/// `-maxtxfee`-style default of `sendrawtransaction`: refuses feerates above 1 QTUM/kvB.
pub const DEFAULT_MAX_TX_FEE_SAT_PER_KVB: u64 = 100_000_000;

/// The largest dust threshold among the output types BOLT 2 allows in `shutdown` (P2PKH).
///
/// A channel's `dust_limit_satoshis` below this would let a closing output be dust on Qtum;
/// Qtum's Eclair fork used the same value.
pub const BOLT_DUST_LIMIT_FLOOR_SAT: u64 = 72_800;

/// Bitcoin Core's `MAX_SCRIPT_SIZE`: larger scripts can never be spent.
const MAX_SCRIPT_SIZE: usize = 10_000;

/// Bytes of the input that will spend a non-witness output, as Core's dust rule assumes:
/// outpoint 32+4, script length 1, a 107-byte P2PKH scriptSig, sequence 4.
const SPEND_SIZE_LEGACY: u64 = 32 + 4 + 1 + 107 + 4;

/// Same for witness outputs, with the 107 bytes discounted by the witness scale factor (integer
/// division, as Core does: 107 / 4 = 26).
const SPEND_SIZE_WITNESS: u64 = 32 + 4 + 1 + 107 / 4 + 4;

/// Dust threshold of an output script at Qtum's default dust relay fee.
pub fn dust_threshold(script_pubkey: &Script) -> u64 {
    dust_threshold_at(script_pubkey, DUST_RELAY_FEE_SAT_PER_KVB)
}

/// Dust threshold of an output script at `dust_relay_fee_sat_per_kvb` (Bitcoin Core's
/// `GetDustThreshold`): the fee, at that rate, of the output plus the input spending it.
/// Unspendable outputs (OP_RETURN or oversized scripts) have no threshold.
pub fn dust_threshold_at(script_pubkey: &Script, dust_relay_fee_sat_per_kvb: u64) -> u64 {
    if is_unspendable(script_pubkey) {
        return 0;
    }
    let script_len = script_pubkey.len() as u64;
    let output_size = 8 + VarInt(script_len).size() as u64 + script_len;
    let spend_size = if witness_program_parts(script_pubkey.as_bytes()).is_some() {
        SPEND_SIZE_WITNESS
    } else {
        SPEND_SIZE_LEGACY
    };
    fee_at_rate(dust_relay_fee_sat_per_kvb, output_size + spend_size)
}

/// Whether an output of `value_sat` to `script_pubkey` is dust for default Qtum nodes.
pub fn is_dust(value_sat: u64, script_pubkey: &Script) -> bool {
    value_sat < dust_threshold(script_pubkey)
}

/// The minimum fee default nodes relay a transaction of `vsize` virtual bytes with.
pub fn min_relay_fee_for_vsize(vsize: u64) -> u64 {
    fee_at_rate(MIN_RELAY_FEE_SAT_PER_KVB, vsize)
}

/// The minimum relay fee for a transaction of `weight` weight units (vsize = weight / 4 rounded
/// up). Ignores Core's sigop adjustment of vsize, which only matters for sigop-heavy scripts.
pub fn min_relay_fee_for_weight(weight: u64) -> u64 {
    min_relay_fee_for_vsize(vsize_from_weight(weight))
}

/// Virtual size of `weight` weight units, rounded up as Bitcoin Core does.
pub fn vsize_from_weight(weight: u64) -> u64 {
    weight.div_ceil(4)
}

/// The fee at `sat_per_kw` for `weight` weight units, rounded up (as LDK's `fee_for_weight`).
pub fn fee_for_weight(sat_per_kw: u32, weight: u64) -> u64 {
    let fee = (u128::from(sat_per_kw) * u128::from(weight)).div_ceil(1000);
    u64::try_from(fee).unwrap_or(u64::MAX)
}

/// sat/vB to sat/kW (exact: ×250), saturating at `u32::MAX`.
pub fn sat_per_vb_to_sat_per_kw(sat_per_vb: u64) -> u32 {
    saturate_u32(sat_per_vb.saturating_mul(250))
}

/// sat/kW to sat/vB, **rounded up** so that the result never pays less than the input rate
/// (e.g. 101,000 sat/kW → 404 sat/vB; 100,001 → 401).
pub fn sat_per_kw_to_sat_per_vb(sat_per_kw: u32) -> u64 {
    u64::from(sat_per_kw).div_ceil(250)
}

/// sat/kvB (Qtum Core's unit, e.g. `estimatesmartfee` × 10^8) to sat/kW, **rounded up** so a
/// rate at a node's floor stays at or above it; saturates at `u32::MAX`.
pub fn sat_per_kvb_to_sat_per_kw(sat_per_kvb: u64) -> u32 {
    saturate_u32(sat_per_kvb.div_ceil(4))
}

/// sat/kW to sat/kvB (exact: ×4).
pub fn sat_per_kw_to_sat_per_kvb(sat_per_kw: u32) -> u64 {
    u64::from(sat_per_kw) * 4
}

/// Bitcoin Core's `CFeeRate::GetFee`: `rate × size / 1000` rounded up, and at least 1 satoshi
/// for a non-zero rate and size.
fn fee_at_rate(sat_per_kvb: u64, size: u64) -> u64 {
    let fee = (u128::from(sat_per_kvb) * u128::from(size)).div_ceil(1000);
    u64::try_from(fee).unwrap_or(u64::MAX)
}

/// Bitcoin Core's `CScript::IsUnspendable`.
fn is_unspendable(script: &Script) -> bool {
    script.as_bytes().first() == Some(&0x6a) || script.len() > MAX_SCRIPT_SIZE
}

fn saturate_u32(v: u64) -> u32 {
    u32::try_from(v).unwrap_or(u32::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;
    use bitcoin::hashes::Hash;
    use bitcoin::ScriptBuf;

    fn witness(version_op: u8, len: usize) -> ScriptBuf {
        let mut s = vec![version_op, len as u8];
        s.extend(vec![0x11; len]);
        ScriptBuf::from_bytes(s)
    }

    #[test]
    fn thresholds_for_standard_types() {
        let p2pkh = ScriptBuf::new_p2pkh(&bitcoin::PubkeyHash::from_byte_array([1; 20]));
        let p2sh = ScriptBuf::new_p2sh(&bitcoin::ScriptHash::from_byte_array([1; 20]));
        assert_eq!(dust_threshold(&p2pkh), 72_800);
        assert_eq!(dust_threshold(&p2pkh), BOLT_DUST_LIMIT_FLOOR_SAT);
        assert_eq!(dust_threshold(&p2sh), 72_000);
        assert_eq!(dust_threshold(&witness(0x00, 20)), 39_200);
        assert_eq!(dust_threshold(&witness(0x00, 32)), 44_000);
        assert_eq!(dust_threshold(&witness(0x51, 32)), 44_000);
        assert_eq!(dust_threshold(&witness(0x60, 40)), 47_200);
        assert!(is_dust(39_199, &witness(0x00, 20)));
        assert!(!is_dust(39_200, &witness(0x00, 20)));
    }

    #[test]
    fn unspendable_and_odd_scripts() {
        assert_eq!(
            dust_threshold(&ScriptBuf::from_bytes(vec![0x6a, 0x01, 0x00])),
            0
        );
        assert!(!is_dust(0, &ScriptBuf::from_bytes(vec![0x6a])));
        assert_eq!(
            dust_threshold(&ScriptBuf::from_bytes(vec![0x51; MAX_SCRIPT_SIZE + 1])),
            0
        );
        // Empty script: 8 + 1 + 0 + 148 = 157 bytes.
        assert_eq!(dust_threshold(&ScriptBuf::new()), 157 * 400);
        // 41-byte program is not a witness program: legacy spend size.
        assert_eq!(dust_threshold(&witness(0x00, 41)), (8 + 1 + 43 + 148) * 400);
        // A 253-byte script needs a 3-byte CompactSize.
        assert_eq!(
            dust_threshold(&ScriptBuf::from_bytes(vec![0x51; 253])),
            (8 + 3 + 253 + 148) * 400
        );
    }

    #[test]
    fn rate_parameter_and_rounding_match_core() {
        let p2wpkh = witness(0x00, 20);
        // Bitcoin's default 3,000 sat/kvB gives Bitcoin's well-known 294.
        assert_eq!(dust_threshold_at(&p2wpkh, 3_000), 294);
        assert_eq!(
            dust_threshold_at(
                &ScriptBuf::new_p2pkh(&bitcoin::PubkeyHash::from_byte_array([0; 20])),
                3_000
            ),
            546
        );
        // Non-integral fees round up; a tiny rate still costs 1 sat.
        assert_eq!(dust_threshold_at(&p2wpkh, 1), 1);
        assert_eq!(dust_threshold_at(&p2wpkh, 0), 0);
    }

    #[test]
    fn min_relay_boundary_from_fixtures() {
        // policy/minrelay: vsize 141 needs 56,400; 56,399 was refused.
        assert_eq!(min_relay_fee_for_vsize(141), 56_400);
        assert_eq!(min_relay_fee_for_weight(561), 56_400);
        assert_eq!(min_relay_fee_for_weight(564), 56_400);
        assert_eq!(min_relay_fee_for_weight(565), 56_800);
    }

    #[test]
    fn conversions() {
        assert_eq!(sat_per_vb_to_sat_per_kw(400), 100_000);
        assert_eq!(
            sat_per_kvb_to_sat_per_kw(MIN_RELAY_FEE_SAT_PER_KVB),
            100_000
        );
        assert_eq!(
            sat_per_kvb_to_sat_per_kw(INCREMENTAL_RELAY_FEE_SAT_PER_KVB),
            INCREMENTAL_RELAY_FEE_SAT_PER_KW
        );
        assert_eq!(sat_per_kvb_to_sat_per_kw(400_001), 100_001);
        assert_eq!(sat_per_kw_to_sat_per_vb(FEERATE_FLOOR_SAT_PER_KW), 404);
        assert_eq!(sat_per_kw_to_sat_per_vb(100_000), 400);
        assert_eq!(sat_per_kw_to_sat_per_vb(100_001), 401);
        assert_eq!(sat_per_kw_to_sat_per_kvb(100_000), 400_000);
        assert_eq!(sat_per_vb_to_sat_per_kw(u64::MAX), u32::MAX);
        assert_eq!(sat_per_kvb_to_sat_per_kw(u64::MAX), u32::MAX);
    }

    #[test]
    fn floor_feerate_always_meets_min_relay() {
        // The reason for 101,000: at 100,000 sat/kW the weight-based fee can fall short of the
        // vsize-based minimum by up to 300 sat.
        assert!(fee_for_weight(100_000, 561) < min_relay_fee_for_weight(561));
        for weight in 300..20_000u64 {
            assert!(
                fee_for_weight(FEERATE_FLOOR_SAT_PER_KW, weight)
                    >= min_relay_fee_for_weight(weight),
                "weight {weight}"
            );
        }
        assert_eq!(fee_for_weight(253, 1001), 254);
        assert_eq!(fee_for_weight(u32::MAX, u64::MAX), u64::MAX);
    }
}

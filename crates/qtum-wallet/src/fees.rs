//! Fee rates and transaction weights at Qtum's relay policy.
//!
//! Qtum nodes relay nothing below 400 sat/vB, charged on the virtual size rounded **up** to a
//! whole vbyte. The wallet therefore charges `max(rate × weight, 400 × vsize)`, always on a
//! weight estimated with the largest possible signatures, so the signed transaction (never
//! heavier) always pays at least what was asked and at least the relay minimum.
//!
//! | constant | value |
//! |---|---|
//! | [`MIN_FEE_RATE_SAT_PER_VB`] | 400 (Qtum's `-minrelaytxfee`) |
//! | [`MAX_FEE_RATE_SAT_PER_VB`] | 100,000 (1 QTUM/kvB: `sendrawtransaction`'s default ceiling) |
//! | [`DEFAULT_TARGET_BLOCKS`] | 6 blocks ≈ 3 min at 32 s |
//! | [`FALLBACK_FEE_RATE_SAT_PER_KW`] | 200,000 (800 sat/vB; Qtum Eclair's 6-block rate) when the source has no estimate |
//! | floor on estimates | [`qtum_primitives::policy::FEERATE_FLOOR_SAT_PER_KW`] = 101,000 sat/kW |

use bitcoin::consensus::encode::VarInt;
use qtum_chain::FeeEstimates;
use qtum_primitives::policy::{
    fee_for_weight, min_relay_fee_for_weight, sat_per_vb_to_sat_per_kw, FEERATE_FLOOR_SAT_PER_KW,
};

use crate::error::WalletError;

/// Lowest fee rate a Qtum node relays, sat/vB.
pub const MIN_FEE_RATE_SAT_PER_VB: u64 = 400;

/// Highest fee rate the wallet accepts, sat/vB (a Qtum node's default `maxfeerate`).
pub const MAX_FEE_RATE_SAT_PER_VB: u64 = 100_000;

/// Confirmation target used for the default fee rate, in blocks.
pub const DEFAULT_TARGET_BLOCKS: u16 = 6;

/// Fee rate used when the chain source has no estimate (a fresh regtest never has), sat/kW.
pub const FALLBACK_FEE_RATE_SAT_PER_KW: u32 = 200_000;

/// Weight of a P2WPKH input: 41 non-witness bytes ×4, plus the witness (item count, a push of
/// a DER signature with its sighash byte — at most 72 bytes — and of a 33-byte key).
pub(crate) const P2WPKH_INPUT_WEIGHT: u64 = 41 * 4 + (1 + 1 + 72 + 1 + 33);

/// Standard transaction weight limit (Core's `MAX_STANDARD_TX_WEIGHT`).
pub(crate) const MAX_STANDARD_TX_WEIGHT: u64 = 400_000;

/// The rate a send uses: the caller's (checked against Qtum's bounds) or the chain's estimate.
pub(crate) fn resolve_sat_per_vb(requested: Option<u64>) -> Result<Option<u32>, WalletError> {
    match requested {
        None => Ok(None),
        Some(r) if r < MIN_FEE_RATE_SAT_PER_VB => Err(WalletError::FeeRateTooLow {
            requested_sat_per_vb: r,
            minimum_sat_per_vb: MIN_FEE_RATE_SAT_PER_VB,
        }),
        Some(r) if r > MAX_FEE_RATE_SAT_PER_VB => Err(WalletError::FeeRateTooHigh {
            requested_sat_per_vb: r,
            maximum_sat_per_vb: MAX_FEE_RATE_SAT_PER_VB,
        }),
        Some(r) => Ok(Some(sat_per_vb_to_sat_per_kw(r))),
    }
}

/// The estimate for `target` blocks (the nearest target at or below it, else the smallest one
/// given), never below Qtum's floor; the fallback when there is none.
pub(crate) fn rate_from_estimates(estimates: &FeeEstimates, target: u16) -> u32 {
    let pick = estimates
        .by_target
        .iter()
        .filter(|(t, _)| *t <= target)
        .max_by_key(|(t, _)| *t)
        .or_else(|| estimates.by_target.iter().min_by_key(|(t, _)| *t))
        .map(|(_, rate)| *rate);
    pick.unwrap_or(FALLBACK_FEE_RATE_SAT_PER_KW)
        .max(FEERATE_FLOOR_SAT_PER_KW)
}

/// The fee a transaction of `weight` pays at `sat_per_kw`, and never less than Qtum's relay
/// minimum for its rounded-up vsize.
pub(crate) fn fee_at(sat_per_kw: u32, weight: u64) -> u64 {
    fee_for_weight(sat_per_kw, weight).max(min_relay_fee_for_weight(weight))
}

/// Weight of an output paying to a script of `script_len` bytes.
pub(crate) fn output_weight(script_len: usize) -> u64 {
    let len = script_len as u64;
    (8 + VarInt(len).size() as u64 + len) * 4
}

/// Upper bound of the weight of a SegWit transaction spending `inputs` P2WPKH outputs to
/// outputs with scripts of `output_script_lens` bytes.
pub(crate) fn tx_weight(inputs: usize, output_script_lens: &[usize]) -> u64 {
    let n_in = inputs as u64;
    let n_out = output_script_lens.len() as u64;
    // version + locktime + the two counts, ×4; marker and flag are witness bytes (1 WU each).
    let base = (4 + 4 + VarInt(n_in).size() as u64 + VarInt(n_out).size() as u64) * 4 + 2;
    base + n_in * P2WPKH_INPUT_WEIGHT
        + output_script_lens
            .iter()
            .map(|l| output_weight(*l))
            .sum::<u64>()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounds_are_typed() {
        assert_eq!(resolve_sat_per_vb(None), Ok(None));
        assert_eq!(resolve_sat_per_vb(Some(400)), Ok(Some(100_000)));
        assert_eq!(
            resolve_sat_per_vb(Some(399)),
            Err(WalletError::FeeRateTooLow {
                requested_sat_per_vb: 399,
                minimum_sat_per_vb: 400
            })
        );
        assert!(matches!(
            resolve_sat_per_vb(Some(100_001)),
            Err(WalletError::FeeRateTooHigh { .. })
        ));
    }

    #[test]
    fn estimates_are_floored_and_fall_back() {
        let empty = FeeEstimates::default();
        assert_eq!(rate_from_estimates(&empty, 6), FALLBACK_FEE_RATE_SAT_PER_KW);
        let low = FeeEstimates {
            by_target: vec![(1, 50_000), (6, 60_000)],
        };
        assert_eq!(rate_from_estimates(&low, 6), FEERATE_FLOOR_SAT_PER_KW);
        let high = FeeEstimates {
            by_target: vec![(2, 300_000), (6, 150_000), (12, 120_000)],
        };
        assert_eq!(rate_from_estimates(&high, 6), 150_000);
        assert_eq!(rate_from_estimates(&high, 1), 300_000);
    }

    #[test]
    fn fees_meet_the_relay_minimum_on_rounded_vsize() {
        for w in 300..5000 {
            assert!(fee_at(100_000, w) >= min_relay_fee_for_weight(w));
            assert!(fee_at(101_000, w) >= fee_for_weight(101_000, w));
        }
        // The fixture transaction of policy/minrelay: 1 P2WPKH input, 2 P2WPKH outputs,
        // vsize 141 (weight 561) with a 71-byte signature: our bound is 1 WU heavier.
        assert_eq!(tx_weight(1, &[22, 22]), 562);
        assert_eq!(fee_at(100_000, 562), 56_400);
    }
}

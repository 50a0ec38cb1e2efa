//! Coin selection under Qtum's dust rule.
//!
//! Every wallet coin is a P2WPKH output, so a transaction's fee depends only on how many inputs
//! it has and whether it has change; selection works on values alone.
//!
//! 1. **Branch and bound** (Bitcoin Core's algorithm) looks for a set of coins that pays the
//!    amount and its fee with an excess small enough that a change output would cost more than
//!    it is worth (below `cost_of_change`): no change, least waste.
//! 2. Otherwise **largest first**: the fewest inputs, with a change output when the change is at
//!    least Qtum's dust threshold for the change script (39,200 sat for P2WPKH). A smaller
//!    remainder is **folded into the fee**: the only alternative, one more input to lift the
//!    change above dust, costs more (an input, a change output, and spending that output later)
//!    than the remainder it saves.

use qtum_primitives::policy::fee_for_weight;

use crate::fees::{fee_at, output_weight, tx_weight, P2WPKH_INPUT_WEIGHT};

/// Branch-and-bound gives up after this many steps and falls back to largest first.
const BNB_MAX_TRIES: usize = 100_000;

/// Tolerance between the linear fee model of branch and bound and the exact fee, in sat.
const BNB_SLACK_SAT: u64 = 2_000;

/// What to pay.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Target {
    /// Recipient amount.
    pub amount_sat: u64,
    /// Length of the recipient's script.
    pub recipient_script_len: usize,
    /// Length of the change script.
    pub change_script_len: usize,
    /// Smallest change output Qtum nodes relay.
    pub change_dust_sat: u64,
    /// Fee rate, sat/kW.
    pub sat_per_kw: u32,
}

impl Target {
    fn fee(&self, inputs: usize, change: bool) -> u64 {
        let outputs: &[usize] = if change {
            &[self.recipient_script_len, self.change_script_len]
        } else {
            &[self.recipient_script_len]
        };
        fee_at(self.sat_per_kw, tx_weight(inputs, outputs))
    }
}

/// The chosen coins.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Selection {
    /// Indices into the candidate list.
    pub inputs: Vec<usize>,
    /// Fee paid (including any folded remainder).
    pub fee_sat: u64,
    /// Change output value, if any (never below the change dust threshold).
    pub change_sat: Option<u64>,
}

/// Not enough coins.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Insufficient {
    pub needed_sat: u64,
    pub available_sat: u64,
}

/// Picks coins among `values` to pay `target`.
pub(crate) fn select(values: &[u64], target: &Target) -> Result<Selection, Insufficient> {
    if let Some(s) = branch_and_bound(values, target) {
        return Ok(s);
    }
    largest_first(values, target)
}

fn branch_and_bound(values: &[u64], target: &Target) -> Option<Selection> {
    // The marginal fee of one input (the relay minimum applies to whole transactions, so the
    // effective rate is at least 100,000 sat/kW = 400 sat/vB).
    let input_fee = fee_for_weight(target.sat_per_kw.max(100_000), P2WPKH_INPUT_WEIGHT);
    // Coins that cannot pay for their own input are never worth adding here.
    let mut pool: Vec<(usize, u64)> = values
        .iter()
        .enumerate()
        .filter_map(|(i, v)| v.checked_sub(input_fee).filter(|e| *e > 0).map(|e| (i, e)))
        .collect();
    pool.sort_by_key(|&(_, e)| std::cmp::Reverse(e));
    let base_fee = target.fee(0, false);
    let lower = target.amount_sat.checked_add(base_fee)?;
    // Change costs its output now and an input later; an excess below that is better burnt.
    let cost_of_change = fee_for_weight(
        target.sat_per_kw.max(100_000),
        output_weight(target.change_script_len),
    )
    .saturating_add(input_fee);
    let upper = lower.saturating_add(cost_of_change);
    let mut suffix = vec![0u64; pool.len() + 1];
    for i in (0..pool.len()).rev() {
        suffix[i] = suffix[i + 1].saturating_add(pool[i].1);
    }
    if suffix[0].saturating_add(BNB_SLACK_SAT) < lower {
        return None;
    }

    let mut best: Option<(u64, Vec<usize>)> = None;
    let mut chosen: Vec<usize> = Vec::new();
    let mut tries = 0usize;
    // Iterative DFS: each frame is (depth, current effective sum); `chosen` holds pool indices.
    let mut stack: Vec<(usize, u64, bool)> = vec![(0, 0, false), (0, 0, true)];
    while let Some((depth, sum, include)) = stack.pop() {
        tries += 1;
        if tries > BNB_MAX_TRIES {
            break;
        }
        // Undo choices deeper than this frame.
        while chosen.last().is_some_and(|&c| c >= depth) {
            chosen.pop();
        }
        let (sum, depth) = if include && depth < pool.len() {
            chosen.push(depth);
            (sum.saturating_add(pool[depth].1), depth + 1)
        } else if !include {
            (sum, depth + 1)
        } else {
            continue;
        };
        // Effective values are linear estimates; the exact fee has vsize rounding and the
        // relay minimum in it, so compare loosely here and decide with the exact fee.
        if sum > upper.saturating_add(BNB_SLACK_SAT) {
            continue;
        }
        if sum.saturating_add(BNB_SLACK_SAT) >= lower {
            let total: u64 = chosen
                .iter()
                .map(|&c| values[pool[c].0])
                .fold(0u64, |sum, v| sum.saturating_add(v));
            let fee = target.fee(chosen.len(), false);
            if let Some(excess) = total
                .checked_sub(target.amount_sat)
                .and_then(|r| r.checked_sub(fee))
            {
                if excess <= cost_of_change && best.as_ref().is_none_or(|(w, _)| excess < *w) {
                    best = Some((excess, chosen.clone()));
                    if excess == 0 {
                        break;
                    }
                }
                // Adding coins would only add waste.
                continue;
            }
        }
        if depth >= pool.len()
            || sum
                .saturating_add(suffix[depth])
                .saturating_add(BNB_SLACK_SAT)
                < lower
        {
            continue;
        }
        // Explore "include pool[depth]" first (pushed last), then "exclude".
        stack.push((depth, sum, false));
        stack.push((depth, sum, true));
    }
    let (_, picks) = best?;
    let inputs: Vec<usize> = picks.iter().map(|&c| pool[c].0).collect();
    let total: u64 = inputs
        .iter()
        .map(|&i| values[i])
        .fold(0u64, |sum, v| sum.saturating_add(v));
    Some(Selection {
        fee_sat: total - target.amount_sat,
        inputs,
        change_sat: None,
    })
}

fn largest_first(values: &[u64], target: &Target) -> Result<Selection, Insufficient> {
    let mut order: Vec<usize> = (0..values.len()).collect();
    order.sort_by(|a, b| values[*b].cmp(&values[*a]));
    let mut total = 0u64;
    let available = values.iter().fold(0u64, |sum, v| sum.saturating_add(*v));
    for (n, &i) in order.iter().enumerate() {
        total = total.saturating_add(values[i]);
        let count = n + 1;
        let fee_no_change = target.fee(count, false);
        let Some(remainder) = total.checked_sub(target.amount_sat) else {
            continue;
        };
        if remainder < fee_no_change {
            continue;
        }
        let inputs = order[..count].to_vec();
        let fee_change = target.fee(count, true);
        let change = remainder.saturating_sub(fee_change);
        if remainder >= fee_change && change >= target.change_dust_sat {
            return Ok(Selection {
                inputs,
                fee_sat: fee_change,
                change_sat: Some(change),
            });
        }
        // Change would be dust: fold the whole remainder into the fee.
        return Ok(Selection {
            inputs,
            fee_sat: remainder,
            change_sat: None,
        });
    }
    Err(Insufficient {
        needed_sat: target
            .amount_sat
            .saturating_add(target.fee(values.len().max(1), false)),
        available_sat: available,
    })
}

/// Sweeping every coin to one output: the value left after the fee.
pub(crate) fn send_all_amount(
    values: &[u64],
    recipient_script_len: usize,
    sat_per_kw: u32,
) -> (u64, u64) {
    let total = values.iter().fold(0u64, |sum, v| sum.saturating_add(*v));
    let fee = fee_at(sat_per_kw, tx_weight(values.len(), &[recipient_script_len]));
    (total.saturating_sub(fee), fee)
}

#[cfg(test)]
mod tests {
    use super::*;

    const RATE: u32 = 101_000;

    fn target(amount: u64) -> Target {
        Target {
            amount_sat: amount,
            recipient_script_len: 22,
            change_script_len: 22,
            change_dust_sat: 39_200,
            sat_per_kw: RATE,
        }
    }

    #[test]
    fn exact_match_needs_no_change() {
        let t = target(1_000_000);
        let fee1 = t.fee(1, false);
        let values = [5_000_000, 1_000_000 + fee1 + 10, 2_000_000];
        let s = select(&values, &t).expect("enough");
        assert_eq!(s.inputs, vec![1]);
        assert_eq!(s.change_sat, None);
        assert_eq!(s.fee_sat, fee1 + 10);
    }

    #[test]
    fn change_just_below_dust_is_folded() {
        let t = target(10_000_000);
        let fee_change = t.fee(1, true);
        let coin = 10_000_000 + fee_change + 39_199;
        let s = select(&[coin], &t).expect("enough");
        assert_eq!(s.change_sat, None, "39,199 sat change would be dust");
        assert_eq!(s.fee_sat, fee_change + 39_199);
        // One more satoshi and the change is relayable.
        let s = select(&[coin + 1], &t).expect("enough");
        assert_eq!(s.change_sat, Some(39_200));
        assert_eq!(s.fee_sat, fee_change);
    }

    #[test]
    fn change_is_never_dust() {
        let t = target(3_000_000);
        for extra in (0..200_000).step_by(997) {
            let values = [1_500_000, 1_000_000, 600_000 + extra, 70_000];
            if let Ok(s) = select(&values, &t) {
                if let Some(c) = s.change_sat {
                    assert!(c >= 39_200, "change {c}");
                }
                let total: u64 = s
                    .inputs
                    .iter()
                    .map(|&i| values[i])
                    .fold(0u64, |sum, v| sum.saturating_add(v));
                assert_eq!(total, t.amount_sat + s.fee_sat + s.change_sat.unwrap_or(0));
                let outputs = if s.change_sat.is_some() { 2 } else { 1 };
                let lens = vec![22; outputs];
                assert!(s.fee_sat >= fee_at(RATE, tx_weight(s.inputs.len(), &lens)));
            }
        }
    }

    #[test]
    fn insufficient_reports_available() {
        let t = target(5_000_000);
        let err = select(&[1_000_000, 2_000_000], &t).expect_err("too little");
        assert_eq!(err.available_sat, 3_000_000);
        assert!(err.needed_sat > 5_000_000);
        assert_eq!(select(&[], &t).expect_err("nothing").available_sat, 0);
    }

    #[test]
    fn send_all_subtracts_the_fee() {
        let (amount, fee) = send_all_amount(&[1_000_000, 2_000_000], 22, RATE);
        assert_eq!(amount + fee, 3_000_000);
        assert_eq!(fee, fee_at(RATE, tx_weight(2, &[22])));
    }
}

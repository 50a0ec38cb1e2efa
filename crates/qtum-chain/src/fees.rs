//! Fee estimation for LDK: [`LdkFeeEstimator`] answers `FeeEstimator` from a cache that a
//! background thread refreshes from the [`ChainSource`], so LDK's calls never wait on the network.
//!
//! E(n) is the source's estimate for n blocks (the nearest target at or below n: faster is
//! never cheaper; the closest one above when there is none), or the fallback table when the
//! source has no data. F is [`FEERATE_FLOOR_SAT_PER_KW`] (101,000 sat/kW: Qtum's 400 sat/vB
//! minimum relay fee plus rounding room), C is [`COMMITMENT_FEERATE_CAP_SAT_PER_KW`].
//!
//! | LDK target | answer | with no fee data |
//! |---|---|---|
//! | `MinAllowedNonAnchorChannelRemoteFee`, `MinAllowedAnchorChannelRemoteFee` | F | F |
//! | `ChannelCloseMinimum` | F | F |
//! | `AnchorChannelFee` (anchors are off) | F | F |
//! | `NonAnchorChannelFee` (commitment and funding rate) | min(E(12), C), rounded up to 2,500 | 200,000 |
//! | `MaximumFeeEstimate` | max(E(1), C) | 300,000 |
//! | `UrgentOnChainSweep` | E(6) | 200,000 |
//! | `OutputSpendingFee` | E(144) | F |
//!
//! Every answer is at least F. No estimate above [`FEERATE_CEILING_SAT_PER_KW`] (2,000,000
//! sat/kW) is believed: a higher one is cut to it and the status turns degraded, since a fee
//! estimate is the one answer of a chain source nothing can check.
//!
//! Why these, and not one estimate per target: two nodes with
//! different fee sources (none, live at the floor, high) must never disagree about a channel.
//! The lowest rate we accept from a peer and our closing minimum are the floor itself, and every
//! commitment rate we set is at least the floor, so an `open_channel` or `update_fee` from a
//! node running this SDK is never too low, LDK's tracker of low inbound feerates never closes
//! a channel, and the cooperative-close ranges of the two sides always overlap. The commitment
//! rate is capped at C, which is at most any node's `MaximumFeeEstimate`, so it never counts as
//! "excess" fee against the peer's dust exposure. Rounding it up to 2,500 turns the floor into
//! 102,500, what the first release of this SDK demanded of a peer when it had no fee data.
//! The derivation, with LDK's code references, is in the repository's `docs/qtum-time.md`.

use std::sync::{Arc, Condvar, Mutex, RwLock};
use std::thread::JoinHandle;
use std::time::{Duration, SystemTime};

use lightning::chain::chaininterface::{ConfirmationTarget, FeeEstimator};

use crate::{ChainError, ChainSource, FeeEstimates};

/// The lowest rate ever returned, sat/kW.
pub const FEERATE_FLOOR_SAT_PER_KW: u32 = qtum_primitives::policy::FEERATE_FLOOR_SAT_PER_KW;

/// The highest commitment rate we set and the lowest `MaximumFeeEstimate` we answer, sat/kW
/// (about 1,190 sat/vB, three times the floor).
pub const COMMITMENT_FEERATE_CAP_SAT_PER_KW: u32 = 300_000;

/// The highest estimate believed, sat/kW (8,000 sat/vB, twenty times the floor). Qtum's blocks
/// have never been full enough for a rate near it; a source that says more is wrong or lying
/// (a fee estimate is the one answer that cannot be checked against the chain). Estimates above
/// are cut to it and the status turns degraded, so the node shows it instead of paying it.
pub const FEERATE_CEILING_SAT_PER_KW: u32 = 2_000_000;

/// Fallback rates when the source has no data: `(target_blocks, sat_per_kw)`.
pub const FALLBACK_SAT_PER_KW: [(u16, u32); 3] = [(1, 300_000), (6, 200_000), (72, 102_500)];

/// The block target each LDK [`ConfirmationTarget`] would be estimated for (the module docs say
/// which targets use an estimate at all).
pub fn target_blocks(target: ConfirmationTarget) -> u16 {
    match target {
        ConfirmationTarget::MaximumFeeEstimate => 1,
        ConfirmationTarget::UrgentOnChainSweep => 6,
        ConfirmationTarget::NonAnchorChannelFee => 12,
        ConfirmationTarget::OutputSpendingFee
        | ConfirmationTarget::ChannelCloseMinimum
        | ConfirmationTarget::MinAllowedNonAnchorChannelRemoteFee => 144,
        ConfirmationTarget::AnchorChannelFee
        | ConfirmationTarget::MinAllowedAnchorChannelRemoteFee => 1008,
    }
}

/// The rate for `blocks` in a sorted `(target, rate)` table: nearest target at or below,
/// else the smallest one above. `None` for an empty table.
fn lookup(table: &[(u16, u32)], blocks: u16) -> Option<u32> {
    table
        .iter()
        .rev()
        .find(|(t, _)| *t <= blocks)
        .or_else(|| table.first())
        .map(|(_, rate)| *rate)
}

/// Where the estimator's numbers come from, for the node's status.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FeeStatus {
    /// Not refreshed yet: fallback table.
    Starting,
    /// Source estimates, fetched at `updated`.
    Live {
        /// When they were fetched.
        updated: SystemTime,
    },
    /// The source answered but has no estimates (fresh regtest, empty mempool history):
    /// fallback table.
    NoData,
    /// The last refresh failed: last good estimates if any, else the fallback table. The node
    /// keeps running and shows this as "degraded".
    Degraded {
        /// Why the refresh failed.
        error: ChainError,
    },
}

impl FeeStatus {
    /// True when the node should show fee estimation as degraded.
    pub fn is_degraded(&self) -> bool {
        matches!(self, FeeStatus::Degraded { .. })
    }
}

struct Cache {
    table: Vec<(u16, u32)>,
    status: FeeStatus,
}

/// LDK's `FeeEstimator` over a cached, floored view of a [`ChainSource`]'s estimates.
pub struct LdkFeeEstimator {
    source: Arc<dyn ChainSource>,
    cache: RwLock<Cache>,
}

impl LdkFeeEstimator {
    /// An estimator over `source`, answering from the fallback table until the first refresh.
    pub fn new(source: Arc<dyn ChainSource>) -> LdkFeeEstimator {
        LdkFeeEstimator {
            source,
            cache: RwLock::new(Cache {
                table: Vec::new(),
                status: FeeStatus::Starting,
            }),
        }
    }

    /// Asks the source now (blocking); on failure keeps the previous numbers and turns
    /// [`FeeStatus::Degraded`]. Returns the new status.
    pub fn refresh(&self) -> FeeStatus {
        let update = match self.source.fee_estimates() {
            Ok(FeeEstimates { mut by_target }) => {
                by_target.sort();
                let highest = by_target.iter().map(|(_, rate)| *rate).max();
                let status = if by_target.is_empty() {
                    FeeStatus::NoData
                } else if let Some(highest) =
                    highest.filter(|rate| *rate > FEERATE_CEILING_SAT_PER_KW)
                {
                    for (_, rate) in by_target.iter_mut() {
                        *rate = (*rate).min(FEERATE_CEILING_SAT_PER_KW);
                    }
                    log::warn!(
                        "{} estimates {highest} sat/kW, above the ceiling of \
                         {FEERATE_CEILING_SAT_PER_KW}: using the ceiling",
                        self.source.describe()
                    );
                    FeeStatus::Degraded {
                        error: ChainError::InvalidResponse(format!(
                            "a fee estimate of {highest} sat/kW, above the ceiling of \
                             {FEERATE_CEILING_SAT_PER_KW} sat/kW (cut to the ceiling)"
                        )),
                    }
                } else {
                    FeeStatus::Live {
                        updated: SystemTime::now(),
                    }
                };
                Ok((by_target, status))
            }
            Err(error) => {
                log::warn!(
                    "fee estimation degraded: {} ({error})",
                    self.source.describe()
                );
                Err(error)
            }
        };
        let mut cache = self.cache.write().unwrap_or_else(|p| p.into_inner());
        match update {
            Ok((table, status)) => {
                cache.table = table;
                cache.status = status;
            }
            // Keep the last good table: stale estimates beat the fallback guesses.
            Err(error) => cache.status = FeeStatus::Degraded { error },
        }
        cache.status.clone()
    }

    /// Where the numbers come from now.
    pub fn status(&self) -> FeeStatus {
        self.cache
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .status
            .clone()
    }

    /// The rate for `blocks`, sat/kW, floored; from the cache only.
    pub fn rate_for_blocks(&self, blocks: u16) -> u32 {
        let cache = self.cache.read().unwrap_or_else(|p| p.into_inner());
        let rate = lookup(&cache.table, blocks)
            .or_else(|| lookup(&FALLBACK_SAT_PER_KW, blocks))
            .unwrap_or(FEERATE_FLOOR_SAT_PER_KW);
        rate.max(FEERATE_FLOOR_SAT_PER_KW)
    }

    /// Refreshes every `interval` on a thread of its own until the returned handle is dropped.
    /// The first refresh happens at once.
    pub fn start_background(self: &Arc<Self>, interval: Duration) -> FeeRefresher {
        let stop = Arc::new((Mutex::new(false), Condvar::new()));
        let me = Arc::clone(self);
        let stop2 = Arc::clone(&stop);
        let handle = std::thread::Builder::new()
            .name("qtum-fee-refresh".into())
            .spawn(move || loop {
                me.refresh();
                let (lock, cvar) = &*stop2;
                let guard = lock.lock().unwrap_or_else(|p| p.into_inner());
                let (guard, _) = cvar
                    .wait_timeout_while(guard, interval, |stopped| !*stopped)
                    .unwrap_or_else(|p| p.into_inner());
                if *guard {
                    return;
                }
            })
            .ok();
        if handle.is_none() {
            log::warn!("could not start the fee refresh thread; estimates stay at the fallback");
        }
        FeeRefresher { stop, handle }
    }
}

impl LdkFeeEstimator {
    /// Whether the source gave estimates (else the fallback table answers).
    fn has_data(&self) -> bool {
        !self
            .cache
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .table
            .is_empty()
    }
}

/// The answer for `target` given `rate(blocks)` (E in the module docs) and whether the source
/// has data.
pub fn answer(target: ConfirmationTarget, rate: impl Fn(u16) -> u32, has_data: bool) -> u32 {
    let floor = FEERATE_FLOOR_SAT_PER_KW;
    let cap = COMMITMENT_FEERATE_CAP_SAT_PER_KW;
    let answer = match target {
        ConfirmationTarget::MinAllowedNonAnchorChannelRemoteFee
        | ConfirmationTarget::MinAllowedAnchorChannelRemoteFee
        | ConfirmationTarget::ChannelCloseMinimum
        | ConfirmationTarget::AnchorChannelFee => floor,
        ConfirmationTarget::NonAnchorChannelFee => {
            let r = rate(target_blocks(target)).min(cap);
            r.div_ceil(2_500).saturating_mul(2_500)
        }
        ConfirmationTarget::MaximumFeeEstimate => rate(target_blocks(target)).max(cap),
        ConfirmationTarget::UrgentOnChainSweep => rate(target_blocks(target)),
        ConfirmationTarget::OutputSpendingFee if has_data => rate(target_blocks(target)),
        ConfirmationTarget::OutputSpendingFee => floor,
    };
    answer.max(floor)
}

impl FeeEstimator for LdkFeeEstimator {
    fn get_est_sat_per_1000_weight(&self, confirmation_target: ConfirmationTarget) -> u32 {
        answer(
            confirmation_target,
            |blocks| self.rate_for_blocks(blocks),
            self.has_data(),
        )
    }
}

/// Stops the background refresh when dropped.
pub struct FeeRefresher {
    stop: Arc<(Mutex<bool>, Condvar)>,
    handle: Option<JoinHandle<()>>,
}

impl Drop for FeeRefresher {
    fn drop(&mut self) {
        let (lock, cvar) = &*self.stop;
        *lock.lock().unwrap_or_else(|p| p.into_inner()) = true;
        cvar.notify_all();
        if let Some(handle) = self.handle.take() {
            let _ = handle.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Two SDK nodes with any of three fee sources can never refuse each other's open or
    /// `update_fee`, never close a channel for its feerate, and always find a cooperative-close
    /// fee both accept (LDK 0.2.7's rules, `docs/qtum-time.md` §2).
    #[test]
    fn two_nodes_on_different_sources_always_agree() {
        let none: Vec<(u16, u32)> = Vec::new();
        let floor = vec![(1, 101_000), (6, 101_000), (144, 101_000), (1008, 101_000)];
        let high = vec![
            (1, 1_500_000),
            (6, 1_000_000),
            (144, 600_000),
            (1008, 400_000),
        ];
        let sources = [none, floor, high];
        let node = |table: &Vec<(u16, u32)>| {
            let table = table.clone();
            move |target| {
                let has_data = !table.is_empty();
                answer(
                    target,
                    |blocks| {
                        lookup(&table, blocks)
                            .or_else(|| lookup(&FALLBACK_SAT_PER_KW, blocks))
                            .unwrap_or(FEERATE_FLOOR_SAT_PER_KW)
                            .max(FEERATE_FLOOR_SAT_PER_KW)
                    },
                    has_data,
                )
            }
        };
        // Closing transaction weight with two P2WPKH outputs, and LDK's default
        // force_close_avoidance_max_fee_satoshis.
        let weight = 674u64;
        let avoidance = 1_000u64;
        for funder in &sources {
            for fundee in &sources {
                let f = node(funder);
                let g = node(fundee);
                use ConfirmationTarget::*;
                let commitment = f(NonAnchorChannelFee);
                // Open and update_fee (check_remote_fee refuses a rate below this) and LDK's
                // tracker (it closes inbound channels below the minimum of these samples).
                assert!(commitment >= g(MinAllowedNonAnchorChannelRemoteFee));
                // No "excess" fee against the fundee's dust exposure.
                assert!(commitment <= g(MaximumFeeEstimate));
                // Cooperative close: the funder offers [min, max], the fundee needs >= its min.
                let funder_min = f(ChannelCloseMinimum) as u64 * weight / 1000;
                let funder_max = f(NonAnchorChannelFee) as u64 * weight / 1000 + avoidance;
                let fundee_min = g(ChannelCloseMinimum) as u64 * weight / 1000;
                assert!(funder_min <= funder_max);
                assert!(fundee_min <= funder_max, "{fundee_min} > {funder_max}");
                // Everything relays.
                for target in [
                    MaximumFeeEstimate,
                    UrgentOnChainSweep,
                    NonAnchorChannelFee,
                    OutputSpendingFee,
                    ChannelCloseMinimum,
                ] {
                    assert!(f(target) >= FEERATE_FLOOR_SAT_PER_KW);
                }
            }
        }
        // The floor becomes the 102,500 the first release asked of a peer with no fee data.
        assert_eq!(
            node(&sources[1])(ConfirmationTarget::NonAnchorChannelFee),
            102_500
        );
        assert_eq!(
            node(&sources[2])(ConfirmationTarget::NonAnchorChannelFee),
            COMMITMENT_FEERATE_CAP_SAT_PER_KW
        );
    }

    #[test]
    fn lookup_prefers_the_faster_target() {
        let table = [(2, 500_000), (6, 300_000), (144, 150_000)];
        assert_eq!(lookup(&table, 1), Some(500_000));
        assert_eq!(lookup(&table, 6), Some(300_000));
        assert_eq!(lookup(&table, 12), Some(300_000));
        assert_eq!(lookup(&table, 1008), Some(150_000));
        assert_eq!(lookup(&[], 6), None);
        assert_eq!(lookup(&FALLBACK_SAT_PER_KW, 1), Some(300_000));
        assert_eq!(lookup(&FALLBACK_SAT_PER_KW, 12), Some(200_000));
        assert_eq!(lookup(&FALLBACK_SAT_PER_KW, 1008), Some(102_500));
    }
}

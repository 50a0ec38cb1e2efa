//! Fee estimation for LDK: [`LdkFeeEstimator`] answers `FeeEstimator` from a cache that a
//! background thread refreshes from the [`ChainSource`], so LDK's calls never wait on the network.
//!
//! | LDK target | blocks asked | fallback sat/kW |
//! |---|---|---|
//! | `MaximumFeeEstimate` | 1 | 300,000 |
//! | `UrgentOnChainSweep` | 6 | 200,000 |
//! | `NonAnchorChannelFee` | 12 | 200,000 |
//! | `OutputSpendingFee` | 12 | 200,000 |
//! | `ChannelCloseMinimum` | 144 | 102,500 |
//! | `MinAllowedNonAnchorChannelRemoteFee` | 144 | 102,500 |
//! | `AnchorChannelFee` | 1008 | 102,500 |
//! | `MinAllowedAnchorChannelRemoteFee` | 1008 | 102,500 |
//!
//! A target takes the source's estimate for the nearest target at or below it (faster is never
//! cheaper), or the closest one above when there is none. Every answer is at least
//! [`FEERATE_FLOOR_SAT_PER_KW`] (101,000 sat/kW: Qtum's 400 sat/vB minimum relay fee plus
//! rounding room). The fallback table (DESIGN §5: 1/6/72 blocks = 300,000/200,000/102,500) is
//! used when the source has no data (a fresh regtest never does) or has not answered yet.

use std::sync::{Arc, Condvar, Mutex, RwLock};
use std::thread::JoinHandle;
use std::time::{Duration, SystemTime};

use lightning::chain::chaininterface::{ConfirmationTarget, FeeEstimator};

use crate::{ChainError, ChainSource, FeeEstimates};

/// The lowest rate ever returned, sat/kW.
pub const FEERATE_FLOOR_SAT_PER_KW: u32 = qtum_primitives::policy::FEERATE_FLOOR_SAT_PER_KW;

/// DESIGN §5's fallback rates: `(target_blocks, sat_per_kw)`.
pub const FALLBACK_SAT_PER_KW: [(u16, u32); 3] = [(1, 300_000), (6, 200_000), (72, 102_500)];

/// The block target each LDK [`ConfirmationTarget`] is estimated for (table in module docs).
pub fn target_blocks(target: ConfirmationTarget) -> u16 {
    match target {
        ConfirmationTarget::MaximumFeeEstimate => 1,
        ConfirmationTarget::UrgentOnChainSweep => 6,
        ConfirmationTarget::NonAnchorChannelFee | ConfirmationTarget::OutputSpendingFee => 12,
        ConfirmationTarget::ChannelCloseMinimum
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
                let status = if by_target.is_empty() {
                    FeeStatus::NoData
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

impl FeeEstimator for LdkFeeEstimator {
    fn get_est_sat_per_1000_weight(&self, confirmation_target: ConfirmationTarget) -> u32 {
        self.rate_for_blocks(target_blocks(confirmation_target))
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

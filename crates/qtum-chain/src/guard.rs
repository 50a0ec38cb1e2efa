//! A chain source that does not take its endpoints' word for it.
//!
//! [`GuardedSource`] wraps the source the node syncs from and checks everything a light client
//! can check on its own, then compares what it can with other, independent endpoints:
//!
//! | check | what it stops |
//! |---|---|
//! | [`HeaderRules::check_header`] on every header that reaches the SDK | PoW headers that do not meet their target or the network's limit, PoW after Qtum's last PoW height, PoS headers with no or an unrecoverable signature, a PoS time off Qtum's stake time grid, a block time more than two hours ahead of the local clock |
//! | linkage and median time past across every run of headers read in one go | a chain that does not link or goes back in time |
//! | [`HeaderRules::check_tip`] against the last tip accepted | a tip further ahead than Qtum can have produced since (main and test networks: at most one block per 16 s on average plus a day's slack), or far below a block we synced (deeper than any reorganisation Qtum allows) |
//! | the tip and every confirmation compared with each witness endpoint | one endpoint presenting a chain of its own: a forged block with a valid merkle branch, a fake confirmation, a tip from another fork; a block on top of the real tip that only one endpoint knows (a confirmation in it, and a tip more than [`TIP_RACE_DEPTH`] blocks above a witness that follows the chain, wait until the witness has it) |
//! | a spend or confirmation one endpoint does not know asked of the others | an endpoint withholding the spend of a revoked commitment |
//! | broadcasts sent to every endpoint | an endpoint dropping our justice or sweep transactions |
//!
//! What a light client cannot check: a PoS header's stake (that needs the UTXO set), so a
//! single endpoint that forges a whole consistent PoS chain from a point the wallet never saw is
//! only caught by a second endpoint. With one endpoint configured, the guard is as strong as the
//! header rules; the repository's `docs/chain-trust.md` says what an app should configure.
//!
//! Problems are logged and kept for [`GuardedSource::problems`] (the node's status shows them
//! as degraded reasons) for [`ALERT_LIFETIME`].

use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bitcoin::{BlockHash, OutPoint, Script, ScriptBuf, Target, Transaction, Txid};

use qtum_primitives::block::QtumBlock;
use qtum_primitives::header::{QtumHeader, COMPACT_SIGNATURE_SIZE};
use qtum_primitives::network::Network;

use crate::sync::SyncTip;
use crate::{
    BlockRef, ChainError, ChainSource, FeeEstimates, HistoryEntry, ScriptHistories, Spend, TxStatus,
};

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// How long a problem stays in [`GuardedSource::problems`] after it was last seen.
pub const ALERT_LIFETIME: Duration = Duration::from_secs(60 * 60);

/// Depth at which two endpoints that disagree about a block are said to be on different
/// chains rather than racing at the tip (a block found by two stakers at once).
pub const TIP_RACE_DEPTH: u32 = 6;

/// A witness whose tip is older than this (by its header time against the local clock) has
/// stopped following the chain: it is reported, and no longer holds confirmations or tips back.
pub const STALE_WITNESS_SECS: u64 = 60 * 60;

/// The grid PoS block times sit on (Qtum's stake timestamp mask + 1), in seconds: 16 on main
/// and test networks, 4 on regtest (the regtest fixtures' PoS blocks are 4 s apart from it).
pub fn stake_time_grid_secs(network: Network) -> u32 {
    match network {
        Network::Mainnet | Network::Testnet => 16,
        Network::Regtest => 4,
    }
}

/// The header rules a light client checks without any other data.
///
/// | field | main / test | regtest |
/// |---|---|---|
/// | `max_future_secs` | 7,200 (two hours, Qtum Core's own limit for a new block) | same |
/// | `min_average_spacing_secs` | 16: at most twice Qtum's 32-s target rate, sustained | none (regtest mines thousands of blocks a second) |
/// | `rate_slack_blocks` | 2,700 (a day of blocks) | — |
/// | `max_reorg_depth` | 2,000 (Qtum nodes refuse deeper reorganisations) | same |
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HeaderRules {
    /// The network the headers belong to.
    pub network: Network,
    /// Latest a block time may be ahead of the local clock.
    pub max_future_secs: u32,
    /// Shortest average block spacing accepted between the last accepted tip and a new one;
    /// `None` skips the rate check.
    pub min_average_spacing_secs: Option<u32>,
    /// Blocks allowed on top of the rate (bursts, a wrong local clock).
    pub rate_slack_blocks: u32,
    /// How far below the last accepted tip a new tip may be.
    pub max_reorg_depth: u32,
}

impl HeaderRules {
    /// The defaults of the table above for `network`.
    pub fn for_network(network: Network) -> HeaderRules {
        HeaderRules {
            network,
            max_future_secs: 2 * 60 * 60,
            min_average_spacing_secs: match network {
                Network::Regtest => None,
                Network::Mainnet | Network::Testnet => Some(16),
            },
            rate_slack_blocks: 2_700,
            max_reorg_depth: network.max_reorg_depth(),
        }
    }

    /// Checks one header on its own; `height` when the caller knows it (some rules depend on
    /// it), `now` in seconds since the Unix epoch.
    pub fn check_header(
        &self,
        header: &QtumHeader,
        height: Option<u32>,
        now: u64,
    ) -> Result<(), ChainError> {
        let hash = header.block_hash();
        let bad = |why: String| Err(ChainError::InvalidResponse(format!("block {hash}: {why}")));
        if u64::from(header.time) > now.saturating_add(u64::from(self.max_future_secs)) {
            return bad(format!(
                "its time {} is more than {} s ahead of the local clock ({now})",
                header.time, self.max_future_secs
            ));
        }
        if header.is_proof_of_stake() {
            if let (Some(h), Some(last_pow)) = (height, self.network.last_pow_height()) {
                if h <= last_pow {
                    return bad(format!("proof of stake at height {h}, before PoS began"));
                }
            }
            if header.nonce != 0 {
                return bad("a proof-of-stake header with a nonce".into());
            }
            let grid = stake_time_grid_secs(self.network);
            if !header.time.is_multiple_of(grid) {
                return bad(format!(
                    "proof-of-stake time {} is not on the network's {grid}-second grid",
                    header.time
                ));
            }
            let sig = header.signature();
            if sig.is_empty() {
                return bad("a proof-of-stake header without a signature".into());
            }
            if sig.len() == COMPACT_SIGNATURE_SIZE {
                if let Err(e) = header.recover_staker_pubkey() {
                    return bad(format!("its block signature does not recover a key: {e}"));
                }
            } else if !(8..=73).contains(&sig.len()) || sig[0] != 0x30 {
                // Early mainnet PoS blocks carry DER signatures (8 to 73 bytes, tag 0x30).
                return bad(format!("a block signature of {} bytes", sig.len()));
            }
        } else {
            if !header.block_sig.is_empty() {
                return bad("a proof-of-work header with a block signature".into());
            }
            if let (Some(h), Some(last_pow)) = (height, self.network.last_pow_height()) {
                if h > last_pow {
                    return bad(format!(
                        "proof of work at height {h}, after the last PoW height {last_pow}"
                    ));
                }
            }
            let limit = Target::from_compact(self.network.genesis_bits());
            if header.target() > limit {
                return bad(format!(
                    "its target {:#010x} is easier than the network's limit",
                    header.bits.to_consensus()
                ));
            }
            if !header.check_pow() {
                return bad("its hash does not meet its own proof-of-work target".into());
            }
        }
        Ok(())
    }

    /// Checks a run of consecutive headers, lowest first: each links to the one before and its
    /// time is above the median of the (up to) eleven before it within the run.
    pub fn check_run(&self, run: &[(BlockRef, QtumHeader)]) -> Result<(), ChainError> {
        for (i, pair) in run.windows(2).enumerate() {
            let (below, _) = &pair[0];
            let (block, header) = &pair[1];
            if block.height != below.height + 1 || header.prev_blockhash != below.hash {
                return Err(ChainError::InvalidResponse(format!(
                    "header at height {} does not link to the one below it",
                    block.height
                )));
            }
            let start = (i + 1).saturating_sub(11);
            let mut times: Vec<u32> = run[start..=i].iter().map(|(_, h)| h.time).collect();
            if times.len() == 11 {
                times.sort_unstable();
                let median = times[5];
                if header.time <= median {
                    return Err(ChainError::InvalidResponse(format!(
                        "block {} at height {}: time {} is not above the median time past {median}",
                        block.hash, block.height, header.time
                    )));
                }
            }
        }
        Ok(())
    }

    /// Checks a new tip against the last one accepted (`anchor`: height, time of its header).
    pub fn check_tip(
        &self,
        anchor: Option<(u32, u32)>,
        tip_height: u32,
        now: u64,
    ) -> Result<(), ChainError> {
        let Some((anchor_height, anchor_time)) = anchor else {
            return Ok(());
        };
        if tip_height.saturating_add(self.max_reorg_depth) < anchor_height {
            return Err(ChainError::InvalidResponse(format!(
                "the tip at height {tip_height} is more than {} blocks below height \
                 {anchor_height}, already synced: Qtum does not reorganise that deep",
                self.max_reorg_depth
            )));
        }
        if let Some(spacing) = self.min_average_spacing_secs {
            let elapsed = now.saturating_sub(u64::from(anchor_time));
            let possible = elapsed / u64::from(spacing.max(1)) + u64::from(self.rate_slack_blocks);
            let claimed = u64::from(tip_height.saturating_sub(anchor_height));
            if claimed > possible {
                return Err(ChainError::InvalidResponse(format!(
                    "the tip at height {tip_height} is {claimed} blocks above height \
                     {anchor_height}, synced {elapsed} s ago: Qtum cannot have made more than \
                     {possible}"
                )));
            }
        }
        Ok(())
    }
}

#[derive(Clone, Copy)]
struct Anchor {
    height: u32,
    hash: BlockHash,
    time: u32,
}

struct Alert {
    seen: SystemTime,
    text: String,
}

/// A [`ChainSource`] that checks headers by [`HeaderRules`] and compares what its primary
/// source says with witness endpoints; see the module docs.
pub struct GuardedSource {
    primary: Arc<dyn ChainSource>,
    witnesses: Vec<Arc<dyn ChainSource>>,
    rules: HeaderRules,
    /// The last accepted tip, or the stored sync tip not yet looked up.
    anchor: Mutex<(Option<Anchor>, Option<SyncTip>)>,
    alerts: Mutex<Vec<Alert>>,
    clock: fn() -> u64,
}

impl GuardedSource {
    /// Guards `primary`, comparing with `witnesses` (other endpoints, each a source of its own;
    /// may be empty). `synced` is the tip the node synced to before a restart: new tips are
    /// checked against it.
    pub fn new(
        primary: Arc<dyn ChainSource>,
        witnesses: Vec<Arc<dyn ChainSource>>,
        rules: HeaderRules,
        synced: Option<SyncTip>,
    ) -> GuardedSource {
        GuardedSource {
            primary,
            witnesses,
            rules,
            anchor: Mutex::new((None, synced)),
            alerts: Mutex::new(Vec::new()),
            clock: unix_now,
        }
    }

    /// The same guard with another clock (seconds since the Unix epoch), for tests.
    pub fn with_clock(mut self, clock: fn() -> u64) -> GuardedSource {
        self.clock = clock;
        self
    }

    /// The rules in force.
    pub fn rules(&self) -> &HeaderRules {
        &self.rules
    }

    /// Problems seen within [`ALERT_LIFETIME`], oldest first: endpoints that disagree, withheld
    /// data, refused headers, unreachable witnesses.
    pub fn problems(&self) -> Vec<String> {
        let now = SystemTime::now();
        let mut alerts = lock(&self.alerts);
        alerts.retain(|a| {
            now.duration_since(a.seen)
                .map(|age| age < ALERT_LIFETIME)
                .unwrap_or(true)
        });
        alerts.iter().map(|a| a.text.clone()).collect()
    }

    fn alert(&self, text: String) {
        log::warn!("chain source: {text}");
        let mut alerts = lock(&self.alerts);
        alerts.retain(|a| a.text != text);
        alerts.push(Alert {
            seen: SystemTime::now(),
            text,
        });
        // A flood of distinct messages must not grow without bound.
        let excess = alerts.len().saturating_sub(16);
        alerts.drain(..excess);
    }

    /// Runs a header check, keeping a refusal as a problem.
    fn checked(&self, header: &QtumHeader, height: Option<u32>) -> Result<(), ChainError> {
        self.rules
            .check_header(header, height, (self.clock)())
            .inspect_err(|e| {
                self.alert(format!(
                    "{} sent a header that breaks Qtum's rules: {e}",
                    self.primary.describe()
                ))
            })
    }

    fn anchor(&self) -> Option<Anchor> {
        let mut guard = lock(&self.anchor);
        if guard.0.is_none() {
            if let Some(stored) = guard.1.take() {
                // The header of the block we synced to before: its time bounds how far the tip
                // can have moved since. Gone from the chain (a reorg) or unreachable: no bound
                // from it, the height check of the next accepted tip applies from then on.
                if let Ok(header) = self.primary.header(&stored.hash) {
                    guard.0 = Some(Anchor {
                        height: stored.height,
                        hash: stored.hash,
                        time: header.time,
                    });
                }
            }
        }
        guard.0
    }

    /// Compares the tip with each witness; an error when one is on another chain.
    fn cross_check_tip(&self, tip: &BlockRef) -> Result<(), ChainError> {
        for witness in &self.witnesses {
            let theirs = match witness.block_hash_at(tip.height) {
                Ok(h) => h,
                Err(e) => {
                    self.alert(format!(
                        "{} did not answer a cross-check: {e}",
                        witness.describe()
                    ));
                    continue;
                }
            };
            match theirs {
                Some(hash) if hash == tip.hash => {}
                Some(_) => {
                    let depth = tip.height.saturating_sub(TIP_RACE_DEPTH);
                    let ours = self.primary.block_hash_at(depth)?;
                    let theirs = match witness.block_hash_at(depth) {
                        Ok(h) => h,
                        Err(_) => continue,
                    };
                    if ours != theirs {
                        let text = format!(
                            "{} and {} are on different chains (they disagree about block \
                             {depth}); not syncing past the last block they agree on",
                            self.primary.describe(),
                            witness.describe()
                        );
                        self.alert(text.clone());
                        return Err(ChainError::InvalidResponse(text));
                    }
                    // Two blocks at the tip: a race that the next blocks settle.
                }
                None => {
                    // The witness is behind: fine while what it has is our chain and it is not
                    // far behind. A witness that is following the chain but lacks the last
                    // blocks holds the tip back: those blocks exist only at the primary so far.
                    let Ok((their_tip, their_header)) = witness.tip_header() else {
                        continue;
                    };
                    let ours = self.primary.block_hash_at(their_tip.height)?;
                    if their_tip.height + TIP_RACE_DEPTH < tip.height {
                        if ours.is_some() && ours != Some(their_tip.hash) {
                            let text = format!(
                                "{} and {} are on different chains (block {}); not syncing",
                                self.primary.describe(),
                                witness.describe(),
                                their_tip.height
                            );
                            self.alert(text.clone());
                            return Err(ChainError::InvalidResponse(text));
                        }
                        let behind = tip.height - their_tip.height;
                        if self.is_fresh(&their_header) {
                            let text = format!(
                                "{} is at height {}, {behind} blocks ahead of {}, which is \
                                 following the chain: not syncing to it until they are within \
                                 {TIP_RACE_DEPTH} blocks",
                                self.primary.describe(),
                                tip.height,
                                witness.describe(),
                            );
                            self.alert(text.clone());
                            return Err(ChainError::InvalidResponse(text));
                        }
                        self.alert(format!(
                            "{} is {behind} blocks behind {} and its tip is more than {} s old",
                            witness.describe(),
                            self.primary.describe(),
                            STALE_WITNESS_SECS
                        ));
                    }
                }
            }
        }
        Ok(())
    }

    /// A confirmation from the primary must be in a block every witness that has that height
    /// also has there.
    fn cross_check_block(&self, block: &BlockRef, what: &Txid) -> Result<(), ChainError> {
        for witness in &self.witnesses {
            match witness.block_hash_at(block.height) {
                Ok(Some(hash)) if hash != block.hash => {
                    let text = format!(
                        "{} says {what} confirmed in block {} at height {}, {} has block {hash} \
                         there; the confirmation waits until they agree",
                        self.primary.describe(),
                        block.hash,
                        block.height,
                        witness.describe()
                    );
                    self.alert(text.clone());
                    return Err(ChainError::InvalidResponse(text));
                }
                Ok(Some(_)) => {}
                Ok(None) => {
                    // The block is above the witness's tip: known to the primary alone so far.
                    // A forged block on top of the real tip looks exactly like this, so the
                    // confirmation waits for a witness that follows the chain to get there.
                    match witness.tip_header() {
                        Ok((_, their_header)) if self.is_fresh(&their_header) => {
                            let text = format!(
                                "{} says {what} confirmed in block {} at height {}, which {} \
                                 does not have yet; the confirmation waits until it does",
                                self.primary.describe(),
                                block.hash,
                                block.height,
                                witness.describe()
                            );
                            self.alert(text.clone());
                            return Err(ChainError::InvalidResponse(text));
                        }
                        Ok(_) => self.alert(format!(
                            "{} is behind and its tip is more than {STALE_WITNESS_SECS} s old: \
                             not used to cross-check confirmations",
                            witness.describe()
                        )),
                        Err(e) => self.alert(format!(
                            "{} did not answer a cross-check: {e}",
                            witness.describe()
                        )),
                    }
                }
                Err(e) => self.alert(format!(
                    "{} did not answer a cross-check: {e}",
                    witness.describe()
                )),
            }
        }
        Ok(())
    }

    /// Whether a witness whose tip has `header` is following the chain (see
    /// [`STALE_WITNESS_SECS`]).
    fn is_fresh(&self, header: &QtumHeader) -> bool {
        u64::from(header.time).saturating_add(STALE_WITNESS_SECS) >= (self.clock)()
    }

    fn check_status(&self, status: &TxStatus) -> Result<(), ChainError> {
        if let TxStatus::Confirmed { block, header, .. } = status {
            self.rules
                .check_header(header, Some(block.height), (self.clock)())?;
        }
        Ok(())
    }
}

impl ChainSource for GuardedSource {
    fn describe(&self) -> String {
        self.primary.describe()
    }

    fn tip(&self) -> Result<BlockRef, ChainError> {
        self.tip_header().map(|(tip, _)| tip)
    }

    fn tip_header(&self) -> Result<(BlockRef, QtumHeader), ChainError> {
        let (tip, header) = self.primary.tip_header()?;
        self.checked(&header, Some(tip.height))?;
        let now = (self.clock)();
        let anchor = self.anchor();
        if anchor.map(|a| a.hash) != Some(tip.hash) {
            self.rules
                .check_tip(anchor.map(|a| (a.height, a.time)), tip.height, now)
                .inspect_err(|e| self.alert(format!("{}: {e}", self.primary.describe())))?;
            self.cross_check_tip(&tip)?;
            lock(&self.anchor).0 = Some(Anchor {
                height: tip.height,
                hash: tip.hash,
                time: header.time,
            });
        }
        Ok((tip, header))
    }

    fn block_hash_at(&self, height: u32) -> Result<Option<BlockHash>, ChainError> {
        self.primary.block_hash_at(height)
    }

    fn header(&self, hash: &BlockHash) -> Result<QtumHeader, ChainError> {
        let header = self.primary.header(hash)?;
        self.checked(&header, None)?;
        Ok(header)
    }

    fn header_at(&self, height: u32) -> Result<Option<(BlockRef, QtumHeader)>, ChainError> {
        let found = self.primary.header_at(height)?;
        if let Some((block, header)) = &found {
            self.checked(header, Some(block.height))?;
        }
        Ok(found)
    }

    fn headers_between(
        &self,
        start: u32,
        end: u32,
    ) -> Result<Vec<(BlockRef, QtumHeader)>, ChainError> {
        let run = self.primary.headers_between(start, end)?;
        for (block, header) in &run {
            self.checked(header, Some(block.height))?;
        }
        self.rules
            .check_run(&run)
            .inspect_err(|e| self.alert(format!("{}: {e}", self.primary.describe())))?;
        Ok(run)
    }

    fn block(&self, hash: &BlockHash) -> Result<QtumBlock, ChainError> {
        let block = self.primary.block(hash)?;
        self.checked(&block.header, None)?;
        Ok(block)
    }

    fn transaction(&self, txid: &Txid) -> Result<Option<Transaction>, ChainError> {
        if let Some(tx) = self.primary.transaction(txid)? {
            return Ok(Some(tx));
        }
        for witness in &self.witnesses {
            if let Ok(Some(tx)) = witness.transaction(txid) {
                crate::verify::check_txid(&tx, txid)?;
                self.alert(format!(
                    "{} does not know transaction {txid}, {} does",
                    self.primary.describe(),
                    witness.describe()
                ));
                return Ok(Some(tx));
            }
        }
        Ok(None)
    }

    fn tx_status(&self, txid: &Txid) -> Result<TxStatus, ChainError> {
        let status = self.primary.tx_status(txid)?;
        match &status {
            TxStatus::Confirmed { block, header, .. } => {
                self.checked(header, Some(block.height))?;
                self.cross_check_block(block, txid)?;
                Ok(status)
            }
            TxStatus::Unknown | TxStatus::Unconfirmed => {
                for witness in &self.witnesses {
                    let Ok(theirs) = witness.tx_status(txid) else {
                        continue;
                    };
                    if let TxStatus::Confirmed { block, .. } = &theirs {
                        // The witness proved it against a header of its own; that header must
                        // pass the rules and be the primary's block at that height, or the two
                        // are on different chains (which the tip check reports).
                        self.check_status(&theirs)?;
                        if self.primary.block_hash_at(block.height)? == Some(block.hash) {
                            self.alert(format!(
                                "{} withheld the confirmation of {txid} (block {} at height {}), \
                                 which {} proved",
                                self.primary.describe(),
                                block.hash,
                                block.height,
                                witness.describe()
                            ));
                            return Ok(theirs);
                        }
                    }
                }
                Ok(status)
            }
        }
    }

    fn script_history(&self, script: &Script) -> Result<Vec<HistoryEntry>, ChainError> {
        self.primary.script_history(script)
    }

    fn scripts_history(
        &self,
        scripts: &[ScriptBuf],
        start_height: u32,
    ) -> Result<Vec<Vec<HistoryEntry>>, ChainError> {
        self.primary.scripts_history(scripts, start_height)
    }

    fn scripts_history_from(
        &self,
        scripts: &[ScriptBuf],
        start_height: u32,
    ) -> Result<ScriptHistories, ChainError> {
        self.primary.scripts_history_from(scripts, start_height)
    }

    fn outspend(&self, outpoint: &OutPoint) -> Result<Option<Spend>, ChainError> {
        let spend = self.primary.outspend(outpoint)?;
        if matches!(
            spend,
            Some(Spend {
                height: Some(_),
                ..
            })
        ) {
            return Ok(spend);
        }
        for witness in &self.witnesses {
            if let Ok(Some(theirs)) = witness.outspend(outpoint) {
                if theirs.height.is_some() || spend.is_none() {
                    // What it claims is checked like any spend: the sync fetches the spending
                    // transaction, its proof and its inputs before telling LDK.
                    self.alert(format!(
                        "{} did not report the spend of {outpoint} by {}, which {} did",
                        self.primary.describe(),
                        theirs.txid,
                        witness.describe()
                    ));
                    return Ok(Some(theirs));
                }
            }
        }
        Ok(spend)
    }

    fn broadcast(&self, tx: &Transaction) -> Result<Txid, ChainError> {
        let primary = self.primary.broadcast(tx);
        let mut accepted_elsewhere = false;
        for witness in &self.witnesses {
            // Every endpoint gets it: one that drops our transactions must not be able to keep
            // a justice or sweep transaction from the network.
            match witness.broadcast(tx) {
                Ok(_) => accepted_elsewhere = true,
                Err(e) => log::debug!("broadcast through {}: {e}", witness.describe()),
            }
        }
        match primary {
            Err(ChainError::Unreachable(_)) if accepted_elsewhere => Ok(tx.compute_txid()),
            other => other,
        }
    }

    fn fee_estimates(&self) -> Result<FeeEstimates, ChainError> {
        self.primary.fee_estimates()
    }

    fn requests_made(&self) -> u64 {
        self.primary.requests_made()
            + self
                .witnesses
                .iter()
                .map(|w| w.requests_made())
                .sum::<u64>()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bitcoin::hashes::{sha256d, Hash};

    fn fixture_header(dir: &str) -> QtumHeader {
        let root = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../tests/fixtures/qtum-regtest/blocks/"
        );
        let hex =
            std::fs::read_to_string(format!("{root}{dir}/getblockheader.hex")).expect("fixture");
        QtumHeader::from_hex(hex.trim()).expect("header")
    }

    const FAR_LATER: u64 = 4_000_000_000;

    #[test]
    fn real_regtest_headers_pass() {
        let rules = HeaderRules::for_network(Network::Regtest);
        for (dir, height) in [
            ("h1_first_pow", 1),
            ("h2002_confirms_p2wpkh_p2wsh_txs", 2002),
            ("h4027_first_pos", 4027),
            ("h4028_pos", 4028),
        ] {
            let header = fixture_header(dir);
            rules
                .check_header(&header, Some(height), u64::from(header.time))
                .unwrap_or_else(|e| panic!("{dir}: {e}"));
        }
    }

    #[test]
    fn forged_headers_are_refused() {
        let rules = HeaderRules::for_network(Network::Regtest);
        let pow = fixture_header("h2002_confirms_p2wpkh_p2wsh_txs");
        let now = u64::from(pow.time);

        // Far in the future.
        let mut future = pow.clone();
        future.time = (now + 3 * 60 * 60) as u32;
        while !future.check_pow() {
            future.nonce += 1;
        }
        assert!(rules.check_header(&future, Some(2002), now).is_err());

        // A hash that misses its target: grind for one that does not meet a hard target.
        let mut weak = pow.clone();
        weak.bits = bitcoin::CompactTarget::from_consensus(0x1d00_ffff);
        assert!(rules.check_header(&weak, Some(2002), now).is_err());

        // An easier target than the network allows (mainnet's limit with regtest's bits).
        let main = HeaderRules::for_network(Network::Mainnet);
        assert!(main.check_header(&pow, Some(2002), now).is_err());

        // PoW after the last PoW height on mainnet, PoS before it.
        let pos = fixture_header("h4027_first_pos");
        assert!(main.check_header(&pos, Some(4_000), FAR_LATER).is_err());

        // PoS: a signature that recovers nothing, an off-grid time, a nonce, no signature.
        let mut bad_sig = pos.clone();
        bad_sig.block_sig[0] = 26;
        assert!(rules.check_header(&bad_sig, Some(4027), FAR_LATER).is_err());
        let mut off_grid = pos.clone();
        off_grid.time += 2;
        assert!(rules
            .check_header(&off_grid, Some(4027), FAR_LATER)
            .is_err());
        let mut nonce = pos.clone();
        nonce.nonce = 1;
        assert!(rules.check_header(&nonce, Some(4027), FAR_LATER).is_err());
        let mut unsigned = pos.clone();
        unsigned.block_sig.clear();
        assert!(rules
            .check_header(&unsigned, Some(4027), FAR_LATER)
            .is_err());
        // A PoW header carrying a signature.
        let mut signed_pow = pow.clone();
        signed_pow.block_sig = vec![1; 65];
        assert!(rules.check_header(&signed_pow, Some(2002), now).is_err());
    }

    #[test]
    fn tips_qtum_cannot_have_made_are_refused() {
        let main = HeaderRules::for_network(Network::Mainnet);
        let t0 = 1_800_000_000u32;
        let hour = 3_600u64;
        // An hour later: ~112 real blocks; up to 225 + a day of slack is accepted.
        assert!(main
            .check_tip(Some((1_000_000, t0)), 1_000_112, u64::from(t0) + hour)
            .is_ok());
        assert!(main
            .check_tip(Some((1_000_000, t0)), 1_002_900, u64::from(t0) + hour)
            .is_ok());
        assert!(main
            .check_tip(Some((1_000_000, t0)), 1_003_000, u64::from(t0) + hour)
            .is_err());
        // A week away: ~18,900 blocks.
        let week = 7 * 24 * hour;
        assert!(main
            .check_tip(Some((1_000_000, t0)), 1_018_900, u64::from(t0) + week)
            .is_ok());
        // Deeper than a reorganisation can go.
        assert!(main
            .check_tip(Some((1_000_000, t0)), 998_001, u64::from(t0))
            .is_ok());
        assert!(main
            .check_tip(Some((1_000_000, t0)), 997_999, u64::from(t0))
            .is_err());
        // No anchor: nothing to compare with. Regtest: no rate.
        assert!(main.check_tip(None, u32::MAX, 0).is_ok());
        let reg = HeaderRules::for_network(Network::Regtest);
        assert!(reg.check_tip(Some((0, t0)), 100_000, u64::from(t0)).is_ok());
    }

    #[test]
    fn runs_must_link_and_move_forward_in_time() {
        let rules = HeaderRules::for_network(Network::Regtest);
        let mut run = Vec::new();
        let mut prev = BlockHash::all_zeros();
        for height in 0..20u32 {
            let mut header = fixture_header("h2002_confirms_p2wpkh_p2wsh_txs");
            header.prev_blockhash = prev;
            header.time = 1_800_000_000 + height * 32;
            let block = BlockRef::of(&header, height);
            prev = block.hash;
            run.push((block, header));
        }
        rules.check_run(&run).expect("a good run");

        let mut unlinked = run.clone();
        unlinked[10].1.prev_blockhash = BlockHash::from_raw_hash(sha256d::Hash::hash(b"x"));
        assert!(rules.check_run(&unlinked).is_err());

        // Block 15 goes back to before the median of the eleven below it.
        let mut backwards = run.clone();
        for i in 15..20 {
            let mut header = backwards[i].1.clone();
            if i == 15 {
                header.time = 1_800_000_000;
            }
            header.prev_blockhash = backwards[i - 1].0.hash;
            backwards[i] = (BlockRef::of(&header, i as u32), header);
        }
        assert!(rules.check_run(&backwards).is_err());
    }
}

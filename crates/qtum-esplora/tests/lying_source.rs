//! A chain source that lies consistently, against the guard of `qtum_chain::guard`.
//!
//! The liar wraps an honest RPC source over the regtest harness and changes what it answers in
//! ways no single answer gives away: a forged block with real proof of work and a valid merkle
//! branch, a spend it does not report, a tip from the future or too far ahead, an absurd fee
//! estimate, broadcasts it swallows. Each case runs twice: with the liar alone (the control:
//! the lie gets through, so the test would notice if the forgery were not convincing), and
//! with an honest second endpoint as a witness (the lie is caught, or the truth is found).

mod common;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

use bitcoin::hashes::Hash;
use bitcoin::{BlockHash, OutPoint, Script, ScriptBuf, Transaction, TxMerkleNode, Txid};
use lightning::chain::chaininterface::{ConfirmationTarget, FeeEstimator};
use lightning::chain::{Confirm, Filter, WatchedOutput};
use qtum_chain::fees::FEERATE_CEILING_SAT_PER_KW;
use qtum_chain::{
    BlockRef, ChainError, ChainSource, ChainSync, FeeEstimates, FeeStatus, GuardedSource,
    HeaderRules, HistoryEntry, LdkFeeEstimator, Spend, SyncConfig, TxStatus,
};
use qtum_primitives::block::QtumBlock;
use qtum_primitives::header::QtumHeader;
use qtum_primitives::network::Network;

use common::{Env, Event, Kind, Recorder};

/// A block the liar shows at `block.height` instead of the real one (or above the real tip),
/// holding `tx` alone.
#[derive(Clone)]
struct Forged {
    block: BlockRef,
    header: QtumHeader,
    tx: Transaction,
}

#[derive(Default)]
struct Lies {
    forged: Option<Forged>,
    withhold_spends: bool,
    fees: Option<FeeEstimates>,
}

/// The honest source with lies on top. Everything it says about a forged block is
/// self-consistent: the header links to the real chain, meets its proof-of-work target, and its
/// merkle root is the forged transaction's own branch.
struct Liar {
    honest: Arc<dyn ChainSource>,
    lies: Mutex<Lies>,
    swallow_broadcasts: AtomicBool,
}

impl Liar {
    fn new(honest: Arc<dyn ChainSource>) -> Arc<Liar> {
        Arc::new(Liar {
            honest,
            lies: Mutex::new(Lies::default()),
            swallow_broadcasts: AtomicBool::new(false),
        })
    }

    fn lies(&self) -> std::sync::MutexGuard<'_, Lies> {
        self.lies.lock().expect("lock")
    }

    fn forged(&self) -> Option<Forged> {
        self.lies().forged.clone()
    }
}

impl ChainSource for Liar {
    fn describe(&self) -> String {
        "the liar".into()
    }

    fn tip(&self) -> Result<BlockRef, ChainError> {
        let honest = self.honest.tip()?;
        match self.forged() {
            Some(f) if f.block.height >= honest.height => Ok(f.block),
            _ => Ok(honest),
        }
    }

    // tip_header, header_at and headers_between are the trait's defaults: they read through
    // tip, block_hash_at and header below, so the lies reach them.

    fn block_hash_at(&self, height: u32) -> Result<Option<BlockHash>, ChainError> {
        match self.forged() {
            Some(f) if f.block.height == height => Ok(Some(f.block.hash)),
            Some(f) if height > f.block.height => Ok(None),
            _ => self.honest.block_hash_at(height),
        }
    }

    fn header(&self, hash: &BlockHash) -> Result<QtumHeader, ChainError> {
        match self.forged() {
            Some(f) if f.block.hash == *hash => Ok(f.header),
            _ => self.honest.header(hash),
        }
    }

    fn block(&self, hash: &BlockHash) -> Result<QtumBlock, ChainError> {
        self.honest.block(hash)
    }

    fn transaction(&self, txid: &Txid) -> Result<Option<Transaction>, ChainError> {
        match self.forged() {
            Some(f) if f.tx.compute_txid() == *txid => Ok(Some(f.tx)),
            _ => self.honest.transaction(txid),
        }
    }

    fn tx_status(&self, txid: &Txid) -> Result<TxStatus, ChainError> {
        match self.forged() {
            Some(f) if f.tx.compute_txid() == *txid => Ok(TxStatus::Confirmed {
                block: f.block,
                header: f.header,
                position: 0,
            }),
            _ => self.honest.tx_status(txid),
        }
    }

    fn script_history(&self, script: &Script) -> Result<Vec<HistoryEntry>, ChainError> {
        self.honest.script_history(script)
    }

    fn outspend(&self, outpoint: &OutPoint) -> Result<Option<Spend>, ChainError> {
        if self.lies().withhold_spends {
            return Ok(None);
        }
        self.honest.outspend(outpoint)
    }

    fn broadcast(&self, tx: &Transaction) -> Result<Txid, ChainError> {
        if self.swallow_broadcasts.load(Ordering::SeqCst) {
            return Ok(tx.compute_txid());
        }
        self.honest.broadcast(tx)
    }

    fn fee_estimates(&self) -> Result<FeeEstimates, ChainError> {
        match self.lies().fees.clone() {
            Some(fees) => Ok(fees),
            None => self.honest.fee_estimates(),
        }
    }
}

fn now() -> u32 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock")
        .as_secs() as u32
}

/// A header on top of `prev` at `height` whose block holds `tx` alone, with real proof of work
/// at the harness's target, timed `time`.
fn forge(env: &Env, prev: BlockHash, height: u32, tx: &Transaction, time: u32) -> Forged {
    let mut header = env.qtum_header(&prev);
    header.prev_blockhash = prev;
    // One transaction: the merkle root is its txid, the branch is empty.
    header.merkle_root = TxMerkleNode::from_raw_hash(tx.compute_txid().to_raw_hash());
    header.time = time;
    header.nonce = 0;
    while !header.check_pow() {
        header.nonce += 1;
    }
    assert!(
        !header.is_proof_of_stake(),
        "the harness mines PoW at these heights"
    );
    Forged {
        block: BlockRef::of(&header, height),
        header,
        tx: tx.clone(),
    }
}

/// A transaction nobody broadcast: what the liar claims is confirmed.
fn phantom_tx(env: &Env) -> Transaction {
    common::spend_op_true(
        OutPoint::new(Txid::from_byte_array([7; 32]), 0),
        100_000_000,
        env.node.wallet_script(),
    )
}

fn guarded(liar: &Arc<Liar>, witness: Option<&Env>) -> Arc<GuardedSource> {
    let witnesses: Vec<Arc<dyn ChainSource>> = witness.map(|e| e.source()).into_iter().collect();
    Arc::new(GuardedSource::new(
        Arc::clone(liar) as Arc<dyn ChainSource>,
        witnesses,
        HeaderRules::for_network(Network::Regtest),
        None,
    ))
}

/// A sync engine over `guard`, as the node builds one.
fn engine_over(guard: &Arc<GuardedSource>) -> ChainSync {
    ChainSync::new(
        Arc::clone(guard) as Arc<dyn ChainSource>,
        None,
        SyncConfig::default(),
    )
}

fn sync(engine: &ChainSync, recorder: &Recorder) -> Result<qtum_chain::SyncReport, ChainError> {
    let confirmables: [&dyn Confirm; 1] = [recorder];
    engine.sync(&confirmables)
}

fn mentions(problems: &[String], what: &str) -> bool {
    problems.iter().any(|p| p.contains(what))
}

#[test]
fn a_forged_block_with_a_valid_merkle_branch_is_caught_by_a_witness() {
    let env = Env::start(Kind::Rpc);
    env.mine(3);
    let phantom = phantom_tx(&env);
    let script = env.node.wallet_script();

    // The liar replaces the real tip with its own block at the same height.
    let height = env.node.height();
    let prev = env
        .node
        .with_chain(|c| c.hash_at(height - 1))
        .expect("prev");
    let real_tip = env.node.tip_hash();
    let forged = forge(&env, prev, height, &phantom, now());
    assert_ne!(forged.block.hash, real_tip);

    for with_witness in [false, true] {
        let liar = Liar::new(env.source());
        liar.lies().forged = Some(forged.clone());
        let guard = guarded(&liar, with_witness.then_some(&env));
        let engine = engine_over(&guard);
        engine.register_tx(&phantom.compute_txid(), &script);
        let recorder = Recorder::default();
        let result = sync(&engine, &recorder);
        if with_witness {
            assert!(
                !recorder.is_confirmed(&phantom.compute_txid()),
                "a witness on the real chain must keep the forged confirmation from LDK: {:?}",
                recorder.events()
            );
            let problems = guard.problems();
            assert!(
                mentions(&problems, "confirmed in block") && mentions(&problems, "the liar"),
                "{problems:?} / {result:?}"
            );
        } else {
            // The control: the forgery passes every check one source allows.
            result.expect("the liar alone convinces the sync");
            assert_eq!(
                recorder.confirmations_of(&phantom.compute_txid()),
                vec![(forged.header.synthetic_header(), height)]
            );
            assert!(guard.problems().is_empty(), "{:?}", guard.problems());
        }
    }
}

#[test]
fn a_forged_block_on_top_of_the_real_tip_waits_for_a_witness() {
    let env = Env::start(Kind::Rpc);
    env.mine(3);
    let phantom = phantom_tx(&env);
    let script = env.node.wallet_script();
    let height = env.node.height() + 1;
    let forged = forge(&env, env.node.tip_hash(), height, &phantom, now());

    for with_witness in [false, true] {
        let liar = Liar::new(env.source());
        liar.lies().forged = Some(forged.clone());
        let guard = guarded(&liar, with_witness.then_some(&env));
        let engine = engine_over(&guard);
        engine.register_tx(&phantom.compute_txid(), &script);
        let recorder = Recorder::default();
        let result = sync(&engine, &recorder);
        assert_eq!(
            recorder.is_confirmed(&phantom.compute_txid()),
            !with_witness,
            "witness {with_witness}: {result:?} {:?}",
            guard.problems()
        );
        if with_witness {
            assert!(
                mentions(&guard.problems(), "does not have yet"),
                "{:?}",
                guard.problems()
            );
        }
    }

    // When the real chain gets there with its own block, the witness settles it: the forged
    // block is on another chain and the phantom never confirms.
    env.mine(1);
    let liar = Liar::new(env.source());
    liar.lies().forged = Some(forged.clone());
    let guard = guarded(&liar, Some(&env));
    let engine = engine_over(&guard);
    engine.register_tx(&phantom.compute_txid(), &script);
    let recorder = Recorder::default();
    let _ = sync(&engine, &recorder);
    assert!(!recorder.is_confirmed(&phantom.compute_txid()));
    assert!(
        mentions(&guard.problems(), "confirmed in block"),
        "{:?}",
        guard.problems()
    );
}

#[test]
fn a_withheld_spend_is_found_through_the_witness() {
    let env = Env::start(Kind::Rpc);
    let script = common::op_true_p2wsh();
    let funding = env.node.fund_address(&script, 100_000_000).expect("fund");
    env.mine(1);
    let spend = common::spend_op_true(funding, 100_000_000, env.node.wallet_script());
    env.source().broadcast(&spend).expect("spend accepted");
    env.mine(2);

    for with_witness in [false, true] {
        let liar = Liar::new(env.source());
        liar.lies().withhold_spends = true;
        let guard = guarded(&liar, with_witness.then_some(&env));
        let engine = engine_over(&guard);
        engine.register_output(WatchedOutput {
            block_hash: None,
            outpoint: lightning::chain::transaction::OutPoint {
                txid: funding.txid,
                index: funding.vout as u16,
            },
            script_pubkey: script.clone(),
        });
        let recorder = Recorder::default();
        sync(&engine, &recorder).expect("sync");
        assert_eq!(
            recorder.is_confirmed(&spend.compute_txid()),
            with_witness,
            "witness {with_witness}: {:?}",
            recorder.events()
        );
        assert_eq!(
            mentions(&guard.problems(), "did not report the spend"),
            with_witness,
            "{:?}",
            guard.problems()
        );
    }
}

#[test]
fn tips_from_the_future_or_too_far_ahead_are_refused() {
    let env = Env::start(Kind::Rpc);
    env.mine(3);
    let phantom = phantom_tx(&env);

    // A tip a year ahead of the clock: refused by the header rules alone.
    let year = 365 * 24 * 60 * 60;
    let future = forge(
        &env,
        env.node.tip_hash(),
        env.node.height() + 1,
        &phantom,
        now() + year,
    );
    let liar = Liar::new(env.source());
    liar.lies().forged = Some(future);
    let guard = guarded(&liar, None);
    let engine = engine_over(&guard);
    let recorder = Recorder::default();
    let refused = sync(&engine, &recorder).expect_err("a tip from the future");
    assert!(
        matches!(&refused, ChainError::InvalidResponse(why) if why.contains("ahead of the local clock")),
        "{refused:?}"
    );
    assert!(recorder.events().is_empty(), "{:?}", recorder.events());
    assert!(mentions(&guard.problems(), "breaks Qtum's rules"));

    // A tip 1,000 blocks above the one synced a moment ago, with main-network rate rules (one
    // block per 16 s on average, 10 blocks of slack): refused; the next honest tip is taken.
    let rules = HeaderRules {
        min_average_spacing_secs: Some(16),
        rate_slack_blocks: 10,
        ..HeaderRules::for_network(Network::Regtest)
    };
    let liar = Liar::new(env.source());
    let guard = Arc::new(GuardedSource::new(
        Arc::clone(&liar) as Arc<dyn ChainSource>,
        Vec::new(),
        rules,
        None,
    ));
    let engine = engine_over(&guard);
    let synced = sync(&engine, &recorder).expect("the honest tip").tip;
    let jump = forge(&env, synced.hash, synced.height + 1_000, &phantom, now());
    liar.lies().forged = Some(jump);
    recorder.clear();
    let refused = sync(&engine, &recorder).expect_err("a tip too far ahead");
    assert!(
        matches!(&refused, ChainError::InvalidResponse(why) if why.contains("cannot have made")),
        "{refused:?}"
    );
    assert!(recorder.events().is_empty(), "{:?}", recorder.events());
    assert_eq!(engine.synced_tip().map(|t| t.height), Some(synced.height));

    liar.lies().forged = None;
    env.mine(2);
    let report = sync(&engine, &recorder).expect("honest again");
    assert_eq!(report.tip.height, synced.height + 2);
    assert!(recorder.events().contains(&Event::BestBlock {
        header: env.qtum_header(&env.node.tip_hash()).synthetic_header(),
        height: synced.height + 2,
    }));
}

#[test]
fn an_absurd_fee_estimate_is_cut_to_the_ceiling_and_reported() {
    let env = Env::start(Kind::Rpc);
    let liar = Liar::new(env.source());
    liar.lies().fees = Some(FeeEstimates {
        by_target: vec![(1, 50_000_000), (6, 40_000_000), (144, 30_000_000)],
    });
    let fees = LdkFeeEstimator::new(guarded(&liar, None) as Arc<dyn ChainSource>);
    let status = fees.refresh();
    assert!(
        matches!(&status, FeeStatus::Degraded { error: ChainError::InvalidResponse(why) } if why.contains("ceiling")),
        "{status:?}"
    );
    assert!(status.is_degraded());
    for target in [
        ConfirmationTarget::MaximumFeeEstimate,
        ConfirmationTarget::UrgentOnChainSweep,
        ConfirmationTarget::NonAnchorChannelFee,
        ConfirmationTarget::OutputSpendingFee,
    ] {
        let rate = fees.get_est_sat_per_1000_weight(target);
        assert!(rate <= FEERATE_CEILING_SAT_PER_KW, "{target:?}: {rate}");
    }
    assert_eq!(
        fees.get_est_sat_per_1000_weight(ConfirmationTarget::UrgentOnChainSweep),
        FEERATE_CEILING_SAT_PER_KW
    );

    // An estimate under the ceiling is believed again, and the status recovers.
    liar.lies().fees = Some(FeeEstimates {
        by_target: vec![(1, 400_000), (6, 250_000), (144, 120_000)],
    });
    assert!(matches!(fees.refresh(), FeeStatus::Live { .. }));
    assert_eq!(
        fees.get_est_sat_per_1000_weight(ConfirmationTarget::UrgentOnChainSweep),
        250_000
    );
}

#[test]
fn a_swallowed_broadcast_still_reaches_the_network_through_the_witness() {
    let env = Env::start(Kind::Rpc);
    let script: ScriptBuf = common::op_true_p2wsh();
    let mut spends = Vec::new();
    for _ in 0..2 {
        let funding = env.node.fund_address(&script, 100_000_000).expect("fund");
        spends.push(common::spend_op_true(
            funding,
            100_000_000,
            env.node.wallet_script(),
        ));
    }
    env.mine(1);
    let honest = env.source();

    for (with_witness, spend) in [(false, &spends[0]), (true, &spends[1])] {
        let liar = Liar::new(env.source());
        liar.swallow_broadcasts.store(true, Ordering::SeqCst);
        let guard = guarded(&liar, with_witness.then_some(&env));
        let txid = guard.broadcast(spend).expect("the liar says it was sent");
        assert_eq!(txid, spend.compute_txid());
        let status = honest.tx_status(&txid).expect("status");
        if with_witness {
            assert_eq!(status, TxStatus::Unconfirmed, "in the real mempool");
        } else {
            assert_eq!(status, TxStatus::Unknown, "the control: swallowed");
        }
    }
}

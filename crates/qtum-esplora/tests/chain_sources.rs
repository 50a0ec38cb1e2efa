//! Both chain sources against the regtest harness (the Esplora source through `qtum-esplora`
//! in front of it): confirmations with synthetic headers, reorgs, spends of watched outputs,
//! fees, broadcast rejections, failover, and sources that are down, slow or lying.

mod common;

use std::sync::Arc;
use std::time::Duration;

use bitcoin::{Amount, OutPoint, ScriptBuf, TxOut};
use lightning::chain::{Confirm, Filter, WatchedOutput};
use qtum_chain::fees::FALLBACK_SAT_PER_KW;
use qtum_chain::{
    ChainBroadcaster, ChainError, ChainSync, FeeStatus, LdkFeeEstimator, ScriptSync, SyncConfig,
    TxStatus,
};

use common::{Env, Event, Kind, Mode, Proxy, Recorder};

fn both(test: impl Fn(Kind)) {
    test(Kind::Rpc);
    test(Kind::Esplora);
}

fn sync(engine: &ChainSync, recorder: &Recorder) -> Result<qtum_chain::SyncReport, ChainError> {
    let confirmables: [&dyn Confirm; 1] = [recorder];
    engine.sync(&confirmables)
}

#[test]
fn watched_tx_confirms_with_the_synthetic_header_and_reorgs_out() {
    both(|kind| {
        let env = Env::start(kind);
        let script = common::op_true_p2wsh();
        let funding = env.node.fund_address(&script, 100_000_000).expect("fund");
        let engine = ChainSync::new(env.source(), None, SyncConfig::default());
        let recorder = Recorder::default();
        engine.register_tx(&funding.txid, &script);

        sync(&engine, &recorder).expect("first sync");
        assert!(
            recorder.confirmations_of(&funding.txid).is_empty(),
            "{kind:?}: still in the mempool"
        );

        let block = env.mine(1)[0];
        let height = env.node.height();
        let report = sync(&engine, &recorder).expect("sync after mining");
        assert_eq!(report.tip.hash, block);
        let confs = recorder.confirmations_of(&funding.txid);
        let qtum_header = env.qtum_header(&block);
        assert_eq!(
            confs,
            vec![(qtum_header.synthetic_header(), height)],
            "{kind:?}"
        );
        // LDK sees the synthetic id, never the real hash.
        assert_ne!(qtum_header.synthetic_hash(), block);
        assert!(recorder.events().contains(&Event::BestBlock {
            header: qtum_header.synthetic_header(),
            height
        }));
        assert_eq!(engine.synced_tip().map(|t| t.hash), Some(block));

        // Nothing new: no duplicate confirmation.
        recorder.clear();
        sync(&engine, &recorder).expect("idle sync");
        assert!(
            recorder.events().is_empty(),
            "{kind:?}: {:?}",
            recorder.events()
        );

        // Reorg: the block goes away, the transaction goes back to the mempool.
        env.node.invalidate_block(&block).expect("invalidate");
        let report = sync(&engine, &recorder).expect("sync after reorg");
        assert!(report.reorg_detected, "{kind:?}");
        assert!(
            recorder
                .events()
                .contains(&Event::Unconfirmed(funding.txid)),
            "{kind:?}: {:?}",
            recorder.events()
        );
        assert!(!recorder.is_confirmed(&funding.txid));

        // A new chain confirms it again, in its new block.
        recorder.clear();
        let new_blocks = env.mine(2);
        sync(&engine, &recorder).expect("sync on the new chain");
        let new_header = env.qtum_header(&new_blocks[0]);
        assert_eq!(
            recorder.confirmations_of(&funding.txid),
            vec![(new_header.synthetic_header(), height)],
            "{kind:?}"
        );
    });
}

#[test]
fn spend_of_a_watched_output_is_confirmed_to_ldk() {
    both(|kind| {
        let env = Env::start(kind);
        let source = env.source();
        let script = common::op_true_p2wsh();
        let funding = env.node.fund_address(&script, 100_000_000).expect("fund");
        env.mine(1);
        let engine = ChainSync::new(Arc::clone(&source), None, SyncConfig::default());
        let recorder = Recorder::default();
        engine.register_output(WatchedOutput {
            block_hash: None,
            outpoint: lightning::chain::transaction::OutPoint {
                txid: funding.txid,
                index: funding.vout as u16,
            },
            script_pubkey: script.clone(),
        });
        sync(&engine, &recorder).expect("sync");
        assert!(
            recorder
                .events()
                .iter()
                .all(|e| !matches!(e, Event::Confirmed { .. })),
            "{kind:?}: unspent"
        );

        let spend = common::spend_op_true(funding, 100_000_000, env.node.wallet_script());
        let broadcaster = ChainBroadcaster::new(Arc::clone(&source));
        let txid = broadcaster.broadcast(&spend).expect("spend accepted");
        assert_eq!(txid, spend.compute_txid());
        sync(&engine, &recorder).expect("sync with the spend in the mempool");
        assert!(
            recorder.confirmations_of(&txid).is_empty(),
            "{kind:?}: not mined yet"
        );

        let block = env.mine(1)[0];
        sync(&engine, &recorder).expect("sync after mining the spend");
        let confs = recorder.confirmations_of(&txid);
        assert_eq!(
            confs,
            vec![(
                env.qtum_header(&block).synthetic_header(),
                env.node.height()
            )],
            "{kind:?}"
        );
        assert_eq!(
            source
                .outspend(&funding)
                .expect("outspend")
                .map(|s| (s.txid, s.vin, s.height)),
            Some((txid, 0, Some(env.node.height())))
        );
    });
}

#[test]
fn tx_status_and_script_sync_carry_real_hashes() {
    both(|kind| {
        let env = Env::start(kind);
        let source = env.source();
        let script = common::op_true_p2wsh();
        let funding = env.node.fund_address(&script, 100_000_000).expect("fund");
        assert_eq!(
            source.tx_status(&funding.txid).expect("status"),
            TxStatus::Unconfirmed
        );
        let wallet = ScriptSync::new(Arc::clone(&source));
        let before = wallet
            .sync(std::slice::from_ref(&script), 0)
            .expect("wallet sync");
        assert_eq!(before.txs.len(), 1, "{kind:?}: the mempool payment");
        assert_eq!(before.txs[0].confirmation, None);
        assert_eq!(before.used_scripts, vec![0]);

        let block = env.mine(1)[0];
        match source.tx_status(&funding.txid).expect("status") {
            TxStatus::Confirmed {
                block: b,
                position,
                header,
            } => {
                assert_eq!(b.hash, block);
                assert_eq!(header.block_hash(), block);
                assert!(position >= 1);
            }
            other => panic!("{kind:?}: {other:?}"),
        }
        let after = wallet
            .sync(&[script.clone(), ScriptBuf::new_op_return([1u8; 4])], 0)
            .expect("wallet sync");
        assert_eq!(after.txs.len(), 1);
        let conf = after.txs[0].confirmation.expect("confirmed");
        assert_eq!(
            (conf.block.hash, conf.block.height),
            (block, env.node.height())
        );
        assert_eq!(after.used_scripts, vec![0]);
        assert_eq!(
            source
                .tx_status(&bitcoin::Txid::from_byte_array_for_test())
                .expect("status"),
            TxStatus::Unknown
        );
    });
}

trait TestTxid {
    fn from_byte_array_for_test() -> Self;
}
impl TestTxid for bitcoin::Txid {
    fn from_byte_array_for_test() -> Self {
        use bitcoin::hashes::Hash;
        bitcoin::Txid::from_byte_array([0x42; 32])
    }
}

#[test]
fn fresh_regtest_fees_use_the_fallback_table_above_the_floor() {
    both(|kind| {
        let env = Env::start(kind);
        let estimator = LdkFeeEstimator::new(env.source());
        assert_eq!(estimator.status(), FeeStatus::Starting);
        assert_eq!(estimator.refresh(), FeeStatus::NoData, "{kind:?}");
        use lightning::chain::chaininterface::{ConfirmationTarget as T, FeeEstimator};
        for target in [
            T::MaximumFeeEstimate,
            T::UrgentOnChainSweep,
            T::MinAllowedAnchorChannelRemoteFee,
            T::MinAllowedNonAnchorChannelRemoteFee,
            T::AnchorChannelFee,
            T::NonAnchorChannelFee,
            T::ChannelCloseMinimum,
            T::OutputSpendingFee,
        ] {
            assert!(estimator.get_est_sat_per_1000_weight(target) >= 101_000);
        }
        assert_eq!(
            estimator.get_est_sat_per_1000_weight(T::MaximumFeeEstimate),
            FALLBACK_SAT_PER_KW[0].1
        );
        assert_eq!(
            estimator.get_est_sat_per_1000_weight(T::UrgentOnChainSweep),
            FALLBACK_SAT_PER_KW[1].1
        );
        assert_eq!(
            estimator.get_est_sat_per_1000_weight(T::NonAnchorChannelFee),
            FALLBACK_SAT_PER_KW[1].1
        );
        // What we accept from a peer and our closing minimum are the floor, data or not: two
        // nodes on different fee sources must never disagree (qtum_chain::fees).
        for target in [
            T::ChannelCloseMinimum,
            T::MinAllowedNonAnchorChannelRemoteFee,
        ] {
            assert_eq!(estimator.get_est_sat_per_1000_weight(target), 101_000);
        }

        // A dead source: degraded, still answering, never blocking on the network.
        let dead = env.source_over(&[common::dead_url()], Duration::from_secs(1));
        let estimator = LdkFeeEstimator::new(dead);
        assert!(estimator.refresh().is_degraded());
        assert_eq!(
            estimator.get_est_sat_per_1000_weight(T::UrgentOnChainSweep),
            200_000
        );
        let refresher = Arc::new(estimator).start_background(Duration::from_secs(3600));
        drop(refresher);
    });
}

#[test]
fn broadcast_surfaces_qtumds_reason() {
    both(|kind| {
        let env = Env::start(kind);
        let source = env.source();
        let script = common::op_true_p2wsh();
        let funding = env.node.fund_address(&script, 100_000_000).expect("fund");
        env.mine(1);
        let mut dust = common::spend_op_true(funding, 100_000_000, env.node.wallet_script());
        dust.output.push(TxOut {
            value: Amount::from_sat(1_000),
            script_pubkey: env.node.wallet_script(),
        });
        dust.output[0].value = Amount::from_sat(100_000_000 - 201_000);
        match source.broadcast(&dust) {
            Err(ChainError::Rejected { code, reason }) => {
                assert_eq!(code, -26, "{kind:?}");
                assert_eq!(reason, "dust", "{kind:?}");
            }
            other => panic!("{kind:?}: {other:?}"),
        }
        // The LDK interface logs and carries on.
        use lightning::chain::chaininterface::BroadcasterInterface;
        ChainBroadcaster::new(source).broadcast_transactions(&[&dust]);
    });
}

#[test]
fn failover_to_the_second_endpoint() {
    both(|kind| {
        let env = Env::start(kind);
        let source = env.source_over(
            &[common::dead_url(), env.base_url()],
            Duration::from_secs(2),
        );
        let tip = source.tip().expect("second endpoint answers");
        assert_eq!(tip.hash, env.node.tip_hash());
        assert_eq!(
            source.block_hash_at(0).expect("genesis"),
            Some(qtum_primitives::network::Network::Regtest.genesis_hash())
        );
    });
}

/// A lying or broken source yields errors, never a confirmation; once it behaves, a retry
/// confirms exactly once.
#[test]
fn broken_sources_never_confirm_falsely_and_recover() {
    both(|kind| {
        for mode in [
            Mode::Garbage,
            Mode::TamperHeaders,
            Mode::TamperProofs,
            Mode::Slow,
        ] {
            let env = Env::start(kind);
            let script = common::op_true_p2wsh();
            let funding = env.node.fund_address(&script, 100_000_000).expect("fund");
            let proxy = Proxy::start(env.base_url(), Mode::Honest);
            let source = env.source_over(std::slice::from_ref(&proxy.url), Duration::from_secs(1));
            let engine = ChainSync::new(source, None, SyncConfig::default());
            let recorder = Recorder::default();
            engine.register_tx(&funding.txid, &script);
            sync(&engine, &recorder).expect("honest first sync");
            env.mine(1);

            proxy.set(mode);
            for _ in 0..2 {
                // The pass fails, or (a bad answer to one look-up) goes on without it and
                // says so.
                let result = sync(&engine, &recorder);
                assert!(
                    !result.as_ref().is_ok_and(|r| r.failed_lookups == 0),
                    "{kind:?} {mode:?}: {result:?}"
                );
                assert!(
                    recorder.confirmations_of(&funding.txid).is_empty(),
                    "{kind:?} {mode:?}: false confirmation"
                );
            }

            proxy.set(Mode::Honest);
            // The failed endpoint is retried once its back-off ends (50 ms in these tests).
            std::thread::sleep(Duration::from_millis(400));
            sync(&engine, &recorder).expect("retry after recovery");
            assert_eq!(
                recorder.confirmations_of(&funding.txid).len(),
                1,
                "{kind:?} {mode:?}"
            );
        }
    });
}

#[test]
fn a_down_source_is_an_error_then_a_restart_resumes_from_the_persisted_tip() {
    both(|kind| {
        let env = Env::start(kind);
        let dead = env.source_over(&[common::dead_url()], Duration::from_secs(1));
        let engine = ChainSync::new(dead, None, SyncConfig::default());
        let recorder = Recorder::default();
        assert!(matches!(
            sync(&engine, &recorder),
            Err(ChainError::Unreachable(_))
        ));
        assert!(recorder.events().is_empty());

        env.mine(3);
        let engine = ChainSync::new(env.source(), None, SyncConfig::default());
        sync(&engine, &recorder).expect("sync");
        let stored = engine.synced_tip().expect("tip").encode();

        // "Restart": a new engine from the persisted tip, after a reorg below it.
        let tip_hash = env.node.tip_hash();
        env.node.invalidate_block(&tip_hash).expect("invalidate");
        env.mine(2);
        let resumed = ChainSync::new(
            env.source(),
            qtum_chain::SyncTip::decode(&stored),
            SyncConfig::default(),
        );
        let report = sync(&resumed, &recorder).expect("resume");
        assert!(report.reorg_detected, "{kind:?}");
        assert_eq!(report.tip.hash, env.node.tip_hash());
    });
}

#[test]
fn esplora_server_speaks_esplora() {
    let env = Env::start(Kind::Esplora);
    let base = env.base_url();
    let get = |path: &str| minreq::get(format!("{base}{path}")).send().expect("http");
    let script = common::op_true_p2wsh();
    let funding = env.node.fund_address(&script, 100_000_000).expect("fund");
    let block = env.mine(1)[0];

    let client = esplora_client::Builder::new(&base).build_blocking();
    assert_eq!(client.get_height().expect("height"), env.node.height());
    assert_eq!(client.get_tip_hash().expect("tip"), block);
    let info = client
        .get_tx_info(&funding.txid)
        .expect("tx")
        .expect("known");
    assert!(info.status.confirmed);
    assert_eq!(info.status.block_hash, Some(block));
    assert!(info.fee > 0);
    let proof = client
        .get_merkle_proof(&funding.txid)
        .expect("proof")
        .expect("confirmed");
    assert_eq!(proof.block_height, env.node.height());
    let history = client.scripthash_txs(&script, None).expect("history");
    assert_eq!(history.len(), 1);
    let utxos = client.get_scripthash_utxos(&script).expect("utxo");
    assert_eq!(utxos.len(), 1);
    assert_eq!(utxos[0].value.to_sat(), 100_000_000);
    let block_info = client.get_block_info(&block).expect("block");
    assert_eq!(block_info.id, block);
    assert_eq!(
        client.get_block_txids(&block).expect("txids").len() as u64,
        block_info.tx_count
    );
    assert!(client
        .get_output_status(&funding.txid, u64::from(funding.vout))
        .expect("outspend")
        .is_some_and(|s| !s.spent));
    // sat/vB, never under Qtum's 400 sat/vB relay floor.
    assert!(client
        .get_fee_estimates()
        .expect("fees")
        .values()
        .all(|v| *v >= 400.0));

    // Raw formats and status codes.
    let header = get(&format!("/block/{block}/header"));
    assert_eq!(header.status_code, 200);
    assert_eq!(
        header.as_str().expect("text").len(),
        362,
        "a 181-byte Qtum header, not 80 bytes"
    );
    assert_eq!(
        get(&format!("/block/{block}/raw")).as_bytes()[..181],
        env.qtum_header(&block).to_bytes()[..]
    );
    assert_eq!(get("/block-height/999999").status_code, 404);
    assert_eq!(get("/tx/zz").status_code, 400);
    assert_eq!(
        get(&format!(
            "/tx/{}",
            bitcoin::Txid::from_byte_array_for_test()
        ))
        .status_code,
        404
    );
    assert_eq!(get("/scripthash/nothex/txs").status_code, 400);
    let bad = minreq::post(format!("{base}/tx"))
        .with_body("00")
        .send()
        .expect("http");
    assert_eq!(bad.status_code, 400);
    let _ = OutPoint::null();
}

/// An RPC node without `-addrindex` (the harness answering the index calls as qtumd then does:
/// -5 for `getaddresstxids`, and -5 "Unable to get spent info" for every output, spent or
/// not): history and spends come from bounded block scans, and a spent output is not taken for
/// an unspent one.
#[test]
fn rpc_without_addrindex_scans_a_bounded_window() {
    use qtum_chain::ChainSource;
    let env = Env::start_with(
        Kind::Rpc,
        qtum_regtest::NodeConfig {
            without_addrindex: true,
            ..Default::default()
        },
    );
    let endpoint = qtum_chain::RpcEndpoint::new(env.base_url(), common::rpc_auth(&env.node));
    let mut config =
        qtum_chain::RpcConfig::new(qtum_primitives::network::Network::Regtest, vec![endpoint]);
    config.max_scan_blocks = 50;
    let source = qtum_chain::RpcSource::new(config).expect("source");
    let script = common::op_true_p2wsh();
    let funding = env.node.fund_address(&script, 100_000_000).expect("fund");
    let birthday = env.node.height();
    env.mine(1);
    let spend = common::spend_op_true(funding, 100_000_000, env.node.wallet_script());
    env.node.send_transaction(&spend).expect("spend");
    env.mine(1);

    let history = source
        .scripts_history(std::slice::from_ref(&script), birthday)
        .expect("scan");
    assert_eq!(source.has_addrindex(), Some(false));
    let txids: Vec<_> = history[0].iter().map(|e| (e.txid, e.height)).collect();
    assert_eq!(
        txids,
        vec![
            (funding.txid, Some(birthday + 1)),
            (spend.compute_txid(), Some(birthday + 2))
        ]
    );
    let spent = source.outspend(&funding).expect("outspend").expect("spent");
    assert_eq!(
        (spent.txid, spent.height),
        (spend.compute_txid(), Some(birthday + 2))
    );
    // The spend's own output is unspent; the answer comes from the UTXO set, not from -5.
    let unspent = OutPoint::new(spend.compute_txid(), 0);
    assert_eq!(source.outspend(&unspent).expect("outspend"), None);
    assert!(
        env.node.calls("getblock") > 0,
        "the spend was found by scanning"
    );
    // From genesis the window is too long: a clear refusal, not a silent chain download.
    assert!(matches!(
        source.scripts_history(std::slice::from_ref(&script), 0),
        Err(ChainError::Unsupported(_))
    ));
}

#[test]
fn rpc_cookie_file_authenticates() {
    use qtum_chain::ChainSource;
    let env = Env::start(Kind::Rpc);
    let dir = std::env::temp_dir().join(format!("qtum-chain-cookie-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    let cookie = dir.join(".cookie");
    std::fs::write(
        &cookie,
        format!("{}:{}\n", env.node.rpc_user(), env.node.rpc_password()),
    )
    .expect("cookie");
    let endpoint = qtum_chain::RpcEndpoint::new(
        env.base_url(),
        qtum_chain::RpcAuth::CookieFile(cookie.clone()),
    );
    let source = qtum_chain::RpcSource::new(qtum_chain::RpcConfig::new(
        qtum_primitives::network::Network::Regtest,
        vec![endpoint],
    ))
    .expect("source");
    assert_eq!(source.tip().expect("tip").hash, env.node.tip_hash());
    // A wrong cookie is an authorization error that names no secret.
    std::fs::write(&cookie, "qtum:wrong-secret").expect("cookie");
    let err = source.tip().expect_err("refused");
    assert!(!err.to_string().contains("wrong-secret"), "{err}");
    let _ = std::fs::remove_dir_all(&dir);
}

/// The server refuses to start over a qtumd without `-addrindex`: it would answer "unspent" for
/// every output (qtumd's `getspentinfo` then says "Unable to get spent info" for all of them).
#[test]
fn server_refuses_a_backend_without_addrindex() {
    let node = qtum_regtest::RegtestNode::start_with(qtum_regtest::NodeConfig {
        without_addrindex: true,
        ..Default::default()
    })
    .expect("harness");
    let listen = "127.0.0.1:0".parse().expect("addr");
    let config = qtum_esplora::ServerConfig::new(node.url(), common::rpc_auth(&node), listen);
    let error = match qtum_esplora::EsploraServer::start(config) {
        Ok(_) => panic!("a server over a backend without the index started"),
        Err(e) => e,
    };
    assert!(error.contains("no address index"), "{error}");
    assert!(error.contains("-addrindex"), "{error}");
}

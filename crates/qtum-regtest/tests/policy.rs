//! The "Done when" cases over the real RPC: dust and 399 sat/vB refused with qtumd's
//! reasons, missing inputs, non-final, premature coinbase spends.

mod common;

use common::*;
use qtum_regtest::RegtestNode;
use serde_json::json;

#[test]
fn dust_low_fee_missing_nonfinal_and_premature_refused_like_qtumd() {
    let node = RegtestNode::start().expect("start");
    let rpc = Rpc::new(&node);
    let alice = Key::new("alice");
    let bob = Key::new("bob");
    rpc.call("generatetoaddress", json!([1999, alice.address()]));

    // Premature: at tip 1999 the block-1 coinbase is not spendable, at tip 2000 it is.
    let (cb1, value) = coinbase_of(&rpc, 1);
    let mut tx = unsigned(
        &[cb1],
        vec![(bob.p2wpkh(), value - 1_000_000)],
        0xffff_fffd,
        0,
    );
    sign_p2wpkh(&mut tx, 0, &alice, value);
    let r = rpc.call("testmempoolaccept", json!([[to_hex(&tx)]]));
    assert_eq!(r[0]["allowed"], false);
    assert_eq!(
        r[0]["reject-reason"],
        "bad-txns-premature-spend-of-coinbase"
    );
    rpc.call("generatetoaddress", json!([1, alice.address()]));
    let r = rpc.call("testmempoolaccept", json!([[to_hex(&tx)]]));
    assert_eq!(r[0]["allowed"], true, "{r}");
    assert_eq!(r[0]["vsize"], 110);
    assert_eq!(r[0]["fees"]["effective-feerate"], 0.09090909);

    // Dust: 39,199 sat to P2WPKH is dust at 400 sat/vB, 39,200 is not.
    for (amount, ok) in [(39_199u64, false), (39_200, true)] {
        let mut tx = unsigned(
            &[cb1],
            vec![
                (bob.p2wpkh(), amount),
                (alice.p2wpkh(), value - amount - 1_000_000),
            ],
            0xffff_fffd,
            0,
        );
        sign_p2wpkh(&mut tx, 0, &alice, value);
        let r = rpc.call("testmempoolaccept", json!([[to_hex(&tx)]]));
        assert_eq!(r[0]["allowed"], ok, "{r}");
        if !ok {
            assert_eq!(r[0]["reject-reason"], "dust");
            assert_eq!(
                rpc.err("sendrawtransaction", json!([to_hex(&tx)])),
                (-26, "dust".to_string())
            );
        } else {
            assert_eq!(r[0]["vsize"], 141);
        }
    }

    // Fee: 399 sat/vB refused with qtumd's text, 400 sat/vB accepted.
    let build = |fee: u64| {
        let mut tx = unsigned(
            &[cb1],
            vec![
                (bob.p2wpkh(), 100_000_000),
                (alice.p2wpkh(), value - 100_000_000 - fee),
            ],
            0xffff_fffd,
            0,
        );
        sign_p2wpkh(&mut tx, 0, &alice, value);
        tx
    };
    let vsize = build(56_400).vsize() as u64;
    assert_eq!(vsize, 141);
    let low = build(399 * vsize);
    let r = rpc.call("testmempoolaccept", json!([[to_hex(&low)]]));
    assert_eq!(r[0]["reject-reason"], "min relay fee not met");
    assert_eq!(
        rpc.err("sendrawtransaction", json!([to_hex(&low)])),
        (
            -26,
            format!("min relay fee not met, {} < {}", 399 * vsize, 400 * vsize)
        )
    );
    let boundary = build(56_399);
    assert_eq!(
        rpc.err("sendrawtransaction", json!([to_hex(&boundary)])).1,
        "min relay fee not met, 56399 < 56400"
    );
    let ok = build(400 * vsize);
    let txid = rpc.call("sendrawtransaction", json!([to_hex(&ok)]));
    assert_eq!(txid, json!(ok.compute_txid().to_string()));

    // Double spend of the same coin without RBF signalling on the first: conflict.
    // (The first signals RBF, so a lower-fee replacement is "insufficient fee".)
    let r = rpc.call("testmempoolaccept", json!([[to_hex(&build(56_401))]]));
    assert_eq!(r[0]["reject-reason"], "insufficient fee");

    // Missing inputs.
    let missing = bitcoin::OutPoint {
        txid: "11".repeat(32).parse().expect("txid"),
        vout: 0,
    };
    let mut tx = unsigned(&[missing], vec![(bob.p2wpkh(), 100_000)], 0xffff_fffd, 0);
    sign_p2wpkh(&mut tx, 0, &alice, 200_000);
    let r = rpc.call("testmempoolaccept", json!([[to_hex(&tx)]]));
    assert_eq!(r[0]["reject-reason"], "missing-inputs");
    assert_eq!(
        rpc.err("sendrawtransaction", json!([to_hex(&tx)])),
        (-25, "bad-txns-inputs-missingorspent".to_string())
    );

    // Non-final: nLockTime two blocks ahead with a non-final sequence.
    let (cb2, v2) = coinbase_of(&rpc, 2);
    let mut tx = unsigned(
        &[cb2],
        vec![(bob.p2wpkh(), v2 - 1_000_000)],
        0xffff_fffe,
        node.height() + 2,
    );
    sign_p2wpkh(&mut tx, 0, &alice, v2);
    let r = rpc.call("testmempoolaccept", json!([[to_hex(&tx)]]));
    assert_eq!(r[0]["reject-reason"], "non-final");
    // nLockTime must be below the height of the block that includes it: still non-final after
    // one block, final after two.
    rpc.call("generatetoaddress", json!([1, alice.address()]));
    let r = rpc.call("testmempoolaccept", json!([[to_hex(&tx)]]));
    assert_eq!(r[0]["reject-reason"], "non-final");
    rpc.call("generatetoaddress", json!([1, alice.address()]));
    let r = rpc.call("testmempoolaccept", json!([[to_hex(&tx)]]));
    assert_eq!(r[0]["allowed"], true, "{r}");

    // Version 3 is not standard in Qtum 27.1.
    let mut tx = unsigned(&[cb2], vec![(bob.p2wpkh(), v2 - 1_000_000)], 0xffff_fffd, 0);
    tx.version = bitcoin::transaction::Version(3);
    sign_p2wpkh(&mut tx, 0, &alice, v2);
    let r = rpc.call("testmempoolaccept", json!([[to_hex(&tx)]]));
    assert_eq!(r[0]["reject-reason"], "version");

    // A bad signature is a script failure.
    let mut tx = unsigned(&[cb2], vec![(bob.p2wpkh(), v2 - 1_000_000)], 0xffff_fffd, 0);
    sign_p2wpkh(&mut tx, 0, &bob, v2);
    let r = rpc.call("testmempoolaccept", json!([[to_hex(&tx)]]));
    assert!(
        r[0]["reject-reason"]
            .as_str()
            .unwrap_or("")
            .starts_with("mandatory-script-verify-flag-failed"),
        "{r}"
    );
}

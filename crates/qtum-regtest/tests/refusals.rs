//! The record of refused transactions (`RegtestNode::refused_transactions`): what a submission
//! over RPC, `send_transaction` and `fund_address` refused is kept with qtumd's reason; what
//! only tests acceptance, or was accepted, is not.

mod common;

use common::*;
use qtum_regtest::{NodeError, RegtestNode};
use serde_json::json;

#[test]
fn refused_submissions_are_recorded_with_qtumds_reason() {
    let node = RegtestNode::start().expect("start");
    let rpc = Rpc::new(&node);
    let alice = Key::new("alice");
    let bob = Key::new("bob");
    rpc.call("generatetoaddress", json!([2000, alice.address()]));
    assert!(node.refused_transactions().is_empty());

    let (cb1, value) = coinbase_of(&rpc, 1);
    let pay = |amount: u64, fee: u64| {
        let mut tx = unsigned(
            &[cb1],
            vec![
                (bob.p2wpkh(), amount),
                (alice.p2wpkh(), value - amount - fee),
            ],
            0xffff_fffd,
            0,
        );
        sign_p2wpkh(&mut tx, 0, &alice, value);
        tx
    };

    // A dust output (39,199 sat to P2WPKH): testing it records nothing, sending it does, once
    // however often it is sent.
    let dust = pay(39_199, 1_000_000);
    let r = rpc.call("testmempoolaccept", json!([[to_hex(&dust)]]));
    assert_eq!(r[0]["reject-reason"], "dust");
    assert!(matches!(
        node.test_transaction(&dust),
        Err(NodeError::Rejected(_))
    ));
    assert!(node.refused_transactions().is_empty());
    for _ in 0..2 {
        assert_eq!(
            rpc.err("sendrawtransaction", json!([to_hex(&dust)])),
            (-26, "dust".to_string())
        );
    }
    assert_eq!(
        node.refused_transactions(),
        vec![(dust.compute_txid(), "dust".to_string())]
    );

    // The same through the Rust method, and a payment of the harness wallet.
    assert!(matches!(
        node.send_transaction(&dust),
        Err(NodeError::Rejected(r)) if r.reason == "dust"
    ));
    assert_eq!(node.refused_transactions().len(), 1);
    assert!(matches!(
        node.fund_address(&bob.p2wpkh(), 1_000),
        Err(NodeError::Rejected(r)) if r.reason == "dust"
    ));
    let refused = node.refused_transactions();
    assert_eq!(refused.len(), 2);
    assert_ne!(refused[1].0, dust.compute_txid());
    assert_eq!(refused[1].1, "dust");

    // Under the relay fee: the reason with qtumd's debug text.
    let vsize = pay(100_000_000, 56_400).vsize() as u64;
    let cheap = pay(100_000_000, 399 * vsize);
    assert!(node.send_transaction(&cheap).is_err());
    assert_eq!(
        node.refused_transactions()[2],
        (
            cheap.compute_txid(),
            format!("min relay fee not met, {} < {}", 399 * vsize, 400 * vsize)
        )
    );

    // Accepted: nothing recorded. Sent again over RPC it is answered with its txid (as qtumd
    // does); once confirmed, sending it again is refused as already known.
    let good = pay(100_000_000, 400 * vsize);
    node.send_transaction(&good).expect("accepted");
    rpc.call("sendrawtransaction", json!([to_hex(&good)]));
    assert_eq!(node.refused_transactions().len(), 3);
    node.mine_blocks(1, &alice.p2wpkh()).expect("mine");
    assert_eq!(rpc.err("sendrawtransaction", json!([to_hex(&good)])).0, -27);
    assert_eq!(
        node.refused_transactions()[3],
        (good.compute_txid(), "txn-already-known".to_string())
    );
}

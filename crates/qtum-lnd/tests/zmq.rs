//! qtumd's ZMQ feed drives the daemon's sync: with polling set to once an hour, blocks and a
//! payment to the wallet are seen because the harness publishes `rawblock` and `rawtx` as
//! qtumd does. A publisher that goes away and comes back is subscribed to again.

mod common;

use common::*;
use qtum_regtest::{NodeConfig, RegtestNode};

fn zmq_harness(block: std::net::SocketAddr, tx: std::net::SocketAddr) -> RegtestNode {
    let harness = RegtestNode::start_with(NodeConfig {
        zmq_pub_raw_block: Some(block),
        zmq_pub_raw_tx: Some(tx),
        ..Default::default()
    })
    .expect("harness");
    let script = harness.wallet_script();
    harness.mine_blocks(2_001, &script).expect("mature");
    harness
}

fn synced_height(d: &Daemon) -> u64 {
    d.ok(&["getinfo"])["synced_height"].as_u64().unwrap_or(0)
}

#[test]
fn blocks_and_transactions_arrive_by_zmq() {
    let harness = zmq_harness(([127, 0, 0, 1], 0).into(), ([127, 0, 0, 1], 0).into());
    let block = harness
        .zmq_block_endpoint()
        .expect("block feed")
        .to_string();
    let tx = harness.zmq_tx_endpoint().expect("tx feed").to_string();
    assert_ne!(block, tx, "two sockets");
    let extra = format!("zmq_block = \"{block}\"\nzmq_tx = \"{tx}\"\n");
    // Polling once an hour: only the feed can make the daemon see what follows in time.
    let d = Daemon::start_with_chain(&harness, "zmq", 3_600, &extra);
    let start = synced_height(&d);
    mine(&harness, 3);
    wait_until("three blocks seen through rawblock", || {
        synced_height(&d) >= start + 3
    });

    // A payment to the wallet, still unconfirmed: seen through rawtx.
    let script = new_address_script(&d);
    harness.fund_address(&script, 1_234_567).expect("funded");
    wait_until("the unconfirmed payment seen", || {
        let b = d.ok(&["balance"]);
        b["unconfirmed_sat"].as_u64().unwrap_or(0) + b["pending_incoming_sat"].as_u64().unwrap_or(0)
            >= 1_234_567
    });
    mine(&harness, 1);
    wait_until("the payment confirmed", || {
        d.ok(&["balance"])["confirmed_sat"].as_u64().unwrap_or(0) >= 1_234_567
    });
    assert!(d.log().contains("ZMQ: subscribed"), "{}", d.log());
}

#[test]
fn one_socket_for_both_topics_and_a_publisher_that_comes_back() {
    let port = free_port();
    let addr: std::net::SocketAddr = ([127, 0, 0, 1], port).into();
    let harness = zmq_harness(addr, addr);
    let endpoint = harness.zmq_block_endpoint().expect("feed").to_string();
    assert_eq!(harness.zmq_tx_endpoint(), Some(endpoint.as_str()));
    let extra = format!("zmq_block = \"{endpoint}\"\nzmq_tx = \"{endpoint}\"\n");
    let d = Daemon::start_with_chain(&harness, "zmq-back", 3_600, &extra);
    let start = synced_height(&d);
    mine(&harness, 1);
    wait_until("a block seen", || synced_height(&d) > start);
    // The publisher goes away (qtumd restarting) and a new one takes the port: the daemon
    // subscribes again and keeps following.
    drop(harness);
    let _back = zmq_harness(addr, addr);
    wait_until("the daemon subscribed again", || {
        d.log().matches("ZMQ: subscribed").count() >= 2
    });
}

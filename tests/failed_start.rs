//! A `start` that fails part-way leaves nothing running. Alone in its own test binary: it
//! counts the process's threads, which other tests would disturb.

mod common;

use common::*;
use qtum_lightning::NodeError;

fn thread_count() -> usize {
    std::fs::read_dir("/proc/self/task")
        .map(|d| d.count())
        .expect("/proc/self/task")
}

#[test]
fn a_failed_start_leaks_no_thread_and_the_node_can_start_later() {
    let harness = harness();
    let mut config = config(&harness, "failed-start");
    // The second listening address is taken: start fails after the first was bound.
    let taken = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let taken_address = taken.local_addr().expect("addr");
    config.listening_addresses.push(taken_address);
    let node = build(config, 41);
    // Let the harness's and the builder's own threads settle first.
    std::thread::sleep(std::time::Duration::from_millis(500));
    let before = thread_count();
    for _ in 0..5 {
        let err = node.start().expect_err("the address is taken");
        assert!(matches!(err, NodeError::Listen(_)), "{err}");
    }
    wait_until("threads of the failed starts gone", || {
        thread_count() <= before
    });
    assert!(!node.status().is_running);
    drop(taken);
    node.start().expect("starts once the address is free");
    assert!(node.status().is_running);
}

//! `qtum-ln demo` end to end: on its own in-process harness (what `make demo` runs), and with
//! `--rpc` against a separate regtest node, the path a real `qtumd -regtest` takes (no wallet
//! RPC there: the demo mines 2,001 blocks to its node and waits out the coinbase maturity).

use std::process::Command;

fn run(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_qtum-ln"))
        .args(args)
        .output()
        .expect("runs");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn assert_journey(stdout: &str) {
    for step in [
        "1. Two Lightning nodes",
        "2. Fund",
        "3. Alice opens",
        "4. Bob asks for 1 satoshi",
        "5. A larger payment",
        "6. Alice closes",
    ] {
        assert!(stdout.contains(step), "missing step {step:?} in:\n{stdout}");
    }
    assert!(stdout.contains("lnqcrt"), "a Qtum regtest invoice is shown");
    assert!(
        stdout.contains("bob 0.50000001 QTUM"),
        "bob keeps 0.5 QTUM + 1 sat:\n{stdout}"
    );
}

#[test]
fn demo_on_its_own_harness() {
    let (code, stdout, stderr) = run(&["demo"]);
    assert_eq!(code, 0, "{stdout}\n{stderr}");
    assert_journey(&stdout);
}

#[test]
fn demo_against_an_external_regtest_node() {
    let node = qtum_regtest::node::RegtestNode::start().expect("regtest node");
    let url = format!(
        "http://{}:{}@{}",
        node.rpc_user(),
        node.rpc_password(),
        node.url().trim_start_matches("http://")
    );
    let (code, stdout, stderr) = run(&["demo", "--rpc", &url]);
    assert_eq!(code, 0, "{stdout}\n{stderr}");
    assert!(stdout.contains("mining 2,001 blocks"), "{stdout}");
    assert_journey(&stdout);
}

#[test]
fn demo_reports_a_dead_node_and_exits_non_zero() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("port");
    let (code, _, stderr) = run(&["demo", "--rpc", &format!("http://u:p@127.0.0.1:{port}")]);
    assert_eq!(code, 1);
    assert!(stderr.contains("qtum-ln demo failed"), "{stderr}");
    let (code, _, stderr) = run(&["demo", "--rpc"]);
    assert_eq!(code, 2, "{stderr}");
}

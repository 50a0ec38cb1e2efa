//! The `qtum-esplora` binary takes the RPC password from a file or the environment, never from
//! its command line (which every user of the machine can read).

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

use qtum_regtest::node::RegtestNode;

fn esplora() -> Command {
    Command::new(env!("CARGO_BIN_EXE_qtum-esplora"))
}

#[test]
fn a_password_on_the_command_line_is_refused() {
    let out = esplora()
        .args([
            "--rpc-url",
            "http://127.0.0.1:1",
            "--rpc-user",
            "u",
            "--rpc-password",
            "hunter2",
        ])
        .output()
        .expect("runs");
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("--rpc-password-file"), "{err}");
    assert!(!err.contains("hunter2"), "{err}");

    let out = esplora()
        .args(["--rpc-url", "http://127.0.0.1:1", "--rpc-user", "u"])
        .env_remove("QTUM_ESPLORA_RPC_PASSWORD")
        .output()
        .expect("runs");
    assert_eq!(out.status.code(), Some(2), "no password anywhere");
}

/// Starts the server against the harness with the password from `how` and its index in
/// `data_dir`, and reads the tip height through it (which needs the RPC login to work).
fn serves_with(
    harness: &RegtestNode,
    data_dir: &std::path::Path,
    how: impl FnOnce(&mut Command),
) -> u32 {
    let mut cmd = esplora();
    cmd.args([
        "--rpc-url",
        harness.url(),
        "--rpc-user",
        harness.rpc_user(),
        "--listen",
        "127.0.0.1:0",
    ])
    .arg("--data-dir")
    .arg(data_dir)
    .env_remove("QTUM_ESPLORA_RPC_PASSWORD")
    .stdout(Stdio::piped());
    how(&mut cmd);
    let mut child = cmd.spawn().expect("spawn");
    let mut line = String::new();
    BufReader::new(child.stdout.take().expect("stdout"))
        .read_line(&mut line)
        .expect("first line");
    let url = line
        .trim()
        .rsplit(' ')
        .next()
        .expect("listening on URL")
        .to_string();
    let height = minreq::get(format!("{url}/blocks/tip/height"))
        .send()
        .map(|r| r.as_str().unwrap_or("").trim().parse::<u32>());
    let _ = child.kill();
    let _ = child.wait();
    height.expect("request").expect("a height")
}

#[test]
fn the_password_comes_from_a_file_or_the_environment() {
    let harness = RegtestNode::start().expect("harness");
    let dir = std::env::temp_dir().join(format!("qtum-esplora-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    let file = dir.join("rpc-password");
    std::fs::write(&file, format!("{}\n", harness.rpc_password())).expect("write");

    let index_dir = dir.join("index");
    let from_file = serves_with(&harness, &index_dir, |c| {
        c.arg("--rpc-password-file").arg(&file);
    });
    assert_eq!(from_file, harness.height());
    let from_env = serves_with(&harness, &index_dir, |c| {
        c.env("QTUM_ESPLORA_RPC_PASSWORD", harness.rpc_password());
    });
    assert_eq!(from_env, harness.height());
    // The binary keeps its index on disk.
    assert!(index_dir.join("regtest").join("index.sqlite").exists());
    let _ = std::fs::remove_dir_all(&dir);
}

//! `qtum-ln demo-server`: the Qtum Eclair tutorial's server part, for a person to watch. Two
//! `qtum-lnd` daemons run as processes of their own on regtest; every step is a `qtum-ln`
//! command against their APIs, printed with its answer: fund, open by `pubkey@host:port`, wait
//! for the confirmations, a 1-satoshi invoice, pay, close, funds back on chain.
//!
//! Without `--rpc` the chain is a regtest harness in this process; with `--rpc URL`, an external
//! `qtumd -regtest` (as `qtum-ln demo`). The daemon binary is looked for next to this one.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::demo::{fund_address, open_chain, qtum, Chain};

const CHANNEL_SAT: u64 = 10 * 100_000_000;
const FUND_SAT: u64 = 20 * 100_000_000;
/// Bounds a hang only; nothing is measured.
const STEP_TIMEOUT: Duration = Duration::from_secs(300);

struct Daemon {
    name: &'static str,
    config: PathBuf,
    p2p_port: u16,
    dir: PathBuf,
    child: Child,
}

impl Drop for Daemon {
    fn drop(&mut self) {
        // SIGTERM first: the daemon stops gracefully; killed only if it does not.
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn sibling(name: &str) -> Result<PathBuf, String> {
    let me = std::env::current_exe().map_err(|e| format!("where am I: {e}"))?;
    let path = me.with_file_name(format!("{name}{}", std::env::consts::EXE_SUFFIX));
    if path.exists() {
        Ok(path)
    } else {
        Err(format!(
            "{} not found: build it first (scripts/build-daemon.sh, or cargo build -p qtum-lnd)",
            path.display()
        ))
    }
}

fn start_daemon(chain: &Chain, dir: &Path, name: &'static str) -> Result<Daemon, String> {
    let dir = dir.join(name);
    std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let api_port = crate::demo::free_port()?;
    let p2p_port = crate::demo::free_port()?;
    let config = dir.join("qtum-lnd.toml");
    let text = format!(
        "network = \"regtest\"\n\n[node]\nalias = \"{name}\"\nlisten = [\"127.0.0.1:{p2p_port}\"]\n\n\
         [api]\nlisten = \"127.0.0.1:{api_port}\"\npassword_file = \"api-password\"\n\n\
         [chain]\nrpc_url = \"{url}\"\nrpc_user = \"{user}\"\nrpc_password = \"{password}\"\n\
         poll_interval_secs = 1\n\n[log]\nfile = \"qtum-lnd.log\"\n",
        url = chain.url,
        user = chain.user,
        password = chain.password,
    );
    std::fs::write(&config, text).map_err(|e| format!("{}: {e}", config.display()))?;
    // A random API password: 32 hex digits from the system's randomness.
    let mut bytes = [0u8; 16];
    std::fs::File::open("/dev/urandom")
        .and_then(|mut f| std::io::Read::read_exact(&mut f, &mut bytes))
        .map_err(|e| format!("no randomness for the API password: {e}"))?;
    let password: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    std::fs::write(dir.join("api-password"), password)
        .map_err(|e| format!("{}: {e}", dir.display()))?;
    let child = Command::new(sibling("qtum-lnd")?)
        .arg("--config")
        .arg(&config)
        .stdout(Stdio::null())
        .spawn()
        .map_err(|e| format!("cannot start qtum-lnd: {e}"))?;
    let mut daemon = Daemon {
        name,
        config,
        p2p_port,
        dir,
        child,
    };
    let start = Instant::now();
    loop {
        if let Ok(Some(status)) = daemon.child.try_wait() {
            return Err(format!(
                "{name}'s daemon exited ({status}); see {}",
                daemon.dir.join("qtum-lnd.log").display()
            ));
        }
        if cli_quiet(&daemon, &["getinfo"]).is_ok() {
            return Ok(daemon);
        }
        if start.elapsed() > STEP_TIMEOUT {
            return Err(format!("{name}'s API did not come up"));
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// `qtum-ln --config <daemon's file> args`, without printing.
fn cli_quiet(d: &Daemon, args: &[&str]) -> Result<Value, String> {
    let out = Command::new(std::env::current_exe().map_err(|e| e.to_string())?)
        .arg("--config")
        .arg(&d.config)
        .args(args)
        .output()
        .map_err(|e| format!("cannot run qtum-ln: {e}"))?;
    if !out.status.success() {
        return Err(String::from_utf8_lossy(&out.stderr).trim().to_string());
    }
    serde_json::from_slice(&out.stdout).map_err(|e| format!("qtum-ln printed no JSON: {e}"))
}

/// The same, printed as a person would type it, with the answer.
fn cli(d: &Daemon, args: &[&str]) -> Result<Value, String> {
    println!(
        "  $ qtum-ln --config {}/qtum-lnd.toml {}",
        d.name,
        args.join(" ")
    );
    let value = cli_quiet(d, args)?;
    let text = serde_json::to_string_pretty(&value).unwrap_or_default();
    for line in text.lines().take(24) {
        println!("    {line}");
    }
    Ok(value)
}

/// Polls `done` (mining a block between polls when `mine`) until it holds.
fn wait(
    chain: &Chain,
    what: &str,
    mine: bool,
    mut done: impl FnMut() -> bool,
) -> Result<(), String> {
    let start = Instant::now();
    while !done() {
        if start.elapsed() > STEP_TIMEOUT {
            return Err(format!("gave up waiting for: {what}"));
        }
        if mine {
            chain.mine(1, &chain.mine_to)?;
        }
        std::thread::sleep(Duration::from_millis(500));
    }
    println!("  … {what}");
    Ok(())
}

fn channel_of(d: &Daemon) -> Option<Value> {
    cli_quiet(d, &["channels"])
        .ok()?
        .as_array()?
        .first()
        .cloned()
}

/// Runs the journey; `rpc` is an external regtest node's `http://user:pass@host:port`.
pub fn run(rpc: Option<&str>) -> Result<(), String> {
    let (harness, chain) = open_chain(rpc)?;
    let dir = std::env::temp_dir().join(format!("qtum-ln-demo-server-{}", std::process::id()));
    println!("\n1. Two qtum-lnd daemons (data in {})", dir.display());
    let alice = start_daemon(&chain, &dir, "alice")?;
    let bob = start_daemon(&chain, &dir, "bob")?;
    let bob_info = cli(&bob, &["getinfo"])?;
    let bob_uri = format!(
        "{}@127.0.0.1:{}",
        bob_info["node_id"].as_str().unwrap_or_default(),
        bob.p2p_port
    );

    println!("\n2. Fund alice's on-chain wallet with {}", qtum(FUND_SAT));
    let address = cli(&alice, &["newaddress"])?["address"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    fund_address(harness.as_ref(), &chain, &address, FUND_SAT)?;
    wait(&chain, "funds confirmed", true, || {
        cli_quiet(&alice, &["balance"])
            .ok()
            .and_then(|b| b["spendable_sat"].as_u64())
            .is_some_and(|s| s >= FUND_SAT)
    })?;
    cli(&alice, &["balance"])?;

    println!(
        "\n3. Alice opens a {} channel to bob by his URI",
        qtum(CHANNEL_SAT)
    );
    cli(&alice, &["open", &bob_uri, &CHANNEL_SAT.to_string()])?;
    wait(&chain, "funding transaction broadcast", false, || {
        channel_of(&alice).is_some_and(|c| !c["funding_txo"].is_null())
    })?;

    println!("\n4. Wait for the confirmations (a block every half second here; 32 s on Qtum)");
    wait(&chain, "channel usable on both sides", true, || {
        channel_of(&alice).is_some_and(|c| c["is_usable"] == true)
            && channel_of(&bob).is_some_and(|c| c["is_usable"] == true)
    })?;
    let channel = cli(&alice, &["channels"])?;
    let channel_id = channel[0]["channel_id"]
        .as_str()
        .unwrap_or_default()
        .to_string();

    println!("\n5. Bob asks for 1 satoshi; alice pays");
    let invoice = cli(
        &bob,
        &["invoice", "--amount-msat", "1000", "--description", "1 sat"],
    )?;
    let invoice = invoice["invoice"].as_str().unwrap_or_default().to_string();
    cli(&alice, &["decodeinvoice", &invoice])?;
    let paid = cli(&alice, &["pay", &invoice])?;
    let payment_id = paid["payment_id"].as_str().unwrap_or_default().to_string();
    wait(&chain, "payment settled", false, || {
        cli_quiet(&alice, &["payment", &payment_id]).is_ok_and(|p| p["status"] != "pending")
    })?;
    let payment = cli(&alice, &["payment", &payment_id])?;
    if payment["status"] != "succeeded" {
        return Err(format!("the payment failed: {}", payment["failure_reason"]));
    }
    cli(&bob, &["payments", "--direction", "inbound"])?;

    println!("\n6. Alice closes the channel; the funds come back on chain");
    let before = cli_quiet(&alice, &["balance"])?["confirmed_sat"]
        .as_u64()
        .unwrap_or(0);
    cli(&alice, &["close", &channel_id])?;
    wait(&chain, "closing transaction confirmed", true, || {
        cli_quiet(&alice, &["channels"]).is_ok_and(|c| c.as_array().is_some_and(Vec::is_empty))
            && cli_quiet(&alice, &["balance"])
                .ok()
                .and_then(|b| b["confirmed_sat"].as_u64())
                .is_some_and(|c| c > before)
    })?;
    cli(&alice, &["balance"])?;
    cli(&bob, &["balance"])?;
    println!(
        "  (bob's 1 sat stays off chain: an output below Qtum's dust limit of 72,800 sat cannot \
         be created, so the closing transaction leaves it to the fee)"
    );

    println!("\n7. Stopping both daemons (SIGTERM)");
    drop(alice);
    drop(bob);
    println!("\nDone: the tutorial's server journey, through qtum-lnd's API and qtum-ln.");
    Ok(())
}

//! What the daemon's tests share: daemons in processes of their own on the regtest harness,
//! driven through the `qtum-ln` command line.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use qtum_regtest::node::RegtestNode;
use serde_json::Value;

static COUNTER: AtomicU32 = AtomicU32::new(0);

pub fn temp_dir(name: &str) -> PathBuf {
    let n = COUNTER.fetch_add(1, Ordering::SeqCst);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    let dir = std::env::temp_dir().join(format!(
        "qtum-lnd-test-{name}-{}-{n}-{nanos}",
        std::process::id()
    ));
    std::fs::create_dir_all(&dir).expect("temp dir");
    dir
}

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// The daemon binary of this package.
pub fn daemon_bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_qtum-lnd"))
}

/// The `qtum-ln` binary, built next to the daemon (by `cargo test --workspace`). Built here
/// when it is missing or older than the daemon: `cargo test -p qtum-lnd` does not build
/// another package's binaries, and an old one would test old code (its config reader).
pub fn cli_bin() -> PathBuf {
    static BUILT: std::sync::Once = std::sync::Once::new();
    let bin = daemon_bin().with_file_name(format!("qtum-ln{}", std::env::consts::EXE_SUFFIX));
    let modified = |p: &Path| std::fs::metadata(p).and_then(|m| m.modified()).ok();
    let stale = match (modified(&bin), modified(&daemon_bin())) {
        (Some(cli), Some(daemon)) => cli < daemon,
        _ => true,
    };
    BUILT.call_once(|| {
        if !stale {
            return;
        }
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let status = Command::new(cargo)
            .args(["build", "-p", "qtum-ln"])
            .status()
            .expect("cargo runs");
        assert!(status.success(), "cargo build -p qtum-ln");
    });
    bin
}

/// A harness with mature coins.
pub fn harness() -> RegtestNode {
    let harness = RegtestNode::start().expect("regtest harness");
    let script = harness.wallet_script();
    harness
        .mine_blocks(2_001, &script)
        .expect("mine to maturity");
    harness
}

pub fn mine(harness: &RegtestNode, blocks: u32) {
    let script = harness.wallet_script();
    harness.mine_blocks(blocks, &script).expect("mine");
}

/// Poll `done` until it holds (this bounds a hang; no timing is asserted).
pub fn wait_until(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(180);
    while !done() {
        assert!(Instant::now() < deadline, "gave up waiting for: {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// The script of a fresh address of daemon `d` (asked through the CLI).
pub fn new_address_script(d: &Daemon) -> bitcoin::ScriptBuf {
    let address = d.ok(&["newaddress"])["address"]
        .as_str()
        .expect("address")
        .to_string();
    qtum_lightning::qtum::address::QtumAddress::from_str_for(
        &address,
        qtum_lightning::qtum::network::Network::Regtest,
    )
    .expect("regtest address")
    .script_pubkey()
}

/// What one `qtum-ln` run gave.
#[derive(Debug)]
pub struct Run {
    pub status: i32,
    pub json: Value,
    pub stderr: String,
}

/// A daemon in a process of its own.
pub struct Daemon {
    pub name: String,
    pub dir: PathBuf,
    pub config: PathBuf,
    pub api: String,
    pub password: String,
    pub p2p_port: u16,
    child: Option<Child>,
}

pub const PASSWORD_PREFIX: &str = "test-api-password-";

/// The config file of a regtest daemon reading `harness`; `extra` is appended (more sections).
pub fn config_text(
    harness: &RegtestNode,
    dir: &Path,
    api_port: u16,
    p2p_port: u16,
    password: &str,
    extra: &str,
) -> String {
    config_text_polling(harness, dir, api_port, p2p_port, password, 1, extra)
}

/// As [`config_text`], polling the chain every `poll_secs`; `chain_extra` goes into `[chain]`.
pub fn config_text_polling(
    harness: &RegtestNode,
    dir: &Path,
    api_port: u16,
    p2p_port: u16,
    password: &str,
    poll_secs: u64,
    chain_extra: &str,
) -> String {
    let (chain_extra, extra) = if chain_extra.trim_start().starts_with('[') {
        ("", chain_extra)
    } else {
        (chain_extra, "")
    };
    format!(
        r##"network = "regtest"
data_dir = "{dir}"

[node]
alias = "daemon"
color = "#112233"
listen = ["127.0.0.1:{p2p_port}"]

[api]
listen = "127.0.0.1:{api_port}"
password = "{password}"

[chain]
rpc_url = "{url}"
rpc_user = "{user}"
rpc_password = "{rpc_password}"
poll_interval_secs = {poll_secs}
{chain_extra}
[channels]
to_self_delay_blocks = 5400

[log]
level = "debug"
file = "daemon.log"
{extra}
"##,
        dir = dir.display(),
        url = harness.url(),
        user = harness.rpc_user(),
        rpc_password = harness.rpc_password(),
    )
}

impl Daemon {
    /// Writes a config and starts the daemon; returns once its API answers.
    pub fn start(harness: &RegtestNode, name: &str) -> Daemon {
        Daemon::start_with(harness, name, "")
    }

    pub fn start_with(harness: &RegtestNode, name: &str, extra: &str) -> Daemon {
        Daemon::start_with_chain(harness, name, 1, extra)
    }

    /// A daemon polling the chain every `poll_secs`; `extra` is more `[chain]` keys, or whole
    /// sections when it starts with one.
    pub fn start_with_chain(
        harness: &RegtestNode,
        name: &str,
        poll_secs: u64,
        extra: &str,
    ) -> Daemon {
        let dir = temp_dir(name);
        let api_port = free_port();
        let p2p_port = free_port();
        let password = format!("{PASSWORD_PREFIX}{name}");
        let config = dir.join("qtum-lnd.toml");
        std::fs::write(
            &config,
            config_text_polling(
                harness, &dir, api_port, p2p_port, &password, poll_secs, extra,
            ),
        )
        .expect("config written");
        let mut d = Daemon {
            name: name.into(),
            dir,
            config,
            api: format!("http://127.0.0.1:{api_port}"),
            password,
            p2p_port,
            child: None,
        };
        d.spawn();
        d
    }

    /// Starts the process (again) on the same config and waits for the API.
    pub fn spawn(&mut self) {
        let child = Command::new(daemon_bin())
            .arg("--config")
            .arg(&self.config)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("daemon spawns");
        self.child = Some(child);
        wait_until(&format!("{} API up", self.name), || {
            if let Some(status) = self
                .child
                .as_mut()
                .and_then(|c| c.try_wait().ok().flatten())
            {
                panic!(
                    "{} exited at start: {status}; log: {}",
                    self.name,
                    self.log()
                );
            }
            self.cli(&["getinfo"]).status == 0
        });
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("daemon.log")).unwrap_or_default()
    }

    /// `qtum-ln --config <this daemon's file> args...`.
    pub fn cli(&self, args: &[&str]) -> Run {
        let mut full = vec!["--config", self.config.to_str().expect("utf-8 path")];
        full.extend_from_slice(args);
        run_cli(&full, &[])
    }

    /// `cli`, which must succeed.
    pub fn ok(&self, args: &[&str]) -> Value {
        let run = self.cli(args);
        assert_eq!(run.status, 0, "{} {args:?}: {}", self.name, run.stderr);
        run.json
    }

    pub fn node_id(&self) -> String {
        self.ok(&["getinfo"])["node_id"]
            .as_str()
            .expect("node id")
            .to_string()
    }

    pub fn uri(&self) -> String {
        format!("{}@127.0.0.1:{}", self.node_id(), self.p2p_port)
    }

    /// SIGKILL after `delay`, from another thread (so it lands while the caller goes on);
    /// `reap` collects the process.
    pub fn kill_after(&self, delay: Duration) -> std::thread::JoinHandle<()> {
        let pid = self.child.as_ref().expect("running").id().to_string();
        std::thread::spawn(move || {
            std::thread::sleep(delay);
            let _ = Command::new("kill").args(["-KILL", &pid]).status();
        })
    }

    /// Waits up to `bound` for the process to exit by itself; its status, or `None` if it is
    /// still running (then it is left running).
    pub fn wait_exit(&mut self, bound: Duration) -> Option<std::process::ExitStatus> {
        let deadline = Instant::now() + bound;
        loop {
            let child = self.child.as_mut().expect("running");
            if let Some(status) = child.try_wait().expect("wait") {
                self.child = None;
                return Some(status);
            }
            if Instant::now() > deadline {
                return None;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Waits for the killed process to be gone.
    pub fn reap(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.wait();
        }
    }

    /// SIGTERM, and the exit status.
    pub fn terminate(&mut self) -> std::process::ExitStatus {
        let mut child = self.child.take().expect("running");
        let _ = Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status();
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Some(status) = child.try_wait().expect("wait") {
                return status;
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                panic!("{} did not stop within 60 s of SIGTERM", self.name);
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// Runs `qtum-ln` with `args` and extra environment.
pub fn run_cli(args: &[&str], env: &[(&str, &str)]) -> Run {
    let mut command = Command::new(cli_bin());
    command
        .args(args)
        .env_remove("QTUM_LN_API")
        .env_remove("QTUM_LN_PASSWORD");
    for (k, v) in env {
        command.env(k, v);
    }
    let out = command.output().expect("qtum-ln runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    Run {
        status: out.status.code().unwrap_or(-1),
        json: serde_json::from_str(&stdout).unwrap_or(Value::Null),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// One raw HTTP/1.1 request to `api` (`http://host:port`); the status and the body's JSON.
pub fn raw_request(api: &str, head: &str, body: &[u8]) -> (u16, Value) {
    use std::io::{Read, Write};
    let addr = api.trim_start_matches("http://");
    let mut stream = std::net::TcpStream::connect(addr).expect("connects");
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .expect("timeout");
    let request = format!(
        "{head}\r\nHost: {addr}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    stream.write_all(request.as_bytes()).expect("head sent");
    // A server refusing an oversize body may close before reading all of it.
    let _ = stream.write_all(body);
    let mut answer = Vec::new();
    let _ = stream.read_to_end(&mut answer);
    let text = String::from_utf8_lossy(&answer);
    let status = text
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let json = text
        .split_once("\r\n\r\n")
        .and_then(|(_, b)| serde_json::from_str(b).ok())
        .unwrap_or(Value::Null);
    (status, json)
}

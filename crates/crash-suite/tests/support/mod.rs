//! What the crash scenarios share: settings from the environment, a seeded RNG, the regtest
//! harness, `crash-node` child processes (start, call, kill, restart), bounded waits, and the
//! on-chain accounting of a closed channel.

#![allow(dead_code)]

use std::collections::{BTreeMap, HashSet};
use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use bitcoin::{OutPoint, ScriptBuf, Transaction, Txid};
use qtum_lightning::qtum::address::QtumAddress;
use qtum_lightning::qtum::network::Network;
use qtum_regtest::node::RegtestNode;
use serde_json::Value;

pub const QTUM: u64 = 100_000_000;

/// How long any single wait may last before the test gives up. Only a bound on a hang: nothing
/// asserts how fast anything is.
pub const WAIT_BOUND: Duration = Duration::from_secs(120);

// ----- settings -----

/// The knobs a run takes from the environment.
pub struct Settings {
    /// Seed of every random choice (delays, victims, amounts): `CRASH_SEED`.
    pub seed: u64,
    /// Kills in the payments scenario: `KILLS` (default 40).
    pub kills_payments: u32,
    /// Kills during payments with the state in PostgreSQL: `KILLS_POSTGRES` (default 20).
    pub kills_postgres: u32,
    /// Kills during channel opens: `KILLS_OPEN` (default 6).
    pub kills_open: u32,
    /// Kills during cooperative closes: `KILLS_CLOSE` (default 6).
    pub kills_close: u32,
    /// Kills during force-close sweeps: `KILLS_SWEEP` (default 4).
    pub kills_sweep: u32,
    /// Kills while hold invoices are claimed: `KILLS_HOLD` (default 6).
    pub kills_hold: u32,
    /// Keep the nodes' directories after a successful run: `CRASH_KEEP=1`.
    pub keep: bool,
}

fn env_number(name: &str, default: u64) -> u64 {
    match std::env::var(name) {
        Ok(text) => text
            .trim()
            .parse()
            .unwrap_or_else(|_| panic!("{name}={text} is not a number")),
        Err(_) => default,
    }
}

impl Settings {
    pub fn from_env() -> Settings {
        // One seed for the whole run, drawn once, whichever scenario asks first.
        static SEED: std::sync::OnceLock<u64> = std::sync::OnceLock::new();
        let seed = *SEED.get_or_init(|| match std::env::var("CRASH_SEED") {
            Ok(_) => env_number("CRASH_SEED", 0),
            Err(_) => {
                let now = std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .unwrap_or_default();
                now.as_secs()
                    ^ (u64::from(now.subsec_nanos()) << 20)
                    ^ u64::from(std::process::id())
            }
        });
        let count = |name: &str, default: u64| -> u32 {
            u32::try_from(env_number(name, default)).unwrap_or_else(|_| panic!("{name} too large"))
        };
        Settings {
            seed,
            kills_payments: count("KILLS", 40),
            kills_postgres: count("KILLS_POSTGRES", 20),
            kills_open: count("KILLS_OPEN", 6),
            kills_close: count("KILLS_CLOSE", 6),
            kills_sweep: count("KILLS_SWEEP", 4),
            kills_hold: count("KILLS_HOLD", 6),
            keep: std::env::var("CRASH_KEEP").is_ok_and(|v| v == "1"),
        }
    }

    /// The RNG of one scenario: its own stream of the run's seed, so a scenario replays on its
    /// own with the same `CRASH_SEED`.
    pub fn rng(&self, scenario: &str) -> Rng {
        let mut mix = self.seed;
        for b in scenario.bytes() {
            mix = mix.rotate_left(8) ^ u64::from(b);
        }
        println!(
            "crash-suite {scenario}: seed {} (replay with CRASH_SEED={})",
            self.seed, self.seed
        );
        Rng::new(mix)
    }
}

/// The scenarios share the machine's two cores badly: run them one at a time.
pub fn serial() -> MutexGuard<'static, ()> {
    static SERIAL: Mutex<()> = Mutex::new(());
    SERIAL.lock().unwrap_or_else(|p| p.into_inner())
}

// ----- random numbers -----

/// SplitMix64: small, seedable, good enough to pick delays and amounts.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `lo..hi` (`hi > lo`).
    pub fn range(&mut self, lo: u64, hi: u64) -> u64 {
        assert!(hi > lo, "empty range {lo}..{hi}");
        lo + self.next_u64() % (hi - lo)
    }

    /// True with probability `num / den`.
    pub fn chance(&mut self, num: u64, den: u64) -> bool {
        self.range(0, den) < num
    }

    pub fn millis(&mut self, below: u64) -> Duration {
        Duration::from_millis(self.range(0, below.max(1)))
    }
}

// ----- files -----

/// A run's directory: node stores and logs. Removed after a successful run; kept (and its path
/// and the logs' last lines printed) when the test fails.
pub struct RunDir {
    pub path: PathBuf,
    keep: bool,
}

impl RunDir {
    pub fn new(scenario: &str, keep: bool) -> RunDir {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0);
        let path = std::env::temp_dir().join(format!(
            "qtum-ln-crash-{scenario}-{}-{nanos}",
            std::process::id()
        ));
        std::fs::create_dir_all(&path).expect("run directory");
        RunDir { path, keep }
    }
}

impl Drop for RunDir {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!(
                "crash-suite: node data and logs kept in {}",
                self.path.display()
            );
            if let Ok(entries) = std::fs::read_dir(&self.path) {
                for entry in entries.flatten() {
                    let p = entry.path();
                    if p.extension().is_some_and(|e| e == "log") {
                        eprintln!("--- last lines of {} ---", p.display());
                        for line in log_tail(&p, 40) {
                            eprintln!("{line}");
                        }
                    }
                }
            }
        } else if self.keep {
            println!(
                "crash-suite: node data and logs kept in {}",
                self.path.display()
            );
        } else {
            let _ = std::fs::remove_dir_all(&self.path);
        }
    }
}

/// The last `n` lines of a log file.
pub fn log_tail(path: &Path, n: usize) -> Vec<String> {
    let Ok(file) = File::open(path) else {
        return Vec::new();
    };
    let lines: Vec<String> = BufReader::new(file).lines().map_while(Result::ok).collect();
    lines[lines.len().saturating_sub(n)..].to_vec()
}

/// Lines of a log file that contain `needle`.
pub fn log_grep(path: &Path, needle: &str) -> Vec<String> {
    let Ok(file) = File::open(path) else {
        return Vec::new();
    };
    BufReader::new(file)
        .lines()
        .map_while(Result::ok)
        .filter(|l| l.contains(needle))
        .collect()
}

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

// ----- a chain server that goes away -----

/// A TCP forwarder in front of the harness's RPC port that the test switches off and on: while
/// off, every new connection is closed at once and the open ones are cut, as when the chain
/// server is down or the phone has no route to it.
pub struct ChainSwitch {
    url: String,
    on: Arc<AtomicBool>,
    stop: Arc<AtomicBool>,
    /// Each open connection's two sockets, by a number of its own (removed when it ends).
    open: Arc<Mutex<BTreeMap<u64, Vec<std::net::TcpStream>>>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl ChainSwitch {
    /// A forwarder to `upstream_url` (`http://127.0.0.1:PORT…`), switched on.
    pub fn start(upstream_url: &str) -> ChainSwitch {
        let rest = upstream_url
            .strip_prefix("http://")
            .expect("an http:// URL");
        let (authority, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
        let upstream: std::net::SocketAddr = authority.parse().expect("an IP:port URL");
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        listener.set_nonblocking(true).expect("nonblocking");
        let url = format!("http://{}{path}", listener.local_addr().expect("address"));
        let on = Arc::new(AtomicBool::new(true));
        let stop = Arc::new(AtomicBool::new(false));
        let open: Arc<Mutex<BTreeMap<u64, Vec<std::net::TcpStream>>>> = Arc::default();
        let thread = {
            let (on, stop, open) = (on.clone(), stop.clone(), open.clone());
            std::thread::spawn(move || {
                let mut number = 0u64;
                while !stop.load(Ordering::Acquire) {
                    let client = match listener.accept() {
                        Ok((client, _)) => client,
                        Err(_) => {
                            std::thread::sleep(Duration::from_millis(10));
                            continue;
                        }
                    };
                    if !on.load(Ordering::Acquire) {
                        continue;
                    }
                    let _ = client.set_nonblocking(false);
                    let Ok(server) = std::net::TcpStream::connect(upstream) else {
                        continue;
                    };
                    let pipes = (client.try_clone(), server.try_clone());
                    let (Ok(client_reader), Ok(server_reader)) = pipes else {
                        continue;
                    };
                    number += 1;
                    let sockets = [client.try_clone(), server.try_clone()];
                    lock(&open).insert(number, sockets.into_iter().flatten().collect());
                    for (mut from, mut to) in [(client_reader, server), (server_reader, client)] {
                        let open = open.clone();
                        std::thread::spawn(move || {
                            let _ = std::io::copy(&mut from, &mut to);
                            let _ = to.shutdown(std::net::Shutdown::Both);
                            let _ = from.shutdown(std::net::Shutdown::Both);
                            lock(&open).remove(&number);
                        });
                    }
                }
            })
        };
        ChainSwitch {
            url,
            on,
            stop,
            open,
            thread: Some(thread),
        }
    }

    /// The URL to give a node instead of the harness's.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Switch off (cutting every open connection) or on again.
    pub fn set(&self, on: bool) {
        self.on.store(on, Ordering::Release);
        if !on {
            for stream in lock(&self.open).values().flatten() {
                let _ = stream.shutdown(std::net::Shutdown::Both);
            }
        }
    }
}

impl Drop for ChainSwitch {
    fn drop(&mut self) {
        self.set(false);
        self.stop.store(true, Ordering::Release);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

// ----- the regtest harness -----

/// A harness with mature coins (2,001 blocks), serving RPC on loopback to the node processes.
pub fn harness() -> RegtestNode {
    let harness = RegtestNode::start().expect("regtest harness");
    mine(&harness, 2_001);
    harness
}

pub fn mine(harness: &RegtestNode, blocks: u32) {
    let script = harness.wallet_script();
    harness.mine_blocks(blocks, &script).expect("mine");
}

pub fn script_of(address: &str) -> ScriptBuf {
    QtumAddress::from_str_for(address, Network::Regtest)
        .expect("regtest address")
        .script_pubkey()
}

/// Poll `done` until it holds; panic with `what` after [`WAIT_BOUND`].
pub fn wait_until(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + WAIT_BOUND;
    while !done() {
        assert!(Instant::now() < deadline, "gave up waiting for: {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

// ----- node processes -----

/// How a `crash-node` is started; the same spec restarts it on the same storage.
#[derive(Clone)]
pub struct NodeSpec {
    pub name: &'static str,
    pub dir: PathBuf,
    pub log: PathBuf,
    pub seed: u8,
    pub port: u16,
    pub rpc_url: String,
    pub rpc_user: String,
    pub rpc_password: String,
    pub extra: Vec<String>,
    /// The node's PostgreSQL database (`None`: SQLite in `dir`).
    pub postgres_url: Option<String>,
}

/// One answer of a node.
#[derive(Debug, Clone)]
pub enum Reply {
    Ok(Value),
    Err {
        kind: String,
        message: String,
    },
    /// The process is gone (killed, or it died) before answering.
    Died,
}

impl Reply {
    pub fn is_err_kind(&self, wanted: &str) -> bool {
        matches!(self, Reply::Err { kind, .. } if kind == wanted)
    }
}

/// A running (or killed) `crash-node` process.
pub struct NodeProc {
    pub spec: NodeSpec,
    child: Arc<Mutex<Child>>,
    stdin: ChildStdin,
    answers: Receiver<String>,
    pub node_id: String,
    pub uri: String,
    /// Times the process was started.
    pub starts: u32,
    /// How far the log was searched for panics.
    log_checked: u64,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

fn spawn(spec: &NodeSpec, start: u32) -> (Child, ChildStdin, Receiver<String>) {
    let mut log = OpenOptions::new()
        .create(true)
        .append(true)
        .open(&spec.log)
        .expect("node log file");
    let _ = writeln!(log, "=== crash-suite: start {start} of {} ===", spec.name);
    let mut command = Command::new(env!("CARGO_BIN_EXE_crash-node"));
    command
        .arg("--dir")
        .arg(&spec.dir)
        .args(["--seed", &spec.seed.to_string()])
        .args(["--port", &spec.port.to_string()])
        .args(["--rpc-url", &spec.rpc_url])
        .args(["--rpc-user", &spec.rpc_user])
        .args(["--alias", spec.name])
        .args(&spec.extra)
        // The password goes through the environment, out of process listings.
        .env("CRASH_NODE_RPC_PASSWORD", &spec.rpc_password)
        .env_remove("CRASH_NODE_POSTGRES_URL")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::from(log));
    if let Some(url) = &spec.postgres_url {
        command.env("CRASH_NODE_POSTGRES_URL", url);
    }
    let mut child = command.spawn().expect("crash-node starts");
    let stdin = child.stdin.take().expect("stdin");
    let stdout = child.stdout.take().expect("stdout");
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { return };
            if tx.send(line).is_err() {
                return;
            }
        }
    });
    (child, stdin, rx)
}

fn parse_reply(name: &str, command: &str, line: &str) -> Reply {
    let value: Value = serde_json::from_str(line)
        .unwrap_or_else(|e| panic!("{name} answered `{command}` with non-JSON ({e}): {line}"));
    if value["ok"] == Value::Bool(true) {
        Reply::Ok(value["result"].clone())
    } else {
        Reply::Err {
            kind: value["error"]["kind"].as_str().unwrap_or("?").to_string(),
            message: value["error"]["message"].as_str().unwrap_or("").to_string(),
        }
    }
}

impl NodeProc {
    /// Start the process and wait for its start-up answer.
    pub fn start(spec: NodeSpec) -> NodeProc {
        let (child, stdin, answers) = spawn(&spec, 1);
        let mut node = NodeProc {
            spec,
            child: Arc::new(Mutex::new(child)),
            stdin,
            answers,
            node_id: String::new(),
            uri: String::new(),
            starts: 1,
            log_checked: 0,
        };
        node.read_ready();
        node
    }

    pub fn name(&self) -> &'static str {
        self.spec.name
    }

    fn read_ready(&mut self) {
        let name = self.spec.name;
        let line = match self.answers.recv_timeout(WAIT_BOUND) {
            Ok(line) => line,
            Err(RecvTimeoutError::Timeout) => panic!("{name} did not start"),
            Err(RecvTimeoutError::Disconnected) => {
                panic!("{name} exited during start-up (start {})", self.starts)
            }
        };
        match parse_reply(name, "start", &line) {
            Reply::Ok(v) => {
                self.node_id = v["node_id"].as_str().unwrap_or_default().to_string();
                self.uri = v["uri"].as_str().unwrap_or_default().to_string();
            }
            other => panic!("{name} failed to start (start {}): {other:?}", self.starts),
        }
    }

    /// Send one command and wait for its answer. [`Reply::Died`] when the process is gone.
    pub fn call(&mut self, command: &str) -> Reply {
        let name = self.spec.name;
        if writeln!(self.stdin, "{command}")
            .and_then(|()| self.stdin.flush())
            .is_err()
        {
            return Reply::Died;
        }
        match self.answers.recv_timeout(WAIT_BOUND) {
            Ok(line) => parse_reply(name, command, &line),
            Err(RecvTimeoutError::Disconnected) => Reply::Died,
            Err(RecvTimeoutError::Timeout) => {
                panic!("{name} did not answer `{}` (hung?)", short(command))
            }
        }
    }

    /// A command that must succeed: its result.
    pub fn ok(&mut self, command: &str) -> Value {
        match self.call(command) {
            Reply::Ok(v) => v,
            other => panic!("{}: `{}` failed: {other:?}", self.spec.name, short(command)),
        }
    }

    /// A handle a kill timer can use.
    pub fn handle(&self) -> Arc<Mutex<Child>> {
        self.child.clone()
    }

    /// SIGKILL now (`Child::kill` sends SIGKILL on Unix) and reap the process.
    pub fn kill(&mut self) {
        let mut child = lock(&self.child);
        let _ = child.kill();
        let _ = child.wait();
    }

    /// Start again on the same storage (after a kill or a stop).
    pub fn restart(&mut self) {
        {
            let mut child = lock(&self.child);
            let _ = child.kill();
            let _ = child.wait();
        }
        self.starts += 1;
        let (child, stdin, answers) = spawn(&self.spec, self.starts);
        self.child = Arc::new(Mutex::new(child));
        self.stdin = stdin;
        self.answers = answers;
        self.read_ready();
    }

    /// Stop cleanly and wait for the process to exit.
    pub fn stop(&mut self) {
        let reply = self.call("stop");
        assert!(
            matches!(reply, Reply::Ok(_)),
            "{} did not stop cleanly: {reply:?}",
            self.spec.name
        );
        let status = lock(&self.child).wait().expect("wait");
        assert!(status.success(), "{} exited with {status}", self.spec.name);
    }

    /// The node's channels.
    pub fn channels(&mut self) -> Vec<Value> {
        self.ok("channels").as_array().cloned().unwrap_or_default()
    }

    pub fn channel(&mut self, id: &str) -> Option<Value> {
        self.channels().into_iter().find(|c| c["channel_id"] == id)
    }

    /// The events queued since the last call, acknowledged.
    pub fn events(&mut self) -> Vec<Value> {
        self.ok("events").as_array().cloned().unwrap_or_default()
    }

    pub fn balance(&mut self) -> Balance {
        let _ = self.call("sync");
        let v = self.ok("balance");
        let n = |k: &str| v[k].as_u64().unwrap_or(0);
        Balance {
            spendable_sat: n("spendable_sat"),
            locked_sat: n("locked_sat"),
            total_sat: n("total_sat"),
            confirmed_sat: n("confirmed_sat"),
        }
    }

    pub fn log_lines(&self, needle: &str) -> Vec<String> {
        log_grep(&self.spec.log, needle)
    }

    /// Fail if the node panicked anywhere (a thread of the SDK, LDK) since the last check: the
    /// driver survives panics on its own thread, but a panic is a bug, and a dead background
    /// thread (chain sync, say) would only show much later as something that never happens.
    pub fn assert_no_panic(&mut self, context: &str) {
        use std::io::{Read, Seek, SeekFrom};
        let Ok(mut file) = File::open(&self.spec.log) else {
            return;
        };
        if file.seek(SeekFrom::Start(self.log_checked)).is_err() {
            return;
        }
        let mut text = Vec::new();
        if file.read_to_end(&mut text).is_err() {
            return;
        }
        let text = String::from_utf8_lossy(&text);
        // Only whole lines: a line being written now is looked at next time.
        let complete = text.rfind('\n').map_or(0, |i| i + 1);
        let lines: Vec<&str> = text[..complete].lines().collect();
        if let Some(i) = lines.iter().position(|l| l.contains("panicked at")) {
            let message: Vec<&str> = lines[i..].iter().take(3).copied().collect();
            panic!(
                "{} panicked ({context}): {}",
                self.spec.name,
                message.join(" | ")
            );
        }
        self.log_checked += complete as u64;
    }
}

impl Drop for NodeProc {
    fn drop(&mut self) {
        let mut child = lock(&self.child);
        let _ = child.kill();
        let _ = child.wait();
    }
}

fn short(command: &str) -> String {
    if command.len() > 60 {
        format!("{}…", &command[..60])
    } else {
        command.to_string()
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Balance {
    pub spendable_sat: u64,
    pub locked_sat: u64,
    pub total_sat: u64,
    pub confirmed_sat: u64,
}

/// Kills a node with SIGKILL after a delay, from its own thread, while the test keeps driving.
pub struct KillTimer {
    fired: Arc<AtomicBool>,
    thread: std::thread::JoinHandle<()>,
}

impl KillTimer {
    pub fn start(victim: &NodeProc, delay: Duration) -> KillTimer {
        let child = victim.handle();
        let fired = Arc::new(AtomicBool::new(false));
        let flag = fired.clone();
        let thread = std::thread::spawn(move || {
            std::thread::sleep(delay);
            // Set before the kill: whoever sees the process gone sees the flag.
            flag.store(true, Ordering::SeqCst);
            let _ = lock(&child).kill();
        });
        KillTimer { fired, thread }
    }

    pub fn fired(&self) -> bool {
        self.fired.load(Ordering::SeqCst)
    }

    /// Wait until the kill happened.
    pub fn finish(self) {
        let _ = self.thread.join();
    }
}

// ----- two nodes and a harness -----

/// The harness in this process and two `crash-node` processes.
pub struct World {
    pub harness: RegtestNode,
    pub alice: NodeProc,
    pub bob: NodeProc,
    /// The PostgreSQL server of both nodes' databases, when they use one (dropped after the
    /// processes).
    pub postgres: Option<qtum_pgtest::PgServer>,
    // Dropped last: the processes are gone before their directory is removed.
    pub dir: RunDir,
}

/// Which node.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Side {
    Alice,
    Bob,
}

impl Side {
    pub fn other(self) -> Side {
        match self {
            Side::Alice => Side::Bob,
            Side::Bob => Side::Alice,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Side::Alice => "alice",
            Side::Bob => "bob",
        }
    }

    pub fn pick(rng: &mut Rng) -> Side {
        if rng.chance(1, 2) {
            Side::Alice
        } else {
            Side::Bob
        }
    }
}

impl World {
    /// A harness with mature coins and two nodes (`extra` node flags for both).
    pub fn start(scenario: &str, keep: bool, extra: &[&str]) -> World {
        World::start_on(scenario, keep, extra, false)
    }

    /// As [`World::start`]; with `postgres`, each node keeps its state in a database of its
    /// own on a throwaway PostgreSQL server.
    pub fn start_on(scenario: &str, keep: bool, extra: &[&str], postgres: bool) -> World {
        let dir = RunDir::new(scenario, keep);
        let harness = harness();
        let server = postgres.then(|| qtum_pgtest::PgServer::start().expect("PostgreSQL"));
        let db = |name: &str| {
            server
                .as_ref()
                .map(|s| s.create_database(name).expect("database"))
        };
        let spec = |name: &'static str, seed: u8| NodeSpec {
            name,
            dir: dir.path.join(name),
            log: dir.path.join(format!("{name}.log")),
            seed,
            port: free_port(),
            rpc_url: harness.url().to_string(),
            rpc_user: harness.rpc_user().to_string(),
            rpc_password: harness.rpc_password().to_string(),
            extra: extra.iter().map(|s| s.to_string()).collect(),
            postgres_url: db(name),
        };
        let alice = NodeProc::start(spec("alice", 1));
        let bob = NodeProc::start(spec("bob", 2));
        World {
            harness,
            alice,
            bob,
            postgres: server,
            dir,
        }
    }

    pub fn node(&mut self, side: Side) -> &mut NodeProc {
        match side {
            Side::Alice => &mut self.alice,
            Side::Bob => &mut self.bob,
        }
    }

    pub fn mine(&self, blocks: u32) {
        mine(&self.harness, blocks);
    }

    /// Neither node panicked since the last check.
    pub fn assert_no_panic(&mut self, context: &str) {
        self.alice.assert_no_panic(context);
        self.bob.assert_no_panic(context);
    }

    /// Pay `amount_sat` to Alice's wallet and wait until it is confirmed there.
    pub fn fund_alice(&mut self, amount_sat: u64) {
        let address = self.alice.ok("new_address");
        let address = address.as_str().expect("address").to_string();
        self.harness
            .fund_address(&script_of(&address), amount_sat)
            .expect("fund");
        self.mine(1);
        let alice = &mut self.alice;
        wait_until("alice's funds confirmed", || {
            alice.balance().confirmed_sat >= amount_sat
        });
    }

    /// Connect the two nodes again (from `from`), as often as needed, until both list the
    /// channel `id` as usable.
    pub fn wait_usable(&mut self, from: Side, id: &str) {
        let deadline = Instant::now() + WAIT_BOUND;
        let mut last_connect: Option<Instant> = None;
        loop {
            self.assert_no_panic(&format!("waiting for channel {id} to be usable"));
            let a = self.alice.channel(id);
            let b = self.bob.channel(id);
            assert!(
                a.is_some() && b.is_some(),
                "channel {id} is gone (alice lists it: {}, bob lists it: {}); alice's events: {:?}; bob's events: {:?}",
                a.is_some(),
                b.is_some(),
                self.alice.events(),
                self.bob.events()
            );
            let usable = |c: &Option<Value>| c.as_ref().is_some_and(|c| c["is_usable"] == true);
            if usable(&a) && usable(&b) {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "channel {id} did not become usable again: alice {a:?}, bob {b:?}"
            );
            if last_connect.is_none_or(|t| t.elapsed() > Duration::from_secs(2)) {
                let uri = self.node(from.other()).uri.clone();
                let _ = self.node(from).call(&format!("connect {uri}"));
                last_connect = Some(Instant::now());
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Open a channel from Alice to Bob (no kill), mine it to ready; returns its id and funding
    /// outpoint.
    pub fn open_ready(&mut self, capacity_sat: u64, push_msat: u64) -> (String, OutPoint) {
        let known: HashSet<String> = channel_ids(&self.alice.channels());
        let uri = self.bob.uri.clone();
        self.alice
            .ok(&format!("open {uri} {capacity_sat} {push_msat}"));
        let mut found = None;
        {
            let alice = &mut self.alice;
            let harness = &self.harness;
            wait_until("the funding transaction is broadcast", || {
                found = alice
                    .channels()
                    .into_iter()
                    .filter(|c| !known.contains(c["channel_id"].as_str().unwrap_or("")))
                    .find_map(|c| {
                        let txo = parse_outpoint(c["funding_txo"].as_str()?)?;
                        Some((c["channel_id"].as_str()?.to_string(), txo))
                    })
                    .filter(|(_, txo)| tx_known(harness, &txo.txid));
                found.is_some()
            });
        }
        let (id, funding) = found.expect("found");
        self.mine(6);
        self.wait_usable(Side::Alice, &id);
        (id, funding)
    }
}

pub fn channel_ids(channels: &[Value]) -> HashSet<String> {
    channels
        .iter()
        .filter_map(|c| c["channel_id"].as_str().map(str::to_string))
        .collect()
}

pub fn parse_outpoint(text: &str) -> Option<OutPoint> {
    let (txid, vout) = text.split_once(':')?;
    Some(OutPoint {
        txid: txid.parse().ok()?,
        vout: vout.parse().ok()?,
    })
}

/// The transaction is in the harness's mempool or chain.
pub fn tx_known(harness: &RegtestNode, txid: &Txid) -> bool {
    harness.with_chain(|c| c.mempool.get(txid).is_some() || c.confirmed_tx(txid).is_some())
}

/// `ChannelClosed` events among `events`: (channel id, reason).
pub fn closed_events(events: &[Value]) -> Vec<(String, String)> {
    events
        .iter()
        .filter(|e| e["type"] == "channel_closed")
        .map(|e| {
            (
                e["channel_id"].as_str().unwrap_or("").to_string(),
                e["reason"].as_str().unwrap_or("").to_string(),
            )
        })
        .collect()
}

/// Count one more `key`.
pub fn bump(map: &mut BTreeMap<String, u32>, key: impl Into<String>) {
    *map.entry(key.into()).or_insert(0) += 1;
}

pub fn show(map: &BTreeMap<String, u32>) -> String {
    map.iter()
        .map(|(k, v)| format!("{k}: {v}"))
        .collect::<Vec<_>>()
        .join(", ")
}

// ----- where a closed channel's money went -----

/// The transactions that spent a channel's funding output and everything they created, as far
/// as the chain shows now.
#[derive(Debug, Default)]
pub struct Settlement {
    /// The transaction spending the funding output, once confirmed.
    pub closing_tx: Option<Transaction>,
    /// Fees of every confirmed transaction in the tree.
    pub fees_sat: u64,
    /// Inputs of those transactions that do not come from the channel (there should be none).
    pub foreign_inputs_sat: u64,
    /// Confirmed outputs nobody spent yet (they should be in the wallets).
    pub leaves: Vec<(OutPoint, u64)>,
    /// Some output of the tree is spent by a mempool transaction.
    pub mempool_spend: bool,
}

impl Settlement {
    pub fn leaves_sat(&self) -> u64 {
        self.leaves.iter().map(|(_, v)| v).sum()
    }

    /// Whether the funding output was spent by a commitment transaction (a force close): BOLT 3
    /// puts 0x20 in the top byte of a commitment's lock time and 0x80 in its input's sequence;
    /// a cooperative closing transaction has neither.
    pub fn is_force_close(&self) -> bool {
        self.closing_tx.as_ref().is_some_and(|tx| {
            tx.lock_time.to_consensus_u32() >> 24 == 0x20
                && tx.input.first().is_some_and(|i| i.sequence.0 >> 24 == 0x80)
        })
    }

    /// How many outputs of the closing transaction are still unspent.
    pub fn unspent_closing_outputs(&self) -> usize {
        let Some(tx) = &self.closing_tx else { return 0 };
        let txid = tx.compute_txid();
        self.leaves.iter().filter(|(o, _)| o.txid == txid).count()
    }
}

/// Follow the funding output `funding` through the chain: every confirmed spend, its fee, and
/// the unspent outputs it ends in.
pub fn settlement(harness: &RegtestNode, funding: OutPoint) -> Settlement {
    harness.with_chain(|chain| {
        let mut out = Settlement::default();
        let mut todo = vec![funding];
        let mut tree: Vec<Transaction> = Vec::new();
        let mut seen: HashSet<Txid> = HashSet::new();
        while let Some(outpoint) = todo.pop() {
            match chain.spent_info(&outpoint) {
                Some(spent) => {
                    if !seen.insert(spent.txid) {
                        continue;
                    }
                    let (tx, _, _) = chain
                        .confirmed_tx(&spent.txid)
                        .expect("a confirmed spender is in the chain");
                    if outpoint == funding {
                        out.closing_tx = Some(tx.clone());
                    }
                    let txid = tx.compute_txid();
                    for vout in 0..tx.output.len() as u32 {
                        todo.push(OutPoint { txid, vout });
                    }
                    tree.push(tx.clone());
                }
                None => {
                    if chain.mempool.spender(&outpoint).is_some() {
                        out.mempool_spend = true;
                    }
                    if outpoint != funding {
                        let value = chain
                            .utxo(&outpoint)
                            .map(|c| c.output.value.to_sat())
                            .unwrap_or(0);
                        out.leaves.push((outpoint, value));
                    }
                }
            }
        }
        for tx in &tree {
            let mut inputs = 0u64;
            for input in &tx.input {
                let prev = input.previous_output;
                let (prev_tx, _, _) = chain
                    .confirmed_tx(&prev.txid)
                    .expect("inputs of a confirmed transaction are confirmed");
                let value = prev_tx.output[prev.vout as usize].value.to_sat();
                inputs += value;
                if prev != funding && !seen.contains(&prev.txid) {
                    out.foreign_inputs_sat += value;
                }
            }
            let outputs: u64 = tx.output.iter().map(|o| o.value.to_sat()).sum();
            out.fees_sat += inputs - outputs;
        }
        out
    })
}

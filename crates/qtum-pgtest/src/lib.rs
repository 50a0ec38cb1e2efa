//! Throwaway PostgreSQL servers for tests.
//!
//! [`PgServer::start`] creates a fresh cluster with `initdb` in a new temporary directory and
//! starts it with `pg_ctl` on a free loopback port. The cluster uses trust authentication and
//! listens on 127.0.0.1 only, so no password is needed. Dropping the [`PgServer`] stops the
//! server and deletes the directory.
//!
//! The server keeps `fsync` on and `synchronous_commit` at its default (on), so a transaction
//! that committed before [`PgServer::kill`] is still there after [`PgServer::restart`]: crash
//! tests see real durability semantics.
//!
//! # Finding PostgreSQL
//!
//! The server programs (`initdb`, `pg_ctl`, `postgres`) and the client programs (`createdb`,
//! `psql`) are taken from, in order:
//!
//! 1. the directory named by the `PG_BIN` environment variable, if it is set;
//! 2. the highest version directory `/usr/lib/postgresql/<version>/bin` that holds `initdb`
//!    (where Debian's `postgresql` package installs them);
//! 3. the directory of the first `initdb` found on `PATH`.
//!
//! If none is found, [`PgServer::start`] returns an error that says so. It never skips quietly.
//!
//! # Running as root
//!
//! PostgreSQL refuses to run as root. When the current process runs as root, the server programs
//! are run as the `postgres` system user through `runuser -u postgres --`, and the temporary
//! directory is handed to that user first. In both cases the cluster's superuser is [`USER`].

use std::fs;
use std::io::{Read, Seek, SeekFrom};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::thread;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// The name of the cluster's superuser, the user in every URL this crate returns.
pub const USER: &str = "qtum";

/// The system user that runs the server when the current process runs as root.
const SYSTEM_USER: &str = "postgres";

/// Where Debian's `postgresql` packages install their programs, one directory per major version.
const DEBIAN_PG_ROOT: &str = "/usr/lib/postgresql";

/// How many bytes of a program's stderr or of the server log go into an error message.
const TAIL_BYTES: usize = 4000;

/// How long [`PgServer::kill`] waits for the killed processes to disappear.
const KILL_WAIT: Duration = Duration::from_secs(10);

/// How many times [`PgServer::start`] tries a new port when the one it picked was taken meanwhile.
const PORT_ATTEMPTS: usize = 3;

/// Makes temporary directory names unique within the process.
static COUNTER: AtomicUsize = AtomicUsize::new(0);

/// A PostgreSQL server in a temporary directory, for one test.
///
/// The server listens on 127.0.0.1 at [`port`](PgServer::port) with trust authentication; its
/// superuser is [`USER`]. Dropping the value stops the server (fast shutdown; a SIGKILL if that
/// fails) and removes the temporary directory with the cluster in it.
#[derive(Debug)]
pub struct PgServer {
    /// The directory with the PostgreSQL programs.
    bin: PathBuf,
    /// The temporary directory: holds the data directory, the server log and the Unix socket.
    dir: PathBuf,
    /// The cluster's data directory, inside `dir`.
    data: PathBuf,
    /// The server log that `pg_ctl` appends to, inside `dir`.
    log: PathBuf,
    /// The TCP port on 127.0.0.1.
    port: u16,
    /// Whether the server programs run as the `postgres` system user (the process is root).
    as_system_user: bool,
    /// Whether the server is believed to be running.
    running: bool,
}

impl PgServer {
    /// Creates a new cluster in a fresh temporary directory and starts a server on it.
    ///
    /// Fails when the PostgreSQL programs cannot be found (the message says how to install
    /// them), or when `initdb` or `pg_ctl start` fails (the message has the command, its exit
    /// status and the end of its stderr and of the server log). The temporary directory is
    /// removed on failure.
    pub fn start() -> Result<PgServer, String> {
        let bin = find_bin_dir()?;
        let as_system_user = is_root();
        let dir = create_temp_dir()?;
        let mut server = PgServer {
            bin,
            data: dir.join("data"),
            log: dir.join("postgres.log"),
            dir,
            port: 0,
            as_system_user,
            running: false,
        };
        // From here on, dropping `server` removes the directory.
        server.init()?;
        let mut attempt = 0;
        loop {
            attempt += 1;
            server.port = free_port()?;
            match server.pg_ctl_start() {
                Ok(()) => return Ok(server),
                // Another process may have taken the port between our probe and the start.
                Err(_) if attempt < PORT_ATTEMPTS && server.log_mentions_port_in_use() => {}
                Err(e) => return Err(e),
            }
        }
    }

    /// The URL of the `postgres` database: `postgresql://qtum@127.0.0.1:<port>/postgres`.
    pub fn url(&self) -> String {
        self.database_url("postgres")
    }

    /// The URL of the database `name` on this server (which may not exist).
    pub fn database_url(&self, name: &str) -> String {
        format!(
            "postgresql://{USER}@127.0.0.1:{}/{}",
            self.port,
            percent_encode(name)
        )
    }

    /// Creates the database `name` (with `createdb`) and returns its URL.
    pub fn create_database(&self, name: &str) -> Result<String, String> {
        let port = self.port.to_string();
        let mut cmd = self.client_command("createdb");
        cmd.args(["-h", "127.0.0.1", "-p", &port, "-U", USER, "--", name]);
        run(cmd, None)?;
        Ok(self.database_url(name))
    }

    /// The TCP port the server listens on (on 127.0.0.1). It stays the same across restarts.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The temporary directory that holds the data directory, the server log and the socket.
    /// [`Drop`] removes it.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The cluster's data directory (inside [`dir`](PgServer::dir)).
    pub fn data_dir(&self) -> &Path {
        &self.data
    }

    /// The server log (inside [`dir`](PgServer::dir)); every start appends to it.
    pub fn log_path(&self) -> &Path {
        &self.log
    }

    /// The path of the PostgreSQL program `name` (for example `"psql"` or `"pg_dump"`) from the
    /// same installation as the server.
    pub fn program(&self, name: &str) -> PathBuf {
        self.bin.join(name)
    }

    /// Whether the server is running, as far as this value knows: true after
    /// [`start`](PgServer::start) and [`restart`](PgServer::restart), false after
    /// [`stop`](PgServer::stop) and [`kill`](PgServer::kill).
    pub fn is_running(&self) -> bool {
        self.running
    }

    /// Stops the server with a fast shutdown (`pg_ctl stop -m fast`): open transactions are
    /// rolled back, clients are disconnected and the server writes a shutdown checkpoint.
    ///
    /// Does nothing if the server is not running. If `pg_ctl` fails, the failure is printed on
    /// stderr and the server is killed instead, so that it never outlives the test.
    pub fn stop(&mut self) {
        if !self.running {
            return;
        }
        let mut cmd = self.server_command("pg_ctl");
        cmd.arg("stop")
            .arg("-D")
            .arg(&self.data)
            .args(["-m", "fast", "-w", "-t", "60"]);
        match run(cmd, Some(&self.log)) {
            Ok(_) => self.running = false,
            Err(e) => {
                eprintln!("qtum-pgtest: fast shutdown failed, killing the server: {e}");
                self.kill();
            }
        }
    }

    /// Kills the server with SIGKILL, as a crash would: the postmaster and all its child
    /// processes at once, with no shutdown checkpoint. What committed before is on disk (fsync
    /// is on); [`restart`](PgServer::restart) then runs crash recovery.
    ///
    /// Waits until the processes are gone, then removes what a reboot would have cleared: the
    /// stale `postmaster.pid`, the Unix socket and its lock file, and the server's System V
    /// shared memory segment. Does nothing if
    /// no server is running on the data directory.
    pub fn kill(&mut self) {
        self.running = false;
        let Some(pid_file) = read_to_string_opt(&self.data.join("postmaster.pid")) else {
            return;
        };
        let mut lines = pid_file.lines();
        let Some(postmaster) = lines.next().and_then(|l| l.trim().parse::<u32>().ok()) else {
            return;
        };
        // Line 7 is "<shared memory key> <shared memory id>".
        let shm_id = pid_file
            .lines()
            .nth(6)
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|s| s.parse::<u64>().ok());

        if process_alive(postmaster) {
            // List the children before the kill: once the postmaster is dead they are
            // re-parented and can no longer be told apart from other processes.
            let mut victims = vec![postmaster];
            victims.extend(descendants(postmaster));
            let mut cmd = Command::new("kill");
            cmd.arg("-KILL").args(victims.iter().map(|p| p.to_string()));
            // Some of them may exit on their own in between: an error here is not a failure.
            let _ = cmd.output();
            let deadline = Instant::now() + KILL_WAIT;
            while victims.iter().any(|&p| process_alive(p)) {
                if Instant::now() >= deadline {
                    eprintln!(
                        "qtum-pgtest: server processes {victims:?} still alive {KILL_WAIT:?} after SIGKILL"
                    );
                    break;
                }
                thread::sleep(Duration::from_millis(20));
            }
        }
        // A killed postmaster leaves its pid file and its socket lock file behind. Its pid may
        // live on as a zombie that nobody reaps, and the next start would then take the files
        // for a live server's and refuse to run. A reboot would not keep them meaningful either.
        let _ = fs::remove_file(self.data.join("postmaster.pid"));
        let socket = format!(".s.PGSQL.{}", self.port);
        let _ = fs::remove_file(self.dir.join(format!("{socket}.lock")));
        let _ = fs::remove_file(self.dir.join(socket));
        if let Some(id) = shm_id {
            let _ = Command::new("ipcrm").args(["-m", &id.to_string()]).output();
        }
    }

    /// Starts the server again on the same data directory and port, after
    /// [`stop`](PgServer::stop) or [`kill`](PgServer::kill) (after a kill, PostgreSQL runs
    /// crash recovery first). If the server is running, it is stopped first.
    pub fn restart(&mut self) -> Result<(), String> {
        self.stop();
        self.pg_ctl_start()
    }

    /// Serves TLS from now on with this certificate chain and key (PEM), then restarts the
    /// server. Clients choose whether to use it (`sslmode` in their URL); a plain connection is
    /// still accepted.
    pub fn enable_tls(&mut self, cert_pem: &str, key_pem: &str) -> Result<(), String> {
        use std::io::Write;
        use std::os::unix::fs::PermissionsExt;
        let cert = self.data.join("server.crt");
        let key = self.data.join("server.key");
        let write = |path: &Path, text: &str, mode: u32| -> Result<(), String> {
            fs::write(path, text).map_err(|e| format!("cannot write {}: {e}", path.display()))?;
            fs::set_permissions(path, fs::Permissions::from_mode(mode))
                .map_err(|e| format!("cannot chmod {}: {e}", path.display()))
        };
        write(&cert, cert_pem, 0o644)?;
        // PostgreSQL refuses a key that others can read.
        write(&key, key_pem, 0o600)?;
        let conf = self.data.join("postgresql.conf");
        let mut file = fs::OpenOptions::new()
            .append(true)
            .open(&conf)
            .map_err(|e| format!("cannot open {}: {e}", conf.display()))?;
        writeln!(
            file,
            "\nssl = on\nssl_cert_file = 'server.crt'\nssl_key_file = 'server.key'"
        )
        .map_err(|e| format!("cannot write {}: {e}", conf.display()))?;
        if self.as_system_user {
            let mut chown = Command::new("chown");
            chown
                .arg(format!("{SYSTEM_USER}:"))
                .arg(&cert)
                .arg(&key)
                .arg(&conf);
            run(chown, None)?;
        }
        self.restart()
    }

    /// Runs `initdb` on the data directory (handing the temporary directory to the system user
    /// first when running as root).
    fn init(&mut self) -> Result<(), String> {
        if self.as_system_user {
            let mut chown = Command::new("chown");
            chown
                .arg("-R")
                .arg(format!("{SYSTEM_USER}:"))
                .arg(&self.dir);
            run(chown, None)?;
        }
        let mut cmd = self.server_command("initdb");
        cmd.arg("-D")
            .arg(&self.data)
            .args(["-A", "trust", "-U", USER, "--no-sync", "-E", "UTF8"])
            // The C locale goes with every encoding and exists everywhere, whatever LANG says.
            .arg("--locale=C");
        run(cmd, None).map(|_| ())
    }

    /// Starts the server with `pg_ctl start` and waits until it accepts connections.
    fn pg_ctl_start(&mut self) -> Result<(), String> {
        // pg_ctl hands the -o string to the shell, so the socket directory is quoted.
        let options = format!(
            "-p {} -k {} -c listen_addresses=127.0.0.1 -c fsync=on",
            self.port,
            shell_quote(&self.dir.to_string_lossy())
        );
        let mut cmd = self.server_command("pg_ctl");
        cmd.arg("start")
            .arg("-D")
            .arg(&self.data)
            .arg("-l")
            .arg(&self.log)
            .args(["-w", "-t", "60", "-o"])
            .arg(options);
        run(cmd, Some(&self.log))?;
        self.running = true;
        Ok(())
    }

    /// Whether the server log says the port was already taken.
    fn log_mentions_port_in_use(&self) -> bool {
        let log = tail(&self.log);
        log.contains("Address already in use") || log.contains("could not create any TCP/IP")
    }

    /// A command for a server program (`initdb`, `pg_ctl`), run as the system user when the
    /// process is root.
    fn server_command(&self, program: &str) -> Command {
        let path = self.bin.join(program);
        let mut cmd = if self.as_system_user {
            let mut cmd = Command::new("runuser");
            cmd.args(["-u", SYSTEM_USER, "--"]).arg(path);
            cmd
        } else {
            Command::new(path)
        };
        prepare(&mut cmd, &self.dir);
        cmd
    }

    /// A command for a client program (`createdb`, `psql`), run as the current user.
    fn client_command(&self, program: &str) -> Command {
        let mut cmd = Command::new(self.bin.join(program));
        prepare(&mut cmd, &self.dir);
        cmd
    }
}

impl Drop for PgServer {
    /// Stops the server (see [`PgServer::stop`]) and removes the temporary directory.
    fn drop(&mut self) {
        self.stop();
        if self.running {
            self.kill();
        }
        if let Err(e) = fs::remove_dir_all(&self.dir) {
            if e.kind() != std::io::ErrorKind::NotFound {
                eprintln!("qtum-pgtest: could not remove {}: {e}", self.dir.display());
            }
        }
    }
}

/// Finds the directory with the PostgreSQL programs (see the crate documentation).
fn find_bin_dir() -> Result<PathBuf, String> {
    if let Some(dir) = std::env::var_os("PG_BIN").filter(|v| !v.is_empty()) {
        let dir = PathBuf::from(dir);
        if dir.join("initdb").is_file() {
            return Ok(dir);
        }
        return Err(format!(
            "PG_BIN is set to {}, but there is no initdb in it",
            dir.display()
        ));
    }

    let mut best: Option<(Vec<u32>, PathBuf)> = None;
    if let Ok(entries) = fs::read_dir(DEBIAN_PG_ROOT) {
        for entry in entries.flatten() {
            let Some(version) = entry.file_name().to_str().and_then(parse_version) else {
                continue;
            };
            let bin = entry.path().join("bin");
            if !bin.join("initdb").is_file() {
                continue;
            }
            if best.as_ref().is_none_or(|(v, _)| version > *v) {
                best = Some((version, bin));
            }
        }
    }
    if let Some((_, bin)) = best {
        return Ok(bin);
    }

    if let Some(path) = std::env::var_os("PATH") {
        for dir in std::env::split_paths(&path) {
            if dir.join("initdb").is_file() {
                return Ok(dir);
            }
        }
    }

    Err(format!(
        "PostgreSQL server programs not found: no PG_BIN, no {DEBIAN_PG_ROOT}/<version>/bin/initdb, \
         no initdb on PATH. Install Debian's `postgresql` package (apt-get install postgresql) \
         or set PG_BIN to the directory holding initdb, pg_ctl, createdb and psql"
    ))
}

/// Parses a version directory name such as `15` or `9.6` into its numeric parts.
fn parse_version(name: &str) -> Option<Vec<u32>> {
    name.split('.').map(|p| p.parse().ok()).collect()
}

/// Whether the process runs as root (effective uid 0), from `/proc/self/status` or else `id -u`.
fn is_root() -> bool {
    if let Some(status) = read_to_string_opt(Path::new("/proc/self/status")) {
        // "Uid:\t<real>\t<effective>\t<saved>\t<filesystem>"
        if let Some(line) = status.lines().find(|l| l.starts_with("Uid:")) {
            if let Some(euid) = line.split_whitespace().nth(2) {
                return euid == "0";
            }
        }
    }
    Command::new("id")
        .arg("-u")
        .output()
        .map(|o| o.status.success() && String::from_utf8_lossy(&o.stdout).trim() == "0")
        .unwrap_or(false)
}

/// Creates a new, uniquely named directory under the system temporary directory.
fn create_temp_dir() -> Result<PathBuf, String> {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    let name = format!(
        "qtum-pgtest-{}-{}-{}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed),
        nanos
    );
    let dir = std::env::temp_dir().join(name);
    fs::create_dir(&dir).map_err(|e| format!("could not create {}: {e}", dir.display()))?;
    Ok(dir)
}

/// A TCP port on 127.0.0.1 that was free a moment ago.
fn free_port() -> Result<u16, String> {
    let listener = TcpListener::bind("127.0.0.1:0")
        .map_err(|e| format!("could not bind a TCP port on 127.0.0.1: {e}"))?;
    listener
        .local_addr()
        .map(|a| a.port())
        .map_err(|e| format!("could not read the bound address: {e}"))
}

/// Sets what every spawned program gets: the temporary directory as working directory (the
/// `postgres` user may not be able to enter the current one) and none of the `PG*` variables
/// that could point the programs at another server, user or database.
fn prepare(cmd: &mut Command, dir: &Path) {
    cmd.current_dir(dir);
    for (key, _) in std::env::vars_os() {
        if key.to_str().is_some_and(|k| k.starts_with("PG")) {
            cmd.env_remove(&key);
        }
    }
}

/// Runs a command to completion; on failure, returns an error with the command, its exit status,
/// the end of its stderr and, if given, the end of the server log.
fn run(mut cmd: Command, log: Option<&Path>) -> Result<Output, String> {
    let shown = format!("{cmd:?}");
    let output = cmd
        .output()
        .map_err(|e| format!("could not run {shown}: {e}"))?;
    if output.status.success() {
        return Ok(output);
    }
    let mut msg = format!("{shown} failed ({})", output.status);
    let stderr = tail_of(&output.stderr);
    let stdout = tail_of(&output.stdout);
    if !stderr.trim().is_empty() {
        msg.push_str(&format!("\n--- stderr (end) ---\n{}", stderr.trim_end()));
    } else if !stdout.trim().is_empty() {
        msg.push_str(&format!("\n--- stdout (end) ---\n{}", stdout.trim_end()));
    }
    if let Some(log) = log {
        let text = tail(log);
        if !text.trim().is_empty() {
            msg.push_str(&format!(
                "\n--- {} (end) ---\n{}",
                log.display(),
                text.trim_end()
            ));
        }
    }
    Err(msg)
}

/// The last [`TAIL_BYTES`] of some output, as text.
fn tail_of(bytes: &[u8]) -> String {
    let start = bytes.len().saturating_sub(TAIL_BYTES);
    String::from_utf8_lossy(&bytes[start..]).into_owned()
}

/// The last [`TAIL_BYTES`] of a file, as text; empty if it cannot be read.
fn tail(path: &Path) -> String {
    let Ok(mut file) = fs::File::open(path) else {
        return String::new();
    };
    let len = file.metadata().map(|m| m.len()).unwrap_or(0);
    let start = len.saturating_sub(TAIL_BYTES as u64);
    if file.seek(SeekFrom::Start(start)).is_err() {
        return String::new();
    }
    let mut bytes = Vec::new();
    let _ = file.read_to_end(&mut bytes);
    String::from_utf8_lossy(&bytes).into_owned()
}

/// A file's contents, or `None` if it cannot be read.
fn read_to_string_opt(path: &Path) -> Option<String> {
    fs::read_to_string(path).ok()
}

/// The state letter and parent pid of a process, from `/proc/<pid>/stat`.
fn proc_stat(pid: u32) -> Option<(char, u32)> {
    let stat = read_to_string_opt(&Path::new("/proc").join(pid.to_string()).join("stat"))?;
    // "<pid> (<comm>) <state> <ppid> ...": the command name may hold spaces and parentheses.
    let rest = &stat[stat.rfind(')')? + 1..];
    let mut fields = rest.split_whitespace();
    let state = fields.next()?.chars().next()?;
    let ppid = fields.next()?.parse().ok()?;
    Some((state, ppid))
}

/// Whether a process exists and is not a zombie.
fn process_alive(pid: u32) -> bool {
    match proc_stat(pid) {
        Some((state, _)) => state != 'Z' && state != 'X',
        None => false,
    }
}

/// All live descendants of a process, from `/proc`.
fn descendants(root: u32) -> Vec<u32> {
    let mut parents: Vec<(u32, u32)> = Vec::new();
    if let Ok(entries) = fs::read_dir("/proc") {
        for entry in entries.flatten() {
            let Some(pid) = entry
                .file_name()
                .to_str()
                .and_then(|s| s.parse::<u32>().ok())
            else {
                continue;
            };
            if let Some((state, ppid)) = proc_stat(pid) {
                if state != 'Z' && state != 'X' {
                    parents.push((pid, ppid));
                }
            }
        }
    }
    let mut found = Vec::new();
    let mut frontier = vec![root];
    while let Some(parent) = frontier.pop() {
        for &(pid, ppid) in &parents {
            if ppid == parent && !found.contains(&pid) {
                found.push(pid);
                frontier.push(pid);
            }
        }
    }
    found
}

/// Quotes a string for the POSIX shell.
fn shell_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}

/// Percent-encodes everything but the URL's unreserved characters.
fn percent_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_compare_numerically() {
        assert!(parse_version("15").unwrap() > parse_version("9.6").unwrap());
        assert!(parse_version("16").unwrap() > parse_version("15").unwrap());
        assert_eq!(parse_version("common"), None);
    }

    #[test]
    fn database_names_are_encoded_in_urls() {
        assert_eq!(percent_encode("plain_db-1"), "plain_db-1");
        assert_eq!(percent_encode("a b/c"), "a%20b%2Fc");
    }

    #[test]
    fn shell_quoting() {
        assert_eq!(shell_quote("/tmp/x"), "'/tmp/x'");
        assert_eq!(shell_quote("it's"), r"'it'\''s'");
    }
}

//! `qtum-esplora --rpc-url http://HOST:PORT (--rpc-user U --rpc-password-file F | --rpc-cookie
//! FILE) --listen 127.0.0.1:PORT [--data-dir DIR]`: an Esplora-style REST server over qtumd with
//! `-addrindex`.
//!
//! The script index is kept under `--data-dir` (default `~/.qtum-esplora`), so a restart resumes
//! where the last run stopped instead of reading the chain again from genesis.
//!
//! The RPC password never travels on the command line, where every user of the machine can
//! read it (`ps`, `/proc/*/cmdline`): it comes from a file (`--rpc-password-file`, first line)
//! or from the environment variable `QTUM_ESPLORA_RPC_PASSWORD`.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use qtum_chain::RpcAuth;
use qtum_esplora::{EsploraServer, ServerConfig};

const USAGE: &str = "usage: qtum-esplora --rpc-url http://HOST:PORT \
(--rpc-user USER [--rpc-password-file FILE] | --rpc-cookie FILE) [--listen 127.0.0.1:3002] \
[--data-dir DIR] [--threads N] [--queue N] [--max-utxos N]\n  with --rpc-user, the password is the first \
line of --rpc-password-file, or the environment variable QTUM_ESPLORA_RPC_PASSWORD\n  the script \
index is kept in --data-dir (default ~/.qtum-esplora)";

/// The environment variable the RPC password can come from.
const PASSWORD_ENV: &str = "QTUM_ESPLORA_RPC_PASSWORD";

/// The password: the first line of `file`, else the environment. Never from argv.
fn read_password(file: Option<PathBuf>) -> Result<String, String> {
    match file {
        Some(path) => {
            let text = std::fs::read_to_string(&path)
                .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
            let line = text.lines().next().unwrap_or("").to_string();
            if line.is_empty() {
                return Err(format!("{} is empty", path.display()));
            }
            Ok(line)
        }
        None => std::env::var(PASSWORD_ENV)
            .map_err(|_| format!("--rpc-user needs --rpc-password-file or {PASSWORD_ENV}")),
    }
}

/// `~/.qtum-esplora`.
fn default_data_dir() -> Option<PathBuf> {
    std::env::var_os("HOME")
        .filter(|h| !h.is_empty())
        .map(|h| PathBuf::from(h).join(".qtum-esplora"))
}

/// A positive count given to `flag`.
fn count(flag: &str, v: &str) -> Result<usize, String> {
    v.parse()
        .ok()
        .filter(|n| *n > 0)
        .ok_or_else(|| format!("{flag} wants a positive number"))
}

fn main() -> ExitCode {
    let mut args = std::env::args().skip(1);
    let (mut url, mut user, mut password_file, mut cookie) = (None, None, None, None);
    let mut listen = String::from("127.0.0.1:3002");
    let (mut data_dir, mut threads, mut queue, mut max_utxos) = (None, None, None, None);
    while let Some(flag) = args.next() {
        let mut value = || args.next().ok_or_else(|| format!("{flag} needs a value"));
        let result = match flag.as_str() {
            "--rpc-url" => value().map(|v| url = Some(v)),
            "--rpc-user" => value().map(|v| user = Some(v)),
            "--rpc-password-file" => value().map(|v| password_file = Some(PathBuf::from(v))),
            "--rpc-password" => Err(format!(
                "--rpc-password is not accepted (other users can read the command line): \
                 use --rpc-password-file or {PASSWORD_ENV}"
            )),
            "--rpc-cookie" => value().map(|v| cookie = Some(PathBuf::from(v))),
            "--listen" => value().map(|v| listen = v),
            "--data-dir" => value().map(|v| data_dir = Some(PathBuf::from(v))),
            "--threads" => value()
                .and_then(|v| count(&flag, &v))
                .map(|n| threads = Some(n)),
            "--queue" => value()
                .and_then(|v| count(&flag, &v))
                .map(|n| queue = Some(n)),
            "--max-utxos" => value()
                .and_then(|v| count(&flag, &v))
                .map(|n| max_utxos = Some(n)),
            "-h" | "--help" => {
                println!("{USAGE}");
                return ExitCode::SUCCESS;
            }
            other => Err(format!("unknown argument {other}")),
        };
        if let Err(e) = result {
            eprintln!("{e}\n{USAGE}");
            return ExitCode::from(2);
        }
    }
    let Some(url) = url else {
        eprintln!("--rpc-url is required\n{USAGE}");
        return ExitCode::from(2);
    };
    let auth = match (user, password_file, cookie) {
        (Some(user), file, None) => match read_password(file) {
            Ok(password) => RpcAuth::UserPass { user, password },
            Err(e) => {
                eprintln!("{e}\n{USAGE}");
                return ExitCode::from(2);
            }
        },
        (None, None, Some(path)) => RpcAuth::CookieFile(path),
        (None, None, None) => RpcAuth::None,
        _ => {
            eprintln!("give either --rpc-user (password from a file or the environment), or --rpc-cookie\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    let listen: SocketAddr = match listen.parse() {
        Ok(a) => a,
        Err(_) => {
            eprintln!("--listen wants HOST:PORT, e.g. 127.0.0.1:3002");
            return ExitCode::from(2);
        }
    };
    let Some(data_dir) = data_dir.or_else(default_data_dir) else {
        eprintln!("no home directory to keep the index in: give --data-dir\n{USAGE}");
        return ExitCode::from(2);
    };
    let mut config = ServerConfig::new(url, auth, listen);
    config.data_dir = Some(data_dir);
    config.threads = threads.unwrap_or(config.threads);
    config.queue = queue.unwrap_or(config.queue);
    config.max_utxos = max_utxos.unwrap_or(config.max_utxos);
    match EsploraServer::start(config) {
        Ok(server) => {
            println!("qtum-esplora listening on {}", server.url());
            server.wait();
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("qtum-esplora: {e}");
            ExitCode::FAILURE
        }
    }
}

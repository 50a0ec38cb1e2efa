//! `qtum-esplora --rpc-url http://HOST:PORT (--rpc-user U --rpc-password P | --rpc-cookie FILE)
//! --listen 127.0.0.1:PORT`: an Esplora-style REST server over qtumd with `-addrindex`.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use qtum_chain::RpcAuth;
use qtum_esplora::{EsploraServer, ServerConfig};

const USAGE: &str = "usage: qtum-esplora --rpc-url http://HOST:PORT \
(--rpc-user USER --rpc-password PASSWORD | --rpc-cookie FILE) [--listen 127.0.0.1:3002] [--threads N]";

fn main() -> ExitCode {
    let mut args = std::env::args().skip(1);
    let (mut url, mut user, mut password, mut cookie) = (None, None, None, None);
    let mut listen = String::from("127.0.0.1:3002");
    let mut threads = 4usize;
    while let Some(flag) = args.next() {
        let mut value = || args.next().ok_or_else(|| format!("{flag} needs a value"));
        let result = match flag.as_str() {
            "--rpc-url" => value().map(|v| url = Some(v)),
            "--rpc-user" => value().map(|v| user = Some(v)),
            "--rpc-password" => value().map(|v| password = Some(v)),
            "--rpc-cookie" => value().map(|v| cookie = Some(PathBuf::from(v))),
            "--listen" => value().map(|v| listen = v),
            "--threads" => value().and_then(|v| {
                v.parse()
                    .map(|n| threads = n)
                    .map_err(|_| "bad --threads".into())
            }),
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
    let auth = match (user, password, cookie) {
        (Some(user), Some(password), None) => RpcAuth::UserPass { user, password },
        (None, None, Some(path)) => RpcAuth::CookieFile(path),
        (None, None, None) => RpcAuth::None,
        _ => {
            eprintln!("give either --rpc-user and --rpc-password, or --rpc-cookie\n{USAGE}");
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
    let mut config = ServerConfig::new(url, auth, listen);
    config.threads = threads;
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

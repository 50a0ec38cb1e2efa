//! `qtum-backupd --listen 127.0.0.1:PORT --database FILE [--max-backup-mb N]`: the versioned
//! store of encrypted node backups (see the library's documentation for the protocol).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use qtum_backup_server::{BackupServer, Config};

const USAGE: &str =
    "usage: qtum-backupd --listen 127.0.0.1:PORT --database FILE [--max-backup-mb N]";

fn parse(args: Vec<String>) -> Result<Config, String> {
    let mut listen: Option<SocketAddr> = None;
    let mut database: Option<PathBuf> = None;
    let mut max_mb: Option<usize> = None;
    let mut it = args.into_iter();
    while let Some(flag) = it.next() {
        let mut value = || it.next().ok_or_else(|| format!("{flag} needs a value"));
        match flag.as_str() {
            "--listen" => {
                let v = value()?;
                listen = Some(v.parse().map_err(|e| format!("--listen {v}: {e}"))?);
            }
            "--database" => database = Some(PathBuf::from(value()?)),
            "--max-backup-mb" => {
                let v = value()?;
                max_mb = Some(
                    v.parse()
                        .ok()
                        .filter(|n| *n > 0 && *n <= 1024)
                        .ok_or_else(|| "--max-backup-mb wants 1 to 1024".to_string())?,
                );
            }
            "-h" | "--help" => return Err(USAGE.into()),
            other => return Err(format!("unknown argument {other}\n{USAGE}")),
        }
    }
    let mut config = Config::new(
        listen.ok_or_else(|| format!("--listen is required\n{USAGE}"))?,
        database.ok_or_else(|| format!("--database is required\n{USAGE}"))?,
    );
    if let Some(mb) = max_mb {
        config.max_backup_bytes = mb * 1024 * 1024;
    }
    Ok(config)
}

struct StderrLog;

impl log::Log for StderrLog {
    fn enabled(&self, metadata: &log::Metadata) -> bool {
        metadata.level() <= log::Level::Info
    }
    fn log(&self, record: &log::Record) {
        if self.enabled(record.metadata()) {
            eprintln!("{} {}", record.level(), record.args());
        }
    }
    fn flush(&self) {}
}

fn main() -> ExitCode {
    let _ = log::set_logger(&StderrLog).map(|()| log::set_max_level(log::LevelFilter::Info));
    let config = match parse(std::env::args().skip(1).collect()) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(2);
        }
    };
    match BackupServer::start(config) {
        Ok(server) => {
            server.wait();
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("qtum-backupd: {e}");
            ExitCode::FAILURE
        }
    }
}

//! `qtum-lnd --config FILE`: runs the server node until SIGTERM or SIGINT.
//! `qtum-lnd --check-config --config FILE`: checks the file and exits (0: good, 2: refused).

use std::path::PathBuf;
use std::process::ExitCode;

use qtum_lnd::config::DaemonConfig;
use qtum_lnd::Daemon;
use signal_hook::consts::{SIGINT, SIGTERM};
use signal_hook::iterator::Signals;

const USAGE: &str = "usage: qtum-lnd --config FILE [--check-config]";

fn main() -> ExitCode {
    let mut config_path: Option<PathBuf> = None;
    let mut check_only = false;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--config" => match args.next() {
                Some(p) => config_path = Some(PathBuf::from(p)),
                None => return usage("--config needs a file"),
            },
            "--check-config" => check_only = true,
            "-h" | "--help" => {
                println!("{USAGE}");
                return ExitCode::SUCCESS;
            }
            "--version" => {
                println!("qtum-lnd {}", env!("CARGO_PKG_VERSION"));
                return ExitCode::SUCCESS;
            }
            other => return usage(&format!("unknown argument '{other}'")),
        }
    }
    let Some(config_path) = config_path else {
        return usage("--config is required");
    };
    let config = match DaemonConfig::load(&config_path) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("qtum-lnd: {}: {e}", config_path.display());
            return ExitCode::from(2);
        }
    };
    if check_only {
        println!("{}: good", config_path.display());
        return ExitCode::SUCCESS;
    }
    if let Err(e) = qtum_lnd::logging::init(config.log_level, config.log_file.as_deref()) {
        eprintln!("qtum-lnd: {e}");
        return ExitCode::from(2);
    }
    // Registered before the node starts, so a signal during the start is not lost.
    let mut signals = match Signals::new([SIGTERM, SIGINT]) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("qtum-lnd: cannot watch for signals: {e}");
            return ExitCode::FAILURE;
        }
    };
    let daemon = match Daemon::start(&config) {
        Ok(d) => d,
        Err(e) => {
            log::error!("{e}");
            eprintln!("qtum-lnd: {e}");
            return ExitCode::FAILURE;
        }
    };
    // Until SIGTERM/SIGINT, or until the node halts: a failed write of channel state (a full
    // disk, a database server that went away) stops the node for good. Exiting then lets the
    // supervisor (systemd's Restart=on-failure, compose's restart policy) start it again from
    // the last commit once the cause is gone, instead of serving a halted node for ever.
    let halted = loop {
        if let Some(signal) = signals.pending().next() {
            log::info!("signal {signal}: stopping");
            break None;
        }
        if let Some(reason) = daemon.node().halted_reason() {
            break Some(reason);
        }
        std::thread::sleep(HALT_CHECK);
    };
    daemon.stop();
    log::logger().flush();
    match halted {
        None => {
            log::info!("stopped");
            log::logger().flush();
            ExitCode::SUCCESS
        }
        Some(reason) => {
            log::error!("the node halted ({reason}); exiting so that it can be started again");
            log::logger().flush();
            eprintln!("qtum-lnd: the node halted: {reason}");
            ExitCode::from(EXIT_HALTED)
        }
    }
}

/// How often the main thread looks for a signal or a halted node.
const HALT_CHECK: std::time::Duration = std::time::Duration::from_millis(250);
/// The exit status after the node halted (1 is a failed start, 2 a refused configuration).
const EXIT_HALTED: u8 = 3;

fn usage(why: &str) -> ExitCode {
    eprintln!("qtum-lnd: {why}\n{USAGE}");
    ExitCode::from(2)
}

//! LDK's logs, routed to the `log` crate (and from there to logcat, os_log or an app's writer).
//!
//! LDK never logs seeds or preimages; our own code must not either (see STYLE §4 and the
//! `Debug` impls of the config types).

use lightning::util::logger::{Level, Logger, Record};

/// Forwards LDK's records to the `log` facade under the target `ldk`.
#[derive(Debug, Default)]
pub struct LdkLogger;

impl Logger for LdkLogger {
    fn log(&self, record: Record) {
        let level = match record.level {
            Level::Gossip | Level::Trace => log::Level::Trace,
            Level::Debug => log::Level::Debug,
            Level::Info => log::Level::Info,
            Level::Warn => log::Level::Warn,
            Level::Error => log::Level::Error,
        };
        if log::log_enabled!(target: "ldk", level) {
            log::log!(target: "ldk", level, "{}:{} {}", record.module_path, record.line, record.args);
        }
    }
}

//! Where the SDK's logs go when it runs inside an app.
//!
//! One `log::Log` for the process, installed the first time a `Builder` is made or a writer set:
//! - a [`LogWriter`] the app registers (Kotlin/Swift/Python), when there is one;
//! - otherwise the platform's log: logcat through `android_logger` on Android (tag
//!   `QtumLightning`), the unified log through `os_log` on iOS (subsystem `org.qtum.lightning`);
//! - otherwise nowhere.
//!
//! Records are filtered by level before they cross the FFI. Nothing the SDK logs carries a seed,
//! a mnemonic or a password: the config types redact them in `Debug`, LDK never logs key
//! material, and this layer never logs arguments.
//!
//! On iOS we use the `oslog` crate rather than our own binding: `os_log` is a C macro that puts
//! its format string in a special section, so calling it from Rust needs a compiled C shim,
//! which is exactly (and only) what `oslog` is with its default features off.

use std::sync::{Arc, Once, RwLock};

/// A log record's severity.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, uniffi::Enum)]
pub enum LogLevel {
    /// Very detailed (LDK's gossip and trace records).
    Trace,
    /// For debugging.
    Debug,
    /// Normal operation.
    Info,
    /// Something unexpected that the node handles.
    Warn,
    /// Something failed.
    Error,
}

impl From<log::Level> for LogLevel {
    fn from(level: log::Level) -> LogLevel {
        match level {
            log::Level::Trace => LogLevel::Trace,
            log::Level::Debug => LogLevel::Debug,
            log::Level::Info => LogLevel::Info,
            log::Level::Warn => LogLevel::Warn,
            log::Level::Error => LogLevel::Error,
        }
    }
}

impl LogLevel {
    fn filter(self) -> log::LevelFilter {
        match self {
            LogLevel::Trace => log::LevelFilter::Trace,
            LogLevel::Debug => log::LevelFilter::Debug,
            LogLevel::Info => log::LevelFilter::Info,
            LogLevel::Warn => log::LevelFilter::Warn,
            LogLevel::Error => log::LevelFilter::Error,
        }
    }
}

/// One log record, as the app's [`LogWriter`] receives it.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct LogRecord {
    /// Severity.
    pub level: LogLevel,
    /// Where it comes from: `ldk` for LDK, otherwise the Rust module path.
    pub target: String,
    /// The message.
    pub message: String,
    /// Rust module path, when known.
    pub module_path: Option<String>,
    /// Source line, when known.
    pub line: Option<u32>,
}

/// Implemented by the app to receive the SDK's logs (for its own log files or crash reports).
/// Called on the SDK's threads: keep it short. An exception it throws is swallowed.
#[uniffi::export(with_foreign)]
pub trait LogWriter: Send + Sync {
    /// One record at or above the level given to [`set_log_writer`].
    fn log(&self, record: LogRecord);
}

struct Dispatch {
    writer: RwLock<Option<Arc<dyn LogWriter>>>,
}

static DISPATCH: Dispatch = Dispatch {
    writer: RwLock::new(None),
};
static INSTALL: Once = Once::new();

thread_local! {
    /// Whether this thread is inside the app's writer.
    static IN_WRITER: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// The level used when the app sets none: what a phone's log should hold.
const DEFAULT_LEVEL: log::LevelFilter = log::LevelFilter::Info;

/// Install the process-wide logger once. If the host (or another library) installed its own
/// `log` logger first, that one keeps the records and this does nothing.
pub(crate) fn ensure_installed() {
    INSTALL.call_once(|| {
        if log::set_logger(&DISPATCH).is_ok() {
            let level = if platform::AVAILABLE {
                DEFAULT_LEVEL
            } else {
                log::LevelFilter::Off
            };
            log::set_max_level(level);
        }
    });
}

/// Send the SDK's logs at `max_level` and above to `writer` (replacing the platform log), or,
/// with `None`, back to the platform log (logcat, os_log; nothing elsewhere).
#[uniffi::export]
pub fn set_log_writer(writer: Option<Arc<dyn LogWriter>>, max_level: LogLevel) {
    ensure_installed();
    let level = match &writer {
        Some(_) => max_level.filter(),
        None if platform::AVAILABLE => max_level.filter(),
        None => log::LevelFilter::Off,
    };
    *DISPATCH
        .writer
        .write()
        .unwrap_or_else(|poisoned| poisoned.into_inner()) = writer;
    log::set_max_level(level);
}

impl log::Log for Dispatch {
    fn enabled(&self, metadata: &log::Metadata<'_>) -> bool {
        metadata.level() <= log::max_level()
    }

    fn log(&self, record: &log::Record<'_>) {
        if !self.enabled(record.metadata()) {
            return;
        }
        let writer = self
            .writer
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .clone();
        match writer {
            Some(writer) => {
                // A writer that (directly or through an SDK call) logs again would recurse
                // until the stack overflows, which aborts: drop records logged from inside it.
                if IN_WRITER.with(|inside| inside.replace(true)) {
                    return;
                }
                let record = LogRecord {
                    level: record.level().into(),
                    target: record.target().to_string(),
                    message: record.args().to_string(),
                    module_path: record.module_path().map(str::to_string),
                    line: record.line(),
                };
                // A foreign exception surfaces as a panic of the callback: it stops here, so
                // logging can never take a node thread down.
                let _ =
                    std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| writer.log(record)));
                IN_WRITER.with(|inside| inside.set(false));
            }
            None => platform::log(record),
        }
    }

    fn flush(&self) {}
}

#[cfg(target_os = "android")]
mod platform {
    use std::sync::OnceLock;

    pub const AVAILABLE: bool = true;

    static LOGCAT: OnceLock<android_logger::AndroidLogger> = OnceLock::new();

    pub fn log(record: &log::Record<'_>) {
        let logcat = LOGCAT.get_or_init(|| {
            android_logger::AndroidLogger::new(
                android_logger::Config::default()
                    .with_tag("QtumLightning")
                    .with_max_level(log::LevelFilter::Trace),
            )
        });
        log::Log::log(logcat, record);
    }
}

#[cfg(target_os = "ios")]
mod platform {
    use std::sync::OnceLock;

    pub const AVAILABLE: bool = true;

    static OSLOG: OnceLock<oslog::OsLog> = OnceLock::new();

    pub fn log(record: &log::Record<'_>) {
        let log = OSLOG.get_or_init(|| oslog::OsLog::new("org.qtum.lightning", "sdk"));
        let level = match record.level() {
            log::Level::Trace | log::Level::Debug => oslog::Level::Debug,
            log::Level::Info => oslog::Level::Info,
            log::Level::Warn => oslog::Level::Default,
            log::Level::Error => oslog::Level::Error,
        };
        log.with_level(level, &format!("{} {}", record.target(), record.args()));
    }
}

#[cfg(not(any(target_os = "android", target_os = "ios")))]
mod platform {
    pub const AVAILABLE: bool = false;

    pub fn log(_record: &log::Record<'_>) {}
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;

    struct Collect(Mutex<Vec<LogRecord>>);
    impl LogWriter for Collect {
        fn log(&self, record: LogRecord) {
            self.0
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .push(record);
        }
    }

    struct Reenters(Mutex<u32>);
    impl LogWriter for Reenters {
        fn log(&self, _record: LogRecord) {
            *self.0.lock().unwrap_or_else(|p| p.into_inner()) += 1;
            log::warn!(target: "ffi-test", "logged from inside the writer");
        }
    }

    struct Throws;
    impl LogWriter for Throws {
        fn log(&self, _record: LogRecord) {
            panic!("a foreign exception");
        }
    }

    // One test for the process-wide logger: the tests of this crate run in parallel threads.
    #[test]
    fn records_are_filtered_forwarded_and_contained() {
        let collect = Arc::new(Collect(Mutex::new(Vec::new())));
        set_log_writer(Some(collect.clone()), LogLevel::Info);
        log::debug!(target: "ffi-test", "hidden");
        log::warn!(target: "ffi-test", "shown {}", 1);
        let seen: Vec<LogRecord> = collect
            .0
            .lock()
            .expect("lock")
            .iter()
            .filter(|r| r.target == "ffi-test")
            .cloned()
            .collect();
        assert_eq!(seen.len(), 1);
        assert_eq!(seen[0].level, LogLevel::Warn);
        assert_eq!(seen[0].message, "shown 1");

        let reenters = Arc::new(Reenters(Mutex::new(0)));
        set_log_writer(Some(reenters.clone()), LogLevel::Info);
        log::warn!(target: "ffi-test", "once");
        assert_eq!(*reenters.0.lock().expect("lock"), 1, "no recursion");

        set_log_writer(Some(Arc::new(Throws)), LogLevel::Trace);
        log::error!(target: "ffi-test", "the writer throws; the caller goes on");

        set_log_writer(None, LogLevel::Info);
        assert_eq!(
            log::max_level(),
            log::LevelFilter::Off,
            "no platform log here"
        );
    }
}

//! The daemon's log: one line per record, `2026-12-06T01:02:03.456Z INFO target: message`, to
//! stdout (for journald and `docker logs`) or appended to a file.

use std::fs::File;
use std::io::Write;
use std::path::Path;
use std::sync::Mutex;
use std::time::{SystemTime, UNIX_EPOCH};

enum Sink {
    Stdout,
    File(Mutex<File>),
}

struct DaemonLogger {
    level: log::LevelFilter,
    sink: Sink,
}

/// `seconds` since 1970 as a UTC calendar date and time (the civil-from-days algorithm).
pub fn utc(seconds: u64, millis: u32) -> String {
    let days = (seconds / 86_400) as i64;
    let rem = seconds % 86_400;
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{millis:03}Z",
        rem / 3_600,
        rem % 3_600 / 60,
        rem % 60
    )
}

impl log::Log for DaemonLogger {
    fn enabled(&self, metadata: &log::Metadata) -> bool {
        // The PostgreSQL driver logs every statement's bound values at debug level: payment
        // preimages and channel state among them. Its warnings and errors only.
        if metadata.target().starts_with("tokio_postgres")
            || metadata.target().starts_with("postgres")
        {
            return metadata.level() <= log::Level::Warn && metadata.level() <= self.level;
        }
        metadata.level() <= self.level
    }

    fn log(&self, record: &log::Record) {
        if !self.enabled(record.metadata()) {
            return;
        }
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default();
        // One line whatever the message holds.
        let message = record.args().to_string().replace(['\n', '\r'], " ");
        let line = format!(
            "{} {:5} {}: {message}\n",
            utc(now.as_secs(), now.subsec_millis()),
            record.level(),
            record.target()
        );
        match &self.sink {
            Sink::Stdout => {
                let _ = std::io::stdout().lock().write_all(line.as_bytes());
            }
            Sink::File(f) => {
                let mut f = f.lock().unwrap_or_else(|p| p.into_inner());
                let _ = f.write_all(line.as_bytes());
            }
        }
    }

    fn flush(&self) {
        match &self.sink {
            Sink::Stdout => {
                let _ = std::io::stdout().flush();
            }
            Sink::File(f) => {
                let _ = f.lock().unwrap_or_else(|p| p.into_inner()).flush();
            }
        }
    }
}

/// Installs the logger: records at `level` and above, to `file` (appended) or stdout.
pub fn init(level: log::LevelFilter, file: Option<&Path>) -> Result<(), String> {
    let sink = match file {
        None => Sink::Stdout,
        Some(path) => {
            if let Some(dir) = path.parent() {
                std::fs::create_dir_all(dir)
                    .map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
            }
            let f = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(path)
                .map_err(|e| format!("cannot open the log file {}: {e}", path.display()))?;
            Sink::File(Mutex::new(f))
        }
    };
    log::set_boxed_logger(Box::new(DaemonLogger { level, sink }))
        .map_err(|e| format!("cannot install the logger: {e}"))?;
    log::set_max_level(level);
    Ok(())
}

#[cfg(test)]
mod tests {
    #[test]
    fn utc_dates() {
        assert_eq!(super::utc(0, 0), "1970-01-01T00:00:00.000Z");
        assert_eq!(super::utc(951_782_400, 5), "2000-02-29T00:00:00.005Z");
        assert_eq!(super::utc(1_796_605_323, 456), "2026-12-07T01:02:03.456Z");
    }
}

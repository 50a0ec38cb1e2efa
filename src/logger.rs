//! LDK's logs, routed to the `log` crate (and from there to logcat, os_log or an app's writer).
//!
//! LDK never logs seeds or preimages; our own code must not either: the config types, the
//! builder and payment details redact secrets in `Debug`, and `tests/secrets.rs` scans every
//! log line of a whole node cycle for them.

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
            let message = scrub_preimages(record.args.to_string());
            log::log!(target: "ldk", level, "{}:{} {}", record.module_path, record.line, message);
        }
    }
}

/// How far after the word "preimage" a preimage's hex is looked for (field names, `Some(`,
/// `PaymentPreimage(`).
const PREIMAGE_LOOKAHEAD: usize = 48;

/// LDK logs payment preimages at debug and trace level ("Claiming inbound HTLC ... with
/// preimage ...", message and event dumps, where a keysend's preimage appears as
/// `SpontaneousPayment(...)`). A preimage is the proof of payment, and one that is not yet
/// settled upstream is what claims the money: every 64-digit hex string shortly after one of
/// these words is replaced.
fn scrub_preimages(message: String) -> String {
    const MARKERS: [&str; 2] = ["preimage", "spontaneouspayment"];
    let lower = message.to_ascii_lowercase();
    if !MARKERS.iter().any(|m| lower.contains(m)) {
        return message;
    }
    MARKERS
        .iter()
        .fold(message, |message, marker| scrub_after(message, marker))
}

/// Replaces the first 64-digit hex run starting within [`PREIMAGE_LOOKAHEAD`] bytes after each
/// (ASCII case-insensitive) occurrence of `marker`.
fn scrub_after(mut message: String, marker: &str) -> String {
    let mut from = 0;
    while let Some(found) = message[from..].to_ascii_lowercase().find(marker) {
        let start = from + found + marker.len();
        let window_end = (start + PREIMAGE_LOOKAHEAD).min(message.len());
        let mut hex_start = None;
        let mut run = 0;
        for (i, b) in message.bytes().enumerate().skip(start) {
            if b.is_ascii_hexdigit() {
                run += 1;
                if run == 64 {
                    hex_start = Some(i + 1 - 64);
                    break;
                }
            } else {
                run = 0;
                if i >= window_end {
                    break;
                }
            }
        }
        match hex_start {
            Some(h) => {
                message.replace_range(h..h + 64, "<redacted>");
                from = h + "<redacted>".len();
            }
            None => from = start,
        }
        if from >= message.len() {
            break;
        }
    }
    message
}

#[cfg(test)]
mod tests {
    use super::scrub_preimages;

    #[test]
    fn preimages_are_scrubbed() {
        let p = "4bf748bb02ed90083874b2ccf727b4630e8d3480b60eaa43521df3009df36619";
        let h = "fdddb74a38526c13ff87297c33615a16894efbe5114a7910af8ce513130877c9";
        for line in [
            format!("Claiming inbound HTLC id 0 with payment hash {h} with preimage {p}"),
            format!("UpdateFulfillHTLC {{ htlc_id: 0, payment_preimage: {p}, x: 1 }}"),
            format!("purpose: Bolt11InvoicePayment {{ payment_preimage: Some(PaymentPreimage({p})), payment_secret: 1 }} and preimage {p}"),
            format!("amount_msat: 1, purpose: SpontaneousPayment({p}), receiving"),
        ] {
            let out = scrub_preimages(line.clone());
            assert!(!out.contains(p), "{out}");
            assert!(out.contains("<redacted>"));
            // Payment hashes stay: they are public and what a log is searched for.
            if line.contains(h) {
                assert!(out.contains(h), "{out}");
            }
        }
        let plain = format!("payment hash {h}");
        assert_eq!(scrub_preimages(plain.clone()), plain);
        assert_eq!(scrub_preimages("no preimage".into()), "no preimage");
        assert_eq!(scrub_preimages("preimage ".into()), "preimage ");
    }
}

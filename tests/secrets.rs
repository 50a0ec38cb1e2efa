//! No secret reaches a log line, a `Debug` or an error: a whole node cycle (mnemonic with a
//! passphrase, raw seed bytes, RPC password, invoices, keysend, cooperative close, bad input)
//! runs with every log record collected at trace level, and the collection is scanned for the
//! mnemonic (any three consecutive words), the passphrase, the seed bytes, the RPC password and
//! every payment preimage.

mod common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::*;
use qtum_lightning::ffi::{set_log_writer, LogLevel, LogRecord, LogWriter};
use qtum_lightning::{Builder, ChainSourceConfig, PaymentFilter, PaymentStatus, RpcAuth};

/// A valid BIP39 mnemonic (a published test vector) and a passphrase to look for.
const MNEMONIC: &str =
    "legal winner thank year wave sausage worth useful legal winner thank yellow";
const PASSPHRASE: &str = "open-sesame-7f3a9c";

struct Collect(Mutex<Vec<String>>);

impl LogWriter for Collect {
    fn log(&self, r: LogRecord) {
        self.0
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(format!("{:?} {} {}", r.level, r.target, r.message));
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[test]
fn no_secret_reaches_a_log_line_a_debug_or_an_error() {
    let logs = Arc::new(Collect(Mutex::new(Vec::new())));
    set_log_writer(Some(logs.clone()), LogLevel::Trace);
    // What else the SDK shows the app: Debug of its types, error texts.
    let mut shown: Vec<String> = Vec::new();

    let harness = harness();
    let alice_config = config(&harness, "secrets-alice");
    shown.push(format!("{alice_config:?}"));
    let mut builder = Builder::new(alice_config.clone());
    builder.set_entropy_mnemonic(MNEMONIC, Some(PASSPHRASE));
    shown.push(format!("{builder:?}"));
    let alice = builder.build().expect("alice builds");
    alice.start().expect("start");

    let seed: Vec<u8> = (0u8..32)
        .map(|i| i.wrapping_mul(37).wrapping_add(11))
        .collect();
    let mut builder = Builder::new(config(&harness, "secrets-bob"));
    builder.set_entropy_seed_bytes(&seed);
    shown.push(format!("{builder:?}"));
    let bob = builder.build().expect("bob builds");
    bob.start().expect("start");

    // Bad input of every kind the app can give, each error kept.
    let mut bad = Builder::new(config(&harness, "secrets-bad"));
    let mut words: Vec<&str> = MNEMONIC.split(' ').collect();
    words[11] = "zoo";
    bad.set_entropy_mnemonic(&words.join(" "), Some(PASSPHRASE));
    match bad.build() {
        Ok(_) => panic!("a mnemonic with a bad checksum was accepted"),
        Err(e) => shown.push(format!("{e:?} {e}")),
    }
    let mut wrong_password = config(&harness, "secrets-wrong-password");
    wrong_password.chain_source = ChainSourceConfig::rpc(
        format!(
            "http://user:{}@{}",
            harness.rpc_password(),
            harness.url().trim_start_matches("http://")
        ),
        RpcAuth::UserPass {
            user: harness.rpc_user().into(),
            password: format!("{}-wrong", harness.rpc_password()),
        },
    );
    shown.push(format!("{wrong_password:?}"));
    let mut builder = Builder::new(wrong_password);
    builder.set_entropy_seed_bytes(&seed);
    match builder.build() {
        Ok(node) => {
            shown.push(format!("{:?}", node.start().err()));
            shown.push(format!("{:?}", node.sync().err()));
        }
        Err(e) => shown.push(format!("{e:?} {e}")),
    };

    // A whole cycle: invoices both ways, keysend, a cooperative close.
    fund(&harness, &alice, 20 * QTUM);
    let channel = open_ready_channel(&harness, &alice, &bob, 10 * QTUM, None);
    let invoice = bob
        .receive(QTUM * 1_000 / 2, "to bob", None)
        .expect("invoice");
    let id = alice.send(&invoice, None).expect("send");
    let paid = alice
        .wait_payment(&id, Duration::from_secs(60))
        .expect("payment");
    assert_eq!(paid.status, PaymentStatus::Succeeded);
    let id = alice
        .send_spontaneous(&bob.node_id(), QTUM * 1_000 / 10, None)
        .expect("keysend");
    alice
        .wait_payment(&id, Duration::from_secs(60))
        .expect("keysend payment");
    let invoice = alice
        .receive(QTUM * 1_000 / 100, "to alice", None)
        .expect("invoice");
    let id = bob.send(&invoice, None).expect("send");
    bob.wait_payment(&id, Duration::from_secs(60))
        .expect("payment back");
    shown.push(format!("{:?}", bob.send(&invoice, None).err()));
    alice.close_channel(&channel).expect("close");
    wait_until("closed", || {
        mine(&harness, 1);
        let _ = alice.sync();
        let _ = bob.sync();
        alice.list_channels().is_empty() && bob.list_channels().is_empty()
    });

    // Every preimage the two nodes know.
    let mut preimages = Vec::new();
    for node in [&alice, &bob] {
        let payments = node.list_payments(PaymentFilter::default()).expect("list");
        shown.push(format!("{payments:?}"));
        while let Some(event) = node.next_event() {
            shown.push(format!("{event:?}"));
            node.event_handled().expect("ack");
        }
        preimages.extend(payments.into_iter().filter_map(|p| p.preimage));
    }
    assert!(preimages.len() >= 4, "preimages known: {}", preimages.len());
    alice.stop().expect("stop");
    bob.stop().expect("stop");
    set_log_writer(None, LogLevel::Error);

    let logs = logs.0.lock().unwrap_or_else(|p| p.into_inner()).clone();
    assert!(
        logs.len() > 1_000,
        "trace logging collected {} lines",
        logs.len()
    );
    let mut secrets: Vec<(String, String)> = vec![
        ("passphrase".into(), PASSPHRASE.into()),
        ("seed bytes".into(), hex(&seed)),
        ("RPC password".into(), harness.rpc_password().to_string()),
    ];
    let words: Vec<&str> = MNEMONIC.split(' ').collect();
    for window in words.windows(3) {
        secrets.push(("mnemonic words".into(), window.join(" ")));
    }
    for p in &preimages {
        secrets.push(("preimage".into(), qtum_lightning::types::IdText::to_text(p)));
    }
    let mut leaks = Vec::new();
    for text in logs.iter().chain(&shown) {
        for (what, secret) in &secrets {
            if text.to_lowercase().contains(&secret.to_lowercase()) {
                let at = text
                    .to_lowercase()
                    .find(&secret.to_lowercase())
                    .unwrap_or(0);
                let from = text.floor_char_boundary(at.saturating_sub(120));
                leaks.push(format!(
                    "{what} in: …{}",
                    &text[from..text.ceil_char_boundary((at + 80).min(text.len()))]
                ));
            }
        }
    }
    assert!(
        leaks.is_empty(),
        "{} leaks, first ones:\n{}",
        leaks.len(),
        leaks[..leaks.len().min(10)].join("\n")
    );
}

//! `crash-node`: one SDK node in its own process, driven over stdin/stdout so a test can kill it
//! with SIGKILL at any moment and start it again on the same storage directory.
//!
//! Protocol: one command per line on stdin, one JSON object per line on stdout. The first line
//! printed is the start-up answer. Every answer is either `{"ok":true,"result":…}` or
//! `{"ok":false,"error":{"kind":…,"message":…}}`; bad input is an error answer, never a crash.
//! Logs (the SDK's and LDK's) go to stderr, never to stdout.
//!
//! | command | result |
//! |---|---|
//! | `info` | node id, URI, sync status |
//! | `new_address` | a fresh on-chain address |
//! | `balance` | the on-chain balance |
//! | `sync` | `null` once a chain sync round finished |
//! | `channels` | the channels (`ChannelInfo` fields) |
//! | `peers` | connected and remembered peers |
//! | `connect <uri> [persist]` | `null` |
//! | `open <uri> <sat> [push_msat]` | the user channel id |
//! | `receive <msat> [description…]` | `{invoice, payment_hash}` |
//! | `send <invoice>` | the payment id |
//! | `payment <id>` | the payment, or `null` |
//! | `payments [inbound\|outbound]` | every payment, newest first |
//! | `close <channel_id>` / `force_close <channel_id>` | `null` |
//! | `events` | the queued events, each acknowledged once read |
//! | `fail_task <task>` | `null`; the task panics (see `Node::debug_fail_task`) |
//! | `slow_storage <ms>` | `null`; every commit of channel state waits that long first |
//! | `stop` | `null` after a clean stop; then the process exits |
//!
//! End of input stops the node cleanly too.

use std::io::{BufRead, Write};
use std::panic::AssertUnwindSafe;
use std::path::PathBuf;
use std::time::{SystemTime, UNIX_EPOCH};

use qtum_lightning::qtum::network::Network;
use qtum_lightning::types::IdText;
use qtum_lightning::{
    Builder, ChainSourceConfig, Config, Node, NodeError, PaymentDetails, PaymentDirection,
    PaymentFilter, PaymentKind, PaymentStatus, RpcAuth,
};
use serde_json::{json, Value};

/// Where the RPC password is read from (an environment variable keeps it out of process
/// listings; `--rpc-password` is accepted too).
const PASSWORD_ENV: &str = "CRASH_NODE_RPC_PASSWORD";
/// The PostgreSQL database of the node's state, when set (else `node.sqlite` in `--dir`).
const POSTGRES_ENV: &str = "CRASH_NODE_POSTGRES_URL";
/// Log level of the SDK and LDK on stderr: error, warn, info (default), debug, trace, off.
const LOG_ENV: &str = "CRASH_NODE_LOG";

const USAGE: &str = "usage: crash-node --dir DIR --seed BYTE --port PORT --rpc-url URL \
--rpc-user USER [--rpc-password PASSWORD (or env CRASH_NODE_RPC_PASSWORD)] [--alias NAME] \
[--sync-secs N] [--to-self-delay BLOCKS] [--funding-confirmations N]";

/// An answer's error: the variant name of the SDK's error and its message.
struct Failure {
    kind: String,
    message: String,
}

impl Failure {
    fn new(kind: &str, message: impl Into<String>) -> Failure {
        Failure {
            kind: kind.to_string(),
            message: message.into(),
        }
    }
}

impl From<NodeError> for Failure {
    fn from(e: NodeError) -> Failure {
        // The variant name, without its payload: what a caller switches on.
        let debug = format!("{e:?}");
        let kind = debug.split('(').next().unwrap_or("NodeError").to_string();
        Failure {
            kind,
            message: e.to_string(),
        }
    }
}

type Answer = Result<Value, Failure>;

fn answer_line(answer: Answer) -> String {
    let value = match answer {
        Ok(result) => json!({ "ok": true, "result": result }),
        Err(f) => json!({ "ok": false, "error": { "kind": f.kind, "message": f.message } }),
    };
    value.to_string()
}

fn emit(answer: Answer) {
    let line = answer_line(answer);
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    // A closed stdout means the test is gone; nothing left to tell.
    let _ = writeln!(out, "{line}");
    let _ = out.flush();
}

/// Logs to stderr with a wall-clock timestamp.
struct StderrLogger {
    level: log::LevelFilter,
}

impl log::Log for StderrLogger {
    fn enabled(&self, metadata: &log::Metadata<'_>) -> bool {
        metadata.level() <= self.level
    }

    fn log(&self, record: &log::Record<'_>) {
        if !self.enabled(record.metadata()) {
            return;
        }
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default();
        let stderr = std::io::stderr();
        let mut err = stderr.lock();
        let _ = writeln!(
            err,
            "{}.{:03} {:5} {} {}",
            now.as_secs(),
            now.subsec_millis(),
            record.level(),
            record.target(),
            record.args()
        );
    }

    fn flush(&self) {}
}

fn init_logging() {
    let level = match std::env::var(LOG_ENV).as_deref() {
        Ok("off") => log::LevelFilter::Off,
        Ok("error") => log::LevelFilter::Error,
        Ok("warn") => log::LevelFilter::Warn,
        Ok("debug") => log::LevelFilter::Debug,
        Ok("trace") => log::LevelFilter::Trace,
        _ => log::LevelFilter::Info,
    };
    let logger: &'static StderrLogger = Box::leak(Box::new(StderrLogger { level }));
    if log::set_logger(logger).is_ok() {
        log::set_max_level(level);
    }
}

/// The command line, parsed.
struct Args {
    dir: PathBuf,
    seed: u8,
    port: u16,
    rpc_url: String,
    rpc_user: String,
    rpc_password: String,
    alias: String,
    sync_secs: u64,
    to_self_delay: Option<u16>,
    funding_confirmations: Option<u32>,
}

fn parse_number<T: std::str::FromStr>(flag: &str, value: &str) -> Result<T, Failure> {
    value
        .parse()
        .map_err(|_| Failure::new("Usage", format!("{flag}: not a number: {value}")))
}

fn parse_args(mut raw: impl Iterator<Item = String>) -> Result<Args, Failure> {
    let mut dir = None;
    let mut seed = None;
    let mut port = None;
    let mut rpc_url = None;
    let mut rpc_user = None;
    let mut rpc_password = std::env::var(PASSWORD_ENV).ok();
    let mut alias = String::from("crash-node");
    let mut sync_secs = 1;
    let mut to_self_delay = None;
    let mut funding_confirmations = None;
    while let Some(flag) = raw.next() {
        let value = raw
            .next()
            .ok_or_else(|| Failure::new("Usage", format!("{flag} needs a value; {USAGE}")))?;
        match flag.as_str() {
            "--dir" => dir = Some(PathBuf::from(value)),
            "--seed" => seed = Some(parse_number(&flag, &value)?),
            "--port" => port = Some(parse_number(&flag, &value)?),
            "--rpc-url" => rpc_url = Some(value),
            "--rpc-user" => rpc_user = Some(value),
            "--rpc-password" => rpc_password = Some(value),
            "--alias" => alias = value,
            "--sync-secs" => sync_secs = parse_number(&flag, &value)?,
            "--to-self-delay" => to_self_delay = Some(parse_number(&flag, &value)?),
            "--funding-confirmations" => funding_confirmations = Some(parse_number(&flag, &value)?),
            other => {
                return Err(Failure::new(
                    "Usage",
                    format!("unknown flag {other}; {USAGE}"),
                ))
            }
        }
    }
    let missing = |what: &str| Failure::new("Usage", format!("{what} is required; {USAGE}"));
    Ok(Args {
        dir: dir.ok_or_else(|| missing("--dir"))?,
        seed: seed.ok_or_else(|| missing("--seed"))?,
        port: port.ok_or_else(|| missing("--port"))?,
        rpc_url: rpc_url.ok_or_else(|| missing("--rpc-url"))?,
        rpc_user: rpc_user.ok_or_else(|| missing("--rpc-user"))?,
        rpc_password: rpc_password.ok_or_else(|| missing("--rpc-password"))?,
        alias,
        sync_secs,
        to_self_delay,
        funding_confirmations,
    })
}

fn build_node(args: &Args) -> Result<Node, Failure> {
    let mut config = Config::new(
        Network::Regtest,
        args.dir.clone(),
        ChainSourceConfig::rpc(
            args.rpc_url.clone(),
            RpcAuth::UserPass {
                user: args.rpc_user.clone(),
                password: args.rpc_password.clone(),
            },
        ),
    );
    config.listening_addresses = vec![([127, 0, 0, 1], args.port).into()];
    config.alias = args.alias.clone();
    config.sync_interval_secs = args.sync_secs;
    if let Some(delay) = args.to_self_delay {
        config.our_to_self_delay_blocks = delay;
    }
    if let Some(confirmations) = args.funding_confirmations {
        config.funding_confirmations = confirmations;
    }
    let mut builder = Builder::new(config);
    builder.set_entropy_seed_bytes(&[args.seed; 32]);
    // The node's state in PostgreSQL instead of the directory's SQLite file (the URL comes
    // through the environment, like the RPC password).
    if let Ok(url) = std::env::var(POSTGRES_ENV) {
        builder.set_postgres_storage(&url, None);
    }
    let node = builder
        .build()
        .map_err(|e| Failure::new("Build", e.to_string()))?;
    node.start()
        .map_err(|e| Failure::new("Start", e.to_string()))?;
    Ok(node)
}

fn payment_json(p: &PaymentDetails) -> Value {
    json!({
        "id": p.id.to_text(),
        "direction": match p.direction {
            PaymentDirection::Inbound => "inbound",
            PaymentDirection::Outbound => "outbound",
        },
        "kind": match p.kind {
            PaymentKind::Bolt11 => "bolt11",
            PaymentKind::Spontaneous => "spontaneous",
            PaymentKind::Bolt11Hold => "bolt11_hold",
        },
        "status": match p.status {
            PaymentStatus::Pending => "pending",
            PaymentStatus::Succeeded => "succeeded",
            PaymentStatus::Failed => "failed",
        },
        "amount_msat": p.amount_msat,
        "fee_paid_msat": p.fee_paid_msat,
        "payment_hash": p.payment_hash.to_text(),
        "failure_reason": p.failure_reason,
        "counterparty_node_id": p.counterparty_node_id.as_ref().map(IdText::to_text),
        "created_at": p.created_at,
        "updated_at": p.updated_at,
    })
}

fn arg<'a>(words: &[&'a str], index: usize, what: &str) -> Result<&'a str, Failure> {
    words
        .get(index)
        .copied()
        .ok_or_else(|| Failure::new("BadCommand", format!("missing {what}")))
}

/// An identifier argument (a channel id, payment id or hash, preimage, node id).
fn id<T: IdText>(words: &[&str], index: usize, what: &str) -> Result<T, Failure> {
    let text = arg(words, index, what)?;
    T::from_text(text).map_err(|e| Failure::new("BadCommand", e))
}

fn number(words: &[&str], index: usize, what: &str) -> Result<u64, Failure> {
    let text = arg(words, index, what)?;
    text.parse()
        .map_err(|_| Failure::new("BadCommand", format!("{what} is not a number: {text}")))
}

/// What the loop does after answering.
enum Next {
    Continue,
    Exit,
}

fn run_command(node: &Node, line: &str) -> (Answer, Next) {
    let words: Vec<&str> = line.split_whitespace().collect();
    let Some(&command) = words.first() else {
        return (
            Err(Failure::new("BadCommand", "empty command")),
            Next::Continue,
        );
    };
    if command == "stop" {
        let stopped = node.stop().map(|()| Value::Null).map_err(Failure::from);
        return (stopped, Next::Exit);
    }
    (command_answer(node, command, &words, line), Next::Continue)
}

fn command_answer(node: &Node, command: &str, words: &[&str], line: &str) -> Answer {
    match command {
        "info" => {
            let status = node.status();
            Ok(json!({
                "node_id": node.node_id().to_string(),
                "uri": node.node_uri(),
                "is_running": status.is_running,
                "synced_height": status.synced_height,
                "degraded_reasons": status.degraded_reasons,
            }))
        }
        "new_address" => Ok(Value::String(node.new_address()?)),
        "balance" => {
            let b = node.onchain_balance();
            Ok(json!({
                "confirmed_sat": b.confirmed_sat,
                "unconfirmed_sat": b.unconfirmed_sat,
                "pending_incoming_sat": b.pending_incoming_sat,
                "immature_sat": b.immature_sat,
                "locked_sat": b.locked_sat,
                "spendable_sat": b.spendable_sat,
                "total_sat": b.total_sat,
            }))
        }
        "sync" => {
            node.sync()?;
            Ok(Value::Null)
        }
        "channels" => serde_json::to_value(node.list_channels())
            .map_err(|e| Failure::new("Json", e.to_string())),
        "peers" => Ok(Value::Array(
            node.list_peers()
                .iter()
                .map(|p| {
                    json!({
                        "node_id": p.node_id.to_string(),
                        "address": p.address,
                        "is_connected": p.is_connected,
                        "is_persisted": p.is_persisted,
                    })
                })
                .collect(),
        )),
        "connect" => {
            let uri = arg(words, 1, "node URI")?;
            let persist = matches!(words.get(2), Some(&"persist"));
            node.connect(uri, persist)?;
            Ok(Value::Null)
        }
        "open" => {
            let uri = arg(words, 1, "node URI")?;
            let capacity = number(words, 2, "capacity in sat")?;
            let push = words
                .get(3)
                .map(|_| number(words, 3, "push in msat"))
                .transpose()?;
            Ok(Value::String(
                node.open_channel(uri, capacity, push, false)?.to_text(),
            ))
        }
        "receive" => {
            let amount = number(words, 1, "amount in msat")?;
            // The description is the rest of the line after the amount.
            let description = line
                .trim_start()
                .splitn(3, char::is_whitespace)
                .nth(2)
                .unwrap_or("")
                .trim();
            let invoice = node.receive(amount, description, None)?;
            let preview = node.decode_invoice(&invoice)?;
            Ok(json!({ "invoice": invoice, "payment_hash": preview.payment_hash.to_text() }))
        }
        "hold" => {
            let hash = id(words, 1, "payment hash")?;
            let amount = number(words, 2, "amount in msat")?;
            Ok(Value::String(node.receive_for_hash(
                hash,
                Some(amount),
                "hold",
                None,
            )?))
        }
        "fail_task" => {
            node.debug_fail_task(arg(words, 1, "task")?);
            Ok(Value::Null)
        }
        "slow_storage" => {
            node.debug_slow_storage(number(words, 1, "milliseconds")?);
            Ok(Value::Null)
        }
        "claim" => {
            node.claim_for_hash(&id(words, 1, "payment hash")?, &id(words, 2, "preimage")?)?;
            Ok(Value::Null)
        }
        "send" => {
            let invoice = arg(words, 1, "invoice")?;
            Ok(Value::String(node.send(invoice, None)?.to_text()))
        }
        "payment" => {
            let payment_id = id(words, 1, "payment id")?;
            Ok(node
                .payment(&payment_id)?
                .map(|p| payment_json(&p))
                .unwrap_or(Value::Null))
        }
        "payments" => {
            let direction = match words.get(1).copied() {
                None => None,
                Some("inbound") => Some(PaymentDirection::Inbound),
                Some("outbound") => Some(PaymentDirection::Outbound),
                Some(other) => {
                    return Err(Failure::new(
                        "BadCommand",
                        format!("direction is inbound or outbound, not {other}"),
                    ))
                }
            };
            let filter = PaymentFilter {
                direction,
                ..PaymentFilter::default()
            };
            Ok(Value::Array(
                node.list_payments(filter)?
                    .iter()
                    .map(payment_json)
                    .collect(),
            ))
        }
        "close" => {
            node.close_channel(&id(words, 1, "channel id")?)?;
            Ok(Value::Null)
        }
        "force_close" => {
            node.force_close_channel(&id(words, 1, "channel id")?, None)?;
            Ok(Value::Null)
        }
        "events" => {
            let mut events = Vec::new();
            while let Some(event) = node.next_event() {
                events.push(
                    serde_json::to_value(&event)
                        .map_err(|e| Failure::new("Serialize", e.to_string()))?,
                );
                node.event_handled()?;
            }
            Ok(Value::Array(events))
        }
        other => Err(Failure::new(
            "BadCommand",
            format!("unknown command: {other}"),
        )),
    }
}

fn main() {
    init_logging();
    let args = match parse_args(std::env::args().skip(1)) {
        Ok(args) => args,
        Err(f) => {
            emit(Err(f));
            std::process::exit(2);
        }
    };
    let node = match build_node(&args) {
        Ok(node) => node,
        Err(f) => {
            emit(Err(f));
            std::process::exit(1);
        }
    };
    emit(Ok(json!({
        "ready": true,
        "node_id": node.node_id().to_string(),
        "uri": node.node_uri(),
    })));

    let stdin = std::io::stdin();
    let mut input = stdin.lock();
    let mut raw = Vec::new();
    loop {
        raw.clear();
        match input.read_until(b'\n', &mut raw) {
            Ok(0) | Err(_) => break,
            Ok(_) => {}
        }
        let line = String::from_utf8_lossy(&raw);
        let line = line.trim();
        if line.is_empty() {
            continue;
        }
        // Only the command's name: its arguments may be long (invoices) and are not needed.
        let name = line.split_whitespace().next().unwrap_or("");
        log::info!(target: "crash_node", "command {name}");
        // A panic in the SDK is an answer too, not the end of the driver.
        let outcome = std::panic::catch_unwind(AssertUnwindSafe(|| run_command(&node, line)));
        let (answer, next) = match outcome {
            Ok(pair) => pair,
            Err(panic) => {
                let what = panic
                    .downcast_ref::<&str>()
                    .map(|s| s.to_string())
                    .or_else(|| panic.downcast_ref::<String>().cloned())
                    .unwrap_or_else(|| "unknown panic".into());
                (Err(Failure::new("Panic", what)), Next::Continue)
            }
        };
        log::info!(target: "crash_node", "answered {name}: {}", if answer.is_ok() { "ok" } else { "error" });
        emit(answer);
        if let Next::Exit = next {
            return;
        }
    }
    // End of input: stop cleanly (a killed test leaves us here).
    let _ = node.stop();
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strings(args: &[&str]) -> impl Iterator<Item = String> {
        args.iter()
            .map(|s| s.to_string())
            .collect::<Vec<_>>()
            .into_iter()
    }

    #[test]
    fn arguments_parse_and_bad_ones_are_usage_errors() {
        let Ok(args) = parse_args(strings(&[
            "--dir",
            "d",
            "--seed",
            "7",
            "--port",
            "9000",
            "--rpc-url",
            "http://127.0.0.1:1",
            "--rpc-user",
            "u",
            "--rpc-password",
            "p",
            "--to-self-delay",
            "144",
        ])) else {
            panic!("the arguments do not parse")
        };
        assert_eq!(args.seed, 7);
        assert_eq!(args.port, 9000);
        assert_eq!(args.to_self_delay, Some(144));
        assert_eq!(args.sync_secs, 1);

        let kind = |a: &[&str]| parse_args(strings(a)).err().map(|f| f.kind);
        assert_eq!(kind(&["--seed", "300"]).as_deref(), Some("Usage"));
        assert_eq!(kind(&["--dir"]).as_deref(), Some("Usage"));
        assert_eq!(kind(&["--what", "x"]).as_deref(), Some("Usage"));
        assert_eq!(kind(&["--dir", "d"]).as_deref(), Some("Usage"));
    }

    #[test]
    fn error_kinds_are_variant_names() {
        assert_eq!(
            Failure::from(NodeError::DuplicatePayment).kind,
            "DuplicatePayment"
        );
        let f = Failure::from(NodeError::InsufficientCapacity("x".into()));
        assert_eq!(f.kind, "InsufficientCapacity");
        assert!(f.message.contains('x'));
        let line = answer_line(Err(f));
        let v: Value = serde_json::from_str(&line).expect("json");
        assert_eq!(v["ok"], false);
        assert_eq!(v["error"]["kind"], "InsufficientCapacity");
    }
}

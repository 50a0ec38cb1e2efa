//! The client of `qtum-lnd`'s API: one subcommand per API call.
//!
//! Where the API is and its password come from flags, else the environment (`QTUM_LN_API`,
//! `QTUM_LN_PASSWORD`), else the daemon's own config file (`--config`: `api.listen`,
//! `api.password` or `api.password_file`, and `api.tls_cert` as the certificate to trust).
//! The answer's JSON goes to stdout; an error is one line on stderr: exit status 2 when the
//! request was refused as bad (usage, 4xx), 1 when it could not be carried out (unreachable
//! daemon, 5xx).

use std::path::PathBuf;
use std::time::Duration;

use qtum_chain::HttpAgent;
use serde_json::{json, Map, Value};

/// The subcommands, for the usage text.
pub const COMMANDS: &str = "\
  getinfo
  connect <pubkey@host:port>            disconnect <node_id>        peers
  open <pubkey@host:port> <amount_sat> [--push-msat N] [--announce]
  channels        close <channel_id>    forceclose <channel_id>
  updatefees <channel_id> [--base-msat N] [--ppm N]
  invoice [--amount-msat N] [--description TEXT] [--expiry SECS]
  decodeinvoice <invoice>
  pay <invoice> [--amount-msat N]       keysend <node_id> <amount_msat>
  payments [--limit N] [--offset N] [--direction inbound|outbound] [--status S]
  payment <payment_id>
  newaddress      balance               sendtoaddress <address> <amount_sat|all> [--fee-rate N]
  recovery [start|stop]                 (channel funds without a backup)
  events [--after N] [--wait SECS]";

/// A failure: the exit status and the line to print.
#[derive(Debug)]
pub struct Failure {
    /// 2: refused as bad; 1: could not be carried out.
    pub status: u8,
    /// What went wrong.
    pub message: String,
}

fn usage(message: impl Into<String>) -> Failure {
    Failure {
        status: 2,
        message: message.into(),
    }
}

fn failed(message: impl Into<String>) -> Failure {
    Failure {
        status: 1,
        message: message.into(),
    }
}

/// Where the API is and how to authenticate.
struct Target {
    base: String,
    password: String,
    ca_file: Option<PathBuf>,
}

/// Arguments once the global flags are taken out.
struct Args {
    positional: Vec<String>,
    options: Map<String, Value>,
    flags: Vec<String>,
}

const VALUE_OPTIONS: [&str; 10] = [
    "--push-msat",
    "--base-msat",
    "--ppm",
    "--amount-msat",
    "--expiry",
    "--limit",
    "--offset",
    "--fee-rate",
    "--after",
    "--wait",
];
const TEXT_OPTIONS: [&str; 3] = ["--description", "--direction", "--status"];
const BOOL_FLAGS: [&str; 1] = ["--announce"];

fn parse(args: &[String]) -> Result<(Target, Args), Failure> {
    let mut api = std::env::var("QTUM_LN_API").ok();
    let mut password = std::env::var("QTUM_LN_PASSWORD").ok();
    let mut password_file: Option<PathBuf> = None;
    let mut config: Option<PathBuf> = None;
    let mut ca_file: Option<PathBuf> = None;
    let mut rest = Args {
        positional: Vec::new(),
        options: Map::new(),
        flags: Vec::new(),
    };
    let mut i = 0;
    let value = |i: usize, name: &str| -> Result<String, Failure> {
        args.get(i + 1)
            .cloned()
            .ok_or_else(|| usage(format!("{name} needs a value")))
    };
    while i < args.len() {
        let a = args[i].as_str();
        match a {
            "--api" => api = Some(value(i, a)?),
            "--password" => password = Some(value(i, a)?),
            "--password-file" => password_file = Some(value(i, a)?.into()),
            "--config" => config = Some(value(i, a)?.into()),
            "--cacert" => ca_file = Some(value(i, a)?.into()),
            _ if VALUE_OPTIONS.contains(&a) || TEXT_OPTIONS.contains(&a) => {
                let v = value(i, a)?;
                let key = a.trim_start_matches("--").replace('-', "_");
                let v = if TEXT_OPTIONS.contains(&a) {
                    Value::String(v)
                } else {
                    Value::from(
                        v.parse::<u64>()
                            .map_err(|_| usage(format!("{a}: '{v}' is not a whole number")))?,
                    )
                };
                rest.options.insert(key, v);
            }
            _ if BOOL_FLAGS.contains(&a) => {
                rest.flags.push(a.to_string());
                i += 1;
                continue;
            }
            _ if a.starts_with("--") => return Err(usage(format!("unknown option {a}"))),
            _ => {
                rest.positional.push(a.to_string());
                i += 1;
                continue;
            }
        }
        i += 2;
    }
    if let Some(file) = password_file {
        let text = std::fs::read_to_string(&file)
            .map_err(|e| usage(format!("cannot read {}: {e}", file.display())))?;
        password = Some(text.trim_end_matches(['\r', '\n']).to_string());
    }
    if let Some(path) = config {
        let c = qtum_lnd::config::DaemonConfig::load(&path)
            .map_err(|e| usage(format!("{}: {e}", path.display())))?;
        let mut addr = c.api.listen;
        if addr.ip().is_unspecified() {
            addr.set_ip(std::net::Ipv4Addr::LOCALHOST.into());
        }
        let scheme = if c.api.tls.is_some() { "https" } else { "http" };
        api.get_or_insert(format!("{scheme}://{addr}"));
        password.get_or_insert(c.api.password.clone());
        if ca_file.is_none() {
            ca_file = c.api.tls.map(|(cert, _)| cert);
        }
    }
    let base = api
        .unwrap_or_else(|| "http://127.0.0.1:8080".into())
        .trim_end_matches('/')
        .to_string();
    let password = password.ok_or_else(|| {
        usage("no API password: give --password, --password-file, --config or QTUM_LN_PASSWORD")
    })?;
    Ok((
        Target {
            base,
            password,
            ca_file,
        },
        rest,
    ))
}

fn arg<'a>(args: &'a Args, i: usize, what: &str) -> Result<&'a str, Failure> {
    args.positional
        .get(i)
        .map(String::as_str)
        .ok_or_else(|| usage(format!("missing {what}")))
}

fn number(text: &str, what: &str) -> Result<u64, Failure> {
    text.parse()
        .map_err(|_| usage(format!("{what}: '{text}' is not a whole number")))
}

/// Which request a command makes: method, path, body.
fn request_of(args: &Args) -> Result<(&'static str, String, Option<Value>), Failure> {
    let command = arg(args, 0, "a command")?;
    let opts = &args.options;
    let opt = |name: &str| opts.get(name).cloned();
    let expect = |n: usize| -> Result<(), Failure> {
        if args.positional.len() > n + 1 {
            Err(usage(format!("{command}: too many arguments")))
        } else {
            Ok(())
        }
    };
    let with = |mut body: Map<String, Value>, names: &[(&str, &str)]| {
        for (option, field) in names {
            if let Some(v) = opt(option) {
                body.insert((*field).into(), v);
            }
        }
        Some(Value::Object(body))
    };
    let r = match command {
        "getinfo" => {
            expect(0)?;
            ("GET", "/v1/info".into(), None)
        }
        "peers" => {
            expect(0)?;
            ("GET", "/v1/peers".into(), None)
        }
        "connect" => {
            expect(1)?;
            let uri = arg(args, 1, "the peer's pubkey@host:port")?;
            (
                "POST",
                "/v1/peers/connect".into(),
                Some(json!({"uri": uri})),
            )
        }
        "disconnect" => {
            expect(1)?;
            let id = arg(args, 1, "the node id")?;
            (
                "POST",
                "/v1/peers/disconnect".into(),
                Some(json!({"node_id": id})),
            )
        }
        "open" => {
            expect(2)?;
            let uri = arg(args, 1, "the peer's pubkey@host:port")?;
            let amount = number(arg(args, 2, "the amount in sat")?, "amount_sat")?;
            let mut body = Map::new();
            body.insert("uri".into(), json!(uri));
            body.insert("amount_sat".into(), json!(amount));
            body.insert(
                "announce".into(),
                json!(args.flags.iter().any(|f| f == "--announce")),
            );
            (
                "POST",
                "/v1/channels/open".into(),
                with(body, &[("push_msat", "push_msat")]),
            )
        }
        "channels" => {
            expect(0)?;
            ("GET", "/v1/channels".into(), None)
        }
        "close" | "forceclose" => {
            expect(1)?;
            let id = arg(args, 1, "the channel id")?;
            let path = if command == "close" {
                "/v1/channels/close"
            } else {
                "/v1/channels/force-close"
            };
            ("POST", path.into(), Some(json!({"channel_id": id})))
        }
        "updatefees" => {
            expect(1)?;
            let id = arg(args, 1, "the channel id")?;
            let mut body = Map::new();
            body.insert("channel_id".into(), json!(id));
            (
                "POST",
                "/v1/channels/fees".into(),
                with(
                    body,
                    &[
                        ("base_msat", "base_msat"),
                        ("ppm", "proportional_millionths"),
                    ],
                ),
            )
        }
        "invoice" => {
            expect(0)?;
            (
                "POST",
                "/v1/invoices".into(),
                with(
                    Map::new(),
                    &[
                        ("amount_msat", "amount_msat"),
                        ("description", "description"),
                        ("expiry", "expiry_secs"),
                    ],
                ),
            )
        }
        "decodeinvoice" => {
            expect(1)?;
            let invoice = arg(args, 1, "the invoice")?;
            (
                "POST",
                "/v1/invoices/decode".into(),
                Some(json!({"invoice": invoice})),
            )
        }
        "pay" => {
            expect(1)?;
            let invoice = arg(args, 1, "the invoice")?;
            let mut body = Map::new();
            body.insert("invoice".into(), json!(invoice));
            (
                "POST",
                "/v1/payments/pay".into(),
                with(body, &[("amount_msat", "amount_msat")]),
            )
        }
        "keysend" => {
            expect(2)?;
            let id = arg(args, 1, "the node id")?;
            let amount = number(arg(args, 2, "the amount in msat")?, "amount_msat")?;
            (
                "POST",
                "/v1/payments/keysend".into(),
                Some(json!({"node_id": id, "amount_msat": amount})),
            )
        }
        "payments" => {
            expect(0)?;
            let mut query = Vec::new();
            for name in ["limit", "offset", "direction", "status"] {
                match opt(name) {
                    Some(Value::String(s)) => query.push(format!("{name}={s}")),
                    Some(v) => query.push(format!("{name}={v}")),
                    None => {}
                }
            }
            let path = if query.is_empty() {
                "/v1/payments".to_string()
            } else {
                format!("/v1/payments?{}", query.join("&"))
            };
            ("GET", path, None)
        }
        "payment" => {
            expect(1)?;
            let id = arg(args, 1, "the payment id")?;
            if !id.bytes().all(|b| b.is_ascii_hexdigit()) {
                return Err(usage("a payment id is hexadecimal"));
            }
            ("GET", format!("/v1/payments/{id}"), None)
        }
        "newaddress" => {
            expect(0)?;
            ("POST", "/v1/onchain/address".into(), Some(json!({})))
        }
        "balance" => {
            expect(0)?;
            ("GET", "/v1/onchain/balance".into(), None)
        }
        "recovery" => match args.positional.get(1).map(String::as_str) {
            None => ("GET", "/v1/recovery".into(), None),
            Some(action @ ("start" | "stop")) => {
                expect(1)?;
                ("POST", format!("/v1/recovery/{action}"), Some(json!({})))
            }
            Some(other) => {
                return Err(usage(format!(
                    "recovery takes start, stop or nothing, not '{other}'"
                )))
            }
        },
        "sendtoaddress" => {
            expect(2)?;
            let address = arg(args, 1, "the address")?;
            let amount = arg(args, 2, "the amount in sat, or all")?;
            let mut body = Map::new();
            body.insert("address".into(), json!(address));
            if amount == "all" {
                body.insert("all".into(), json!(true));
            } else {
                body.insert("amount_sat".into(), json!(number(amount, "amount_sat")?));
            }
            (
                "POST",
                "/v1/onchain/send".into(),
                with(body, &[("fee_rate", "fee_rate_sat_per_vb")]),
            )
        }
        "events" => {
            expect(0)?;
            let after = opt("after").and_then(|v| v.as_u64()).unwrap_or(0);
            let wait = opt("wait").and_then(|v| v.as_u64()).unwrap_or(0);
            ("GET", format!("/v1/events?after={after}&wait={wait}"), None)
        }
        other => return Err(usage(format!("unknown command '{other}'"))),
    };
    Ok(r)
}

/// Runs one client command; the answer's JSON.
pub fn run(args: &[String]) -> Result<Value, Failure> {
    let (target, args) = parse(args)?;
    let (method, path, body) = request_of(&args)?;
    // A long poll may wait up to a minute; everything else answers in seconds.
    let agent = HttpAgent::new(Duration::from_secs(90), target.ca_file.as_deref());
    if let Some(e) = agent.config_error() {
        return Err(usage(e.to_string()));
    }
    let url = format!("{}{path}", target.base);
    let auth = format!("Bearer {}", target.password);
    let headers = [
        ("Authorization", auth.as_str()),
        ("Content-Type", "application/json"),
    ];
    let response = match (method, body) {
        ("GET", _) => agent.get_with(&url, &headers[..1]),
        (_, body) => {
            let bytes = body.unwrap_or_else(|| json!({})).to_string().into_bytes();
            agent.post(&url, &headers, &bytes)
        }
    }
    .map_err(|e| failed(format!("cannot reach the API at {}: {e}", target.base)))?;
    let value: Value = serde_json::from_slice(&response.body).map_err(|_| {
        failed(format!(
            "the API answered {} with a body that is not JSON",
            response.status
        ))
    })?;
    if response.status == 200 {
        return Ok(value);
    }
    let error = &value["error"];
    let message = format!(
        "{} {}: {}",
        response.status,
        error["kind"].as_str().unwrap_or("Error"),
        error["message"].as_str().unwrap_or("")
    );
    Err(if (400..500).contains(&response.status) {
        usage(message)
    } else {
        failed(message)
    })
}

//! `qtum-ln`: the command-line companion of the Qtum Lightning SDK.
//!
//! `qtum-ln decode <invoice|address|header|block> <text>` prints one JSON object on stdout.
//! `qtum-ln [--api URL] [--password P] <command>` calls a `qtum-lnd` daemon's API (see
//! `client.rs`). Bad input exits with status 2 and one line on stderr that says what is wrong.

use std::io::Read;
use std::process::ExitCode;

use qtum_lightning::qtum::address::QtumAddress;
use qtum_lightning::qtum::block::QtumBlock;
use qtum_lightning::qtum::header::QtumHeader;
use qtum_lightning::qtum::invoice::{DecodedInvoice, InvoiceDescription};
use qtum_lightning::qtum::network::Network;
use serde_json::{json, Map, Value};

mod client;
mod demo;
mod demo_server;

const USAGE: &str = "usage: qtum-ln decode <invoice|address|header|block> <text|-> [--network mainnet|testnet|regtest]\n       qtum-ln demo|demo-server [--rpc http://user:password@host:port]\n       qtum-ln [--api URL] [--password P | --password-file F] [--config qtum-lnd.toml] [--cacert PEM] <command>";

fn full_usage() -> String {
    format!("{USAGE}\ncommands of a qtum-lnd daemon (API from --api, QTUM_LN_API or the config; password from --password, QTUM_LN_PASSWORD or the config):\n{}", client::COMMANDS)
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if let Some(which @ ("demo" | "demo-server")) = args.first().map(String::as_str) {
        let rpc = match args.get(1).map(String::as_str) {
            None => None,
            Some("--rpc") => match args.get(2) {
                Some(url) if !url.is_empty() => Some(url.as_str()),
                _ => {
                    eprintln!(
                        "qtum-ln: --rpc needs a URL like http://user:password@127.0.0.1:13889"
                    );
                    return ExitCode::from(2);
                }
            },
            Some(other) => {
                eprintln!("qtum-ln: unknown demo option '{other}'");
                return ExitCode::from(2);
            }
        };
        let result = if which == "demo" {
            demo::run(rpc)
        } else {
            demo_server::run(rpc)
        };
        return match result {
            Ok(()) => ExitCode::SUCCESS,
            Err(reason) => {
                eprintln!("\nqtum-ln demo failed: {reason}");
                ExitCode::FAILURE
            }
        };
    }
    let is_local = matches!(
        args.first().map(String::as_str),
        Some("decode" | "-h" | "--help") | None
    );
    if !is_local {
        return match client::run(&args) {
            Ok(value) => {
                println!(
                    "{}",
                    serde_json::to_string_pretty(&value).unwrap_or_default()
                );
                ExitCode::SUCCESS
            }
            Err(failure) => {
                eprintln!("qtum-ln: {}", failure.message.replace('\n', " "));
                ExitCode::from(failure.status)
            }
        };
    }
    match run(&args) {
        Ok(value) => {
            println!("{value}");
            ExitCode::SUCCESS
        }
        Err(message) => {
            // One line, whatever the error text holds.
            eprintln!("qtum-ln: {}", message.replace('\n', " "));
            ExitCode::from(2)
        }
    }
}

fn run(args: &[String]) -> Result<Value, String> {
    let mut positional = Vec::new();
    let mut network = None;
    let mut i = 0;
    while i < args.len() {
        match args[i].as_str() {
            "-h" | "--help" => return Err(full_usage()),
            "--network" => {
                let value = args.get(i + 1).ok_or("--network needs a value")?;
                network = Some(value.parse::<Network>().map_err(|e| e.to_string())?);
                i += 2;
            }
            other => {
                positional.push(other.to_string());
                i += 1;
            }
        }
    }
    match positional.as_slice() {
        [cmd, kind, text] if cmd == "decode" => {
            let text = if text == "-" {
                read_stdin()?
            } else {
                text.clone()
            };
            let text = text.trim();
            match kind.as_str() {
                "invoice" => decode_invoice(text, network),
                "address" => decode_address(text, network),
                "header" => decode_header(text),
                "block" => decode_block(text),
                other => Err(format!("unknown kind '{other}'; {USAGE}")),
            }
        }
        _ => Err(full_usage()),
    }
}

fn read_stdin() -> Result<String, String> {
    let mut text = String::new();
    std::io::stdin()
        .read_to_string(&mut text)
        .map_err(|e| format!("reading stdin: {e}"))?;
    Ok(text)
}

fn decode_invoice(text: &str, network: Option<Network>) -> Result<Value, String> {
    let invoice = match network {
        Some(network) => DecodedInvoice::decode_for(text, network),
        None => DecodedInvoice::decode(text),
    }
    .map_err(|e| e.to_string())?;
    let mut out = Map::new();
    out.insert("network".into(), json!(invoice.network.to_string()));
    out.insert("amount_msat".into(), json!(invoice.amount_msat));
    out.insert(
        "payment_hash".into(),
        json!(invoice.payment_hash.to_string()),
    );
    out.insert(
        "payee_pubkey".into(),
        json!(invoice.payee_pubkey.to_string()),
    );
    match &invoice.description {
        InvoiceDescription::Direct(text) => out.insert("description".into(), json!(text)),
        InvoiceDescription::Hash(hash) => {
            out.insert("description_hash".into(), json!(hash.to_string()))
        }
    };
    out.insert("timestamp".into(), json!(invoice.timestamp_secs));
    out.insert("expiry_secs".into(), json!(invoice.expiry_secs));
    out.insert(
        "min_final_cltv_expiry_delta".into(),
        json!(invoice.min_final_cltv_expiry_delta),
    );
    out.insert(
        "fallback_address".into(),
        json!(invoice.fallback_addresses.first().map(|a| a.to_string())),
    );
    let hints: Vec<Value> = invoice
        .route_hints
        .iter()
        .map(|hops| {
            Value::Array(
                hops.iter()
                    .map(|hop| {
                        json!({
                            "pubkey": hop.src_node_id.to_string(),
                            "short_channel_id": hop.short_channel_id,
                            "fee_base_msat": hop.fees.base_msat,
                            "fee_proportional_millionths": hop.fees.proportional_millionths,
                            "cltv_expiry_delta": hop.cltv_expiry_delta,
                        })
                    })
                    .collect(),
            )
        })
        .collect();
    out.insert("route_hints".into(), Value::Array(hints));
    out.insert(
        "payment_secret_present".into(),
        json!(invoice.payment_secret_present),
    );
    out.insert("signature_valid".into(), json!(invoice.signature_valid));
    Ok(Value::Object(out))
}

fn decode_address(text: &str, network: Option<Network>) -> Result<Value, String> {
    let address = match network {
        Some(network) => QtumAddress::from_str_for(text, network),
        None => QtumAddress::parse_any(text),
    }
    .map_err(|e| e.to_string())?;
    // Base58 testnet and regtest addresses share version bytes: `networks` lists every network
    // on which the string is valid, `network` the one it was read as.
    let networks: Vec<String> = address.networks().iter().map(|n| n.to_string()).collect();
    Ok(json!({
        "network": address.network().to_string(),
        "networks": networks,
        "type": address.address_type().to_string(),
        "script_pubkey_hex": address.script_pubkey().to_hex_string(),
    }))
}

fn header_json(header: &QtumHeader) -> Map<String, Value> {
    let mut out = Map::new();
    out.insert("hash".into(), json!(header.block_hash().to_string()));
    out.insert(
        "synthetic_hash".into(),
        json!(header.synthetic_hash().to_string()),
    );
    out.insert("prev_hash".into(), json!(header.prev_blockhash.to_string()));
    out.insert("merkle_root".into(), json!(header.merkle_root.to_string()));
    out.insert("version".into(), json!(header.version));
    out.insert("time".into(), json!(header.time));
    out.insert(
        "bits".into(),
        json!(format!("{:08x}", header.bits.to_consensus())),
    );
    out.insert("nonce".into(), json!(header.nonce));
    out.insert("state_root".into(), json!(header.hash_state_root_display()));
    out.insert("utxo_root".into(), json!(header.hash_utxo_root_display()));
    out.insert(
        "prevout_stake".into(),
        json!({
            "txid": header.prevout_stake.txid.to_string(),
            "vout": header.prevout_stake.vout,
        }),
    );
    out.insert(
        "is_proof_of_stake".into(),
        json!(header.is_proof_of_stake()),
    );
    out.insert("size".into(), json!(header.to_bytes().len()));
    out
}

fn decode_header(text: &str) -> Result<Value, String> {
    let header = QtumHeader::from_hex(text).map_err(|e| e.to_string())?;
    Ok(Value::Object(header_json(&header)))
}

fn decode_block(text: &str) -> Result<Value, String> {
    let block = QtumBlock::from_hex(text).map_err(|e| e.to_string())?;
    if !block.check_merkle_root() {
        return Err("the block's merkle root does not match its transactions".into());
    }
    let mut out = header_json(&block.header);
    let txids: Vec<Value> = block.txids().iter().map(|t| json!(t.to_string())).collect();
    out.insert("txids".into(), Value::Array(txids));
    Ok(Value::Object(out))
}

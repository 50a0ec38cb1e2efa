//! `qtum-ln decode` against the real data: qtumd's regtest blocks and headers, Qtum Eclair's
//! invoices, qtumd's addresses; and bad input, which must exit 2 with one line on stderr.

use std::path::PathBuf;
use std::process::Command;

use serde_json::Value;

fn fixtures() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures")
}

fn read(rel: &str) -> String {
    std::fs::read_to_string(fixtures().join(rel)).unwrap_or_else(|e| panic!("{rel}: {e}"))
}

fn json(rel: &str) -> Value {
    serde_json::from_str(&read(rel)).unwrap_or_else(|e| panic!("{rel}: {e}"))
}

struct Output {
    status: i32,
    stdout: String,
    stderr: String,
}

fn qtum_ln(args: &[&str]) -> Output {
    let out = Command::new(env!("CARGO_BIN_EXE_qtum-ln"))
        .args(args)
        .output()
        .expect("runs");
    Output {
        status: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

fn decode(kind: &str, text: &str) -> Value {
    let out = qtum_ln(&["decode", kind, text]);
    assert_eq!(out.status, 0, "{kind} {text}: {}", out.stderr);
    serde_json::from_str(&out.stdout).expect("one JSON object")
}

const BLOCKS: &[&str] = &[
    "h0_genesis",
    "h1_first_pow",
    "h2000_pow",
    "h2001_pow_first_wallet_spendable",
    "h2002_confirms_p2wpkh_p2wsh_txs",
    "h2003_confirms_p2wsh_2of2_spend",
    "h2005_fee_round_6tx",
    "h4027_first_pos",
    "h4028_pos",
];

#[test]
fn headers_and_blocks_match_qtumd() {
    let analysis = json("qtum-regtest/analysis/header_and_hash_check.json");
    for name in BLOCKS {
        let dir = format!("qtum-regtest/blocks/{name}");
        let rpc = json(&format!("{dir}/getblockheader.verbose.json"));
        let header = decode("header", read(&format!("{dir}/getblockheader.hex")).trim());
        assert_eq!(header["hash"], rpc["hash"], "{name}");
        assert_eq!(header["merkle_root"], rpc["merkleroot"], "{name}");
        assert_eq!(header["time"], rpc["time"], "{name}");
        assert_eq!(header["nonce"], rpc["nonce"], "{name}");
        assert_eq!(header["bits"], rpc["bits"], "{name}");
        assert_eq!(header["state_root"], rpc["hashStateRoot"], "{name}");
        assert_eq!(header["utxo_root"], rpc["hashUTXORoot"], "{name}");
        let pos = rpc["flags"] == "proof-of-stake";
        if pos {
            assert_eq!(
                header["prevout_stake"]["txid"], rpc["prevoutStakeHash"],
                "{name}"
            );
            assert_eq!(
                header["prevout_stake"]["vout"], rpc["prevoutStakeVoutN"],
                "{name}"
            );
        } else {
            // qtumd leaves the null stake out of PoW headers: zero txid, index 0xffffffff.
            assert!(rpc.get("prevoutStakeHash").is_none(), "{name}");
            assert_eq!(header["prevout_stake"]["txid"], "0".repeat(64), "{name}");
            assert_eq!(header["prevout_stake"]["vout"], u32::MAX, "{name}");
        }
        assert_eq!(header["is_proof_of_stake"], pos, "{name}");
        assert_eq!(header["size"], if pos { 246 } else { 181 }, "{name}");
        match rpc.get("previousblockhash") {
            Some(prev) => assert_eq!(&header["prev_hash"], prev, "{name}"),
            None => assert_eq!(header["prev_hash"], "0".repeat(64), "{name}"),
        }
        if let Some(a) = analysis.get(*name) {
            let synthetic = &a["dsha256(first 80 bytes) reversed (Bitcoin-style, for contrast)"];
            assert_eq!(&header["synthetic_hash"], synthetic, "{name}");
        }

        let block = decode("block", read(&format!("{dir}/getblock.v0.hex")).trim());
        let v1 = json(&format!("{dir}/getblock.v1.json"));
        assert_eq!(block["hash"], v1["hash"], "{name}");
        assert_eq!(block["txids"], v1["tx"], "{name}");
    }
}

#[test]
fn eclair_invoices_decode_as_listed() {
    let vectors = json("qtum-eclair-bolt11.json");
    for v in vectors["vectors"].as_array().expect("vectors") {
        let title = v["title"].as_str().unwrap_or_default();
        let out = decode("invoice", v["invoice"].as_str().expect("invoice"));
        assert_eq!(out["network"], v["network"], "{title}");
        assert_eq!(out["amount_msat"], v["amount_msat"], "{title}");
        assert_eq!(out["payment_hash"], v["payment_hash"], "{title}");
        assert_eq!(out["payee_pubkey"], v["payee_pubkey"], "{title}");
        assert_eq!(out["signature_valid"], true, "{title}");
        assert_eq!(out["payment_secret_present"], false, "{title}");
        assert_eq!(out["fallback_address"], v["fallback_address"], "{title}");
        match v.get("description") {
            Some(d) => assert_eq!(&out["description"], d, "{title}"),
            None => assert_eq!(out["description_hash"], v["description_hash"], "{title}"),
        }
        if let Some(delta) = v.get("min_final_cltv_expiry_delta") {
            assert_eq!(&out["min_final_cltv_expiry_delta"], delta, "{title}");
        }
        let hints = v
            .get("route_hints")
            .cloned()
            .unwrap_or(Value::Array(vec![]));
        assert_eq!(out["route_hints"], hints, "{title}");
    }
}

#[test]
fn addresses_from_qtumd() {
    let cases = [
        (
            "qtum-regtest/wallet/getnewaddress.bech32.txt",
            "qtum-regtest/wallet/getaddressinfo.bech32.json",
        ),
        (
            "qtum-regtest/wallet/getnewaddress.bech32m.txt",
            "qtum-regtest/wallet/getaddressinfo.bech32m.json",
        ),
        (
            "qtum-regtest/wallet/getnewaddress.legacy.txt",
            "qtum-regtest/wallet/getaddressinfo.legacy.json",
        ),
        (
            "qtum-regtest/wallet/getnewaddress.p2sh-segwit.txt",
            "qtum-regtest/wallet/getaddressinfo.p2sh-segwit.json",
        ),
    ];
    for (addr_file, info_file) in cases {
        let address = read(addr_file);
        let info = json(info_file);
        let out = decode("address", address.trim());
        assert_eq!(
            out["script_pubkey_hex"], info["scriptPubKey"],
            "{addr_file}"
        );
        let out = qtum_ln(&["decode", "address", address.trim(), "--network", "regtest"]);
        assert_eq!(out.status, 0, "{}", out.stderr);
        let out = qtum_ln(&["decode", "address", address.trim(), "--network", "mainnet"]);
        assert_eq!(out.status, 2, "a regtest address is refused on mainnet");
    }
    let out = decode("address", "qc1qw508d6qejxtdg4y5r3zarvary0c5xw7kq52at0");
    assert_eq!(out["network"], "mainnet");
    assert_eq!(
        out["script_pubkey_hex"],
        "0014751e76e8199196d454941c45d1b3a323f1433bd6"
    );
}

#[test]
fn wrong_network_invoice_is_refused() {
    let vectors = json("qtum-eclair-bolt11.json");
    let testnet = vectors["vectors"]
        .as_array()
        .expect("vectors")
        .iter()
        .find(|v| v["network"] == "testnet")
        .expect("a testnet vector");
    let out = qtum_ln(&[
        "decode",
        "invoice",
        testnet["invoice"].as_str().expect("text"),
        "--network",
        "mainnet",
    ]);
    assert_eq!(out.status, 2);
    assert!(out.stderr.contains("testnet"), "{}", out.stderr);
}

#[test]
fn bad_input_exits_2_with_one_line() {
    let cases: &[&[&str]] = &[
        &[],
        &["decode"],
        &["decode", "invoice"],
        &["decode", "nonsense", "x"],
        &["decode", "invoice", "lnqc1garbage"],
        &["decode", "invoice", ""],
        &["decode", "address", "1BvBMSEYstWetqTFn5Au4m4GFg7xJaNVN2"],
        &[
            "decode",
            "address",
            "bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kv8f3t4",
        ],
        &[
            "decode",
            "address",
            "qc1qw508d6qejxtdg4y5r3zarvary0c5xw7kq52at1",
        ],
        &["decode", "header", "zz"],
        &["decode", "header", "00"],
        &["decode", "block", "0100"],
        &["decode", "invoice", "x", "--network", "moon"],
    ];
    for args in cases {
        let out = qtum_ln(args);
        assert_eq!(out.status, 2, "{args:?}: {}", out.stdout);
        assert_eq!(out.stderr.lines().count(), 1, "{args:?}: {}", out.stderr);
        assert!(out.stdout.is_empty(), "{args:?}");
    }
    // A block whose last transaction was cut off, and a header with trailing bytes.
    let block = read("qtum-regtest/blocks/h2002_confirms_p2wpkh_p2wsh_txs/getblock.v0.hex");
    let block = block.trim();
    let out = qtum_ln(&["decode", "block", &block[..block.len() - 10]]);
    assert_eq!(out.status, 2);
    let header = read("qtum-regtest/blocks/h1_first_pow/getblockheader.hex");
    let out = qtum_ln(&["decode", "header", &format!("{}00", header.trim())]);
    assert_eq!(out.status, 2);
}

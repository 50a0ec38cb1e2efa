//! Shared test helpers: a small blocking HTTP/1.1 JSON-RPC client over std's TcpStream, and
//! keys/signing for building real transactions.
#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::TcpStream;

use bitcoin::absolute::LockTime;
use bitcoin::consensus::encode;
use bitcoin::hashes::{sha256, Hash};
use bitcoin::secp256k1::{Message, PublicKey, Secp256k1, SecretKey};
use bitcoin::sighash::{EcdsaSighashType, SighashCache};
use bitcoin::transaction::Version;
use bitcoin::{
    Amount, CompressedPublicKey, OutPoint, Script, ScriptBuf, Sequence, Transaction, TxIn, TxOut,
    Witness,
};
use qtum_regtest::RegtestNode;
use serde_json::{json, Value};

/// An HTTP reply: status code and body.
pub struct Reply {
    pub status: u16,
    pub body: String,
}

impl Reply {
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {:?}", self.body))
    }
}

/// Send one raw HTTP request and read the whole reply (Connection: close).
pub fn http(port: u16, method: &str, auth: Option<(&str, &str)>, body: &[u8]) -> Reply {
    let mut s = TcpStream::connect(("127.0.0.1", port)).expect("connect");
    let mut head = format!(
        "{method} / HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: {}\r\n",
        body.len()
    );
    if let Some((u, p)) = auth {
        // The harness's own encoder is checked against RFC 4648 vectors in its unit tests.
        head.push_str(&format!(
            "Authorization: {}\r\n",
            qtum_regtest::node::basic_auth_header(u, p)
        ));
    }
    head.push_str("\r\n");
    s.write_all(head.as_bytes()).expect("write");
    s.write_all(body).expect("write");
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).expect("read");
    let text = String::from_utf8_lossy(&raw).to_string();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let body = if head
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked")
    {
        dechunk(body)
    } else {
        body.to_string()
    };
    Reply { status, body }
}

fn dechunk(mut s: &str) -> String {
    let mut out = String::new();
    while let Some((len, rest)) = s.split_once("\r\n") {
        let n = usize::from_str_radix(len.trim(), 16).unwrap_or(0);
        if n == 0 {
            break;
        }
        out.push_str(&rest[..n]);
        s = &rest[n + 2..];
    }
    out
}

/// JSON-RPC client bound to a node.
pub struct Rpc<'a> {
    pub node: &'a RegtestNode,
}

impl<'a> Rpc<'a> {
    pub fn new(node: &'a RegtestNode) -> Self {
        Rpc { node }
    }

    pub fn raw(&self, body: &str) -> Reply {
        http(
            self.node.port(),
            "POST",
            Some((self.node.rpc_user(), self.node.rpc_password())),
            body.as_bytes(),
        )
    }

    /// Full reply object of a call.
    pub fn reply(&self, method: &str, params: Value) -> Value {
        let body =
            json!({"jsonrpc": "1.0", "id": "t", "method": method, "params": params}).to_string();
        self.raw(&body).json()
    }

    /// Result of a call; panics on an RPC error.
    pub fn call(&self, method: &str, params: Value) -> Value {
        let r = self.reply(method, params);
        assert!(r["error"].is_null(), "{method} failed: {}", r["error"]);
        r["result"].clone()
    }

    /// Error object of a call; panics on success.
    pub fn err(&self, method: &str, params: Value) -> (i64, String) {
        let r = self.reply(method, params);
        assert!(
            !r["error"].is_null(),
            "{method} unexpectedly succeeded: {}",
            r["result"]
        );
        (
            r["error"]["code"].as_i64().unwrap_or(0),
            r["error"]["message"].as_str().unwrap_or("").to_string(),
        )
    }
}

/// A deterministic test key.
pub struct Key {
    pub secret: SecretKey,
    pub public: PublicKey,
}

impl Key {
    pub fn new(label: &str) -> Self {
        let secp = Secp256k1::new();
        let secret = SecretKey::from_slice(&sha256::Hash::hash(label.as_bytes()).to_byte_array())
            .expect("key");
        Key {
            public: secret.public_key(&secp),
            secret,
        }
    }

    pub fn p2wpkh(&self) -> ScriptBuf {
        ScriptBuf::new_p2wpkh(&CompressedPublicKey(self.public).wpubkey_hash())
    }

    pub fn address(&self) -> String {
        qtum_regtest::script::address_of(&self.p2wpkh()).expect("address")
    }

    /// DER signature + SIGHASH_ALL byte over a BIP143 digest.
    pub fn sign(&self, digest: [u8; 32]) -> Vec<u8> {
        let secp = Secp256k1::new();
        let sig = secp.sign_ecdsa(&Message::from_digest(digest), &self.secret);
        let mut v = sig.serialize_der().to_vec();
        v.push(EcdsaSighashType::All as u8);
        v
    }
}

/// An unsigned transaction spending `inputs` (with `sequence`) to `outputs`.
pub fn unsigned(
    inputs: &[OutPoint],
    outputs: Vec<(ScriptBuf, u64)>,
    sequence: u32,
    lock_time: u32,
) -> Transaction {
    Transaction {
        version: Version::TWO,
        lock_time: LockTime::from_consensus(lock_time),
        input: inputs
            .iter()
            .map(|op| TxIn {
                previous_output: *op,
                script_sig: ScriptBuf::new(),
                sequence: Sequence(sequence),
                witness: Witness::new(),
            })
            .collect(),
        output: outputs
            .into_iter()
            .map(|(s, v)| TxOut {
                value: Amount::from_sat(v),
                script_pubkey: s,
            })
            .collect(),
    }
}

/// Sign input `i` as a P2WPKH spend of `value` by `key`.
pub fn sign_p2wpkh(tx: &mut Transaction, i: usize, key: &Key, value: u64) {
    let digest = SighashCache::new(&*tx)
        .p2wpkh_signature_hash(
            i,
            &key.p2wpkh(),
            Amount::from_sat(value),
            EcdsaSighashType::All,
        )
        .expect("sighash")
        .to_byte_array();
    let sig = key.sign(digest);
    tx.input[i].witness = Witness::from_slice(&[sig, key.public.serialize().to_vec()]);
}

/// BIP143 digest of input `i` spending a P2WSH output with `witness_script`.
pub fn p2wsh_digest(tx: &Transaction, i: usize, witness_script: &Script, value: u64) -> [u8; 32] {
    SighashCache::new(tx)
        .p2wsh_signature_hash(
            i,
            witness_script,
            Amount::from_sat(value),
            EcdsaSighashType::All,
        )
        .expect("sighash")
        .to_byte_array()
}

pub fn to_hex(tx: &Transaction) -> String {
    qtum_regtest::script::hex(&encode::serialize(tx))
}

/// The block-`height` coinbase output 0 (as an outpoint) and its value, via RPC.
pub fn coinbase_of(rpc: &Rpc<'_>, height: u32) -> (OutPoint, u64) {
    let hash = rpc.call("getblockhash", json!([height]));
    let block = rpc.call("getblock", json!([hash, 2]));
    let tx = &block["tx"][0];
    let txid = tx["txid"].as_str().expect("txid").parse().expect("txid");
    let sat = (tx["vout"][0]["value"].as_f64().expect("value") * 1e8).round() as u64;
    (OutPoint { txid, vout: 0 }, sat)
}

/// Path of a fixture file.
pub fn fixture(rel: &str) -> String {
    let p = format!(
        "{}/../../tests/fixtures/qtum-regtest/{rel}",
        env!("CARGO_MANIFEST_DIR")
    );
    std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{p}: {e}"))
}

pub fn fixture_json(rel: &str) -> Value {
    serde_json::from_str(&fixture(rel)).unwrap_or_else(|e| panic!("{rel}: {e}"))
}

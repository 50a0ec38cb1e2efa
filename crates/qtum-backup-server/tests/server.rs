//! `qtum-backupd`'s protocol from the outside: a real server on loopback, requests written by
//! hand (so that malformed and forged ones can be sent too), signatures made with node keys.
//!
//! What must hold: only a node's own key writes or reads its slot; a write creates exactly the
//! next version and anything else (an older copy, a replay, a gap) is `409` with the stored
//! version and its hash; a body that is not this node's backup file is refused; a read with a
//! stale signed time is refused; the version-only read answers without the file.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::PathBuf;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bitcoin::hashes::{sha256, Hash};
use bitcoin::hex::DisplayHex;
use bitcoin::secp256k1::{PublicKey, Secp256k1, SecretKey};
use lightning::util::message_signing::sign;
use qtum_backup_server::{get_message, put_message, BackupServer, Config};

struct Reply {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Reply {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).expect("a JSON body")
    }
}

fn request(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, String)],
    body: &[u8],
) -> Reply {
    let mut stream = TcpStream::connect(addr).expect("connect");
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .expect("timeout");
    let mut head = format!("{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n");
    for (name, value) in headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    head.push_str(&format!("Content-Length: {}\r\n\r\n", body.len()));
    stream.write_all(head.as_bytes()).expect("write head");
    stream.write_all(body).expect("write body");
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).expect("read");
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("a complete head");
    let head = String::from_utf8(raw[..split].to_vec()).expect("text head");
    let mut lines = head.split("\r\n");
    let status = lines
        .next()
        .and_then(|l| l.split(' ').nth(1))
        .and_then(|s| s.parse().ok())
        .expect("status line");
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_string(), v.trim().to_string()))
        .collect();
    Reply {
        status,
        headers,
        body: raw[split + 4..].to_vec(),
    }
}

struct Node {
    key: SecretKey,
    id: String,
    pubkey: PublicKey,
}

impl Node {
    fn new(byte: u8) -> Node {
        let key = SecretKey::from_slice(&[byte; 32]).expect("key");
        let pubkey = PublicKey::from_secret_key(&Secp256k1::new(), &key);
        Node {
            key,
            id: pubkey.to_string(),
            pubkey,
        }
    }

    /// A body shaped like the SDK's backup file of this node: magic, format, network, node id,
    /// then `fill` (the server reads the clear header only).
    fn file(&self, fill: u8) -> Vec<u8> {
        let mut body = b"QTUMLNBK".to_vec();
        body.extend_from_slice(&[1, 3]);
        body.extend_from_slice(&self.pubkey.serialize());
        body.extend_from_slice(&[fill; 200]);
        body
    }

    fn put(&self, addr: SocketAddr, version: u64, body: &[u8], signer: &SecretKey) -> Reply {
        let signature = sign(put_message(&self.id, version, body).as_bytes(), signer);
        request(
            addr,
            "POST",
            &format!("/v1/backups/{}", self.id),
            &[
                ("X-Backup-Version", version.to_string()),
                ("X-Backup-Signature", signature),
            ],
            body,
        )
    }

    fn get(&self, addr: SocketAddr, time: u64, version_only: bool) -> Reply {
        let signature = sign(get_message(&self.id, time).as_bytes(), &self.key);
        let mut headers = vec![
            ("X-Backup-Time", time.to_string()),
            ("X-Backup-Signature", signature),
        ];
        if version_only {
            headers.push(("X-Backup-Version-Only", "1".to_string()));
        }
        request(
            addr,
            "GET",
            &format!("/v1/backups/{}", self.id),
            &headers,
            &[],
        )
    }
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock")
        .as_secs()
}

fn server(name: &str) -> BackupServer {
    let dir: PathBuf = std::env::temp_dir().join(format!(
        "qtum-backupd-test-{name}-{}-{}",
        std::process::id(),
        now()
    ));
    std::fs::create_dir_all(&dir).expect("dir");
    BackupServer::start(Config::new(
        "127.0.0.1:0".parse().expect("addr"),
        dir.join("backups.sqlite"),
    ))
    .expect("server starts")
}

fn sha256_hex(body: &[u8]) -> String {
    sha256::Hash::hash(body)
        .to_byte_array()
        .to_lower_hex_string()
}

#[test]
fn versions_follow_each_other_and_only_the_node_writes_its_slot() {
    let server = server("versions");
    let addr = server.addr();
    let alice = Node::new(0x11);
    let mallory = Node::new(0x22);

    // Nothing yet.
    assert_eq!(alice.get(addr, now(), false).status, 404);
    assert_eq!(alice.get(addr, now(), true).status, 404);

    // Version 1, then 2.
    let first = alice.file(1);
    assert_eq!(alice.put(addr, 1, &first, &alice.key).status, 200);
    let second = alice.file(2);
    let stored = alice.put(addr, 2, &second, &alice.key);
    assert_eq!(stored.status, 200);
    assert_eq!(stored.json()["version"], 2);

    // An older copy, a replay and a gap: 409 with what is stored.
    for (version, body) in [(1, &first), (2, &second), (4, &second)] {
        let refused = alice.put(addr, version, body, &alice.key);
        assert_eq!(refused.status, 409, "version {version}");
        assert_eq!(refused.json()["version"], 2);
        assert_eq!(refused.json()["sha256"], sha256_hex(&second));
    }

    // Another key cannot write or read Alice's slot; Alice cannot store another node's file.
    let forged = alice.put(addr, 3, &alice.file(3), &mallory.key);
    assert_eq!(forged.status, 401);
    let signature = sign(get_message(&alice.id, now()).as_bytes(), &mallory.key);
    let read = request(
        addr,
        "GET",
        &format!("/v1/backups/{}", alice.id),
        &[
            ("X-Backup-Time", now().to_string()),
            ("X-Backup-Signature", signature),
        ],
        &[],
    );
    assert_eq!(read.status, 401);
    assert_eq!(alice.put(addr, 3, &mallory.file(3), &alice.key).status, 400);
    assert_eq!(
        alice.put(addr, 3, b"not a backup file", &alice.key).status,
        400
    );

    // Reads: a signed time ten minutes off is refused; the full read returns the latest file;
    // the version-only read returns the version and not the file.
    assert_eq!(alice.get(addr, now() - 700, false).status, 401);
    let full = alice.get(addr, now(), false);
    assert_eq!(full.status, 200);
    assert_eq!(full.header("x-backup-version"), Some("2"));
    assert_eq!(full.body, second);
    let version = alice.get(addr, now(), true);
    assert_eq!(version.status, 200);
    assert_eq!(version.header("x-backup-version"), Some("2"));
    assert_eq!(version.json()["version"], 2);
    assert!(version.body.len() < 64, "no file in a version-only read");

    // Malformed requests get a clear status, and the slot is unchanged.
    let no_version = request(
        addr,
        "POST",
        &format!("/v1/backups/{}", alice.id),
        &[("X-Backup-Signature", "x".to_string())],
        &first,
    );
    assert_eq!(no_version.status, 400);
    assert_eq!(
        request(addr, "GET", "/v1/backups/not-a-key", &[], &[]).status,
        400
    );
    assert_eq!(
        request(
            addr,
            "DELETE",
            &format!("/v1/backups/{}", alice.id),
            &[],
            &[]
        )
        .status,
        405
    );
    assert_eq!(alice.get(addr, now(), false).body, second);
}

//! `qtum-esplora` as a public server: real TCP against the real server over the harness. A
//! slow client is cut off while others are served, oversized heads and bodies are refused, a
//! full queue answers 503, `/utxo` lists are capped, the mempool is not read per request, and
//! what qtumd says when it fails never reaches a client.

mod common;

use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use bitcoin::consensus::encode::serialize_hex;
use bitcoin::ScriptBuf;
use qtum_chain::ChainSource;
use qtum_esplora::EsploraServer;
use qtum_regtest::RegtestNode;

use common::{Env, Kind};

/// Sends `bytes` on a new connection and reads the answer until the server closes it (or
/// stops sending for 10 s).
fn exchange(addr: SocketAddr, bytes: &[u8]) -> String {
    let mut stream = TcpStream::connect(addr).expect("connect");
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    stream.write_all(bytes).expect("send");
    read_answer(&mut stream)
}

fn read_answer(stream: &mut TcpStream) -> String {
    let mut out = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match stream.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => out.extend_from_slice(&buf[..n]),
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn get(server: &EsploraServer, path: &str) -> minreq::Response {
    minreq::get(format!("{}{path}", server.url()))
        .with_timeout(30)
        .send()
        .expect("http")
}

#[test]
fn a_slow_loris_is_cut_off_while_others_are_served() {
    let node = RegtestNode::start().expect("harness");
    let server = common::start_esplora_with(&node, |c| {
        c.threads = 2;
        c.request_timeout = Duration::from_secs(1);
    });
    let mut slow = TcpStream::connect(server.addr()).expect("connect");
    slow.set_read_timeout(Some(Duration::from_millis(50)))
        .expect("timeout");
    let request = format!(
        "GET /blocks/tip/height HTTP/1.1\r\nHost: x\r\nX-Slow: {}\r\n\r\n",
        "a".repeat(300)
    );
    let (mut cut, mut answer, mut served_meanwhile) = (false, Vec::new(), false);
    for (i, byte) in request.as_bytes().iter().enumerate() {
        if slow.write_all(&[*byte]).is_err() {
            cut = true;
            break;
        }
        let mut buf = [0u8; 1024];
        match slow.read(&mut buf) {
            Ok(0) => {
                cut = true;
                break;
            }
            Ok(n) => answer.extend_from_slice(&buf[..n]),
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
            Err(_) => {
                cut = true;
                break;
            }
        }
        if i == 3 {
            // The slow client holds one worker; the other still answers.
            let r = get(&server, "/blocks/tip/height");
            assert_eq!(r.status_code, 200);
            assert_eq!(r.as_str().expect("text"), node.height().to_string());
            served_meanwhile = true;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(served_meanwhile);
    assert!(
        cut,
        "the server never cut off a client sending one byte per 100 ms"
    );
    let answer = String::from_utf8_lossy(&answer);
    assert!(
        answer.is_empty() || answer.starts_with("HTTP/1.1 408"),
        "{answer}"
    );
}

#[test]
fn oversized_heads_and_bodies_are_refused() {
    let node = RegtestNode::start().expect("harness");
    let server = common::start_esplora_with(&node, |_| {});
    let addr = server.addr();

    let long_header = format!(
        "GET /blocks/tip/height HTTP/1.1\r\nHost: x\r\nX-Big: {}\r\n\r\n",
        "a".repeat(10 * 1024)
    );
    let answer = exchange(addr, long_header.as_bytes());
    assert!(answer.starts_with("HTTP/1.1 431 "), "{answer}");

    let many_headers = format!(
        "GET /blocks/tip/height HTTP/1.1\r\nHost: x\r\n{}\r\n",
        "X-A: b\r\n".repeat(100)
    );
    let answer = exchange(addr, many_headers.as_bytes());
    assert!(answer.starts_with("HTTP/1.1 431 "), "{answer}");

    // The head announces 2 MB; nothing more is sent, the answer comes before any body.
    let answer = exchange(
        addr,
        b"POST /tx HTTP/1.1\r\nHost: x\r\nContent-Length: 2000000\r\n\r\n",
    );
    assert!(answer.starts_with("HTTP/1.1 413 "), "{answer}");
    assert!(answer.contains("Connection: close"), "{answer}");

    let answer = exchange(
        addr,
        b"POST /tx HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
    );
    assert!(answer.starts_with("HTTP/1.1 411 "), "{answer}");

    // Within the limits: `Expect: 100-continue` is honoured, and the body read.
    let mut stream = TcpStream::connect(addr).expect("connect");
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    stream
        .write_all(
            b"POST /tx HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\nExpect: 100-continue\r\n\
              Connection: close\r\n\r\n",
        )
        .expect("head");
    let mut interim = [0u8; 25];
    stream.read_exact(&mut interim).expect("100 Continue");
    assert_eq!(&interim, b"HTTP/1.1 100 Continue\r\n\r\n");
    stream.write_all(b"zzzz").expect("body");
    let answer = read_answer(&mut stream);
    assert!(answer.starts_with("HTTP/1.1 400 "), "{answer}");
    assert!(answer.ends_with("Invalid hex string"), "{answer}");

    // Keep-alive: two pipelined requests on one connection, two answers.
    let answer = exchange(
        addr,
        b"GET /blocks/tip/height HTTP/1.1\r\nHost: x\r\n\r\n\
          GET /blocks/tip/hash HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    );
    assert_eq!(answer.matches("HTTP/1.1 200 OK").count(), 2, "{answer}");
    assert!(answer.contains(&node.tip_hash().to_string()), "{answer}");
}

#[test]
fn a_full_queue_is_answered_503() {
    let node = RegtestNode::start().expect("harness");
    // One worker, room for one waiting connection; a connection holds its worker for as long
    // as it likes within these tests.
    let server = common::start_esplora_with(&node, |c| {
        c.threads = 1;
        c.queue = 1;
        c.request_timeout = Duration::from_secs(600);
    });
    let addr = server.addr();
    let mut holders = Vec::new();
    for _ in 0..2 {
        let mut h = TcpStream::connect(addr).expect("connect");
        h.write_all(b"GET /blocks/tip/height HTTP/1.1\r\n")
            .expect("partial");
        holders.push(h);
    }
    // Each attempt that is not refused waits in the queue and holds it too; one of the first
    // few must find the worker and the queue taken.
    let mut refused = None;
    for _ in 0..5 {
        let mut c = TcpStream::connect(addr).expect("connect");
        c.set_read_timeout(Some(Duration::from_secs(2)))
            .expect("timeout");
        c.write_all(b"GET /blocks/tip/height HTTP/1.1\r\nHost: x\r\n\r\n")
            .expect("request");
        let answer = read_answer(&mut c);
        if answer.is_empty() {
            holders.push(c);
            continue;
        }
        refused = Some(answer);
        break;
    }
    let answer = refused.expect("a connection beyond the queue is answered");
    assert!(answer.starts_with("HTTP/1.1 503 "), "{answer}");
    assert!(answer.contains("Retry-After: 1"), "{answer}");
    assert!(server.refused_busy() >= 1);

    // Once the holders go, the server answers again.
    drop(holders);
    let mut answered = false;
    for _ in 0..100 {
        let r = get(&server, "/blocks/tip/height");
        if r.status_code == 200 {
            answered = true;
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(answered);
}

#[test]
fn utxo_lists_are_capped() {
    let env = Env::start(Kind::Esplora);
    let server = common::start_esplora_with(&env.node, |c| c.max_utxos = 5);
    let many = common::op_true_p2wsh();
    let few = ScriptBuf::new_p2wsh(&ScriptBuf::from_bytes(vec![0x52]).wscript_hash());
    let value = 100 * 100_000_000;
    let funding = env.node.fund_address(&many, value).expect("fund");
    env.mine(1);
    let mut outputs = vec![(many.clone(), 100_000_000); 6];
    outputs.extend(vec![(few.clone(), 100_000_000); 3]);
    let split = common::split_op_true(funding, value, &outputs);
    env.node.send_transaction(&split).expect("split");

    // In the mempool, then confirmed: counted the same.
    for _ in 0..2 {
        let r = get(
            &server,
            &format!("/scripthash/{}/utxo", common::script_hash_hex(&few)),
        );
        assert_eq!(r.status_code, 200);
        let list: serde_json::Value =
            serde_json::from_str(r.as_str().expect("text")).expect("json");
        assert_eq!(list.as_array().map(Vec::len), Some(3), "{list}");
        let r = get(
            &server,
            &format!("/scripthash/{}/utxo", common::script_hash_hex(&many)),
        );
        assert_eq!(r.status_code, 400);
        assert!(
            r.as_str()
                .expect("text")
                .starts_with("Too many unspent outputs for this script (more than 5)"),
            "{}",
            r.as_str().unwrap_or("")
        );
        env.mine(1);
    }
}

#[test]
fn the_mempool_is_not_read_for_every_request() {
    let env = Env::start(Kind::Esplora);
    let server = common::start_esplora_with(&env.node, |c| {
        c.mempool_refresh = Duration::from_secs(3600);
    });
    let script = common::op_true_p2wsh();
    let hash = common::script_hash_hex(&script);
    let funding = env.node.fund_address(&script, 100_000_000).expect("fund");
    let txids = |path: &str| -> Vec<(String, bool)> {
        let r = get(&server, &format!("/scripthash/{hash}/{path}"));
        assert_eq!(r.status_code, 200);
        let list: serde_json::Value =
            serde_json::from_str(r.as_str().expect("text")).expect("json");
        list.as_array()
            .expect("array")
            .iter()
            .map(|t| {
                (
                    t["txid"].as_str().expect("txid").to_string(),
                    t["status"]["confirmed"].as_bool().expect("status"),
                )
            })
            .collect()
    };
    assert_eq!(txids("txs"), vec![(funding.txid.to_string(), false)]);
    let reads = server.mempool_reads();
    assert!(reads >= 1);
    for _ in 0..3 {
        assert_eq!(txids("txs").len(), 1);
        assert_eq!(txids("txs/mempool").len(), 1);
        assert_eq!(txids("utxo").len(), 1);
    }
    assert_eq!(
        server.mempool_reads(),
        reads,
        "nine requests, one mempool read"
    );

    // A new block is seen at once.
    env.mine(1);
    assert_eq!(txids("txs"), vec![(funding.txid.to_string(), true)]);
    assert_eq!(server.mempool_reads(), reads + 1);

    // So is a broadcast through the server.
    let spend = common::spend_op_true(funding, 100_000_000, script.clone());
    let r = minreq::post(format!("{}/tx", server.url()))
        .with_body(serialize_hex(&spend))
        .send()
        .expect("post");
    assert_eq!(r.status_code, 200, "{}", r.as_str().unwrap_or(""));
    assert_eq!(
        txids("txs"),
        vec![
            (spend.compute_txid().to_string(), false),
            (funding.txid.to_string(), true)
        ]
    );
    assert_eq!(server.mempool_reads(), reads + 2);

    // Mined: listed once, as confirmed.
    env.mine(1);
    let listed = txids("txs");
    assert_eq!(listed.len(), 2, "{listed:?}");
    assert!(listed.iter().all(|(_, confirmed)| *confirmed), "{listed:?}");
    assert_eq!(server.mempool_reads(), reads + 3);
}

/// A qtumd in front of the harness whose answers to some methods are failures carrying a
/// distinctive text.
struct FailingRpc {
    url: String,
    stop: Arc<AtomicBool>,
    server: Arc<tiny_http::Server>,
    thread: Option<JoinHandle<()>>,
}

const SECRET: &str = "SECRET-7f3a /home/qtum/.qtum/regtest/wallet.dat";

fn failure(call: &serde_json::Value) -> Option<serde_json::Value> {
    let error = |code: i64| {
        Some(serde_json::json!({
            "result": null,
            "error": {"code": code, "message": SECRET},
            "id": call["id"],
        }))
    };
    match call["method"].as_str()? {
        "getblockheader" => error(-1),
        "getblockhash" if call["params"][0] == 999 => error(-8),
        "sendrawtransaction" => error(-1),
        "getrawtransaction" if call["params"][1] == true => error(-5),
        _ => None,
    }
}

impl FailingRpc {
    fn start(upstream: String) -> FailingRpc {
        let server = Arc::new(tiny_http::Server::http("127.0.0.1:0").expect("binds"));
        let port = server.server_addr().to_ip().expect("ip").port();
        let stop = Arc::new(AtomicBool::new(false));
        let thread = {
            let (server, stop) = (Arc::clone(&server), Arc::clone(&stop));
            std::thread::spawn(move || {
                while !stop.load(Ordering::SeqCst) {
                    let Ok(Some(mut req)) = server.recv_timeout(Duration::from_millis(50)) else {
                        continue;
                    };
                    let mut body = Vec::new();
                    let _ = req.as_reader().read_to_end(&mut body);
                    let call: serde_json::Value = serde_json::from_slice(&body).unwrap_or_default();
                    // Raw transactions by txid: an HTTP 500 with a text body.
                    if call["method"] == "getrawtransaction" && call["params"][1] == false {
                        let _ = req.respond(
                            tiny_http::Response::from_string(SECRET).with_status_code(500),
                        );
                        continue;
                    }
                    if let Some(reply) = failure(&call) {
                        let _ = req.respond(
                            tiny_http::Response::from_string(reply.to_string())
                                .with_status_code(500),
                        );
                        continue;
                    }
                    let mut out = minreq::post(upstream.clone()).with_body(body);
                    for h in req.headers() {
                        if h.field.equiv("Authorization") || h.field.equiv("Content-Type") {
                            out = out.with_header(h.field.as_str().as_str(), h.value.as_str());
                        }
                    }
                    let (status, data) = match out.with_timeout(30).send() {
                        Ok(r) => (r.status_code as u16, r.into_bytes()),
                        Err(_) => (502, Vec::new()),
                    };
                    let _ =
                        req.respond(tiny_http::Response::from_data(data).with_status_code(status));
                }
            })
        };
        FailingRpc {
            url: format!("http://127.0.0.1:{port}"),
            stop,
            server,
            thread: Some(thread),
        }
    }
}

impl Drop for FailingRpc {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        self.server.unblock();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

#[test]
fn backend_failures_are_not_shown_to_clients() {
    let node = RegtestNode::start().expect("harness");
    let funding = node
        .fund_address(&common::op_true_p2wsh(), 100_000_000)
        .expect("fund");
    let rpc = FailingRpc::start(node.url().to_string());
    let listen = "127.0.0.1:0".parse().expect("addr");
    let server = EsploraServer::start(qtum_esplora::ServerConfig::new(
        rpc.url.clone(),
        common::rpc_auth(&node),
        listen,
    ))
    .expect("server");
    let tip = node.tip_hash();
    let spend = common::spend_op_true(funding, 100_000_000, common::op_true_p2wsh());
    let cases: Vec<(minreq::Response, u16, &str)> = vec![
        // qtumd answers HTTP 500 with a text body.
        (
            get(&server, &format!("/tx/{}/hex", funding.txid)),
            503,
            "Service unavailable",
        ),
        // An RPC error object.
        (
            get(&server, &format!("/block/{tip}/status")),
            500,
            "Internal server error",
        ),
        // "Not found" errors carry our text, not qtumd's.
        (get(&server, "/block-height/999"), 404, "Block not found"),
        (
            get(&server, &format!("/tx/{}/merkle-proof", funding.txid)),
            404,
            "Not found",
        ),
        (
            minreq::post(format!("{}/tx", server.url()))
                .with_body(serialize_hex(&spend))
                .send()
                .expect("post"),
            500,
            "Internal server error",
        ),
    ];
    for (answer, status, text) in cases {
        let body = answer.as_str().expect("text").to_string();
        assert_eq!(
            (answer.status_code, body.as_str()),
            (i32::from(status), text)
        );
        assert!(!body.contains("SECRET"), "{body}");
    }
    // Through the SDK's client the failures are errors, with no secret either.
    let source = common::esplora_source(&[server.url()]);
    let e = source.transaction(&funding.txid).expect_err("fails");
    assert!(!e.to_string().contains("SECRET"), "{e}");
}

//! The SDK's Esplora client against lying servers: a real `qtum-esplora` over the harness with a
//! proxy in front that lies in one way (pages that ignore `last_seen`, endless fresh pages, an
//! oversized page, a merkle proof too deep, a header too long). Every lie must end the call with
//! an error that fails over to the next base URL, which then gives the right answer; the tests
//! completing at all is the proof that nothing loops.

mod common;

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use bitcoin::hashes::{sha256, Hash};
use bitcoin::Txid;
use qtum_chain::{ChainError, ChainSource, HistoryEntry, ScriptSync, TxStatus};

use common::{Env, Kind};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Lie {
    /// `/scripthash/:h/txs/chain/:last` answered as if `last` were not there: the same page.
    IgnoreLastSeen,
    /// Every later page is 25 new made-up confirmed transactions.
    FreshPages,
    /// The first history page lists 101 transactions.
    HugePage,
    /// Merkle proofs 40 levels deep.
    DeepProof,
    /// Headers of 4,096 hex digits.
    HugeHeader,
}

/// A proxy in front of a real `qtum-esplora` that tells one lie and forwards the rest.
struct Liar {
    url: String,
    /// Requests answered with the lie.
    lies: Arc<AtomicUsize>,
    stop: Arc<AtomicBool>,
    server: Arc<tiny_http::Server>,
    thread: Option<JoinHandle<()>>,
}

fn made_up_txid(seed: &str, i: usize) -> Txid {
    Txid::from_byte_array(sha256::Hash::hash(format!("{seed}/{i}").as_bytes()).to_byte_array())
}

/// The lie for `path`, if this liar tells one there.
fn lie(lie: Lie, upstream: &str, path: &str) -> Option<Vec<u8>> {
    let parts: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
    match (lie, parts.as_slice()) {
        (Lie::IgnoreLastSeen, ["scripthash", hash, "txs", "chain", _last]) => Some(
            minreq::get(format!("{upstream}/scripthash/{hash}/txs/chain"))
                .send()
                .expect("upstream")
                .into_bytes(),
        ),
        (Lie::FreshPages, ["scripthash", _, "txs", "chain", last]) => {
            let page: Vec<serde_json::Value> = (0..25)
                .map(|i| {
                    serde_json::json!({
                        "txid": made_up_txid(last, i).to_string(),
                        "status": {"confirmed": true, "block_height": 7},
                    })
                })
                .collect();
            Some(serde_json::Value::Array(page).to_string().into_bytes())
        }
        (Lie::HugePage, ["scripthash", _, "txs"]) => {
            let page: Vec<serde_json::Value> = (0..101)
                .map(|i| {
                    serde_json::json!({
                        "txid": made_up_txid("huge", i).to_string(),
                        "status": {"confirmed": false},
                    })
                })
                .collect();
            Some(serde_json::Value::Array(page).to_string().into_bytes())
        }
        (Lie::DeepProof, ["tx", _, "merkle-proof"]) => {
            let honest: serde_json::Value = serde_json::from_slice(
                &minreq::get(format!("{upstream}{path}"))
                    .send()
                    .expect("upstream")
                    .into_bytes(),
            )
            .ok()?;
            let merkle: Vec<String> = (0..40)
                .map(|i| made_up_txid("deep", i).to_string())
                .collect();
            let mut proof = honest;
            proof["merkle"] = serde_json::json!(merkle);
            Some(proof.to_string().into_bytes())
        }
        (Lie::HugeHeader, ["block", _, "header"]) => Some(vec![b'0'; 4_096]),
        _ => None,
    }
}

impl Liar {
    fn start(upstream: String, how: Lie) -> Liar {
        let server = Arc::new(tiny_http::Server::http("127.0.0.1:0").expect("liar binds"));
        let port = server.server_addr().to_ip().expect("ip").port();
        let lies = Arc::new(AtomicUsize::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let thread = {
            let (server, lies, stop) = (Arc::clone(&server), Arc::clone(&lies), Arc::clone(&stop));
            std::thread::spawn(move || {
                while !stop.load(Ordering::SeqCst) {
                    let Ok(Some(mut req)) = server.recv_timeout(Duration::from_millis(50)) else {
                        continue;
                    };
                    let path = req.url().to_string();
                    let (status, data) = match lie(how, &upstream, &path) {
                        Some(data) => {
                            lies.fetch_add(1, Ordering::SeqCst);
                            (200, data)
                        }
                        None => {
                            let mut body = Vec::new();
                            let _ = req.as_reader().read_to_end(&mut body);
                            let url = format!("{upstream}{path}");
                            let out = match req.method() {
                                tiny_http::Method::Post => minreq::post(url).with_body(body),
                                _ => minreq::get(url),
                            };
                            match out.with_timeout(30).send() {
                                Ok(r) => (r.status_code as u16, r.into_bytes()),
                                Err(_) => (502, b"upstream down".to_vec()),
                            }
                        }
                    };
                    let _ =
                        req.respond(tiny_http::Response::from_data(data).with_status_code(status));
                }
            })
        };
        Liar {
            url: format!("http://127.0.0.1:{port}"),
            lies,
            stop,
            server,
            thread: Some(thread),
        }
    }

    fn lies_told(&self) -> usize {
        self.lies.load(Ordering::SeqCst)
    }
}

impl Drop for Liar {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        self.server.unblock();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn sorted(mut h: Vec<HistoryEntry>) -> Vec<(Txid, Option<u32>)> {
    h.sort_by_key(|e| e.txid);
    h.into_iter().map(|e| (e.txid, e.height)).collect()
}

fn invalid(result: Result<impl std::fmt::Debug, ChainError>, what: &str) -> String {
    match result {
        Err(ChainError::InvalidResponse(m)) => m,
        other => panic!("{what}: {other:?}"),
    }
}

#[test]
fn a_server_ignoring_last_seen_fails_over_to_the_honest_one() {
    let env = Env::start(Kind::Esplora);
    // 32 confirmed transactions: a full first page of 25, and a second one.
    let script = common::script_with_history(&env, 30);
    let honest = common::esplora_source(&[env.base_url()]);
    let truth = honest.script_history(&script).expect("honest history");
    assert_eq!(truth.len(), 32);
    assert!(truth.iter().all(|e| e.height.is_some()));

    let liar = Liar::start(env.base_url(), Lie::IgnoreLastSeen);
    let alone = common::esplora_source(std::slice::from_ref(&liar.url));
    let why = invalid(alone.script_history(&script), "liar alone");
    assert!(why.contains("last_seen"), "{why}");
    assert_eq!(liar.lies_told(), 1, "caught on its first repeated page");

    let both = common::esplora_source(&[liar.url.clone(), env.base_url()]);
    let answer = both.script_history(&script).expect("failover");
    assert_eq!(sorted(answer), sorted(truth.clone()));
    let health = both.endpoint_health();
    assert_eq!(
        (health[0].failures, health[1].failures),
        (1, 0),
        "the liar failed once, the honest one never: {health:?}"
    );

    // The wallet's sync over the same pair completes with the whole history.
    let source: Arc<dyn ChainSource> =
        Arc::new(common::esplora_source(&[liar.url.clone(), env.base_url()]));
    let result = ScriptSync::new(source)
        .sync(std::slice::from_ref(&script), 0)
        .expect("wallet sync");
    assert_eq!(result.txs.len(), 32);
}

#[test]
fn endless_fresh_pages_stop_at_the_history_cap() {
    let env = Env::start(Kind::Esplora);
    let script = common::script_with_history(&env, 30);
    let liar = Liar::start(env.base_url(), Lie::FreshPages);
    let alone = common::esplora_source(std::slice::from_ref(&liar.url));
    let why = invalid(alone.script_history(&script), "liar alone");
    assert!(why.contains("more than 10000"), "{why}");
    // 25 real + 25 per made-up page: the 400th made-up page crosses 10,000.
    assert_eq!(liar.lies_told(), 400);

    let mut config = qtum_chain::EsploraConfig::new(vec![liar.url.clone(), env.base_url()]);
    config.max_history_txs = 100;
    config.retry_after = Duration::from_millis(50);
    let both = qtum_chain::EsploraSource::new(config).expect("source");
    let answer = both.script_history(&script).expect("failover");
    assert_eq!(answer.len(), 32);
    assert_eq!(liar.lies_told(), 400 + 4, "a smaller cap, fewer pages");
}

#[test]
fn oversized_pages_proofs_and_headers_fail_over() {
    let env = Env::start(Kind::Esplora);
    let script = common::op_true_p2wsh();
    let funding = env.node.fund_address(&script, 100_000_000).expect("fund");
    let block = env.mine(1)[0];
    let honest = common::esplora_source(&[env.base_url()]);

    // A page of 101 entries.
    let liar = Liar::start(env.base_url(), Lie::HugePage);
    let why = invalid(
        common::esplora_source(std::slice::from_ref(&liar.url)).script_history(&script),
        "huge page",
    );
    assert!(why.contains("more than 100 entries"), "{why}");
    let both = common::esplora_source(&[liar.url.clone(), env.base_url()]);
    assert_eq!(
        sorted(both.script_history(&script).expect("failover")),
        sorted(honest.script_history(&script).expect("honest"))
    );
    drop(liar);

    // A merkle proof deeper than any block.
    let liar = Liar::start(env.base_url(), Lie::DeepProof);
    let why = invalid(
        common::esplora_source(std::slice::from_ref(&liar.url)).tx_status(&funding.txid),
        "deep proof",
    );
    assert!(why.contains("more than 32 entries"), "{why}");
    let both = common::esplora_source(&[liar.url.clone(), env.base_url()]);
    match both.tx_status(&funding.txid).expect("failover") {
        TxStatus::Confirmed { block: b, .. } => assert_eq!(b.hash, block),
        other => panic!("{other:?}"),
    }
    drop(liar);

    // A header far longer than a Qtum header.
    let liar = Liar::start(env.base_url(), Lie::HugeHeader);
    let why = invalid(
        common::esplora_source(std::slice::from_ref(&liar.url)).header(&block),
        "huge header",
    );
    assert!(why.contains("4096 hex digits"), "{why}");
    let both = common::esplora_source(&[liar.url.clone(), env.base_url()]);
    assert_eq!(both.header(&block).expect("failover").block_hash(), block);
}

//! Both chain sources over HTTPS (qtum-chain's `https` feature: ureq + rustls on ring).
//!
//! Each test makes a CA and server certificates with `rcgen`, and puts a small TLS-terminating
//! proxy (rustls server, one thread per connection) in front of the regtest harness's RPC port
//! and in front of the Esplora server. A source that trusts the CA (`ca_file`) works as over
//! plain HTTP; one that does not (the webpki roots, another CA) or that reaches a certificate
//! made out for another name is refused with `ChainError::Unreachable("TLS handshake with … failed:
//! invalid peer certificate: UnknownIssuer …")` (or `… certificate not valid for name …`), an
//! endpoint fault that failover moves past.
//!
//! Run with `cargo test -p qtum-esplora --features https --test https`.
#![cfg(feature = "https")]

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use qtum_chain::{
    ChainError, ChainSource, EsploraConfig, EsploraSource, RpcClient, RpcConfig, RpcEndpoint,
    RpcSource,
};
use qtum_primitives::network::Network;
use qtum_regtest::RegtestNode;
use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, KeyPair,
    KeyUsagePurpose, SanType,
};
use rustls::pki_types::{PrivateKeyDer, PrivatePkcs8KeyDer};

/// A CA made at test time, written to a PEM file the sources can be pointed at.
struct TestCa {
    cert: rcgen::Certificate,
    key: KeyPair,
    pem_file: PathBuf,
}

fn scratch_dir() -> PathBuf {
    static N: AtomicUsize = AtomicUsize::new(0);
    let dir = std::env::temp_dir().join(format!(
        "qtum-https-test-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::SeqCst)
    ));
    std::fs::create_dir_all(&dir).expect("scratch dir");
    dir
}

impl TestCa {
    fn new(name: &str) -> TestCa {
        let key = KeyPair::generate().expect("CA key");
        let mut params = CertificateParams::new(Vec::<String>::new()).expect("CA params");
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.distinguished_name.push(DnType::CommonName, name);
        params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        let cert = params.self_signed(&key).expect("self-signed CA");
        let pem_file = scratch_dir().join("ca.pem");
        std::fs::write(&pem_file, cert.pem()).expect("write CA PEM");
        TestCa {
            cert,
            key,
            pem_file,
        }
    }

    /// A server config whose certificate this CA issued for `names` (DNS names or IPs).
    fn server_config(&self, names: &[&str]) -> Arc<rustls::ServerConfig> {
        let key = KeyPair::generate().expect("server key");
        let mut params = CertificateParams::new(Vec::<String>::new()).expect("leaf params");
        params.distinguished_name.push(DnType::CommonName, names[0]);
        params.subject_alt_names = names
            .iter()
            .map(|n| match n.parse() {
                Ok(ip) => SanType::IpAddress(ip),
                Err(_) => SanType::DnsName((*n).try_into().expect("dns name")),
            })
            .collect();
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        let cert = params
            .signed_by(&key, &self.cert, &self.key)
            .expect("leaf signed by the CA");
        let chain = vec![cert.der().clone(), self.cert.der().clone()];
        let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der()));
        let config = rustls::ServerConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .expect("protocol versions")
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .expect("server cert");
        Arc::new(config)
    }

    fn pem(&self) -> &Path {
        &self.pem_file
    }
}

/// Terminates TLS on a loopback port and forwards each request, as plain HTTP with
/// `Connection: close`, to `upstream`; one request per connection (the answer says so).
struct TlsProxy {
    port: u16,
    stop: Arc<AtomicBool>,
    served: Arc<AtomicUsize>,
    thread: Option<JoinHandle<()>>,
}

impl TlsProxy {
    fn start(upstream: SocketAddr, config: Arc<rustls::ServerConfig>) -> TlsProxy {
        let listener = TcpListener::bind("127.0.0.1:0").expect("proxy binds");
        let port = listener.local_addr().expect("addr").port();
        let stop = Arc::new(AtomicBool::new(false));
        let served = Arc::new(AtomicUsize::new(0));
        let thread = {
            let (stop, served) = (Arc::clone(&stop), Arc::clone(&served));
            std::thread::spawn(move || {
                for conn in listener.incoming() {
                    if stop.load(Ordering::SeqCst) {
                        break;
                    }
                    let Ok(conn) = conn else { continue };
                    let (config, served) = (Arc::clone(&config), Arc::clone(&served));
                    std::thread::spawn(move || {
                        if serve(conn, upstream, config).is_ok() {
                            served.fetch_add(1, Ordering::SeqCst);
                        }
                    });
                }
            })
        };
        TlsProxy {
            port,
            stop,
            served,
            thread: Some(thread),
        }
    }

    /// `https://HOST:PORT` of the proxy.
    fn url(&self, host: &str) -> String {
        format!("https://{host}:{}", self.port)
    }

    /// Requests answered through TLS so far.
    fn served(&self) -> usize {
        self.served.load(Ordering::SeqCst)
    }
}

impl Drop for TlsProxy {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // Wake the accept loop.
        let _ = TcpStream::connect(("127.0.0.1", self.port));
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// One request: the TLS handshake (a client that refuses the certificate ends it here), the
/// request head and body, the upstream's whole answer back with `Connection: close`.
fn serve(
    tcp: TcpStream,
    upstream: SocketAddr,
    config: Arc<rustls::ServerConfig>,
) -> std::io::Result<()> {
    tcp.set_read_timeout(Some(Duration::from_secs(30)))?;
    let conn = rustls::ServerConnection::new(config).map_err(std::io::Error::other)?;
    let tls = rustls::StreamOwned::new(conn, tcp);
    let mut reader = BufReader::new(tls);
    let mut head = Vec::new();
    let mut content_length = 0usize;
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line)? == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        let lower = line.to_ascii_lowercase();
        if let Some(v) = lower.strip_prefix("content-length:") {
            content_length = v.trim().parse().map_err(std::io::Error::other)?;
        }
        if line == "\r\n" {
            head.extend_from_slice(b"Connection: close\r\n\r\n");
            break;
        }
        if !lower.starts_with("connection:") {
            head.extend_from_slice(line.as_bytes());
        }
    }
    let mut body = vec![0u8; content_length];
    reader.read_exact(&mut body)?;

    let mut up = TcpStream::connect(upstream)?;
    up.set_read_timeout(Some(Duration::from_secs(30)))?;
    up.write_all(&head)?;
    up.write_all(&body)?;
    let mut answer = Vec::new();
    up.read_to_end(&mut answer)?;

    // The answer's head, with `Connection: close` whatever the upstream said.
    let split = answer
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or(std::io::ErrorKind::InvalidData)?;
    let head_text = String::from_utf8_lossy(&answer[..split]).to_string();
    let mut out = Vec::with_capacity(answer.len() + 32);
    for line in head_text.split("\r\n") {
        if !line.to_ascii_lowercase().starts_with("connection:") {
            out.extend_from_slice(line.as_bytes());
            out.extend_from_slice(b"\r\n");
        }
    }
    out.extend_from_slice(b"Connection: close\r\n\r\n");
    out.extend_from_slice(&answer[split + 4..]);

    let mut tls = reader.into_inner();
    tls.write_all(&out)?;
    tls.conn.send_close_notify();
    tls.flush()?;
    Ok(())
}

/// `http://127.0.0.1:PORT[/...]` → the socket address.
fn addr_of(url: &str) -> SocketAddr {
    let rest = url.strip_prefix("http://").expect("http url");
    let hostport = rest.split('/').next().expect("host:port");
    hostport.parse().expect("socket address")
}

fn rpc_source(node: &RegtestNode, endpoint: RpcEndpoint) -> Result<RpcSource, ChainError> {
    let _ = node;
    let mut config = RpcConfig::new(Network::Regtest, vec![endpoint]);
    config.timeout = Duration::from_secs(10);
    config.retry_after = Duration::from_millis(50);
    RpcSource::new(config)
}

fn esplora_source(url: String, ca: Option<&Path>) -> Result<EsploraSource, ChainError> {
    let mut config = EsploraConfig::new(vec![url]);
    config.timeout = Duration::from_secs(10);
    config.retry_after = Duration::from_millis(50);
    if let Some(ca) = ca {
        config = config.with_ca_file(ca);
    }
    EsploraSource::new(config)
}

/// A refusal at the TLS layer: an endpoint fault with a message that says why.
fn assert_tls_refusal<T: std::fmt::Debug>(r: Result<T, ChainError>, why: &str) {
    match r {
        Err(ChainError::Unreachable(message)) => {
            assert!(
                message.contains("TLS") && message.contains(why),
                "refusal should name TLS and {why}: {message}"
            );
            assert!(ChainError::Unreachable(message).is_endpoint_fault());
        }
        other => panic!("expected a TLS refusal ({why}), got {other:?}"),
    }
}

#[test]
fn rpc_source_over_https_trusts_the_given_ca_only() {
    let node = RegtestNode::start().expect("harness starts");
    let env_script = node.wallet_script();
    node.mine_blocks(3, &env_script).expect("mine");
    let auth = common::rpc_auth(&node);
    let upstream = addr_of(node.url());

    let ca = TestCa::new("qtum test CA");
    let good = TlsProxy::start(upstream, ca.server_config(&["localhost", "127.0.0.1"]));

    // Trusted: by name and by IP, single calls and batches, same answers as plain HTTP.
    let plain = rpc_source(&node, RpcEndpoint::new(node.url(), auth.clone())).expect("plain");
    for host in ["localhost", "127.0.0.1"] {
        let source = rpc_source(
            &node,
            RpcEndpoint::new(good.url(host), auth.clone()).with_ca_file(ca.pem()),
        )
        .expect("https source");
        let tip = source.tip().expect("tip over https");
        assert_eq!(tip, plain.tip().expect("tip over http"));
        let headers = source.headers_between(0, tip.height).expect("batch");
        assert_eq!(headers.len() as u32, tip.height + 1);
        let block = source.block(&tip.hash).expect("block over https");
        assert_eq!(block.header.block_hash(), tip.hash);
        assert!(source.describe().starts_with("rpc https://"));
    }
    let client = RpcClient::for_endpoint(
        RpcEndpoint::new(good.url("localhost"), auth.clone()).with_ca_file(ca.pem()),
        Duration::from_secs(10),
    )
    .expect("client");
    assert!(client.call("getblockcount", serde_json::json!([])).is_ok());
    assert!(good.served() >= 6, "requests went through the TLS proxy");

    // Not trusted: the webpki roots alone, or another CA.
    let webpki_only =
        rpc_source(&node, RpcEndpoint::new(good.url("localhost"), auth.clone())).expect("source");
    assert_tls_refusal(webpki_only.tip(), "UnknownIssuer");
    let other_ca = TestCa::new("some other CA");
    let wrong_ca = rpc_source(
        &node,
        RpcEndpoint::new(good.url("localhost"), auth.clone()).with_ca_file(other_ca.pem()),
    )
    .expect("source");
    assert_tls_refusal(wrong_ca.tip(), "UnknownIssuer");

    // Trusted CA, but the certificate names another host.
    let misnamed = TlsProxy::start(upstream, ca.server_config(&["rpc.example.org"]));
    let source = rpc_source(
        &node,
        RpcEndpoint::new(misnamed.url("127.0.0.1"), auth.clone()).with_ca_file(ca.pem()),
    )
    .expect("source");
    assert_tls_refusal(source.tip(), "not valid for name");
    let source = rpc_source(
        &node,
        RpcEndpoint::new(misnamed.url("localhost"), auth.clone()).with_ca_file(ca.pem()),
    )
    .expect("source");
    assert_tls_refusal(source.tip(), "not valid for name");

    // Failover: a refused endpoint is a fault, the next (trusted) one answers.
    let mut config = RpcConfig::new(
        Network::Regtest,
        vec![
            RpcEndpoint::new(misnamed.url("localhost"), auth.clone()).with_ca_file(ca.pem()),
            RpcEndpoint::new(good.url("localhost"), auth.clone()).with_ca_file(ca.pem()),
        ],
    );
    config.retry_after = Duration::from_millis(50);
    let failover = RpcSource::new(config).expect("source");
    assert_eq!(
        failover.tip().expect("second endpoint"),
        plain.tip().expect("tip")
    );
    let health = failover.endpoint_health();
    // Failure counts, not `healthy`: the 50 ms back-off may be over by now.
    assert_eq!(
        (health[0].failures, health[1].failures),
        (1, 0),
        "{health:?}"
    );
}

#[test]
fn esplora_source_over_https_trusts_the_given_ca_only() {
    let node = RegtestNode::start().expect("harness starts");
    let script = node.wallet_script();
    let hashes = node.mine_blocks(3, &script).expect("mine");
    let server = common::start_esplora(&node);
    let upstream = addr_of(&server.url());

    let ca = TestCa::new("qtum test CA");
    let good = TlsProxy::start(upstream, ca.server_config(&["localhost", "127.0.0.1"]));

    let plain = esplora_source(server.url(), None).expect("plain");
    let source = esplora_source(good.url("localhost"), Some(ca.pem())).expect("https source");
    let tip = source.tip().expect("tip over https");
    assert_eq!(tip, plain.tip().expect("tip over http"));
    assert_eq!(tip.hash, *hashes.last().expect("mined"));
    let block = source.block(&tip.hash).expect("raw block over https");
    // The coinbase of a mined block: a JSON status call, a merkle proof checked against the
    // header, a raw transaction, all through TLS.
    let coinbase = block.txdata[0].compute_txid();
    match source.tx_status(&coinbase).expect("status over https") {
        qtum_chain::TxStatus::Confirmed { block, .. } => assert_eq!(block.hash, tip.hash),
        other => panic!("coinbase should be confirmed, got {other:?}"),
    }
    assert!(source.transaction(&coinbase).expect("tx").is_some());
    let history = source.script_history(&script).expect("history over https");
    assert!(history.iter().any(|h| h.txid == coinbase), "{history:?}");
    assert!(source.fee_estimates().is_ok());
    assert!(source.describe().starts_with("esplora https://"));
    assert!(good.served() >= 6, "requests went through the TLS proxy");

    // Not trusted: the webpki roots alone, or another CA.
    let webpki_only = esplora_source(good.url("localhost"), None).expect("source");
    assert_tls_refusal(webpki_only.tip(), "UnknownIssuer");
    let other_ca = TestCa::new("some other CA");
    let wrong_ca = esplora_source(good.url("localhost"), Some(other_ca.pem())).expect("source");
    assert_tls_refusal(wrong_ca.tip(), "UnknownIssuer");

    // Trusted CA, certificate for another name.
    let misnamed = TlsProxy::start(upstream, ca.server_config(&["esplora.example.org"]));
    let source = esplora_source(misnamed.url("localhost"), Some(ca.pem())).expect("source");
    assert_tls_refusal(source.tip(), "not valid for name");
}

#[test]
fn a_ca_file_that_is_missing_or_not_pem_is_a_config_error() {
    let missing = scratch_dir().join("no-such-ca.pem");
    let endpoint =
        RpcEndpoint::new("https://localhost:1", qtum_chain::RpcAuth::None).with_ca_file(&missing);
    let err = RpcSource::new(RpcConfig::new(Network::Regtest, vec![endpoint])).unwrap_err();
    assert!(
        matches!(&err, ChainError::Unsupported(m) if m.contains("no-such-ca.pem")),
        "{err:?}"
    );
    let not_pem = scratch_dir().join("ca.pem");
    std::fs::write(&not_pem, "hello").expect("write");
    let err = esplora_source("https://localhost:1".into(), Some(&not_pem)).unwrap_err();
    assert!(
        matches!(&err, ChainError::Unsupported(m) if m.contains("no certificate")),
        "{err:?}"
    );
}

//! Inbound liquidity between real nodes over TCP on the regtest harness: a node acting as
//! liquidity provider (LSPS2, LSPS5), a phone-like client with no channel and no coins, and a
//! payer with a channel to the provider.
//!
//! - `first_payment_through_a_jit_channel`: the client's first payment (0.5 QTUM) arrives
//!   through a channel the provider opens when it comes, usable before it confirms, the fee
//!   kept exactly as quoted; then every refusal the client and payer can meet, each typed and
//!   losing nothing, and a provider that goes away and comes back.
//! - `webhook_wakes_an_offline_client`: a payment for a client that is offline makes the
//!   provider call the client's HTTPS webhook; the client starts, connects and is paid.

mod common;

use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::*;
use qtum_lightning::{Builder, Event, LspServiceConfig, Node, NodeError, PaymentStatus};
use qtum_regtest::node::RegtestNode;

const TOKEN: &str = "open-sesame";

fn provider(harness: &RegtestNode, name: &str, seed: u8, service: LspServiceConfig) -> Node {
    let mut builder = Builder::new(config(harness, name));
    builder.set_entropy_seed_bytes(&[seed; 32]);
    builder.set_liquidity_service(service, Some(TOKEN));
    let node = builder.build().expect("provider builds");
    node.start().expect("provider starts");
    node
}

fn client(harness: &RegtestNode, name: &str, seed: u8, lsp: &Node, token: Option<&str>) -> Node {
    client_with(harness, name, seed, lsp, token, true, |_| {})
}

fn client_with(
    harness: &RegtestNode,
    name: &str,
    seed: u8,
    lsp: &Node,
    token: Option<&str>,
    trust_zero_conf: bool,
    tweak: impl FnOnce(&mut qtum_lightning::Config),
) -> Node {
    let mut config = config(harness, name);
    tweak(&mut config);
    let mut builder = Builder::new(config);
    builder.set_entropy_seed_bytes(&[seed; 32]);
    builder.set_liquidity_source(&lsp.node_uri().expect("listening"), token, trust_zero_conf);
    let node = builder.build().expect("client builds");
    node.start().expect("client starts");
    node
}

/// The provider of these tests: a token, payments of 0.01 to 0.6 QTUM, quotes valid 60 s.
fn service() -> LspServiceConfig {
    LspServiceConfig {
        max_payment_msat: QTUM * 600,
        quote_validity_secs: 60,
        ..LspServiceConfig::default()
    }
}

/// The payer's channel to `lsp`, and what it can send over it.
fn outbound_msat(payer: &Node, lsp: &Node) -> u64 {
    payer
        .list_channels()
        .iter()
        .filter(|c| c.counterparty_node_id == lsp.node_id())
        .map(|c| c.outbound_capacity_msat)
        .sum()
}

fn wait_payment_status(node: &Node, id: &qtum_lightning::PaymentId) -> PaymentStatus {
    node.wait_payment(id, Duration::from_secs(120))
        .expect("payment known")
        .status
}

#[test]
fn first_payment_through_a_jit_channel() {
    init_logs();
    let harness = harness();
    let lsp = provider(&harness, "lsp", 41, service());
    fund(&harness, &lsp, 5 * QTUM);
    let payer = start_node(&harness, "payer", 42);
    fund(&harness, &payer, 3 * QTUM);
    open_ready_channel(&harness, &payer, &lsp, 2 * QTUM, None);

    // A client with nothing: no channel, no coins.
    let phone = client(&harness, "phone", 43, &lsp, Some(TOKEN));
    assert!(phone.list_channels().is_empty());
    assert_eq!(phone.onchain_balance().total_sat, 0);

    // The terms are shown before anything is bought.
    let quote = phone.jit_channel_quote().expect("quote");
    assert_eq!(quote.lsp_node_id, lsp.node_id());
    assert_eq!(quote.min_fee_msat, 200_000_000);
    assert_eq!(quote.proportional_ppm, 10_000);
    assert_eq!(quote.max_payment_msat, QTUM * 600);
    let amount_msat = QTUM * 1000 / 2;
    let fee_msat = quote.fee_for(amount_msat).expect("fee");
    assert_eq!(fee_msat, 500_000_000, "1 % of 0.5 QTUM, above the minimum");
    // Kept for the expiry check at the end.
    let early_quote = quote.clone();

    let jit = phone
        .receive_via_jit_channel(amount_msat, "first payment", None, Some(fee_msat))
        .expect("JIT invoice");
    assert_eq!(jit.opening_fee_msat, Some(fee_msat));
    let decoded =
        qtum_lightning::qtum::invoice::DecodedInvoice::decode(&jit.invoice).expect("decodes");
    assert_eq!(decoded.amount_msat, Some(amount_msat));

    let id = payer.send(&jit.invoice, None).expect("send");
    assert_eq!(wait_payment_status(&payer, &id), PaymentStatus::Succeeded);
    let opened = expect_event(&phone, "JIT channel opened", |e| {
        matches!(e, Event::JitChannelOpened { .. })
    });
    let Event::JitChannelOpened {
        lsp_node_id,
        opening_fee_msat,
        channel_id,
        ..
    } = opened
    else {
        unreachable!()
    };
    assert_eq!(lsp_node_id, lsp.node_id());
    assert_eq!(opening_fee_msat, fee_msat, "the fee kept is the fee quoted");
    let received = expect_event(&phone, "payment received", |e| {
        matches!(e, Event::PaymentReceived { .. })
    });
    let Event::PaymentReceived {
        amount_msat: got, ..
    } = received
    else {
        unreachable!()
    };
    assert_eq!(got, amount_msat - fee_msat, "to the msat");

    // Zero-conf: the channel carried the payment before any block confirmed its funding.
    let channel = phone
        .list_channels()
        .into_iter()
        .find(|c| c.channel_id == channel_id)
        .expect("the JIT channel");
    assert!(channel.is_usable);
    assert_eq!(channel.confirmations.unwrap_or(0), 0, "{channel:?}");
    assert!(!channel.is_outbound);
    // Twice the payment plus room for the commitment fee: the client can receive as much again.
    assert!(channel.capacity_sat >= 2 * (amount_msat - fee_msat) / 1000);

    // The channel confirms, and the funds are the client's to spend.
    mine(&harness, 6);
    wait_until("the JIT channel confirms", || {
        let _ = phone.sync();
        phone
            .list_channels()
            .iter()
            .any(|c| c.channel_id == channel_id && c.confirmations.unwrap_or(0) >= 6)
    });
    pay(&phone, &payer, QTUM * 1000 / 10);

    // ---- refusals: each typed, nothing lost ----

    // Above the provider's maximum: refused before anything is bought.
    let err = phone
        .receive_via_jit_channel(QTUM * 900, "too much", None, None)
        .expect_err("above the maximum");
    assert!(matches!(err, NodeError::LiquidityRefused(_)), "{err:?}");

    // A fee above what the app allows.
    let err = phone
        .receive_via_jit_channel(amount_msat, "too dear", None, Some(fee_msat - 1))
        .expect_err("fee too high");
    assert!(matches!(err, NodeError::LiquidityFeeTooHigh(_)), "{err:?}");

    // A variable-amount invoice paid above the maximum: the provider fails the payer's HTLC
    // back, and the payer has all of its capacity again.
    let open = phone
        .receive_variable_amount_via_jit_channel("any amount", None, None)
        .expect("variable JIT invoice");
    assert_eq!(open.opening_fee_msat, None);
    let before = outbound_msat(&payer, &lsp);
    let over = payer
        .send_using_amount(&open.invoice, QTUM * 800, None)
        .expect("send starts");
    assert_eq!(wait_payment_status(&payer, &over), PaymentStatus::Failed);
    wait_until("the payer's HTLC is failed back", || {
        outbound_msat(&payer, &lsp) == before
    });
    assert!(phone
        .payment(&over)
        .expect("store")
        .is_none_or(|p| p.status != PaymentStatus::Succeeded));

    // A wrong token.
    let intruder = client(&harness, "intruder", 44, &lsp, Some("guess"));
    let err = intruder.jit_channel_quote().expect_err("wrong token");
    assert!(
        matches!(&err, NodeError::LiquidityRefused(m) if m.contains("token")),
        "{err:?}"
    );
    intruder.stop().expect("stop");

    // Terms the provider did not sign (a lower fee): refused by the provider.
    let mut altered = phone.jit_channel_quote().expect("quote");
    altered.min_fee_msat = 1;
    altered.proportional_ppm = 0;
    let err = phone
        .receive_via_jit_quote(altered, Some(amount_msat), "cheaper?", None)
        .expect_err("altered terms");
    assert!(matches!(err, NodeError::LiquidityRefused(_)), "{err:?}");

    // An expired quote.
    wait_until("the first quote expires", || {
        now_secs() > early_quote.valid_until_secs
    });
    let err = phone
        .receive_via_jit_quote(early_quote, Some(amount_msat), "late", None)
        .expect_err("expired quote");
    assert!(matches!(err, NodeError::LiquidityQuoteExpired), "{err:?}");

    // ---- the provider goes away after selling, and comes back ----
    // This client does not trust the provider with zero-conf, and accepts no other inbound
    // channel.
    let second = client_with(
        &harness,
        "second-phone",
        45,
        &lsp,
        Some(TOKEN),
        false,
        |c| c.accept_inbound_channels = false,
    );
    let jit = second
        .receive_via_jit_channel(QTUM * 1000 / 5, "while it lasts", None, None)
        .expect("JIT invoice");
    lsp.stop().expect("the provider stops");
    let before = outbound_msat(&payer, &lsp);
    // The payer's only route is gone: refused at once, or failed; nothing leaves the payer.
    match payer.send(&jit.invoice, None) {
        Err(e) => assert!(
            matches!(
                e,
                NodeError::InsufficientCapacity(_) | NodeError::PaymentFailed(_)
            ),
            "{e:?}"
        ),
        Ok(lost) => assert_eq!(wait_payment_status(&payer, &lost), PaymentStatus::Failed),
    }
    assert_eq!(
        outbound_msat(&payer, &lsp),
        before,
        "nothing left the payer"
    );
    let err = second.jit_channel_quote().expect_err("provider away");
    assert!(
        matches!(err, NodeError::LiquiditySourceUnavailable(_)),
        "{err:?}"
    );
    // Back: the purchase survived the provider's restart, and the same invoice pays.
    lsp.start().expect("the provider starts again");
    // (It admits peers once it has synced with the chain.)
    let uri = lsp.node_uri().expect("listening");
    wait_until("both reconnect", || {
        second.connect(&uri, true).is_ok() && payer.connect(&uri, true).is_ok()
    });
    wait_until("the payer's channel is usable again", || {
        payer.list_channels().iter().any(|c| c.is_usable)
    });
    let again = payer.send(&jit.invoice, None).expect("send again");
    // Not trusted with zero-conf: the channel, and the payment with it, waits for its
    // confirmations.
    let mut settled = false;
    for _ in 0..60 {
        let status = payer.payment(&again).expect("store").map(|p| p.status);
        if status == Some(PaymentStatus::Succeeded) {
            settled = true;
            break;
        }
        assert_ne!(status, Some(PaymentStatus::Failed));
        if lsp
            .list_channels()
            .iter()
            .any(|c| c.counterparty_node_id == second.node_id())
        {
            mine(&harness, 1);
        }
        std::thread::sleep(Duration::from_millis(500));
    }
    assert!(settled, "paid once the channel confirmed");
    let channel = second
        .list_channels()
        .into_iter()
        .next()
        .expect("the JIT channel");
    assert!(
        channel.confirmations.unwrap_or(0) >= 6,
        "usable only after its confirmations: {channel:?}"
    );
    expect_event(&second, "paid after the provider's restart", |e| {
        matches!(e, Event::PaymentReceived { .. })
    });
    // Anyone else's channel is still refused.
    payer
        .open_channel(
            &second.node_uri().expect("listening"),
            QTUM / 2,
            None,
            false,
        )
        .expect("the open starts");
    expect_event(
        &payer,
        "the second phone refuses the payer's channel",
        |e| matches!(e, Event::ChannelClosed { .. }),
    );
    assert_eq!(second.list_channels().len(), 1);

    // Every funding and claim met Qtum's relay policy (400 sat/vB, dust).
    assert_no_policy_refusals(&harness);
    for node in [&phone, &second, &payer, &lsp] {
        node.stop().expect("stop");
    }
}

fn now_secs() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// One request the receiver got: its headers and body.
type Seen = (Vec<(String, String)>, String);

/// A push gateway stand-in: an HTTPS server on loopback (its certificate from a CA made here)
/// that records every request.
struct WebhookReceiver {
    _server: qtum_http::HttpServer,
    url: String,
    ca_file: PathBuf,
    seen: Arc<Mutex<Vec<Seen>>>,
}

impl WebhookReceiver {
    fn start() -> WebhookReceiver {
        use rcgen::{
            BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, KeyPair,
            SanType,
        };
        let dir = temp_dir("webhook-tls");
        let ca_key = KeyPair::generate().expect("CA key");
        let mut ca = CertificateParams::new(Vec::<String>::new()).expect("CA params");
        ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca.distinguished_name
            .push(DnType::CommonName, "test push CA");
        let ca_cert = ca.self_signed(&ca_key).expect("CA");
        let key = KeyPair::generate().expect("server key");
        let mut leaf = CertificateParams::new(Vec::<String>::new()).expect("leaf params");
        leaf.subject_alt_names = vec![SanType::IpAddress([127, 0, 0, 1].into())];
        leaf.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        let cert = leaf.signed_by(&key, &ca_cert, &ca_key).expect("leaf");
        let ca_file = dir.join("ca.pem");
        std::fs::write(&ca_file, ca_cert.pem()).expect("CA file");
        let chain = dir.join("chain.pem");
        std::fs::write(&chain, format!("{}{}", cert.pem(), ca_cert.pem())).expect("chain");
        let key_file = dir.join("key.pem");
        std::fs::write(&key_file, key.serialize_pem()).expect("key");

        let seen = Arc::new(Mutex::new(Vec::new()));
        let record = seen.clone();
        let mut server_config =
            qtum_http::ServerConfig::new("webhook", "127.0.0.1:0".parse().expect("addr"));
        server_config.tls = Some(qtum_http::tls_config(&chain, &key_file).expect("TLS"));
        let server = qtum_http::HttpServer::start(
            server_config,
            Arc::new(move |request: &qtum_http::Request| {
                record.lock().expect("lock").push((
                    request.headers.clone(),
                    String::from_utf8_lossy(&request.body).into_owned(),
                ));
                qtum_http::Response::text(200, "ok")
            }),
        )
        .expect("receiver starts");
        let url = format!("https://127.0.0.1:{}/push/wallet-7", server.addr().port());
        WebhookReceiver {
            _server: server,
            url,
            ca_file,
            seen,
        }
    }

    fn methods(&self) -> Vec<String> {
        self.seen
            .lock()
            .expect("lock")
            .iter()
            .filter_map(|(_, body)| {
                serde_json::from_str::<serde_json::Value>(body)
                    .ok()
                    .and_then(|v| v["method"].as_str().map(str::to_string))
            })
            .collect()
    }
}

#[test]
fn webhook_wakes_an_offline_client() {
    init_logs();
    let harness = harness();
    let receiver = WebhookReceiver::start();
    let lsp = provider(
        &harness,
        "lsp-hooks",
        51,
        LspServiceConfig {
            webhook_ca_file: Some(receiver.ca_file.display().to_string()),
            ..service()
        },
    );
    fund(&harness, &lsp, 3 * QTUM);
    let payer = start_node(&harness, "payer-hooks", 52);
    fund(&harness, &payer, 2 * QTUM);
    open_ready_channel(&harness, &payer, &lsp, QTUM, None);

    let phone = client(&harness, "phone-hooks", 53, &lsp, Some(TOKEN));
    // The provider accepts a webhook from a client with a purchase (or a channel).
    let err = phone
        .register_webhook("wallet", &receiver.url)
        .expect_err("no activity yet");
    assert!(matches!(err, NodeError::LiquidityRefused(_)), "{err:?}");
    let jit = phone
        .receive_via_jit_channel(QTUM * 1000 / 4, "while asleep", None, None)
        .expect("JIT invoice");
    phone
        .register_webhook("wallet", &receiver.url)
        .expect("webhook registered");
    assert_eq!(
        phone.list_webhooks().expect("list"),
        vec!["wallet".to_string()]
    );
    let err = phone
        .register_webhook("wallet", "http://127.0.0.1:1/plain")
        .expect_err("plain HTTP");
    assert!(matches!(err, NodeError::InvalidInput(_)), "{err:?}");
    wait_until("the registration is announced", || {
        receiver
            .methods()
            .iter()
            .any(|m| m == "lsps5.webhook_registered")
    });

    // The app is killed; a payment arrives for it.
    phone.stop().expect("the phone sleeps");
    let id = payer.send(&jit.invoice, None).expect("send");
    wait_until("the provider calls the webhook", || {
        receiver
            .methods()
            .iter()
            .any(|m| m == "lsps5.payment_incoming")
    });
    let (headers, _) = receiver
        .seen
        .lock()
        .expect("lock")
        .iter()
        .find(|(_, body)| body.contains("lsps5.payment_incoming"))
        .cloned()
        .expect("the notification");
    assert!(headers
        .iter()
        .any(|(k, v)| k.eq_ignore_ascii_case("x-lsps5-signature") && !v.is_empty()));

    // The provider restarts meanwhile: what it owes the sleeping client survives.
    lsp.stop().expect("the provider stops");
    lsp.start().expect("the provider starts again");

    // Woken, the app starts and connects; the held payment goes through.
    phone.start().expect("the phone wakes");
    // (Its reconnection of saved peers may win the race with this call.)
    let uri = lsp.node_uri().expect("listening");
    wait_until("the phone is connected", || {
        phone
            .list_peers()
            .iter()
            .any(|p| p.node_id == lsp.node_id() && p.is_connected)
            || phone.connect(&uri, true).is_ok()
    });
    assert_eq!(wait_payment_status(&payer, &id), PaymentStatus::Succeeded);
    expect_event(&phone, "paid after waking", |e| {
        matches!(e, Event::PaymentReceived { .. })
    });

    // A client that sleeps past its payment's expiry: the provider fails the payer's HTLC back
    // and owes nothing any more; when the client wakes, no channel is given away.
    let late = client(&harness, "late-phone", 54, &lsp, Some(TOKEN));
    let jit = late
        .receive_via_jit_channel(QTUM * 1000 / 4, "too late", None, None)
        .expect("JIT invoice");
    late.stop().expect("the late phone sleeps");
    let id = payer.send(&jit.invoice, None).expect("send");
    wait_until("the provider holds the payment", || {
        payer.list_channels().iter().any(|c| c.htlcs_in_flight > 0)
    });
    let mut failed = false;
    for _ in 0..80 {
        mine(&harness, 50);
        let _ = payer.sync();
        let _ = lsp.sync();
        failed = payer
            .payment(&id)
            .expect("store")
            .is_some_and(|p| p.status == PaymentStatus::Failed);
        if failed {
            break;
        }
    }
    assert!(failed, "the held HTLC was failed back before its expiry");
    wait_until("nothing in flight", || {
        payer.list_channels().iter().all(|c| c.htlcs_in_flight == 0)
    });
    late.start().expect("the late phone wakes");
    let uri = lsp.node_uri().expect("listening");
    wait_until("the late phone is connected", || {
        late.list_peers()
            .iter()
            .any(|p| p.node_id == lsp.node_id() && p.is_connected)
            || late.connect(&uri, true).is_ok()
    });
    // A round trip through the provider's loop, which retries owed opens on every turn.
    late.jit_channel_quote().expect("quote");
    assert!(
        !lsp.list_channels()
            .iter()
            .any(|c| c.counterparty_node_id == late.node_id()),
        "no channel for a payment that was failed back"
    );

    assert_no_policy_refusals(&harness);
    for node in [&phone, &payer, &lsp, &late] {
        node.stop().expect("stop");
    }
}

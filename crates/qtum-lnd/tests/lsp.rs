//! The daemon as liquidity provider: a `qtum-lnd` process configured with `[lsp]` sells a
//! just-in-time channel to an SDK node that has no channel and no coins, and opens it when a
//! third node (the payer, with a channel to the daemon) pays the client's first invoice. Three
//! processes' worth of nodes: the daemon in its own, the SDK nodes in the test's.

mod common;

use std::time::Duration;

use common::*;
use qtum_lightning::qtum::address::QtumAddress;
use qtum_lightning::qtum::network::Network;
use qtum_lightning::{
    Builder, ChainSourceConfig, Config, Event, Node, NodeError, PaymentStatus, RpcAuth,
};
use qtum_regtest::node::RegtestNode;

const QTUM: u64 = 100_000_000;
const TOKEN: &str = "daemon-token-7";

fn sdk_node(harness: &RegtestNode, name: &str, seed: u8, lsp: Option<(&str, &str)>) -> Node {
    let mut config = Config::new(
        Network::Regtest,
        temp_dir(name),
        ChainSourceConfig::rpc(
            harness.url().to_string(),
            RpcAuth::UserPass {
                user: harness.rpc_user().to_string(),
                password: harness.rpc_password().to_string(),
            },
        ),
    );
    config.listening_addresses = vec![([127, 0, 0, 1], free_port()).into()];
    config.sync_interval_secs = 1;
    config.our_to_self_delay_blocks = 5_400;
    let mut builder = Builder::new(config);
    builder.set_entropy_seed_bytes(&[seed; 32]);
    if let Some((uri, token)) = lsp {
        builder.set_liquidity_source(uri, Some(token), true);
    }
    let node = builder.build().expect("builds");
    node.start().expect("starts");
    node
}

fn expect_event(node: &Node, what: &str, matches: impl Fn(&Event) -> bool) -> Event {
    let mut found = None;
    wait_until(what, || {
        let _ = node.sync();
        while let Some(event) = node.next_event() {
            node.event_handled().expect("ack");
            if matches(&event) {
                found = Some(event);
                return true;
            }
        }
        false
    });
    found.expect("found")
}

#[test]
fn daemon_sells_a_jit_channel() {
    let harness = harness();
    let token_file = temp_dir("lsp-token").join("token");
    std::fs::write(&token_file, format!("{TOKEN}\n")).expect("token file");
    let mut lsp = Daemon::start_with(
        &harness,
        "lsp-daemon",
        &format!(
            "[lsp]\nenabled = true\nmax_payment_msat = {}\ntoken_file = \"{}\"\n",
            QTUM * 1000,
            token_file.display()
        ),
    );
    harness
        .fund_address(&new_address_script(&lsp), 4 * QTUM)
        .expect("fund the daemon");
    mine(&harness, 1);
    wait_until("the daemon's coins confirm", || {
        lsp.ok(&["balance"])["confirmed_sat"].as_u64().unwrap_or(0) >= 4 * QTUM
    });

    // The payer: a channel to the daemon.
    let payer = sdk_node(&harness, "payer", 61, None);
    let address = payer.new_address().expect("address");
    harness
        .fund_address(
            &QtumAddress::from_str_for(&address, Network::Regtest)
                .expect("address")
                .script_pubkey(),
            3 * QTUM,
        )
        .expect("fund the payer");
    mine(&harness, 1);
    wait_until("the payer's coins confirm", || {
        let _ = payer.sync();
        payer.onchain_balance().confirmed_sat >= 3 * QTUM
    });
    payer
        .open_channel(&lsp.uri(), 2 * QTUM, None, false)
        .expect("open");
    expect_event(&payer, "channel pending", |e| {
        matches!(e, Event::ChannelPending { .. })
    });
    mine(&harness, 6);
    wait_until("the payer's channel is usable", || {
        let _ = payer.sync();
        payer.list_channels().iter().any(|c| c.is_usable)
    });

    // The phone: nothing but the daemon as its liquidity source.
    let phone = sdk_node(&harness, "phone", 62, Some((&lsp.uri(), TOKEN)));
    let quote = phone.jit_channel_quote().expect("quote from the daemon");
    let amount_msat = QTUM * 1000 / 2;
    let fee_msat = quote.fee_for(amount_msat).expect("fee");
    let jit = phone
        .receive_via_jit_channel(amount_msat, "first", None, Some(fee_msat))
        .expect("JIT invoice");
    let id = payer.send(&jit.invoice, None).expect("send");
    let paid = payer
        .wait_payment(&id, Duration::from_secs(120))
        .expect("known");
    assert_eq!(paid.status, PaymentStatus::Succeeded);
    let opened = expect_event(&phone, "JIT channel", |e| {
        matches!(e, Event::JitChannelOpened { .. })
    });
    let Event::JitChannelOpened {
        opening_fee_msat, ..
    } = opened
    else {
        unreachable!()
    };
    assert_eq!(opening_fee_msat, fee_msat);
    let received = expect_event(&phone, "received", |e| {
        matches!(e, Event::PaymentReceived { .. })
    });
    let Event::PaymentReceived {
        amount_msat: got, ..
    } = received
    else {
        unreachable!()
    };
    assert_eq!(got, amount_msat - fee_msat);

    // The daemon's view: a second channel, to the phone, that it funded.
    let phone_id = phone.node_id().to_string();
    let channels = lsp.ok(&["channels"]);
    assert!(
        channels
            .as_array()
            .expect("list")
            .iter()
            .any(|c| c["counterparty_node_id"] == phone_id.as_str()),
        "{channels}"
    );

    // Without the token, nothing is sold.
    let stranger = sdk_node(&harness, "stranger", 63, Some((&lsp.uri(), "guess")));
    let err = stranger.jit_channel_quote().expect_err("wrong token");
    assert!(matches!(err, NodeError::LiquidityRefused(_)), "{err:?}");

    // ---- the provider killed mid-flow ----
    // A client buys, then sleeps; its payment arrives and waits at the provider, which is
    // killed (SIGKILL) while holding it. Restarted, it still owes the channel: the client
    // wakes, connects, and is paid; the payer's payment succeeds.
    let uri = lsp.uri();
    let sleeper = sdk_node(&harness, "sleeper", 64, Some((&uri, TOKEN)));
    let jit = sleeper
        .receive_via_jit_channel(QTUM * 1000 / 5, "held", None, None)
        .expect("JIT invoice");
    sleeper.stop().expect("the sleeper sleeps");
    let held = payer.send(&jit.invoice, None).expect("send");
    wait_until("the provider holds the payment", || {
        payer.list_channels().iter().any(|c| c.htlcs_in_flight > 0)
    });
    lsp.kill_after(Duration::ZERO).join().expect("killed");
    lsp.reap();
    lsp.spawn();
    sleeper.start().expect("the sleeper wakes");
    wait_until("both peers are back with the provider", || {
        let connected = |n: &Node| {
            n.list_peers().iter().any(|p| {
                p.node_id.to_string() == uri.split('@').next().unwrap_or("") && p.is_connected
            })
        };
        (connected(&sleeper) || sleeper.connect(&uri, true).is_ok())
            && (connected(&payer) || payer.connect(&uri, true).is_ok())
    });
    let paid = payer
        .wait_payment(&held, Duration::from_secs(120))
        .expect("known");
    assert_eq!(paid.status, PaymentStatus::Succeeded, "{paid:?}");
    expect_event(&sleeper, "paid after the provider's crash", |e| {
        matches!(e, Event::PaymentReceived { .. })
    });

    for node in [&phone, &payer, &stranger, &sleeper] {
        node.stop().expect("stop");
    }
}

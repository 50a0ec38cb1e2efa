//! The same journey with the Esplora-style source: nodes read the chain from `qtum-esplora` in
//! front of the regtest harness (the second chain source the SDK supports).

mod common;

use common::*;
use qtum_lightning::qtum::network::Network;
use qtum_lightning::{ChainSourceConfig, Event, PaymentStatus};

#[test]
fn channel_payment_and_close_over_esplora() {
    let harness = harness();
    let server = esplora_server(&harness);
    let esplora = |name: &str| {
        let mut c = config(&harness, name);
        c.chain_source = ChainSourceConfig::esplora(server.url());
        c
    };
    let alice = build(esplora("esplora-alice"), 71);
    alice.start().expect("start");
    let bob = build(esplora("esplora-bob"), 72);
    bob.start().expect("start");
    assert_eq!(alice.network(), Network::Regtest);

    fund(&harness, &alice, 20 * QTUM);
    let channel_id = open_ready_channel(&harness, &alice, &bob, 10 * QTUM, None);
    let invoice = bob
        .receive(1_000, "one satoshi over esplora", None)
        .expect("invoice");
    let id = alice.send(&invoice, None).expect("send");
    let paid = alice
        .wait_payment(&id, std::time::Duration::from_secs(60))
        .expect("payment");
    assert_eq!(paid.status, PaymentStatus::Succeeded);

    alice.close_channel(&channel_id).expect("close");
    wait_until("closed", || {
        mine(&harness, 1);
        let _ = alice.sync();
        let _ = bob.sync();
        alice.list_channels().is_empty() && bob.list_channels().is_empty()
    });
    expect_event(&alice, "closed", |e| {
        matches!(e, Event::ChannelClosed { .. })
    });
    let status = alice.status();
    assert!(status.is_running);
    assert_eq!(status.synced_height, Some(harness.height()));
    alice.stop().expect("stop");
    bob.stop().expect("stop");
}

//! Peers that cannot be trusted: a peer opening channels it never funds, in a loop, must not
//! push the wallet's later addresses beyond what a restore from the seed scans.

mod common;

use common::*;
use qtum_lightning::Event;

#[test]
fn unfunded_opens_in_a_loop_burn_no_addresses() {
    let harness = harness();
    let victim_config = config(&harness, "burn-victim");
    let victim = build(victim_config, 111);
    victim.start().expect("start");
    let peer = start_node(&harness, "burn-peer", 112);
    let victim_uri = victim.node_uri().expect("listens");

    // The peer asks for channels it cannot fund (its coins cover the capacity but not the
    // funding fee): each time the victim creates the channel, hands out its close scripts,
    // and then the peer gives up.
    fund(&harness, &peer, 2 * QTUM);
    let rounds = 30;
    for round in 0..rounds {
        let capacity = peer.onchain_balance().spendable_sat - 1_000;
        peer.open_channel(&victim_uri, capacity, None, false)
            .expect("open (the funding fails later)");
        expect_event(&peer, "the unfunded channel closed", |e| {
            matches!(e, Event::ChannelClosed { .. })
        });
        wait_until("the victim dropped it", || {
            victim.list_channels().is_empty()
        });
        if round % 10 == 9 {
            eprintln!("{} unfunded opens", round + 1);
        }
    }

    // Then a real channel with a balance on the victim's side, closed cooperatively: the
    // victim's share goes to the close script it handed out.
    fund(&harness, &peer, 5 * QTUM);
    let share_sat = QTUM / 2;
    let channel = open_ready_channel(&harness, &peer, &victim, 2 * QTUM, Some(share_sat * 1_000));
    peer.close_channel(&channel).expect("close");
    wait_until("the victim's share is in its wallet", || {
        mine(&harness, 1);
        let _ = victim.sync();
        let _ = peer.sync();
        victim.onchain_balance().total_sat >= share_sat
    });
    let held = victim.onchain_balance().total_sat;
    victim.stop().expect("stop");
    drop(victim);

    // A restore from the same seed on a fresh device finds it: the wallet's addresses stayed
    // within the gap limit. Handing out new addresses to every unfunded channel would have
    // left 60 unused ones before it, beyond the 20 a restore scans.
    let restored = build(config(&harness, "burn-restored"), 111);
    restored.start().expect("start");
    wait_until("the restored wallet finds the close output", || {
        let _ = restored.sync();
        restored.onchain_balance().total_sat == held
    });
    restored.stop().expect("stop");
    peer.stop().expect("stop");
    assert_no_policy_refusals(&harness);
}

"""Recovery without any backup through the Python binding: Alice's phone is lost with no backup;
her mnemonic brings back her wallet, and with recovery on, connecting to Bob makes him
force-close; her share of his close is found on chain and swept to her wallet."""

import shutil

from conftest import QTUM, expect_event, fund_with_coinbase, open_usable_channel, wait_until
from qtum_lightning import PaymentStatus, WordCount, generate_mnemonic
from test_full_cycle import build


def test_recovery_without_a_backup(harness, tmp_path):
    words = generate_mnemonic(WordCount.WORDS12)
    alice = build(harness, tmp_path / "alice", words)
    bob = build(harness, tmp_path / "bob", generate_mnemonic(WordCount.WORDS12))
    miner = build(harness, tmp_path / "miner", generate_mnemonic(WordCount.WORDS12))
    alice.start()
    bob.start()
    fund_with_coinbase(harness, alice, miner)
    open_usable_channel(harness, alice, bob, miner, 10 * QTUM)
    paid = alice.send(bob.receive(QTUM * 1000, "before the loss"))
    assert alice.wait_payment(paid, 60_000).status == PaymentStatus.SUCCEEDED
    wait_until("Bob has it", lambda: bob.payment(paid) is not None
               and bob.payment(paid).status == PaymentStatus.SUCCEEDED)
    balance_sat = alice.list_channels()[0].balance_sat
    wallet_sat = alice.onchain_balance().total_sat

    alice.stop()
    del alice
    shutil.rmtree(tmp_path / "alice")

    alice = build(harness, tmp_path / "alice", words)
    alice.start()
    assert alice.channel_recovery() is None
    report = alice.start_channel_recovery()
    assert report.found == [] and "force-closes" in report.notice

    def wallet_back():
        alice.sync()
        return alice.onchain_balance().total_sat == wallet_sat

    wait_until("the wallet is restored", wallet_back)
    assert alice.list_channels() == []

    alice.connect(bob.node_uri())
    expect_event(bob, "Bob closes", lambda e: e.is_CHANNEL_CLOSED())
    found = []

    def recovered():
        harness.mine(1, miner.new_address())
        alice.sync()
        event = alice.next_event()
        while event is not None:
            if event.is_CHANNEL_FUNDS_RECOVERED():
                found.append(event)
            alice.event_handled()
            event = alice.next_event()
        return found

    wait_until("Alice's share of Bob's close is found", recovered)
    amount_sat = found[0].amount_sat
    # Her balance less the commitment fee she paid as the opener.
    assert amount_sat <= balance_sat and amount_sat + 724 * 250 >= balance_sat, (amount_sat, balance_sat)
    report = alice.channel_recovery()
    assert [(f.outpoint, f.amount_sat) for f in report.found] == [(found[0].outpoint, amount_sat)]
    assert report.found_sat == amount_sat

    def swept():
        harness.mine(1, miner.new_address())
        alice.sync()
        return alice.onchain_balance().confirmed_sat > wallet_sat

    wait_until("the found output reaches the wallet", swept)
    gained = alice.onchain_balance().confirmed_sat - wallet_sat
    assert amount_sat - 440 * 375 <= gained <= amount_sat, (gained, amount_sat)

    alice.stop_channel_recovery()
    assert alice.channel_recovery() is None
    alice.stop()
    bob.stop()

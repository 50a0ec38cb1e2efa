"""Continuous backup to a `qtum-backupd` process through the Python binding: Alice's node
uploads every change; her phone is lost; a new node in her place is refused while the server
holds her backup; she restores from the mnemonic and the server, and her channel pays again."""

import asyncio
import shutil

import pytest

from conftest import QTUM, fund_with_coinbase, open_usable_channel, wait_until
from qtum_lightning import (
    BackupPolicy,
    Builder,
    BuildError,
    PaymentStatus,
    WordCount,
    generate_mnemonic,
)
from test_full_cycle import build, node_config


def backed_up(node):
    def done():
        status = node.status()
        return not status.remote_backup_pending and (status.remote_backup_version or 0) > 0

    wait_until("the backup caught up", done)
    return node.status().remote_backup_version


def test_restore_from_the_backup_server(harness, backup_server, tmp_path):
    words = generate_mnemonic(WordCount.WORDS12)
    builder = Builder(node_config(harness, tmp_path / "alice"))
    builder.set_entropy_mnemonic(words)
    builder.set_backup_server(backup_server.url)
    builder.set_backup_policy(BackupPolicy.SERVER_CONFIRMED)
    alice = builder.build()
    bob = build(harness, tmp_path / "bob", generate_mnemonic(WordCount.WORDS12))
    miner = build(harness, tmp_path / "miner", generate_mnemonic(WordCount.WORDS12))
    alice.start()
    bob.start()
    fund_with_coinbase(harness, alice, miner)
    pending = open_usable_channel(harness, alice, bob, miner, 10 * QTUM)
    paid = alice.send(bob.receive(1000, "backed up"))
    assert alice.wait_payment(paid, 60_000).status == PaymentStatus.SUCCEEDED
    version = backed_up(alice)
    before = next(c for c in alice.list_channels() if c.channel_id == pending.channel_id)
    payments = sorted(p.id for p in alice.list_payments())

    alice.stop()
    del alice
    shutil.rmtree(tmp_path / "alice")

    empty = Builder(node_config(harness, tmp_path / "alice"))
    empty.set_entropy_mnemonic(words)
    empty.set_backup_server(backup_server.url)
    with pytest.raises(BuildError.BackupFound):
        empty.build()

    restoring = Builder(node_config(harness, tmp_path / "alice"))
    restoring.set_entropy_mnemonic(words)
    restoring.set_restore_from_backup_server(backup_server.url)
    restoring.set_backup_server(backup_server.url)
    alice = asyncio.run(restoring.build_async())
    alice.start()
    after = next(c for c in alice.list_channels() if c.channel_id == pending.channel_id)
    assert after.balance_sat == before.balance_sat, (after, before)
    assert sorted(p.id for p in alice.list_payments()) == payments
    wait_until("usable after the restore", lambda: any(c.is_usable for c in alice.list_channels()))
    again = alice.send(bob.receive(1000, "after the restore"))
    assert alice.wait_payment(again, 60_000).status == PaymentStatus.SUCCEEDED
    assert backed_up(alice) > version
    alice.stop()
    bob.stop()

"""The tutorial's journey through the generated Python bindings: two nodes on the regtest
harness, fund, open a channel, pay a 1-satoshi invoice, close cooperatively, funds back."""

import asyncio
import gc
import hashlib
import shutil
import threading

import pytest

from conftest import QTUM, expect_event, free_port, fund_with_coinbase, wait_until
from qtum_lightning import (
    Builder,
    BuildError,
    ChainSourceConfig,
    CloseKind,
    CustomRecord,
    Event,
    LogLevel,
    LogWriter,
    EventListener,
    Network,
    NodeError,
    OnchainTxKind,
    PaymentDirection,
    PaymentFailureKind,
    PaymentFilter,
    PaymentStatus,
    RpcAuth,
    RpcEndpointConfig,
    WordCount,
    default_config,
    events,
    generate_mnemonic,
    parse_node_uri,
    set_log_writer,
    validate_mnemonic,
)


class Logs(LogWriter):
    def __init__(self):
        self.records = []
        self.lock = threading.Lock()

    def log(self, record):
        with self.lock:
            self.records.append(record)


class Raises(EventListener):
    def on_event(self, event):
        raise RuntimeError("an app bug; the node must not care")


class Events(EventListener):
    def __init__(self):
        self.events = []

    def on_event(self, event):
        self.events.append(event)


def node_config(harness, storage_dir):
    config = default_config(
        Network.REGTEST,
        str(storage_dir),
        # The record form (ca_file and allow_insecure_http left at their defaults).
        ChainSourceConfig.RPC(
            endpoints=[
                RpcEndpointConfig(
                    url=harness.url,
                    auth=RpcAuth.USER_PASS(user=harness.user, password=harness.password),
                )
            ],
        ),
    )
    config.listening_addresses = [f"127.0.0.1:{free_port()}"]
    config.sync_interval_secs = 1
    return config


def build(harness, storage_dir, mnemonic):
    builder = Builder(node_config(harness, storage_dir))
    builder.set_entropy_mnemonic(mnemonic)
    return asyncio.run(builder.build_async())


def await_event(node, what, matches, timeout=180):
    """The next event of `node` that `matches`, from its async iterator."""

    async def first():
        async for event in events(node, 200):
            if matches(event):
                return event

    try:
        return asyncio.run(asyncio.wait_for(first(), timeout))
    except asyncio.TimeoutError:
        raise AssertionError(f"gave up waiting for event: {what}") from None


def test_full_cycle(harness, tmp_path):
    logs = Logs()
    set_log_writer(logs, LogLevel.DEBUG)

    alice_words = generate_mnemonic(WordCount.WORDS12)
    validate_mnemonic(alice_words)
    alice = build(harness, tmp_path / "alice", alice_words)
    bob = build(harness, tmp_path / "bob", generate_mnemonic(WordCount.WORDS24))
    # A third wallet that is never started: it only gives the blocks that mature Alice's coin
    # somewhere to go.
    miner = build(harness, tmp_path / "miner", generate_mnemonic(WordCount.WORDS12))
    bob_events = Events()
    bob.set_event_listener(bob_events)
    alice.set_event_listener(Raises())
    alice.start()
    bob.start()
    assert parse_node_uri(bob.node_uri()).node_id == bob.node_id()

    fund_with_coinbase(harness, alice, miner)
    before = alice.onchain_balance().total_sat

    # Open 10 QTUM to Bob; ready after the configured 6 confirmations.
    # Defaults: no push, not announced.
    user_channel_id = asyncio.run(alice.open_channel_async(bob.node_uri(), 10 * QTUM))
    pending = await_event(alice, "channel pending",
                          lambda e: e.is_CHANNEL_PENDING() and e.user_channel_id == user_channel_id)
    channel_id = pending.channel_id
    harness.mine(6, miner.new_address())
    # Alice's events through the async iterator, Bob's through the polling helper (which syncs).
    await_event(alice, "Alice: channel ready",
                lambda e: e.is_CHANNEL_READY() and e.channel_id == channel_id)
    expect_event(bob, "Bob: channel ready", lambda e: e.is_CHANNEL_READY())
    channel = next(c for c in alice.list_channels() if c.channel_id == channel_id)
    assert channel.capacity_sat == 10 * QTUM and channel.is_outbound
    wait_until("channel usable", lambda: any(c.is_usable for c in alice.list_channels()))
    # Alice's forwarding fee on the channel, changed and listed (keyword default for the base).
    asyncio.run(alice.set_channel_fees_async(channel_id, fee_ppm=777))
    fees = next(c for c in alice.list_channels() if c.channel_id == channel_id)
    assert fees.forwarding_fee_ppm == 777, fees
    with pytest.raises(NodeError.InvalidAmount):
        alice.set_channel_fees(channel_id, None, 1_000_000)
    # The channel's funds are in the balances, once (the funding fee is gone).
    held = asyncio.run(alice.balances_async())
    assert 9 * QTUM < held.lightning_sat < 10 * QTUM, held
    assert before - QTUM // 100 < held.total_sat < before, held
    assert held.total_sat == held.onchain.total_sat + held.lightning_sat + held.closing_sat

    # Bob asks for 1 satoshi; Alice previews and pays.
    invoice = asyncio.run(bob.receive_async(1000, "1 satoshi, as in the tutorial"))
    assert invoice.startswith("lnqcrt")
    preview = alice.decode_invoice(invoice)
    assert preview.amount_msat == 1000 and preview.payee_node_id == bob.node_id()
    assert preview.network == Network.REGTEST and preview.is_payable
    payment_id = asyncio.run(alice.send_async(invoice))
    await_event(alice, "payment sent",
                lambda e: e.is_PAYMENT_SUCCESSFUL() and e.payment_id == payment_id)
    assert asyncio.run(alice.wait_payment_async(payment_id)).status == PaymentStatus.SUCCEEDED
    received = expect_event(bob, "payment received", lambda e: e.is_PAYMENT_RECEIVED())
    assert received.amount_msat == 1000
    assert alice.payment(payment_id).status == PaymentStatus.SUCCEEDED
    inbound = bob.list_payments(PaymentFilter(direction=PaymentDirection.INBOUND,
                                              status=PaymentStatus.SUCCEEDED))
    assert [p.amount_msat for p in inbound] == [1000]
    assert [p.id for p in asyncio.run(alice.list_payments_async())] == [payment_id]
    assert any(e.is_PAYMENT_RECEIVED() for e in bob_events.events), "the listener heard it"

    # An invoice committing to its description by hash (LNURL-pay), decoded with the hash.
    metadata_hash = hashlib.sha256(b'[["text/plain","1 satoshi"]]').hexdigest()
    hashed = bob.receive_for_description_hash(None, metadata_hash)
    hashed_preview = alice.decode_invoice(hashed)
    assert hashed_preview.description_hash == metadata_hash and hashed_preview.amount_msat is None
    with pytest.raises(NodeError.InvalidInvoice):
        bob.receive_for_description_hash(1000, "not hex")

    # Alice signs a message; Bob checks it is hers (and only hers).
    signature = alice.sign_message(b"paid 1 satoshi")
    assert bob.verify_message(b"paid 1 satoshi", signature, alice.node_id())
    assert not bob.verify_message(b"paid 2 satoshi", signature, alice.node_id())
    assert not bob.verify_message(b"paid 1 satoshi", signature, bob.node_id())
    with pytest.raises(NodeError.InvalidNodeId):
        bob.verify_message(b"paid 1 satoshi", signature, "not a node id")

    # Paying it again is refused with a typed error.
    with pytest.raises(NodeError.DuplicatePayment):
        alice.send(invoice)

    # Whatever the user scanned, read by one call.
    parsed = alice.parse_input("  LIGHTNING:" + invoice.upper())
    assert parsed.is_BOLT11() and parsed.invoice == invoice, parsed
    assert parsed.preview.payment_hash == preview.payment_hash
    assert alice.parse_input(bob.node_uri()).node_id == bob.node_id()
    assert asyncio.run(alice.parse_input_async(bob.node_id())).is_NODE_ID()
    bob_address = bob.new_address()
    assert alice.parse_input(bob_address).address == bob_address
    uri = alice.parse_input(f"qtum:{bob_address}?amount=0.00000001&label=Bob&lightning={invoice}")
    assert uri.is_PAYMENT_URI() and uri.amount_sat == 1 and uri.label == "Bob", uri
    assert uri.invoice_preview.amount_msat == 1000
    ln_address = alice.parse_input("Bob@Example.com")
    assert ln_address.url == "https://example.com/.well-known/lnurlp/bob", ln_address
    lnurl = alice.parse_input("lightning:LNURL1DP68GURN8GHJ7UM9WFMXJCM99E3K7MF0V9CXJ0M385EKVCENXC6R"
                              "2C35XVUKXEFCV5MKVV34X5EKZD3EV56NYD3HXQURZEPEXEJXXEPNXSCRVWFNV9NXZ"
                              "CN9XQ6XYEFHVGCXXCMYXYMNSERXFQ5FNS")
    assert lnurl.is_LNURL() and lnurl.url.startswith("https://service.com/api?q=3fc3"), lnurl
    with pytest.raises(NodeError.InvalidInput):
        alice.parse_input("certainly not a payment")
    with pytest.raises(NodeError.WrongNetwork):
        # A Qtum mainnet address on a regtest node.
        alice.parse_input("qc1qw508d6qejxtdg4y5r3zarvary0c5xw7kq52at0")

    # The routing fee before paying: nothing to a direct peer.
    second = bob.receive(2000, "second")
    assert alice.estimate_payment_fee(second).fee_msat == 0

    # A hold invoice: Bob holds Alice's payment until he settles it with the preimage.
    preimage = bytes(range(32))
    held_hash = hashlib.sha256(preimage).hexdigest()
    held = bob.receive_for_hash(held_hash, "held", amount_msat=5000)
    held_id = asyncio.run(alice.send_async(held))
    claimable = expect_event(bob, "claimable", lambda e: e.is_PAYMENT_CLAIMABLE())
    assert claimable.payment_hash == held_hash and claimable.amount_msat == 5000
    assert claimable.claim_deadline_height > 0
    with pytest.raises(NodeError.InvalidInput):
        bob.claim_for_hash(held_hash, "00" * 32)
    asyncio.run(bob.claim_for_hash_async(held_hash, preimage.hex()))
    assert asyncio.run(alice.wait_payment_async(held_id)).status == PaymentStatus.SUCCEEDED
    expect_event(bob, "held payment received",
                 lambda e: e.is_PAYMENT_RECEIVED() and e.payment_hash == held_hash)
    # Another one Bob refuses: Alice's payment fails with a typed reason.
    refused_hash = hashlib.sha256(b"\x01" * 32).hexdigest()
    refused = bob.receive_for_hash(refused_hash, "refused", amount_msat=3000)
    refused_id = alice.send(refused)
    expect_event(bob, "claimable again", lambda e: e.is_PAYMENT_CLAIMABLE()
                 and e.payment_hash == refused_hash)
    bob.fail_for_hash(refused_hash)
    failed = await_event(alice, "refused payment failed",
                         lambda e: e.is_PAYMENT_FAILED() and e.payment_id == refused_id)
    assert failed.kind == PaymentFailureKind.RECIPIENT_REJECTED, failed
    with pytest.raises(NodeError.NotClaimable):
        bob.claim_for_hash(refused_hash, (b"\x01" * 32).hex())
    # `start` on a running node is the same error type as every other call.
    with pytest.raises(NodeError.AlreadyRunning):
        bob.start()

    # Keysend with a custom record (a "boost" message), read by Bob.
    record = CustomRecord(type_num=7_629_169, value=b"thanks for the coffee")
    boost = alice.send_spontaneous(bob.node_id(), 2000, custom_records=[record])
    assert alice.wait_payment(boost, 60_000).status == PaymentStatus.SUCCEEDED
    boosted = expect_event(bob, "boost", lambda e: e.is_PAYMENT_RECEIVED() and e.custom_records)
    assert boosted.custom_records == [record]
    with pytest.raises(NodeError.InvalidInput):
        alice.send_spontaneous(bob.node_id(), 2000, None, [CustomRecord(type_num=1, value=b"")])

    # Alice's phone is lost. She had exported an encrypted backup; her directory is wiped and
    # she restores from her mnemonic and the file: the channel, its history and its balance come
    # back, and it pays again.
    backup_file = tmp_path / "alice.qtumln-backup"
    info = asyncio.run(alice.export_backup_async(str(backup_file)))
    assert info.channel_count == 1 and info.size_bytes == backup_file.stat().st_size, info
    assert b"SQLite format 3" not in backup_file.read_bytes()
    channel_before = next(c for c in alice.list_channels() if c.channel_id == channel_id)
    history_before = sorted(p.id for p in alice.list_payments())
    alice.stop()
    del alice
    gc.collect()
    shutil.rmtree(tmp_path / "alice")
    someone_else = Builder(node_config(harness, tmp_path / "alice"))
    someone_else.set_entropy_mnemonic(generate_mnemonic(WordCount.WORDS12))
    someone_else.set_restore_from_backup_file(str(backup_file))
    with pytest.raises(BuildError.BackupWrongSeed):
        someone_else.build()
    restoring = Builder(node_config(harness, tmp_path / "alice"))
    restoring.set_entropy_mnemonic(alice_words)
    restoring.set_restore_from_backup_file(str(backup_file))
    alice = asyncio.run(restoring.build_async())
    alice.start()
    with pytest.raises(BuildError.StorageLocked):
        restoring.build()
    restored = next(c for c in alice.list_channels() if c.channel_id == channel_id)
    assert restored.balance_sat == channel_before.balance_sat, (restored, channel_before)
    assert restored.outbound_capacity_msat == channel_before.outbound_capacity_msat
    assert sorted(p.id for p in alice.list_payments()) == history_before
    wait_until("restored channel usable", lambda: any(c.is_usable for c in alice.list_channels()))
    after_restore = asyncio.run(alice.send_async(bob.receive(1000, "after the restore")))
    assert asyncio.run(alice.wait_payment_async(after_restore)).status == PaymentStatus.SUCCEEDED

    # Close cooperatively; the funds come back on chain.
    asyncio.run(alice.close_channel_async(channel_id))

    def closed():
        harness.mine(1, miner.new_address())
        alice.sync()
        bob.sync()
        return not alice.list_channels() and not bob.list_channels()

    wait_until("channel closed on both sides", closed)
    await_event(alice, "Alice: channel closed",
                lambda e: e.is_CHANNEL_CLOSED() and e.channel_id == channel_id
                and e.kind == CloseKind.COOPERATIVE_BY_US)
    expect_event(bob, "Bob: channel closed",
                 lambda e: e.is_CHANNEL_CLOSED() and e.kind == CloseKind.COOPERATIVE_BY_PEER)

    def funds_back():
        harness.mine(1, miner.new_address())
        asyncio.run(alice.sync_async())
        # Counted while they travel back, never twice.
        total = alice.balances().total_sat
        assert before - QTUM // 100 < total < before, total
        balance = alice.onchain_balance()
        return balance.unconfirmed_sat == 0 and balance.confirmed_sat > before - QTUM // 100

    wait_until("funds back in Alice's wallet", funds_back)
    assert alice.onchain_balance().confirmed_sat < before, "fees were paid"
    history = asyncio.run(alice.list_transactions_async())
    assert history[0].kind == OnchainTxKind.CHANNEL_CLOSE(channel_id=channel_id), history
    assert history[1].kind == OnchainTxKind.CHANNEL_FUNDING(channel_id=channel_id), history
    assert sum(t.received_sat - t.sent_sat for t in history) == alice.onchain_balance().total_sat
    # The fee of an on-chain send, shown before sending; then sent at exactly that fee.
    to_bob = bob.new_address()
    preview = asyncio.run(alice.preview_send_to_address_async(to_bob, QTUM // 10))
    assert preview.amount_sat == QTUM // 10 and preview.fee_rate_sat_per_vb >= 400, preview
    with pytest.raises(NodeError.InvalidAmount):
        alice.preview_send_all_to_address(to_bob, fee_rate_sat_per_vb=10**12)
    with pytest.raises(NodeError.InsufficientFunds):
        alice.preview_send_to_address(to_bob, 10**6 * QTUM)
    txid = alice.send_to_address(to_bob, QTUM // 10)
    sent = next(t for t in alice.list_transactions() if t.txid == txid)
    assert sent.fee_sat == preview.fee_sat, (sent, preview)
    # Fee rates to choose from, and the send bumped while unconfirmed (replace by fee).
    rates = asyncio.run(alice.onchain_fee_rates_async())
    assert rates.minimum_sat_per_vb == 400, rates
    assert rates.fast_sat_per_vb >= rates.normal_sat_per_vb >= rates.slow_sat_per_vb >= 400
    bump = alice.bump_fee(txid, fee_rate_sat_per_vb=2 * preview.fee_rate_sat_per_vb)
    assert bump.replaced_txid == txid and bump.fee_sat > preview.fee_sat, bump
    ids = [t.txid for t in alice.list_transactions()]
    assert bump.txid in ids and txid not in ids
    with pytest.raises(NodeError.CannotBumpFee):
        asyncio.run(alice.bump_fee_async(txid))

    settled = alice.balances()
    assert settled.closing == [] and settled.lightning_sat == 0, settled

    asyncio.run(alice.stop_async())
    bob.stop()
    set_log_writer(None, LogLevel.INFO)

    # The app's log writer heard the node, and never a secret.
    with logs.lock:
        messages = [r.message for r in logs.records]
    assert messages, "log records reached the writer"
    for secret in [alice_words, harness.password]:
        assert not any(secret in m for m in messages)


def test_errors_read_like_the_rust_display(harness, tmp_path):
    node = build(harness, tmp_path / "errors", generate_mnemonic(WordCount.WORDS12))

    with pytest.raises(NodeError.NotRunning) as e:
        node.close_channel("00" * 32)
    assert str(e.value) == "the node is not running"

    node.start()
    with pytest.raises(NodeError.InvalidNodeUri) as e:
        node.connect("not a uri")
    assert str(e.value) == "invalid node URI: the node URI has no '@'; expected pubkey@host:port"
    with pytest.raises(NodeError.UnknownChannel) as e:
        node.close_channel("nope")
    assert str(e.value) == "no channel nope"
    with pytest.raises(NodeError):
        node.decode_invoice("lnbc1nothing")
    node.stop()
    with pytest.raises(NodeError.NotRunning):
        node.stop()

    with pytest.raises(BuildError.InvalidEntropy) as e:
        validate_mnemonic("hello world")
    assert str(e.value).startswith("invalid seed or mnemonic: ")
    assert "hello" not in str(e.value)

    builder = Builder(node_config(harness, tmp_path / "no-entropy"))
    with pytest.raises(BuildError.InvalidEntropy) as e:
        builder.build()
    assert str(e.value) == "invalid seed or mnemonic: no entropy given: set a mnemonic or seed bytes"

    config = node_config(harness, tmp_path / "bad-color")
    config.color = "#nothex"
    with pytest.raises(BuildError.InvalidConfig) as e:
        Builder(config)
    assert str(e.value) == "invalid configuration: color '#nothex' is not #rrggbb"

    config = node_config(harness, tmp_path / "bad-address")
    config.listening_addresses = ["localhost:nine"]
    with pytest.raises(BuildError.InvalidConfig) as e:
        Builder(config)
    assert str(e.value).startswith("invalid configuration: address localhost:nine: "), str(e.value)

    # A malformed identifier is the call's own typed error, where it enters.
    node.start()
    with pytest.raises(NodeError.InvalidInput):
        node.payment("not a payment id")
    with pytest.raises(NodeError.InvalidInput):
        node.claim_for_hash("00" * 32, "short")
    with pytest.raises(NodeError.InvalidNodeId):
        node.disconnect("02nope")
    node.stop()

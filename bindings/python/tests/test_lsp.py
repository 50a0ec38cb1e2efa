"""Inbound liquidity through the Python binding: a phone with no channel and no coins buys a
just-in-time channel from a liquidity provider and receives its first payment through it, the
fee exactly as quoted; refusals arrive as typed errors."""

import asyncio
import time

import pytest

from conftest import QTUM, expect_event, fund_with_coinbase, open_usable_channel, wait_until
from qtum_lightning import (
    Builder,
    NodeError,
    PaymentStatus,
    WordCount,
    default_lsp_service_config,
    generate_mnemonic,
    jit_quote_fee,
)
from test_full_cycle import build, node_config


def test_first_payment_through_a_jit_channel(harness, tmp_path):
    service = default_lsp_service_config()
    service.quote_validity_secs = 30
    lsp_builder = Builder(node_config(harness, tmp_path / "lsp"))
    lsp_builder.set_entropy_mnemonic(generate_mnemonic(WordCount.WORDS12))
    lsp_builder.set_liquidity_service(service, "open-sesame")
    lsp = lsp_builder.build()
    lsp.start()
    payer = build(harness, tmp_path / "payer", generate_mnemonic(WordCount.WORDS12))
    miner = build(harness, tmp_path / "miner", generate_mnemonic(WordCount.WORDS12))
    payer.start()
    fund_with_coinbase(harness, payer, miner)
    fund_with_coinbase(harness, lsp, miner)
    open_usable_channel(harness, payer, lsp, miner, 3 * QTUM)

    phone_builder = Builder(node_config(harness, tmp_path / "phone"))
    phone_builder.set_entropy_mnemonic(generate_mnemonic(WordCount.WORDS12))
    phone_builder.set_liquidity_source(lsp.node_uri(), "open-sesame", True)
    phone = asyncio.run(phone_builder.build_async())
    phone.start()
    assert phone.list_channels() == []

    early_quote = phone.jit_channel_quote()
    quote = asyncio.run(phone.jit_channel_quote_async())
    amount_msat = QTUM * 1000 // 2
    fee_msat = jit_quote_fee(quote, amount_msat)
    assert fee_msat == 500_000_000

    jit = phone.receive_via_jit_channel(amount_msat, "first payment", max_opening_fee_msat=fee_msat)
    assert jit.opening_fee_msat == fee_msat
    paid = payer.send(jit.invoice)
    assert payer.wait_payment(paid, 120_000).status == PaymentStatus.SUCCEEDED
    opened = expect_event(phone, "JIT channel", lambda e: e.is_JIT_CHANNEL_OPENED())
    assert opened.opening_fee_msat == fee_msat
    assert opened.lsp_node_id == lsp.node_id()
    received = expect_event(phone, "received", lambda e: e.is_PAYMENT_RECEIVED())
    assert received.amount_msat == amount_msat - fee_msat
    channel = phone.list_channels()[0]
    assert channel.is_usable and not channel.is_outbound

    with pytest.raises(NodeError.LiquidityFeeTooHigh):
        phone.receive_via_jit_channel(amount_msat, "too dear", max_opening_fee_msat=fee_msat - 1)
    with pytest.raises(NodeError.LiquidityRefused):
        phone.receive_via_jit_channel(service.max_payment_msat + 1, "too much")

    # Webhooks through the binding: registered (the phone has a channel now) and listed; an
    # http URL is refused before sending.
    phone.register_webhook("wallet", "https://push.example/qtum/1")
    assert phone.list_webhooks() == ["wallet"]
    phone.remove_webhook("wallet")
    assert phone.list_webhooks() == []
    with pytest.raises(NodeError.InvalidInput):
        phone.register_webhook("wallet", "http://127.0.0.1:1/plain")

    # A quote used after it expired.
    wait_until("the first quote expires", lambda: time.time() > early_quote.valid_until_secs)
    with pytest.raises(NodeError.LiquidityQuoteExpired):
        phone.receive_via_jit_quote(early_quote, amount_msat, "late")

    # A wrong token.
    stranger_builder = Builder(node_config(harness, tmp_path / "stranger"))
    stranger_builder.set_entropy_mnemonic(generate_mnemonic(WordCount.WORDS12))
    stranger_builder.set_liquidity_source(lsp.node_uri(), "guess", True)
    stranger = stranger_builder.build()
    stranger.start()
    with pytest.raises(NodeError.LiquidityRefused):
        stranger.jit_channel_quote()
    stranger.stop()

    lost = build(harness, tmp_path / "no-lsp", generate_mnemonic(WordCount.WORDS12))
    lost.start()
    with pytest.raises(NodeError.NoLiquiditySource):
        lost.jit_channel_quote()

    for node in (phone, payer, lsp, lost):
        node.stop()

package org.qtum.lightning

import kotlinx.coroutines.flow.first
import kotlinx.coroutines.runBlocking
import kotlinx.coroutines.withTimeout
import org.junit.jupiter.api.Assertions.assertEquals
import org.junit.jupiter.api.Assertions.assertFalse
import org.junit.jupiter.api.Assertions.assertTrue
import org.junit.jupiter.api.Test
import org.junit.jupiter.api.assertThrows
import org.junit.jupiter.api.io.TempDir
import java.nio.file.Path
import java.util.Collections

/**
 * The tutorial's journey through the generated Kotlin on the JVM: two nodes on the regtest
 * harness, fund, open a channel, pay a 1-satoshi invoice, close cooperatively, funds back.
 */
class FullCycleTest {
    @TempDir
    lateinit var dir: Path

    private fun config(harness: Harness, name: String): Config {
        val config = defaultConfig(
            Network.REGTEST,
            dir.resolve(name).toString(),
            rpcChainSource(harness.url, RpcAuth.UserPass(harness.user, harness.password)),
        )
        config.listeningAddresses = listOf("127.0.0.1:${freePort()}")
        config.syncIntervalSecs = 1uL
        return config
    }

    private fun build(harness: Harness, name: String, mnemonic: String): Node =
        Builder(config(harness, name)).use { builder ->
            builder.setEntropyMnemonic(mnemonic)
            runBlocking { builder.buildAsync() }
        }

    /** The next event of [node] that [matches], collected from its `Flow<Event>`. */
    private inline fun <reified T : Event> awaitEvent(node: Node, crossinline matches: (T) -> Boolean = { true }): T =
        runBlocking {
            withTimeout(PATIENCE_MS) {
                node.events(200uL).first { it is T && matches(it) } as T
            }
        }

    private class Logs : LogWriter {
        val records: MutableList<LogRecord> = Collections.synchronizedList(mutableListOf())
        override fun log(record: LogRecord) {
            records.add(record)
        }
    }

    private class Events : EventListener {
        val events: MutableList<Event> = Collections.synchronizedList(mutableListOf())
        override fun onEvent(event: Event) {
            events.add(event)
        }
    }

    @Test
    fun fullCycle() = Harness().use { harness ->
        val logs = Logs()
        setLogWriter(logs, LogLevel.DEBUG)

        val aliceWords = generateMnemonic(WordCount.WORDS12)
        validateMnemonic(aliceWords)
        val alice = build(harness, "alice", aliceWords)
        val bob = build(harness, "bob", generateMnemonic(WordCount.WORDS24))
        // Never started: only a place for the blocks that mature Alice's coin to go.
        val miner = build(harness, "miner", generateMnemonic(WordCount.WORDS12))
        val bobEvents = Events()
        bob.setEventListener(bobEvents)
        alice.start()
        runBlocking { bob.startAsync() }
        assertEquals(bob.nodeId(), parseNodeUri(bob.nodeUri()!!).nodeId)

        // One 20,000-QTUM coinbase for Alice, matured by 2,000 blocks.
        harness.mine(1, alice.newAddress())
        harness.mine(2000, miner.newAddress())
        waitUntil("Alice's coinbase matures") {
            alice.sync()
            alice.onchainBalance().spendableSat >= 20uL * QTUM
        }
        val before = alice.onchainBalance().totalSat

        // Defaults: no push, not announced.
        val userChannelId = runBlocking { alice.openChannelAsync(bob.nodeUri()!!, 10uL * QTUM) }
        val pending = awaitEvent<Event.ChannelPending>(alice) { it.userChannelId == userChannelId }
        harness.mine(6, miner.newAddress())
        // Alice's events through her Flow, Bob's through the polling helper (which syncs).
        awaitEvent<Event.ChannelReady>(alice) { it.channelId == pending.channelId }
        expectEvent(bob, "Bob: channel ready") { it as? Event.ChannelReady }
        val channel = alice.listChannels().first { it.channelId == pending.channelId }
        assertEquals(10uL * QTUM, channel.capacitySat)
        waitUntil("channel usable") { alice.listChannels().any { it.isUsable } }

        // Bob asks for 1 satoshi; Alice previews and pays.
        val invoice = runBlocking { bob.receiveAsync(1000uL, "1 satoshi, as in the tutorial") }
        assertTrue(invoice.startsWith("lnqcrt"))
        val preview = alice.decodeInvoice(invoice)
        assertEquals(1000uL, preview.amountMsat)
        assertEquals(bob.nodeId(), preview.payeeNodeId)
        val paymentId = runBlocking { alice.sendAsync(invoice) }
        val sent = awaitEvent<Event.PaymentSuccessful>(alice) { it.paymentId == paymentId }
        assertEquals(PaymentStatus.SUCCEEDED, runBlocking { alice.waitPaymentAsync(paymentId) }.status)
        assertTrue(sent.feePaidMsat == null || sent.feePaidMsat == 0uL, "a direct channel charges no fee")
        val received = expectEvent(bob, "payment received") { it as? Event.PaymentReceived }
        assertEquals(1000uL, received.amountMsat)
        assertEquals(PaymentStatus.SUCCEEDED, alice.payment(paymentId)?.status)
        assertTrue(bobEvents.events.any { it is Event.PaymentReceived }, "the listener heard it")
        assertThrows<NodeException.DuplicatePayment> { alice.send(invoice) }
        val outbound = runBlocking {
            alice.listPaymentsAsync(PaymentFilter(direction = PaymentDirection.OUTBOUND))
        }
        assertEquals(listOf(paymentId), outbound.map { it.id })

        // Close cooperatively; the funds come back on chain.
        runBlocking { alice.closeChannelAsync(pending.channelId) }
        waitUntil("channel closed on both sides") {
            harness.mine(1, miner.newAddress())
            alice.sync()
            bob.sync()
            alice.listChannels().isEmpty() && bob.listChannels().isEmpty()
        }
        awaitEvent<Event.ChannelClosed>(alice) { it.channelId == pending.channelId }
        expectEvent(bob, "Bob: channel closed") { it as? Event.ChannelClosed }
        waitUntil("funds back in Alice's wallet") {
            harness.mine(1, miner.newAddress())
            runBlocking { alice.syncAsync() }
            val balance = alice.onchainBalance()
            balance.unconfirmedSat == 0uL && balance.confirmedSat > before - QTUM / 100uL
        }
        assertTrue(alice.onchainBalance().confirmedSat < before, "fees were paid")

        runBlocking { alice.stopAsync() }
        bob.stop()
        setLogWriter(null, LogLevel.INFO)
        listOf(alice, bob, miner).forEach { it.close() }

        val messages = synchronized(logs.records) { logs.records.map { it.message } }
        assertTrue(messages.isNotEmpty(), "log records reached the writer")
        for (secret in listOf(aliceWords, harness.password)) {
            assertFalse(messages.any { it.contains(secret) }, "a secret reached the log")
        }
    }

    @Test
    fun exceptionMessagesAreTheRustDisplayText() = Harness().use { harness ->
        val node = build(harness, "errors", generateMnemonic(WordCount.WORDS12))
        val notRunning = assertThrows<NodeException.NotRunning> { node.closeChannel("00".repeat(32)) }
        assertEquals("the node is not running", notRunning.message)

        node.start()
        val badUri = assertThrows<NodeException.InvalidNodeUri> { node.connect("not a uri", false) }
        assertEquals("invalid node URI: the node URI has no '@'; expected pubkey@host:port", badUri.message)
        val unknown = assertThrows<NodeException.UnknownChannel> { node.closeChannel("nope") }
        assertEquals("no channel nope", unknown.message)
        assertThrows<NodeException> { node.decodeInvoice("lnbc1nothing") }
        node.stop()
        assertThrows<NodeException.NotRunning> { node.stop() }
        node.close()

        val noEntropy = Builder(config(harness, "no-entropy")).use { builder ->
            assertThrows<BuildException.InvalidEntropy> { builder.build() }
        }
        assertEquals("invalid seed or mnemonic: no entropy given: set a mnemonic or seed bytes", noEntropy.message)

        val badWords = assertThrows<BuildException.InvalidEntropy> { validateMnemonic("hello world") }
        assertTrue(badWords.message!!.startsWith("invalid seed or mnemonic: "))
        assertFalse(badWords.message!!.contains("hello"))

        val badColor = config(harness, "bad-color")
        badColor.color = "#nothex"
        val invalid = assertThrows<BuildException.InvalidConfig> { Builder(badColor) }
        assertEquals("invalid configuration: color '#nothex' is not #rrggbb", invalid.message)
    }
}

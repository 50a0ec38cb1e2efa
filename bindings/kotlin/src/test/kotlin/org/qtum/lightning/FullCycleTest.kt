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
import java.security.MessageDigest
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

        // What apps show around a payment: everything they hold, the parsed scan, the fee first.
        val held = runBlocking { alice.balancesAsync() }
        assertEquals(held.totalSat, held.onchain.totalSat + held.lightningSat + held.closingSat)
        val parsed = alice.parseInput("lightning:" + invoice.uppercase())
        assertTrue(parsed is ParsedInput.Bolt11 && parsed.invoice == invoice, parsed.toString())
        val scanned = runBlocking { alice.parseInputAsync("qtum:${bob.newAddress()}?amount=0.5") }
        assertEquals(QTUM / 2uL, (scanned as ParsedInput.PaymentUri).amountSat)
        assertTrue(alice.parseInput(bob.nodeUri()!!) is ParsedInput.NodeUri)
        assertThrows<NodeException.InvalidInput> { alice.parseInput("nothing useful") }
        val second = bob.receive(2000uL, "second")
        assertEquals(0uL, alice.estimatePaymentFee(second).feeMsat)
        alice.setChannelFees(pending.channelId, feePpm = 250u)
        assertEquals(250u, alice.listChannels().first { it.channelId == pending.channelId }.forwardingFeePpm)
        val signature = alice.signMessage("hello".toByteArray())
        assertTrue(bob.verifyMessage("hello".toByteArray(), signature, alice.nodeId()))

        // A hold invoice, settled by Bob once he decides to.
        val preimage = ByteArray(32) { it.toByte() }
        val hash = MessageDigest.getInstance("SHA-256").digest(preimage).toHex()
        val holdInvoice = bob.receiveForHash(hash, "held", amountMsat = 5000uL)
        val holdId = runBlocking { alice.sendAsync(holdInvoice) }
        val claimable = expectEvent(bob, "claimable") { it as? Event.PaymentClaimable }
        assertEquals(hash, claimable.paymentHash)
        assertThrows<NodeException.InvalidInput> { bob.claimForHash(hash, "00".repeat(32)) }
        runBlocking { bob.claimForHashAsync(hash, preimage.toHex()) }
        assertEquals(PaymentStatus.SUCCEEDED, runBlocking { alice.waitPaymentAsync(holdId) }.status)

        // Keysend with a custom record.
        val record = CustomRecord(7_629_169uL, "boost".toByteArray())
        val boost = alice.sendSpontaneous(bob.nodeId(), 2000uL, customRecords = listOf(record))
        assertEquals(PaymentStatus.SUCCEEDED, runBlocking { alice.waitPaymentAsync(boost) }.status)
        val boosted = expectEvent(bob, "boost") { (it as? Event.PaymentReceived)?.takeIf { e -> e.customRecords.isNotEmpty() } }
        assertEquals(7_629_169uL, boosted.customRecords.single().typeNum)
        assertEquals("boost", String(boosted.customRecords.single().value))

        // An encrypted backup file, exported while running and restored elsewhere from the same
        // words (built, never started: it talks to no one while Alice runs). Another mnemonic
        // and a damaged file are typed errors.
        val backupFile = dir.resolve("alice.qtumln-backup")
        val info = runBlocking { alice.exportBackupAsync(backupFile.toString()) }
        assertEquals(1u, info.channelCount)
        assertEquals(java.nio.file.Files.size(backupFile).toULong(), info.sizeBytes)
        fun restore(name: String, words: String, file: Path): Node =
            Builder(config(harness, name)).use { builder ->
                builder.setEntropyMnemonic(words)
                builder.setRestoreFromBackupFile(file.toString())
                runBlocking { builder.buildAsync() }
            }
        assertThrows<BuildException.BackupWrongSeed> {
            restore("restored-other-seed", generateMnemonic(WordCount.WORDS12), backupFile)
        }
        val damaged = dir.resolve("damaged.qtumln-backup")
        val bytes = java.nio.file.Files.readAllBytes(backupFile)
        bytes[bytes.size / 2] = (bytes[bytes.size / 2].toInt() xor 1).toByte()
        java.nio.file.Files.write(damaged, bytes)
        assertThrows<BuildException.BackupInvalid> { restore("restored-damaged", aliceWords, damaged) }
        val restored = restore("restored", aliceWords, backupFile)
        assertEquals(alice.nodeId(), restored.nodeId())
        assertEquals(
            alice.listChannels().map { it.channelId to it.capacitySat },
            restored.listChannels().map { it.channelId to it.capacitySat },
        )
        assertEquals(
            alice.listPayments(PaymentFilter()).map { it.id }.toSet(),
            restored.listPayments(PaymentFilter()).map { it.id }.toSet(),
        )
        restored.close()

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
        val close = alice.listTransactions().first()
        assertTrue(close.kind is OnchainTxKind.ChannelClose, close.toString())

        // An on-chain send: fee shown first, sent at that fee, then bumped while unconfirmed.
        val toBob = bob.newAddress()
        val sendPreview = alice.previewSendToAddress(toBob, QTUM / 10uL)
        val txid = alice.sendToAddress(toBob, QTUM / 10uL)
        assertEquals(sendPreview.feeSat, alice.listTransactions().first { it.txid == txid }.feeSat)
        val rates = runBlocking { alice.onchainFeeRatesAsync() }
        assertEquals(400uL, rates.minimumSatPerVb)
        val bump = alice.bumpFee(txid, feeRateSatPerVb = 2uL * sendPreview.feeRateSatPerVb)
        assertEquals(txid, bump.replacedTxid)
        assertTrue(bump.feeSat > sendPreview.feeSat)
        assertThrows<NodeException.CannotBumpFee> { runBlocking { alice.bumpFeeAsync(txid) } }

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

    private fun ByteArray.toHex(): String = joinToString("") { "%02x".format(it) }

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

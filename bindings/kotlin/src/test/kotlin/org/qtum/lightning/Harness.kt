package org.qtum.lightning

import java.net.ServerSocket
import java.net.URI
import java.net.http.HttpClient
import java.net.http.HttpRequest
import java.net.http.HttpResponse
import java.nio.file.Path
import java.time.Duration
import java.util.Base64

const val QTUM: ULong = 100_000_000uL

/** Bounds a hang; the tests never assert timings. */
const val PATIENCE_MS = 180_000L

fun freePort(): Int = ServerSocket(0).use { it.localPort }

/** A `qtum-regtest` process (the binary the workspace builds) and a JSON-RPC client for it. */
class Harness : AutoCloseable {
    val port = freePort()
    val user = "binding-tests"
    val password = "rpc-password-never-logged"
    val url = "http://127.0.0.1:$port"
    // HTTP/1.1: the JDK's default HTTP/2 upgrade attempt is not something qtumd speaks.
    private val http = HttpClient.newBuilder()
        .version(HttpClient.Version.HTTP_1_1)
        .connectTimeout(Duration.ofSeconds(5))
        .build()
    private val process: Process

    init {
        val binary = System.getProperty("qtum.regtest.bin")
            ?: error("the qtum.regtest.bin system property is not set (see pom.xml)")
        check(Path.of(binary).toFile().exists()) { "$binary is missing: run scripts/gen-bindings.sh" }
        process = ProcessBuilder(
            binary, "--rpcport", port.toString(), "--rpcuser", user, "--rpcpassword", password,
        ).redirectOutput(ProcessBuilder.Redirect.DISCARD)
            .redirectError(ProcessBuilder.Redirect.DISCARD)
            .start()
        val deadline = System.currentTimeMillis() + 30_000
        while (true) {
            try {
                rpc("getblockcount")
                break
            } catch (e: java.io.IOException) {
                check(process.isAlive && System.currentTimeMillis() < deadline) { "qtum-regtest did not come up" }
                Thread.sleep(100)
            }
        }
    }

    /** Call `method` with already-JSON-encoded params; returns the raw JSON answer. */
    fun rpc(method: String, vararg params: String): String {
        val body = """{"jsonrpc":"1.0","id":1,"method":"$method","params":[${params.joinToString(",")}]}"""
        val token = Base64.getEncoder().encodeToString("$user:$password".toByteArray())
        val request = HttpRequest.newBuilder(URI.create(url))
            .timeout(Duration.ofSeconds(120))
            .header("Authorization", "Basic $token")
            .header("Content-Type", "application/json")
            .POST(HttpRequest.BodyPublishers.ofString(body))
            .build()
        val response = http.send(request, HttpResponse.BodyHandlers.ofString())
        check(response.statusCode() == 200) { "$method: HTTP ${response.statusCode()} ${response.body()}" }
        return response.body()
    }

    fun mine(blocks: Int, address: String) {
        rpc("generatetoaddress", blocks.toString(), "\"$address\"")
    }

    override fun close() {
        try {
            rpc("stop")
        } catch (e: Exception) {
            // already gone
        }
        if (!process.waitFor(10, java.util.concurrent.TimeUnit.SECONDS)) {
            process.destroyForcibly()
            process.waitFor()
        }
    }
}

fun waitUntil(what: String, done: () -> Boolean) {
    val deadline = System.currentTimeMillis() + PATIENCE_MS
    while (!done()) {
        check(System.currentTimeMillis() < deadline) { "gave up waiting for: $what" }
        Thread.sleep(50)
    }
}

/** The next event matching [matches], acknowledging the ones before it. */
fun <T : Event> expectEvent(node: Node, what: String, matches: (Event) -> T?): T {
    val deadline = System.currentTimeMillis() + PATIENCE_MS
    while (System.currentTimeMillis() < deadline) {
        try {
            node.sync()
        } catch (e: NodeException) {
            // reported in status(); keep waiting
        }
        val event = node.waitNextEvent(200uL) ?: continue
        node.eventHandled()
        matches(event)?.let { return it }
    }
    error("gave up waiting for event: $what")
}

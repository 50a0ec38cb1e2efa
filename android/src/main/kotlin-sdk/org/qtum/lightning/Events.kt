package org.qtum.lightning

import kotlinx.coroutines.currentCoroutineContext
import kotlinx.coroutines.ensureActive
import kotlinx.coroutines.flow.Flow
import kotlinx.coroutines.flow.flow

/**
 * The node's events as a cold [Flow], for Kotlin coroutines (written by hand; shipped with the
 * generated bindings in the Android library and the JVM jar).
 *
 * Delivery is the event queue's: an event is acknowledged ([Node.eventHandled]) only once the
 * collector has finished with it, that is when `emit` returns. An event the collection stops
 * at (an exception in the collector, cancellation, `first { }`, `take(n)`) stays at the head
 * of the queue and is the first one emitted by the next collection, in this process or after a
 * restart. So handle events idempotently (each carries the ids that make that easy), and
 * collect the flow in one place at a time: the queue has one head.
 *
 * [pollMillis] bounds each wait for the next event (a cancelled collection ends within it).
 *
 * ```
 * scope.launch {
 *     node.events().collect { event ->
 *         when (event) {
 *             is Event.PaymentReceived -> showReceived(event.amountMsat)
 *             else -> {}
 *         }
 *     }
 * }
 * ```
 */
fun Node.events(pollMillis: ULong = 1_000uL): Flow<Event> = flow {
    while (true) {
        currentCoroutineContext().ensureActive()
        val event = nextEventAsync(pollMillis) ?: continue
        emit(event)
        eventHandledAsync()
    }
}

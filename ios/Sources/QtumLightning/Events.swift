// The node's events as an AsyncStream, for Swift concurrency (written by hand; compiled with
// the generated QtumLightning.swift in the same module).

import Foundation

/// Remembers whether the stream handed out an event its consumer has not finished with yet.
private final class Delivery: @unchecked Sendable {
    private let lock = NSLock()
    private var outstanding = false

    func take() -> Bool {
        lock.lock()
        defer { lock.unlock() }
        let was = outstanding
        outstanding = false
        return was
    }

    func handedOut() {
        lock.lock()
        outstanding = true
        lock.unlock()
    }
}

extension Node {
    /// The node's events as an `AsyncStream`.
    ///
    /// Delivery is the event queue's: an event is acknowledged (`eventHandled`) when the
    /// consumer asks for the next one, that is once it has finished with it. An event the
    /// iteration stops at (a `break`, a thrown error, a cancelled task) stays at the head of the
    /// queue and comes first in the next stream, in this process or after a restart. So handle
    /// events idempotently (each carries the ids that make that easy), and iterate in one place
    /// at a time: the queue has one head.
    ///
    /// `pollMillis` bounds each wait for the next event (a cancelled task ends within it).
    ///
    /// ```swift
    /// for await event in node.events() {
    ///     if case let .paymentReceived(_, _, amountMsat, _) = event { show(amountMsat) }
    /// }
    /// ```
    public func events(pollMillis: UInt64 = 1_000) -> AsyncStream<Event> {
        let delivery = Delivery()
        return AsyncStream(unfolding: { [self] in
            if delivery.take() {
                try? await self.eventHandledAsync()
            }
            while !Task.isCancelled {
                if let event = await self.nextEventAsync(timeoutMs: pollMillis) {
                    delivery.handedOut()
                    return event
                }
            }
            return nil
        })
    }
}

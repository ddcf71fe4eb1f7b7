import Foundation
import Logging

/// A catalog read from Consul's HTTP API with blocking queries.
///
/// What it watches:
/// - `/v1/catalog/services`: which services exist (filtered by `services` and `tags`);
/// - `/v1/health/service/<name>` for each of them: instances, with health from their checks;
/// - with more services than query slots, `/v1/health/state/any` too (see below).
///
/// Load on Consul (a real agent refuses more than 200 concurrent connections from one client IP):
/// at most `maxConcurrentQueries` queries are open at once, the list watch and the check feed
/// included. When every watched service fits, each service holds its own blocking query
/// (`wait`, default 5 minutes): at rest that is one request per service per `wait`, and a change
/// reaches Sextant as soon as Consul answers. When they do not fit, services take turns in the
/// remaining slots, each turn being a blocking query of `rotationWait` that returns at once when
/// that service changed since its last index; a blocking query on `/v1/health/state/any` (the
/// check table: one answer per check change anywhere) moves the services whose checks changed to
/// the front of the queue, and one slot is kept for them, so health changes are not delayed by
/// the rotation.
///
/// What it reports: every answer faithfully, including an empty service list or an empty instance
/// list (Consul answers reads a token may not see with 200 and a shortened list; deciding whether
/// to believe that is the safeguards' job, not the source's). A read that fails (transport error,
/// timeout, non-JSON, 403, 429, 5xx, too stale) changes nothing: that service keeps its last good
/// instances, the failure is logged and counted, and `.failed` is emitted once per failure streak.
/// After every failing watch recovered, the current catalog is emitted again.
///
/// Bursts of changes are coalesced into one `.updated` (`debounceWindow`, at most
/// `debounceMaxDelay` after the first change); identical catalogs are not re-emitted. The first
/// `.updated` waits until every watched service has been read once: a service not read yet is
/// unknown, not empty (`statistics.unread` names them; `initialSyncTimeout` logs them).
public final class ConsulSource: Sendable {
    public let configuration: ConsulConfiguration
    let logger: Logger
    let stats = ConsulStatsBox()

    public init(configuration: ConsulConfiguration, logger: Logger) {
        self.configuration = configuration
        self.logger = logger
    }

    /// What the source has done so far (requests, errors by reason and service, updates).
    public var statistics: ConsulStatistics { stats.snapshot }

    /// Catalog events. Each call starts its own set of watches; they stop when the consumer stops
    /// iterating (the stream is terminated) or the consuming task is cancelled.
    public func events() -> AsyncStream<CatalogEvent> {
        let (stream, continuation) = AsyncStream.makeStream(of: CatalogEvent.self, bufferingPolicy: .bufferingNewest(16))
        let runner = ConsulRunner(configuration: configuration, logger: logger, stats: stats, continuation: continuation)
        let task = Task { await runner.run() }
        continuation.onTermination = { _ in
            task.cancel()
            Task { await runner.stop() }
        }
        return stream
    }
}

/// Query slots shared by the service watches: at most `capacity` queries in flight; waiters are
/// served in arrival order, except services marked urgent (their checks changed), served first.
/// In shared mode (more services than slots) one slot is kept for urgent services: rotation turns
/// hold a slot for a whole `rotationWait`, and a check change must not wait for one to end.
actor QuerySlots {
    let capacity: Int
    private var inUse = 0
    private var waiters: [(key: String, continuation: CheckedContinuation<Bool, Never>)] = []
    /// Urgent services, with the index a read of theirs must reach to satisfy the urgency.
    private var urgent: [String: UInt64] = [:]
    private var reserved = 0
    private var closed = false

    init(capacity: Int) { self.capacity = max(1, capacity) }

    /// Waits for a slot; false when the slots were closed (shutdown).
    func acquire(_ key: String) async -> Bool {
        if closed { return false }
        return await withCheckedContinuation {
            waiters.append((key, $0))
            serve()
        }
    }

    func release() {
        inUse -= 1
        serve()
    }

    /// Marks services urgent until they acquire a slot or a read reaches the given index.
    func promote(_ due: [String: UInt64]) {
        urgent.merge(due) { max($0, $1) }
        serve()
    }

    /// A read of `key` answered with `index`: an urgency it covers is over.
    func seen(_ key: String, index: UInt64) {
        if let due = urgent[key], index >= due { urgent.removeValue(forKey: key) }
    }

    /// Shared mode on or off (keeps one slot for urgent services when there are at least two).
    func share(_ shared: Bool) {
        reserved = shared && capacity > 1 ? 1 : 0
        serve()
    }

    func close() {
        closed = true
        let pending = waiters
        waiters = []
        for waiter in pending { waiter.continuation.resume(returning: false) }
    }

    /// Hands free slots to waiters: the first urgent one may take any slot, the others only the
    /// slots not reserved, in arrival order.
    private func serve() {
        while !waiters.isEmpty {
            let pick: Int
            if let first = waiters.firstIndex(where: { urgent[$0.key] != nil }), inUse < capacity {
                pick = first
            } else if inUse < capacity - reserved {
                pick = 0
            } else {
                return
            }
            let waiter = waiters.remove(at: pick)
            inUse += 1
            urgent.removeValue(forKey: waiter.key)
            waiter.continuation.resume(returning: true)
        }
    }
}

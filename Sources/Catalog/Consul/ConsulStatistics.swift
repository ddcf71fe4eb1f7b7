import Synchronization

/// What a `ConsulSource` has done so far: for metrics, the admin API and tests.
public struct ConsulStatistics: Sendable, Equatable {
    /// HTTP requests sent to Consul, in total and by endpoint (`catalog-services`, `health-service`, `health-state`).
    public var requests: Int
    public var requestsByEndpoint: [String: Int]
    /// Failed reads by reason (`transport`, `timeout`, `http-403`, `http-429`, `http-5xx`,
    /// `non-json`, `missing-index`, `too-stale`, `skipped-instance`).
    public var errors: [String: Int]
    /// Failed reads by watched object (service name, or `catalog-services`) and reason.
    public var errorsByService: [String: [String: Int]]
    /// Index resets (the index went backwards).
    public var indexResets: Int
    /// Answers whose index changed but whose data did not.
    public var unchangedAnswers: Int
    /// `.updated` events emitted.
    public var updates: Int
    /// Whether every service of the first service list has been read once (nothing is emitted
    /// before), and until then the ones not read yet, sorted.
    public var synced = false
    public var unread: [String] = []
    /// Watches (service names, `catalog-services`, `health-state`) whose last read failed and
    /// that are retrying with back-off, sorted: their last good data is being served.
    public var failing: [String] = []
}

/// Thread-safe counters behind `ConsulStatistics`.
final class ConsulStatsBox: Sendable {
    private let state = Mutex(
        ConsulStatistics(
            requests: 0, requestsByEndpoint: [:], errors: [:], errorsByService: [:], indexResets: 0,
            unchangedAnswers: 0, updates: 0))

    var snapshot: ConsulStatistics { state.withLock { $0 } }

    func request(_ endpoint: String) {
        state.withLock {
            $0.requests += 1
            $0.requestsByEndpoint[endpoint, default: 0] += 1
        }
    }

    func error(_ reason: String, watch: String) {
        state.withLock {
            $0.errors[reason, default: 0] += 1
            $0.errorsByService[watch, default: [:]][reason, default: 0] += 1
        }
    }

    func sync(synced: Bool, unread: Set<String>) {
        state.withLock {
            $0.synced = synced
            $0.unread = synced ? [] : unread.sorted()
        }
    }

    func failing(_ watches: Set<String>) {
        state.withLock { $0.failing = watches.sorted() }
    }

    func indexReset() { state.withLock { $0.indexResets += 1 } }
    func unchanged() { state.withLock { $0.unchangedAnswers += 1 } }
    func update() { state.withLock { $0.updates += 1 } }
}

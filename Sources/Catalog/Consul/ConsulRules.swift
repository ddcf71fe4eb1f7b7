/// Consul's documented client rules for the `index` of blocking queries
/// (api-docs/features/blocking: "Implementation details").
struct BlockingIndex: Sendable, Equatable {
    /// The value to send as `?index=`; 0 means "do not block" (first read, or after a reset).
    private(set) var value: UInt64 = 0

    enum Outcome: Equatable {
        /// The index moved forward (or this was the first read): the data may have changed.
        case advanced
        /// Same index as before: a wait timeout or an idempotent write.
        case unchanged
        /// The index went backwards (snapshot restore, upgrade): reset to 0, read again.
        case reset
    }

    /// Applies the rules to the index Consul just returned.
    mutating func update(_ returned: UInt64) -> Outcome {
        // "Sanity check index is greater than zero": 0 never blocks and makes a busy loop.
        let returned = max(returned, 1)
        if value == 0 {
            value = returned
            return .advanced
        }
        if returned < value {
            // "Reset the index if it goes backwards".
            value = 0
            return .reset
        }
        defer { value = returned }
        return returned == value ? .unchanged : .advanced
    }

    mutating func reset() { value = 0 }
}

/// Exponential back-off with full jitter: attempt n waits uniformly in [0, min(max, base·2ⁿ)],
/// never less than `base / 2` so a failing endpoint is not hammered.
struct Backoff: Sendable {
    let base: Duration
    let maximum: Duration
    private(set) var failures = 0

    init(base: Duration, maximum: Duration) {
        self.base = base
        self.maximum = maximum
    }

    mutating func next() -> Duration {
        let ceiling = min(maximum.seconds, base.seconds * Double(1 << min(failures, 30)))
        failures += 1
        let floor = min(base.seconds / 2, ceiling)
        return .milliseconds(Int64(Double.random(in: floor...max(floor, ceiling)) * 1000))
    }

    mutating func reset() { failures = 0 }
}

/// A token bucket (burst 2, one token per `interval`) spacing the queries of one watch, as
/// Consul's documentation recommends instead of a plain sleep: a watch whose data churns, or
/// whose server answers at once, degrades to one query per `interval`.
struct TokenBucket: Sendable {
    let interval: Duration
    let burst: Double
    private var tokens: Double
    private var last: ContinuousClock.Instant

    init(interval: Duration, burst: Int = 2) {
        self.interval = interval
        self.burst = Double(burst)
        tokens = Double(burst)
        last = .now
    }

    /// Takes one token; returns how long to wait before the query (zero when a token is available).
    mutating func take(now: ContinuousClock.Instant = .now) -> Duration {
        guard interval > .zero else { return .zero }
        // An instant before the last one (a caller's older `now`) refills nothing.
        tokens = min(burst, tokens + max(0, (now - last).seconds) / interval.seconds)
        last = now
        if tokens >= 1 {
            tokens -= 1
            return .zero
        }
        let missing = 1 - tokens
        tokens -= 1
        return .milliseconds(Int64((missing * interval.seconds * 1000).rounded(.up)))
    }
}

import Synchronization

/// Admits new ADS streams at a bounded rate (a token bucket shared by every loop), so a
/// thousand sidecars reconnecting at once after a restart queue up instead of starving the
/// streams that are already established. A stream that is refused asks again after `retryAfter`.
public final class AdmissionGate: Sendable {
    private struct Bucket {
        var tokens: Double
        var last: ContinuousClock.Instant
    }

    public let ratePerSecond: Double
    public let burst: Double
    private let bucket: Mutex<Bucket>

    public init(ratePerSecond: Double = 200, burst: Double = 100) {
        precondition(ratePerSecond > 0 && burst >= 1, "admission rate and burst must be positive")
        self.ratePerSecond = ratePerSecond
        self.burst = burst
        self.bucket = Mutex(Bucket(tokens: burst, last: .now))
    }

    /// Takes a token if one is available.
    public func tryAdmit(now: ContinuousClock.Instant = .now) -> Bool {
        bucket.withLock { b in
            let elapsed = b.last.duration(to: now)
            let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) * 1e-18
            b.tokens = min(burst, b.tokens + max(0, seconds) * ratePerSecond)
            b.last = max(b.last, now)
            guard b.tokens >= 1 else { return false }
            b.tokens -= 1
            return true
        }
    }

    /// How long a refused stream waits before asking again: about one token's worth.
    public var retryAfter: Duration { .milliseconds(max(1, Int(1_000 / ratePerSecond))) }
}

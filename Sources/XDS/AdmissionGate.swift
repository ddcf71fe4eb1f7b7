import Synchronization
import SystemIO

/// Admits new ADS streams at a bounded rate (a token bucket shared by every loop), so a
/// thousand sidecars reconnecting at once after a restart queue up instead of starving the
/// streams that are already established. A stream that is refused waits in its loop's
/// `AdmissionQueue`, in arrival order, at no cost until a token is free.
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

extension AdmissionGate {
    /// How long until the bucket holds a whole token again (zero when it holds one now).
    public func untilNextToken(now: ContinuousClock.Instant = .now) -> Duration {
        bucket.withLock { b in
            let elapsed = b.last.duration(to: now)
            let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) * 1e-18
            let tokens = min(burst, b.tokens + max(0, seconds) * ratePerSecond)
            guard tokens < 1 else { return .zero }
            return .nanoseconds(Int64(((1 - tokens) / ratePerSecond * 1e9).rounded(.up)))
        }
    }
}

/// The streams one event loop holds back, in arrival order, and the one timer that serves them.
///
/// A waiting stream costs an array slot and nothing else: the queue arms a single timer, for
/// when the gate next has a token, and on each tick admits waiters from the front for as many
/// tokens as there are. A stream that closed while waiting is dropped without using a token.
/// Loop-confined (not Sendable); `schedule` runs work on the loop after a delay.
final class AdmissionQueue {
    struct Waiter {
        /// False once the stream is gone: it is skipped.
        let isLive: () -> Bool
        let admit: () -> Void
    }

    let gate: AdmissionGate
    private let schedule: (Duration, @escaping () -> Void) -> Void
    private var waiters: [Waiter] = []
    private var head = 0
    private var armed = false
    /// Timers scheduled over the queue's life (tests: one per tick, never one per waiter).
    private(set) var timersScheduled = 0

    init(gate: AdmissionGate, schedule: @escaping (Duration, @escaping () -> Void) -> Void) {
        self.gate = gate
        self.schedule = schedule
    }

    var waiting: Int { waiters.count - head }

    /// Admits at once when nobody is waiting and a token is free; otherwise queues the waiter
    /// behind the others. Returns whether it was admitted at once (`admit` is not called then).
    func request(_ waiter: Waiter, now: ContinuousClock.Instant = .now) -> Bool {
        if waiting == 0 && gate.tryAdmit(now: now) { return true }
        waiters.append(waiter)
        arm(now: now)
        return false
    }

    /// One tick: admits from the front while tokens last, then re-arms if anyone still waits.
    func drain(now: ContinuousClock.Instant = .now) {
        armed = false
        while head < waiters.count {
            let waiter = waiters[head]
            if !waiter.isLive() {
                head += 1
                continue
            }
            guard gate.tryAdmit(now: now) else { break }
            head += 1
            waiter.admit()
        }
        if head == waiters.count {
            waiters.removeAll(keepingCapacity: waiters.count < 4_096)
            head = 0
        } else if head > 1_024 && head * 2 > waiters.count {
            waiters.removeFirst(head)
            head = 0
        }
        if waiting > 0 { arm(now: now) }
    }

    private func arm(now: ContinuousClock.Instant) {
        guard !armed else { return }
        armed = true
        timersScheduled += 1
        schedule(max(.milliseconds(1), gate.untilNextToken(now: now))) { [weak self] in self?.drain() }
    }
}

/// The admission queues of one event loop, one per gate.
final class AdmissionQueues {
    private var queues: [ObjectIdentifier: AdmissionQueue] = [:]

    func queue(for gate: AdmissionGate, on context: LoopContext) -> AdmissionQueue {
        if let queue = queues[ObjectIdentifier(gate)] { return queue }
        // The queue lives in the context's locals, so the context outlives it.
        let queue = AdmissionQueue(gate: gate) { [unowned context] delay, work in
            _ = context.schedule(after: delay) { _ in work() }
        }
        queues[ObjectIdentifier(gate)] = queue
        return queue
    }
}

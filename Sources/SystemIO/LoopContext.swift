import CLinuxShims

#if canImport(Glibc)
import Glibc
#endif

/// The mutable half of an ``EventLoop``: registrations, timers, loop-local storage.
///
/// Not `Sendable`: created on the loop thread, passed to every work item and handler as a
/// parameter, and never shared with another thread.
public final class LoopContext {
    public typealias IOHandler = (_ events: IOEvents, _ context: LoopContext) -> Void

    public let loop: EventLoop

    private struct Registration {
        var generation: UInt32
        var handler: IOHandler
    }

    /// Handlers run per wake-up from `runSoon`, before I/O gets another turn.
    static let maxSoonWorkPerWake = 4096
    /// Expired timers run per wake-up.
    static let maxTimersPerWake = 1024

    private var registrations: [Int32: Registration] = [:]
    private var nextGeneration: UInt32 = 1
    private var locals: [ObjectIdentifier: AnyObject] = [:]
    private var timers = TimerQueue()
    private var soon: [(LoopContext) -> Void] = []
    private var exitHooks: [(LoopContext) -> Void] = []

    init(loop: EventLoop) {
        self.loop = loop
    }

    // MARK: Loop-local storage

    /// Loop-local storage keyed by type: one instance per loop, created on first use.
    public func local<T: AnyObject>(_ type: T.Type, _ make: () -> T) -> T {
        let key = ObjectIdentifier(type)
        if let existing = locals[key] { return existing as! T }  // keyed by T, so the cast cannot fail
        let made = make()
        locals[key] = made
        return made
    }

    // MARK: File descriptors

    /// Packs the generation with the fd so a stale event for a closed-and-reused fd is recognised.
    private static func token(fd: Int32, generation: UInt32) -> UInt64 {
        UInt64(generation) << 32 | UInt64(UInt32(bitPattern: fd))
    }

    /// Watches `fd` for `interest`; level-triggered. The corresponding C function is `epoll_ctl(EPOLL_CTL_ADD)`.
    public func register(fd: Int32, interest: IOEvents, _ handler: @escaping IOHandler) throws(SystemError) {
        precondition(registrations[fd] == nil, "fd \(fd) registered twice")
        let generation = nextGeneration
        nextGeneration = nextGeneration &+ 1 == 0 ? 1 : nextGeneration &+ 1
        var ev = epoll_event()
        ev.events = interest.epollMask
        ev.data.u64 = LoopContext.token(fd: fd, generation: generation)
        guard epoll_ctl(loop.epfd, EPOLL_CTL_ADD, fd, &ev) == 0 else {
            throw SystemError(errno: Glibc.errno, call: "epoll_ctl(ADD)")
        }
        registrations[fd] = Registration(generation: generation, handler: handler)
    }

    /// Changes what `fd` is watched for. The corresponding C function is `epoll_ctl(EPOLL_CTL_MOD)`.
    public func modify(fd: Int32, interest: IOEvents) throws(SystemError) {
        guard let registration = registrations[fd] else { return }
        var ev = epoll_event()
        ev.events = interest.epollMask
        ev.data.u64 = LoopContext.token(fd: fd, generation: registration.generation)
        guard epoll_ctl(loop.epfd, EPOLL_CTL_MOD, fd, &ev) == 0 else {
            throw SystemError(errno: Glibc.errno, call: "epoll_ctl(MOD)")
        }
    }

    /// Stops watching `fd`. Call before closing it. The corresponding C function is `epoll_ctl(EPOLL_CTL_DEL)`.
    public func unregister(fd: Int32) {
        guard registrations.removeValue(forKey: fd) != nil else { return }
        var ev = epoll_event()
        _ = epoll_ctl(loop.epfd, EPOLL_CTL_DEL, fd, &ev)
    }

    func dispatch(token: UInt64, events: IOEvents) {
        let fd = Int32(bitPattern: UInt32(truncatingIfNeeded: token))
        let generation = UInt32(truncatingIfNeeded: token >> 32)
        // A stale event (fd closed and reused within this wake-up) carries an old generation: drop it.
        guard let registration = registrations[fd], registration.generation == generation else { return }
        registration.handler(events, self)
    }

    // MARK: Deferred work

    /// Runs `work` on this loop after the current event has been handled (same thread, no locking).
    public func runSoon(_ work: @escaping (LoopContext) -> Void) {
        soon.append(work)
    }

    var hasSoonWork: Bool { !soon.isEmpty }

    func runSoonWork() {
        var budget = LoopContext.maxSoonWorkPerWake
        while !soon.isEmpty && budget > 0 {
            let batch = soon.prefix(budget)
            soon.removeFirst(batch.count)
            budget -= batch.count
            for work in batch { work(self) }
        }
    }

    /// Runs `hook` when the loop thread exits (after ``EventLoopGroup/shutdown()``).
    public func onLoopExit(_ hook: @escaping (LoopContext) -> Void) {
        exitHooks.append(hook)
    }

    func loopExiting() {
        let hooks = exitHooks
        exitHooks.removeAll()
        for hook in hooks { hook(self) }
        locals.removeAll()
        soon.removeAll()
        timers = TimerQueue()
    }

    // MARK: Timers

    /// Monotonic nanoseconds (`CLOCK_MONOTONIC`).
    public static func monotonicNanos() -> UInt64 {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return UInt64(ts.tv_sec) * 1_000_000_000 + UInt64(ts.tv_nsec)
    }

    /// Runs `work` on this loop once `after` has elapsed, unless cancelled first.
    @discardableResult
    public func schedule(after: Duration, _ work: @escaping (LoopContext) -> Void) -> TimerHandle {
        let deadline = LoopContext.monotonicNanos() &+ after.nanoseconds
        return timers.insert(deadline: deadline, work)
    }

    /// Cancels a timer; a no-op if it already ran or was cancelled.
    public func cancel(_ timer: TimerHandle) {
        timers.cancel(timer)
    }

    /// Milliseconds until the next timer, or -1 (block) when none; rounded up so we never spin.
    func pollTimeoutMillis() -> Int32 {
        guard let deadline = timers.nextDeadline() else { return -1 }
        let now = LoopContext.monotonicNanos()
        if deadline <= now { return 0 }
        let millis = (deadline - now + 999_999) / 1_000_000
        return Int32(min(millis, UInt64(Int32.max)))
    }

    func runExpiredTimers() {
        let now = LoopContext.monotonicNanos()
        var budget = LoopContext.maxTimersPerWake
        while budget > 0, let work = timers.popExpired(now: now) {
            budget -= 1
            work(self)
        }
    }
}

extension Duration {
    /// Whole nanoseconds, clamped at zero.
    var nanoseconds: UInt64 {
        let (seconds, attos) = components
        if seconds < 0 { return 0 }
        return UInt64(seconds) &* 1_000_000_000 &+ UInt64(max(0, attos) / 1_000_000_000)
    }
}

import CLinuxShims
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// One epoll loop running on its own pthread.
///
/// The handle is `Sendable` and holds only file descriptors, a `Mutex` queue and atomics.
/// Everything mutable lives in the non-`Sendable` ``LoopContext`` that is created on the
/// loop thread and passed as a parameter to work items and handlers, never captured, so
/// the compiler proves confinement.
public final class EventLoop: Sendable {
    public typealias Work = @Sendable (LoopContext) -> Void

    /// Remote work items run per wake-up before I/O gets another turn.
    static let maxRemoteWorkPerWake = 1024
    /// epoll events fetched per `epoll_wait`.
    static let maxEventsPerWake = 256

    let epfd: Int32
    let wakeFD: Int32
    /// Position in its group, for logs.
    public let index: Int
    private let queue = Mutex<[Work]>([])
    private let threadID = Atomic<UInt>(0)
    private let stopRequested = Atomic<Bool>(false)
    private let started = Atomic<Bool>(false)
    private let joined = Atomic<Bool>(false)
    private let thread = Mutex<pthread_t?>(nil)

    /// The epoll data value reserved for the wake-up eventfd.
    static let wakeToken = UInt64.max

    init(index: Int) throws(SystemError) {
        self.index = index
        let ep = clinux_epoll_create()
        guard ep >= 0 else { throw SystemError(errno: Glibc.errno, call: "epoll_create1") }
        let wake = clinux_eventfd_nonblocking()
        guard wake >= 0 else {
            let code = Glibc.errno
            Glibc.close(ep)
            throw SystemError(errno: code, call: "eventfd")
        }
        var ev = epoll_event()
        ev.events = EPOLLIN.rawValue
        ev.data.u64 = EventLoop.wakeToken
        guard epoll_ctl(ep, EPOLL_CTL_ADD, wake, &ev) == 0 else {
            let code = Glibc.errno
            Glibc.close(ep)
            Glibc.close(wake)
            throw SystemError(errno: code, call: "epoll_ctl(ADD eventfd)")
        }
        self.epfd = ep
        self.wakeFD = wake
    }

    deinit {
        Glibc.close(epfd)
        Glibc.close(wakeFD)
    }

    /// Runs `work` on the loop thread soon. Thread-safe.
    public func execute(_ work: @escaping Work) {
        queue.withLock { $0.append(work) }
        wake()
    }

    /// Runs `work` on the loop thread after `after` has elapsed. Thread-safe.
    public func schedule(after: Duration, _ work: @escaping Work) {
        execute { context in _ = context.schedule(after: after) { work($0) } }
    }

    /// True when called on this loop's thread.
    public var inEventLoop: Bool {
        let id = threadID.load(ordering: .acquiring)
        return id != 0 && pthread_equal(pthread_self(), id) != 0
    }

    /// Pokes the eventfd; `EAGAIN` means a wake-up is already pending, which is just as good.
    func wake() {
        var one: UInt64 = 1
        // OWNERSHIP: an 8-byte stack value; the kernel copies it during write(2).
        _ = withUnsafeBytes(of: &one) { Glibc.write(wakeFD, $0.baseAddress, 8) }
    }

    /// Spawns the loop thread.
    func start() throws(SystemError) {
        precondition(!started.exchange(true, ordering: .acquiringAndReleasing), "EventLoop started twice")
        var tid = pthread_t()
        // OWNERSHIP: +1 on self travels to the new thread, which balances it with takeRetainedValue.
        let box = Unmanaged.passRetained(self).toOpaque()
        let rc = pthread_create(&tid, nil, { arg in
            let loop = Unmanaged<EventLoop>.fromOpaque(arg!).takeRetainedValue()
            loop.runLoop()
            return nil
        }, box)
        guard rc == 0 else {
            Unmanaged<EventLoop>.fromOpaque(box).release()
            throw SystemError(errno: rc, call: "pthread_create")
        }
        thread.withLock { $0 = tid }
    }

    /// Asks the loop to exit after the current iteration. Thread-safe.
    func requestStop() {
        stopRequested.store(true, ordering: .releasing)
        wake()
    }

    /// Blocks until the loop thread has exited. Must not be called on the loop thread.
    func join() {
        precondition(!inEventLoop, "EventLoop.join() called on its own thread")
        guard let tid = thread.withLock({ t -> pthread_t? in defer { t = nil }; return t }) else { return }
        pthread_join(tid, nil)
        joined.store(true, ordering: .releasing)
    }

    private func takeRemoteWork(limit: Int) -> (work: [Work], more: Bool) {
        queue.withLock { q in
            if q.count <= limit {
                defer { q.removeAll(keepingCapacity: true) }
                return (q, false)
            }
            let head = Array(q.prefix(limit))
            q.removeFirst(limit)
            return (head, true)
        }
    }

    private func runLoop() {
        threadID.store(pthread_self(), ordering: .releasing)
        let context = LoopContext(loop: self)
        var ready = [epoll_event](repeating: epoll_event(), count: EventLoop.maxEventsPerWake)
        var moreRemote = true  // drain anything queued before the thread started
        while !stopRequested.load(ordering: .acquiring) {
            let timeout: Int32 = (moreRemote || context.hasSoonWork) ? 0 : context.pollTimeoutMillis()
            let n = ready.withUnsafeMutableBufferPointer { buf -> Int32 in
                // OWNERSHIP: `buf` is our array's storage, valid for this call; epoll writes at most `count` entries.
                epoll_wait(epfd, buf.baseAddress, Int32(buf.count), timeout)
            }
            if n > 0 {
                for i in 0..<Int(n) {
                    let ev = ready[i]
                    if ev.data.u64 == EventLoop.wakeToken {
                        var counter: UInt64 = 0
                        // OWNERSHIP: an 8-byte stack value the kernel fills during read(2).
                        _ = withUnsafeMutableBytes(of: &counter) { Glibc.read(wakeFD, $0.baseAddress, 8) }
                        moreRemote = true
                    } else {
                        context.dispatch(token: ev.data.u64, events: IOEvents(epoll: ev.events))
                    }
                }
            }
            if moreRemote {
                let batch = takeRemoteWork(limit: EventLoop.maxRemoteWorkPerWake)
                moreRemote = batch.more
                for work in batch.work { work(context) }
            }
            context.runExpiredTimers()
            context.runSoonWork()
        }
        // Work queued before the stop request still runs (it may own resources, e.g. an accepted fd).
        while true {
            let batch = takeRemoteWork(limit: EventLoop.maxRemoteWorkPerWake)
            for work in batch.work { work(context) }
            context.runSoonWork()
            if !batch.more { break }
        }
        context.loopExiting()
        threadID.store(0, ordering: .releasing)
    }
}

/// A fixed set of loops, one thread each. Connections are spread across them.
public final class EventLoopGroup: Sendable {
    public let loops: [EventLoop]
    private let next = Atomic<Int>(0)
    private let isShutDown = Atomic<Bool>(false)

    /// Creates and starts `count` loops.
    public init(count: Int) throws {
        precondition(count > 0, "EventLoopGroup needs at least one loop")
        var loops: [EventLoop] = []
        for i in 0..<count { loops.append(try EventLoop(index: i)) }
        self.loops = loops
        for (i, loop) in loops.enumerated() {
            do {
                try loop.start()
            } catch {
                for started in loops.prefix(i) {
                    started.requestStop()
                    started.join()
                }
                throw error
            }
        }
    }

    /// Round-robin choice of a loop.
    public func nextLoop() -> EventLoop {
        let i = next.wrappingAdd(1, ordering: .relaxed).oldValue
        return loops[i % loops.count]
    }

    /// Stops every loop and joins its thread. Idempotent. Must not be called on a loop thread.
    public func shutdown() {
        guard !isShutDown.exchange(true, ordering: .acquiringAndReleasing) else { return }
        for loop in loops { loop.requestStop() }
        for loop in loops { loop.join() }
    }
}

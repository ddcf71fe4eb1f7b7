import Synchronization
import Testing

@testable import SystemIO

#if canImport(Glibc)
import Glibc
#endif

/// Collects values from loop threads for the test thread.
final class Recorder<T: Sendable>: Sendable {
    let values = Mutex<[T]>([])
    func append(_ value: T) { values.withLock { $0.append(value) } }
    var all: [T] { values.withLock { $0 } }

    func wait(count: Int, millis: Int = 3000) -> Bool {
        let deadline = LoopContext.monotonicNanos() + UInt64(millis) * 1_000_000
        while LoopContext.monotonicNanos() < deadline {
            if all.count >= count { return true }
            usleep(2_000)
        }
        return all.count >= count
    }
}

final class Counter {
    var value = 0
}

@Suite struct EventLoopTests {
    @Test func executeRunsOnTheLoopThread() throws {
        let group = try EventLoopGroup(count: 2)
        defer { group.shutdown() }
        let seen = Recorder<Bool>()
        for loop in group.loops {
            #expect(!loop.inEventLoop)
            loop.execute { context in seen.append(context.loop.inEventLoop && context.loop === loop) }
        }
        #expect(seen.wait(count: 2))
        #expect(seen.all == [true, true])
    }

    @Test func manyRemoteWorkItemsAllRunInOrder() throws {
        let group = try EventLoopGroup(count: 1)
        defer { group.shutdown() }
        let seen = Recorder<Int>()
        for i in 0..<5000 { group.loops[0].execute { _ in seen.append(i) } }
        #expect(seen.wait(count: 5000))
        #expect(seen.all == Array(0..<5000))
    }

    @Test func timersFireInDeadlineOrderAndCancelWorks() throws {
        let group = try EventLoopGroup(count: 1)
        defer { group.shutdown() }
        let seen = Recorder<String>()
        group.loops[0].execute { context in
            context.schedule(after: .milliseconds(60)) { _ in seen.append("c") }
            context.schedule(after: .milliseconds(20)) { _ in seen.append("a") }
            let cancelled = context.schedule(after: .milliseconds(30)) { _ in seen.append("never") }
            context.schedule(after: .milliseconds(40)) { _ in seen.append("b") }
            context.cancel(cancelled)
        }
        group.loops[0].schedule(after: .milliseconds(80)) { _ in seen.append("d") }
        #expect(seen.wait(count: 4))
        usleep(50_000)
        #expect(seen.all == ["a", "b", "c", "d"])
    }

    @Test func loopLocalStorageIsPerLoop() throws {
        let group = try EventLoopGroup(count: 2)
        defer { group.shutdown() }
        let seen = Recorder<Int>()
        for loop in group.loops {
            for _ in 0..<3 {
                loop.execute { context in
                    let counter = context.local(Counter.self) { Counter() }
                    counter.value += 1
                    seen.append(counter.value)
                }
            }
        }
        #expect(seen.wait(count: 6))
        #expect(seen.all.sorted() == [1, 1, 2, 2, 3, 3])
    }

    @Test func runSoonRunsAfterCurrentWork() throws {
        let group = try EventLoopGroup(count: 1)
        defer { group.shutdown() }
        let seen = Recorder<Int>()
        group.loops[0].execute { context in
            context.runSoon { _ in seen.append(2) }
            seen.append(1)
        }
        #expect(seen.wait(count: 2))
        #expect(seen.all == [1, 2])
    }

    @Test func socketReadinessAndEcho() throws {
        let group = try EventLoopGroup(count: 1)
        defer { group.shutdown() }
        let listener = try Socket.listen(on: SocketAddress(host: "127.0.0.1", port: 0))
        let port = try Socket.localAddress(listener).port
        let seen = Recorder<String>()
        group.loops[0].execute { context in
            try? context.register(fd: listener, interest: [.readable]) { _, context in
                while let (fd, peer) = (try? Socket.accept(listener)) ?? nil {
                    seen.append("accepted \(peer?.host ?? "?")")
                    try? context.register(fd: fd, interest: [.readable]) { _, context in
                        var buffer = [UInt8](repeating: 0, count: 256)
                        let n = buffer.withUnsafeMutableBytes { (try? Socket.read(fd, into: $0)) ?? nil }
                        if let n, n > 0 {
                            _ = buffer.withUnsafeBytes { try? Socket.write(fd, from: UnsafeRawBufferPointer(rebasing: $0[0..<n])) }
                        } else if n == 0 {
                            context.unregister(fd: fd)
                            Socket.close(fd)
                            seen.append("closed")
                        }
                    }
                }
            }
        }
        let client = try Socket.connect(to: SocketAddress(host: "127.0.0.1", port: port))
        var pfd = pollfd(fd: client, events: Int16(POLLOUT), revents: 0)
        _ = poll(&pfd, 1, 2000)
        #expect(Socket.pendingError(client) == 0)
        _ = try Array("ping".utf8).withUnsafeBytes { try Socket.write(client, from: $0) }
        pfd = pollfd(fd: client, events: Int16(POLLIN), revents: 0)
        _ = poll(&pfd, 1, 2000)
        var reply = [UInt8](repeating: 0, count: 16)
        let n = try reply.withUnsafeMutableBytes { try Socket.read(client, into: $0) }
        #expect(n == 4)
        #expect(Array(reply.prefix(4)) == Array("ping".utf8))
        Socket.close(client)
        #expect(seen.wait(count: 2))
        #expect(seen.all == ["accepted 127.0.0.1", "closed"])
        group.loops[0].execute { context in
            context.unregister(fd: listener)
            Socket.close(listener)
        }
    }

    @Test func addressesParseAndPrint() throws {
        #expect(try SocketAddress(host: "127.0.0.1", port: 80).description == "127.0.0.1:80")
        #expect(try SocketAddress(host: "::1", port: 443).description == "[::1]:443")
        #expect(throws: SystemError.self) { try SocketAddress(host: "not-an-ip", port: 1) }
        #expect(throws: SystemError.self) { try SocketAddress(host: "127.0.0.1", port: 70000) }
        let error = SystemError(errno: ECONNREFUSED, call: "connect")
        #expect(error.description.contains("connect"))
        #expect(error.description.contains("\(ECONNREFUSED)"))
    }

    @Test func onLoopExitHooksRunAtShutdown() throws {
        let group = try EventLoopGroup(count: 1)
        let seen = Recorder<String>()
        group.loops[0].execute { context in context.onLoopExit { _ in seen.append("exit") } }
        usleep(20_000)
        group.shutdown()
        #expect(seen.all == ["exit"])
        group.shutdown()  // idempotent
    }
}

@Suite struct TimerQueueTests {
    @Test func heapOrdersManyTimersAndSkipsCancelled() {
        var queue = TimerQueue()
        var handles: [TimerHandle] = []
        let deadlines = (0..<500).map { UInt64(($0 * 7919) % 1000) }
        for d in deadlines { handles.append(queue.insert(deadline: d) { _ in }) }
        for h in handles.enumerated() where h.offset % 3 == 0 { queue.cancel(h.element) }
        var popped = 0
        var last: UInt64 = 0
        while let next = queue.nextDeadline() {
            #expect(next >= last)
            last = next
            #expect(queue.popExpired(now: next) != nil)
            popped += 1
        }
        #expect(popped == deadlines.indices.filter { $0 % 3 != 0 }.count)
    }
}

import Logging
import Synchronization
import SystemIO

#if canImport(Glibc)
import Glibc
#endif

/// A gRPC server over HTTP/2 (h2c with prior knowledge, or TLS with ALPN "h2"), routing by
/// `:path` to registered handler factories. `grpc.health.v1.Health/Check` is built in.
///
/// Threads: one epoll loop per configured core. Loop 0 also accepts and hands connections to
/// the loops round-robin; each connection and its RPCs then live on one loop only.
public final class GRPCServer: Sendable {
    private enum State {
        case idle(routes: [String: RPCHandlerFactory])
        case running(group: EventLoopGroup, shared: ServerShared, listenerFD: Int32)
        case stopping
        case stopped
    }

    private let configuration: GRPCServerConfiguration
    private let logger: Logger
    private let state: Mutex<State>
    /// `waitUntilStopped` blocks reading this pipe; shutdown closes the write end, waking every reader.
    private let stoppedPipe: (read: Int32, write: Int32)
    private let stoppedSignalled = Atomic<Bool>(false)

    /// - Throws: ``SystemError`` if the stop-notification pipe cannot be created.
    public init(configuration: GRPCServerConfiguration, logger: Logger) throws {
        self.configuration = configuration
        self.logger = logger
        self.state = Mutex(.idle(routes: [:]))
        var fds: [Int32] = [0, 0]
        guard pipe(&fds) == 0 else { throw SystemError(errno: Glibc.errno, call: "pipe") }
        for fd in fds { _ = fcntl(fd, F_SETFD, FD_CLOEXEC) }
        stoppedPipe = (fds[0], fds[1])
    }

    deinit {
        Glibc.close(stoppedPipe.read)
        if !stoppedSignalled.load(ordering: .relaxed) { Glibc.close(stoppedPipe.write) }
    }

    /// Routes `path` (e.g. `/pkg.Service/Method`) to handlers made by `factory`. Call before ``start()``.
    public func register(path: String, _ factory: @escaping RPCHandlerFactory) {
        state.withLock { state in
            guard case .idle(var routes) = state else {
                preconditionFailure("GRPCServer.register(path:) called after start()")
            }
            routes[path] = factory
            state = .idle(routes: routes)
        }
    }

    /// Binds, spawns the loop threads and starts accepting.
    /// - Returns: the bound host and port (useful with port 0).
    /// - Throws: ``SystemError`` for socket failures, a TLS error for unusable certificates.
    @discardableResult
    public func start() throws -> (host: String, port: Int) {
        let routes: [String: RPCHandlerFactory] = try state.withLock { state in
            guard case .idle(let routes) = state else { throw SystemError(errno: EALREADY, call: "GRPCServer.start") }
            state = .stopping  // reserved while we start, outside the lock
            return routes
        }
        do {
            if let tls = configuration.tls { _ = try TLSContext(configuration: tls) }  // fail fast on bad files
            let address = try SocketAddress(host: configuration.host, port: configuration.port)
            let listenerFD = try Socket.listen(on: address)
            let bound: SocketAddress
            let group: EventLoopGroup
            do {
                bound = try Socket.localAddress(listenerFD)
                group = try EventLoopGroup(count: max(1, configuration.loopCount))
            } catch {
                Socket.close(listenerFD)
                throw error
            }
            let shared = ServerShared(configuration: configuration, logger: logger, routes: routes)
            state.withLock { $0 = .running(group: group, shared: shared, listenerFD: listenerFD) }
            group.loops[0].execute { context in
                Acceptor.install(listenerFD: listenerFD, group: group, shared: shared, context: context)
            }
            logger.info("gRPC server listening", metadata: [
                "address": "\(bound)", "tls": "\(configuration.tls != nil)", "loops": "\(group.loops.count)",
            ])
            return (bound.host, bound.port)
        } catch {
            state.withLock { $0 = .idle(routes: routes) }
            throw error
        }
    }

    /// Stops accepting, sends GOAWAY on every connection, finishes RPCs still open after `grace`
    /// with UNAVAILABLE, closes every connection and joins the loop threads. Idempotent; blocks.
    /// Must not be called from a loop thread.
    public func shutdown(grace: Duration) {
        let running: (EventLoopGroup, ServerShared, Int32)? = state.withLock { state in
            switch state {
            case .running(let group, let shared, let fd):
                state = .stopping
                return (group, shared, fd)
            case .idle:
                state = .stopped
                return nil
            case .stopping, .stopped:
                return nil
            }
        }
        guard let (group, shared, listenerFD) = running else {
            signalStopped()
            return
        }
        logger.info("gRPC server shutting down", metadata: ["grace": "\(grace)"])
        shared.draining.store(true, ordering: .relaxed)
        group.loops[0].execute { context in
            context.unregister(fd: listenerFD)
            Socket.close(listenerFD)
        }
        for loop in group.loops {
            loop.execute { context in
                for connection in Array(LoopConnections.on(context).connections.values) {
                    connection.beginDrain(grace: grace)
                }
            }
        }
        // Connections close themselves when drained, or at most ~1 s after the grace period.
        let deadline = LoopContext.monotonicNanos() &+ (grace + .seconds(3)).nanosecondsClamped
        while shared.connectionCount.load(ordering: .relaxed) > 0 && LoopContext.monotonicNanos() < deadline {
            usleep(5_000)
        }
        group.shutdown()  // anything left is closed by each loop's exit hook
        state.withLock { $0 = .stopped }
        logger.info("gRPC server stopped")
        signalStopped()
    }

    /// Blocks until ``shutdown(grace:)`` has finished.
    public func waitUntilStopped() {
        var byte: UInt8 = 0
        while Glibc.read(stoppedPipe.read, &byte, 1) < 0 && Glibc.errno == EINTR {}
    }

    private func signalStopped() {
        guard !stoppedSignalled.exchange(true, ordering: .acquiringAndReleasing) else { return }
        Glibc.close(stoppedPipe.write)  // EOF for every blocked reader
    }
}

extension Duration {
    var nanosecondsClamped: UInt64 {
        let (seconds, attos) = components
        if seconds < 0 { return 0 }
        return UInt64(seconds) &* 1_000_000_000 &+ UInt64(max(0, attos) / 1_000_000_000)
    }
}

/// Accepts on loop 0 and hands each connection to the next loop.
enum Acceptor {
    static let maxAcceptsPerEvent = 64

    static func install(listenerFD: Int32, group: EventLoopGroup, shared: ServerShared, context: LoopContext) {
        do {
            try context.register(fd: listenerFD, interest: [.readable]) { _, _ in
                acceptPending(listenerFD: listenerFD, group: group, shared: shared)
            }
        } catch {
            shared.logger.critical("cannot watch listener", metadata: ["error": "\(error)"])
        }
    }

    private static func acceptPending(listenerFD: Int32, group: EventLoopGroup, shared: ServerShared) {
        for _ in 0..<maxAcceptsPerEvent {
            let accepted: (fd: Int32, peer: SocketAddress?)?
            do {
                accepted = try Socket.accept(listenerFD)
            } catch {
                // EMFILE/ENFILE and friends: log and try again on the next readiness event.
                shared.logger.warning("accept failed", metadata: ["error": "\(error)"])
                return
            }
            guard let (fd, peerAddress) = accepted else { return }
            let peer = peerAddress?.description ?? "unknown"
            let count = shared.connectionCount.wrappingAdd(1, ordering: .relaxed).newValue
            if count > shared.configuration.maxConnections {
                shared.connectionCount.subtract(1, ordering: .relaxed)
                shared.logger.warning("connection limit reached", metadata: [
                    "peer": "\(peer)", "limit": "\(shared.configuration.maxConnections)",
                ])
                Socket.close(fd)
                continue
            }
            group.nextLoop().execute { context in
                Connection.accept(fd: fd, peer: peer, context: context, shared: shared)
            }
        }
    }
}

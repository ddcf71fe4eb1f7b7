import GRPCServer
import Testing
import Logging
import Synchronization
import SystemIO

#if canImport(Glibc)
import Glibc
#endif

/// Observations from handlers (loop threads), read by the test thread.
final class Probe: Sendable {
    struct State {
        var closed: [UInt64: Int] = [:]
        var received: [UInt64: Int] = [:]
        var maxBuffered = 0
        var floodFinished = false
        var opened: [UInt64] = []
    }

    let state = Mutex(State())

    func opened(_ id: UInt64) { state.withLock { $0.opened.append(id) } }
    func closed(_ id: UInt64) { state.withLock { $0.closed[id, default: 0] += 1 } }
    func received(_ id: UInt64) { state.withLock { $0.received[id, default: 0] += 1 } }
    var snapshot: State { state.withLock { $0 } }

    /// Polls `condition` every 5 ms until it holds or `millis` pass.
    func wait(millis: Int = 3000, _ condition: (State) -> Bool) -> Bool {
        let deadline = LoopContext.monotonicNanos() + UInt64(millis) * 1_000_000
        while LoopContext.monotonicNanos() < deadline {
            if condition(snapshot) { return true }
            usleep(5_000)
        }
        return condition(snapshot)
    }
}

/// Echoes every message; finishes OK when the client half-closes.
final class EchoHandler: RPCHandler {
    let probe: Probe
    init(probe: Probe, rpc: ServerRPC) {
        self.probe = probe
        probe.opened(rpc.id)
    }
    func received(message: [UInt8], on rpc: ServerRPC, context: LoopContext) {
        probe.received(rpc.id)
        rpc.send(message)
    }
    func inputEnded(on rpc: ServerRPC, context: LoopContext) { rpc.finish(.ok) }
    func closed(_ rpc: ServerRPC, context: LoopContext) { probe.closed(rpc.id) }
}

/// Sends "tick" every 5 ms until closed: the well-behaved stream hostile peers must not disturb.
final class TickerHandler: RPCHandler {
    let probe: Probe
    private var timer: TimerHandle?
    init(probe: Probe, rpc: ServerRPC, context: LoopContext) {
        self.probe = probe
        probe.opened(rpc.id)
        arm(rpc, context)
    }
    private func arm(_ rpc: ServerRPC, _ context: LoopContext) {
        timer = context.schedule(after: .milliseconds(5)) { [weak self, weak rpc] ctx in
            guard let self, let rpc, !rpc.isClosed else { return }
            rpc.send(Array("tick".utf8))
            self.arm(rpc, ctx)
        }
    }
    func received(message: [UInt8], on rpc: ServerRPC, context: LoopContext) {}
    func inputEnded(on rpc: ServerRPC, context: LoopContext) {}
    func closed(_ rpc: ServerRPC, context: LoopContext) {
        if let timer { context.cancel(timer) }
        probe.closed(rpc.id)
    }
}

/// Once a message arrives, sends 16 KiB messages as fast as the loop allows, recording the
/// largest `bufferedOutboundBytes` seen, until the RPC is closed.
final class FloodHandler: RPCHandler {
    let probe: Probe
    private var started = false
    init(probe: Probe, rpc: ServerRPC) {
        self.probe = probe
        probe.opened(rpc.id)
    }
    func received(message: [UInt8], on rpc: ServerRPC, context: LoopContext) {
        guard !started else { return }
        started = true
        flood(rpc, context)
    }
    private func flood(_ rpc: ServerRPC, _ context: LoopContext) {
        let chunk = [UInt8](repeating: 0x5A, count: 16 << 10)
        for _ in 0..<8 where !rpc.isClosed {
            rpc.send(chunk)
            let buffered = rpc.bufferedOutboundBytes
            probe.state.withLock { $0.maxBuffered = max($0.maxBuffered, buffered) }
        }
        if rpc.isClosed {
            probe.state.withLock { $0.floodFinished = true }
            return
        }
        context.schedule(after: .milliseconds(1)) { [weak self, weak rpc] ctx in
            guard let self, let rpc else { return }
            self.flood(rpc, ctx)
        }
    }
    func inputEnded(on rpc: ServerRPC, context: LoopContext) {}
    func closed(_ rpc: ServerRPC, context: LoopContext) { probe.closed(rpc.id) }
}

enum Paths {
    static let echo = "/test.Echo/Echo"
    static let ticker = "/test.Echo/Ticker"
    static let flood = "/test.Echo/Flood"
}

/// A running server with the three test services, stopped by `stop()`.
struct TestServer {
    let server: GRPCServer
    let port: Int
    let probe: Probe

    init(configure: (inout GRPCServerConfiguration) -> Void = { _ in }) throws {
        var configuration = GRPCServerConfiguration()
        configuration.port = 0
        configuration.loopCount = 2
        configuration.maxReceiveMessageBytes = 64 << 10
        configure(&configuration)
        var logger = Logger(label: "sextant.grpc.test")
        logger.logLevel = .critical
        let server = try GRPCServer(configuration: configuration, logger: logger)
        let probe = Probe()
        server.register(path: Paths.echo) { rpc, _ in EchoHandler(probe: probe, rpc: rpc) }
        server.register(path: Paths.ticker) { rpc, context in TickerHandler(probe: probe, rpc: rpc, context: context) }
        server.register(path: Paths.flood) { rpc, _ in FloodHandler(probe: probe, rpc: rpc) }
        self.port = try server.start().port
        self.server = server
        self.probe = probe
    }

    func stop() { server.shutdown(grace: .milliseconds(100)) }
}

/// A second, well-behaved client holding a ticker stream: `ticks` grows while the server is healthy.
final class Bystander {
    let client: H2TestClient
    let stream: Int32
    init(port: Int) throws {
        client = try H2TestClient(port: port)
        stream = client.startCall(path: Paths.ticker, end: false)
        client.pump(timeoutMillis: 2000) { [client, stream] in (client.streams[stream]?.messages.count ?? 0) >= 2 }
    }
    var ticks: Int { client.streams[stream]?.messages.count ?? 0 }
    /// True if at least `more` further ticks arrive within the deadline.
    func keepsTicking(more: Int = 5) -> Bool {
        let start = ticks
        return client.pump(timeoutMillis: 3000) { self.ticks >= start + more }
    }
}

/// Every suite that runs servers on loopback nests in here, so they run one at a time: the fd
/// count test measures the whole process, and two CPUs are shared with other builds.
@Suite(.serialized) enum LoopbackSuites {}

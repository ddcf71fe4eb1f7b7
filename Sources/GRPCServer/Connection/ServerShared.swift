import Logging
import Synchronization
import SystemIO

/// What every loop needs from the server: immutable settings and routes, plus atomic counters.
final class ServerShared: Sendable {
    let configuration: GRPCServerConfiguration
    let logger: Logger
    let routes: [String: RPCHandlerFactory]
    let connectionCount = Atomic<Int>(0)
    /// Set by shutdown: connections created from now on start draining at once.
    let draining = Atomic<Bool>(false)

    init(configuration: GRPCServerConfiguration, logger: Logger, routes: [String: RPCHandlerFactory]) {
        self.configuration = configuration
        self.logger = logger
        self.routes = routes
    }
}

/// Per-loop connection registry, read buffer and TLS context (loop-local storage).
final class LoopConnections {
    var connections: [ObjectIdentifier: Connection] = [:]
    /// One read buffer per loop: reads are synchronous, so connections can share it.
    let readBuffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 64 << 10, alignment: 16)
    var tlsContext: TLSContext?
    private var installedExitHook = false

    deinit {
        // OWNERSHIP: allocated in this object's initialiser; nothing else frees it.
        readBuffer.deallocate()
    }

    static func on(_ context: LoopContext) -> LoopConnections {
        let registry = context.local(LoopConnections.self) { LoopConnections() }
        if !registry.installedExitHook {
            registry.installedExitHook = true
            // Connections still open when the loop stops are closed, so every RPC sees closed().
            context.onLoopExit { ctx in
                for connection in Array(registry.connections.values) { connection.close(reason: "event loop stopped") }
            }
        }
        return registry
    }

    func tls(_ configuration: TLSConfiguration) throws(TransportError) -> TLSContext {
        if let tlsContext { return tlsContext }
        let made = try TLSContext(configuration: configuration)
        tlsContext = made
        return made
    }
}

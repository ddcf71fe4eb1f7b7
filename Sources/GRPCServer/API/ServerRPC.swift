import Synchronization
import SystemIO

private let nextRPCID = Atomic<UInt64>(1)

/// One server-side RPC (an HTTP/2 stream). Loop-confined: use only on its loop's thread.
public final class ServerRPC {
    /// Unique within the process.
    public let id: UInt64
    /// The request's `:path`, e.g. `/grpc.health.v1.Health/Check`.
    public let path: String
    /// The remote address, e.g. `127.0.0.1:54321`.
    public let peer: String
    public let headers: [(name: String, value: String)]
    public let loop: EventLoop

    let streamID: Int32
    /// The connection outlives its RPCs' useful life; weak so a handler holding the RPC keeps nothing alive.
    weak var connection: Connection?
    var handler: (any RPCHandler)?
    var deframer: GRPCDeframer
    let encoding: MessageEncoding
    var finished = false
    var closedNotified = false

    init(
        streamID: Int32, path: String, peer: String, headers: [(name: String, value: String)], loop: EventLoop,
        connection: Connection, maxMessageBytes: Int, encoding: MessageEncoding
    ) {
        self.id = nextRPCID.wrappingAdd(1, ordering: .relaxed).oldValue
        self.streamID = streamID
        self.path = path
        self.peer = peer
        self.headers = headers
        self.loop = loop
        self.connection = connection
        self.deframer = GRPCDeframer(maxMessageSize: maxMessageBytes)
        self.encoding = encoding
    }

    /// Sends one gRPC message (uncompressed payload). A no-op once the RPC is finished or closed.
    /// Exceeding ``GRPCServerConfiguration/maxBufferedOutboundBytesPerRPC`` ends the RPC with
    /// RESOURCE_EXHAUSTED instead of queueing more.
    public func send(_ message: [UInt8]) {
        guard !isClosed, let connection else { return }
        connection.send(message, on: self)
    }

    /// Bytes queued in Sextant for this RPC and not yet handed to the socket layer.
    public var bufferedOutboundBytes: Int {
        guard !closedNotified, let connection else { return 0 }
        return connection.bufferedBytes(of: self)
    }

    /// Sends trailers (`grpc-status`, `grpc-message`) after the queued messages, with END_STREAM. Idempotent.
    public func finish(_ status: GRPCStatus) {
        guard !isClosed else { return }
        finished = true
        connection?.finish(self, status: status)
    }

    /// True once finished, reset, or its connection is gone: sends are ignored from then on.
    public var isClosed: Bool { finished || closedNotified }

    /// A header value by (lower-case) name.
    public func header(_ name: String) -> String? {
        headers.first { $0.name == name }?.value
    }
}

/// Created per RPC on the loop thread. Every method is called on that loop thread.
public protocol RPCHandler: AnyObject {
    func received(message: [UInt8], on rpc: ServerRPC, context: LoopContext)
    /// The client half-closed its side.
    func inputEnded(on rpc: ServerRPC, context: LoopContext)
    /// Exactly once per RPC: after it finished and the stream closed, on reset, connection loss or shutdown.
    func closed(_ rpc: ServerRPC, context: LoopContext)
}

public typealias RPCHandlerFactory = @Sendable (ServerRPC, LoopContext) -> any RPCHandler

/// `grpc.health.v1.Health/Check`: answers SERVING (`HealthCheckResponse{status: 1}`) to any request.
final class HealthCheckHandler: RPCHandler {
    static let path = "/grpc.health.v1.Health/Check"
    /// Protobuf: field 1 (varint) = 1, i.e. ServingStatus.SERVING.
    static let servingResponse: [UInt8] = [0x08, 0x01]

    func received(message: [UInt8], on rpc: ServerRPC, context: LoopContext) {}

    func inputEnded(on rpc: ServerRPC, context: LoopContext) {
        rpc.send(HealthCheckHandler.servingResponse)
        rpc.finish(.ok)
    }

    func closed(_ rpc: ServerRPC, context: LoopContext) {}
}

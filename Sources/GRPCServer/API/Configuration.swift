import SystemIO

/// Server certificate and key (PEM files); with `clientCAPath`, clients must present a
/// certificate signed by one of those CAs.
public struct TLSConfiguration: Sendable {
    public var certificateChainPath: String
    public var privateKeyPath: String
    public var clientCAPath: String?

    public init(certificateChainPath: String, privateKeyPath: String, clientCAPath: String? = nil) {
        self.certificateChainPath = certificateChainPath
        self.privateKeyPath = privateKeyPath
        self.clientCAPath = clientCAPath
    }
}

/// Everything a ``GRPCServer`` can be told. The defaults suit an xDS control plane.
public struct GRPCServerConfiguration: Sendable {
    public var host = "127.0.0.1"
    /// 0 picks an ephemeral port; ``GRPCServer/start()`` returns the one bound.
    public var port = 18000
    public var tls: TLSConfiguration? = nil
    public var loopCount = max(1, System.coreCount)
    /// Larger request messages (declared or inflated) end the RPC with RESOURCE_EXHAUSTED.
    public var maxReceiveMessageBytes = 4 << 20
    /// Bytes queued for one RPC beyond this end it with RESOURCE_EXHAUSTED (the stream is reset).
    public var maxBufferedOutboundBytesPerRPC = 64 << 20
    public var maxConcurrentStreamsPerConnection: UInt32 = 128
    public var keepaliveInterval: Duration = .seconds(30)
    public var keepaliveTimeout: Duration = .seconds(10)
    /// Time allowed for the TLS handshake and the HTTP/2 client preface.
    public var handshakeTimeout: Duration = .seconds(10)
    public var maxConnections = 20_000

    public init() {}
}

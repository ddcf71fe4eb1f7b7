import COpenSSL
import Glibc
import Synchronization

/// One HTTPS response: status, headers (names lowercased) and the decoded body.
public struct HTTPSResponse: Sendable, Equatable {
    public var status: Int
    public var headers: [String: String]
    public var body: [UInt8]
}

public enum HTTPSError: Error, Equatable, CustomStringConvertible {
    case resolve(String)
    case connect(String)
    case tls(String)
    case timeout
    case cancelled
    case malformed(String)

    public var description: String {
        switch self {
        case .resolve(let why): "cannot resolve: \(why)"
        case .connect(let why): "cannot connect: \(why)"
        case .tls(let why): "TLS: \(why)"
        case .timeout: "timed out"
        case .cancelled: "cancelled"
        case .malformed(let why): "malformed HTTP answer: \(why)"
        }
    }
}

/// Ends a `get` in progress from another thread: the socket is shut down, the blocked read returns.
public final class HTTPSCancellation: Sendable {
    private let state = Mutex<(fd: Int32?, cancelled: Bool)>((nil, false))

    public init() {}

    public func cancel() {
        state.withLock {
            $0.cancelled = true
            if let fd = $0.fd { _ = Glibc.shutdown(fd, Int32(SHUT_RDWR)) }
        }
    }

    /// Registers the request's socket; false when already cancelled.
    func attach(_ fd: Int32) -> Bool {
        state.withLock {
            $0.fd = fd
            return !$0.cancelled
        }
    }

    func detach() { state.withLock { $0.fd = nil } }
    var isCancelled: Bool { state.withLock { $0.cancelled } }
}

/// A blocking HTTPS/1.1 GET client that trusts one CA file, for servers behind a private CA
/// (FoundationNetworking cannot be given one on Linux). One connection per request, closed after
/// it (`Connection: close`); the server's certificate must chain to the CA and name the host.
///
/// Blocking: call `get` on a thread of its own, never on Swift's cooperative pool.
public final class HTTPSClient: Sendable {
    /// `SSL_CTX`: configured once in `init`, then only used to create connections (`SSL_new`
    /// is safe on a shared context), freed in `deinit`.
    private nonisolated(unsafe) let context: OpaquePointer

    /// - Throws: `HTTPSError.tls` when the CA file cannot be loaded.
    public init(caFile: String) throws(HTTPSError) {
        guard let context = SSL_CTX_new(TLS_client_method()) else { throw .tls("SSL_CTX_new failed") }
        _ = copenssl_ctx_set_min_proto_version(context, TLS1_2_VERSION)
        guard SSL_CTX_load_verify_locations(context, caFile, nil) == 1 else {
            SSL_CTX_free(context)
            throw .tls("cannot load CA file \(caFile): \(Self.opensslError())")
        }
        SSL_CTX_set_verify(context, SSL_VERIFY_PEER, nil)
        // Many servers close after `Connection: close` without a close_notify; a cut-short answer
        // is still caught, by its Content-Length or its missing last chunk (HTTPResponseParser).
        copenssl_ctx_ignore_unexpected_eof(context)
        self.context = context
    }

    deinit { SSL_CTX_free(context) }

    /// GET `target` (path and query) from `host:port`; the whole exchange, connect included, ends
    /// within `timeoutSeconds` (`.timeout`) or when `cancellation` fires (`.cancelled`).
    public func get(
        host: String, port: Int, target: String, headers: [(String, String)], timeoutSeconds: Double,
        cancellation: HTTPSCancellation
    ) throws(HTTPSError) -> HTTPSResponse {
        try SIGPIPEGuard.run { () throws(HTTPSError) -> HTTPSResponse in
            try exchange(host: host, port: port, target: target, headers: headers, timeoutSeconds: timeoutSeconds, cancellation: cancellation)
        }
    }

    private func exchange(
        host: String, port: Int, target: String, headers: [(String, String)], timeoutSeconds: Double,
        cancellation: HTTPSCancellation
    ) throws(HTTPSError) -> HTTPSResponse {
        let deadline = Self.now() + timeoutSeconds
        let fd = try Self.connect(host: host, port: port, deadline: deadline)
        defer { Glibc.close(fd) }
        guard cancellation.attach(fd) else { throw .cancelled }
        defer { cancellation.detach() }
        guard let ssl = SSL_new(context) else { throw .tls("SSL_new failed") }
        defer { SSL_free(ssl) }
        // Verification: the certificate must name `host` (an IP literal is matched as an address).
        if Self.isIPAddress(host) {
            X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), host)
        } else {
            _ = copenssl_set_tlsext_host_name(ssl, host)
            SSL_set1_host(ssl, host)
        }
        SSL_set_fd(ssl, fd)
        try Self.setTimeout(fd, deadline)
        guard SSL_connect(ssl) == 1 else {
            if cancellation.isCancelled { throw .cancelled }
            let verify = SSL_get_verify_result(ssl)
            let reason = verify == X509_V_OK ? Self.opensslError() : String(cString: X509_verify_cert_error_string(verify))
            throw .tls("handshake with \(host):\(port) failed: \(reason)")
        }
        var request = "GET \(target) HTTP/1.1\r\nHost: \(host):\(port)\r\nConnection: close\r\nAccept-Encoding: identity\r\n"
        for (name, value) in headers { request += "\(name): \(value)\r\n" }
        let bytes = Array((request + "\r\n").utf8)
        var written = 0
        while written < bytes.count {
            let n = bytes[written...].withUnsafeBytes { SSL_write(ssl, $0.baseAddress, Int32($0.count)) }
            guard n > 0 else { throw cancellation.isCancelled ? .cancelled : .connect("write failed") }
            written += Int(n)
        }
        var answer: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 16_384)
        while true {
            try Self.setTimeout(fd, deadline)
            let n = buffer.withUnsafeMutableBytes { SSL_read(ssl, $0.baseAddress, Int32($0.count)) }
            if n > 0 {
                answer += buffer[0..<Int(n)]
                continue
            }
            if cancellation.isCancelled { throw .cancelled }
            let code = SSL_get_error(ssl, n)
            if code == SSL_ERROR_ZERO_RETURN || (code == SSL_ERROR_SYSCALL && errno == 0) { break }  // closed
            if errno == EAGAIN || errno == EWOULDBLOCK || Self.now() >= deadline { throw .timeout }
            throw .connect("read failed: \(Self.opensslError())")
        }
        return try HTTPResponseParser.parse(answer)
    }

    // MARK: - Sockets

    private static func connect(host: String, port: Int, deadline: Double) throws(HTTPSError) -> Int32 {
        var hints = addrinfo()
        hints.ai_family = AF_UNSPEC
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        var list: UnsafeMutablePointer<addrinfo>?
        let rc = getaddrinfo(host, String(port), &hints, &list)
        guard rc == 0, let first = list else { throw .resolve("\(host): \(String(cString: gai_strerror(rc)))") }
        // `list` is owned by getaddrinfo's allocation: freed here, after the loop has used it.
        defer { freeaddrinfo(list) }
        var lastError = "no address"
        var entry: UnsafeMutablePointer<addrinfo>? = first
        while let info = entry {
            entry = info.pointee.ai_next
            let fd = socket(info.pointee.ai_family, info.pointee.ai_socktype, info.pointee.ai_protocol)
            guard fd >= 0 else { continue }
            do { try setTimeout(fd, deadline) } catch {
                Glibc.close(fd)
                throw error
            }
            if Glibc.connect(fd, info.pointee.ai_addr, info.pointee.ai_addrlen) == 0 { return fd }
            lastError = String(cString: strerror(errno))
            Glibc.close(fd)
        }
        throw .connect("\(host):\(port): \(lastError)")
    }

    /// Bounds the next blocking send/receive (and connect) by what is left until `deadline`.
    private static func setTimeout(_ fd: Int32, _ deadline: Double) throws(HTTPSError) {
        let left = deadline - now()
        guard left > 0 else { throw .timeout }
        var value = timeval(tv_sec: Int(left), tv_usec: Int((left - left.rounded(.down)) * 1_000_000))
        let size = socklen_t(MemoryLayout<timeval>.size)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &value, size)
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &value, size)
    }

    private static func now() -> Double {
        var spec = timespec()
        clock_gettime(CLOCK_MONOTONIC, &spec)
        return Double(spec.tv_sec) + Double(spec.tv_nsec) / 1e9
    }

    private static func isIPAddress(_ host: String) -> Bool {
        var v4 = in_addr()
        var v6 = in6_addr()
        return inet_pton(AF_INET, host, &v4) == 1 || inet_pton(AF_INET6, host, &v6) == 1
    }

    private static func opensslError() -> String {
        let code = ERR_get_error()
        guard code != 0 else { return "unknown error" }
        var text = [UInt8](repeating: 0, count: 256)
        text.withUnsafeMutableBufferPointer { buffer in
            buffer.withMemoryRebound(to: CChar.self) { ERR_error_string_n(code, $0.baseAddress, $0.count) }
        }
        return String(decoding: text.prefix { $0 != 0 }, as: UTF8.self)
    }
}

import Foundation
import Logging
import SystemIO

/// One admin request: method, path and query (no bodies: every operation is in the URL).
public struct AdminRequest: Sendable, Equatable {
    public let method: String
    public let path: String
    public let query: [String: String]
}

public struct AdminResponse: Sendable, Equatable {
    public var status: Int
    public var contentType: String
    public var body: String

    public init(status: Int, contentType: String = "text/plain; charset=utf-8", body: String) {
        self.status = status
        self.contentType = contentType
        self.body = body
    }
}

/// A small HTTP/1.1 server for the admin API, on its own event loop: one request per
/// connection, bounded request size, a deadline per connection, `Connection: close`.
public final class AdminServer: Sendable {
    public typealias Handler = @Sendable (AdminRequest) -> AdminResponse

    static let maxRequestBytes = 16 * 1024
    static let deadline: Duration = .seconds(5)

    private let group: EventLoopGroup
    private let address: SocketAddress
    private let handler: Handler
    private let logger: Logger

    public init(host: String, port: Int, logger: Logger, handler: @escaping Handler) throws {
        self.address = try SocketAddress(host: host, port: port)
        self.group = try EventLoopGroup(count: 1)
        self.handler = handler
        self.logger = logger
    }

    /// Binds and starts serving. Returns the bound port (useful with port 0).
    @discardableResult
    public func start() throws -> Int {
        let fd = try Socket.listen(on: address, backlog: 128)
        let port = try Socket.localAddress(fd).port
        let handler = self.handler
        let logger = self.logger
        group.loops[0].execute { context in
            do {
                try context.register(fd: fd, interest: [.readable]) { _, context in
                    while let accepted = try? Socket.accept(fd) {
                        AdminConnection(fd: accepted.fd, handler: handler, logger: logger).start(context)
                    }
                }
            } catch {
                logger.error("admin listener failed", metadata: ["error": "\(error)"])
                Socket.close(fd)
            }
        }
        logger.info("admin API listening", metadata: ["address": "\(address.host):\(port)"])
        return port
    }

    public func shutdown() { group.shutdown() }
}

/// One admin connection on the loop thread: read the head, answer, close.
private final class AdminConnection {
    private let fd: Int32
    private let handler: AdminServer.Handler
    private let logger: Logger
    private var input: [UInt8] = []
    private var output: [UInt8] = []
    private var written = 0
    private var closed = false
    private var timer: TimerHandle?

    init(fd: Int32, handler: @escaping AdminServer.Handler, logger: Logger) {
        self.fd = fd
        self.handler = handler
        self.logger = logger
    }

    func start(_ context: LoopContext) {
        do {
            // The registered closure keeps this connection alive until `close` unregisters it.
            try context.register(fd: fd, interest: [.readable]) { events, context in self.ready(events, context) }
        } catch {
            Socket.close(fd)
            return
        }
        timer = context.schedule(after: AdminServer.deadline) { context in self.close(context) }
    }

    private func ready(_ events: IOEvents, _ context: LoopContext) {
        if output.isEmpty { read(context) } else { flush(context) }
        if events.contains(.hangup) && output.isEmpty { close(context) }
    }

    private func read(_ context: LoopContext) {
        var chunk = [UInt8](repeating: 0, count: 4096)
        while !closed {
            let count: Int?
            do {
                // OWNERSHIP: `chunk` is our array; the kernel writes at most its count.
                count = try chunk.withUnsafeMutableBytes { buffer throws(SystemError) in try Socket.read(fd, into: buffer) }
            } catch {
                close(context)
                return
            }
            guard let n = count else { return }  // nothing more for now
            if n == 0 { close(context); return }
            input.append(contentsOf: chunk[..<n])
            if let head = Self.head(of: input) {
                respond(to: head, context)
                return
            }
            if input.count > AdminServer.maxRequestBytes {
                respond(AdminResponse(status: 431, body: "request head too large\n"), context)
                return
            }
        }
    }

    private func respond(to head: String, _ context: LoopContext) {
        guard let request = Self.parse(head) else {
            respond(AdminResponse(status: 400, body: "malformed request\n"), context)
            return
        }
        respond(handler(request), context)
    }

    private func respond(_ response: AdminResponse, _ context: LoopContext) {
        let body = Array(response.body.utf8)
        let head =
            "HTTP/1.1 \(response.status) \(Self.reason(response.status))\r\nContent-Type: \(response.contentType)\r\n"
            + "Content-Length: \(body.count)\r\nConnection: close\r\n\r\n"
        output = Array(head.utf8) + body
        flush(context)
    }

    private func flush(_ context: LoopContext) {
        while written < output.count {
            let n: Int?
            do {
                // OWNERSHIP: our array; the kernel copies what it takes.
                n = try output.withUnsafeBytes { all throws(SystemError) in
                    try Socket.write(fd, from: UnsafeRawBufferPointer(rebasing: all[written...]))
                }
            } catch {
                close(context)
                return
            }
            guard let sent = n else {
                try? context.modify(fd: fd, interest: [.writable])
                return
            }
            written += sent
        }
        close(context)
    }

    private func close(_ context: LoopContext) {
        guard !closed else { return }
        closed = true
        if let timer { context.cancel(timer) }
        context.unregister(fd: fd)
        Socket.close(fd)
    }

    /// The request head, once `\r\n\r\n` has arrived.
    static func head(of bytes: [UInt8]) -> String? {
        let end: [UInt8] = [13, 10, 13, 10]
        guard bytes.count >= 4 else { return nil }
        for i in 0...(bytes.count - 4) where bytes[i..<(i + 4)].elementsEqual(end) {
            return String(decoding: bytes[..<i], as: UTF8.self)
        }
        return nil
    }

    static func parse(_ head: String) -> AdminRequest? {
        guard let line = head.split(separator: "\r\n", omittingEmptySubsequences: false).first else { return nil }
        let parts = line.split(separator: " ")
        guard parts.count == 3, parts[2].hasPrefix("HTTP/1.") else { return nil }
        let target = parts[1]
        let pathEnd = target.firstIndex(of: "?") ?? target.endIndex
        var query: [String: String] = [:]
        if pathEnd < target.endIndex {
            for pair in target[target.index(after: pathEnd)...].split(separator: "&") {
                let kv = pair.split(separator: "=", maxSplits: 1)
                let key = String(kv[0]).removingPercentEncoding ?? String(kv[0])
                query[key] = kv.count > 1 ? (String(kv[1]).removingPercentEncoding ?? String(kv[1])) : ""
            }
        }
        return AdminRequest(method: String(parts[0]), path: String(target[..<pathEnd]), query: query)
    }

    static func reason(_ status: Int) -> String {
        switch status {
        case 200: return "OK"
        case 400: return "Bad Request"
        case 404: return "Not Found"
        case 405: return "Method Not Allowed"
        case 431: return "Request Header Fields Too Large"
        case 503: return "Service Unavailable"
        default: return "Status"
        }
    }
}

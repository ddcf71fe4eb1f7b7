import SystemIO

/// Outcome of one non-blocking read or write.
enum TransportResult {
    case bytes(Int)
    case wouldBlock
    /// The peer closed cleanly (reads only).
    case endOfStream
}

enum HandshakeResult {
    case complete
    case wantRead
    case wantWrite
}

struct TransportError: Error, CustomStringConvertible {
    let description: String
}

/// The byte pipe under HTTP/2: a plain socket or a TLS session over it. Loop-confined.
protocol Transport: AnyObject {
    /// Drives a pending handshake; plain sockets are complete at once.
    func handshake() throws(TransportError) -> HandshakeResult
    func read(into buffer: UnsafeMutableRawBufferPointer) throws(TransportError) -> TransportResult
    func write(from buffer: UnsafeRawBufferPointer) throws(TransportError) -> TransportResult
    /// Reads may need the socket to be readable even while writes are blocked (TLS records).
    var readsWhileWriteBlocked: Bool { get }
    /// Releases resources; the caller closes the fd.
    func shutdown()
}

/// A plain TCP socket (h2c with prior knowledge).
final class PlainTransport: Transport {
    let fd: Int32

    init(fd: Int32) { self.fd = fd }

    func handshake() throws(TransportError) -> HandshakeResult { .complete }

    func read(into buffer: UnsafeMutableRawBufferPointer) throws(TransportError) -> TransportResult {
        do {
            guard let n = try Socket.read(fd, into: buffer) else { return .wouldBlock }
            return n == 0 ? .endOfStream : .bytes(n)
        } catch {
            throw TransportError(description: "\(error)")
        }
    }

    func write(from buffer: UnsafeRawBufferPointer) throws(TransportError) -> TransportResult {
        do {
            guard let n = try Socket.write(fd, from: buffer) else { return .wouldBlock }
            return .bytes(n)
        } catch {
            throw TransportError(description: "\(error)")
        }
    }

    var readsWhileWriteBlocked: Bool { false }

    func shutdown() {}
}

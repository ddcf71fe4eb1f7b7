/// Splits a request body into gRPC messages. DATA frames cut messages anywhere, so bytes are
/// buffered until 1 flag byte + 4-byte big-endian length + payload are all present.
///
/// The declared length is checked against the limit as soon as the 5-byte prefix is complete,
/// before any of the payload is buffered, so a hostile length costs nothing.
struct GRPCDeframer {
    enum Failure: Error, Equatable {
        case messageTooLarge(length: Int, limit: Int)
        case invalidFlags(UInt8)
        /// The body ended in the middle of a message.
        case truncated(bufferedBytes: Int)
    }

    struct Message: Equatable {
        var compressed: Bool
        var payload: [UInt8]
    }

    let maxMessageSize: Int
    private var buffer: [UInt8] = []
    private var readIndex = 0

    init(maxMessageSize: Int) {
        self.maxMessageSize = maxMessageSize
    }

    /// Bytes held for an incomplete message.
    var bufferedBytes: Int { buffer.count - readIndex }

    /// Appends body bytes, rejecting an oversize length prefix before buffering its payload.
    mutating func append(_ bytes: some Collection<UInt8>) throws(Failure) {
        buffer.append(contentsOf: bytes)
        try checkPrefix()
    }

    /// The next complete message, or nil when more bytes are needed.
    mutating func next() throws(Failure) -> Message? {
        try checkPrefix()
        guard let length = pendingLength(), buffer.count - readIndex >= 5 + length else {
            compact()
            return nil
        }
        let compressed = buffer[readIndex] == 1
        let start = readIndex + 5
        let payload = Array(buffer[start..<start + length])
        readIndex = start + length
        if readIndex == buffer.count {
            buffer.removeAll(keepingCapacity: buffer.capacity <= 64 << 10)
            readIndex = 0
        }
        return Message(compressed: compressed, payload: payload)
    }

    /// Called at end of stream: anything left over is a truncated message.
    func finish() throws(Failure) {
        if bufferedBytes > 0 { throw .truncated(bufferedBytes: bufferedBytes) }
    }

    private func pendingLength() -> Int? {
        guard buffer.count - readIndex >= 5 else { return nil }
        var length = 0
        for i in 1...4 { length = length << 8 | Int(buffer[readIndex + i]) }
        return length
    }

    private func checkPrefix() throws(Failure) {
        guard buffer.count - readIndex >= 1 else { return }
        let flags = buffer[readIndex]
        guard flags <= 1 else { throw .invalidFlags(flags) }
        if let length = pendingLength(), length > maxMessageSize {
            throw .messageTooLarge(length: length, limit: maxMessageSize)
        }
    }

    private mutating func compact() {
        if readIndex > 0 && readIndex >= buffer.count / 2 {
            buffer.removeFirst(readIndex)
            readIndex = 0
        }
    }
}

/// Frames outgoing messages: flag byte 0 (uncompressed) + 4-byte big-endian length + payload.
enum GRPCFramer {
    static func frame(_ payload: [UInt8], compressed: Bool = false) -> [UInt8] {
        var out = [UInt8]()
        out.reserveCapacity(payload.count + 5)
        out.append(compressed ? 1 : 0)
        let length = UInt32(truncatingIfNeeded: payload.count)
        out.append(UInt8(length >> 24))
        out.append(UInt8(length >> 16 & 0xFF))
        out.append(UInt8(length >> 8 & 0xFF))
        out.append(UInt8(length & 0xFF))
        out.append(contentsOf: payload)
        return out
    }
}

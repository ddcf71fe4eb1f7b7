import Testing

@testable import GRPCServer

@Suite struct FramingTests {
    static let messages: [[UInt8]] = [[1, 2, 3, 4], [], [9, 8, 7]]
    static let wire: [UInt8] = messages.flatMap { GRPCFramer.frame($0) }

    @Test(arguments: 0...wire.count)
    func cutAtEveryOffset(offset: Int) throws {
        var deframer = GRPCDeframer(maxMessageSize: 1024)
        var out: [[UInt8]] = []
        for part in [Array(Self.wire[..<offset]), Array(Self.wire[offset...])] {
            try deframer.append(part)
            while let m = try deframer.next() { out.append(m.payload) }
        }
        #expect(out == Self.messages)
        try deframer.finish()
    }

    @Test func byteAtATime() throws {
        var deframer = GRPCDeframer(maxMessageSize: 1024)
        var out: [[UInt8]] = []
        for byte in Self.wire {
            try deframer.append([byte])
            while let m = try deframer.next() { out.append(m.payload) }
        }
        #expect(out == Self.messages)
    }

    @Test func oversizeRejectedBeforePayload() {
        var deframer = GRPCDeframer(maxMessageSize: 100)
        // Only the 5-byte prefix: the payload never needs to arrive for the rejection.
        #expect(throws: GRPCDeframer.Failure.messageTooLarge(length: 101, limit: 100)) {
            try deframer.append([0, 0, 0, 0, 101])
        }
        var hostile = GRPCDeframer(maxMessageSize: 4 << 20)
        #expect(throws: GRPCDeframer.Failure.messageTooLarge(length: 0xFFFF_FFFF, limit: 4 << 20)) {
            try hostile.append([0, 0xFF, 0xFF, 0xFF, 0xFF])
        }
    }

    @Test func badFlagsAndTruncation() throws {
        var deframer = GRPCDeframer(maxMessageSize: 100)
        #expect(throws: GRPCDeframer.Failure.invalidFlags(7)) { try deframer.append([7]) }
        var partial = GRPCDeframer(maxMessageSize: 100)
        try partial.append([0, 0, 0, 0, 3, 1])
        #expect(try partial.next() == nil)
        #expect(throws: GRPCDeframer.Failure.truncated(bufferedBytes: 6)) { try partial.finish() }
    }

    @Test func gzipRoundTripAndBound() throws {
        let text = Array(String(repeating: "sextant ", count: 1000).utf8)
        let compressed = Gzip.deflate(text)
        #expect(compressed.count < text.count)
        #expect(try Gzip.inflate(compressed, limit: text.count) == text)
        #expect(throws: Gzip.Failure.tooLarge(limit: 100)) { try Gzip.inflate(compressed, limit: 100) }
        #expect(throws: (any Error).self) { try Gzip.inflate([1, 2, 3, 4], limit: 100) }
        #expect(MessageEncoding(header: "snappy") == nil)
        #expect(MessageEncoding(header: nil) == .identity)
    }

    @Test func statusMessagePercentEncoding() {
        #expect(GRPCStatus.percentEncode("ok: 100%") == "ok: 100%25")
        #expect(GRPCStatus.percentEncode("é\n") == "%C3%A9%0A")
        #expect(GRPCStatus.percentDecode("%C3%A9%0A x%") == "é\n x%")
        let fields = GRPCStatus(code: .unavailable, message: "bye").trailerFields
        #expect(fields.map(\.name) == ["grpc-status", "grpc-message"])
        #expect(fields.map(\.value) == ["14", "bye"])
    }
}

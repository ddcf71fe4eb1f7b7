import Testing

@testable import HTTPSClient

@Suite struct HTTPResponseParserTests {
    static func bytes(_ text: String) -> [UInt8] { Array(text.utf8) }

    @Test func contentLengthBodyAndLowercasedHeaders() throws {
        let response = try HTTPResponseParser.parse(
            Self.bytes("HTTP/1.1 200 OK\r\nX-Consul-Index: 42\r\nContent-Length: 2\r\n\r\n[]"))
        #expect(response.status == 200 && response.headers["x-consul-index"] == "42" && response.body == Self.bytes("[]"))
    }

    @Test func chunkedBodyWithExtensionsAndTrailers() throws {
        let raw = "HTTP/1.1 500 Internal Server Error\r\nTransfer-Encoding: chunked\r\n\r\n4;x=y\r\nrpc \r\n5\r\nerror\r\n0\r\nTrailer: t\r\n\r\n"
        let response = try HTTPResponseParser.parse(Self.bytes(raw))
        #expect(response.status == 500 && response.body == Self.bytes("rpc error"))
    }

    @Test func aBodyWithoutFramingRunsToTheEnd() throws {
        #expect(try HTTPResponseParser.parse(Self.bytes("HTTP/1.0 200 OK\r\n\r\n{\"a\":1}")).body == Self.bytes("{\"a\":1}"))
    }

    /// The server closed early (no close_notify is required): framing catches the cut.
    @Test(arguments: [
        "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n[1,2",
        "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\na\r\n[1,2",
        "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n4\r\n[1,2\r\n",
        "HTTP/1.1 200 OK\r\nContent-Len",
    ])
    func aTruncatedAnswerIsMalformed(_ raw: String) {
        #expect(throws: HTTPSError.self) { try HTTPResponseParser.parse(Self.bytes(raw)) }
    }

    @Test(arguments: ["SSH-2.0-OpenSSH\r\n\r\n", "HTTP/1.1 abc OK\r\n\r\n", "HTTP/1.1 200 OK\r\nno colon\r\n\r\n"])
    func garbageIsMalformed(_ raw: String) {
        #expect(throws: HTTPSError.self) { try HTTPResponseParser.parse(Self.bytes(raw)) }
    }
}

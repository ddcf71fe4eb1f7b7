import Foundation
import Testing

@testable import GRPCServer
extension LoopbackSuites {
    @Suite struct ServerTests {
        @Test func unaryEchoAndHealthCheck() throws {
            let server = try TestServer()
            defer { server.stop() }
            let client = try H2TestClient(port: server.port)
            let echo = client.startCall(path: Paths.echo, messages: [Array("hello".utf8)])
            let health = client.startCall(path: "/grpc.health.v1.Health/Check", messages: [[]])
            #expect(client.pump { client.streams[echo]!.closed && client.streams[health]!.closed })
            let e = client.streams[echo]!
            #expect(e.headers.contains { $0 == (":status", "200") })
            #expect(e.headers.contains { $0 == ("content-type", "application/grpc") })
            #expect(e.messages == [Array("hello".utf8)])
            #expect(e.status == 0)
            let h = client.streams[health]!
            #expect(h.messages == [[0x08, 0x01]])
            #expect(h.status == 0)
            #expect(server.probe.wait { $0.closed.count == 1 && $0.closed.values.allSatisfy { $0 == 1 } })
        }

        @Test func unknownMethodIsUnimplemented() throws {
            let server = try TestServer()
            defer { server.stop() }
            let client = try H2TestClient(port: server.port)
            let id = client.startCall(path: "/no.Such/Method", messages: [[1]])
            #expect(client.pump { client.streams[id]!.closed })
            #expect(client.streams[id]!.status == 12)
            #expect(client.streams[id]!.messages.isEmpty)
        }

        @Test func unknownEncodingIsUnimplemented() throws {
            let server = try TestServer()
            defer { server.stop() }
            let client = try H2TestClient(port: server.port)
            let id = client.startCall(path: Paths.echo, messages: [[1]], extraHeaders: [("grpc-encoding", "snappy")])
            #expect(client.pump { client.streams[id]!.closed })
            #expect(client.streams[id]!.status == 12)
        }

        @Test func gzipMessageIsInflated() throws {
            let server = try TestServer()
            defer { server.stop() }
            let client = try H2TestClient(port: server.port)
            let text = Array(String(repeating: "xds ", count: 500).utf8)
            let id = client.startCall(path: Paths.echo, end: false, extraHeaders: [("grpc-encoding", "gzip")])
            client.send(Gzip.deflate(text), on: id, end: true, compressed: true)
            #expect(client.pump { client.streams[id]!.closed })
            #expect(client.streams[id]!.messages == [text])
            #expect(client.streams[id]!.status == 0)
        }

        @Test func oversizeMessageIsResourceExhausted() throws {
            let server = try TestServer { $0.maxReceiveMessageBytes = 1024 }
            defer { server.stop() }
            let client = try H2TestClient(port: server.port)
            let id = client.startCall(path: Paths.echo, messages: [[UInt8](repeating: 1, count: 2048)])
            #expect(client.pump { client.streams[id]!.closed })
            #expect(client.streams[id]!.status == 8)
            // The connection is still usable.
            let ok = client.startCall(path: Paths.echo, messages: [[7]])
            #expect(client.pump { client.streams[ok]!.closed })
            #expect(client.streams[ok]!.status == 0)
        }

        @Test func gzipBombIsResourceExhausted() throws {
            let server = try TestServer { $0.maxReceiveMessageBytes = 4096 }
            defer { server.stop() }
            let client = try H2TestClient(port: server.port)
            let id = client.startCall(path: Paths.echo, end: false, extraHeaders: [("grpc-encoding", "gzip")])
            client.send(Gzip.deflate([UInt8](repeating: 0, count: 1 << 20)), on: id, end: true, compressed: true)
            #expect(client.pump { client.streams[id]!.closed })
            #expect(client.streams[id]!.status == 8)
        }

        @Test func bidiStreamingEchoManyMessages() throws {
            let server = try TestServer()
            defer { server.stop() }
            let client = try H2TestClient(port: server.port)
            let id = client.startCall(path: Paths.echo, end: false)
            let count = 2000
            var expected: [[UInt8]] = []
            for i in 0..<count {
                let message = Array("message \(i) ".utf8) + [UInt8](repeating: UInt8(i % 251), count: i % 700)
                expected.append(message)
                client.send(message, on: id, end: i == count - 1)
                if i % 100 == 0 { client.pump(timeoutMillis: 5) }
            }
            #expect(client.pump(timeoutMillis: 10_000) { client.streams[id]!.closed })
            #expect(client.streams[id]!.messages == expected)
            #expect(client.streams[id]!.status == 0)
            #expect(server.probe.wait { $0.closed.values.reduce(0, +) == 1 })
        }

        @Test(.enabled(if: TLSTests.toolsAvailable)) func curlPriorKnowledgeInterop() throws {
            let server = try TestServer()
            defer { server.stop() }
            let dir = NSTemporaryDirectory() + "sextant-h2c-\(UUID().uuidString)"
            try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
            defer { try? FileManager.default.removeItem(atPath: dir) }
            try Data([0, 0, 0, 0, 5] + Array("hello".utf8)).write(to: URL(fileURLWithPath: dir + "/req"))
            let result = try TLSTests.run("/usr/bin/curl", [
                "-sS", "-v", "--max-time", "5", "--http2-prior-knowledge", "-X", "POST",
                "-H", "content-type: application/grpc", "-H", "te: trailers", "--data-binary", "@" + dir + "/req",
                "http://127.0.0.1:\(server.port)\(Paths.echo)",
            ])
            #expect(result.status == 0, "\(result.stderr)")
            #expect(Array(result.stdout) == [0, 0, 0, 0, 5] + Array("hello".utf8))
            #expect(result.stderr.contains("grpc-status: 0"), "\(result.stderr)")
        }

        @Test func manyStreamsOnOneConnection() throws {
            let server = try TestServer()
            defer { server.stop() }
            let client = try H2TestClient(port: server.port)
            let ids = (0..<50).map { i in client.startCall(path: Paths.echo, messages: [[UInt8(i)]]) }
            #expect(client.pump(timeoutMillis: 5000) { ids.allSatisfy { client.streams[$0]!.closed } })
            for (i, id) in ids.enumerated() {
                #expect(client.streams[id]!.messages == [[UInt8(i)]])
            }
            #expect(server.probe.wait { $0.closed.count == 50 && $0.closed.values.allSatisfy { $0 == 1 } })
        }
    }
}

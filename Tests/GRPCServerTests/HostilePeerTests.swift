import Testing

@testable import GRPCServer
import SystemIO

#if canImport(Glibc)
import Glibc
#endif

extension LoopbackSuites {
    /// Each hostile peer must lose only its own connection (or RPC) while a well-behaved streaming
    /// RPC on the same server keeps receiving messages.
    @Suite struct HostilePeerTests {
        @Test func garbageInsteadOfPreface() throws {
            let server = try TestServer()
            defer { server.stop() }
            let bystander = try Bystander(port: server.port)
            let hostile = try H2TestClient(port: server.port)
            hostile.writeRaw(Array("GET / HTTP/1.1\r\nHost: x\r\n\r\n".utf8) + [UInt8](repeating: 0xFF, count: 64))
            #expect(hostile.pump(timeoutMillis: 3000) { hostile.peerClosed })
            #expect(bystander.keepsTicking())
        }

        @Test func bogusLengthPrefix() throws {
            let server = try TestServer()
            defer { server.stop() }
            let bystander = try Bystander(port: server.port)
            let hostile = try H2TestClient(port: server.port)
            let id = hostile.startCall(path: Paths.echo, end: false, rawBody: [0, 0xFF, 0xFF, 0xFF, 0xFF, 1, 2, 3])
            #expect(hostile.pump { hostile.streams[id]!.closed })
            #expect(hostile.streams[id]!.status == 8)
            #expect(server.probe.wait { $0.closed.count == 1 })  // the echo RPC saw closed() once
            #expect(bystander.keepsTicking())
        }

        @Test func invalidFlagByteIsInternal() throws {
            let server = try TestServer()
            defer { server.stop() }
            let hostile = try H2TestClient(port: server.port)
            let id = hostile.startCall(path: Paths.echo, end: true, rawBody: [9, 0, 0, 0, 1, 1])
            #expect(hostile.pump { hostile.streams[id]!.closed })
            #expect(hostile.streams[id]!.status == 13)
        }

        @Test func messageOverTheLimit() throws {
            let server = try TestServer { $0.maxReceiveMessageBytes = 4096 }
            defer { server.stop() }
            let bystander = try Bystander(port: server.port)
            let hostile = try H2TestClient(port: server.port)
            let id = hostile.startCall(path: Paths.echo, end: false)
            // Stream a huge message in pieces; the server must answer without waiting for all of it.
            hostile.send([UInt8](repeating: 7, count: 1 << 20), on: id)
            #expect(hostile.pump { hostile.streams[id]!.closed })
            #expect(hostile.streams[id]!.status == 8)
            #expect(bystander.keepsTicking())
        }

        /// A small window stops output at HTTP/2 flow control; a huge one fills the socket buffers
        /// (EPOLLOUT path). Either way the per-RPC queue must stay under the cap and the RPC must end.
        @Test(arguments: [UInt32(65535), UInt32(64 << 20)])
        func clientThatNeverReads(windowSize: UInt32) throws {
            let cap = 256 << 10
            let server = try TestServer {
                $0.maxBufferedOutboundBytesPerRPC = cap
                $0.keepaliveInterval = .seconds(60)
            }
            defer { server.stop() }
            let bystander = try Bystander(port: server.port)
            // A small receive window, then we stop reading entirely after sending the request.
            let hostile = try H2TestClient(port: server.port, windowSize: windowSize)
            let id = hostile.startCall(path: Paths.flood, messages: [[1]], end: false)
            hostile.pump(timeoutMillis: 50)
            #expect(server.probe.wait(millis: 5000) { $0.floodFinished })
            let state = server.probe.snapshot
            #expect(state.maxBuffered <= cap)
            #expect(state.maxBuffered > 0)
            #expect(state.closed.values.reduce(0, +) == 1)  // the flood RPC, exactly once
            #expect(bystander.keepsTicking())
            _ = id
        }

        @Test func clientVanishesMidStream() throws {
            let server = try TestServer()
            defer { server.stop() }
            let bystander = try Bystander(port: server.port)
            do {
                let hostile = try H2TestClient(port: server.port)
                let a = hostile.startCall(path: Paths.ticker, end: false)
                let b = hostile.startCall(path: Paths.echo, messages: [[1, 2]], end: false)
                #expect(hostile.pump { (hostile.streams[a]!.messages.count) >= 2 && hostile.streams[b]!.messages.count == 1 })
            }  // socket closed here without GOAWAY or RST
            #expect(server.probe.wait {
                $0.opened.count == 3 && $0.closed.count == 2 && $0.closed.values.allSatisfy { $0 == 1 }
            })
            #expect(bystander.keepsTicking())
        }

        @Test func handshakeTimeoutForSilentClient() throws {
            let server = try TestServer { $0.handshakeTimeout = .milliseconds(200) }
            defer { server.stop() }
            let silent = try H2TestClient(port: server.port)
            let start = LoopContext.monotonicNanos()
            // Read without ever writing our preface (pump would send it, so poll the raw socket).
            var pfd = pollfd(fd: silent.fd, events: Int16(POLLIN), revents: 0)
            var closed = false
            var buffer = [UInt8](repeating: 0, count: 4096)
            while !closed && LoopContext.monotonicNanos() - start < 3_000_000_000 {
                _ = poll(&pfd, 1, 50)
                if pfd.revents != 0 {
                    let n = buffer.withUnsafeMutableBytes { Glibc.read(silent.fd, $0.baseAddress, $0.count) }
                    if n == 0 || (n < 0 && errno != EAGAIN) { closed = true }
                }
            }
            #expect(closed)
            #expect(LoopContext.monotonicNanos() - start >= 150_000_000)
        }

        @Test func keepaliveTimeoutClosesUnresponsivePeer() throws {
            let server = try TestServer {
                $0.keepaliveInterval = .milliseconds(100)
                $0.keepaliveTimeout = .milliseconds(100)
            }
            defer { server.stop() }
            let peer = try H2TestClient(port: server.port)
            let id = peer.startCall(path: Paths.ticker, end: false)
            peer.pump(timeoutMillis: 50)  // preface + request sent; from now on we never read (no PING ack)
            #expect(server.probe.wait(millis: 3000) { $0.closed.count == 1 })
            _ = id
        }

        @Test func thousandConnectionsReturnToBaselineFDs() throws {
            let server = try TestServer()
            defer { server.stop() }
            let bystander = try Bystander(port: server.port)
            let baseline = System.openFileDescriptorCount()
            for round in 0..<10 {
                var clients: [H2TestClient] = []
                for _ in 0..<100 { clients.append(try H2TestClient(port: server.port)) }
                if round % 2 == 0 {
                    for c in clients { c.pump(timeoutMillis: 1) }  // half the rounds complete the preface
                }
                clients.removeAll()
            }
            // Small slack for descriptors other tests (other targets run in parallel) may hold briefly.
            let settled = server.probe.wait(millis: 5000) { _ in System.openFileDescriptorCount() <= baseline + 16 }
            #expect(settled, "fds: \(System.openFileDescriptorCount()) baseline \(baseline)")
            #expect(bystander.keepsTicking())
        }

        @Test func maxConnectionsRefusesExtra() throws {
            let server = try TestServer { $0.maxConnections = 2 }
            defer { server.stop() }
            let a = try H2TestClient(port: server.port)
            let b = try H2TestClient(port: server.port)
            #expect(a.pump(timeoutMillis: 100) { false } == false)
            _ = b.pump(timeoutMillis: 100)
            let c = try H2TestClient(port: server.port)
            #expect(c.pump(timeoutMillis: 2000) { c.peerClosed })
            #expect(!a.peerClosed)
        }
    }
}

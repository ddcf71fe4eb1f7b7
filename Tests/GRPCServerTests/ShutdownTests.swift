import Foundation
import Testing

@testable import GRPCServer
import SystemIO
extension LoopbackSuites {
    @Suite struct ShutdownTests {
        @Test func gracefulShutdownSendsGoawayAndUnavailable() throws {
            let server = try TestServer()
            let client = try H2TestClient(port: server.port)
            let id = client.startCall(path: Paths.ticker, end: false)
            #expect(client.pump { client.streams[id]!.messages.count >= 2 })

            let done = Probe()
            let grpc = server.server
            Thread.detachNewThread {
                grpc.shutdown(grace: .milliseconds(200))
                done.state.withLock { $0.floodFinished = true }
            }
            // GOAWAY first, while the stream keeps ticking through the grace period.
            #expect(client.pump(timeoutMillis: 2000) { client.goawayReceived })
            #expect(!client.streams[id]!.closed)
            #expect(client.pump(timeoutMillis: 3000) { client.streams[id]!.closed })
            #expect(client.streams[id]!.status == 14)
            #expect(done.wait(millis: 5000) { $0.floodFinished })
            #expect(server.probe.snapshot.closed.values.reduce(0, +) == 1)
            server.server.waitUntilStopped()  // returns at once after shutdown
            #expect(throws: (any Error).self) {
                let late = try H2TestClient(port: server.port)
                _ = late
            }
        }

        @Test func idleConnectionsCloseAtOnceAndWaitReturns() throws {
            let server = try TestServer()
            let client = try H2TestClient(port: server.port)
            let id = client.startCall(path: Paths.echo, messages: [[1]])
            #expect(client.pump { client.streams[id]!.closed })
            let start = LoopContext.monotonicNanos()
            server.server.shutdown(grace: .seconds(5))
            // Nothing was open, so no need to wait out the grace period.
            #expect(LoopContext.monotonicNanos() - start < 2_000_000_000)
            #expect(client.pump(timeoutMillis: 2000) { client.peerClosed })
            #expect(client.goawayReceived)
            server.server.waitUntilStopped()
            server.server.shutdown(grace: .zero)  // idempotent
        }
    }
}

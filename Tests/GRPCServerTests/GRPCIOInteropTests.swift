import Foundation
import Testing

@testable import GRPCServer

extension LoopbackSuites {
    /// The real gRPC Python client (grpcio, from the project venv) against our server.
    @Suite struct GRPCIOInteropTests {
        static let python = FileManager.default.currentDirectoryPath + "/.venv/bin/python"
        static var available: Bool { FileManager.default.isExecutableFile(atPath: python) }

        static let script = """
            import sys, grpc
            ch = grpc.insecure_channel(sys.argv[1])
            grpc.channel_ready_future(ch).result(timeout=5)
            ident = lambda b: b
            health = ch.unary_unary('/grpc.health.v1.Health/Check', request_serializer=ident, response_deserializer=ident)
            assert health(b'', timeout=5) == b'\\x08\\x01'
            echo = ch.stream_stream('/test.Echo/Echo', request_serializer=ident, response_deserializer=ident)
            msgs = [bytes([i % 256]) * (i % 300) for i in range(500)]
            assert list(echo(iter(msgs), timeout=10)) == msgs
            gz = list(echo(iter(msgs[:50]), timeout=10, compression=grpc.Compression.Gzip))
            assert gz == msgs[:50], 'gzip echo'
            try:
                ch.unary_unary('/no.Such/Method')(b'', timeout=5)
                raise SystemExit('expected UNIMPLEMENTED')
            except grpc.RpcError as e:
                assert e.code() == grpc.StatusCode.UNIMPLEMENTED, e.code()
            print('ok')
            """

        @Test(.enabled(if: available)) func grpcioUnaryBidiGzipAndUnimplemented() throws {
            let server = try TestServer()
            defer { server.stop() }
            let result = try TLSTests.run(Self.python, ["-c", Self.script, "127.0.0.1:\(server.port)"])
            #expect(result.status == 0, "\(result.stderr)")
            #expect(String(decoding: result.stdout, as: UTF8.self).contains("ok"))
        }
    }
}

import Foundation
import Testing

@testable import GRPCServer
import SystemIO

#if canImport(Glibc)
import Glibc
#endif

extension LoopbackSuites {
    /// TLS against the real `curl` and `openssl` binaries: certificates are generated per run.
    @Suite struct TLSTests {
        struct Certificates {
            let dir: String
            var ca: String { dir + "/ca.crt" }
            var serverCert: String { dir + "/server.crt" }
            var serverKey: String { dir + "/server.key" }
            var clientCert: String { dir + "/client.crt" }
            var clientKey: String { dir + "/client.key" }
        }

        static func run(_ tool: String, _ arguments: [String], stdin: Data? = nil) throws -> (status: Int32, stdout: Data, stderr: String) {
            let process = Process()
            process.executableURL = URL(fileURLWithPath: tool)
            process.arguments = arguments
            let out = Pipe(), err = Pipe()
            process.standardOutput = out
            process.standardError = err
            try process.run()
            let stdout = out.fileHandleForReading.readDataToEndOfFile()
            let stderr = err.fileHandleForReading.readDataToEndOfFile()
            process.waitUntilExit()
            return (process.terminationStatus, stdout, String(decoding: stderr, as: UTF8.self))
        }

        static func makeCertificates() throws -> Certificates {
            let dir = NSTemporaryDirectory() + "sextant-tls-\(UUID().uuidString)"
            try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
            let c = Certificates(dir: dir)
            let ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
            for args in [
                ["req", "-x509"] + ec + ["-keyout", dir + "/ca.key", "-out", c.ca, "-days", "1", "-subj", "/CN=Sextant Test CA"],
                ["req", "-x509"] + ec + ["-keyout", c.serverKey, "-out", c.serverCert, "-days", "1", "-subj", "/CN=localhost",
                                         "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost"],
                ["req"] + ec + ["-keyout", c.clientKey, "-out", dir + "/client.csr", "-subj", "/CN=client"],
                ["x509", "-req", "-in", dir + "/client.csr", "-CA", c.ca, "-CAkey", dir + "/ca.key", "-CAcreateserial",
                 "-out", c.clientCert, "-days", "1"],
            ] {
                let result = try run("/usr/bin/openssl", args)
                guard result.status == 0 else { throw GRPCStatus(code: .internalError, message: "openssl: \(result.stderr)") }
            }
            return c
        }

        /// A health check through curl over TLS; returns curl's exit status, body and verbose log.
        static func curlHealthCheck(port: Int, certs: Certificates, extra: [String] = []) throws -> (status: Int32, body: [UInt8], log: String) {
            let request = certs.dir + "/request.bin"
            try Data([0, 0, 0, 0, 0]).write(to: URL(fileURLWithPath: request))
            let result = try run("/usr/bin/curl", [
                "-sS", "-v", "--max-time", "5", "--cacert", certs.serverCert, "-X", "POST",
                "-H", "content-type: application/grpc", "-H", "te: trailers", "--data-binary", "@" + request,
            ] + extra + ["https://127.0.0.1:\(port)/grpc.health.v1.Health/Check"])
            return (result.status, Array(result.stdout), result.stderr)
        }

        static var toolsAvailable: Bool {
            FileManager.default.isExecutableFile(atPath: "/usr/bin/openssl") && FileManager.default.isExecutableFile(atPath: "/usr/bin/curl")
        }

        @Test(.enabled(if: toolsAvailable)) func tlsClientNegotiatesH2AndCallsHealth() throws {
            let certs = try Self.makeCertificates()
            defer { try? FileManager.default.removeItem(atPath: certs.dir) }
            let server = try TestServer {
                $0.tls = TLSConfiguration(certificateChainPath: certs.serverCert, privateKeyPath: certs.serverKey)
            }
            defer { server.stop() }
            let result = try Self.curlHealthCheck(port: server.port, certs: certs, extra: ["--http2"])
            #expect(result.status == 0, "\(result.log)")
            #expect(result.log.contains("server accepted h2"), "\(result.log)")
            #expect(result.body == [0, 0, 0, 0, 2, 0x08, 0x01])

            // ALPN "h2" is mandatory: an HTTP/1.1-only client fails the handshake.
            let http1 = try Self.curlHealthCheck(port: server.port, certs: certs, extra: ["--http1.1"])
            #expect(http1.status != 0)
        }

        @Test(.enabled(if: toolsAvailable)) func clientCertificateRequiredWithClientCA() throws {
            let certs = try Self.makeCertificates()
            defer { try? FileManager.default.removeItem(atPath: certs.dir) }
            let server = try TestServer {
                $0.tls = TLSConfiguration(
                    certificateChainPath: certs.serverCert, privateKeyPath: certs.serverKey, clientCAPath: certs.ca)
            }
            defer { server.stop() }
            let anonymous = try Self.curlHealthCheck(port: server.port, certs: certs, extra: ["--http2"])
            #expect(anonymous.status != 0)
            #expect(anonymous.body.isEmpty)
            let authenticated = try Self.curlHealthCheck(
                port: server.port, certs: certs, extra: ["--http2", "--cert", certs.clientCert, "--key", certs.clientKey])
            #expect(authenticated.status == 0, "\(authenticated.log)")
            #expect(authenticated.body == [0, 0, 0, 0, 2, 0x08, 0x01])
        }

        @Test(.enabled(if: toolsAvailable)) func silentTLSClientTimesOutWithoutSpinning() throws {
            let certs = try Self.makeCertificates()
            defer { try? FileManager.default.removeItem(atPath: certs.dir) }
            let server = try TestServer {
                $0.tls = TLSConfiguration(certificateChainPath: certs.serverCert, privateKeyPath: certs.serverKey)
                $0.handshakeTimeout = .milliseconds(400)
            }
            defer { server.stop() }
            let silent = try Socket.connect(to: SocketAddress(host: "127.0.0.1", port: server.port))
            defer { Socket.close(silent) }
            let cpuBefore = Self.processCPUNanos()
            var pfd = pollfd(fd: silent, events: Int16(POLLIN), revents: 0)
            let start = LoopContext.monotonicNanos()
            var closed = false
            var buffer = [UInt8](repeating: 0, count: 1024)
            while !closed && LoopContext.monotonicNanos() - start < 3_000_000_000 {
                _ = poll(&pfd, 1, 50)
                if pfd.revents != 0 {
                    let n = buffer.withUnsafeMutableBytes { Glibc.read(silent, $0.baseAddress, $0.count) }
                    if n == 0 || (n < 0 && errno != EAGAIN) { closed = true }
                }
            }
            #expect(closed)
            #expect(LoopContext.monotonicNanos() - start >= 300_000_000)
            // Waiting for a ClientHello must not busy-loop on EPOLLOUT.
            #expect(Self.processCPUNanos() - cpuBefore < 250_000_000)
        }

        static func processCPUNanos() -> UInt64 {
            var ts = timespec()
            clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts)
            return UInt64(ts.tv_sec) * 1_000_000_000 + UInt64(ts.tv_nsec)
        }

        @Test func badCertificatePathFailsStart() throws {
            var configuration = GRPCServerConfiguration()
            configuration.port = 0
            configuration.tls = TLSConfiguration(certificateChainPath: "/nonexistent.crt", privateKeyPath: "/nonexistent.key")
            let server = try GRPCServer(configuration: configuration, logger: .init(label: "test"))
            #expect(throws: (any Error).self) { try server.start() }
        }
    }
}

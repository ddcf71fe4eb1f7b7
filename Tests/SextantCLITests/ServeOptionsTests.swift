import ArgumentParser
import Testing
@testable import SextantCLI

@Suite struct ServeOptionsTests {
    @Test func everyFlagHasADefault() throws {
        let serve = try Serve.parse([])
        #expect(serve.inputs.catalog == "Config/catalog.yaml")
        #expect(serve.inputs.templates == "Config/services")
        #expect(serve.inputs.defaults == "Config/defaults.yaml")
        #expect(serve.xds == "127.0.0.1:18000")
    }

    @Test func badFlagsAreRefusedWithAReason() {
        #expect(throws: (any Error).self) { try Serve.parse(["--tls-cert", "a.pem"]) }
        #expect(throws: (any Error).self) { try Serve.parse(["--xds", "nowhere"]) }
        #expect(throws: (any Error).self) { try Serve.parse(["--tls-client-ca", "ca.pem"]) }
    }

    @Test func hostPortAcceptsAnEmptyHost() throws {
        let address = try HostPort(":18001")
        #expect(address.host == "127.0.0.1")
        #expect(address.port == 18001)
    }
}

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

@Suite struct ConsulEnvironmentTests {
    @Test func consulsEnvironmentFillsWhatTheFlagsLeaveOut() throws {
        let options = try Serve.parse([]).inputs.consul
        let env = ["CONSUL_HTTP_ADDR": "10.0.0.1:8501", "CONSUL_HTTP_SSL": "true", "CONSUL_HTTP_TOKEN_FILE": "/t", "CONSUL_CACERT": "/ca.pem"]
        let resolved = options.resolved(env)
        #expect(resolved.url == "https://10.0.0.1:8501")
        #expect(resolved.tokenFile == "/t" && resolved.caFile == "/ca.pem")
        #expect(options.resolved(["CONSUL_HTTP_ADDR": "127.0.0.1:8500", "CONSUL_CACERT": "/ca.pem"]).url == "http://127.0.0.1:8500")
        #expect(options.resolved(["CONSUL_HTTP_ADDR": "127.0.0.1:8500", "CONSUL_CACERT": "/ca.pem"]).caFile == nil, "a CA only for https")
        #expect(options.resolved(["CONSUL_CACERT": "/ca.pem"]).caFile == nil, "nothing without an address")
        let config = try options.configuration(environment: ["CONSUL_HTTP_ADDR": "127.0.0.1:8500", "CONSUL_HTTP_TOKEN": "secret"])
        #expect(config?.url.absoluteString == "http://127.0.0.1:8500" && config?.token == "secret")
    }

    @Test func flagsWinOverTheEnvironment() throws {
        var options = try Serve.parse(["--consul", "http://a:1"]).inputs.consul
        options.tokenFile = "/mine"
        let resolved = options.resolved(["CONSUL_HTTP_ADDR": "b:2", "CONSUL_HTTP_TOKEN_FILE": "/theirs"])
        #expect(resolved.url == "http://a:1" && resolved.tokenFile == "/mine")
    }
}

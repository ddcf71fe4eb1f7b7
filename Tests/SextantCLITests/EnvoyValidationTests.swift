import EnvoyAPI
import Foundation
import Templates
import Testing
@testable import SextantCLI

/// `validate --envoy`: the static bootstrap that stands in for ADS, and real Envoy's verdict on it.
@Suite struct EnvoyValidationTests {
    static let envoy = TestPaths.path(".venv/bin/envoy")

    static func frontend() throws -> CompiledService {
        try RenderGoldenTests.shippedWorkspace().compile("frontend")
    }

    @Test func edsBecomesStaticRDSBecomesInlineAndAPIListenersGetAnAddress() throws {
        let compiled = try Self.frontend()
        let bootstrap = try EnvoyValidation.bootstrap(service: "frontend", compiled)
        #expect(bootstrap["node"]?["cluster"]?.stringValue == "frontend")
        let clusters = bootstrap["static_resources"]?["clusters"]?.arrayValue ?? []
        #expect(clusters.count == compiled.clusters.count)
        #expect(!clusters.contains { $0["type"]?.stringValue == "EDS" }, "no EDS left")
        let payments = try #require(clusters.first { $0["name"]?.stringValue == "payments" })
        #expect(payments["type"]?.stringValue == "STATIC")
        #expect(payments["load_assignment"]?["cluster_name"]?.stringValue == "payments")
        #expect(!(payments["load_assignment"]?["endpoints"]?.arrayValue.isEmpty ?? true), "endpoints inlined")

        let listeners = bootstrap["static_resources"]?["listeners"]?.arrayValue ?? []
        #expect(listeners.count == compiled.listeners.count)
        var ports = Set<String>()
        for listener in listeners {
            #expect(listener["api_listener"] == nil)
            let port = try #require(listener["address"]?["socket_address"]?["port_value"]?.compact())
            #expect(ports.insert(port).inserted, "two listeners on port \(port)")
            for chain in listener["filter_chains"]?.arrayValue ?? [] {
                for filter in chain["filters"]?.arrayValue ?? [] {
                    #expect(filter["typed_config"]?["rds"] == nil, "RDS left in \(listener["name"]?.stringValue ?? "?")")
                    #expect(filter["typed_config"]?["route_config"] != nil)
                }
            }
        }
        if compiled.clusters.contains(where: { $0.name == "frontend" }) {
            #expect(bootstrap["cluster_manager"]?["local_cluster_name"]?.stringValue == "frontend")
        }
    }

    @Test(.enabled(if: FileManager.default.isExecutableFile(atPath: EnvoyValidationTests.envoy)))
    func realEnvoyAcceptsTheShippedServices() throws {
        let workspace = RenderGoldenTests.shippedWorkspace()
        let services = try workspace.services.map { ($0, try workspace.compile($0), workspace.location(of: $0)) }
        #expect(EnvoyValidation(envoy: Self.envoy).validate(services) == [])
    }

    @Test(.enabled(if: FileManager.default.isExecutableFile(atPath: EnvoyValidationTests.envoy)))
    func realEnvoysRejectionReachesTheReport() throws {
        var compiled = try Self.frontend()
        // Consistent for Sextant, wrong for Envoy: ORIGINAL_DST only works with CLUSTER_PROVIDED.
        let index = try #require(compiled.clusters.firstIndex { $0.type == .originalDst })
        compiled.clusters[index].lbPolicy = .maglev
        #expect(compiled.consistencyProblems() == [])
        let problems = EnvoyValidation(envoy: Self.envoy).validate([("frontend", compiled, "services/frontend.yaml")])
        #expect(problems.count == 1)
        let text = problems.first?.description ?? ""
        #expect(text.hasPrefix("services/frontend.yaml: service 'frontend': envoy --mode validate rejected it: "), "\(text)")
        #expect(text.contains("CLUSTER_PROVIDED"), "\(text)")
        #expect(!text.contains("error initializing configuration"), "Envoy's prefix with our temporary path is dropped")
    }

    @Test func aMissingEnvoyIsOneProblem() throws {
        let problems = EnvoyValidation(envoy: "/nonexistent/envoy").validate([("frontend", try Self.frontend(), "x")])
        #expect(problems.map(\.description) == ["/nonexistent/envoy: --envoy: not an executable file"])
    }
}

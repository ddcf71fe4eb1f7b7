import ArgumentParser
import Foundation
import Catalog
import Templates
import Testing
@testable import SextantCLI

/// `validate` on deliberately broken templates (Tests/Fixtures/broken) lists every problem at its
/// position, not only the first one.
@Suite struct ValidateTests {
    static func brokenWorkspace() -> Workspace {
        let base = TestPaths.broken
        return Workspace.load(templates: base + "/services", defaults: base + "/defaults.yaml", catalog: base + "/catalog.yaml")
    }

    static func lines(_ report: Validate.Report) -> [String] {
        // Positions are checked relative to the fixture folder.
        report.problems.map {
            $0.description.replacingOccurrences(of: TestPaths.broken + "/", with: "")
                .replacingOccurrences(of: "Tests/Fixtures/broken/", with: "")
        }
    }

    /// (file:line:col prefix, words the message must contain)
    static let expected: [(String, [String])] = [
        ("services/bad-duration.yaml:4:14: ", ["dependencies[0].timeout", "duration", "'2 seconds'"]),
        ("services/bad-yaml.yaml:5:1: ", ["YAML"]),
        ("services/duplicate-route.yaml:5:5: ", ["duplicate dependency 'orders'"]),
        ("services/typo.yaml:4:5: ", ["timout", "did you mean 'timeout'"]),
        ("services/unknown-dependency.yaml:4:11: ", ["unknown dependency 'paymnets'", "did you mean 'payments'"]),
        ("services/wrong-type.yaml:3:9: ", ["inbound.port", "integer", "'eighty'"]),
    ]

    @Test func everyBrokenFileIsReportedAtItsPosition() {
        let report = Validate.check(Self.brokenWorkspace(), envoy: nil, bootstrapDir: nil)
        let lines = Self.lines(report)
        for (position, words) in Self.expected {
            let line = lines.first { $0.hasPrefix(position) }
            #expect(line != nil, "no problem reported at \(position); got:\n\(lines.joined(separator: "\n"))")
            for word in words {
                #expect(line?.contains(word) == true, "\(position) should mention \(word): \(line ?? "-")")
            }
        }
    }

    /// The Templates module's own broken fixtures (one kind of error per file; their exact messages
    /// are asserted in TemplatesTests): validate prints every error the loader and the cross-check
    /// find, each with a position, and blames every file.
    @Test func everyErrorOfTheTemplatesFixturesIsPrinted() throws {
        let base = TestPaths.path("Tests/TemplatesTests/Fixtures/broken")
        let files = try FileManager.default.contentsOfDirectory(atPath: base + "/services").filter { $0.hasSuffix(".yaml") }
        try #require(!files.isEmpty)
        let workspace = Workspace.load(templates: base + "/services", defaults: base + "/defaults.yaml", catalog: base + "/catalog.yaml")
        let printed = Validate.check(workspace, envoy: nil, bootstrapDir: nil).problems.map(\.description)

        let templates = TemplateLoader(defaultsFile: base + "/defaults.yaml", servicesDirectory: base + "/services").load()
        let catalog = try FileSource(path: base + "/catalog.yaml").load()
        let expected = (templates.errors + templates.crossCheck(catalog: catalog)).map { Problem($0).description }
        #expect(printed.sorted() == expected.sorted())
        for file in files {
            let lines = printed.filter { $0.contains("/services/\(file):") }
            #expect(!lines.isEmpty, "\(file) is not reported")
            for line in lines {
                let position = line.split(separator: ":").dropFirst().prefix(2).compactMap { Int($0) }
                #expect(position.count == 2 && position.allSatisfy { $0 > 0 }, "no line:col in \(line)")
            }
        }
    }

    @Test func theValidFileInTheSameFolderIsNotBlamed() {
        let lines = Self.lines(Validate.check(Self.brokenWorkspace(), envoy: nil, bootstrapDir: nil))
        #expect(!lines.contains { $0.contains("orders.yaml") }, "\(lines)")
    }

    @Test func exitCodeIsOneWithProblemsAndZeroWithout() async throws {
        let base = TestPaths.broken
        let broken = try Validate.parse([
            "--templates", base + "/services", "--defaults", base + "/defaults.yaml", "--catalog", base + "/catalog.yaml",
        ])
        #expect(await exitCode { try await broken.run() } == 1)

        let shipped = try Validate.parse([
            "--templates", TestPaths.path("Config/services"), "--defaults", TestPaths.path("Config/defaults.yaml"),
            "--catalog", TestPaths.path("Config/catalog.yaml"),
        ])
        #expect(await exitCode { try await shipped.run() } == 0)
    }

    @Test func aBrokenCatalogIsReportedWithoutBlamingEveryDependency() throws {
        let folder = try TestPaths.temporaryFolder("validate-catalog")
        defer { try? FileManager.default.removeItem(at: folder) }
        let catalog = folder.appendingPathComponent("catalog.yaml")
        try "services:\n  payments:\n    instances:\n      - {address: 127.0.0.1, port: 99999}\n".write(
            to: catalog, atomically: true, encoding: .utf8)
        let workspace = Workspace.load(
            templates: TestPaths.path("Config/services"), defaults: TestPaths.path("Config/defaults.yaml"), catalog: catalog.path)
        let lines = Validate.check(workspace, envoy: nil, bootstrapDir: nil).problems.map(\.description)
        #expect(lines.contains { $0.hasPrefix(catalog.path + ":4:") && $0.contains("port") }, "\(lines)")
        #expect(!lines.contains { $0.contains("unknown dependency") }, "\(lines)")
    }

    @Test func consistencyProblemsNameTheServiceAndItsFile() throws {
        // A workspace whose template compiles to a route naming a missing cluster cannot come from
        // the loader; the reporting path is checked on the rendered problem format instead.
        let problem = Problem(location: "services/x.yaml", message: "service 'x': route to missing cluster 'y'")
        #expect(problem.description == "services/x.yaml: service 'x': route to missing cluster 'y'")
    }
}

/// The exit code a command's `run()` ends with: 0 when it returns, the `ExitCode` it throws, or nil
/// for any other error.
func exitCode(_ body: () async throws -> Void) async -> Int32? {
    do {
        try await body()
        return 0
    } catch let code as ExitCode {
        return code.rawValue
    } catch {
        return nil
    }
}

@Suite struct CatalogInputTests {
    @Test func aConsulAddressThatIsNotAURLIsAUsageError() {
        #expect {
            _ = try Validate.parse(["--consul", "consul.local:8500"])
        } throws: { error in
            Validate.message(for: error).contains("http://")
        }
    }

    @Test func consulOptionsBecomeTheSourceConfiguration() throws {
        let command = try Validate.parse([
            "--consul", "https://consul.internal:8501", "--consul-datacenter", "eu1", "--consul-stale",
            "--consul-max-staleness", "2.5", "--consul-tag", "prod", "--consul-tag", "v2", "--consul-health",
            "warning=healthy", "--consul-zone-key", "az", "--consul-tagged-address", "lan_ipv4", "--consul-wait", "30",
            "--consul-retry-max", "2.5",
        ])
        let configuration = try #require(try command.inputs.consul.configuration())
        #expect(configuration.url.absoluteString == "https://consul.internal:8501")
        #expect(configuration.datacenter == "eu1")
        #expect(configuration.stale && configuration.maxStaleness == .milliseconds(2_500))
        #expect(configuration.tags == ["prod", "v2"])
        #expect(configuration.health == HealthMapping(warning: .healthy))
        #expect(configuration.zoneMetaKeys == ["az"] && configuration.taggedAddress == "lan_ipv4")
        #expect(configuration.wait == .seconds(30))
        #expect(configuration.backoffMax == .milliseconds(2_500))
        #expect(try Validate.parse([]).inputs.consul.configuration() == nil, "no --consul: the catalog file")
    }

    @Test func consulOnlyOptionsNeedConsul() {
        #expect(throws: (any Error).self) { _ = try Validate.parse(["--consul-stale"]) }
        #expect(throws: (any Error).self) {
            _ = try Validate.parse(["--consul", "http://127.0.0.1:8500", "--consul-max-staleness", "2"])
        }
        #expect {
            _ = try Validate.parse(["--consul", "http://127.0.0.1:8500", "--consul-retry-max", "0"])
        } throws: { error in
            Validate.message(for: error).contains("--consul-retry-max")
        }
    }

    @Test func anUnreachableConsulIsAProblemNotAHang() async {
        let clock = ContinuousClock()
        let started = clock.now
        let input = await CatalogInput.consul(ConsulConfiguration(url: URL(string: "http://127.0.0.1:1")!), timeout: .seconds(20))
        #expect(clock.now - started < .seconds(20))
        guard case .failure = input.result else {
            Issue.record("an unreachable Consul gave a catalog")
            return
        }
    }
}

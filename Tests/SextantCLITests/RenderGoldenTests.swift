import ControlPlane
import Foundation
import Testing
import Yams
@testable import SextantCLI

/// `render` of the example services in Config/ must match Tests/Fixtures/golden/<service>.json
/// byte for byte. `SEXTANT_UPDATE_GOLDEN=1 swift test --filter RenderGoldenTests` rewrites them.
@Suite struct RenderGoldenTests {
    static let update = ProcessInfo.processInfo.environment["SEXTANT_UPDATE_GOLDEN"] == "1"

    static func shippedWorkspace() -> Workspace {
        Workspace.load(
            templates: TestPaths.path("Config/services"), defaults: TestPaths.path("Config/defaults.yaml"),
            catalog: TestPaths.path("Config/catalog.yaml"))
    }

    @Test func shippedConfigHasNoProblems() {
        let workspace = Self.shippedWorkspace()
        #expect(workspace.problems == [])
        #expect(workspace.services.count >= 3)
    }

    @Test func everyServiceMatchesItsGoldenFile() throws {
        let workspace = Self.shippedWorkspace()
        let rendered = try Render.render(workspace, services: workspace.services)
        let folder = URL(fileURLWithPath: TestPaths.golden)
        if Self.update {
            try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
            for file in (try? FileManager.default.contentsOfDirectory(atPath: folder.path)) ?? [] where file.hasSuffix(".json") {
                try FileManager.default.removeItem(at: folder.appendingPathComponent(file))
            }
        }
        for (service, dump) in rendered {
            let file = folder.appendingPathComponent("\(service).json")
            let text = dump.printed()
            if Self.update {
                try Data(text.utf8).write(to: file)
                continue
            }
            let golden = try String(contentsOf: file, encoding: .utf8)
            let same = text == golden
            #expect(
                same,
                "render \(service) differs from \(file.lastPathComponent) (\(Self.firstDifference(golden, text))); if intended, rerun with SEXTANT_UPDATE_GOLDEN=1 and review the diff")
        }
        let files = try FileManager.default.contentsOfDirectory(atPath: folder.path).filter { $0.hasSuffix(".json") }.sorted()
        #expect(files == rendered.map { "\($0.0).json" }.sorted(), "stale or missing golden files")
    }

    /// "line N: golden `…`, rendered `…`": enough to find the change without printing both files.
    static func firstDifference(_ golden: String, _ rendered: String) -> String {
        let a = golden.split(separator: "\n", omittingEmptySubsequences: false)
        let b = rendered.split(separator: "\n", omittingEmptySubsequences: false)
        for index in 0..<max(a.count, b.count) {
            let x = index < a.count ? String(a[index]) : "<end>"
            let y = index < b.count ? String(b[index]) : "<end>"
            if x != y { return "line \(index + 1): golden `\(x.trimmingCharacters(in: .whitespaces))`, rendered `\(y.trimmingCharacters(in: .whitespaces))`" }
        }
        return "same lines"
    }

    @Test func renderingTwiceGivesTheSameBytes() throws {
        let first = try Render.render(Self.shippedWorkspace(), services: Self.shippedWorkspace().services)
        let second = try Render.render(Self.shippedWorkspace(), services: Self.shippedWorkspace().services)
        #expect(first.map { $0.1.printed() } == second.map { $0.1.printed() })
    }

    /// The versions in the dump are the versions `serve` publishes (SnapshotBuilder's hashes).
    @Test func versionsAreTheOnesServeSends() throws {
        let workspace = Self.shippedWorkspace()
        var builder = SnapshotBuilder()
        for service in workspace.services {
            let compiled = try workspace.compile(service)
            let snapshot = try builder.build(service: service, compiled)
            let dump = try ConfigDump.render(compiled)
            var versions: [String: String] = [:]
            for config in dump["configs"]!.arrayValue {
                for (list, kind, path) in [
                    ("dynamic_active_clusters", "cds", ["cluster", "name"]),
                    ("dynamic_endpoint_configs", "eds", ["endpoint_config", "cluster_name"]),
                    ("dynamic_route_configs", "rds", ["route_config", "name"]),
                ] {
                    for entry in config[list]?.arrayValue ?? [] {
                        versions["\(kind)/\(entry[path[0]]![path[1]]!.stringValue!)"] = entry["version_info"]!.stringValue!
                    }
                }
                for entry in config["dynamic_listeners"]?.arrayValue ?? [] {
                    versions["lds/\(entry["name"]!.stringValue!)"] = entry["active_state"]!["version_info"]!.stringValue!
                }
            }
            var expected: [String: String] = [:]
            for (type, byName) in snapshot.resources {
                for (name, resource) in byName { expected["\(type)/\(name)"] = resource.version }
            }
            #expect(versions == expected, "\(service)")
        }
    }

    @Test func dumpHasEnvoysConfigDumpShape() throws {
        let workspace = Self.shippedWorkspace()
        let dump = try ConfigDump.render(try workspace.compile("frontend"))
        let types = dump["configs"]!.arrayValue.compactMap { $0["@type"]?.stringValue }
        #expect(types == [ConfigDump.clustersDump, ConfigDump.endpointsDump, ConfigDump.listenersDump, ConfigDump.routesDump])
        let clusters = dump["configs"]!.arrayValue[0]["dynamic_active_clusters"]!.arrayValue
        let payments = try #require(clusters.first { $0["cluster"]?["name"]?.stringValue == "payments" })
        #expect(payments["cluster"]?["@type"]?.stringValue == "type.googleapis.com/envoy.config.cluster.v3.Cluster")
        #expect(payments["cluster"]?["type"]?.stringValue == "EDS")
        #expect(payments["cluster"]?["connect_timeout"] != nil, "snake_case field names, as Envoy prints them")
    }

    @Test func yamlFormatMeansTheSameAsJSON() throws {
        let workspace = Self.shippedWorkspace()
        let dump = try ConfigDump.render(try workspace.compile("frontend"))
        let yaml = try dump.yaml()
        let loaded = try #require(try Yams.load(yaml: yaml))
        let data = try JSONSerialization.data(withJSONObject: loaded, options: [.sortedKeys])
        let viaYAML = try JSONValue.parse(String(decoding: data, as: UTF8.self))
        #expect(Self.normalized(viaYAML) == Self.normalized(dump), "YAML and JSON renders differ")
        #expect(try dump.yaml() == yaml, "deterministic")
    }

    /// Numbers compared by value (JSONSerialization may print 1 as 1.0 or the reverse).
    static func normalized(_ value: JSONValue) -> JSONValue {
        switch value {
        case .number(let text): return .number(String(Double(text) ?? .nan))
        case .array(let items): return .array(items.map(normalized))
        case .object(let fields): return .object(fields.mapValues(normalized))
        default: return value
        }
    }

    @Test func outWritesOneFilePerService() async throws {
        let folder = try TestPaths.temporaryFolder("render-out")
        defer { try? FileManager.default.removeItem(at: folder) }
        let render = try Render.parse([
            "--templates", TestPaths.path("Config/services"), "--defaults", TestPaths.path("Config/defaults.yaml"),
            "--catalog", TestPaths.path("Config/catalog.yaml"), "--out", folder.path,
        ])
        try await render.run()
        let files = try FileManager.default.contentsOfDirectory(atPath: folder.path).sorted()
        #expect(files == Self.shippedWorkspace().services.map { "\($0).json" })
        let frontend = try String(contentsOf: folder.appendingPathComponent("frontend.json"), encoding: .utf8)
        #expect(frontend == (try ConfigDump.render(try Self.shippedWorkspace().compile("frontend"))).printed())
    }

    @Test func unknownServiceAndMissingArgumentsAreRefused() async throws {
        #expect(throws: (any Error).self) { try Render.parse([]) }
        #expect(throws: (any Error).self) { try Render.parse(["frontend", "--format", "xml"]) }
        let render = try Render.parse([
            "no-such-service", "--templates", TestPaths.path("Config/services"),
            "--defaults", TestPaths.path("Config/defaults.yaml"), "--catalog", TestPaths.path("Config/catalog.yaml"),
        ])
        await #expect(throws: (any Error).self) { try await render.run() }
    }
}

import ArgumentParser
import Foundation
import Testing
@testable import SextantCLI

@Suite struct DiffTests {
    static let configArguments = [
        "--defaults", TestPaths.path("Config/defaults.yaml"), "--catalog", TestPaths.path("Config/catalog.yaml"),
    ]

    static let defaults = TestPaths.path("Config/defaults.yaml")
    static var catalog: CatalogInput { .file(TestPaths.path("Config/catalog.yaml")) }

    /// A copy of Config/services in a temporary folder, to edit.
    static func templatesCopy(_ label: String) throws -> URL {
        let folder = try TestPaths.temporaryFolder(label)
        let source = TestPaths.path("Config/services")
        for name in try FileManager.default.contentsOfDirectory(atPath: source) where name.hasSuffix(".yaml") {
            try FileManager.default.copyItem(
                atPath: source + "/" + name, toPath: folder.appendingPathComponent(name).path)
        }
        return folder
    }

    @Test func identicalTemplateFoldersExitZero() async throws {
        let copy = try Self.templatesCopy("diff-same")
        defer { try? FileManager.default.removeItem(at: copy) }
        let diff = try Diff.parse([TestPaths.path("Config/services"), copy.path] + Self.configArguments)
        #expect(await exitCode { try await diff.run() } == 0)
    }

    @Test func aChangedTimeoutIsOneFieldOfOneRoute() async throws {
        let copy = try Self.templatesCopy("diff-timeout")
        defer { try? FileManager.default.removeItem(at: copy) }
        let file = copy.appendingPathComponent("frontend.yaml")
        let text = try String(contentsOf: file, encoding: .utf8)
        try text.replacingOccurrences(of: "timeout: 5s", with: "timeout: 7s").write(to: file, atomically: true, encoding: .utf8)

        let before = try Diff.snapshot(at: TestPaths.path("Config/services"), defaults: Self.defaults, catalog: Self.catalog)
        let after = try Diff.snapshot(at: copy.path, defaults: Self.defaults, catalog: Self.catalog)
        let changes = SnapshotDiff.changes(old: before, new: after)
        let routes = changes.compactMap { change -> (String, [String])? in
            if case .changed("frontend", "route", let name, let fields) = change { return (name, fields) }
            return nil
        }
        #expect(!routes.isEmpty, "\(changes)")
        for (_, fields) in routes {
            #expect(fields.contains { $0.hasPrefix("~ ") && $0.contains("timeout") && $0.contains("\"5s\" -> \"7s\"") }, "\(fields)")
        }
        #expect(changes.allSatisfy { Diff.service(of: $0) == "frontend" }, "only frontend changes: \(changes)")

        let diff = try Diff.parse([TestPaths.path("Config/services"), copy.path] + Self.configArguments)
        #expect(await exitCode { try await diff.run() } == 1)
    }

    @Test func renderedSnapshotFoldersCompareLikeTemplates() async throws {
        let old = try TestPaths.temporaryFolder("diff-old")
        let new = try TestPaths.temporaryFolder("diff-new")
        let copy = try Self.templatesCopy("diff-copy")
        defer { for url in [old, new, copy] { try? FileManager.default.removeItem(at: url) } }
        // NEW drops the catalog dependency of frontend and adds a service.
        let file = copy.appendingPathComponent("frontend.yaml")
        let text = try String(contentsOf: file, encoding: .utf8)
        try text.replacingOccurrences(of: "  - name: catalog\n    timeout: 5s\n", with: "").write(
            to: file, atomically: true, encoding: .utf8)
        try "service: extra\ninbound:\n  port: 18099\n".write(
            to: copy.appendingPathComponent("extra.yaml"), atomically: true, encoding: .utf8)

        let renderOld = try Render.parse(["--templates", TestPaths.path("Config/services"), "--out", old.path] + Self.configArguments)
        try await renderOld.run()
        let renderNew = try Render.parse(["--templates", copy.path, "--out", new.path] + Self.configArguments)
        try await renderNew.run()

                let changes = SnapshotDiff.changes(old: try Diff.snapshot(at: old.path, defaults: Self.defaults, catalog: Self.catalog), new: try Diff.snapshot(at: new.path, defaults: Self.defaults, catalog: Self.catalog))
        #expect(changes.contains(.serviceAdded("extra", resources: 4)) || changes.contains { if case .serviceAdded("extra", _) = $0 { true } else { false } })
        #expect(changes.contains(.removed(service: "frontend", kind: "cluster", name: "catalog")), "\(changes)")
        #expect(changes.contains(.removed(service: "frontend", kind: "endpoint", name: "catalog")), "\(changes)")
        #expect(changes.contains(.removed(service: "frontend", kind: "listener", name: "catalog")), "\(changes)")
        // The outbound routes lose the catalog virtual host, matched by name.
        let outbound = changes.first { if case .changed("frontend", "route", "outbound", _) = $0 { true } else { false } }
        if case .changed(_, _, _, let fields)? = outbound {
            #expect(fields.contains { $0.hasPrefix("- virtual_hosts[name=catalog]:") }, "\(fields)")
        } else {
            Issue.record("no change to frontend's outbound routes: \(changes)")
        }
        let report = SnapshotDiff.describe(changes)
        #expect(report.contains("+ service extra"))
        #expect(report.contains("- frontend cluster catalog"))

        // The same comparison between the rendered folder and the templates folder is empty.
        let mixed = SnapshotDiff.changes(old: try Diff.snapshot(at: new.path, defaults: Self.defaults, catalog: Self.catalog), new: try Diff.snapshot(at: copy.path, defaults: Self.defaults, catalog: Self.catalog))
        #expect(mixed == [])
    }

    @Test func troubleExitsTwo() async throws {
        let broken = TestPaths.broken + "/services"
        let diff = try Diff.parse([TestPaths.path("Config/services"), broken] + Self.configArguments)
        #expect(await exitCode { try await diff.run() } == 2)
        let missing = try Diff.parse([TestPaths.path("Config/services"), "/nonexistent/folder"] + Self.configArguments)
        #expect(await exitCode { try await missing.run() } == 2)
    }

    @Test func fieldDiffIsCompactAndMatchesNamedListsByName() async throws {
        let old = try JSONValue.parse(#"{"a":1,"list":[{"name":"x","v":1},{"name":"y","v":2}],"gone":true,"arr":[1,2]}"#)
        let new = try JSONValue.parse(#"{"a":2,"list":[{"name":"y","v":3},{"name":"z"}],"added":"s","arr":[1]}"#)
        var lines: [String] = []
        SnapshotDiff.fieldChanges(path: "", old, new, into: &lines)
        #expect(lines == [
            "~ a: 1 -> 2",
            "+ added: \"s\"",
            "- arr[1]: 2",
            "- gone: true",
            "- list[name=x]: {\"name\":\"x\",\"v\":1}",
            "~ list[name=y].v: 2 -> 3",
            "+ list[name=z]: {\"name\":\"z\"}",
        ])
    }
}

@Suite struct DiffYAMLSnapshotTests {
    @Test func yamlSnapshotsCompareWithJSONSnapshots() async throws {
        let json = try TestPaths.temporaryFolder("diff-json")
        let yaml = try TestPaths.temporaryFolder("diff-yaml")
        defer { for url in [json, yaml] { try? FileManager.default.removeItem(at: url) } }
        let common = [
            "--templates", TestPaths.path("Config/services"), "--defaults", TestPaths.path("Config/defaults.yaml"),
            "--catalog", TestPaths.path("Config/catalog.yaml"),
        ]
        try await Render.parse(common + ["--out", json.path]).run()
        try await Render.parse(common + ["--out", yaml.path, "--format", "yaml"]).run()
        let fromJSON = try Diff.snapshot(at: json.path, defaults: DiffTests.defaults, catalog: nil)
        let fromYAML = try Diff.snapshot(at: yaml.path, defaults: DiffTests.defaults, catalog: nil)
        #expect(fromJSON.keys.sorted() == fromYAML.keys.sorted())
        #expect(SnapshotDiff.changes(old: fromJSON, new: fromYAML) == [])
        // A catalog is not needed to compare two rendered folders.
        #expect(try await Diff.catalogIfNeeded([json.path, yaml.path], InputOptions.parse(["--catalog", "/nonexistent"])) == nil)
    }
}

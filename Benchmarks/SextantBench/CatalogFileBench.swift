import Catalog
import ControlPlane
import Foundation
import Templates
import XDS

/// Scenario C: a catalog-file change on the path `serve --catalog FILE` takes. The fleet's
/// catalog is written as YAML; each change flips one instance's health, rewrites the file, then
/// reads and parses it (`FileSource.load`, what a poll does on a change) and applies it.
struct CatalogFileBench {
    let fleet: Fleet
    let changes: Int

    func run(_ report: Report) throws {
        let directory = try Scratch.directory("catalog-file")
        defer { Scratch.remove(directory) }
        let path = directory.appendingPathComponent("catalog.yaml").path
        var catalog = fleet.catalog()
        try Self.yaml(catalog).write(toFile: path, atomically: true, encoding: .utf8)
        let source = FileSource(path: path)
        let endpoints = catalog.services.values.reduce(0) { $0 + $1.instances.count }
        let size = (try? FileManager.default.attributesOfItem(atPath: path)[.size] as? Int) ?? 0

        let templates = try fleet.loadTemplates(from: try writeTemplates(directory))
        let state = try Scratch.directory("catalog-file-state")
        defer { Scratch.remove(state) }
        let controlPlane = ControlPlane(
            store: SnapshotStore(), compiler: TemplateCompiler(templates: templates), policy: SafeguardPolicy(),
            lastKnownGood: LastKnownGood(directory: state.path), logger: Logs.logger("bench.catalog-file"))
        controlPlane.apply(try source.load())

        var parses: [Duration] = []
        var totals: [Duration] = []
        for change in 0..<changes {
            let name = fleet.name((change * 97 + 13) % fleet.services)
            let i = change % fleet.instances
            catalog.services[name]!.instances[i].health =
                catalog.services[name]!.instances[i].health == .healthy ? .unhealthy : .healthy
            try Self.yaml(catalog).write(toFile: path, atomically: true, encoding: .utf8)
            let start = ContinuousClock.now
            let parsed = try source.load()
            let parsedAt = ContinuousClock.now
            let changed = controlPlane.apply(parsed)
            totals.append(.now - start)
            parses.append(parsedAt - start)
            guard parsed == catalog, !changed.isEmpty else { throw BenchFailure("catalog file change \(change) was not applied") }
        }
        controlPlane.flushLastKnownGood()
        let what = "\(Format.count(fleet.services)) svc, \(Format.count(endpoints)) endpoints, \(Format.megabytes(size / 1024)) YAML"
        report.add(Row("catalog file: read + parse", parses, note: "FileSource.load, \(what)"))
        report.add(Row("catalog file: one endpoint changed, parse + apply", totals, note: "FileSource.load + ControlPlane.apply, LKG saved"))
    }

    private func writeTemplates(_ directory: URL) throws -> URL {
        let templates = directory.appendingPathComponent("templates")
        try FileManager.default.createDirectory(at: templates, withIntermediateDirectories: true)
        try fleet.writeTemplates(in: templates)
        return templates
    }

    /// The catalog in `Config/catalog.yaml`'s format.
    static func yaml(_ catalog: Catalog) -> String {
        var text = "services:\n"
        for name in catalog.services.keys.sorted() {
            text += "  \(name):\n    instances:\n"
            for instance in catalog.services[name]!.instances {
                text += "      - id: \(instance.id)\n        address: \(instance.address)\n        port: \(instance.port)\n"
                if let zone = instance.zone { text += "        zone: \(zone)\n" }
                if let region = instance.region { text += "        region: \(region)\n" }
                text += "        health: \(instance.health.rawValue)\n        weight: \(instance.weight)\n"
            }
        }
        return text
    }
}

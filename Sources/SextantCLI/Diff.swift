import ArgumentParser
import Foundation

/// `sextant diff OLD NEW`: resource-level changes between two snapshots, for code review.
struct Diff: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Show resource-level changes between two rendered snapshots or two template folders.",
        discussion: """
            OLD and NEW are each one of:
              - a rendered snapshot folder (<service>.json or .yaml files, from `sextant render --out`);
              - a config folder (services/ and optionally defaults.yaml inside);
              - a folder of service templates (<service>.yaml files).
            Template and config folders are rendered against the same --catalog (and --defaults, \
            unless the config folder has its own defaults.yaml), so only template changes show.
            Exit status: 0 identical, 1 different, 2 trouble (like diff).
            """)

    @OptionGroup var inputs: InputOptions

    @Argument(help: "The old snapshot, config or templates folder.")
    var old: String

    @Argument(help: "The new snapshot, config or templates folder.")
    var new: String

    @Flag(help: "Only list changed resources, without field-level differences.")
    var brief = false

    func run() async throws {
        let changes: [SnapshotDiff.Change]
        do {
            // Read once: both sides compile against the same catalog.
            let catalog = try await Self.catalogIfNeeded([old, new], inputs)
            let before = try Self.snapshot(at: old, defaults: inputs.defaults, catalog: catalog)
            let after = try Self.snapshot(at: new, defaults: inputs.defaults, catalog: catalog)
            changes = SnapshotDiff.changes(old: before, new: after)
        } catch {
            Output.err(error.message + "\n")
            throw ExitCode(2)
        }
        if changes.isEmpty {
            Output.out("sextant diff: no changes\n")
            return
        }
        let shown = brief ? changes.map(Self.withoutFields) : changes
        Output.out(SnapshotDiff.describe(shown))
        let services = Set(changes.map(Self.service)).count
        Output.out("sextant diff: \(changes.count) change(s) in \(services) service(s)\n")
        throw ExitCode(1)
    }

    static func service(of change: SnapshotDiff.Change) -> String {
        switch change {
        case .serviceAdded(let name, _), .serviceRemoved(let name, _): name
        case .added(let service, _, _), .removed(let service, _, _), .changed(let service, _, _, _): service
        }
    }

    static func withoutFields(_ change: SnapshotDiff.Change) -> SnapshotDiff.Change {
        if case .changed(let service, let kind, let name, _) = change { return .changed(service: service, kind: kind, name: name, fields: []) }
        return change
    }

    /// The catalog, read only when a side is a template or config folder (a rendered snapshot
    /// needs none, so diffing two snapshots works without a catalog at hand).
    static func catalogIfNeeded(_ paths: [String], _ inputs: InputOptions) async throws(CommandFailure) -> CatalogInput? {
        let needed = paths.contains { path in
            let names = (try? FileManager.default.contentsOfDirectory(atPath: path)) ?? []
            return names.contains { name in
                guard name != "services" else { return true }
                guard name.hasSuffix(".yaml") || name.hasSuffix(".yml") else { return false }
                let data = FileManager.default.contents(atPath: URL(fileURLWithPath: path).appendingPathComponent(name).path)
                return !(data.map { String(decoding: $0.prefix(8), as: UTF8.self) == "configs:" } ?? false)
            }
        }
        return needed ? await CatalogInput.load(inputs) : nil
    }

    /// Service → config dump for one side.
    static func snapshot(at path: String, defaults: String, catalog: CatalogInput?) throws(CommandFailure) -> [String: JSONValue] {
        let manager = FileManager.default
        var isDirectory: ObjCBool = false
        guard manager.fileExists(atPath: path, isDirectory: &isDirectory), isDirectory.boolValue else {
            throw CommandFailure(message: "sextant diff: \(path): not a folder", exitCode: 2)
        }
        let names = ((try? manager.contentsOfDirectory(atPath: path)) ?? []).filter { !$0.hasPrefix(".") }.sorted()
        let base = URL(fileURLWithPath: path)
        let fallbackDefaults = defaults
        let services = base.appendingPathComponent("services")
        var servicesIsDirectory: ObjCBool = false
        if manager.fileExists(atPath: services.path, isDirectory: &servicesIsDirectory), servicesIsDirectory.boolValue {
            let defaults = base.appendingPathComponent("defaults.yaml")
            return try rendered(
                templates: services.path, defaults: manager.fileExists(atPath: defaults.path) ? defaults.path : fallbackDefaults,
                catalog: catalog)
        }
        var texts: [(name: String, file: String, text: String)] = []
        for name in names where [".json", ".yaml", ".yml"].contains(where: { name.hasSuffix($0) }) {
            let file = base.appendingPathComponent(name).path
            guard let data = manager.contents(atPath: file) else {
                throw CommandFailure(message: "sextant diff: cannot read \(file)", exitCode: 2)
            }
            texts.append((name, file, String(decoding: data, as: UTF8.self)))
        }
        // A rendered snapshot in YAML (`render --out --format yaml`) starts with its `configs:` list.
        let isTemplates = texts.contains { !$0.name.hasSuffix(".json") && !$0.text.hasPrefix("configs:") }
        if isTemplates {
            if texts.contains(where: { $0.name.hasSuffix(".json") }) {
                throw CommandFailure(message: "sextant diff: \(path) holds both templates and rendered .json files", exitCode: 2)
            }
            return try rendered(templates: path, defaults: defaults, catalog: catalog)
        }
        var snapshot: [String: JSONValue] = [:]
        for entry in texts {
            let service = URL(fileURLWithPath: entry.name).deletingPathExtension().lastPathComponent
            do {
                let dump = entry.name.hasSuffix(".json") ? try JSONValue.parse(entry.text) : try JSONValue.fromYAML(entry.text)
                if snapshot.updateValue(dump, forKey: service) != nil {
                    throw CommandFailure(message: "sextant diff: \(path): service '\(service)' is rendered twice", exitCode: 2)
                }
            } catch let failure as CommandFailure {
                throw failure
            } catch {
                throw CommandFailure(message: "sextant diff: \(entry.file): \(error)", exitCode: 2)
            }
        }
        return snapshot
    }

    static func rendered(templates: String, defaults: String, catalog: CatalogInput?) throws(CommandFailure) -> [String: JSONValue] {
        let workspace = Workspace.load(templates: templates, defaults: defaults, catalog: catalog ?? .file("Config/catalog.yaml"))
        guard workspace.problems.isEmpty else {
            throw CommandFailure(
                message: workspace.problems.map(\.description).joined(separator: "\n")
                    + "\nsextant diff: \(templates) has problems (see `sextant validate`)", exitCode: 2)
        }
        do {
            return Dictionary(uniqueKeysWithValues: try Render.render(workspace, services: workspace.services))
        } catch {
            throw CommandFailure(message: error.message, exitCode: 2)
        }
    }
}

import Catalog
import Foundation
import Logging
import Templates

/// The benchmark fleet: `services` services named `svc-0`…, each calling the next
/// `dependencies` services (wrapping around), each with `instances` instances in three zones.
///
/// So a change to service K recompiles K and its callers K-1…K-dependencies, and changes the
/// snapshots of those callers (plus K's own when K has a zone-aware dependency, which puts its
/// own instances in its snapshot).
struct Fleet {
    let services: Int
    let dependencies: Int
    let instances: Int

    static let zones = 3

    func name(_ index: Int) -> String { "svc-\(((index % services) + services) % services)" }

    func index(of name: String) -> Int { Int(name.dropFirst(4))! }

    /// Every tenth service's first dependency is zone-aware; protocols rotate.
    func zoneAware(_ index: Int) -> Bool { index % 10 == 0 }

    func callees(of index: Int) -> [String] { (1...dependencies).map { name(index + $0) } }

    /// The services whose snapshot contains service `index`'s endpoints.
    func snapshotsShowing(_ index: Int) -> Set<String> {
        var names = Set((1...dependencies).map { name(index - $0) })
        if zoneAware(index) { names.insert(name(index)) }
        return names
    }

    /// The caller whose snapshot a latency measurement watches for service `index`'s EDS.
    func watcher(of index: Int) -> String { name(index - 1) }

    // MARK: templates

    /// Writes `defaults.yaml` and `services/svc-N.yaml` under `directory`.
    func writeTemplates(in directory: URL) throws {
        let servicesDirectory = directory.appendingPathComponent("services")
        try FileManager.default.createDirectory(at: servicesDirectory, withIntermediateDirectories: true)
        try Data("# benchmark defaults: the built-in values\nprotocol: http1\n".utf8)
            .write(to: directory.appendingPathComponent("defaults.yaml"))
        for index in 0..<services {
            try Data(template(index).utf8).write(to: servicesDirectory.appendingPathComponent("\(name(index)).yaml"))
        }
    }

    func template(_ index: Int) -> String {
        let protocols = ["http1", "http2", "grpc"]
        var yaml = """
            service: \(name(index))
            inbound:
              port: \(8000 + index % 1000)
              protocol: \(protocols[index % 3])
            dependencies:

            """
        for (position, callee) in callees(of: index).enumerated() {
            yaml += """
                  - name: \(callee)
                    protocol: \(protocols[(index + position) % 3])
                    timeout: \(1 + position)s

                """
            if position == 0 && zoneAware(index) {
                yaml += "    zone_aware:\n      enabled: true\n      min_cluster_size: 3\n"
            }
            if position == 1 {
                yaml += "    retries:\n      num_retries: 3\n    circuit_breakers:\n      max_requests: 2048\n"
            }
        }
        return yaml
    }

    func loadTemplates(from directory: URL) throws -> TemplateSet {
        let set = TemplateLoader(configDirectory: directory.path).load()
        guard set.errors.isEmpty else {
            throw BenchFailure("generated templates do not load: \(set.errors.prefix(3).map(\.description))")
        }
        guard set.templates.count == services else {
            throw BenchFailure("loaded \(set.templates.count) templates, expected \(services)")
        }
        return set
    }

    // MARK: catalog

    func catalog() -> Catalog {
        Catalog((0..<services).map { s in
            CatalogService(
                name: name(s),
                instances: (0..<instances).map { i in
                    Instance(
                        id: "\(name(s))-\(i)", address: "10.\(s / 250).\(s % 250).\(i + 1)", port: 20_000 + s,
                        zone: "zone-\(i % Self.zones)", region: "r1")
                })
        })
    }
}

enum Scratch {
    /// A fresh temporary directory, removed by `remove`.
    static func directory(_ label: String) throws -> URL {
        let url = FileManager.default.temporaryDirectory
            .appendingPathComponent("sextant-bench-\(label)-\(ProcessInfo.processInfo.processIdentifier)-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        return url
    }

    static func remove(_ url: URL) { try? FileManager.default.removeItem(at: url) }
}

enum Logs {
    /// Warnings and worse go to stderr; the per-apply info lines of the control plane do not.
    static func logger(_ label: String) -> Logger {
        var logger = Logger(label: label) { StreamLogHandler.standardError(label: $0) }
        logger.logLevel = .warning
        return logger
    }
}

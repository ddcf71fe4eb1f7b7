import EnvoyAPI
import Foundation
import SwiftProtobuf
import Templates

/// Has a real Envoy check each service's rendered resources (`envoy --mode validate`).
///
/// Envoy's validate mode does not fetch anything, so the dynamic resources become static ones:
/// - an EDS cluster becomes a STATIC cluster with its load assignment inlined (same endpoints,
///   localities, weights and health);
/// - an HCM that uses RDS gets the route configuration inline;
/// - an API listener (for proxyless gRPC; Envoy ignores those over LDS) becomes an ordinary
///   listener on 127.0.0.1 with the same HCM, so its routes are checked too.
/// Everything else (cluster policies, filters, typed extension options) goes through unchanged.
struct EnvoyValidation {
    var envoy: String
    /// Where to keep the bootstraps; nil: a temporary folder, removed afterwards.
    var keepIn: String?
    var timeout: Duration = .seconds(60)

    typealias HCM = Envoy_Extensions_Filters_Network_HttpConnectionManager_V3_HttpConnectionManager

    /// One problem per service Envoy rejects, at that service's template location.
    func validate(_ services: [(service: String, resources: CompiledService, location: String)]) -> [Problem] {
        guard FileManager.default.isExecutableFile(atPath: envoy) else {
            return [Problem(location: envoy, message: "--envoy: not an executable file")]
        }
        let folder: URL
        if let keepIn {
            folder = URL(fileURLWithPath: keepIn)
        } else {
            folder = FileManager.default.temporaryDirectory.appendingPathComponent("sextant-validate-\(UUID().uuidString)")
        }
        defer { if keepIn == nil { try? FileManager.default.removeItem(at: folder) } }
        do {
            try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        } catch {
            return [Problem(location: folder.path, message: "cannot create the bootstrap folder: \(error)")]
        }
        var problems: [Problem] = []
        for entry in services {
            let file = folder.appendingPathComponent("\(entry.service).bootstrap.json")
            do {
                let bootstrap = try Self.bootstrap(service: entry.service, entry.resources)
                try Data(bootstrap.printed().utf8).write(to: file, options: .atomic)
            } catch {
                problems.append(Problem(location: entry.location, message: "service '\(entry.service)': cannot build a bootstrap: \(error)"))
                continue
            }
            if let rejection = run(file.path) {
                problems.append(
                    Problem(location: entry.location, message: "service '\(entry.service)': envoy --mode validate rejected it: \(rejection)"))
            }
        }
        return problems
    }

    /// Runs Envoy on one bootstrap; nil when it accepts it, otherwise Envoy's reason.
    func run(_ bootstrap: String) -> String? {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: envoy)
        process.arguments = [
            "--mode", "validate", "-c", bootstrap, "--disable-hot-restart", "--concurrency", "1", "-l", "error",
            "--log-format", "%v",
        ]
        let output = FileManager.default.temporaryDirectory.appendingPathComponent("sextant-envoy-\(UUID().uuidString).log")
        guard FileManager.default.createFile(atPath: output.path, contents: nil),
            let handle = try? FileHandle(forWritingTo: output)
        else { return "cannot create a log file for envoy" }
        defer {
            try? handle.close()
            try? FileManager.default.removeItem(at: output)
        }
        process.standardOutput = handle
        process.standardError = handle
        process.standardInput = FileHandle.nullDevice
        do { try process.run() } catch { return "cannot start \(envoy): \(error)" }

        // Bounded wait: a wedged Envoy must not hang CI.
        let clock = ContinuousClock()
        let deadline = clock.now + timeout
        for _ in 0..<Int(timeout.components.seconds * 50 + 50) where process.isRunning && clock.now < deadline {
            Thread.sleep(forTimeInterval: 0.02)
        }
        if process.isRunning {
            process.terminate()
            process.waitUntilExit()
            return "envoy did not finish within \(timeout)"
        }
        if process.terminationStatus == 0 { return nil }
        let text = (try? String(contentsOf: output, encoding: .utf8)) ?? ""
        return Self.reason(in: text, status: process.terminationStatus)
    }

    /// The lines of Envoy's output that say why (without the banner and version noise).
    static func reason(in output: String, status: Int32) -> String {
        let lines = output.split(separator: "\n").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
        let useful = lines.filter { !$0.hasPrefix("initializing epoch") && !$0.hasPrefix("statically linked extensions") }
        let chosen = useful.filter { $0.localizedCaseInsensitiveContains("error") || $0.contains("exception") || $0.contains("rejected") }
        let picked = (chosen.isEmpty ? Array(useful.suffix(3)) : chosen).map(withoutPrefix).joined(separator: " | ")
        return picked.isEmpty ? "exit status \(status)" : picked
    }

    /// `error initializing configuration 'BOOTSTRAP.json': REASON` → `REASON` (the path is ours).
    static func withoutPrefix(_ line: String) -> String {
        let prefix = "error initializing configuration '"
        guard line.hasPrefix(prefix), let end = line.range(of: "': ") else { return line }
        return String(line[end.upperBound...])
    }

    // MARK: - The static bootstrap

    static func bootstrap(service: String, _ compiled: CompiledService) throws -> JSONValue {
        var bootstrap = Envoy_Config_Bootstrap_V3_Bootstrap()
        bootstrap.node.id = "sextant-validate-\(service)"
        bootstrap.node.cluster = service
        var resources = Envoy_Config_Bootstrap_V3_Bootstrap.StaticResources()
        resources.clusters = staticClusters(compiled)
        resources.listeners = try staticListeners(compiled)
        bootstrap.staticResources = resources
        let text = try bootstrap.jsonString(options: ConfigDump.jsonOptions)
        guard case .object(var fields) = try JSONValue.parse(text) else { return .null }
        // Zone-aware routing needs the local service's own cluster named in the bootstrap.
        if compiled.clusters.contains(where: { $0.name == service }) {
            fields["cluster_manager"] = .object(["local_cluster_name": .string(service)])
        }
        return .object(fields)
    }

    static func staticClusters(_ compiled: CompiledService) -> [Envoy_Config_Cluster_V3_Cluster] {
        let assignments = Dictionary(compiled.endpoints.map { ($0.clusterName, $0) }, uniquingKeysWith: { first, _ in first })
        return compiled.clusters.map { cluster in
            guard case .type(.eds) = cluster.clusterDiscoveryType else { return cluster }
            var copy = cluster
            let name = cluster.edsClusterConfig.serviceName.isEmpty ? cluster.name : cluster.edsClusterConfig.serviceName
            var assignment = assignments[name] ?? Envoy_Config_Endpoint_V3_ClusterLoadAssignment()
            assignment.clusterName = cluster.name
            copy.type = .static
            copy.clearEdsClusterConfig()
            copy.loadAssignment = assignment
            return copy
        }
    }

    static func staticListeners(_ compiled: CompiledService) throws -> [Envoy_Config_Listener_V3_Listener] {
        let routes = Dictionary(compiled.routes.map { ($0.name, $0) }, uniquingKeysWith: { first, _ in first })
        var usedPorts = Set(compiled.listeners.map { $0.address.socketAddress.portValue })
        var nextPort: UInt32 = 40_000
        func freePort() -> UInt32 {
            while usedPorts.contains(nextPort) { nextPort += 1 }
            usedPorts.insert(nextPort)
            return nextPort
        }
        func inlined(_ any: Google_Protobuf_Any) throws -> Google_Protobuf_Any {
            guard any.typeURL == TypeURL.httpConnectionManager else { return any }
            var manager = try HCM(serializedBytes: any.value)
            if case .rds(let rds) = manager.routeSpecifier, let config = routes[rds.routeConfigName] {
                manager.routeConfig = config
            }
            return try Google_Protobuf_Any(message: manager)
        }
        return try compiled.listeners.map { listener in
            var copy = listener
            if listener.hasApiListener {
                var filter = Envoy_Config_Listener_V3_Filter()
                filter.name = "envoy.filters.network.http_connection_manager"
                filter.typedConfig = try inlined(listener.apiListener.apiListener)
                var chain = Envoy_Config_Listener_V3_FilterChain()
                chain.filters = [filter]
                copy.clearApiListener()
                copy.filterChains = [chain]
                var socket = Envoy_Config_Core_V3_SocketAddress()
                socket.address = "127.0.0.1"
                socket.portValue = freePort()
                copy.address.socketAddress = socket
                return copy
            }
            for chain in copy.filterChains.indices {
                for index in copy.filterChains[chain].filters.indices {
                    let filter = copy.filterChains[chain].filters[index]
                    if case .typedConfig(let any) = filter.configType {
                        copy.filterChains[chain].filters[index].typedConfig = try inlined(any)
                    }
                }
            }
            return copy
        }
    }
}

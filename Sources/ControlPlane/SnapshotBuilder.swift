import EnvoyAPI
import SwiftProtobuf
import Templates
import XDS

/// Encodes compiled resources once and turns them into a consistent `Snapshot`.
///
/// Identical resources (same type, name and bytes) are shared across services and across
/// compiles: the EDS assignment of a service that fifty others call is one allocation.
public struct SnapshotBuilder: Sendable {
    public struct Inconsistency: Error, Equatable, CustomStringConvertible {
        public let service: String
        public let problems: [String]
        public var description: String { "\(service): " + problems.joined(separator: "; ") }
    }

    private var pool: [String: EncodedResource] = [:]

    public init() {}

    /// - Throws: `Inconsistency` when the compiled resources break invariant 1 (a route names a
    ///   missing cluster, an EDS cluster has no assignment, a listener names a missing route
    ///   configuration, a name is used twice); see `CompiledService.consistencyProblems()`.
    public mutating func build(service: String, _ resources: CompiledService) throws -> Snapshot {
        let problems = resources.consistencyProblems()
        guard problems.isEmpty else { throw Inconsistency(service: service, problems: problems) }
        var encoded: [EncodedResource] = []
        var endpointNames: [String: String] = [:]
        for cluster in resources.clusters {
            encoded.append(try encode(.cluster, cluster.name, cluster))
            if case .type(.eds) = cluster.clusterDiscoveryType {
                endpointNames[cluster.name] = Self.endpointName(of: cluster)
            }
        }
        for assignment in resources.endpoints { encoded.append(try encode(.endpoint, assignment.clusterName, assignment)) }
        for listener in resources.listeners { encoded.append(try encode(.listener, listener.name, listener)) }
        for route in resources.routes { encoded.append(try encode(.route, route.name, route)) }
        return try Snapshot(service: service, resources: encoded, endpointNames: endpointNames)
    }

    /// Drops pooled resources no snapshot uses any more (call after publishing a full compile).
    public mutating func retainOnly(_ snapshots: [Snapshot]) {
        var live: Set<String> = []
        for snapshot in snapshots {
            for (type, byName) in snapshot.resources {
                for resource in byName.values { live.insert(Self.key(type, resource.name, resource.version)) }
            }
        }
        pool = pool.filter { live.contains($0.key) }
    }

    private mutating func encode(_ type: ResourceType, _ name: String, _ message: some SwiftProtobuf.Message) throws -> EncodedResource {
        var options = BinaryEncodingOptions()
        options.useDeterministicOrdering = true
        let bytes: [UInt8] = try message.serializedBytes(options: options)
        let fresh = EncodedResource(type: type, name: name, value: bytes)
        let key = Self.key(type, name, fresh.version)
        if let shared = pool[key] { return shared }
        pool[key] = fresh
        return fresh
    }

    private static func key(_ type: ResourceType, _ name: String, _ version: String) -> String { "\(type)/\(name)/\(version)" }

    static func endpointName(of cluster: Envoy_Config_Cluster_V3_Cluster) -> String {
        cluster.edsClusterConfig.serviceName.isEmpty ? cluster.name : cluster.edsClusterConfig.serviceName
    }
}

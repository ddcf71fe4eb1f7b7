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

    private struct Key: Hashable {
        let type: ResourceType
        let name: String
        let version: String
    }

    private var pool: [Key: EncodedResource] = [:]
    /// The pool's size after the last sweep: the next one waits until it has doubled.
    private var sizeAfterSweep = 0

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
        // API listeners are for proxyless gRPC clients only: Envoy streams are served none.
        let proxyless = Set(resources.listeners.filter(\.hasApiListener).map(\.name))
        return try Snapshot(
            service: service, resources: encoded, endpointNames: endpointNames, proxylessListeners: proxyless)
    }

    /// Resources in the pool, live or not yet swept.
    public var pooledCount: Int { pool.count }

    /// Drops pooled resources no snapshot uses any more.
    public mutating func retainOnly(_ snapshots: [Snapshot]) {
        var live: Set<Key> = []
        for snapshot in snapshots {
            for (type, byName) in snapshot.resources {
                for resource in byName.values { live.insert(Key(type: type, name: resource.name, version: resource.version)) }
            }
        }
        pool = pool.filter { live.contains($0.key) }
        sizeAfterSweep = pool.count
    }

    /// `retainOnly(live())` once the pool has doubled since the last sweep (and holds over
    /// `minimumSweep` resources): a change that re-encodes a few resources costs no scan of every
    /// snapshot, and the pool stays within about twice what is live.
    public mutating func sweepIfGrown(minimumSweep: Int = 1_024, _ live: () -> [Snapshot]) {
        guard pool.count > max(2 * sizeAfterSweep, minimumSweep) else { return }
        retainOnly(live())
    }

    private mutating func encode(_ type: ResourceType, _ name: String, _ message: some SwiftProtobuf.Message) throws -> EncodedResource {
        var options = BinaryEncodingOptions()
        options.useDeterministicOrdering = true
        let bytes: [UInt8] = try message.serializedBytes(options: options)
        let fresh = EncodedResource(type: type, name: name, value: bytes)
        let key = Key(type: type, name: name, version: fresh.version)
        if let shared = pool[key] { return shared }
        pool[key] = fresh
        return fresh
    }

    static func endpointName(of cluster: Envoy_Config_Cluster_V3_Cluster) -> String {
        cluster.edsClusterConfig.serviceName.isEmpty ? cluster.name : cluster.edsClusterConfig.serviceName
    }
}

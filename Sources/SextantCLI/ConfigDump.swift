import EnvoyAPI
import SwiftProtobuf
import Templates
import XDS

/// A compiled service in the shape of Envoy's `/config_dump`: what that service's sidecars hold
/// once they have accepted everything Sextant sends them.
///
/// Each resource's `version_info` is the version Sextant sends with it (delta's per-resource
/// version: a content hash of its deterministic bytes). The `version_info` of the clusters and
/// listeners dumps is the state-of-the-world version of the full CDS and LDS sets.
enum ConfigDump {
    static let clustersDump = "type.googleapis.com/envoy.admin.v3.ClustersConfigDump"
    static let endpointsDump = "type.googleapis.com/envoy.admin.v3.EndpointsConfigDump"
    static let listenersDump = "type.googleapis.com/envoy.admin.v3.ListenersConfigDump"
    static let routesDump = "type.googleapis.com/envoy.admin.v3.RoutesConfigDump"

    struct Failure: Error, CustomStringConvertible {
        var description: String
    }

    /// Every message type the compiler packs into a `google.protobuf.Any`. JSON printing of an
    /// Any needs its type registered; an unregistered one fails `render` with its type URL.
    static let anyTypes: [any SwiftProtobuf.Message.Type] = [
        Envoy_Config_Cluster_V3_Cluster.self,
        Envoy_Config_Endpoint_V3_ClusterLoadAssignment.self,
        Envoy_Config_Listener_V3_Listener.self,
        Envoy_Config_Route_V3_RouteConfiguration.self,
        Envoy_Extensions_Filters_Network_HttpConnectionManager_V3_HttpConnectionManager.self,
        Envoy_Extensions_Filters_Http_Router_V3_Router.self,
        Envoy_Extensions_Filters_Network_TcpProxy_V3_TcpProxy.self,
        Envoy_Extensions_Filters_Http_AdaptiveConcurrency_V3_AdaptiveConcurrency.self,
        Envoy_Extensions_Upstreams_Http_V3_HttpProtocolOptions.self,
        Envoy_Extensions_Clusters_Aggregate_V3_ClusterConfig.self,
    ]

    /// Registers `anyTypes` once per process (SwiftProtobuf's registry is global and locked).
    private static let registration: Bool = {
        for type in anyTypes { Google_Protobuf_Any.register(messageType: type) }
        return true
    }()

    /// JSON in Envoy's config_dump spelling. Asking for them registers `anyTypes`, which every
    /// JSON encoding of a message holding an `Any` needs (not only `entry`'s).
    static var jsonOptions: JSONEncodingOptions {
        _ = registration
        var options = JSONEncodingOptions()
        options.preserveProtoFieldNames = true  // Envoy's config_dump spells fields in snake_case
        options.useDeterministicOrdering = true
        return options
    }

    /// The config dump of one compiled service.
    /// - Throws: `Failure` when the resources break invariant 1 (serve would not publish them)
    ///   or hold an Any of a type this build cannot print.
    static func render(_ compiled: CompiledService) throws -> JSONValue {
        let problems = compiled.consistencyProblems()
        guard problems.isEmpty else {
            throw Failure(description: "\(compiled.service): inconsistent resources: " + problems.joined(separator: "; "))
        }
        let clusters = try compiled.clusters.map { try entry(.cluster, $0.name, $0) }
        let endpoints = try compiled.endpoints.map { try entry(.endpoint, $0.clusterName, $0) }
        let listeners = try compiled.listeners.map { try entry(.listener, $0.name, $0) }
        let routes = try compiled.routes.map { try entry(.route, $0.name, $0) }

        return .object([
            "configs": .array([
                .object([
                    "@type": .string(clustersDump),
                    "version_info": .string(fullStateVersion(clusters)),
                    "dynamic_active_clusters": .array(
                        clusters.map { .object(["version_info": .string($0.version), "cluster": $0.json]) }),
                ]),
                .object([
                    "@type": .string(endpointsDump),
                    "dynamic_endpoint_configs": .array(
                        endpoints.map { .object(["version_info": .string($0.version), "endpoint_config": $0.json]) }),
                ]),
                .object([
                    "@type": .string(listenersDump),
                    "version_info": .string(fullStateVersion(listeners)),
                    "dynamic_listeners": .array(
                        listeners.map {
                            .object([
                                "name": .string($0.name),
                                "active_state": .object(["version_info": .string($0.version), "listener": $0.json]),
                            ])
                        }),
                ]),
                .object([
                    "@type": .string(routesDump),
                    "dynamic_route_configs": .array(
                        routes.map { .object(["version_info": .string($0.version), "route_config": $0.json]) }),
                ]),
            ])
        ])
    }

    struct Entry {
        var name: String
        var version: String
        var json: JSONValue
    }

    static func entry(_ type: ResourceType, _ name: String, _ message: some SwiftProtobuf.Message) throws -> Entry {
        _ = registration
        var binary = BinaryEncodingOptions()
        binary.useDeterministicOrdering = true
        let bytes: [UInt8] = try message.serializedBytes(options: binary)
        // The same bytes and hash SnapshotBuilder gives the resource, hence the version serve sends.
        let version = EncodedResource(type: type, name: name, value: bytes).version
        let text: String
        do {
            text = try message.jsonString(options: jsonOptions)
        } catch {
            throw Failure(description: "\(type) resource '\(name)' cannot be printed as JSON: \(error)")
        }
        guard case .object(var fields) = try JSONValue.parse(text) else {
            throw Failure(description: "\(type) resource '\(name)': JSON is not an object")
        }
        fields["@type"] = .string(type.typeURL)
        return Entry(name: name, version: version, json: .object(fields))
    }

    /// The `version_info` a state-of-the-world client gets with the full set (CDS, LDS).
    static func fullStateVersion(_ entries: [Entry]) -> String {
        ContentHash.hex(ofVersions: Dictionary(entries.map { ($0.name, $0.version) }, uniquingKeysWith: { first, _ in first }))
    }
}

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

        return document(
            clusters: clusters, endpoints: endpoints, listeners: listeners, routes: routes,
            clustersVersion: fullStateVersion(clusters), listenersVersion: fullStateVersion(listeners))
    }

    /// The four sections of a config dump, in Envoy's order and spelling. A nil version leaves
    /// the section's `version_info` out (a client that accepted nothing of that type yet).
    static func document(
        clusters: [Entry], endpoints: [Entry], listeners: [Entry], routes: [Entry], clustersVersion: String?,
        listenersVersion: String?
    ) -> JSONValue {
        func section(_ type: String, _ version: String?, _ key: String, _ items: [JSONValue]) -> JSONValue {
            var fields: [String: JSONValue] = ["@type": .string(type), key: .array(items)]
            if let version { fields["version_info"] = .string(version) }
            return .object(fields)
        }
        return .object([
            "configs": .array([
                section(
                    clustersDump, clustersVersion, "dynamic_active_clusters",
                    clusters.map { .object(["version_info": .string($0.version), "cluster": $0.json]) }),
                section(
                    endpointsDump, nil, "dynamic_endpoint_configs",
                    endpoints.map { .object(["version_info": .string($0.version), "endpoint_config": $0.json]) }),
                section(
                    listenersDump, listenersVersion, "dynamic_listeners",
                    listeners.map {
                        .object([
                            "name": .string($0.name),
                            "active_state": .object(["version_info": .string($0.version), "listener": $0.json]),
                        ])
                    }),
                section(
                    routesDump, nil, "dynamic_route_configs",
                    routes.map { .object(["version_info": .string($0.version), "route_config": $0.json]) }),
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

    /// An entry for a resource as it went over the wire (its encoded `Any`), with the version the
    /// client reports for it.
    static func entry(_ resource: EncodedResource, version: String) throws -> Entry {
        let text: String
        do {
            text = try Google_Protobuf_Any(serializedBytes: resource.anyBytes).jsonString(options: jsonOptions)
        } catch {
            throw Failure(description: "\(resource.type) resource '\(resource.name)' cannot be printed as JSON: \(error)")
        }
        let json = try JSONValue.parse(text)
        guard case .object = json else {
            throw Failure(description: "\(resource.type) resource '\(resource.name)': JSON is not an object")
        }
        return Entry(name: resource.name, version: version, json: json)
    }

    /// The `version_info` a state-of-the-world client gets with the full set (CDS, LDS).
    static func fullStateVersion(_ entries: [Entry]) -> String {
        ContentHash.hex(ofVersions: Dictionary(entries.map { ($0.name, $0.version) }, uniquingKeysWith: { first, _ in first }))
    }
}

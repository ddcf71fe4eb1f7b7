import Catalog
import EnvoyAPI
import Foundation
import SwiftProtobuf

/// Turns a service's template and the catalog into Envoy resources.
///
/// Pure and deterministic: no I/O, no clocks, no randomness, and every array sorted, so the same
/// inputs give byte-identical resources (with deterministic serialization) and the same versions.
///
/// For service S with dependencies D1…Dn it produces (names in `ResourceNames`):
/// - clusters: per catalog dependency an EDS cluster `Di` (served over ADS) with the dependency
///   policy (circuit breakers with a retry budget, outlier detection, panic threshold, zone-aware
///   routing, optional active health checks, upstream protocol and connection lifetime); per
///   external dependency a STATIC or STRICT_DNS cluster `Di`; per sandbox an EDS cluster
///   `Di~sandbox~NAME`; per method cache the EDS cluster `Di~cache` and the aggregate
///   `Di~cached` = [`Di~cache`, `Di`]; S's own EDS
///   cluster `S` when a dependency is zone-aware; `inbound|S` (STATIC, 127.0.0.1:APP_PORT) when
///   S has an inbound port; `passthrough` (ORIGINAL_DST) when passthrough is on;
/// - endpoints: one ClusterLoadAssignment per EDS service name, localities sorted by (region, zone);
/// - listeners: `inbound` (connection age, drain, adaptive concurrency; inline routes to
///   `inbound|S`), `outbound` (RDS `outbound`), and an API listener per catalog dependency named
///   Di (RDS Di) for proxyless gRPC clients dialing `xds:///Di`;
/// - routes: `outbound` (per dependency: sandbox header routes, cached-method routes, then the
///   rest, all with the retry policy; then the catch-all `passthrough`) and one route configuration
///   per API listener.
///
/// A service without a template file is compiled with `ServiceTemplate.defaultTemplate(for:defaults:)`.
public struct Compiler: Sendable {
    public let defaults: Defaults

    public init(defaults: Defaults) {
        self.defaults = defaults
    }

    /// Compiles `service`. `template` nil means the default template (no dependencies).
    public func compile(service name: String, template: ServiceTemplate?, catalog: Catalog) -> CompiledService {
        let template = template ?? .defaultTemplate(for: name, defaults: defaults)
        let dependencies = template.dependencies.sorted { $0.name < $1.name }
        var result = CompiledService(service: name)
        var assignments: [String: Envoy_Config_Endpoint_V3_ClusterLoadAssignment] = [:]
        func assign(_ serviceName: String, from catalogName: String) {
            if assignments[serviceName] == nil {
                assignments[serviceName] = loadAssignment(cluster: serviceName, service: catalog[service: catalogName])
            }
        }

        var needsLocalCluster = false
        for dependency in dependencies {
            let policy = policyOf(dependency)
            let proto = protocolOf(dependency)
            if let host = dependency.external {
                result.clusters.append(externalCluster(dependency, host: host, policy: policy))
            } else {
                result.clusters.append(
                    edsCluster(
                        name: dependency.name, serviceName: dependency.name, protocol: proto, policy: policy,
                        zoneAware: policy.zoneAware))
                assign(dependency.name, from: dependency.name)
                needsLocalCluster = needsLocalCluster || policy.zoneAware
            }
            for sandbox in dependency.sandboxes {
                let cluster = ResourceNames.sandboxCluster(dependency.name, sandbox)
                result.clusters.append(
                    edsCluster(name: cluster, serviceName: cluster, protocol: proto, policy: policy, zoneAware: false))
                assign(cluster, from: ServiceTemplate.sandboxService(dependency.name, sandbox))
            }
            if let cache = dependency.methodCache {
                let cacheCluster = ResourceNames.cacheCluster(dependency.name)
                result.clusters.append(
                    edsCluster(
                        name: cacheCluster, serviceName: cache.service, protocol: proto, policy: policy,
                        zoneAware: false))
                assign(cache.service, from: cache.service)
                result.clusters.append(
                    aggregateCluster(
                        name: ResourceNames.cachedCluster(dependency.name), clusters: [cacheCluster, dependency.name],
                        policy: policy))
            }
        }
        if needsLocalCluster, !result.clusters.contains(where: { $0.name == name }) {
            result.clusters.append(localCluster(service: name))
            assign(name, from: name)
        }
        if let inbound = template.inbound {
            result.clusters.append(inboundCluster(service: name, inbound: inbound))
        }
        if defaults.passthrough {
            result.clusters.append(passthroughCluster())
        }
        result.endpoints = Array(assignments.values)

        // Proxyless gRPC clients reject STATIC/STRICT_DNS clusters, so externals get no API listener.
        let proxyless = dependencies.filter { $0.external == nil }
        if let inbound = template.inbound, let port = defaults.inboundPort {
            result.listeners.append(inboundListener(service: name, inbound: inbound, port: port))
        }
        result.listeners.append(outboundListener())
        result.listeners += proxyless.map { apiListener(dependency: $0.name) }

        result.routes.append(outboundRoutes(dependencies))
        result.routes += proxyless.map(apiListenerRoutes)

        result.clusters.sort { $0.name < $1.name }
        result.endpoints.sort { $0.clusterName < $1.clusterName }
        result.listeners.sort { $0.name < $1.name }
        result.routes.sort { $0.name < $1.name }
        return result
    }

    /// Compiles every service that has a template or appears in the catalog, sorted by name.
    public func compileAll(templates: [String: ServiceTemplate], catalog: Catalog) -> [CompiledService] {
        Set(templates.keys).union(catalog.services.keys).sorted().map {
            compile(service: $0, template: templates[$0], catalog: catalog)
        }
    }

    func protocolOf(_ dependency: Dependency) -> ServiceProtocol {
        dependency.protocol ?? defaults.protocol
    }

    func timeoutOf(_ dependency: Dependency) -> Duration {
        dependency.timeout ?? defaults.routeTimeout
    }
}

/// Names of generated resources.
public enum ResourceNames {
    public static let inboundListener = "inbound"
    public static let outboundListener = "outbound"
    public static let outboundRoutes = "outbound"
    public static let passthroughCluster = "passthrough"

    public static func inboundCluster(_ service: String) -> String { "inbound|\(service)" }
    /// `~` cannot appear in service names, so these never collide with a dependency.
    public static func sandboxCluster(_ service: String, _ sandbox: String) -> String {
        "\(service)~sandbox~\(sandbox)"
    }
    public static func cacheCluster(_ service: String) -> String { "\(service)~cache" }
    public static func cachedCluster(_ service: String) -> String { "\(service)~cached" }
}

extension Google_Protobuf_Any {
    /// Packs `message` under its real type URL, with deterministic bytes.
    init<M: SwiftProtobuf.Message>(packing message: M, typeURL: String) {
        self.init()
        self.typeURL = typeURL
        var options = BinaryEncodingOptions()
        options.useDeterministicOrdering = true
        do {
            self.value = try message.serializedData(options: options)
        } catch {
            // Proto3 messages built by the compiler have no required fields, so encoding cannot fail.
            preconditionFailure("cannot encode \(M.protoMessageName): \(error)")
        }
    }
}

extension Envoy_Config_Core_V3_ConfigSource {
    /// "Fetch over the ADS stream this client already has", v3 resources.
    static var adsV3: Envoy_Config_Core_V3_ConfigSource {
        var source = Envoy_Config_Core_V3_ConfigSource()
        source.ads = Envoy_Config_Core_V3_AggregatedConfigSource()
        source.resourceApiVersion = .v3
        return source
    }
}

extension Envoy_Config_Core_V3_Address {
    init(ip: String, port: Int) {
        self.init()
        var socket = Envoy_Config_Core_V3_SocketAddress()
        socket.address = ip
        socket.portValue = UInt32(port)
        self.socketAddress = socket
    }
}

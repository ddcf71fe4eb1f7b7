import Catalog
import EnvoyAPI
import Foundation
import SwiftProtobuf

/// Turns a service's template and the catalog into Envoy resources.
///
/// Pure and deterministic: no I/O, no clocks, no randomness, and every array sorted, so the same
/// inputs give byte-identical resources (with deterministic serialization) and the same versions.
///
/// For service S with dependencies D1…Dn it produces:
/// - clusters: one EDS cluster per dependency (named Di, served over ADS), `inbound|S` (STATIC, to
///   127.0.0.1:APP_PORT) when S has an inbound port, and `passthrough` (ORIGINAL_DST, honouring
///   `x-envoy-original-dst-host`) when passthrough is on;
/// - endpoints: one ClusterLoadAssignment per dependency, localities sorted by (region, zone);
/// - listeners: `inbound` (inline routes to `inbound|S`), `outbound` (RDS `outbound`), and an API
///   listener per dependency named Di (RDS Di) for proxyless gRPC clients dialing `xds:///Di`;
/// - routes: `outbound` (a virtual host per dependency, then the catch-all `passthrough`) and one
///   route configuration per dependency for its API listener.
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

        result.clusters = dependencies.map(edsCluster)
        if let inbound = template.inbound {
            result.clusters.append(inboundCluster(service: name, inbound: inbound))
        }
        if defaults.passthrough {
            result.clusters.append(passthroughCluster())
        }

        result.endpoints = dependencies.map { loadAssignment(cluster: $0.name, service: catalog[service: $0.name]) }

        if let inbound = template.inbound, let port = defaults.inboundPort {
            result.listeners.append(inboundListener(service: name, inbound: inbound, port: port))
        }
        result.listeners.append(outboundListener())
        result.listeners += dependencies.map { apiListener(dependency: $0.name) }

        result.routes.append(outboundRoutes(dependencies))
        result.routes += dependencies.map(apiListenerRoutes)

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

import EnvoyAPI
import SwiftProtobuf

extension Compiler {
    /// An EDS cluster for a dependency: endpoints come over ADS under the dependency's name.
    func edsCluster(_ dependency: Dependency) -> Envoy_Config_Cluster_V3_Cluster {
        var cluster = Envoy_Config_Cluster_V3_Cluster()
        cluster.name = dependency.name
        cluster.type = .eds
        var eds = Envoy_Config_Cluster_V3_Cluster.EdsClusterConfig()
        eds.edsConfig = .adsV3
        eds.serviceName = dependency.name
        cluster.edsClusterConfig = eds
        cluster.lbPolicy = .roundRobin
        cluster.connectTimeout = Google_Protobuf_Duration(rounding: defaults.connectTimeout)
        if protocolOf(dependency).usesHTTP2 {
            cluster.typedExtensionProtocolOptions = Self.http2ProtocolOptions
        }
        return cluster
    }

    /// `inbound|S`: the local application, at 127.0.0.1:APP_PORT.
    func inboundCluster(service: String, inbound: Inbound) -> Envoy_Config_Cluster_V3_Cluster {
        var cluster = Envoy_Config_Cluster_V3_Cluster()
        cluster.name = ResourceNames.inboundCluster(service)
        cluster.type = .static
        cluster.lbPolicy = .roundRobin
        cluster.connectTimeout = Google_Protobuf_Duration(rounding: defaults.connectTimeout)
        var endpoint = Envoy_Config_Endpoint_V3_LbEndpoint()
        endpoint.endpoint.address = Envoy_Config_Core_V3_Address(ip: "127.0.0.1", port: inbound.port)
        var locality = Envoy_Config_Endpoint_V3_LocalityLbEndpoints()
        locality.lbEndpoints = [endpoint]
        var assignment = Envoy_Config_Endpoint_V3_ClusterLoadAssignment()
        assignment.clusterName = cluster.name
        assignment.endpoints = [locality]
        cluster.loadAssignment = assignment
        if (inbound.protocol ?? defaults.protocol).usesHTTP2 {
            cluster.typedExtensionProtocolOptions = Self.http2ProtocolOptions
        }
        return cluster
    }

    /// `passthrough`: connects to the original destination, taken from the
    /// `x-envoy-original-dst-host: ip:port` header when a request carries one.
    func passthroughCluster() -> Envoy_Config_Cluster_V3_Cluster {
        var cluster = Envoy_Config_Cluster_V3_Cluster()
        cluster.name = ResourceNames.passthroughCluster
        cluster.type = .originalDst
        cluster.lbPolicy = .clusterProvided
        cluster.connectTimeout = Google_Protobuf_Duration(rounding: defaults.connectTimeout)
        var original = Envoy_Config_Cluster_V3_Cluster.OriginalDstLbConfig()
        original.useHTTPHeader = true
        cluster.originalDstLbConfig = original
        return cluster
    }

    /// `typed_extension_protocol_options` that make Envoy speak HTTP/2 to the upstream.
    static var http2ProtocolOptions: [String: Google_Protobuf_Any] {
        var explicit = Envoy_Extensions_Upstreams_Http_V3_HttpProtocolOptions.ExplicitHttpConfig()
        explicit.http2ProtocolOptions = Envoy_Config_Core_V3_Http2ProtocolOptions()
        var options = Envoy_Extensions_Upstreams_Http_V3_HttpProtocolOptions()
        options.explicitHTTPConfig = explicit
        return [
            TypeURL.upstreamHTTPProtocolOptionsExtensionName:
                Google_Protobuf_Any(packing: options, typeURL: TypeURL.upstreamHTTPProtocolOptions)
        ]
    }
}

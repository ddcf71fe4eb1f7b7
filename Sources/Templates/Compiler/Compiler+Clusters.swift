import EnvoyAPI
import SwiftProtobuf

extension Compiler {
    /// An EDS cluster whose endpoints come over ADS as `serviceName`, with the dependency policy.
    func edsCluster(
        name: String, serviceName: String, protocol: ServiceProtocol, policy: DependencyPolicy, zoneAware: Bool
    ) -> EnvoyCluster {
        var cluster = plainEDSCluster(name: name, serviceName: serviceName)
        apply(policy, protocol: `protocol`, to: &cluster, zoneAware: zoneAware)
        return cluster
    }

    /// The inline load assignment of a cluster with one host (STATIC and STRICT_DNS clusters).
    static func singleHost(cluster: String, ip: String, port: Int) -> Envoy_Config_Endpoint_V3_ClusterLoadAssignment {
        var endpoint = Envoy_Config_Endpoint_V3_LbEndpoint()
        endpoint.endpoint.address = Envoy_Config_Core_V3_Address(ip: ip, port: port)
        var locality = Envoy_Config_Endpoint_V3_LocalityLbEndpoints()
        locality.lbEndpoints = [endpoint]
        var assignment = Envoy_Config_Endpoint_V3_ClusterLoadAssignment()
        assignment.clusterName = cluster
        assignment.endpoints = [locality]
        return assignment
    }

    /// An EDS cluster over ADS with round-robin balancing and no policy.
    private func plainEDSCluster(name: String, serviceName: String) -> EnvoyCluster {
        var cluster = EnvoyCluster()
        cluster.name = name
        cluster.type = .eds
        var eds = EnvoyCluster.EdsClusterConfig()
        eds.edsConfig = .adsV3
        eds.serviceName = serviceName
        cluster.edsClusterConfig = eds
        cluster.lbPolicy = .roundRobin  // gRPC's xDS client accepts only ROUND_ROBIN/RING_HASH/LEAST_REQUEST
        cluster.connectTimeout = Google_Protobuf_Duration(rounding: defaults.connectTimeout)
        return cluster
    }

    /// An explicit host outside the catalog: STATIC for an IP address, STRICT_DNS for a name.
    func externalCluster(_ dependency: Dependency, host: ExternalHost, policy: DependencyPolicy) -> EnvoyCluster {
        var cluster = EnvoyCluster()
        cluster.name = dependency.name
        let isIP = host.address.contains(":") || host.address.allSatisfy { $0 == "." || $0.isNumber }
        cluster.type = isIP ? .static : .strictDns
        if !isIP { cluster.dnsLookupFamily = .v4Preferred }
        cluster.lbPolicy = .roundRobin
        cluster.connectTimeout = Google_Protobuf_Duration(rounding: defaults.connectTimeout)
        cluster.loadAssignment = Self.singleHost(cluster: cluster.name, ip: host.address, port: host.port)
        apply(policy, protocol: protocolOf(dependency), to: &cluster, zoneAware: false)
        return cluster
    }

    /// `D~cached`: Envoy's aggregate cluster over `clusters` in order; a later cluster takes
    /// traffic only as the earlier ones run out of healthy hosts.
    func aggregateCluster(name: String, clusters: [String], policy: DependencyPolicy) -> EnvoyCluster {
        var config = Envoy_Extensions_Clusters_Aggregate_V3_ClusterConfig()
        config.clusters = clusters
        var custom = EnvoyCluster.CustomClusterType()
        custom.name = "envoy.clusters.aggregate"
        custom.typedConfig = Google_Protobuf_Any(packing: config, typeURL: TypeURL.aggregateClusterConfig)
        var cluster = EnvoyCluster()
        cluster.name = name
        cluster.clusterType = custom
        cluster.lbPolicy = .clusterProvided  // Envoy requires it for the aggregate cluster
        cluster.connectTimeout = Google_Protobuf_Duration(rounding: defaults.connectTimeout)
        cluster.circuitBreakers = Self.circuitBreakers(policy)  // requests and retries count here too
        return cluster
    }

    /// The service's own EDS cluster (named after it): Envoy's zone-aware routing compares the
    /// local service's spread over zones (`cluster_manager.local_cluster_name`) with the upstream's.
    func localCluster(service: String) -> EnvoyCluster {
        plainEDSCluster(name: service, serviceName: service)
    }

    /// `inbound|S`: the local application, at 127.0.0.1:APP_PORT.
    func inboundCluster(service: String, inbound: Inbound) -> Envoy_Config_Cluster_V3_Cluster {
        let policy = policyOf(inbound)
        var cluster = Envoy_Config_Cluster_V3_Cluster()
        cluster.name = ResourceNames.inboundCluster(service)
        cluster.type = .static
        cluster.lbPolicy = .roundRobin
        cluster.connectTimeout = Google_Protobuf_Duration(rounding: defaults.connectTimeout)
        cluster.loadAssignment = Self.singleHost(cluster: cluster.name, ip: "127.0.0.1", port: inbound.port)
        cluster.typedExtensionProtocolOptions = Self.upstreamOptions(
            protocol: inbound.protocol ?? defaults.protocol, idleTimeout: policy.appIdleTimeout, maxAge: .zero,
            maxConcurrentStreams: policy.appMaxConcurrentStreams)
        cluster.circuitBreakers = Self.circuitBreakers(defaults.dependency)
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
        cluster.circuitBreakers = Self.circuitBreakers(defaults.dependency)
        return cluster
    }
}

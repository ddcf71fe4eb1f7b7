import EnvoyAPI

/// The Envoy resources for one service (one `node.cluster`), each array sorted by name.
public struct CompiledService: Sendable, Equatable {
    public var service: String
    public var clusters: [Envoy_Config_Cluster_V3_Cluster]
    public var endpoints: [Envoy_Config_Endpoint_V3_ClusterLoadAssignment]
    public var listeners: [Envoy_Config_Listener_V3_Listener]
    public var routes: [Envoy_Config_Route_V3_RouteConfiguration]

    public init(
        service: String, clusters: [Envoy_Config_Cluster_V3_Cluster] = [],
        endpoints: [Envoy_Config_Endpoint_V3_ClusterLoadAssignment] = [],
        listeners: [Envoy_Config_Listener_V3_Listener] = [], routes: [Envoy_Config_Route_V3_RouteConfiguration] = []
    ) {
        self.service = service
        self.clusters = clusters
        self.endpoints = endpoints
        self.listeners = listeners
        self.routes = routes
    }
}

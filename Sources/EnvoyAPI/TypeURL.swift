/// Type URLs (`type.googleapis.com/<full message name>`) used in xDS `type_url` fields
/// and in `google.protobuf.Any` values. Written out in full so they read as the strings
/// Envoy expects; `TypeURL.all` pairs each one with the generated `protoMessageName`
/// so a test can assert they agree.
public enum TypeURL {
    public static let prefix = "type.googleapis.com/"

    // xDS resource types (the four discovery type URLs).
    public static let cluster = "type.googleapis.com/envoy.config.cluster.v3.Cluster"
    public static let clusterLoadAssignment = "type.googleapis.com/envoy.config.endpoint.v3.ClusterLoadAssignment"
    public static let listener = "type.googleapis.com/envoy.config.listener.v3.Listener"
    public static let routeConfiguration = "type.googleapis.com/envoy.config.route.v3.RouteConfiguration"

    /// The endpoint (EDS) resource type is `ClusterLoadAssignment`.
    public static let endpoint = clusterLoadAssignment

    // Extension configs packed into `typed_config` / `typed_extension_protocol_options`.
    public static let httpConnectionManager =
        "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager"
    public static let router = "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router"
    public static let tcpProxy = "type.googleapis.com/envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy"
    public static let adaptiveConcurrency =
        "type.googleapis.com/envoy.extensions.filters.http.adaptive_concurrency.v3.AdaptiveConcurrency"
    public static let upstreamHTTPProtocolOptions =
        "type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions"
    public static let aggregateClusterConfig = "type.googleapis.com/envoy.extensions.clusters.aggregate.v3.ClusterConfig"

    /// Key under which `HttpProtocolOptions` goes in `Cluster.typed_extension_protocol_options`.
    public static let upstreamHTTPProtocolOptionsExtensionName = "envoy.extensions.upstreams.http.v3.HttpProtocolOptions"

    /// The four xDS resource type URLs, in the order Envoy warms them (CDS, EDS, LDS, RDS).
    public static let xdsResourceTypes: [String] = [cluster, clusterLoadAssignment, listener, routeConfiguration]

    /// Every constant above with the message name it must match, for tests.
    public static let all: [(url: String, messageName: String)] = [
        (cluster, Envoy_Config_Cluster_V3_Cluster.protoMessageName),
        (clusterLoadAssignment, Envoy_Config_Endpoint_V3_ClusterLoadAssignment.protoMessageName),
        (listener, Envoy_Config_Listener_V3_Listener.protoMessageName),
        (routeConfiguration, Envoy_Config_Route_V3_RouteConfiguration.protoMessageName),
        (httpConnectionManager,
         Envoy_Extensions_Filters_Network_HttpConnectionManager_V3_HttpConnectionManager.protoMessageName),
        (router, Envoy_Extensions_Filters_Http_Router_V3_Router.protoMessageName),
        (tcpProxy, Envoy_Extensions_Filters_Network_TcpProxy_V3_TcpProxy.protoMessageName),
        (adaptiveConcurrency,
         Envoy_Extensions_Filters_Http_AdaptiveConcurrency_V3_AdaptiveConcurrency.protoMessageName),
        (upstreamHTTPProtocolOptions, Envoy_Extensions_Upstreams_Http_V3_HttpProtocolOptions.protoMessageName),
        (aggregateClusterConfig, Envoy_Extensions_Clusters_Aggregate_V3_ClusterConfig.protoMessageName),
    ]
}

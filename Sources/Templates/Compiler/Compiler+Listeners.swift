import EnvoyAPI
import SwiftProtobuf

typealias HTTPConnectionManager = Envoy_Extensions_Filters_Network_HttpConnectionManager_V3_HttpConnectionManager

extension Compiler {
    /// `inbound`: in front of the application; every request goes to `inbound|S`.
    ///
    /// Connections from callers are closed after `max_connection_age` (a GOAWAY or
    /// `Connection: close`, then `drain_time` to finish) and after `idle_timeout` without requests:
    /// both above the callers' own limits (`connection.max_age`/`idle_timeout`), so the caller
    /// normally closes first and never sends a request on a connection this side is closing.
    func inboundListener(service: String, inbound: Inbound, port: Int) -> Envoy_Config_Listener_V3_Listener {
        let policy = policyOf(inbound)
        var route = Envoy_Config_Route_V3_Route()
        route.match.prefix = "/"
        route.route.cluster = ResourceNames.inboundCluster(service)
        route.route.timeout = Google_Protobuf_Duration(rounding: policy.timeout)
        var host = Envoy_Config_Route_V3_VirtualHost()
        host.name = ResourceNames.inboundCluster(service)
        host.domains = ["*"]
        host.routes = [route]
        var routes = Envoy_Config_Route_V3_RouteConfiguration()
        routes.name = ResourceNames.inboundListener
        routes.virtualHosts = [host]

        var manager = Self.connectionManager(statPrefix: ResourceNames.inboundListener)
        manager.routeConfig = routes
        var common = Envoy_Config_Core_V3_HttpProtocolOptions()
        common.idleTimeout = Google_Protobuf_Duration(rounding: policy.idleTimeout)
        if policy.maxConnectionAge > .zero {
            common.maxConnectionDuration = Google_Protobuf_Duration(rounding: policy.maxConnectionAge)
        }
        manager.commonHTTPProtocolOptions = common
        manager.drainTimeout = Google_Protobuf_Duration(rounding: policy.drainTime)
        if policy.adaptiveConcurrency {
            manager.httpFilters.insert(Self.adaptiveConcurrencyFilter(policy), at: 0)  // the router stays last
        }
        return Self.socketListener(
            name: ResourceNames.inboundListener, address: defaults.listenerAddress, port: port,
            direction: .inbound, manager: manager)
    }

    /// `envoy.filters.http.adaptive_concurrency` with the gradient controller.
    static func adaptiveConcurrencyFilter(_ policy: InboundPolicy)
        -> Envoy_Extensions_Filters_Network_HttpConnectionManager_V3_HttpFilter
    {
        typealias Gradient = Envoy_Extensions_Filters_Http_AdaptiveConcurrency_V3_GradientControllerConfig
        var limit = Gradient.ConcurrencyLimitCalculationParams()
        limit.maxConcurrencyLimit = Google_Protobuf_UInt32Value(UInt32(policy.maxConcurrencyLimit))
        limit.concurrencyUpdateInterval = Google_Protobuf_Duration(rounding: policy.concurrencyUpdateInterval)
        var minRTT = Gradient.MinimumRTTCalculationParams()
        minRTT.interval = Google_Protobuf_Duration(rounding: policy.minRTTInterval)
        minRTT.requestCount = Google_Protobuf_UInt32Value(UInt32(policy.minRTTRequestCount))
        minRTT.jitter = percent(policy.minRTTJitter)
        minRTT.minConcurrency = Google_Protobuf_UInt32Value(UInt32(policy.minConcurrency))
        minRTT.buffer = percent(policy.minRTTBuffer)
        var gradient = Gradient()
        gradient.sampleAggregatePercentile = percent(policy.sampleAggregatePercentile)
        gradient.concurrencyLimitParams = limit
        gradient.minRttCalcParams = minRTT
        var config = Envoy_Extensions_Filters_Http_AdaptiveConcurrency_V3_AdaptiveConcurrency()
        config.gradientControllerConfig = gradient
        var filter = Envoy_Extensions_Filters_Network_HttpConnectionManager_V3_HttpFilter()
        filter.name = "envoy.filters.http.adaptive_concurrency"
        filter.typedConfig = Google_Protobuf_Any(packing: config, typeURL: TypeURL.adaptiveConcurrency)
        return filter
    }

    /// `outbound`: the application's egress proxy; routes come over RDS as `outbound`.
    func outboundListener() -> Envoy_Config_Listener_V3_Listener {
        var manager = Self.connectionManager(statPrefix: ResourceNames.outboundListener)
        manager.rds = Self.rds(ResourceNames.outboundRoutes)
        return Self.socketListener(
            name: ResourceNames.outboundListener, address: defaults.listenerAddress, port: defaults.outboundPort,
            direction: .outbound, manager: manager)
    }

    /// An API listener named after a dependency, for proxyless gRPC clients dialing `xds:///D`.
    /// gRPC requires the HCM to end with the router filter; Envoy ignores API listeners from LDS.
    func apiListener(dependency: String) -> Envoy_Config_Listener_V3_Listener {
        var manager = Self.connectionManager(statPrefix: dependency)
        manager.rds = Self.rds(dependency)
        var listener = Envoy_Config_Listener_V3_Listener()
        listener.name = dependency
        var api = Envoy_Config_Listener_V3_ApiListener()
        api.apiListener = Google_Protobuf_Any(packing: manager, typeURL: TypeURL.httpConnectionManager)
        listener.apiListener = api
        return listener
    }

    static func connectionManager(statPrefix: String) -> HTTPConnectionManager {
        var manager = HTTPConnectionManager()
        manager.codecType = .auto
        manager.statPrefix = statPrefix
        var router = Envoy_Extensions_Filters_Network_HttpConnectionManager_V3_HttpFilter()
        router.name = "envoy.filters.http.router"
        router.typedConfig = Google_Protobuf_Any(
            packing: Envoy_Extensions_Filters_Http_Router_V3_Router(), typeURL: TypeURL.router)
        manager.httpFilters = [router]  // the router filter is always last
        return manager
    }

    static func rds(_ routeConfigName: String) -> Envoy_Extensions_Filters_Network_HttpConnectionManager_V3_Rds {
        var rds = Envoy_Extensions_Filters_Network_HttpConnectionManager_V3_Rds()
        rds.configSource = .adsV3
        rds.routeConfigName = routeConfigName
        return rds
    }

    static func socketListener(
        name: String, address: String, port: Int, direction: Envoy_Config_Core_V3_TrafficDirection,
        manager: HTTPConnectionManager
    ) -> Envoy_Config_Listener_V3_Listener {
        var filter = Envoy_Config_Listener_V3_Filter()
        filter.name = "envoy.filters.network.http_connection_manager"
        filter.typedConfig = Google_Protobuf_Any(packing: manager, typeURL: TypeURL.httpConnectionManager)
        var chain = Envoy_Config_Listener_V3_FilterChain()
        chain.filters = [filter]
        var listener = Envoy_Config_Listener_V3_Listener()
        listener.name = name
        listener.address = Envoy_Config_Core_V3_Address(ip: address, port: port)
        listener.trafficDirection = direction
        listener.filterChains = [chain]
        return listener
    }
}

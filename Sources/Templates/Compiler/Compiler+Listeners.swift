import EnvoyAPI
import SwiftProtobuf

typealias HTTPConnectionManager = Envoy_Extensions_Filters_Network_HttpConnectionManager_V3_HttpConnectionManager

extension Compiler {
    /// `inbound`: in front of the application; every request goes to `inbound|S`.
    func inboundListener(service: String, inbound: Inbound, port: Int) -> Envoy_Config_Listener_V3_Listener {
        var route = Envoy_Config_Route_V3_Route()
        route.match.prefix = "/"
        route.route.cluster = ResourceNames.inboundCluster(service)
        route.route.timeout = Google_Protobuf_Duration(rounding: defaults.routeTimeout)
        var host = Envoy_Config_Route_V3_VirtualHost()
        host.name = ResourceNames.inboundCluster(service)
        host.domains = ["*"]
        host.routes = [route]
        var routes = Envoy_Config_Route_V3_RouteConfiguration()
        routes.name = ResourceNames.inboundListener
        routes.virtualHosts = [host]

        var manager = Self.connectionManager(statPrefix: ResourceNames.inboundListener)
        manager.routeConfig = routes
        return Self.socketListener(
            name: ResourceNames.inboundListener, address: defaults.listenerAddress, port: port,
            direction: .inbound, manager: manager)
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

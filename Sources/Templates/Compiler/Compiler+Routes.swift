import EnvoyAPI
import SwiftProtobuf

extension Compiler {
    /// `outbound`: one virtual host per dependency (sorted), then the catch-all `passthrough`.
    func outboundRoutes(_ dependencies: [Dependency]) -> Envoy_Config_Route_V3_RouteConfiguration {
        var routes = Envoy_Config_Route_V3_RouteConfiguration()
        routes.name = ResourceNames.outboundRoutes
        routes.virtualHosts = dependencies.map { dependency in
            let name = dependency.name
            return virtualHost(
                name: name, domains: [name, "\(name):*", "\(name).service.consul", "\(name).service.consul:*"],
                cluster: name, timeout: timeoutOf(dependency))
        }
        if defaults.passthrough {
            routes.virtualHosts.append(
                virtualHost(
                    name: ResourceNames.passthroughCluster, domains: ["*"], cluster: ResourceNames.passthroughCluster,
                    timeout: defaults.routeTimeout))
        }
        return routes
    }

    /// The route configuration named after a dependency, for its API listener.
    func apiListenerRoutes(_ dependency: Dependency) -> Envoy_Config_Route_V3_RouteConfiguration {
        var routes = Envoy_Config_Route_V3_RouteConfiguration()
        routes.name = dependency.name
        routes.virtualHosts = [
            virtualHost(name: dependency.name, domains: ["*"], cluster: dependency.name, timeout: timeoutOf(dependency))
        ]
        return routes
    }

    func virtualHost(name: String, domains: [String], cluster: String, timeout: Duration)
        -> Envoy_Config_Route_V3_VirtualHost
    {
        var route = Envoy_Config_Route_V3_Route()
        route.match.prefix = "/"
        route.route.cluster = cluster
        route.route.timeout = Google_Protobuf_Duration(rounding: timeout)
        var host = Envoy_Config_Route_V3_VirtualHost()
        host.name = name
        host.domains = domains
        host.routes = [route]
        return host
    }
}

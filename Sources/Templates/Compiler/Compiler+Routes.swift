import EnvoyAPI
import SwiftProtobuf

extension Compiler {
    /// `outbound`: one virtual host per dependency (sorted), then the catch-all `passthrough`.
    func outboundRoutes(_ dependencies: [Dependency]) -> Envoy_Config_Route_V3_RouteConfiguration {
        var routes = Envoy_Config_Route_V3_RouteConfiguration()
        routes.name = ResourceNames.outboundRoutes
        routes.virtualHosts = dependencies.map { dependency in
            let name = dependency.name
            var host = Envoy_Config_Route_V3_VirtualHost()
            host.name = name
            host.domains = [name, "\(name):*", "\(name).service.consul", "\(name).service.consul:*"]
            host.routes = dependencyRoutes(dependency, methodCache: true)
            return host
        }
        if defaults.passthrough {
            var host = Envoy_Config_Route_V3_VirtualHost()
            host.name = ResourceNames.passthroughCluster
            host.domains = ["*"]
            host.routes = [
                route(
                    prefix: "/", cluster: ResourceNames.passthroughCluster, timeout: defaults.routeTimeout, retry: nil)
            ]
            routes.virtualHosts.append(host)
        }
        return routes
    }

    /// The route configuration named after a dependency, for its API listener.
    ///
    /// Cached methods are left out: the aggregate cluster is Envoy-only (gRPC's xDS client
    /// rejects its CLUSTER_PROVIDED policy), so proxyless clients call the origin for them.
    func apiListenerRoutes(_ dependency: Dependency) -> Envoy_Config_Route_V3_RouteConfiguration {
        var host = Envoy_Config_Route_V3_VirtualHost()
        host.name = dependency.name
        host.domains = ["*"]
        host.routes = dependencyRoutes(dependency, methodCache: false)
        var routes = Envoy_Config_Route_V3_RouteConfiguration()
        routes.name = dependency.name
        routes.virtualHosts = [host]
        return routes
    }

    /// A dependency's routes, first match wins: one per sandbox (header `sandboxHeader: NAME`),
    /// then one per cached gRPC method (exact path, to `D~cached`), then everything else to `D`.
    func dependencyRoutes(_ dependency: Dependency, methodCache: Bool) -> [Envoy_Config_Route_V3_Route] {
        let timeout = timeoutOf(dependency)
        let retry = Self.retryPolicy(policyOf(dependency))
        var routes: [Envoy_Config_Route_V3_Route] = dependency.sandboxes.map { sandbox in
            var route = route(
                prefix: "/", cluster: ResourceNames.sandboxCluster(dependency.name, sandbox), timeout: timeout,
                retry: retry)
            var header = Envoy_Config_Route_V3_HeaderMatcher()
            header.name = defaults.sandboxHeader
            var match = Envoy_Type_Matcher_V3_StringMatcher()
            match.exact = sandbox
            header.stringMatch = match
            route.match.headers = [header]
            route.name = "\(dependency.name)/sandbox/\(sandbox)"
            return route
        }
        if methodCache, let cache = dependency.methodCache {
            routes += cache.methods.map { method in
                var route = route(
                    prefix: nil, cluster: ResourceNames.cachedCluster(dependency.name), timeout: timeout, retry: retry)
                route.match.path = method
                if protocolOf(dependency) == .grpc {
                    // Only gRPC requests (content-type application/grpc) go to the cache.
                    route.match.grpc = Envoy_Config_Route_V3_RouteMatch.GrpcRouteMatchOptions()
                }
                route.name = "\(dependency.name)/cache\(method)"
                return route
            }
        }
        var fallback = route(prefix: "/", cluster: dependency.name, timeout: timeout, retry: retry)
        fallback.name = dependency.name
        routes.append(fallback)
        return routes
    }

    func route(
        prefix: String?, cluster: String, timeout: Duration, retry: Envoy_Config_Route_V3_RetryPolicy?
    ) -> Envoy_Config_Route_V3_Route {
        var route = Envoy_Config_Route_V3_Route()
        if let prefix { route.match.prefix = prefix }
        route.route.cluster = cluster
        route.route.timeout = Google_Protobuf_Duration(rounding: timeout)
        if let retry { route.route.retryPolicy = retry }
        return route
    }
}

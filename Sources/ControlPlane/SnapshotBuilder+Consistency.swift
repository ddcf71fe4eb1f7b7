import EnvoyAPI
import SwiftProtobuf

extension SnapshotBuilder {
    /// Invariant 1: every route names a cluster in the snapshot, every EDS cluster has an
    /// assignment, every RDS listener names a route configuration in the snapshot.
    static func consistencyProblems(_ resources: ServiceResources) -> [String] {
        var problems: [String] = []
        let clusters = Set(resources.clusters.map(\.name))
        let assignments = Set(resources.endpoints.map(\.clusterName))
        let routeNames = Set(resources.routes.map(\.name))

        for cluster in resources.clusters {
            if case .type(.eds) = cluster.clusterDiscoveryType, !assignments.contains(endpointName(of: cluster)) {
                problems.append("EDS cluster '\(cluster.name)' has no load assignment")
            }
        }
        for route in resources.routes {
            for name in clusterReferences(route) where !clusters.contains(name) {
                problems.append("route configuration '\(route.name)' names missing cluster '\(name)'")
            }
        }
        for listener in resources.listeners {
            for name in routeReferences(listener) where !routeNames.contains(name) {
                problems.append("listener '\(listener.name)' names missing route configuration '\(name)'")
            }
            for (routeName, inline) in inlineRoutes(listener) {
                for name in clusterReferences(inline) where !clusters.contains(name) {
                    problems.append("listener '\(listener.name)' route '\(routeName)' names missing cluster '\(name)'")
                }
            }
        }
        return problems
    }

    static func clusterReferences(_ route: Envoy_Config_Route_V3_RouteConfiguration) -> [String] {
        var names: [String] = []
        for host in route.virtualHosts {
            for r in host.routes {
                guard case .route(let action) = r.action else { continue }
                switch action.clusterSpecifier {
                case .cluster(let name): names.append(name)
                case .weightedClusters(let weighted): names.append(contentsOf: weighted.clusters.map(\.name))
                default: break
                }
            }
        }
        return names
    }

    /// The HTTP connection managers of a listener: in its filter chains and its API listener.
    static func connectionManagers(_ listener: Envoy_Config_Listener_V3_Listener)
        -> [Envoy_Extensions_Filters_Network_HttpConnectionManager_V3_HttpConnectionManager]
    {
        typealias HCM = Envoy_Extensions_Filters_Network_HttpConnectionManager_V3_HttpConnectionManager
        var result: [HCM] = []
        for chain in listener.filterChains {
            for filter in chain.filters {
                if case .typedConfig(let any) = filter.configType, let hcm = try? HCM(unpackingAny: any) { result.append(hcm) }
            }
        }
        if listener.hasApiListener, let hcm = try? HCM(unpackingAny: listener.apiListener.apiListener) { result.append(hcm) }
        return result
    }

    static func routeReferences(_ listener: Envoy_Config_Listener_V3_Listener) -> [String] {
        connectionManagers(listener).compactMap { hcm in
            if case .rds(let rds) = hcm.routeSpecifier { return rds.routeConfigName }
            return nil
        }
    }

    static func inlineRoutes(_ listener: Envoy_Config_Listener_V3_Listener) -> [(String, Envoy_Config_Route_V3_RouteConfiguration)] {
        connectionManagers(listener).compactMap { hcm in
            if case .routeConfig(let config) = hcm.routeSpecifier { return (config.name, config) }
            return nil
        }
    }
}

import EnvoyAPI
import SwiftProtobuf

extension CompiledService {
    /// Every way this service's resources fail to form a consistent snapshot; empty when they do.
    ///
    /// Checks (DESIGN invariant 1): names are unique per type; every route (RDS and the inbound
    /// listener's inline routes) names a cluster in `clusters`; every EDS cluster has a load
    /// assignment; every cluster an aggregate cluster lists exists; every RDS name a listener uses
    /// is in `routes`; no domain is in two virtual hosts of one route configuration; the router is
    /// the last HTTP filter of every HCM.
    public func consistencyProblems() -> [String] {
        var problems: [String] = []
        problems += Self.duplicates(clusters.map(\.name), kind: "cluster")
        problems += Self.duplicates(endpoints.map(\.clusterName), kind: "load assignment")
        problems += Self.duplicates(listeners.map(\.name), kind: "listener")
        problems += Self.duplicates(routes.map(\.name), kind: "route configuration")

        let clusterNames = Set(clusters.map(\.name))
        let assignmentNames = Set(endpoints.map(\.clusterName))
        let routeNames = Set(routes.map(\.name))

        for cluster in clusters where cluster.type == .eds {
            let name =
                cluster.edsClusterConfig.serviceName.isEmpty ? cluster.name : cluster.edsClusterConfig.serviceName
            if !assignmentNames.contains(name) {
                problems.append("EDS cluster '\(cluster.name)' has no load assignment '\(name)'")
            }
        }

        for cluster in clusters where cluster.clusterType.name == "envoy.clusters.aggregate" {
            let config = try? Envoy_Extensions_Clusters_Aggregate_V3_ClusterConfig(
                serializedBytes: cluster.clusterType.typedConfig.value)
            if config?.clusters.isEmpty ?? true {
                problems.append("aggregate cluster '\(cluster.name)' has no clusters")
            }
            for child in config?.clusters ?? [] where !clusterNames.contains(child) {
                problems.append("aggregate cluster '\(cluster.name)' names missing cluster '\(child)'")
            }
        }

        var routeConfigurations = routes.map { (owner: "route configuration '\($0.name)'", config: $0) }
        for listener in listeners {
            for manager in Self.connectionManagers(in: listener) {
                switch manager.routeSpecifier {
                case .rds(let rds):
                    if !routeNames.contains(rds.routeConfigName) {
                        problems.append(
                            "listener '\(listener.name)' uses missing route configuration '\(rds.routeConfigName)'")
                    }
                case .routeConfig(let inline):
                    routeConfigurations.append(("listener '\(listener.name)'", inline))
                case nil:
                    problems.append("listener '\(listener.name)' has an HTTP connection manager without routes")
                }
                if manager.httpFilters.last?.name != "envoy.filters.http.router" {
                    problems.append("listener '\(listener.name)': the router filter must be the last HTTP filter")
                }
            }
        }

        for (owner, config) in routeConfigurations {
            // Envoy rejects a route configuration in which two virtual hosts share a domain.
            var domainOwner: [String: String] = [:]
            for host in config.virtualHosts {
                for domain in host.domains {
                    if let first = domainOwner.updateValue(host.name, forKey: domain.lowercased()), first != host.name {
                        problems.append(
                            "\(owner): domain '\(domain)' is in both virtual hosts '\(first)' and '\(host.name)'")
                    }
                }
            }
            for host in config.virtualHosts {
                for route in host.routes {
                    for cluster in Self.clusterNames(of: route) where !clusterNames.contains(cluster) {
                        problems.append("\(owner), virtual host '\(host.name)': route to missing cluster '\(cluster)'")
                    }
                }
            }
        }
        return problems
    }

    /// The HTTP connection managers of a listener: in its filter chains, or its API listener.
    static func connectionManagers(in listener: Envoy_Config_Listener_V3_Listener) -> [HTTPConnectionManager] {
        var packed: [Google_Protobuf_Any] = listener.filterChains.flatMap { $0.filters.map(\.typedConfig) }
        if listener.hasApiListener {
            packed.append(listener.apiListener.apiListener)
        }
        return packed.compactMap { any in
            guard any.typeURL == TypeURL.httpConnectionManager else { return nil }
            return try? HTTPConnectionManager(serializedBytes: any.value)
        }
    }

    static func clusterNames(of route: Envoy_Config_Route_V3_Route) -> [String] {
        guard case .route(let action) = route.action else { return [] }
        switch action.clusterSpecifier {
        case .cluster(let name): return [name]
        case .weightedClusters(let weighted): return weighted.clusters.map(\.name)
        default: return []
        }
    }

    private static func duplicates(_ names: [String], kind: String) -> [String] {
        var seen = Set<String>()
        var reported = Set<String>()
        var problems: [String] = []
        for name in names where !seen.insert(name).inserted && reported.insert(name).inserted {
            problems.append("duplicate \(kind) name '\(name)'")
        }
        return problems
    }
}

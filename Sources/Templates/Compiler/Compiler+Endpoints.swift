import Catalog
import EnvoyAPI
import SwiftProtobuf

extension Compiler {
    /// The load assignment for `cluster` from the catalog's instances of that service.
    ///
    /// Instances are grouped by locality (region, zone), localities sorted by (region, zone) and
    /// endpoints by (address, port, id). Each locality's `load_balancing_weight` is the sum of its
    /// instances' weights and at least 1: gRPC's xDS client ignores localities without one.
    /// A service missing from the catalog gets an empty assignment (the safeguards decide whether
    /// such an assignment may be published).
    func loadAssignment(cluster: String, service: CatalogService?) -> Envoy_Config_Endpoint_V3_ClusterLoadAssignment {
        var assignment = Envoy_Config_Endpoint_V3_ClusterLoadAssignment()
        assignment.clusterName = cluster
        let groups = Dictionary(grouping: service?.instances ?? []) {
            LocalityKey(region: $0.region ?? "", zone: $0.zone ?? "")
        }
        assignment.endpoints = groups.keys.sorted().map { key in
            let instances = groups[key, default: []].sorted {
                ($0.address, $0.port, $0.id) < ($1.address, $1.port, $1.id)
            }
            var locality = Envoy_Config_Endpoint_V3_LocalityLbEndpoints()
            var envoyLocality = Envoy_Config_Core_V3_Locality()
            envoyLocality.region = key.region
            envoyLocality.zone = key.zone
            locality.locality = envoyLocality
            locality.lbEndpoints = instances.map(lbEndpoint)
            let total = instances.reduce(UInt64(0)) { $0 + UInt64($1.weight) }
            locality.loadBalancingWeight = Google_Protobuf_UInt32Value(UInt32(clamping: max(1, total)))
            return locality
        }
        return assignment
    }

    func lbEndpoint(_ instance: Instance) -> Envoy_Config_Endpoint_V3_LbEndpoint {
        var endpoint = Envoy_Config_Endpoint_V3_LbEndpoint()
        endpoint.endpoint.address = Envoy_Config_Core_V3_Address(ip: instance.address, port: instance.port)
        endpoint.healthStatus = Self.healthStatus(instance.health)
        endpoint.loadBalancingWeight = Google_Protobuf_UInt32Value(max(1, instance.weight))
        return endpoint
    }

    static func healthStatus(_ health: Health) -> Envoy_Config_Core_V3_HealthStatus {
        switch health {
        case .healthy: .healthy
        case .degraded: .degraded
        case .unhealthy: .unhealthy
        case .draining: .draining
        }
    }
}

struct LocalityKey: Hashable, Comparable {
    var region: String
    var zone: String

    static func < (lhs: LocalityKey, rhs: LocalityKey) -> Bool {
        (lhs.region, lhs.zone) < (rhs.region, rhs.zone)
    }
}

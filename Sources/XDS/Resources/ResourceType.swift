/// The four xDS resource types Sextant serves, in make-before-break order.
///
/// The raw values order the types the way a client must receive additions: clusters
/// before the endpoints that fill them, listeners before the routes they name.
public enum ResourceType: Int, CaseIterable, Sendable, Comparable, CustomStringConvertible {
    case cluster, endpoint, listener, route

    public var typeURL: String {
        switch self {
        case .cluster: return "type.googleapis.com/envoy.config.cluster.v3.Cluster"
        case .endpoint: return "type.googleapis.com/envoy.config.endpoint.v3.ClusterLoadAssignment"
        case .listener: return "type.googleapis.com/envoy.config.listener.v3.Listener"
        case .route: return "type.googleapis.com/envoy.config.route.v3.RouteConfiguration"
        }
    }

    public init?(typeURL: String) {
        guard let match = Self.allCases.first(where: { $0.typeURL == typeURL }) else { return nil }
        self = match
    }

    /// CDS and LDS are "full state" in SotW and may be subscribed as a wildcard;
    /// EDS and RDS are only ever subscribed by name.
    public var allowsWildcard: Bool { self == .cluster || self == .listener }

    /// The short name used in logs and metrics ("cds", "eds", "lds", "rds").
    public var description: String {
        switch self {
        case .cluster: return "cds"
        case .endpoint: return "eds"
        case .listener: return "lds"
        case .route: return "rds"
        }
    }

    public static func < (lhs: Self, rhs: Self) -> Bool { lhs.rawValue < rhs.rawValue }
}

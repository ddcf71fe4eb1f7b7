/// Where every instance of every service lives, at one moment: an immutable value.
///
/// Sources (`FileSource`, later `ConsulSource`) produce new `Catalog` values; nothing mutates one
/// that has been handed downstream. Services are keyed by name; `sortedServices` gives the
/// deterministic order the compiler and the renderer use.
public struct Catalog: Sendable, Equatable, Hashable {
    public var services: [String: CatalogService]

    public init(services: [String: CatalogService] = [:]) {
        self.services = services
    }

    public init(_ services: [CatalogService]) {
        self.services = Dictionary(services.map { ($0.name, $0) }, uniquingKeysWith: { _, last in last })
    }

    /// Services sorted by name.
    public var sortedServices: [CatalogService] { services.values.sorted { $0.name < $1.name } }

    public subscript(service name: String) -> CatalogService? { services[name] }
}

/// One service and its instances, in the order the source listed them.
public struct CatalogService: Sendable, Equatable, Hashable {
    public var name: String
    public var instances: [Instance]

    public init(name: String, instances: [Instance]) {
        self.name = name
        self.instances = instances
    }
}

/// One instance (one address and port) of a service.
public struct Instance: Sendable, Equatable, Hashable {
    /// Unique within the service; the file catalog defaults it to `address:port`.
    public var id: String
    public var address: String
    public var port: Int
    public var zone: String?
    public var region: String?
    public var health: Health
    /// Relative load-balancing weight, at least 1.
    public var weight: UInt32

    public init(
        id: String? = nil, address: String, port: Int, zone: String? = nil, region: String? = nil,
        health: Health = .healthy, weight: UInt32 = 1
    ) {
        self.id = id ?? "\(address):\(port)"
        self.address = address
        self.port = port
        self.zone = zone
        self.region = region
        self.health = health
        self.weight = weight
    }
}

/// An instance's health as Sextant passes it to Envoy (`envoy.config.core.v3.HealthStatus`).
public enum Health: String, Sendable, Equatable, Hashable, CaseIterable {
    case healthy, degraded, unhealthy, draining
}

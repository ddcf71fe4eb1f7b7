import Catalog

/// Template problems: the shared configuration error (`file:line:col: field: message`).
public typealias TemplateError = ConfigError

/// The application protocol a service speaks on a port.
public enum ServiceProtocol: String, Sendable, Equatable, Hashable, CaseIterable {
    case http1, http2, grpc

    /// HTTP/2 on the wire (gRPC is HTTP/2).
    public var usesHTTP2: Bool { self != .http1 }
}

/// One service's template (`Config/services/<service>.yaml`), as written.
///
/// Optional fields stay `nil` here; the compiler fills them from `Defaults`, so a change to
/// `defaults.yaml` applies to every template that did not say otherwise.
public struct ServiceTemplate: Sendable, Equatable, Hashable {
    /// The service name: the `node.cluster` of its sidecars and its name in the catalog.
    public var service: String
    /// Where the application listens; `nil` means no inbound listener.
    public var inbound: Inbound?
    /// The services this one calls, in file order (the compiler sorts by name).
    public var dependencies: [Dependency]
    /// The file this template came from, when it came from one.
    public var file: String?

    public init(service: String, inbound: Inbound? = nil, dependencies: [Dependency] = [], file: String? = nil) {
        self.service = service
        self.inbound = inbound
        self.dependencies = dependencies
        self.file = file
    }

    /// The template for a service that has no file: no dependencies, and an inbound listener only
    /// when `defaults.yaml` gives `default_template.inbound`.
    public static func defaultTemplate(for service: String, defaults: Defaults) -> ServiceTemplate {
        ServiceTemplate(service: service, inbound: defaults.defaultInbound, dependencies: [])
    }

    /// Names a dependency may not have: they are the names of generated resources.
    public static let reservedNames: Set<String> = ["inbound", "outbound", "passthrough"]
}

/// The application's own port, which the inbound listener forwards to (on 127.0.0.1).
public struct Inbound: Sendable, Equatable, Hashable {
    public var port: Int
    /// `nil`: `Defaults.protocol`.
    public var `protocol`: ServiceProtocol?

    public init(port: Int, protocol: ServiceProtocol? = nil) {
        self.port = port
        self.protocol = `protocol`
    }
}

/// A service this one calls (egress).
public struct Dependency: Sendable, Equatable, Hashable {
    public var name: String
    /// `nil`: `Defaults.protocol`.
    public var `protocol`: ServiceProtocol?
    /// Route timeout; `nil`: `Defaults.routeTimeout`. Zero disables the timeout.
    public var timeout: Duration?

    public init(name: String, protocol: ServiceProtocol? = nil, timeout: Duration? = nil) {
        self.name = name
        self.protocol = `protocol`
        self.timeout = timeout
    }
}

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
    /// Where fields were written, for errors found after parsing (`TemplateSet.crossCheck`).
    public var positions: SourcePositions

    public init(
        service: String, inbound: Inbound? = nil, dependencies: [Dependency] = [], file: String? = nil,
        positions: SourcePositions = SourcePositions()
    ) {
        self.service = service
        self.inbound = inbound
        self.dependencies = dependencies
        self.file = file
        self.positions = positions
    }

    /// The template for a service that has no file: no dependencies, and an inbound listener only
    /// when `defaults.yaml` gives `default_template.inbound`.
    public static func defaultTemplate(for service: String, defaults: Defaults) -> ServiceTemplate {
        ServiceTemplate(service: service, inbound: defaults.defaultInbound, dependencies: [])
    }

    /// Every catalog service whose instances the compiled resources contain: the service itself
    /// (zone-aware routing uses its own instances), each catalog dependency, each sandbox service
    /// (`D.sandbox.NAME`) and each method-cache service. A catalog change to any other service
    /// leaves this template's compile unchanged.
    public var catalogInputs: Set<String> {
        var names: Set<String> = [service]
        for dependency in dependencies {
            if dependency.external == nil { names.insert(dependency.name) }
            for sandbox in dependency.sandboxes { names.insert(Self.sandboxService(dependency.name, sandbox)) }
            if let cache = dependency.methodCache { names.insert(cache.service) }
        }
        return names
    }

    /// Names a dependency may not have: they are the names of generated resources.
    public static let reservedNames: Set<String> = ["inbound", "outbound", "passthrough"]

    /// The catalog service holding sandbox `sandbox` of `service`.
    public static func sandboxService(_ service: String, _ sandbox: String) -> String {
        "\(service).sandbox.\(sandbox)"
    }
}

/// The application's own port, which the inbound listener forwards to (on 127.0.0.1).
public struct Inbound: Sendable, Equatable, Hashable {
    public var port: Int
    /// `nil`: `Defaults.protocol`.
    public var `protocol`: ServiceProtocol?
    /// Settings of `InboundPolicy.fields` written in the template (the rest come from `Defaults.inbound`).
    public var settings: SettingOverrides

    public init(port: Int, protocol: ServiceProtocol? = nil, settings: SettingOverrides = [:]) {
        self.port = port
        self.protocol = `protocol`
        self.settings = settings
    }
}

/// A service this one calls (egress).
public struct Dependency: Sendable, Equatable, Hashable {
    public var name: String
    /// `nil`: `Defaults.protocol`.
    public var `protocol`: ServiceProtocol?
    /// Route timeout; `nil`: `Defaults.routeTimeout`. Zero disables the timeout.
    public var timeout: Duration?
    /// A host outside the catalog; `nil`: the catalog service named `name`.
    public var external: ExternalHost?
    /// Settings of `DependencyPolicy.fields` written in the template (the rest come from `Defaults.dependency`).
    public var settings: SettingOverrides
    /// Sandbox names: a request carrying `<Defaults.sandboxHeader>: NAME` goes to the catalog
    /// service `<name>.sandbox.NAME` (cluster `<name>~sandbox~NAME`), sorted and unique.
    public var sandboxes: [String]
    /// gRPC methods served from a cache service, falling back to this dependency.
    public var methodCache: MethodCache?

    public init(
        name: String, protocol: ServiceProtocol? = nil, timeout: Duration? = nil, external: ExternalHost? = nil,
        settings: SettingOverrides = [:], sandboxes: [String] = [], methodCache: MethodCache? = nil
    ) {
        self.name = name
        self.protocol = `protocol`
        self.timeout = timeout
        self.external = external
        self.settings = settings
        self.sandboxes = sandboxes
        self.methodCache = methodCache
    }
}

/// An explicit host for a dependency that is not in the catalog.
public struct ExternalHost: Sendable, Equatable, Hashable {
    /// An IPv4/IPv6 address (STATIC cluster) or a DNS name (STRICT_DNS cluster).
    public var address: String
    public var port: Int

    public init(address: String, port: Int) {
        self.address = address
        self.port = port
    }
}

/// `method_cache`: requests whose path is one of `methods` (`/pkg.Service/Method`) go to the
/// aggregate cluster `<dependency>~cached` = [`<dependency>~cache` (catalog service `service`),
/// `<dependency>`], so they reach the origin when the cache has no healthy hosts.
public struct MethodCache: Sendable, Equatable, Hashable {
    /// The catalog service that caches the responses.
    public var service: String
    /// gRPC paths, sorted and unique.
    public var methods: [String]

    public init(service: String, methods: [String]) {
        self.service = service
        self.methods = methods
    }
}

/// Where a field was written: its position and its path in the file (`dependencies[2].name`).
public struct SourcePosition: Sendable, Equatable, Hashable {
    public var line: Int
    public var column: Int
    public var field: String

    public init(line: Int, column: Int, field: String) {
        self.line = line
        self.column = column
        self.field = field
    }
}

/// Positions of fields in a template file, keyed by `<dependency>.name` and
/// `<dependency>.method_cache.service`.
///
/// Carried for error messages only: it takes no part in equality or hashing, so moving lines in
/// a file does not make its template "change".
public struct SourcePositions: Sendable, Equatable, Hashable {
    public var byKey: [String: SourcePosition] = [:]

    public init() {}

    public subscript(key: String) -> SourcePosition? {
        get { byKey[key] }
        set { byKey[key] = newValue }
    }

    public static func == (lhs: SourcePositions, rhs: SourcePositions) -> Bool { true }
    public func hash(into hasher: inout Hasher) {}
}

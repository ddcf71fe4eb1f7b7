import Catalog
import Foundation

/// The YAML formats of `defaults.yaml` and `services/<service>.yaml`; `docs/templates.md` describes
/// every field, and `Config/schema.json` (`TemplateSchema`) checks them in editors.
///
/// Durations are written `250ms`, `2s`, `1.5s`, `1m`. Unknown fields are errors, with a
/// "did you mean" when the name is close to a known one.
public enum TemplateFormat {
    static let templateFields = ["service", "inbound", "dependencies"]
    static let inboundFields = ["port", "protocol"] + topKeys(InboundPolicy.fields)
    static let dependencyFields =
        ["name", "protocol", "timeout", "external", "sandboxes", "method_cache"] + topKeys(DependencyPolicy.fields)
    static let defaultsFields = [
        "listeners", "clusters", "routes", "passthrough", "protocol", "default_template", "inbound", "dependency",
        "safeguards",
    ]
    static let listenersFields = ["address", "outbound_port", "inbound_port"]
    static let clustersFields = ["connect_timeout"]
    static let routesFields = ["timeout", "sandbox_header"]
    static let defaultTemplateFields = ["inbound"]
    static let portExpectation = "an integer 1-65535"

    /// Parses one service template. `file` names the file in errors, and its base name (without
    /// `.yaml`/`.yml`) must equal `service`.
    /// - Returns: the template when the file has no errors, and every error found.
    public static func parseTemplate(yaml: String, file: String) -> (ServiceTemplate?, [TemplateError]) {
        let document = YAMLDocument(yaml: yaml, file: file)
        let template = document.root.flatMap { parseTemplate($0, file: file) }
        return document.errors.isEmpty ? (template, []) : (nil, inPositionOrder(document.errors))
    }

    /// Parses `defaults.yaml`.
    /// - Returns: the defaults when the file has no errors, and every error found.
    public static func parseDefaults(yaml: String, file: String) -> (Defaults?, [TemplateError]) {
        let document = YAMLDocument(yaml: yaml, file: file)
        let defaults = document.root.flatMap(parseDefaults)
        return document.errors.isEmpty ? (defaults, []) : (nil, inPositionOrder(document.errors))
    }

    /// Errors sorted by position; errors at one position keep the order they were found in.
    static func inPositionOrder(_ errors: [TemplateError]) -> [TemplateError] {
        errors.enumerated().sorted {
            ($0.element.line, $0.element.column, $0.offset) < ($1.element.line, $1.element.column, $1.offset)
        }
        .map(\.element)
    }

    private static func parseTemplate(_ root: YAMLValue, file: String) -> ServiceTemplate? {
        guard let fields = root.mapping(fields: templateFields) else { return nil }
        let serviceValue = fields.required("service")
        let service = serviceValue?.name()
        if let service, let serviceValue {
            let base = URL(fileURLWithPath: file).deletingPathExtension().lastPathComponent
            if base != service {
                serviceValue.fail("service '\(service)' must be defined in a file named \(service).yaml, not \(base)")
            }
        }
        let inbound = fields["inbound"].map(parseInbound)
        var dependencies: [Dependency] = []
        var positions = SourcePositions()
        var firstIndex: [String: Int] = [:]
        for (index, element) in (fields["dependencies"]?.sequence() ?? []).enumerated() {
            guard let dependency = parseDependency(element) else { continue }
            for (key, value) in [
                ("name", element.quietChild("name")),
                ("method_cache.service", element.quietChild("method_cache")?.quietChild("service")),
            ] {
                if let value {
                    positions["\(dependency.name).\(key)"] = SourcePosition(
                        line: value.line, column: value.column, field: value.path)
                }
            }
            if let first = firstIndex[dependency.name.lowercased()] {
                element.fail("duplicate dependency '\(dependency.name)' (first listed as dependencies[\(first)])")
                continue
            }
            if let first = Self.domainClash(dependency.name, firstIndex) {
                element.fail(
                    "dependency '\(dependency.name)' would share route domains with dependencies[\(first)] "
                        + "(names are matched case-insensitively, with and without '.service.consul')")
                continue
            }
            firstIndex[dependency.name.lowercased()] = index
            dependencies.append(dependency)
        }
        if let port = fields["inbound"]?.quietChild("port") {
            positions["inbound.port"] = SourcePosition(line: port.line, column: port.column, field: port.path)
        }
        guard let service, inbound != .some(nil) else { return nil }
        return ServiceTemplate(
            service: service, inbound: inbound ?? nil, dependencies: dependencies, file: file, positions: positions)
    }

    /// The index of an earlier dependency whose outbound domains overlap this one's: `a` and
    /// `a.service.consul` both claim `a.service.consul`.
    private static func domainClash(_ name: String, _ earlier: [String: Int]) -> Int? {
        let lowered = name.lowercased()
        let suffix = ".service.consul"
        if lowered.hasSuffix(suffix), let index = earlier[String(lowered.dropLast(suffix.count))] { return index }
        return earlier[lowered + suffix]
    }

    private static func parseInbound(_ value: YAMLValue) -> Inbound? {
        guard let fields = value.mapping(fields: inboundFields) else { return nil }
        let port = fields.required("port")?.integer(in: 1...65535, expected: portExpectation)
        let proto = fields["protocol"].map { $0.oneOf(ServiceProtocol.self) }
        let settings = parseSettings(fields, fields: InboundPolicy.fields)
        guard let port, proto != .some(nil), let settings else { return nil }
        return Inbound(port: port, protocol: proto ?? nil, settings: settings)
    }

    private static func parseDependency(_ value: YAMLValue) -> Dependency? {
        guard let fields = value.mapping(fields: dependencyFields) else { return nil }
        let nameValue = fields.required("name")
        var name = nameValue?.name()
        if let nameValue, let chosen = name, ServiceTemplate.reservedNames.contains(chosen) {
            let reserved = ServiceTemplate.reservedNames.sorted().joined(separator: ", ")
            nameValue.fail("'\(chosen)' is reserved for generated resources (\(reserved))")
            name = nil
        }
        let proto = fields["protocol"].map { $0.oneOf(ServiceProtocol.self) }
        let timeout = fields["timeout"].map { $0.duration() }
        let external = fields["external"].map(parseExternal)
        let settings = parseSettings(fields, fields: DependencyPolicy.fields)
        let sandboxes = fields["sandboxes"].map(parseSandboxes)
        let cache = fields["method_cache"].map { parseMethodCache($0, dependency: name) }
        if external != nil, let settings, case .bool(true)? = settings["zone_aware.enabled"],
            let zoneAware = fields["zone_aware"]
        {
            zoneAware.fail("zone-aware routing needs catalog localities; an external dependency has none")
            return nil
        }
        guard let name, proto != .some(nil), timeout != .some(nil), external != .some(nil), let settings,
            sandboxes != .some(nil), cache != .some(nil)
        else { return nil }
        return Dependency(
            name: name, protocol: proto ?? nil, timeout: timeout ?? nil, external: external ?? nil, settings: settings,
            sandboxes: (sandboxes ?? nil) ?? [], methodCache: cache ?? nil)
    }

    private static func parseDefaults(_ root: YAMLValue) -> Defaults? {
        var defaults = Defaults()
        guard let fields = root.mapping(fields: defaultsFields) else { return nil }
        if let listeners = fields["listeners"]?.mapping(fields: listenersFields) {
            if let value = listeners["address"], let address = value.string() {
                if CatalogFile.isIPv4(address) || CatalogFile.isIPv6(address) {
                    defaults.listenerAddress = address
                } else {
                    value.fail("expected an IPv4 or IPv6 address, found '\(address)'")
                }
            }
            if let port = listeners["outbound_port"]?.integer(in: 1...65535, expected: portExpectation) {
                defaults.outboundPort = port
            }
            if listeners.contains("inbound_port") {
                if let value = listeners["inbound_port"] {
                    if let port = value.integer(in: 1...65535, expected: portExpectation + " or null") {
                        defaults.inboundPort = port
                        if port == defaults.outboundPort {
                            value.fail("inbound_port must differ from outbound_port (\(port))")
                        }
                    }
                } else {
                    defaults.inboundPort = nil
                }
            }
        }
        if let timeout = fields["clusters"]?.mapping(fields: clustersFields)?["connect_timeout"]?.duration(
            minimum: .nanoseconds(1))
        {
            defaults.connectTimeout = timeout
        }
        if let routes = fields["routes"]?.mapping(fields: routesFields) {
            if let timeout = routes["timeout"]?.duration() {
                defaults.routeTimeout = timeout
            }
            if let value = routes["sandbox_header"], let header = value.string() {
                if isHeaderName(header) {
                    defaults.sandboxHeader = header
                } else {
                    value.fail("expected a lowercase header name such as x-sandbox, found '\(header)'")
                }
            }
        }
        if let settings = fields["inbound"].flatMap({ parseSettings($0, fields: InboundPolicy.fields) }) {
            defaults.inbound = InboundPolicy.fields.applying(settings, to: defaults.inbound)
        }
        if let settings = fields["dependency"].flatMap({ parseSettings($0, fields: DependencyPolicy.fields) }) {
            defaults.dependency = DependencyPolicy.fields.applying(settings, to: defaults.dependency)
        }
        if let settings = fields["safeguards"].flatMap({ parseSettings($0, fields: SafeguardSettings.fields) }) {
            defaults.safeguards = SafeguardSettings.fields.applying(settings, to: defaults.safeguards)
        }
        if let passthrough = fields["passthrough"]?.bool() {
            defaults.passthrough = passthrough
        }
        if let proto = fields["protocol"]?.oneOf(ServiceProtocol.self) {
            defaults.protocol = proto
        }
        if let template = fields["default_template"]?.mapping(fields: defaultTemplateFields),
            let inbound = template["inbound"]
        {
            defaults.defaultInbound = parseInbound(inbound)
        }
        return defaults
    }
}

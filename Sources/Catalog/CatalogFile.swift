import Yams

/// The catalog file format (`Config/catalog.yaml`).
///
/// ```yaml
/// services:
///   payments:
///     instances:
///       - address: 127.0.0.1   # required
///         port: 18083          # required, 1-65535
///         id: payments-a1      # optional, defaults to address:port; unique within the service
///         zone: a             # optional
///         region: local       # optional
///         health: healthy     # optional: healthy (default), degraded, unhealthy, draining
///         weight: 1           # optional: 1 (default) to 1000000
/// ```
/// Unknown fields are errors (with a suggestion when the name is close to a known one).
/// A service with `instances: []` exists and has no instances.
public enum CatalogFile {
    static let topFields = ["services"]
    static let serviceFields = ["instances"]
    static let instanceFields = ["id", "address", "port", "zone", "region", "health", "weight"]
    /// Envoy accepts load_balancing_weight up to 2^32-1, but a sum over a locality must fit too.
    public static let maximumWeight = 1_000_000

    /// Parses catalog YAML.
    /// - Parameters:
    ///   - yaml: the file's text.
    ///   - file: the name used in error positions.
    /// - Throws: `ConfigErrors` with every problem found, each with `file:line:col` and field path.
    public static func parse(yaml: String, file: String) throws(ConfigErrors) -> Catalog {
        let document = YAMLDocument(yaml: yaml, file: file)
        let catalog = document.root.flatMap(parseCatalog)
        guard document.errors.isEmpty, let catalog else { throw ConfigErrors(document.errors) }
        return catalog
    }

    private static func parseCatalog(_ root: YAMLValue) -> Catalog? {
        guard let top = root.mapping(fields: topFields), let servicesValue = top.required("services"),
            let services = servicesValue.anyMapping()
        else { return nil }
        var result: [String: CatalogService] = [:]
        for (key, value) in services.entries {
            guard YAMLValue.isValidName(key.name) else {
                root.document.report(
                    line: key.line, column: key.column, field: value.path,
                    "'\(key.name)' is not a valid service name (use letters, digits, '.', '_' and '-')")
                continue
            }
            if let service = parseService(name: key.name, value) {
                result[key.name] = service
            }
        }
        return Catalog(services: result)
    }

    private static func parseService(name: String, _ value: YAMLValue) -> CatalogService? {
        guard let fields = value.mapping(fields: serviceFields), let list = fields.required("instances")?.sequence()
        else { return nil }
        var instances: [Instance] = []
        var ids: [String: Int] = [:]
        for element in list {
            guard let instance = parseInstance(element) else { continue }
            if let first = ids[instance.id] {
                element.fail("duplicate instance id '\(instance.id)' (first used by instances[\(first)])")
                continue
            }
            ids[instance.id] = instances.count
            instances.append(instance)
        }
        return CatalogService(name: name, instances: instances)
    }

    private static func parseInstance(_ value: YAMLValue) -> Instance? {
        guard let fields = value.mapping(fields: instanceFields) else { return nil }
        let address = fields.required("address").flatMap(ipAddress)
        let port = fields.required("port")?.integer(in: 1...65535, expected: "an integer 1-65535")
        let id = fields["id"].map { $0.string() }
        let zone = fields["zone"].map { $0.string() }
        let region = fields["region"].map { $0.string() }
        let health = fields["health"].map { $0.oneOf(Health.self) }
        let weight = fields["weight"].map {
            $0.integer(in: 1...maximumWeight, expected: "an integer 1-\(maximumWeight)")
        }
        // A present field that failed to parse is `.some(nil)`; its error is already recorded.
        guard let address, let port, id != .some(nil), zone != .some(nil), region != .some(nil),
            health != .some(nil), weight != .some(nil)
        else { return nil }
        return Instance(
            id: id ?? nil, address: address, port: port, zone: zone ?? nil, region: region ?? nil,
            health: (health ?? nil) ?? .healthy, weight: UInt32((weight ?? nil) ?? 1))
    }

    /// Envoy's EDS needs IP addresses (no DNS), so anything else is an error here, not a NACK later.
    private static func ipAddress(_ value: YAMLValue) -> String? {
        guard let text = value.string() else { return nil }
        guard isIPv4(text) || isIPv6(text) else {
            value.fail("expected an IPv4 or IPv6 address, found '\(text)'")
            return nil
        }
        return text
    }

    package static func isIPv4(_ text: String) -> Bool {
        let parts = text.split(separator: ".", omittingEmptySubsequences: false)
        return parts.count == 4
            && parts.allSatisfy { part in
                !part.isEmpty && part.count <= 3 && part.allSatisfy { ("0"..."9").contains($0) } && Int(part)! <= 255
            }
    }

    package static func isIPv6(_ text: String) -> Bool {
        let groups = text.split(separator: ":", omittingEmptySubsequences: false)
        let hex = Set("0123456789abcdefABCDEF")
        return text.contains(":") && groups.count >= 3 && groups.count <= 8
            && groups.allSatisfy { $0.count <= 4 && $0.allSatisfy { hex.contains($0) } }
            && text.ranges(of: "::").count <= 1 && !text.contains(":::")
    }
}

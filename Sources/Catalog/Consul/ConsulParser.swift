import Foundation

/// Why a Consul answer could not be used. `description` is the reason label used in logs and stats.
enum ConsulFailure: Error, Sendable, Equatable, CustomStringConvertible {
    case transport(String)          // connection refused, reset, dropped
    case timeout
    case status(Int, String)        // non-200 answer, with the start of its body
    case malformed(String)          // not JSON, or not the expected shape
    case missingIndex
    case staleness(milliseconds: Int)

    /// A short, stable label: the key of the error counters.
    var reason: String {
        switch self {
        case .transport: "transport"
        case .timeout: "timeout"
        case .status(let code, _):
            switch code {
            case 403: "http-403"
            case 429: "http-429"
            case 500..<600: "http-5xx"
            default: "http-\(code)"
            }
        case .malformed: "non-json"
        case .missingIndex: "missing-index"
        case .staleness: "too-stale"
        }
    }

    var description: String {
        switch self {
        case .transport(let detail): "transport error: \(detail)"
        case .timeout: "timed out"
        case .status(let code, let body): "HTTP \(code): \(body)"
        case .malformed(let detail): "malformed answer: \(detail)"
        case .missingIndex: "no X-Consul-Index header"
        case .staleness(let ms): "X-Consul-LastContact \(ms) ms exceeds the maximum staleness"
        }
    }
}

/// Turns Consul's JSON into catalog values. Tolerant of what real Consul leaves out
/// (`Port` when 0, `Meta: null`, `Locality` before 1.17) and strict about the shape.
struct ConsulParser: Sendable {
    var health: HealthMapping
    var zoneMetaKeys: [String]
    var regionMetaKeys: [String]
    var taggedAddress: String?

    init(configuration: ConsulConfiguration) {
        health = configuration.health
        zoneMetaKeys = configuration.zoneMetaKeys
        regionMetaKeys = configuration.regionMetaKeys
        taggedAddress = configuration.taggedAddress
    }

    /// `/v1/catalog/services`: service name → tags.
    static func services(_ body: Data) throws(ConsulFailure) -> [String: [String]] {
        guard let object = try json(body) as? [String: Any] else {
            throw .malformed("expected a JSON object of service name to tags")
        }
        var result: [String: [String]] = [:]
        for (name, tags) in object {
            result[name] = (tags as? [Any])?.compactMap { $0 as? String } ?? []
        }
        return result
    }

    /// What one `/v1/health/service/<name>` answer says, plus the nodes it mentions.
    struct ServiceRead: Sendable, Equatable {
        var instances: [Instance]
        /// Entries left out, with why (e.g. a missing port); logged and counted by the caller.
        var skipped: [String]
    }

    /// `/v1/health/service/<name>`: instances sorted by id (Consul's order is memdb order,
    /// which is stable, but sorting makes equality independent of it).
    func instances(_ body: Data) throws(ConsulFailure) -> ServiceRead {
        guard let entries = try Self.json(body) as? [Any] else {
            throw .malformed("expected a JSON array of CheckServiceNode entries")
        }
        var instances: [Instance] = []
        var skipped: [String] = []
        for case let entry as [String: Any] in entries {
            guard let service = entry["Service"] as? [String: Any], let node = entry["Node"] as? [String: Any] else {
                throw .malformed("an entry without Service or Node")
            }
            let nodeName = node["Node"] as? String ?? ""
            let serviceID = service["ID"] as? String ?? ""
            let id = "\(nodeName)/\(serviceID)"
            var address = Self.string(service["Address"]) ?? ""
            var port = Self.int(service["Port"]) ?? 0  // `omitempty`: absent means 0
            if address.isEmpty { address = Self.string(node["Address"]) ?? "" }
            if let key = taggedAddress, let tagged = (service["TaggedAddresses"] as? [String: Any])?[key] as? [String: Any] {
                if let a = Self.string(tagged["Address"]), !a.isEmpty { address = a }
                if let p = Self.int(tagged["Port"]), p > 0 { port = p }
            }
            guard !address.isEmpty else {
                skipped.append("\(id): no address (Service.Address and Node.Address are empty)")
                continue
            }
            guard (1...65535).contains(port) else {
                skipped.append("\(id): no usable port (\(port))")
                continue
            }
            let status = Self.worstStatus(entry["Checks"] as? [Any] ?? [])
            let weights = service["Weights"] as? [String: Any]
            var mapped: Health
            var weight: Int
            switch status {
            case .passing:
                mapped = health.passing
                weight = Self.int(weights?["Passing"]) ?? 1
            case .warning:
                mapped = health.warning
                weight = Self.int(weights?["Warning"]) ?? 1
                // Weights.Warning 0 is Consul's way of saying "do not send traffic to warning instances".
                if weight == 0 { mapped = .unhealthy }
            case .critical:
                mapped = health.critical
                weight = Self.int(weights?["Passing"]) ?? 1
            }
            let serviceMeta = service["Meta"] as? [String: Any]
            let nodeMeta = node["Meta"] as? [String: Any]
            let serviceLocality = service["Locality"] as? [String: Any]
            let nodeLocality = node["Locality"] as? [String: Any]
            let zone = Self.firstNonEmpty(
                Self.string(serviceLocality?["Zone"]), zoneMetaKeys.lazy.compactMap { Self.string(serviceMeta?[$0]) }.first,
                Self.string(nodeLocality?["Zone"]), zoneMetaKeys.lazy.compactMap { Self.string(nodeMeta?[$0]) }.first)
            let region = Self.firstNonEmpty(
                Self.string(serviceLocality?["Region"]), regionMetaKeys.lazy.compactMap { Self.string(serviceMeta?[$0]) }.first,
                Self.string(nodeLocality?["Region"]), regionMetaKeys.lazy.compactMap { Self.string(nodeMeta?[$0]) }.first)
            instances.append(
                Instance(
                    id: id, address: address, port: port, zone: zone, region: region, health: mapped,
                    weight: UInt32(clamping: max(1, weight))))
        }
        instances.sort { $0.id < $1.id }
        return ServiceRead(instances: instances, skipped: skipped)
    }

    enum Status: Int, Comparable {
        case passing = 0, warning = 1, critical = 2
        static func < (a: Status, b: Status) -> Bool { a.rawValue < b.rawValue }
    }

    /// The worst of the entry's checks; an unknown status counts as critical (as Consul's own
    /// `?passing` filter drops anything not `passing`).
    static func worstStatus(_ checks: [Any]) -> Status {
        var worst = Status.passing
        for case let check as [String: Any] in checks {
            let status: Status =
                switch check["Status"] as? String {
                case "passing": .passing
                case "warning": .warning
                default: .critical
                }
            worst = max(worst, status)
        }
        return worst
    }

    static func json(_ body: Data) throws(ConsulFailure) -> Any {
        do {
            return try JSONSerialization.jsonObject(with: body, options: [.fragmentsAllowed])
        } catch {
            let start = String(decoding: body.prefix(60), as: UTF8.self)
            throw .malformed("not JSON: \(start.debugDescription)")
        }
    }

    static func string(_ value: Any?) -> String? {
        guard let s = value as? String, !s.isEmpty else { return nil }
        return s
    }

    static func int(_ value: Any?) -> Int? {
        if let n = value as? NSNumber { return n.intValue }
        if let s = value as? String { return Int(s) }
        return nil
    }

    static func firstNonEmpty(_ values: String?...) -> String? {
        values.lazy.compactMap { $0 }.first { !$0.isEmpty }
    }
}

/// Resource-level differences between two rendered snapshots (service name → config dump).
struct SnapshotDiff {
    /// Resources of one config dump: kind ("cluster", "endpoint", "listener", "route") → name → resource.
    typealias Resources = [String: [String: JSONValue]]

    static let kinds = ["cluster", "endpoint", "listener", "route"]

    enum Change: Equatable {
        case serviceAdded(String, resources: Int)
        case serviceRemoved(String, resources: Int)
        case added(service: String, kind: String, name: String)
        case removed(service: String, kind: String, name: String)
        case changed(service: String, kind: String, name: String, fields: [String])
    }

    /// The resources in a `/config_dump`-shaped document (the one `render` writes).
    static func resources(of dump: JSONValue) -> Resources {
        var result: Resources = [:]
        for kind in kinds { result[kind] = [:] }
        for config in dump["configs"]?.arrayValue ?? [] {
            let type = config["@type"]?.stringValue ?? ""
            let entries: [JSONValue?]
            let kind: String
            let nameKey: String
            switch type {
            case ConfigDump.clustersDump:
                (kind, nameKey) = ("cluster", "name")
                entries = (config["dynamic_active_clusters"]?.arrayValue ?? []).map { $0["cluster"] }
            case ConfigDump.endpointsDump:
                (kind, nameKey) = ("endpoint", "cluster_name")
                entries = (config["dynamic_endpoint_configs"]?.arrayValue ?? []).map { $0["endpoint_config"] }
            case ConfigDump.listenersDump:
                (kind, nameKey) = ("listener", "name")
                entries = (config["dynamic_listeners"]?.arrayValue ?? []).map { $0["active_state"]?["listener"] }
            case ConfigDump.routesDump:
                (kind, nameKey) = ("route", "name")
                entries = (config["dynamic_route_configs"]?.arrayValue ?? []).map { $0["route_config"] }
            default:
                continue
            }
            for case let resource? in entries {
                result[kind]![resource[nameKey]?.stringValue ?? ""] = resource
            }
        }
        return result
    }

    /// Every change from `old` to `new`, ordered by service, kind (make-before-break order) and name.
    static func changes(old: [String: JSONValue], new: [String: JSONValue]) -> [Change] {
        var changes: [Change] = []
        for service in Set(old.keys).union(new.keys).sorted() {
            let before = old[service].map(resources)
            let after = new[service].map(resources)
            guard let before else {
                changes.append(.serviceAdded(service, resources: count(after!)))
                continue
            }
            guard let after else {
                changes.append(.serviceRemoved(service, resources: count(before)))
                continue
            }
            for kind in kinds {
                let was = before[kind] ?? [:]
                let now = after[kind] ?? [:]
                for name in Set(was.keys).union(now.keys).sorted() {
                    switch (was[name], now[name]) {
                    case (nil, _?): changes.append(.added(service: service, kind: kind, name: name))
                    case (_?, nil): changes.append(.removed(service: service, kind: kind, name: name))
                    case (let a?, let b?) where a != b:
                        var fields: [String] = []
                        fieldChanges(path: "", a, b, into: &fields)
                        changes.append(.changed(service: service, kind: kind, name: name, fields: fields))
                    default: break
                    }
                }
            }
        }
        return changes
    }

    static func count(_ resources: Resources) -> Int { resources.values.reduce(0) { $0 + $1.count } }

    /// The report for code review: one line per resource, changed fields indented below it.
    static func describe(_ changes: [Change]) -> String {
        var out = ""
        for change in changes {
            switch change {
            case .serviceAdded(let service, let resources): out += "+ service \(service) (\(resources) resources)\n"
            case .serviceRemoved(let service, let resources): out += "- service \(service) (\(resources) resources)\n"
            case .added(let service, let kind, let name): out += "+ \(service) \(kind) \(name)\n"
            case .removed(let service, let kind, let name): out += "- \(service) \(kind) \(name)\n"
            case .changed(let service, let kind, let name, let fields):
                out += "~ \(service) \(kind) \(name)\n"
                for field in fields { out += "    \(field)\n" }
            }
        }
        return out
    }

    // MARK: - Field-level differences

    static func fieldChanges(path: String, _ old: JSONValue, _ new: JSONValue, into lines: inout [String]) {
        guard old != new else { return }
        switch (old, new) {
        case (.object(let a), .object(let b)):
            let keys = Set(a.keys).union(b.keys).sorted { Array($0.utf8).lexicographicallyPrecedes(Array($1.utf8)) }
            for key in keys {
                let child = path.isEmpty ? key : "\(path).\(key)"
                switch (a[key], b[key]) {
                case (nil, let value?): lines.append("+ \(child): \(short(value))")
                case (let value?, nil): lines.append("- \(child): \(short(value))")
                case (let x?, let y?): fieldChanges(path: child, x, y, into: &lines)
                default: break
                }
            }
        case (.array(let a), .array(let b)):
            if let keyed = keyedByName(a), let keyedNew = keyedByName(b) {
                // Lists of named things (virtual hosts, filters, clusters): match by name, not position.
                let order = a.compactMap { $0["name"]?.stringValue } + b.compactMap { $0["name"]?.stringValue }
                var seen = Set<String>()
                for name in order where seen.insert(name).inserted {
                    let child = "\(path)[name=\(name)]"
                    switch (keyed[name], keyedNew[name]) {
                    case (nil, let value?): lines.append("+ \(child): \(short(value))")
                    case (let value?, nil): lines.append("- \(child): \(short(value))")
                    case (let x?, let y?): fieldChanges(path: child, x, y, into: &lines)
                    default: break
                    }
                }
                let positions = a.compactMap { $0["name"]?.stringValue }.filter { keyedNew[$0] != nil }
                let positionsNew = b.compactMap { $0["name"]?.stringValue }.filter { keyed[$0] != nil }
                if positions != positionsNew { lines.append("~ \(path): order \(positions) -> \(positionsNew)") }
                return
            }
            for index in 0..<max(a.count, b.count) {
                let child = "\(path)[\(index)]"
                if index >= a.count {
                    lines.append("+ \(child): \(short(b[index]))")
                } else if index >= b.count {
                    lines.append("- \(child): \(short(a[index]))")
                } else {
                    fieldChanges(path: child, a[index], b[index], into: &lines)
                }
            }
        default:
            lines.append("~ \(path): \(short(old)) -> \(short(new))")
        }
    }

    /// Elements by `name` when every element is an object with a unique string `name`.
    static func keyedByName(_ items: [JSONValue]) -> [String: JSONValue]? {
        guard !items.isEmpty else { return nil }
        var keyed: [String: JSONValue] = [:]
        for item in items {
            guard let name = item["name"]?.stringValue, keyed.updateValue(item, forKey: name) == nil else { return nil }
        }
        return keyed
    }

    static func short(_ value: JSONValue) -> String {
        let text = value.compact()
        return text.count <= 160 ? text : String(text.prefix(157)) + "..."
    }
}

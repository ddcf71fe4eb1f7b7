import Catalog
import Foundation

/// Parsing of the policy settings (`SettingField` tables) and of the routing-rule fields.
extension TemplateFormat {
    /// The first path components of a table: the keys a mapping holding these settings accepts.
    static func topKeys<Root>(_ fields: [SettingField<Root>]) -> [String] {
        var seen = Set<String>()
        return fields.compactMap { field in
            let key = String(field.path.split(separator: ".")[0])
            return seen.insert(key).inserted ? key : nil
        }
    }

    /// Parses the settings of `fields` found in `mapping` (other keys are left to the caller).
    static func parseSettings<Root>(_ mapping: YAMLMapping, fields: [SettingField<Root>]) -> SettingOverrides? {
        var result: SettingOverrides = [:]
        var ok = true
        for key in topKeys(fields) {
            guard let value = mapping[key] else { continue }
            ok = parseSetting(value, path: key, fields: fields, into: &result) && ok
        }
        return ok ? result : nil
    }

    /// Parses a whole mapping of settings (`defaults.yaml`'s `inbound:` and `dependency:`).
    static func parseSettings<Root>(_ value: YAMLValue, fields: [SettingField<Root>]) -> SettingOverrides? {
        guard let mapping = value.mapping(fields: topKeys(fields)) else { return nil }
        return parseSettings(mapping, fields: fields)
    }

    private static func parseSetting<Root>(
        _ value: YAMLValue, path: String, fields: [SettingField<Root>], into result: inout SettingOverrides
    ) -> Bool {
        if let field = fields.first(where: { $0.path == path }) {
            guard let parsed = parseLeaf(value, kind: field.kind) else { return false }
            result[path] = parsed
            return true
        }
        let prefix = path + "."
        var keys: [String] = []
        for field in fields where field.path.hasPrefix(prefix) {
            let key = String(field.path.dropFirst(prefix.count).split(separator: ".")[0])
            if !keys.contains(key) { keys.append(key) }
        }
        guard let mapping = value.mapping(fields: keys) else { return false }
        var ok = true
        for key in keys {
            guard let child = mapping[key] else { continue }
            ok = parseSetting(child, path: prefix + key, fields: fields, into: &result) && ok
        }
        return ok
    }

    private static func parseLeaf<Root>(_ value: YAMLValue, kind: SettingKind<Root>) -> SettingValue? {
        switch kind {
        case .duration(_, let minimum):
            return value.duration(minimum: minimum).map(SettingValue.duration)
        case .integer(_, let range):
            return value.integer(in: range, expected: "an integer \(range.lowerBound)-\(range.upperBound)").map(
                SettingValue.integer)
        case .number(_, let range):
            guard case .scalar(let scalar) = value.node, scalar.style == .plain || scalar.style == .any,
                let number = Double(scalar.string), number.isFinite, range.contains(number)
            else {
                let bounds =
                    "\(SettingField<Root>.number(range.lowerBound))-\(SettingField<Root>.number(range.upperBound))"
                value.fail("expected a number \(bounds)\(found(value))")
                return nil
            }
            return .number(number)
        case .bool:
            return value.bool().map(SettingValue.bool)
        case .words(_, let allowed):
            return words(value, allowed: allowed).map(SettingValue.words)
        case .integers(_, let range):
            guard let elements = value.sequence() else { return nil }
            let numbers = elements.compactMap {
                $0.integer(in: range, expected: "an integer \(range.lowerBound)-\(range.upperBound)")
            }
            guard numbers.count == elements.count else { return nil }
            return .integers(Array(Set(numbers)).sorted())
        case .text(_, let rule):
            guard case .scalar(let scalar) = value.node, !value.isNull, rule.accepts(scalar.string) else {
                value.fail("expected \(rule.expected)\(found(value))")
                return nil
            }
            return .text(scalar.string)
        }
    }

    /// `a,b,c` (Envoy's syntax) with every word in `allowed`.
    private static func words(_ value: YAMLValue, allowed: [String]) -> [String]? {
        guard let text = value.string() else { return nil }
        let words = text.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }
        var result: [String] = []
        for word in words {
            guard allowed.contains(word) else {
                let suggestion = Suggestion.closest(to: word, in: allowed).map { "; did you mean '\($0)'?" } ?? ""
                value.fail("unknown condition '\(word)'\(suggestion) (known: \(allowed.joined(separator: ", ")))")
                return nil
            }
            if !result.contains(word) { result.append(word) }
        }
        guard !result.isEmpty else {
            value.fail("expected at least one condition")
            return nil
        }
        return result
    }

    static func found(_ value: YAMLValue) -> String {
        if case .scalar(let scalar) = value.node, !value.isNull { return ", found '\(scalar.string)'" }
        switch value.node {
        case .mapping: return ", found a mapping"
        case .sequence: return ", found a list"
        default: return ", found null"
        }
    }

    // MARK: - Routing rules and external hosts

    static let externalFields = ["address", "port"]
    static let methodCacheFields = ["service", "methods"]

    static func parseExternal(_ value: YAMLValue) -> ExternalHost? {
        guard let fields = value.mapping(fields: externalFields) else { return nil }
        var address: String?
        if let addressValue = fields.required("address"), let text = addressValue.string() {
            if CatalogFile.isIPv4(text) || CatalogFile.isIPv6(text) || isHostName(text) {
                address = text
            } else {
                addressValue.fail("expected an IP address or a DNS name, found '\(text)'")
            }
        }
        let port = fields.required("port")?.integer(in: 1...65535, expected: portExpectation)
        guard let address, let port else { return nil }
        return ExternalHost(address: address, port: port)
    }

    static func isHostName(_ text: String) -> Bool {
        let labels = text.split(separator: ".", omittingEmptySubsequences: false)
        return text.count <= 253 && !labels.isEmpty
            && labels.allSatisfy { label in
                !label.isEmpty && label.count <= 63 && !label.hasPrefix("-") && !label.hasSuffix("-")
                    && label.allSatisfy { $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "-") }
            }
            && !labels.last!.allSatisfy(\.isNumber)
    }

    /// `sandboxes: [alice, bob]`: unique valid names; a repeated one is a duplicate route.
    static func parseSandboxes(_ value: YAMLValue) -> [String]? {
        guard let elements = value.sequence() else { return nil }
        var first: [String: Int] = [:]
        var ok = true
        for (index, element) in elements.enumerated() {
            guard let name = element.name() else {
                ok = false
                continue
            }
            if name.contains("~") || name.contains(".") {
                element.fail("sandbox names may not contain '.' or '~'")
                ok = false
            } else if let earlier = first[name] {
                element.fail("duplicate route: sandbox '\(name)' is already routed by sandboxes[\(earlier)]")
                ok = false
            } else {
                first[name] = index
            }
        }
        return ok ? first.keys.sorted() : nil
    }

    static func parseMethodCache(_ value: YAMLValue, dependency: String?) -> MethodCache? {
        guard let fields = value.mapping(fields: methodCacheFields) else { return nil }
        var service: String?
        if let serviceValue = fields.required("service"), let name = serviceValue.name() {
            if name == dependency {
                serviceValue.fail("the cache must be another service than the dependency itself")
            } else if ServiceTemplate.reservedNames.contains(name) {
                serviceValue.fail("'\(name)' is reserved for generated resources")
            } else {
                service = name
            }
        }
        var methods: [String] = []
        var first: [String: Int] = [:]
        var ok = true
        let methodsValue = fields.required("methods")
        if let methodsValue, let list = methodsValue.sequence() {
            if list.isEmpty {
                methodsValue.fail("expected at least one method")
                ok = false
            }
            for (index, element) in list.enumerated() {
                guard let method = element.string() else {
                    ok = false
                    continue
                }
                guard isGRPCMethod(method) else {
                    element.fail("expected a gRPC method path such as /pkg.Service/Method, found '\(method)'")
                    ok = false
                    continue
                }
                if let earlier = first[method] {
                    element.fail("duplicate route: method '\(method)' is already routed by methods[\(earlier)]")
                    ok = false
                    continue
                }
                first[method] = index
                methods.append(method)
            }
        } else {
            ok = false
        }
        guard let service, ok else { return nil }
        return MethodCache(service: service, methods: methods.sorted())
    }

    /// `/package.Service/Method`: two non-empty segments of name characters.
    static func isGRPCMethod(_ text: String) -> Bool {
        guard text.hasPrefix("/") else { return false }
        let parts = text.dropFirst().split(separator: "/", omittingEmptySubsequences: false)
        return parts.count == 2
            && parts.allSatisfy { part in
                !part.isEmpty && part.allSatisfy { $0.isASCII && ($0.isLetter || $0.isNumber || "._".contains($0)) }
            }
    }

    /// A lowercase HTTP header name (Envoy matches lowercase names).
    static func isHeaderName(_ text: String) -> Bool {
        !text.isEmpty && !text.hasPrefix(":")
            && text.allSatisfy { $0.isASCII && ($0.isLowercase || $0.isNumber || "-_".contains($0)) }
    }
}

extension YAMLValue {
    /// The value of `key` when this node is a mapping holding it; reports nothing.
    func quietChild(_ key: String) -> YAMLValue? {
        guard case .mapping(let mapping) = node else { return nil }
        for (keyNode, valueNode) in mapping {
            if case .scalar(let scalar) = keyNode, scalar.string == key { return child(key, node: valueNode) }
        }
        return nil
    }
}

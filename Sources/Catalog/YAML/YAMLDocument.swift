import Yams

/// Walks a YAML document with positions, collecting every problem instead of stopping at the first.
///
/// Shared by the catalog parser and the template loader (`package` access), so that both report
/// the same `file:line:col: field: message` errors and the same "did you mean" suggestions.
/// Not `Sendable`: one walk runs on one thread and ends before the values it built are shared.
package final class YAMLDocument {
    package let file: String
    package private(set) var errors: [ConfigError] = []
    /// The document root; `nil` when the text could not be parsed or holds no document.
    package private(set) var root: YAMLValue?

    /// Parses `yaml`; a syntax error or an empty document is recorded in `errors`.
    ///
    /// Composed with `Resolver.basic`: the walk reads scalars as text and never asks for a
    /// resolved tag, and Yams' duplicate-key check hashes every key's tag, which the default
    /// resolver computes by matching the text against its bool/int/float/null/timestamp regular
    /// expressions (profiled: 42% of a catalog change). With no rules every plain scalar is a
    /// string, so the check stays (same keys, same error and position) at the cost of a hash.
    package init(yaml: String, file: String) {
        self.file = file
        do {
            if let node = try Yams.compose(yaml: yaml, .basic) {
                root = YAMLValue(node: node, path: "", document: self)
            } else {
                report(line: 0, column: 0, field: "", "the file holds no YAML document")
            }
        } catch let error as YamlError {
            recordSyntaxError(error)
        } catch {
            report(line: 0, column: 0, field: "", "cannot parse YAML: \(error)")
        }
    }

    package func report(_ value: YAMLValue, _ message: String) {
        report(line: value.line, column: value.column, field: value.path, message)
    }

    package func report(line: Int, column: Int, field: String, _ message: String) {
        errors.append(ConfigError(file: file, line: line, column: column, field: field, message: message))
    }

    private func recordSyntaxError(_ error: YamlError) {
        switch error {
        case .scanner(let context, let problem, let mark, _),
            .parser(let context, let problem, let mark, _),
            .composer(let context, let problem, let mark, _):
            let detail = context.map { "\($0.text) " } ?? ""
            report(line: mark.line, column: mark.column, field: "", "invalid YAML: \(detail)\(problem)")
        case .duplicatedKeysInMapping(let duplicates, let context):
            // Yams reports the first occurrence of the first duplicated key.
            let keys = duplicates.map { "'\($0)'" }.joined(separator: ", ")
            report(
                line: context.mark.line, column: context.mark.column, field: "",
                "duplicate key \(keys) in this mapping (each key may appear once)")
        default:
            report(line: 0, column: 0, field: "", "invalid YAML: \(error)")
        }
    }
}

/// One node of a document, with its field path (`services.payments.instances[1].port`).
package struct YAMLValue {
    package let node: Node
    package let path: String
    package unowned let document: YAMLDocument

    package var line: Int { node.mark?.line ?? 0 }
    package var column: Int { node.mark?.column ?? 0 }

    package func child(_ key: String, node: Node) -> YAMLValue {
        YAMLValue(node: node, path: path.isEmpty ? key : "\(path).\(key)", document: document)
    }

    package func element(_ index: Int, node: Node) -> YAMLValue {
        YAMLValue(node: node, path: "\(path)[\(index)]", document: document)
    }

    package func fail(_ message: String) {
        document.report(self, message)
    }

    /// `true` for an explicit null (`~`, `null`, or nothing after the colon).
    package var isNull: Bool {
        guard case .scalar(let scalar) = node, scalar.style == .plain || scalar.style == .any else { return false }
        return ["", "~", "null", "Null", "NULL"].contains(scalar.string)
    }

    private var plainScalar: String? {
        guard case .scalar(let scalar) = node, !isNull else { return nil }
        return scalar.string
    }

    private var kind: String {
        switch node {
        case .scalar: return isNull ? "null" : "a scalar"
        case .mapping: return "a mapping"
        case .sequence: return "a list"
        case .alias: return "an alias"
        }
    }

    /// This node as a mapping whose keys must all be in `fields`; unknown and duplicate keys are reported.
    package func mapping(fields: [String]) -> YAMLMapping? {
        guard let mapping = anyMapping() else { return nil }
        for (key, _) in mapping.entries where !fields.contains(key.name) {
            let suggestion = Suggestion.closest(to: key.name, in: fields).map { "; did you mean '\($0)'?" } ?? ""
            let allowed = suggestion.isEmpty ? " (known fields: \(fields.joined(separator: ", ")))" : ""
            document.report(
                line: key.line, column: key.column, field: child(key.name, node: node).path,
                "unknown field '\(key.name)'\(suggestion)\(allowed)")
        }
        return YAMLMapping(entries: mapping.entries.filter { fields.contains($0.key.name) }, owner: self)
    }

    /// This node as a mapping with arbitrary (name) keys; duplicate keys are reported.
    package func anyMapping() -> YAMLMapping? {
        if case .alias = node {
            fail("YAML aliases are not supported here")
            return nil
        }
        guard case .mapping(let mapping) = node else {
            fail("expected a mapping, found \(kind)")
            return nil
        }
        var seen = Set<String>()
        var entries: [(key: YAMLKey, value: YAMLValue)] = []
        for (keyNode, valueNode) in mapping {
            guard case .scalar(let scalar) = keyNode else {
                document.report(
                    line: keyNode.mark?.line ?? 0, column: keyNode.mark?.column ?? 0, field: path,
                    "mapping keys must be plain strings")
                continue
            }
            let key = YAMLKey(name: scalar.string, line: keyNode.mark?.line ?? 0, column: keyNode.mark?.column ?? 0)
            let value = child(key.name, node: valueNode)
            guard seen.insert(key.name).inserted else {
                document.report(line: key.line, column: key.column, field: value.path, "duplicate field '\(key.name)'")
                continue
            }
            entries.append((key, value))
        }
        return YAMLMapping(entries: entries, owner: self)
    }

    /// This node as a list; an explicit null is an empty list.
    package func sequence() -> [YAMLValue]? {
        if isNull { return [] }
        guard case .sequence(let sequence) = node else {
            fail("expected a list, found \(kind)")
            return nil
        }
        return sequence.enumerated().map { element($0.offset, node: $0.element) }
    }

    /// A non-empty string scalar.
    package func string() -> String? {
        guard let text = plainScalar, !text.isEmpty else {
            fail("expected a non-empty string, found \(kind)")
            return nil
        }
        return text
    }

    /// A name: letters, digits, `.`, `_` and `-`, starting with a letter or digit.
    package func name() -> String? {
        guard let text = string() else { return nil }
        guard Self.isValidName(text) else {
            fail(
                "'\(text)' is not a valid name (use letters, digits, '.', '_' and '-', starting with a letter or digit)"
            )
            return nil
        }
        return text
    }

    package static func isValidName(_ text: String) -> Bool {
        guard let first = text.unicodeScalars.first, isAlphanumeric(first) else { return false }
        return text.unicodeScalars.allSatisfy { isAlphanumeric($0) || "._-".unicodeScalars.contains($0) }
    }

    private static func isAlphanumeric(_ scalar: Unicode.Scalar) -> Bool {
        ("a"..."z").contains(scalar) || ("A"..."Z").contains(scalar) || ("0"..."9").contains(scalar)
    }

    /// A decimal integer within `range`; `expected` names the range in the message ("an integer 1-65535").
    package func integer(in range: ClosedRange<Int>, expected: String) -> Int? {
        guard case .scalar(let scalar) = node, scalar.style == .plain || scalar.style == .any,
            let value = Int(scalar.string), range.contains(value)
        else {
            fail("expected \(expected)\(foundSuffix)")
            return nil
        }
        return value
    }

    /// `true` or `false`.
    package func bool() -> Bool? {
        guard case .scalar(let scalar) = node, scalar.style == .plain || scalar.style == .any else {
            fail("expected true or false\(foundSuffix)")
            return nil
        }
        switch scalar.string.lowercased() {
        case "true": return true
        case "false": return false
        default:
            fail("expected true or false\(foundSuffix)")
            return nil
        }
    }

    /// A duration such as `250ms`, `2s`, `1.5s`, `1m` or `1h`, at least `minimum`.
    package func duration(minimum: Duration = .zero) -> Duration? {
        guard let text = plainScalar, let value = DurationText.parse(text), value >= minimum else {
            let bound = minimum == .zero ? "" : " greater than 0"
            fail("expected a duration\(bound) such as 250ms, 2s or 1m\(foundSuffix)")
            return nil
        }
        return value
    }

    /// One of the raw values of `E`, with a suggestion when the value is close to one.
    package func oneOf<E: RawRepresentable & CaseIterable>(_ type: E.Type) -> E? where E.RawValue == String {
        let choices = E.allCases.map(\.rawValue)
        guard let text = plainScalar else {
            fail("expected one of \(choices.joined(separator: ", "))\(foundSuffix)")
            return nil
        }
        if let value = E(rawValue: text) { return value }
        let suggestion = Suggestion.closest(to: text, in: choices).map { "; did you mean '\($0)'?" } ?? ""
        fail("expected one of \(choices.joined(separator: ", ")), found '\(text)'\(suggestion)")
        return nil
    }

    private var foundSuffix: String {
        if let text = plainScalar { return ", found '\(text)'" }
        return ", found \(kind)"
    }
}

package struct YAMLKey {
    package let name: String
    package let line: Int
    package let column: Int
}

/// The entries of one mapping, in document order.
package struct YAMLMapping {
    package let entries: [(key: YAMLKey, value: YAMLValue)]
    package let owner: YAMLValue

    /// The value for `key`; `nil` when absent or explicitly null.
    package subscript(key: String) -> YAMLValue? {
        guard let value = entries.first(where: { $0.key.name == key })?.value, !value.isNull else { return nil }
        return value
    }

    /// Whether `key` is present at all (possibly with an explicit null).
    package func contains(_ key: String) -> Bool {
        entries.contains { $0.key.name == key }
    }

    /// The value for `key`, reporting "missing required field" at the mapping when it is absent or null.
    package func required(_ key: String) -> YAMLValue? {
        guard let value = self[key] else {
            owner.document.report(
                line: owner.line, column: owner.column, field: owner.child(key, node: owner.node).path,
                "missing required field '\(key)'")
            return nil
        }
        return value
    }
}

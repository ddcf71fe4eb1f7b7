import Catalog

/// Policy settings that both `defaults.yaml` and templates may set, described once.
///
/// Each setting is a `SettingField`: its YAML path (`retries.num_retries`), its type and range, the
/// property of the resolved policy it sets, and a one-line description. The same tables drive
/// YAML parsing (unknown fields, types, ranges), overlaying (built-in ← `defaults.yaml` ← the
/// template), the JSON Schema (`TemplateSchema`) and the field reference in `docs/templates.md`.

/// One parsed setting value, before it is applied to a policy.
public enum SettingValue: Sendable, Hashable {
    case duration(Duration)
    case integer(Int)
    case number(Double)
    case bool(Bool)
    case words([String])
    case integers([Int])
    case text(String)
}

/// Settings written in a file, keyed by YAML path (`outlier_detection.interval`).
public typealias SettingOverrides = [String: SettingValue]

/// The type of one setting, with the property of `Root` it sets.
///
/// `@unchecked Sendable`: the payloads are key paths to stored properties, ranges and text rules,
/// immutable values that are never mutated after the static tables are built.
enum SettingKind<Root>: @unchecked Sendable {
    /// A duration of at least `minimum` (`0s` allowed when `minimum` is zero).
    case duration(WritableKeyPath<Root, Duration>, minimum: Duration)
    case integer(WritableKeyPath<Root, Int>, ClosedRange<Int>)
    /// A percentage, decimals allowed.
    case number(WritableKeyPath<Root, Double>, ClosedRange<Double>)
    case bool(WritableKeyPath<Root, Bool>)
    /// A comma-separated list of words from `allowed` (Envoy's `retry_on` syntax).
    case words(WritableKeyPath<Root, [String]>, allowed: [String])
    /// A list of integers within the range (HTTP status codes).
    case integers(WritableKeyPath<Root, [Int]>, ClosedRange<Int>)
    /// Free text that `rule` accepts (an HTTP path).
    case text(WritableKeyPath<Root, String>, TextRule)
}

/// What a free-text setting may contain: one check for the parser, the same rule as a JSON Schema
/// pattern for editors, and the words both use to describe it.
struct TextRule: Sendable {
    /// The type column of the docs table ("HTTP path").
    let name: String
    /// Describes the rule in errors: "expected \(expected), found '…'".
    let expected: String
    /// The rule as an ECMA-262 regular expression (JSON Schema `pattern`).
    let pattern: String
    let accepts: @Sendable (String) -> Bool

    /// An HTTP request path: `/` followed by visible ASCII (no spaces or control characters, which
    /// cannot go on an HTTP/1.1 request line), e.g. `/healthz` or `/status?full=1`.
    static let httpPath = TextRule(
        name: "HTTP path",
        expected: "an HTTP path starting with '/' (visible ASCII, no spaces), such as /healthz",
        pattern: "^/[!-~]*$"
    ) { text in
        text.hasPrefix("/") && text.unicodeScalars.allSatisfy { (0x21...0x7E).contains($0.value) }
    }
}

struct SettingField<Root>: Sendable {
    let path: String
    let kind: SettingKind<Root>
    let doc: String

    init(_ path: String, _ kind: SettingKind<Root>, _ doc: String) {
        self.path = path
        self.kind = kind
        self.doc = doc
    }

    /// Sets the property to `value`; a value of the wrong case (impossible after parsing) is ignored.
    func apply(_ value: SettingValue, to root: inout Root) {
        switch (kind, value) {
        case (.duration(let key, _), .duration(let v)): root[keyPath: key] = v
        case (.integer(let key, _), .integer(let v)): root[keyPath: key] = v
        case (.number(let key, _), .number(let v)): root[keyPath: key] = v
        case (.number(let key, _), .integer(let v)): root[keyPath: key] = Double(v)
        case (.bool(let key), .bool(let v)): root[keyPath: key] = v
        case (.words(let key, _), .words(let v)): root[keyPath: key] = v
        case (.integers(let key, _), .integers(let v)): root[keyPath: key] = v
        case (.text(let key, _), .text(let v)): root[keyPath: key] = v
        default: break
        }
    }

    /// The property's value in `root`, as YAML text (for the docs and the schema).
    func text(in root: Root) -> String {
        switch kind {
        case .duration(let key, _): DurationText.format(root[keyPath: key])
        case .integer(let key, _): String(root[keyPath: key])
        case .number(let key, _): Self.number(root[keyPath: key])
        case .bool(let key): String(root[keyPath: key])
        case .words(let key, _): root[keyPath: key].joined(separator: ",")
        case .integers(let key, _): "[" + root[keyPath: key].map(String.init).joined(separator: ", ") + "]"
        case .text(let key, _): root[keyPath: key]
        }
    }

    /// The type column of the field tables in `docs/templates.md`.
    var typeText: String {
        switch kind {
        case .duration: "duration"
        case .integer(_, let range): "\(range.lowerBound)–\(range.upperBound)"
        case .number(_, let range): "\(Self.number(range.lowerBound))–\(Self.number(range.upperBound))"
        case .bool: "bool"
        case .words: "conditions"
        case .integers(_, let range): "list of \(range.lowerBound)–\(range.upperBound)"
        case .text(_, let rule): rule.name
        }
    }

    /// This field's row in the tables of `docs/templates.md`: path, type, built-in value, meaning.
    func docsRow(defaults: Root) -> String {
        "| `\(path)` | \(typeText) | `\(text(in: defaults))` | \(doc) |"
    }

    static func number(_ value: Double) -> String {
        value == value.rounded() ? String(Int(value)) : String(value)
    }
}

extension Array {
    /// Applies `overrides` (by path) onto `root` in table order, so the result does not depend on
    /// dictionary order.
    func applying<Root>(_ overrides: SettingOverrides, to root: Root) -> Root where Element == SettingField<Root> {
        var result = root
        for field in self {
            if let value = overrides[field.path] { field.apply(value, to: &result) }
        }
        return result
    }
}

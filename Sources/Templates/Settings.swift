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
}

/// Settings written in a file, keyed by YAML path (`outlier_detection.interval`).
public typealias SettingOverrides = [String: SettingValue]

/// The type of one setting, with the property of `Root` it sets.
///
/// `@unchecked Sendable`: the payloads are key paths to stored properties and ranges, immutable
/// values that are never mutated after the static tables are built.
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
        }
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

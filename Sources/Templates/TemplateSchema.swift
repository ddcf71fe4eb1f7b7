import Catalog
import Foundation

/// The JSON Schema (draft 2020-12) of `services/*.yaml` and `defaults.yaml`, built from the same
/// tables the parser uses, so `Config/schema.json` cannot drift from what Sextant accepts
/// (a test compares the file with `TemplateSchema.json()`).
///
/// The schema is a little looser than the parser in places it cannot express: durations over a
/// day, IPv6 syntax, and that a template's `service` matches its file name.
public enum TemplateSchema {
    /// The schema as pretty-printed JSON with sorted keys, ending with a newline.
    public static func json() -> String {
        let options: JSONSerialization.WritingOptions = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        do {
            let data = try JSONSerialization.data(withJSONObject: schema(), options: options)
            return String(decoding: data, as: UTF8.self) + "\n"
        } catch {
            // Only strings, numbers, booleans, arrays and dictionaries go in: serialization cannot fail.
            preconditionFailure("cannot encode the template schema: \(error)")
        }
    }

    static func schema() -> [String: Any] {
        [
            "$schema": "https://json-schema.org/draft/2020-12/schema",
            "$id": "urn:sextant:templates",
            "title": "Sextant service template (services/<service>.yaml) or template defaults (defaults.yaml)",
            "description": "See docs/templates.md for what Envoy does with each field.",
            "anyOf": [["$ref": "#/$defs/template"], ["$ref": "#/$defs/defaults"]],
            "$defs": definitions(),
        ]
    }

    private static func definitions() -> [String: Any] {
        let inboundPolicy = settingsObject(InboundPolicy.fields, defaults: InboundPolicy())
        let dependencyPolicy = settingsObject(DependencyPolicy.fields, defaults: DependencyPolicy())
        let safeguards = settingsObject(SafeguardSettings.fields, defaults: SafeguardSettings())
        var inbound = inboundPolicy
        inbound["description"] = "The application's own port; the inbound listener forwards to 127.0.0.1:port."
        inbound["required"] = ["port"]
        inbound["properties"] = merged(
            inboundPolicy["properties"],
            [
                "port": ref("port", "the application's port on 127.0.0.1"),
                "protocol": ref("protocol", "the application's protocol (default: defaults' protocol)"),
            ])
        var dependency = dependencyPolicy
        dependency["description"] = "A service this one calls."
        dependency["required"] = ["name"]
        dependency["properties"] = merged(
            dependencyPolicy["properties"],
            [
                "name": ref("name", "a catalog service, or any name with 'external'"),
                "protocol": ref("protocol", "protocol to the dependency (default: defaults' protocol)"),
                "timeout": ref("duration", "route timeout (default: defaults' routes.timeout); 0s: none"),
                "external": object(
                    "a host outside the catalog: STATIC cluster for an IP, STRICT_DNS for a DNS name",
                    ["address": string("IP address or DNS name"), "port": ref("port", "port")],
                    required: ["address", "port"]),
                "sandboxes": [
                    "description":
                        "sandbox names: '<sandbox_header>: NAME' routes to the catalog service '<name>.sandbox.NAME'",
                    "type": "array", "uniqueItems": true,
                    "items": ["type": "string", "pattern": "^[A-Za-z0-9][A-Za-z0-9_-]*$"],
                ],
                "method_cache": object(
                    "gRPC methods served by a cache service, falling back to this dependency",
                    [
                        "service": ref("name", "the catalog service that caches the methods"),
                        "methods": [
                            "type": "array", "minItems": 1, "uniqueItems": true,
                            "items": [
                                "type": "string", "pattern": "^/[A-Za-z0-9._]+/[A-Za-z0-9._]+$",
                                "description": "/package.Service/Method",
                            ],
                        ],
                    ], required: ["service", "methods"]),
            ])
        let template = object(
            "A service template: services/<service>.yaml",
            [
                "service": ref("name", "the service name; must equal the file name without .yaml"),
                "inbound": ["anyOf": [["type": "null"], ["$ref": "#/$defs/inbound"]]],
                "dependencies": ["type": ["array", "null"], "items": ["$ref": "#/$defs/dependency"]],
            ], required: ["service"])
        let defaults = object(
            "Template defaults: defaults.yaml",
            [
                "listeners": object(
                    "sidecar listeners",
                    [
                        "address": string("address the listeners bind", default: "127.0.0.1"),
                        "outbound_port": ref("port", "the outbound (egress) listener's port", default: 15001),
                        "inbound_port": [
                            "description": "the inbound listener's port; null: no inbound listeners",
                            "type": ["integer", "null"], "minimum": 1, "maximum": 65535, "default": 15006,
                        ],
                    ]),
                "clusters": object(
                    "clusters",
                    ["connect_timeout": ref("duration", "cluster connect_timeout (greater than 0)", default: "1s")]),
                "routes": object(
                    "routes",
                    [
                        "timeout": ref(
                            "duration", "route timeout of dependencies without one; 0s: none", default: "15s"),
                        "sandbox_header": [
                            "type": "string", "pattern": "^[a-z0-9_-]+$", "default": "x-sandbox",
                            "description": "request header whose value names a sandbox",
                        ],
                    ]),
                "passthrough": [
                    "type": "boolean", "default": true,
                    "description": "undeclared destinations go to the ORIGINAL_DST cluster 'passthrough'",
                ],
                "protocol": ref("protocol", "protocol of inbound ports and dependencies without one", default: "http1"),
                "default_template": object(
                    "the template of a service without a file",
                    ["inbound": ["anyOf": [["type": "null"], ["$ref": "#/$defs/inbound"]]]]),
                "inbound": ["$ref": "#/$defs/inboundSettings"],
                "dependency": ["$ref": "#/$defs/dependencySettings"],
                "safeguards": ["$ref": "#/$defs/safeguardSettings"],
            ])
        return [
            "duration": [
                "type": "string", "pattern": "^[0-9]{1,9}(\\.[0-9]{1,9})?(ms|s|m|h)$",
                "description": "a duration: 250ms, 2s, 1.5s, 1m, 1h (at most a day)",
            ],
            "port": ["type": "integer", "minimum": 1, "maximum": 65535],
            "protocol": ["enum": ServiceProtocol.allCases.map(\.rawValue)],
            "name": ["type": "string", "pattern": "^[A-Za-z0-9][A-Za-z0-9._-]*$"],
            "inboundSettings": inboundPolicy,
            "dependencySettings": dependencyPolicy,
            "safeguardSettings": safeguards,
            "inbound": inbound,
            "dependency": dependency,
            "template": template,
            "defaults": defaults,
        ]
    }

    /// A closed object with the settings of `fields`, nested by path, each with its built-in default.
    static func settingsObject<Root>(_ fields: [SettingField<Root>], defaults: Root) -> [String: Any] {
        var root: [String: Any] = ["type": "object", "additionalProperties": false, "properties": [String: Any]()]
        for field in fields {
            insert(leaf(field, defaults: defaults), at: field.path.split(separator: ".").map(String.init), into: &root)
        }
        return root
    }

    private static func insert(_ leaf: [String: Any], at path: [String], into object: inout [String: Any]) {
        var properties = object["properties"] as? [String: Any] ?? [:]
        if path.count == 1 {
            properties[path[0]] = leaf
        } else {
            var child =
                properties[path[0]] as? [String: Any]
                ?? ["type": "object", "additionalProperties": false, "properties": [String: Any]()]
            insert(leaf, at: Array(path.dropFirst()), into: &child)
            properties[path[0]] = child
        }
        object["properties"] = properties
    }

    private static func leaf<Root>(_ field: SettingField<Root>, defaults: Root) -> [String: Any] {
        var result: [String: Any] = ["description": field.doc]
        switch field.kind {
        case .duration(let key, _):
            result["$ref"] = "#/$defs/duration"
            result["default"] = DurationText.format(defaults[keyPath: key])
        case .integer(let key, let range):
            result.merge(["type": "integer", "minimum": range.lowerBound, "maximum": range.upperBound]) { $1 }
            result["default"] = defaults[keyPath: key]
        case .number(let key, let range):
            result.merge([
                "type": "number", "minimum": jsonNumber(range.lowerBound), "maximum": jsonNumber(range.upperBound),
            ]) { $1 }
            result["default"] = jsonNumber(defaults[keyPath: key])
        case .bool(let key):
            result["type"] = "boolean"
            result["default"] = defaults[keyPath: key]
        case .words(let key, let allowed):
            let word = "(" + allowed.map { NSRegularExpression.escapedPattern(for: $0) }.joined(separator: "|") + ")"
            result["type"] = "string"
            result["pattern"] = "^\\s*\(word)\\s*(,\\s*\(word)\\s*)*$"
            result["default"] = defaults[keyPath: key].joined(separator: ",")
        case .integers(let key, let range):
            result["type"] = "array"
            result["items"] = ["type": "integer", "minimum": range.lowerBound, "maximum": range.upperBound]
            result["default"] = defaults[keyPath: key]
        case .text(let key, let rule):
            result["type"] = "string"
            result["pattern"] = rule.pattern
            result["default"] = defaults[keyPath: key]
        }
        return result
    }

    private static func jsonNumber(_ value: Double) -> Any {
        value == value.rounded() && abs(value) < 1e15 ? Int(value) as Any : value as Any
    }

    private static func ref(_ name: String, _ description: String, default value: Any? = nil) -> [String: Any] {
        var result: [String: Any] = ["$ref": "#/$defs/\(name)", "description": description]
        if let value { result["default"] = value }
        return result
    }

    private static func string(_ description: String, default value: String? = nil) -> [String: Any] {
        var result: [String: Any] = ["type": "string", "minLength": 1, "description": description]
        if let value { result["default"] = value }
        return result
    }

    private static func object(_ description: String, _ properties: [String: Any], required: [String] = [])
        -> [String: Any]
    {
        var result: [String: Any] = [
            "type": "object", "additionalProperties": false, "description": description, "properties": properties,
        ]
        if !required.isEmpty { result["required"] = required }
        return result
    }

    private static func merged(_ base: Any?, _ extra: [String: Any]) -> [String: Any] {
        (base as? [String: Any] ?? [:]).merging(extra) { $1 }
    }
}

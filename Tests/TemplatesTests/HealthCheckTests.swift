import Catalog
import EnvoyAPI
import Foundation
import SwiftProtobuf
import Testing

@testable import Templates

/// Optional active health checking (`health_check:` of a dependency): off by default, an HTTP check
/// of a path for http1/http2 and a grpc.health.v1 check for grpc, values overlaid built-in ←
/// `defaults.yaml` ← template, and every bad value reported at its position.
@Suite struct HealthCheckTests {
    static let catalog = Catalog([
        CatalogService(
            name: "payments",
            instances: [
                Instance(id: "p1", address: "10.0.0.1", port: 80, zone: "a"),
                Instance(id: "p2", address: "10.0.0.2", port: 80, zone: "b"),
            ]),
        CatalogService(name: "payments.sandbox.alice", instances: [Instance(address: "10.0.5.1", port: 80, zone: "a")]),
        CatalogService(name: "rpc", instances: [Instance(address: "10.0.1.1", port: 81, zone: "a")]),
        CatalogService(name: "rpc-cache", instances: [Instance(address: "10.0.6.1", port: 80, zone: "a")]),
        CatalogService(name: "images", instances: [Instance(address: "10.0.2.1", port: 82, zone: "a")]),
    ])

    /// Every dependency kind: http1 with a sandbox, grpc with a method cache, http2, external.
    static let yaml = """
        service: frontend
        dependencies:
          - name: payments
            sandboxes: [alice]
            health_check: {enabled: true, path: /status?full=1}
          - name: rpc
            protocol: grpc
            method_cache: {service: rpc-cache, methods: [/rpc.Rpc/Get]}
            health_check: {enabled: true, interval: 2s}
          - name: images
            protocol: http2
            health_check: {enabled: true}
          - name: bank
            external: {address: bank.example.com, port: 443}
            health_check: {enabled: true, healthy_threshold: 1}
          - name: ledger
            external: {address: 10.9.9.9, port: 80}
        """

    static func template(_ yaml: String = yaml) throws -> ServiceTemplate {
        let (template, errors) = TemplateFormat.parseTemplate(yaml: yaml, file: "frontend.yaml")
        #expect(errors == [])
        return try #require(template)
    }

    static func compile(_ template: ServiceTemplate, defaults: Defaults = Defaults()) -> CompiledService {
        Compiler(defaults: defaults).compile(service: template.service, template: template, catalog: catalog)
    }

    static func check(_ compiled: CompiledService, _ cluster: String) throws -> Envoy_Config_Core_V3_HealthCheck {
        let found = try #require(compiled.clusters.first { $0.name == cluster }, "no cluster \(cluster)")
        #expect(found.healthChecks.count == 1, "\(cluster)")
        return try #require(found.healthChecks.first)
    }

    static func seconds(_ duration: Google_Protobuf_Duration) -> Double {
        Double(duration.seconds) + Double(duration.nanos) / 1e9
    }

    // MARK: - Off by default

    @Test func offByDefault() throws {
        let policy = DependencyPolicy()
        #expect(!policy.healthCheck)
        #expect(policy.healthCheckPath == "/healthz")
        #expect(policy.healthCheckInterval == .seconds(5))
        #expect(policy.healthCheckTimeout == .seconds(1))
        #expect(policy.healthCheckNoTrafficInterval == .seconds(60))
        #expect(policy.unhealthyThreshold == 3)
        #expect(policy.healthyThreshold == 2)

        // The same template with every `health_check` block removed: no cluster is checked.
        let plain = try Self.template(
            Self.yaml.split(separator: "\n").filter { !$0.contains("health_check") }.joined(separator: "\n"))
        let compiled = Self.compile(plain)
        #expect(compiled.clusters.count == 9)
        #expect(compiled.clusters.allSatisfy { $0.healthChecks.isEmpty })
        #expect(compiled.consistencyProblems() == [])
    }

    @Test func settingsWithoutEnabledAddNoCheck() throws {
        let template = try Self.template(
            "service: frontend\ndependencies:\n  - name: payments\n    health_check: {path: /ready, interval: 1s}\n")
        #expect(Self.compile(template).clusters.allSatisfy { $0.healthChecks.isEmpty })
    }

    // MARK: - On: the cluster's HealthCheck

    @Test func httpDependencyGetsAnHTTPCheckOfItsPath() throws {
        let compiled = Self.compile(try Self.template())
        #expect(compiled.consistencyProblems() == [])
        for cluster in ["payments", "payments~sandbox~alice"] {
            let check = try Self.check(compiled, cluster)
            guard case .httpHealthCheck(let http)? = check.healthChecker else {
                Issue.record("\(cluster): expected an HTTP check, found \(String(describing: check.healthChecker))")
                continue
            }
            #expect(http.path == "/status?full=1")
            #expect(http.host == "", "empty: Envoy sends the cluster name as Host")
            #expect(http.codecClientType == .http1)
            #expect(Self.seconds(check.interval) == 5)
            #expect(Self.seconds(check.timeout) == 1)
            #expect(Self.seconds(check.noTrafficInterval) == 60)
            #expect(check.unhealthyThreshold.value == 3)
            #expect(check.healthyThreshold.value == 2)
        }
        // http2 dependencies get the HTTP check too, of the built-in path.
        let images = try Self.check(compiled, "images")
        #expect(images.httpHealthCheck.path == "/healthz")
        #expect(images.httpHealthCheck.codecClientType == .http2, "an HTTP/2 upstream is checked over HTTP/2")
        #expect(Self.seconds(images.noTrafficInterval) == 60)
        // External clusters can be checked; an unchecked dependency stays unchecked.
        let bank = try Self.check(compiled, "bank")
        #expect(bank.httpHealthCheck.path == "/healthz")
        #expect(bank.healthyThreshold.value == 1)
        #expect(compiled.clusters.first { $0.name == "ledger" }?.healthChecks == [])
        // Removed hosts stay while they pass (Envoy's default): the compiler never sets the opposite.
        #expect(compiled.clusters.allSatisfy { !$0.ignoreHealthOnHostRemoval })
    }

    @Test func grpcDependencyGetsAGRPCHealthCheck() throws {
        let compiled = Self.compile(try Self.template())
        for cluster in ["rpc", "rpc~cache"] {
            let check = try Self.check(compiled, cluster)
            guard case .grpcHealthCheck(let grpc)? = check.healthChecker else {
                Issue.record("\(cluster): expected a gRPC check, found \(String(describing: check.healthChecker))")
                continue
            }
            #expect(grpc.serviceName == "", "empty: the server as a whole")
            #expect(Self.seconds(check.interval) == 2)
            #expect(Self.seconds(check.timeout) == 1)
            #expect(check.unhealthyThreshold.value == 3)
            #expect(check.healthyThreshold.value == 2)
        }
        // The aggregate cluster has no hosts of its own: nothing to check.
        #expect(compiled.clusters.first { $0.name == "rpc~cached" }?.healthChecks == [])
        // Only the dependency clusters are checked (not inbound, passthrough or the local cluster).
        #expect(compiled.clusters.first { $0.name == "passthrough" }?.healthChecks == [])
    }

    @Test func healthCheckSurvivesTheWire() throws {
        let compiled = Self.compile(try Self.template())
        let cluster = try #require(compiled.clusters.first { $0.name == "rpc" })
        let bytes: [UInt8] = try cluster.serializedBytes()
        let decoded = try Envoy_Config_Cluster_V3_Cluster(serializedBytes: bytes)
        #expect(decoded.healthChecks == cluster.healthChecks)
        #expect(decoded.healthChecks.first?.healthChecker == .grpcHealthCheck(.init()))
    }

    // MARK: - Overlay: built-in ← defaults.yaml ← template

    @Test func templateOverlaysDefaultsFieldByField() throws {
        let defaultsYAML = """
            dependency:
              health_check:
                enabled: true
                path: /ready
                interval: 10s
                unhealthy_threshold: 5
            """
        let (parsed, errors) = TemplateFormat.parseDefaults(yaml: defaultsYAML, file: "defaults.yaml")
        #expect(errors == [])
        let defaults = try #require(parsed)
        #expect(defaults.dependency.healthCheck)
        #expect(defaults.dependency.healthCheckPath == "/ready")
        #expect(defaults.dependency.healthyThreshold == 2, "not in defaults.yaml: the built-in value")

        let template = try Self.template(
            """
            service: frontend
            dependencies:
              - name: payments
                health_check: {timeout: 250ms, path: /livez}
              - name: images
              - name: rpc
                protocol: grpc
                health_check: {enabled: false}
            """)
        let compiler = Compiler(defaults: defaults)
        let payments = compiler.policyOf(template.dependencies[0])
        #expect(payments.healthCheck)
        #expect(payments.healthCheckPath == "/livez")
        #expect(payments.healthCheckTimeout == .milliseconds(250))
        #expect(payments.healthCheckInterval == .seconds(10))
        #expect(payments.unhealthyThreshold == 5)
        #expect(payments.healthyThreshold == 2)

        let compiled = Self.compile(template, defaults: defaults)
        let check = try Self.check(compiled, "payments")
        #expect(check.httpHealthCheck.path == "/livez")
        #expect(Self.seconds(check.timeout) == 0.25)
        #expect(Self.seconds(check.interval) == 10)
        #expect(check.unhealthyThreshold.value == 5)
        // Fleet-wide on: a dependency that says nothing is checked with the fleet's values.
        #expect(try Self.check(compiled, "images").httpHealthCheck.path == "/ready")
        // A template may turn it off again.
        #expect(compiled.clusters.first { $0.name == "rpc" }?.healthChecks == [])
    }

    // MARK: - Errors at file:line:col

    @Test func badTemplateValues() {
        let yaml = """
            service: frontend
            dependencies:
              - name: payments
                health_check:
                  enabled: yes please
                  path: healthz
                  interval: 0s
                  timeout: soon
                  unhealthy_threshold: 0
                  healthy_threshold: 1001
              - name: rpc
                health_check: {path: "/a b", no_traffic_interval: -1s}
              - name: images
                health_check: {enabeld: true}
              - name: bank
                health_checks: {enabled: true}
              - name: ledger
                health_check: {path: [/a]}
              - name: geo
                health_check: {path: ""}
            """
        let (template, errors) = TemplateFormat.parseTemplate(yaml: yaml, file: "frontend.yaml")
        #expect(template == nil)
        let path = "an HTTP path starting with '/' (visible ASCII, no spaces), such as /healthz"
        #expect(
            errors.map(\.description) == [
                "frontend.yaml:5:16: dependencies[0].health_check.enabled: expected true or false, found 'yes please'",
                "frontend.yaml:6:13: dependencies[0].health_check.path: expected \(path), found 'healthz'",
                "frontend.yaml:7:17: dependencies[0].health_check.interval: expected a duration greater than 0 such as 250ms, 2s or 1m, found '0s'",
                "frontend.yaml:8:16: dependencies[0].health_check.timeout: expected a duration greater than 0 such as 250ms, 2s or 1m, found 'soon'",
                "frontend.yaml:9:28: dependencies[0].health_check.unhealthy_threshold: expected an integer 1-1000, found '0'",
                "frontend.yaml:10:26: dependencies[0].health_check.healthy_threshold: expected an integer 1-1000, found '1001'",
                "frontend.yaml:12:26: dependencies[1].health_check.path: expected \(path), found '/a b'",
                "frontend.yaml:12:55: dependencies[1].health_check.no_traffic_interval: expected a duration greater than 0 such as 250ms, 2s or 1m, found '-1s'",
                "frontend.yaml:14:20: dependencies[2].health_check.enabeld: unknown field 'enabeld'; did you mean 'enabled'?",
                "frontend.yaml:16:5: dependencies[3].health_checks: unknown field 'health_checks'; did you mean 'health_check'?",
                "frontend.yaml:18:26: dependencies[4].health_check.path: expected \(path), found a list",
                "frontend.yaml:20:26: dependencies[5].health_check.path: expected \(path), found ''",
            ])
    }

    @Test func badDefaultsValues() {
        let yaml = """
            dependency:
              health_check:
                path: ready
                interval: 5 seconds
            """
        let (defaults, errors) = TemplateFormat.parseDefaults(yaml: yaml, file: "defaults.yaml")
        #expect(defaults == nil)
        #expect(
            errors.map(\.description) == [
                "defaults.yaml:3:11: dependency.health_check.path: expected an HTTP path starting with '/' (visible ASCII, no spaces), such as /healthz, found 'ready'",
                "defaults.yaml:4:15: dependency.health_check.interval: expected a duration greater than 0 such as 250ms, 2s or 1m, found '5 seconds'",
            ])
    }

    // MARK: - Schema, docs and defaults.yaml come from the same table

    @Test func schemaDescribesTheTextSetting() throws {
        let schema = TemplateSchema.schema()
        let defs = try #require(schema["$defs"] as? [String: Any])
        let settings = try #require(defs["dependencySettings"] as? [String: Any])
        let properties = try #require(settings["properties"] as? [String: Any])
        let healthCheck = try #require(properties["health_check"] as? [String: Any])
        let fields = try #require(healthCheck["properties"] as? [String: Any])
        #expect(
            Set(fields.keys) == [
                "enabled", "path", "interval", "timeout", "no_traffic_interval", "unhealthy_threshold",
                "healthy_threshold",
            ])
        let path = try #require(fields["path"] as? [String: Any])
        #expect(path["type"] as? String == "string")
        #expect(path["default"] as? String == "/healthz")
        let pattern = try #require(path["pattern"] as? String)
        #expect(pattern == TextRule.httpPath.pattern)
        #expect((fields["enabled"] as? [String: Any])?["default"] as? Bool == false)
        #expect((fields["interval"] as? [String: Any])?["default"] as? String == "5s")

        // Editors (the schema's pattern) and the parser (the rule's check) agree.
        let regex = try NSRegularExpression(pattern: pattern)
        for sample in [
            "/", "/healthz", "/status?full=1", "/a/b.c~d", "healthz", "", "/a b", "/tab\there", "/line\nbreak",
            "/é", " /x", "//",
        ] {
            let range = NSRange(sample.startIndex..., in: sample)
            let schemaAccepts = regex.firstMatch(in: sample, range: range) != nil
            #expect(schemaAccepts == TextRule.httpPath.accepts(sample), "'\(sample)'")
        }
    }

    @Test func textValuesRoundTrip() throws {
        let field = try #require(DependencyPolicy.fields.first { $0.path == "health_check.path" })
        var policy = DependencyPolicy()
        field.apply(.text("/ready"), to: &policy)
        #expect(policy.healthCheckPath == "/ready")
        #expect(field.text(in: policy) == "/ready")
        field.apply(.integer(3), to: &policy)  // the wrong case is ignored
        #expect(policy.healthCheckPath == "/ready")
    }

    /// Every row of the field tables in docs/templates.md is the one the table generates: path,
    /// type, built-in value and meaning cannot drift from the parser.
    @Test func docsTablesMatchTheFields() throws {
        var url = URL(fileURLWithPath: configDirectory())
        url.deleteLastPathComponent()
        let docs = try String(contentsOfFile: url.appendingPathComponent("docs/templates.md").path, encoding: .utf8)
        let lines = Set(docs.split(separator: "\n").map(String.init))
        for row in DependencyPolicy.fields.map({ $0.docsRow(defaults: DependencyPolicy()) })
            + InboundPolicy.fields.map({ $0.docsRow(defaults: InboundPolicy()) })
        {
            #expect(lines.contains(row), "docs/templates.md lacks the row\n\(row)")
        }
    }

    @Test func shippedDefaultsSpellOutTheHealthCheck() throws {
        let text = try String(contentsOfFile: configDirectory() + "/defaults.yaml", encoding: .utf8)
        let (defaults, errors) = TemplateFormat.parseDefaults(yaml: text, file: "defaults.yaml")
        #expect(errors == [])
        #expect(defaults?.dependency == DependencyPolicy())
        for field in DependencyPolicy.fields where field.path.hasPrefix("health_check.") {
            let key = String(field.path.dropFirst("health_check.".count))
            #expect(
                text.contains("\(key): \(field.text(in: DependencyPolicy()))"),
                "Config/defaults.yaml does not list \(field.path)")
        }
    }
}

import Catalog
import Foundation
import Testing

@testable import Templates

/// `Fixtures/broken/services/`: one kind of mistake per file, each reported with its position.
@Suite struct BrokenFixtureTests {
    static var directory: String {
        var url = URL(fileURLWithPath: #filePath)
        url.deleteLastPathComponent()
        return url.appendingPathComponent("Fixtures/broken").path
    }

    /// Every error of the folder (loading, then the catalog cross-check), paths relative to it.
    static func errors() throws -> [String] {
        let set = TemplateLoader(configDirectory: directory).load()
        let catalog = try FileSource(path: directory + "/catalog.yaml").load()
        return (set.errors + set.crossCheck(catalog: catalog)).map {
            $0.description.replacingOccurrences(of: directory + "/", with: "")
        }
    }

    static func errors(in file: String) throws -> [String] {
        try errors().filter { $0.hasPrefix("services/\(file):") }
    }

    @Test func onlyTheValidTemplatesLoad() {
        let set = TemplateLoader(configDirectory: Self.directory).load()
        #expect(set.templates.keys.sorted() == ["unknown_dependency"])
        #expect(set.defaults.routeTimeout == .seconds(10))
    }

    @Test func badYAML() throws {
        #expect(
            try Self.errors(in: "bad_yaml.yaml") == [
                "services/bad_yaml.yaml:5:1: invalid YAML: while parsing a flow sequence did not find expected ',' or ']'"
            ])
    }

    @Test func badDuration() throws {
        #expect(
            try Self.errors(in: "bad_duration.yaml") == [
                "services/bad_duration.yaml:4:14: dependencies[0].timeout: expected a duration such as 250ms, 2s or 1m, found '2 seconds'",
                "services/bad_duration.yaml:6:24: dependencies[0].retries.per_try_timeout: expected a duration such as 250ms, 2s or 1m, found '-1s'",
            ])
    }

    @Test func unknownFieldsSuggestTheClosestName() throws {
        #expect(
            try Self.errors(in: "did_you_mean.yaml") == [
                "services/did_you_mean.yaml:4:3: inbound.adaptive_concurency: unknown field 'adaptive_concurency'; did you mean 'adaptive_concurrency'?",
                "services/did_you_mean.yaml:8:5: dependencies[0].retires: unknown field 'retires'; did you mean 'retries'?",
                "services/did_you_mean.yaml:12:7: dependencies[0].outlier_detection.base_ejection: unknown field 'base_ejection' (known fields: enabled, consecutive_5xx, interval, base_ejection_time, max_ejection_percent)",
            ])
    }

    @Test func wrongTypes() throws {
        let conditions =
            "5xx, gateway-error, reset, reset-before-request, connect-failure, envoy-ratelimited, retriable-4xx, "
            + "refused-stream, retriable-status-codes, retriable-headers, http3-post-connect-failure, cancelled, "
            + "deadline-exceeded, internal, resource-exhausted, unavailable"
        #expect(
            try Self.errors(in: "wrong_type.yaml") == [
                "services/wrong_type.yaml:3:9: inbound.port: expected an integer 1-65535, found 'eighty'",
                "services/wrong_type.yaml:7:20: dependencies[0].retries.num_retries: expected an integer 0-10, found a list",
                "services/wrong_type.yaml:8:17: dependencies[0].retries.retry_on: unknown condition 'conect-failure'; did you mean 'connect-failure'? (known: \(conditions))",
                "services/wrong_type.yaml:10:21: dependencies[0].circuit_breakers.max_requests: expected an integer 1-1000000, found 'lots'",
                "services/wrong_type.yaml:11:30: dependencies[0].healthy_panic_threshold: expected a number 0-100, found '150'",
                "services/wrong_type.yaml:13:16: dependencies[0].zone_aware.enabled: expected true or false, found 'yes please'",
            ])
    }

    @Test func duplicateRoutes() throws {
        #expect(
            try Self.errors(in: "duplicate_route.yaml") == [
                "services/duplicate_route.yaml:5:29: dependencies[0].sandboxes[2]: duplicate route: sandbox 'alice' is already routed by sandboxes[0]",
                "services/duplicate_route.yaml:10:11: dependencies[0].method_cache.methods[1]: duplicate route: method '/payments.Payments/GetQuote' is already routed by methods[0]",
                "services/duplicate_route.yaml:11:11: dependencies[0].method_cache.methods[2]: expected a gRPC method path such as /pkg.Service/Method, found 'payments.Payments/List'",
            ])
        #expect(
            try Self.errors(in: "duplicate_dependency.yaml") == [
                "services/duplicate_dependency.yaml:5:5: dependencies[2]: duplicate dependency 'payments' (first listed as dependencies[0])"
            ])
    }

    @Test func unknownDependencyNeedsTheCatalog() throws {
        #expect(
            try Self.errors(in: "unknown_dependency.yaml") == [
                "services/unknown_dependency.yaml:3:11: dependencies[0].name: unknown dependency 'paymnets': not a service in the catalog and no 'external' host; did you mean 'payments'?",
                "services/unknown_dependency.yaml:6:16: dependencies[1].method_cache.service: unknown cache service 'cahce': not a service in the catalog; did you mean 'cache'?",
            ])
    }

    @Test func inboundPortMayNotBeAListenerPort() throws {
        let yaml = "service: loop\ninbound:\n  port: 15001\n"
        let (template, errors) = TemplateFormat.parseTemplate(yaml: yaml, file: "loop.yaml")
        #expect(errors == [])
        let set = TemplateSet(templates: ["loop": try #require(template)])
        #expect(
            set.crossCheck(catalog: Catalog()).map(\.description) == [
                "loop.yaml:3:9: inbound.port: the application port 15001 is one of the sidecar's listener ports "
                    + "(outbound 15001, inbound 15006)"
            ])
    }

    @Test func everyFileIsCovered() throws {
        let files = try FileManager.default.contentsOfDirectory(atPath: Self.directory + "/services").sorted()
        let reported = Set(try Self.errors().compactMap { $0.split(separator: ":").first.map(String.init) })
        #expect(reported == Set(files.map { "services/\($0)" }))
    }
}

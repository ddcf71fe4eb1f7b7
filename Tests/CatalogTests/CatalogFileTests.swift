import Foundation
import Testing

@testable import Catalog

@Suite struct CatalogFileTests {
    @Test func parsesServicesAndDefaults() throws {
        let yaml = """
            services:
              payments:
                instances:
                  - address: 10.0.0.1
                    port: 8080
                    zone: a
                    region: eu
                    health: degraded
                    weight: 3
                  - id: p2
                    address: 10.0.0.2
                    port: 8081
              empty:
                instances: []
            """
        let catalog = try CatalogFile.parse(yaml: yaml, file: "catalog.yaml")
        #expect(catalog.services.keys.sorted() == ["empty", "payments"])
        #expect(catalog[service: "empty"]?.instances == [])
        let instances = try #require(catalog[service: "payments"]?.instances)
        #expect(
            instances == [
                Instance(
                    id: "10.0.0.1:8080", address: "10.0.0.1", port: 8080, zone: "a", region: "eu", health: .degraded,
                    weight: 3),
                Instance(id: "p2", address: "10.0.0.2", port: 8081, health: .healthy, weight: 1),
            ])
    }

    @Test func parsesTheShippedCatalog() throws {
        let catalog = try FileSource(path: configPath("catalog.yaml")).load()
        #expect(catalog.sortedServices.map(\.name) == ["cache", "catalog", "frontend", "payments", "payments.sandbox.alice"])
        #expect(catalog[service: "payments"]?.instances.count == 3)
        #expect(Set(catalog[service: "payments"]?.instances.compactMap(\.zone) ?? []) == ["a", "b"])
    }

    @Test func badPortHasPositionAndFieldPath() {
        let yaml = """
            services:
              payments:
                instances:
                  - address: 10.0.0.1
                    port: 8080
                  - address: 10.0.0.2
                    port: 70000
            """
        let errors = parseErrors(yaml)
        #expect(
            errors.map(\.description) == [
                "catalog.yaml:7:15: services.payments.instances[1].port: expected an integer 1-65535, found '70000'"
            ])
    }

    @Test func unknownFieldSuggestsTheClosestName() {
        let yaml = """
            services:
              payments:
                instances:
                  - address: 10.0.0.1
                    prot: 8080
            """
        let errors = parseErrors(yaml)
        #expect(errors.count == 2)
        #expect(
            errors.contains {
                $0.line == 5 && $0.column == 9 && $0.field == "services.payments.instances[0].prot"
                    && $0.message.contains("did you mean 'port'?")
            })
        #expect(errors.contains { $0.field == "services.payments.instances[0].port" && $0.message.contains("missing") })
    }

    @Test func reportsEveryErrorInFileOrder() {
        let yaml = """
            services:
              a:
                instances:
                  - address: not-an-ip
                    port: 1
                    health: sick
                  - address: 10.0.0.1
                    port: 2
                    weight: 0
              b:
                instancs: []
            """
        let errors = parseErrors(yaml)
        #expect(
            errors.map(\.field) == [
                "services.a.instances[0].address", "services.a.instances[0].health", "services.a.instances[1].weight",
                "services.b.instancs", "services.b.instances",
            ])
        #expect(errors.map(\.line) == [4, 6, 9, 11, 11])
        #expect(errors[1].message == "expected one of healthy, degraded, unhealthy, draining, found 'sick'")
    }

    @Test func duplicateIdsAndKeysAreErrors() {
        let yaml = """
            services:
              a:
                instances:
                  - {address: 10.0.0.1, port: 1, id: x}
                  - {address: 10.0.0.2, port: 2, id: x}
            """
        #expect(
            parseErrors(yaml).map(\.description) == [
                "catalog.yaml:5:9: services.a.instances[1]: duplicate instance id 'x' (first used by instances[0])"
            ])
        let keys = parseErrors("services:\n  a:\n    instances: []\n  a:\n    instances: []\n")
        #expect(
            keys.map(\.description) == [
                "catalog.yaml:2:3: duplicate key 'a' in this mapping (each key may appear once)"
            ])
    }

    /// The document is composed without tag resolution (YAMLDocument): duplicates are still
    /// found at every depth, whether a key is quoted or not, with the first key's position.
    @Test func duplicateKeysAreFoundWithoutTagResolution() {
        let nested = parseErrors("services:\n  a:\n    instances:\n      - address: 10.0.0.1\n        port: 1\n        port: 2\n")
        #expect(
            nested.map(\.description) == [
                "catalog.yaml:5:9: duplicate key 'port' in this mapping (each key may appear once)"
            ])
        let quoted = parseErrors("services:\n  \"a\":\n    instances: []\n  a:\n    instances: []\n")
        #expect(quoted.map(\.line) == [2])
        // A plain `true` and `1` stay the text the walk reads: `zone: true` is the zone "true".
        let catalog = try? CatalogFile.parse(
            yaml: "services:\n  a:\n    instances:\n      - {address: 10.0.0.1, port: 1, zone: true, region: 1}\n",
            file: "catalog.yaml")
        #expect(catalog?.services["a"]?.instances.first?.zone == "true")
    }

    @Test func syntaxErrorsAndEmptyFilesHavePositions() {
        let syntax = parseErrors("services:\n  a: [unclosed\n")
        #expect(syntax.count == 1)
        #expect(syntax.first?.line ?? 0 > 0)
        #expect(syntax.first?.message.hasPrefix("invalid YAML") == true)

        let empty = parseErrors("")
        #expect(empty.map(\.description) == ["catalog.yaml: the file holds no YAML document"])

        let wrongType = parseErrors("services: [a, b]\n")
        #expect(wrongType.map(\.description) == ["catalog.yaml:1:11: services: expected a mapping, found a list"])
    }

    @Test func ipAddresses() {
        #expect(CatalogFile.isIPv4("127.0.0.1"))
        #expect(!CatalogFile.isIPv4("256.0.0.1"))
        #expect(!CatalogFile.isIPv4("1.2.3"))
        #expect(CatalogFile.isIPv6("::1"))
        #expect(CatalogFile.isIPv6("fd00:1::2"))
        #expect(!CatalogFile.isIPv6("fd00::1::2"))
        #expect(!CatalogFile.isIPv6("example.com"))
    }

    private func parseErrors(_ yaml: String) -> [ConfigError] {
        do {
            _ = try CatalogFile.parse(yaml: yaml, file: "catalog.yaml")
            return []
        } catch {
            return error.errors
        }
    }
}

/// `Config/<name>` in this package, found from this source file's location.
func configPath(_ name: String) -> String {
    var url = URL(fileURLWithPath: #filePath)
    for _ in 0..<3 { url.deleteLastPathComponent() }
    return url.appendingPathComponent("Config").appendingPathComponent(name).path
}

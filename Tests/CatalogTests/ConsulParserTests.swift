import Foundation
import Testing

@testable import Catalog

/// Parsing what real Consul sends, and the client rules as pure values.
@Suite struct ConsulParserTests {
    /// One entry shaped like a real capture (Consul ≈1.13+), with knobs.
    func entry(
        id: String = "web-1", node: String = "n1", nodeAddress: String = "10.0.0.1", address: String? = "10.1.1.1",
        port: Int? = 8080, checks: [String] = ["passing", "passing"], weights: [String: Int]? = ["Passing": 1, "Warning": 1],
        serviceMeta: [String: String]? = nil, nodeMeta: [String: String] = ["consul-network-segment": ""],
        serviceLocality: [String: String]? = nil, nodeLocality: [String: String]? = nil,
        tagged: [String: [String: Any]]? = nil
    ) -> [String: Any] {
        var service: [String: Any] = [
            "ID": id, "Service": "web", "Tags": [], "Meta": serviceMeta as Any? ?? NSNull(),
            "EnableTagOverride": false, "Proxy": ["Mode": ""], "Connect": [:], "PeerName": "",
            "CreateIndex": 10, "ModifyIndex": 10,
        ]
        if let address { service["Address"] = address }
        if let port { service["Port"] = port }
        if let weights { service["Weights"] = weights }
        if let serviceLocality { service["Locality"] = serviceLocality }
        if let tagged { service["TaggedAddresses"] = tagged }
        var nodeObject: [String: Any] = [
            "ID": "82643ce8", "Node": node, "Address": nodeAddress, "Datacenter": "dc1",
            "TaggedAddresses": ["lan": nodeAddress, "wan": nodeAddress], "Meta": nodeMeta,
        ]
        if let nodeLocality { nodeObject["Locality"] = nodeLocality }
        let checkObjects: [[String: Any]] = checks.enumerated().map { i, status in
            ["Node": node, "CheckID": i == 0 ? "serfHealth" : "service:\(id)", "Status": status,
             "ServiceID": i == 0 ? "" : id, "ServiceName": i == 0 ? "" : "web"]
        }
        return ["Node": nodeObject, "Service": service, "Checks": checkObjects]
    }

    func parse(_ entries: [[String: Any]], _ change: (inout ConsulConfiguration) -> Void = { _ in }) throws -> ConsulParser.ServiceRead {
        var configuration = ConsulConfiguration(url: URL(string: "http://127.0.0.1:8500")!)
        change(&configuration)
        return try ConsulParser(configuration: configuration).instances(try JSONSerialization.data(withJSONObject: entries))
    }

    @Test func capturedShapeParses() throws {
        let read = try parse([entry()])
        #expect(read.instances == [Instance(id: "n1/web-1", address: "10.1.1.1", port: 8080, health: .healthy, weight: 1)])
        #expect(read.skipped.isEmpty)
    }

    @Test func emptyServiceAddressFallsBackToNodeAddress() throws {
        #expect(try parse([entry(address: "")]).instances.first?.address == "10.0.0.1")
        #expect(try parse([entry(address: nil)]).instances.first?.address == "10.0.0.1")
    }

    @Test func missingPortIsZeroAndTheInstanceIsSkipped() throws {
        let read = try parse([entry(port: nil), entry(id: "web-2", port: 9090)])
        #expect(read.instances.map(\.port) == [9090])
        #expect(read.skipped.count == 1 && read.skipped[0].contains("n1/web-1"))
    }

    @Test func taggedAddressIsSelectable() throws {
        let tagged: [String: [String: Any]] = [
            "lan_ipv4": ["Address": "172.40.0.2", "Port": 19001], "wan_ipv4": ["Address": "203.0.113.9", "Port": 443],
        ]
        #expect(try parse([entry(tagged: tagged)]).instances[0].address == "10.1.1.1")
        let wan = try parse([entry(tagged: tagged)]) { $0.taggedAddress = "wan_ipv4" }.instances[0]
        #expect(wan.address == "203.0.113.9" && wan.port == 443)
        // an instance without the selected entry keeps its own address
        let missing = try parse([entry()]) { $0.taggedAddress = "wan_ipv4" }.instances[0]
        #expect(missing.address == "10.1.1.1" && missing.port == 8080)
    }

    @Test func localityBeatsMetaAndServiceBeatsNode() throws {
        let first = try parse([
            entry(
                serviceMeta: ["zone": "meta-zone"], nodeMeta: ["zone": "node-zone", "region": "node-region"],
                serviceLocality: ["Region": "us-west-1", "Zone": "us-west-1a"])
        ]).instances[0]
        #expect(first.zone == "us-west-1a" && first.region == "us-west-1")
        let second = try parse([entry(serviceMeta: ["az": "svc-az"], nodeMeta: ["az": "node-az", "rack": "r1"])]) {
            $0.zoneMetaKeys = ["az"]
            $0.regionMetaKeys = ["rack"]
        }.instances[0]
        #expect(second.zone == "svc-az" && second.region == "r1")
        let third = try parse([entry(nodeLocality: ["Region": "eu", "Zone": "eu-1b"])]).instances[0]
        #expect(third.zone == "eu-1b" && third.region == "eu")
        #expect(try parse([entry()]).instances[0].zone == nil)
    }

    @Test func healthIsTheWorstCheckIncludingNodeChecks() throws {
        let statuses = try parse([
            entry(id: "a", checks: ["passing", "passing"]), entry(id: "b", checks: ["passing", "warning"]),
            entry(id: "c", checks: ["critical", "passing"]), entry(id: "d", checks: ["passing", "maintenance?"]),
        ]).instances.map(\.health)
        #expect(statuses == [.healthy, .degraded, .unhealthy, .unhealthy])
        let mapped = try parse([entry(checks: ["passing", "warning"])]) {
            $0.health = try! HealthMapping(parsing: "warning=healthy")
        }.instances[0]
        #expect(mapped.health == .healthy)
    }

    @Test func weightsFollowTheStatus() throws {
        let weights = ["Passing": 10, "Warning": 3]
        #expect(try parse([entry(weights: weights)]).instances[0].weight == 10)
        #expect(try parse([entry(checks: ["passing", "warning"], weights: weights)]).instances[0].weight == 3)
        // Warning: 0 means "no traffic to warning instances" in Consul
        let excluded = try parse([entry(checks: ["passing", "warning"], weights: ["Passing": 1, "Warning": 0])]).instances[0]
        #expect(excluded.health == .unhealthy && excluded.weight == 1)
        #expect(try parse([entry(weights: nil)]).instances[0].weight == 1)
    }

    @Test func malformedAnswersAreFailures() {
        let parser = ConsulParser(configuration: ConsulConfiguration(url: URL(string: "http://x")!))
        #expect(throws: ConsulFailure.self) { try parser.instances(Data("{\"not\": json".utf8)) }
        #expect(throws: ConsulFailure.self) { try parser.instances(Data("{}".utf8)) }
        #expect(throws: ConsulFailure.self) { try ConsulParser.services(Data("[]".utf8)) }
        #expect((try? parser.instances(Data("[]".utf8)))?.instances == [])
        #expect((try? ConsulParser.services(Data("{\"a\":[],\"b\":[\"x\"]}".utf8))) == ["a": [], "b": ["x"]])
    }

    @Test func healthMappingParsing() throws {
        let mapping = try HealthMapping(parsing: "passing=healthy,warning=unhealthy,critical=draining")
        #expect(mapping == HealthMapping(passing: .healthy, warning: .unhealthy, critical: .draining))
        #expect(throws: ConfigErrors.self) { try HealthMapping(parsing: "warning=sick") }
        #expect(throws: ConfigErrors.self) { try HealthMapping(parsing: "unknown=healthy") }
    }

    @Test func tokenResolution() throws {
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("consul-token-\(UUID().uuidString)")
        try "  s3cret \nsecond line\n".write(to: file, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(at: file) }
        #expect(try ConsulConfiguration.resolveToken(file: file.path, environment: ["CONSUL_HTTP_TOKEN": "env"]) == "s3cret")
        #expect(try ConsulConfiguration.resolveToken(file: nil, environment: ["CONSUL_HTTP_TOKEN": "env"]) == "env")
        #expect(try ConsulConfiguration.resolveToken(file: nil, environment: [:]) == nil)
        #expect(throws: ConfigErrors.self) { try ConsulConfiguration.resolveToken(file: "/nonexistent/token", environment: [:]) }
    }
}

@Suite struct ConsulRuleTests {
    @Test func indexRules() {
        var index = BlockingIndex()
        #expect(index.value == 0)
        #expect(index.update(5) == .advanced && index.value == 5)
        #expect(index.update(5) == .unchanged && index.value == 5)
        #expect(index.update(9) == .advanced && index.value == 9)
        // backwards: reset to 0 (next query does not block)
        #expect(index.update(3) == .reset && index.value == 0)
        #expect(index.update(3) == .advanced && index.value == 3)
        // an index of 0 is treated as 1 ... and 1 < 3 is "backwards"
        #expect(index.update(0) == .reset && index.value == 0)
        #expect(index.update(0) == .advanced && index.value == 1)
    }

    @Test func backoffGrowsWithJitterAndCaps() {
        var backoff = Backoff(base: .milliseconds(100), maximum: .seconds(2))
        var previousCeiling = 0.0
        for attempt in 0..<12 {
            let delay = backoff.next().seconds
            let ceiling = min(2.0, 0.1 * pow(2, Double(attempt)))
            #expect(delay >= 0.05 - 1e-3 && delay <= ceiling + 1e-3)
            previousCeiling = ceiling
        }
        #expect(previousCeiling == 2.0)
        backoff.reset()
        #expect(backoff.next().seconds <= 0.1 + 1e-3)
    }

    @Test func tokenBucketAllowsBurstTwoThenSpaces() {
        var bucket = TokenBucket(interval: .milliseconds(100))
        let now = ContinuousClock.now
        #expect(bucket.take(now: now) == .zero)
        #expect(bucket.take(now: now) == .zero)
        let third = bucket.take(now: now)
        #expect(third > .milliseconds(90) && third <= .milliseconds(101))
        // after waiting one interval, one token again
        var refilled = TokenBucket(interval: .milliseconds(100))
        _ = refilled.take(now: now)
        _ = refilled.take(now: now)
        #expect(refilled.take(now: now + .milliseconds(100)) == .zero)
    }
}

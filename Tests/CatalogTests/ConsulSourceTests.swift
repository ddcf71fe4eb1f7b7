import Foundation
import Testing

@testable import Catalog

/// ConsulSource against the real simulator process, counting the requests Consul receives.
@Suite(.serialized) struct ConsulSourceTests {
    @Test func initialSyncThenRegisterDeregisterAndChecks() async throws {
        let sim = try ConsulSimProcess()
        defer { sim.stop() }
        try await sim.register("web", port: 8080)
        try await sim.register("web", port: 8081)
        try await sim.register("db", port: 5432, ["tags": ["primary"]])
        let source = ConsulSource(configuration: testConfiguration(sim.url), logger: consulTestLogger)
        let events = EventCollector(source.events())
        defer { events.stop() }
        await events.waitFor("first sync") { $0.addresses("web").count == 2 && $0.addresses("db").count == 1 }
        #expect(events.catalogs.count == 1)  // the first update is the complete catalog

        try await sim.register("web", port: 8082)
        let added = await events.waitFor("a third web instance") { $0.addresses("web").count == 3 }
        #expect(added.map { $0 < .seconds(1) } == true)

        try await sim.check("web-8081", "critical")
        await events.waitFor("web-8081 unhealthy") {
            $0[service: "web"]?.instances.first { $0.port == 8081 }?.health == .unhealthy
        }
        try await sim.check("web-8081", "warning")
        await events.waitFor("web-8081 degraded") {
            $0[service: "web"]?.instances.first { $0.port == 8081 }?.health == .degraded
        }

        try await sim.deregister("web-8080")
        await events.waitFor("web-8080 gone") { !$0.addresses("web").contains("127.0.0.1:8080") }

        try await sim.deregister("db-5432")
        await events.waitFor("db gone from the catalog") { $0[service: "db"] == nil }
        #expect(source.statistics.errors.isEmpty)
    }

    @Test func atRestEachWatchHoldsOneBlockingQuery() async throws {
        let sim = try ConsulSimProcess()
        defer { sim.stop() }
        for i in 0..<5 { try await sim.register("svc-\(i)", port: 9000 + i) }
        let source = ConsulSource(
            configuration: testConfiguration(sim.url) { $0.wait = .seconds(2) }, logger: consulTestLogger)
        let events = EventCollector(source.events())
        defer { events.stop() }
        await events.waitFor("sync") { $0.services.count == 5 }
        let before = try await sim.requests()
        await sleep(.milliseconds(1500))
        let after = try await sim.requests()
        // 6 watches (list + 5 services), each blocked for 2 s (+ ≤ 1/16 jitter): at most one
        // return per watch in 1.5 s.
        let made = (after["catalog-services", default: 0] + after["health-service", default: 0])
            - (before["catalog-services", default: 0] + before["health-service", default: 0])
        #expect(made <= 6, "requests at rest in 1.5 s: \(made)")
        let log = try await sim.log()
        let blocking = log.filter { ($0["query"] as? [String: Any])?["index"] != nil }
        #expect(blocking.allSatisfy { ($0["query"] as? [String: Any])?["wait"] as? String == "2s" })
    }

    @Test func indexGoingBackwardsIsResetToZero() async throws {
        let sim = try ConsulSimProcess()
        defer { sim.stop() }
        for port in 1...5 { try await sim.register("web", port: 8000 + port) }
        let source = ConsulSource(configuration: testConfiguration(sim.url), logger: consulTestLogger)
        let events = EventCollector(source.events())
        defer { events.stop() }
        await events.waitFor("sync") { $0.addresses("web").count == 5 }
        await sleep(.milliseconds(200))
        let mark = try await sim.log().count
        try await sim.fault("index-backwards", ["duration": 1.0])
        await sleep(.milliseconds(600))
        let reads = try await sim.log().dropFirst(mark).filter { $0["service"] as? String == "web" }
        // the first answer after the restore carries a lower index; the next query has no index
        let queries = reads.map { ($0["query"] as? [String: Any])?["index"] as? String }
        #expect(queries.contains { $0 == nil }, "queries after the restore: \(queries)")
        #expect(source.statistics.indexResets >= 1)
        // and no busy loop: a reset query, then blocking again
        #expect(reads.count <= 6, "\(reads.count) reads of web in 0.6 s")
        #expect(events.latest?.addresses("web").count == 5)
    }

    @Test func indexZeroIsTreatedAsOneAndTheLoopIsRateLimited() async throws {
        let sim = try ConsulSimProcess()
        defer { sim.stop() }
        try await sim.register("web", port: 8080)
        let source = ConsulSource(
            configuration: testConfiguration(sim.url) { $0.minQueryInterval = .milliseconds(100) }, logger: consulTestLogger)
        let events = EventCollector(source.events())
        defer { events.stop() }
        await events.waitFor("sync") { $0.addresses("web").count == 1 }
        await sleep(.milliseconds(200))
        let mark = try await sim.log().count
        // For 1 s every answer for web says X-Consul-Index: 0 (what old versions sent).
        try await sim.fault("index-zero", ["service": "web", "duration": 1.0])
        await sleep(.milliseconds(1000))
        let reads = try await sim.log().dropFirst(mark).filter { $0["service"] as? String == "web" }
        let indexes = reads.compactMap { ($0["query"] as? [String: Any])?["index"] as? String }
        #expect(!indexes.contains("0"), "index=0 must never be sent as a blocking index")
        #expect(indexes.contains("1"), "index 0 is treated as 1: \(indexes)")
        // index=1 never blocks on a real catalog: the token bucket (burst 2, 100 ms) bounds the loop
        #expect(reads.count <= 14, "\(reads.count) reads of web in 1 s")
        #expect(reads.count >= 3)
    }

    @Test func indexChangeWithoutDataChangeIsNotAnUpdate() async throws {
        let sim = try ConsulSimProcess()
        defer { sim.stop() }
        try await sim.register("web", port: 8080, ["meta": ["version": "1"]])
        let source = ConsulSource(configuration: testConfiguration(sim.url), logger: consulTestLogger)
        let events = EventCollector(source.events())
        defer { events.stop() }
        await events.waitFor("sync") { $0.addresses("web").count == 1 }
        let updates = events.catalogs.count
        let before = try await sim.requests()["health-service/web", default: 0]
        // Service.Meta is not part of an instance: Consul's index moves, the catalog does not.
        try await sim.register("web", port: 8080, ["meta": ["version": "2"]])
        try await sim.register("web", port: 8080, ["meta": ["version": "3"]])
        await sleep(.milliseconds(500))
        let after = try await sim.requests()["health-service/web", default: 0]
        #expect(after - before >= 2, "the blocking query returned for each index change")
        #expect(events.catalogs.count == updates)
        #expect(source.statistics.unchangedAnswers >= 2)
    }

    /// Warm start, never cold: a service named by the first list but not read yet is unknown, not
    /// empty, so nothing is emitted until every one has been read; the unread ones are named.
    @Test func aServiceNotReadYetHoldsBackTheFirstCatalog() async throws {
        let sim = try ConsulSimProcess()
        defer { sim.stop() }
        try await sim.register("web", port: 8080)
        try await sim.register("db", port: 5432)
        try await sim.fault("500", ["service": "db"])
        let source = ConsulSource(
            configuration: testConfiguration(sim.url) { $0.initialSyncTimeout = .milliseconds(500) }, logger: consulTestLogger)
        let events = EventCollector(source.events())
        defer { events.stop() }
        await sleep(.milliseconds(1500))
        #expect(events.catalogs.isEmpty, "a partial first catalog would give db an empty cluster")
        #expect(!source.statistics.synced && source.statistics.unread == ["db"])
        try await sim.clearFaults()
        await events.waitFor("every service read", timeout: .seconds(5)) {
            $0.addresses("web").count == 1 && $0.addresses("db").count == 1
        }
        #expect(events.catalogs.count == 1 && source.statistics.synced && source.statistics.unread.isEmpty)
    }

    @Test func errorsBackOffExponentiallyAndKeepTheLastGoodData() async throws {
        let sim = try ConsulSimProcess()
        defer { sim.stop() }
        try await sim.register("web", port: 8080)
        try await sim.register("web", port: 8081)
        let source = ConsulSource(
            configuration: testConfiguration(sim.url) {
                $0.backoffBase = .milliseconds(100)
                $0.backoffMax = .seconds(10)
            }, logger: consulTestLogger)
        let events = EventCollector(source.events())
        defer { events.stop() }
        await events.waitFor("sync") { $0.addresses("web").count == 2 }
        let updates = events.catalogs.count
        let before = try await sim.requests()["health-service/web", default: 0]
        try await sim.fault("500", ["service": "web", "duration": 2.0])
        await sleep(.milliseconds(2000))
        let during = try await sim.requests()["health-service/web", default: 0] - before
        // Without back-off this is hundreds; with 100 ms·2ⁿ (jittered, ≥ 50 ms): ≤ 2 s worth ≈ 6.
        #expect(during >= 2 && during <= 8, "requests for web during 2 s of 500s: \(during)")
        #expect(events.catalogs.count == updates, "a failing read changes nothing")
        #expect(events.failures.contains { $0.errors.first?.field == "web" })
        #expect(source.statistics.errors["http-5xx", default: 0] >= 2)
        #expect(source.statistics.errorsByService["web"]?["http-5xx", default: 0] ?? 0 >= 2)
        #expect(source.statistics.failing == ["web"], "only web's watch is failing")
        // recovery without help: the fault ended; a change is seen again
        try await sim.register("web", port: 8082)
        await events.waitFor("recovered", timeout: .seconds(12)) { $0.addresses("web").count == 3 }
        #expect(source.statistics.failing.isEmpty)
    }

    @Test func burstsAreDebouncedIntoOneUpdate() async throws {
        let sim = try ConsulSimProcess()
        defer { sim.stop() }
        for i in 0..<10 { try await sim.register("svc-\(i)", port: 9000) }
        let source = ConsulSource(
            configuration: testConfiguration(sim.url) {
                $0.debounceWindow = .milliseconds(150)
                $0.debounceMaxDelay = .seconds(2)
            }, logger: consulTestLogger)
        let events = EventCollector(source.events())
        defer { events.stop() }
        await events.waitFor("sync") { $0.services.count == 10 }
        let updates = events.catalogs.count
        let before = try await sim.requests()["health-service", default: 0]
        // 20 changes across 10 services, back to back (each a separate HTTP write).
        for round in 0..<2 {
            for i in 0..<10 { try await sim.register("svc-\(i)", port: 9001 + round) }
        }
        await events.waitFor("all changes") { c in (0..<10).allSatisfy { c.addresses("svc-\($0)").count == 3 } }
        await sleep(.milliseconds(300))
        let after = try await sim.requests()["health-service", default: 0]
        #expect(after - before >= 10, "every service was re-read")
        let burstUpdates = events.catalogs.count - updates
        #expect(burstUpdates >= 1 && burstUpdates <= 3, "\(burstUpdates) updates for a burst of 20 changes")
    }

    @Test func maximumDelayBoundsTheDebounce() async throws {
        let sim = try ConsulSimProcess()
        defer { sim.stop() }
        try await sim.register("web", port: 9000)
        let source = ConsulSource(
            configuration: testConfiguration(sim.url) {
                $0.debounceWindow = .milliseconds(300)
                $0.debounceMaxDelay = .milliseconds(500)
            }, logger: consulTestLogger)
        let events = EventCollector(source.events())
        defer { events.stop() }
        await events.waitFor("sync") { $0.services.count == 1 }
        let updates = events.catalogs.count
        // A change every 150 ms for 1.5 s: the quiet window never elapses, the max delay does.
        let start = ContinuousClock.now
        for port in 9001...9010 {
            try await sim.register("web", port: port)
            await sleep(.milliseconds(150))
        }
        let elapsed = ContinuousClock.now - start
        let during = events.catalogs.count - updates
        #expect(during >= 2, "updates during \(elapsed) of steady changes: \(during)")
        await events.waitFor("all") { $0.addresses("web").count == 11 }
    }

    @Test func everyFaultKeepsTheLastGoodDataButEmptyAnswersAreReported() async throws {
        let sim = try ConsulSimProcess()
        defer { sim.stop() }
        try await sim.register("web", port: 8080)
        try await sim.register("db", port: 5432)
        let source = ConsulSource(
            configuration: testConfiguration(sim.url) {
                $0.backoffMax = .milliseconds(300)
                $0.wait = .seconds(1)
                $0.requestTimeoutMargin = .milliseconds(500)
            }, logger: consulTestLogger)
        let events = EventCollector(source.events())
        defer { events.stop() }
        await events.waitFor("sync") { $0.addresses("web").count == 1 && $0.addresses("db").count == 1 }
        let good = try #require(events.latest)
        // Each fault lasts longer than one blocking round (wait + wait/16): a query that arrives
        // just after the fault began, and blocks, is still answered inside it (`malformed` alters
        // answers, so it reaches a query only when that query is answered). Once the source has
        // counted it, the fault is cleared.
        let faults = [
            ("500", ["http-5xx"]), ("403", ["http-403"]), ("429", ["http-429"]), ("malformed", ["non-json"]),
            ("drop", ["transport"]), ("hang", ["timeout", "transport"]),
        ]
        for (kind, counted) in faults {
            let errors = { counted.reduce(0) { $0 + source.statistics.errors[$1, default: 0] } }
            let before = errors()
            try await sim.fault(kind, ["duration": 5.0])
            let seen = await waitUntil(timeout: .seconds(5)) { errors() > before }
            #expect(seen, "\(kind) counted as \(counted): \(source.statistics.errors)")
            await sleep(.milliseconds(250))  // > debounce: an answer wrongly used would be published by now
            #expect(events.latest == good, "after \(kind)")
            try await sim.clearFaults()
        }
        let reasons = source.statistics.errors
        for reason in ["http-5xx", "http-403", "http-429", "non-json", "transport"] {
            #expect(reasons[reason, default: 0] >= 1, "\(reason) counted: \(reasons)")
        }
        #expect(reasons["timeout", default: 0] + reasons["transport", default: 0] >= 2)
        // An empty instance list is what Consul said: reported as such, not hidden.
        try await sim.fault("empty-instances", ["service": "web", "duration": 1.0])
        await events.waitFor("web reported empty") { $0[service: "web"]?.instances == [] && $0.addresses("db").count == 1 }
        await events.waitFor("web back") { $0.addresses("web").count == 1 }
        // An empty service list too.
        try await sim.fault("empty-services", ["duration": 1.0])
        await events.waitFor("empty catalog reported") { $0.services.isEmpty }
        await events.waitFor("catalog back", timeout: .seconds(5)) { $0 == good }
    }

    @Test func tooStaleAnswersAreErrorsAndHeadersAreMatchedInAnyCase() async throws {
        let sim = try ConsulSimProcess()
        defer { sim.stop() }
        try await sim.register("web", port: 8080)
        let source = ConsulSource(
            configuration: testConfiguration(sim.url) {
                $0.stale = true
                $0.maxStaleness = .seconds(2)
            }, logger: consulTestLogger)
        let events = EventCollector(source.events())
        defer { events.stop() }
        await events.waitFor("sync") { $0.addresses("web").count == 1 }
        #expect(try await sim.log().allSatisfy { ($0["query"] as? [String: Any])?.keys.contains("stale") == true })
        // The simulator writes Go's canonical `X-Consul-Lastcontact`; 5 s > 2 s allowed.
        try await sim.control("/_sim/leader", ["known": false, "last_contact_ms": 5000])
        try await sim.register("web", port: 8081)
        await sleep(.milliseconds(800))
        #expect(events.latest?.addresses("web").count == 1, "too-stale data is not used")
        #expect(source.statistics.errors["too-stale", default: 0] >= 1)
        try await sim.control("/_sim/leader", ["known": true, "last_contact_ms": 0])
        await events.waitFor("fresh again", timeout: .seconds(5)) { $0.addresses("web").count == 2 }
    }

    @Test func tokenIsSentAndFilteredAnswersAreFaithful() async throws {
        let sim = try ConsulSimProcess(arguments: ["--acl-default-policy", "deny", "--token", "team=web"])
        defer { sim.stop() }
        try await sim.register("web", port: 8080)
        try await sim.register("db", port: 5432)
        let source = ConsulSource(configuration: testConfiguration(sim.url) { $0.token = "team" }, logger: consulTestLogger)
        let events = EventCollector(source.events())
        defer { events.stop() }
        await events.waitFor("only what the token may see") { $0.addresses("web").count == 1 && $0[service: "db"] == nil }
        #expect(try await sim.log().allSatisfy { $0["token"] as? String == "team" })
        let denied = ConsulSource(configuration: testConfiguration(sim.url) { $0.token = "bogus" }, logger: consulTestLogger)
        let deniedEvents = EventCollector(denied.events())
        defer { deniedEvents.stop() }
        await sleep(.milliseconds(500))
        #expect(deniedEvents.catalogs.isEmpty, "403 ACL not found: nothing to publish")
        #expect(denied.statistics.errors["http-403", default: 0] >= 1)
    }

    @Test func tagFilterSelectsServicesAndInstances() async throws {
        let sim = try ConsulSimProcess()
        defer { sim.stop() }
        try await sim.register("web", port: 8080, ["tags": ["Mesh"]])
        try await sim.register("web", port: 8081, ["tags": []])
        try await sim.register("db", port: 5432)
        let source = ConsulSource(configuration: testConfiguration(sim.url) { $0.tags = ["mesh"] }, logger: consulTestLogger)
        let events = EventCollector(source.events())
        defer { events.stop() }
        await events.waitFor("web only, tagged instance only") {
            $0.services.keys.sorted() == ["web"] && $0.addresses("web") == ["127.0.0.1:8080"]
        }
    }

    @Test func boundedConcurrencyWithMoreServicesThanSlots() async throws {
        let sim = try ConsulSimProcess()
        defer { sim.stop() }
        try await sim.control("/_sim/bulk", ["services": 40, "instances": 3])
        let source = ConsulSource(
            configuration: testConfiguration(sim.url) {
                $0.maxConcurrentQueries = 8
                $0.rotationWait = .seconds(1)
            }, logger: consulTestLogger)
        let events = EventCollector(source.events())
        defer { events.stop() }
        await events.waitFor("all 40 services", timeout: .seconds(10)) { $0.services.count == 40 }
        try await sim.control("/_sim/stats/reset")
        await sleep(.milliseconds(1500))
        let stats = try await sim.stats()
        let maxConnections = (stats["max_connections"] as? NSNumber)?.intValue ?? 99
        #expect(maxConnections <= 8, "concurrent connections: \(maxConnections)")
        // A check change on one of 40 services is picked up quickly despite the rotation.
        let start = ContinuousClock.now
        try await sim.check("svc-17-1", "critical", node: "node-1")  // bulk: instance i on node-i
        await events.waitFor("svc-17 instance unhealthy", timeout: .seconds(5)) {
            $0[service: "svc-17"]?.instances.contains { $0.health == .unhealthy } == true
        }
        let latency = ContinuousClock.now - start
        #expect(latency < .seconds(1), "check change latency in shared mode: \(latency)")
    }
}

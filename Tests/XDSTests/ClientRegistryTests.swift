import EnvoyAPI
import Testing
@testable import XDS

@Suite struct ClientRegistryTests {
    let t0 = WallTime(seconds: 1_000)

    func response(_ type: ResourceType, nonce: String, version: String, _ resources: [EncodedResource]) -> XDSResponse {
        XDSResponse(type: type, nonce: nonce, versionInfo: version, resources: resources, removed: [])
    }

    func registry(delta: Bool = false, only: ResourceType? = nil, node: String = "frontend-0") -> ClientRegistry {
        let r = ClientRegistry()
        r.open(
            streamID: 7, nodeID: node, service: "frontend", zone: "z1", transport: .init(delta: delta, only: only),
            peer: "127.0.0.1:5000", at: t0)
        return r
    }

    @Test func aTypeGoesNotSentStaleSyncedNackedAndBack() throws {
        let r = registry()
        #expect(r.clients.first?.status(.cluster).state == .notSent)

        let a = res(.cluster, "payments")
        r.sent(streamID: 7, response(.cluster, nonce: "1", version: "v1", [a]), at: t0)
        var status = try #require(r.clients.first?.status(.cluster))
        #expect(status.state == .stale)
        #expect(status.pendingNonce == "1")
        #expect(status.pendingSeconds(now: WallTime(seconds: 1_030)) == 30)

        r.acked(streamID: 7, type: .cluster, held: ["payments": a], at: WallTime(seconds: 1_001))
        status = try #require(r.clients.first?.status(.cluster))
        #expect(status.state == .synced)
        #expect(status.versionAcked == "v1" && status.pendingNonce == nil)
        #expect(status.held.keys.sorted() == ["payments"])

        let b = res(.cluster, "payments", "v2")
        r.sent(streamID: 7, response(.cluster, nonce: "2", version: "v2", [b]), at: t0)
        r.nacked(
            streamID: 7,
            NackRecord(
                type: .cluster, versionInfo: "v2", nonce: "2", resourceNames: ["payments"], errorCode: 3,
                errorMessage: "bad cluster"), at: WallTime(seconds: 1_002))
        status = try #require(r.clients.first?.status(.cluster))
        #expect(status.state == .nacked)
        #expect(status.lastNack?.errorMessage == "bad cluster")
        #expect(status.versionAcked == "v1", "a NACK keeps what the client holds")
        #expect(r.clients.first?.nacked == true)

        // A later accepted version clears the NACKED state; the last NACK stays on record.
        let c = res(.cluster, "payments", "v3")
        r.sent(streamID: 7, response(.cluster, nonce: "3", version: "v3", [c]), at: t0)
        #expect(r.clients.first?.status(.cluster).state == .nacked, "still NACKED until something is accepted")
        r.acked(streamID: 7, type: .cluster, held: ["payments": c])
        status = try #require(r.clients.first?.status(.cluster))
        #expect(status.state == .synced)
        #expect(status.lastNack?.versionInfo == "v2")
    }

    @Test func anAckWithoutAPendingResponseChangesNothing() {
        let r = registry()
        r.acked(streamID: 7, type: .cluster, held: [:])
        r.acked(streamID: 99, type: .cluster, held: [:])
        #expect(r.clients.first?.status(.cluster).state == .notSent)
        #expect(r.count == 1)
    }

    @Test func sotwFullStateKeepsTheVersionOfAnUnchangedResource() throws {
        let r = registry()
        let a = res(.cluster, "a"), b = res(.cluster, "b")
        r.sent(streamID: 7, response(.cluster, nonce: "1", version: "v1", [a]))
        r.acked(streamID: 7, type: .cluster, held: ["a": a])
        r.sent(streamID: 7, response(.cluster, nonce: "2", version: "v2", [a, b]))
        r.acked(streamID: 7, type: .cluster, held: ["a": a, "b": b])
        let status = try #require(r.clients.first?.status(.cluster))
        #expect(status.heldVersions == ["a": "v1", "b": "v2"])
        #expect(status.versionAcked == "v2")
    }

    @Test func deltaReportsPerResourceVersions() throws {
        let r = registry(delta: true)
        let a = res(.endpoint, "a")
        r.sent(streamID: 7, response(.endpoint, nonce: "1", version: "system-1", [a]))
        r.acked(streamID: 7, type: .endpoint, held: ["a": a])
        let status = try #require(r.clients.first?.status(.endpoint))
        #expect(status.heldVersions == ["a": a.version])
        #expect(r.clients.first?.transport.description == "ads-delta")
    }

    @Test func perTypeStreamsServeOneTypeAndCloseRemoves() {
        let r = registry(only: .endpoint)
        #expect(r.clients.first?.servedTypes == [.endpoint])
        #expect(r.clients.first?.transport.description == "eds-sotw")
        #expect(r.clients(node: "frontend-0").count == 1)
        r.close(streamID: 7)
        #expect(r.count == 0)
        #expect(r.clients(node: "frontend-0").isEmpty)
    }

    @Test func csdsListsHeldAndRejectedResourcesAndFiltersByNode() throws {
        let r = registry()
        let a = res(.cluster, "payments")
        r.sent(streamID: 7, response(.cluster, nonce: "1", version: "v1", [a]))
        r.acked(streamID: 7, type: .cluster, held: ["payments": a])
        r.sent(streamID: 7, response(.listener, nonce: "2", version: "l1", [res(.listener, "outbound")]))
        r.nacked(
            streamID: 7,
            NackRecord(
                type: .listener, versionInfo: "l1", nonce: "2", resourceNames: ["outbound"], errorCode: 13,
                errorMessage: "duplicate address"))
        let csds = CSDSService(clients: r)
        let all = csds.respond(to: Envoy_Service_Status_V3_ClientStatusRequest())
        #expect(all.config.count == 1)
        let config = try #require(all.config.first)
        #expect(config.node.id == "frontend-0" && config.node.cluster == "frontend")
        let cluster = try #require(config.genericXdsConfigs.first { $0.name == "payments" })
        #expect(cluster.versionInfo == "v1" && cluster.configStatus == .synced && cluster.clientStatus == .acked)
        #expect(cluster.hasXdsConfig)
        let listener = try #require(config.genericXdsConfigs.first { $0.name == "outbound" })
        #expect(listener.configStatus == .error && listener.clientStatus == .nacked)
        #expect(listener.errorState.details == "duplicate address" && listener.errorState.versionInfo == "l1")

        var request = Envoy_Service_Status_V3_ClientStatusRequest()
        var matcher = Envoy_Type_Matcher_V3_NodeMatcher()
        matcher.nodeID.prefix = "backend"
        request.nodeMatchers = [matcher]
        #expect(csds.respond(to: request).config.isEmpty)
        request.nodeMatchers[0].nodeID.exact = "frontend-0"
        request.excludeResourceContents = true
        let one = csds.respond(to: request)
        #expect(one.config.count == 1)
        #expect(one.config[0].genericXdsConfigs.allSatisfy { !$0.hasXdsConfig })
    }

    /// 10,000 streams through open, send, ACK and close: bounded time, nothing left behind.
    @Test func tenThousandStreamsStayCheap() {
        let r = ClientRegistry()
        let resources = (0..<20).map { res(.endpoint, "c\($0)") }
        let held = Dictionary(uniqueKeysWithValues: resources.map { ($0.name, $0) })
        let started = ContinuousClock.now
        for id in 0..<UInt64(10_000) {
            r.open(streamID: id, nodeID: "n\(id)", service: "s\(id % 50)", zone: "", transport: .init(delta: false, only: nil), peer: "p")
        }
        for round in 0..<3 {
            for id in 0..<UInt64(10_000) {
                r.sent(streamID: id, response(.endpoint, nonce: "\(round)", version: "v\(round)", resources))
                r.acked(streamID: id, type: .endpoint, held: held)
            }
        }
        #expect(r.clients.filter { $0.status(.endpoint).state == .synced }.count == 10_000)
        for id in 0..<UInt64(10_000) { r.close(streamID: id) }
        #expect(r.count == 0)
        #expect(ContinuousClock.now - started < .seconds(20))
    }
}

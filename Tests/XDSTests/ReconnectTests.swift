import Testing
@testable import XDS

/// A client that reconnects (to this server or to a replica with the same catalog and
/// templates) and already holds the current state is sent nothing again.
@Suite struct ReconnectTests {
    let v1 = baseline

    /// Syncs a SotW client and returns the version_info it accepted per type.
    func acceptedVersions() -> [ResourceType: String] {
        var m = ADSStreamMachine(mode: .stateOfTheWorld)
        _ = m.admit()
        _ = m.snapshotChanged(v1)
        var versions: [ResourceType: String] = [:]
        let cds = m.receive(XDSRequest(type: .cluster)).only!
        versions[.cluster] = cds.versionInfo
        _ = m.receive(ack(cds))
        let eds = m.receive(XDSRequest(type: .endpoint, resourceNames: ["catalog", "payments"])).only!
        versions[.endpoint] = eds.versionInfo
        let lds = m.receive(ack(eds, names: ["catalog", "payments"])).only
            ?? m.receive(XDSRequest(type: .listener)).only!
        versions[.listener] = lds.versionInfo
        _ = m.receive(ack(lds))
        let rds = m.receive(XDSRequest(type: .route, resourceNames: ["outbound"])).only!
        versions[.route] = rds.versionInfo
        return versions
    }

    func reconnect(_ versions: [ResourceType: String], snapshot: Snapshot) -> (ADSStreamMachine, [XDSResponse]) {
        var m = ADSStreamMachine(mode: .stateOfTheWorld)
        var sent: [XDSResponse] = []
        sent += m.admit().responses
        sent += m.snapshotChanged(snapshot).responses
        sent += m.receive(XDSRequest(type: .cluster, versionInfo: versions[.cluster]!)).responses
        sent += m.receive(XDSRequest(type: .endpoint, resourceNames: ["catalog", "payments"], versionInfo: versions[.endpoint]!)).responses
        sent += m.receive(XDSRequest(type: .listener, versionInfo: versions[.listener]!)).responses
        sent += m.receive(XDSRequest(type: .route, resourceNames: ["outbound"], versionInfo: versions[.route]!)).responses
        return (m, sent)
    }

    @Test func sotwReconnectHoldingTheCurrentStateIsSentNothing() {
        var (m, sent) = reconnect(acceptedVersions(), snapshot: v1)
        // Clusters and listeners are adopted; named types are answered (the client may have
        // dropped a name since the version it reports).
        #expect(sent.map(\.type) == [.endpoint])
        #expect(m.holds(.cluster).keys.sorted() == ["catalog", "payments"])
        let rds = m.receive(ack(sent.first, names: ["catalog", "payments"])).only
        #expect(rds?.type == .route)
        #expect(m.receive(ack(rds, names: ["outbound"])).isEmpty)
        #expect(m.holds(.listener).keys.sorted() == ["outbound"])
        #expect(m.inFlight == nil)
    }

    @Test func sotwReconnectHoldingAnOlderStateGetsTheNewOne() {
        let v2 = snap(
            res(.cluster, "payments"), res(.cluster, "catalog"),
            res(.endpoint, "payments", "v2"), res(.endpoint, "catalog"),
            res(.listener, "outbound"), res(.route, "outbound"))
        var (m, sent) = reconnect(acceptedVersions(), snapshot: v2)
        #expect(sent.map(\.type) == [.endpoint])
        #expect(sent.first?.resourceNames == ["catalog", "payments"])  // SotW EDS: every held name
        let rds = m.receive(ack(sent.first, names: ["catalog", "payments"])).only
        #expect(rds?.type == .route)
        #expect(m.receive(ack(rds, names: ["outbound"])).isEmpty)
    }

    @Test func sotwChangesAfterAnAdoptedReconnectFlowAsUsual() {
        var (m, sent) = reconnect(acceptedVersions(), snapshot: v1)
        let rds = m.receive(ack(sent.first, names: ["catalog", "payments"])).only
        _ = m.receive(ack(rds, names: ["outbound"]))
        let v2 = snap(
            res(.cluster, "payments", "v2"), res(.cluster, "catalog"),
            res(.endpoint, "payments"), res(.endpoint, "catalog"),
            res(.listener, "outbound"), res(.route, "outbound"))
        let cds = m.snapshotChanged(v2).only
        #expect(cds?.type == .cluster)
        #expect(cds?.resourceNames == ["catalog", "payments"])
    }

    @Test func deltaReconnectWithInitialVersionsOfTheCurrentStateIsSentNothing() {
        var first = ADSStreamMachine(mode: .delta)
        _ = first.admit()
        _ = first.snapshotChanged(v1)
        let cds = first.receive(XDSRequest(type: .cluster)).only!
        let held = Dictionary(uniqueKeysWithValues: cds.resources.map { ($0.name, $0.version) })

        var m = ADSStreamMachine(mode: .delta)
        _ = m.admit()
        _ = m.snapshotChanged(v1)
        #expect(m.receive(XDSRequest(type: .cluster, initialVersions: held)).isEmpty)
        #expect(m.holds(.cluster) == held)
    }
}

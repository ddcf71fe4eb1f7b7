import Testing
@testable import XDS

@Suite struct DeltaStreamTests {
    let v1 = baseline

    func started() -> ADSStreamMachine {
        var m = ADSStreamMachine(mode: .delta)
        _ = m.admit()
        _ = m.snapshotChanged(v1)
        return m
    }

    func synced() -> ADSStreamMachine {
        var m = started()
        let cds = m.receive(XDSRequest(type: .cluster)).only
        _ = m.receive(deltaAck(cds))
        let eds = m.receive(XDSRequest(type: .endpoint, subscribe: ["catalog", "payments"])).only
        _ = m.receive(deltaAck(eds))
        let lds = m.receive(XDSRequest(type: .listener)).only
        _ = m.receive(deltaAck(lds))
        let rds = m.receive(XDSRequest(type: .route, subscribe: ["outbound"])).only
        _ = m.receive(deltaAck(rds))
        return m
    }

    @Test func firstRequestWithoutNamesIsAWildcard() {
        var m = started()
        let cds = m.receive(XDSRequest(type: .cluster)).only!
        #expect(cds.resourceNames == ["catalog", "payments"])
        #expect(cds.removed.isEmpty)
        #expect(m.subscription(.cluster).wildcard)
        #expect(cds.versionInfo == v1.version)
    }

    @Test func explicitWildcardAndUnsubscribeFromIt() {
        var m = started()
        let cds = m.receive(XDSRequest(type: .cluster, subscribe: ["*"])).only!
        #expect(cds.resourceNames == ["catalog", "payments"])
        #expect(m.receive(XDSRequest(type: .cluster, responseNonce: cds.nonce, unsubscribe: ["*"])).isEmpty)
        #expect(!m.subscription(.cluster).wildcard)
    }

    @Test func onlyChangesAreSent() {
        var m = synced()
        let v2 = snap(
            res(.cluster, "payments"), res(.cluster, "catalog"),
            res(.endpoint, "payments", "v2"), res(.endpoint, "catalog"),
            res(.listener, "outbound"), res(.route, "outbound"))
        let eds = m.snapshotChanged(v2).only!
        #expect(eds.type == .endpoint)
        #expect(eds.resourceNames == ["payments"])
        #expect(m.receive(deltaAck(eds)).isEmpty)
    }

    @Test func reconnectWithInitialVersionsSendsOnlyWhatDiffersAndRemovesWhatIsGone() {
        var m = started()
        let cluster = res(.cluster, "catalog")
        let cds = m.receive(
            XDSRequest(
                type: .cluster,
                initialVersions: ["catalog": cluster.version, "payments": "stale", "retired": "0123"])
        ).only!
        #expect(cds.resourceNames == ["payments"])
        // "retired" is removed, but only after listeners and routes: removals go last.
        #expect(cds.removed.isEmpty)
        #expect(m.receive(deltaAck(cds)).only?.removed == ["retired"])
    }

    @Test func subscribeUnsubscribeResubscribe() {
        var m = synced()
        #expect(m.receive(XDSRequest(type: .endpoint, unsubscribe: ["catalog"])).isEmpty)
        #expect(m.subscription(.endpoint).names == ["payments"])
        let again = m.receive(XDSRequest(type: .endpoint, subscribe: ["catalog"])).only!
        #expect(again.resourceNames == ["catalog"])
    }

    @Test func deletionsAreRemovedResourcesInReverseOrder() {
        var m = synced()
        let v2 = snap(res(.cluster, "catalog"), res(.endpoint, "catalog"), res(.route, "outbound", "v2"))
        let lds = m.snapshotChanged(v2).only!
        #expect(lds.type == .listener)
        #expect(lds.removed == ["outbound"])
        let rds = m.receive(deltaAck(lds)).only!
        #expect(rds.type == .route)
        let cds = m.receive(deltaAck(rds)).only!
        #expect(cds.type == .cluster)
        #expect(cds.removed == ["payments"])
        #expect(cds.resources.isEmpty)
        #expect(m.receive(deltaAck(cds)).isEmpty)
    }

    @Test func nackParksTheVersionButOtherTypesFlow() {
        var m = synced()
        let v2 = snap(
            res(.cluster, "payments"), res(.cluster, "catalog"),
            res(.endpoint, "payments", "v2"), res(.endpoint, "catalog"),
            res(.listener, "outbound", "bad"), res(.route, "outbound"))
        let eds = m.snapshotChanged(v2).only!
        #expect(eds.type == .endpoint)
        let lds = m.receive(deltaAck(eds)).only!
        #expect(lds.type == .listener)
        let nack = m.receive(
            XDSRequest(type: .listener, responseNonce: lds.nonce, errorDetail: .init(code: 3, message: "bad listener")))
        #expect(nack.nacks.map(\.resourceNames) == [["outbound"]])
        #expect(nack.responses.isEmpty)
        // Endpoints keep flowing while the listener stays parked.
        let v3 = snap(
            res(.cluster, "payments"), res(.cluster, "catalog"),
            res(.endpoint, "payments", "v3"), res(.endpoint, "catalog"),
            res(.listener, "outbound", "bad"), res(.route, "outbound"))
        let eds3 = m.snapshotChanged(v3).only!
        #expect(eds3.resourceNames == ["payments"])
        #expect(m.receive(deltaAck(eds3)).isEmpty)
    }

    @Test func subscriptionChangesInAStaleRequestAreKept() {
        var m = synced()
        let v2 = snap(
            res(.cluster, "payments", "v2"), res(.cluster, "catalog"),
            res(.endpoint, "payments"), res(.endpoint, "catalog"),
            res(.listener, "outbound"), res(.route, "outbound"))
        let cds = m.snapshotChanged(v2).only!
        // A delta request with an old nonce still carries real subscription changes.
        _ = m.receive(XDSRequest(type: .endpoint, responseNonce: "1", unsubscribe: ["catalog"]))
        #expect(m.subscription(.endpoint).names == ["payments"])
        let eds = m.receive(deltaAck(cds)).only!
        #expect(eds.resourceNames == ["payments"])
    }
}

import Testing
@testable import XDS

@Suite struct SotWStreamTests {
    let v1 = baseline

    /// Drives an Envoy-like client through the initial sync and returns the machine.
    func synced() -> ADSStreamMachine {
        var m = ADSStreamMachine(mode: .stateOfTheWorld)
        _ = m.admit()
        _ = m.snapshotChanged(v1)
        let cds = m.receive(XDSRequest(type: .cluster)).only
        _ = m.receive(ack(cds))
        let eds = m.receive(XDSRequest(type: .endpoint, resourceNames: ["catalog", "payments"])).only
        _ = m.receive(ack(eds, names: ["catalog", "payments"]))
        let lds = m.receive(XDSRequest(type: .listener)).only
        _ = m.receive(ack(lds))
        let rds = m.receive(XDSRequest(type: .route, resourceNames: ["outbound"])).only
        _ = m.receive(ack(rds, names: ["outbound"]))
        return m
    }

    @Test func nothingIsSentBeforeAdmissionAndSnapshot() {
        var m = ADSStreamMachine(mode: .stateOfTheWorld)
        #expect(m.receive(XDSRequest(type: .cluster)).isEmpty)
        #expect(m.snapshotChanged(v1).isEmpty)
        let first = m.admit().only
        #expect(first?.type == .cluster)
        #expect(first?.resourceNames == ["catalog", "payments"])
    }

    @Test func initialSyncAnswersEveryTypeAndAckedStateIsQuiet() {
        var m = synced()
        #expect(m.holds(.cluster).keys.sorted() == ["catalog", "payments"])
        #expect(m.holds(.route).keys.sorted() == ["outbound"])
        #expect(m.inFlight == nil)
        // The same snapshot again sends nothing.
        #expect(m.snapshotChanged(v1).isEmpty)
    }

    @Test func staleNonceIsIgnored() {
        var m = ADSStreamMachine(mode: .stateOfTheWorld)
        _ = m.admit()
        _ = m.snapshotChanged(v1)
        let cds = m.receive(XDSRequest(type: .cluster)).only!
        // A request carrying a nonce we never sent (or an older one) changes nothing.
        #expect(m.receive(XDSRequest(type: .cluster, responseNonce: "999")).isEmpty)
        #expect(m.inFlight == cds)
        #expect(m.receive(ack(cds)).isEmpty)
        #expect(m.inFlight == nil)
    }

    @Test func versionsAreContentHashesAndStable() {
        var a = ADSStreamMachine(mode: .stateOfTheWorld)
        var b = ADSStreamMachine(mode: .stateOfTheWorld)
        _ = a.admit(); _ = b.admit()
        _ = a.snapshotChanged(v1); _ = b.snapshotChanged(snap(res(.cluster, "payments"), res(.cluster, "catalog")))
        let ra = a.receive(XDSRequest(type: .cluster)).only!
        let rb = b.receive(XDSRequest(type: .cluster)).only!
        #expect(ra.versionInfo == rb.versionInfo)
        #expect(ra.versionInfo.count == 16)
    }

    @Test func nackIsRecordedAndNotResentUntilInputsChange() {
        var m = synced()
        let bad = snap(
            res(.cluster, "payments", "bad"), res(.cluster, "catalog"),
            res(.endpoint, "payments"), res(.endpoint, "catalog"),
            res(.listener, "outbound"), res(.route, "outbound"))
        let cds = m.snapshotChanged(bad).only!
        #expect(cds.type == .cluster)
        let actions = m.receive(
            XDSRequest(
                type: .cluster, responseNonce: cds.nonce,
                errorDetail: .init(code: 13, message: "invalid cluster payments")))
        #expect(actions.nacks.count == 1)
        #expect(actions.nacks.first?.versionInfo == cds.versionInfo)
        #expect(actions.nacks.first?.errorMessage == "invalid cluster payments")
        #expect(actions.responses.isEmpty)  // no resend loop
        #expect(m.snapshotChanged(bad).isEmpty)
        // Envoy keeps sending requests with the nonce it last saw: still no resend.
        #expect(m.receive(XDSRequest(type: .cluster, responseNonce: cds.nonce)).isEmpty)
        // A fixed cluster is sent as soon as the inputs change.
        let fixed = snap(
            res(.cluster, "payments", "fixed"), res(.cluster, "catalog"),
            res(.endpoint, "payments"), res(.endpoint, "catalog"),
            res(.listener, "outbound"), res(.route, "outbound"))
        #expect(m.snapshotChanged(fixed).only?.type == .cluster)
    }

    @Test func changedClusterIsFollowedByItsEndpointsEvenWhenUnchanged() {
        var m = synced()
        let v2 = snap(
            res(.cluster, "payments", "v2"), res(.cluster, "catalog"),
            res(.endpoint, "payments"), res(.endpoint, "catalog"),
            res(.listener, "outbound"), res(.route, "outbound"))
        let cds = m.snapshotChanged(v2).only!
        #expect(cds.type == .cluster)
        let eds = m.receive(ack(cds)).only!
        #expect(eds.type == .endpoint)
        #expect(eds.resourceNames == ["payments"])
        #expect(m.receive(ack(eds, names: ["catalog", "payments"])).isEmpty)
    }

    @Test func newlyRequestedNameIsAnsweredAtAnUnchangedVersion() {
        var m = synced()
        // Unsubscribe catalog, then subscribe it again: it must be sent again.
        let holdsBefore = m.holds(.endpoint)
        #expect(holdsBefore["catalog"] != nil)
        let nonce = String(4)  // RDS was the 4th response
        _ = nonce
        let unsub = m.receive(XDSRequest(type: .endpoint, responseNonce: "2", resourceNames: ["payments"]))
        #expect(unsub.isEmpty)
        let resub = m.receive(XDSRequest(type: .endpoint, responseNonce: "2", resourceNames: ["catalog", "payments"]))
        #expect(resub.only?.resourceNames == ["catalog"])
    }

    @Test func addsGoClustersFirstAndRemovalsGoClustersLast() {
        var m = synced()
        // v2 moves the route from payments to a new cluster "ledger" and drops payments.
        let v2 = snap(
            res(.cluster, "ledger"), res(.cluster, "catalog"),
            res(.endpoint, "ledger"), res(.endpoint, "catalog"),
            res(.listener, "outbound", "v2"), res(.route, "outbound", "v2"))
        let cds1 = m.snapshotChanged(v2).only!
        #expect(cds1.type == .cluster)
        #expect(cds1.resourceNames == ["catalog", "ledger", "payments"])  // payments kept for now
        // Envoy asks for the new cluster's endpoints (they warm it), then ACKs CDS.
        let eds = m.receive(XDSRequest(type: .endpoint, responseNonce: "2", resourceNames: ["catalog", "ledger", "payments"])).only!
        #expect(eds.type == .endpoint)
        #expect(eds.resourceNames == ["ledger"])
        #expect(m.receive(ack(eds, names: ["catalog", "ledger", "payments"])).isEmpty)  // CDS still unACKed
        let lds = m.receive(ack(cds1)).only!
        #expect(lds.type == .listener)
        let rds = m.receive(ack(lds)).only!
        #expect(rds.type == .route)
        let cds2 = m.receive(ack(rds, names: ["outbound"])).only!
        #expect(cds2.type == .cluster)
        #expect(cds2.resourceNames == ["catalog", "ledger"])  // the removal, last
        #expect(m.receive(ack(cds2)).isEmpty)
    }

    @Test func routeWaitsForTheClusterItNames() {
        var m = synced()
        let v2 = snap(
            res(.cluster, "payments"), res(.cluster, "catalog"), res(.cluster, "ledger"),
            res(.endpoint, "payments"), res(.endpoint, "catalog"), res(.endpoint, "ledger"),
            res(.listener, "outbound"), res(.route, "outbound", "v2"))
        let first = m.snapshotChanged(v2).only!
        #expect(first.type == .cluster)
        // While CDS is in flight, an RDS request does not get the new route.
        #expect(m.receive(XDSRequest(type: .route, responseNonce: "4", resourceNames: ["outbound"])).isEmpty)
        // The CDS ACK alone does not release the route: ledger's endpoints are not asked for yet.
        #expect(m.receive(ack(first)).isEmpty)
        let next = m.receive(
            XDSRequest(type: .endpoint, responseNonce: "2", resourceNames: ["catalog", "ledger", "payments"])
        ).only!
        #expect(next.type == .endpoint)
        #expect(next.resourceNames == ["ledger"])
        let route = m.receive(ack(next, names: ["catalog", "ledger", "payments"])).only!
        #expect(route.type == .route)
    }

    @Test func endpointsOfAClusterOnItsWayOutAreNeverEmptied() {
        var m = synced()
        let v2 = snap(
            res(.cluster, "catalog"), res(.endpoint, "catalog"), res(.listener, "outbound"), res(.route, "outbound", "v2"))
        // The route stops naming payments first; nothing is sent for payments' endpoints.
        let rds = m.snapshotChanged(v2).only!
        #expect(rds.type == .route)
        let final = m.receive(ack(rds, names: ["outbound"])).only!
        #expect(final.type == .cluster)
        #expect(final.resourceNames == ["catalog"])
        #expect(m.receive(ack(final)).isEmpty)
        #expect(m.holds(.endpoint)["payments"] != nil)
    }

    @Test func namedListenerAndClusterRequestsLikeGRPC() {
        var m = ADSStreamMachine(mode: .stateOfTheWorld)
        _ = m.admit()
        _ = m.snapshotChanged(v1)
        // gRPC asks for listeners by name, and never wildcard; it never asks CDS first.
        let lds = m.receive(XDSRequest(type: .listener, resourceNames: ["payments"])).only
        #expect(lds?.resources.isEmpty == true)  // unknown listener: empty full state for the named set
        let lds2 = m.receive(XDSRequest(type: .listener, responseNonce: lds!.nonce, resourceNames: ["outbound"])).only
        #expect(lds2?.resourceNames == ["outbound"])
        #expect(m.subscription(.listener).wildcard == false)
    }
}

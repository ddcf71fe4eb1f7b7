import Testing
@testable import XDS

/// Subscription rules of the xDS spec ("How the client specifies what resources to return") and
/// the cases a live Envoy produces after a cluster is added or a control plane restarts.
@Suite struct SubscriptionTests {
    let v1 = baseline

    func started(_ mode: ADSStreamMachine.Mode) -> ADSStreamMachine {
        var m = ADSStreamMachine(mode: mode)
        _ = m.admit()
        _ = m.snapshotChanged(v1)
        return m
    }

    // MARK: Legacy wildcard

    @Test func sotwNamedRequestAfterLegacyWildcardUnsubscribesTheWildcard() {
        var m = started(.stateOfTheWorld)
        let all = m.receive(XDSRequest(type: .cluster)).only!
        #expect(all.resourceNames == ["catalog", "payments"])
        let named = m.receive(XDSRequest(type: .cluster, responseNonce: all.nonce, resourceNames: ["payments"])).only
        #expect(!m.subscription(.cluster).wildcard)
        // Make before break: catalog goes in the removal stage, after the upserts.
        let removal = m.receive(ack(named, names: ["payments"])).only
        #expect(removal?.resourceNames == ["payments"])
        _ = m.receive(ack(removal, names: ["payments"]))
        #expect(m.holds(.cluster).keys.sorted() == ["payments"])
        // After an explicit subscription an empty list is no longer a wildcard: it unsubscribes all.
        let none = m.receive(XDSRequest(type: .cluster, responseNonce: removal!.nonce, resourceNames: []))
        #expect(!m.subscription(.cluster).wildcard)
        #expect(none.isEmpty)  // and nothing to answer: the client no longer watches clusters
        #expect(m.holds(.cluster).isEmpty)
    }

    @Test func sotwStarKeepsTheWildcardBesideNames() {
        var m = started(.stateOfTheWorld)
        let all = m.receive(XDSRequest(type: .cluster)).only!
        let both = m.receive(XDSRequest(type: .cluster, responseNonce: all.nonce, resourceNames: ["*", "payments"])).only
        #expect(m.subscription(.cluster).wildcard)
        #expect(m.subscription(.cluster).names == ["payments"])
        #expect(both?.resourceNames == ["catalog", "payments"])  // still every cluster
        #expect(m.receive(ack(both, names: ["*", "payments"])).isEmpty)
    }

    @Test func deltaSubscribingANameAfterLegacyWildcardUnsubscribesTheWildcard() {
        var m = started(.delta)
        let all = m.receive(XDSRequest(type: .cluster)).only!
        #expect(m.subscription(.cluster).wildcard)
        _ = m.receive(XDSRequest(type: .cluster, responseNonce: all.nonce, subscribe: ["payments"]))
        #expect(!m.subscription(.cluster).wildcard)
        #expect(m.subscription(.cluster).names == ["payments"])
        #expect(m.holds(.cluster).keys.sorted() == ["payments"])
        // A later change to catalog is not sent: the client no longer watches it.
        let v2 = snap(
            res(.cluster, "payments"), res(.cluster, "catalog", "v2"),
            res(.endpoint, "payments"), res(.endpoint, "catalog"),
            res(.listener, "outbound"), res(.route, "outbound"))
        #expect(m.snapshotChanged(v2).responses.allSatisfy { $0.type != .cluster })
    }

    @Test func deltaStarWithNamesKeepsTheWildcard() {
        var m = started(.delta)
        let all = m.receive(XDSRequest(type: .cluster)).only!
        _ = m.receive(XDSRequest(type: .cluster, responseNonce: all.nonce, subscribe: ["*", "payments"]))
        #expect(m.subscription(.cluster).wildcard)
    }

    // MARK: Names that exist nowhere

    @Test func sotwUnknownEndpointNameIsNotAnswered() {
        var m = started(.stateOfTheWorld)
        let cds = m.receive(XDSRequest(type: .cluster)).only!
        _ = m.receive(ack(cds))
        let eds = m.receive(XDSRequest(type: .endpoint, resourceNames: ["payments", "nowhere"])).only!
        #expect(eds.resourceNames == ["payments"])
        _ = m.receive(ack(eds, names: ["payments", "nowhere"]))
        #expect(m.holds(.endpoint).keys.sorted() == ["payments"])
        #expect(m.receive(XDSRequest(type: .endpoint, responseNonce: eds.nonce, resourceNames: ["nowhere"])).isEmpty)
    }

    @Test func deltaUnknownNameIsReportedRemovedOnce() {
        var m = started(.delta)
        let cds = m.receive(XDSRequest(type: .cluster)).only!
        _ = m.receive(deltaAck(cds))
        let eds = m.receive(XDSRequest(type: .endpoint, subscribe: ["payments", "nowhere"])).only!
        #expect(eds.resourceNames == ["payments"])
        #expect(eds.removed == ["nowhere"])
        #expect(m.receive(deltaAck(eds)).isEmpty)
        // Once it exists it is sent; once gone again the client keeps what it holds until it
        // unsubscribes (endpoints are never emptied by accident).
        let v2 = snap(
            res(.cluster, "payments"), res(.cluster, "catalog"),
            res(.endpoint, "payments"), res(.endpoint, "catalog"), res(.endpoint, "nowhere"),
            res(.listener, "outbound"), res(.route, "outbound"))
        let appeared = m.snapshotChanged(v2).only!
        #expect(appeared.resourceNames == ["nowhere"])
        #expect(appeared.removed.isEmpty)
        _ = m.receive(deltaAck(appeared))
        #expect(m.snapshotChanged(v1).isEmpty)
        #expect(m.holds(.endpoint)["nowhere"] != nil)
    }

    // MARK: Envoy after start-up: a new cluster warms before its CDS ACK

    /// A running Envoy holds its CDS ACK until a new cluster has warmed, and a cluster warms only
    /// once its endpoints arrive: the endpoints must be sent while the clusters are unACKed.
    func clusterAddedWhileRunning(_ mode: ADSStreamMachine.Mode) {
        var m = started(mode)
        let only = snap(res(.cluster, "catalog"), res(.endpoint, "catalog"), res(.listener, "outbound"), res(.route, "outbound"))
        _ = m.snapshotChanged(only)
        let cds = m.receive(XDSRequest(type: .cluster)).only!
        _ = m.receive(mode == .delta ? deltaAck(cds) : ack(cds))
        let eds = m.receive(
            mode == .delta
                ? XDSRequest(type: .endpoint, subscribe: ["catalog"])
                : XDSRequest(type: .endpoint, resourceNames: ["catalog"])).only!
        _ = m.receive(mode == .delta ? deltaAck(eds) : ack(eds, names: ["catalog"]))

        let added = m.snapshotChanged(v1).only!
        #expect(added.type == .cluster)
        let endpoints = m.receive(
            mode == .delta
                ? XDSRequest(type: .endpoint, responseNonce: eds.nonce, subscribe: ["payments"])
                : XDSRequest(type: .endpoint, responseNonce: eds.nonce, resourceNames: ["catalog", "payments"])).only
        #expect(endpoints?.type == .endpoint)
        #expect(endpoints?.resourceNames == ["payments"])
        _ = m.receive(mode == .delta ? deltaAck(endpoints) : ack(endpoints, names: ["catalog", "payments"]))
        // The CDS ACK comes once payments is warm; its endpoints are not sent a second time.
        let afterAck = m.receive(mode == .delta ? deltaAck(added) : ack(added))
        #expect(afterAck.responses.allSatisfy { $0.type != .endpoint })
        #expect(m.holds(.endpoint).keys.sorted() == ["catalog", "payments"])
    }

    @Test func sotwEndpointsOfANewClusterGoOutBeforeItsAck() { clusterAddedWhileRunning(.stateOfTheWorld) }
    @Test func deltaEndpointsOfANewClusterGoOutBeforeItsAck() { clusterAddedWhileRunning(.delta) }

    @Test func listenersStillWaitForTheClusterAck() {
        var m = started(.stateOfTheWorld)
        let cds = m.receive(XDSRequest(type: .cluster)).only!
        _ = m.receive(XDSRequest(type: .listener))
        let eds = m.receive(XDSRequest(type: .endpoint, resourceNames: ["catalog", "payments"])).only
        #expect(eds?.type == .endpoint)
        _ = m.receive(ack(eds, names: ["catalog", "payments"]))
        #expect(m.inFlight == cds)  // listeners wait for the clusters to be accepted
        let lds = m.receive(ack(cds)).only
        #expect(lds?.type == .listener)
    }

    // MARK: Envoy after a restart: an empty EDS interest is no watch at all

    /// Envoy reconnecting with no EDS cluster sends an EDS request with no names; it ignores a
    /// response for a type it does not watch, so answering it would block the stream forever.
    @Test func sotwEmptyEndpointInterestIsNotAnsweredAndBlocksNothing() {
        var m = started(.stateOfTheWorld)
        let noEDS = snap(res(.listener, "outbound"), res(.route, "outbound"))
        _ = m.snapshotChanged(noEDS)
        #expect(m.receive(XDSRequest(type: .endpoint)).isEmpty)
        let lds = m.receive(XDSRequest(type: .listener)).only
        #expect(lds?.type == .listener)
    }
}

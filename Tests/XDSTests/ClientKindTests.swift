import Testing
@testable import XDS

@Suite struct ClientKindTests {
    /// `baseline` plus an API listener (and its route) that only proxyless gRPC clients use.
    let withAPIListener = try! Snapshot(
        service: "frontend",
        resources: [
            res(.cluster, "payments"), res(.endpoint, "payments"),
            res(.listener, "outbound"), res(.route, "outbound"),
            res(.listener, "payments"), res(.route, "api|payments"),
        ],
        endpointNames: ["payments": "payments"], proxylessListeners: ["payments"])

    @Test func userAgentsAreClassified() {
        #expect(XDSClientKind(userAgentName: "envoy") == .envoy)
        // What grpcio 1.85 sends (captured against a listening ADS server).
        #expect(XDSClientKind(userAgentName: "gRPC C-core linux Python") == .proxylessGRPC)
        #expect(XDSClientKind(userAgentName: "gRPC Go") == .proxylessGRPC)
        #expect(XDSClientKind(userAgentName: "") == .unknown)
        #expect(XDSClientKind(userAgentName: "curl") == .unknown)
    }

    @Test func envoyIsServedNoAPIListenerAndSharesTheEncodedBytes() {
        let envoy = withAPIListener.served(to: .envoy)
        #expect(envoy.resources(of: .listener).keys.sorted() == ["outbound"])
        #expect(envoy.resources(of: .listener)["payments"] == nil)
        #expect(envoy.resources(of: .route).count == 2)
        #expect(envoy.resources(of: .listener)["outbound"] === withAPIListener.resources(of: .listener)["outbound"])
        #expect(envoy.version == withAPIListener.version)
        for other in [XDSClientKind.proxylessGRPC, .unknown] {
            #expect(withAPIListener.served(to: other).resources(of: .listener).keys.sorted() == ["outbound", "payments"])
        }
    }

    /// The wildcard LDS answer an Envoy stream gets, first and after a change, has no API listener.
    @Test func anEnvoyStreamNeverSendsAPIListeners() {
        var m = ADSStreamMachine(mode: .stateOfTheWorld)
        m.client = .envoy
        _ = m.admit()
        _ = m.snapshotChanged(withAPIListener)
        let cds = m.receive(XDSRequest(type: .cluster)).only
        _ = m.receive(ack(cds))
        let eds = m.receive(XDSRequest(type: .endpoint, resourceNames: ["payments"])).only
        _ = m.receive(ack(eds, names: ["payments"]))
        let lds = m.receive(XDSRequest(type: .listener)).only
        #expect(lds?.resourceNames == ["outbound"])
        _ = m.receive(ack(lds))
        #expect(m.holds(.listener).keys.sorted() == ["outbound"])

        var delta = ADSStreamMachine(mode: .delta)
        delta.client = .envoy
        _ = delta.admit()
        _ = delta.snapshotChanged(withAPIListener)
        let dcds = delta.receive(XDSRequest(type: .cluster)).only
        _ = delta.receive(deltaAck(dcds))
        let deds = delta.receive(XDSRequest(type: .endpoint, subscribe: ["payments"])).only
        _ = delta.receive(deltaAck(deds))
        #expect(delta.receive(XDSRequest(type: .listener)).only?.resourceNames == ["outbound"])
    }

    @Test func aGRPCStreamStillGetsItsAPIListenerByName() {
        var m = ADSStreamMachine(mode: .stateOfTheWorld)
        m.client = .proxylessGRPC
        _ = m.admit()
        _ = m.snapshotChanged(withAPIListener)
        #expect(m.receive(XDSRequest(type: .listener, resourceNames: ["payments"])).only?.resourceNames == ["payments"])
    }
}

import EnvoyAPI
import Templates
import Testing
@testable import ControlPlane
@testable import XDS

/// The builder's pool: identical resources are one allocation, and resources no snapshot uses
/// are dropped once the pool has doubled, not on every compile.
@Suite struct SnapshotBuilderTests {
    static func assignment(_ cluster: String, ports: [Int]) -> Envoy_Config_Endpoint_V3_ClusterLoadAssignment {
        var cla = Envoy_Config_Endpoint_V3_ClusterLoadAssignment()
        cla.clusterName = cluster
        var locality = Envoy_Config_Endpoint_V3_LocalityLbEndpoints()
        locality.lbEndpoints = ports.map { port in
            var endpoint = Envoy_Config_Endpoint_V3_LbEndpoint()
            endpoint.endpoint.address.socketAddress.address = "127.0.0.1"
            endpoint.endpoint.address.socketAddress.portValue = UInt32(port)
            return endpoint
        }
        cla.endpoints = [locality]
        return cla
    }

    static func service(_ name: String, _ ports: [Int]) -> CompiledService {
        CompiledService(service: name, endpoints: [assignment("payments", ports: ports)])
    }

    @Test func identicalResourcesOfTwoServicesAreOneEntry() throws {
        var builder = SnapshotBuilder()
        let a = try builder.build(service: "frontend", Self.service("frontend", [1, 2]))
        let b = try builder.build(service: "checkout", Self.service("checkout", [1, 2]))
        #expect(builder.pooledCount == 1)
        #expect(a.resources(of: .endpoint)["payments"]?.version == b.resources(of: .endpoint)["payments"]?.version)
        _ = try builder.build(service: "checkout", Self.service("checkout", [1, 3]))
        #expect(builder.pooledCount == 2)
    }

    @Test func unusedResourcesAreSweptOnceThePoolHasDoubled() throws {
        var builder = SnapshotBuilder()
        var live = try builder.build(service: "frontend", Self.service("frontend", [0]))
        var sweeps = 0
        // Each change re-encodes the one assignment: the old version is garbage from then on.
        for port in 1...20 {
            live = try builder.build(service: "frontend", Self.service("frontend", [port]))
            builder.sweepIfGrown(minimumSweep: 4) {
                sweeps += 1
                return [live]
            }
            #expect(builder.pooledCount <= 5, "the pool stays bounded: \(builder.pooledCount) after change \(port)")
        }
        // Sweeps happen when the pool exceeds max(2 x its size after the last sweep, 4): at 5
        // entries each time, so every fourth change after the first four, not on every change.
        #expect(sweeps == 5, "sweeps: \(sweeps)")
        builder.retainOnly([live])
        #expect(builder.pooledCount == 1, "only the live assignment is left")
        let again = try builder.build(service: "frontend", Self.service("frontend", [20]))
        #expect(again.version == live.version)
    }

    @Test func apiListenersAreMarkedForProxylessClientsOnly() throws {
        var outbound = Envoy_Config_Listener_V3_Listener()
        outbound.name = "outbound"
        var api = Envoy_Config_Listener_V3_Listener()
        api.name = "payments"
        api.apiListener = Envoy_Config_Listener_V3_ApiListener()
        var builder = SnapshotBuilder()
        let snapshot = try builder.build(
            service: "frontend", CompiledService(service: "frontend", listeners: [api, outbound]))
        #expect(snapshot.proxylessListeners == ["payments"])
        #expect(snapshot.served(to: .envoy).resources(of: .listener).keys.sorted() == ["outbound"])
        #expect(snapshot.served(to: .proxylessGRPC).resources(of: .listener).count == 2)
    }
}

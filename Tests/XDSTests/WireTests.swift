import EnvoyAPI
import SwiftProtobuf
import Testing
@testable import XDS

/// The hand-assembled response envelopes must decode with the generated types, field for field.
@Suite struct WireTests {
    let resources = [
        EncodedResource(type: .cluster, name: "payments", value: try! Envoy_Config_Cluster_V3_Cluster.with { $0.name = "payments" }.serializedBytes()),
        EncodedResource(type: .cluster, name: "catalog", value: try! Envoy_Config_Cluster_V3_Cluster.with { $0.name = "catalog" }.serializedBytes()),
    ]

    @Test func stateOfTheWorldResponseDecodes() throws {
        let response = XDSResponse(type: .cluster, nonce: "7", versionInfo: "abc", resources: resources, removed: [])
        let decoded = try Envoy_Service_Discovery_V3_DiscoveryResponse(serializedBytes: ResponseEncoder.stateOfTheWorld(response))
        #expect(decoded.versionInfo == "abc")
        #expect(decoded.nonce == "7")
        #expect(decoded.typeURL == ResourceType.cluster.typeURL)
        #expect(decoded.controlPlane.identifier == "sextant")
        let clusters = try decoded.resources.map { try Envoy_Config_Cluster_V3_Cluster(unpackingAny: $0) }
        #expect(clusters.map(\.name) == ["payments", "catalog"])
        #expect(decoded.unknownFields.data.isEmpty)
    }

    @Test func deltaResponseDecodes() throws {
        let response = XDSResponse(type: .cluster, nonce: "9", versionInfo: "sys", resources: resources, removed: ["old", ""])
        let decoded = try Envoy_Service_Discovery_V3_DeltaDiscoveryResponse(serializedBytes: ResponseEncoder.delta(response))
        #expect(decoded.systemVersionInfo == "sys")
        #expect(decoded.nonce == "9")
        #expect(decoded.removedResources == ["old", ""])
        #expect(decoded.resources.map(\.name) == ["payments", "catalog"])
        #expect(decoded.resources.map(\.version) == resources.map(\.version))
        #expect(try decoded.resources.map { try Envoy_Config_Cluster_V3_Cluster(unpackingAny: $0.resource).name } == ["payments", "catalog"])
    }

    @Test func requestsDecodeIntoPlainValues() throws {
        var sotw = Envoy_Service_Discovery_V3_DiscoveryRequest()
        sotw.typeURL = ResourceType.endpoint.typeURL
        sotw.resourceNames = ["a", "b"]
        sotw.responseNonce = "3"
        sotw.errorDetail.code = 13
        sotw.errorDetail.message = "nope"
        sotw.node.cluster = "frontend"
        let decoded = try RequestDecoder.stateOfTheWorld(try sotw.serializedBytes())
        #expect(decoded.request == XDSRequest(type: .endpoint, responseNonce: "3", errorDetail: .init(code: 13, message: "nope"), resourceNames: ["a", "b"]))
        #expect(decoded.node?.cluster == "frontend")

        var delta = Envoy_Service_Discovery_V3_DeltaDiscoveryRequest()
        delta.typeURL = "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.Secret"
        #expect(try RequestDecoder.delta(try delta.serializedBytes()).request == nil)
    }
}

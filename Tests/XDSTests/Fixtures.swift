@testable import XDS

/// Builds resources whose bytes (and so versions) are determined by a content label.
func res(_ type: ResourceType, _ name: String, _ content: String = "v1") -> EncodedResource {
    EncodedResource(type: type, name: name, value: Array("\(name):\(content)".utf8))
}

/// Every cluster in a fixture snapshot is an EDS cluster whose assignment has its name.
func snap(_ resources: EncodedResource...) -> Snapshot {
    let clusters = resources.filter { $0.type == .cluster }.map(\.name)
    return try! Snapshot(
        service: "frontend", resources: resources,
        endpointNames: Dictionary(uniqueKeysWithValues: clusters.map { ($0, $0) }))
}

extension [ADSAction] {
    var responses: [XDSResponse] {
        compactMap { if case .send(let r) = $0 { return r } else { return nil } }
    }
    var only: XDSResponse? { responses.count == 1 ? responses[0] : nil }
    var nacks: [NackRecord] { compactMap { if case .nack(let n) = $0 { return n } else { return nil } } }
}

func ack(_ response: XDSResponse?, names: [String] = []) -> XDSRequest {
    XDSRequest(type: response!.type, responseNonce: response!.nonce, resourceNames: names)
}

func deltaAck(_ response: XDSResponse?) -> XDSRequest {
    XDSRequest(type: response!.type, responseNonce: response!.nonce)
}

/// Two EDS clusters with their endpoints, one listener and its route: what most tests start from.
let baseline = snap(
    res(.cluster, "payments"), res(.cluster, "catalog"),
    res(.endpoint, "payments"), res(.endpoint, "catalog"),
    res(.listener, "outbound"), res(.route, "outbound"))

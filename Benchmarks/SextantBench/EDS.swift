import EnvoyAPI
import SwiftProtobuf
import XDS

/// Reads back what the store serves: the bytes a stream would send.
enum EDS {
    /// The number of endpoints in an encoded `ClusterLoadAssignment`.
    static func endpointCount(_ resource: EncodedResource) throws -> Int {
        let any = try Google_Protobuf_Any(serializedBytes: resource.anyBytes)
        let assignment = try Envoy_Config_Endpoint_V3_ClusterLoadAssignment(serializedBytes: any.value)
        return assignment.endpoints.reduce(0) { $0 + $1.lbEndpoints.count }
    }

    /// The version of the assignment named `name` in `service`'s snapshot.
    static func version(_ store: SnapshotStore, service: String, assignment name: String) -> String? {
        store.snapshot(for: service)?.resources(of: .endpoint)[name]?.version
    }
}

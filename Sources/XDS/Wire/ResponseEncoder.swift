/// Assembles `DiscoveryResponse` and `DeltaDiscoveryResponse` bytes from resources that are
/// already serialized: per-stream work is copying bytes, never marshalling (invariant 3).
///
/// Field numbers are those of `envoy.service.discovery.v3` (checked against the official
/// descriptors by the proto subset test, and decoded with the generated types in our tests).
enum ResponseEncoder {
    static let controlPlaneIdentifier = "sextant"

    /// `DiscoveryResponse{version_info=1, resources=2, type_url=4, nonce=5, control_plane=6}`.
    static func stateOfTheWorld(_ response: XDSResponse) -> [UInt8] {
        var writer = ProtoWriter(capacity: response.resources.reduce(64) { $0 + $1.anyBytes.count + 6 })
        writer.string(1, response.versionInfo)
        for resource in response.resources { writer.bytes(2, resource.anyBytes) }
        writer.string(4, response.type.typeURL)
        writer.string(5, response.nonce)
        writer.bytes(6, controlPlane)
        return writer.bytes
    }

    /// `DeltaDiscoveryResponse{system_version_info=1, resources=2, type_url=4, nonce=5,
    /// removed_resources=6, control_plane=7}` with `Resource{version=1, resource=2, name=3}`.
    static func delta(_ response: XDSResponse) -> [UInt8] {
        var writer = ProtoWriter(capacity: response.resources.reduce(64) { $0 + $1.anyBytes.count + 48 })
        writer.string(1, response.versionInfo)
        for resource in response.resources {
            var entry = ProtoWriter(capacity: resource.anyBytes.count + 40)
            entry.string(1, resource.version)
            entry.bytes(2, resource.anyBytes)
            entry.string(3, resource.name)
            writer.bytes(2, entry.bytes)
        }
        writer.string(4, response.type.typeURL)
        writer.string(5, response.nonce)
        for name in response.removed { writer.repeatedStringElement(6, name) }
        writer.bytes(7, controlPlane)
        return writer.bytes
    }

    /// `ControlPlane{identifier=1}`.
    private static let controlPlane: [UInt8] = {
        var writer = ProtoWriter()
        writer.string(1, controlPlaneIdentifier)
        return writer.bytes
    }()
}

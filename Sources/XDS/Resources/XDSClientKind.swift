/// Which kind of xDS client a stream serves, decided once from its first request's node
/// (`node.user_agent_name`).
///
/// Envoy sends `envoy`; gRPC's xDS clients send `gRPC C-core linux Python` (grpcio 1.85),
/// `gRPC Go`, `gRPC Java` and so on. Only a stream known to be Envoy is served less than the
/// whole snapshot: an unknown client gets everything, as before.
public enum XDSClientKind: String, Sendable, Equatable, CustomStringConvertible {
    case envoy
    case proxylessGRPC = "grpc"
    case unknown

    public init(userAgentName: String) {
        let name = userAgentName.lowercased()
        if name == "envoy" {
            self = .envoy
        } else if name.hasPrefix("grpc") {
            self = .proxylessGRPC
        } else {
            self = .unknown
        }
    }

    public var description: String { rawValue }
}

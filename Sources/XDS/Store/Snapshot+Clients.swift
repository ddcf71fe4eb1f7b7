/// What each kind of client is served from one snapshot.
///
/// API listeners (`Listener.api_listener`) exist for proxyless gRPC clients, which ask for
/// them by name (`xds:///payments`). Envoy subscribes to every listener, and Envoy accepts
/// only one API listener, logging "only one ApiListener is allowed" for each extra one on
/// every listener update. So an Envoy stream is served the snapshot without them. The
/// filtered resource map is built once per snapshot, in `init`: a stream's view costs a
/// struct copy, and nothing is re-encoded (invariant 3).
extension Snapshot {
    /// The snapshot as `client` is served it. Envoy's view shares `version` with the whole
    /// snapshot: it is a function of it.
    public func served(to client: XDSClientKind) -> Snapshot {
        guard client == .envoy, !proxylessListeners.isEmpty else { return self }
        return Snapshot(view: self, resources: sidecarResources)
    }

    private init(view snapshot: Snapshot, resources: [ResourceType: [String: EncodedResource]]) {
        self.service = snapshot.service
        self.resources = resources
        self.endpointNames = snapshot.endpointNames
        self.version = snapshot.version
        self.proxylessListeners = []
        self.sidecarResources = resources
    }

    static func withoutProxylessListeners(
        _ resources: [ResourceType: [String: EncodedResource]], _ names: Set<String>
    ) -> [ResourceType: [String: EncodedResource]] {
        guard !names.isEmpty, var listeners = resources[.listener] else { return resources }
        for name in names { listeners[name] = nil }
        var result = resources
        result[.listener] = listeners
        return result
    }
}

/// Everything one service's sidecars receive: immutable, encoded once, shared by every stream.
public struct Snapshot: Sendable {
    public enum Failure: Error, Equatable, CustomStringConvertible {
        case duplicateName(ResourceType, String)
        public var description: String {
            switch self {
            case .duplicateName(let type, let name): return "duplicate \(type) resource name '\(name)'"
            }
        }
    }

    public let service: String
    public let resources: [ResourceType: [String: EncodedResource]]
    /// For each EDS cluster, the name of its ClusterLoadAssignment (`eds_cluster_config.service_name`).
    public let endpointNames: [String: String]
    /// A content hash over every resource version: equal versions mean identical snapshots.
    public let version: String
    /// Listeners only proxyless gRPC clients use (`api_listener`s); see Snapshot+Clients.swift.
    public let proxylessListeners: Set<String>
    /// `resources` without `proxylessListeners`: what an Envoy stream is served.
    let sidecarResources: [ResourceType: [String: EncodedResource]]

    public init(
        service: String, resources: [EncodedResource], endpointNames: [String: String] = [:],
        proxylessListeners: Set<String> = []
    ) throws(Failure) {
        var byType: [ResourceType: [String: EncodedResource]] = [:]
        for type in ResourceType.allCases { byType[type] = [:] }
        var versions: [String: String] = [:]
        for resource in resources {
            guard byType[resource.type]![resource.name] == nil else {
                throw .duplicateName(resource.type, resource.name)
            }
            byType[resource.type]![resource.name] = resource
            versions["\(resource.type)/\(resource.name)"] = resource.version
        }
        self.service = service
        self.resources = byType
        self.endpointNames = endpointNames
        self.version = ContentHash.hex(ofVersions: versions)
        self.proxylessListeners = proxylessListeners
        self.sidecarResources = Self.withoutProxylessListeners(byType, proxylessListeners)
    }

    public func resources(of type: ResourceType) -> [String: EncodedResource] { resources[type] ?? [:] }
}

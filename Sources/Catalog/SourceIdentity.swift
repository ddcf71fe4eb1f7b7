import Foundation

/// Which catalog source a catalog was read from: its kind, address and everything that selects
/// what it returns (datacenter, filters). A last-known-good state is trusted only by the same
/// source: a state written while serving the file catalog says nothing about what Consul holds,
/// and guarding Consul's first read against it would hold (or freeze) every service.
public struct CatalogSourceIdentity: Sendable, Equatable, Codable, CustomStringConvertible {
    public let kind: String
    public let address: String
    public let datacenter: String?
    /// `name=value` pairs, sorted: a different order of the same flags is the same source.
    public let filters: [String]

    public init(kind: String, address: String, datacenter: String? = nil, filters: [String] = []) {
        self.kind = kind
        self.address = address
        self.datacenter = datacenter
        self.filters = filters.sorted()
    }

    /// A catalog file, by its absolute, standardised path (a state dir outlives the working
    /// directory it was started from).
    public static func file(path: String) -> CatalogSourceIdentity {
        let absolute =
            path.hasPrefix("/") ? path : (FileManager.default.currentDirectoryPath as NSString).appendingPathComponent(path)
        return CatalogSourceIdentity(kind: "file", address: (absolute as NSString).standardizingPath)
    }

    public var description: String {
        var text = "\(kind) \(address)"
        if let datacenter { text += " (datacenter \(datacenter))" }
        if !filters.isEmpty { text += " [\(filters.joined(separator: ", "))]" }
        return text
    }
}

extension ConsulConfiguration {
    /// The agent's address, the datacenter and what narrows the catalog: watched services, tags
    /// and the tagged address (which changes every instance's address).
    public var identity: CatalogSourceIdentity {
        var address = url.absoluteString
        while address.hasSuffix("/") { address.removeLast() }
        var filters = (services ?? []).map { "service=\($0)" } + tags.map { "tag=\($0.lowercased())" }
        if let taggedAddress { filters.append("tagged-address=\(taggedAddress)") }
        return CatalogSourceIdentity(kind: "consul", address: address, datacenter: datacenter, filters: filters)
    }
}

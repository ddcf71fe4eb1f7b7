import Catalog
import Foundation
import XDS

/// The last accepted catalog on disk, so a restart serves it at once instead of nothing.
///
/// Format: one header line `sextant-lkg 1 <length> <hash>` then the JSON body, which records
/// the source the catalog came from. Writes are atomic (temporary file, fsync, rename, fsync of
/// the folder); a file whose length or hash does not match (truncated, torn, edited) is
/// reported and ignored, never served, and so is a state from another source.
public struct LastKnownGood: Sendable {
    public enum Failure: Error, Equatable, CustomStringConvertible {
        case corrupt(path: String, reason: String)
        case otherSource(path: String, stored: String, current: String)
        case io(path: String, reason: String)
        public var description: String {
            switch self {
            case .corrupt(let path, let reason): return "\(path): corrupt last-known-good state ignored: \(reason)"
            case .otherSource(let path, let stored, let current):
                return
                    "\(path): last-known-good state ignored: it was written while serving \(stored), not \(current) "
                    + "(the first full read of \(current) replaces it)"
            case .io(let path, let reason): return "\(path): \(reason)"
            }
        }
    }

    public let path: String
    /// The source being served. A stored state is trusted only when it records the same one;
    /// nil (a baseline named explicitly, as `validate --baseline` does) trusts any.
    public let source: CatalogSourceIdentity?

    public init(directory: String, source: CatalogSourceIdentity? = nil) {
        self.path = (directory as NSString).appendingPathComponent("catalog.lkg")
        self.source = source
    }

    /// - Returns: nil when there is no state yet.
    /// - Throws: `Failure.corrupt` for a file that fails its checks, `Failure.otherSource` for
    ///   a state another source wrote (or one too old to say which).
    public func load() throws(Failure) -> Catalog? {
        guard let body = try Self.readChecked(path) else { return nil }
        let stored: StoredCatalog
        do {
            stored = try JSONDecoder().decode(StoredCatalog.self, from: Data(body))
        } catch {
            throw .corrupt(path: path, reason: "\(error)")
        }
        if let source, stored.source != source {
            throw .otherSource(path: path, stored: stored.source?.description ?? "an unrecorded source", current: source.description)
        }
        do { return try stored.catalog } catch { throw .corrupt(path: path, reason: "\(error)") }
    }

    /// The body of a state file whose header (`sextant-lkg 1 <length> <hash>`) checks out.
    /// - Returns: nil when there is no file.
    static func readChecked(_ path: String) throws(Failure) -> [UInt8]? {
        guard let data = FileManager.default.contents(atPath: path) else { return nil }
        let bytes = [UInt8](data)
        guard let newline = bytes.firstIndex(of: 0x0A) else { throw .corrupt(path: path, reason: "no header") }
        let header = String(decoding: bytes[..<newline], as: UTF8.self).split(separator: " ")
        let body = Array(bytes[(newline + 1)...])
        guard header.count == 4, header[0] == "sextant-lkg", header[1] == "1" else {
            throw .corrupt(path: path, reason: "unknown header")
        }
        guard Int(header[2]) == body.count else {
            throw .corrupt(path: path, reason: "length \(body.count), header says \(header[2])")
        }
        guard ContentHash.hex(of: body) == header[3] else { throw .corrupt(path: path, reason: "checksum mismatch") }
        return body
    }

    /// Writes `catalog` atomically.
    public func save(_ catalog: Catalog) throws(Failure) {
        let body = StoredCatalog.json(catalog, source: source)
        try Self.writeAtomically(body, to: path)
    }

    /// Writes the header and `body` to `path`: temporary file, fsync, rename, fsync of the folder.
    static func writeAtomically(_ body: [UInt8], to path: String) throws(Failure) {
        let file = Array("sextant-lkg 1 \(body.count) \(ContentHash.hex(of: body))\n".utf8) + body
        let directory = (path as NSString).deletingLastPathComponent
        let temporary = path + ".tmp"
        do {
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        } catch {
            throw .io(path: directory, reason: "\(error)")
        }
        let fd = open(temporary, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw .io(path: temporary, reason: String(cString: strerror(errno))) }
        var written = 0
        while written < file.count {
            let n = file.withUnsafeBytes { write(fd, $0.baseAddress! + written, $0.count - written) }
            if n < 0 && errno == EINTR { continue }
            guard n > 0 else {
                let reason = String(cString: strerror(errno))
                close(fd)
                throw .io(path: temporary, reason: reason)
            }
            written += n
        }
        guard fsync(fd) == 0 else {
            let reason = String(cString: strerror(errno))
            close(fd)
            throw .io(path: temporary, reason: "fsync: \(reason)")
        }
        close(fd)
        guard rename(temporary, path) == 0 else { throw .io(path: path, reason: "rename: \(String(cString: strerror(errno)))") }
        // The rename itself must reach the disk: fsync the folder.
        let dirFD = open(directory, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        if dirFD >= 0 {
            _ = fsync(dirFD)
            close(dirFD)
        }
    }
}

/// The stored shape of a catalog (the model types stay free of Codable).
struct StoredCatalog: Codable {
    struct StoredInstance: Codable {
        var id, address: String
        var port: Int
        var zone, region: String?
        var health: String
        var weight: UInt32
    }
    /// Absent in states written before sources were recorded.
    var source: CatalogSourceIdentity?
    var services: [String: [StoredInstance]]

    init(_ catalog: Catalog, source: CatalogSourceIdentity?) {
        self.source = source
        services = catalog.services.mapValues { service in
            service.instances.map {
                StoredInstance(
                    id: $0.id, address: $0.address, port: $0.port, zone: $0.zone, region: $0.region,
                    health: $0.health.rawValue, weight: $0.weight)
            }
        }
    }

    var catalog: Catalog {
        get throws {
            Catalog(
                try services.map { name, instances in
                    CatalogService(
                        name: name,
                        instances: try instances.map { stored in
                            guard let health = Health(rawValue: stored.health) else {
                                throw LastKnownGood.Failure.corrupt(path: "", reason: "unknown health '\(stored.health)'")
                            }
                            return Instance(
                                id: stored.id, address: stored.address, port: stored.port, zone: stored.zone,
                                region: stored.region, health: health, weight: stored.weight)
                        })
                })
        }
    }
}

import Dispatch
import Foundation
import Logging
import Templates

/// The last accepted template texts on disk (`templates.lkg` beside `catalog.lkg`), so a restart
/// with a broken file in the folder still serves what was last good.
///
/// Same format and checks as `LastKnownGood`: a header with the body's length and hash, written
/// atomically; a file that fails its checks is reported and ignored. The texts are stored with
/// the paths they were read from, and are parsed again on load.
public final class TemplateLastGood: Sendable {
    public let path: String
    private let logger: Logger
    private let queue = DispatchQueue(label: "sextant.templates-lkg")

    public init(directory: String, logger: Logger) {
        self.path = (directory as NSString).appendingPathComponent("templates.lkg")
        self.logger = logger
    }

    /// - Returns: nil when there is no state yet.
    public func load() throws(LastKnownGood.Failure) -> TemplateSources? {
        guard let body = try LastKnownGood.readChecked(path) else { return nil }
        do {
            return try JSONDecoder().decode(Stored.self, from: Data(body)).sources
        } catch {
            throw .corrupt(path: path, reason: "\(error)")
        }
    }

    public func save(_ sources: TemplateSources) throws(LastKnownGood.Failure) {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        let body: [UInt8]
        do { body = [UInt8](try encoder.encode(Stored(sources))) } catch { throw .io(path: path, reason: "\(error)") }
        try LastKnownGood.writeAtomically(body, to: path)
    }

    /// Saves off the caller's thread (and lock), in submission order.
    func submit(_ sources: TemplateSources) {
        queue.async { [self] in
            do { try save(sources) } catch {
                logger.error("could not save the last good templates", metadata: ["error": "\(error)"])
            }
        }
    }

    /// Returns once every submitted set is on disk.
    func flush() { queue.sync {} }

    private struct Stored: Codable {
        var defaultsFile: String
        var defaults: String?
        var servicesDirectory: String
        var files: [String: String]

        init(_ sources: TemplateSources) {
            defaultsFile = sources.defaultsFile
            defaults = sources.defaults
            servicesDirectory = sources.servicesDirectory
            files = sources.files
        }

        var sources: TemplateSources {
            TemplateSources(defaultsFile: defaultsFile, defaults: defaults, servicesDirectory: servicesDirectory, files: files)
        }
    }
}

import Foundation

/// Paths in the repository, found from this file so tests do not depend on the working directory.
enum TestPaths {
    static let repository: URL = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    static func path(_ relative: String) -> String { repository.appendingPathComponent(relative).path }

    static var config: String { path("Config") }
    static var golden: String { path("Tests/Fixtures/golden") }
    static var broken: String { path("Tests/Fixtures/broken") }

    /// A fresh empty folder under the system temporary folder.
    static func temporaryFolder(_ label: String) throws -> URL {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("sextant-\(label)-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        return url
    }
}

import Catalog
import Foundation
import Testing

@testable import Templates

@Suite struct TemplateLoaderTests {
    @Test func loadsTheShippedConfiguration() {
        let set = TemplateLoader(configDirectory: configDirectory()).load()
        #expect(set.errors == [])
        #expect(set.templates.keys.sorted() == ["cache", "catalog", "frontend", "payments"])
        #expect(set.templates["frontend"]?.dependencies.map(\.name) == ["payments", "catalog"])
        #expect(set.defaults == Defaults())
    }

    @Test func collectsErrorsFromEveryFileAndKeepsTheGoodOnes() throws {
        let directory = try TemporaryDirectory()
        try FileManager.default.createDirectory(atPath: directory.path("services"), withIntermediateDirectories: true)
        try "passthrough: nope\n".write(toFile: directory.path("defaults.yaml"), atomically: true, encoding: .utf8)
        try "service: a\ninbound: {port: 1}\n".write(
            toFile: directory.path("services/a.yaml"), atomically: true, encoding: .utf8)
        try "service: b\ninbund: {port: 1}\n".write(
            toFile: directory.path("services/b.yaml"), atomically: true, encoding: .utf8)
        try "service: [\n".write(toFile: directory.path("services/c.yml"), atomically: true, encoding: .utf8)
        try "ignored".write(toFile: directory.path("services/README.md"), atomically: true, encoding: .utf8)

        let set = TemplateLoader(configDirectory: directory.url.path).load()
        #expect(set.templates.keys.sorted() == ["a"])
        #expect(set.defaults == Defaults())
        #expect(
            set.errors.map { URL(fileURLWithPath: $0.file).lastPathComponent } == ["defaults.yaml", "b.yaml", "c.yml"])
        #expect(set.errors[1].message == "unknown field 'inbund'; did you mean 'inbound'?")
        #expect(set.errors.allSatisfy { $0.line > 0 })
    }

    @Test func missingFilesAreErrors() throws {
        let directory = try TemporaryDirectory()
        let set = TemplateLoader(configDirectory: directory.url.path).load()
        #expect(set.errors.count == 2)
        #expect(set.errors.first?.description.hasSuffix("defaults.yaml: no such file") == true)
    }

    @Test func serviceWithoutAFileGetsTheDefaultTemplate() {
        var set = TemplateSet()
        #expect(set.template(for: "orders") == ServiceTemplate(service: "orders"))
        set.defaults.defaultInbound = Inbound(port: 8080)
        #expect(set.template(for: "orders").inbound == Inbound(port: 8080))
    }
}

/// The package's `Config` folder, found from this source file's location.
func configDirectory() -> String {
    var url = URL(fileURLWithPath: #filePath)
    for _ in 0..<3 { url.deleteLastPathComponent() }
    return url.appendingPathComponent("Config").path
}

/// A fresh directory under the system temporary directory, removed on deinit.
final class TemporaryDirectory {
    let url: URL

    init() throws {
        url = FileManager.default.temporaryDirectory.appendingPathComponent("sextant-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    }

    func path(_ name: String) -> String { url.appendingPathComponent(name).path }

    deinit { try? FileManager.default.removeItem(at: url) }
}

import Foundation
import Testing

@testable import Templates

/// `Config/schema.json` is generated from the parser's tables, and every shipped file satisfies it.
@Suite struct SchemaTests {
    static var schemaPath: String { configDirectory() + "/schema.json" }

    /// Set `SEXTANT_UPDATE_SCHEMA=1` to rewrite `Config/schema.json` from `TemplateSchema.json()`.
    @Test func shippedSchemaIsTheGeneratedOne() throws {
        let generated = TemplateSchema.json()
        if ProcessInfo.processInfo.environment["SEXTANT_UPDATE_SCHEMA"] == "1" {
            try generated.write(toFile: Self.schemaPath, atomically: true, encoding: .utf8)
        }
        let shipped = try String(contentsOfFile: Self.schemaPath, encoding: .utf8)
        #expect(shipped == generated, "Config/schema.json is stale: run the tests with SEXTANT_UPDATE_SCHEMA=1")
    }

    @Test func schemaNamesEverySetting() throws {
        let json = TemplateSchema.json()
        for path in DependencyPolicy.fields.map(\.path) + InboundPolicy.fields.map(\.path) {
            let leaf = String(path.split(separator: ".").last!)
            #expect(json.contains("\"\(leaf)\""), "\(path)")
        }
    }

    @Test func docsDescribeEverySetting() throws {
        var url = URL(fileURLWithPath: configDirectory())
        url.deleteLastPathComponent()
        let docs = try String(contentsOfFile: url.appendingPathComponent("docs/templates.md").path, encoding: .utf8)
        for path in DependencyPolicy.fields.map(\.path) + InboundPolicy.fields.map(\.path) {
            #expect(docs.contains("`\(path)`"), "docs/templates.md does not describe \(path)")
        }
        for field in TemplateFormat.defaultsFields + TemplateFormat.dependencyFields + TemplateFormat.inboundFields {
            #expect(docs.contains(field), "docs/templates.md does not mention \(field)")
        }
    }

    /// Validates files with Python's `jsonschema` (draft 2020-12); skipped when it is not installed.
    @Test(.enabled(if: JSONSchemaChecker.python != nil)) func shippedFilesSatisfyTheSchema() throws {
        let config = configDirectory()
        let services = try FileManager.default.contentsOfDirectory(atPath: config + "/services")
            .filter { $0.hasSuffix(".yaml") }.sorted().map { config + "/services/" + $0 }
        let good = [config + "/defaults.yaml"] + services
        #expect(good.count >= 4)
        #expect(try JSONSchemaChecker.invalidFiles(good, schema: Self.schemaPath) == [])

        let broken = BrokenFixtureTests.directory + "/services"
        let rejected = try JSONSchemaChecker.invalidFiles(
            ["did_you_mean.yaml", "wrong_type.yaml", "duplicate_route.yaml", "bad_duration.yaml"].map {
                broken + "/" + $0
            }, schema: Self.schemaPath)
        #expect(rejected.count == 4)
    }
}

/// Runs Python's `jsonschema` over YAML files: the venv's Python when it has the module, else
/// `python3` from PATH.
enum JSONSchemaChecker {
    /// The command (executable and leading arguments) of a Python with `jsonschema` and `yaml`.
    static let python: [String]? = {
        var url = URL(fileURLWithPath: configDirectory())
        url.deleteLastPathComponent()
        let candidates = [[url.appendingPathComponent(".venv/bin/python").path], ["/usr/bin/env", "python3"]]
        return candidates.first { command in
            FileManager.default.isExecutableFile(atPath: command[0])
                && (try? run(command + ["-c", "import jsonschema, yaml"]).status) == 0
        }
    }()

    static let script = """
        import json, sys, yaml, jsonschema
        schema = json.load(open(sys.argv[1]))
        validator = jsonschema.Draft202012Validator(schema)
        for path in sys.argv[2:]:
            with open(path) as f:
                document = yaml.safe_load(f)
            if not validator.is_valid(document):
                print(path)
        """

    /// The files that do not satisfy the schema.
    static func invalidFiles(_ files: [String], schema: String) throws -> [String] {
        guard let python else { return files }
        let result = try run(python + ["-c", script, schema] + files)
        #expect(result.status == 0, "\(result.output)")
        return result.output.split(separator: "\n").map(String.init)
    }

    static func run(_ command: [String]) throws -> (status: Int32, output: String) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: command[0])
        process.arguments = Array(command.dropFirst())
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = pipe
        try process.run()
        let data = pipe.fileHandleForReading.readDataToEndOfFile()  // ends when the process exits
        process.waitUntilExit()
        return (process.terminationStatus, String(decoding: data, as: UTF8.self))
    }
}

import Foundation
import Testing

@testable import Templates

/// `safeguards:` in defaults.yaml: parsed like every other setting table, documented, in the schema.
@Suite struct SafeguardSettingsTests {
    @Test func theSectionOverlaysTheBuiltInValues() {
        let yaml = """
            safeguards:
              empty_confirmation: 5m
              shrink_threshold: 25
            """
        let (defaults, errors) = TemplateFormat.parseDefaults(yaml: yaml, file: "defaults.yaml")
        #expect(errors == [])
        var expected = SafeguardSettings()
        expected.emptyConfirmation = .seconds(300)
        expected.shrinkThresholdPercent = 25
        #expect(defaults?.safeguards == expected)
    }

    @Test func badValuesArePositionedAndTyposSuggested() {
        let yaml = """
            safeguards:
              shrink_threshold: 150
              freeze_treshold: 10
              shrink_confirmation: soon
            """
        let (_, errors) = TemplateFormat.parseDefaults(yaml: yaml, file: "defaults.yaml")
        let text = errors.map(\.description)
        #expect(text.count == 3, "\(text)")
        #expect(text.contains { $0.hasPrefix("defaults.yaml:2:") && $0.contains("shrink_threshold") })
        #expect(text.contains { $0.hasPrefix("defaults.yaml:3:") && $0.contains("freeze_threshold") })
        #expect(text.contains { $0.hasPrefix("defaults.yaml:4:") && $0.contains("shrink_confirmation") })
    }

    @Test func docsSchemaAndShippedDefaultsNameEverySetting() throws {
        let root = URL(fileURLWithPath: configDirectory()).deletingLastPathComponent()
        let docs = try String(contentsOfFile: root.appendingPathComponent("docs/templates.md").path, encoding: .utf8)
        let lines = Set(docs.split(separator: "\n").map(String.init))
        for row in SafeguardSettings.fields.map({ $0.docsRow(defaults: SafeguardSettings()) }) {
            #expect(lines.contains(row), "docs/templates.md lacks the row\n\(row)")
        }
        let schema = TemplateSchema.json()
        for field in SafeguardSettings.fields { #expect(schema.contains("\"\(field.path)\""), "\(field.path)") }
        let shipped = try String(contentsOfFile: configDirectory() + "/defaults.yaml", encoding: .utf8)
        let (defaults, errors) = TemplateFormat.parseDefaults(yaml: shipped, file: "defaults.yaml")
        #expect(errors == [])
        #expect(defaults?.safeguards == SafeguardSettings())
        for field in SafeguardSettings.fields { #expect(shipped.contains("  \(field.path): "), "\(field.path)") }
    }
}

import Catalog
import Foundation

/// Everything loaded from the configuration folder: usable templates plus every problem found.
public struct TemplateSet: Sendable, Equatable {
    /// The defaults (built-in values when `defaults.yaml` is missing or broken; see `errors`).
    public var defaults: Defaults
    /// Valid templates by service name. A file with any error contributes no template.
    public var templates: [String: ServiceTemplate]
    /// Every problem, ordered by file name, then position.
    public var errors: [TemplateError]

    public init(
        defaults: Defaults = Defaults(), templates: [String: ServiceTemplate] = [:], errors: [TemplateError] = []
    ) {
        self.defaults = defaults
        self.templates = templates
        self.errors = errors
    }

    /// The template for `service`, or the default template when it has no file.
    public func template(for service: String) -> ServiceTemplate {
        templates[service] ?? .defaultTemplate(for: service, defaults: defaults)
    }
}

/// Loads `defaults.yaml` and `services/*.yaml` (see `TemplateFormat` for the formats).
///
/// Loading never stops at the first problem: `validate` lists them all. The folder is read in
/// file-name order, so the result does not depend on the directory listing order.
public struct TemplateLoader: Sendable {
    public var defaultsFile: String
    public var servicesDirectory: String

    public init(defaultsFile: String, servicesDirectory: String) {
        self.defaultsFile = defaultsFile
        self.servicesDirectory = servicesDirectory
    }

    /// `<configDirectory>/defaults.yaml` and `<configDirectory>/services/`.
    public init(configDirectory: String) {
        let base = URL(fileURLWithPath: configDirectory)
        self.init(
            defaultsFile: base.appendingPathComponent("defaults.yaml").path,
            servicesDirectory: base.appendingPathComponent("services").path)
    }

    /// Reads and parses every file (`read().parse()`).
    public func load() -> TemplateSet { read().parse() }
}

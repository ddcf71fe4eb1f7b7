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

    public func load() -> TemplateSet {
        var result = TemplateSet()
        switch readFile(defaultsFile) {
        case .success(let text):
            let (defaults, errors) = TemplateFormat.parseDefaults(yaml: text, file: defaultsFile)
            if let defaults { result.defaults = defaults }
            result.errors += errors
        case .failure(let error):
            result.errors.append(error)
        }

        let names: [String]
        do {
            names = try FileManager.default.contentsOfDirectory(atPath: servicesDirectory)
                .filter { !$0.hasPrefix(".") && ($0.hasSuffix(".yaml") || $0.hasSuffix(".yml")) }
                .sorted()
        } catch {
            result.errors.append(fileError(servicesDirectory, "cannot list the services folder"))
            return result
        }
        var origin: [String: String] = [:]
        for name in names {
            let path = URL(fileURLWithPath: servicesDirectory).appendingPathComponent(name).path
            let text: String
            switch readFile(path) {
            case .success(let contents): text = contents
            case .failure(let error):
                result.errors.append(error)
                continue
            }
            let (template, errors) = TemplateFormat.parseTemplate(yaml: text, file: path)
            result.errors += errors
            guard let template else { continue }
            if let first = origin[template.service] {
                result.errors.append(
                    fileError(path, "service '\(template.service)' is already defined in \(first)"))
                continue
            }
            origin[template.service] = path
            result.templates[template.service] = template
        }
        return result
    }

    private func readFile(_ path: String) -> Result<String, TemplateError> {
        guard let data = FileManager.default.contents(atPath: path) else {
            let reason = FileManager.default.fileExists(atPath: path) ? "cannot read the file" : "no such file"
            return .failure(fileError(path, reason))
        }
        guard let text = String(data: data, encoding: .utf8) else {
            return .failure(fileError(path, "the file is not UTF-8"))
        }
        return .success(text)
    }

    private func fileError(_ path: String, _ message: String) -> TemplateError {
        TemplateError(file: path, line: 0, column: 0, field: "", message: message)
    }
}

import Foundation

/// The template inputs as read from disk, before parsing: the text of `defaults.yaml` and of
/// every `services/*.yaml`, plus the problems met while reading.
///
/// `serve` watches these (`TemplateWatcher`), guards each new set against the last good one and
/// keeps the last good texts in its state folder: the texts, not the parsed values, are the unit
/// of change, so a restart re-parses exactly what was last accepted.
public struct TemplateSources: Sendable, Equatable {
    public var defaultsFile: String
    /// The text of `defaults.yaml`; nil when it could not be read (see `readErrors`).
    public var defaults: String?
    public var servicesDirectory: String
    /// The text of every readable template file, by path.
    public var files: [String: String]
    /// Files that could not be read or listed (line 0), by file name order.
    public var readErrors: [TemplateError]

    public init(
        defaultsFile: String, defaults: String?, servicesDirectory: String, files: [String: String] = [:],
        readErrors: [TemplateError] = []
    ) {
        self.defaultsFile = defaultsFile
        self.defaults = defaults
        self.servicesDirectory = servicesDirectory
        self.files = files
        self.readErrors = readErrors
    }

    /// The service a template file must define: its base name (see `TemplateFormat.parseTemplate`).
    public static func service(ofFile path: String) -> String {
        URL(fileURLWithPath: path).deletingPathExtension().lastPathComponent
    }

    /// True when the services folder itself could not be listed.
    public var folderUnreadable: Bool { readErrors.contains { $0.file == servicesDirectory } }

    /// Parses every text: the same result `TemplateLoader.load()` gives for these files.
    public func parse() -> TemplateSet {
        var result = TemplateSet()
        if let defaults {
            let (parsed, errors) = TemplateFormat.parseDefaults(yaml: defaults, file: defaultsFile)
            if let parsed { result.defaults = parsed }
            result.errors += errors
        }
        result.errors += readErrors.filter { $0.file == defaultsFile || $0.file == servicesDirectory }
        var origin: [String: String] = [:]
        let unreadable = readErrors.filter { $0.file != defaultsFile && $0.file != servicesDirectory }
        let paths = (Array(files.keys) + unreadable.map(\.file)).sorted()
        for path in paths {
            guard let text = files[path] else {
                result.errors += unreadable.filter { $0.file == path }
                continue
            }
            let (template, errors) = TemplateFormat.parseTemplate(yaml: text, file: path)
            result.errors += errors
            guard let template else { continue }
            if let first = origin[template.service] {
                result.errors.append(
                    TemplateError(
                        file: path, line: 0, column: 0, field: "",
                        message: "service '\(template.service)' is already defined in \(first)"))
                continue
            }
            origin[template.service] = path
            result.templates[template.service] = template
        }
        return result
    }
}

extension TemplateLoader {
    /// Reads `defaults.yaml` and every `services/*.yaml` (hidden files skipped), without parsing.
    public func read() -> TemplateSources {
        var sources = TemplateSources(defaultsFile: defaultsFile, defaults: nil, servicesDirectory: servicesDirectory)
        switch Self.readFile(defaultsFile) {
        case .success(let text): sources.defaults = text
        case .failure(let error): sources.readErrors.append(error)
        }
        let names: [String]
        do {
            names = try FileManager.default.contentsOfDirectory(atPath: servicesDirectory)
                .filter { !$0.hasPrefix(".") && ($0.hasSuffix(".yaml") || $0.hasSuffix(".yml")) }
                .sorted()
        } catch {
            sources.readErrors.append(Self.fileError(servicesDirectory, "cannot list the services folder"))
            return sources
        }
        for name in names {
            let path = URL(fileURLWithPath: servicesDirectory).appendingPathComponent(name).path
            switch Self.readFile(path) {
            case .success(let text): sources.files[path] = text
            case .failure(let error): sources.readErrors.append(error)
            }
        }
        return sources
    }

    static func readFile(_ path: String) -> Result<String, TemplateError> {
        guard let data = FileManager.default.contents(atPath: path) else {
            let reason = FileManager.default.fileExists(atPath: path) ? "cannot read the file" : "no such file"
            return .failure(fileError(path, reason))
        }
        guard let text = String(data: data, encoding: .utf8) else {
            return .failure(fileError(path, "the file is not UTF-8"))
        }
        return .success(text)
    }

    static func fileError(_ path: String, _ message: String) -> TemplateError {
        TemplateError(file: path, line: 0, column: 0, field: "", message: message)
    }
}

import Catalog
import Templates

/// Decides which template texts the compiler may use: a new set is accepted file by file, and a
/// file that fails to read, to parse, or to pass the catalog cross-check (every error `validate`
/// reports at load) is refused while its service keeps its last good template.
///
/// Pure: no I/O, no clock. The rules:
/// - `defaults.yaml` broken: the last good defaults stay (built-in defaults only when there never
///   was a good one); the templates are still judged one by one against the defaults in use.
/// - the services folder unreadable: every last good template stays (nothing is judged).
/// - a template file broken: the service keeps its last good text; with none, the service is
///   *withheld*: it gets no new snapshot at all (never the empty default template).
/// - a template file deleted: the service keeps its last good text and the deletion is reported
///   (a rename, where another file now defines the service, is not a deletion). An operator who
///   means to remove it calls `forget(service:)` (`POST /templates/forget?service=NAME`).
public struct TemplateGuard: Sendable {
    /// One refused file, as `/readyz` and `/debug/templates` show it.
    public struct Refusal: Sendable, Equatable {
        public enum Kind: String, Sendable { case invalid, deleted, unreadableFolder = "unreadable-folder" }
        public let file: String
        /// The service the file defines; nil for `defaults.yaml` and the folder.
        public let service: String?
        public let kind: Kind
        /// `file:line:col: field: message`, as `validate` prints them.
        public let errors: [String]
        /// True when a last good version is served in its place; false when there is none.
        public let servingLastGood: Bool
    }

    /// What to compile with, and what was refused.
    public struct Outcome: Sendable, Equatable {
        /// The accepted texts: the new good files plus the last good text of every refused one.
        public let accepted: TemplateSources
        public let templates: TemplateSet
        public let refused: [Refusal]
        /// Services with a broken file and no last good template: compiled for nobody.
        public let withheld: Set<String>
    }

    /// The texts last accepted (restored from disk on start; nil before the first good set).
    public private(set) var lastGood: TemplateSources?
    /// The candidate last judged, so it can be judged again (a new catalog, an operator's forget).
    public private(set) var candidate: TemplateSources?

    public init(lastGood: TemplateSources? = nil, candidate: TemplateSources? = nil) {
        self.lastGood = lastGood
        self.candidate = candidate
    }

    /// Judges `candidate` against the last good texts; with `catalog`, also runs the cross-check
    /// `validate` runs (unknown dependencies, cache services, ports, zone awareness). The outcome
    /// becomes the new last good set.
    public mutating func evaluate(_ candidate: TemplateSources, catalog: Catalog?) -> Outcome {
        self.candidate = candidate
        var refused: [Refusal] = []
        var accepted = TemplateSources(
            defaultsFile: candidate.defaultsFile, defaults: nil, servicesDirectory: candidate.servicesDirectory)

        // Defaults: all or nothing (every service reads them).
        let defaultsErrors = Self.defaultsErrors(candidate)
        if defaultsErrors.isEmpty {
            accepted.defaults = candidate.defaults
        } else {
            accepted.defaults = lastGood?.defaults
            refused.append(
                Refusal(
                    file: candidate.defaultsFile, service: nil, kind: .invalid, errors: defaultsErrors.map(\.description),
                    servingLastGood: lastGood?.defaults != nil))
        }
        let defaults = accepted.parse().defaults
        let previous = lastGood?.files ?? [:]

        guard !candidate.folderUnreadable else {
            accepted.files = previous
            let errors = candidate.readErrors.filter { $0.file == candidate.servicesDirectory }
            refused.append(
                Refusal(
                    file: candidate.servicesDirectory, service: nil, kind: .unreadableFolder, errors: errors.map(\.description),
                    servingLastGood: !previous.isEmpty))
            return finish(accepted, refused, withheld: [])
        }

        // Each file on its own, then the cross-check of the files that passed.
        var errorsByFile: [String: [TemplateError]] = [:]
        var good: [String: ServiceTemplate] = [:]
        for error in candidate.readErrors where error.file != candidate.defaultsFile { errorsByFile[error.file, default: []].append(error) }
        for (path, text) in candidate.files {
            let (template, errors) = TemplateFormat.parseTemplate(yaml: text, file: path)
            if let template, errors.isEmpty { good[path] = template } else { errorsByFile[path] = errors }
        }
        if let catalog {
            let set = TemplateSet(
                defaults: defaults, templates: Dictionary(good.values.map { ($0.service, $0) }, uniquingKeysWith: { a, _ in a }))
            for error in set.crossCheck(catalog: catalog) {
                errorsByFile[error.file, default: []].append(error)
                good[error.file] = nil
            }
        }
        let defined = Set(good.values.map(\.service))
        accepted.files = candidate.files.filter { good[$0.key] != nil }

        var withheld: Set<String> = []
        for (path, errors) in errorsByFile.sorted(by: { $0.key < $1.key }) {
            let service = TemplateSources.service(ofFile: path)
            let keep = previous[path] != nil && !defined.contains(service)
            if keep { accepted.files[path] = previous[path] } else if !defined.contains(service) { withheld.insert(service) }
            refused.append(
                Refusal(file: path, service: service, kind: .invalid, errors: errors.map(\.description), servingLastGood: keep))
        }
        for (path, text) in previous.sorted(by: { $0.key < $1.key })
        where candidate.files[path] == nil && errorsByFile[path] == nil {
            let service = TemplateSources.service(ofFile: path)
            guard !defined.contains(service) else { continue }  // renamed: another file defines it now
            accepted.files[path] = text
            refused.append(
                Refusal(
                    file: path, service: service, kind: .deleted,
                    errors: ["\(path): file deleted; serving its last good template (POST /templates/forget?service=\(service) removes it)"],
                    servingLastGood: true))
        }
        return finish(accepted, refused, withheld: withheld)
    }

    /// The operator removes a service's template for good (its file is gone or broken): the next
    /// evaluation no longer keeps a last good text for it. Returns false when there was none.
    public mutating func forget(service: String) -> Bool {
        guard var good = lastGood else { return false }
        let before = good.files.count
        good.files = good.files.filter { TemplateSources.service(ofFile: $0.key) != service }
        lastGood = good
        return good.files.count != before
    }

    private mutating func finish(_ accepted: TemplateSources, _ refused: [Refusal], withheld: Set<String>) -> Outcome {
        lastGood = accepted
        return Outcome(accepted: accepted, templates: accepted.parse(), refused: refused, withheld: withheld)
    }

    private static func defaultsErrors(_ candidate: TemplateSources) -> [TemplateError] {
        guard let text = candidate.defaults else { return candidate.readErrors.filter { $0.file == candidate.defaultsFile } }
        return TemplateFormat.parseDefaults(yaml: text, file: candidate.defaultsFile).1
    }
}

import Catalog
import ControlPlane
import Foundation
import Logging
import Templates

/// One problem `validate` reports: a position when it has one, then the message.
struct Problem: Sendable, Equatable, CustomStringConvertible {
    var location: String
    var message: String

    init(location: String, message: String) {
        self.location = Self.relative(location)
        self.message = message
    }

    init(_ error: ConfigError) {
        let position = error.line > 0 ? "\(error.file):\(error.line):\(error.column)" : error.file
        self.init(location: position, message: error.field.isEmpty ? error.message : "\(error.field): \(error.message)")
    }

    var description: String { "\(location): \(message)" }

    /// Paths under the working directory are shown relative to it, as CI logs expect.
    static func relative(_ path: String) -> String {
        let base = FileManager.default.currentDirectoryPath
        guard !base.isEmpty, base != "/", path.hasPrefix(base + "/") else { return path }
        return String(path.dropFirst(base.count + 1))
    }
}

/// Everything the offline commands compile: templates, defaults and catalog, loaded the way
/// `serve` loads them, plus every problem found on the way.
struct Workspace: Sendable {
    var templates: TemplateSet
    var catalog: Catalog
    var catalogFile: String
    /// Loading problems (templates, defaults, catalog), in file order.
    var problems: [Problem]

    /// Loads the three inputs. A catalog that cannot be used leaves an empty catalog and a problem.
    static func load(templates templatesDirectory: String, defaults: String, catalog catalogFile: String) -> Workspace {
        load(templates: templatesDirectory, defaults: defaults, catalog: .file(catalogFile))
    }

    static func load(templates templatesDirectory: String, defaults: String, catalog input: CatalogInput) -> Workspace {
        let templates = TemplateLoader(defaultsFile: defaults, servicesDirectory: templatesDirectory).load()
        var problems = templates.errors.map(Problem.init)
        var catalog = Catalog()
        switch input.result {
        case .success(let loaded):
            catalog = loaded
            problems += templates.crossCheck(catalog: catalog).map(Problem.init)
        case .failure(let errors):
            // Without a catalog every dependency would be "unknown": report the catalog's problems only.
            problems += errors.errors.map(Problem.init)
        }
        return Workspace(templates: templates, catalog: catalog, catalogFile: input.name, problems: problems)
    }

    /// The inputs as `serve` reads them: --catalog, or one full read of Consul with --consul.
    static func load(_ inputs: InputOptions) async -> Workspace {
        load(templates: inputs.templates, defaults: inputs.defaults, catalog: await CatalogInput.load(inputs))
    }

    /// Every service a sidecar may belong to (templated or in the catalog), sorted by name.
    var services: [String] {
        TemplateCompiler(templates: templates).services(in: catalog).sorted()
    }

    /// Where a service's problems are reported: its template file, or the catalog file.
    func location(of service: String) -> String {
        templates.templates[service]?.file ?? catalogFile
    }

    /// The resources `serve` would publish for `service`.
    func compile(_ service: String) throws -> CompiledService {
        try TemplateCompiler(templates: templates).compile(service: service, catalog: catalog)
    }
}

/// The catalog the offline commands compile against, read once.
struct CatalogInput: Sendable {
    /// Where it came from (a file path or the Consul URL), for messages.
    var name: String
    var result: Result<Catalog, ConfigErrors>

    static func file(_ path: String) -> CatalogInput {
        do {
            return CatalogInput(name: path, result: .success(try FileSource(path: path).load()))
        } catch {
            return CatalogInput(name: path, result: .failure(error))
        }
    }

    static func load(_ inputs: InputOptions) async -> CatalogInput {
        do {
            if let configuration = try inputs.consul.configuration() { return await consul(configuration) }
        } catch {
            return CatalogInput(
                name: inputs.consul.url ?? "--consul",
                result: .failure(ConfigErrors([ConfigError(file: "--consul", line: 0, column: 0, field: "", message: "\(error)")])))
        }
        return file(inputs.catalog)
    }

    /// The first full catalog Consul gives (every watched service read once), or its first failure.
    static func consul(_ configuration: ConsulConfiguration, timeout: Duration = .seconds(30)) async -> CatalogInput {
        let address = configuration.url.absoluteString
        func failure(_ message: String) -> CatalogInput {
            CatalogInput(
                name: address, result: .failure(ConfigErrors([ConfigError(file: address, line: 0, column: 0, field: "", message: message)])))
        }
        var logger = Logger(label: "sextant.consul")
        logger.logLevel = .critical  // the outcome is reported as a problem; no log lines in CI output
        let source = ConsulSource(configuration: configuration, logger: logger)
        let first = await withTaskGroup(of: Result<Catalog, ConfigErrors>?.self) { group in
            group.addTask {
                for await event in source.events() {
                    switch event {
                    case .updated(let catalog): return .success(catalog)
                    case .failed(let errors): return .failure(errors)
                    }
                }
                return nil
            }
            group.addTask {
                try? await Task.sleep(for: timeout)
                return nil
            }
            let result = await group.next() ?? nil
            group.cancelAll()
            return result
        }
        guard let first else { return failure("no answer from Consul within \(timeout)") }
        return CatalogInput(name: address, result: first)
    }
}

/// A failure that ends a command with a message on stderr and an exit code.
struct CommandFailure: Error, CustomStringConvertible {
    var message: String
    var exitCode: Int32
    var description: String { message }
}

enum Output {
    /// Written straight to the file descriptor: output of a CI tool must never sit in a buffer.
    static func out(_ text: String) { FileHandle.standardOutput.write(Data(text.utf8)) }
    static func err(_ text: String) { FileHandle.standardError.write(Data(text.utf8)) }
}

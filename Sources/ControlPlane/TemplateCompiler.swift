import Catalog
import Templates

/// The templates as the control plane's compiler: every templated service and every catalog
/// service gets a snapshot (a service without a file gets the default template).
public struct TemplateCompiler: ServiceCompiler {
    public let templates: TemplateSet
    private let compiler: Compiler

    public init(templates: TemplateSet) {
        self.templates = templates
        self.compiler = Compiler(defaults: templates.defaults)
    }

    public func services(in catalog: Catalog) -> Set<String> {
        Set(templates.templates.keys).union(catalog.services.keys)
    }

    /// The service itself (its own instances feed zone-aware routing and sandboxes) and every
    /// service its template names.
    public func inputs(of service: String) -> Set<String> {
        var names: Set<String> = [service]
        for dependency in templates.template(for: service).dependencies {
            names.insert(dependency.name)
        }
        return names
    }

    public func compile(service: String, catalog: Catalog) throws -> CompiledService {
        compiler.compile(service: service, template: templates.templates[service], catalog: catalog)
    }
}

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

    /// Every catalog entry the service's compile reads (see `ServiceTemplate.catalogInputs`).
    public func inputs(of service: String) -> Set<String> {
        templates.template(for: service).catalogInputs
    }

    public func compile(service: String, catalog: Catalog) throws -> CompiledService {
        compiler.compile(service: service, template: templates.templates[service], catalog: catalog)
    }
}

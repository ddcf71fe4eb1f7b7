import Catalog
import Templates

/// The templates as the control plane's compiler: every templated service and every catalog
/// service gets a snapshot (a service without a file gets the default template), except the
/// withheld ones (a broken file with no last good version: see `TemplateGuard`).
public struct TemplateCompiler: ServiceCompiler {
    public let templates: TemplateSet
    public let withheld: Set<String>
    private let compiler: Compiler

    public init(templates: TemplateSet, withheld: Set<String> = []) {
        self.templates = templates
        self.withheld = withheld
        self.compiler = Compiler(defaults: templates.defaults)
    }

    public func services(in catalog: Catalog) -> Set<String> {
        Set(templates.templates.keys).union(catalog.services.keys).subtracting(withheld)
    }

    /// Every catalog entry the service's compile reads (see `ServiceTemplate.catalogInputs`).
    public func inputs(of service: String) -> Set<String> {
        templates.template(for: service).catalogInputs
    }

    /// The template (as written, or nil for the default one) and the defaults: a template edit
    /// recompiles its own service, a defaults edit every service.
    public func configuration(of service: String) -> AnyHashable {
        AnyHashable(Configuration(template: templates.templates[service], defaults: templates.defaults))
    }

    public func withholds(_ service: String) -> Bool { withheld.contains(service) }

    public func compile(service: String, catalog: Catalog) throws -> CompiledService {
        compiler.compile(service: service, template: templates.templates[service], catalog: catalog)
    }

    private struct Configuration: Hashable {
        let template: ServiceTemplate?
        let defaults: Defaults
    }
}

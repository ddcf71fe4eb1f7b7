import ArgumentParser
import Catalog
import ControlPlane
import Logging
import Templates

/// The loaded templates as the control plane's compiler: every templated service and every
/// catalog service gets a snapshot (a service without a file gets the default template).
struct TemplateInputs: ServiceCompiler {
    let set: TemplateSet
    let compiler: Compiler

    /// Loads the templates; a broken file is reported and its service falls back to the
    /// default template, so the other services are served as written.
    static func load(_ inputs: InputOptions, logger: Logger) throws -> TemplateInputs {
        let set = TemplateLoader(defaultsFile: inputs.defaults, servicesDirectory: inputs.templates).load()
        for error in set.errors { logger.error("template error", metadata: ["error": "\(error)"]) }
        return TemplateInputs(set: set, compiler: Compiler(defaults: set.defaults))
    }

    func services(in catalog: Catalog) -> Set<String> {
        Set(set.templates.keys).union(catalog.services.keys)
    }

    func compile(service: String, catalog: Catalog) throws -> ServiceResources {
        let compiled = compiler.compile(service: service, template: set.templates[service], catalog: catalog)
        return ServiceResources(
            clusters: compiled.clusters, endpoints: compiled.endpoints, listeners: compiled.listeners, routes: compiled.routes)
    }
}

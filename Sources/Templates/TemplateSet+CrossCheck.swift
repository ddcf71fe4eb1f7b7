import Catalog

extension TemplateSet {
    /// Problems that need the catalog as well as the templates, in file order:
    /// - a dependency that is neither a catalog service nor has `external:`;
    /// - a `method_cache.service` that is not a catalog service;
    /// - an inbound port equal to the sidecar's own listener ports (Envoy would forward to itself);
    /// - a zone-aware dependency of a service that is not in the catalog itself (Envoy compares the
    ///   caller's own instances per zone with the dependency's).
    ///
    /// Sandboxes are not checked: a sandbox may be down, and its route then answers 503.
    public func crossCheck(catalog: Catalog) -> [TemplateError] {
        let known = catalog.services.keys.sorted()
        var errors: [TemplateError] = []
        let compiler = Compiler(defaults: defaults)
        for template in templates.values.sorted(by: { ($0.file ?? "", $0.service) < ($1.file ?? "", $1.service) }) {
            let file = template.file ?? "\(template.service).yaml"
            func error(_ key: String, _ message: String) -> TemplateError {
                let position = template.positions[key]
                return TemplateError(
                    file: file, line: position?.line ?? 0, column: position?.column ?? 0,
                    field: position?.field ?? "", message: message)
            }
            func suggestion(_ name: String) -> String {
                Suggestion.closest(to: name, in: known).map { "; did you mean '\($0)'?" } ?? ""
            }
            if let port = template.inbound?.port, port == defaults.outboundPort || port == defaults.inboundPort {
                errors.append(
                    error(
                        "inbound.port",
                        "the application port \(port) is one of the sidecar's listener ports "
                            + "(outbound \(defaults.outboundPort), inbound \(defaults.inboundPort.map(String.init) ?? "off"))"
                    ))
            }
            var zoneAware: String?
            for dependency in template.dependencies {
                if dependency.external == nil, catalog[service: dependency.name] == nil {
                    errors.append(
                        error(
                            "\(dependency.name).name",
                            "unknown dependency '\(dependency.name)': not a service in the catalog and no "
                                + "'external' host\(suggestion(dependency.name))"))
                }
                if let cache = dependency.methodCache, catalog[service: cache.service] == nil {
                    errors.append(
                        error(
                            "\(dependency.name).method_cache.service",
                            "unknown cache service '\(cache.service)': not a service in the catalog"
                                + suggestion(cache.service)))
                }
                if dependency.external == nil, compiler.policyOf(dependency).zoneAware, zoneAware == nil {
                    zoneAware = dependency.name
                }
            }
            if let zoneAware, catalog[service: template.service] == nil {
                errors.append(
                    error(
                        "\(zoneAware).name",
                        "zone-aware routing to '\(zoneAware)' needs '\(template.service)' itself in the catalog "
                            + "(Envoy compares the caller's instances per zone with the dependency's)"))
            }
        }
        return errors
    }
}

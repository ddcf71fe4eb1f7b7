import Foundation

/// The templates on the admin API: `GET /debug/templates`, `POST /templates/forget?service=NAME`,
/// the degraded note on `/readyz` and the `sextant_templates_*` metrics.
extension AdminAPI {
    func debugTemplates() -> AdminResponse {
        guard let status = controlPlane.templateStatus else {
            return AdminResponse(status: 404, body: "live templates are off\n")
        }
        return json(TemplatesReport(status))
    }

    func forgetTemplate(_ request: AdminRequest) -> AdminResponse {
        guard let service = request.query["service"], !service.isEmpty else {
            return AdminResponse(status: 400, body: "name a service (?service=NAME)\n")
        }
        guard controlPlane.forgetTemplate(service: service) else {
            return AdminResponse(status: 404, body: "no last good template for '\(service)'\n")
        }
        return debugTemplates()
    }

    /// Appended to a 200 `/readyz`. Refused templates leave the status 200 on purpose: every
    /// service still serves its last good configuration, and a load balancer that pulled a
    /// control plane out for a typo would turn one bad file into an outage of the control plane.
    /// The body says `degraded`, names the files and errors; `sextant_templates_refused` alarms.
    var templatesDegradedNote: String {
        guard let status = controlPlane.templateStatus, status.degraded else { return "" }
        let lines = status.refused.prefix(20).map { refusal in
            "  \(refusal.file) (\(refusal.kind.rawValue), \(refusal.servingLastGood ? "last good served" : "nothing served")): "
                + refusal.errors.joined(separator: "; ")
        }
        return "degraded: \(status.refused.count) template file(s) refused\n" + lines.joined(separator: "\n") + "\n"
    }

    var templateMetrics: [String] {
        guard let status = controlPlane.templateStatus else { return [] }
        var lines = [
            "# HELP sextant_templates_refused Template files refused (broken or deleted); their services keep their last good template.",
            "# TYPE sextant_templates_refused gauge", "sextant_templates_refused \(status.refused.count)",
            "# HELP sextant_templates_refused_file 1 for each refused template file, by kind.",
            "# TYPE sextant_templates_refused_file gauge",
        ]
        lines += status.refused.map {
            "sextant_templates_refused_file{file=\"\(Self.label($0.file))\",kind=\"\($0.kind.rawValue)\"} 1"
        }
        lines += [
            "# HELP sextant_templates_withheld Services with a broken template and no last good one: they get no new configuration.",
            "# TYPE sextant_templates_withheld gauge", "sextant_templates_withheld \(status.withheld.count)",
            "# HELP sextant_templates_applied_total Template sets that changed what is compiled, since start.",
            "# TYPE sextant_templates_applied_total counter", "sextant_templates_applied_total \(status.applied)",
        ]
        return lines
    }
}

private struct TemplatesReport: Encodable {
    struct Refused: Encodable {
        let file: String
        let service: String?
        let kind: String
        let errors: [String]
        let servingLastGood: Bool
    }
    let degraded: Bool
    let files: Int
    let applied: Int
    let lastGoodPath: String?
    let refused: [Refused]
    let withheld: [String]

    init(_ status: ControlPlane.TemplateStatus) {
        degraded = status.degraded
        files = status.files
        applied = status.applied
        lastGoodPath = status.lastGoodPath
        refused = status.refused.map {
            Refused(file: $0.file, service: $0.service, kind: $0.kind.rawValue, errors: $0.errors, servingLastGood: $0.servingLastGood)
        }
        withheld = status.withheld
    }
}

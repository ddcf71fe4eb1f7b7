import Catalog
import Foundation
import XDS

/// The admin API: health, readiness, what the safeguards hold, NACKs, metrics, and release.
///
/// `GET /healthz`, `GET /readyz`, `GET /debug/safeguards`, `GET /debug/nacks`, `GET /metrics`,
/// `POST /release?service=NAME` and `POST /release?all=true`; the templates' own endpoints are in
/// `AdminAPI+Templates.swift`.
public struct AdminAPI: Sendable {
    let controlPlane: ControlPlane
    let nacks: NackLog
    /// With `--consul`: its request and error counters are exported on /metrics.
    let consul: ConsulSource?

    public init(controlPlane: ControlPlane, nacks: NackLog, consul: ConsulSource? = nil) {
        self.controlPlane = controlPlane
        self.nacks = nacks
        self.consul = consul
    }

    public func handle(_ request: AdminRequest) -> AdminResponse {
        switch (request.method, request.path) {
        case ("GET", "/healthz"):
            return AdminResponse(status: 200, body: "ok\n")
        case ("GET", "/readyz"):
            return readiness()
        case ("GET", "/debug/safeguards"):
            return json(SafeguardsReport(controlPlane.status, now: .now))
        case ("GET", "/debug/nacks"):
            return json(nacks.entries.map(NackReport.init))
        case ("GET", "/debug/templates"):
            return debugTemplates()
        case ("POST", "/templates/forget"):
            return forgetTemplate(request)
        case ("GET", "/metrics"):
            return AdminResponse(status: 200, contentType: "text/plain; version=0.0.4", body: metrics())
        case ("POST", "/release"):
            if request.query["all"] == "true" {
                controlPlane.releaseAll()
            } else if let service = request.query["service"], !service.isEmpty {
                let status = controlPlane.status
                guard status.holds.contains(where: { $0.service == service }) || status.freeze?.affected.contains(service) == true
                else {
                    return AdminResponse(status: 404, body: "no hold on service '\(service)': nothing to release\n")
                }
                controlPlane.release(service: service)
            } else {
                return AdminResponse(status: 400, body: "name a service (?service=NAME) or ?all=true\n")
            }
            return json(SafeguardsReport(controlPlane.status, now: .now))
        case (_, "/healthz"), (_, "/readyz"), (_, "/debug/safeguards"), (_, "/debug/nacks"), (_, "/metrics"), (_, "/release"),
            (_, "/debug/templates"), (_, "/templates/forget"):
            return AdminResponse(status: 405, body: "method not allowed\n")
        default:
            return AdminResponse(status: 404, body: "not found\n")
        }
    }

    /// 200 once something is served (the catalog, or last-known-good while Consul is being read);
    /// 503 before, naming what is missing.
    private func readiness() -> AdminResponse {
        let ready = controlPlane.status.ready
        guard let stats = consul?.statistics, !stats.synced else {
            return ready
                ? AdminResponse(status: 200, body: "ready\n" + templatesDegradedNote)
                : AdminResponse(status: 503, body: "not ready: no catalog has been read yet and there is no last-known-good state\n")
        }
        let missing =
            stats.unread.isEmpty
            ? "Consul's service list has not been read yet"
            : "\(stats.unread.count) Consul service(s) not read yet: "
                + stats.unread.prefix(20).joined(separator: ", ") + (stats.unread.count > 20 ? ", ..." : "")
        return ready
            ? AdminResponse(status: 200, body: "ready: serving last-known-good state; \(missing)\n" + templatesDegradedNote)
            : AdminResponse(status: 503, body: "not ready: nothing is published until every service is read once; \(missing)\n")
    }

    private func metrics() -> String {
        let status = controlPlane.status
        var lines = [
            "# HELP sextant_ready 1 once a catalog (or last-known-good state) is being served.",
            "# TYPE sextant_ready gauge", "sextant_ready \(status.ready ? 1 : 0)",
            "# HELP sextant_safeguard_frozen 1 while the whole catalog is frozen at last-known-good (alarm).",
            "# TYPE sextant_safeguard_frozen gauge", "sextant_safeguard_frozen \(status.freeze == nil ? 0 : 1)",
            "# HELP sextant_safeguard_holds Services whose endpoint change is held, by kind.",
            "# TYPE sextant_safeguard_holds gauge",
        ]
        for kind in [Hold.Kind.empty, .shrink] {
            lines.append("sextant_safeguard_holds{kind=\"\(kind)\"} \(status.holds.filter { $0.kind == kind }.count)")
        }
        lines += ["# HELP sextant_xds_nacks_total Responses rejected by clients, by type.", "# TYPE sextant_xds_nacks_total counter"]
        for type in ResourceType.allCases { lines.append("sextant_xds_nacks_total{type=\"\(type)\"} \(nacks.count(type))") }
        lines += templateMetrics
        if let consul { lines += Self.metrics(consul.statistics) }
        return lines.joined(separator: "\n") + "\n"
    }

    /// Consul's counters: requests by endpoint, failed reads by watch (service) and reason.
    static func metrics(_ stats: ConsulStatistics) -> [String] {
        var lines = [
            "# HELP sextant_consul_requests_total HTTP requests sent to Consul, by endpoint.",
            "# TYPE sextant_consul_requests_total counter",
        ]
        for (endpoint, count) in stats.requestsByEndpoint.sorted(by: { $0.key < $1.key }) {
            lines.append("sextant_consul_requests_total{endpoint=\"\(label(endpoint))\"} \(count)")
        }
        lines += [
            "# HELP sextant_consul_errors_total Failed Consul reads (the last good data stays), by watch and reason.",
            "# TYPE sextant_consul_errors_total counter",
        ]
        for (watch, reasons) in stats.errorsByService.sorted(by: { $0.key < $1.key }) {
            for (reason, count) in reasons.sorted(by: { $0.key < $1.key }) {
                lines.append("sextant_consul_errors_total{watch=\"\(label(watch))\",reason=\"\(label(reason))\"} \(count)")
            }
        }
        lines += [
            "# HELP sextant_consul_watches_failing Watches whose last read failed, retrying with back-off (their last good data is served).",
            "# TYPE sextant_consul_watches_failing gauge", "sextant_consul_watches_failing \(stats.failing.count)",
            "# HELP sextant_consul_watch_failing 1 for each watch whose last read failed.",
            "# TYPE sextant_consul_watch_failing gauge",
        ]
        lines += stats.failing.map { "sextant_consul_watch_failing{watch=\"\(label($0))\"} 1" }
        lines += [
            "# HELP sextant_consul_index_resets_total Blocking-query indexes that went backwards and were reset.",
            "# TYPE sextant_consul_index_resets_total counter", "sextant_consul_index_resets_total \(stats.indexResets)",
            "# HELP sextant_consul_updates_total Catalogs the Consul source emitted.",
            "# TYPE sextant_consul_updates_total counter", "sextant_consul_updates_total \(stats.updates)",
        ]
        return lines
    }

    /// A Prometheus label value: backslash, quote and newline escaped.
    static func label(_ value: String) -> String {
        value.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"")
            .replacingOccurrences(of: "\n", with: "\\n")
    }

    func json(_ value: some Encodable) -> AdminResponse {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .prettyPrinted]
        let body = (try? encoder.encode(value)).map { String(decoding: $0, as: UTF8.self) } ?? "{}"
        return AdminResponse(status: 200, contentType: "application/json", body: body + "\n")
    }
}

private func seconds(_ duration: Duration) -> Double {
    Double(duration.components.seconds) + Double(duration.components.attoseconds) * 1e-18
}

private struct SafeguardsReport: Encodable {
    struct HoldReport: Encodable {
        let service, kind, reason: String
        let before, candidate: Int
        let threshold: Double
        let heldForSeconds, stableForSeconds: Double
    }
    struct FreezeReport: Encodable {
        let reason: String
        let affected: [String]
        let servicesBefore, servicesInCandidate: Int
        let frozenForSeconds: Double
    }
    let ready: Bool
    let frozen: FreezeReport?
    let holds: [HoldReport]

    private enum CodingKeys: String, CodingKey { case ready, frozen, holds }

    /// `frozen` is always present (null when not frozen), so a reader need not guess.
    func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(ready, forKey: .ready)
        try container.encode(frozen, forKey: .frozen)
        try container.encode(holds, forKey: .holds)
    }

    init(_ status: ControlPlane.Status, now: ContinuousClock.Instant) {
        ready = status.ready
        frozen = status.freeze.map {
            FreezeReport(
                reason: $0.reason, affected: $0.affected, servicesBefore: $0.servicesBefore,
                servicesInCandidate: $0.servicesInCandidate, frozenForSeconds: seconds(now - $0.since))
        }
        holds = status.holds.map {
            HoldReport(
                service: $0.service, kind: $0.kind.rawValue, reason: $0.reason, before: $0.before, candidate: $0.candidate,
                threshold: $0.threshold, heldForSeconds: seconds(now - $0.since), stableForSeconds: seconds(now - $0.stableSince))
        }
    }
}

private struct NackReport: Encodable {
    let node, service, type, version, nonce, error: String
    let resources: [String]
    let code: Int32

    init(_ entry: NackLog.Entry) {
        node = entry.nodeID
        service = entry.service
        type = "\(entry.record.type)"
        version = entry.record.versionInfo
        nonce = entry.record.nonce
        error = entry.record.errorMessage
        resources = entry.record.resourceNames
        code = entry.record.errorCode
    }
}

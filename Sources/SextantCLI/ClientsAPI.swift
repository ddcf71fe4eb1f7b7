import ControlPlane
import Foundation
import XDS

/// The admin endpoints about connected clients, answered from the `ClientRegistry`:
///
/// - `GET /debug/clients`: every connected stream (node, service, zone, transport, peer,
///   connected since) and per type its state, the version sent and ACKed, the pending nonce and
///   the last NACK with the client's error text. Filters: `?service=NAME`, `?node=ID`,
///   `?nacked` (a type is NACKED), `?stale[=SECONDS]` (a response has waited at least that long).
/// - `GET /debug/config_dump?node=ID`: what that node holds, in Envoy's `/config_dump` shape.
///
/// Other paths are left to the next handler (nil).
struct ClientsAPI: Sendable {
    let clients: ClientRegistry

    func handle(_ request: AdminRequest) -> AdminResponse? {
        switch request.path {
        case "/debug/clients":
            guard request.method == "GET" else { return AdminResponse(status: 405, body: "method not allowed\n") }
            return clientsReport(request.query, now: .now)
        case "/debug/config_dump":
            guard request.method == "GET" else { return AdminResponse(status: 405, body: "method not allowed\n") }
            return configDump(node: request.query["node"])
        default:
            return nil
        }
    }

    func clientsReport(_ query: [String: String], now: WallTime) -> AdminResponse {
        var staleAfter: Double?
        if let text = query["stale"] {
            guard let value = text.isEmpty ? 0 : Double(text), value >= 0 else {
                return AdminResponse(status: 400, body: "?stale takes a number of seconds (or nothing)\n")
            }
            staleAfter = value
        }
        let selected = clients.clients.filter { client in
            if let service = query["service"], !service.isEmpty, client.service != service { return false }
            if let node = query["node"], !node.isEmpty, client.nodeID != node { return false }
            if query["nacked"] != nil && !client.nacked { return false }
            if let staleAfter, !client.types.values.contains(where: { $0.state == .stale && $0.pendingSeconds(now: now) >= staleAfter }) {
                return false
            }
            return true
        }
        let body: JSONValue = .object([
            "count": .number(String(selected.count)),
            "now": .string(Self.timestamp(now)),
            "clients": .array(selected.map { Self.report($0, now: now) }),
        ])
        return AdminResponse(status: 200, contentType: "application/json", body: body.printed() + "\n")
    }

    static func report(_ client: ClientRegistry.Client, now: WallTime) -> JSONValue {
        var types: [String: JSONValue] = [:]
        for type in client.servedTypes {
            let status = client.status(type)
            types["\(type)"] = .object([
                "state": .string(status.state.rawValue),
                "version_sent": optional(status.versionSent),
                "version_acked": optional(status.versionAcked),
                "acked_at": optional(status.ackedAt.map(timestamp)),
                "pending_nonce": optional(status.pendingNonce),
                "pending_seconds": number(status.pendingSeconds(now: now)),
                "resources": .number(String(status.held.count)),
                "last_nack": status.lastNack.map { nack in
                    .object([
                        "version": .string(nack.versionInfo), "nonce": .string(nack.nonce), "error": .string(nack.errorMessage),
                        "code": .number(String(nack.errorCode)), "at": .string(timestamp(nack.at)),
                        "resources": .array(nack.resourceNames.map(JSONValue.string)),
                    ])
                } ?? .null,
            ])
        }
        return .object([
            "node": .string(client.nodeID), "service": .string(client.service), "zone": .string(client.zone),
            "transport": .string("\(client.transport)"), "peer": .string(client.peer), "stream": .number(String(client.streamID)),
            "connected_since": .string(timestamp(client.connectedAt)),
            "connected_seconds": number(max(0, now.seconds - client.connectedAt.seconds)),
            "types": .object(types),
        ])
    }

    func configDump(node: String?) -> AdminResponse {
        guard let node, !node.isEmpty else { return AdminResponse(status: 400, body: "name a node: ?node=ID\n") }
        let streams = clients.clients(node: node)
        guard !streams.isEmpty else { return AdminResponse(status: 404, body: "no connected node '\(node)'\n") }
        var statuses: [ResourceType: ClientRegistry.TypeStatus] = [:]
        for client in streams {
            for type in client.servedTypes where client.status(type).versionAcked != nil || statuses[type] == nil {
                statuses[type] = client.status(type)
            }
        }
        func entries(_ type: ResourceType) throws -> [ConfigDump.Entry] {
            let status = statuses[type] ?? ClientRegistry.TypeStatus()
            return try status.held.keys.sorted().map { name in
                try ConfigDump.entry(status.held[name]!, version: status.heldVersions[name] ?? status.held[name]!.version)
            }
        }
        do {
            let dump = ConfigDump.document(
                clusters: try entries(.cluster), endpoints: try entries(.endpoint), listeners: try entries(.listener),
                routes: try entries(.route), clustersVersion: statuses[.cluster]?.versionAcked,
                listenersVersion: statuses[.listener]?.versionAcked)
            return AdminResponse(status: 200, contentType: "application/json", body: dump.printed() + "\n")
        } catch {
            return AdminResponse(status: 500, body: "\(error)\n")
        }
    }

    private static func optional(_ text: String?) -> JSONValue { text.map(JSONValue.string) ?? .null }

    private static func number(_ value: Double) -> JSONValue { .number(String(format: "%.3f", value)) }

    /// RFC 3339 in UTC with milliseconds, e.g. `2026-12-04T17:40:00.123Z`.
    static func timestamp(_ time: WallTime) -> String {
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        return formatter.string(from: Date(timeIntervalSince1970: time.seconds))
    }
}

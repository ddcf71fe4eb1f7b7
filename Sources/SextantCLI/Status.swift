import ArgumentParser
import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

/// `sextant status [SERVICE]`: one row per connected proxy stream, the state of each type, and
/// a non-zero exit when any proxy is NACKED or has waited too long for an answer.
struct Status: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Show every connected proxy and whether it accepted what it was sent (from the admin API).",
        discussion: """
            Per type: SYNCED (accepted the last response), STALE (a response awaits its ACK), NACKED \
            (rejected the last version; the client's error is printed below the table), NOT_SENT, \
            or - (a per-type stream that does not carry it). Exits 1 when a proxy is NACKED or has been \
            STALE for --stale-after seconds or more; 0 otherwise.
            """)

    @Argument(help: "Only the proxies of this service (their node.cluster).")
    var service: String?

    @Option(help: "The admin API of the running sextant (HOST:PORT).")
    var admin = "127.0.0.1:19000"

    @Option(help: "Seconds a response may await its ACK before the proxy counts as stale.")
    var staleAfter: Double = 30

    func validate() throws {
        _ = try HostPort(admin)
        guard staleAfter >= 0 else { throw ValidationError("--stale-after must be 0 or more") }
    }

    func run() async throws {
        let address = try HostPort(admin)
        var components = URLComponents()
        components.scheme = "http"
        components.host = address.host
        components.port = address.port
        components.path = "/debug/clients"
        if let service { components.queryItems = [URLQueryItem(name: "service", value: service)] }
        var request = URLRequest(url: components.url!)
        request.timeoutInterval = 10
        let (data, response) = try await URLSession.shared.data(for: request)
        let body = String(decoding: data, as: UTF8.self)
        guard (response as? HTTPURLResponse)?.statusCode == 200 else {
            FileHandle.standardError.write(Data("sextant status: the admin API answered: \(body)".utf8))
            throw ExitCode(2)
        }
        let report: StatusReport
        do {
            report = try StatusReport(json: try JSONValue.parse(body), staleAfter: staleAfter)
        } catch {
            FileHandle.standardError.write(Data("sextant status: cannot read the admin API's answer: \(error)\n".utf8))
            throw ExitCode(2)
        }
        FileHandle.standardOutput.write(Data(report.text.utf8))
        if report.failing { throw ExitCode(1) }
    }
}

/// The status table, classified from `/debug/clients` JSON (separate from I/O for tests).
struct StatusReport {
    static let types = ["cds", "lds", "eds", "rds"]

    struct Row: Equatable {
        var node, service, transport: String
        /// Per type: SYNCED, STALE, NACKED, NOT_SENT or "-".
        var states: [String]
        var version: String
        var problems: [String]
    }

    let rows: [Row]
    let failing: Bool

    init(json: JSONValue, staleAfter: Double) throws {
        guard case .array(let clients)? = json["clients"] else {
            throw CommandFailure(message: "sextant status: unexpected /debug/clients answer", exitCode: 2)
        }
        var rows: [Row] = []
        var failing = false
        for client in clients {
            let node = client["node"]?.stringValue ?? "?"
            var row = Row(
                node: node, service: client["service"]?.stringValue ?? "?", transport: client["transport"]?.stringValue ?? "?",
                states: [], version: "-", problems: [])
            for type in Self.types {
                guard let status = client["types"]?[type] else {
                    row.states.append("-")
                    continue
                }
                let state = status["state"]?.stringValue ?? "?"
                row.states.append(state)
                if state == "NACKED" {
                    failing = true
                    let nack = status["last_nack"]
                    row.problems.append(
                        "\(node) \(type) NACKED version \(nack?["version"]?.stringValue ?? "?"): \(nack?["error"]?.stringValue ?? "")")
                } else if state == "STALE", case .number(let text)? = status["pending_seconds"], let waited = Double(text), waited >= staleAfter {
                    failing = true
                    row.problems.append("\(node) \(type) STALE for \(Int(waited)) s (nonce \(status["pending_nonce"]?.stringValue ?? "?"))")
                }
            }
            if let version = client["types"]?["cds"]?["version_acked"]?.stringValue { row.version = version }
            rows.append(row)
        }
        self.rows = rows
        self.failing = failing
    }

    var text: String {
        let header = ["NODE", "SERVICE", "CDS", "LDS", "EDS", "RDS", "CDS-VERSION", "TRANSPORT"]
        let table = [header] + rows.map { [$0.node, $0.service] + $0.states + [$0.version, $0.transport] }
        let widths = header.indices.map { column in table.map { $0[column].count }.max() ?? 0 }
        var lines = table.map { cells in
            cells.enumerated().map { $1.padding(toLength: widths[$0], withPad: " ", startingAt: 0) }.joined(separator: "  ")
                .trimmingCharacters(in: .whitespaces)
        }
        let problems = rows.flatMap(\.problems)
        if !problems.isEmpty { lines += [""] + problems }
        return lines.joined(separator: "\n") + "\n"
    }
}

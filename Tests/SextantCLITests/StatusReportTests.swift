import Testing
@testable import SextantCLI
import XDS

@Suite struct StatusReportTests {
    func json(_ types: String, node: String = "frontend-0", transport: String = "ads-sotw") throws -> JSONValue {
        try JSONValue.parse(
            #"{"count": 1, "clients": [{"node": "\#(node)", "service": "frontend", "transport": "\#(transport)", "types": {\#(types)}}]}"#)
    }

    func type(_ state: String, pending: Double = 0, nack: String? = nil) -> String {
        let lastNack = nack.map { #"{"version": "v2", "error": "\#($0)"}"# } ?? "null"
        return #"{"state": "\#(state)", "version_acked": "v1", "pending_nonce": "7", "pending_seconds": \#(pending), "last_nack": \#(lastNack)}"#
    }

    @Test func allSyncedPasses() throws {
        let report = try StatusReport(
            json: json(#""cds": \#(type("SYNCED")), "lds": \#(type("SYNCED")), "eds": \#(type("SYNCED")), "rds": \#(type("SYNCED"))"#),
            staleAfter: 30)
        #expect(!report.failing)
        #expect(report.rows.first?.states == ["SYNCED", "SYNCED", "SYNCED", "SYNCED"])
        #expect(report.rows.first?.version == "v1")
        #expect(report.text.hasPrefix("NODE"))
    }

    @Test func aNackFailsAndNamesTheClientsError() throws {
        let report = try StatusReport(json: json(#""cds": \#(type("SYNCED")), "lds": \#(type("NACKED", nack: "duplicate address"))"#), staleAfter: 30)
        #expect(report.failing)
        #expect(report.rows.first?.states == ["SYNCED", "NACKED", "-", "-"])
        #expect(report.text.contains("frontend-0 lds NACKED version v2: duplicate address"))
    }

    @Test func staleFailsOnlyPastTheThreshold() throws {
        let young = try StatusReport(json: json(#""eds": \#(type("STALE", pending: 5))"#, transport: "eds-sotw"), staleAfter: 30)
        #expect(!young.failing)
        #expect(young.rows.first?.states == ["-", "-", "STALE", "-"])
        let old = try StatusReport(json: json(#""eds": \#(type("STALE", pending: 45))"#), staleAfter: 30)
        #expect(old.failing)
        #expect(old.text.contains("STALE for 45 s"))
    }

    @Test func theRegistryReportFeedsTheClassification() throws {
        let registry = ClientRegistry()
        registry.open(streamID: 1, nodeID: "n", service: "frontend", zone: "", transport: .init(delta: false, only: nil), peer: "p")
        let response = ClientsAPI(clients: registry).clientsReport([:], now: .now)
        let report = try StatusReport(json: try JSONValue.parse(response.body), staleAfter: 30)
        #expect(report.rows.first?.states == ["NOT_SENT", "NOT_SENT", "NOT_SENT", "NOT_SENT"])
        #expect(!report.failing)
        #expect(ClientsAPI(clients: registry).clientsReport(["nacked": ""], now: .now).body.contains(#""count": 0"#))
        #expect(ClientsAPI(clients: registry).clientsReport(["stale": "x"], now: .now).status == 400)
    }
}

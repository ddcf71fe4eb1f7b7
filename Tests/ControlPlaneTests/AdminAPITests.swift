@testable import Catalog
import Foundation
import Logging
import Templates
import Testing
@testable import ControlPlane
@testable import XDS

private func get(_ path: String, port: Int, method: String = "GET", raw: String? = nil) throws -> (Int, String) {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    defer { close(fd) }
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_port = in_port_t(UInt16(port).bigEndian)
    address.sin_addr.s_addr = inet_addr("127.0.0.1")
    var timeout = timeval(tv_sec: 5, tv_usec: 0)
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
    let connected = withUnsafePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
    }
    #expect(connected == 0)
    let request = Array((raw ?? "\(method) \(path) HTTP/1.1\r\nHost: x\r\n\r\n").utf8)
    _ = request.withUnsafeBytes { send(fd, $0.baseAddress, $0.count, 0) }
    var response: [UInt8] = []
    var chunk = [UInt8](repeating: 0, count: 4096)
    for _ in 0..<100 {
        let n = chunk.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
        if n <= 0 { break }
        response += chunk[..<n]
    }
    let text = String(decoding: response, as: UTF8.self)
    let status = Int(text.split(separator: " ").dropFirst().first ?? "") ?? 0
    return (status, text.components(separatedBy: "\r\n\r\n").dropFirst().joined())
}

@Suite struct AdminAPITests {
    let logger = Logger(label: "test")

    func plane() -> ControlPlane {
        let templates = TemplateSet(templates: ["frontend": ServiceTemplate(service: "frontend", dependencies: [Dependency(name: "payments")])])
        return ControlPlane(store: SnapshotStore(), compiler: TemplateCompiler(templates: templates), logger: logger)
    }

    @Test func readinessFollowsTheFirstCatalog() {
        let controlPlane = plane()
        let api = AdminAPI(controlPlane: controlPlane, nacks: NackLog())
        #expect(api.handle(AdminRequest(method: "GET", path: "/readyz", query: [:])).status == 503)
        controlPlane.apply(Catalog([CatalogService(name: "payments", instances: [Instance(address: "127.0.0.1", port: 1)])]))
        #expect(api.handle(AdminRequest(method: "GET", path: "/readyz", query: [:])).status == 200)
    }

    @Test func readinessNamesTheConsulServicesNotReadYet() throws {
        let consul = ConsulSource(configuration: ConsulConfiguration(url: URL(string: "http://127.0.0.1:1")!), logger: logger)
        let get = { (api: AdminAPI) in api.handle(AdminRequest(method: "GET", path: "/readyz", query: [:])) }
        consul.stats.sync(synced: false, unread: [])
        let cold = plane()
        #expect(get(AdminAPI(controlPlane: cold, nacks: NackLog(), consul: consul)).body.contains("service list has not been read yet"))
        consul.stats.sync(synced: false, unread: ["payments", "ledger"])
        let waiting = get(AdminAPI(controlPlane: cold, nacks: NackLog(), consul: consul))
        #expect(waiting.status == 503)
        #expect(waiting.body.contains("2 Consul service(s) not read yet: ledger, payments"), "\(waiting.body)")

        // With last-known-good on disk, it is served (ready) while Consul is still being read.
        let directory = NSTemporaryDirectory() + "sextant-readyz-\(UUID().uuidString)"
        try LastKnownGood(directory: directory).save(Catalog([CatalogService(name: "payments", instances: [])]))
        let templates = TemplateSet(templates: [:])
        let warm = ControlPlane(
            store: SnapshotStore(), compiler: TemplateCompiler(templates: templates),
            lastKnownGood: LastKnownGood(directory: directory), logger: logger)
        #expect(warm.restoreLastKnownGood())
        let served = get(AdminAPI(controlPlane: warm, nacks: NackLog(), consul: consul))
        #expect(served.status == 200 && served.body.contains("serving last-known-good state; 2 Consul service(s)"))
        consul.stats.sync(synced: true, unread: [])
        #expect(get(AdminAPI(controlPlane: warm, nacks: NackLog(), consul: consul)).body == "ready\n")
    }

    @Test func holdsAreVisibleAndReleasable() {
        let controlPlane = plane()
        let api = AdminAPI(controlPlane: controlPlane, nacks: NackLog())
        controlPlane.apply(Catalog([CatalogService(name: "payments", instances: [Instance(address: "127.0.0.1", port: 1)])]))
        controlPlane.apply(Catalog([CatalogService(name: "payments", instances: [])]))
        let report = api.handle(AdminRequest(method: "GET", path: "/debug/safeguards", query: [:]))
        #expect(report.body.contains("\"reason\" : \"payments would go from 1 instances to none\""))
        #expect(report.body.contains("\"frozen\" : null"), "not frozen is said, not left out")
        #expect(api.handle(AdminRequest(method: "GET", path: "/metrics", query: [:])).body.contains("sextant_safeguard_holds{kind=\"empty\"} 1"))
        #expect(api.handle(AdminRequest(method: "GET", path: "/release", query: ["service": "payments"])).status == 405)
        #expect(api.handle(AdminRequest(method: "POST", path: "/release", query: [:])).status == 400)
        #expect(api.handle(AdminRequest(method: "POST", path: "/release", query: ["service": "payments"])).status == 200)
        #expect(controlPlane.status.holds.isEmpty)
        // Nothing is held any more: a second release says so.
        let again = api.handle(AdminRequest(method: "POST", path: "/release", query: ["service": "payments"]))
        #expect(again.status == 404)
        #expect(again.body.contains("no hold on service 'payments'"))
    }

    @Test func nacksAreListed() {
        let nacks = NackLog()
        nacks.record(
            nodeID: "frontend-1", service: "frontend",
            NackRecord(type: .cluster, versionInfo: "v9", nonce: "3", resourceNames: ["payments"], errorCode: 3, errorMessage: "bad"))
        let api = AdminAPI(controlPlane: plane(), nacks: nacks)
        let body = api.handle(AdminRequest(method: "GET", path: "/debug/nacks", query: [:])).body
        #expect(body.contains("\"node\" : \"frontend-1\"") && body.contains("\"version\" : \"v9\""))
        #expect(api.handle(AdminRequest(method: "GET", path: "/metrics", query: [:])).body.contains("sextant_xds_nacks_total{type=\"cds\"} 1"))
    }

    @Test func theServerAnswersOverHTTPAndRefusesJunk() throws {
        let controlPlane = plane()
        let server = try AdminServer(host: "127.0.0.1", port: 0, logger: logger, handler: AdminAPI(controlPlane: controlPlane, nacks: NackLog()).handle)
        let port = try server.start()
        defer { server.shutdown() }
        #expect(try get("/healthz", port: port) == (200, "ok\n"))
        #expect(try get("/nowhere", port: port).0 == 404)
        #expect(try get("", port: port, raw: "not http at all\r\n\r\n").0 == 400)
        #expect(try get("", port: port, raw: String(repeating: "x", count: 20_000)).0 == 431)
        #expect(try get("/readyz", port: port).0 == 503)
    }
}

@Suite struct ConsulMetricsTests {
    @Test func failedReadsAreCountedByWatchAndReasonWithEscapedLabels() {
        var stats = ConsulStatistics(
            requests: 7, requestsByEndpoint: ["catalog-services": 2, "health-service": 5],
            errors: ["http-5xx": 3], errorsByService: ["pay\"ments": ["http-5xx": 2], "catalog-services": ["http-5xx": 1]],
            indexResets: 1, unchangedAnswers: 0, updates: 4)
        stats.failing = ["catalog-services", "pay\"ments"]
        let lines = AdminAPI.metrics(stats)
        #expect(lines.contains("sextant_consul_requests_total{endpoint=\"health-service\"} 5"))
        #expect(lines.contains("sextant_consul_errors_total{watch=\"pay\\\"ments\",reason=\"http-5xx\"} 2"))
        #expect(lines.contains("sextant_consul_errors_total{watch=\"catalog-services\",reason=\"http-5xx\"} 1"))
        #expect(lines.contains("sextant_consul_index_resets_total 1"))
        #expect(lines.contains("sextant_consul_updates_total 4"))
        #expect(lines.contains("sextant_consul_watches_failing 2"))
        #expect(lines.contains("sextant_consul_watch_failing{watch=\"pay\\\"ments\"} 1"))
        #expect(lines.filter { $0.hasPrefix("sextant_consul_watch_failing{") }.count == 2)
    }
}

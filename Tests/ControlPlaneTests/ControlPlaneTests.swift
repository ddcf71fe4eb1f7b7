import Catalog
import EnvoyAPI
import Foundation
import Logging
import Synchronization
import Templates
import Testing
@testable import ControlPlane
@testable import XDS

private func instance(_ port: Int, zone: String = "zone-a") -> Instance {
    Instance(address: "127.0.0.1", port: port, zone: zone)
}

private let configDirectory = URL(fileURLWithPath: #filePath)
    .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().appendingPathComponent("Config").path

private let catalog = Catalog([
    CatalogService(name: "payments", instances: [instance(18081), instance(18082, zone: "zone-b")]),
    CatalogService(name: "ledger", instances: [instance(18083)]),
])

private let templates = TemplateSet(templates: [
    "frontend": ServiceTemplate(service: "frontend", inbound: Inbound(port: 8080), dependencies: [Dependency(name: "payments")]),
    "checkout": ServiceTemplate(service: "checkout", dependencies: [Dependency(name: "payments"), Dependency(name: "ledger")]),
])

/// Fails one named service, to show that a failure stays with that service.
private struct FailingFor: ServiceCompiler {
    let inner: any ServiceCompiler
    let failing: String
    struct Broken: Error {}
    func services(in catalog: Catalog) -> Set<String> { inner.services(in: catalog) }
    func inputs(of service: String) -> Set<String> { inner.inputs(of: service) }
    func compile(service: String, catalog: Catalog) throws -> CompiledService {
        if service == failing { throw Broken() }
        return try inner.compile(service: service, catalog: catalog)
    }
}

/// Records which services were compiled.
private final class Counting: ServiceCompiler {
    let inner: any ServiceCompiler
    let compiled = Mutex<[String]>([])
    init(inner: any ServiceCompiler) { self.inner = inner }
    func services(in catalog: Catalog) -> Set<String> { inner.services(in: catalog) }
    func inputs(of service: String) -> Set<String> { inner.inputs(of: service) }
    func compile(service: String, catalog: Catalog) throws -> CompiledService {
        compiled.withLock { $0.append(service) }
        return try inner.compile(service: service, catalog: catalog)
    }
}

@Suite struct ControlPlaneTests {
    let logger = Logger(label: "test")

    @Test func everyServiceGetsAConsistentSnapshot() {
        let store = SnapshotStore()
        let plane = ControlPlane(store: store, compiler: TemplateCompiler(templates: templates), logger: logger)
        #expect(store.services.isEmpty)  // nothing before the first catalog
        #expect(plane.apply(catalog).sorted() == ["checkout", "frontend", "ledger", "payments"])
        let checkout = store.snapshot(for: "checkout")!
        #expect(checkout.resources(of: .cluster).keys.contains("ledger"))
        #expect(checkout.endpointNames["payments"] == "payments")
    }

    @Test func identicalResourcesAreEncodedOnceAcrossServices() {
        let store = SnapshotStore()
        let plane = ControlPlane(store: store, compiler: TemplateCompiler(templates: templates), logger: logger)
        plane.apply(catalog)
        let a = store.snapshot(for: "frontend")!.resources(of: .endpoint)["payments"]!
        let b = store.snapshot(for: "checkout")!.resources(of: .endpoint)["payments"]!
        #expect(a === b)
    }

    @Test func sameInputsSameVersionsAndNoRepublish() {
        let store = SnapshotStore()
        let plane = ControlPlane(store: store, compiler: TemplateCompiler(templates: templates), logger: logger)
        plane.apply(catalog)
        let before = store.snapshot(for: "frontend")!.version
        #expect(plane.apply(catalog).isEmpty)
        let other = SnapshotStore()
        ControlPlane(store: other, compiler: TemplateCompiler(templates: templates), logger: logger).apply(catalog)
        #expect(other.snapshot(for: "frontend")!.version == before)
    }

    @Test func aFailingServiceKeepsItsLastGoodSnapshotAndOthersMoveOn() {
        let store = SnapshotStore()
        ControlPlane(store: store, compiler: TemplateCompiler(templates: templates), logger: logger).apply(catalog)
        let good = store.snapshot(for: "checkout")!.version
        let frontendBefore = store.snapshot(for: "frontend")!.version
        var grown = catalog
        grown.services["payments"]!.instances.append(instance(18090))
        let plane = ControlPlane(
            store: store, compiler: FailingFor(inner: TemplateCompiler(templates: templates), failing: "checkout"),
            logger: logger)
        plane.apply(grown)
        #expect(store.snapshot(for: "checkout")!.version == good)
        #expect(store.snapshot(for: "frontend")!.version != frontendBefore)
    }

    @Test func aChangeRecompilesOnlyTheServicesThatReadIt() {
        let counting = Counting(inner: TemplateCompiler(templates: templates))
        let plane = ControlPlane(store: SnapshotStore(), compiler: counting, logger: logger)
        plane.apply(catalog)
        #expect(counting.compiled.withLock { $0 }.count == 4)
        counting.compiled.withLock { $0 = [] }
        var next = catalog
        next.services["ledger"]!.instances.append(instance(18095))
        // Only checkout depends on ledger; ledger's own sidecar reads its own instances.
        #expect(plane.apply(next) == ["checkout"])
        #expect(counting.compiled.withLock { $0 }.sorted() == ["checkout", "ledger"])
    }

    /// The declared inputs are complete: compiling against only them gives the same bytes.
    @Test func compilingAgainstOnlyTheDeclaredInputsChangesNothing() throws {
        let loaded = TemplateLoader(configDirectory: configDirectory).load()
        #expect(loaded.errors.isEmpty)
        let full = try CatalogFile.parse(
            yaml: String(contentsOfFile: configDirectory + "/catalog.yaml", encoding: .utf8), file: "catalog.yaml")
        let compiler = TemplateCompiler(templates: loaded)
        for service in compiler.services(in: full).sorted() {
            let inputs = compiler.inputs(of: service)
            let restricted = Catalog(services: full.services.filter { inputs.contains($0.key) })
            var a = SnapshotBuilder(), b = SnapshotBuilder()
            let whole = try a.build(service: service, compiler.compile(service: service, catalog: full))
            let partial = try b.build(service: service, compiler.compile(service: service, catalog: restricted))
            #expect(whole.version == partial.version, "\(service) reads a catalog entry inputs(of:) does not declare")
        }
    }

    @Test func inconsistentResourcesAreRefused() throws {
        var route = Envoy_Config_Route_V3_RouteConfiguration()
        route.name = "outbound"
        var host = Envoy_Config_Route_V3_VirtualHost()
        host.name = "ghost"
        host.domains = ["*"]
        var r = Envoy_Config_Route_V3_Route()
        r.route.cluster = "ghost"
        host.routes = [r]
        route.virtualHosts = [host]
        var eds = Envoy_Config_Cluster_V3_Cluster()
        eds.name = "payments"
        eds.type = .eds
        var builder = SnapshotBuilder()
        let broken = CompiledService(service: "s", clusters: [eds], routes: [route])
        #expect(throws: SnapshotBuilder.Inconsistency.self) { try builder.build(service: "s", broken) }
        #expect(broken.consistencyProblems().count == 2)
    }

    @Test func aNodeOfAnUnknownServiceIsCompiledOnDemand() async throws {
        let store = SnapshotStore()
        let plane = ControlPlane(store: store, compiler: TemplateCompiler(templates: templates), logger: logger)
        plane.apply(catalog)
        _ = store.watch(service: "newcomer") { _ in }
        for _ in 0..<200 where store.snapshot(for: "newcomer") == nil { try await Task.sleep(for: .milliseconds(10)) }
        #expect(store.snapshot(for: "newcomer") != nil)
    }
}

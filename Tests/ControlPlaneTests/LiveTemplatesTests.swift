import Catalog
import Foundation
import Logging
import Templates
import Testing
@testable import ControlPlane
@testable import XDS

private let folder = "/config/services"
private let catalog = Catalog([
    CatalogService(name: "payments", instances: [Instance(address: "127.0.0.1", port: 18081)]),
    CatalogService(name: "frontend", instances: [Instance(address: "127.0.0.1", port: 18080)]),
    CatalogService(name: "ledger", instances: [Instance(address: "127.0.0.1", port: 18083)]),
])

private func sources(_ files: [String: String]) -> TemplateSources {
    TemplateSources(
        defaultsFile: "/config/defaults.yaml", defaults: "clusters:\n  connect_timeout: 1s\n", servicesDirectory: folder,
        files: Dictionary(uniqueKeysWithValues: files.map { ("\(folder)/\($0.key).yaml", $0.value) }))
}

private func frontend(_ timeout: String) -> String {
    "service: frontend\ndependencies:\n  - name: payments\n    timeout: \(timeout)\n"
}

private let ledger = "service: ledger\ndependencies:\n  - name: payments\n"

private func temporaryDirectory() -> String {
    NSTemporaryDirectory() + "sextant-templates-\(UUID().uuidString)"
}

/// A control plane with live templates, as `serve` wires it.
private func livePlane(_ store: SnapshotStore, stateDir: String? = nil, restored: TemplateSources? = nil) -> ControlPlane {
    let logger = Logger(label: "test")
    let plane = ControlPlane(
        store: store, compiler: TemplateCompiler(templates: TemplateSet()),
        templateLastGood: stateDir.map { TemplateLastGood(directory: $0, logger: logger) }, logger: logger)
    plane.enableLiveTemplates(lastGood: restored)
    return plane
}

@Suite struct LiveTemplatesTests {
    @Test func anEditRecompilesOnlyItsServiceOnTheSameStore() {
        let store = SnapshotStore()
        let plane = livePlane(store)
        plane.updateTemplates(sources(["frontend": frontend("5s"), "ledger": ledger]))
        #expect(store.services.isEmpty)  // nothing before the first catalog
        plane.apply(catalog)
        let frontendBefore = store.snapshot(for: "frontend")!.version
        let ledgerBefore = store.snapshot(for: "ledger")!.version
        plane.updateTemplates(sources(["frontend": frontend("3s"), "ledger": ledger]))
        #expect(store.snapshot(for: "frontend")!.version != frontendBefore)
        #expect(store.snapshot(for: "ledger")!.version == ledgerBefore)
        #expect(plane.templateStatus?.degraded == false)
    }

    @Test func aBrokenEditChangesNoSnapshotAndIsReported() throws {
        let store = SnapshotStore()
        let plane = livePlane(store)
        plane.updateTemplates(sources(["frontend": frontend("5s")]))
        plane.apply(catalog)
        let before = store.snapshot(for: "frontend")!.version
        plane.updateTemplates(sources(["frontend": frontend("three")]))
        #expect(store.snapshot(for: "frontend")!.version == before)
        let status = try #require(plane.templateStatus)
        #expect(status.degraded && status.refused.map(\.service) == ["frontend"])
        // Deleted: still the last good snapshot.
        plane.updateTemplates(sources([:]))
        #expect(store.snapshot(for: "frontend")!.version == before)
        #expect(plane.templateStatus?.refused.map(\.kind) == [.deleted])
        // Fixed: applied, and no longer degraded.
        plane.updateTemplates(sources(["frontend": frontend("3s")]))
        #expect(store.snapshot(for: "frontend")!.version != before)
        #expect(plane.templateStatus?.degraded == false)
    }

    @Test func aWithheldServiceKeepsWhatItHadAndGetsNoDefault() {
        let store = SnapshotStore()
        let plane = livePlane(store)
        plane.updateTemplates(sources(["frontend": frontend("three")]))
        plane.apply(catalog)
        // Broken from the start, no last good: no snapshot, not the empty default one.
        #expect(store.snapshot(for: "frontend") == nil)
        #expect(store.snapshot(for: "ledger") != nil)
        #expect(plane.templateStatus?.withheld == ["frontend"])
        plane.serviceRequested("frontend")
        #expect(store.snapshot(for: "frontend") == nil)
    }

    @Test func aTemplateNamingAServiceNotYetInTheCatalogAppliesWhenItAppears() {
        let store = SnapshotStore()
        let plane = livePlane(store)
        let wantsBilling = "service: frontend\ndependencies:\n  - name: billing\n"
        plane.updateTemplates(sources(["frontend": wantsBilling]))
        plane.apply(catalog)
        #expect(plane.templateStatus?.withheld == ["frontend"])
        var grown = catalog
        grown.services["billing"] = CatalogService(name: "billing", instances: [Instance(address: "127.0.0.1", port: 18090)])
        plane.apply(grown)
        #expect(plane.templateStatus?.degraded == false)
        #expect(store.snapshot(for: "frontend")?.resources(of: .cluster)["billing"] != nil)
    }

    @Test func theLastGoodSetSurvivesARestartWithABrokenFile() throws {
        let directory = temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let firstStore = SnapshotStore()
        let first = livePlane(firstStore, stateDir: directory)
        first.updateTemplates(sources(["frontend": frontend("3s")]))
        first.apply(catalog)
        first.flushLastKnownGood()
        let good = firstStore.snapshot(for: "frontend")!.version

        let state = TemplateLastGood(directory: directory, logger: Logger(label: "test"))
        let restored = try #require(try state.load())
        #expect(restored.files.values.contains(frontend("3s")))
        let store = SnapshotStore()
        let plane = livePlane(store, stateDir: directory, restored: restored)
        plane.updateTemplates(sources(["frontend": frontend("three")]))
        plane.apply(catalog)
        #expect(store.snapshot(for: "frontend")?.version == good)
        #expect(plane.templateStatus?.refused.first?.servingLastGood == true)
    }

    @Test func aDamagedTemplateStateIsIgnored() throws {
        let directory = temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let state = TemplateLastGood(directory: directory, logger: Logger(label: "test"))
        try state.save(sources(["frontend": frontend("3s")]))
        #expect(try state.load() == sources(["frontend": frontend("3s")]))
        var bytes = try [UInt8](Data(contentsOf: URL(fileURLWithPath: state.path)))
        bytes[bytes.count - 3] ^= 0x20
        try Data(bytes).write(to: URL(fileURLWithPath: state.path))
        #expect(throws: LastKnownGood.Failure.self) { try state.load() }
    }
}

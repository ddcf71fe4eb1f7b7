import Catalog
import Foundation
import Logging
import Templates
import Testing
@testable import ControlPlane
@testable import XDS

private func temporaryDirectory() -> String {
    let path = NSTemporaryDirectory() + "sextant-lkg-\(UUID().uuidString)"
    try! FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    return path
}

private let catalog = Catalog([
    CatalogService(
        name: "payments",
        instances: [
            Instance(address: "127.0.0.1", port: 18081, zone: "zone-a", region: "r1", health: .degraded, weight: 3),
            Instance(id: "p-2", address: "127.0.0.2", port: 18082),
        ]),
    CatalogService(name: "empty", instances: []),
])

@Suite struct LastKnownGoodTests {
    @Test func theWriterKeepsTheNewestOfABurstAndFlushWaitsForIt() async throws {
        let state = LastKnownGood(directory: temporaryDirectory())
        let writer = StateWriter(state: state, logger: Logger(label: "test"))
        let versions = (1...200).map { port in
            Catalog([CatalogService(name: "payments", instances: [Instance(address: "127.0.0.1", port: port)])])
        }
        await withTaskGroup(of: Void.self) { group in
            for part in stride(from: 0, to: 150, by: 50) {
                group.addTask { for catalog in versions[part..<part + 50] { writer.submit(catalog) } }
            }
        }
        for catalog in versions[150...] { writer.submit(catalog) }
        writer.flush()
        #expect(try state.load() == versions.last, "the newest submitted catalog is the one on disk")
        writer.flush()  // nothing pending: returns at once
    }

    @Test func roundTrip() throws {
        let state = LastKnownGood(directory: temporaryDirectory())
        #expect(try state.load() == nil)
        try state.save(catalog)
        #expect(try state.load() == catalog)
    }

    /// The hand-written body is the JSON JSONEncoder wrote (sorted keys), which older files hold,
    /// and reads back the same, whatever the strings contain.
    @Test func theBodyIsWhatJSONEncoderWroteAndRoundTripsAnyText() throws {
        let tricky = Catalog([
            CatalogService(
                name: "we\"ird\\name\u{1}",
                instances: [
                    Instance(id: "ä/ß\n\t\r", address: "10.0.0.1", port: 80, zone: nil, region: "r\u{1f}"),
                    Instance(address: "10.0.0.2", port: 81, zone: "a", health: .draining, weight: 7),
                ]),
            CatalogService(name: "a", instances: []),
        ])
        for sample in [catalog, tricky] {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
            let reference = try JSONDecoder().decode(StoredCatalog.self, from: encoder.encode(StoredCatalog(sample, source: nil)))
            let ours = try JSONDecoder().decode(StoredCatalog.self, from: Data(StoredCatalog.json(sample, source: nil)))
            #expect(try ours.catalog == sample)
            #expect(try reference.catalog == sample)
        }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        #expect(StoredCatalog.json(catalog, source: nil) == [UInt8](try encoder.encode(StoredCatalog(catalog, source: nil))))
        let source = CatalogSourceIdentity(kind: "consul", address: "https://consul:8501", datacenter: "dc1", filters: ["tag=a"])
        #expect(StoredCatalog.json(catalog, source: source) == [UInt8](try encoder.encode(StoredCatalog(catalog, source: source))))
        let state = LastKnownGood(directory: temporaryDirectory())
        try state.save(tricky)
        #expect(try state.load() == tricky)
    }

    @Test(arguments: ["truncated", "edited", "garbage", "empty"])
    func aDamagedFileIsDetectedAndIgnored(_ damage: String) throws {
        let state = LastKnownGood(directory: temporaryDirectory())
        try state.save(catalog)
        var bytes = [UInt8](FileManager.default.contents(atPath: state.path)!)
        switch damage {
        case "truncated": bytes.removeLast(bytes.count / 3)
        case "edited": bytes[bytes.count - 20] ^= 0x01
        case "garbage": bytes = Array("{\"services\":{}}".utf8)
        default: bytes = []
        }
        _ = FileManager.default.createFile(atPath: state.path, contents: Data(bytes))
        #expect(throws: LastKnownGood.Failure.self) { try state.load() }
    }

    @Test func aCrashMidWriteLeavesThePreviousStateLoadable() throws {
        let state = LastKnownGood(directory: temporaryDirectory())
        try state.save(catalog)
        // A writer killed mid-write leaves a partial temporary file; the real one is untouched.
        _ = FileManager.default.createFile(atPath: state.path + ".tmp", contents: Data("sextant-lkg 1 999 abc\n{\"serv".utf8))
        #expect(try state.load() == catalog)
        var next = catalog
        next.services["ledger"] = CatalogService(name: "ledger", instances: [Instance(address: "127.0.0.3", port: 1)])
        try state.save(next)
        #expect(try state.load() == next)
    }

    @Test func aRestartServesLastKnownGoodAndGuardsTheFirstReadAgainstIt() throws {
        let directory = temporaryDirectory()
        let templates = TemplateSet(templates: [
            "frontend": ServiceTemplate(service: "frontend", dependencies: [Dependency(name: "payments")])
        ])
        let logger = Logger(label: "test")
        let first = ControlPlane(
            store: SnapshotStore(), compiler: TemplateCompiler(templates: templates),
            lastKnownGood: LastKnownGood(directory: directory), logger: logger)
        first.apply(catalog)
        first.flushLastKnownGood()

        // Restart with the source down: the state on disk is served before any read.
        let store = SnapshotStore()
        let second = ControlPlane(
            store: store, compiler: TemplateCompiler(templates: templates),
            lastKnownGood: LastKnownGood(directory: directory), logger: logger)
        #expect(second.restoreLastKnownGood())
        let restored = store.snapshot(for: "frontend")!.resources(of: .endpoint)["payments"]!
        // The source comes back answering [] for payments: held, not emptied.
        var empty = catalog
        empty.services["payments"] = CatalogService(name: "payments", instances: [])
        second.apply(empty)
        #expect(store.snapshot(for: "frontend")!.resources(of: .endpoint)["payments"] == restored)
        #expect(second.status.holds.map(\.service) == ["payments"])
        // An operator may release it.
        second.release(service: "payments")
        #expect(store.snapshot(for: "frontend")!.resources(of: .endpoint)["payments"] != restored)
    }

    // MARK: The source a state came from

    static let file = CatalogSourceIdentity.file(path: "/srv/sextant/catalog.yaml")
    static let consul = ConsulConfiguration(url: URL(string: "http://127.0.0.1:8500")!).identity

    @Test func aStateIsTrustedOnlyByTheSourceThatWroteIt() throws {
        let directory = temporaryDirectory()
        try LastKnownGood(directory: directory, source: Self.file).save(catalog)
        #expect(try LastKnownGood(directory: directory, source: Self.file).load() == catalog)
        #expect(try LastKnownGood(directory: directory).load() == catalog)  // an explicit baseline
        #expect(throws: LastKnownGood.Failure.self) { try LastKnownGood(directory: directory, source: Self.consul).load() }
        do {
            _ = try LastKnownGood(directory: directory, source: Self.consul).load()
        } catch {
            #expect("\(error)".contains("written while serving file /srv/sextant/catalog.yaml, not consul http://127.0.0.1:8500"))
        }
    }

    @Test func aStateThatRecordsNoSourceIsNotTrustedByAServer() throws {
        let directory = temporaryDirectory()
        try LastKnownGood(directory: directory).save(catalog)  // as states were written before sources were recorded
        #expect(throws: LastKnownGood.Failure.self) { try LastKnownGood(directory: directory, source: Self.file).load() }
    }

    @Test func consulIdentityNamesDatacenterAndFiltersInAnyOrder() {
        let url = URL(string: "http://127.0.0.1:8500/")!
        let a = ConsulConfiguration(url: url, datacenter: "dc1", services: ["b", "a"], tags: ["Prod"]).identity
        let b = ConsulConfiguration(url: URL(string: "http://127.0.0.1:8500")!, datacenter: "dc1", services: ["a", "b"], tags: ["prod"]).identity
        #expect(a == b)
        #expect(a != ConsulConfiguration(url: url, datacenter: "dc2", services: ["a", "b"], tags: ["prod"]).identity)
        #expect(a != ConsulConfiguration(url: url, datacenter: "dc1", services: ["a"], tags: ["prod"]).identity)
        #expect(a != ConsulConfiguration(url: url, datacenter: "dc1", services: ["a", "b"], tags: ["prod"], taggedAddress: "wan").identity)
        #expect(a != ConsulConfiguration(url: URL(string: "http://10.0.0.1:8500")!, datacenter: "dc1", services: ["a", "b"], tags: ["prod"]).identity)
    }

    @Test func aServerIgnoresAnotherSourcesStateAndGuardsNothingAgainstIt() throws {
        let directory = temporaryDirectory()
        let templates = TemplateSet(templates: [:])
        let logger = Logger(label: "test")
        let fromFile = ControlPlane(
            store: SnapshotStore(), compiler: TemplateCompiler(templates: templates),
            lastKnownGood: LastKnownGood(directory: directory, source: Self.file), logger: logger)
        fromFile.apply(catalog)
        fromFile.flushLastKnownGood()

        let fromConsul = ControlPlane(
            store: SnapshotStore(), compiler: TemplateCompiler(templates: templates),
            lastKnownGood: LastKnownGood(directory: directory, source: Self.consul), logger: logger)
        #expect(!fromConsul.restoreLastKnownGood())
        // Consul's first read has other instances: with the file's state as baseline every service
        // would shrink; without it nothing is held.
        let other = Catalog([CatalogService(name: "payments", instances: [Instance(address: "10.1.0.9", port: 9000)])])
        fromConsul.apply(other)
        #expect(fromConsul.status.holds.isEmpty)
        #expect(fromConsul.status.freeze == nil)
        fromConsul.flushLastKnownGood()
        #expect(try LastKnownGood(directory: directory, source: Self.consul).load() == other)
    }
}

import ArgumentParser
import Catalog
import ControlPlane
import Foundation
import Templates
import Testing

@testable import SextantCLI

/// `validate --baseline`: which catalog changes serve's safeguards would hold.
@Suite struct HoldPreviewTests {
    static func service(_ name: String, _ count: Int) -> CatalogService {
        CatalogService(
            name: name, instances: (0..<count).map { Instance(id: "\(name)-\($0)", address: "10.0.0.\($0 + 1)", port: 8080) })
    }

    static func catalog(_ services: [(String, Int)]) -> Catalog {
        Catalog(services: Dictionary(uniqueKeysWithValues: services.map { ($0.0, service($0.0, $0.1)) }))
    }

    let baseline = catalog([("payments", 10), ("ledger", 2), ("orders", 3), ("search", 4)])
    let policy = SafeguardPolicy()

    @Test func aLargeScaleDownIsHeldASmallOneIsNot() {
        let large = HoldPreview(baseline: baseline, candidate: Self.catalog([("payments", 4), ("ledger", 2), ("orders", 3), ("search", 4)]), policy: policy)
        #expect(large.holds.map(\.service) == ["payments"] && large.freeze == nil)
        let lines = large.lines(location: "catalog.yaml", policy: policy)
        #expect(lines == [
            "catalog.yaml: would hold payments (shrink): payments would lose 6 of 10 instances (threshold 50%); "
                + "applied once stable for 60s, or by `sextant release payments`",
        ])
        let small = HoldPreview(baseline: baseline, candidate: Self.catalog([("payments", 8), ("ledger", 2), ("orders", 3), ("search", 4)]), policy: policy)
        #expect(small.isEmpty)
    }

    @Test func aServiceGoingToNoneIsHeldAsEmpty() {
        let preview = HoldPreview(baseline: baseline, candidate: Self.catalog([("payments", 10), ("ledger", 0), ("orders", 3), ("search", 4)]), policy: policy)
        #expect(preview.holds.map(\.kind) == [.empty])
        #expect(preview.lines(location: "c", policy: policy).first?.contains("ledger would go from 2 instances to none") == true)
    }

    @Test func manyServicesShrinkingAtOnceFreezes() {
        let preview = HoldPreview(baseline: baseline, candidate: Self.catalog([("payments", 1), ("ledger", 0), ("orders", 0), ("search", 4)]), policy: policy)
        #expect(preview.freeze != nil)
        let lines = preview.lines(location: "c", policy: policy)
        #expect(lines.count == 1 && lines[0].contains("would freeze the whole catalog") && lines[0].contains("ledger, orders, payments"))
    }

    @Test func theBaselineIsACatalogFileOrServesStateDir() throws {
        let folder = try TestPaths.temporaryFolder("baseline")
        defer { try? FileManager.default.removeItem(at: folder) }
        try LastKnownGood(directory: folder.path).save(baseline)
        #expect(try HoldPreview.loadBaseline(folder.path) == baseline)
        #expect(try HoldPreview.loadBaseline(TestPaths.path("Config/catalog.yaml")).services["payments"]?.instances.count == 3)

        #expect(throws: CommandFailure.self) { try HoldPreview.loadBaseline(folder.appendingPathComponent("missing").path) }
        let empty = try TestPaths.temporaryFolder("no-state")
        defer { try? FileManager.default.removeItem(at: empty) }
        #expect { try HoldPreview.loadBaseline(empty.path) } throws: { "\($0)".contains("no last-known-good state") }
        let state = folder.appendingPathComponent("catalog.lkg")
        try Data("sextant-lkg 1 3 0\n{}".utf8).write(to: state)
        #expect { try HoldPreview.loadBaseline(folder.path) } throws: { "\($0)".contains("corrupt") }
    }

    @Test func validateReportsHoldsAndFailsOnThemOnlyWhenAsked() async throws {
        let folder = try TestPaths.temporaryFolder("validate-baseline")
        defer { try? FileManager.default.removeItem(at: folder) }
        // Serve's state says payments had 10 other instances; the shipped catalog has 3 new ones: 100% removed.
        var before = try FileSource(path: TestPaths.path("Config/catalog.yaml")).load()
        before.services["payments"] = Self.service("payments", 10)
        try LastKnownGood(directory: folder.path).save(before)
        let inputs = [
            "--catalog", TestPaths.path("Config/catalog.yaml"), "--templates", TestPaths.path("Config/services"),
            "--defaults", TestPaths.path("Config/defaults.yaml"), "--baseline", folder.path,
        ]
        #expect(await exitCode { try await Validate.parse(inputs).run() } == 0)
        #expect(await exitCode { try await Validate.parse(inputs + ["--fail-on-hold"]).run() } == 1)
        #expect(await exitCode { try await Validate.parse(inputs + ["--fail-on-hold", "--shrink-threshold", "1"]).run() } == 0)
        #expect(throws: (any Error).self) { _ = try Validate.parse(["--fail-on-hold"]) }
    }

    @Test func flagsOverrideDefaultsYAMLOnlyWhenGiven() throws {
        var settings = SafeguardSettings()
        settings.shrinkThresholdPercent = 20
        settings.emptyConfirmation = .seconds(5)
        let fromFile = try SafeguardOptions.parse([]).policy(settings)
        #expect(fromFile.shrinkThreshold == 0.2 && fromFile.emptyConfirmation == .seconds(5))
        #expect(fromFile.freezeThreshold == 0.3 && fromFile.shrinkConfirmation == .seconds(60))
        let flagged = try SafeguardOptions.parse(["--shrink-threshold", "0.7", "--empty-confirmation-seconds", "0"]).policy(settings)
        #expect(flagged.shrinkThreshold == 0.7 && flagged.emptyConfirmation == .zero)
        #expect(throws: (any Error).self) { _ = try SafeguardOptions.parse(["--freeze-threshold", "30"]) }
    }
}

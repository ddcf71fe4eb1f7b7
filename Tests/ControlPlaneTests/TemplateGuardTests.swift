import Catalog
import Templates
import Testing
@testable import ControlPlane

private let folder = "/config/services"
private let defaultsFile = "/config/defaults.yaml"
private func path(_ service: String) -> String { "\(folder)/\(service).yaml" }

private let catalog = Catalog([
    CatalogService(name: "payments", instances: [Instance(address: "127.0.0.1", port: 18081)]),
    CatalogService(name: "catalog", instances: [Instance(address: "127.0.0.1", port: 18082)]),
    CatalogService(name: "frontend", instances: [Instance(address: "127.0.0.1", port: 18080)]),
])

private func frontend(timeout: String = "5s", retries: String = "2") -> String {
    """
    service: frontend
    dependencies:
      - name: payments
        timeout: \(timeout)
        retries:
          num_retries: \(retries)
    """
}

private let payments = "service: payments\ndependencies:\n  - name: catalog\n"

private func sources(_ files: [String: String], defaults: String? = "routes:\n  timeout: 15s\n") -> TemplateSources {
    TemplateSources(
        defaultsFile: defaultsFile, defaults: defaults, servicesDirectory: folder,
        files: Dictionary(uniqueKeysWithValues: files.map { (path($0.key), $0.value) }))
}

private func timeout(_ outcome: TemplateGuard.Outcome, _ service: String = "frontend") -> Duration? {
    outcome.templates.templates[service]?.dependencies.first?.timeout
}

@Suite struct TemplateGuardTests {
    @Test func aGoodSetIsAcceptedAsWritten() {
        var guardian = TemplateGuard()
        let outcome = guardian.evaluate(sources(["frontend": frontend(), "payments": payments]), catalog: catalog)
        #expect(outcome.refused.isEmpty)
        #expect(outcome.withheld.isEmpty)
        #expect(Set(outcome.templates.templates.keys) == ["frontend", "payments"])
        #expect(guardian.lastGood == outcome.accepted)
    }

    @Test func anEditIsAccepted() {
        var guardian = TemplateGuard()
        let first = guardian.evaluate(sources(["frontend": frontend()]), catalog: catalog)
        let second = guardian.evaluate(sources(["frontend": frontend(timeout: "3s")]), catalog: catalog)
        #expect(second.refused.isEmpty)
        #expect(timeout(first) != timeout(second))
        #expect(second.accepted.files[path("frontend")] == frontend(timeout: "3s"))
    }

    @Test func aTypoKeepsTheLastGoodTemplateWithItsPosition() throws {
        var guardian = TemplateGuard()
        let good = guardian.evaluate(sources(["frontend": frontend(), "payments": payments]), catalog: catalog)
        let outcome = guardian.evaluate(
            sources(["frontend": frontend(timeout: "3s", retries: "three"), "payments": payments + "  - name: frontend\n"]),
            catalog: catalog)
        #expect(outcome.templates.templates["frontend"] == good.templates.templates["frontend"])
        #expect(outcome.accepted.files[path("frontend")] == frontend())
        // The other file's edit goes through.
        #expect(outcome.templates.templates["payments"]?.dependencies.count == 2)
        let refusal = try #require(outcome.refused.first)
        #expect(outcome.refused.count == 1)
        #expect(refusal.file == path("frontend") && refusal.service == "frontend" && refusal.kind == .invalid)
        #expect(refusal.servingLastGood)
        #expect(refusal.errors.first?.hasPrefix("\(path("frontend")):6:") == true, "\(refusal.errors)")
        #expect(refusal.errors.first?.contains("num_retries") == true)
        // Still refused when the broken file is read again, and the last good text is unchanged.
        let again = guardian.evaluate(sources(["frontend": frontend(retries: "three"), "payments": payments]), catalog: catalog)
        #expect(again.accepted.files[path("frontend")] == frontend())
    }

    @Test func fixingTheFileAppliesIt() {
        var guardian = TemplateGuard()
        _ = guardian.evaluate(sources(["frontend": frontend()]), catalog: catalog)
        _ = guardian.evaluate(sources(["frontend": frontend(retries: "three")]), catalog: catalog)
        let fixed = guardian.evaluate(sources(["frontend": frontend(timeout: "3s")]), catalog: catalog)
        #expect(fixed.refused.isEmpty)
        #expect(fixed.accepted.files[path("frontend")] == frontend(timeout: "3s"))
    }

    @Test func aCrossCheckErrorIsRefusedPerService() throws {
        var guardian = TemplateGuard()
        _ = guardian.evaluate(sources(["frontend": frontend()]), catalog: catalog)
        let unknown = frontend().replacingOccurrences(of: "name: payments", with: "name: paymnets")
        let outcome = guardian.evaluate(sources(["frontend": unknown]), catalog: catalog)
        let refusal = try #require(outcome.refused.first)
        #expect(refusal.errors.first?.contains("unknown dependency 'paymnets'") == true, "\(refusal.errors)")
        #expect(outcome.accepted.files[path("frontend")] == frontend())
        // Without a catalog there is no cross-check (the control plane judges again with one).
        var blind = TemplateGuard()
        #expect(blind.evaluate(sources(["frontend": unknown]), catalog: nil).refused.isEmpty)
    }

    @Test func aDeletedFileKeepsItsTemplateUntilForgotten() throws {
        var guardian = TemplateGuard()
        _ = guardian.evaluate(sources(["frontend": frontend(), "payments": payments]), catalog: catalog)
        let deleted = guardian.evaluate(sources(["payments": payments]), catalog: catalog)
        let refusal = try #require(deleted.refused.first)
        #expect(refusal.kind == .deleted && refusal.service == "frontend" && refusal.servingLastGood)
        #expect(deleted.templates.templates["frontend"] != nil)
        let forgot = guardian.forget(service: "frontend")
        #expect(forgot)
        let forgotten = guardian.evaluate(sources(["payments": payments]), catalog: catalog)
        #expect(forgotten.refused.isEmpty)
        #expect(forgotten.templates.templates["frontend"] == nil)
        let again = guardian.forget(service: "frontend")
        #expect(!again)
    }

    @Test func aNewBrokenFileWithNoLastGoodIsWithheld() {
        var guardian = TemplateGuard()
        _ = guardian.evaluate(sources(["payments": payments]), catalog: catalog)
        let outcome = guardian.evaluate(sources(["payments": payments, "frontend": frontend(retries: "three")]), catalog: catalog)
        #expect(outcome.withheld == ["frontend"])
        #expect(outcome.refused.first?.servingLastGood == false)
        #expect(TemplateCompiler(templates: outcome.templates, withheld: outcome.withheld).services(in: catalog) == ["payments", "catalog"])
    }

    @Test func brokenDefaultsKeepTheLastGoodDefaults() throws {
        var guardian = TemplateGuard()
        let good = guardian.evaluate(sources(["frontend": frontend()], defaults: "routes:\n  timeout: 7s\n"), catalog: catalog)
        let outcome = guardian.evaluate(
            sources(["frontend": frontend(timeout: "3s")], defaults: "routes:\n  timeout: seven\n"), catalog: catalog)
        #expect(outcome.templates.defaults == good.templates.defaults)
        #expect(outcome.accepted.defaults == "routes:\n  timeout: 7s\n")
        let refusal = try #require(outcome.refused.first)
        #expect(refusal.file == defaultsFile && refusal.service == nil && refusal.servingLastGood)
        #expect(refusal.errors.first?.hasPrefix("\(defaultsFile):2:") == true, "\(refusal.errors)")
        // Templates are still judged on their own.
        #expect(outcome.accepted.files[path("frontend")] == frontend(timeout: "3s"))
    }

    @Test func anUnreadableFolderKeepsEveryTemplate() {
        var guardian = TemplateGuard()
        let good = guardian.evaluate(sources(["frontend": frontend()]), catalog: catalog)
        var broken = sources([:])
        broken.readErrors = [TemplateError(file: folder, line: 0, column: 0, field: "", message: "cannot list the services folder")]
        let outcome = guardian.evaluate(broken, catalog: catalog)
        #expect(outcome.templates.templates == good.templates.templates)
        #expect(outcome.refused.map(\.kind) == [.unreadableFolder])
    }

    @Test func aRestartWithABrokenFileServesTheStoredSet() throws {
        var first = TemplateGuard()
        let good = first.evaluate(sources(["frontend": frontend()]), catalog: catalog)
        var restarted = TemplateGuard(lastGood: good.accepted)
        let outcome = restarted.evaluate(sources(["frontend": frontend(retries: "three")]), catalog: catalog)
        #expect(outcome.templates.templates["frontend"] == good.templates.templates["frontend"])
        #expect(outcome.refused.first?.servingLastGood == true)
    }

    @Test func aRenamedServiceIsNotADeletion() {
        // Moving a file to .yml keeps the service: no refusal, the new text is used.
        var guardian = TemplateGuard()
        _ = guardian.evaluate(sources(["frontend": frontend()]), catalog: catalog)
        var moved = sources([:])
        moved.files["\(folder)/frontend.yml"] = frontend(timeout: "3s")
        let outcome = guardian.evaluate(moved, catalog: catalog)
        #expect(outcome.refused.isEmpty)
        #expect(outcome.accepted.files.keys.sorted() == ["\(folder)/frontend.yml"])
    }
}

import Catalog
import ControlPlane
import Foundation
import Templates
import XDS

/// Scenario A: the templates compiler on the path `serve` uses. `TemplateLoader` reads generated
/// files; `ControlPlane.apply` runs the safeguards, `TemplateCompiler`, `SnapshotBuilder`
/// (deterministic encoding, invariant checks), `SnapshotStore.publish`, and the last-known-good
/// save that `serve` configures.
struct CompilerBench {
    let fleet: Fleet
    let runs: Int
    let changes: Int

    func run(_ report: Report) throws {
        Memory.resetPeak()
        let rssBefore = Memory.currentKilobytes()
        let directory = try Scratch.directory("templates")
        defer { Scratch.remove(directory) }
        try fleet.writeTemplates(in: directory)

        var loads: [Duration] = []
        var templates = TemplateSet()
        for _ in 0..<runs {
            let start = ContinuousClock.now
            templates = try fleet.loadTemplates(from: directory)
            loads.append(.now - start)
        }
        report.add(Row("templates: load \(Format.count(fleet.services)) files", loads, note: "TemplateLoader (YAML, validation)"))

        let catalog = fleet.catalog()
        let endpoints = catalog.services.values.reduce(0) { $0 + $1.instances.count }

        // Full compile: a fresh control plane each run, so nothing is cached.
        var full: [Duration] = []
        var kept: (ControlPlane, SnapshotStore, URL)?
        for run in 0..<runs {
            let (controlPlane, store, state) = try makeControlPlane(templates, lastKnownGood: true)
            let start = ContinuousClock.now
            let changed = controlPlane.apply(catalog)
            full.append(.now - start)
            try check(store, changed: changed, catalog: catalog)
            if run == runs - 1 { kept = (controlPlane, store, state) } else { Scratch.remove(state) }
        }
        guard let (controlPlane, _, state) = kept else { throw BenchFailure("no runs") }
        defer { Scratch.remove(state) }
        let peak = Memory.peakKilobytes()
        let rssNote = peak.map { " peak RSS \(Format.megabytes($0))" } ?? ""
        report.add(
            Row(
                "compile: full, \(Format.count(fleet.services)) svc × \(fleet.dependencies) deps, \(Format.count(endpoints)) endpoints",
                full, note: "ControlPlane.apply into SnapshotStore, encoded;\(rssNote)"))

        // One endpoint changes: only the services that read it are recompiled.
        let (timings, changedCount) = try recompile(controlPlane, from: catalog)
        report.add(
            Row(
                "compile: one endpoint changed", timings,
                note: "apply of the changed catalog: \(fleet.dependencies + 1) services recompiled, \(changedCount) snapshots change; LKG saved"))

        // The same without last-known-good, to show what the save costs.
        let (bare, _, bareState) = try makeControlPlane(templates, lastKnownGood: false)
        defer { Scratch.remove(bareState) }
        bare.apply(catalog)
        let (bareTimings, _) = try recompile(bare, from: catalog)
        report.add(Row("compile: one endpoint changed, no LKG", bareTimings, note: "same, ControlPlane without LastKnownGood"))

        var saves: [Duration] = []
        let lastKnownGood = LastKnownGood(directory: state.path)
        for _ in 0..<runs {
            let start = ContinuousClock.now
            try lastKnownGood.save(catalog)
            saves.append(.now - start)
        }
        let size = (try? FileManager.default.attributesOfItem(atPath: lastKnownGood.path)[.size] as? Int) ?? 0
        report.add(Row("last-known-good: save catalog", saves, note: "JSON + fsync + rename, \(Format.megabytes(size / 1024)) file"))

        if let peak = Memory.peakKilobytes(), let before = rssBefore {
            report.add(
                Row("compile: peak RSS", value: Format.megabytes(peak), note: "VmHWM; \(Format.megabytes(before)) before the scenario"))
        }
    }

    private func makeControlPlane(_ templates: TemplateSet, lastKnownGood: Bool) throws -> (ControlPlane, SnapshotStore, URL) {
        let state = try Scratch.directory("state")
        let store = SnapshotStore()
        let controlPlane = ControlPlane(
            store: store, compiler: TemplateCompiler(templates: templates), policy: SafeguardPolicy(),
            lastKnownGood: lastKnownGood ? LastKnownGood(directory: state.path) : nil, logger: Logs.logger("bench.controlplane"))
        return (controlPlane, store, state)
    }

    /// Applies `changes` catalogs, each flipping the health of one instance of a different
    /// service, and checks that exactly the expected snapshots changed.
    private func recompile(_ controlPlane: ControlPlane, from catalog: Catalog) throws -> ([Duration], String) {
        var current = catalog
        var timings: [Duration] = []
        var counts: Set<Int> = []
        for change in 0..<changes {
            let index = (change * 97 + 13) % fleet.services
            let name = fleet.name(index)
            current.services[name]!.instances[change % fleet.instances].health =
                current.services[name]!.instances[change % fleet.instances].health == .healthy ? .unhealthy : .healthy
            let start = ContinuousClock.now
            let changed = controlPlane.apply(current)
            timings.append(.now - start)
            let expected = fleet.snapshotsShowing(index)
            guard Set(changed) == expected else {
                throw BenchFailure("a change to \(name) changed \(changed.sorted()), expected \(expected.sorted())")
            }
            counts.insert(changed.count)
        }
        let range = counts.min() == counts.max() ? "\(counts.min() ?? 0)" : "\(counts.min() ?? 0)-\(counts.max() ?? 0)"
        return (timings, range)
    }

    /// Every service got a snapshot with its clusters and endpoints.
    private func check(_ store: SnapshotStore, changed: [String], catalog: Catalog) throws {
        guard changed.count == fleet.services, store.services.count == fleet.services else {
            throw BenchFailure("full compile published \(changed.count) of \(fleet.services) services (store has \(store.services.count))")
        }
        for index in [0, 1, fleet.services - 1] {
            guard let snapshot = store.snapshot(for: fleet.name(index)) else { throw BenchFailure("no snapshot for \(fleet.name(index))") }
            let endpoints = snapshot.resources(of: .endpoint)
            let expected = fleet.callees(of: index) + (fleet.zoneAware(index) ? [fleet.name(index)] : [])
            guard Set(endpoints.keys) == Set(expected) else {
                throw BenchFailure("\(fleet.name(index)) has EDS \(endpoints.keys.sorted()), expected \(expected.sorted())")
            }
            for (name, resource) in endpoints where try EDS.endpointCount(resource) != fleet.instances {
                throw BenchFailure("\(fleet.name(index)): EDS \(name) does not have \(fleet.instances) endpoints")
            }
        }
    }
}

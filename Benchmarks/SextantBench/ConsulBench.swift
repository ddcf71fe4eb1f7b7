import Catalog
import ControlPlane
import Foundation
import Templates
import XDS

/// Scenario B: the fleet registered in the project's Consul simulator (a child process), read by a
/// real `ConsulSource` with its default configuration, feeding a real `ControlPlane` and
/// `SnapshotStore` wired as `serve` wires them (templates from files, last-known-good on disk).
struct ConsulBench {
    let fleet: Fleet
    let python: String
    let simulator: String
    let changes: Int
    let rotationChanges: Int
    let idle: Duration
    let syncBound: Duration = .seconds(180)
    let changeBound: Duration = .seconds(30)
    let rotationBound: Duration = .seconds(150)

    /// What one measured change does in the simulator.
    enum Change {
        /// The service check of instance `instance` goes critical (health → unhealthy).
        case failCheck(service: Int, instance: Int)
        /// A new instance registers, with a passing check (the check table changes too).
        case register(service: Int, port: Int)
        /// A new instance registers without any check: only the service's own index moves.
        case registerWithoutCheck(service: Int, port: Int)

        var service: Int {
            switch self {
            case .failCheck(let s, _), .register(let s, _), .registerWithoutCheck(let s, _): return s
            }
        }
    }

    struct Sample {
        var total: Duration
        var source: Duration
    }

    func run(_ report: Report) async throws {
        Memory.resetPeak()
        let sim = try await SimulatorProcess.start(python: python, script: simulator)
        defer { sim.stop() }
        let bulkStart = ContinuousClock.now
        try await sim.post(
            "/_sim/bulk", ["services": .int(fleet.services), "instances": .int(fleet.instances), "prefix": .string("svc")])
        let bulkTime = ContinuousClock.now - bulkStart

        let templatesDirectory = try Scratch.directory("consul-templates")
        defer { Scratch.remove(templatesDirectory) }
        try fleet.writeTemplates(in: templatesDirectory)
        let templates = try fleet.loadTemplates(from: templatesDirectory)
        let stateDirectory = try Scratch.directory("consul-state")
        defer { Scratch.remove(stateDirectory) }

        let store = SnapshotStore()
        let controlPlane = ControlPlane(
            store: store, compiler: TemplateCompiler(templates: templates), policy: SafeguardPolicy(),
            lastKnownGood: LastKnownGood(directory: stateDirectory.path), logger: Logs.logger("bench.controlplane"))
        let configuration = ConsulConfiguration(url: sim.url)
        let source = ConsulSource(configuration: configuration, logger: Logs.logger("bench.consul"))
        let (services, instances) = (fleet.services, fleet.instances)
        let tap = CatalogTap { catalog in
            catalog.services.count == services && catalog.services.values.allSatisfy { $0.instances.count == instances }
        }

        let syncStart = ContinuousClock.now
        let running = Task { await controlPlane.run(tap.forward(source.events())) }
        defer { running.cancel() }

        // 1. Initial sync: every service read, compiled and published with all its endpoints.
        let published = try await waitForSync(store, controlPlane, tap)
        let caughtUp = tap.completeAt ?? published
        report.add(
            Row(
                "consul: initial sync → all \(Format.count(fleet.services)) published", [published - syncStart],
                note: "complete catalog after \(Format.duration(caughtUp - syncStart)); "
                    + "\(Format.count(source.statistics.requests)) reads; bulk register took \(Format.duration(bulkTime))"))
        let syncStats = try await sim.stats()
        let peakAtSync = Memory.peakKilobytes()
        try await Task.sleep(for: .seconds(1))

        // 2. One change at a time, until the caller's snapshot shows it.
        try await sim.resetStats()
        var failed: [Sample] = []
        for i in 0..<changes {
            let service = (i * 101 + 7) % fleet.services
            failed += try await measure([.failCheck(service: service, instance: i % fleet.instances)], sim, store, tap, changeBound)
        }
        report.add(latencyRow("consul: check fails → EDS published", failed, "health/state feed promotes the service"))
        var registered: [Sample] = []
        for i in 0..<changes {
            let service = (i * 101 + 53) % fleet.services
            registered += try await measure([.register(service: service, port: 31_000 + i)], sim, store, tap, changeBound)
        }
        report.add(latencyRow("consul: instance registers → EDS published", registered, "with a passing check"))

        // Changes the check feed cannot see wait for the service's turn in the slot rotation;
        // measured several at once (independent services), each from its own change.
        let rotation = (0..<rotationChanges).map { i in
            Change.registerWithoutCheck(service: (i * 101 + 77) % fleet.services, port: 32_000 + i)
        }
        let unseen = try await measure(rotation, sim, store, tap, rotationBound)
        let slots = configuration.maxConcurrentQueries - 2
        let turn = Double(fleet.services) / Double(slots) * Format.seconds(configuration.rotationWait)
        report.add(
            latencyRow(
                "consul: instance registers, no check → EDS", unseen,
                String(format: "slot rotation only: %d svc over %d slots × %.0f s wait ≈ %.0f s a turn", fleet.services, slots,
                    Format.seconds(configuration.rotationWait), turn)))
        let changeStats = try await sim.stats()
        let peakAfterChanges = Memory.peakKilobytes()

        // 3. At rest: what Sextant asks of Consul when nothing changes.
        try await Task.sleep(for: .seconds(2))
        try await sim.resetStats()
        let requestsBefore = source.statistics.requests
        let cpuBefore = CPU.used()
        let idleStart = ContinuousClock.now
        try await Task.sleep(for: idle)
        let idleStats = try await sim.stats()
        let waves = Waves(try await sim.readTimes()["health-service"] ?? [], window: 0.25)
        let elapsed = Format.seconds(ContinuousClock.now - idleStart)
        let cpu = Format.seconds(CPU.used() - cpuBefore) / elapsed * 100
        let counted = source.statistics.requests - requestsBefore
        let byEndpoint = SimulatorStats.readEndpoints.map { "\($0) \(idleStats.requests[$0] ?? 0)" }.joined(separator: ", ")
        report.add(
            Row(
                "consul: requests/s at rest", value: String(format: "%.1f/s", Double(idleStats.reads) / elapsed),
                note: String(format: "%.0f s idle: ", elapsed) + byEndpoint
                    + String(format: "; Sextant counted %d; Sextant CPU %.1f%% of a core", counted, cpu)))
        report.add(
            Row(
                "consul: reads per 250 ms at rest", value: String(format: "%.1f", waves.median), n: waves.windows,
                max: String(waves.busiest),
                note: String(
                    format: "health-service reads; an even spread would be %.1f a window; %.0f%% of windows have none",
                    waves.mean, waves.emptyShare * 100)))

        let maxConnections = max(syncStats.maxConnections, changeStats.maxConnections, idleStats.maxConnections)
        let refused = syncStats.refused + changeStats.refused + idleStats.refused
        report.add(
            Row(
                "consul: max concurrent connections", value: String(maxConnections),
                note: "simulator's max_connections; Consul's limit is 200 per client; refused \(refused); "
                    + "maxConcurrentQueries \(configuration.maxConcurrentQueries)"))
        if let peak = Memory.peakKilobytes(), let atSync = peakAtSync, let afterChanges = peakAfterChanges,
            let now = Memory.currentKilobytes()
        {
            report.add(
                Row(
                    "consul: peak RSS", value: Format.megabytes(peak),
                    note: "VmHWM of the bench process: \(Format.megabytes(atSync)) after sync, \(Format.megabytes(afterChanges)) "
                        + "after the changes; RSS at the end \(Format.megabytes(now))"))
        }
        let errors = source.statistics.errors
        if !errors.isEmpty {
            FileHandle.standardError.write(Data("bench: ConsulSource errors during the run: \(errors)\n".utf8))
        }

        running.cancel()
        await running.value
    }

    // MARK: steps

    private func waitForSync(_ store: SnapshotStore, _ controlPlane: ControlPlane, _ tap: CatalogTap) async throws -> ContinuousClock.Instant {
        let deadline = ContinuousClock.now + syncBound
        var lastVerified = ContinuousClock.now - .seconds(10)
        while ContinuousClock.now < deadline {
            let now = ContinuousClock.now
            if tap.completeAt != nil, controlPlane.status.services == fleet.services, store.services.count == fleet.services,
                now - lastVerified >= .milliseconds(500)
            {
                lastVerified = now
                if try verify(store) { return now }
            }
            try await Task.sleep(for: .milliseconds(20))
        }
        let catalog = tap.latest
        throw BenchFailure(
            "initial sync did not converge within \(syncBound): catalog has \(catalog?.services.count ?? 0) services, "
                + "store \(store.services.count) snapshots, control plane serves \(controlPlane.status.services)")
    }

    /// Every snapshot has its callees' assignments with every instance.
    private func verify(_ store: SnapshotStore) throws -> Bool {
        for index in 0..<fleet.services {
            guard let snapshot = store.snapshot(for: fleet.name(index)) else { return false }
            for callee in fleet.callees(of: index) {
                guard let resource = snapshot.resources(of: .endpoint)[callee] else { return false }
                if try EDS.endpointCount(resource) != fleet.instances { return false }
            }
        }
        return true
    }

    /// Makes `changes` (one after the other, each timed from just before its request) and waits
    /// until each one's service shows a new EDS version in its caller's snapshot.
    private func measure(
        _ changes: [Change], _ sim: SimulatorProcess, _ store: SnapshotStore, _ tap: CatalogTap, _ bound: Duration
    ) async throws -> [Sample] {
        var probes: [(PublishProbe, Int, ContinuousClock.Instant)] = []
        defer { for (probe, _, _) in probes { probe.cancel() } }
        for change in changes {
            let name = fleet.name(change.service)
            let probe = PublishProbe(store: store, service: fleet.watcher(of: change.service), assignment: name)
            let expectation = tap.expectChange(of: name)
            let start = ContinuousClock.now
            switch change {
            case .failCheck(let service, let instance):
                try await sim.post(
                    "/_sim/check",
                    ["service_id": .string("\(fleet.name(service))-\(instance)"), "node": .string("node-\(instance)"),
                     "status": .string("critical")])
            case .register(let service, let port):
                try await sim.post(
                    "/_sim/register",
                    ["service": .string(fleet.name(service)), "port": .int(port), "node": .string("node-\(port % fleet.instances)")])
            case .registerWithoutCheck(let service, let port):
                try await sim.post(
                    "/_sim/register",
                    ["service": .string(fleet.name(service)), "port": .int(port), "node": .string("node-\(port % fleet.instances)"),
                     "status": .null])
            }
            probes.append((probe, expectation, start))
        }
        let deadline = ContinuousClock.now + bound
        while probes.contains(where: { $0.0.publishedAt == nil }) {
            guard ContinuousClock.now < deadline else {
                let missing = zip(changes, probes).filter { $0.1.0.publishedAt == nil }.map { fleet.name($0.0.service) }
                throw BenchFailure("changes to \(missing) did not reach the SnapshotStore within \(bound)")
            }
            try await Task.sleep(for: .milliseconds(5))
        }
        var samples: [Sample] = []
        for (probe, expectation, start) in probes {
            let published = probe.publishedAt!
            let arrived = tap.arrival(expectation) ?? published
            samples.append(Sample(total: published - start, source: arrived - start))
        }
        try await Task.sleep(for: .milliseconds(300))  // let the debounce window and any follow-up settle
        return samples
    }

    /// How evenly reads arrive: counts per window from the first read to the last.
    struct Waves {
        var windows = 0
        var median = 0.0
        var mean = 0.0
        var busiest = 0
        var emptyShare = 0.0

        init(_ times: [Double], window: Double) {
            guard let first = times.min(), let last = times.max(), last > first else { return }
            var counts = [Int](repeating: 0, count: Int((last - first) / window) + 1)
            for t in times { counts[Int((t - first) / window)] += 1 }
            windows = counts.count
            median = Stats.median(counts.map(Double.init))
            mean = Double(times.count) / Double(counts.count)
            busiest = counts.max() ?? 0
            emptyShare = Double(counts.filter { $0 == 0 }.count) / Double(counts.count)
        }
    }

    private func latencyRow(_ name: String, _ samples: [Sample], _ note: String) -> Row {
        let source = samples.map(\.source).sorted()
        let apply = samples.map { $0.total - $0.source }.sorted()
        let split =
            source.isEmpty
            ? "" : "; source p50 \(Format.duration(Stats.median(source))), apply+publish p50 \(Format.duration(Stats.median(apply)))"
        return Row(name, samples.map(\.total), note: note + split)
    }
}


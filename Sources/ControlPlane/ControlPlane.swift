import Catalog
import Logging
import Synchronization
import Templates
import XDS

/// Turns one catalog into every service's resources. Pure: no I/O (the Templates compiler).
public protocol ServiceCompiler: Sendable {
    /// The services to compile for a catalog (every templated service, every catalog service).
    func services(in catalog: Catalog) -> Set<String>
    /// Every catalog service whose entry the compile of `service` reads. While those entries
    /// are unchanged, the service's snapshot is reused: a change to one service recompiles
    /// only the services that depend on it.
    func inputs(of service: String) -> Set<String>
    func compile(service: String, catalog: Catalog) throws -> CompiledService
    /// What, besides its catalog inputs, a service's compile reads (its template and defaults):
    /// when it changes the service is recompiled. The default is constant.
    func configuration(of service: String) -> AnyHashable
    /// A service that must get no snapshot at all (not even a default one). The default is none.
    func withholds(_ service: String) -> Bool
}

extension ServiceCompiler {
    public func configuration(of service: String) -> AnyHashable { AnyHashable(0) }
    public func withholds(_ service: String) -> Bool { false }
}

/// Wires the catalog source to the snapshot store: safeguards, compile, encode once, check,
/// publish, and keep the accepted catalog on disk.
///
/// Nothing is published before the first catalog (streams wait rather than receive empty
/// sets); with a last-known-good state it is published at once on start. A service whose
/// compile fails keeps its last good snapshot while the others move on (invariant 7). A source
/// failure changes nothing: the last good catalog stays in place.
public final class ControlPlane: Sendable {
    /// What an operator sees: holds, freeze, readiness.
    public struct Status: Sendable {
        public let holds: [Hold]
        public let freeze: Freeze?
        public let ready: Bool
        public let synced: Bool
        public let services: Int
    }

    struct State {
        var compiler: any ServiceCompiler
        var candidate: Catalog?
        var served: Catalog?
        var safeguards: Safeguards
        var builder = SnapshotBuilder()
        var requested: Set<String> = []
        var synced = false
        /// Per service: the catalog entries and configuration its last compile read, and the
        /// snapshot it made.
        var compiled: [String: (inputs: [String: CatalogService], configuration: AnyHashable, snapshot: Snapshot)] = [:]
        /// With live templates (`updateTemplates`): the guard and what it last refused.
        var templates: TemplatesState?
    }

    let store: SnapshotStore
    private let lastKnownGood: LastKnownGood?
    private let stateWriter: StateWriter?
    let logger: Logger
    let state: Mutex<State>
    let templateLastGood: TemplateLastGood?

    public init(
        store: SnapshotStore, compiler: any ServiceCompiler, policy: SafeguardPolicy = SafeguardPolicy(),
        lastKnownGood: LastKnownGood? = nil, templateLastGood: TemplateLastGood? = nil, logger: Logger
    ) {
        self.store = store
        self.templateLastGood = templateLastGood
        self.lastKnownGood = lastKnownGood
        self.stateWriter = lastKnownGood.map { StateWriter(state: $0, logger: logger) }
        self.logger = logger
        self.state = Mutex(State(compiler: compiler, safeguards: Safeguards(policy: policy)))
        store.onServiceRequested { [weak self] service in
            // Called on an event-loop thread: compile elsewhere.
            Task { self?.serviceRequested(service) }
        }
    }

    /// Serves the last-known-good catalog from disk at once, if there is a sound one; it is the
    /// baseline the first catalog from the source is guarded against.
    @discardableResult
    public func restoreLastKnownGood() -> Bool {
        guard let lastKnownGood else { return false }
        let catalog: Catalog
        do {
            guard let stored = try lastKnownGood.load() else { return false }
            catalog = stored
        } catch {
            logger.error("last-known-good state ignored", metadata: ["error": "\(error)"])
            return false
        }
        let snapshots = state.withLock { s -> [Snapshot] in
            s.safeguards = Safeguards(policy: s.safeguards.policy, lastKnownGood: catalog)
            s.served = catalog
            return compileAll(catalog, &s)
        }
        store.publish(snapshots)
        logger.notice("serving last-known-good state", metadata: ["path": "\(lastKnownGood.path)", "services": "\(catalog.services.count)"])
        return true
    }

    /// Consumes catalog events until the stream ends or the task is cancelled; meanwhile
    /// confirms held changes whose confirmation period has passed.
    public func run(_ events: AsyncStream<CatalogEvent>) async {
        await withTaskGroup(of: Void.self) { group in
            group.addTask { [self] in
                while !Task.isCancelled {
                    try? await Task.sleep(for: .milliseconds(250))
                    tick(now: .now)
                }
            }
            for await event in events {
                switch event {
                case .updated(let catalog):
                    apply(catalog)
                case .failed(let errors):
                    logger.error("catalog source failed; keeping the last good catalog", metadata: ["errors": "\(errors)"])
                }
            }
            group.cancelAll()
        }
    }

    /// Guards, compiles and publishes `candidate`. Returns the services whose snapshot changed.
    @discardableResult
    public func apply(_ candidate: Catalog, now: ContinuousClock.Instant = .now) -> [String] {
        let start = ContinuousClock.now
        let snapshots = state.withLock { s -> [Snapshot]? in
            s.candidate = candidate
            s.synced = true
            return evaluate(&s, now: now)
        }
        guard let snapshots else { return [] }
        let changed = store.publish(snapshots)
        logger.info(
            "catalog applied",
            metadata: [
                "services": "\(snapshots.count)", "changed": "\(changed.count)",
                "duration": "\(ContinuousClock.now - start)",
            ])
        return changed
    }

    /// Re-evaluates the last candidate when a hold's confirmation period is due.
    public func tick(now: ContinuousClock.Instant) {
        let snapshots = state.withLock { s -> [Snapshot]? in
            guard let deadline = s.safeguards.nextDeadline, deadline <= now else { return nil }
            return evaluate(&s, now: now)
        }
        if let snapshots { store.publish(snapshots) }
    }

    /// An operator accepts the held change of one service.
    public func release(service: String) {
        let snapshots = state.withLock { s -> [Snapshot]? in
            s.safeguards.release(service: service)
            return evaluate(&s, now: .now)
        }
        logger.notice("operator released a hold", metadata: ["service": "\(service)"])
        if let snapshots { store.publish(snapshots) }
    }

    /// An operator accepts every held change and lifts a freeze.
    public func releaseAll() {
        let snapshots = state.withLock { s -> [Snapshot]? in
            s.safeguards.releaseEverything()
            return evaluate(&s, now: .now)
        }
        logger.notice("operator released every hold")
        if let snapshots { store.publish(snapshots) }
    }

    /// Returns once the newest accepted catalog and templates are on disk (on shutdown; writes are
    /// asynchronous).
    public func flushLastKnownGood() {
        stateWriter?.flush()
        templateLastGood?.flush()
    }

    public var status: Status {
        state.withLock { s in
            Status(
                holds: s.safeguards.holds.values.sorted { $0.service < $1.service }, freeze: s.safeguards.freeze,
                ready: s.served != nil, synced: s.synced, services: s.served?.services.count ?? 0)
        }
    }

    /// A node asked for a service with no snapshot: compile it against the served catalog.
    func serviceRequested(_ service: String) {
        let snapshot = state.withLock { s -> Snapshot? in
            s.requested.insert(service)
            guard let catalog = s.served, !s.compiler.withholds(service) else { return nil }
            return build(service, catalog, &s)
        }
        if let snapshot { store.publish([snapshot]) }
    }

    // MARK: - Under the lock

    /// Runs the safeguards on the candidate; when the served catalog changes, compiles every
    /// service and saves the new catalog as last-known-good. Returns nil when nothing changed.
    private func evaluate(_ s: inout State, now: ContinuousClock.Instant) -> [Snapshot]? {
        guard let candidate = s.candidate else { return nil }
        let holdsBefore = s.safeguards.holds
        let frozenBefore = s.safeguards.freeze != nil
        let served = s.safeguards.evaluate(candidate, now: now)
        report(holdsBefore, s.safeguards.holds, frozenBefore, s.safeguards.freeze)
        if served == s.served { return [] }
        s.served = served
        stateWriter?.submit(served)
        return compileAll(served, &s)
    }

    /// Compiles every service whose inputs changed; reuses the snapshot of every other one.
    func compileAll(_ catalog: Catalog, _ s: inout State) -> [Snapshot] {
        judgeTemplatesIfPending(catalog, &s)
        let compiler = s.compiler
        let services = compiler.services(in: catalog).union(s.requested).union(store.watchedServices)
            .filter { !compiler.withholds($0) }
        var snapshots: [Snapshot] = []
        for service in services.sorted() {
            let inputs = compiler.inputs(of: service).reduce(into: [String: CatalogService]()) { entries, name in
                entries[name] = catalog.services[name]
            }
            let configuration = compiler.configuration(of: service)
            if let cached = s.compiled[service], cached.inputs == inputs, cached.configuration == configuration {
                snapshots.append(cached.snapshot)
            } else if let snapshot = build(service, catalog, &s) {
                s.compiled[service] = (inputs, configuration, snapshot)
                snapshots.append(snapshot)
            }
        }
        s.compiled = s.compiled.filter { services.contains($0.key) }
        s.builder.sweepIfGrown { snapshots + services.compactMap { store.snapshot(for: $0) } }
        return snapshots
    }

    private func build(_ service: String, _ catalog: Catalog, _ s: inout State) -> Snapshot? {
        do {
            return try s.builder.build(service: service, s.compiler.compile(service: service, catalog: catalog))
        } catch {
            logger.error(
                "compile failed; the service keeps its last good snapshot",
                metadata: ["service": "\(service)", "error": "\(error)"])
            return nil
        }
    }

    private func report(_ before: [String: Hold], _ after: [String: Hold], _ frozenBefore: Bool, _ freeze: Freeze?) {
        for (name, hold) in after where before[name]?.kind != hold.kind {
            logger.warning(
                "safeguard hold", metadata: ["service": "\(name)", "kind": "\(hold.kind)", "reason": "\(hold.reason)"])
        }
        for name in before.keys where after[name] == nil {
            logger.notice("safeguard hold ended", metadata: ["service": "\(name)"])
        }
        if let freeze, !frozenBefore {
            logger.critical("catalog frozen at last-known-good: the source looks broken", metadata: ["reason": "\(freeze.reason)"])
        } else if freeze == nil && frozenBefore {
            logger.notice("catalog freeze lifted")
        }
    }
}

import Catalog
import Logging
import Synchronization
import Templates
import XDS

/// Turns one catalog into every service's resources. Pure: no I/O (the Templates compiler).
public protocol ServiceCompiler: Sendable {
    /// The services to compile for a catalog (every templated service, every catalog service).
    func services(in catalog: Catalog) -> Set<String>
    func compile(service: String, catalog: Catalog) throws -> CompiledService
}

/// Wires the catalog source to the snapshot store: compile, encode once, check, publish.
///
/// Nothing is published before the first good catalog (streams wait rather than receive empty
/// sets). A service whose compile fails keeps its last good snapshot while the others move on
/// (invariant 7). A source failure changes nothing: the last good catalog stays in place.
public final class ControlPlane: Sendable {
    private struct State {
        var catalog: Catalog?
        var builder = SnapshotBuilder()
        var requested: Set<String> = []
    }

    private let store: SnapshotStore
    private let compiler: any ServiceCompiler
    private let logger: Logger
    private let state = Mutex(State())

    public init(store: SnapshotStore, compiler: any ServiceCompiler, logger: Logger) {
        self.store = store
        self.compiler = compiler
        self.logger = logger
        store.onServiceRequested { [weak self] service in
            // Called on an event-loop thread: compile elsewhere.
            Task { self?.serviceRequested(service) }
        }
    }

    /// Consumes catalog events until the stream ends or the task is cancelled.
    public func run(_ events: AsyncStream<CatalogEvent>) async {
        for await event in events {
            switch event {
            case .updated(let catalog):
                apply(catalog)
            case .failed(let errors):
                logger.error("catalog source failed; keeping the last good catalog", metadata: ["errors": "\(errors)"])
            }
        }
    }

    /// Compiles and publishes every service for `catalog`. Returns the services that changed.
    @discardableResult
    public func apply(_ catalog: Catalog) -> [String] {
        let start = ContinuousClock.now
        let snapshots = state.withLock { s -> [Snapshot] in
            s.catalog = catalog
            let services = compiler.services(in: catalog).union(s.requested).union(store.watchedServices)
            let built = services.sorted().compactMap { build($0, catalog, &s.builder) }
            s.builder.retainOnly(built + services.compactMap { store.snapshot(for: $0) })
            return built
        }
        let changed = store.publish(snapshots)
        logger.info(
            "catalog applied",
            metadata: [
                "services": "\(snapshots.count)", "changed": "\(changed.count)",
                "duration": "\(ContinuousClock.now - start)",
            ])
        return changed
    }

    /// A node asked for a service with no snapshot: compile it against the current catalog.
    func serviceRequested(_ service: String) {
        let snapshot = state.withLock { s -> Snapshot? in
            s.requested.insert(service)
            guard let catalog = s.catalog else { return nil }
            return build(service, catalog, &s.builder)
        }
        if let snapshot { store.publish([snapshot]) }
    }

    private func build(_ service: String, _ catalog: Catalog, _ builder: inout SnapshotBuilder) -> Snapshot? {
        do {
            return try builder.build(service: service, compiler.compile(service: service, catalog: catalog))
        } catch {
            logger.error(
                "compile failed; the service keeps its last good snapshot",
                metadata: ["service": "\(service)", "error": "\(error)"])
            return nil
        }
    }
}

import Catalog
import Synchronization
import XDS

/// Sits between `ConsulSource.events()` and `ControlPlane.run`: forwards every event unchanged
/// (same buffering as the source's own stream) and notes when catalogs arrive, so a change's
/// latency splits into source time and control-plane time.
final class CatalogTap: Sendable {
    private struct Expectation {
        let service: String
        let baseline: CatalogService?
        var arrived: ContinuousClock.Instant?
    }

    private struct State {
        var latest: Catalog?
        var complete: ContinuousClock.Instant?
        var expectations: [Int: Expectation] = [:]
        var nextID = 0
    }

    private let state = Mutex(State())
    private let isComplete: @Sendable (Catalog) -> Bool

    /// `isComplete` says when a catalog holds the whole fleet (the initial sync is over).
    init(isComplete: @escaping @Sendable (Catalog) -> Bool) { self.isComplete = isComplete }

    func forward(_ upstream: AsyncStream<CatalogEvent>) -> AsyncStream<CatalogEvent> {
        let (stream, continuation) = AsyncStream.makeStream(of: CatalogEvent.self, bufferingPolicy: .bufferingNewest(16))
        let task = Task { [self] in
            for await event in upstream {
                if case .updated(let catalog) = event { received(catalog) }
                continuation.yield(event)
            }
            continuation.finish()
        }
        continuation.onTermination = { _ in task.cancel() }
        return stream
    }

    /// When the first complete catalog arrived.
    var completeAt: ContinuousClock.Instant? { state.withLock { $0.complete } }

    var latest: Catalog? { state.withLock { $0.latest } }

    /// Starts waiting for a catalog in which `service` differs from the latest one.
    func expectChange(of service: String) -> Int {
        state.withLock { s in
            s.nextID += 1
            s.expectations[s.nextID] = Expectation(service: service, baseline: s.latest?.services[service])
            return s.nextID
        }
    }

    /// When the expected change arrived (nil: not yet). Forgets the expectation once it arrived.
    func arrival(_ id: Int) -> ContinuousClock.Instant? {
        state.withLock { s in
            guard let arrived = s.expectations[id]?.arrived else { return nil }
            s.expectations[id] = nil
            return arrived
        }
    }

    private func received(_ catalog: Catalog) {
        let now = ContinuousClock.now
        let complete = isComplete(catalog)
        state.withLock { s in
            s.latest = catalog
            if complete && s.complete == nil { s.complete = now }
            for (id, expectation) in s.expectations where expectation.arrived == nil {
                if catalog.services[expectation.service] != expectation.baseline { s.expectations[id]?.arrived = now }
            }
        }
    }
}

/// Watches one service's snapshot in the store (as an ADS stream does) and notes when the
/// version of one of its EDS assignments changes.
final class PublishProbe: Sendable {
    private final class Mark: Sendable {
        let instant = Mutex<ContinuousClock.Instant?>(nil)
    }

    private let store: SnapshotStore
    private let service: String
    private let id: UInt64
    private let mark = Mark()

    init(store: SnapshotStore, service: String, assignment: String) {
        self.store = store
        self.service = service
        let baseline = EDS.version(store, service: service, assignment: assignment)
        let mark = self.mark
        id = store.watch(service: service) { snapshot in
            guard snapshot.resources(of: .endpoint)[assignment]?.version != baseline else { return }
            let now = ContinuousClock.now
            mark.instant.withLock { if $0 == nil { $0 = now } }
        }.id
    }

    var publishedAt: ContinuousClock.Instant? { mark.instant.withLock { $0 } }

    func cancel() { store.cancelWatch(service: service, id: id) }
}

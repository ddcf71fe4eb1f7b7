import Synchronization

/// The latest accepted snapshot of every service, and the streams watching each one.
///
/// Writers (the control plane) publish whole snapshots; readers (ADS streams on event-loop
/// threads) are notified through their watcher closure, which is always called outside the
/// lock. A notification carries the snapshot itself, so a stream never reads the store twice.
public final class SnapshotStore: Sendable {
    public typealias Watcher = @Sendable (Snapshot) -> Void

    private struct State {
        var snapshots: [String: Snapshot] = [:]
        var watchers: [String: [UInt64: Watcher]] = [:]
        var nextWatcherID: UInt64 = 0
        var serviceRequested: (@Sendable (String) -> Void)?
    }

    private let state = Mutex(State())

    public init() {}

    /// Publishes snapshots (one per service; services not named keep theirs) and notifies the
    /// watchers of every service whose snapshot changed. Returns the services that changed.
    @discardableResult
    public func publish(_ snapshots: [Snapshot]) -> [String] {
        let (changed, notify) = state.withLock { s -> ([String], [(Watcher, Snapshot)]) in
            var changed: [String] = []
            var notify: [(Watcher, Snapshot)] = []
            for snapshot in snapshots {
                if s.snapshots[snapshot.service]?.version == snapshot.version { continue }
                s.snapshots[snapshot.service] = snapshot
                changed.append(snapshot.service)
                for watcher in (s.watchers[snapshot.service] ?? [:]).values { notify.append((watcher, snapshot)) }
            }
            return (changed, notify)
        }
        for (watcher, snapshot) in notify { watcher(snapshot) }
        return changed
    }

    public func snapshot(for service: String) -> Snapshot? { state.withLock { $0.snapshots[service] } }

    public var services: [String] { state.withLock { $0.snapshots.keys.sorted() } }

    /// The services some stream is watching (compiled even when no template names them).
    public var watchedServices: Set<String> {
        state.withLock { Set($0.watchers.filter { !$0.value.isEmpty }.keys) }
    }

    /// Called (outside the lock) when a stream watches a service that has no snapshot yet.
    public func onServiceRequested(_ handler: @escaping @Sendable (String) -> Void) {
        state.withLock { $0.serviceRequested = handler }
    }

    /// Starts watching `service`. Returns the watch id and the current snapshot, if any.
    public func watch(service: String, _ watcher: @escaping Watcher) -> (id: UInt64, current: Snapshot?) {
        let (id, current, requested) = state.withLock { s -> (UInt64, Snapshot?, (@Sendable (String) -> Void)?) in
            s.nextWatcherID += 1
            s.watchers[service, default: [:]][s.nextWatcherID] = watcher
            let current = s.snapshots[service]
            return (s.nextWatcherID, current, current == nil ? s.serviceRequested : nil)
        }
        requested?(service)
        return (id, current)
    }

    public func cancelWatch(service: String, id: UInt64) {
        state.withLock { s in
            s.watchers[service]?[id] = nil
            if s.watchers[service]?.isEmpty == true { s.watchers[service] = nil }
        }
    }

    public var watcherCount: Int { state.withLock { $0.watchers.values.reduce(0) { $0 + $1.count } } }
}

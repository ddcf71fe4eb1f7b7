import Synchronization

/// Every rejected version a client reported: node, type, version and the client's error
/// (invariant 5). Bounded: the newest `capacity` entries are kept; counters are never lost.
public final class NackLog: Sendable {
    public struct Entry: Sendable, Equatable {
        public let nodeID: String
        public let service: String
        public let record: NackRecord
        public let at: ContinuousClock.Instant
    }

    private struct State {
        var entries: [Entry] = []
        var countsByType: [ResourceType: Int] = [:]
    }

    private let state = Mutex(State())
    private let capacity: Int

    public init(capacity: Int = 1_000) { self.capacity = capacity }

    public func record(nodeID: String, service: String, _ record: NackRecord) {
        state.withLock { s in
            s.entries.append(Entry(nodeID: nodeID, service: service, record: record, at: .now))
            if s.entries.count > capacity { s.entries.removeFirst(s.entries.count - capacity) }
            s.countsByType[record.type, default: 0] += 1
        }
    }

    public var entries: [Entry] { state.withLock { $0.entries } }
    public func count(_ type: ResourceType) -> Int { state.withLock { $0.countsByType[type] ?? 0 } }
    public var total: Int { state.withLock { $0.countsByType.values.reduce(0, +) } }
}

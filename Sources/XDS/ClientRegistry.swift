import Glibc
import Synchronization

/// Every connected xDS stream and, per resource type, what it was sent, what it accepted and
/// what it rejected: the data behind `/debug/clients`, `/debug/config_dump?node=` and CSDS.
///
/// Updated by each stream's handler on open, send, ACK, NACK and close; read by the admin API
/// and CSDS from other threads. The held resources are the stream's own copy-on-write
/// dictionaries (shared with its state machine, never copied here), so an update is a few
/// stores under one short lock, whatever the number of streams.
public final class ClientRegistry: Sendable {
    /// How a stream speaks: SotW or delta, over ADS or one per-type service.
    public struct Transport: Sendable, Equatable, CustomStringConvertible {
        public let delta: Bool
        /// nil on ADS; the one type a per-type service (`StreamClusters`, ...) serves.
        public let only: ResourceType?

        public init(delta: Bool, only: ResourceType?) {
            self.delta = delta
            self.only = only
        }

        /// "ads-sotw", "ads-delta", "cds-sotw", "eds-delta", ...
        public var description: String { "\(only.map { "\($0)" } ?? "ads")-\(delta ? "delta" : "sotw")" }
    }

    /// The last response a client rejected, with the client's own error text.
    public struct Nack: Sendable, Equatable {
        public let versionInfo: String
        public let nonce: String
        public let errorCode: Int32
        public let errorMessage: String
        public let resourceNames: [String]
        public let at: WallTime
        let sequence: UInt64
    }

    /// One resource type on one stream.
    public struct TypeStatus: Sendable, Equatable {
        /// The latest response sent, and its nonce while it awaits an ACK or NACK.
        public internal(set) var versionSent: String?
        public internal(set) var pendingNonce: String?
        public internal(set) var pendingSince: WallTime?
        /// The `version_info` (SotW) or `system_version_info` (delta) of the last accepted response.
        public internal(set) var versionAcked: String?
        public internal(set) var ackedAt: WallTime?
        public internal(set) var lastNack: Nack?
        /// What the client holds after its last ACK.
        public internal(set) var held: [String: EncodedResource] = [:]
        /// For each held resource, the version a client reports for it in its own config dump:
        /// delta's per-resource version, or the SotW `version_info` of the response that last
        /// changed it.
        public internal(set) var heldVersions: [String: String] = [:]
        var pendingResources: [EncodedResource] = []
        var ackSequence: UInt64 = 0

        public init() {}

        /// NACKED while the last verdict was a rejection; else STALE while a response awaits an
        /// answer; SYNCED once something was accepted; NOT_SENT before.
        public var state: SyncState {
            if let nack = lastNack, nack.sequence > ackSequence { return .nacked }
            if pendingNonce != nil { return .stale }
            return versionAcked == nil ? .notSent : .synced
        }

        /// Seconds the pending response has waited, 0 when none is pending.
        public func pendingSeconds(now: WallTime) -> Double {
            guard pendingNonce != nil, let since = pendingSince else { return 0 }
            return max(0, now.seconds - since.seconds)
        }
    }

    public enum SyncState: String, Sendable, Equatable, CaseIterable {
        case synced = "SYNCED", stale = "STALE", nacked = "NACKED", notSent = "NOT_SENT"
    }

    /// One connected stream.
    public struct Client: Sendable, Equatable {
        public let streamID: UInt64
        public let nodeID: String
        public let service: String
        public let zone: String
        public let transport: Transport
        public let peer: String
        public let connectedAt: WallTime
        public internal(set) var types: [ResourceType: TypeStatus]

        public func status(_ type: ResourceType) -> TypeStatus { types[type] ?? TypeStatus() }
        /// The types this stream can carry (all four on ADS).
        public var servedTypes: [ResourceType] { transport.only.map { [$0] } ?? ResourceType.allCases }
        public var nacked: Bool { types.values.contains { $0.state == .nacked } }
        /// The longest a response has waited for an answer on this stream.
        public func pendingSeconds(now: WallTime) -> Double {
            types.values.map { $0.pendingSeconds(now: now) }.max() ?? 0
        }
    }

    private struct State {
        var clients: [UInt64: Client] = [:]
        var sequence: UInt64 = 0
    }

    private let state = Mutex(State())

    public init() {}

    // MARK: Updates (from stream handlers)

    public func open(
        streamID: UInt64, nodeID: String, service: String, zone: String, transport: Transport, peer: String,
        at now: WallTime = .now
    ) {
        let client = Client(
            streamID: streamID, nodeID: nodeID, service: service, zone: zone, transport: transport, peer: peer,
            connectedAt: now, types: [:])
        state.withLock { $0.clients[streamID] = client }
    }

    public func sent(streamID: UInt64, _ response: XDSResponse, at now: WallTime = .now) {
        state.withLock { s in
            guard s.clients[streamID] != nil else { return }
            var status = s.clients[streamID]!.types[response.type] ?? TypeStatus()
            status.versionSent = response.versionInfo
            status.pendingNonce = response.nonce
            status.pendingSince = now
            status.pendingResources = response.resources
            s.clients[streamID]!.types[response.type] = status
        }
    }

    /// The client accepted the pending response of `type`; `held` is what it holds now.
    public func acked(streamID: UInt64, type: ResourceType, held: [String: EncodedResource], at now: WallTime = .now) {
        state.withLock { s in
            guard var status = s.clients[streamID]?.types[type], let version = status.versionSent,
                status.pendingNonce != nil
            else { return }
            s.sequence += 1
            let delta = s.clients[streamID]!.transport.delta
            // Envoy keeps a resource's version when a SotW CDS/LDS response repeats it unchanged.
            let keepUnchanged = !delta && type.allowsWildcard
            var versions = status.heldVersions.filter { held[$0.key] != nil }
            for resource in status.pendingResources {
                if delta {
                    versions[resource.name] = resource.version
                } else if !keepUnchanged || status.held[resource.name]?.version != resource.version
                    || versions[resource.name] == nil
                {
                    versions[resource.name] = version
                }
            }
            status.versionAcked = version
            status.ackedAt = now
            status.ackSequence = s.sequence
            status.pendingNonce = nil
            status.pendingSince = nil
            status.pendingResources = []
            status.held = held
            status.heldVersions = versions
            s.clients[streamID]!.types[type] = status
        }
    }

    public func nacked(streamID: UInt64, _ record: NackRecord, at now: WallTime = .now) {
        state.withLock { s in
            guard var status = s.clients[streamID]?.types[record.type] else { return }
            s.sequence += 1
            status.lastNack = Nack(
                versionInfo: record.versionInfo, nonce: record.nonce, errorCode: record.errorCode,
                errorMessage: record.errorMessage, resourceNames: record.resourceNames, at: now, sequence: s.sequence)
            if status.pendingNonce == record.nonce {
                status.pendingNonce = nil
                status.pendingSince = nil
                status.pendingResources = []
            }
            s.clients[streamID]!.types[record.type] = status
        }
    }

    public func close(streamID: UInt64) {
        state.withLock { _ = $0.clients.removeValue(forKey: streamID) }
    }

    // MARK: Reads

    /// Every connected stream, by node id then stream id.
    public var clients: [Client] {
        state.withLock { Array($0.clients.values) }.sorted { ($0.nodeID, $0.streamID) < ($1.nodeID, $1.streamID) }
    }

    public func clients(node: String) -> [Client] {
        state.withLock { $0.clients.values.filter { $0.nodeID == node } }.sorted { $0.streamID < $1.streamID }
    }

    public var count: Int { state.withLock { $0.clients.count } }
}

/// Wall-clock time as seconds since the Unix epoch (what admin output and CSDS timestamps need;
/// durations between two of them are good enough for "pending for N seconds").
public struct WallTime: Sendable, Equatable, Comparable {
    public let seconds: Double

    public init(seconds: Double) { self.seconds = seconds }

    public static var now: WallTime {
        var spec = timespec()
        clock_gettime(CLOCK_REALTIME, &spec)
        return WallTime(seconds: Double(spec.tv_sec) + Double(spec.tv_nsec) / 1e9)
    }

    public static func < (lhs: Self, rhs: Self) -> Bool { lhs.seconds < rhs.seconds }
}

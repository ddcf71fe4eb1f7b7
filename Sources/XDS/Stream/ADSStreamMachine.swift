/// The protocol state of one ADS stream, for both SotW and delta: events in, actions out.
///
/// Events: `receive(request)`, `snapshotChanged(snapshot)`, `admit()`.
/// Actions: `.send(response)` (the caller encodes and writes it) and `.nack(record)`.
///
/// Per resource type the machine tracks what the client subscribed to (wildcard and names),
/// what the client holds (`acked`), the response in flight and the latest nonce. Rules:
/// - Make before break, ACK-gated: at most one response is in flight per stream, and work is
///   taken in `Stage.order` — clusters added/changed, their endpoints, listeners, routes, then
///   route, cluster and endpoint removals. A type the client never asked for is skipped. One
///   exception: while clusters await their ACK, endpoints the client asks for are sent (a
///   running Envoy ACKs new clusters only once their endpoints have warmed them).
/// - A name that exists nowhere is not sent (SotW) or is reported in `removed_resources` once
///   (delta). A SotW type with no names and no wildcard is not answered: the client has no
///   watch for it and would never ACK.
/// - SotW requests whose nonce is not the latest sent for that type are stale and ignored.
/// - A name newly requested is always answered, even at an unchanged version; a SotW request
///   with no nonce gets the type's whole state.
/// - After a cluster is accepted, its endpoints are sent again (Envoy re-warms the cluster).
/// - A NACKed resource version is parked: it is not sent again until its content changes.
/// - A SotW client that reconnects with the version of exactly the clusters or listeners it
///   would be sent is not sent them again (delta clients say what they hold with
///   `initial_resource_versions`).
struct ADSStreamMachine {
    enum Mode: Sendable { case stateOfTheWorld, delta }

    struct Stage: Equatable {
        let type: ResourceType
        let upsert: Bool
        let remove: Bool
        static let order: [Stage] = [
            Stage(type: .cluster, upsert: true, remove: false),
            Stage(type: .endpoint, upsert: true, remove: false),
            Stage(type: .listener, upsert: true, remove: true),
            Stage(type: .route, upsert: true, remove: false),
            Stage(type: .route, upsert: false, remove: true),
            Stage(type: .cluster, upsert: false, remove: true),
            Stage(type: .endpoint, upsert: false, remove: true),
        ]
        /// The one stage taken while clusters await their ACK.
        static let warmingEndpoints = Stage(type: .endpoint, upsert: true, remove: false)
    }

    struct InFlight {
        let response: XDSResponse
        /// What the client holds once it accepts the response.
        let after: [String: EncodedResource]
        let afterVersions: [String: String]
        /// Clusters only: endpoint names sent while this response awaited its ACK.
        var endpointsSentMeanwhile: Set<String> = []
    }

    struct TypeState {
        var requested = false
        var wildcard = false
        /// The client has named resources (or "*"): an empty list no longer means wildcard.
        var explicitlySubscribed = false
        var names: Set<String> = []
        /// What the client holds: versions (delta clients may announce versions without bytes)...
        var ackedVersions: [String: String] = [:]
        /// ...and the resources we sent it, for SotW full-state responses.
        var acked: [String: EncodedResource] = [:]
        var inFlight: InFlight?
        var latestNonce = ""
        var forced: Set<String> = []
        var forceFull = false
        /// name → version the client rejected.
        var parked: [String: String] = [:]
        /// Whole-response versions the client rejected (catches removal-only rejections).
        var parkedResponses: [String] = []
        /// Delta: subscribed names that exist nowhere, already sent in `removed_resources`.
        var reportedAbsent: Set<String> = []
        /// SotW: the `version_info` a client brought to this stream (a reconnect, perhaps to
        /// another replica). Versions are content hashes, so when the state it would be sent has
        /// that version, the client holds it already and nothing is re-sent.
        var claimedVersion: String?
    }

    let mode: Mode
    private(set) var snapshot: Snapshot?
    private(set) var admitted = false
    var types: [ResourceType: TypeState] = [:]  // internal for the +Requests/+Planning extensions
    var nonceCounter: UInt64 = 0
    /// Who the stream serves, set from the first request's node before any snapshot arrives:
    /// every snapshot is taken as `Snapshot.served(to: client)` (Envoy gets no API listeners).
    var client: XDSClientKind = .unknown

    init(mode: Mode) {
        self.mode = mode
        for type in ResourceType.allCases { types[type] = TypeState() }
    }

    // MARK: Events

    mutating func admit() -> [ADSAction] {
        admitted = true
        return pump()
    }

    mutating func snapshotChanged(_ snapshot: Snapshot) -> [ADSAction] {
        self.snapshot = snapshot.served(to: client)
        return pump()
    }

    mutating func receive(_ request: XDSRequest) -> [ADSAction] {
        var actions: [ADSAction] = []
        switch mode {
        case .stateOfTheWorld:
            guard receiveSotW(request, into: &actions) else { return [] }
        case .delta:
            receiveDelta(request, into: &actions)
        }
        return actions + pump()
    }

    // MARK: Introspection (tests, admin)

    func holds(_ type: ResourceType) -> [String: String] { types[type]!.ackedVersions }
    func subscription(_ type: ResourceType) -> (wildcard: Bool, names: Set<String>) {
        (types[type]!.wildcard, types[type]!.names)
    }
    var inFlight: XDSResponse? { types.values.lazy.compactMap(\.inFlight).first?.response }
}

import Catalog

/// Thresholds and confirmation periods for the safeguards (configurable in defaults.yaml).
public struct SafeguardPolicy: Sendable, Equatable {
    /// How long a service must stay empty or absent before its endpoints may go to zero.
    public var emptyConfirmation: Duration = .seconds(60)
    /// A single update removing more than this share of a service's instances is held...
    public var shrinkThreshold = 0.5
    /// ...until the new set has been stable this long.
    public var shrinkConfirmation: Duration = .seconds(60)
    /// More than this share of services shrinking or emptying in one update freezes everything...
    public var freezeThreshold = 0.3
    /// ...as does the service list shrinking by more than this share...
    public var serviceListShrinkThreshold = 0.3
    /// ...provided at least this many services are affected (one real deregistration is not an outage).
    public var freezeMinimumServices = 3

    public init() {}
}

/// One service's endpoints held back: why, the numbers, and since when.
public struct Hold: Sendable, Equatable {
    public enum Kind: String, Sendable { case empty, shrink }
    public let service: String
    public let kind: Kind
    /// Instances in the last accepted catalog, and in the candidate.
    public let before: Int
    public let candidate: Int
    public let threshold: Double
    /// When the hold started, and when the candidate last changed (confirmation counts from it).
    public let since: ContinuousClock.Instant
    public let stableSince: ContinuousClock.Instant
    fileprivate let signature: Set<String>

    public var reason: String {
        switch kind {
        case .empty: return "\(service) would go from \(before) instances to none"
        case .shrink:
            return "\(service) would lose \(before - candidate) of \(before) instances (threshold \(Int(threshold * 100))%)"
        }
    }
}

/// The whole catalog held at last-known-good because the source looks broken.
public struct Freeze: Sendable, Equatable {
    public let since: ContinuousClock.Instant
    public let affected: [String]
    public let servicesBefore: Int
    public let servicesInCandidate: Int
    public let reason: String
}

/// Decides what catalog to serve given the last accepted one and a candidate (invariant 6).
///
/// States per service: passing, or held (empty / shrink) with a confirmation clock that
/// restarts whenever the candidate changes. Globally: normal or frozen. Transitions:
/// - a service emptied or shrunk beyond the threshold → held; while held the removed instances
///   keep being served (additions and health changes still pass: all-critical is health, not
///   removal, so Envoy's panic threshold applies);
/// - a held candidate unchanged for its confirmation period, or released by an operator → applied;
/// - a candidate that no longer removes so much → hold dropped, candidate applied;
/// - many services affected at once, or the service list collapsing → frozen at last-known-good
///   until a candidate no longer looks broken, or an operator releases everything.
public struct Safeguards: Sendable {
    public let policy: SafeguardPolicy
    public private(set) var accepted: Catalog?
    public private(set) var holds: [String: Hold] = [:]
    public private(set) var freeze: Freeze?
    private var released: Set<String> = []
    private var releaseAll = false

    public init(policy: SafeguardPolicy = SafeguardPolicy(), lastKnownGood: Catalog? = nil) {
        self.policy = policy
        self.accepted = lastKnownGood
    }

    /// An operator accepts the held change of `service` at the next evaluation.
    public mutating func release(service: String) { released.insert(service) }

    /// An operator accepts every held change, and lifts a freeze, at the next evaluation.
    public mutating func releaseEverything() { releaseAll = true }

    /// The earliest moment a hold could be confirmed: when to evaluate again without new input.
    public var nextDeadline: ContinuousClock.Instant? {
        holds.values.map { $0.stableSince + confirmation($0.kind) }.min()
    }

    /// Returns the catalog to serve for `candidate` at `now`.
    public mutating func evaluate(_ candidate: Catalog, now: ContinuousClock.Instant) -> Catalog {
        defer { released = []; releaseAll = false }
        guard let accepted else {
            self.accepted = candidate
            return candidate
        }
        if releaseAll {
            holds = [:]
            freeze = nil
            self.accepted = candidate
            return candidate
        }
        let affected = accepted.services.values
            .filter { !$0.instances.isEmpty }
            .compactMap { service in classify(service, candidate[service: service.name]).map { (service.name, $0) } }
        if let reason = brokenSource(accepted: accepted, candidate: candidate, affected: affected.count) {
            if freeze == nil {
                freeze = Freeze(
                    since: now, affected: affected.map(\.0).sorted(), servicesBefore: accepted.services.count,
                    servicesInCandidate: candidate.services.count, reason: reason)
            }
            return accepted
        }
        freeze = nil

        var result = candidate
        var stillHeld: [String: Hold] = [:]
        for (name, kind) in affected {
            let before = accepted[service: name]!
            let proposed = candidate[service: name]?.instances ?? []
            let signature = Set(proposed.map(\.id))
            let previous = holds[name]
            let unchanged = previous?.kind == kind && previous?.signature == signature
            let stableSince = unchanged ? previous!.stableSince : now
            if released.contains(name) || (unchanged && now - stableSince >= confirmation(kind)) {
                continue  // confirmed: the candidate stands
            }
            stillHeld[name] = Hold(
                service: name, kind: kind, before: before.instances.count, candidate: proposed.count,
                threshold: kind == .shrink ? policy.shrinkThreshold : 1, since: previous?.since ?? now,
                stableSince: stableSince, signature: signature)
            result.services[name] = CatalogService(name: name, instances: Self.keepRemoved(before.instances, proposed))
        }
        holds = stillHeld
        self.accepted = result
        return result
    }

    private func confirmation(_ kind: Hold.Kind) -> Duration {
        kind == .empty ? policy.emptyConfirmation : policy.shrinkConfirmation
    }

    private func classify(_ before: CatalogService, _ candidate: CatalogService?) -> Hold.Kind? {
        guard let candidate, !candidate.instances.isEmpty else { return .empty }
        let remaining = Set(candidate.instances.map(\.id))
        let removed = before.instances.filter { !remaining.contains($0.id) }.count
        return Double(removed) / Double(before.instances.count) > policy.shrinkThreshold ? .shrink : nil
    }

    private func brokenSource(accepted: Catalog, candidate: Catalog, affected: Int) -> String? {
        let populated = accepted.services.values.filter { !$0.instances.isEmpty }.count
        if affected >= policy.freezeMinimumServices, populated > 0,
            Double(affected) / Double(populated) > policy.freezeThreshold
        {
            return "\(affected) of \(populated) services would shrink or empty at once"
        }
        let vanished = accepted.services.keys.filter { candidate.services[$0] == nil }.count
        if vanished >= policy.freezeMinimumServices,
            Double(vanished) / Double(accepted.services.count) > policy.serviceListShrinkThreshold
        {
            return "\(vanished) of \(accepted.services.count) services vanished from the service list at once"
        }
        return nil
    }

    /// The candidate's instances (new data for those that stay, new ones too), plus the removed
    /// ones as they were last accepted.
    static func keepRemoved(_ before: [Instance], _ proposed: [Instance]) -> [Instance] {
        let kept = Set(proposed.map(\.id))
        return proposed + before.filter { !kept.contains($0.id) }
    }
}

extension ADSStreamMachine {
    /// Sends the next response in make-before-break order, if nothing is in flight.
    mutating func pump() -> [ADSAction] {
        guard admitted, snapshot != nil else { return [] }
        let busy = Set(types.filter { $0.value.inFlight != nil }.keys)
        let stages: [Stage]
        if busy.isEmpty {
            stages = Stage.order
        } else if busy == [.cluster] {
            stages = [Stage.warmingEndpoints]
        } else {
            return []
        }
        let awaitingEndpointSubscription = awaitsEndpointSubscription
        for stage in stages where types[stage.type]!.requested {
            if stage.type > .endpoint && awaitingEndpointSubscription { return [] }
            guard let planned = plan(stage) else { continue }
            // Only for full-state types: a named type's version_info is that of the last response
            // the client accepted, not proof it still holds each name (a cluster re-added after a
            // restart asks again for endpoints it dropped, under the same version).
            if stage.upsert, stage.type.allowsWildcard, let claimed = types[stage.type]!.claimedVersion,
                claimed == planned.versionInfo
            {
                adoptClaimed(stage.type, planned)
                continue
            }
            nonceCounter += 1
            let response = XDSResponse(
                type: stage.type, nonce: String(nonceCounter), versionInfo: planned.versionInfo,
                resources: planned.resources, removed: planned.removed)
            var state = types[stage.type]!
            state.inFlight = InFlight(response: response, after: planned.after, afterVersions: planned.afterVersions)
            state.latestNonce = response.nonce
            state.forced.subtract(planned.resources.map(\.name))
            state.reportedAbsent.formUnion(planned.absent)
            state.claimedVersion = nil
            if stage.upsert { state.forceFull = false }
            types[stage.type] = state
            if stage.type == .endpoint, types[.cluster]!.inFlight != nil {
                types[.cluster]!.inFlight!.endpointsSentMeanwhile.formUnion(planned.resources.map(\.name))
            }
            return [.send(response)]
        }
        return []
    }

    /// The client already holds what `planned` would send: record it as held, send nothing.
    private mutating func adoptClaimed(_ type: ResourceType, _ planned: Plan) {
        var state = types[type]!
        state.acked = planned.after
        state.ackedVersions = planned.afterVersions
        state.forced.subtract(planned.resources.map(\.name))
        state.forceFull = false
        state.claimedVersion = nil
        types[type] = state
    }

    /// True after the client accepted new EDS clusters but has not yet asked for their
    /// endpoints: listeners and routes wait, so traffic never meets a cluster still warming.
    private var awaitsEndpointSubscription: Bool {
        let endpoints = types[.endpoint]!
        guard endpoints.requested, !endpoints.wildcard, let snapshot else { return false }
        let live = Set(snapshot.endpointNames.values)
        return endpoints.forced.contains { !endpoints.names.contains($0) && live.contains($0) }
    }

    private struct Plan {
        var resources: [EncodedResource]
        var removed: [String]
        var versionInfo: String
        var after: [String: EncodedResource]
        var afterVersions: [String: String]
        /// Delta: subscribed names that exist nowhere, reported removed for the first time.
        var absent: [String]
    }

    /// What the client should hold for `type`: every subscribed resource that exists, with a
    /// parked (rejected) version replaced by what the client already holds.
    private func desired(_ type: ResourceType, _ state: TypeState) -> [String: EncodedResource] {
        guard let snapshot else { return [:] }
        var result: [String: EncodedResource] = [:]
        if state.wildcard { result = snapshot.resources(of: type) }
        for name in state.names where result[name] == nil {
            if type == .endpoint, snapshot.resources(of: type)[name] == nil, let held = state.acked[name] {
                // A cluster on its way out keeps the endpoints the client has until the client
                // drops it: an empty assignment here would be an accidental empty push.
                result[name] = held
            } else if let resource = snapshot.resources(of: type)[name] {
                result[name] = resource
            }
        }
        for (name, resource) in result where state.parked[name] == resource.version {
            result[name] = state.acked[name]
        }
        return result
    }

    private func plan(_ stage: Stage) -> Plan? {
        let state = types[stage.type]!
        // SotW with no names and no wildcard: the client stopped watching this type.
        if mode == .stateOfTheWorld && !state.wildcard && state.names.isEmpty { return nil }
        let want = desired(stage.type, state)
        let fullState = mode == .stateOfTheWorld && stage.type.allowsWildcard
        let absent =
            mode == .delta && stage.upsert
            ? state.names.filter { want[$0] == nil && state.ackedVersions[$0] == nil && !state.reportedAbsent.contains($0) }
                .sorted()
            : []

        var upserts: [EncodedResource] = []
        if stage.upsert {
            for (name, resource) in want
            where state.ackedVersions[name] != resource.version || state.forced.contains(name) || state.forceFull {
                upserts.append(resource)
            }
        }
        // What the client holds that is no longer wanted. SotW EDS/RDS cannot delete: the
        // client drops the names it stops asking for.
        var removals = state.ackedVersions.keys.filter { want[$0] == nil }
        if mode == .stateOfTheWorld && !fullState { removals = [] }
        let forceFullPending = mode == .stateOfTheWorld && stage.upsert && state.forceFull
        if upserts.isEmpty && (removals.isEmpty || !stage.remove) && !forceFullPending && absent.isEmpty { return nil }
        upserts.sort { $0.name < $1.name }
        removals.sort()

        var after = state.acked
        var afterVersions = state.ackedVersions
        let sent: [EncodedResource]
        if fullState {
            // The full set: the whole desired state, plus (before removals are due) what the
            // client holds that is going away, so routes keep their clusters until last.
            after = want
            if !stage.remove {
                for name in removals { if let held = state.acked[name] { after[name] = held } }
            }
            sent = after.values.sorted { $0.name < $1.name }
            afterVersions = after.mapValues { $0.version }
            if !stage.remove && upserts.isEmpty && !forceFullPending { return nil }
        } else {
            for resource in upserts {
                after[resource.name] = resource
                afterVersions[resource.name] = resource.version
            }
            if stage.remove {
                for name in removals { after[name] = nil; afterVersions[name] = nil }
            }
            sent = upserts
        }
        let removed = (stage.remove && mode == .delta ? removals : []) + absent
        let versionInfo =
            mode == .delta ? (snapshot?.version ?? "") : ContentHash.hex(ofVersions: afterVersions)
        if state.parkedResponses.contains(versionInfo) && mode == .stateOfTheWorld { return nil }
        if mode == .delta && sent.isEmpty && removed.isEmpty { return nil }
        if fullState && stage.remove && afterVersions == state.ackedVersions && !forceFullPending { return nil }
        return Plan(
            resources: sent, removed: removed, versionInfo: versionInfo, after: after, afterVersions: afterVersions,
            absent: absent)
    }
}

extension ADSStreamMachine {
    /// SotW: returns false when the request is stale and must be ignored entirely.
    mutating func receiveSotW(_ request: XDSRequest, into actions: inout [ADSAction]) -> Bool {
        var state = types[request.type]!
        if !request.responseNonce.isEmpty && request.responseNonce != state.latestNonce { return false }
        settleInFlight(&state, request: request, into: &actions)

        let requested = Set(request.resourceNames.filter { $0 != "*" })
        // The legacy wildcard (no names) holds only until the client first names something;
        // after that an empty list unsubscribes everything and only "*" is a wildcard.
        if !request.resourceNames.isEmpty { state.explicitlySubscribed = true }
        state.wildcard =
            request.type.allowsWildcard
            && (request.resourceNames.contains("*") || (request.resourceNames.isEmpty && !state.explicitlySubscribed))
        let added = requested.subtracting(state.names)
        for name in state.names.subtracting(requested) where !state.wildcard {
            // The client forgot this name: it must be answered afresh if asked again.
            state.acked[name] = nil
            state.ackedVersions[name] = nil
        }
        state.names = requested
        state.forced.formUnion(added)
        if request.responseNonce.isEmpty { state.forceFull = true }
        state.claimedVersion = request.responseNonce.isEmpty && !request.versionInfo.isEmpty ? request.versionInfo : nil
        state.requested = true
        types[request.type] = state
        return true
    }

    mutating func receiveDelta(_ request: XDSRequest, into actions: inout [ADSAction]) {
        var state = types[request.type]!
        if !state.requested {
            state.requested = true
            state.wildcard = request.type.allowsWildcard && request.subscribe.isEmpty
            state.ackedVersions = request.initialVersions
        }
        if !request.responseNonce.isEmpty { settleInFlight(&state, request: request, into: &actions) }

        let named = request.subscribe.filter { $0 != "*" }
        for name in named {
            state.names.insert(name)
            state.reportedAbsent.remove(name)
            if request.initialVersions[name] == nil { state.forced.insert(name) }
        }
        if request.subscribe.contains("*") {
            state.wildcard = true
        } else if !named.isEmpty && state.wildcard && !state.explicitlySubscribed {
            // Naming a resource ends the legacy wildcard, as unsubscribing "*" would.
            Self.dropWildcard(&state)
        }
        if !request.subscribe.isEmpty { state.explicitlySubscribed = true }
        for name in request.unsubscribe {
            if name == "*" {
                Self.dropWildcard(&state)
                continue
            }
            state.names.remove(name)
            state.forced.remove(name)
            state.reportedAbsent.remove(name)
            state.acked[name] = nil
            state.ackedVersions[name] = nil
        }
        types[request.type] = state
    }

    /// The client forgets what it held only through the wildcard; no removals are due.
    private static func dropWildcard(_ state: inout TypeState) {
        state.wildcard = false
        state.acked = state.acked.filter { state.names.contains($0.key) }
        state.ackedVersions = state.ackedVersions.filter { state.names.contains($0.key) }
    }

    /// An ACK or NACK of the response in flight for this type (matched by nonce).
    private mutating func settleInFlight(_ state: inout TypeState, request: XDSRequest, into actions: inout [ADSAction]) {
        guard let inFlight = state.inFlight, inFlight.response.nonce == request.responseNonce else { return }
        state.inFlight = nil
        if let error = request.errorDetail {
            let response = inFlight.response
            for resource in response.resources where state.ackedVersions[resource.name] != resource.version {
                state.parked[resource.name] = resource.version
            }
            state.parkedResponses.append(response.versionInfo)
            if state.parkedResponses.count > 16 { state.parkedResponses.removeFirst() }
            actions.append(
                .nack(
                    NackRecord(
                        type: request.type, versionInfo: response.versionInfo, nonce: response.nonce,
                        resourceNames: response.resourceNames, errorCode: error.code, errorMessage: error.message)))
            return
        }
        if request.type == .cluster {
            // Envoy re-warms every added or changed cluster and waits for its endpoints, unless
            // they already reached it while it was warming.
            let changed = inFlight.response.resources.filter { state.ackedVersions[$0.name] != $0.version }
            let rewarm = changed.compactMap { snapshot?.endpointNames[$0.name] }
            types[.endpoint]!.forced.formUnion(rewarm.filter { !inFlight.endpointsSentMeanwhile.contains($0) })
        }
        state.acked = inFlight.after
        state.ackedVersions = inFlight.afterVersions
    }
}

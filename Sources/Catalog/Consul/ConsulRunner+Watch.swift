import Foundation

/// The blocking-query loops. They run outside the actor's executor while waiting on the network
/// and call back into the actor with results.
extension ConsulRunner {
    /// The parameters every read carries: `dc`, `stale`.
    nonisolated var commonQuery: [URLQueryItem] {
        var items: [URLQueryItem] = []
        if let dc = configuration.datacenter { items.append(URLQueryItem(name: "dc", value: dc)) }
        if configuration.stale { items.append(URLQueryItem(name: "stale", value: nil)) }
        return items
    }

    /// One service's watch: a slot, a blocking query, the answer to the actor; forever.
    func watchService(_ name: String) async {
        let path = "/v1/health/service/" + (name.addingPercentEncoding(withAllowedCharacters: .urlPathAllowed.subtracting(["/"])) ?? name)
        let tagQuery = configuration.tags.map { URLQueryItem(name: "tag", value: $0) }
        let parser = self.parser
        await watch(label: name, endpoint: "health-service", path: path, query: tagQuery, slot: name) { runner, reply in
            let read = try parser.instances(reply.body)
            await runner.serviceRead(name, read, index: reply.index)
        }
    }

    /// The check feed (only with more services than slots): which services' checks changed.
    func watchChecks() async {
        await watch(label: "health-state", endpoint: "health-state", path: "/v1/health/state/any", query: []) {
            runner, reply in
            guard let checks = try ConsulParser.json(reply.body) as? [Any] else {
                throw ConsulFailure.malformed("expected a JSON array of checks")
            }
            var current: [String: CheckState] = [:]
            for case let check as [String: Any] in checks {
                let node = check["Node"] as? String ?? ""
                let id = check["CheckID"] as? String ?? ""
                current[node + "\u{0}" + id] = CheckState(
                    node: node, service: check["ServiceName"] as? String ?? "",
                    status: check["Status"] as? String ?? "", modifyIndex: ConsulParser.int(check["ModifyIndex"]) ?? 0)
            }
            await runner.checksRead(current, index: reply.index)
        }
    }

    /// The loop shared by every watch, following Consul's client rules: the index rules of
    /// `BlockingIndex`, a token bucket between queries, exponential back-off with jitter after a
    /// failure. `handle` parses the answer; a thrown `ConsulFailure` counts as a failed read.
    func watch(
        label: String, endpoint: String, path: String, query: [URLQueryItem], slot: String? = nil,
        handle: @Sendable (ConsulRunner, ConsulReply) async throws -> Void
    ) async {
        var index = BlockingIndex()
        var backoff = Backoff(base: configuration.backoffBase, maximum: configuration.backoffMax)
        var bucket = TokenBucket(interval: configuration.minQueryInterval)
        let common = commonQuery + query
        let maxStaleness = configuration.stale ? configuration.maxStaleness : nil
        while !Task.isCancelled {
            let pause = bucket.take()
            if pause > .zero {
                do { try await Task.sleep(for: pause) } catch { return }
            }
            if let slot {
                guard await slots.acquire(slot) else { return }
                if Task.isCancelled {
                    await slots.release()
                    return
                }
            }
            let wait = slot == nil ? configuration.wait : serviceWait
            var items = common
            if index.value > 0 {
                items.append(URLQueryItem(name: "index", value: String(index.value)))
                items.append(URLQueryItem(name: "wait", value: wait.goText))
            }
            let timeout = wait + wait / 16 + configuration.requestTimeoutMargin
            let result = await client.get(path, query: items, timeout: timeout, endpoint: endpoint)
            if slot != nil { await slots.release() }
            if Task.isCancelled { return }
            var failure: ConsulFailure?
            switch result {
            case .failure(let f):
                failure = f
            case .success(let reply):
                if let limit = maxStaleness, let ms = reply.lastContactMilliseconds,
                    Duration.milliseconds(ms) > limit
                {
                    failure = .staleness(milliseconds: ms)
                    break
                }
                do {
                    try await handle(self, reply)
                    if index.update(reply.index) == .reset { indexWentBackwards(label) }
                    backoff.reset()
                    succeeded(label)
                } catch let f as ConsulFailure {
                    failure = f
                } catch {
                    failure = .malformed("\(error)")
                }
            }
            if let failure {
                failed(label, failure, attempt: backoff.failures + 1)
                do { try await Task.sleep(for: backoff.next()) } catch { return }
            }
        }
    }
}

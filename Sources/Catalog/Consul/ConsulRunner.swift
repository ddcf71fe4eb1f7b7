import Foundation
import Logging

/// One check as the feed last saw it.
struct CheckState: Sendable, Equatable {
    var node: String
    var service: String
    var status: String
    var modifyIndex: Int
}

/// The state behind one `ConsulSource.events()` stream: the watched services, their last good
/// instances, the debounce timer and the failure bookkeeping. Network I/O runs outside the actor
/// (`ConsulRunner+Watch.swift`); only results come in.
actor ConsulRunner {
    let configuration: ConsulConfiguration
    let logger: Logger
    let stats: ConsulStatsBox
    let continuation: AsyncStream<CatalogEvent>.Continuation
    let client: ConsulHTTPClient
    let parser: ConsulParser
    /// Slots for service watches; the list watch and the check feed hold the other two.
    let slots: QuerySlots

    /// Watched services (after the name and tag filters) and their watch tasks.
    var watches: [String: Task<Void, Never>] = [:]
    /// Last good instances of every service read at least once.
    var data: [String: [Instance]] = [:]
    /// Nodes each service has instances on (to map node-level check changes to services).
    var nodesOf: [String: Set<String>] = [:]
    /// `X-Consul-Index` of each service's last good answer: a check change it already covers
    /// needs no priority read.
    var indexOf: [String: UInt64] = [:]
    var pendingFirstRead: Set<String> = []
    var listRead = false
    var synced = false
    var failing: Set<String> = [] {
        didSet { stats.failing(failing) }
    }
    var lastEmitted: Catalog?
    var mustEmit = false
    var dirty = false
    var firstDirty: ContinuousClock.Instant?
    var lastDirty: ContinuousClock.Instant?
    var flushTask: Task<Void, Never>?
    var feedTask: Task<Void, Never>?
    var feedChecks: [String: CheckState]?
    var timerTask: Task<Void, Never>?
    var stopped = false

    init(
        configuration: ConsulConfiguration, logger: Logger, stats: ConsulStatsBox,
        continuation: AsyncStream<CatalogEvent>.Continuation
    ) {
        self.configuration = configuration
        self.logger = logger
        self.stats = stats
        self.continuation = continuation
        client = ConsulHTTPClient(configuration: configuration, stats: stats)
        parser = ConsulParser(configuration: configuration)
        slots = QuerySlots(capacity: max(1, configuration.maxConcurrentQueries - 2))
    }

    var serviceSlots: Int { slots.capacity }

    /// Runs the list watch until cancelled.
    func run() async {
        let timeout = configuration.initialSyncTimeout
        timerTask = Task { [weak self] in
            try? await Task.sleep(for: timeout)
            await self?.initialSyncTimedOut()
        }
        await watch(label: "catalog-services", endpoint: "catalog-services", path: "/v1/catalog/services", query: []) {
            runner, reply in
            try await runner.listed(ConsulParser.services(reply.body))
        }
        await stop()
    }

    func stop() async {
        guard !stopped else { return }
        stopped = true
        for task in watches.values { task.cancel() }
        watches.removeAll()
        feedTask?.cancel()
        flushTask?.cancel()
        timerTask?.cancel()
        await slots.close()
        continuation.finish()
    }

    // MARK: results

    /// A new answer of `/v1/catalog/services`.
    func listed(_ services: [String: [String]]) async {
        guard !stopped else { return }
        let wanted = Set(services.filter { include($0.key, tags: $0.value) }.keys)
        let current = Set(watches.keys)
        for name in current.subtracting(wanted) {
            watches.removeValue(forKey: name)?.cancel()
            pendingFirstRead.remove(name)
            nodesOf.removeValue(forKey: name)
            indexOf.removeValue(forKey: name)
            failing.remove(name)
            if data.removeValue(forKey: name) != nil { markDirty() }
            logger.info("consul: service left the catalog", metadata: ["service": "\(name)"])
        }
        for name in wanted.subtracting(current).sorted() {
            pendingFirstRead.insert(name)
            watches[name] = Task { [weak self] in await self?.watchService(name) }
        }
        if wanted.count > serviceSlots, feedTask == nil {
            logger.info(
                "consul: more services than query slots; services share the slots, the check feed prioritises changes",
                metadata: ["services": "\(wanted.count)", "slots": "\(serviceSlots)"])
            feedTask = Task { [weak self] in await self?.watchChecks() }
        }
        if !listRead {
            listRead = true
            checkSynced()
        } else if current != wanted {
            checkSynced()
        }
        stats.sync(synced: synced, unread: pendingFirstRead)
        await slots.share(watches.count > serviceSlots)
    }

    /// A new answer of `/v1/health/service/<name>`.
    func serviceRead(_ name: String, _ read: ConsulParser.ServiceRead, index: UInt64) async {
        guard watches[name] != nil else { return }  // left the catalog meanwhile
        for reason in read.skipped {
            stats.error("skipped-instance", watch: name)
            logger.warning("consul: instance skipped", metadata: ["service": "\(name)", "reason": "\(reason)"])
        }
        nodesOf[name] = Set(read.instances.map { String($0.id.prefix { $0 != "/" }) })
        if data[name] != read.instances {
            data[name] = read.instances
            markDirty()
        } else {
            stats.unchanged()
        }
        if pendingFirstRead.remove(name) != nil { checkSynced() }
        indexOf[name] = index
        await slots.seen(name, index: index)
    }

    func failed(_ watch: String, _ failure: ConsulFailure, attempt: Int) {
        stats.error(failure.reason, watch: watch)
        logger.warning(
            "consul: read failed; keeping the last good data",
            metadata: ["watch": "\(watch)", "reason": "\(failure.reason)", "detail": "\(failure)", "attempt": "\(attempt)"])
        if failing.insert(watch).inserted {
            let error = ConfigError(
                file: configuration.url.absoluteString, line: 0, column: 0, field: watch, message: failure.description)
            continuation.yield(.failed(ConfigErrors([error])))
        }
    }

    func succeeded(_ watch: String) {
        guard failing.remove(watch) != nil else { return }
        logger.info("consul: read recovered", metadata: ["watch": "\(watch)"])
        if failing.isEmpty {
            mustEmit = true
            markDirty()
        }
    }

    func indexWentBackwards(_ watch: String) {
        stats.indexReset()
        logger.notice("consul: index went backwards; reset to 0", metadata: ["watch": "\(watch)"])
    }

    /// A new answer of the check feed (`index`: its `X-Consul-Index`): services whose checks (or
    /// whose nodes' checks) changed, and whose last read is older than the change, go first.
    func checksRead(_ current: [String: CheckState], index feedIndex: UInt64) async {
        defer { feedChecks = current }
        guard let before = feedChecks else { return }
        // Consul sets a service's index to the raft index of a change to its checks (or its
        // nodes' checks): the change's ModifyIndex, or for a deleted check at most the feed's index.
        var due: [String: UInt64] = [:]
        var nodes: [String: UInt64] = [:]
        for key in Set(current.keys).union(before.keys) where current[key] != before[key] {
            guard let check = current[key] ?? before[key] else { continue }
            let modified = current[key].map { UInt64(clamping: $0.modifyIndex) } ?? 0
            let index = modified > 0 ? modified : feedIndex
            if check.service.isEmpty {
                nodes[check.node] = max(nodes[check.node] ?? 0, index)
            } else {
                due[check.service] = max(due[check.service] ?? 0, index)
            }
        }
        for (service, onNodes) in nodesOf {
            for node in onNodes { if let index = nodes[node] { due[service] = max(due[service] ?? 0, index) } }
        }
        let urgent = due.filter { watches[$0.key] != nil && indexOf[$0.key, default: 0] < $0.value }
        if !urgent.isEmpty { await slots.promote(urgent) }
    }

    /// The `wait` of a service's blocking query: the full wait when every service has a slot.
    var serviceWait: Duration { watches.count <= serviceSlots ? configuration.wait : configuration.rotationWait }

    // MARK: emission

    private func include(_ name: String, tags: [String]) -> Bool {
        if let names = configuration.services, !names.contains(name) { return false }
        if configuration.tags.isEmpty { return true }
        let have = Set(tags.map { $0.lowercased() })
        return configuration.tags.allSatisfy { have.contains($0.lowercased()) }
    }

    private func checkSynced() {
        defer { stats.sync(synced: synced, unread: pendingFirstRead) }
        if !synced, listRead, pendingFirstRead.isEmpty {
            synced = true
            logger.info("consul: initial sync complete", metadata: ["services": "\(watches.count)"])
            mustEmit = true
            flush()
        } else if synced {
            markDirty()
        }
    }

    /// The first full read is taking long: say which services are missing. Nothing is emitted
    /// until they are read (an empty set for a service merely not read yet would be a lie; the
    /// last-known-good state, if any, is served meanwhile).
    private func initialSyncTimedOut() {
        guard !synced else { return }
        logger.warning(
            "consul: initial sync incomplete; publishing nothing until every listed service is read",
            metadata: [
                "list-read": "\(listRead)", "unread-count": "\(pendingFirstRead.count)",
                "unread": "\(pendingFirstRead.sorted().prefix(20).joined(separator: ","))",
            ])
    }

    private func markDirty() {
        let now = ContinuousClock.now
        dirty = true
        lastDirty = now
        guard synced, flushTask == nil else { return }
        firstDirty = now
        flushTask = Task { [weak self] in await self?.debounce() }
    }

    private func debounce() async {
        while !Task.isCancelled {
            guard let first = firstDirty, let last = lastDirty else { break }
            let due = min(last + configuration.debounceWindow, first + configuration.debounceMaxDelay)
            let now = ContinuousClock.now
            if now >= due { break }
            try? await Task.sleep(until: due, clock: .continuous)
        }
        flushTask = nil
        flush()
    }

    private func flush() {
        guard !stopped, synced, listRead else { return }
        dirty = false
        firstDirty = nil
        let catalog = Catalog(
            services: Dictionary(
                uniqueKeysWithValues: data.filter { watches[$0.key] != nil }.map {
                    ($0.key, CatalogService(name: $0.key, instances: $0.value))
                }))
        guard mustEmit || catalog != lastEmitted else { return }
        mustEmit = false
        lastEmitted = catalog
        stats.update()
        continuation.yield(.updated(catalog))
    }
}

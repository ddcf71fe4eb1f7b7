import Catalog
import Dispatch
import Logging
import Synchronization

/// Writes accepted catalogs to the last-known-good state off the control plane's lock, one write
/// at a time, newest first: a catalog submitted while a write runs replaces any still waiting,
/// since only the newest one will ever be served from disk. A save (JSON, hash, fsync, rename)
/// of a 1,000-service catalog takes ~150 ms; inside the lock it made every apply that long.
final class StateWriter: Sendable {
    private struct Pending {
        var next: Catalog?
        var writing = false
    }

    let state: LastKnownGood
    private let logger: Logger
    private let pending = Mutex(Pending())
    private let queue = DispatchQueue(label: "sextant.last-known-good")

    init(state: LastKnownGood, logger: Logger) {
        self.state = state
        self.logger = logger
    }

    /// Cheap: records the catalog and, if no write is running, starts one.
    func submit(_ catalog: Catalog) {
        let start = pending.withLock { p -> Bool in
            p.next = catalog
            guard !p.writing else { return false }
            p.writing = true
            return true
        }
        if start { queue.async { self.drain() } }
    }

    /// Returns once every catalog submitted before the call is on disk (or failed to be written).
    func flush() { queue.sync {} }

    private func drain() {
        while let catalog = pending.withLock({ p -> Catalog? in
            defer { p.next = nil }
            if p.next == nil { p.writing = false }
            return p.next
        }) {
            do { try state.save(catalog) } catch {
                logger.error("could not save last-known-good state", metadata: ["error": "\(error)"])
            }
        }
    }
}

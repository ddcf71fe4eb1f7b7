import Foundation

/// What a catalog source reports.
public enum CatalogEvent: Sendable, Equatable {
    /// A new catalog was read (also after recovering from a failure).
    case updated(Catalog)
    /// The source could not produce a catalog; consumers keep the last good one.
    case failed(ConfigErrors)
}

/// A catalog read from a YAML file (see `CatalogFile`), watched for changes by polling.
///
/// Polling (modification time, size and inode, every `pollInterval`) works the same on every
/// file system and container mount, and catches editors that replace the file by renaming.
/// A file that fails to read or parse yields `.failed` and nothing else: the consumer keeps the
/// last good catalog, and the next good write yields `.updated` again.
public struct FileSource: Sendable {
    public let path: String
    public let pollInterval: Duration

    public init(path: String, pollInterval: Duration = .milliseconds(100)) {
        self.path = path
        self.pollInterval = pollInterval
    }

    /// Reads and parses the file once.
    /// - Throws: `ConfigErrors`; a file that cannot be read gives one error with line 0.
    public func load() throws(ConfigErrors) -> Catalog {
        try CatalogFile.parse(yaml: try read(), file: path)
    }

    /// A catalog read once, with what the poller needs to know it already has it.
    public struct Loaded: Sendable {
        public let catalog: Catalog
        let signature: FileSignature?
        let text: String
    }

    /// Reads and parses the file once, for `events(startingWith:)`: start-up parses it once.
    /// - Throws: `ConfigErrors`, as `load()`.
    public func loadForEvents() throws(ConfigErrors) -> Loaded {
        // The signature is taken before the read: a write in between is seen by the next poll.
        let signature = FileSignature(path: path)
        let text = try read()
        return Loaded(catalog: try CatalogFile.parse(yaml: text, file: path), signature: signature, text: text)
    }

    /// Events, starting with the current contents of the file, then one per change.
    ///
    /// The stream owns one polling task; it ends when the consumer stops iterating (the stream is
    /// terminated) or the enclosing task is cancelled. Identical rewrites yield nothing; after a
    /// `.failed`, the next good read yields `.updated` even when its catalog did not change.
    /// With `loaded` (from `loadForEvents()`), the first event is its catalog, not parsed again.
    public func events(startingWith loaded: Loaded? = nil) -> AsyncStream<CatalogEvent> {
        let (stream, continuation) = AsyncStream.makeStream(of: CatalogEvent.self, bufferingPolicy: .bufferingNewest(8))
        let source = self
        var initial = Watcher()
        if let loaded {
            initial.signature = .some(loaded.signature)
            initial.lastText = loaded.text
            initial.lastEvent = .updated(loaded.catalog)
            continuation.yield(.updated(loaded.catalog))
        }
        let task = Task { [initial] in
            var watcher = initial
            if loaded != nil {
                // The first poll is one interval after the load, as if the load had been it.
                do { try await Task.sleep(for: source.pollInterval) } catch { continuation.finish(); return }
            }
            while !Task.isCancelled {
                if let event = source.poll(&watcher) {
                    continuation.yield(event)
                }
                do {
                    try await Task.sleep(for: source.pollInterval)
                } catch {
                    break
                }
            }
            continuation.finish()
        }
        continuation.onTermination = { _ in task.cancel() }
        return stream
    }

    /// What the poller remembers between ticks.
    struct Watcher {
        var signature: FileSignature?? = .none  // .none: never looked; .some(nil): file missing
        var lastText: String?
        var lastEvent: CatalogEvent?
    }

    /// How long after its modification time a file is re-read even when its signature has not
    /// changed: file-system timestamps are coarse (a kernel tick), so two writes of the same size
    /// within one tick look identical by `stat` alone (git's "racily clean" problem).
    static let racyWindow: TimeInterval = 2

    /// One polling step: an event when the file changed in a way the consumer must hear about.
    func poll(_ watcher: inout Watcher, now: Date = Date()) -> CatalogEvent? {
        let signature = FileSignature(path: path)
        let racy = signature.map { now.timeIntervalSince($0.modified) < Self.racyWindow } ?? false
        if case .some(let previous) = watcher.signature, previous == signature, !racy { return nil }
        watcher.signature = .some(signature)
        let text: String
        do {
            text = try read()
        } catch {
            watcher.lastText = nil  // the same text coming back later is a recovery
            return deduplicated(.failed(error), &watcher)
        }
        if text == watcher.lastText { return nil }
        watcher.lastText = text
        do {
            return deduplicated(.updated(try CatalogFile.parse(yaml: text, file: path)), &watcher)
        } catch {
            return deduplicated(.failed(error), &watcher)
        }
    }

    private func deduplicated(_ event: CatalogEvent, _ watcher: inout Watcher) -> CatalogEvent? {
        if event == watcher.lastEvent { return nil }
        watcher.lastEvent = event
        return event
    }

    private func read() throws(ConfigErrors) -> String {
        guard let data = FileManager.default.contents(atPath: path) else {
            let reason = FileManager.default.fileExists(atPath: path) ? "cannot read the file" : "no such file"
            throw ConfigErrors([ConfigError(file: path, line: 0, column: 0, field: "", message: reason)])
        }
        guard let text = String(data: data, encoding: .utf8) else {
            throw ConfigErrors([
                ConfigError(file: path, line: 0, column: 0, field: "", message: "the file is not UTF-8")
            ])
        }
        return text
    }
}

/// What identifies one version of a file without reading it.
struct FileSignature: Equatable, Sendable {
    var modified: Date
    var size: UInt64
    var inode: UInt64

    /// `nil` when the file does not exist or cannot be examined.
    init?(path: String) {
        guard let attributes = try? FileManager.default.attributesOfItem(atPath: path),
            let modified = attributes[.modificationDate] as? Date
        else { return nil }
        self.modified = modified
        self.size = (attributes[.size] as? NSNumber)?.uint64Value ?? 0
        self.inode = (attributes[.systemFileNumber] as? NSNumber)?.uint64Value ?? 0
    }
}

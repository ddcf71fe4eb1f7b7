import Synchronization

/// The template folder and `defaults.yaml` as a source: the current texts at start, then one
/// `TemplateSources` per change (an edit, a new file, a deleted file, a file that became
/// unreadable).
///
/// Like the catalog's `FileSource`, it polls: every `pollInterval` it re-reads the texts and
/// yields them when they differ from the last ones. Re-reading texts rather than comparing file
/// times sidesteps coarse timestamps, editors that rename, and container mounts. `reload()` (SIGHUP)
/// makes the next poll yield even when nothing changed, so an operator can force a re-check.
/// Parsing and validation are the consumer's (the control plane's template guard).
public final class TemplateWatcher: Sendable {
    public let loader: TemplateLoader
    public let pollInterval: Duration
    private let forced = Mutex(false)

    public init(loader: TemplateLoader, pollInterval: Duration = .milliseconds(250)) {
        self.loader = loader
        self.pollInterval = pollInterval
    }

    /// The next poll yields the texts even if they did not change.
    public func reload() { forced.withLock { $0 = true } }

    /// Sources, starting with the current ones. The stream owns one polling task; it ends when
    /// the consumer stops iterating or the enclosing task is cancelled.
    public func events() -> AsyncStream<TemplateSources> {
        let (stream, continuation) = AsyncStream.makeStream(of: TemplateSources.self, bufferingPolicy: .bufferingNewest(1))
        let task = Task { [self] in
            var last: TemplateSources?
            while !Task.isCancelled {
                let force = forced.withLock { f -> Bool in
                    defer { f = false }
                    return f
                }
                let sources = loader.read()
                if force || sources != last {
                    last = sources
                    continuation.yield(sources)
                }
                do { try await Task.sleep(for: pollInterval) } catch { break }
            }
            continuation.finish()
        }
        continuation.onTermination = { _ in task.cancel() }
        return stream
    }
}

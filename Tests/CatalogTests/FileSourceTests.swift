import Foundation
import Testing

@testable import Catalog

@Suite struct FileSourceTests {
    private static let good = """
        services:
          a:
            instances:
              - {address: 10.0.0.1, port: 80}
        """
    private static let better = """
        services:
          a:
            instances:
              - {address: 10.0.0.1, port: 80}
              - {address: 10.0.0.2, port: 80}
        """

    @Test func yieldsInitialCatalogThenChangesAndKeepsGoingAfterAnError() async throws {
        let directory = try TemporaryDirectory()
        let path = directory.path("catalog.yaml")
        try Self.good.write(toFile: path, atomically: true, encoding: .utf8)
        let source = FileSource(path: path, pollInterval: .milliseconds(20))
        var events = source.events().makeAsyncIterator()

        let first = try await next(&events)
        #expect(first == .updated(try CatalogFile.parse(yaml: Self.good, file: path)))

        // An in-place rewrite (same inode) with new content; the poller may catch the file
        // half-written (a failure) before the update.
        try Data(Self.better.utf8).write(to: URL(fileURLWithPath: path))
        guard case .updated(let second) = try await nextUpdate(&events) else {
            Issue.record("expected an update")
            return
        }
        #expect(second[service: "a"]?.instances.count == 2)

        // A broken file: an error with its position, and no catalog.
        try "services:\n  a:\n    instances:\n      - {address: 10.0.0.1, port: x}\n".write(
            toFile: path, atomically: true, encoding: .utf8)
        guard case .failed(let errors) = try await next(&events) else {
            Issue.record("expected a failure")
            return
        }
        #expect(errors.errors.first?.line == 4)
        #expect(errors.errors.first?.field == "services.a.instances[0].port")

        // Recovery with the previous good content yields it again.
        try Self.better.write(toFile: path, atomically: true, encoding: .utf8)
        #expect(try await next(&events) == .updated(second))
    }

    /// Start-up parses the file once: the loaded catalog is the first event, taken as it is.
    @Test func eventsStartingWithALoadDoNotParseAgain() async throws {
        let directory = try TemporaryDirectory()
        let path = directory.path("catalog.yaml")
        try Self.good.write(toFile: path, atomically: true, encoding: .utf8)
        let source = FileSource(path: path, pollInterval: .milliseconds(20))
        let real = try source.loadForEvents()
        #expect(real.catalog == (try CatalogFile.parse(yaml: Self.good, file: path)))
        // A marked catalog in place of the parsed one: a re-parse would yield the file's instead.
        let marked = FileSource.Loaded(
            catalog: Catalog([CatalogService(name: "marked", instances: [])]), signature: real.signature,
            text: real.text)
        var events = source.events(startingWith: marked).makeAsyncIterator()
        #expect(try await next(&events) == .updated(marked.catalog))
        // The next event is the change, not the file's first content parsed again.
        try Self.better.write(toFile: path, atomically: true, encoding: .utf8)
        guard case .updated(let changed) = try await nextUpdate(&events) else {
            Issue.record("expected an update")
            return
        }
        #expect(changed[service: "a"]?.instances.count == 2)
    }

    @Test func missingFileFailsThenRecovers() async throws {
        let directory = try TemporaryDirectory()
        let path = directory.path("later.yaml")
        let source = FileSource(path: path, pollInterval: .milliseconds(20))
        var events = source.events().makeAsyncIterator()
        guard case .failed(let errors) = try await next(&events) else {
            Issue.record("expected a failure")
            return
        }
        #expect(errors.description.hasSuffix("no such file"))
        try Self.good.write(toFile: path, atomically: true, encoding: .utf8)
        guard case .updated = try await next(&events) else {
            Issue.record("expected an update")
            return
        }
    }

    @Test func identicalRewriteYieldsNothing() throws {
        let directory = try TemporaryDirectory()
        let path = directory.path("catalog.yaml")
        try Self.good.write(toFile: path, atomically: true, encoding: .utf8)
        let source = FileSource(path: path)
        var watcher = FileSource.Watcher()
        guard case .updated = source.poll(&watcher) else {
            Issue.record("expected an update")
            return
        }
        #expect(source.poll(&watcher) == nil)
        try Self.good.write(toFile: path, atomically: true, encoding: .utf8)  // new inode, same text
        #expect(source.poll(&watcher) == nil)
    }

    @Test func sameSizeRewriteWithinOneTimestampTickIsSeen() throws {
        let directory = try TemporaryDirectory()
        let path = directory.path("catalog.yaml")
        try Self.good.write(toFile: path, atomically: false, encoding: .utf8)
        let source = FileSource(path: path)
        var watcher = FileSource.Watcher()
        _ = source.poll(&watcher)
        // Same size, same inode; even if the timestamp did not move, the file is re-read while
        // its modification time is recent.
        let sameSize = Self.good.replacingOccurrences(of: "10.0.0.1", with: "10.0.0.9")
        try Data(sameSize.utf8).write(to: URL(fileURLWithPath: path))
        guard case .updated(let catalog) = source.poll(&watcher) else {
            Issue.record("expected an update")
            return
        }
        #expect(catalog[service: "a"]?.instances.first?.address == "10.0.0.9")
        #expect(source.poll(&watcher) == nil)
        // Long after the write, an unchanged signature is not re-read.
        #expect(source.poll(&watcher, now: Date().addingTimeInterval(10)) == nil)
    }

    @Test func stopsPollingWhenTheConsumerGoesAway() async throws {
        let directory = try TemporaryDirectory()
        let path = directory.path("catalog.yaml")
        try Self.good.write(toFile: path, atomically: true, encoding: .utf8)
        let consumer = Task {
            var count = 0
            for await _ in FileSource(path: path, pollInterval: .milliseconds(10)).events() { count += 1 }
            return count
        }
        try await Task.sleep(for: .milliseconds(50))
        consumer.cancel()
        let count = try await withDeadline(.seconds(1)) { await consumer.value }
        #expect(count <= 1)  // the file never changed; under load the first event may not have arrived
    }
}

/// The next event, or a thrown timeout after `limit` (so no test can hang).
private func next(
    _ iterator: inout AsyncStream<CatalogEvent>.Iterator, within limit: Duration = .seconds(1)
) async throws -> CatalogEvent? {
    let box = IteratorBox(iterator)
    defer { iterator = box.iterator }
    return try await withDeadline(limit) { await box.next() }
}

/// The next `.updated`, skipping failures (at most 20 events, within `limit`).
private func nextUpdate(
    _ iterator: inout AsyncStream<CatalogEvent>.Iterator, within limit: Duration = .seconds(1)
) async throws -> CatalogEvent? {
    let deadline = ContinuousClock.now + limit
    for _ in 0..<20 {
        let event = try await next(&iterator, within: deadline - ContinuousClock.now)
        if case .failed = event { continue }
        return event
    }
    return nil
}

/// Holds the iterator across the task boundary of `withDeadline`; used by one task at a time.
private final class IteratorBox: @unchecked Sendable {
    var iterator: AsyncStream<CatalogEvent>.Iterator
    init(_ iterator: AsyncStream<CatalogEvent>.Iterator) { self.iterator = iterator }
    func next() async -> CatalogEvent? { await iterator.next() }
}

struct TimedOut: Error {}

func withDeadline<T: Sendable>(_ limit: Duration, _ work: @escaping @Sendable () async -> T) async throws -> T {
    try await withThrowingTaskGroup(of: T?.self) { group in
        group.addTask { await work() }
        group.addTask {
            try? await Task.sleep(for: limit)
            return nil
        }
        defer { group.cancelAll() }
        guard let first = try await group.next(), let value = first else { throw TimedOut() }
        return value
    }
}

/// A fresh directory under the system temporary directory, removed on deinit.
final class TemporaryDirectory {
    let url: URL

    init() throws {
        url = FileManager.default.temporaryDirectory.appendingPathComponent("sextant-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    }

    func path(_ name: String) -> String { url.appendingPathComponent(name).path }

    deinit { try? FileManager.default.removeItem(at: url) }
}

import Foundation
import Logging
import Synchronization
import Testing

@testable import Catalog

#if canImport(FoundationNetworking)
    import FoundationNetworking
#endif

/// The Consul simulator (Tests/ConsulSimulator/consul_sim.py) as a child process.
final class ConsulSimProcess: Sendable {
    let process: Process
    let port: Int
    var url: URL { URL(string: "http://127.0.0.1:\(port)")! }

    static var repositoryRoot: URL {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    }

    static var python: String {
        let venv = repositoryRoot.appendingPathComponent(".venv/bin/python").path
        return FileManager.default.isExecutableFile(atPath: venv) ? venv : "/usr/bin/python3"
    }

    init(arguments: [String] = []) throws {
        let script = Self.repositoryRoot.appendingPathComponent("Tests/ConsulSimulator/consul_sim.py").path
        let process = Process()
        process.executableURL = URL(fileURLWithPath: Self.python)
        process.arguments = ["-u", script, "--port", "0"] + arguments
        let output = Pipe()
        process.standardOutput = output
        process.standardError = FileHandle.nullDevice
        try process.run()
        // The simulator prints "consul-sim listening on 127.0.0.1:PORT" once it is bound.
        var text = ""
        let deadline = Date().addingTimeInterval(15)
        while Date() < deadline, !text.contains("\n") {
            let chunk = output.fileHandleForReading.availableData
            if chunk.isEmpty { break }
            text += String(decoding: chunk, as: UTF8.self)
        }
        guard let portText = text.split(separator: ":").last?.trimmingCharacters(in: .whitespacesAndNewlines),
            let port = Int(portText)
        else {
            process.terminate()
            throw SimError.notStarted(text)
        }
        self.process = process
        self.port = port
    }

    enum SimError: Error { case notStarted(String), badAnswer(String) }

    /// SIGTERM, then SIGKILL after 3 s; waits at most 5 s. Not `waitUntilExit()`: on Linux it
    /// spins the calling thread's run loop and never returns when called off the launching thread.
    func stop() {
        guard process.isRunning else { return }
        process.terminate()
        for tick in 0..<500 where process.isRunning {
            if tick == 300 { kill(process.processIdentifier, SIGKILL) }
            usleep(10_000)
        }
    }

    deinit { stop() }

    /// POST to the control API; returns the decoded JSON answer.
    @discardableResult
    func control(_ path: String, _ body: [String: Any] = [:], method: String = "POST") async throws -> Any {
        var request = URLRequest(url: url.appendingPathComponent(path))
        request.httpMethod = method
        if method != "GET" { request.httpBody = try JSONSerialization.data(withJSONObject: body) }
        let (data, response) = try await URLSession.shared.data(for: request)
        guard (response as? HTTPURLResponse)?.statusCode == 200 else {
            throw SimError.badAnswer(String(decoding: data, as: UTF8.self))
        }
        return try JSONSerialization.jsonObject(with: data, options: [.fragmentsAllowed])
    }

    func register(_ service: String, port: Int, _ extra: [String: Any] = [:]) async throws {
        var body = extra
        body["service"] = service
        body["port"] = port
        try await control("/_sim/register", body)
    }

    func deregister(_ serviceID: String) async throws { try await control("/_sim/deregister", ["service_id": serviceID]) }
    /// Sets check `service:<serviceID>` on `node` (default: the simulator's agent node, where
    /// `register` puts instances; `/_sim/bulk` puts them on `node-<i>`).
    func check(_ serviceID: String, _ status: String, node: String? = nil) async throws {
        var body: [String: Any] = ["service_id": serviceID, "status": status]
        if let node { body["node"] = node }
        try await control("/_sim/check", body)
    }
    func fault(_ kind: String, _ extra: [String: Any] = [:]) async throws {
        var body = extra
        body["kind"] = kind
        try await control("/_sim/fault", body)
    }
    func clearFaults() async throws { try await control("/_sim/fault", method: "DELETE") }

    /// Request counts by endpoint (`catalog-services`, `health-service`, `health-service/<name>`, `health-state`).
    func requests() async throws -> [String: Int] {
        let stats = try await control("/_sim/stats", method: "GET") as? [String: Any]
        return (stats?["requests"] as? [String: Any])?.compactMapValues { ($0 as? NSNumber)?.intValue } ?? [:]
    }

    func stats() async throws -> [String: Any] {
        try await control("/_sim/stats", method: "GET") as? [String: Any] ?? [:]
    }

    /// Every read (catalog and health endpoints) the simulator received: endpoint, service,
    /// query parameters, token.
    func log() async throws -> [[String: Any]] {
        try await control("/_sim/log", method: "GET") as? [[String: Any]] ?? []
    }
}

/// Consumes a source's events in the background and lets a test wait for them.
final class EventCollector: Sendable {
    final class Storage: Sendable { let events = Mutex<[CatalogEvent]>([]) }
    private let storage = Storage()
    private let task: Task<Void, Never>

    init(_ stream: AsyncStream<CatalogEvent>) {
        let storage = self.storage
        task = Task {
            for await event in stream { storage.events.withLock { $0.append(event) } }
        }
    }

    deinit { task.cancel() }

    func stop() { task.cancel() }

    var events: [CatalogEvent] { storage.events.withLock { $0 } }
    var catalogs: [Catalog] {
        events.compactMap { if case .updated(let c) = $0 { c } else { nil } }
    }
    var failures: [ConfigErrors] {
        events.compactMap { if case .failed(let e) = $0 { e } else { nil } }
    }
    var latest: Catalog? { catalogs.last }

    /// Waits (bounded) until `predicate` holds for the latest catalog; returns the time it took.
    @discardableResult
    func waitFor(
        _ what: String, timeout: Duration = .seconds(5), _ predicate: (Catalog) -> Bool,
        sourceLocation: SourceLocation = #_sourceLocation
    ) async -> Duration? {
        let start = ContinuousClock.now
        while ContinuousClock.now - start < timeout {
            if let latest, predicate(latest) { return ContinuousClock.now - start }
            try? await Task.sleep(for: .milliseconds(10))
        }
        Issue.record("timed out waiting for \(what); latest: \(String(describing: latest))", sourceLocation: sourceLocation)
        return nil
    }

    func waitForEvents(count: Int, timeout: Duration = .seconds(5)) async -> Bool {
        let start = ContinuousClock.now
        while ContinuousClock.now - start < timeout {
            if events.count >= count { return true }
            try? await Task.sleep(for: .milliseconds(10))
        }
        return false
    }
}

/// Fast settings for tests: short waits and back-offs so every loop is bounded in time.
func testConfiguration(_ url: URL, _ change: (inout ConsulConfiguration) -> Void = { _ in }) -> ConsulConfiguration {
    var configuration = ConsulConfiguration(url: url)
    configuration.wait = .seconds(10)
    configuration.backoffBase = .milliseconds(100)
    configuration.backoffMax = .seconds(1)
    configuration.minQueryInterval = .milliseconds(50)
    configuration.initialSyncTimeout = .seconds(5)
    configuration.requestTimeoutMargin = .seconds(2)
    change(&configuration)
    return configuration
}

let consulTestLogger: Logger = {
    var logger = Logger(label: "consul-test")
    logger.logLevel = ProcessInfo.processInfo.environment["CONSUL_TEST_LOG"] == nil ? .critical : .debug
    return logger
}()

func sleep(_ duration: Duration) async { try? await Task.sleep(for: duration) }

/// Polls `condition` every 10 ms until it holds (true) or `timeout` passes (false).
func waitUntil(timeout: Duration, _ condition: () -> Bool) async -> Bool {
    let start = ContinuousClock.now
    while ContinuousClock.now - start < timeout {
        if condition() { return true }
        await sleep(.milliseconds(10))
    }
    return condition()
}

extension Catalog {
    func addresses(_ service: String) -> Set<String> {
        Set(self[service: service]?.instances.map { "\($0.address):\($0.port)" } ?? [])
    }
}

import Foundation
import Synchronization

#if canImport(FoundationNetworking)
    import FoundationNetworking
#endif

/// The Consul simulator as a child process, and its control API (`/_sim/...`).
final class SimulatorProcess: Sendable {
    let url: URL
    private let process: Process
    private let session: URLSession

    /// Starts `python -u script --port 0` and waits for `consul-sim listening on 127.0.0.1:PORT`.
    static func start(python: String, script: String, timeout: Duration = .seconds(30)) async throws -> SimulatorProcess {
        guard FileManager.default.fileExists(atPath: script) else {
            throw BenchFailure("Consul simulator not found at \(script) (run from the repository root, or pass --simulator)")
        }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = [python, "-u", script, "--port", "0"]
        let output = Pipe()
        process.standardOutput = output
        let buffer = Mutex("")
        output.fileHandleForReading.readabilityHandler = { handle in
            let data = handle.availableData
            if data.isEmpty {
                handle.readabilityHandler = nil
                return
            }
            buffer.withLock { $0 += String(decoding: data, as: UTF8.self) }
        }
        try process.run()
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            let text = buffer.withLock { $0 }
            if let line = text.split(separator: "\n").first(where: { $0.hasPrefix("consul-sim listening on ") }) {
                output.fileHandleForReading.readabilityHandler = nil
                let address = line.dropFirst("consul-sim listening on ".count).trimmingCharacters(in: .whitespaces)
                guard let url = URL(string: "http://\(address)") else { break }
                return SimulatorProcess(url: url, process: process)
            }
            if !process.isRunning { break }
            try await Task.sleep(for: .milliseconds(20))
        }
        if process.isRunning { process.terminate() }
        throw BenchFailure("the Consul simulator did not start (output: \(buffer.withLock { $0 }.prefix(500)))")
    }

    private init(url: URL, process: Process) {
        self.url = url
        self.process = process
        let configuration = URLSessionConfiguration.ephemeral
        configuration.httpMaximumConnectionsPerHost = 1
        configuration.timeoutIntervalForRequest = 60
        session = URLSession(configuration: configuration)
    }

    /// SIGTERM, then SIGKILL after 5 s. (`Process.waitUntilExit` spins a run loop on a
    /// non-main thread, so the exit is polled instead.)
    func stop() {
        session.invalidateAndCancel()
        guard process.isRunning else { return }
        process.terminate()
        let deadline = ContinuousClock.now + .seconds(5)
        while process.isRunning && ContinuousClock.now < deadline { usleep(20_000) }
        if process.isRunning { kill(process.processIdentifier, SIGKILL) }
    }

    /// POSTs a JSON body to the control API; throws unless the answer is 200.
    @discardableResult
    func post(_ path: String, _ body: [String: JSONValue]) async throws -> Data {
        var request = URLRequest(url: endpoint(path))
        request.httpMethod = "POST"
        request.httpBody = Data(JSONValue.object(body).text.utf8)
        request.setValue("application/json", forHTTPHeaderField: "Content-Type")
        return try await send(request)
    }

    /// GET `/_sim/stats`.
    func stats() async throws -> SimulatorStats {
        let data = try await send(URLRequest(url: endpoint("/_sim/stats")))
        guard let object = try JSONSerialization.jsonObject(with: data) as? [String: Any],
            let requests = object["requests"] as? [String: Int], let max = object["max_connections"] as? Int,
            let refused = object["refused"] as? Int
        else { throw BenchFailure("unexpected /_sim/stats answer: \(String(decoding: data.prefix(300), as: UTF8.self))") }
        return SimulatorStats(requests: requests, maxConnections: max, refused: refused)
    }

    /// GET `/_sim/log`: when each read since the last reset arrived (simulator's monotonic
    /// seconds), by endpoint.
    func readTimes() async throws -> [String: [Double]] {
        let data = try await send(URLRequest(url: endpoint("/_sim/log")))
        guard let entries = try JSONSerialization.jsonObject(with: data) as? [[String: Any]] else {
            throw BenchFailure("unexpected /_sim/log answer")
        }
        var times: [String: [Double]] = [:]
        for entry in entries {
            if let endpoint = entry["endpoint"] as? String, let t = entry["t"] as? Double { times[endpoint, default: []].append(t) }
        }
        return times
    }

    func resetStats() async throws { try await post("/_sim/stats/reset", [:]) }

    private func endpoint(_ path: String) -> URL { URL(string: url.absoluteString + path)! }

    private func send(_ request: URLRequest) async throws -> Data {
        let (data, response) = try await session.data(for: request)
        guard let http = response as? HTTPURLResponse, http.statusCode == 200 else {
            let status = (response as? HTTPURLResponse)?.statusCode ?? 0
            throw BenchFailure("\(request.url?.path ?? "?"): HTTP \(status) \(String(decoding: data.prefix(300), as: UTF8.self))")
        }
        return data
    }
}

/// What `/_sim/stats` reports.
struct SimulatorStats: Sendable {
    /// Requests by endpoint (`catalog-services`, `health-service`, `health-state`, ...), and by
    /// `health-service/<name>`.
    var requests: [String: Int]
    /// The most connections open at once since the last reset, over every client.
    var maxConnections: Int
    /// Connections refused by the per-client limit (Consul's `limits.http_max_conns_per_client`).
    var refused: Int

    static let readEndpoints = ["catalog-services", "health-service", "health-state"]

    /// Reads Sextant makes (the control API is not counted by the simulator).
    var reads: Int { Self.readEndpoints.reduce(0) { $0 + (requests[$1] ?? 0) } }
}

/// A small JSON value for the control API's request bodies.
enum JSONValue: Sendable {
    case string(String), int(Int), null, object([String: JSONValue])

    var text: String {
        switch self {
        case .string(let s):
            let escaped = s.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"")
            return "\"\(escaped)\""
        case .int(let n): return String(n)
        case .null: return "null"
        case .object(let fields):
            return "{" + fields.sorted { $0.key < $1.key }.map { JSONValue.string($0.key).text + ":" + $0.value.text }
                .joined(separator: ",") + "}"
        }
    }
}

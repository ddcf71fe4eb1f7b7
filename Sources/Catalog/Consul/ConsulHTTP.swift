import Foundation
import HTTPSClient
import Synchronization

#if canImport(FoundationNetworking)
    import FoundationNetworking
    import Glibc
#endif

/// One successful (HTTP 200) answer from Consul.
struct ConsulReply: Sendable {
    var body: Data
    /// Header names lowercased: Consul's Go server canonicalises them (`X-Consul-Knownleader`),
    /// proxies may change them again; names are matched case-insensitively.
    var headers: [String: String]
    /// `X-Consul-Index`, as sent (may be 0 on old versions; the rules are applied by `BlockingIndex`).
    var index: UInt64
    var lastContactMilliseconds: Int?
    var knownLeader: Bool?
}

/// A small Consul HTTP client over URLSession.
///
/// Why URLSession: it is part of the toolchain (no new package), speaks HTTPS through libcurl
/// (verifying Consul's certificate against the system trust store: FoundationNetworking has no
/// way to name another CA on Linux; it reads `URLSessionCertificateAuthorityInfoFile` only on
/// Android), and keeps connections alive so a blocking query re-uses its connection.
/// Blocking queries park a connection for up to `wait` and nothing more, so its cost is
/// the connection count, which `ConsulSource` bounds itself (`maxConcurrentQueries`, at least 3:
/// one service slot, the list watch and the check feed); the session's per-host connection limit
/// is that same bound, so idle pooled connections cannot add to it either.
final class ConsulHTTPClient: Sendable {
    let base: URL
    let token: String?
    let session: URLSession
    let stats: ConsulStatsBox
    /// With `caFile`: HTTPS through our own client trusting that CA (a CA that cannot be loaded
    /// fails every read, never falls back to trusting less).
    let tls: Result<HTTPSClient, HTTPSError>?

    init(configuration: ConsulConfiguration, stats: ConsulStatsBox) {
        base = configuration.url
        token = configuration.token
        self.stats = stats
        tls = configuration.caFile.map { file in Result { () throws(HTTPSError) in try HTTPSClient(caFile: file) } }
        let sessionConfiguration = URLSessionConfiguration.ephemeral
        sessionConfiguration.httpMaximumConnectionsPerHost = max(3, configuration.maxConcurrentQueries)
        sessionConfiguration.requestCachePolicy = .reloadIgnoringLocalCacheData
        sessionConfiguration.urlCache = nil
        sessionConfiguration.timeoutIntervalForResource = 3600
        session = URLSession(configuration: sessionConfiguration)
    }

    deinit {
        session.invalidateAndCancel()
    }

    /// GET `path` with `query`; `timeout` bounds the whole exchange.
    /// - Returns: the reply, or why there is no usable one. Never throws.
    func get(_ path: String, query: [URLQueryItem], timeout: Duration, endpoint: String) async -> Result<ConsulReply, ConsulFailure> {
        var components = URLComponents(url: base, resolvingAgainstBaseURL: false)!
        components.path = (components.path.hasSuffix("/") ? String(components.path.dropLast()) : components.path) + path
        components.queryItems = query.isEmpty ? nil : query
        guard let url = components.url else { return .failure(.transport("cannot build a URL for \(path)")) }
        var request = URLRequest(url: url)
        request.httpMethod = "GET"
        // Rounded up: swift-corelibs-foundation truncates the interval to whole seconds
        // (`Int(timeoutInterval) * 1000` ms), which would eat a sub-second margin and cut off a
        // blocking query just before Consul answers it (`wait` plus up to `wait/16`).
        request.timeoutInterval = max(1, timeout.seconds.rounded(.up))
        if let token { request.setValue(token, forHTTPHeaderField: "X-Consul-Token") }
        stats.request(endpoint)
        let fetched: Result<RawReply, ConsulFailure>
        if let tls {
            fetched = await fetch(url, headers: request.allHTTPHeaderFields ?? [:], timeout: timeout, with: tls)
        } else {
            fetched = await fetch(request)
        }
        let raw: RawReply
        switch fetched {
        case .success(let reply): raw = reply
        case .failure(let failure): return .failure(failure)
        }
        let (headers, data) = (raw.headers, raw.body)
        guard raw.status == 200 else {
            let text = String(decoding: data.prefix(200), as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
            return .failure(.status(raw.status, text))
        }
        guard let indexText = headers["x-consul-index"], let index = UInt64(indexText.trimmingCharacters(in: .whitespaces))
        else { return .failure(.missingIndex) }
        let lastContact = headers["x-consul-lastcontact"].flatMap { Int($0.trimmingCharacters(in: .whitespaces)) }
        let knownLeader = headers["x-consul-knownleader"].map { $0.lowercased() == "true" }
        return .success(
            ConsulReply(body: data, headers: headers, index: index, lastContactMilliseconds: lastContact, knownLeader: knownLeader))
    }

    /// An answer from either transport: status, headers (names lowercased), body.
    struct RawReply: Sendable {
        var status: Int
        var headers: [String: String]
        var body: Data
    }

    /// Over URLSession (http://, or https:// trusting the system store).
    private func fetch(_ request: URLRequest) async -> Result<RawReply, ConsulFailure> {
        let data: Data
        let response: URLResponse
        do {
            (data, response) = try await exchange(request)
        } catch let error as URLError {
            if error.code == .timedOut { return .failure(.timeout) }
            return .failure(.transport("\(error.code.rawValue) \(error.localizedDescription)"))
        } catch {
            return .failure(.transport("\(error)"))
        }
        guard let http = response as? HTTPURLResponse else { return .failure(.transport("not an HTTP response")) }
        var headers: [String: String] = [:]
        for (name, value) in http.allHeaderFields {
            if let name = name as? String, let value = value as? String { headers[name.lowercased()] = value }
        }
        return .success(RawReply(status: http.statusCode, headers: headers, body: data))
    }

    /// `session.data(for:)`, minus its deadlock. On Linux that method cancels its URL task from
    /// inside the Swift task's cancellation handler, i.e. with the task's status lock held, and
    /// `URLSessionTask.cancel()` then waits for the session's work queue; when that queue is at the
    /// same moment finishing the request, it resumes the continuation, which needs the status lock:
    /// both threads wait forever (swift-corelibs-foundation#5412). Here the handler only hands
    /// the cancel to another thread.
    private func exchange(_ request: URLRequest) async throws -> (Data, URLResponse) {
        let exchange = Exchange()
        return try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<(Data, URLResponse), any Error>) in
                let task = session.dataTask(with: request) { data, response, error in
                    if let error {
                        continuation.resume(throwing: error)
                    } else if let data, let response {
                        continuation.resume(returning: (data, response))
                    } else {
                        continuation.resume(throwing: URLError(.badServerResponse))
                    }
                }
                let cancelled = exchange.start(task)
                task.resume()
                // Cancelled before it started: it still completes once, with URLError.cancelled.
                if cancelled { Exchange.cancelElsewhere(task) }
            }
        } onCancel: {
            exchange.cancel()
        }
    }
}

/// The URL task of one `exchange`, and whether its Swift task was cancelled.
private final class Exchange: Sendable {
    private struct State {
        var task: URLSessionTask?
        var cancelled = false
    }
    private let state = Mutex(State())

    /// Records the started task; true when the Swift task was already cancelled.
    func start(_ task: URLSessionTask) -> Bool {
        state.withLock {
            $0.task = task
            return $0.cancelled
        }
    }

    func cancel() {
        let task = state.withLock {
            $0.cancelled = true
            return $0.task
        }
        if let task { Self.cancelElsewhere(task) }
    }

    static func cancelElsewhere(_ task: URLSessionTask) {
        DispatchQueue.global().async { task.cancel() }
    }
}

extension Duration {
    /// Seconds as a floating-point value.
    var seconds: Double {
        let (s, attoseconds) = components
        return Double(s) + Double(attoseconds) / 1e18
    }

    /// Go's duration text for `?wait=` (milliseconds resolution).
    var goText: String {
        let ms = Int64((seconds * 1000).rounded())
        return ms % 1000 == 0 ? "\(ms / 1000)s" : "\(ms)ms"
    }
}

import Foundation

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
/// Why URLSession: it is part of the toolchain (no new package), speaks HTTPS through the
/// system's libcurl, and keeps connections alive so a blocking query re-uses its connection.
/// Blocking queries park a connection for up to `wait` and nothing more, so its cost is
/// the connection count, which `ConsulSource` bounds itself (`maxConcurrentQueries`); the session's
/// per-host connection limit is set just above that bound.
final class ConsulHTTPClient: Sendable {
    let base: URL
    let token: String?
    let session: URLSession
    let stats: ConsulStatsBox

    init(configuration: ConsulConfiguration, stats: ConsulStatsBox) {
        base = configuration.url
        token = configuration.token
        self.stats = stats
        let sessionConfiguration = URLSessionConfiguration.ephemeral
        sessionConfiguration.httpMaximumConnectionsPerHost = configuration.maxConcurrentQueries + 4
        sessionConfiguration.requestCachePolicy = .reloadIgnoringLocalCacheData
        sessionConfiguration.urlCache = nil
        sessionConfiguration.timeoutIntervalForResource = 3600
        if let caFile = configuration.caFile {
            // swift-corelibs-foundation hands this variable to libcurl as CURLOPT_CAINFO; it is
            // process-wide, so every ConsulSource of the process must agree on the CA file.
            #if canImport(FoundationNetworking)
                setenv("URLSessionCertificateAuthorityInfoFile", caFile, 1)
            #endif
        }
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
        request.timeoutInterval = timeout.seconds
        if let token { request.setValue(token, forHTTPHeaderField: "X-Consul-Token") }
        stats.request(endpoint)
        let data: Data
        let response: URLResponse
        do {
            (data, response) = try await session.data(for: request)
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
        guard http.statusCode == 200 else {
            let text = String(decoding: data.prefix(200), as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
            return .failure(.status(http.statusCode, text))
        }
        guard let indexText = headers["x-consul-index"], let index = UInt64(indexText.trimmingCharacters(in: .whitespaces))
        else { return .failure(.missingIndex) }
        let lastContact = headers["x-consul-lastcontact"].flatMap { Int($0.trimmingCharacters(in: .whitespaces)) }
        let knownLeader = headers["x-consul-knownleader"].map { $0.lowercased() == "true" }
        return .success(
            ConsulReply(body: data, headers: headers, index: index, lastContactMilliseconds: lastContact, knownLeader: knownLeader))
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

import Foundation
import HTTPSClient

extension ConsulHTTPClient {
    /// Over `HTTPSClient` (https:// with `caFile`), on a thread of its own: the client blocks, and
    /// up to `maxConcurrentQueries` blocking queries must never sit on Swift's cooperative pool.
    /// Cancelling the task shuts the request's socket down, which ends the blocked read.
    func fetch(
        _ url: URL, headers: [String: String], timeout: Duration, with tls: Result<HTTPSClient, HTTPSError>
    ) async -> Result<RawReply, ConsulFailure> {
        let client: HTTPSClient
        switch tls {
        case .success(let loaded): client = loaded
        case .failure(let error): return .failure(.transport("\(error)"))
        }
        guard let host = url.host, url.scheme == "https", let components = URLComponents(url: url, resolvingAgainstBaseURL: false)
        else { return .failure(.transport("a CA file needs an https:// URL")) }
        let port = url.port ?? 443
        // As sent by URLSession: the path and query stay percent-encoded.
        let path = components.percentEncodedPath.isEmpty ? "/" : components.percentEncodedPath
        let target = path + (components.percentEncodedQuery.map { "?" + $0 } ?? "")
        let cancellation = HTTPSCancellation()
        let answer: Result<HTTPSResponse, HTTPSError> = await withTaskCancellationHandler {
            await withCheckedContinuation { continuation in
                let thread = Thread {
                    continuation.resume(
                        returning: Result { () throws(HTTPSError) in
                            try client.get(
                                host: host, port: port, target: target, headers: headers.sorted { $0.key < $1.key },
                                timeoutSeconds: timeout.seconds, cancellation: cancellation)
                        })
                }
                thread.name = "sextant.consul.https"
                thread.start()
            }
        } onCancel: {
            cancellation.cancel()
        }
        switch answer {
        case .success(let response):
            return .success(RawReply(status: response.status, headers: response.headers, body: Data(response.body)))
        case .failure(.timeout):
            return .failure(.timeout)
        case .failure(let error):
            return .failure(.transport("\(error)"))
        }
    }
}

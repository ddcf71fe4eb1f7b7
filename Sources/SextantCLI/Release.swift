import ArgumentParser
import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

/// `sextant release SERVICE | --all`: accept changes the safeguards are holding.
struct Release: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Accept the change the safeguards hold for a service (or every hold and a freeze).")

    @Argument(help: "The service whose held change to accept.")
    var service: String?

    @Flag(help: "Accept every held change and lift a freeze.")
    var all = false

    @Option(help: "The admin API of the running sextant (HOST:PORT).")
    var admin = "127.0.0.1:19000"

    func validate() throws {
        guard (service != nil) != all else { throw ValidationError("name one service, or --all") }
        _ = try HostPort(admin)
    }

    func run() async throws {
        let address = try HostPort(admin)
        var components = URLComponents()
        components.scheme = "http"
        components.host = address.host
        components.port = address.port
        components.path = "/release"
        components.queryItems = all ? [URLQueryItem(name: "all", value: "true")] : [URLQueryItem(name: "service", value: service)]
        var request = URLRequest(url: components.url!)
        request.httpMethod = "POST"
        request.timeoutInterval = 10
        let (data, response) = try await URLSession.shared.data(for: request)
        let status = (response as? HTTPURLResponse)?.statusCode ?? 0
        FileHandle.standardOutput.write(data)
        guard status == 200 else { throw ExitCode(1) }
    }
}

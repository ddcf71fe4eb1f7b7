import ArgumentParser
import Catalog
import Foundation
import HTTPSClient

/// `--consul` and how to read it; shared by `serve` and the offline commands.
struct ConsulOptions: ParsableArguments {
    @Option(name: .customLong("consul"), help: "Read the catalog from Consul's HTTP API at this URL (http:// or https://) instead of --catalog (default: $CONSUL_HTTP_ADDR).")
    var url: String?

    @Option(name: .customLong("consul-datacenter"), help: "Consul datacenter (?dc=); default: the agent's own.")
    var datacenter: String?

    @Option(name: .customLong("consul-token-file"), help: "File whose first line is the ACL token (default: $CONSUL_HTTP_TOKEN_FILE, else the token $CONSUL_HTTP_TOKEN).")
    var tokenFile: String?

    @Option(name: .customLong("consul-ca-file"), help: "PEM file of the CA that signed Consul's certificate (https:// only; default: $CONSUL_CACERT, else the system trust store).")
    var caFile: String?

    @Flag(name: .customLong("consul-stale"), help: "Stale reads (?stale): any Consul server may answer.")
    var stale = false

    @Option(name: .customLong("consul-max-staleness"), help: "With --consul-stale: seconds of X-Consul-LastContact beyond which an answer is an error.")
    var maxStaleness: Double?

    @Option(name: .customLong("consul-service"), help: "Watch only this service (repeatable; default: every service).")
    var services: [String] = []

    @Option(name: .customLong("consul-tag"), help: "Only services and instances with this tag (repeatable; all must match).")
    var tags: [String] = []

    @Option(name: .customLong("consul-health"), help: "Check status to Envoy health, e.g. passing=healthy,warning=degraded,critical=unhealthy.")
    var health = "passing=healthy,warning=degraded,critical=unhealthy"

    @Option(name: .customLong("consul-zone-key"), help: "Service.Meta / Node.Meta key holding the zone (repeatable, first found wins).")
    var zoneKeys: [String] = ["zone"]

    @Option(name: .customLong("consul-region-key"), help: "Service.Meta / Node.Meta key holding the region (repeatable).")
    var regionKeys: [String] = ["region"]

    @Option(name: .customLong("consul-tagged-address"), help: "Use this Service.TaggedAddresses entry (e.g. lan_ipv4) when an instance has it.")
    var taggedAddress: String?

    @Option(name: .customLong("consul-wait"), help: "Seconds each blocking query waits (Consul caps it at 600).")
    var wait: Double = 300

    @Option(name: .customLong("consul-max-queries"), help: "At most this many queries open at once (Consul refuses over 200 connections per client by default).")
    var maxQueries = 128

    @Option(name: .customLong("consul-retry-max"), help: "Longest pause, in seconds, between retries of a failing read (exponential back-off with jitter from 0.25 s).")
    var retryMax: Double = 30

    /// These options with Consul's usual environment filling what the flags leave out:
    /// `CONSUL_HTTP_ADDR` (`host:port` or a URL; `CONSUL_HTTP_SSL=true` makes a bare address
    /// https), `CONSUL_HTTP_TOKEN_FILE` and `CONSUL_CACERT`. `CONSUL_HTTP_TOKEN` is read when
    /// the token is resolved. Flags always win; without an address, nothing else is taken.
    func resolved(_ environment: [String: String] = ProcessInfo.processInfo.environment) -> ConsulOptions {
        var options = self
        if options.url == nil, let address = environment["CONSUL_HTTP_ADDR"], !address.isEmpty {
            let ssl = ["true", "1"].contains(environment["CONSUL_HTTP_SSL"]?.lowercased() ?? "")
            options.url = address.contains("://") ? address : (ssl ? "https://" : "http://") + address
        }
        guard options.url != nil else { return options }
        if options.tokenFile == nil, let file = environment["CONSUL_HTTP_TOKEN_FILE"], !file.isEmpty { options.tokenFile = file }
        if options.caFile == nil, let file = environment["CONSUL_CACERT"], !file.isEmpty,
            options.url?.hasPrefix("https://") == true
        {
            options.caFile = file
        }
        return options
    }

    func validate() throws {
        try resolved().check()
    }

    private func check() throws {
        guard let url else {
            let consulOnly = datacenter != nil || tokenFile != nil || caFile != nil || stale || !services.isEmpty || !tags.isEmpty
            if consulOnly { throw ValidationError("the --consul-* options need --consul URL") }
            return
        }
        guard let parsed = URL(string: url), let scheme = parsed.scheme, ["http", "https"].contains(scheme), parsed.host != nil else {
            throw ValidationError("--consul: expected an http:// or https:// URL, got '\(url)'")
        }
        guard wait > 0, wait <= 600 else { throw ValidationError("--consul-wait: between 0 and 600 seconds") }
        guard retryMax >= 0.25, retryMax <= 600 else { throw ValidationError("--consul-retry-max: between 0.25 and 600 seconds") }
        guard maxQueries >= 3 else { throw ValidationError("--consul-max-queries: at least 3 (the service list, the check feed, one service)") }
        if maxStaleness != nil && !stale { throw ValidationError("--consul-max-staleness needs --consul-stale") }
        if let caFile {
            guard scheme == "https" else { throw ValidationError("--consul-ca-file needs an https:// --consul URL") }
            do { _ = try HTTPSClient(caFile: caFile) } catch { throw ValidationError("--consul-ca-file: \(error)") }
        }
        _ = try resolvedConfiguration(environment: ProcessInfo.processInfo.environment)
    }

    /// The source's configuration; nil without `--consul`.
    /// - Throws: `ValidationError` naming the option that is wrong.
    func configuration(environment: [String: String] = ProcessInfo.processInfo.environment) throws -> ConsulConfiguration? {
        try resolved(environment).resolvedConfiguration(environment: environment)
    }

    private func resolvedConfiguration(environment: [String: String]) throws -> ConsulConfiguration? {
        guard let url, let parsed = URL(string: url) else { return nil }
        do {
            var configuration = ConsulConfiguration(url: parsed)
            configuration.datacenter = datacenter
            configuration.token = try ConsulConfiguration.resolveToken(file: tokenFile, environment: environment)
            configuration.caFile = caFile
            configuration.stale = stale
            configuration.maxStaleness = maxStaleness.map { .milliseconds(Int64($0 * 1_000)) }
            configuration.services = services.isEmpty ? nil : Set(services)
            configuration.tags = tags
            configuration.health = try HealthMapping(parsing: health)
            configuration.zoneMetaKeys = zoneKeys
            configuration.regionMetaKeys = regionKeys
            configuration.taggedAddress = taggedAddress
            configuration.wait = .milliseconds(Int64(wait * 1_000))
            configuration.maxConcurrentQueries = maxQueries
            configuration.backoffMax = .milliseconds(Int64(retryMax * 1_000))
            return configuration
        } catch {
            throw ValidationError("\(error)")
        }
    }
}

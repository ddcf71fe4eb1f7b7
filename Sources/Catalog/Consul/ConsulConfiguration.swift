import Foundation

/// How `ConsulSource` reads a Consul catalog. Every field has a default; only `url` is required.
public struct ConsulConfiguration: Sendable {
    /// The agent's HTTP(S) address, e.g. `http://127.0.0.1:8500`.
    public var url: URL
    /// `?dc=`; nil means the agent's own datacenter.
    public var datacenter: String?
    /// Sent as `X-Consul-Token`. See `resolveToken(file:environment:)`.
    public var token: String?
    /// PEM file of the CA that signed Consul's certificate (https:// only). Without it, https://
    /// trusts the system store (FoundationNetworking cannot be given a CA on Linux, so with it
    /// reads go through `HTTPSClient` instead).
    public var caFile: String?
    /// `?stale`: any server may answer (works without a leader, spreads load).
    public var stale: Bool
    /// With `stale`: an answer whose `X-Consul-LastContact` exceeds this is treated as an error
    /// (the last good data stays). nil: any staleness is accepted.
    public var maxStaleness: Duration?
    /// Services to watch; nil watches every service in `/v1/catalog/services`.
    public var services: Set<String>?
    /// Only services carrying all these tags, and of those only the instances carrying them
    /// (Consul compares tags case-insensitively).
    public var tags: [String]
    /// Consul check status → instance health.
    public var health: HealthMapping
    /// Keys looked up in `Service.Meta`, then `Node.Meta`, after `Service.Locality`/`Node.Locality`.
    public var zoneMetaKeys: [String]
    public var regionMetaKeys: [String]
    /// A `Service.TaggedAddresses` entry (e.g. `lan_ipv4`, `wan`) used instead of `Service.Address`
    /// when the instance has it.
    public var taggedAddress: String?

    /// `?wait=` of each blocking query (Consul caps it at 10 minutes and adds up to wait/16).
    public var wait: Duration
    /// At most this many queries are open at once (Consul refuses more than 200 concurrent
    /// connections per client IP by default). With more watched services than this, the
    /// services share the slots in turn, each query waiting `rotationWait`.
    public var maxConcurrentQueries: Int
    public var rotationWait: Duration
    /// Successive queries of one watch are spaced by a token bucket of this interval, burst 2.
    public var minQueryInterval: Duration
    /// Exponential back-off with full jitter after an error.
    public var backoffBase: Duration
    public var backoffMax: Duration
    /// A burst of changes is coalesced: one update `debounceWindow` after the last change, but
    /// never later than `debounceMaxDelay` after the first.
    public var debounceWindow: Duration
    public var debounceMaxDelay: Duration
    /// After this long without every watched service read once, a warning names the unread ones
    /// (nothing is published before they are: see `ConsulSource`).
    public var initialSyncTimeout: Duration
    /// Added to `wait + wait/16` for the HTTP timeout of a blocking query.
    public var requestTimeoutMargin: Duration

    public init(
        url: URL, datacenter: String? = nil, token: String? = nil, caFile: String? = nil,
        stale: Bool = false, maxStaleness: Duration? = nil, services: Set<String>? = nil,
        tags: [String] = [], health: HealthMapping = HealthMapping(), zoneMetaKeys: [String] = ["zone"],
        regionMetaKeys: [String] = ["region"], taggedAddress: String? = nil, wait: Duration = .seconds(300),
        maxConcurrentQueries: Int = 128, rotationWait: Duration = .seconds(5),
        minQueryInterval: Duration = .milliseconds(100), backoffBase: Duration = .milliseconds(250),
        backoffMax: Duration = .seconds(30), debounceWindow: Duration = .milliseconds(40),
        debounceMaxDelay: Duration = .milliseconds(200), initialSyncTimeout: Duration = .seconds(10),
        requestTimeoutMargin: Duration = .seconds(15)
    ) {
        self.url = url
        self.datacenter = datacenter
        self.token = token
        self.caFile = caFile
        self.stale = stale
        self.maxStaleness = maxStaleness
        self.services = services
        self.tags = tags
        self.health = health
        self.zoneMetaKeys = zoneMetaKeys
        self.regionMetaKeys = regionMetaKeys
        self.taggedAddress = taggedAddress
        self.wait = wait
        self.maxConcurrentQueries = max(1, maxConcurrentQueries)
        self.rotationWait = rotationWait
        self.minQueryInterval = minQueryInterval
        self.backoffBase = backoffBase
        self.backoffMax = backoffMax
        self.debounceWindow = debounceWindow
        self.debounceMaxDelay = debounceMaxDelay
        self.initialSyncTimeout = initialSyncTimeout
        self.requestTimeoutMargin = requestTimeoutMargin
    }

    /// The ACL token: the first line of `file` when given, else `CONSUL_HTTP_TOKEN`, else nil.
    /// - Throws: `ConfigErrors` when the file cannot be read or is empty.
    public static func resolveToken(
        file: String?, environment: [String: String] = ProcessInfo.processInfo.environment
    ) throws(ConfigErrors) -> String? {
        if let file {
            guard let data = FileManager.default.contents(atPath: file),
                let text = String(data: data, encoding: .utf8)
            else {
                throw ConfigErrors([ConfigError(file: file, line: 0, column: 0, field: "", message: "cannot read the token file")])
            }
            let token = text.split(whereSeparator: \.isNewline).first.map { $0.trimmingCharacters(in: .whitespaces) }
            guard let token, !token.isEmpty else {
                throw ConfigErrors([ConfigError(file: file, line: 0, column: 0, field: "", message: "the token file is empty")])
            }
            return token
        }
        if let token = environment["CONSUL_HTTP_TOKEN"], !token.isEmpty { return token }
        return nil
    }
}

/// Consul check status → `Health`. An instance's status is its worst check, node-level checks
/// (e.g. `serfHealth`) included, as Consul's own `?passing` filter does.
public struct HealthMapping: Sendable, Equatable {
    public var passing: Health
    public var warning: Health
    public var critical: Health

    public init(passing: Health = .healthy, warning: Health = .degraded, critical: Health = .unhealthy) {
        self.passing = passing
        self.warning = warning
        self.critical = critical
    }

    /// Parses `passing=healthy,warning=healthy,critical=unhealthy` (any subset).
    public init(parsing text: String) throws(ConfigErrors) {
        self.init()
        for pair in text.split(separator: ",") where !pair.isEmpty {
            let parts = pair.split(separator: "=", maxSplits: 1).map { $0.trimmingCharacters(in: .whitespaces) }
            guard parts.count == 2, let health = Health(rawValue: parts[1]) else {
                throw Self.error("expected status=health with health one of healthy, degraded, unhealthy, draining: \(pair)")
            }
            switch parts[0] {
            case "passing": passing = health
            case "warning": warning = health
            case "critical": critical = health
            default: throw Self.error("unknown Consul check status \(parts[0]) (passing, warning, critical)")
            }
        }
    }

    private static func error(_ message: String) -> ConfigErrors {
        ConfigErrors([ConfigError(file: "--consul-health", line: 0, column: 0, field: "", message: message)])
    }
}

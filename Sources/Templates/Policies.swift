/// The resolved per-dependency policy: built-in values, overlaid by `defaults.yaml`'s `dependency:`
/// section, overlaid by the dependency's own settings in its template.
///
/// The built-in values are chosen to be safe for traffic that worked before the mesh: circuit
/// breakers far above normal concurrency (Envoy's own default of 1024 dropped real traffic), a
/// retry budget so retries can never multiply load, and client connection lifetimes shorter than
/// the server side's, so the client always closes an idle HTTP/1.1 connection first.
public struct DependencyPolicy: Sendable, Hashable {
    // Retries (route retry_policy, plus the cluster's retry budget).
    public var retryOn: [String] = [
        "reset", "connect-failure", "refused-stream", "unavailable", "retriable-status-codes",
    ]
    public var numRetries = 2
    /// Zero: each try may use the whole route timeout.
    public var perTryTimeout: Duration = .zero
    public var retryBackOffBase: Duration = .milliseconds(25)
    public var retryBackOffMax: Duration = .milliseconds(250)
    public var retriableStatusCodes: [Int] = [503]
    public var retryBudgetPercent: Double = 20
    public var retryBudgetMinConcurrency = 3
    // Outlier detection.
    public var outlierDetection = true
    public var consecutive5xx = 5
    public var outlierInterval: Duration = .seconds(10)
    public var baseEjectionTime: Duration = .seconds(30)
    public var maxEjectionPercent = 50
    // Circuit breakers (default priority).
    public var maxConnections = 4096
    public var maxPendingRequests = 4096
    public var maxRequests = 4096
    // HTTP/2.
    public var maxConcurrentStreams = 100
    // Client connection lifetime.
    public var connectionMaxAge: Duration = .seconds(240)
    public var connectionIdleTimeout: Duration = .seconds(50)
    // Load balancing.
    public var zoneAware = false
    public var zoneAwareMinClusterSize = 6
    public var healthyPanicThreshold: Double = 50
    // Active health checking (opt-in): the cluster's `health_checks`.
    public var healthCheck = false
    /// Requested by HTTP checks (http1/http2 dependencies); grpc dependencies use grpc.health.v1.
    public var healthCheckPath = "/healthz"
    public var healthCheckInterval: Duration = .seconds(5)
    public var healthCheckTimeout: Duration = .seconds(1)
    /// Envoy's own default, made explicit: the interval while the cluster has carried no traffic.
    public var healthCheckNoTrafficInterval: Duration = .seconds(60)
    public var unhealthyThreshold = 3
    public var healthyThreshold = 2

    public init() {}

    /// Every word Envoy accepts in `retry_on` (HTTP and gRPC conditions).
    static let retryConditions = [
        "5xx", "gateway-error", "reset", "reset-before-request", "connect-failure", "envoy-ratelimited",
        "retriable-4xx", "refused-stream", "retriable-status-codes", "retriable-headers",
        "http3-post-connect-failure", "cancelled", "deadline-exceeded", "internal", "resource-exhausted",
        "unavailable",
    ]

    static let fields: [SettingField<DependencyPolicy>] = [
        .init(
            "retries.retry_on", .words(\.retryOn, allowed: retryConditions),
            "Envoy retry_on conditions, comma-separated (HTTP and gRPC conditions)"),
        .init("retries.num_retries", .integer(\.numRetries, 0...10), "retries per request (0 disables retries)"),
        .init(
            "retries.per_try_timeout", .duration(\.perTryTimeout, minimum: .zero),
            "timeout of each try; 0s: each try may use the whole route timeout"),
        .init(
            "retries.back_off.base_interval", .duration(\.retryBackOffBase, minimum: .milliseconds(1)),
            "first back-off (Envoy jitters it)"),
        .init(
            "retries.back_off.max_interval", .duration(\.retryBackOffMax, minimum: .milliseconds(1)),
            "longest back-off (raised to base_interval when lower)"),
        .init(
            "retries.retriable_status_codes", .integers(\.retriableStatusCodes, 100...599),
            "status codes retried under the retriable-status-codes condition"),
        .init(
            "retries.budget.percent", .number(\.retryBudgetPercent, 1...100),
            "active retries may be at most this percentage of active requests (the cluster's retry budget)"),
        .init(
            "retries.budget.min_retry_concurrency", .integer(\.retryBudgetMinConcurrency, 1...10_000),
            "retries always allowed regardless of the percentage"),
        .init("outlier_detection.enabled", .bool(\.outlierDetection), "eject hosts that keep failing"),
        .init(
            "outlier_detection.consecutive_5xx", .integer(\.consecutive5xx, 1...1000),
            "consecutive 5xx (or connect failures) that eject a host"),
        .init(
            "outlier_detection.interval", .duration(\.outlierInterval, minimum: .milliseconds(1)),
            "how often ejection analysis runs"),
        .init(
            "outlier_detection.base_ejection_time", .duration(\.baseEjectionTime, minimum: .milliseconds(1)),
            "ejection time, multiplied by the number of times the host was ejected"),
        .init(
            "outlier_detection.max_ejection_percent", .integer(\.maxEjectionPercent, 0...100),
            "at most this share of hosts is ejected (Envoy ejects at least one regardless)"),
        .init(
            "circuit_breakers.max_connections", .integer(\.maxConnections, 1...1_000_000),
            "connections to all hosts of the cluster"),
        .init(
            "circuit_breakers.max_pending_requests", .integer(\.maxPendingRequests, 1...1_000_000),
            "requests waiting for a connection"),
        .init(
            "circuit_breakers.max_requests", .integer(\.maxRequests, 1...1_000_000),
            "concurrent requests to the cluster"),
        .init(
            "max_concurrent_streams", .integer(\.maxConcurrentStreams, 1...2_147_483_647),
            "HTTP/2 streams per upstream connection (http2 and grpc dependencies)"),
        .init(
            "connection.max_age", .duration(\.connectionMaxAge, minimum: .zero),
            "close upstream connections after this long (0s: never); keep below the server's"),
        .init(
            "connection.idle_timeout", .duration(\.connectionIdleTimeout, minimum: .zero),
            "close idle upstream connections (0s: never); keep below the server's keep-alive timeout"),
        .init("zone_aware.enabled", .bool(\.zoneAware), "prefer endpoints in the caller's zone"),
        .init(
            "zone_aware.min_cluster_size", .integer(\.zoneAwareMinClusterSize, 1...1_000_000),
            "zone-aware routing only when the dependency has at least this many hosts"),
        .init(
            "healthy_panic_threshold", .number(\.healthyPanicThreshold, 0...100),
            "below this percentage of healthy hosts Envoy balances over all hosts (0 disables panic mode)"),
        .init(
            "health_check.enabled", .bool(\.healthCheck),
            "Envoy checks every host itself and keeps a host removed from discovery while it passes"),
        .init(
            "health_check.path", .text(\.healthCheckPath, .httpPath),
            "path of the HTTP check of http1/http2 dependencies (grpc ones use grpc.health.v1); 200 is healthy"),
        .init(
            "health_check.interval", .duration(\.healthCheckInterval, minimum: .milliseconds(1)),
            "time between checks of a host"),
        .init(
            "health_check.timeout", .duration(\.healthCheckTimeout, minimum: .milliseconds(1)),
            "a check not answered within this fails"),
        .init(
            "health_check.no_traffic_interval",
            .duration(\.healthCheckNoTrafficInterval, minimum: .milliseconds(1)),
            "time between checks while the cluster has never carried traffic"),
        .init(
            "health_check.unhealthy_threshold", .integer(\.unhealthyThreshold, 1...1000),
            "consecutive timed-out or refused checks that mark a host unhealthy (a wrong answer does at once)"),
        .init(
            "health_check.healthy_threshold", .integer(\.healthyThreshold, 1...1000),
            "consecutive passing checks that mark an unhealthy host healthy again (a new host needs one)"),
    ]
}

/// The resolved inbound policy: built-in values, overlaid by `defaults.yaml`'s `inbound:` section,
/// overlaid by the template's `inbound:` settings.
public struct InboundPolicy: Sendable, Hashable {
    /// Route timeout of requests to the application; zero: none.
    public var timeout: Duration = .seconds(15)
    /// Envoy closes downstream connections after this long (zero: never). Above callers' 240s.
    public var maxConnectionAge: Duration = .seconds(300)
    public var drainTime: Duration = .seconds(5)
    /// Downstream idle timeout (zero: never). Above callers' 50s idle timeout.
    public var idleTimeout: Duration = .seconds(60)
    /// Idle timeout of Envoy's connections to the application: below common server keep-alive
    /// timeouts (Node.js: 5s), so Envoy never reuses a connection the application is closing.
    public var appIdleTimeout: Duration = .seconds(4)
    /// HTTP/2 streams per connection to the application (http2/grpc).
    public var appMaxConcurrentStreams = 100
    public var adaptiveConcurrency = false
    public var sampleAggregatePercentile: Double = 50
    public var concurrencyUpdateInterval: Duration = .milliseconds(100)
    public var maxConcurrencyLimit = 1000
    public var minRTTInterval: Duration = .seconds(30)
    public var minRTTRequestCount = 50
    public var minRTTJitter: Double = 10
    public var minConcurrency = 3
    public var minRTTBuffer: Double = 25

    public init() {}

    static let fields: [SettingField<InboundPolicy>] = [
        .init("timeout", .duration(\.timeout, minimum: .zero), "request timeout to the application (0s: none)"),
        .init(
            "max_connection_age", .duration(\.maxConnectionAge, minimum: .zero),
            "Envoy closes downstream connections after this long (0s: never)"),
        .init(
            "drain_time", .duration(\.drainTime, minimum: .zero),
            "grace between announcing a close (GOAWAY / Connection: close) and closing"),
        .init(
            "idle_timeout", .duration(\.idleTimeout, minimum: .zero),
            "close idle downstream connections (0s: never); keep above callers' connection.idle_timeout"),
        .init(
            "app_idle_timeout", .duration(\.appIdleTimeout, minimum: .zero),
            "close idle connections to the application; keep below its keep-alive timeout"),
        .init(
            "app_max_concurrent_streams", .integer(\.appMaxConcurrentStreams, 1...2_147_483_647),
            "HTTP/2 streams per connection to the application (http2 and grpc)"),
        .init(
            "adaptive_concurrency.enabled", .bool(\.adaptiveConcurrency),
            "add the adaptive concurrency filter (gradient controller) before the router"),
        .init(
            "adaptive_concurrency.sample_percentile", .number(\.sampleAggregatePercentile, 0...100),
            "latency percentile of the sampled requests compared with the minimum RTT"),
        .init(
            "adaptive_concurrency.concurrency_update_interval",
            .duration(\.concurrencyUpdateInterval, minimum: .milliseconds(1)), "how often the limit is recomputed"),
        .init(
            "adaptive_concurrency.max_concurrency_limit", .integer(\.maxConcurrencyLimit, 1...1_000_000),
            "upper bound of the concurrency limit"),
        .init(
            "adaptive_concurrency.min_rtt.interval", .duration(\.minRTTInterval, minimum: .milliseconds(1)),
            "how often the minimum RTT is re-measured"),
        .init(
            "adaptive_concurrency.min_rtt.request_count", .integer(\.minRTTRequestCount, 1...1_000_000),
            "requests sampled to measure the minimum RTT"),
        .init(
            "adaptive_concurrency.min_rtt.jitter_percent", .number(\.minRTTJitter, 0...100),
            "random delay added to min_rtt.interval"),
        .init(
            "adaptive_concurrency.min_rtt.min_concurrency", .integer(\.minConcurrency, 1...1_000_000),
            "concurrency limit while the minimum RTT is measured"),
        .init(
            "adaptive_concurrency.min_rtt.buffer_percent", .number(\.minRTTBuffer, 0...100),
            "tolerance added to the minimum RTT before latency counts as degraded"),
    ]
}

import EnvoyAPI
import SwiftProtobuf

typealias EnvoyCluster = Envoy_Config_Cluster_V3_Cluster

extension Compiler {
    /// The dependency's policy: `Defaults.dependency` overlaid by the template's settings.
    func policyOf(_ dependency: Dependency) -> DependencyPolicy {
        DependencyPolicy.fields.applying(dependency.settings, to: defaults.dependency)
    }

    /// The inbound policy: `Defaults.inbound` overlaid by the template's settings.
    func policyOf(_ inbound: Inbound) -> InboundPolicy {
        InboundPolicy.fields.applying(inbound.settings, to: defaults.inbound)
    }

    /// Circuit breakers, retry budget, outlier detection, panic threshold, zone-aware routing, active
    /// health checking (opt-in) and the upstream HTTP options (protocol, HTTP/2 streams, connection
    /// lifetime) of a dependency cluster.
    func apply(_ policy: DependencyPolicy, protocol: ServiceProtocol, to cluster: inout EnvoyCluster, zoneAware: Bool) {
        cluster.circuitBreakers = Self.circuitBreakers(policy)

        if policy.outlierDetection {
            var outlier = Envoy_Config_Cluster_V3_OutlierDetection()
            outlier.consecutive5Xx = Google_Protobuf_UInt32Value(UInt32(policy.consecutive5xx))
            outlier.interval = Google_Protobuf_Duration(rounding: policy.outlierInterval)
            outlier.baseEjectionTime = Google_Protobuf_Duration(rounding: policy.baseEjectionTime)
            outlier.maxEjectionPercent = Google_Protobuf_UInt32Value(UInt32(policy.maxEjectionPercent))
            cluster.outlierDetection = outlier
        }

        var common = EnvoyCluster.CommonLbConfig()
        common.healthyPanicThreshold = Self.percent(policy.healthyPanicThreshold)
        if zoneAware {
            var zone = EnvoyCluster.CommonLbConfig.ZoneAwareLbConfig()
            zone.routingEnabled = Self.percent(100)
            zone.minClusterSize = Google_Protobuf_UInt64Value(UInt64(policy.zoneAwareMinClusterSize))
            common.zoneAwareLbConfig = zone
        }
        cluster.commonLbConfig = common

        if policy.healthCheck {
            cluster.healthChecks = [Self.healthCheck(policy, protocol: `protocol`)]
        }

        cluster.typedExtensionProtocolOptions = Self.upstreamOptions(
            protocol: `protocol`, idleTimeout: policy.connectionIdleTimeout, maxAge: policy.connectionMaxAge,
            maxConcurrentStreams: policy.maxConcurrentStreams)
    }

    /// The active health check of a dependency cluster: grpc.health.v1 `Check` (empty service name:
    /// the server as a whole) for grpc, else an HTTP GET of the policy's path expecting 200, over
    /// the dependency's HTTP version.
    ///
    /// `ignore_health_on_host_removal` stays false (Envoy's default): a host that disappears from
    /// EDS keeps its traffic until it also fails its checks, so a control plane that wrongly drops
    /// endpoints cannot take healthy hosts away.
    static func healthCheck(_ policy: DependencyPolicy, protocol: ServiceProtocol) -> Envoy_Config_Core_V3_HealthCheck {
        var check = Envoy_Config_Core_V3_HealthCheck()
        check.interval = Google_Protobuf_Duration(rounding: policy.healthCheckInterval)
        check.timeout = Google_Protobuf_Duration(rounding: policy.healthCheckTimeout)
        check.noTrafficInterval = Google_Protobuf_Duration(rounding: policy.healthCheckNoTrafficInterval)
        check.unhealthyThreshold = Google_Protobuf_UInt32Value(UInt32(policy.unhealthyThreshold))
        check.healthyThreshold = Google_Protobuf_UInt32Value(UInt32(policy.healthyThreshold))
        if `protocol` == .grpc {
            check.grpcHealthCheck = Envoy_Config_Core_V3_HealthCheck.GrpcHealthCheck()
        } else {
            var http = Envoy_Config_Core_V3_HealthCheck.HttpHealthCheck()
            http.path = policy.healthCheckPath
            // The check speaks the cluster's protocol: Envoy's default is HTTP/1.1, which an
            // HTTP/2-only (prior knowledge) upstream would fail, taking every host out.
            http.codecClientType = `protocol`.usesHTTP2 ? .http2 : .http1
            check.httpHealthCheck = http
        }
        return check
    }

    /// Default-priority thresholds from the policy, always with a retry budget. Every cluster that
    /// carries traffic gets them: Envoy's built-in 1024 requests per cluster drop real traffic.
    static func circuitBreakers(_ policy: DependencyPolicy) -> Envoy_Config_Cluster_V3_CircuitBreakers {
        var threshold = Envoy_Config_Cluster_V3_CircuitBreakers.Thresholds()
        threshold.priority = .default
        threshold.maxConnections = Google_Protobuf_UInt32Value(UInt32(policy.maxConnections))
        threshold.maxPendingRequests = Google_Protobuf_UInt32Value(UInt32(policy.maxPendingRequests))
        threshold.maxRequests = Google_Protobuf_UInt32Value(UInt32(policy.maxRequests))
        // Always a budget: without one, Envoy allows 3 concurrent retries per cluster and host
        // regardless of load; with one, retries stay a bounded share of the requests in flight.
        var budget = Envoy_Config_Cluster_V3_CircuitBreakers.Thresholds.RetryBudget()
        budget.budgetPercent = Self.percent(policy.retryBudgetPercent)
        budget.minRetryConcurrency = Google_Protobuf_UInt32Value(UInt32(policy.retryBudgetMinConcurrency))
        threshold.retryBudget = budget
        var breakers = Envoy_Config_Cluster_V3_CircuitBreakers()
        breakers.thresholds = [threshold]
        return breakers
    }

    /// `typed_extension_protocol_options`: the upstream protocol and connection lifetime.
    ///
    /// `idle_timeout` is always explicit (Envoy's default is 1h, far above most servers' keep-alive
    /// timeouts; 0 disables it). A zero `maxAge` leaves `max_connection_duration` unset (no limit).
    static func upstreamOptions(
        protocol: ServiceProtocol, idleTimeout: Duration, maxAge: Duration, maxConcurrentStreams: Int
    ) -> [String: Google_Protobuf_Any] {
        var common = Envoy_Config_Core_V3_HttpProtocolOptions()
        common.idleTimeout = Google_Protobuf_Duration(rounding: idleTimeout)
        if maxAge > .zero {
            common.maxConnectionDuration = Google_Protobuf_Duration(rounding: maxAge)
        }
        var explicit = Envoy_Extensions_Upstreams_Http_V3_HttpProtocolOptions.ExplicitHttpConfig()
        if `protocol`.usesHTTP2 {
            var http2 = Envoy_Config_Core_V3_Http2ProtocolOptions()
            http2.maxConcurrentStreams = Google_Protobuf_UInt32Value(UInt32(maxConcurrentStreams))
            explicit.http2ProtocolOptions = http2
        } else {
            explicit.httpProtocolOptions = Envoy_Config_Core_V3_Http1ProtocolOptions()
        }
        var options = Envoy_Extensions_Upstreams_Http_V3_HttpProtocolOptions()
        options.commonHTTPProtocolOptions = common
        options.explicitHTTPConfig = explicit
        return [
            TypeURL.upstreamHTTPProtocolOptionsExtensionName:
                Google_Protobuf_Any(packing: options, typeURL: TypeURL.upstreamHTTPProtocolOptions)
        ]
    }

    /// The route retry policy; `nil` when the policy allows no retries.
    static func retryPolicy(_ policy: DependencyPolicy) -> Envoy_Config_Route_V3_RetryPolicy? {
        guard policy.numRetries > 0 else { return nil }
        var retry = Envoy_Config_Route_V3_RetryPolicy()
        retry.retryOn = policy.retryOn.joined(separator: ",")
        retry.numRetries = Google_Protobuf_UInt32Value(UInt32(policy.numRetries))
        if policy.perTryTimeout > .zero {
            retry.perTryTimeout = Google_Protobuf_Duration(rounding: policy.perTryTimeout)
        }
        var backOff = Envoy_Config_Route_V3_RetryPolicy.RetryBackOff()
        backOff.baseInterval = Google_Protobuf_Duration(rounding: policy.retryBackOffBase)
        backOff.maxInterval = Google_Protobuf_Duration(rounding: max(policy.retryBackOffBase, policy.retryBackOffMax))
        retry.retryBackOff = backOff
        if policy.retryOn.contains("retriable-status-codes") {
            retry.retriableStatusCodes = policy.retriableStatusCodes.map { UInt32($0) }
        }
        return retry
    }

    static func percent(_ value: Double) -> Envoy_Type_V3_Percent {
        var percent = Envoy_Type_V3_Percent()
        percent.value = value
        return percent
    }
}

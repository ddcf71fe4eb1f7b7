import Testing

@testable import Templates

/// Parsing of the policy settings, routing rules and external hosts, and how they overlay.
@Suite struct TemplateSettingsTests {
    @Test func parsesEveryTemplateField() {
        let yaml = """
            service: frontend
            inbound:
              port: 18080
              protocol: http2
              timeout: 10s
              max_connection_age: 120s
              drain_time: 2s
              idle_timeout: 90s
              app_idle_timeout: 3s
              app_max_concurrent_streams: 10
              adaptive_concurrency:
                enabled: true
                sample_percentile: 90
                concurrency_update_interval: 50ms
                max_concurrency_limit: 200
                min_rtt: {interval: 1m, request_count: 20, jitter_percent: 5, min_concurrency: 2, buffer_percent: 12.5}
            dependencies:
              - name: payments
                protocol: grpc
                timeout: 2s
                retries:
                  retry_on: "5xx, reset"
                  num_retries: 3
                  per_try_timeout: 500ms
                  back_off: {base_interval: 10ms, max_interval: 1s}
                  retriable_status_codes: [504, 503, 503]
                  budget: {percent: 12.5, min_retry_concurrency: 1}
                outlier_detection: {enabled: false, consecutive_5xx: 2, interval: 1s, base_ejection_time: 5s, max_ejection_percent: 100}
                circuit_breakers: {max_connections: 10, max_pending_requests: 20, max_requests: 30}
                max_concurrent_streams: 7
                connection: {max_age: 0s, idle_timeout: 20s}
                zone_aware: {enabled: true, min_cluster_size: 1}
                healthy_panic_threshold: 0
                sandboxes: [bob, alice]
                method_cache: {service: cache, methods: [/p.P/B, /p.P/A]}
              - name: bank
                external: {address: bank.example.com, port: 443}
            """
        let (template, errors) = TemplateFormat.parseTemplate(yaml: yaml, file: "frontend.yaml")
        #expect(errors == [])
        guard let template, let inbound = template.inbound else {
            Issue.record("no template")
            return
        }
        let compiler = Compiler(defaults: Defaults())
        let inboundPolicy = compiler.policyOf(inbound)
        #expect(inbound.protocol == .http2)
        #expect(inboundPolicy.timeout == .seconds(10))
        #expect(inboundPolicy.maxConnectionAge == .seconds(120))
        #expect(inboundPolicy.drainTime == .seconds(2))
        #expect(inboundPolicy.idleTimeout == .seconds(90))
        #expect(inboundPolicy.appIdleTimeout == .seconds(3))
        #expect(inboundPolicy.appMaxConcurrentStreams == 10)
        #expect(inboundPolicy.adaptiveConcurrency)
        #expect(inboundPolicy.sampleAggregatePercentile == 90)
        #expect(inboundPolicy.concurrencyUpdateInterval == .milliseconds(50))
        #expect(inboundPolicy.maxConcurrencyLimit == 200)
        #expect(inboundPolicy.minRTTInterval == .seconds(60))
        #expect(inboundPolicy.minRTTRequestCount == 20)
        #expect(inboundPolicy.minRTTJitter == 5)
        #expect(inboundPolicy.minConcurrency == 2)
        #expect(inboundPolicy.minRTTBuffer == 12.5)

        let payments = template.dependencies[0]
        #expect(payments.sandboxes == ["alice", "bob"])
        #expect(payments.methodCache == MethodCache(service: "cache", methods: ["/p.P/A", "/p.P/B"]))
        let policy = compiler.policyOf(payments)
        #expect(policy.retryOn == ["5xx", "reset"])
        #expect(policy.numRetries == 3)
        #expect(policy.perTryTimeout == .milliseconds(500))
        #expect(policy.retryBackOffBase == .milliseconds(10))
        #expect(policy.retryBackOffMax == .seconds(1))
        #expect(policy.retriableStatusCodes == [503, 504])
        #expect(policy.retryBudgetPercent == 12.5)
        #expect(policy.retryBudgetMinConcurrency == 1)
        #expect(!policy.outlierDetection)
        #expect(policy.consecutive5xx == 2)
        #expect(policy.outlierInterval == .seconds(1))
        #expect(policy.baseEjectionTime == .seconds(5))
        #expect(policy.maxEjectionPercent == 100)
        #expect(policy.maxConnections == 10)
        #expect(policy.maxPendingRequests == 20)
        #expect(policy.maxRequests == 30)
        #expect(policy.maxConcurrentStreams == 7)
        #expect(policy.connectionMaxAge == .zero)
        #expect(policy.connectionIdleTimeout == .seconds(20))
        #expect(policy.zoneAware)
        #expect(policy.zoneAwareMinClusterSize == 1)
        #expect(policy.healthyPanicThreshold == 0)
        #expect(template.dependencies[1].external == ExternalHost(address: "bank.example.com", port: 443))
        #expect(
            template.positions["payments.name"] == SourcePosition(line: 18, column: 11, field: "dependencies[0].name"))
        #expect(
            template.positions["payments.method_cache.service"]
                == SourcePosition(line: 35, column: 29, field: "dependencies[0].method_cache.service"))
    }

    @Test func templateOverridesDefaultsFieldByField() {
        let defaultsYAML = """
            routes: {sandbox_header: x-sb}
            inbound: {drain_time: 9s}
            dependency:
              retries: {num_retries: 1, budget: {percent: 5}}
              circuit_breakers: {max_requests: 100}
            """
        let (defaults, errors) = TemplateFormat.parseDefaults(yaml: defaultsYAML, file: "defaults.yaml")
        #expect(errors == [])
        guard let defaults else { return }
        #expect(defaults.sandboxHeader == "x-sb")
        #expect(defaults.inbound.drainTime == .seconds(9))
        #expect(defaults.dependency.numRetries == 1)
        #expect(defaults.dependency.retryBudgetPercent == 5)
        #expect(defaults.dependency.maxRequests == 100)
        #expect(defaults.dependency.maxConnections == DependencyPolicy().maxConnections)

        let dependency = Dependency(name: "a", settings: ["retries.num_retries": .integer(4)])
        let policy = Compiler(defaults: defaults).policyOf(dependency)
        #expect(policy.numRetries == 4)
        #expect(policy.retryBudgetPercent == 5)
        #expect(policy.maxRequests == 100)
    }

    @Test func positionsDoNotTakePartInEquality() {
        var moved = SourcePositions()
        moved["a.name"] = SourcePosition(line: 9, column: 9, field: "dependencies[3].name")
        #expect(
            ServiceTemplate(service: "s", positions: moved)
                == ServiceTemplate(service: "s", positions: SourcePositions()))
    }

    @Test func externalAndRoutingErrors() {
        let yaml = """
            service: s
            dependencies:
              - name: bank
                external: {address: "not a host!", port: 0}
              - name: geo
                external: {address: 10.0.0.1, port: 80}
                zone_aware: {enabled: true}
              - name: pay
                method_cache: {service: pay, methods: []}
                sandboxes: [a.b]
            """
        let (_, errors) = TemplateFormat.parseTemplate(yaml: yaml, file: "s.yaml")
        #expect(
            errors.map(\.description) == [
                "s.yaml:4:25: dependencies[0].external.address: expected an IP address or a DNS name, found 'not a host!'",
                "s.yaml:4:46: dependencies[0].external.port: expected an integer 1-65535, found '0'",
                "s.yaml:7:17: dependencies[1].zone_aware: zone-aware routing needs catalog localities; an external dependency has none",
                "s.yaml:9:29: dependencies[2].method_cache.service: the cache must be another service than the dependency itself",
                "s.yaml:9:43: dependencies[2].method_cache.methods: expected at least one method",
                "s.yaml:10:17: dependencies[2].sandboxes[0]: sandbox names may not contain '.' or '~'",
            ])
    }

    @Test func badDefaultsSettings() {
        let yaml = """
            routes: {sandbox_header: X-Sandbox}
            dependency:
              retries: {budget: {percent: 0}}
              circuit_breaker: {}
            """
        let (defaults, errors) = TemplateFormat.parseDefaults(yaml: yaml, file: "defaults.yaml")
        #expect(defaults == nil)
        #expect(
            errors.map(\.description) == [
                "defaults.yaml:1:26: routes.sandbox_header: expected a lowercase header name such as x-sandbox, found 'X-Sandbox'",
                "defaults.yaml:3:31: dependency.retries.budget.percent: expected a number 1-100, found '0'",
                "defaults.yaml:4:3: dependency.circuit_breaker: unknown field 'circuit_breaker'; did you mean 'circuit_breakers'?",
            ])
    }
}

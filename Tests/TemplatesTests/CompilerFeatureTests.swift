import Catalog
import EnvoyAPI
import Foundation
import SwiftProtobuf
import Testing

@testable import Templates

/// The compiled shape of each template feature.
@Suite struct CompilerFeatureTests {
    static let catalog = Catalog([
        CatalogService(
            name: "frontend",
            instances: [
                Instance(id: "f1", address: "10.0.9.1", port: 80, zone: "a", region: "eu"),
                Instance(id: "f2", address: "10.0.9.2", port: 80, zone: "b", region: "eu"),
            ]),
        CatalogService(
            name: "payments",
            instances: [
                Instance(id: "p1", address: "10.0.0.1", port: 80, zone: "a", region: "eu"),
                Instance(id: "p2", address: "10.0.0.2", port: 80, zone: "b", region: "eu"),
            ]),
        CatalogService(
            name: "payments.sandbox.alice", instances: [Instance(address: "10.0.5.1", port: 80, zone: "a")]),
        CatalogService(name: "cache", instances: [Instance(address: "10.0.6.1", port: 80, zone: "a")]),
        CatalogService(name: "catalog", instances: [Instance(address: "10.0.1.1", port: 81, zone: "a")]),
    ])

    static let template = ServiceTemplate(
        service: "frontend",
        inbound: Inbound(
            port: 18080,
            settings: ["adaptive_concurrency.enabled": .bool(true), "max_connection_age": .duration(.seconds(90))]),
        dependencies: [
            Dependency(
                name: "payments", protocol: .grpc, timeout: .seconds(2),
                settings: [
                    "retries.num_retries": .integer(3), "retries.per_try_timeout": .duration(.milliseconds(500)),
                    "retries.budget.percent": .number(10), "outlier_detection.consecutive_5xx": .integer(3),
                    "max_concurrent_streams": .integer(50),
                ],
                sandboxes: ["alice", "bob"],
                methodCache: MethodCache(service: "cache", methods: ["/payments.Payments/GetQuote"])),
            Dependency(
                name: "catalog",
                settings: ["zone_aware.enabled": .bool(true), "zone_aware.min_cluster_size": .integer(1)]),
            Dependency(name: "bank", external: ExternalHost(address: "bank.example.com", port: 443)),
            Dependency(
                name: "ledger", external: ExternalHost(address: "10.9.9.9", port: 8443),
                settings: ["retries.num_retries": .integer(0)]),
        ])

    static func compile(_ template: ServiceTemplate = template, defaults: Defaults = Defaults()) -> CompiledService {
        Compiler(defaults: defaults).compile(service: template.service, template: template, catalog: catalog)
    }

    static func cluster(_ compiled: CompiledService, _ name: String) throws -> Envoy_Config_Cluster_V3_Cluster {
        try #require(compiled.clusters.first { $0.name == name })
    }

    static func host(_ compiled: CompiledService, _ route: String, _ host: String) throws
        -> Envoy_Config_Route_V3_VirtualHost
    {
        try #require(compiled.routes.first { $0.name == route }?.virtualHosts.first { $0.name == host })
    }

    @Test func namesAndConsistency() {
        let compiled = Self.compile()
        #expect(
            compiled.clusters.map(\.name) == [
                "bank", "catalog", "frontend", "inbound|frontend", "ledger", "passthrough", "payments",
                "payments~cache",
                "payments~cached", "payments~sandbox~alice", "payments~sandbox~bob",
            ])
        #expect(
            compiled.endpoints.map(\.clusterName) == [
                "cache", "catalog", "frontend", "payments", "payments~sandbox~alice", "payments~sandbox~bob",
            ])
        // Externals get no API listener: gRPC's xDS client rejects STATIC and STRICT_DNS clusters.
        #expect(compiled.listeners.map(\.name) == ["catalog", "inbound", "outbound", "payments"])
        #expect(compiled.routes.map(\.name) == ["catalog", "outbound", "payments"])
        #expect(compiled.consistencyProblems() == [])
    }

    @Test func deterministic() throws {
        var shuffled = Self.template
        shuffled.dependencies.reverse()
        #expect(try CompilerTests.serialize(Self.compile()) == CompilerTests.serialize(Self.compile(shuffled)))
        #expect(Self.compile() == Self.compile())
    }

    @Test func retriesAlwaysCarryABudget() throws {
        let compiled = Self.compile()
        let payments = try Self.cluster(compiled, "payments")
        let threshold = try #require(payments.circuitBreakers.thresholds.first)
        #expect(payments.circuitBreakers.thresholds.count == 1)
        #expect(threshold.retryBudget.budgetPercent.value == 10)
        #expect(threshold.retryBudget.minRetryConcurrency.value == 3)
        #expect(threshold.maxConnections.value == 4096)
        #expect(threshold.maxPendingRequests.value == 4096)
        #expect(threshold.maxRequests.value == 4096)
        let dependencyClusters = compiled.clusters.filter { $0.name != "frontend" }
        #expect(dependencyClusters.count == 10)
        for cluster in dependencyClusters {
            #expect(cluster.circuitBreakers.thresholds.first?.hasRetryBudget == true, "\(cluster.name)")
        }

        let route = try #require(Self.host(compiled, "outbound", "payments").routes.last)
        let retry = route.route.retryPolicy
        #expect(retry.retryOn == "reset,connect-failure,refused-stream,unavailable,retriable-status-codes")
        #expect(retry.numRetries.value == 3)
        #expect(retry.perTryTimeout == Google_Protobuf_Duration(rounding: .milliseconds(500)))
        #expect(retry.retryBackOff.baseInterval == Google_Protobuf_Duration(rounding: .milliseconds(25)))
        #expect(retry.retryBackOff.maxInterval == Google_Protobuf_Duration(rounding: .milliseconds(250)))
        #expect(retry.retriableStatusCodes == [503])
        #expect(route.route.timeout == Google_Protobuf_Duration(seconds: 2))

        let ledger = try #require(Self.host(compiled, "outbound", "ledger").routes.first)
        #expect(!ledger.route.hasRetryPolicy)
    }

    @Test func outlierDetectionPanicAndConnectionLifetime() throws {
        let compiled = Self.compile()
        let payments = try Self.cluster(compiled, "payments")
        #expect(payments.outlierDetection.consecutive5Xx.value == 3)
        #expect(payments.outlierDetection.interval == Google_Protobuf_Duration(seconds: 10))
        #expect(payments.outlierDetection.baseEjectionTime == Google_Protobuf_Duration(seconds: 30))
        #expect(payments.outlierDetection.maxEjectionPercent.value == 50)
        #expect(payments.commonLbConfig.healthyPanicThreshold.value == 50)
        #expect(payments.commonLbConfig.localityConfigSpecifier == nil)

        let options = try Self.upstreamOptions(payments)
        #expect(options.commonHTTPProtocolOptions.idleTimeout == Google_Protobuf_Duration(seconds: 50))
        #expect(options.commonHTTPProtocolOptions.maxConnectionDuration == Google_Protobuf_Duration(seconds: 240))
        #expect(options.explicitHTTPConfig.http2ProtocolOptions.maxConcurrentStreams.value == 50)

        var off = Defaults()
        off.dependency.outlierDetection = false
        off.dependency.connectionMaxAge = .zero
        let without = try Self.cluster(Self.compile(defaults: off), "catalog")
        #expect(!without.hasOutlierDetection)
        #expect(try !Self.upstreamOptions(without).commonHTTPProtocolOptions.hasMaxConnectionDuration)
    }

    @Test func zoneAwareNeedsTheLocalCluster() throws {
        let compiled = Self.compile()
        let catalog = try Self.cluster(compiled, "catalog")
        #expect(catalog.commonLbConfig.zoneAwareLbConfig.routingEnabled.value == 100)
        #expect(catalog.commonLbConfig.zoneAwareLbConfig.minClusterSize.value == 1)
        let local = try Self.cluster(compiled, "frontend")
        #expect(local.type == .eds)
        #expect(local.edsClusterConfig.serviceName == "frontend")
        let own = try #require(compiled.endpoints.first { $0.clusterName == "frontend" })
        #expect(own.endpoints.map(\.locality.zone) == ["a", "b"])

        var plain = Self.template
        plain.dependencies = [Dependency(name: "catalog")]
        #expect(!Self.compile(plain).clusters.contains { $0.name == "frontend" })
    }

    @Test func sandboxRoutesComeFirst() throws {
        let compiled = Self.compile()
        for routeName in ["outbound", "payments"] {
            let routes = try Self.host(compiled, routeName, "payments").routes
            let sandboxes = routes.prefix(2)
            #expect(sandboxes.map(\.route.cluster) == ["payments~sandbox~alice", "payments~sandbox~bob"])
            #expect(sandboxes.map { $0.match.headers.first?.name } == ["x-sandbox", "x-sandbox"])
            #expect(sandboxes.map { $0.match.headers.first?.stringMatch.exact } == ["alice", "bob"])
            #expect(routes.last?.route.cluster == "payments")
            #expect(routes.last?.match.headers == [])
        }
        let alice = try #require(compiled.endpoints.first { $0.clusterName == "payments~sandbox~alice" })
        #expect(alice.endpoints.flatMap(\.lbEndpoints).map(\.endpoint.address.socketAddress.address) == ["10.0.5.1"])
        let bob = try #require(compiled.endpoints.first { $0.clusterName == "payments~sandbox~bob" })
        #expect(bob.endpoints.isEmpty)
        let normal = try #require(compiled.endpoints.first { $0.clusterName == "payments" })
        #expect(
            !normal.endpoints.flatMap(\.lbEndpoints).contains {
                $0.endpoint.address.socketAddress.address == "10.0.5.1"
            })

        var defaults = Defaults()
        defaults.sandboxHeader = "x-tenant-sandbox"
        let renamed = try Self.host(Self.compile(defaults: defaults), "outbound", "payments").routes
        #expect(renamed.first?.match.headers.first?.name == "x-tenant-sandbox")
    }

    @Test func cachedMethodsUseTheAggregateCluster() throws {
        let compiled = Self.compile()
        let routes = try Self.host(compiled, "outbound", "payments").routes
        let cached = try #require(routes.first { $0.route.cluster == "payments~cached" })
        #expect(cached.match.path == "/payments.Payments/GetQuote")
        #expect(cached.match.hasGrpc)
        #expect(routes.firstIndex(of: cached) == 2)  // after the sandboxes, before the fallback

        let aggregate = try Self.cluster(compiled, "payments~cached")
        #expect(aggregate.clusterType.name == "envoy.clusters.aggregate")
        #expect(aggregate.lbPolicy == .clusterProvided)
        let config = try Envoy_Extensions_Clusters_Aggregate_V3_ClusterConfig(
            serializedBytes: aggregate.clusterType.typedConfig.value)
        #expect(config.clusters == ["payments~cache", "payments"])
        let cache = try Self.cluster(compiled, "payments~cache")
        #expect(cache.type == .eds)
        #expect(cache.edsClusterConfig.serviceName == "cache")

        // Proxyless gRPC clients do not get the aggregate cluster.
        let proxyless = try Self.host(compiled, "payments", "payments").routes
        #expect(!proxyless.contains { $0.route.cluster == "payments~cached" })
    }

    @Test func externalClusters() throws {
        let compiled = Self.compile()
        let bank = try Self.cluster(compiled, "bank")
        #expect(bank.type == .strictDns)
        #expect(
            bank.loadAssignment.endpoints.first?.lbEndpoints.first?.endpoint.address.socketAddress.address
                == "bank.example.com")
        #expect(bank.loadAssignment.endpoints.first?.lbEndpoints.first?.endpoint.address.socketAddress.portValue == 443)
        let ledger = try Self.cluster(compiled, "ledger")
        #expect(ledger.type == .static)
        #expect(!compiled.endpoints.contains { $0.clusterName == "bank" || $0.clusterName == "ledger" })
    }

    @Test func inboundListenerOptions() throws {
        let compiled = Self.compile()
        let listener = try #require(compiled.listeners.first { $0.name == "inbound" })
        let manager = try #require(CompiledService.connectionManagers(in: listener).first)
        #expect(
            manager.httpFilters.map(\.name) == ["envoy.filters.http.adaptive_concurrency", "envoy.filters.http.router"])
        #expect(manager.commonHTTPProtocolOptions.maxConnectionDuration == Google_Protobuf_Duration(seconds: 90))
        #expect(manager.commonHTTPProtocolOptions.idleTimeout == Google_Protobuf_Duration(seconds: 60))
        #expect(manager.drainTimeout == Google_Protobuf_Duration(seconds: 5))
        #expect(
            manager.routeConfig.virtualHosts.first?.routes.first?.route.timeout == Google_Protobuf_Duration(seconds: 15)
        )
        let filter = try #require(manager.httpFilters.first)
        #expect(filter.typedConfig.typeURL == TypeURL.adaptiveConcurrency)
        let config = try Envoy_Extensions_Filters_Http_AdaptiveConcurrency_V3_AdaptiveConcurrency(
            serializedBytes: filter.typedConfig.value)
        let gradient = config.gradientControllerConfig
        #expect(gradient.sampleAggregatePercentile.value == 50)
        #expect(gradient.concurrencyLimitParams.maxConcurrencyLimit.value == 1000)
        #expect(
            gradient.concurrencyLimitParams.concurrencyUpdateInterval
                == Google_Protobuf_Duration(rounding: .milliseconds(100)))
        #expect(gradient.minRttCalcParams.interval == Google_Protobuf_Duration(seconds: 30))
        #expect(gradient.minRttCalcParams.requestCount.value == 50)
        #expect(gradient.minRttCalcParams.minConcurrency.value == 3)

        let app = try Self.upstreamOptions(Self.cluster(compiled, "inbound|frontend"))
        #expect(app.commonHTTPProtocolOptions.idleTimeout == Google_Protobuf_Duration(seconds: 4))

        var plain = Self.template
        plain.inbound = Inbound(port: 18080)
        let off = try #require(Self.compile(plain).listeners.first { $0.name == "inbound" })
        #expect(
            CompiledService.connectionManagers(in: off).first?.httpFilters.map(\.name) == ["envoy.filters.http.router"])
    }

    @Test func proxylessConstraintsHold() throws {
        let compiled = Self.compile()
        for listener in compiled.listeners where listener.hasApiListener {
            let manager = try #require(CompiledService.connectionManagers(in: listener).first)
            #expect(manager.httpFilters.last?.name == "envoy.filters.http.router")
            let routes = try #require(compiled.routes.first { $0.name == listener.name })
            for cluster in routes.virtualHosts.flatMap(\.routes).flatMap(CompiledService.clusterNames) {
                let resolved = try Self.cluster(compiled, cluster)
                #expect(resolved.lbPolicy == .roundRobin, "\(cluster)")
                #expect(resolved.type == .eds, "\(cluster)")
            }
        }
        for assignment in compiled.endpoints {
            #expect(assignment.endpoints.allSatisfy { $0.loadBalancingWeight.value >= 1 })
        }
    }

    @Test func catalogInputsNameEveryServiceTheCompileReads() {
        #expect(
            Self.template.catalogInputs == [
                "frontend", "payments", "payments.sandbox.alice", "payments.sandbox.bob", "cache", "catalog",
            ])
        // Changing any other catalog service leaves the compile unchanged.
        var other = Self.catalog
        other.services["unrelated"] = CatalogService(
            name: "unrelated", instances: [Instance(address: "10.9.0.1", port: 1)])
        other.services["bank"] = CatalogService(name: "bank", instances: [Instance(address: "10.9.0.2", port: 1)])
        let changed = Compiler(defaults: Defaults()).compile(
            service: "frontend", template: Self.template, catalog: other)
        #expect(changed == Self.compile())
        // And changing one of them changes it.
        var cacheDown = Self.catalog
        cacheDown.services["cache"]?.instances[0].health = .unhealthy
        let down = Compiler(defaults: Defaults()).compile(
            service: "frontend", template: Self.template, catalog: cacheDown)
        #expect(down != Self.compile())
    }

    @Test func consistencyFindsBrokenAggregates() {
        var compiled = Self.compile()
        compiled.clusters.removeAll { $0.name == "payments~cache" }
        #expect(
            compiled.consistencyProblems() == [
                "aggregate cluster 'payments~cached' names missing cluster 'payments~cache'"
            ])
    }

    @Test func shippedDefaultsFileEqualsTheBuiltIns() {
        let set = TemplateLoader(configDirectory: configDirectory()).load()
        #expect(set.defaults == Defaults())
    }

    static func upstreamOptions(_ cluster: Envoy_Config_Cluster_V3_Cluster) throws
        -> Envoy_Extensions_Upstreams_Http_V3_HttpProtocolOptions
    {
        let packed = try #require(
            cluster.typedExtensionProtocolOptions[TypeURL.upstreamHTTPProtocolOptionsExtensionName])
        return try Envoy_Extensions_Upstreams_Http_V3_HttpProtocolOptions(serializedBytes: packed.value)
    }
}

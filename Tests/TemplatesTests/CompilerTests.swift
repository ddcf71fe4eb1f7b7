import Catalog
import EnvoyAPI
import Foundation
import SwiftProtobuf
import Testing

@testable import Templates

@Suite struct CompilerTests {
    static let catalog = Catalog([
        CatalogService(
            name: "payments",
            instances: [
                Instance(
                    id: "p3", address: "10.0.0.3", port: 80, zone: "b", region: "eu", health: .draining, weight: 5),
                Instance(id: "p1", address: "10.0.0.1", port: 80, zone: "a", region: "eu", health: .healthy, weight: 2),
                Instance(id: "p2", address: "10.0.0.2", port: 80, zone: "a", region: "eu", health: .degraded),
                Instance(id: "p4", address: "10.0.0.4", port: 80, zone: "a", region: "us", health: .unhealthy),
                Instance(id: "p5", address: "10.0.0.5", port: 80),
            ]),
        CatalogService(name: "catalog", instances: [Instance(address: "10.0.1.1", port: 81)]),
    ])

    static let frontend = ServiceTemplate(
        service: "frontend", inbound: Inbound(port: 18080),
        dependencies: [
            Dependency(name: "payments", protocol: .grpc, timeout: .seconds(2)),
            Dependency(name: "catalog"),
            Dependency(name: "search", protocol: .http2),
        ])

    static func compile(_ template: ServiceTemplate? = frontend, defaults: Defaults = Defaults()) -> CompiledService {
        Compiler(defaults: defaults).compile(
            service: template?.service ?? "orders", template: template, catalog: catalog)
    }

    @Test func deterministicBytes() throws {
        let shuffled = ServiceTemplate(
            service: "frontend", inbound: Inbound(port: 18080), dependencies: Self.frontend.dependencies.reversed())
        let first = try Self.serialize(Self.compile())
        let second = try Self.serialize(Self.compile())
        let third = try Self.serialize(Self.compile(shuffled))
        #expect(first == second)
        #expect(first == third)
    }

    @Test func resourceNamesAndOrder() {
        let compiled = Self.compile()
        #expect(compiled.clusters.map(\.name) == ["catalog", "inbound|frontend", "passthrough", "payments", "search"])
        #expect(compiled.endpoints.map(\.clusterName) == ["catalog", "payments", "search"])
        #expect(compiled.listeners.map(\.name) == ["catalog", "inbound", "outbound", "payments", "search"])
        #expect(compiled.routes.map(\.name) == ["catalog", "outbound", "payments", "search"])
        #expect(compiled.consistencyProblems() == [])
    }

    @Test func edsClusters() throws {
        let compiled = Self.compile()
        let payments = try #require(compiled.clusters.first { $0.name == "payments" })
        #expect(payments.type == .eds)
        #expect(payments.lbPolicy == .roundRobin)
        #expect(payments.edsClusterConfig.serviceName == "payments")
        #expect(payments.edsClusterConfig.edsConfig.ads == Envoy_Config_Core_V3_AggregatedConfigSource())
        #expect(payments.edsClusterConfig.edsConfig.resourceApiVersion == .v3)
        #expect(payments.connectTimeout == Google_Protobuf_Duration(seconds: 1))

        let options = try #require(
            payments.typedExtensionProtocolOptions[TypeURL.upstreamHTTPProtocolOptionsExtensionName])
        #expect(options.typeURL == TypeURL.upstreamHTTPProtocolOptions)
        let decoded = try Envoy_Extensions_Upstreams_Http_V3_HttpProtocolOptions(serializedBytes: options.value)
        guard case .explicitHTTPConfig(let explicit) = decoded.upstreamProtocolOptions,
            case .http2ProtocolOptions = explicit.protocolConfig
        else {
            Issue.record("expected explicit HTTP/2")
            return
        }
        #expect(compiled.clusters.first { $0.name == "search" }?.typedExtensionProtocolOptions.count == 1)
        let catalogOptions = try #require(
            compiled.clusters.first { $0.name == "catalog" }?.typedExtensionProtocolOptions[
                TypeURL.upstreamHTTPProtocolOptionsExtensionName])
        let http1 = try Envoy_Extensions_Upstreams_Http_V3_HttpProtocolOptions(serializedBytes: catalogOptions.value)
        #expect(http1.explicitHTTPConfig.httpProtocolOptions == Envoy_Config_Core_V3_Http1ProtocolOptions())
    }

    @Test func inboundAndPassthroughClusters() throws {
        let compiled = Self.compile()
        let inbound = try #require(compiled.clusters.first { $0.name == "inbound|frontend" })
        #expect(inbound.type == .static)
        let address = inbound.loadAssignment.endpoints.first?.lbEndpoints.first?.endpoint.address.socketAddress
        #expect(address?.address == "127.0.0.1")
        #expect(address?.portValue == 18080)

        let passthrough = try #require(compiled.clusters.first { $0.name == "passthrough" })
        #expect(passthrough.type == .originalDst)
        #expect(passthrough.lbPolicy == .clusterProvided)
        #expect(passthrough.originalDstLbConfig.useHTTPHeader)

        var off = Defaults()
        off.passthrough = false
        let without = Self.compile(defaults: off)
        #expect(!without.clusters.contains { $0.name == "passthrough" })
        #expect(
            without.routes.first { $0.name == "outbound" }?.virtualHosts.map(\.name) == [
                "catalog", "payments", "search",
            ])
        #expect(without.consistencyProblems() == [])
    }

    @Test func localitiesAreGroupedSortedAndWeighted() throws {
        let assignment = try #require(Self.compile().endpoints.first { $0.clusterName == "payments" })
        #expect(
            assignment.endpoints.map { "\($0.locality.region)/\($0.locality.zone)" } == ["/", "eu/a", "eu/b", "us/a"])
        #expect(assignment.endpoints.map(\.loadBalancingWeight.value) == [1, 3, 5, 1])
        let euA = assignment.endpoints[1]
        #expect(euA.lbEndpoints.map(\.endpoint.address.socketAddress.address) == ["10.0.0.1", "10.0.0.2"])
        #expect(euA.lbEndpoints.map(\.loadBalancingWeight.value) == [2, 1])
        #expect(assignment.endpoints.allSatisfy { $0.hasLoadBalancingWeight && $0.loadBalancingWeight.value >= 1 })
    }

    @Test func healthIsMapped() throws {
        let assignment = try #require(Self.compile().endpoints.first { $0.clusterName == "payments" })
        let byAddress = Dictionary(
            uniqueKeysWithValues: assignment.endpoints.flatMap(\.lbEndpoints).map {
                ($0.endpoint.address.socketAddress.address, $0.healthStatus)
            })
        #expect(byAddress["10.0.0.1"] == .healthy)
        #expect(byAddress["10.0.0.2"] == .degraded)
        #expect(byAddress["10.0.0.3"] == .draining)
        #expect(byAddress["10.0.0.4"] == .unhealthy)
        #expect(byAddress["10.0.0.5"] == .healthy)
    }

    @Test func dependencyMissingFromTheCatalogGetsAnEmptyAssignment() throws {
        let search = try #require(Self.compile().endpoints.first { $0.clusterName == "search" })
        #expect(search.endpoints.isEmpty)
    }

    @Test func routesReferenceExistingClusters() throws {
        let compiled = Self.compile()
        let clusters = Set(compiled.clusters.map(\.name))
        for config in compiled.routes {
            for host in config.virtualHosts {
                for route in host.routes {
                    #expect(
                        clusters.contains(route.route.cluster), "\(config.name)/\(host.name) → \(route.route.cluster)")
                }
            }
        }
        let outbound = try #require(compiled.routes.first { $0.name == "outbound" })
        #expect(outbound.virtualHosts.map(\.name) == ["catalog", "payments", "search", "passthrough"])
        #expect(
            outbound.virtualHosts[1].domains == [
                "payments", "payments:*", "payments.service.consul", "payments.service.consul:*",
            ])
        #expect(outbound.virtualHosts[1].routes.first?.route.timeout == Google_Protobuf_Duration(seconds: 2))
        #expect(outbound.virtualHosts[0].routes.first?.route.timeout == Google_Protobuf_Duration(seconds: 15))
        #expect(outbound.virtualHosts.last?.domains == ["*"])
        #expect(outbound.virtualHosts.last?.routes.first?.route.cluster == "passthrough")
    }

    @Test func consistencyCheckFindsProblems() {
        var compiled = Self.compile()
        compiled.clusters.removeAll { $0.name == "payments" }
        compiled.endpoints.removeAll { $0.clusterName == "catalog" }
        compiled.routes.removeAll { $0.name == "search" }
        let problems = compiled.consistencyProblems()
        #expect(problems.contains("EDS cluster 'catalog' has no load assignment 'catalog'"))
        #expect(problems.contains("listener 'search' uses missing route configuration 'search'"))
        #expect(
            problems.contains(
                "route configuration 'outbound', virtual host 'payments': route to missing cluster 'payments'"))
        #expect(
            problems.contains(
                "route configuration 'payments', virtual host 'payments': route to missing cluster 'payments'"))
    }

    @Test func consistencyCheckFindsDomainClashes() {
        let template = ServiceTemplate(
            service: "frontend", dependencies: [Dependency(name: "a"), Dependency(name: "a.service.consul")])
        let problems = Self.compile(template).consistencyProblems()
        #expect(
            problems == [
                "route configuration 'outbound': domain 'a.service.consul' is in both virtual hosts 'a' and 'a.service.consul'",
                "route configuration 'outbound': domain 'a.service.consul:*' is in both virtual hosts 'a' and 'a.service.consul'",
            ])
    }

    @Test func apiListenerShape() throws {
        let listener = try #require(Self.compile().listeners.first { $0.name == "payments" })
        #expect(!listener.hasAddress)
        #expect(listener.filterChains.isEmpty)
        let any = listener.apiListener.apiListener
        #expect(
            any.typeURL
                == "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager"
        )
        let manager = try HTTPConnectionManager(serializedBytes: any.value)
        guard case .rds(let rds) = manager.routeSpecifier else {
            Issue.record("expected RDS")
            return
        }
        #expect(rds.routeConfigName == "payments")
        #expect(rds.configSource.resourceApiVersion == .v3)
        #expect(manager.httpFilters.map(\.name) == ["envoy.filters.http.router"])
        #expect(manager.httpFilters.last?.typedConfig.typeURL == TypeURL.router)

        let routes = try #require(Self.compile().routes.first { $0.name == "payments" })
        #expect(routes.virtualHosts.map(\.domains) == [["*"]])
        #expect(routes.virtualHosts.first?.routes.first?.route.cluster == "payments")
    }

    @Test func socketListeners() throws {
        let compiled = Self.compile()
        let outbound = try #require(compiled.listeners.first { $0.name == "outbound" })
        #expect(outbound.address.socketAddress.address == "127.0.0.1")
        #expect(outbound.address.socketAddress.portValue == 15001)
        let outboundManager = try #require(CompiledService.connectionManagers(in: outbound).first)
        #expect(outboundManager.statPrefix == "outbound")
        #expect(outboundManager.rds.routeConfigName == "outbound")

        let inbound = try #require(compiled.listeners.first { $0.name == "inbound" })
        #expect(inbound.address.socketAddress.portValue == 15006)
        #expect(inbound.filterChains.first?.filters.first?.typedConfig.typeURL == TypeURL.httpConnectionManager)
        let inboundManager = try #require(CompiledService.connectionManagers(in: inbound).first)
        #expect(inboundManager.statPrefix == "inbound")
        #expect(inboundManager.routeConfig.virtualHosts.first?.routes.first?.route.cluster == "inbound|frontend")
        #expect(inboundManager.httpFilters.last?.name == "envoy.filters.http.router")

        var noInbound = Defaults()
        noInbound.inboundPort = nil
        #expect(!Self.compile(defaults: noInbound).listeners.contains { $0.name == "inbound" })
    }

    @Test func defaultTemplate() {
        let compiled = Self.compile(nil)
        #expect(compiled.service == "orders")
        #expect(compiled.clusters.map(\.name) == ["passthrough"])
        #expect(compiled.endpoints.isEmpty)
        #expect(compiled.listeners.map(\.name) == ["outbound"])
        #expect(compiled.routes.map(\.name) == ["outbound"])
        #expect(compiled.consistencyProblems() == [])

        var defaults = Defaults()
        defaults.defaultInbound = Inbound(port: 9000)
        let withInbound = Self.compile(nil, defaults: defaults)
        #expect(withInbound.listeners.map(\.name) == ["inbound", "outbound"])
        #expect(withInbound.clusters.map(\.name) == ["inbound|orders", "passthrough"])
    }

    @Test func compilesTheShippedConfiguration() throws {
        let set = TemplateLoader(configDirectory: configDirectory()).load()
        let catalog = try FileSource(path: configDirectory() + "/catalog.yaml").load()
        let all = Compiler(defaults: set.defaults).compileAll(templates: set.templates, catalog: catalog)
        #expect(set.crossCheck(catalog: catalog) == [])
        #expect(all.map(\.service) == ["cache", "catalog", "frontend", "payments", "payments.sandbox.alice"])
        for service in all {
            #expect(service.consistencyProblems() == [], "\(service.service)")
        }
        let frontend = try #require(all.first { $0.service == "frontend" })
        let payments = try #require(frontend.endpoints.first { $0.clusterName == "payments" })
        #expect(payments.endpoints.map(\.locality.zone) == ["a", "b"])
        #expect(payments.endpoints.map(\.loadBalancingWeight.value) == [3, 1])
    }

    static func serialize(_ compiled: CompiledService) throws -> [[UInt8]] {
        var options = BinaryEncodingOptions()
        options.useDeterministicOrdering = true
        var result: [[UInt8]] = []
        for message in compiled.clusters { result.append(try message.serializedBytes(options: options)) }
        for message in compiled.endpoints { result.append(try message.serializedBytes(options: options)) }
        for message in compiled.listeners { result.append(try message.serializedBytes(options: options)) }
        for message in compiled.routes { result.append(try message.serializedBytes(options: options)) }
        return result
    }
}

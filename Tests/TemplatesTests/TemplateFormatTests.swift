import Catalog
import Foundation
import Testing

@testable import Templates

@Suite struct TemplateFormatTests {
    @Test func parsesATemplate() throws {
        let yaml = """
            service: frontend
            inbound:
              port: 8080
              protocol: http2
            dependencies:
              - name: payments
                protocol: grpc
                timeout: 250ms
              - name: catalog
            """
        let (template, errors) = TemplateFormat.parseTemplate(yaml: yaml, file: "services/frontend.yaml")
        #expect(errors == [])
        #expect(
            template
                == ServiceTemplate(
                    service: "frontend", inbound: Inbound(port: 8080, protocol: .http2),
                    dependencies: [
                        Dependency(name: "payments", protocol: .grpc, timeout: .milliseconds(250)),
                        Dependency(name: "catalog"),
                    ], file: "services/frontend.yaml"))
    }

    @Test func unknownFieldsSuggestTheClosestName() {
        let yaml = """
            service: frontend
            dependecies:
              - name: payments
                protocl: grpc
            """
        let (template, errors) = TemplateFormat.parseTemplate(yaml: yaml, file: "frontend.yaml")
        #expect(template == nil)
        #expect(
            errors.map(\.description) == [
                "frontend.yaml:2:1: dependecies: unknown field 'dependecies'; did you mean 'dependencies'?"
            ])

        let nested = TemplateFormat.parseTemplate(
            yaml: "service: frontend\ndependencies:\n  - name: payments\n    protocl: grpc\n", file: "frontend.yaml")
        #expect(
            nested.1.map(\.description) == [
                "frontend.yaml:4:5: dependencies[0].protocl: unknown field 'protocl'; did you mean 'protocol'?"
            ])
    }

    @Test func reportsEveryErrorWithItsPosition() {
        let yaml = """
            service: frontend
            inbound:
              port: 0
              protocol: http3
            dependencies:
              - name: payments
                timeout: soon
              - name: payments
              - name: passthrough
              - protocol: grpc
            """
        let (_, errors) = TemplateFormat.parseTemplate(yaml: yaml, file: "frontend.yaml")
        #expect(
            errors.map(\.description) == [
                "frontend.yaml:3:9: inbound.port: expected an integer 1-65535, found '0'",
                "frontend.yaml:4:13: inbound.protocol: expected one of http1, http2, grpc, found 'http3'; did you mean 'http1'?",
                "frontend.yaml:7:14: dependencies[0].timeout: expected a duration such as 250ms, 2s or 1m, found 'soon'",
                "frontend.yaml:9:11: dependencies[2].name: 'passthrough' is reserved for generated resources (inbound, outbound, passthrough)",
                "frontend.yaml:10:5: dependencies[3].name: missing required field 'name'",
            ])
    }

    @Test func duplicateDependencyIsAnError() {
        let yaml = "service: a\ndependencies:\n  - name: b\n  - name: b\n"
        let (_, errors) = TemplateFormat.parseTemplate(yaml: yaml, file: "a.yaml")
        #expect(
            errors.map(\.description) == [
                "a.yaml:4:5: dependencies[1]: duplicate dependency 'b' (first listed as dependencies[0])"
            ])
    }

    @Test func dependenciesWhoseDomainsWouldClashAreErrors() {
        let yaml = "service: a\ndependencies:\n  - name: b\n  - name: B.service.consul\n  - name: C\n  - name: c\n"
        let (_, errors) = TemplateFormat.parseTemplate(yaml: yaml, file: "a.yaml")
        #expect(errors.map(\.line) == [4, 6])
        #expect(errors.first?.message.hasPrefix("dependency 'B.service.consul' would share route domains") == true)
        #expect(errors.last?.message == "duplicate dependency 'c' (first listed as dependencies[2])")
    }

    @Test func serviceMustMatchTheFileName() {
        let (_, errors) = TemplateFormat.parseTemplate(yaml: "service: payments\n", file: "dir/frontend.yaml")
        #expect(errors.count == 1)
        #expect(errors.first?.field == "service")
        #expect(errors.first?.line == 1)
        #expect(errors.first?.column == 10)
    }

    @Test func parsesDefaults() {
        let yaml = """
            listeners:
              address: 0.0.0.0
              outbound_port: 16001
              inbound_port: null
            clusters:
              connect_timeout: 250ms
            routes:
              timeout: 0s
            passthrough: false
            protocol: grpc
            default_template:
              inbound: {port: 9000}
            """
        let (defaults, errors) = TemplateFormat.parseDefaults(yaml: yaml, file: "defaults.yaml")
        #expect(errors == [])
        var expected = Defaults()
        expected.listenerAddress = "0.0.0.0"
        expected.outboundPort = 16001
        expected.inboundPort = nil
        expected.connectTimeout = .milliseconds(250)
        expected.routeTimeout = .zero
        expected.passthrough = false
        expected.protocol = .grpc
        expected.defaultInbound = Inbound(port: 9000)
        #expect(defaults == expected)

        let partial = TemplateFormat.parseDefaults(yaml: "passthrough: true\n", file: "defaults.yaml")
        #expect(partial.0 == Defaults())
    }

    @Test func defaultsErrors() {
        let yaml = """
            listeners:
              adress: 127.0.0.1
              outbound_port: 15006
            clusters:
              connect_timeout: 0s
            passthrough: maybe
            """
        let (defaults, errors) = TemplateFormat.parseDefaults(yaml: yaml, file: "defaults.yaml")
        #expect(defaults == nil)
        #expect(
            errors.map(\.description) == [
                "defaults.yaml:2:3: listeners.adress: unknown field 'adress'; did you mean 'address'?",
                "defaults.yaml:5:20: clusters.connect_timeout: expected a duration greater than 0 such as 250ms, 2s or 1m, found '0s'",
                "defaults.yaml:6:14: passthrough: expected true or false, found 'maybe'",
            ])
    }
}

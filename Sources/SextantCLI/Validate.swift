import ArgumentParser
import Foundation
import Templates

/// `sextant validate`: every problem in the templates, defaults and catalog, for CI.
struct Validate: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Check the templates, defaults and catalog; list every problem as file:line:col: message.",
        discussion: """
            Exits 1 when there is any problem, 0 otherwise. With --envoy, also writes for each \
            service a bootstrap holding its rendered resources statically and runs \
            `envoy --mode validate` on it, so real Envoy checks what Sextant would send.
            """)

    @OptionGroup var inputs: InputOptions

    @Option(help: "An Envoy binary: also have it validate each service's rendered resources.")
    var envoy: String?

    @Option(help: "With --envoy: keep the generated bootstraps in this folder (default: a temporary one, removed).")
    var bootstrapDir: String?

    func run() async throws {
        let workspace = await Workspace.load(inputs)
        let report = Self.check(workspace, envoy: envoy, bootstrapDir: bootstrapDir)
        for problem in report.problems { Output.out("\(problem)\n") }
        if report.problems.isEmpty {
            let checked = envoy == nil ? "" : ", accepted by envoy --mode validate"
            Output.out("sextant validate: OK: \(report.services) service(s), \(report.resources) resource(s)\(checked)\n")
        } else {
            Output.err("sextant validate: \(report.problems.count) problem(s)\n")
            throw ExitCode(1)
        }
    }

    struct Report {
        var problems: [Problem] = []
        var services = 0
        var resources = 0
    }

    /// Loading problems, then per service (sorted): compile and consistency problems, then
    /// (with `envoy`) Envoy's verdict on the rendered resources.
    static func check(_ workspace: Workspace, envoy: String?, bootstrapDir: String?) -> Report {
        var report = Report(problems: workspace.problems)
        var compiled: [(service: String, resources: CompiledService)] = []
        for service in workspace.services {
            report.services += 1
            let location = workspace.location(of: service)
            do {
                let resources = try workspace.compile(service)
                report.resources +=
                    resources.clusters.count + resources.endpoints.count + resources.listeners.count + resources.routes.count
                let problems = resources.consistencyProblems()
                report.problems += problems.map { Problem(location: location, message: "service '\(service)': \($0)") }
                if problems.isEmpty {
                    do {
                        _ = try ConfigDump.render(resources)
                        compiled.append((service, resources))
                    } catch {
                        report.problems.append(Problem(location: location, message: "\(error)"))
                    }
                }
            } catch {
                report.problems.append(Problem(location: location, message: "service '\(service)' does not compile: \(error)"))
            }
        }
        if let envoy {
            // Envoy only sees what compiled cleanly; with loading problems those services already failed.
            report.problems += EnvoyValidation(envoy: envoy, keepIn: bootstrapDir).validate(
                compiled.map { ($0.service, $0.resources, workspace.location(of: $0.service)) })
        }
        return report
    }
}

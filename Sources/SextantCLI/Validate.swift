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

    @Option(help: "A catalog file, or serve's --state-dir: report which changes from it the safeguards would hold.")
    var baseline: String?

    @Flag(help: "With --baseline: exit 1 when a change would be held (so CI asks for an explicit release).")
    var failOnHold = false

    @OptionGroup var safeguards: SafeguardOptions

    func validate() throws {
        if failOnHold && baseline == nil { throw ValidationError("--fail-on-hold needs --baseline") }
    }

    func run() async throws {
        let workspace = await Workspace.load(inputs)
        let report = Self.check(workspace, envoy: envoy, bootstrapDir: bootstrapDir)
        for problem in report.problems { Output.out("\(problem)\n") }
        guard report.problems.isEmpty else {
            Output.err("sextant validate: \(report.problems.count) problem(s)\n")
            throw ExitCode(1)
        }
        var held = false
        // Only a candidate without problems is worth comparing: a catalog that failed to load
        // would look like every service vanished.
        if let baseline {
            let policy = safeguards.policy(workspace.templates.defaults.safeguards)
            let preview: HoldPreview
            do {
                preview = HoldPreview(
                    baseline: try HoldPreview.loadBaseline(baseline), candidate: workspace.catalog, policy: policy)
            } catch {
                Output.err(error.message + "\n")
                throw ExitCode(2)
            }
            for line in preview.lines(location: Problem(location: workspace.catalogFile, message: "").location, policy: policy) {
                Output.out(line + "\n")
            }
            held = !preview.isEmpty
        }
        let checked = envoy == nil ? "" : ", accepted by envoy --mode validate"
        Output.out("sextant validate: OK: \(report.services) service(s), \(report.resources) resource(s)\(checked)\n")
        if held && failOnHold {
            Output.err("sextant validate: a catalog change would be held (--fail-on-hold)\n")
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

import ArgumentParser
import Foundation

/// `sextant render`: what a service's sidecars receive, as Envoy's `/config_dump` would show it.
struct Render: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Print what a service's sidecars receive, in Envoy's /config_dump shape.",
        discussion: """
            With --out DIR, writes one file per service (DIR/<service>.json, or .yaml): a rendered \
            snapshot directory that `sextant diff` compares. Output is deterministic: the same \
            inputs give the same bytes.
            """)

    enum Format: String, ExpressibleByArgument, CaseIterable {
        case json, yaml
    }

    @OptionGroup var inputs: InputOptions

    @Argument(help: "The service (its sidecars' node.cluster). Optional with --out: every service.")
    var service: String?

    @Option(help: "Output format: json or yaml.")
    var format: Format = .json

    @Option(help: "Write one file per service into this folder instead of printing.")
    var out: String?

    func validate() throws {
        if service == nil && out == nil { throw ValidationError("name a service, or give --out DIR to render every service") }
    }

    func run() async throws {
        do {
            let workspace = await Workspace.load(inputs)
            guard workspace.problems.isEmpty else {
                throw CommandFailure(
                    message: workspace.problems.map(\.description).joined(separator: "\n")
                        + "\nsextant render: the inputs have problems (see `sextant validate`)", exitCode: 1)
            }
            let known = workspace.services
            if let service, !known.contains(service) {
                throw CommandFailure(
                    message: "sextant render: unknown service '\(service)' (known: \(known.joined(separator: ", ")))",
                    exitCode: 1)
            }
            let rendered = try Self.render(workspace, services: service.map { [$0] } ?? known)
            if let out {
                try Self.write(rendered, to: out, format: format)
                Output.err("sextant render: wrote \(rendered.count) service(s) to \(out)\n")
            } else {
                for (_, dump) in rendered { Output.out(try Self.text(dump, format)) }
            }
        } catch let failure as CommandFailure {
            Output.err(failure.message + "\n")
            throw ExitCode(failure.exitCode)
        }
    }

    /// The config dump of each named service, in the given order.
    static func render(_ workspace: Workspace, services: [String]) throws(CommandFailure) -> [(String, JSONValue)] {
        var rendered: [(String, JSONValue)] = []
        var failures: [String] = []
        for service in services {
            do {
                rendered.append((service, try ConfigDump.render(try workspace.compile(service))))
            } catch {
                failures.append("\(workspace.location(of: service)): \(error)")
            }
        }
        guard failures.isEmpty else { throw CommandFailure(message: failures.joined(separator: "\n"), exitCode: 1) }
        return rendered
    }

    static func text(_ dump: JSONValue, _ format: Format) throws -> String {
        switch format {
        case .json: return dump.printed()
        case .yaml: return try dump.yaml()
        }
    }

    /// `DIR/<service>.<format>`; the folder is created when missing. Files of services that no
    /// longer exist are left alone (write into an empty folder for a clean snapshot).
    static func write(_ rendered: [(String, JSONValue)], to directory: String, format: Format) throws {
        let base = URL(fileURLWithPath: directory)
        do {
            try FileManager.default.createDirectory(at: base, withIntermediateDirectories: true)
            for (service, dump) in rendered {
                let file = base.appendingPathComponent("\(service).\(format.rawValue)")
                try Data(try text(dump, format).utf8).write(to: file, options: .atomic)
            }
        } catch let failure as CommandFailure {
            throw failure
        } catch {
            throw CommandFailure(message: "sextant render: cannot write \(directory): \(error)", exitCode: 1)
        }
    }
}

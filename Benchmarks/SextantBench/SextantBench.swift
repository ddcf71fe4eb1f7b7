import Foundation
import SystemIO

/// `make bench`: measures the templates compiler (scenario A), the Consul path (scenario B) and a
/// catalog-file change (scenario C),
/// then prints one table to stdout. Progress and warnings go to stderr. Exits 1 when a scenario
/// does not converge or produces a wrong result.
@main
struct SextantBench {
    struct Options {
        var python = "python3"
        var simulator = "Tests/ConsulSimulator/consul_sim.py"
        var scenarios: Set<String> = ["compiler", "catalog-file", "consul"]
        var runs = 5
        var changes = 10
        var rotationChanges = 5
        var idleSeconds = 20
        var services = 1_000
        var dependencies = 5
        var instances = 20

        static let usage = """
            usage: sextant-bench [--only compiler|catalog-file|consul] [--python PATH] [--simulator PATH]
                                 [--runs N] [--changes N] [--rotation-changes N] [--idle-seconds N]
                                 [--services N] [--dependencies N] [--instances N]
            """

        init(_ arguments: [String]) throws {
            var rest = arguments[...]
            func value(_ flag: String) throws -> String {
                guard let next = rest.popFirst() else { throw BenchFailure("\(flag) needs a value\n\(Self.usage)") }
                return next
            }
            func number(_ flag: String) throws -> Int {
                let text = try value(flag)
                guard let n = Int(text), n > 0 else { throw BenchFailure("\(flag): '\(text)' is not a positive number") }
                return n
            }
            while let flag = rest.popFirst() {
                switch flag {
                case "--python": python = try value(flag)
                case "--simulator": simulator = try value(flag)
                case "--only":
                    let name = try value(flag)
                    guard ["compiler", "catalog-file", "consul"].contains(name) else {
                        throw BenchFailure("--only compiler, catalog-file or consul")
                    }
                    scenarios = [name]
                case "--runs": runs = try number(flag)
                case "--changes": changes = try number(flag)
                case "--rotation-changes": rotationChanges = try number(flag)
                case "--idle-seconds": idleSeconds = try number(flag)
                case "--services": services = try number(flag)
                case "--dependencies": dependencies = try number(flag)
                case "--instances": instances = try number(flag)
                case "-h", "--help":
                    print(Self.usage)
                    exit(0)
                default: throw BenchFailure("unknown argument \(flag)\n\(Self.usage)")
                }
            }
            guard dependencies < services else { throw BenchFailure("--dependencies must be below --services") }
        }
    }

    static func main() async {
        MallocArenas.limit()  // as `sextant serve` does
        let start = ContinuousClock.now
        let report = Report()
        do {
            let options = try Options(Array(CommandLine.arguments.dropFirst()))
            let fleet = Fleet(services: options.services, dependencies: options.dependencies, instances: options.instances)
            if options.scenarios.contains("compiler") {
                try CompilerBench(fleet: fleet, runs: options.runs, changes: options.changes * 2).run(report)
            }
            if options.scenarios.contains("catalog-file") {
                try CatalogFileBench(fleet: fleet, changes: options.changes).run(report)
            }
            if options.scenarios.contains("consul") {
                try await ConsulBench(
                    fleet: fleet, python: options.python, simulator: options.simulator, changes: options.changes,
                    rotationChanges: options.rotationChanges, idle: .seconds(options.idleSeconds)
                ).run(report)
            }
        } catch {
            FileHandle.standardError.write(Data("sextant-bench: FAILED: \(error)\n".utf8))
            if !report.rows.isEmpty { print(report.render()) }
            exit(1)
        }
        print(report.render(), terminator: "")
        print("(release build; \(ProcessInfo.processInfo.activeProcessorCount) CPUs; total \(Format.duration(.now - start)))")
    }
}

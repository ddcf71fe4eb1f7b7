import ArgumentParser
import Glibc

/// The `sextant` command: an xDS control plane for Envoy sidecars and proxyless gRPC clients.
public struct Sextant: AsyncParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "sextant",
        abstract: "An xDS control plane for Envoy sidecars and proxyless gRPC clients.",
        version: SextantVersion.description,
        subcommands: [Serve.self, Validate.self, Render.self, Diff.self, Release.self, Status.self],
        defaultSubcommand: Serve.self)

    public init() {}
}

/// Where the inputs live; shared by every subcommand that compiles.
struct InputOptions: ParsableArguments {
    @Option(help: "The catalog file (services and their instances).")
    var catalog = "Config/catalog.yaml"

    @Option(help: "The folder of per-service template files.")
    var templates = "Config/services"

    @Option(help: "The file of template defaults.")
    var defaults = "Config/defaults.yaml"

    @OptionGroup var consul: ConsulOptions
}

extension Sextant {
    /// The executable's entry point. Called from an async function, `main()` resolves to
    /// `AsyncParsableCommand`'s async overload (top-level code picks the synchronous one).
    /// SIGPIPE is ignored for every command: a peer that goes away (Envoy, Consul, an admin
    /// client, a closed stdout) is an error to report, not a reason to die.
    public static func runFromCommandLine() async {
        signal(SIGPIPE, SIG_IGN)
        await main()
    }
}

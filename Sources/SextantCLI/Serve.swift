import ArgumentParser
import Catalog
import ControlPlane
import Dispatch
import Foundation
import GRPCServer
import Logging
import Synchronization
import Templates
import SystemIO
import XDS

struct Serve: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Serve CDS, LDS, RDS and EDS over ADS (SotW and delta) from the catalog and templates.")

    @OptionGroup var inputs: InputOptions

    @Option(help: "Where the xDS gRPC server listens (HOST:PORT).")
    var xds = "127.0.0.1:18000"

    @Option(help: "PEM certificate chain: serve xDS over TLS (ALPN h2).")
    var tlsCert: String?

    @Option(help: "PEM private key for --tls-cert.")
    var tlsKey: String?

    @Option(help: "PEM CA bundle: require client certificates signed by it.")
    var tlsClientCa: String?

    @Option(help: "Where the admin HTTP API listens (HOST:PORT): /healthz, /readyz, /debug/safeguards, /debug/clients, /debug/config_dump, /debug/templates, /metrics, POST /release.")
    var admin = "127.0.0.1:19000"

    @Option(help: "Folder for the last-known-good state: catalog and templates (written atomically; served at once on restart).")
    var stateDir = "state"

    @OptionGroup var safeguards: SafeguardOptions

    @Option(help: "New ADS streams admitted per second (reconnect storms queue up).")
    var admissionRate: Double = 200

    @Option(help: "Seconds to drain open streams on SIGTERM before closing them.")
    var drainSeconds: Double = 5

    @Option(help: "Log level: trace, debug, info, notice, warning, error, critical.")
    var logLevel: Logger.Level = .info

    func validate() throws {
        guard (tlsCert == nil) == (tlsKey == nil) else { throw ValidationError("--tls-cert and --tls-key go together") }
        if tlsClientCa != nil && tlsCert == nil { throw ValidationError("--tls-client-ca needs --tls-cert and --tls-key") }
        _ = try HostPort(xds)
        _ = try HostPort(admin)
    }

    func run() async throws {
        let level = logLevel
        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = level
            return handler
        }
        MallocArenas.limit()
        let logger = Logger(label: "sextant")

        // Live templates (docs/templates.md): a broken file is refused and its service keeps its
        // last good template, kept in the state folder across restarts.
        let loader = TemplateLoader(defaultsFile: inputs.defaults, servicesDirectory: inputs.templates)
        let templateLastGood = TemplateLastGood(directory: stateDir, logger: Logger(label: "sextant.templates"))
        let storedTemplates = LiveTemplates.restore(templateLastGood, logger: logger)
        let initialTemplates = loader.read()
        let initial = LiveTemplates.preview(initialTemplates, lastGood: storedTemplates)
        let store = SnapshotStore()
        let nacks = NackLog()
        let consulConfiguration = try inputs.consul.configuration()
        let sourceIdentity = consulConfiguration?.identity ?? .file(path: inputs.catalog)
        let controlPlane = ControlPlane(
            store: store, compiler: TemplateCompiler(templates: initial.templates, withheld: initial.withheld),
            policy: safeguards.policy(initial.templates.defaults.safeguards),
            lastKnownGood: LastKnownGood(directory: stateDir, source: sourceIdentity),
            templateLastGood: templateLastGood, logger: Logger(label: "sextant.controlplane"))
        controlPlane.enableLiveTemplates(lastGood: storedTemplates)
        controlPlane.updateTemplates(initialTemplates)
        // Last-known-good first: served at once, and the baseline the first read is guarded against.
        let restored = controlPlane.restoreLastKnownGood()
        let events: AsyncStream<CatalogEvent>
        let catalogName: String
        var consulSource: ConsulSource?
        if let consul = consulConfiguration {
            // Consul down at start is not fatal: streams wait (or get last-known-good) until it answers.
            let source = ConsulSource(configuration: consul, logger: Logger(label: "sextant.consul"))
            consulSource = source
            events = source.events()
            catalogName = "Consul at \(consul.url.absoluteString)"
        } else {
            let source = FileSource(path: inputs.catalog)
            var loaded: FileSource.Loaded?
            do { loaded = try source.loadForEvents() } catch {
                // With nothing good to serve yet, a catalog file that cannot be read is fatal.
                guard restored else { throw ValidationError("\(error)") }
                logger.error("catalog unreadable at start; serving last-known-good", metadata: ["error": "\(error)"])
            }
            events = source.events(startingWith: loaded)  // the catalog is parsed once at start
            catalogName = inputs.catalog
        }
        let adminAddress = try HostPort(admin)
        let clients = ClientRegistry()
        let adminAPI = AdminAPI(controlPlane: controlPlane, nacks: nacks, consul: consulSource)
        let clientsAPI = ClientsAPI(clients: clients)
        let adminServer = try AdminServer(
            host: adminAddress.host, port: adminAddress.port, logger: Logger(label: "sextant.admin"),
            handler: { request in clientsAPI.handle(request) ?? adminAPI.handle(request) })
        let adminPort = try adminServer.start()

        var configuration = GRPCServerConfiguration()
        let address = try HostPort(xds)
        configuration.host = address.host
        configuration.port = address.port
        if let tlsCert, let tlsKey {
            configuration.tls = TLSConfiguration(certificateChainPath: tlsCert, privateKeyPath: tlsKey, clientCAPath: tlsClientCa)
        }
        let server = try GRPCServer(configuration: configuration, logger: Logger(label: "sextant.grpc"))
        ADSService(
            store: store, nacks: nacks, admission: AdmissionGate(ratePerSecond: admissionRate, burst: max(1, admissionRate / 2)),
            clients: clients, logger: Logger(label: "sextant.xds")
        ).register(on: server)
        CSDSService(clients: clients).register(on: server)
        let bound = try server.start()
        let sourceTask = Task { await controlPlane.run(events) }
        let templateWatcher = TemplateWatcher(loader: loader)
        let templateTask = Task { for await sources in templateWatcher.events() { controlPlane.updateTemplates(sources) } }
        SignalWaiter.onEach(SIGHUP) {
            logger.notice("SIGHUP: re-reading the templates")
            templateWatcher.reload()
        }

        let banner =
            """
            sextant: serving xDS (ADS, SotW and delta) on \(bound.host):\(bound.port)\(configuration.tls == nil ? "" : " with TLS")
            sextant: catalog \(catalogName), templates \(inputs.templates), defaults \(inputs.defaults)
            sextant: admin API on \(adminAddress.host):\(adminPort) (/readyz, /debug/safeguards, /metrics)
            sextant: point an Envoy at it: envoy -c Config/envoy-bootstrap.yaml --disable-hot-restart

            """
        // Written straight to the fd: stdout's C buffer would hold it when piped.
        FileHandle.standardOutput.write(Data(banner.utf8))

        await SignalWaiter.wait(for: [SIGTERM, SIGINT])
        logger.info("shutting down", metadata: ["drain": "\(drainSeconds)s"])
        server.shutdown(grace: .milliseconds(Int(drainSeconds * 1_000)))
        adminServer.shutdown()
        controlPlane.flushLastKnownGood()
        // Not awaited, and not on this path: cancelling the source cancels URLSession tasks in
        // cancellation handlers that run synchronously in the canceller, and FoundationNetworking's
        // cancel can block on its own queue. Exiting ends the source either way.
        Task.detached { sourceTask.cancel() }
        templateTask.cancel()
        logger.info("stopped")
    }
}

extension Logger.Level: @retroactive ExpressibleByArgument {}

/// `HOST:PORT`, with the host optional (`:18000` means 127.0.0.1).
struct HostPort {
    let host: String
    let port: Int

    init(_ text: String) throws {
        guard let colon = text.lastIndex(of: ":"), let port = Int(text[text.index(after: colon)...]), (0...65535).contains(port)
        else { throw ValidationError("'\(text)' is not HOST:PORT") }
        let host = String(text[..<colon])
        self.host = host.isEmpty ? "127.0.0.1" : host
        self.port = port
    }
}

/// Suspends until one of the signals arrives (delivered through Dispatch, not a C handler).
enum SignalWaiter {
    static func wait(for signals: [Int32]) async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let queue = DispatchQueue(label: "sextant.signals")
            let resumed = ResumeOnce(continuation)
            var sources: [DispatchSourceSignal] = []
            for number in signals {
                signal(number, SIG_IGN)
                let source = DispatchSource.makeSignalSource(signal: number, queue: queue)
                source.setEventHandler { resumed.resume() }
                source.resume()
                sources.append(source)
            }
            // The sources must outlive this scope: they are kept until the process exits.
            SignalSources.keep(sources)
        }
    }

    /// Calls `handler` on every delivery of `number`, until the process exits.
    static func onEach(_ number: Int32, _ handler: @escaping @Sendable () -> Void) {
        signal(number, SIG_IGN)
        let source = DispatchSource.makeSignalSource(signal: number, queue: DispatchQueue(label: "sextant.signal.\(number)"))
        source.setEventHandler(handler: handler)
        source.resume()
        SignalSources.keep([source])
    }

    private final class ResumeOnce: Sendable {
        private let continuation: Mutex<CheckedContinuation<Void, Never>?>
        init(_ continuation: CheckedContinuation<Void, Never>) { self.continuation = Mutex(continuation) }
        func resume() { continuation.withLock { $0?.resume(); $0 = nil } }
    }

    private enum SignalSources {
        // Written only on the main task while signals are being set up, never read: it exists
        // so the dispatch sources live until the process exits.
        nonisolated(unsafe) static var kept: [DispatchSourceSignal] = []
        static func keep(_ sources: [DispatchSourceSignal]) { kept.append(contentsOf: sources) }
    }
}

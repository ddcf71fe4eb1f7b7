import GRPCServer
import Logging
import SystemIO

/// Serves ADS (SotW and delta) and the per-type discovery services from a `SnapshotStore`.
///
/// Each RPC gets an `ADSStreamHandler` on its connection's event loop. The handler owns the
/// stream's state machine; snapshot notifications reach it through its loop, so the state
/// machine is only ever touched on one thread.
public final class ADSService: Sendable {
    public static let sotwPath = "/envoy.service.discovery.v3.AggregatedDiscoveryService/StreamAggregatedResources"
    public static let deltaPath = "/envoy.service.discovery.v3.AggregatedDiscoveryService/DeltaAggregatedResources"

    /// The per-type services (`StreamClusters`, `DeltaEndpoints`, ...) share the ADS machinery;
    /// on them only their own type is served.
    static let perTypePaths: [(path: String, mode: ADSStreamMachine.Mode, type: ResourceType)] = {
        let services: [(ResourceType, String, String)] = [
            (.cluster, "envoy.service.cluster.v3.ClusterDiscoveryService", "Clusters"),
            (.endpoint, "envoy.service.endpoint.v3.EndpointDiscoveryService", "Endpoints"),
            (.listener, "envoy.service.listener.v3.ListenerDiscoveryService", "Listeners"),
            (.route, "envoy.service.route.v3.RouteDiscoveryService", "Routes"),
        ]
        return services.flatMap { type, service, noun in
            [("/\(service)/Stream\(noun)", .stateOfTheWorld, type), ("/\(service)/Delta\(noun)", .delta, type)]
        }
    }()

    let store: SnapshotStore
    let nacks: NackLog
    let admission: AdmissionGate
    let logger: Logger
    /// Every connected stream and what it holds (admin API, CSDS).
    public let clients: ClientRegistry

    public init(
        store: SnapshotStore, nacks: NackLog, admission: AdmissionGate = AdmissionGate(), clients: ClientRegistry = ClientRegistry(),
        logger: Logger
    ) {
        self.store = store
        self.nacks = nacks
        self.admission = admission
        self.clients = clients
        self.logger = logger
    }

    public func register(on server: GRPCServer) {
        server.register(path: Self.sotwPath) { rpc, _ in ADSStreamHandler(service: self, mode: .stateOfTheWorld, only: nil, rpc: rpc) }
        server.register(path: Self.deltaPath) { rpc, _ in ADSStreamHandler(service: self, mode: .delta, only: nil, rpc: rpc) }
        for entry in Self.perTypePaths {
            server.register(path: entry.path) { rpc, _ in
                ADSStreamHandler(service: self, mode: entry.mode, only: entry.type, rpc: rpc)
            }
        }
    }
}

/// The handlers living on one event loop, by RPC id: how a snapshot notification finds its stream.
final class ADSStreamRegistry {
    var handlers: [UInt64: ADSStreamHandler] = [:]
}

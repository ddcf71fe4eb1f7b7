import EnvoyAPI
import GRPCServer
import SwiftProtobuf
import SystemIO

/// The Client Status Discovery Service (`envoy.service.status.v3.ClientStatusDiscoveryService`):
/// what every connected node was sent and accepted, from Sextant's side, for tools that speak CSDS.
///
/// One `ClientConfig` per node (a node with several per-type streams gets one, merged), one
/// `GenericXdsConfig` per resource it holds or rejected. `config_status` is the type's state
/// (SYNCED, STALE while a response awaits an answer, ERROR after a NACK); `client_status` is
/// ACKED or NACKED, with the client's error text in `error_state`.
public final class CSDSService: Sendable {
    public static let fetchPath = "/envoy.service.status.v3.ClientStatusDiscoveryService/FetchClientStatus"
    public static let streamPath = "/envoy.service.status.v3.ClientStatusDiscoveryService/StreamClientStatus"

    let clients: ClientRegistry

    public init(clients: ClientRegistry) { self.clients = clients }

    public func register(on server: GRPCServer) {
        server.register(path: Self.fetchPath) { _, _ in CSDSHandler(service: self, unary: true) }
        server.register(path: Self.streamPath) { _, _ in CSDSHandler(service: self, unary: false) }
    }

    /// The response to one request: the nodes its `node_matchers` select (all when none).
    public func respond(to request: Envoy_Service_Status_V3_ClientStatusRequest, now: WallTime = .now)
        -> Envoy_Service_Status_V3_ClientStatusResponse
    {
        var byNode: [String: [ClientRegistry.Client]] = [:]
        for client in clients.clients where request.nodeMatchers.allSatisfy({ Self.matches($0, client.nodeID) }) {
            byNode[client.nodeID, default: []].append(client)
        }
        var response = Envoy_Service_Status_V3_ClientStatusResponse()
        for nodeID in byNode.keys.sorted() {
            let streams = byNode[nodeID]!
            var config = Envoy_Service_Status_V3_ClientConfig()
            config.node.id = nodeID
            config.node.cluster = streams[0].service
            if !streams[0].zone.isEmpty { config.node.locality.zone = streams[0].zone }
            for client in streams {
                for type in client.servedTypes {
                    config.genericXdsConfigs += Self.configs(
                        client.status(type), type: type, withContents: !request.excludeResourceContents)
                }
            }
            response.config.append(config)
        }
        return response
    }

    static func configs(_ status: ClientRegistry.TypeStatus, type: ResourceType, withContents: Bool)
        -> [Envoy_Service_Status_V3_ClientConfig.GenericXdsConfig]
    {
        let configStatus: Envoy_Service_Status_V3_ConfigStatus
        switch status.state {
        case .synced: configStatus = .synced
        case .stale: configStatus = .stale
        case .nacked: configStatus = .error
        case .notSent: configStatus = .notSent
        }
        let rejected = status.state == .nacked ? status.lastNack : nil
        let rejectedNames = Set(rejected?.resourceNames ?? [])
        var result: [Envoy_Service_Status_V3_ClientConfig.GenericXdsConfig] = []
        for name in status.held.keys.sorted() {
            let resource = status.held[name]!
            var config = Envoy_Service_Status_V3_ClientConfig.GenericXdsConfig()
            config.typeURL = type.typeURL
            config.name = name
            config.versionInfo = status.heldVersions[name] ?? resource.version
            if withContents, let any = try? Google_Protobuf_Any(serializedBytes: resource.anyBytes) { config.xdsConfig = any }
            if let at = status.ackedAt { config.lastUpdated = timestamp(at) }
            config.configStatus = configStatus
            config.clientStatus = rejectedNames.contains(name) ? .nacked : .acked
            if let rejected, rejectedNames.contains(name) { config.errorState = failure(rejected) }
            result.append(config)
        }
        // A rejected resource the client never held (or a rejection naming no resource).
        if let rejected {
            let unheld = rejected.resourceNames.filter { status.held[$0] == nil }
            for name in unheld.isEmpty && rejected.resourceNames.isEmpty ? [""] : unheld.sorted() {
                var config = Envoy_Service_Status_V3_ClientConfig.GenericXdsConfig()
                config.typeURL = type.typeURL
                config.name = name
                config.versionInfo = rejected.versionInfo
                config.configStatus = .error
                config.clientStatus = .nacked
                config.errorState = failure(rejected)
                result.append(config)
            }
        }
        return result
    }

    private static func failure(_ nack: ClientRegistry.Nack) -> Envoy_Admin_V3_UpdateFailureState {
        var state = Envoy_Admin_V3_UpdateFailureState()
        state.details = nack.errorMessage
        state.versionInfo = nack.versionInfo
        state.lastUpdateAttempt = timestamp(nack.at)
        return state
    }

    private static func timestamp(_ time: WallTime) -> Google_Protobuf_Timestamp {
        let whole = time.seconds.rounded(.down)
        return Google_Protobuf_Timestamp(seconds: Int64(whole), nanos: Int32((time.seconds - whole) * 1e9))
    }

    /// `NodeMatcher.node_id` (exact, prefix, suffix, contains; `ignore_case`); metadata matchers
    /// are not in Sextant's proto subset, so a matcher without `node_id` matches every node.
    static func matches(_ matcher: Envoy_Type_Matcher_V3_NodeMatcher, _ nodeID: String) -> Bool {
        guard matcher.hasNodeID else { return true }
        let m = matcher.nodeID
        let id = m.ignoreCase ? nodeID.lowercased() : nodeID
        func folded(_ text: String) -> String { m.ignoreCase ? text.lowercased() : text }
        switch m.matchPattern {
        case .exact(let text): return id == folded(text)
        case .prefix(let text): return id.hasPrefix(folded(text))
        case .suffix(let text): return id.hasSuffix(folded(text))
        case .contains(let text): return id.contains(folded(text))
        case .safeRegex, nil: return false
        }
    }
}

/// One CSDS RPC: answers each request; the unary call finishes after its one answer.
final class CSDSHandler: RPCHandler {
    private let service: CSDSService
    private let unary: Bool

    init(service: CSDSService, unary: Bool) {
        self.service = service
        self.unary = unary
    }

    func received(message: [UInt8], on rpc: ServerRPC, context: LoopContext) {
        guard let request = try? Envoy_Service_Status_V3_ClientStatusRequest(serializedBytes: message) else {
            rpc.finish(GRPCStatus(code: .invalidArgument, message: "malformed ClientStatusRequest"))
            return
        }
        guard let bytes: [UInt8] = try? service.respond(to: request).serializedBytes() else {
            rpc.finish(GRPCStatus(code: .internalError, message: "cannot encode ClientStatusResponse"))
            return
        }
        rpc.send(bytes)
        if unary { rpc.finish(.ok) }
    }

    func inputEnded(on rpc: ServerRPC, context: LoopContext) { rpc.finish(.ok) }

    func closed(_ rpc: ServerRPC, context: LoopContext) {}
}

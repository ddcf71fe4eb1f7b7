import EnvoyAPI
import GRPCServer
import Logging
import SystemIO

/// One ADS stream on its event loop: decodes requests, feeds the state machine, writes what
/// it decides. Loop-confined (not Sendable).
final class ADSStreamHandler: RPCHandler {
    private let service: ADSService
    private let only: ResourceType?
    private var machine: ADSStreamMachine
    private var logger: Logger
    private let rpcID: UInt64
    private var nodeID = ""
    private var serviceName: String?
    private var watchID: UInt64?
    private var admissionPending = false
    /// The nonce of the last response sent per type: a request echoing it without an error is its ACK.
    private var sentNonces: [ResourceType: String] = [:]

    init(service: ADSService, mode: ADSStreamMachine.Mode, only: ResourceType?, rpc: ServerRPC) {
        self.service = service
        self.only = only
        self.machine = ADSStreamMachine(mode: mode)
        self.rpcID = rpc.id
        var logger = service.logger
        logger[metadataKey: "peer"] = "\(rpc.peer)"
        logger[metadataKey: "stream"] = "\(rpc.id)"
        self.logger = logger
    }

    func received(message: [UInt8], on rpc: ServerRPC, context: LoopContext) {
        let decoded: RequestDecoder.Decoded
        do {
            decoded =
                machine.mode == .stateOfTheWorld
                ? try RequestDecoder.stateOfTheWorld(message) : try RequestDecoder.delta(message)
        } catch {
            logger.warning("malformed discovery request", metadata: ["error": "\(error)"])
            rpc.finish(GRPCStatus(code: .invalidArgument, message: "malformed discovery request: \(error)"))
            return
        }
        if serviceName == nil {
            guard let node = decoded.node, !node.cluster.isEmpty else {
                rpc.finish(GRPCStatus(code: .invalidArgument, message: "the first request must carry node.cluster (the service name)"))
                return
            }
            start(node: node, rpc: rpc, context: context)
        }
        guard let request = decoded.request, only == nil || only == request.type else {
            logger.debug("ignoring request for a type Sextant does not serve", metadata: ["type_url": "\(decoded.typeURL)"])
            return
        }
        logger.debug(
            "received", metadata: [
                "type": "\(request.type)", "nonce": "\(request.responseNonce)",
                "names": "\(request.resourceNames.count + request.subscribe.count)", "nack": "\(request.errorDetail != nil)",
            ])
        let acks = request.errorDetail == nil && !request.responseNonce.isEmpty && sentNonces[request.type] == request.responseNonce
        let actions = machine.receive(request)
        if acks {
            // Recorded before `actions` run: they may already send the type's next response.
            sentNonces[request.type] = nil
            service.clients.acked(streamID: rpcID, type: request.type, held: machine.heldResources(request.type))
        }
        perform(actions, on: rpc)
    }

    func inputEnded(on rpc: ServerRPC, context: LoopContext) {
        rpc.finish(GRPCStatus(code: .ok, message: ""))
    }

    func closed(_ rpc: ServerRPC, context: LoopContext) {
        context.local(ADSStreamRegistry.self, ADSStreamRegistry.init).handlers[rpcID] = nil
        service.clients.close(streamID: rpcID)
        if let serviceName, let watchID { service.store.cancelWatch(service: serviceName, id: watchID) }
        logger.info("ads stream closed")
    }

    func snapshotChanged(_ snapshot: Snapshot, rpc: ServerRPC) {
        perform(machine.snapshotChanged(snapshot), on: rpc)
    }

    // MARK: - Private

    private func start(node: Envoy_Config_Core_V3_Node, rpc: ServerRPC, context: LoopContext) {
        nodeID = node.id
        serviceName = node.cluster
        logger[metadataKey: "node"] = "\(node.id)"
        logger[metadataKey: "service"] = "\(node.cluster)"
        machine.client = XDSClientKind(userAgentName: node.userAgentName)
        logger.info(
            "ads stream opened",
            metadata: ["mode": "\(machine.mode)", "client": "\(machine.client)", "user_agent": "\(node.userAgentName)"])
        context.local(ADSStreamRegistry.self, ADSStreamRegistry.init).handlers[rpcID] = self
        service.clients.open(
            streamID: rpcID, nodeID: node.id, service: node.cluster, zone: node.locality.zone,
            transport: .init(delta: machine.mode == .delta, only: only), peer: rpc.peer)

        let loop = rpc.loop
        let id = rpcID
        let (watchID, current) = service.store.watch(service: node.cluster) { snapshot in
            loop.execute { context in
                guard let handler = context.local(ADSStreamRegistry.self, ADSStreamRegistry.init).handlers[id] else { return }
                handler.deliver(snapshot, context: context)
            }
        }
        self.watchID = watchID
        if let current { _ = machine.snapshotChanged(current) }
        requestAdmission(rpc: rpc, context: context)
    }

    /// Snapshot notifications carry no RPC reference (it is not Sendable); the handler keeps it.
    private weak var rpcRef: ServerRPC?

    private func deliver(_ snapshot: Snapshot, context: LoopContext) {
        guard let rpc = rpcRef, !rpc.isClosed else { return }
        snapshotChanged(snapshot, rpc: rpc)
    }

    private func requestAdmission(rpc: ServerRPC, context: LoopContext) {
        rpcRef = rpc
        let queue = context.local(AdmissionQueues.self, AdmissionQueues.init).queue(for: service.admission, on: context)
        let waiter = AdmissionQueue.Waiter(
            isLive: { [weak self, weak rpc] in self != nil && rpc.map { !$0.isClosed } ?? false },
            admit: { [weak self, weak rpc] in
                guard let self, let rpc, !rpc.isClosed else { return }
                self.perform(self.machine.admit(), on: rpc)
            })
        if queue.request(waiter) {
            perform(machine.admit(), on: rpc)
            return
        }
        if !admissionPending { logger.debug("admission deferred", metadata: ["waiting": "\(queue.waiting)"]) }
        admissionPending = true
    }

    private func perform(_ actions: [ADSAction], on rpc: ServerRPC) {
        for action in actions {
            switch action {
            case .send(let response):
                let bytes =
                    machine.mode == .stateOfTheWorld
                    ? ResponseEncoder.stateOfTheWorld(response) : ResponseEncoder.delta(response)
                rpc.send(bytes)
                sentNonces[response.type] = response.nonce
                service.clients.sent(streamID: rpcID, response)
                logger.debug(
                    "sent",
                    metadata: [
                        "type": "\(response.type)", "nonce": "\(response.nonce)", "count": "\(response.resources.count)",
                        "removed": "\(response.removed.count)", "bytes": "\(bytes.count)",
                    ])
            case .nack(let record):
                service.nacks.record(nodeID: nodeID, service: serviceName ?? "", record)
                service.clients.nacked(streamID: rpcID, record)
                if sentNonces[record.type] == record.nonce { sentNonces[record.type] = nil }
                logger.warning(
                    "nack", metadata: ["type": "\(record.type)", "version": "\(record.versionInfo)", "error": "\(record.errorMessage)"])
            }
        }
    }
}

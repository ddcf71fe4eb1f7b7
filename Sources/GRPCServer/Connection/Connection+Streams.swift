import CNGHTTP2
import Logging
import SystemIO

extension Connection {
    /// Acts on what nghttp2 recorded. Runs outside any nghttp2 call.
    func handle(_ events: [HTTP2Event]) {
        for event in events {
            guard state != .closed else { return }
            switch event {
            case .settingsReceived:
                prefaceReceived()
            case .requestHeaders(let streamID, let headers):
                openStream(streamID, headers: headers)
            case .data(let streamID, let bytes):
                receiveData(streamID, bytes)
            case .endStream(let streamID):
                inputEnded(streamID)
            case .streamClosed(let streamID, _):
                if let rpc = rpcs.removeValue(forKey: streamID) { notifyClosed(rpc) }
            case .sentEndStream(let streamID):
                // gRPC: once our trailers are out, a client still sending gets RST_STREAM(NO_ERROR).
                if session.isRemoteOpen(streamID: streamID) {
                    session.reset(streamID: streamID, errorCode: NGHTTP2_NO_ERROR.rawValue)
                }
            case .pingAck:
                if let timer = pingTimeoutTimer {
                    context.cancel(timer)
                    pingTimeoutTimer = nil
                }
            case .goaway:
                logger.debug("client sent GOAWAY")
            }
        }
    }

    private func openStream(_ streamID: Int32, headers: [(name: String, value: String)]) {
        func value(_ name: String) -> String? { headers.first { $0.name == name }?.value }
        let path = value(":path") ?? ""
        guard value(":method") == "POST", let contentType = value("content-type"), contentType.hasPrefix("application/grpc")
        else {
            respondTrailersOnly(streamID, status: GRPCStatus(code: .internalError, message: "not a gRPC request"),
                                httpStatus: "415")
            return
        }
        guard state == .active || state == .awaitingPreface else {
            respondTrailersOnly(streamID, status: GRPCStatus(code: .unavailable, message: "server is shutting down"))
            return
        }
        let factory: RPCHandlerFactory
        if let registered = shared.routes[path] {
            factory = registered
        } else if path == HealthCheckHandler.path {
            factory = { _, _ in HealthCheckHandler() }
        } else {
            logger.debug("unknown method", metadata: ["path": "\(path)"])
            respondTrailersOnly(streamID, status: GRPCStatus(code: .unimplemented, message: "Method not found: \(path)"))
            return
        }
        guard let encoding = MessageEncoding(header: value("grpc-encoding")) else {
            respondTrailersOnly(streamID, status: GRPCStatus(
                code: .unimplemented, message: "grpc-encoding \(value("grpc-encoding") ?? "") is not supported"))
            return
        }
        let rpc = ServerRPC(
            streamID: streamID, path: path, peer: peer, headers: headers.filter { !$0.name.hasPrefix(":") },
            loop: context.loop, connection: self, maxMessageBytes: shared.configuration.maxReceiveMessageBytes,
            encoding: encoding)
        do {
            try session.startResponse(streamID: streamID, headers: [
                (name: ":status", value: "200"),
                (name: "content-type", value: "application/grpc"),
                (name: "grpc-accept-encoding", value: "identity,gzip"),
            ])
        } catch {
            logger.warning("submit response failed", metadata: ["error": "\(error)"])
            session.reset(streamID: streamID, errorCode: NGHTTP2_INTERNAL_ERROR.rawValue)
            return
        }
        rpcs[streamID] = rpc
        rpc.handler = factory(rpc, context)
        scheduleFlush()
    }

    private func respondTrailersOnly(_ streamID: Int32, status: GRPCStatus, httpStatus: String = "200") {
        var headers = [(name: ":status", value: httpStatus), (name: "content-type", value: "application/grpc")]
        headers += status.trailerFields
        if status.code == .unimplemented { headers.append((name: "grpc-accept-encoding", value: "identity,gzip")) }
        do {
            try session.respondTrailersOnly(streamID: streamID, headers: headers)
        } catch {
            session.reset(streamID: streamID, errorCode: NGHTTP2_INTERNAL_ERROR.rawValue)
        }
        scheduleFlush()
    }

    private func receiveData(_ streamID: Int32, _ bytes: [UInt8]) {
        guard let rpc = rpcs[streamID], !rpc.isClosed else { return }  // input after finish is dropped
        do {
            try rpc.deframer.append(bytes)
            while !rpc.isClosed, let message = try rpc.deframer.next() {
                var payload = message.payload
                if message.compressed {
                    guard rpc.encoding == .gzip else {
                        rpc.finish(GRPCStatus(code: .internalError, message: "compressed message without grpc-encoding"))
                        return
                    }
                    do {
                        payload = try Gzip.inflate(payload, limit: shared.configuration.maxReceiveMessageBytes)
                    } catch .tooLarge(let limit) {
                        rpc.finish(GRPCStatus(code: .resourceExhausted, message: "decompressed message larger than \(limit) bytes"))
                        return
                    } catch {
                        rpc.finish(GRPCStatus(code: .internalError, message: "gzip: \(error)"))
                        return
                    }
                }
                rpc.handler?.received(message: payload, on: rpc, context: context)
            }
        } catch .messageTooLarge(let length, let limit) {
            logger.info("message over limit", metadata: ["path": "\(rpc.path)", "length": "\(length)", "limit": "\(limit)"])
            rpc.finish(GRPCStatus(code: .resourceExhausted, message: "message of \(length) bytes exceeds limit of \(limit)"))
        } catch {
            logger.info("bad gRPC framing", metadata: ["path": "\(rpc.path)", "error": "\(error)"])
            rpc.finish(GRPCStatus(code: .internalError, message: "invalid gRPC framing: \(error)"))
        }
    }

    private func inputEnded(_ streamID: Int32) {
        guard let rpc = rpcs[streamID], !rpc.isClosed else { return }
        do {
            try rpc.deframer.finish()
        } catch {
            rpc.finish(GRPCStatus(code: .internalError, message: "request ended inside a message"))
            return
        }
        rpc.handler?.inputEnded(on: rpc, context: context)
    }

    // MARK: Called by ServerRPC

    func send(_ message: [UInt8], on rpc: ServerRPC) {
        guard state != .closed, rpcs[rpc.streamID] === rpc else { return }
        let framed = GRPCFramer.frame(message)
        let limit = shared.configuration.maxBufferedOutboundBytesPerRPC
        let queued = session.bufferedBytes(streamID: rpc.streamID)
        guard queued + framed.count <= limit else {
            // The client is not reading fast enough: end this RPC instead of buffering more.
            logger.warning("outbound buffer limit reached, resetting RPC", metadata: [
                "path": "\(rpc.path)", "rpc": "\(rpc.id)", "queued": "\(queued)", "limit": "\(limit)",
            ])
            rpc.finished = true
            session.reset(streamID: rpc.streamID, errorCode: NGHTTP2_ENHANCE_YOUR_CALM.rawValue)
            rpcs[rpc.streamID] = nil
            notifyClosed(rpc)
            scheduleFlush()
            return
        }
        session.enqueue(streamID: rpc.streamID, bytes: framed)
        scheduleFlush()
    }

    func finish(_ rpc: ServerRPC, status: GRPCStatus) {
        guard state != .closed, rpcs[rpc.streamID] === rpc else { return }
        session.finish(streamID: rpc.streamID, trailers: status.trailerFields)
        scheduleFlush()
    }

    func bufferedBytes(of rpc: ServerRPC) -> Int {
        guard rpcs[rpc.streamID] === rpc else { return 0 }
        return session.bufferedBytes(streamID: rpc.streamID)
    }

    /// Delivers `closed` exactly once and breaks the RPC ↔ handler cycle.
    func notifyClosed(_ rpc: ServerRPC) {
        guard !rpc.closedNotified else { return }
        rpc.closedNotified = true
        let handler = rpc.handler
        rpc.handler = nil
        handler?.closed(rpc, context: context)
    }
}

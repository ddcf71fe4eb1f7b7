import Logging
import SystemIO

extension Connection {
    /// The client preface (first SETTINGS) arrived: stop the handshake clock, start keepalive.
    func prefaceReceived() {
        if let timer = handshakeTimer {
            context.cancel(timer)
            handshakeTimer = nil
        }
        if state == .awaitingPreface { state = .active }
        armKeepalive()
    }

    private func armKeepalive() {
        keepaliveTimer = context.schedule(after: shared.configuration.keepaliveInterval) { [weak self] _ in
            self?.keepaliveFired()
        }
    }

    private func keepaliveFired() {
        guard state == .active || state == .draining else { return }
        if pingTimeoutTimer == nil {
            session.ping()
            pingTimeoutTimer = context.schedule(after: shared.configuration.keepaliveTimeout) { [weak self] _ in
                guard let self else { return }
                self.logger.info("keepalive timeout")
                self.close(reason: "keepalive timeout")
            }
            flush()
        }
        armKeepalive()
    }

    /// Graceful shutdown: GOAWAY now; after `grace`, finish what is still open with UNAVAILABLE;
    /// close once drained (or a second after that, whatever the peer does).
    func beginDrain(grace: Duration) {
        guard state != .closed, state != .draining else { return }
        if state == .handshaking || state == .awaitingPreface {
            close(reason: "shutdown before preface")
            return
        }
        state = .draining
        session.goAway()
        logger.debug("draining", metadata: ["openRPCs": "\(rpcs.count)"])
        drainTimers.append(context.schedule(after: grace) { [weak self] _ in self?.graceExpired() })
        flush()
    }

    private func graceExpired() {
        guard state != .closed else { return }
        for rpc in rpcs.sorted(by: { $0.key < $1.key }).map(\.value) {
            rpc.finish(GRPCStatus(code: .unavailable, message: "server is shutting down"))
        }
        flush()
        drainTimers.append(context.schedule(after: .seconds(1)) { [weak self] _ in
            self?.close(reason: "drain deadline")
        })
    }
}

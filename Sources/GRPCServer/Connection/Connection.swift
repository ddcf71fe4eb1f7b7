import CNGHTTP2
import Logging
import SystemIO

/// One accepted socket: bytes from the transport go into the HTTP/2 session, its events drive
/// the RPCs, and the session's output goes back out only while the socket accepts it.
///
/// States: `handshaking` (TLS) → `awaitingPreface` → `active` → `draining` → `closed`.
/// Back-pressure: while a write is blocked we stop asking nghttp2 for output and (for plain
/// sockets) stop reading, so a peer that never reads cannot make us buffer without bound.
final class Connection {
    enum State: Equatable { case handshaking, awaitingPreface, active, draining, closed }

    /// Output gathered from nghttp2 before a write; nghttp2 is not asked for more beyond this.
    static let writeHighWater = 64 << 10
    /// Reads per readiness event before yielding to other connections.
    static let maxReadsPerEvent = 8

    let fd: Int32
    let peer: String
    let context: LoopContext
    let shared: ServerShared
    var logger: Logger
    let transport: Transport
    let session: HTTP2Session
    var state: State
    var rpcs: [Int32: ServerRPC] = [:]

    private var writeBuffer: [UInt8] = []
    private var writeOffset = 0
    private var interest: IOEvents = [.readable]
    private var flushScheduled = false
    private var readScheduled = false
    var handshakeTimer: TimerHandle?
    var keepaliveTimer: TimerHandle?
    var pingTimeoutTimer: TimerHandle?
    var drainTimers: [TimerHandle] = []

    init(fd: Int32, peer: String, context: LoopContext, shared: ServerShared, transport: Transport, tls: Bool) throws(HTTP2Error) {
        self.fd = fd
        self.peer = peer
        self.context = context
        self.shared = shared
        self.transport = transport
        self.session = try HTTP2Session(maxConcurrentStreams: shared.configuration.maxConcurrentStreamsPerConnection)
        self.state = tls ? .handshaking : .awaitingPreface
        var logger = shared.logger
        logger[metadataKey: "peer"] = "\(peer)"
        self.logger = logger
    }

    /// Takes ownership of an accepted fd on the current loop. Closes it on any failure.
    static func accept(fd: Int32, peer: String, context: LoopContext, shared: ServerShared) {
        let registry = LoopConnections.on(context)
        let connection: Connection
        do {
            try? Socket.setNoDelay(fd)
            let transport: Transport
            if let tls = shared.configuration.tls {
                transport = try TLSTransport(fd: fd, context: registry.tls(tls))
            } else {
                transport = PlainTransport(fd: fd)
            }
            connection = try Connection(
                fd: fd, peer: peer, context: context, shared: shared, transport: transport,
                tls: shared.configuration.tls != nil)
        } catch {
            shared.logger.warning("connection setup failed", metadata: ["peer": "\(peer)", "error": "\(error)"])
            Socket.close(fd)
            shared.connectionCount.subtract(1, ordering: .relaxed)
            return
        }
        registry.connections[ObjectIdentifier(connection)] = connection
        do {
            try connection.start()
        } catch {
            connection.logger.warning("connection registration failed", metadata: ["error": "\(error)"])
            connection.close(reason: "registration failed")
        }
    }

    private func start() throws(SystemError) {
        // The handler closure holds the connection strongly until `close` unregisters it.
        try context.register(fd: fd, interest: interest) { [self] events, _ in handle(events) }
        handshakeTimer = context.schedule(after: shared.configuration.handshakeTimeout) { [weak self] _ in
            guard let self, self.state == .handshaking || self.state == .awaitingPreface else { return }
            self.logger.info("handshake timeout")
            self.close(reason: "handshake timeout")
        }
        if shared.draining.load(ordering: .relaxed) { beginDrain(grace: .zero) }
        logger.debug("connection accepted")
        flush()  // our SETTINGS frame
    }

    // MARK: Readiness

    private func handle(_ events: IOEvents) {
        guard state != .closed else { return }
        if state == .handshaking {
            readInput()  // drives the TLS handshake in either direction, then reads what follows
            return
        }
        if events.contains(.writable) || events.contains(.hangup) { flush() }
        guard state != .closed else { return }
        if events.contains(.hangup) && isWriteBlocked {
            // A hung-up socket cannot stay write-blocked; do not let a level-triggered HUP spin.
            close(reason: "peer hung up")
            return
        }
        if events.contains(.readable) || events.contains(.hangup) { readInput() }
    }

    private func readInput() {
        guard state != .closed else { return }
        if state == .handshaking {
            driveHandshake()
            guard state == .awaitingPreface else { return }
        }
        let buffer = LoopConnections.on(context).readBuffer
        for _ in 0..<Connection.maxReadsPerEvent {
            guard state != .closed, !isWriteBlocked || transport.readsWhileWriteBlocked else { return }
            let result: TransportResult
            do {
                result = try transport.read(into: buffer)
            } catch {
                logger.info("read failed", metadata: ["error": "\(error)"])
                close(reason: "read error")
                return
            }
            switch result {
            case .wouldBlock:
                return
            case .endOfStream:
                close(reason: "peer closed")
                return
            case .bytes(let n):
                // OWNERSHIP: the loop's shared read buffer; the session copies what it keeps.
                ingest(UnsafeRawBufferPointer(rebasing: buffer[0..<n]))
            }
        }
        // Budget used up: continue after other work (TLS may hold decrypted bytes epoll cannot see).
        if !readScheduled {
            readScheduled = true
            context.runSoon { [weak self] _ in
                self?.readScheduled = false
                self?.readInput()
            }
        }
    }

    private func driveHandshake() {
        do {
            switch try transport.handshake() {
            case .complete:
                state = .awaitingPreface
                logger.debug("TLS handshake complete")
                setInterest([.readable])
                flush()  // our SETTINGS frame, held back until the handshake finished
            case .wantRead:
                setInterest([.readable])
            case .wantWrite:
                setInterest([.readable, .writable])
            }
        } catch {
            logger.info("TLS handshake failed", metadata: ["error": "\(error)"])
            close(reason: "TLS handshake failed")
        }
    }

    private func ingest(_ bytes: UnsafeRawBufferPointer) {
        let events: [HTTP2Event]
        do {
            events = try session.receive(bytes)
        } catch {
            logger.info(error.isBadPreface ? "bad client preface" : "HTTP/2 protocol error", metadata: ["error": "\(error)"])
            // nghttp2 may have queued a GOAWAY: send it if the socket takes it now, then close.
            flushOnce()
            close(reason: "protocol error")
            return
        }
        handle(events)
        flush()
    }

    // MARK: Output

    private var isWriteBlocked: Bool { interest.contains(.writable) && state != .handshaking }

    /// Coalesces output produced by handlers into one flush at the end of this loop turn.
    func scheduleFlush() {
        guard !flushScheduled, state != .closed else { return }
        flushScheduled = true
        context.runSoon { [weak self] _ in
            guard let self else { return }
            self.flushScheduled = false
            self.flush()
        }
    }

    /// Writes pending output and handles the events sending produced, until quiet or blocked.
    func flush() {
        // Nothing goes out before the TLS handshake is done: SSL_write would drive it from here.
        guard state != .handshaking else { return }
        var rounds = 0
        var quiet = false
        while state != .closed && rounds < 16 {
            rounds += 1
            guard writeAvailable() else { return }
            let events = session.takeEvents()
            if events.isEmpty {
                quiet = true
                break
            }
            handle(events)
        }
        guard state != .closed else { return }
        if !quiet { scheduleFlush() }  // more events are pending: continue after other connections
        let drained = writeBuffer.count == writeOffset && !session.wantsWrite
        if state == .draining && rpcs.isEmpty && drained {
            close(reason: "drained")
        } else if drained && !session.wantsRead && state != .handshaking {
            // nghttp2 handled a connection error itself (GOAWAY queued, now sent) without failing
            // mem_recv: it wants neither to read nor to write, so the connection is over
            // (RFC 9113 §5.4.1: close the TCP connection after GOAWAY for a connection error).
            close(reason: "session terminated")
        }
    }

    /// One pass of fill-and-write without handling events (used just before closing).
    private func flushOnce() { _ = writeAvailable() }

    /// Fills the write buffer from nghttp2 (bounded) and writes it. Returns false if the connection closed.
    private func writeAvailable() -> Bool {
        while true {
            do {
                while writeBuffer.count - writeOffset < Connection.writeHighWater {
                    // COPY: mem_send's bytes are valid only until the next mem_send.
                    let more = try session.nextOutput { chunk in writeBuffer.append(contentsOf: chunk) }
                    if !more { break }
                }
            } catch {
                logger.info("HTTP/2 send failed", metadata: ["error": "\(error)"])
                close(reason: "HTTP/2 error")
                return false
            }
            if writeBuffer.count == writeOffset {
                writeBuffer.removeAll(keepingCapacity: writeBuffer.capacity <= 2 * Connection.writeHighWater)
                writeOffset = 0
                if interest.contains(.writable) && state != .handshaking { setInterest([.readable]) }
                return true
            }
            let result: TransportResult
            do {
                // OWNERSHIP: our own array; the transport copies into the kernel or TLS record.
                result = try writeBuffer.withUnsafeBytes { all throws(TransportError) in
                    try transport.write(from: UnsafeRawBufferPointer(rebasing: all[writeOffset...]))
                }
            } catch {
                logger.info("write failed", metadata: ["error": "\(error)"])
                close(reason: "write error")
                return false
            }
            switch result {
            case .bytes(let n):
                writeOffset += n
                if writeOffset == writeBuffer.count {
                    writeBuffer.removeAll(keepingCapacity: writeBuffer.capacity <= 2 * Connection.writeHighWater)
                    writeOffset = 0
                } else if writeOffset > Connection.writeHighWater {
                    writeBuffer.removeFirst(writeOffset)
                    writeOffset = 0
                }
            case .wouldBlock, .endOfStream:
                // Wait for EPOLLOUT; a plain socket also stops reading so a non-reader cannot add work.
                setInterest(transport.readsWhileWriteBlocked ? [.readable, .writable] : [.writable])
                return true
            }
        }
    }

    private func setInterest(_ wanted: IOEvents) {
        guard wanted != interest, state != .closed else { return }
        interest = wanted
        do {
            try context.modify(fd: fd, interest: wanted)
        } catch {
            logger.warning("epoll modify failed", metadata: ["error": "\(error)"])
            close(reason: "epoll error")
        }
    }

    // MARK: Teardown

    /// Closes the socket now and tells every open RPC's handler. Idempotent.
    func close(reason: String) {
        guard state != .closed else { return }
        state = .closed
        for timer in [handshakeTimer, keepaliveTimer, pingTimeoutTimer].compactMap({ $0 }) + drainTimers {
            context.cancel(timer)
        }
        context.unregister(fd: fd)
        transport.shutdown()
        Socket.close(fd)
        let open = rpcs.sorted { $0.key < $1.key }.map(\.value)
        rpcs.removeAll()
        for rpc in open { notifyClosed(rpc) }
        LoopConnections.on(context).connections[ObjectIdentifier(self)] = nil
        shared.connectionCount.subtract(1, ordering: .relaxed)
        logger.debug("connection closed", metadata: ["reason": "\(reason)", "openRPCs": "\(open.count)"])
    }
}

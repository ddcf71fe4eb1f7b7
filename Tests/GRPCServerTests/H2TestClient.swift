import CNGHTTP2
import SystemIO

#if canImport(Glibc)
import Glibc
#endif

/// A small HTTP/2 client over a real loopback socket, driven synchronously by `pump`.
/// Test-only; single-threaded; nghttp2 callbacks record into this object.
final class H2TestClient {
    final class Stream {
        var headers: [(String, String)] = []
        var trailers: [(String, String)] = []
        var body: [UInt8] = []
        var closed = false
        var resetCode: UInt32?
        var outbound: [UInt8] = []
        var outboundEnded = false
        var deferred = false
        var sawHeaders = false

        var status: Int? {
            let all = trailers + (trailers.isEmpty ? headers : [])
            return all.first { $0.0 == "grpc-status" }.flatMap { Int($0.1) }
        }
        var message: String? { (trailers + headers).first { $0.0 == "grpc-message" }?.1 }

        /// Complete gRPC messages received so far.
        var messages: [[UInt8]] {
            var out: [[UInt8]] = []
            var i = 0
            while body.count - i >= 5 {
                let length = body[i + 1..<i + 5].reduce(0) { $0 << 8 | Int($1) }
                guard body.count - i - 5 >= length else { break }
                out.append(Array(body[i + 5..<i + 5 + length]))
                i += 5 + length
            }
            return out
        }
    }

    let fd: Int32
    let session: OpaquePointer
    var streams: [Int32: Stream] = [:]
    var goawayReceived = false
    var peerClosed = false
    private var pendingWrite: [UInt8] = []

    init(port: Int, windowSize: UInt32 = 1 << 20) throws {
        fd = try Socket.connect(to: SocketAddress(host: "127.0.0.1", port: port))
        var pfd = pollfd(fd: fd, events: Int16(POLLOUT), revents: 0)
        _ = poll(&pfd, 1, 2000)
        guard Socket.pendingError(fd) == 0 else {
            Socket.close(fd)
            throw SystemError(errno: Socket.pendingError(fd), call: "connect")
        }
        var callbacks: OpaquePointer?
        nghttp2_session_callbacks_new(&callbacks)
        defer { nghttp2_session_callbacks_del(callbacks) }
        H2TestClient.install(callbacks!)
        var raw: OpaquePointer?
        nghttp2_session_client_new(&raw, callbacks, nil)
        session = raw!
        // OWNERSHIP: unretained; the session is deleted in deinit and only calls back inside our methods.
        nghttp2_session_set_user_data(session, Unmanaged.passUnretained(self).toOpaque())
        var settings = [nghttp2_settings_entry(settings_id: Int32(NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE.rawValue), value: windowSize)]
        nghttp2_submit_settings(session, 0, &settings, 1)
        if windowSize > 65535 {
            nghttp2_session_set_local_window_size(session, 0, 0, Int32(windowSize))
        }
    }

    deinit {
        nghttp2_session_del(session)
        Socket.close(fd)
    }

    /// Starts a call; `messages` are framed and sent; `end` half-closes after them.
    @discardableResult
    func startCall(path: String, messages: [[UInt8]] = [], end: Bool = true, extraHeaders: [(String, String)] = [], rawBody: [UInt8]? = nil) -> Int32 {
        let stream = Stream()
        stream.outbound = rawBody ?? messages.flatMap { H2TestClient.frame($0) }
        stream.outboundEnded = end
        let headers = [(":method", "POST"), (":scheme", "http"), (":authority", "localhost"), (":path", path),
                       ("content-type", "application/grpc"), ("te", "trailers")] + extraHeaders
        var provider = nghttp2_data_provider()
        provider.read_callback = H2TestClient.read
        let id = H2TestClient.withNV(headers) { nv, n in nghttp2_submit_request(session, nil, nv, n, &provider, nil) }
        streams[id] = stream
        return id
    }

    func send(_ message: [UInt8], on id: Int32, end: Bool = false, compressed: Bool = false) {
        sendRaw(H2TestClient.frame(message, compressed: compressed), on: id, end: end)
    }

    func sendRaw(_ bytes: [UInt8], on id: Int32, end: Bool = false) {
        guard let s = streams[id] else { return }
        s.outbound += bytes
        s.outboundEnded = s.outboundEnded || end
        if s.deferred {
            s.deferred = false
            nghttp2_session_resume_data(session, id)
        }
    }

    static func frame(_ payload: [UInt8], compressed: Bool = false) -> [UInt8] {
        let n = UInt32(payload.count)
        return [compressed ? 1 : 0, UInt8(n >> 24), UInt8(n >> 16 & 0xFF), UInt8(n >> 8 & 0xFF), UInt8(n & 0xFF)] + payload
    }

    /// Writes everything pending; reads and processes input until `condition` or the deadline.
    @discardableResult
    func pump(timeoutMillis: Int = 3000, until condition: () -> Bool = { false }) -> Bool {
        let deadline = LoopContext.monotonicNanos() + UInt64(timeoutMillis) * 1_000_000
        var buffer = [UInt8](repeating: 0, count: 64 << 10)
        while true {
            flushOut()
            if condition() { return true }
            let now = LoopContext.monotonicNanos()
            if now >= deadline || peerClosed { return condition() }
            var pfd = pollfd(fd: fd, events: Int16(POLLIN) | (pendingWrite.isEmpty ? 0 : Int16(POLLOUT)), revents: 0)
            _ = poll(&pfd, 1, Int32(min(20, (deadline - now) / 1_000_000 + 1)))
            if pfd.revents & Int16(POLLIN | POLLHUP | POLLERR) != 0 {
                let n = buffer.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress, $0.count) }
                if n <= 0 {
                    if n == 0 || (Glibc.errno != EAGAIN && Glibc.errno != EINTR) { peerClosed = true }
                    continue
                }
                let rc = buffer.withUnsafeBytes { nghttp2_session_mem_recv(session, $0.baseAddress!.assumingMemoryBound(to: UInt8.self), n) }
                if rc < 0 { peerClosed = true }
            }
        }
    }

    private func flushOut() {
        while true {
            var data: UnsafePointer<UInt8>?
            let n = nghttp2_session_mem_send(session, &data)
            guard n > 0, let data else { break }
            pendingWrite.append(contentsOf: UnsafeBufferPointer(start: data, count: n))
        }
        while !pendingWrite.isEmpty {
            let n = pendingWrite.withUnsafeBytes { clinux_send_test(fd, $0.baseAddress, $0.count) }
            if n <= 0 { break }
            pendingWrite.removeFirst(n)
        }
    }

    /// Sends raw bytes on the socket, bypassing HTTP/2 (for hostile-peer tests).
    func writeRaw(_ bytes: [UInt8]) {
        _ = bytes.withUnsafeBytes { clinux_send_test(fd, $0.baseAddress, $0.count) }
    }
}

private func clinux_send_test(_ fd: Int32, _ ptr: UnsafeRawPointer?, _ count: Int) -> Int {
    Glibc.send(fd, ptr, count, Int32(MSG_NOSIGNAL))
}

private func client(_ userData: UnsafeMutableRawPointer?) -> H2TestClient {
    Unmanaged<H2TestClient>.fromOpaque(userData!).takeUnretainedValue()
}

extension H2TestClient {
    static func withNV<R>(_ headers: [(String, String)], _ body: (UnsafePointer<nghttp2_nv>, Int) -> R) -> R {
        var storage: [[UInt8]] = headers.flatMap { [Array($0.0.utf8), Array($0.1.utf8)] }
        let nv = UnsafeMutablePointer<nghttp2_nv>.allocate(capacity: headers.count)
        defer { nv.deallocate() }
        // OWNERSHIP: header bytes copied into malloc'd buffers freed after `body`; nghttp2 copies them (NV_FLAG_NONE).
        let buffers = storage.indices.map { i -> UnsafeMutablePointer<UInt8> in
            let p = UnsafeMutablePointer<UInt8>.allocate(capacity: max(1, storage[i].count))
            p.initialize(from: storage[i], count: storage[i].count)
            return p
        }
        defer { buffers.forEach { $0.deallocate() } }
        for i in headers.indices {
            nv[i] = nghttp2_nv(name: buffers[2 * i], value: buffers[2 * i + 1], namelen: storage[2 * i].count,
                               valuelen: storage[2 * i + 1].count, flags: 0)
        }
        storage.removeAll()
        return body(nv, headers.count)
    }

    static let read: nghttp2_data_source_read_callback = { _, id, buf, length, flags, _, userData in
        let me = client(userData)
        guard let s = me.streams[id], let buf, let flags else { return Int(NGHTTP2_ERR_CALLBACK_FAILURE.rawValue) }
        let n = min(length, s.outbound.count)
        // OWNERSHIP: nghttp2's frame buffer, `length` bytes, valid during this call.
        s.outbound.withUnsafeBufferPointer { buf.update(from: $0.baseAddress!, count: n) }
        s.outbound.removeFirst(n)
        if s.outbound.isEmpty && s.outboundEnded {
            flags.pointee |= NGHTTP2_DATA_FLAG_EOF.rawValue
            return n
        }
        if n == 0 {
            s.deferred = true
            return Int(NGHTTP2_ERR_DEFERRED.rawValue)
        }
        return n
    }

    static func install(_ cbs: OpaquePointer) {
        nghttp2_session_callbacks_set_on_header_callback(cbs) { _, frame, name, nl, value, vl, _, ud in
            let me = client(ud)
            guard let frame, let s = me.streams[frame.pointee.hd.stream_id] else { return 0 }
            let pair = (String(decoding: UnsafeBufferPointer(start: name, count: nl), as: UTF8.self),
                        String(decoding: UnsafeBufferPointer(start: value, count: vl), as: UTF8.self))
            if s.sawHeaders { s.trailers.append(pair) } else { s.headers.append(pair) }
            return 0
        }
        nghttp2_session_callbacks_set_on_frame_recv_callback(cbs) { _, frame, ud in
            let me = client(ud)
            guard let frame else { return 0 }
            if frame.pointee.hd.type == UInt8(NGHTTP2_HEADERS.rawValue), let s = me.streams[frame.pointee.hd.stream_id] {
                s.sawHeaders = true
            }
            if frame.pointee.hd.type == UInt8(NGHTTP2_GOAWAY.rawValue) { me.goawayReceived = true }
            return 0
        }
        nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cbs) { _, _, id, data, length, ud in
            client(ud).streams[id]?.body.append(contentsOf: UnsafeBufferPointer(start: data, count: length))
            return 0
        }
        nghttp2_session_callbacks_set_on_stream_close_callback(cbs) { _, id, code, ud in
            if let s = client(ud).streams[id] {
                s.closed = true
                if code != 0 { s.resetCode = code }
            }
            return 0
        }
    }
}

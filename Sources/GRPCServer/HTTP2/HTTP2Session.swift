import CNGHTTP2

/// What the peer did, recorded by nghttp2 callbacks and acted on after `mem_recv` returns.
enum HTTP2Event {
    /// The first SETTINGS frame arrived: the client preface is complete.
    case settingsReceived
    case requestHeaders(streamID: Int32, headers: [(name: String, value: String)])
    case data(streamID: Int32, bytes: [UInt8])
    /// The client half-closed the stream (END_STREAM on DATA or HEADERS).
    case endStream(streamID: Int32)
    case streamClosed(streamID: Int32, errorCode: UInt32)
    case pingAck
    case goaway
    /// Our final frame for the stream (END_STREAM) went out.
    case sentEndStream(streamID: Int32)
}

struct HTTP2Error: Error, CustomStringConvertible {
    let code: Int32
    let operation: String
    var description: String { "\(operation): \(String(cString: nghttp2_strerror(code))) (\(code))" }
    /// The client did not start with the HTTP/2 connection preface.
    var isBadPreface: Bool { code == NGHTTP2_ERR_BAD_CLIENT_MAGIC.rawValue }
}

/// One HTTP/2 server connection's protocol state: bytes in, events out; bytes out on demand.
///
/// Not Sendable: owned by the loop thread that owns the socket. nghttp2 calls back
/// synchronously from inside `receive` and `nextOutput`, on that same thread. Callbacks only
/// record events, except the DATA read callback, which copies from the per-stream outbound
/// queue owned by this object. All nghttp2 calls live in this file and its `+Callbacks`
/// extension, so a move to the `*2` APIs of newer nghttp2 releases touches only them.
final class HTTP2Session {
    /// Per-stream response state: a byte queue drained by the DATA read callback.
    final class Outbound {
        var chunks: [[UInt8]] = []
        var headOffset = 0
        var buffered = 0
        /// Set by `finish`: sent after the queue drains.
        var trailers: [(name: String, value: String)]?
        var trailersSubmitted = false
        var deferred = false
    }

    /// Largest request header block we accept per stream (names + values).
    static let maxHeaderBytes = 64 << 10

    let session: OpaquePointer  // nghttp2_session *, deleted in deinit
    var events: [HTTP2Event] = []
    var outbound: [Int32: Outbound] = [:]
    var pendingHeaders: [Int32: [(name: String, value: String)]] = [:]
    var pendingHeaderBytes: [Int32: Int] = [:]
    private var sawSettings = false

    init(maxConcurrentStreams: UInt32, initialWindowSize: UInt32 = 1 << 20) throws(HTTP2Error) {
        var callbacks: OpaquePointer?
        var rc = nghttp2_session_callbacks_new(&callbacks)
        guard rc == 0, let callbacks else { throw HTTP2Error(code: rc, operation: "nghttp2_session_callbacks_new") }
        // nghttp2 copies the callback table into the session, so ours can go right away.
        defer { nghttp2_session_callbacks_del(callbacks) }
        HTTP2Session.installCallbacks(on: callbacks)

        var option: OpaquePointer?
        rc = nghttp2_option_new(&option)
        guard rc == 0, let option else { throw HTTP2Error(code: rc, operation: "nghttp2_option_new") }
        // The option is copied into the session as well.
        defer { nghttp2_option_del(option) }
        // Bound what a peer can make us queue without reading (PING/SETTINGS acks, RST_STREAMs).
        nghttp2_option_set_max_outbound_ack(option, 1000)
        nghttp2_option_set_max_settings(option, 32)

        var raw: OpaquePointer?
        rc = nghttp2_session_server_new2(&raw, callbacks, nil, option)
        guard rc == 0, let raw else { throw HTTP2Error(code: rc, operation: "nghttp2_session_server_new2") }
        session = raw
        // OWNERSHIP: unretained. The session is deleted in our deinit, so it never outlives self, and
        // callbacks only run inside our own methods, while the caller holds a strong reference.
        nghttp2_session_set_user_data(session, Unmanaged.passUnretained(self).toOpaque())

        var settings = [
            nghttp2_settings_entry(settings_id: Int32(NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS.rawValue), value: maxConcurrentStreams),
            nghttp2_settings_entry(settings_id: Int32(NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE.rawValue), value: initialWindowSize),
            nghttp2_settings_entry(settings_id: Int32(NGHTTP2_SETTINGS_MAX_HEADER_LIST_SIZE.rawValue), value: UInt32(HTTP2Session.maxHeaderBytes)),
        ]
        // OWNERSHIP: nghttp2 copies the entries during the call.
        rc = nghttp2_submit_settings(session, UInt8(NGHTTP2_FLAG_NONE.rawValue), &settings, settings.count)
        guard rc == 0 else { throw HTTP2Error(code: rc, operation: "nghttp2_submit_settings") }
    }

    deinit {
        nghttp2_session_del(session)  // never from inside a callback: callbacks hold no strong reference
    }

    // MARK: Input

    /// Feeds bytes read from the peer; returns what happened, in order.
    func receive(_ bytes: UnsafeRawBufferPointer) throws(HTTP2Error) -> [HTTP2Event] {
        // OWNERSHIP: `bytes` belongs to the caller's read buffer; nghttp2 does not keep the pointer.
        let n = nghttp2_session_mem_recv(session, bytes.baseAddress?.assumingMemoryBound(to: UInt8.self), bytes.count)
        guard n >= 0 else {
            events.removeAll()
            throw HTTP2Error(code: Int32(truncatingIfNeeded: n), operation: "nghttp2_session_mem_recv")
        }
        return takeEvents()
    }

    /// Events recorded since the last call (sending frames records some too: stream closes, END_STREAM sent).
    func takeEvents() -> [HTTP2Event] {
        defer { events.removeAll(keepingCapacity: true) }
        return events
    }

    func record(_ event: HTTP2Event) {
        if case .settingsReceived = event {
            if sawSettings { return }
            sawSettings = true
        }
        events.append(event)
    }

    // MARK: Output

    /// Serialises the next chunk of frames and hands it to `sink`, which must copy it:
    /// the bytes are valid only until the next `mem_send`. Returns false when nothing is pending.
    func nextOutput(_ sink: (UnsafeRawBufferPointer) -> Void) throws(HTTP2Error) -> Bool {
        var data: UnsafePointer<UInt8>?
        // OWNERSHIP: `data` points into nghttp2's own buffer, valid until the next mem_send call.
        let n = nghttp2_session_mem_send(session, &data)
        guard n >= 0 else { throw HTTP2Error(code: Int32(truncatingIfNeeded: n), operation: "nghttp2_session_mem_send") }
        guard n > 0, let data else { return false }
        sink(UnsafeRawBufferPointer(start: data, count: n))
        return true
    }

    /// Frames from the peer that may change state are still welcome.
    var wantsRead: Bool { nghttp2_session_want_read(session) != 0 }
    var wantsWrite: Bool { nghttp2_session_want_write(session) != 0 }

    // MARK: Responses

    /// Sends response headers and attaches a deferred data provider for the stream's messages.
    func startResponse(streamID: Int32, headers: [(name: String, value: String)]) throws(HTTP2Error) {
        outbound[streamID] = Outbound()
        var provider = nghttp2_data_provider()
        provider.source.ptr = nil  // the read callback finds the queue through user_data + stream id
        provider.read_callback = HTTP2Session.readCallback
        let rc = HeaderBlock.withNV(headers) { nv, count in
            nghttp2_submit_response(session, streamID, nv, count, &provider)
        }
        guard rc == 0 else {
            outbound[streamID] = nil
            throw HTTP2Error(code: rc, operation: "nghttp2_submit_response")
        }
    }

    /// Answers with HEADERS + END_STREAM carrying the status (gRPC "trailers-only").
    func respondTrailersOnly(streamID: Int32, headers: [(name: String, value: String)]) throws(HTTP2Error) {
        let rc = HeaderBlock.withNV(headers) { nv, count in
            nghttp2_submit_response(session, streamID, nv, count, nil)
        }
        guard rc == 0 else { throw HTTP2Error(code: rc, operation: "nghttp2_submit_response(trailers-only)") }
    }

    /// Queues bytes for the stream's DATA frames.
    func enqueue(streamID: Int32, bytes: [UInt8]) {
        guard let out = outbound[streamID], out.trailers == nil else { return }
        out.chunks.append(bytes)
        out.buffered += bytes.count
        resume(streamID, out)
    }

    /// Sends the trailers once everything queued before them has gone out.
    func finish(streamID: Int32, trailers: [(name: String, value: String)]) {
        guard let out = outbound[streamID], out.trailers == nil else { return }
        out.trailers = trailers
        resume(streamID, out)
    }

    private func resume(_ streamID: Int32, _ out: Outbound) {
        if out.deferred {
            out.deferred = false
            _ = nghttp2_session_resume_data(session, streamID)
        }
    }

    /// Bytes queued for the stream and not yet taken by nghttp2.
    func bufferedBytes(streamID: Int32) -> Int { outbound[streamID]?.buffered ?? 0 }

    /// Resets the stream (RST_STREAM) and drops whatever was queued for it.
    func reset(streamID: Int32, errorCode: UInt32) {
        outbound[streamID] = nil
        _ = nghttp2_submit_rst_stream(session, UInt8(NGHTTP2_FLAG_NONE.rawValue), streamID, errorCode)
    }

    /// True while the client may still send on the stream.
    func isRemoteOpen(streamID: Int32) -> Bool {
        nghttp2_session_get_stream_remote_close(session, streamID) == 0
    }

    // MARK: Connection-level frames

    func ping() {
        _ = nghttp2_submit_ping(session, UInt8(NGHTTP2_FLAG_NONE.rawValue), nil)
    }

    /// GOAWAY naming the last stream we processed: new streams are refused, open ones continue.
    func goAway(errorCode: UInt32 = NGHTTP2_NO_ERROR.rawValue) {
        let last = nghttp2_session_get_last_proc_stream_id(session)
        _ = nghttp2_submit_goaway(session, UInt8(NGHTTP2_FLAG_NONE.rawValue), last, errorCode, nil, 0)
    }
}

/// Builds `nghttp2_nv` arrays in one temporary allocation.
enum HeaderBlock {
    /// Calls `body` with an nv array for `headers`. `NGHTTP2_NV_FLAG_NONE` makes nghttp2 copy
    /// names and values during `submit_*`, so the storage is freed as soon as `body` returns.
    static func withNV<R>(_ headers: [(name: String, value: String)], _ body: (UnsafePointer<nghttp2_nv>, Int) -> R) -> R {
        let total = headers.reduce(0) { $0 + $1.name.utf8.count + $1.value.utf8.count }
        // OWNERSHIP: both buffers are allocated here and freed on return; nghttp2 copies before that.
        let bytes = UnsafeMutablePointer<UInt8>.allocate(capacity: max(total, 1))
        let nv = UnsafeMutablePointer<nghttp2_nv>.allocate(capacity: max(headers.count, 1))
        defer {
            bytes.deallocate()
            nv.deallocate()
        }
        var offset = 0
        for (i, header) in headers.enumerated() {
            let name = bytes + offset
            for byte in header.name.utf8 { bytes[offset] = byte; offset += 1 }
            let value = bytes + offset
            for byte in header.value.utf8 { bytes[offset] = byte; offset += 1 }
            (nv + i).initialize(to: nghttp2_nv(
                name: name, value: value, namelen: header.name.utf8.count, valuelen: header.value.utf8.count,
                flags: UInt8(NGHTTP2_NV_FLAG_NONE.rawValue)))
        }
        return body(UnsafePointer(nv), headers.count)
    }
}

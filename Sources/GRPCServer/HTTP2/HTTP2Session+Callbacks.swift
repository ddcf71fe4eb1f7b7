import CNGHTTP2

/// A free function, so the `@convention(c)` closures capture nothing, not even `Self`.
private func owner(_ userData: UnsafeMutableRawPointer?) -> HTTP2Session {
    // OWNERSHIP: user_data is the unretained session owner (see HTTP2Session.init); it is alive
    // because nghttp2 only calls back from inside HTTP2Session's own methods.
    Unmanaged<HTTP2Session>.fromOpaque(userData!).takeUnretainedValue()
}

private func frameType(_ frame: UnsafePointer<nghttp2_frame>) -> UInt32 { UInt32(frame.pointee.hd.type) }
private func hasFlag(_ frame: UnsafePointer<nghttp2_frame>, _ flag: nghttp2_flag) -> Bool {
    UInt32(frame.pointee.hd.flags) & flag.rawValue != 0
}

extension HTTP2Session {
    /// DATA source for every response stream: copies from the stream's queue, defers when it is
    /// empty, and sends the trailers (EOF + NO_END_STREAM, then `nghttp2_submit_trailer`) when finished.
    static let readCallback: nghttp2_data_source_read_callback = { session, streamID, buf, length, flags, _, userData in
        let me = owner(userData)
        guard let out = me.outbound[streamID], let buf, let flags else {
            return Int(NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE.rawValue)
        }
        var written = 0
        while written < length, !out.chunks.isEmpty {
            let chunk = out.chunks[0]
            let take = min(length - written, chunk.count - out.headOffset)
            // OWNERSHIP: `buf` is nghttp2's frame buffer of `length` bytes, valid for this call; we copy into it.
            chunk.withUnsafeBufferPointer { src in
                (buf + written).update(from: src.baseAddress! + out.headOffset, count: take)
            }
            written += take
            out.headOffset += take
            if out.headOffset == chunk.count {
                out.chunks.removeFirst()
                out.headOffset = 0
            }
        }
        out.buffered -= written
        if out.buffered == 0, let trailers = out.trailers, !out.trailersSubmitted {
            out.trailersSubmitted = true
            flags.pointee |= NGHTTP2_DATA_FLAG_EOF.rawValue | NGHTTP2_DATA_FLAG_NO_END_STREAM.rawValue
            // Allowed from inside the read callback (nghttp2.h); NV_FLAG_NONE copies the headers.
            let rc = HeaderBlock.withNV(trailers) { nv, count in nghttp2_submit_trailer(session, streamID, nv, count) }
            if rc != 0 { return Int(NGHTTP2_ERR_CALLBACK_FAILURE.rawValue) }
            return written
        }
        if written == 0 {
            out.deferred = true
            return Int(NGHTTP2_ERR_DEFERRED.rawValue)
        }
        return written
    }

    static func installCallbacks(on cbs: OpaquePointer) {
        nghttp2_session_callbacks_set_on_begin_headers_callback(cbs) { _, frame, userData in
            guard let frame, frameType(frame) == NGHTTP2_HEADERS.rawValue else { return 0 }
            let me = owner(userData)
            let streamID = frame.pointee.hd.stream_id
            if frame.pointee.headers.cat == NGHTTP2_HCAT_REQUEST {
                me.pendingHeaders[streamID] = []
                me.pendingHeaderBytes[streamID] = 0
            }
            return 0
        }
        nghttp2_session_callbacks_set_on_header_callback(cbs) { _, frame, name, nameLength, value, valueLength, _, userData in
            guard let frame, let name, let value else { return 0 }
            let me = owner(userData)
            let streamID = frame.pointee.hd.stream_id
            // Trailers from the client are ignored; only the request header block is kept.
            guard var list = me.pendingHeaders[streamID] else { return 0 }
            let size = (me.pendingHeaderBytes[streamID] ?? 0) + nameLength + valueLength
            guard size <= HTTP2Session.maxHeaderBytes else {
                me.pendingHeaders[streamID] = nil
                me.pendingHeaderBytes[streamID] = nil
                return Int32(NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE.rawValue)  // RST_STREAM this stream only
            }
            // COPY: name and value are valid only during this call.
            list.append((
                name: String(decoding: UnsafeBufferPointer(start: name, count: nameLength), as: UTF8.self),
                value: String(decoding: UnsafeBufferPointer(start: value, count: valueLength), as: UTF8.self)))
            me.pendingHeaders[streamID] = list
            me.pendingHeaderBytes[streamID] = size
            return 0
        }
        nghttp2_session_callbacks_set_on_frame_recv_callback(cbs) { _, frame, userData in
            guard let frame else { return 0 }
            let me = owner(userData)
            let streamID = frame.pointee.hd.stream_id
            switch frameType(frame) {
            case NGHTTP2_SETTINGS.rawValue:
                if !hasFlag(frame, NGHTTP2_FLAG_ACK) { me.record(.settingsReceived) }
            case NGHTTP2_HEADERS.rawValue:
                if let headers = me.pendingHeaders.removeValue(forKey: streamID) {
                    me.pendingHeaderBytes[streamID] = nil
                    me.record(.requestHeaders(streamID: streamID, headers: headers))
                }
                if hasFlag(frame, NGHTTP2_FLAG_END_STREAM) { me.record(.endStream(streamID: streamID)) }
            case NGHTTP2_DATA.rawValue:
                if hasFlag(frame, NGHTTP2_FLAG_END_STREAM) { me.record(.endStream(streamID: streamID)) }
            case NGHTTP2_PING.rawValue:
                if hasFlag(frame, NGHTTP2_FLAG_ACK) { me.record(.pingAck) }
            case NGHTTP2_GOAWAY.rawValue:
                me.record(.goaway)
            default:
                break
            }
            return 0
        }
        nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cbs) { _, _, streamID, data, length, userData in
            guard let data, length > 0 else { return 0 }
            // COPY: `data` is only valid for the duration of this call.
            owner(userData).record(.data(streamID: streamID, bytes: Array(UnsafeBufferPointer(start: data, count: length))))
            return 0
        }
        nghttp2_session_callbacks_set_on_stream_close_callback(cbs) { _, streamID, errorCode, userData in
            let me = owner(userData)
            me.outbound[streamID] = nil
            me.pendingHeaders[streamID] = nil
            me.pendingHeaderBytes[streamID] = nil
            me.record(.streamClosed(streamID: streamID, errorCode: errorCode))
            return 0
        }
        nghttp2_session_callbacks_set_on_frame_send_callback(cbs) { _, frame, userData in
            guard let frame else { return 0 }
            let type = frameType(frame)
            if (type == NGHTTP2_HEADERS.rawValue || type == NGHTTP2_DATA.rawValue) && hasFlag(frame, NGHTTP2_FLAG_END_STREAM) {
                owner(userData).record(.sentEndStream(streamID: frame.pointee.hd.stream_id))
            }
            return 0
        }
    }
}

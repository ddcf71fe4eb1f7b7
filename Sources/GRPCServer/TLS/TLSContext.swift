import COpenSSL

/// An OpenSSL server context: certificate, key, TLS 1.2+, ALPN "h2" required, and optionally
/// mandatory client certificates. Loop-confined: each loop builds its own (see `LoopConnections`),
/// so no `SSL_CTX` pointer crosses threads.
final class TLSContext {
    let context: OpaquePointer  // SSL_CTX *, freed in deinit
    /// ALPN protocol list in wire format ("\x02h2"). OWNERSHIP: heap memory owned by this object
    /// for the SSL_CTX's whole life, because SSL_select_next_proto returns a pointer into it.
    private let alpnList: UnsafeMutablePointer<UInt8>
    static let alpnWire: [UInt8] = [2, UInt8(ascii: "h"), UInt8(ascii: "2")]

    init(configuration: TLSConfiguration) throws(TransportError) {
        guard let ctx = SSL_CTX_new(TLS_server_method()) else { throw TLSContext.error("SSL_CTX_new") }
        alpnList = .allocate(capacity: TLSContext.alpnWire.count)
        alpnList.initialize(from: TLSContext.alpnWire, count: TLSContext.alpnWire.count)
        context = ctx
        guard copenssl_ctx_set_min_proto_version(ctx, TLS1_2_VERSION) == 1 else {
            throw TLSContext.error("SSL_CTX_set_min_proto_version")
        }
        // Our write buffer may move and shrink between retries of a partial SSL_write.
        _ = copenssl_ctx_set_mode(ctx, Int(SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER))
        guard SSL_CTX_use_certificate_chain_file(ctx, configuration.certificateChainPath) == 1 else {
            throw TLSContext.error("certificate chain \(configuration.certificateChainPath)")
        }
        guard SSL_CTX_use_PrivateKey_file(ctx, configuration.privateKeyPath, SSL_FILETYPE_PEM) == 1 else {
            throw TLSContext.error("private key \(configuration.privateKeyPath)")
        }
        guard SSL_CTX_check_private_key(ctx) == 1 else { throw TLSContext.error("key does not match certificate") }
        if let caPath = configuration.clientCAPath {
            guard SSL_CTX_load_verify_locations(ctx, caPath, nil) == 1 else { throw TLSContext.error("client CA \(caPath)") }
            // OWNERSHIP: SSL_CTX_set_client_CA_list takes ownership of the returned stack.
            if let names = SSL_load_client_CA_file(caPath) { SSL_CTX_set_client_CA_list(ctx, names) }
            SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, nil)
        }
        // OWNERSHIP: `arg` is alpnList, alive as long as the SSL_CTX (both released in deinit).
        SSL_CTX_set_alpn_select_cb(ctx, { _, out, outLength, offered, offeredLength, arg in
            guard let out, let outLength, let offered, let arg else { return SSL_TLSEXT_ERR_ALERT_FATAL }
            // OWNERSHIP: `arg` is TLSContext.alpnList (owned by the context); `offered` is OpenSSL's, valid for this call.
            let server = arg.assumingMemoryBound(to: UInt8.self)
            // SSL_select_next_proto wants `unsigned char **`; the callback gets `const unsigned char **`.
            let result = UnsafeMutableRawPointer(out).withMemoryRebound(to: UnsafeMutablePointer<UInt8>?.self, capacity: 1) {
                SSL_select_next_proto($0, outLength, server, UInt32(TLSContext.alpnWire.count), offered, offeredLength)
            }
            // "h2" is required: a client that does not offer it fails the handshake.
            guard result == OPENSSL_NPN_NEGOTIATED else { return SSL_TLSEXT_ERR_ALERT_FATAL }
            return SSL_TLSEXT_ERR_OK
        }, UnsafeMutableRawPointer(alpnList))
    }

    deinit {
        SSL_CTX_free(context)
        alpnList.deinitialize(count: TLSContext.alpnWire.count)
        alpnList.deallocate()
    }

    /// The first queued OpenSSL error as text, clearing the queue.
    static func lastErrorText() -> String {
        let code = ERR_get_error()
        ERR_clear_error()
        guard code != 0 else { return "no OpenSSL error" }
        var buf = [CChar](repeating: 0, count: 256)
        ERR_error_string_n(code, &buf, buf.count)
        return String(decoding: buf.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    static func error(_ what: String) -> TransportError {
        TransportError(description: "TLS \(what): \(lastErrorText())")
    }
}

/// A non-blocking TLS session over a connected socket.
final class TLSTransport: Transport {
    private let ssl: OpaquePointer  // SSL *, freed in deinit

    init(fd: Int32, context: TLSContext) throws(TransportError) {
        guard let ssl = SSL_new(context.context) else { throw TLSContext.error("SSL_new") }
        self.ssl = ssl
        // The SSL holds the fd number only; the Connection owns and closes the descriptor.
        guard SSL_set_fd(ssl, fd) == 1 else { throw TLSContext.error("SSL_set_fd") }
        SSL_set_accept_state(ssl)
    }

    deinit { SSL_free(ssl) }

    private func classify(_ rc: Int32, _ what: String) throws(TransportError) -> TransportResult {
        let code = SSL_get_error(ssl, rc)
        switch code {
        case SSL_ERROR_WANT_READ, SSL_ERROR_WANT_WRITE: return .wouldBlock
        case SSL_ERROR_ZERO_RETURN: return .endOfStream
        case SSL_ERROR_SYSCALL where ERR_peek_error() == 0: return .endOfStream  // peer vanished
        default: throw TLSContext.error("\(what) (SSL error \(code))")
        }
    }

    func handshake() throws(TransportError) -> HandshakeResult {
        let rc = SSL_do_handshake(ssl)
        if rc == 1 {
            var proto: UnsafePointer<UInt8>?
            var length: UInt32 = 0
            // OWNERSHIP: `proto` points into the SSL object; read before anything else touches it.
            SSL_get0_alpn_selected(ssl, &proto, &length)
            guard let proto, length == 2, proto[0] == UInt8(ascii: "h"), proto[1] == UInt8(ascii: "2") else {
                throw TransportError(description: "TLS client did not negotiate ALPN h2")
            }
            return .complete
        }
        let code = SSL_get_error(ssl, rc)
        switch code {
        case SSL_ERROR_WANT_READ: return .wantRead
        case SSL_ERROR_WANT_WRITE: return .wantWrite
        default: throw TLSContext.error("handshake (SSL error \(code))")
        }
    }

    func read(into buffer: UnsafeMutableRawBufferPointer) throws(TransportError) -> TransportResult {
        // OWNERSHIP: `buffer` belongs to the caller; OpenSSL copies decrypted bytes into it.
        let rc = SSL_read(ssl, buffer.baseAddress, Int32(clamping: buffer.count))
        if rc > 0 { return .bytes(Int(rc)) }
        return try classify(rc, "SSL_read")
    }

    func write(from buffer: UnsafeRawBufferPointer) throws(TransportError) -> TransportResult {
        guard buffer.count > 0 else { return .bytes(0) }
        // OWNERSHIP: `buffer` is the caller's; ACCEPT_MOVING_WRITE_BUFFER allows a retry from a new address.
        let rc = SSL_write(ssl, buffer.baseAddress, Int32(clamping: buffer.count))
        if rc > 0 { return .bytes(Int(rc)) }
        return try classify(rc, "SSL_write")
    }

    var readsWhileWriteBlocked: Bool { true }

    func shutdown() {
        _ = SSL_shutdown(ssl)  // best effort close_notify; never waits
        ERR_clear_error()
    }
}

import CLinuxShims

#if canImport(Glibc)
import Glibc
#endif

/// Thin, typed wrappers over the socket calls Sextant needs. All sockets are non-blocking
/// and close-on-exec. `EAGAIN` is reported as `nil`, never as an error.
public enum Socket {
    /// Creates a listening TCP socket. The corresponding C functions are `socket`, `setsockopt`, `bind`, `listen`.
    public static func listen(on address: SocketAddress, backlog: Int32 = 1024, reusePort: Bool = false) throws(SystemError) -> Int32 {
        let fd = clinux_socket_stream(address.family == .ipv4 ? AF_INET : AF_INET6)
        guard fd >= 0 else { throw SystemError(errno: Glibc.errno, call: "socket") }
        do throws(SystemError) {
            try setOption(fd, SOL_SOCKET, SO_REUSEADDR, 1, "setsockopt(SO_REUSEADDR)")
            if reusePort { try setOption(fd, SOL_SOCKET, SO_REUSEPORT, 1, "setsockopt(SO_REUSEPORT)") }
            let rc = address.withSockAddr { Glibc.bind(fd, $0, $1) }
            guard rc == 0 else { throw SystemError(errno: Glibc.errno, call: "bind(\(address))") }
            guard Glibc.listen(fd, backlog) == 0 else { throw SystemError(errno: Glibc.errno, call: "listen") }
        } catch {
            Glibc.close(fd)
            throw error
        }
        return fd
    }

    /// Accepts one connection, or nil when none is pending. The corresponding C function is `accept4`.
    public static func accept(_ fd: Int32) throws(SystemError) -> (fd: Int32, peer: SocketAddress?)? {
        var storage = sockaddr_storage()
        var length = socklen_t(MemoryLayout<sockaddr_storage>.size)
        // OWNERSHIP: `storage` is stack memory that outlives the call; the kernel writes at most `length` bytes.
        let accepted = try withUnsafeMutablePointer(to: &storage) { ptr throws(SystemError) in
            try ptr.withMemoryRebound(to: sockaddr.self, capacity: 1) { sa throws(SystemError) in
                try nonBlocking("accept4") { clinux_accept_nonblocking(fd, sa, &length) }
            }
        }
        guard let accepted else { return nil }
        return (accepted, SocketAddress(storage: &storage))
    }

    /// Connects a new non-blocking socket; the connection may still be in progress (`EINPROGRESS`).
    /// The corresponding C function is `connect`.
    public static func connect(to address: SocketAddress) throws(SystemError) -> Int32 {
        let fd = clinux_socket_stream(address.family == .ipv4 ? AF_INET : AF_INET6)
        guard fd >= 0 else { throw SystemError(errno: Glibc.errno, call: "socket") }
        let rc = address.withSockAddr { Glibc.connect(fd, $0, $1) }
        if rc != 0 && Glibc.errno != EINPROGRESS {
            let code = Glibc.errno
            Glibc.close(fd)
            throw SystemError(errno: code, call: "connect(\(address))")
        }
        return fd
    }

    /// Reads into `buffer`: the byte count (0 = end of stream), or nil when nothing is available.
    /// The corresponding C function is `read`.
    public static func read(_ fd: Int32, into buffer: UnsafeMutableRawBufferPointer) throws(SystemError) -> Int? {
        try nonBlocking("read") { Glibc.read(fd, buffer.baseAddress, buffer.count) }
    }

    /// Writes from `buffer`: the byte count, or nil when the socket buffer is full.
    /// The corresponding C function is `send` with `MSG_NOSIGNAL` (no `SIGPIPE`).
    public static func write(_ fd: Int32, from buffer: UnsafeRawBufferPointer) throws(SystemError) -> Int? {
        try nonBlocking("send") { clinux_send(fd, buffer.baseAddress, buffer.count) }
    }

    /// Closes `fd`. `EINTR` is ignored on purpose: on Linux the descriptor is released regardless.
    public static func close(_ fd: Int32) {
        _ = Glibc.close(fd)
    }

    /// Disables Nagle's algorithm. The corresponding C function is `setsockopt(TCP_NODELAY)`.
    public static func setNoDelay(_ fd: Int32) throws(SystemError) {
        try setOption(fd, Int32(IPPROTO_TCP), TCP_NODELAY, 1, "setsockopt(TCP_NODELAY)")
    }

    /// The bound address. The corresponding C function is `getsockname`.
    public static func localAddress(_ fd: Int32) throws(SystemError) -> SocketAddress {
        var storage = sockaddr_storage()
        var length = socklen_t(MemoryLayout<sockaddr_storage>.size)
        // OWNERSHIP: stack storage, written by the kernel within `length`.
        let rc = withUnsafeMutablePointer(to: &storage) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
        }
        guard rc == 0 else { throw SystemError(errno: Glibc.errno, call: "getsockname") }
        guard let address = SocketAddress(storage: &storage) else { throw SystemError(errno: EAFNOSUPPORT, call: "getsockname") }
        return address
    }

    /// The pending socket error (`SO_ERROR`), 0 when none. Used to finish a non-blocking connect.
    public static func pendingError(_ fd: Int32) -> Int32 {
        var value: Int32 = 0
        var length = socklen_t(MemoryLayout<Int32>.size)
        _ = getsockopt(fd, SOL_SOCKET, SO_ERROR, &value, &length)
        return value
    }

    private static func setOption(_ fd: Int32, _ level: Int32, _ name: Int32, _ value: Int32, _ call: String) throws(SystemError) {
        var v = value
        guard setsockopt(fd, level, name, &v, socklen_t(MemoryLayout<Int32>.size)) == 0 else {
            throw SystemError(errno: Glibc.errno, call: call)
        }
    }
}

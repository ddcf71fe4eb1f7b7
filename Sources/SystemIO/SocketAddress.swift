import CLinuxShims

#if canImport(Glibc)
import Glibc
#endif

/// An IPv4 or IPv6 address and port, as numbers (no name resolution).
public struct SocketAddress: Sendable, Hashable, CustomStringConvertible {
    public enum Family: Sendable, Hashable { case ipv4, ipv6 }

    public let family: Family
    /// Numeric host, e.g. `"127.0.0.1"` or `"::1"`.
    public let host: String
    public let port: Int

    /// Parses a numeric host. The corresponding C function is `inet_pton`.
    public init(host: String, port: Int) throws(SystemError) {
        guard (0...65535).contains(port) else { throw SystemError(errno: EINVAL, call: "SocketAddress(port)") }
        var v4 = in_addr()
        var v6 = in6_addr()
        if inet_pton(AF_INET, host, &v4) == 1 {
            family = .ipv4
        } else if inet_pton(AF_INET6, host, &v6) == 1 {
            family = .ipv6
        } else {
            throw SystemError(errno: EINVAL, call: "inet_pton(\(host))")
        }
        self.host = host
        self.port = port
    }

    public var description: String {
        family == .ipv6 ? "[\(host)]:\(port)" : "\(host):\(port)"
    }

    /// Calls `body` with this address as a `sockaddr`.
    /// OWNERSHIP: the pointer is to a stack copy valid only inside `body`.
    func withSockAddr<R>(_ body: (UnsafePointer<sockaddr>, socklen_t) -> R) -> R {
        switch family {
        case .ipv4:
            var sa = sockaddr_in()
            sa.sin_family = sa_family_t(AF_INET)
            sa.sin_port = in_port_t(UInt16(port).bigEndian)
            _ = inet_pton(AF_INET, host, &sa.sin_addr)
            // OWNERSHIP: `sa` is a stack value that outlives `body`; the rebound pointer is not escaped.
            return withUnsafePointer(to: &sa) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { body($0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
            }
        case .ipv6:
            var sa = sockaddr_in6()
            sa.sin6_family = sa_family_t(AF_INET6)
            sa.sin6_port = in_port_t(UInt16(port).bigEndian)
            _ = inet_pton(AF_INET6, host, &sa.sin6_addr)
            // OWNERSHIP: as above, stack storage that outlives `body`.
            return withUnsafePointer(to: &sa) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { body($0, socklen_t(MemoryLayout<sockaddr_in6>.size)) }
            }
        }
    }

    /// Decodes a `sockaddr_storage` filled by the kernel; nil for other families.
    init?(storage: inout sockaddr_storage) {
        switch Int32(storage.ss_family) {
        case AF_INET:
            // OWNERSHIP: `storage` is the caller's stack value; we only read from it inside the closure.
            let sa = withUnsafePointer(to: &storage) { $0.withMemoryRebound(to: sockaddr_in.self, capacity: 1) { $0.pointee } }
            var addr = sa.sin_addr
            var buf = [CChar](repeating: 0, count: Int(INET_ADDRSTRLEN))
            guard inet_ntop(AF_INET, &addr, &buf, socklen_t(buf.count)) != nil else { return nil }
            family = .ipv4
            host = String(decoding: buf.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
            port = Int(UInt16(bigEndian: sa.sin_port))
        case AF_INET6:
            // OWNERSHIP: as above.
            let sa = withUnsafePointer(to: &storage) { $0.withMemoryRebound(to: sockaddr_in6.self, capacity: 1) { $0.pointee } }
            var addr = sa.sin6_addr
            var buf = [CChar](repeating: 0, count: Int(INET6_ADDRSTRLEN))
            guard inet_ntop(AF_INET6, &addr, &buf, socklen_t(buf.count)) != nil else { return nil }
            family = .ipv6
            host = String(decoding: buf.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
            port = Int(UInt16(bigEndian: sa.sin6_port))
        default:
            return nil
        }
    }
}

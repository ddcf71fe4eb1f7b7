#if canImport(Glibc)
import Glibc
#endif

/// A failed system call: `errno` as read immediately after the call returned -1.
public struct SystemError: Error, Sendable, CustomStringConvertible, Equatable {
    public let errno: Int32
    /// The C function that failed, e.g. `"epoll_ctl(ADD)"`.
    public let call: String

    public init(errno: Int32, call: String) {
        self.errno = errno
        self.call = call
    }

    public var description: String { "\(call): \(String(cString: strerror(errno))) (errno \(errno))" }
}

/// Runs a syscall-shaped body, retrying `EINTR`. `EAGAIN`/`EWOULDBLOCK` come back as `nil`.
/// `errno` is read on the line after the call: nothing may run in between.
@inline(__always)
func nonBlocking<T: FixedWidthInteger>(_ call: String, _ body: () -> T) throws(SystemError) -> T? {
    while true {
        let result = body()
        if result != -1 { return result }
        let code = Glibc.errno
        switch code {
        case EINTR: continue
        case EAGAIN, EWOULDBLOCK: return nil
        default: throw SystemError(errno: code, call: call)
        }
    }
}

/// Runs a blocking-shaped syscall, retrying `EINTR`; any other failure throws.
@inline(__always)
func retryingEINTR<T: FixedWidthInteger>(_ call: String, _ body: () -> T) throws(SystemError) -> T {
    while true {
        let result = body()
        if result != -1 { return result }
        let code = Glibc.errno
        if code == EINTR { continue }
        throw SystemError(errno: code, call: call)
    }
}

/// Facts about the machine.
public enum System {
    /// Online processors (`sysconf(_SC_NPROCESSORS_ONLN)`), at least 1.
    public static var coreCount: Int { max(1, Int(sysconf(Int32(_SC_NPROCESSORS_ONLN)))) }

    /// Open file descriptors of this process (entries in `/proc/self/fd`), or -1 if unreadable.
    public static func openFileDescriptorCount() -> Int {
        guard let dir = opendir("/proc/self/fd") else { return -1 }
        defer { closedir(dir) }
        var count = 0
        while readdir(dir) != nil { count += 1 }
        return count - 3  // ".", "..", and the descriptor opendir itself holds
    }
}

import Glibc
import Testing

@testable import HTTPSClient

/// A write to a socket whose other end is gone raises SIGPIPE, which kills a process that has
/// not ignored it (`sextant validate --consul https://…` once died of it when a cancellation shut
/// a socket down under a write). Inside the guard the signal is held back and then discarded.
@Suite struct SIGPIPEGuardTests {
    @Test func aWriteToAClosedSocketRaisesNoSignal() throws {
        var fds: [Int32] = [0, 0]
        try #require(socketpair(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0, &fds) == 0)
        defer { close(fds[0]) }
        close(fds[1])
        var seenPending = false
        var writeErrno: Int32 = 0
        try SIGPIPEGuard.run { () throws(HTTPSError) -> Void in
            let byte: [UInt8] = [1]
            let n = byte.withUnsafeBytes { write(fds[0], $0.baseAddress, 1) }
            writeErrno = n < 0 ? errno : 0
            seenPending = SIGPIPEGuard.isPending()
        }
        #expect(writeErrno == EPIPE)
        #expect(seenPending, "the write raised SIGPIPE, held back by the guard")
        #expect(!SIGPIPEGuard.isPending(), "and it was discarded, not left for after the guard")
    }
}

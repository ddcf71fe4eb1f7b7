import Glibc

/// Keeps a write to a socket the peer (or a cancellation's `shutdown`) has closed from killing
/// the process: OpenSSL writes with plain `write(2)`, which raises SIGPIPE, and its default
/// action ends the process. libpq's way, so the client works in any host process whatever its
/// signal disposition: SIGPIPE is blocked on this thread during the exchange (the write returns
/// EPIPE), and one it raised meanwhile is taken off the pending set before the mask is restored.
enum SIGPIPEGuard {
    static func run<T>(_ body: () throws(HTTPSError) -> T) throws(HTTPSError) -> T {
        var pipe = sigset_t()
        sigemptyset(&pipe)
        sigaddset(&pipe, SIGPIPE)
        var previous = sigset_t()
        pthread_sigmask(SIG_BLOCK, &pipe, &previous)
        defer {
            // Only when this call did the blocking: a caller that blocks SIGPIPE itself keeps its own.
            if sigismember(&previous, SIGPIPE) == 0 {
                if isPending() {
                    var now = timespec(tv_sec: 0, tv_nsec: 0)
                    _ = sigtimedwait(&pipe, nil, &now)
                }
                pthread_sigmask(SIG_SETMASK, &previous, nil)
            }
        }
        return try body()
    }

    static func isPending() -> Bool {
        var pending = sigset_t()
        return sigpending(&pending) == 0 && sigismember(&pending, SIGPIPE) == 1
    }
}

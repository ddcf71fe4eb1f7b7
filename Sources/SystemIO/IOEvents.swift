import CLinuxShims

/// Readiness reported by the loop, independent of `EPOLL*` constants.
public struct IOEvents: OptionSet, Sendable, Hashable {
    public let rawValue: UInt32
    public init(rawValue: UInt32) { self.rawValue = rawValue }

    public static let readable = IOEvents(rawValue: 1 << 0)
    public static let writable = IOEvents(rawValue: 1 << 1)
    /// The peer hung up or the socket is in error; reading will report the details.
    public static let hangup = IOEvents(rawValue: 1 << 2)

    var epollMask: UInt32 {
        var mask: UInt32 = 0
        // RDHUP only alongside IN: level-triggered, it would fire forever while reads are paused.
        if contains(.readable) { mask |= EPOLLIN.rawValue | EPOLLRDHUP.rawValue }
        if contains(.writable) { mask |= EPOLLOUT.rawValue }
        return mask
    }

    init(epoll mask: UInt32) {
        var events: IOEvents = []
        if mask & EPOLLIN.rawValue != 0 { events.insert(.readable) }
        if mask & EPOLLOUT.rawValue != 0 { events.insert(.writable) }
        if mask & (EPOLLHUP.rawValue | EPOLLERR.rawValue | EPOLLRDHUP.rawValue) != 0 { events.insert(.hangup) }
        self = events
    }
}

/// Identifies one timer on one loop; cancel it with `LoopContext.cancel(_:)`.
public struct TimerHandle: Hashable, Sendable {
    let id: UInt64
}

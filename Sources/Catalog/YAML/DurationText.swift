/// Durations as written in configuration files: a decimal number and a unit, `250ms`, `2s`, `1.5s`, `1m`, `1h`.
package enum DurationText {
    private static let units: [(suffix: String, nanoseconds: Int64)] = [
        ("ms", 1_000_000), ("s", 1_000_000_000), ("m", 60_000_000_000), ("h", 3_600_000_000_000),
    ]

    /// Parses `text`; `nil` when it is not a non-negative number followed by one of ms, s, m, h,
    /// has more than nanosecond precision, or is longer than a day.
    package static func parse(_ text: String) -> Duration? {
        guard let unit = units.first(where: { text.hasSuffix($0.suffix) }) else { return nil }
        let number = text.dropLast(unit.suffix.count)
        let parts = number.split(separator: ".", maxSplits: 1, omittingEmptySubsequences: false)
        guard let whole = parts.first, !whole.isEmpty, whole.count <= 9, whole.allSatisfy(\.isASCIIDigit),
            let wholeValue = Int64(whole)
        else { return nil }
        var nanoseconds = wholeValue * unit.nanoseconds
        if parts.count == 2 {
            let fraction = parts[1]
            guard !fraction.isEmpty, fraction.count <= 9, fraction.allSatisfy(\.isASCIIDigit),
                let fractionValue = Int64(fraction)
            else { return nil }
            var scale: Int64 = 1
            for _ in 0..<fraction.count { scale *= 10 }
            // fractionValue < scale, so this cannot overflow; finer than a nanosecond is rejected.
            guard unit.nanoseconds % scale == 0 else { return nil }
            nanoseconds += fractionValue * (unit.nanoseconds / scale)
        }
        guard nanoseconds <= 86_400 * 1_000_000_000 else { return nil }
        return .nanoseconds(nanoseconds)
    }

    /// The shortest text that `parse` reads back as `duration` (`1500ms`, `2s`, `0s`).
    package static func format(_ duration: Duration) -> String {
        let nanoseconds = duration.components.seconds * 1_000_000_000 + duration.components.attoseconds / 1_000_000_000
        if nanoseconds % 1_000_000_000 == 0 { return "\(nanoseconds / 1_000_000_000)s" }
        if nanoseconds % 1_000_000 == 0 { return "\(nanoseconds / 1_000_000)ms" }
        var fraction = String(nanoseconds % 1_000_000)
        fraction = String(repeating: "0", count: 6 - fraction.count) + fraction
        while fraction.hasSuffix("0") { fraction.removeLast() }
        return "\(nanoseconds / 1_000_000).\(fraction)ms"
    }
}

extension Character {
    fileprivate var isASCIIDigit: Bool { ("0"..."9").contains(self) }
}

#if canImport(Glibc)
    import Glibc
#endif
import Foundation

/// A scenario that did not converge, or whose result is wrong: the benchmark exits non-zero.
struct BenchFailure: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

/// One line of the table.
struct Row {
    var benchmark: String
    var n: Int
    var median: String
    var max: String
    var note: String

    /// A row of durations: median and maximum (with n ≤ 100, p99 is the maximum).
    init(_ benchmark: String, _ samples: [Duration], note: String = "") {
        let sorted = samples.sorted()
        self.benchmark = benchmark
        self.n = samples.count
        self.median = sorted.isEmpty ? "-" : Format.duration(Stats.median(sorted))
        self.max = sorted.last.map(Format.duration) ?? "-"
        self.note = note
    }

    /// A row of one measured value that is not a duration.
    init(_ benchmark: String, value: String, n: Int = 1, max: String = "-", note: String = "") {
        self.benchmark = benchmark
        self.n = n
        self.median = value
        self.max = max
        self.note = note
    }
}

/// The table, printed once at the end (and a row at a time to stderr as progress).
final class Report {
    private(set) var rows: [Row] = []

    func add(_ row: Row) {
        rows.append(row)
        FileHandle.standardError.write(Data("bench: \(row.benchmark): \(row.median) (max \(row.max)) \(row.note)\n".utf8))
    }

    func render() -> String {
        let header = ["benchmark", "n", "median", "max/p99", "note"]
        let cells = rows.map { [$0.benchmark, String($0.n), $0.median, $0.max, $0.note] }
        var widths = header.map(\.count)
        for row in cells {
            for (i, cell) in row.enumerated() { widths[i] = Swift.max(widths[i], cell.count) }
        }
        func line(_ row: [String]) -> String {
            row.enumerated().map { i, cell in
                let pad = String(repeating: " ", count: widths[i] - cell.count)
                // Numbers right-aligned, text left-aligned; the last column is not padded.
                if i == row.count - 1 { return cell }
                return (1...3).contains(i) ? pad + cell : cell + pad
            }.joined(separator: "  ")
        }
        let rule = widths.map { String(repeating: "-", count: $0) }
        return ([line(header), line(rule)] + cells.map(line)).joined(separator: "\n") + "\n"
    }
}

enum Stats {
    static func median(_ sorted: [Duration]) -> Duration {
        let mid = sorted.count / 2
        return sorted.count % 2 == 1 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2
    }

    static func median(_ values: [Double]) -> Double {
        let sorted = values.sorted()
        guard !sorted.isEmpty else { return 0 }
        let mid = sorted.count / 2
        return sorted.count % 2 == 1 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2
    }
}

enum Format {
    static func seconds(_ d: Duration) -> Double {
        let (s, atto) = d.components
        return Double(s) + Double(atto) / 1e18
    }

    static func duration(_ d: Duration) -> String {
        let s = seconds(d)
        if s >= 10 { return String(format: "%.1f s", s) }
        if s >= 1 { return String(format: "%.2f s", s) }
        let ms = s * 1000
        if ms >= 100 { return String(format: "%.0f ms", ms) }
        if ms >= 10 { return String(format: "%.1f ms", ms) }
        return String(format: "%.2f ms", ms)
    }

    static func megabytes(_ kilobytes: Int) -> String { String(format: "%.0f MB", Double(kilobytes) / 1024) }

    static func count(_ n: Int) -> String {
        let digits = String(n)
        var out = ""
        for (i, c) in digits.reversed().enumerated() {
            if i > 0 && i % 3 == 0 { out.append(",") }
            out.append(c)
        }
        return String(out.reversed())
    }
}

/// Resident memory of this process, from /proc (Linux); nil elsewhere.
enum Memory {
    /// `VmHWM`: the peak resident set size, in kB.
    static func peakKilobytes() -> Int? { field("VmHWM") }

    /// `VmRSS`: the current resident set size, in kB.
    static func currentKilobytes() -> Int? { field("VmRSS") }

    /// Resets the peak to the current RSS (`/proc/self/clear_refs`, value 5), so a scenario's
    /// peak is its own. Returns false when the kernel does not allow it.
    @discardableResult
    static func resetPeak() -> Bool {
        guard let handle = FileHandle(forWritingAtPath: "/proc/self/clear_refs") else { return false }
        defer { try? handle.close() }
        do { try handle.write(contentsOf: Data("5".utf8)) } catch { return false }
        return true
    }

    private static func field(_ name: String) -> Int? {
        guard let text = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8) else { return nil }
        for line in text.split(separator: "\n") where line.hasPrefix(name + ":") {
            return Int(line.dropFirst(name.count + 1).split(whereSeparator: { $0 == " " || $0 == "\t" }).first ?? "")
        }
        return nil
    }
}

/// CPU time this process used (user + system).
enum CPU {
    static func used() -> Duration {
        var usage = rusage()
        getrusage(RUSAGE_SELF.rawValue, &usage)
        func duration(_ t: timeval) -> Duration { .seconds(Int64(t.tv_sec)) + .microseconds(Int64(t.tv_usec)) }
        return duration(usage.ru_utime) + duration(usage.ru_stime)
    }
}

import Catalog
import ControlPlane
import Foundation

/// What `serve`'s safeguards would hold back if, serving `baseline`, it read `candidate`: the
/// same `Safeguards` state machine, run once. For `validate --baseline`, so a reviewer sees
/// that a catalog change will wait for confirmation (or an operator's release) before a proxy
/// gets it.
struct HoldPreview: Sendable, Equatable {
    var holds: [Hold]
    var freeze: Freeze?

    init(baseline: Catalog, candidate: Catalog, policy: SafeguardPolicy) {
        var safeguards = Safeguards(policy: policy, lastKnownGood: baseline)
        _ = safeguards.evaluate(candidate, now: .now)
        holds = safeguards.holds.values.sorted { $0.service < $1.service }
        freeze = safeguards.freeze
    }

    var isEmpty: Bool { holds.isEmpty && freeze == nil }

    /// One line per hold (and one for a freeze), each naming the numbers and what releases it.
    func lines(location: String, policy: SafeguardPolicy) -> [String] {
        var lines: [String] = []
        if let freeze {
            lines.append(
                "\(location): would freeze the whole catalog at the baseline: \(freeze.reason) "
                    + "(affected: \(freeze.affected.joined(separator: ", "))); released when the catalog comes back, "
                    + "or by `sextant release --all`")
        }
        for hold in holds {
            let confirmation = hold.kind == .empty ? policy.emptyConfirmation : policy.shrinkConfirmation
            lines.append(
                "\(location): would hold \(hold.service) (\(hold.kind.rawValue)): \(hold.reason); applied once stable "
                    + "for \(confirmation.components.seconds)s, or by `sextant release \(hold.service)`")
        }
        return lines
    }

    /// The baseline: a catalog file, or a `--state-dir` folder holding serve's last-known-good.
    static func loadBaseline(_ path: String) throws(CommandFailure) -> Catalog {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
            throw CommandFailure(message: "--baseline: no such file or folder: \(path)", exitCode: 2)
        }
        if isDirectory.boolValue {
            let state = LastKnownGood(directory: path)
            let stored: Catalog?
            do { stored = try state.load() } catch { throw CommandFailure(message: "--baseline: \(error)", exitCode: 2) }
            guard let stored else {
                throw CommandFailure(message: "--baseline: no last-known-good state in \(path) (\(state.path))", exitCode: 2)
            }
            return stored
        }
        do {
            return try FileSource(path: path).load()
        } catch {
            throw CommandFailure(message: "--baseline: \(error)", exitCode: 2)
        }
    }
}

import ArgumentParser
import ControlPlane
import Templates

/// The safeguard thresholds (see `SafeguardPolicy`); the defaults are the safe ones.
struct SafeguardOptions: ParsableArguments {
    @Option(help: "Seconds a service must stay empty or absent before its endpoints may go to zero (default: defaults.yaml safeguards.empty_confirmation, 60s).")
    var emptyConfirmationSeconds: Int?

    @Option(help: "Share of a service's instances (0-1) one update may remove before it is held (default: safeguards.shrink_threshold, 50%).")
    var shrinkThreshold: Double?

    @Option(help: "Seconds a held shrink must stay stable before it is applied (default: safeguards.shrink_confirmation, 60s).")
    var shrinkConfirmationSeconds: Int?

    @Option(help: "Share of services (0-1) shrinking or emptying at once that freezes the whole catalog (default: safeguards.freeze_threshold, 30%).")
    var freezeThreshold: Double?

    func validate() throws {
        for (name, value) in [("--shrink-threshold", shrinkThreshold), ("--freeze-threshold", freezeThreshold)] {
            if let value, !(0...1).contains(value) { throw ValidationError("\(name) must be between 0 and 1, got \(value)") }
        }
        for case let value? in [emptyConfirmationSeconds, shrinkConfirmationSeconds] where value < 0 {
            throw ValidationError("confirmation periods cannot be negative")
        }
    }

    /// `defaults.yaml`'s `safeguards:` values, each overridden by its flag when given.
    func policy(_ settings: SafeguardSettings) -> SafeguardPolicy {
        var policy = SafeguardPolicy()
        policy.emptyConfirmation = emptyConfirmationSeconds.map { .seconds($0) } ?? settings.emptyConfirmation
        policy.shrinkThreshold = shrinkThreshold ?? settings.shrinkThresholdPercent / 100
        policy.shrinkConfirmation = shrinkConfirmationSeconds.map { .seconds($0) } ?? settings.shrinkConfirmation
        policy.freezeThreshold = freezeThreshold ?? settings.freezeThresholdPercent / 100
        return policy
    }
}

import ArgumentParser
import ControlPlane

/// The safeguard thresholds (see `SafeguardPolicy`); the defaults are the safe ones.
struct SafeguardOptions: ParsableArguments {
    @Option(help: "Seconds a service must stay empty or absent before its endpoints may go to zero.")
    var emptyConfirmationSeconds: Int = 60

    @Option(help: "Share of a service's instances (0-1) one update may remove before it is held.")
    var shrinkThreshold: Double = 0.5

    @Option(help: "Seconds a held shrink must stay stable before it is applied.")
    var shrinkConfirmationSeconds: Int = 60

    @Option(help: "Share of services (0-1) shrinking or emptying at once that freezes the whole catalog.")
    var freezeThreshold: Double = 0.3

    func validate() throws {
        for (name, value) in [("--shrink-threshold", shrinkThreshold), ("--freeze-threshold", freezeThreshold)]
        where !(0...1).contains(value) {
            throw ValidationError("\(name) must be between 0 and 1, got \(value)")
        }
        guard emptyConfirmationSeconds >= 0, shrinkConfirmationSeconds >= 0 else {
            throw ValidationError("confirmation periods cannot be negative")
        }
    }

    var policy: SafeguardPolicy {
        var policy = SafeguardPolicy()
        policy.emptyConfirmation = .seconds(emptyConfirmationSeconds)
        policy.shrinkThreshold = shrinkThreshold
        policy.shrinkConfirmation = .seconds(shrinkConfirmationSeconds)
        policy.freezeThreshold = freezeThreshold
        return policy
    }
}

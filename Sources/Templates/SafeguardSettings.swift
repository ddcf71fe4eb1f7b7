/// `defaults.yaml`'s `safeguards:` section: how `serve` guards catalog changes before they reach
/// a proxy (see the README's safeguards table). `serve` and `validate` flags of the same names
/// override these values when given. Percentages are 0–100, as elsewhere in the templates.
public struct SafeguardSettings: Sendable, Hashable {
    /// A service with endpoints goes to none only after being empty or absent this long.
    public var emptyConfirmation: Duration = .seconds(60)
    /// One update removing more than this share of a service's instances is held...
    public var shrinkThresholdPercent: Double = 50
    /// ...until the new set has been stable this long.
    public var shrinkConfirmation: Duration = .seconds(60)
    /// More than this share of services shrinking or emptying at once freezes the whole catalog.
    public var freezeThresholdPercent: Double = 30

    public init() {}

    static let fields: [SettingField<SafeguardSettings>] = [
        .init(
            "empty_confirmation", .duration(\.emptyConfirmation, minimum: .zero),
            "a service with endpoints goes to none only after being empty or absent this long"),
        .init(
            "shrink_threshold", .number(\.shrinkThresholdPercent, 0...100),
            "percent of a service's instances one update may remove before the change is held"),
        .init(
            "shrink_confirmation", .duration(\.shrinkConfirmation, minimum: .zero),
            "a held shrink is applied once the new set has been stable this long"),
        .init(
            "freeze_threshold", .number(\.freezeThresholdPercent, 0...100),
            "percent of services shrinking or emptying at once that freezes the whole catalog (an alarm)"),
    ]
}

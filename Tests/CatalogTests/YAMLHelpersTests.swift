import Testing

@testable import Catalog

@Suite struct YAMLHelpersTests {
    @Test(arguments: [
        ("250ms", Duration.milliseconds(250)), ("2s", .seconds(2)), ("1.5s", .milliseconds(1500)),
        ("1m", .seconds(60)), ("1h", .seconds(3600)), ("0s", .zero), ("0.001ms", .microseconds(1)),
    ])
    func parsesDurations(text: String, expected: Duration) {
        #expect(DurationText.parse(text) == expected)
        #expect(DurationText.parse(DurationText.format(expected)) == expected)
    }

    @Test(arguments: ["", "s", "1", "1x", "-1s", "1.s", ".5s", "1.2.3s", "25h", "1e3ms", "0.0000000001s"])
    func rejectsBadDurations(text: String) {
        #expect(DurationText.parse(text) == nil)
    }

    @Test func suggestions() {
        #expect(Suggestion.closest(to: "prot", in: ["port", "protocol"]) == "port")
        #expect(Suggestion.closest(to: "protocl", in: ["port", "protocol"]) == "protocol")
        #expect(Suggestion.closest(to: "dependecies", in: ["service", "dependencies"]) == "dependencies")
        #expect(Suggestion.closest(to: "zzz", in: ["port", "protocol"]) == nil)
        #expect(Suggestion.editDistance("ab", "ba") == 1)
    }

    @Test func names() {
        #expect(YAMLValue.isValidName("payments-v2.eu_1"))
        #expect(!YAMLValue.isValidName("-payments"))
        #expect(!YAMLValue.isValidName("inbound|x"))
        #expect(!YAMLValue.isValidName(""))
    }
}

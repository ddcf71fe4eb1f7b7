import Testing
@testable import SextantCLI

@Suite struct JSONValueTests {
    @Test func parsesAndPrintsWithSortedKeysKeepingNumbersVerbatim() throws {
        let value = try JSONValue.parse(#"{"b": [1, 2.50, -3e2], "a": {"z": null, "y": true}, "@type": "t/x", "s": "q\"\n\u00e9"}"#)
        #expect(value.printed() == """
            {
              "@type": "t/x",
              "a": {
                "y": true,
                "z": null
              },
              "b": [
                1,
                2.50,
                -3e2
              ],
              "s": "q\\"\\né"
            }

            """)
        #expect(try JSONValue.parse(value.printed()) == value)
    }

    @Test func rejectsBrokenJSON() {
        for text in ["{", "[1,]", "{\"a\" 1}", "tru", "1 2", "\"abc"] {
            #expect(throws: JSONValue.ParseError.self) { try JSONValue.parse(text) }
        }
    }

    @Test func yamlQuotesStringsThatLookLikeOtherTypes() throws {
        let value = JSONValue.object(["port": .string("8080"), "on": .string("true"), "n": .number("3"), "d": .string("1s")])
        let yaml = try value.yaml()
        #expect(yaml.contains("port: '8080'") || yaml.contains("port: \"8080\""), "\(yaml)")
        #expect(yaml.contains(": 'true'"), "\(yaml)")
        #expect(yaml.contains("n: 3"), "\(yaml)")
        #expect(yaml.contains("d: 1s"), "\(yaml)")
    }
}

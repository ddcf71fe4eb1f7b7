import Testing
@testable import SystemIO

@Suite struct MallocArenasTests {
    @Test func theLimitIsAppliedUnlessTheOperatorSetOne() {
        #expect(MallocArenas.limit(environment: [:]) == MallocArenas.serverLimit)
        #expect(MallocArenas.limit(4, environment: ["MALLOC_ARENA_MAX": "8"]) == nil, "glibc already applied the operator's value")
    }
}

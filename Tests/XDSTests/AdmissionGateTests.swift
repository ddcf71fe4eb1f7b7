import Testing
@testable import XDS

@Suite struct AdmissionGateTests {
    @Test func aBurstIsAdmittedThenTheRateHolds() {
        let gate = AdmissionGate(ratePerSecond: 100, burst: 10)
        let start = ContinuousClock.now
        let admitted = (0..<1_000).filter { _ in gate.tryAdmit(now: start) }.count
        #expect(admitted == 10)
        // 50 ms later, 5 more tokens have accrued; no more.
        let later = start.advanced(by: .milliseconds(50))
        #expect((0..<1_000).filter { _ in gate.tryAdmit(now: later) }.count == 5)
        // A long pause refills the bucket only up to the burst.
        let much = start.advanced(by: .seconds(60))
        #expect((0..<1_000).filter { _ in gate.tryAdmit(now: much) }.count == 10)
    }

    @Test func aClockGoingBackwardsAddsNoTokens() {
        let gate = AdmissionGate(ratePerSecond: 100, burst: 1)
        let start = ContinuousClock.now
        #expect(gate.tryAdmit(now: start))
        #expect(!gate.tryAdmit(now: start.advanced(by: .seconds(-5))))
        #expect(gate.retryAfter == .milliseconds(10))
    }
}

import Testing
@testable import XDS

/// Streams the gate defers wait in their loop's queue: in order, with one timer per tick
/// (never one per waiter), and a stream that closes while waiting uses no token.
@Suite struct AdmissionQueueTests {
    final class Recorder {
        var admitted: [Int] = []
        var closed: Set<Int> = []
        var scheduled: [Duration] = []
    }

    func queue(_ recorder: Recorder, rate: Double = 100, burst: Double = 2) -> AdmissionQueue {
        AdmissionQueue(gate: AdmissionGate(ratePerSecond: rate, burst: burst)) { delay, _ in
            recorder.scheduled.append(delay)
        }
    }

    func waiter(_ id: Int, _ recorder: Recorder) -> AdmissionQueue.Waiter {
        AdmissionQueue.Waiter(
            isLive: { !recorder.closed.contains(id) }, admit: { recorder.admitted.append(id) })
    }

    @Test func waitersAreAdmittedInOrderWithOneTimerPerTick() {
        let recorder = Recorder()
        let queue = queue(recorder)
        let start = ContinuousClock.now
        let now = (0..<10_000).filter { queue.request(waiter($0, recorder), now: start) }
        #expect(now == [0, 1])  // the burst
        #expect(queue.waiting == 9_998)
        #expect(queue.timersScheduled == 1)
        #expect(recorder.scheduled == [.milliseconds(10)])  // one token at 100/s

        // 50 ms is five tokens' worth, but the bucket holds at most the burst (2).
        queue.drain(now: start.advanced(by: .milliseconds(50)))
        #expect(recorder.admitted == [2, 3])
        #expect(queue.timersScheduled == 2)
        queue.drain(now: start.advanced(by: .milliseconds(60)))
        #expect(recorder.admitted == [2, 3, 4])
        #expect(queue.timersScheduled == 3)
        #expect(queue.waiting == 9_995)
    }

    @Test func aNewcomerDoesNotOvertakeTheQueue() {
        let recorder = Recorder()
        let queue = queue(recorder, burst: 1)
        let start = ContinuousClock.now
        #expect(queue.request(waiter(0, recorder), now: start))
        #expect(!queue.request(waiter(1, recorder), now: start))
        // A token is free again, but stream 1 was first: the newcomer waits behind it.
        let later = start.advanced(by: .milliseconds(10))
        #expect(!queue.request(waiter(2, recorder), now: later))
        queue.drain(now: later)
        #expect(recorder.admitted == [1])
        queue.drain(now: later.advanced(by: .milliseconds(10)))
        #expect(recorder.admitted == [1, 2])
        #expect(queue.waiting == 0)
        let timers = queue.timersScheduled
        queue.drain(now: later.advanced(by: .seconds(1)))
        #expect(queue.timersScheduled == timers)  // nobody waits: no timer
    }

    @Test func closedWaitersAreSkippedWithoutUsingATokenAndCostNoTimer() {
        let recorder = Recorder()
        let queue = queue(recorder, burst: 1)
        let start = ContinuousClock.now
        _ = queue.request(waiter(0, recorder), now: start)
        for id in 1...5 { _ = queue.request(waiter(id, recorder), now: start) }
        recorder.closed = [1, 2, 3]
        queue.drain(now: start.advanced(by: .milliseconds(10)))
        #expect(recorder.admitted == [4])
        recorder.closed.insert(5)
        queue.drain(now: start.advanced(by: .milliseconds(20)))
        #expect(recorder.admitted == [4])
        #expect(queue.waiting == 0)
        #expect(queue.timersScheduled == 2)
    }

    @Test func untilNextTokenIsTheRefillTime() {
        let gate = AdmissionGate(ratePerSecond: 200, burst: 1)
        let start = ContinuousClock.now
        #expect(gate.untilNextToken(now: start) == .zero)
        #expect(gate.tryAdmit(now: start))
        #expect(gate.untilNextToken(now: start) == .milliseconds(5))
        #expect(gate.untilNextToken(now: start.advanced(by: .milliseconds(4))) <= .milliseconds(1))
    }
}

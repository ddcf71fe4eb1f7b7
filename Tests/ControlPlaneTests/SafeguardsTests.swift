import Catalog
import Testing
@testable import ControlPlane

private func service(_ name: String, _ count: Int, health: Health = .healthy, from: Int = 0) -> CatalogService {
    CatalogService(
        name: name, instances: (from..<(from + count)).map { Instance(address: "10.0.0.1", port: 20_000 + $0, health: health) })
}

private func catalog(_ services: CatalogService...) -> Catalog { Catalog(services) }

private func count(_ c: Catalog, _ name: String) -> Int { c[service: name]?.instances.count ?? 0 }

@Suite struct SafeguardsTests {
    let t0 = ContinuousClock.now
    func at(_ seconds: Int) -> ContinuousClock.Instant { t0.advanced(by: .seconds(seconds)) }

    /// Ten services of ten instances each, already accepted.
    func fleet() -> (Safeguards, Catalog) {
        let base = Catalog((0..<10).map { service("s\($0)", 10) })
        var guards = Safeguards()
        _ = guards.evaluate(base, now: at(0))
        return (guards, base)
    }

    @Test func smallChangesPassAtOnce() {
        var (guards, base) = fleet()
        var next = base
        next.services["s1"] = service("s1", 8)  // 10 → 8
        next.services["s2"] = service("s2", 10, health: .unhealthy)  // all critical: health, not removal
        next.services["s3"] = service("s3", 14)  // growth
        let served = guards.evaluate(next, now: at(1))
        #expect(served == next)
        #expect(guards.holds.isEmpty)
    }

    @Test func anEmptyReadIsHeldUntilConfirmed() {
        var (guards, base) = fleet()
        var next = base
        next.services["s1"] = CatalogService(name: "s1", instances: [])
        #expect(count(guards.evaluate(next, now: at(1)), "s1") == 10)
        #expect(guards.holds["s1"]?.kind == .empty)
        #expect(guards.holds["s1"]?.reason == "s1 would go from 10 instances to none")
        #expect(count(guards.evaluate(next, now: at(30)), "s1") == 10)
        #expect(guards.nextDeadline == at(61))
        #expect(count(guards.evaluate(next, now: at(61)), "s1") == 0)  // confirmed deregistration
        #expect(guards.holds.isEmpty)
    }

    @Test func aServiceGoneFromTheListIsHeldTheSameWay() {
        var (guards, base) = fleet()
        var next = base
        next.services["s4"] = nil
        #expect(count(guards.evaluate(next, now: at(1)), "s4") == 10)
        #expect(guards.evaluate(next, now: at(62))[service: "s4"] == nil)
    }

    @Test func confirmationRestartsWhenTheCandidateChanges() {
        var (guards, base) = fleet()
        var next = base
        next.services["s1"] = service("s1", 4)  // 10 → 4: 60% removed
        #expect(count(guards.evaluate(next, now: at(1)), "s1") == 10)
        next.services["s1"] = service("s1", 3)
        #expect(count(guards.evaluate(next, now: at(50)), "s1") == 10)
        #expect(count(guards.evaluate(next, now: at(100)), "s1") == 10)  // only 50 s stable
        #expect(count(guards.evaluate(next, now: at(111)), "s1") == 3)
    }

    @Test func whileHeldAdditionsAndHealthStillFlow() {
        var (guards, base) = fleet()
        var next = base
        next.services["s1"] = CatalogService(
            name: "s1",
            instances: [Instance(address: "10.0.0.1", port: 20_000, health: .degraded), Instance(address: "10.9.9.9", port: 1)])
        let served = guards.evaluate(next, now: at(1))[service: "s1"]!
        #expect(served.instances.count == 11)
        #expect(served.instances.first { $0.port == 20_000 }?.health == .degraded)
        #expect(served.instances.contains { $0.address == "10.9.9.9" })
    }

    @Test func aShrinkThatRecoversDropsTheHold() {
        var (guards, base) = fleet()
        var next = base
        next.services["s1"] = service("s1", 2)
        _ = guards.evaluate(next, now: at(1))
        #expect(guards.holds["s1"] != nil)
        #expect(guards.evaluate(base, now: at(2)) == base)
        #expect(guards.holds.isEmpty)
    }

    @Test func operatorReleaseAppliesAtOnce() {
        var (guards, base) = fleet()
        var next = base
        next.services["s1"] = service("s1", 1)
        _ = guards.evaluate(next, now: at(1))
        guards.release(service: "s1")
        #expect(count(guards.evaluate(next, now: at(2)), "s1") == 1)
    }

    @Test func manyServicesShrinkingAtOnceFreezesEverything() {
        var (guards, base) = fleet()
        var broken = base
        for i in 0..<4 { broken.services["s\(i)"] = CatalogService(name: "s\(i)", instances: []) }
        broken.services["s9"] = service("s9", 12)  // even good news waits while frozen
        #expect(guards.evaluate(broken, now: at(1)) == base)
        #expect(guards.freeze?.affected == ["s0", "s1", "s2", "s3"])
        #expect(guards.evaluate(broken, now: at(500)) == base)  // no time-based release
        // The source comes back: the freeze lifts by itself.
        var recovered = base
        recovered.services["s9"] = service("s9", 12)
        #expect(guards.evaluate(recovered, now: at(501)) == recovered)
        #expect(guards.freeze == nil)
    }

    @Test func everythingEmptyIsAFreezeAndAnOperatorCanLiftIt() {
        var (guards, base) = fleet()
        let empty = Catalog([])
        #expect(guards.evaluate(empty, now: at(1)) == base)
        #expect(guards.freeze != nil)
        guards.releaseEverything()
        #expect(guards.evaluate(empty, now: at(2)) == empty)
        #expect(guards.freeze == nil)
    }

    @Test func oneRealDeregistrationIsNotAFreezeEvenInASmallCatalog() {
        var guards = Safeguards()
        let base = catalog(service("a", 2), service("b", 2), service("c", 2))
        _ = guards.evaluate(base, now: at(0))
        let next = catalog(service("a", 2), service("b", 2))
        #expect(count(guards.evaluate(next, now: at(1)), "c") == 2)
        #expect(guards.freeze == nil)
        #expect(guards.evaluate(next, now: at(61)) == next)
    }

    @Test func theFirstCatalogIsAcceptedAsIsAndLastKnownGoodIsTheBaseline() {
        var fresh = Safeguards()
        let empty = Catalog([])
        #expect(fresh.evaluate(empty, now: at(0)) == empty)
        let lkg = catalog(service("a", 3))
        var restarted = Safeguards(lastKnownGood: lkg)
        #expect(restarted.evaluate(Catalog([CatalogService(name: "a", instances: [])]), now: at(0)) == lkg)
    }
}

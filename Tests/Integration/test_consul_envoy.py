"""`sextant serve --consul` with real Envoy and real traffic, against the Consul simulator.

Consul changes reach Envoy's /clusters within a second; no Consul fault reaches Envoy at all
(zero failed requests, every endpoint kept), and Sextant recovers by itself when it clears.
Each fault test first waits for evidence that Sextant saw the fault (an error counter, an index
reset, a hold or a freeze), so it cannot pass by never looking.
"""

import time

import pytest

from harness.consul import TOKEN, ConsulWorld
from harness.fleet import managed_fleet, require_sextant
from harness.mesh import steady
from harness.util import wait_for

PROPAGATION = 1.0  # a registration, deregistration or failing check reaches /clusters within 1 s
CONFIRM = 10       # safeguard confirmation periods in these worlds (default 60 s)
RECOVERY = 15.0    # seconds to see Consul again after a fault clears (error back-off included)
WAIT = 5           # --consul-wait: a blocked query returns at least this often
RETRY_MAX = 2      # --consul-retry-max: every watch retries at least this often while failing


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    require_sextant()
    args = ["--empty-confirmation-seconds", str(CONFIRM), "--shrink-confirmation-seconds", str(CONFIRM),
            "--consul-wait", str(WAIT), "--consul-retry-max", str(RETRY_MAX)]
    worlds = []
    try:
        with managed_fleet(tmp_path_factory.mktemp("consul")) as fleet:
            worlds.append(ConsulWorld(fleet, extra_args=args))
            yield worlds[0]
    finally:
        for w in worlds:
            w.stop()


def recover(world, label: str) -> float:
    """A change made now reaches Envoy: Sextant is reading Consul again. Returns how long it took.

    Then every other watch must be reading too, so the next test starts from a healthy source
    (a service still in back-off would not take part in the next fault).
    """
    extra = world.fleet.http_backends("payments-extra")[0]
    world.register("payments", extra.port)
    took = world.wait_hosts(world.baseline() | {extra.hostport}, timeout=RECOVERY)
    print(f"recovery after {label}: {took:.2f}s")  # shown with -s; the README's fault table quotes these
    world.sim.deregister(f"payments-{extra.port}")
    world.wait_hosts(world.baseline())
    world.wait_reading(RETRY_MAX + WAIT + 3)
    return took


def held(world, service: str | None = None) -> bool:
    report = world.sextant.safeguards()
    if service is None:
        return report.get("frozen") is not None
    return any(h["service"] == service for h in report["holds"])


def test_registration_failing_check_and_deregistration_reach_envoy_within_a_second(world):
    new = world.fleet.http_backends("payments-new")[0]
    sid = f"payments-{new.port}"
    with world.traffic() as traffic:
        world.register("payments", new.port)
        took = world.wait_hosts(world.baseline() | {new.hostport})
        assert took <= PROPAGATION, f"registration took {took:.2f}s"
        wait_for(lambda: traffic.answers.get("payments-new", 0) > 0, 5, what="traffic to reach the new instance")

        # A failing check is health, not removal: Envoy keeps the host, marks it, and stops using it.
        world.sim.set_check(sid, "critical")
        start = time.monotonic()
        wait_for(lambda: "failed_eds_health" in world.health().get(new.hostport, ""), 5,
                 what="Envoy to mark the failing instance unhealthy")
        took = time.monotonic() - start
        assert took <= PROPAGATION, f"failing check took {took:.2f}s"
        assert world.hosts() == world.baseline() | {new.hostport}
        time.sleep(0.3)  # requests already on their way may still land
        hits = new.hit_count()
        time.sleep(1.0)
        assert new.hit_count() == hits, "an unhealthy instance kept receiving traffic"

        # One of five deregistered (20%, under the shrink threshold) goes through at once.
        world.sim.deregister(sid)
        took = world.wait_hosts(world.baseline())
        assert took <= PROPAGATION, f"deregistration took {took:.2f}s"
    assert traffic.failures == [], traffic.failures[:5]


# (fault to inject, what shows Sextant saw it)
FAULTS = {
    "payments-500": ({"kind": "500", "service": "payments"}, ("error", "payments", "http-5xx")),
    "every-read-500": ({"kind": "500"}, ("error", None, "http-5xx")),
    "too-many-requests-429": ({"kind": "429"}, ("error", None, "http-429")),
    "garbage-body": ({"kind": "malformed"}, ("error", None, "non-json")),
    "dropped-connections": ({"kind": "drop"}, ("error", None, "transport")),
    "index-backwards": ({"kind": "index-backwards"}, ("resets",)),
    "payments-empty": ({"kind": "empty-instances", "service": "payments"}, ("hold", "payments")),
    "every-service-empty": ({"kind": "empty-instances"}, ("freeze",)),
    "service-list-empty": ({"kind": "empty-services"}, ("freeze",)),
}


def evidence(world, what) -> float:
    if what[0] == "error":
        return world.consul_errors(what[1], what[2])
    if what[0] == "resets":
        return world.metrics().get("sextant_consul_index_resets_total", 0)
    return 1.0 if held(world, what[1] if what[0] == "hold" else None) else 0.0


@pytest.mark.parametrize("name", FAULTS)
def test_a_consul_fault_never_reaches_envoy(world, name):
    fault, what = FAULTS[name]
    world.wait_reading(RETRY_MAX + WAIT + 3)
    before = evidence(world, what)
    with world.traffic() as traffic:
        world.sim.fault(**fault)
        try:
            # A dropped blocking query is retried once on a new connection by the HTTP client,
            # and that retry is dropped when it is due: up to one --consul-wait later.
            wait_for(lambda: evidence(world, what) > before, WAIT + 3, interval=0.1,
                     what=f"Sextant to see the fault ({what})")
            steady(1.5, lambda: world.hosts() == world.baseline())
        finally:
            world.sim.clear_faults()
        recover(world, name)
    assert traffic.failures == [], traffic.failures[:5]
    assert traffic.ok > 50


def test_a_hanging_consul_never_reaches_envoy(world):
    """Every read hangs: nothing to count, but a change made meanwhile arrives once it answers."""
    with world.traffic() as traffic:
        world.sim.fault("hang")
        try:
            steady(WAIT + 1, lambda: world.hosts() == world.baseline())
        finally:
            world.sim.clear_faults()
        recover(world, "hang")
    assert traffic.failures == [], traffic.failures[:5]


def test_losing_acl_read_permission_is_held_like_every_instance_vanishing(world):
    """Consul answers a token that may no longer read with 200 and empty lists, not 403.

    A request is authorized when it arrives: the query already blocked when the policy changes
    still answers in full, the next one (up to two --consul-wait later) answers filtered.
    """
    with world.traffic() as traffic:
        world.sim.add_token(TOKEN, services=())
        try:
            wait_for(lambda: held(world) or held(world, "payments"), 2 * WAIT + 3, interval=0.1,
                     what="the filtered (empty) answers to be held")
            steady(1.5, lambda: world.hosts() == world.baseline())
        finally:
            world.sim.add_token(TOKEN, services=("",))
        recover(world, "acl-read-lost")
    assert traffic.failures == [], traffic.failures[:5]


def test_a_real_scale_down_goes_through_after_confirmation(world):
    keep = world.payments[0]
    with world.traffic() as traffic:
        for backend in world.payments[1:]:
            world.sim.deregister(f"payments-{backend.port}")
        wait_for(lambda: held(world, "payments"), 3, what="the 4 -> 1 scale-down to be held")
        steady(CONFIRM - 3, lambda: world.hosts() == world.baseline())
        world.wait_hosts({keep.hostport}, timeout=CONFIRM + 5)
        for backend in world.payments[1:]:
            world.register("payments", backend.port)
        world.wait_hosts(world.baseline())
    assert traffic.failures == [], traffic.failures[:5]


def test_a_restart_while_consul_is_down_serves_last_known_good(tmp_path):
    """Consul's servers are down: the local agent answers every read with 500 (no leader)."""
    require_sextant()
    with managed_fleet(tmp_path) as fleet:
        w = ConsulWorld(fleet, payments=3, extra_args=["--consul-retry-max", str(RETRY_MAX)])
        try:
            with w.traffic() as traffic:
                w.sim.fault("500")
                port = w.sextant.xds_port
                code, _ = w.sextant.stop()
                fleet.sextants.remove(w.sextant)
                assert code == 0
                w.sextant = w.start_sextant(xds_port=port)
                status, body = w.sextant.admin("/readyz")
                assert status == 200, f"last-known-good should make it ready at once: {body}"
                wait_for(lambda: w.envoy.stat("control_plane.connected_state") == 1, 10,
                         what="Envoy to reconnect to the restarted Sextant")
                wait_for(lambda: w.consul_errors(reason="http-5xx") > 0, 5, what="the restarted Sextant to meet the 500s")
                steady(2, lambda: w.hosts() == w.baseline())
                w.sim.clear_faults()
                recover(w, "restart-while-consul-down")
            assert traffic.failures == [], traffic.failures[:5]
        finally:
            w.stop()

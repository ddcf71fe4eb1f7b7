"""Safeguards with real Envoy and real traffic: a broken catalog never empties a cluster.

Every fault is injected into the catalog source while a client sends requests through
Envoy's outbound listener; the number of failed requests must be zero and Envoy's
/clusters must keep the endpoints. Real deregistrations and scale-downs still go through,
after the (shortened) confirmation period.
"""

import os
import signal
import time


from harness.config import ZONE, Instance
from harness.fleet import require_sextant
from harness.mesh import Traffic, steady
from harness.util import free_port, wait_for

CONFIRM = 3  # seconds: the confirmation period these tests run with (default 60)
SAFEGUARD_ARGS = ["--empty-confirmation-seconds", str(CONFIRM), "--shrink-confirmation-seconds", str(CONFIRM)]


class Scenario:
    """frontend (with an Envoy sidecar) depends on payments (10 instances); ledger and catalog exist too."""

    def __init__(self, fleet, payments: int = 10, state_dir=None):
        require_sextant()
        self.fleet = fleet
        self.config = fleet.config()
        self.app = fleet.http_backends("frontend-app")[0]
        self.backends = fleet.http_backends(*[f"payments-{i}" for i in range(payments)])
        c = self.config
        c.write_service("frontend", self.app.port, "http1", ["payments"])
        c.write_service("payments", self.backends[0].port, "http1", [])
        c.write_service("ledger", free_port(), "http1", [])
        self.baseline = {
            "frontend": [Instance(self.app.port, zone=ZONE)],
            "payments": [Instance(b.port, zone=ZONE) for b in self.backends],
            "ledger": [Instance(free_port(), zone=ZONE)],
        }
        c.catalog = {name: list(instances) for name, instances in self.baseline.items()}
        c.write_catalog()
        self.state_dir = state_dir or (c.root / "state")
        self.sextant = self.start_sextant()
        self.envoy = fleet.envoy(self.sextant.xds_port, "frontend", ZONE)
        self.envoy.wait_synced()
        self.wait_payments(len(self.backends))

    def start_sextant(self, xds_port=None):
        return self.fleet.sextant(self.config, xds_port=xds_port,
                                  extra_args=SAFEGUARD_ARGS + ["--state-dir", str(self.state_dir)])

    def retire(self, process):
        """The test stopped or killed this server itself: the fleet must not expect to."""
        self.fleet.sextants.remove(process)

    def hosts(self) -> set[str]:
        return self.envoy.cluster_hosts("payments")

    def wait_payments(self, count: int, timeout: float = 5.0):
        wait_for(lambda: len(self.hosts()) == count, timeout, interval=0.05,
                 what=f"Envoy to hold {count} payments hosts (has {len(self.hosts())})")

    def set_payments(self, count: int):
        self.config.set_instances("payments", self.baseline["payments"][:count])

    def traffic(self) -> Traffic:
        return Traffic(self.config.outbound_port)


def test_an_empty_read_keeps_traffic_and_a_real_deregistration_goes_through(fleet):
    s = Scenario(fleet)
    with s.traffic() as traffic:
        s.set_payments(0)
        steady(CONFIRM - 1, lambda: len(s.hosts()) == 10)
        holds = s.sextant.safeguards()["holds"]
        assert [(h["service"], h["kind"], h["before"], h["candidate"]) for h in holds] == [("payments", "empty", 10, 0)]
        assert "payments would go from 10 instances to none" in s.sextant.log()
        failures_while_held = list(traffic.failures)
    assert traffic.ok > 50 and failures_while_held == []
    # Still empty after the confirmation period: a real deregistration empties the cluster.
    s.wait_payments(0, timeout=CONFIRM + 3)
    assert s.sextant.safeguards()["holds"] == []


def test_a_large_scale_down_waits_for_confirmation_and_a_small_one_does_not(fleet):
    s = Scenario(fleet)
    with s.traffic() as traffic:
        s.set_payments(8)
        s.wait_payments(8, timeout=1.0)  # 10 -> 8: at once
        s.set_payments(4)  # 8 -> 4: half removed (threshold: more than half)
        s.wait_payments(4, timeout=1.0)
        s.set_payments(10)
        s.wait_payments(10, timeout=1.0)
        s.set_payments(4)  # 10 -> 4: held
        steady(CONFIRM - 1, lambda: len(s.hosts()) == 10)
        assert s.sextant.safeguards()["holds"][0]["kind"] == "shrink"
        s.wait_payments(4, timeout=CONFIRM + 3)
    assert traffic.failures == []


def test_every_service_emptied_at_once_freezes_everything(fleet):
    s = Scenario(fleet)
    with s.traffic() as traffic:
        for name in s.baseline:
            s.config.set_instances(name, [])
        wait_for(lambda: s.sextant.safeguards().get("frozen") is not None, 3, what="the freeze")
        steady(CONFIRM + 2, lambda: len(s.hosts()) == 10)  # no time-based release of a freeze
        assert "sextant_safeguard_frozen 1" in s.sextant.admin("/metrics")[1]
        # The source comes back: the freeze lifts by itself and updates flow again.
        s.config.catalog = {name: list(instances) for name, instances in s.baseline.items()}
        s.config.write_catalog()
        wait_for(lambda: s.sextant.safeguards().get("frozen") is None, 3, what="the freeze to lift")
        s.set_payments(9)
        s.wait_payments(9)
    assert traffic.failures == [] and traffic.ok > 50


def test_an_operator_can_release_a_hold(fleet):
    s = Scenario(fleet)
    s.set_payments(0)
    wait_for(lambda: s.sextant.safeguards()["holds"], 3, what="the hold")
    status, _ = s.sextant.admin("/release?service=payments", method="POST")
    assert status == 200
    s.wait_payments(0, timeout=2)


def test_a_restart_while_the_source_is_down_serves_last_known_good(fleet):
    s = Scenario(fleet)
    xds_port = s.sextant.xds_port
    with s.traffic() as traffic:
        code, _ = s.sextant.stop()
        s.retire(s.sextant)
        assert code == 0
        s.config.catalog_path.write_text("services: [this is not a catalog\n")  # the source is down
        restarted = s.start_sextant(xds_port=xds_port)
        status, _ = restarted.admin("/readyz")
        assert status == 200
        # A new sidecar gets the last-known-good endpoints from the restarted server.
        newcomer = fleet.envoy(xds_port, "frontend", ZONE, node_id="frontend-new")
        newcomer.wait_synced()
        wait_for(lambda: len(newcomer.cluster_hosts("payments")) == 10, 5, what="the newcomer's endpoints")
        steady(1, lambda: len(s.hosts()) == 10)
    assert traffic.failures == []
    assert "serving last-known-good state" in restarted.log()


def test_killing_sextant_mid_write_leaves_a_loadable_state(fleet):
    s = Scenario(fleet, payments=4)
    for round_ in range(5):
        # Change the catalog continuously while the server is killed without warning.
        for i in range(4):
            s.set_payments(4 if i % 2 == 0 else 3)
            time.sleep(0.03 + 0.02 * round_)
        os.kill(s.sextant.pid, signal.SIGKILL)
        s.sextant.proc.wait(timeout=5)
        s.retire(s.sextant)
        s.sextant = s.start_sextant(xds_port=s.sextant.xds_port)
        assert s.sextant.admin("/readyz")[0] == 200
        assert "last-known-good state ignored" not in s.sextant.log()
    assert (s.state_dir / "catalog.lkg").read_bytes().startswith(b"sextant-lkg 1 ")

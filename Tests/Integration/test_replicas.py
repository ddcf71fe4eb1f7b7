"""Replicas of `sextant serve` behind one address: identical versions, nothing re-sent on failover.

Versions are content hashes of deterministic output, so replicas that read the same Consul and
templates serve byte-identical resources under identical versions, and an Envoy that fails
over from one to another already holds everything the new one would send.
"""

import re
import signal
import sys
import time
from pathlib import Path

import pytest

from harness import adsclient as ads
from harness.adssession import Session
from harness.config import ZONE
from harness.fleet import require_sextant
from harness.mesh import Traffic, standard_services
from harness.util import wait_for

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "ConsulSimulator"))
from consul_sim import ConsulSim  # noqa: E402

SYNC_BOUND = 10.0
CONVERGENCE_BOUND = 2.0   # seconds: a Consul change reaches every replica (blocking queries)
SENT = re.compile(r"bytes=(\d+) count=(\d+) node=(\S+) .*\[XDS\] sent")


class Replicas:
    """frontend -> payments in the Consul simulator, served by `count` replicas."""

    def __init__(self, fleet, count: int):
        require_sextant()
        self.fleet = fleet
        self.sim = ConsulSim()
        self.sim.start()
        self.config, self.app, self.payments, self.ledger = standard_services(fleet, 3)
        self.register("frontend", self.app.port)
        for backend in self.payments:
            self.register("payments", backend.port)
        self.register("ledger", self.ledger.port)
        self.replicas = [self.start(i) for i in range(count)]

    def register(self, service: str, port: int) -> None:
        self.sim.register(service, port, address="127.0.0.1", service_id=f"{service}-{port}", meta={"zone": ZONE})

    def start(self, index: int, xds_port: int | None = None):
        args = ["--consul", self.sim.url, "--state-dir", str(self.config.root / f"state-{index}"),
                "--log-level", "debug"]
        return self.fleet.sextant(self.config, xds_port=xds_port, extra_args=args)

    def restart(self, index: int) -> None:
        old = self.replicas[index]
        old.stop()
        old.reported = True
        self.replicas[index] = self.start(index, xds_port=old.xds_port)

    def session(self, index: int, delta: bool) -> Session:
        """A synced ADS session with replica `index`, as a sidecar of frontend."""
        stream = ads.ADSStream(self.replicas[index].xds_port, delta=delta)
        try:
            return Session(stream, delta=delta, node_id=f"check-{index}").sync(SYNC_BOUND)
        finally:
            stream.close()

    def served(self, index: int, delta: bool) -> dict:
        """Every resource replica `index` serves frontend: type -> name -> (version, bytes)."""
        return self.session(index, delta).raw

    def payments_ports(self, index: int, delta: bool) -> set[int]:
        assignment = self.session(index, delta).received[ads.EDS]["payments"]
        return {lb.endpoint.address.socket_address.port_value
                for locality in assignment.endpoints for lb in locality.lb_endpoints}

    def stop(self):
        self.sim.stop()


@pytest.fixture
def replicas3(fleet):
    world = Replicas(fleet, 3)
    yield world
    world.stop()


def assert_identical(served: list[dict]) -> None:
    first = served[0]
    assert set(first) == {ads.CDS, ads.EDS, ads.LDS, ads.RDS}, sorted(first)
    for index, other in enumerate(served[1:], start=1):
        for type_url in first:
            assert first[type_url].keys() == other[type_url].keys(), (type_url, index)
            for name, (version, body) in first[type_url].items():
                assert other[type_url][name] == (version, body), f"replica {index} differs on {type_url} {name}"


@pytest.mark.parametrize("mode", ["sotw", "delta"])
def test_replicas_serve_byte_identical_resources_and_versions(replicas3, mode):
    delta = mode == "delta"
    w = replicas3
    assert_identical([w.served(i, delta) for i in range(3)])

    # A replica that restarts (and so starts later than the others) serves the same again.
    w.restart(1)
    assert_identical([w.served(i, delta) for i in range(3)])

    # A Consul change reaches every replica within the bound, and they agree afterwards.
    spare = w.fleet.http_backends("payments-spare")[0]
    started = time.monotonic()
    w.register("payments", spare.port)
    for i in range(3):
        wait_for(lambda: spare.port in w.payments_ports(i, delta), CONVERGENCE_BOUND + 3, interval=0.05,
                 what=f"replica {i} to serve the new instance")
    took = time.monotonic() - started
    print(f"{mode}: a Consul registration reached all 3 replicas in {took:.3f}s")
    assert took <= CONVERGENCE_BOUND, f"replicas converged after {took:.2f}s"
    assert_identical([w.served(i, delta) for i in range(3)])


def stream_owner(replicas, node: str) -> int | None:
    """The replica whose log shows `node`'s ADS stream open (and not closed) last."""
    for index, replica in enumerate(replicas):
        log = replica.log()
        if log.count(f"node={node} ") and log.rfind("ads stream opened") > log.rfind("ads stream closed"):
            return index
    return None


def resent(replica, node: str) -> tuple[int, int, int]:
    """(responses, resources, bytes) `replica` has sent to `node`, from its debug log."""
    responses = resources = size = 0
    for m in SENT.finditer(replica.log()):
        if m.group(3) == node:
            responses += 1
            resources += int(m.group(2))
            size += int(m.group(1))
    return responses, resources, size


@pytest.mark.parametrize("mode", ["sotw", "delta"])
def test_envoy_fails_over_to_a_replica_and_receives_nothing_it_has(fleet, mode):
    w = Replicas(fleet, 2)
    try:
        ports = [r.xds_port for r in w.replicas]
        envoy = fleet.envoy(ports, "frontend", ZONE, delta=mode == "delta")
        node = envoy.bootstrap["node"]["id"]
        envoy.wait_synced()
        expected = {b.hostport for b in w.payments}
        wait_for(lambda: envoy.cluster_hosts("payments") == expected, 10, what="payments hosts")
        owner = wait_for(lambda: stream_owner(w.replicas, node) is not None and
                         stream_owner(w.replicas, node) + 1, 5, what="the serving replica") - 1
        other = w.replicas[1 - owner]
        assert resent(other, node) == (0, 0, 0)
        accepted_before = envoy.stat("cluster_manager.cds.update_success")

        with Traffic(w.config.outbound_port) as traffic:
            time.sleep(0.5)
            w.replicas[owner].proc.send_signal(signal.SIGKILL)   # a crash: no GOAWAY, no drain
            w.replicas[owner].reported = True
            wait_for(lambda: "ads stream opened" in other.log() and envoy.stat("control_plane.connected_state") == 1,
                     15, what="Envoy to reconnect to the other replica")
            time.sleep(1.5)   # everything the new stream would send has been sent by now
        responses, resources, size = resent(other, node)
        print(f"{mode}: after failover the new replica sent {responses} responses, "
              f"{resources} resources, {size} bytes; traffic {traffic.ok} ok")
        if mode == "delta":
            assert resources == 0, f"{resources} resources ({size} bytes) re-sent after failover"
        else:   # SotW: clusters and listeners are adopted by version; named EDS/RDS are answered
            assert not re.search(rf"node={node} .*type=(cds|lds) \[XDS\] sent", other.log()), "CDS/LDS re-sent"
        assert traffic.failures == [], traffic.failures[:5]
        assert traffic.ok > 0
        assert envoy.cluster_hosts("payments") == expected
        assert not envoy.rejected(envoy.stats())
        assert envoy.stat("cluster_manager.cds.update_success") == accepted_before
    finally:
        w.stop()

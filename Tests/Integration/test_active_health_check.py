"""Optional active health checking (`health_check:` of a dependency), proven by a real Envoy.

One sextant and one `frontend` sidecar serve the module. frontend depends on:

  payments  http1, 3 backends answering /healthz; health_check on (the template sets enabled and
            path, defaults.yaml the fast timings below: the overlay reaches Envoy)
  orders    http1, 3 backends; health_check off (the default): the contrast for removals
  rpc       grpc, 2 gRPC servers with grpc.health.v1; health_check on
  images    http2, 2 HTTP/2-only (h2c) servers; health_check on: the check must speak HTTP/2

What it shows: the check is in Envoy's /config_dump, Envoy's checks succeed, a host failing its
checks gets no traffic, and, the point of the feature, a host removed from the catalog (so from
EDS) keeps its traffic while it passes its checks, then goes once it fails them. Removing 1 of 3
instances stays under Sextant's shrink threshold (50%), so Sextant sends the removal at once.
"""

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import grpc
import pytest
import yaml
from envoy.type.v3 import http_pb2

from harness import adsclient as ads
from harness import processes
from harness.backends import GRPCBackend, HTTPBackend
from harness.h2c_backend import H2CBackend
from harness.config import Instance
from harness.fleet import managed_fleet, require_sextant
from harness.mesh import http_get
from harness.util import wait_for

UPDATE_BOUND = 5.0
# Fast timings for the test (the built-in ones are 5s / 1s / 60s / 3 / 2), set fleet-wide in
# defaults.yaml; `path` there is overridden by the template.
HEALTH_DEFAULTS = {"enabled": False, "path": "/not-this-one", "interval": "300ms", "timeout": "500ms",
                   "no_traffic_interval": "300ms", "unhealthy_threshold": 2, "healthy_threshold": 1}
CHECK_BOUND = 5.0  # seconds for Envoy to act on a check result (a few intervals, generously)
# Envoy hands health changes to its load balancers in batches (common_lb_config.update_merge_window,
# 1 s by default): traffic follows a flag in /clusters within about a second.
MERGE_BOUND = 3.0
STEADY = 2.0  # seconds a removed, passing host must stay (about 6 check intervals)
CLIENT = Path(__file__).resolve().parent / "harness" / "grpc_xds_client.py"


class World:
    def __init__(self, fleet):
        self.fleet = fleet
        self.config = c = fleet.config()
        self.app = fleet.http_backends("frontend-app")[0]
        self.payments = [HTTPBackend(f"payments-{i}", health_path="/healthz") for i in range(3)]
        self.orders = fleet.http_backends("orders-0", "orders-1", "orders-2")
        self.rpc = [GRPCBackend(f"rpc-{i}", health=True) for i in range(2)]
        self.images = [H2CBackend(f"images-{i}") for i in range(2)]
        fleet.servers += [*self.payments, *self.rpc, *self.images]

        # Written before sextant starts, so no watcher can see half a file.
        c.defaults_path.write_text(yaml.safe_dump({
            "listeners": {"address": c.listener_address, "outbound_port": c.outbound_port,
                          "inbound_port": c.inbound_port},
            "dependency": {"health_check": HEALTH_DEFAULTS},
        }, sort_keys=False))
        (c.templates_dir / "frontend.yaml").write_text(yaml.safe_dump({
            "service": "frontend",
            "inbound": {"port": self.app.port},
            "dependencies": [
                {"name": "payments", "health_check": {"enabled": True, "path": "/healthz"}},
                {"name": "orders"},
                {"name": "rpc", "protocol": "grpc", "health_check": {"enabled": True}},
                {"name": "images", "protocol": "http2", "health_check": {"enabled": True, "path": "/healthz"}},
            ],
        }, sort_keys=False))
        c.catalog = {
            "frontend": [Instance(self.app.port)],
            "payments": [Instance(b.port) for b in self.payments],
            "orders": [Instance(b.port) for b in self.orders],
            "rpc": [Instance(b.port) for b in self.rpc],
            "images": [Instance(b.port) for b in self.images],
        }
        c.write_catalog()
        self.sextant = fleet.sextant(c)
        self.envoy = fleet.envoy(self.sextant.xds_port, "frontend", "zone-a")
        self.envoy.wait_synced()
        for cluster in ["payments", "orders", "rpc", "images"]:
            self.envoy.wait_for(lambda e, cl=cluster: e.cluster_hosts(cl) == c.hostports(cl), UPDATE_BOUND,
                                what=f"Envoy's {cluster} hosts")

    def spread(self, host: str, requests: int) -> dict[str, int]:
        answers: dict[str, int] = {}
        for _ in range(requests):
            status, body, _ = http_get(self.config.outbound_port, host)
            key = body if status == 200 else f"HTTP {status}: {body[:60]}"
            answers[key] = answers.get(key, 0) + 1
        return answers

    def grpc_spread(self, calls: int) -> dict[str, int]:
        answers: dict[str, int] = {}
        with grpc.insecure_channel(f"127.0.0.1:{self.config.outbound_port}",
                                   options=[("grpc.default_authority", "rpc")]) as channel:
            who = channel.unary_unary("/test.Echo/Who")
            for _ in range(calls):
                name = who(b"", timeout=5).decode()
                answers[name] = answers.get(name, 0) + 1
        return answers

    def host_health(self, cluster: str) -> dict[str, dict]:
        """host:port → Envoy's health_status for that host, from /clusters?format=json."""
        statuses = json.loads(self.envoy.admin("/clusters?format=json"))["cluster_statuses"]
        for status in statuses:
            if status["name"] == cluster:
                return {f"{h['address']['socket_address']['address']}:{h['address']['socket_address']['port_value']}":
                        h.get("health_status", {}) for h in status.get("host_statuses", [])}
        return {}

    def failed_active_hc(self, cluster: str) -> set[str]:
        return {host for host, health in self.host_health(cluster).items()
                if health.get("failed_active_health_check")}


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    require_sextant()
    with managed_fleet(tmp_path_factory.mktemp("health-check")) as fleet:
        yield World(fleet)


def served(world, type_url: str, names: list[str] | None = None) -> list:
    """What Sextant serves a `frontend` node right now (one SotW request on a stream of our own)."""
    stream = ads.ADSStream(world.sextant.xds_port)
    try:
        stream.send(ads.DiscoveryRequest(node=ads.node("frontend-probe", "frontend", "zone-a"), type_url=type_url,
                                         resource_names=names or []))
        response = stream.recv(timeout=UPDATE_BOUND)
        assert response.type_url == type_url, response.type_url
        return [ads.unpack(resource) for resource in response.resources]
    finally:
        stream.close()


def dynamic_clusters(dump: dict) -> dict[str, dict]:
    section = processes.config_section(dump, "ClustersConfigDump")
    return {c["cluster"]["name"]: c["cluster"] for c in section.get("dynamic_active_clusters", [])}


# -- the cluster carries the check, and Envoy runs it ----------------------------------------

def test_config_dump_has_the_health_checks(world):
    stats = world.envoy.stats()
    assert world.envoy.rejected(stats) == {}
    clusters = dynamic_clusters(world.envoy.config_dump())
    timings = {"interval": "0.300s", "timeout": "0.500s", "no_traffic_interval": "0.300s",
               "unhealthy_threshold": 2, "healthy_threshold": 1}
    # Template (enabled, path) over defaults.yaml (timings): the overlay reached Envoy.
    assert clusters["payments"]["health_checks"] == [{**timings, "http_health_check": {"path": "/healthz"}}], \
        clusters["payments"]
    assert clusters["rpc"]["health_checks"] == [{**timings, "grpc_health_check": {}}], clusters["rpc"]
    assert clusters["images"]["health_checks"] == [
        {**timings, "http_health_check": {"path": "/healthz", "codec_client_type": "HTTP2"}}], clusters["images"]
    assert "health_checks" not in clusters["orders"], clusters["orders"]
    assert not clusters["payments"].get("ignore_health_on_host_removal", False)


def test_health_checks_decode_with_the_official_protos(world):
    """The hand-written HealthCheck subset is wire-compatible: no unknown field, the same values."""
    clusters = {c.name: c for c in served(world, ads.CDS)}
    for name in ["payments", "rpc", "orders", "images"]:
        assert ads.wire_problems(clusters[name]) == [], name
    (http,) = clusters["payments"].health_checks
    assert http.WhichOneof("health_checker") == "http_health_check" and http.http_health_check.path == "/healthz"
    assert (http.interval.ToMilliseconds(), http.timeout.ToMilliseconds(), http.no_traffic_interval.ToMilliseconds(),
            http.unhealthy_threshold.value, http.healthy_threshold.value) == (300, 500, 300, 2, 1)
    (rpc,) = clusters["rpc"].health_checks
    assert rpc.WhichOneof("health_checker") == "grpc_health_check" and rpc.grpc_health_check.service_name == ""
    assert len(clusters["orders"].health_checks) == 0
    (h2,) = clusters["images"].health_checks
    assert h2.http_health_check.codec_client_type == http_pb2.HTTP2


def test_envoy_health_checks_succeed(world):
    def succeeded():
        stats = world.envoy.stats()
        checked = ["payments", "rpc", "images"]
        return all(stats.get(f"cluster.{c}.health_check.success", 0) > 0 for c in checked) and stats
    stats = wait_for(succeeded, CHECK_BOUND, interval=0.1, what="health_check.success > 0 for payments, rpc and images")
    for cluster, hosts in [("payments", 3), ("rpc", 2), ("images", 2)]:
        assert stats.get(f"cluster.{cluster}.health_check.failure", 0) == 0, cluster
        assert stats.get(f"cluster.{cluster}.health_check.healthy") == hosts, cluster
    for backend in world.images:
        _, checks, refused = backend.counts()
        assert checks > 0 and refused == 0, f"{backend.name}: {checks} HTTP/2 checks, {refused} HTTP/1 connections"
    assert "cluster.orders.health_check.success" not in stats, "orders has no health check"
    for backend in world.payments:
        assert backend.health_check_count() > 0, backend
        # An empty http_health_check.host: Envoy sends the cluster's name.
        assert backend.health_check_hosts == {"payments"}, backend.health_check_hosts
    assert all(world.failed_active_hc(c) == set() for c in ["payments", "rpc", "images"])
    assert set(world.spread("payments", 30)) == {"payments-0", "payments-1", "payments-2"}
    assert set(world.spread("images", 20)) == {"images-0", "images-1"}
    assert set(world.grpc_spread(10)) == {"rpc-0", "rpc-1"}


def test_grpc_xds_client_accepts_a_health_checked_cluster(world, tmp_path):
    """gRPC's own xDS client ignores health_checks (it has no active health checking) and still
    reaches the dependency: turning the option on does not break proxyless clients."""
    bootstrap = tmp_path / "xds-bootstrap.json"
    bootstrap.write_text(json.dumps({
        "xds_servers": [{"server_uri": f"127.0.0.1:{world.sextant.xds_port}",
                         "channel_creds": [{"type": "insecure"}], "server_features": ["xds_v3"]}],
        "node": {"id": "frontend-grpc-0", "cluster": "frontend", "locality": {"zone": "zone-a"}},
    }))
    env = {**os.environ, "GRPC_XDS_BOOTSTRAP": str(bootstrap), "GRPC_VERBOSITY": "ERROR"}
    done = subprocess.run([sys.executable, str(CLIENT), "xds:///rpc", "10", "20"], env=env,
                          capture_output=True, timeout=45, cwd=tmp_path)
    lines = done.stdout.decode().strip().splitlines()
    result = json.loads(lines[-1]) if lines else {"answers": {}, "error": "no output"}
    assert result["error"] is None and done.returncode == 0, (result, done.stderr.decode()[-3000:])
    assert set(result["answers"]) <= {"rpc-0", "rpc-1"} and sum(result["answers"].values()) == 10, result


# -- a host failing its checks gets no traffic, though the catalog still lists it ------------

def test_a_backend_failing_its_health_path_stops_receiving_traffic(world):
    bad = world.payments[2]
    bad_host = f"127.0.0.1:{bad.port}"
    bad.healthy = False
    try:
        wait_for(lambda: world.failed_active_hc("payments") == {bad_host}, CHECK_BOUND, interval=0.05,
                 what=f"Envoy to mark {bad_host} failed_active_health_check")
        assert world.envoy.cluster_hosts("payments") == world.config.hostports("payments"), \
            "the host is still in EDS (the catalog lists it), only its checks fail"
        wait_for(lambda: set(world.spread("payments", 6)) == {"payments-0", "payments-1"}, MERGE_BOUND,
                 interval=0.05, what="traffic to leave payments-2")
        before = bad.hit_count()
        answers = world.spread("payments", 40)
        assert set(answers) == {"payments-0", "payments-1"} and sum(answers.values()) == 40, answers
        assert bad.hit_count() == before, "a host failing its health checks got traffic"
    finally:
        bad.healthy = True
    wait_for(lambda: world.failed_active_hc("payments") == set(), CHECK_BOUND, interval=0.05,
             what=f"{bad_host} to pass again")
    wait_for(lambda: "payments-2" in world.spread("payments", 6), MERGE_BOUND, interval=0.05,
             what="traffic to reach payments-2 again")
    assert set(world.spread("payments", 30)) == {"payments-0", "payments-1", "payments-2"}


def test_a_grpc_backend_not_serving_stops_receiving_calls(world):
    bad = world.rpc[1]
    bad_host = f"127.0.0.1:{bad.port}"
    bad.set_serving(False)
    try:
        wait_for(lambda: world.failed_active_hc("rpc") == {bad_host}, CHECK_BOUND, interval=0.05,
                 what=f"Envoy to mark {bad_host} failed_active_health_check")
        wait_for(lambda: set(world.grpc_spread(4)) == {"rpc-0"}, MERGE_BOUND, interval=0.05,
                 what="calls to leave rpc-1")
        answers = world.grpc_spread(20)
        assert answers == {"rpc-0": 20}, answers
    finally:
        bad.set_serving(True)
    wait_for(lambda: world.failed_active_hc("rpc") == set(), CHECK_BOUND, interval=0.05,
             what=f"{bad_host} to pass again")
    wait_for(lambda: "rpc-1" in world.grpc_spread(4), MERGE_BOUND, interval=0.05, what="calls to reach rpc-1 again")
    assert set(world.grpc_spread(20)) == {"rpc-0", "rpc-1"}



def test_an_http2_backend_failing_its_health_path_stops_receiving_traffic(world):
    """The check of an http2 dependency goes over HTTP/2 (the backends refuse HTTP/1.1), so
    passing and failing mean what the backend says, not that the codec was wrong."""
    bad = world.images[1]
    bad.healthy = False
    try:
        wait_for(lambda: world.failed_active_hc("images") == {bad.hostport}, CHECK_BOUND, interval=0.05,
                 what=f"Envoy to mark {bad.hostport} failed_active_health_check")
        wait_for(lambda: set(world.spread("images", 6)) == {"images-0"}, MERGE_BOUND, interval=0.05,
                 what="traffic to leave images-1")
        hits, _, _ = bad.counts()
        assert world.spread("images", 20) == {"images-0": 20}
        assert bad.counts()[0] == hits, "a host failing its health checks got traffic"
    finally:
        bad.healthy = True
    wait_for(lambda: world.failed_active_hc("images") == set(), CHECK_BOUND, interval=0.05,
             what=f"{bad.hostport} to pass again")
    assert all(b.counts()[2] == 0 for b in world.images), "a check or request came over HTTP/1.1"

# -- the point: a host removed from discovery keeps its traffic while it passes ---------------

def test_a_host_removed_from_the_catalog_keeps_traffic_while_it_passes(world):
    removed = world.payments[2]
    removed_host = f"127.0.0.1:{removed.port}"
    orders_removed = f"127.0.0.1:{world.orders[2].port}"
    eds_before = world.envoy.stat("cluster.payments.update_success") or 0

    # One catalog write removes one of three instances from each service.
    world.config.catalog["payments"] = [Instance(b.port) for b in world.payments[:2]]
    world.config.catalog["orders"] = [Instance(b.port) for b in world.orders[:2]]
    world.config.write_catalog()

    # Without health checks (orders), the removal takes the host away as soon as EDS says so:
    # the update did reach Envoy, and Sextant did not hold it.
    world.envoy.wait_for(lambda e: orders_removed not in e.cluster_hosts("orders"), UPDATE_BOUND,
                         what="orders' removed host to leave Envoy")
    world.envoy.wait_for(lambda e: (e.stat("cluster.payments.update_success") or 0) > eds_before, UPDATE_BOUND,
                         what="payments' EDS update without the removed host")
    report = world.sextant.safeguards()
    assert report["holds"] == [] and report.get("frozen") is None, report
    (assignment,) = served(world, ads.EDS, ["payments"])
    served_hosts = {f"{lb.endpoint.address.socket_address.address}:{lb.endpoint.address.socket_address.port_value}"
                    for locality in assignment.endpoints for lb in locality.lb_endpoints}
    assert served_hosts == world.config.hostports("payments"), f"Sextant still serves {served_hosts}"

    # With health checks (payments), Envoy keeps the host: it still passes its checks.
    deadline = time.monotonic() + STEADY
    while time.monotonic() < deadline:
        health = world.host_health("payments")
        assert removed_host in health, f"{removed_host} left Envoy though it passes its checks: {health}"
        assert not health[removed_host].get("failed_active_health_check"), health[removed_host]
        assert health[removed_host].get("eds_health_status") == "HEALTHY", health[removed_host]
        time.sleep(0.1)
    assert world.host_health("payments")[removed_host].get("pending_dynamic_removal") is True
    assert removed_host in world.envoy.cluster_hosts("payments"), "the text /clusters lists it too"
    before = removed.hit_count()
    answers = world.spread("payments", 30)
    assert set(answers) == {"payments-0", "payments-1", "payments-2"}, answers
    assert removed.hit_count() - before == answers["payments-2"] > 0

    # It fails its checks: now it goes, and the traffic with it.
    removed.healthy = False
    world.envoy.wait_for(lambda e: e.cluster_hosts("payments") == world.config.hostports("payments"),
                         CHECK_BOUND, what=f"{removed_host} to leave Envoy once it fails its checks")
    wait_for(lambda: set(world.spread("payments", 6)) == {"payments-0", "payments-1"}, MERGE_BOUND,
             interval=0.05, what="traffic to leave the removed host")
    before = removed.hit_count()
    answers = world.spread("payments", 20)
    assert set(answers) == {"payments-0", "payments-1"} and sum(answers.values()) == 20, answers
    assert removed.hit_count() == before
    assert world.envoy.rejected(world.envoy.stats()) == {}


def test_validate_with_real_envoy_accepts_the_health_checks(world):
    """CI's offline check: `sextant validate --envoy` runs Envoy's own validation on these clusters."""
    done = processes.validate_with_envoy(world.config)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "accepted by envoy --mode validate" in done.stdout, done.stdout

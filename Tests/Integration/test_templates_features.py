"""Every template feature, proven by a real Envoy (and gRPC's own xDS client) acting on it with traffic.

One sextant and one `frontend` sidecar serve the whole module. frontend's template uses every
feature at once:

  payments   http1; sandbox "alice" (header x-sandbox: alice -> catalog service payments.sandbox.alice)
  rpc        grpc; method_cache: /test.Echo/Cached -> service rpc-cache, falling back to rpc
  orders     http1; outlier detection after 3 consecutive 5xx, no retries (one backend answers 500)
  inventory  http1; zone-aware routing (frontend and inventory both span zone-a and zone-b)
  ledger     http1; 3 retries on 503 under a 10% retry budget (its backend always answers 503, slowly)
  inbound    adaptive concurrency in front of frontend's application

Zone-aware routing needs `cluster_manager.local_cluster_name` in Envoy's bootstrap, and Envoy
insists that the local cluster is a bootstrap (static_resources) cluster: the sidecar's bootstrap
here declares `frontend` as a static EDS cluster fed over ADS.
"""

import concurrent.futures
import threading
import time
from concurrent import futures
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import grpc
import pytest
import yaml

from harness import processes
from harness.config import REGION, ZONE, Instance
from harness.fleet import managed_fleet, require_sextant
from harness.grpc_xds import run_client, xds_bootstrap
from harness.mesh import http_get, spread
from harness.util import free_port, wait_for

OTHER_ZONE = "zone-b"
UPDATE_BOUND = 5.0
SHRINK_CONFIRMATION = 1


# -- servers this module needs beyond the harness's ------------------------------------------

class StatusBackend:
    """An HTTP/1.1 server answering every request with `status` (after `delay` s) and its name."""

    def __init__(self, name: str, status: int = 200, delay: float = 0.0):
        self.name, self.status, self.delay = name, status, delay
        self.port = free_port()
        self.hits = 0
        self._lock = threading.Lock()
        backend = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self):
                with backend._lock:
                    backend.hits += 1
                if backend.delay:
                    time.sleep(backend.delay)
                body = backend.name.encode()
                self.send_response(backend.status)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever,
                                        kwargs={"poll_interval": 0.1}, daemon=True)
        self._thread.start()

    def hit_count(self) -> int:
        with self._lock:
            return self.hits

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)


class EchoServer:
    """gRPC server with /test.Echo/Who and /test.Echo/Cached, both answering its name."""

    def __init__(self, name: str):
        self.name = name
        self.port = free_port()
        self.hits = {"Who": 0, "Cached": 0}
        self._lock = threading.Lock()
        server = self

        def handler(method):
            def answer(request: bytes, context) -> bytes:
                with server._lock:
                    server.hits[method] += 1
                return server.name.encode()
            return grpc.unary_unary_rpc_method_handler(answer, None, None)

        self._server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
        self._server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler(
            "test.Echo", {"Who": handler("Who"), "Cached": handler("Cached")}),))
        assert self._server.add_insecure_port(f"127.0.0.1:{self.port}") == self.port
        self._server.start()
        self.running = True

    def stop(self) -> None:
        if self.running:
            self._server.stop(grace=None).wait(timeout=5)
            self.running = False


# -- the world -------------------------------------------------------------------------------

def bootstrap_with_local_cluster(original):
    def build(node_id, cluster, zone, admin_port, xds_port, delta, region=None):
        boot = original(node_id, cluster, zone, admin_port, xds_port, delta, region or REGION)
        boot["cluster_manager"] = {"local_cluster_name": cluster}
        boot["static_resources"]["clusters"].append({
            "name": cluster, "type": "EDS", "connect_timeout": "1s",
            "eds_cluster_config": {"service_name": cluster,
                                   "eds_config": {"ads": {}, "resource_api_version": "V3"}},
        })
        return boot
    return build


class World:
    def __init__(self, fleet, delta: bool = False):
        self.fleet = fleet
        self.delta = delta
        self.config = c = fleet.config()
        self.app = fleet.http_backends("frontend-app")[0]
        self.payments = fleet.http_backends("payments-0", "payments-1")
        self.alice = fleet.http_backends("payments-alice")[0]
        self.rpc = EchoServer("rpc-origin")
        self.cache = EchoServer("rpc-cache")
        self.orders_good = [StatusBackend(f"orders-good-{i}") for i in range(2)]
        self.orders_bad = StatusBackend("orders-bad", status=500)
        self.inventory_a = fleet.http_backends("inventory-a0", "inventory-a1")
        self.inventory_b = fleet.http_backends("inventory-b0", "inventory-b1")
        self.ledger = StatusBackend("ledger-503", status=503, delay=0.2)
        fleet.servers += [self.rpc, self.cache, self.ledger, self.orders_bad, *self.orders_good]

        (c.templates_dir / "frontend.yaml").write_text(yaml.safe_dump({
            "service": "frontend",
            "inbound": {"port": self.app.port, "protocol": "http1",
                        "adaptive_concurrency": {"enabled": True}},
            "dependencies": [
                {"name": "payments", "sandboxes": ["alice"]},
                {"name": "rpc", "protocol": "grpc",
                 "method_cache": {"service": "rpc-cache", "methods": ["/test.Echo/Cached"]}},
                {"name": "orders", "retries": {"num_retries": 0},
                 "outlier_detection": {"consecutive_5xx": 3, "interval": "1s",
                                       "base_ejection_time": "60s", "max_ejection_percent": 50}},
                {"name": "inventory", "zone_aware": {"enabled": True, "min_cluster_size": 2}},
                {"name": "ledger", "timeout": "10s",
                 "retries": {"retry_on": "retriable-status-codes", "num_retries": 3,
                             "retriable_status_codes": [503],
                             "budget": {"percent": 10, "min_retry_concurrency": 1}}},
            ],
        }, sort_keys=False))
        c.catalog = {
            # frontend spans both zones like inventory does, so zone-aware routing stays local.
            "frontend": [Instance(self.app.port), Instance(free_port(), zone=OTHER_ZONE)],
            "payments": [Instance(b.port) for b in self.payments],
            "payments.sandbox.alice": [Instance(self.alice.port)],
            "rpc": [Instance(self.rpc.port)],
            "rpc-cache": [Instance(self.cache.port)],
            "orders": [Instance(b.port) for b in [*self.orders_good, self.orders_bad]],
            "inventory": [Instance(b.port) for b in self.inventory_a]
            + [Instance(b.port, zone=OTHER_ZONE) for b in self.inventory_b],
            "ledger": [Instance(self.ledger.port)],
        }
        c.write_catalog()
        # Moving the sandbox's only instance removes 100% of its endpoints: the shrink guard keeps
        # the old one beside the new one until the move is confirmed (1 s here, 60 s by default).
        self.sextant = fleet.sextant(c, extra_args=["--shrink-confirmation-seconds", str(SHRINK_CONFIRMATION)])
        original = processes.envoy_bootstrap
        processes.envoy_bootstrap = bootstrap_with_local_cluster(original)
        try:
            self.envoy = fleet.envoy(self.sextant.xds_port, "frontend", ZONE, delta=delta)
        finally:
            processes.envoy_bootstrap = original
        self.envoy.wait_synced()
        for cluster, instances in [("payments", self.payments), ("orders", [*self.orders_good, self.orders_bad]),
                                   ("inventory", self.inventory_a + self.inventory_b)]:
            expected = {f"127.0.0.1:{b.port}" for b in instances}
            self.envoy.wait_for(lambda e, cl=cluster, ex=expected: e.cluster_hosts(cl) == ex, UPDATE_BOUND,
                                what=f"Envoy's {cluster} hosts")

    def get(self, host: str, headers: dict | None = None) -> tuple[int, str, dict]:
        return http_get(self.config.outbound_port, host, headers)

    def spread(self, host: str, requests: int, headers: dict | None = None) -> dict[str, int]:
        return spread(self.config.outbound_port, host, requests, headers)

    def grpc_call(self, method: str, timeout: float = 5.0) -> str:
        """One unary call through the outbound listener, with :authority rpc."""
        with grpc.insecure_channel(f"127.0.0.1:{self.config.outbound_port}",
                                   options=[("grpc.default_authority", "rpc")]) as channel:
            return channel.unary_unary(method)(b"", timeout=timeout).decode()


@pytest.fixture(scope="module", params=["sotw", "delta"])
def world(request, tmp_path_factory):
    require_sextant()
    with managed_fleet(tmp_path_factory.mktemp(f"features-{request.param}")) as fleet:
        yield World(fleet, delta=request.param == "delta")


# -- the features ----------------------------------------------------------------------------

def test_everything_accepted(world):
    stats = world.envoy.stats()
    assert world.envoy.rejected(stats) == {}
    assert stats.get("cluster_manager.warming_clusters", 0) == 0


def test_sandbox_header_routes_to_the_sandbox_backend(world):
    normal = world.spread("payments", 20)
    assert set(normal) == {"payments-0", "payments-1"}, normal
    sandboxed = world.spread("payments", 10, headers={"x-sandbox": "alice"})
    assert sandboxed == {"payments-alice": 10}, sandboxed
    other = world.spread("payments", 10, headers={"x-sandbox": "bob"})
    assert set(other) <= {"payments-0", "payments-1"}, other


def test_sandbox_follows_catalog_changes(world):
    """The sandbox is a catalog service like any other: moving it moves the sandboxed traffic."""
    moved = world.fleet.http_backends("payments-alice-moved")[0]
    world.config.set_instances("payments.sandbox.alice", [Instance(moved.port)])
    wait_for(lambda: world.spread("payments", 5, headers={"x-sandbox": "alice"}) == {"payments-alice-moved": 5},
             UPDATE_BOUND + SHRINK_CONFIRMATION, interval=0.1,
             what="sandboxed requests to follow payments.sandbox.alice to its new instance (after the shrink guard)")
    assert set(world.spread("payments", 10)) == {"payments-0", "payments-1"}


def test_listed_grpc_methods_reach_the_cache_and_fall_back_to_the_origin(world):
    assert world.grpc_call("/test.Echo/Cached") == "rpc-cache"
    assert world.grpc_call("/test.Echo/Who") == "rpc-origin", "an unlisted method must go to the origin"

    # The cache goes down: its instance fails its health check in the catalog, and the process stops.
    world.cache.stop()
    world.config.set_instances("rpc-cache", [Instance(world.cache.port, health="unhealthy")])
    def answered_by_origin():
        try:
            return world.grpc_call("/test.Echo/Cached", timeout=2) == "rpc-origin"
        except grpc.RpcError as error:
            if error.code() == grpc.StatusCode.UNAVAILABLE:
                return False  # the update has not reached Envoy yet
            raise AssertionError(f"/test.Echo/Cached failed: {error.code()}: {error.details()}") from None
    wait_for(answered_by_origin, UPDATE_BOUND, interval=0.1, what="/test.Echo/Cached to fall back to the origin")
    for _ in range(5):
        assert world.grpc_call("/test.Echo/Cached") == "rpc-origin"


def test_outlier_detection_ejects_a_backend_that_returns_5xx(world):
    statuses = []
    for _ in range(30):
        status, _, _ = world.get("orders")
        statuses.append(status)
    ejected = world.envoy.stat("cluster.orders.outlier_detection.ejections_active")
    assert ejected == 1, f"ejections_active={ejected}; statuses {statuses}"
    assert statuses.count(500) == 3, f"the bad backend should fail exactly 3 requests before ejection: {statuses}"
    before = world.orders_bad.hit_count()
    answers = world.spread("orders", 20)
    assert set(answers) == {"orders-good-0", "orders-good-1"}, answers
    assert world.orders_bad.hit_count() == before, "an ejected host got traffic"


def test_zone_aware_routing_keeps_traffic_in_the_callers_zone(world):
    answers = world.spread("inventory", 40)
    assert set(answers) == {"inventory-a0", "inventory-a1"}, f"traffic left {ZONE}: {answers}"
    assert (world.envoy.stat("cluster.inventory.lb_zone_routing_all_directly") or 0) > 0

    # zone-a's inventory turns unhealthy: traffic moves to zone-b.
    world.config.set_instances(
        "inventory", [Instance(b.port, health="unhealthy") for b in world.inventory_a]
        + [Instance(b.port, zone=OTHER_ZONE) for b in world.inventory_b])
    wait_for(lambda: set(world.spread("inventory", 4)) <= {"inventory-b0", "inventory-b1"}, UPDATE_BOUND,
             interval=0.1, what="inventory traffic to move to zone-b")
    answers = world.spread("inventory", 20)
    assert set(answers) <= {"inventory-b0", "inventory-b1"}, answers


def test_retries_respect_the_budget(world):
    requests = 30
    before = world.ledger.hit_count()
    with concurrent.futures.ThreadPoolExecutor(max_workers=requests) as pool:
        statuses = list(pool.map(lambda _: world.get("ledger")[0], range(requests)))
    assert statuses == [503] * requests, statuses
    stats = world.envoy.stats()
    retries = stats.get("cluster.ledger.upstream_rq_retry", 0)
    overflow = stats.get("cluster.ledger.upstream_rq_retry_overflow", 0)
    hits = world.ledger.hit_count() - before
    assert retries > 0, "no retries at all"
    assert overflow > 0, f"the retry budget never refused a retry (retries={retries})"
    assert hits < requests * 4, f"unbounded retries: {hits} upstream requests for {requests}"
    assert hits == requests + retries, (hits, requests, retries)


def test_adaptive_concurrency_filter_accepted_and_in_config_dump(world):
    listeners = {entry["name"]: entry["active_state"]["listener"]
                 for entry in processes.config_section(world.envoy.config_dump(), "ListenersConfigDump")["dynamic_listeners"]
                 if "active_state" in entry}
    manager = listeners["inbound"]["filter_chains"][0]["filters"][0]["typed_config"]
    names = [f["name"] for f in manager["http_filters"]]
    assert "envoy.filters.http.adaptive_concurrency" in names, names
    assert names[-1] == "envoy.filters.http.router", names
    config = next(f for f in manager["http_filters"] if f["name"] == "envoy.filters.http.adaptive_concurrency")
    assert config["typed_config"]["@type"].endswith("AdaptiveConcurrency"), config
    # It acts on traffic: requests pass and the controller publishes its limit.
    for _ in range(10):
        status, body, _ = http_get(world.config.inbound_port, "frontend")
        assert (status, body) == (200, "frontend-app")
    limits = {k: v for k, v in world.envoy.stats().items() if "adaptive_concurrency" in k and "concurrency_limit" in k}
    assert limits and all(v > 0 for v in limits.values()), limits


def test_grpc_xds_client_reaches_a_dependency_through_the_api_listener(world, tmp_path):
    if world.delta:
        pytest.skip("gRPC's xDS client speaks SotW only; the sotw world runs this")
    bootstrap = xds_bootstrap(tmp_path / "xds-bootstrap.json", world.sextant.xds_port, "frontend-grpc-0", "frontend", ZONE)
    result = run_client(tmp_path, bootstrap, "xds:///rpc", 10)
    assert result["error"] is None and result["exit"] == 0, result
    assert result["answers"] == {"rpc-origin": 10}, result


def test_validate_with_real_envoy_accepts_this_world(world):
    """The same templates pass `sextant validate --envoy` offline, as CI would check them."""
    if world.delta:
        pytest.skip("offline: independent of the ADS mode; the sotw world runs this")
    done = processes.validate_with_envoy(world.config)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "accepted by envoy --mode validate" in done.stdout, done.stdout

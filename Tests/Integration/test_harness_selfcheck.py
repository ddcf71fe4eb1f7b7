"""The harness itself works without a Sextant binary: Envoy's bootstrap, HTTP and gRPC backends."""

import time

import grpc

from harness.backends import ECHO_METHOD
from harness.mesh import http_get
from harness.util import free_port, wait_for


def test_envoy_bootstrap_loads_and_retries_an_absent_control_plane(fleet):
    xds_port = free_port()
    envoy = fleet.envoy(xds_port, "frontend", "zone-a", delta=False)
    # Bounded: Envoy must keep running and keep trying to reach the (absent) ADS server.
    wait_for(lambda: envoy.stats().get("cluster.xds.upstream_cx_connect_fail", 0) >= 2, 15,
             interval=0.2, what="Envoy to retry the absent xDS server")
    assert envoy.alive()
    stats = envoy.stats()
    assert stats.get("control_plane.connected_state") == 0
    assert stats.get("cluster_manager.cds.update_success", 0) == 0
    assert not envoy.synced(stats)
    assert envoy.cluster_hosts("xds") == {f"127.0.0.1:{xds_port}"}


def test_delta_bootstrap_loads_too(fleet):
    envoy = fleet.envoy(free_port(), "frontend", "zone-a", delta=True)
    wait_for(lambda: envoy.stats().get("cluster.xds.upstream_cx_connect_fail", 0) >= 1, 15,
             interval=0.2, what="Envoy (delta) to try the absent xDS server")
    assert envoy.alive()
    assert envoy.config_dump()["configs"][0]["bootstrap"]["dynamic_resources"]["ads_config"][
        "api_type"] == "DELTA_GRPC"


def test_two_envoys_run_side_by_side(fleet):
    first = fleet.envoy(free_port(), "a", "zone-a")
    second = fleet.envoy(free_port(), "b", "zone-a", delta=True)
    time.sleep(0.5)
    assert first.alive() and second.alive()


def test_http_backends_answer_with_their_names(fleet):
    backends = fleet.http_backends("one", "two")
    for backend in backends:
        assert http_get(backend.port, "whatever")[:2] == (200, backend.name)
        assert backend.hit_count() == 1


def test_grpc_backend_answers_a_direct_call(fleet):
    backend = fleet.grpc_backends("g0")[0]
    with grpc.insecure_channel(backend.hostport) as channel:
        who = channel.unary_unary(ECHO_METHOD)
        assert who(b"", timeout=5, wait_for_ready=True) == b"g0"
    assert backend.hit_count() == 1

"""Editing catalog.yaml reaches a connected Envoy within a second, on the same ADS stream, and traffic follows."""

import os

import pytest

from harness.config import Instance
from harness.fleet import require_sextant
from harness.mesh import ConnectionWatch, Mesh

RELOAD_BOUND = float(os.environ.get("SEXTANT_RELOAD_BOUND", "1.0"))  # seconds, file edit -> Envoy


def stream_stats(envoy) -> dict[str, int]:
    """What shows whether Envoy's control-plane connection or ADS stream was ever replaced."""
    s = envoy.stats()
    return {key: s.get(key) for key in ("cluster.xds.upstream_cx_total",
                                        "cluster.xds.upstream_rq_total",
                                        "cluster.xds.upstream_cx_destroy",
                                        "control_plane.connected_state")}


def traffic_until(mesh, backend, requests: int = 200) -> int:
    """Send up to `requests` requests to `payments` until `backend` has had one; return how many were sent."""
    start = backend.hit_count()
    for sent in range(1, requests + 1):
        mesh.get("payments")
        if backend.hit_count() > start:
            return sent
    raise AssertionError(f"{backend.name} got none of {requests} requests")


@pytest.mark.parametrize("mode", ["sotw", "delta"])
def test_catalog_edits_reach_envoy_on_the_same_stream(fleet, mode):
    require_sextant()
    # Four instances, so removing one is a 20-25% shrink (a small, ordinary change).
    mesh = Mesh(fleet, delta=mode == "delta", payments=4)
    spare = fleet.http_backends("payments-new")[0]
    before = stream_stats(mesh.envoy)
    assert before["control_plane.connected_state"] == 1
    assert before["cluster.xds.upstream_cx_total"] == 1, before

    with ConnectionWatch(mesh.envoy) as watch:
        # Add an instance: Envoy has it within the bound, and it starts receiving traffic.
        mesh.config.add_instance("payments", Instance(spare.port, zone=mesh.zone))
        took = mesh.wait_hosts("payments", mesh.config.hostports("payments"))
        print(f"{mode}: added instance reached Envoy after {took:.3f}s")
        assert took <= RELOAD_BOUND, f"added instance reached Envoy after {took:.2f}s"
        traffic_until(mesh, spare)

        # Remove one: Envoy drops it within the bound, and it gets no more traffic.
        gone = mesh.payments[0]
        mesh.config.remove_instance("payments", gone.port)
        took = mesh.wait_hosts("payments", mesh.config.hostports("payments"))
        print(f"{mode}: removed instance left Envoy after {took:.3f}s")
        assert took <= RELOAD_BOUND, f"removed instance left Envoy after {took:.2f}s"
        hits_of_gone = gone.hit_count()
        answers = mesh.spread("payments", 40)
        assert gone.hit_count() == hits_of_gone, f"removed {gone.name} still gets traffic: {answers}"
        remaining = {b.name for b in mesh.payments[1:]} | {spare.name}
        assert set(answers) <= remaining, answers

    assert watch.samples > 10, "the connection watch took too few samples"
    assert watch.drops == [], f"Envoy's control-plane connection dropped at {watch.drops} s"
    # Same connection, same stream, never disconnected; nothing rejected on the way.
    assert stream_stats(mesh.envoy) == before
    assert mesh.envoy.rejected(mesh.envoy.stats()) == {}

"""A reconnect storm behind the admission gate: every deferred stream is served, in time, and an
established Envoy keeps getting catalog changes at its normal latency meanwhile."""

import time

from harness import adsclient as ads
from harness.config import ZONE
from harness.fleet import require_sextant
from harness.mesh import Mesh

RATE = 20          # --admission-rate: streams admitted per second (burst RATE / 2)
STORM = 60         # streams opened at once


def test_reconnect_storm_is_admitted_and_established_streams_keep_up(fleet, monkeypatch):
    require_sextant()
    monkeypatch.setenv("SEXTANT_EXTRA_ARGS", f"--admission-rate {RATE}")
    mesh = Mesh(fleet, payments=2)
    streams = [ads.ADSStream(mesh.sextant.xds_port, timeout=60) for _ in range(STORM)]
    try:
        started = time.monotonic()
        for i, stream in enumerate(streams):
            stream.send(ads.DiscoveryRequest(node=ads.node(f"storm-{i}", "frontend", ZONE), type_url=ads.CDS))
        # While the storm waits, the established Envoy still sees a change within the usual bound.
        _, took = mesh.add_unreachable_payments_instance()
        assert took < 2.0, f"an established stream took {took:.2f}s to get a change during the storm"
        bound = (STORM - RATE / 2) / RATE + 5
        for stream in streams:
            response = stream.recv(timeout=max(0.1, started + bound - time.monotonic()))
            assert response.type_url == ads.CDS and response.resources
        elapsed = time.monotonic() - started
        # Not faster than the gate allows: the burst, then RATE a second.
        assert elapsed >= (STORM - RATE / 2) / RATE * 0.8, f"{STORM} streams admitted in {elapsed:.2f}s"
    finally:
        for stream in streams:
            stream.close()
    assert mesh.sextant.alive()

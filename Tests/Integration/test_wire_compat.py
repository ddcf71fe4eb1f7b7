"""Sextant's bytes decode with the official xds-protos classes without a single unknown field.

A hand-built ADS client subscribes like Envoy does (wildcard CDS and LDS, then the named EDS
and RDS resources), ACKs every response, and checks versions, nonces and quiet after ACK.
"""

import queue

import pytest

from harness import adsclient as ads
from harness.adssession import Session
from harness.config import ZONE, Instance
from harness.fleet import require_sextant
from harness.util import free_port

QUIET = 1.0          # seconds without a response expected after the last ACK
SYNC_BOUND = 10.0    # seconds to receive all four types


@pytest.fixture
def served(fleet):
    require_sextant()
    config = fleet.config()
    config.write_service("frontend", free_port(), "http1",
                         [{"name": "payments", "protocol": "grpc", "timeout": "2s"}, "ledger"])
    config.write_service("payments", free_port(), "grpc", [])
    config.write_service("ledger", free_port(), "http1", [])
    config.catalog = {
        "frontend": [Instance(free_port())],
        "payments": [Instance(free_port(), zone=ZONE, weight=2),
                     Instance(free_port(), zone="zone-b", health="degraded"),
                     Instance(free_port(), zone=ZONE, health="draining")],
        "ledger": [Instance(free_port(), zone=ZONE), Instance(free_port(), zone=ZONE,
                                                               health="unhealthy")],
    }
    config.write_catalog()
    return fleet.sextant(config)


@pytest.mark.parametrize("mode", ["sotw", "delta"])
def test_every_resource_decodes_with_official_protos(served, mode):
    stream = ads.ADSStream(served.xds_port, delta=mode == "delta")
    try:
        session = Session(stream, delta=mode == "delta").sync(SYNC_BOUND)

        assert session.problems == [], "\n".join(session.problems)
        clusters, listeners = session.received[ads.CDS], session.received[ads.LDS]
        assert {"payments", "ledger", "passthrough", "inbound|frontend"} <= set(clusters), sorted(clusters)
        assert {"outbound", "inbound", "payments", "ledger"} <= set(listeners), sorted(listeners)
        assert listeners["payments"].HasField("api_listener"), "no API listener for xds:///payments"
        assert "outbound" in session.received[ads.RDS]
        assert {"payments", "ledger"} <= set(session.received[ads.EDS])
        if mode == "sotw":
            assert all(session.versions.get(t) for t in (ads.CDS, ads.LDS, ads.RDS, ads.EDS))

        # Everything is ACKed and nothing changed: the server must stay quiet.
        with pytest.raises(queue.Empty):
            extra = stream.recv(timeout=QUIET)
            pytest.fail(f"unexpected response after ACK: {extra.type_url} nonce {extra.nonce}")
        assert served.alive()
    finally:
        stream.close()

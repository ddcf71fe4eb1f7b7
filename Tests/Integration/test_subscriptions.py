"""The xDS subscription rules on the wire, with the official messages (grpcio + xds-protos).

- The legacy wildcard (a first request with no names) ends when the client names a resource;
  only "*" keeps it (SotW and delta).
- A name that exists nowhere is not sent (SotW) and is reported in removed_resources (delta).
"""

import contextlib
import queue

import pytest

from harness import adsclient as ads
from harness.config import ZONE, Instance
from harness.fleet import require_sextant
from harness.util import free_port

BOUND = 10.0


@pytest.fixture
def served(fleet):
    require_sextant()
    config = fleet.config()
    config.write_service("frontend", free_port(), "http1", ["payments", "ledger"])
    config.write_service("payments", free_port(), "http1", [])
    config.write_service("ledger", free_port(), "http1", [])
    config.catalog = {name: [Instance(free_port(), zone=ZONE)] for name in ("frontend", "payments", "ledger")}
    config.write_catalog()
    return fleet.sextant(config)


def names(response) -> set[str]:
    return {ads.unpack(r).name for r in response.resources} if hasattr(response, "version_info") else \
        {r.name for r in response.resources}


def quiet(stream, seconds: float = 1.0) -> None:
    with pytest.raises(queue.Empty):
        extra = stream.recv(timeout=seconds)
        pytest.fail(f"unexpected response: {extra.type_url} {names(extra)}")


@contextlib.contextmanager
def wildcard_stream(served, node_id: str, delta: bool = False):
    """A stream whose first request is a legacy-wildcard CDS request: yields (stream, response)."""
    stream = ads.ADSStream(served.xds_port, delta=delta)
    try:
        request = ads.DeltaDiscoveryRequest if delta else ads.DiscoveryRequest
        stream.send(request(node=ads.node(node_id, "frontend", ZONE), type_url=ads.CDS))
        everything = stream.recv(BOUND)
        assert {"payments", "ledger"} <= names(everything)
        yield stream, everything
    finally:
        stream.close()


def test_sotw_named_request_ends_the_legacy_wildcard(served):
    with wildcard_stream(served, "sub-0", delta=False) as (stream, everything):
        # ACK naming one cluster: the next full state holds only it.
        stream.send(ads.DiscoveryRequest(type_url=ads.CDS, resource_names=["payments"],
                                         response_nonce=everything.nonce, version_info=everything.version_info))
        # (Make before break: the upserts first, then the full state without the others.)
        for _ in range(3):
            response = stream.recv(BOUND)
            stream.send(ads.DiscoveryRequest(type_url=ads.CDS, resource_names=["payments"],
                                             response_nonce=response.nonce, version_info=response.version_info))
            if names(response) == {"payments"}:
                break
        else:
            pytest.fail(f"still sent {names(response)} after naming only payments")
        quiet(stream)
        # "*" beside the name brings the wildcard back.
        stream.send(ads.DiscoveryRequest(type_url=ads.CDS, resource_names=["*", "payments"],
                                         response_nonce=response.nonce, version_info=response.version_info))
        assert names(stream.recv(BOUND)) == names(everything)


def test_delta_subscribing_a_name_ends_the_legacy_wildcard(served):
    with wildcard_stream(served, "sub-1", delta=True) as (stream, everything):
        stream.send(ads.DeltaDiscoveryRequest(type_url=ads.CDS, response_nonce=everything.nonce,
                                              resource_names_subscribe=["payments"]))
        named = stream.recv(BOUND)   # a newly named resource is always answered
        assert names(named) == {"payments"} and not named.removed_resources
        stream.send(ads.DeltaDiscoveryRequest(type_url=ads.CDS, response_nonce=named.nonce))
        quiet(stream)
        # Unsubscribing it leaves the client with nothing: were the wildcard still on, payments
        # would come straight back through it.
        stream.send(ads.DeltaDiscoveryRequest(type_url=ads.CDS, resource_names_unsubscribe=["payments"]))
        quiet(stream, 1.5)


def test_sotw_unknown_endpoint_name_is_not_answered(served):
    with wildcard_stream(served, "sub-2", delta=False) as (stream, cds):
        stream.send(ads.DiscoveryRequest(type_url=ads.CDS, response_nonce=cds.nonce, version_info=cds.version_info))
        stream.send(ads.DiscoveryRequest(type_url=ads.EDS, resource_names=["payments", "nowhere"]))
        eds = stream.recv(BOUND)
        assert eds.type_url == ads.EDS
        assert {ads.unpack(r).cluster_name for r in eds.resources} == {"payments"}
        stream.send(ads.DiscoveryRequest(type_url=ads.EDS, resource_names=["payments", "nowhere"],
                                         response_nonce=eds.nonce, version_info=eds.version_info))
        quiet(stream)


def test_delta_unknown_name_is_reported_removed(served):
    with wildcard_stream(served, "sub-3", delta=True) as (stream, cds):
        stream.send(ads.DeltaDiscoveryRequest(type_url=ads.CDS, response_nonce=cds.nonce))
        stream.send(ads.DeltaDiscoveryRequest(type_url=ads.EDS, resource_names_subscribe=["payments", "nowhere"]))
        eds = stream.recv(BOUND)
        assert eds.type_url == ads.EDS
        assert {r.name for r in eds.resources} == {"payments"}
        assert list(eds.removed_resources) == ["nowhere"]
        stream.send(ads.DeltaDiscoveryRequest(type_url=ads.EDS, response_nonce=eds.nonce))
        quiet(stream)

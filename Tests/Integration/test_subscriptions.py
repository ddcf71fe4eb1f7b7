"""The xDS subscription rules on the wire, with the official messages (grpcio + xds-protos).

- The legacy wildcard (a first request with no names) ends when the client names a resource;
  only "*" keeps it (SotW and delta).
- A name that exists nowhere is not sent (SotW) and is reported in removed_resources (delta).
"""

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


def test_sotw_named_request_ends_the_legacy_wildcard(served):
    stream = ads.ADSStream(served.xds_port)
    try:
        node = ads.node("sub-0", "frontend", ZONE)
        stream.send(ads.DiscoveryRequest(node=node, type_url=ads.CDS))
        everything = stream.recv(BOUND)
        assert {"payments", "ledger"} <= names(everything)
        # ACK naming one cluster: the next full state holds only it.
        stream.send(ads.DiscoveryRequest(type_url=ads.CDS, resource_names=["payments"],
                                         response_nonce=everything.nonce, version_info=everything.version_info))
        while True:
            response = stream.recv(BOUND)
            stream.send(ads.DiscoveryRequest(type_url=ads.CDS, resource_names=["payments"],
                                             response_nonce=response.nonce, version_info=response.version_info))
            if names(response) == {"payments"}:
                break
            assert len(names(response)) < len(names(everything)) or "payments" in names(response)
        quiet(stream)
        # "*" beside the name brings the wildcard back.
        stream.send(ads.DiscoveryRequest(type_url=ads.CDS, resource_names=["*", "payments"],
                                         response_nonce=response.nonce, version_info=response.version_info))
        assert names(stream.recv(BOUND)) == names(everything)
    finally:
        stream.close()


def test_delta_subscribing_a_name_ends_the_legacy_wildcard(served):
    stream = ads.ADSStream(served.xds_port, delta=True)
    try:
        node = ads.node("sub-1", "frontend", ZONE)
        stream.send(ads.DeltaDiscoveryRequest(node=node, type_url=ads.CDS))
        everything = stream.recv(BOUND)
        assert {"payments", "ledger"} <= names(everything)
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
    finally:
        stream.close()


def test_sotw_unknown_endpoint_name_is_not_answered(served):
    stream = ads.ADSStream(served.xds_port)
    try:
        node = ads.node("sub-2", "frontend", ZONE)
        stream.send(ads.DiscoveryRequest(node=node, type_url=ads.CDS))
        cds = stream.recv(BOUND)
        stream.send(ads.DiscoveryRequest(type_url=ads.CDS, response_nonce=cds.nonce, version_info=cds.version_info))
        stream.send(ads.DiscoveryRequest(type_url=ads.EDS, resource_names=["payments", "nowhere"]))
        eds = stream.recv(BOUND)
        assert eds.type_url == ads.EDS
        assert {ads.unpack(r).cluster_name for r in eds.resources} == {"payments"}
        stream.send(ads.DiscoveryRequest(type_url=ads.EDS, resource_names=["payments", "nowhere"],
                                         response_nonce=eds.nonce, version_info=eds.version_info))
        quiet(stream)
    finally:
        stream.close()


def test_delta_unknown_name_is_reported_removed(served):
    stream = ads.ADSStream(served.xds_port, delta=True)
    try:
        node = ads.node("sub-3", "frontend", ZONE)
        stream.send(ads.DeltaDiscoveryRequest(node=node, type_url=ads.CDS))
        cds = stream.recv(BOUND)
        stream.send(ads.DeltaDiscoveryRequest(type_url=ads.CDS, response_nonce=cds.nonce))
        stream.send(ads.DeltaDiscoveryRequest(type_url=ads.EDS, resource_names_subscribe=["payments", "nowhere"]))
        eds = stream.recv(BOUND)
        assert eds.type_url == ads.EDS
        assert {r.name for r in eds.resources} == {"payments"}
        assert list(eds.removed_resources) == ["nowhere"]
        stream.send(ads.DeltaDiscoveryRequest(type_url=ads.EDS, response_nonce=eds.nonce))
        quiet(stream)
    finally:
        stream.close()

"""The per-type discovery services, and NACK containment, end to end on the official classes."""

import queue
import time

import pytest

from harness import adsclient as ads
from harness.config import ZONE, Instance
from harness.fleet import require_sextant
from harness.util import free_port

PER_TYPE = {
    ads.CDS: "/envoy.service.cluster.v3.ClusterDiscoveryService/StreamClusters",
    ads.EDS: "/envoy.service.endpoint.v3.EndpointDiscoveryService/StreamEndpoints",
    ads.LDS: "/envoy.service.listener.v3.ListenerDiscoveryService/StreamListeners",
    ads.RDS: "/envoy.service.route.v3.RouteDiscoveryService/StreamRoutes",
}
NAMES = {ads.CDS: [], ads.EDS: ["payments"], ads.LDS: [], ads.RDS: ["outbound"]}


@pytest.fixture
def served(fleet):
    require_sextant()
    config = fleet.config()
    config.write_service("frontend", free_port(), "http1", ["payments"])
    config.catalog = {"payments": [Instance(free_port(), zone=ZONE), Instance(free_port(), zone=ZONE)]}
    config.write_catalog()
    return fleet.sextant(config)


def first_request(type_url, names, nonce=""):
    return ads.DiscoveryRequest(node=ads.node("per-type-0", "frontend", ZONE), type_url=type_url,
                                resource_names=names, response_nonce=nonce)


@pytest.mark.parametrize("type_url", list(PER_TYPE), ids=["cds", "eds", "lds", "rds"])
def test_per_type_service_serves_its_type_only(served, type_url):
    stream = ads.ADSStream(served.xds_port, method=PER_TYPE[type_url], timeout=30)
    try:
        stream.send(first_request(type_url, NAMES[type_url]))
        response = stream.recv(timeout=10)
        assert response.type_url == type_url
        assert response.resources, "the first response carries the requested resources"
        for resource in response.resources:
            assert not ads.wire_problems(ads.unpack(resource))
        # Another type on this service is not served.
        other = ads.CDS if type_url != ads.CDS else ads.LDS
        stream.send(ads.DiscoveryRequest(type_url=other, resource_names=NAMES[other]))
        with pytest.raises(queue.Empty):
            stream.recv(timeout=1.0)
    finally:
        stream.close()


def test_nack_is_logged_with_the_reason_and_never_resent(served):
    stream = ads.ADSStream(served.xds_port, timeout=30)
    try:
        stream.send(first_request(ads.CDS, []))
        response = stream.recv(timeout=10)
        nack = ads.DiscoveryRequest(type_url=ads.CDS, response_nonce=response.nonce,
                                    version_info="")
        nack.error_detail.code = 3
        nack.error_detail.message = "cluster payments: rejected by test"
        stream.send(nack)
        with pytest.raises(queue.Empty):
            stream.recv(timeout=1.5)  # no resend loop
        deadline = time.monotonic() + 5
        while "rejected by test" not in served.log() and time.monotonic() < deadline:
            time.sleep(0.05)
        log = served.log()
        assert "nack" in log and "rejected by test" in log and response.version_info in log
        # The stream stays usable: other types are still served.
        stream.send(ads.DiscoveryRequest(type_url=ads.LDS))
        assert stream.recv(timeout=10).type_url == ads.LDS
    finally:
        stream.close()

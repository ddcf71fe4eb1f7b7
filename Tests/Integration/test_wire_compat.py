"""Sextant's bytes decode with the official xds-protos classes without a single unknown field.

A hand-built ADS client subscribes like Envoy does (wildcard CDS and LDS, then the named EDS
and RDS resources), ACKs every response, and checks versions, nonces and quiet after ACK.
"""

import queue
import time

import pytest

from harness import adsclient as ads
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


def resource_names(type_url: str, decoded: list) -> tuple[set[str], set[str]]:
    """(EDS cluster names, RDS route names) that the decoded CDS/LDS resources refer to."""
    eds, rds = set(), set()
    for resource in decoded:
        if type_url == ads.CDS and resource.type == resource.EDS:
            eds.add(resource.eds_cluster_config.service_name or resource.name)
        if type_url == ads.LDS:
            filters = [f for chain in resource.filter_chains for f in chain.filters]
            hcms = [ads.unpack(f.typed_config) for f in filters if f.typed_config.type_url == ads.HCM]
            if resource.HasField("api_listener"):
                hcms.append(ads.unpack(resource.api_listener.api_listener))
            rds |= {h.rds.route_config_name for h in hcms if h.HasField("rds")}
    return eds, rds


def name_of(resource) -> str:
    return resource.cluster_name if resource.DESCRIPTOR.name == "ClusterLoadAssignment" else resource.name


class Session:
    """Drives one stream like Envoy: ACK everything, follow CDS->EDS and LDS->RDS names."""

    def __init__(self, stream: ads.ADSStream, delta: bool):
        self.stream, self.delta = stream, delta
        self.node = ads.node("wire-test-0", "frontend", ZONE)
        self.first = True
        self.received: dict[str, dict[str, object]] = {}   # type -> name -> decoded resource
        self.subscribed: dict[str, set[str]] = {ads.EDS: set(), ads.RDS: set()}
        self.nonces: list[str] = []
        self.problems: list[str] = []
        self.versions: dict[str, str] = {}
        self.last_nonce: dict[str, str] = {}

    def _request(self, type_url, names=(), nonce="", version="", subscribe=()):
        node = self.node if self.first else None
        self.first = False
        if self.delta:
            return ads.DeltaDiscoveryRequest(node=node, type_url=type_url, response_nonce=nonce,
                                             resource_names_subscribe=list(subscribe))
        return ads.DiscoveryRequest(node=node, type_url=type_url, resource_names=sorted(names),
                                    response_nonce=nonce, version_info=version)

    def start(self):
        for type_url in (ads.CDS, ads.LDS):
            self.stream.send(self._request(type_url))   # wildcard

    def handle(self, response) -> None:
        self.problems += ads.wire_problems(response)
        assert response.nonce, f"empty nonce on {response.type_url}"
        assert response.nonce not in self.nonces, f"nonce {response.nonce!r} reused"
        self.nonces.append(response.nonce)
        type_url = response.type_url
        held = self.received.setdefault(type_url, {})
        if self.delta:
            for resource in response.resources:
                assert resource.name and resource.version, f"delta resource without name/version: {resource.name!r}"
                assert resource.resource.type_url == type_url, resource.resource.type_url
                decoded = ads.unpack(resource.resource)
                assert name_of(decoded) == resource.name
                held[resource.name] = decoded
            for name in response.removed_resources:
                held.pop(name, None)
            self.stream.send(self._request(type_url, nonce=response.nonce))
        else:
            assert response.version_info, f"empty version_info on {type_url}"
            decoded = []
            for any_resource in response.resources:
                assert any_resource.type_url == type_url, any_resource.type_url
                decoded.append(ads.unpack(any_resource))
            names = [name_of(d) for d in decoded]
            assert len(names) == len(set(names)), f"duplicate names in {type_url}: {names}"
            if type_url in (ads.CDS, ads.LDS):
                held.clear()
            held.update({name_of(d): d for d in decoded})
            self.versions[type_url] = response.version_info
            self.last_nonce[type_url] = response.nonce
            ack_names = self.subscribed.get(type_url, ())
            self.stream.send(self._request(type_url, ack_names, response.nonce, response.version_info))
        self.follow(type_url)

    def follow(self, type_url):
        """Subscribe to the EDS/RDS names that CDS/LDS refer to (like Envoy's cluster/listener init)."""
        if type_url not in (ads.CDS, ads.LDS):
            return
        eds, rds = resource_names(type_url, self.received[type_url].values())
        child, wanted = (ads.EDS, eds) if type_url == ads.CDS else (ads.RDS, rds)
        if wanted and wanted != self.subscribed[child]:
            new = wanted - self.subscribed[child]
            self.subscribed[child] = set(wanted)
            if self.delta:
                self.stream.send(self._request(child, subscribe=sorted(new)))
            else:
                self.stream.send(self._request(child, wanted, self.last_nonce.get(child, ""),
                                               self.versions.get(child, "")))

    def complete(self) -> bool:
        if not (ads.CDS in self.received and ads.LDS in self.received):
            return False
        return all(self.subscribed[t] and self.subscribed[t] <= set(self.received.get(t, {}))
                   for t in (ads.EDS, ads.RDS))


@pytest.mark.parametrize("mode", ["sotw", "delta"])
def test_every_resource_decodes_with_official_protos(served, mode):
    stream = ads.ADSStream(served.xds_port, delta=mode == "delta")
    try:
        session = Session(stream, delta=mode == "delta")
        session.start()
        deadline = time.monotonic() + SYNC_BOUND
        for _ in range(200):
            if session.complete():
                break
            remaining = deadline - time.monotonic()
            assert remaining > 0, (f"incomplete after {SYNC_BOUND}s: got {sorted(session.received)}, "
                                   f"subscribed {session.subscribed}")
            try:
                session.handle(stream.recv(timeout=remaining))
            except queue.Empty:
                continue
        assert session.complete()

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

"""An ADS session driven like Envoy: wildcard CDS and LDS, then the EDS and RDS names they refer to.

Every response is ACKed; decoded resources (official xds-protos classes) and their raw bytes
and versions are kept per type, so tests can check the wire and compare servers byte for byte.
"""

import queue
import time

from . import adsclient as ads
from .config import ZONE


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

    def __init__(self, stream: ads.ADSStream, delta: bool, node_id: str = "wire-test-0",
                 cluster: str = "frontend", zone: str = ZONE):
        self.stream, self.delta = stream, delta
        self.node = ads.node(node_id, cluster, zone)
        self.first = True
        self.received: dict[str, dict[str, object]] = {}   # type -> name -> decoded resource
        self.subscribed: dict[str, set[str]] = {ads.EDS: set(), ads.RDS: set()}
        self.nonces: list[str] = []
        self.problems: list[str] = []
        self.versions: dict[str, str] = {}
        self.last_nonce: dict[str, str] = {}
        self.raw: dict[str, dict[str, tuple[str, bytes]]] = {}   # type -> name -> (version, bytes)

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
                self.raw.setdefault(type_url, {})[resource.name] = (resource.version, resource.resource.value)
            for name in response.removed_resources:
                held.pop(name, None)
                self.raw.get(type_url, {}).pop(name, None)
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
                self.raw[type_url] = {}
            held.update({name_of(d): d for d in decoded})
            self.raw.setdefault(type_url, {}).update(
                {name_of(d): (response.version_info, a.value) for d, a in zip(decoded, response.resources)})
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

    def sync(self, bound: float) -> "Session":
        """Start, and handle responses until complete (at most `bound` seconds)."""
        self.start()
        deadline = time.monotonic() + bound
        for _ in range(200):
            if self.complete():
                return self
            remaining = deadline - time.monotonic()
            assert remaining > 0, (f"incomplete after {bound}s: got {sorted(self.received)}, "
                                   f"subscribed {self.subscribed}")
            try:
                self.handle(self.stream.recv(timeout=remaining))
            except queue.Empty:
                continue
        assert self.complete()
        return self

"""The Consul simulator's state store: nodes, services and checks with Consul's index bookkeeping.

`State` answers the reads (`/v1/catalog/services`, `/v1/health/service/<name>`, the check table)
and applies the writes, moving the raft-like index and the per-table and per-service indexes the
way Consul's state store does (see README.md). Also the constants and parsers the HTTP side shares.
"""

from __future__ import annotations

import random
import re
import threading

MAX_QUERY_TIME = 600.0       # agent `max_query_time`
DEFAULT_QUERY_TIME = 300.0   # agent `default_query_time`
JITTER_FRACTION = 16         # structs.JitterFraction
CONN_LIMIT_TEXT = b"Your IP is issuing too many concurrent connections, please rate limit your calls\n"
FAULT_KINDS = {"500", "hang", "drop", "malformed", "empty-services", "empty-instances",
               "index-backwards", "index-zero", "slow", "403", "429"}
# Faults that refuse a request rather than alter its answer: a failing server, ACL resolution,
# the RPC rate limiter and the network act before a blocking query starts waiting, so these also
# take effect when the request arrives (the others only when the answer is due).
REFUSALS = {"500", "403", "429", "drop", "hang"}

_DURATION_RE = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|ms|s|m|h)")
_UNITS = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}


def parse_go_duration(text: str) -> float:
    """Go's time.ParseDuration (seconds); raises ValueError like Go returns an error."""
    if text in ("0", "+0", "-0"):
        return 0.0
    sign = -1.0 if text.startswith("-") else 1.0
    body = text.lstrip("+-")
    if not body:
        raise ValueError(text)
    total, pos = 0.0, 0
    for match in _DURATION_RE.finditer(body):
        if match.start() != pos:
            raise ValueError(text)
        total += float(match.group(1)) * _UNITS[match.group(2)]
        pos = match.end()
    if pos != len(body):
        raise ValueError(text)
    return sign * total


def parse_bool(text: str) -> bool:
    """strconv.ParseBool."""
    if text in ("1", "t", "T", "TRUE", "true", "True"):
        return True
    if text in ("0", "f", "F", "FALSE", "false", "False"):
        return False
    raise ValueError(text)


class HTTPError(Exception):
    def __init__(self, status: int, body: str = ""):
        super().__init__(body)
        self.status, self.body = status, body


class _IndexedDict(dict):
    """A dict that keeps a secondary index in step: every write goes through `__setitem__`,
    `__delitem__` or `pop` (State never uses other mutators)."""

    def _index(self, key, value) -> None:
        raise NotImplementedError

    def _unindex(self, key, value) -> None:
        raise NotImplementedError

    def __setitem__(self, key, value):
        if key in self:
            self._unindex(key, dict.__getitem__(self, key))
        dict.__setitem__(self, key, value)
        self._index(key, value)

    def __delitem__(self, key):
        self._unindex(key, dict.__getitem__(self, key))
        dict.__delitem__(self, key)

    def pop(self, key, *default):
        if key in self:
            self._unindex(key, dict.__getitem__(self, key))
        return dict.pop(self, key, *default)


class _Services(_IndexedDict):
    """(node, service id) -> NodeService, with `by_name`: service name -> {(node, service id)}."""

    def __init__(self):
        super().__init__()
        self.by_name: dict[str, set] = {}

    def _index(self, key, value):
        self.by_name.setdefault(value["Service"], set()).add(key)

    def _unindex(self, key, value):
        keys = self.by_name.get(value["Service"], set())
        keys.discard(key)
        if not keys:
            self.by_name.pop(value["Service"], None)


class _Checks(_IndexedDict):
    """(node, check id) -> HealthCheck, with `by_owner`: (node, ServiceID) -> {check id: check};
    ServiceID "" holds the node-level checks."""

    def __init__(self):
        super().__init__()
        self.by_owner: dict[tuple, dict] = {}

    def _index(self, key, value):
        self.by_owner.setdefault((key[0], value["ServiceID"]), {})[key[1]] = value

    def _unindex(self, key, value):
        owner = (key[0], value["ServiceID"])
        checks = self.by_owner.get(owner, {})
        checks.pop(key[1], None)
        if not checks:
            self.by_owner.pop(owner, None)


class State:
    """Consul's state store, reduced to nodes, services and checks with its index bookkeeping."""

    def __init__(self, datacenter: str = "dc1"):
        self.datacenter = datacenter
        self.cond = threading.Condition()
        self.raft = 1                   # last raft index used
        self.nodes: dict[str, dict] = {}
        self.services = _Services()   # (node, service id) -> NodeService, indexed by name
        self.checks = _Checks()       # (node, check id) -> HealthCheck, indexed by owner
        self.table = {"nodes": 1, "services": 1, "checks": 1}
        self.service_index: dict[str, int] = {}           # "service.<name>" index entries
        self.extinction = 0                               # service_last_extinction
        self.index_shift = 0                              # >0 while an index-backwards fault is on
        self.abandon = 0                                  # bumps wake every blocking query

    # ----- writes (call with self.cond held) -----
    def _next(self) -> int:
        self.raft += 1
        return self.raft

    def _touch_service(self, name: str, idx: int) -> None:
        self.service_index[name] = idx

    def _touch_node(self, node: str, idx: int) -> None:
        """A node-level check changed: the health of every service on the node did."""
        for (n, _), s in self.services.items():
            if n == node:
                self._touch_service(s["Service"], idx)

    def ensure_node(self, name: str, address: str, meta: dict | None = None,
                    tagged: dict | None = None, locality: dict | None = None) -> None:
        existing = self.nodes.get(name)
        node = {"ID": existing["ID"] if existing else _uuid(name), "Node": name, "Address": address,
                "Datacenter": self.datacenter,
                "TaggedAddresses": tagged or {"lan": address, "lan_ipv4": address,
                                              "wan": address, "wan_ipv4": address},
                "Meta": meta if meta is not None else {"consul-network-segment": ""}}
        if locality:
            node["Locality"] = locality
        if existing and all(existing.get(k) == v for k, v in node.items()):
            return   # idempotent write: no index change
        idx = self._next()
        node["CreateIndex"] = existing["CreateIndex"] if existing else idx
        node["ModifyIndex"] = idx
        self.nodes[name] = node
        self.table["nodes"] = idx
        for (n, _), svc in self.services.items():   # updateAllServiceIndexesOfNode
            if n == name:
                self._touch_service(svc["Service"], idx)
        if not existing:
            self._ensure_check(name, {"CheckID": "serfHealth", "Name": "Serf Health Status",
                                      "Status": "passing", "Output": "Agent alive and reachable"})

    def ensure_service(self, node: str, body: dict) -> None:
        name = body.get("Service") or body.get("Name")
        if not name:
            raise HTTPError(400, "Missing service name")
        sid = body.get("ID") or name
        weights = body.get("Weights") or {}
        if not isinstance(weights, dict) or weights.get("Passing", 0) < 1:
            weights = {"Passing": 1, "Warning": 1}
        svc = {"ID": sid, "Service": name, "Tags": list(body.get("Tags") or []),
               "Address": body.get("Address") or "", "Meta": body.get("Meta"),
               "Port": int(body.get("Port") or 0),
               "Weights": {"Passing": int(weights.get("Passing", 1)),
                           "Warning": int(weights.get("Warning", 1))},
               "EnableTagOverride": bool(body.get("EnableTagOverride", False)),
               "Proxy": {"Mode": "", "MeshGateway": {}, "Expose": {}}, "Connect": {}, "PeerName": ""}
        if body.get("TaggedAddresses"):
            svc["TaggedAddresses"] = {k: {"Address": v.get("Address") or v.get("address", ""),
                                          "Port": int(v.get("Port") or v.get("port") or 0)}
                                      for k, v in body["TaggedAddresses"].items()}
        if body.get("Locality"):
            svc["Locality"] = body["Locality"]
        key = (node, sid)
        existing = self.services.get(key)
        if existing and all(existing.get(k) == v for k, v in svc.items()):
            return   # IsSameService: no-op
        idx = self._next()
        svc["CreateIndex"] = existing["CreateIndex"] if existing else idx
        svc["ModifyIndex"] = idx
        if existing and existing["Service"] != name:
            self._touch_service(existing["Service"], idx)
        self.services[key] = svc
        self.table["services"] = idx
        self._touch_service(name, idx)

    def _ensure_check(self, node: str, body: dict, service_id: str = "") -> None:
        cid = body.get("CheckID") or body.get("ID") or (f"service:{service_id}" if service_id else "")
        if not cid:
            raise HTTPError(400, "Missing check ID")
        status = body.get("Status") or "critical"
        if status not in ("passing", "warning", "critical"):
            raise HTTPError(400, f"Invalid check status: \"{status}\"")
        sid = body.get("ServiceID", service_id) or ""
        svc = self.services.get((node, sid)) if sid else None
        check = {"Node": node, "CheckID": cid, "Name": body.get("Name") or f"Service '{sid}' check",
                 "Status": status, "Notes": body.get("Notes", ""), "Output": body.get("Output", ""),
                 "ServiceID": sid, "ServiceName": svc["Service"] if svc else "",
                 "ServiceTags": list(svc["Tags"]) if svc else [], "Type": body.get("Type", ""),
                 "Interval": "", "Timeout": "", "ExposedPort": 0, "Definition": {}}
        key = (node, cid)
        existing = self.checks.get(key)
        if existing and all(existing.get(k) == v for k, v in check.items()):
            return   # IsSame: no-op
        idx = self._next()
        check["CreateIndex"] = existing["CreateIndex"] if existing else idx
        check["ModifyIndex"] = idx
        self.checks[key] = check
        self.table["checks"] = idx
        if svc:
            self._touch_service(svc["Service"], idx)
        elif not sid:
            self._touch_node(node, idx)

    def ensure_check(self, node: str, body: dict, service_id: str = "") -> None:
        self._ensure_check(node, body, service_id)

    def set_check_status(self, node: str, check_id: str, status: str, output: str = "") -> None:
        check = self.checks.get((node, check_id))
        if check is None:
            raise HTTPError(404, f"Unknown check ID \"{check_id}\". Ensure that the check ID is passed, not the check name.")
        body = {k: check[k] for k in ("CheckID", "Name", "Notes", "ServiceID", "Type")}
        body.update(Status=status, Output=output)
        self._ensure_check(node, body)

    def delete_service(self, node: str, sid: str) -> bool:
        svc = self.services.pop((node, sid), None)
        if svc is None:
            return False
        idx = self._next()
        self.table["services"] = idx
        for key in [k for k, c in self.checks.items() if k[0] == node and c["ServiceID"] == sid]:
            del self.checks[key]
            self.table["checks"] = idx
        name = svc["Service"]
        if any(s["Service"] == name for s in self.services.values()):
            self._touch_service(name, idx)
        else:
            self.service_index.pop(name, None)
            self.extinction = idx
        return True

    def delete_check(self, node: str, cid: str) -> bool:
        check = self.checks.pop((node, cid), None)
        if check is None:
            return False
        idx = self._next()
        self.table["checks"] = idx
        if check["ServiceID"] and check["ServiceName"] in self.service_index:
            self._touch_service(check["ServiceName"], idx)
        elif not check["ServiceID"]:
            self._touch_node(node, idx)
        return True

    def delete_node(self, node: str) -> bool:
        if node not in self.nodes:
            return False
        for (n, sid) in [k for k in self.services if k[0] == node]:
            self.delete_service(n, sid)
        for key in [k for k in self.checks if k[0] == node]:
            self.delete_check(*key)
        del self.nodes[node]
        self.table["nodes"] = self._next()
        return True

    # ----- reads (call with self.cond held) -----
    def services_index(self) -> int:
        return self.table["services"]

    def service_idx(self, name: str) -> int:
        if name in self.service_index:
            return self.service_index[name]
        if self.extinction:
            return self.extinction
        return max(self.table.values())

    def catalog_services(self, visible) -> dict:
        result: dict[str, set] = {}
        for svc in self.services.values():
            if visible(svc["Service"]):
                result.setdefault(svc["Service"], set()).update(svc["Tags"])
        tags = {}
        for name in sorted(result):
            t = list(result[name])
            random.shuffle(t)   # Go map iteration: order unspecified
            tags[name] = t
        return tags

    def health_service(self, name: str) -> list[dict]:
        """Instances by (node, service id); each with its node's checks and its own, by check id.

        From the indexes: a full scan and sort per read took ~1 s at 1,000 services x 20.
        """
        entries = []
        for node, sid in sorted(self.services.by_name.get(name, ())):
            owned = dict(self.checks.by_owner.get((node, ""), {}))
            owned.update(self.checks.by_owner.get((node, sid), {}))
            checks = [owned[cid] for cid in sorted(owned)]
            entries.append({"Node": self.nodes[node], "Service": _render_service(self.services[(node, sid)]),
                            "Checks": checks})
        return entries


def _render_service(svc: dict) -> dict:
    out = dict(svc)
    if out.get("Port", 0) == 0:
        out.pop("Port", None)   # `json:",omitempty"`
    return out


def _uuid(seed: str) -> str:
    rnd = random.Random(seed)
    h = "".join(rnd.choice("0123456789abcdef") for _ in range(32))
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"

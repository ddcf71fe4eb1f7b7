"""A Consul HTTP API simulator for tests, faithful to Consul's documented behaviour.

Reproduces (see README.md for the list, each with its test): the catalog and health read
endpoints with blocking queries, the raft-like index bookkeeping of Consul's state store,
the X-Consul-* headers as Go writes them on the wire, ACL tokens with Consul's
filtered-200 answers, the per-client-IP connection limit, agent/catalog writes, and fault
injection through a control API under /_sim/.

Run: python consul_sim.py --port 8500      Import: ConsulSim(port=0).start()
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import signal
import socket
import ssl
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

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


class Fault:
    def __init__(self, kind: str, service: str | None, until: float | None, delay: float,
                 count: int | None, endpoint: str | None):
        self.kind, self.service, self.until, self.delay = kind, service, until, delay
        self.count, self.endpoint = count, endpoint

    def active(self, now: float) -> bool:
        return (self.until is None or now < self.until) and (self.count is None or self.count > 0)

    def matches(self, endpoint: str, service: str | None) -> bool:
        if self.endpoint and self.endpoint != endpoint:
            return False
        if self.service is not None and self.service != service:
            return False
        if self.kind == "empty-services" and endpoint != "catalog-services":
            return False
        if self.kind == "empty-instances" and endpoint != "health-service":
            return False
        return True


class State:
    """Consul's state store, reduced to nodes, services and checks with its index bookkeeping."""

    def __init__(self, datacenter: str = "dc1"):
        self.datacenter = datacenter
        self.cond = threading.Condition()
        self.raft = 1                   # last raft index used
        self.nodes: dict[str, dict] = {}
        self.services: dict[tuple[str, str], dict] = {}   # (node, service id) -> NodeService
        self.checks: dict[tuple[str, str], dict] = {}     # (node, check id) -> HealthCheck
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
        entries = []
        for (node, sid) in sorted(self.services):
            svc = self.services[(node, sid)]
            if svc["Service"] != name:
                continue
            checks = [c for (n, _), c in sorted(self.checks.items())
                      if n == node and (c["ServiceID"] == "" or c["ServiceID"] == sid)]
            entries.append({"Node": self.nodes[node], "Service": _render_service(svc), "Checks": checks})
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


class ConsulSim:
    """One simulated Consul agent+server on 127.0.0.1. Thread-safe control methods."""

    def __init__(self, port: int = 0, datacenter: str = "dc1", node: str = "sim-agent",
                 max_conns_per_client: int = 200, acl_default_policy: str | None = None,
                 max_query_time: float = MAX_QUERY_TIME, default_query_time: float = DEFAULT_QUERY_TIME,
                 tls: tuple[str, str] | None = None):
        self.state = State(datacenter)
        # HTTPS (certificate file, key file), as an agent with `tls.https` and `ports.https` serves.
        self.tls_context: ssl.SSLContext | None = None
        if tls:
            self.tls_context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            self.tls_context.load_cert_chain(*tls)
        self.node = node
        self.max_conns = max_conns_per_client
        self.acl_default_policy = acl_default_policy   # None: ACLs disabled; "allow" | "deny"
        self.tokens: dict[str, dict] = {}              # secret -> {"services": [prefix...], "write": bool}
        self.max_query_time, self.default_query_time = max_query_time, default_query_time
        self.known_leader, self.last_contact_ms = True, 0
        self.faults: list[Fault] = []
        self.stats_lock = threading.Lock()
        self.requests: dict[str, int] = {}
        self.request_log: list[dict] = []
        self.conns: dict[str, int] = {}        # open connections by client IP (the limit counts these)
        self.client_conns = 0                  # open connections that carried Consul API requests
        self.max_conns_seen = 0                # most client_conns at once since the last reset
        self.refused = 0
        self._requested_port = port
        self.httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        with self.state.cond:
            self.state.ensure_node(node, "127.0.0.1")

    # ----- lifecycle -----
    def start(self) -> int:
        sim = self

        class Server(ThreadingHTTPServer):
            daemon_threads = True
            request_queue_size = 1024
            allow_reuse_address = True

            def get_request(self):
                request, address = super().get_request()
                if sim.tls_context is not None:   # the handshake runs in the handler thread, on first read
                    request = sim.tls_context.wrap_socket(request, server_side=True, do_handshake_on_connect=False)
                return request, address

            def process_request(self, request, client_address):
                ip = client_address[0]
                with sim.stats_lock:
                    current = sim.conns.get(ip, 0)
                    if current >= sim.max_conns:
                        sim.refused += 1
                        refuse = True
                    else:
                        refuse = False
                        sim.conns[ip] = current + 1
                if refuse:   # go-connlimit: 429 with its text, then close
                    try:
                        request.sendall(b"HTTP/1.1 429 Too Many Requests\r\nContent-Type: text/plain\r\n"
                                        b"Content-Length: %d\r\nConnection: close\r\n\r\n" % len(CONN_LIMIT_TEXT)
                                        + CONN_LIMIT_TEXT)
                    except OSError:
                        pass
                    self.shutdown_request(request)
                    return
                super().process_request(request, client_address)

            def close_request(self, request):
                super().close_request(request)

            def process_request_thread(self, request, client_address):
                try:
                    super().process_request_thread(request, client_address)
                finally:
                    with sim.stats_lock:
                        sim.conns[client_address[0]] -= 1

        self.httpd = Server(("127.0.0.1", self._requested_port), _handler(self))
        self._thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05},
                                        daemon=True)
        self._thread.start()
        threading.Thread(target=self._reaper, daemon=True).start()
        return self.port

    @property
    def port(self) -> int:
        return self.httpd.server_address[1]

    @property
    def url(self) -> str:
        return f"{'https' if self.tls_context else 'http'}://127.0.0.1:{self.port}"

    def stop(self) -> None:
        if self.httpd:
            with self.state.cond:
                self.state.abandon += 1
                self.faults.clear()
                self.state.cond.notify_all()
            self.httpd.shutdown()
            self.httpd.server_close()
            self.httpd = None

    def __enter__(self):
        self.start()
        return self

    def __exit__(self, *exc):
        self.stop()

    # ----- control API (also reachable over HTTP under /_sim/) -----
    def _write(self, fn, *args):
        with self.state.cond:
            result = fn(*args)
            self.state.cond.notify_all()
            return result

    def register(self, service: str, port: int, address: str = "", node: str | None = None,
                 node_address: str = "127.0.0.1", service_id: str | None = None, tags=(), meta=None,
                 node_meta=None, status: str | None = "passing", weights=None, tagged_addresses=None,
                 locality=None) -> str:
        """Catalog-register one instance (creating its node); returns the service ID."""
        sid = service_id or f"{service}-{port}"
        node = node or self.node
        body = {"Service": service, "ID": sid, "Port": port, "Address": address, "Tags": list(tags),
                "Meta": meta, "Weights": weights, "TaggedAddresses": tagged_addresses, "Locality": locality}

        def op():
            if node not in self.state.nodes or node_meta is not None:
                self.state.ensure_node(node, node_address, node_meta)
            self.state.ensure_service(node, body)
            if status is not None:
                self.state.ensure_check(node, {"CheckID": f"service:{sid}", "Status": status,
                                               "ServiceID": sid, "Type": "ttl"}, sid)
        self._write(op)
        return sid

    def deregister(self, service_id: str, node: str | None = None) -> bool:
        return self._write(self.state.delete_service, node or self.node, service_id)

    def set_check(self, service_id: str, status: str, node: str | None = None) -> None:
        self._write(self.state.set_check_status, node or self.node, f"service:{service_id}", status)

    def set_node_check(self, node: str, status: str) -> None:
        self._write(self.state.set_check_status, node, "serfHealth", status)

    def bulk(self, services: int, instances: int, prefix: str = "svc", base_port: int = 20000) -> None:
        """Register services x instances, spread over nodes of `instances` each, in one lock hold."""
        def op():
            for i in range(instances):
                node = f"node-{i}"
                self.state.ensure_node(node, f"10.0.{i // 250}.{i % 250 + 1}", {"zone": f"zone-{i % 3}"})
            for s in range(services):
                for i in range(instances):
                    node, sid = f"node-{i}", f"{prefix}-{s}-{i}"
                    self.state.ensure_service(node, {"Service": f"{prefix}-{s}", "ID": sid,
                                                     "Port": base_port + s})
                    self.state.ensure_check(node, {"CheckID": f"service:{sid}", "Status": "passing",
                                                   "ServiceID": sid}, sid)
        self._write(op)

    def add_token(self, secret: str, services=("",), write: bool = True) -> None:
        """A token that may read services whose name starts with any prefix in `services`."""
        self.tokens[secret] = {"services": list(services), "write": write}

    def set_leader(self, known: bool = True, last_contact_ms: int = 0) -> None:
        self.known_leader, self.last_contact_ms = known, last_contact_ms

    def fault(self, kind: str, service: str | None = None, duration: float | None = None,
              delay: float = 2.0, count: int | None = None, endpoint: str | None = None) -> None:
        if kind not in FAULT_KINDS:
            raise ValueError(f"unknown fault kind {kind!r}")
        with self.state.cond:
            until = time.monotonic() + duration if duration else None
            self.faults.append(Fault(kind, service, until, delay, count, endpoint))
            if kind == "index-backwards":   # a snapshot restore: indexes go back, blocked queries wake
                self.state.index_shift = max(1, self.state.raft - 1)
            if kind in ("empty-services", "empty-instances"):
                self._bump(service)   # the data "changed": as a real write, the index moves
            self.state.abandon += 1   # faults take effect on queries already blocked, too
            self.state.cond.notify_all()

    def _bump(self, service: str | None) -> None:
        st = self.state
        idx = st._next()
        st.table["services"] = idx
        for name in list(st.service_index):
            if service is None or name == service:
                st.service_index[name] = idx

    def clear_faults(self) -> None:
        with self.state.cond:
            if any(f.kind in ("empty-services", "empty-instances") for f in self.faults):
                self._bump(None)
            self.faults.clear()
            self.state.index_shift = 0
            self.state.abandon += 1
            self.state.cond.notify_all()

    def stats(self) -> dict:
        with self.stats_lock:
            return {"requests": dict(self.requests), "connections": dict(self.conns),
                    # connections used only for /_sim/ (the test's own) are not a Consul client's
                    "max_connections": self.max_conns_seen, "refused": self.refused,
                    "index": self.state.raft}

    def log(self) -> list[dict]:
        with self.stats_lock:
            return list(self.request_log)

    def reset_stats(self) -> None:
        with self.stats_lock:
            self.requests.clear()
            self.request_log.clear()
            self.refused = 0
            self.max_conns_seen = self.client_conns

    # ----- helpers used by the handler -----
    def count(self, key: str, entry: dict | None = None) -> None:
        """Counts a request under `key`; `entry` (reads only) goes to the request log."""
        with self.stats_lock:
            self.requests[key] = self.requests.get(key, 0) + 1
            if entry is not None and len(self.request_log) < 200_000:
                self.request_log.append(entry)

    def client_connection(self, delta: int) -> None:
        with self.stats_lock:
            self.client_conns += delta
            self.max_conns_seen = max(self.max_conns_seen, self.client_conns)

    def _prune_locked(self) -> None:
        """Drops expired faults; their end is a change blocked queries must see."""
        now = time.monotonic()
        expired = [f for f in self.faults if not f.active(now)]
        if not expired:
            return
        self.faults = [f for f in self.faults if f.active(now)]
        if any(f.kind in ("empty-services", "empty-instances") for f in expired):
            self._bump(None)
        if not any(f.kind == "index-backwards" for f in self.faults):
            self.state.index_shift = 0
        self.state.abandon += 1
        self.state.cond.notify_all()

    def _reaper(self) -> None:
        while self.httpd is not None:
            with self.state.cond:
                self._prune_locked()
            time.sleep(0.05)

    def active_fault(self, endpoint: str, service: str | None, only: set | None = None) -> Fault | None:
        """The first active fault matching the request, if its kind is in `only` (default: any)."""
        with self.state.cond:
            self._prune_locked()
            for f in self.faults:
                if f.kind != "index-backwards" and f.matches(endpoint, service):
                    if only is not None and f.kind not in only:
                        return None
                    if f.count is not None:
                        f.count -= 1
                    return f
        return None

    def hang_until(self, fault: Fault) -> None:
        """Holds the request while the fault stays active (or the server stops)."""
        deadline = fault.until or (time.monotonic() + 3600)
        with self.state.cond:
            while fault in self.faults and time.monotonic() < deadline and self.httpd:
                self.state.cond.wait(min(0.1, max(0.0, deadline - time.monotonic())))

    def token_of(self, handler, query: dict) -> str:
        if "token" in query:
            return query["token"][-1]
        header = handler.headers.get("X-Consul-Token")
        if header:
            return header
        auth = handler.headers.get("Authorization", "")
        if auth.startswith("Bearer "):
            return auth[len("Bearer "):].strip()
        return ""

    def reader(self, token: str):
        """(visible(service) predicate, filtered-header-eligible) or HTTPError 403."""
        if self.acl_default_policy is None:
            return (lambda name: True), False
        if token == "":
            allow = self.acl_default_policy == "allow"
            return (lambda name: allow), False
        rules = self.tokens.get(token)
        if rules is None:
            raise HTTPError(403, "ACL not found")
        prefixes = rules["services"]
        return (lambda name: any(name.startswith(p) for p in prefixes)), True

    def writer(self, token: str) -> None:
        if self.acl_default_policy is None or (token == "" and self.acl_default_policy == "allow"):
            return
        rules = self.tokens.get(token)
        if token and rules is None:
            raise HTTPError(403, "ACL not found")
        if not rules or not rules["write"]:
            raise HTTPError(403, "Permission denied")


def _handler(sim: ConsulSim):
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        server_version = "Consul"

        def log_message(self, *args):
            pass

        def setup(self):
            super().setup()
            self.consul_client = False   # set by the first Consul API request on this connection

        def finish(self):
            try:
                super().finish()
            finally:
                if self.consul_client:
                    sim.client_connection(-1)

        # ---------- plumbing ----------
        def _send(self, status: int, body: bytes, headers: dict | None = None,
                  content_type: str = "application/json") -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Vary", "Accept-Encoding")
            if sim.acl_default_policy:
                self.send_header("X-Consul-Default-Acl-Policy", sim.acl_default_policy)
            for k, v in (headers or {}).items():
                self.send_header(k, v)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def _json(self, obj, headers=None):
            self._send(200, json.dumps(obj).encode(), headers)

        def _error(self, err: HTTPError):
            self._send(err.status, err.body.encode(), content_type="text/plain; charset=utf-8")

        def _drop(self):
            self.close_connection = True
            try:
                self.connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

        def _body(self) -> bytes:
            length = int(self.headers.get("Content-Length") or 0)
            return self.rfile.read(length) if length else b""

        def _json_body(self) -> dict:
            raw = self.raw_body
            if not raw:
                return {}
            try:
                return json.loads(raw)
            except ValueError:
                raise HTTPError(400, "Request decode failed: invalid JSON")

        def do_GET(self):
            self._dispatch("GET")

        def do_PUT(self):
            self._dispatch("PUT")

        def do_POST(self):
            self._dispatch("POST")

        def do_DELETE(self):
            self._dispatch("DELETE")

        def _dispatch(self, method: str):
            # Read every body, even one this method ignores: left unread on a keep-alive
            # connection, it would be parsed as the start of the next request.
            self.raw_body = self._body()
            parsed = urllib.parse.urlsplit(self.path)
            query = urllib.parse.parse_qs(parsed.query, keep_blank_values=True)
            path = parsed.path
            if not path.startswith("/_sim/") and not self.consul_client:
                self.consul_client = True
                sim.client_connection(+1)
            try:
                if path.startswith("/_sim/"):
                    return self._control(method, path, query)
                if path == "/v1/catalog/services":
                    return self._read(method, "catalog-services", None, query)
                if path.startswith("/v1/health/service/"):
                    name = urllib.parse.unquote(path[len("/v1/health/service/"):])
                    return self._read(method, "health-service", name, query)
                if path.startswith("/v1/health/state/"):
                    state = urllib.parse.unquote(path[len("/v1/health/state/"):])
                    if state not in ("any", "passing", "warning", "critical"):
                        raise HTTPError(400, "Bad check state")
                    return self._read(method, "health-state", None, query, state)
                if path == "/v1/status/leader":
                    sim.count("status-leader")
                    return self._json("127.0.0.1:8300" if sim.known_leader else "")
                sim.count("write")
                if method != "PUT":
                    if path.startswith(("/v1/agent/", "/v1/catalog/")):
                        self.send_response(405)
                        self.send_header("Allow", "PUT")
                        self.send_header("Content-Length", "0")
                        self.end_headers()
                        return
                    raise HTTPError(404, "")
                sim.writer(sim.token_of(self, query))
                return self._write(path, query)
            except HTTPError as err:
                self._error(err)
            except (BrokenPipeError, ConnectionResetError):
                self.close_connection = True

        # ---------- reads ----------
        def _read(self, method: str, endpoint: str, service: str | None, query: dict, check_state: str = ""):
            log = {"endpoint": endpoint, "service": service, "query": {k: v[-1] for k, v in query.items()},
                   "t": time.monotonic(), "token": sim.token_of(self, query)}
            sim.count(endpoint, log)
            if service is not None:
                sim.count(f"health-service/{service}")
            if method != "GET":
                self.send_response(405)
                self.send_header("Allow", "GET")
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            if not service and endpoint == "health-service":
                raise HTTPError(400, "Missing service name")
            index, wait = self._blocking_params(query)
            stale, consistency = self._consistency(query)
            if query.get("ns", [""])[-1]:
                raise HTTPError(400, 'Invalid query parameter: "ns" - Namespaces are a Consul Enterprise feature')
            dc = query.get("dc", [sim.state.datacenter])[-1] or sim.state.datacenter
            if dc != sim.state.datacenter:
                raise HTTPError(500, "No path to datacenter")
            passing = False
            if "passing" in query:
                value = query["passing"][-1]
                try:
                    passing = True if value == "" else parse_bool(value)
                except ValueError:
                    raise HTTPError(400, "Invalid value for ?passing")
            tags = [t.lower() for t in query.get("tag", [])]
            node_meta = [m.split(":", 1) + [""] for m in query.get("node-meta", [])]
            visible, may_flag = sim.reader(sim.token_of(self, query))
            if not sim.known_leader and not stale:
                raise HTTPError(500, "No cluster leader")
            refusal = sim.active_fault(endpoint, service, only=REFUSALS)
            if refusal is not None:
                return self._refuse(refusal)

            st = sim.state

            def current():
                if endpoint == "catalog-services":
                    return st.services_index(), None
                if endpoint == "health-state":
                    return st.table["checks"], None
                return st.service_idx(service), None

            with st.cond:
                shift = st.index_shift
                real_index, _ = current()
                if index > 0:
                    timeout = wait
                    if timeout > sim.max_query_time:
                        timeout = sim.max_query_time
                    elif timeout <= 0:
                        timeout = sim.default_query_time
                    timeout += random.uniform(0, timeout / JITTER_FRACTION)
                    deadline = time.monotonic() + timeout
                    abandon = st.abandon
                    while real_index - shift <= index and st.abandon == abandon:
                        remaining = deadline - time.monotonic()
                        if remaining <= 0 or sim.httpd is None:
                            break
                        st.cond.wait(remaining)
                        real_index, _ = current()
                    shift = st.index_shift
                if endpoint == "catalog-services":
                    body = st.catalog_services(visible)
                    full = st.catalog_services(lambda n: True)
                    filtered = len(body) != len(full)
                elif endpoint == "health-state":
                    every = [c for _, c in sorted(st.checks.items())
                             if check_state == "any" or c["Status"] == check_state]
                    body = [c for c in every if not c["ServiceName"] or visible(c["ServiceName"])]
                    filtered = len(body) != len(every)
                else:
                    entries = st.health_service(service)
                    filtered = False
                    if not visible(service):
                        filtered = bool(entries)
                        entries = []
                    body = [e for e in entries if _entry_matches(e, passing, tags, node_meta)]
            # Every fault also applies when the answer is due (after blocking), so faults added
            # while a query waits reach it too.
            fault = sim.active_fault(endpoint, service)
            if fault is not None:
                if fault.kind in REFUSALS:
                    return self._refuse(fault)
                if fault.kind == "slow":
                    time.sleep(fault.delay)

            reported = max(1, real_index - shift)
            if fault is not None and fault.kind == "index-zero":
                reported = 0   # what some old Consul versions sent
            if fault is not None:
                if fault.kind == "malformed":
                    return self._send(200, b'{"not": json', self._meta(reported, consistency))
                if fault.kind == "empty-services":
                    body = {}
                if fault.kind == "empty-instances":
                    body = []
            headers = self._meta(reported, consistency)
            if filtered and may_flag:
                headers["X-Consul-Results-Filtered-By-Acls"] = "true"
            if "pretty" in query:
                return self._send(200, json.dumps(body, indent=4).encode(), headers)
            self._json(body, headers)

        def _refuse(self, fault: Fault) -> None:
            if fault.kind == "drop":
                return self._drop()
            if fault.kind == "hang":
                sim.hang_until(fault)
                return self._drop()
            if fault.kind == "500":
                raise HTTPError(500, "rpc error making call: simulated failure")
            if fault.kind == "403":
                raise HTTPError(403, "Permission denied")
            raise HTTPError(429, "rate limit exceeded, try a different server")

        def _meta(self, index: int, consistency: str) -> dict:
            return {"X-Consul-Effective-Consistency": consistency, "X-Consul-Index": str(index),
                    "X-Consul-Knownleader": "true" if sim.known_leader else "false",
                    "X-Consul-Lastcontact": str(sim.last_contact_ms if consistency == "stale" else 0)}

        def _blocking_params(self, query: dict) -> tuple[int, float]:
            index, wait = 0, 0.0
            if "wait" in query:
                try:
                    wait = parse_go_duration(query["wait"][-1])
                except ValueError:
                    raise HTTPError(400, "Invalid wait time")
            if "index" in query:
                try:
                    index = int(query["index"][-1])
                    if index < 0 or index >= 1 << 64:
                        raise ValueError
                except ValueError:
                    raise HTTPError(400, "Invalid index")
            return index, wait

        def _consistency(self, query: dict) -> tuple[bool, str]:
            stale = "stale" in query or "max_stale" in query
            if stale and "consistent" in query:
                raise HTTPError(400, "Cannot specify ?stale with ?consistent, conflicting semantics.")
            if "cached" in query and "consistent" in query:
                raise HTTPError(400, "Cannot specify ?cached with ?consistent, conflicting semantics.")
            if stale:
                return True, "stale"
            if "consistent" in query:
                return False, "consistent"
            return False, "leader"

        # ---------- writes ----------
        def _write(self, path: str, query: dict):
            body = self._json_body()
            if path == "/v1/agent/service/register":
                body = _normalise_keys(body)
                sid = body.get("ID") or body.get("Name")
                checks = list(body.get("Checks") or []) + ([body["Check"]] if body.get("Check") else [])

                def op():
                    sim.state.ensure_service(sim.node, body)
                    for i, check in enumerate(checks):
                        c = dict(check)
                        c.setdefault("CheckID", f"service:{sid}" if len(checks) == 1 else f"service:{sid}:{i + 1}")
                        c["ServiceID"] = sid
                        sim.state.ensure_check(sim.node, c, sid)
                sim._write(op)
                return self._send(200, b"")
            if path.startswith("/v1/agent/service/deregister/"):
                sid = urllib.parse.unquote(path.rsplit("/", 1)[1])
                if not sim._write(sim.state.delete_service, sim.node, sid):
                    raise HTTPError(404, f'Unknown service ID "{sid}". Ensure that the service ID is passed, not the service name.')
                return self._send(200, b"")
            m = re.fullmatch(r"/v1/agent/check/(pass|warn|fail)/(.+)", path)
            if m:
                status = {"pass": "passing", "warn": "warning", "fail": "critical"}[m.group(1)]
                sim._write(sim.state.set_check_status, sim.node, urllib.parse.unquote(m.group(2)), status,
                           query.get("note", [""])[-1])
                return self._send(200, b"")
            if path.startswith("/v1/agent/check/update/"):
                cid = urllib.parse.unquote(path.rsplit("/", 1)[1])
                sim._write(sim.state.set_check_status, sim.node, cid, body.get("Status", ""), body.get("Output", ""))
                return self._send(200, b"")
            if path == "/v1/catalog/register":
                node = body.get("Node")
                if not node or not body.get("Address"):
                    raise HTTPError(400, "Must provide node and address")

                def op():
                    if not body.get("SkipNodeUpdate") or node not in sim.state.nodes:
                        sim.state.ensure_node(node, body["Address"], body.get("NodeMeta"),
                                              body.get("TaggedAddresses"), body.get("Locality"))
                    svc = body.get("Service")
                    if svc:
                        sim.state.ensure_service(node, svc)
                    checks = list(body.get("Checks") or []) + ([body["Check"]] if body.get("Check") else [])
                    for check in checks:
                        sim.state.ensure_check(node, check, check.get("ServiceID", ""))
                sim._write(op)
                return self._json(True)
            if path == "/v1/catalog/deregister":
                node = body.get("Node")
                if not node:
                    raise HTTPError(400, "Missing node name")
                if body.get("ServiceID"):
                    sim._write(sim.state.delete_service, node, body["ServiceID"])
                elif body.get("CheckID"):
                    sim._write(sim.state.delete_check, node, body["CheckID"])
                else:
                    sim._write(sim.state.delete_node, node)
                return self._json(True)
            raise HTTPError(404, "")

        # ---------- control ----------
        def _control(self, method: str, path: str, query: dict):
            if path == "/_sim/stats" and method == "GET":
                return self._json(sim.stats())
            if path == "/_sim/log" and method == "GET":
                return self._json(sim.log())
            if path == "/_sim/stats/reset" and method == "POST":
                sim.reset_stats()
                return self._json(True)
            if path == "/_sim/fault" and method == "POST":
                b = self._json_body()
                try:
                    sim.fault(b.get("kind", ""), b.get("service"), b.get("duration"), b.get("delay", 2.0),
                              b.get("count"), b.get("endpoint"))
                except ValueError as err:
                    raise HTTPError(400, str(err))
                return self._json(True)
            if path == "/_sim/fault" and method == "DELETE":
                sim.clear_faults()
                return self._json(True)
            if path == "/_sim/register" and method == "POST":
                b = self._json_body()
                return self._json(sim.register(**b))
            if path == "/_sim/deregister" and method == "POST":
                b = self._json_body()
                return self._json(sim.deregister(**b))
            if path == "/_sim/check" and method == "POST":
                b = self._json_body()
                sim.set_check(**b)
                return self._json(True)
            if path == "/_sim/bulk" and method == "POST":
                sim.bulk(**self._json_body())
                return self._json(True)
            if path == "/_sim/leader" and method == "POST":
                b = self._json_body()
                sim.set_leader(b.get("known", True), b.get("last_contact_ms", 0))
                return self._json(True)
            raise HTTPError(404, "")

    return Handler


def _entry_matches(entry: dict, passing: bool, tags: list[str], node_meta: list) -> bool:
    if passing and any(c["Status"] != "passing" for c in entry["Checks"]):
        return False
    have = {t.lower() for t in entry["Service"]["Tags"]}
    if any(t not in have for t in tags):
        return False
    meta = entry["Node"].get("Meta") or {}
    return all(meta.get(k) == v for k, v, *_ in node_meta)


def _normalise_keys(body: dict) -> dict:
    """The agent accepts snake_case as well as CamelCase."""
    mapping = {"name": "Name", "id": "ID", "tags": "Tags", "address": "Address", "port": "Port",
               "meta": "Meta", "check": "Check", "checks": "Checks", "weights": "Weights",
               "tagged_addresses": "TaggedAddresses", "locality": "Locality",
               "enable_tag_override": "EnableTagOverride"}
    out = {mapping.get(k, k): v for k, v in body.items()}
    out.setdefault("Service", out.get("Name"))
    return out


def _exit_with_parent() -> None:
    """A crashed or killed test run must not leave its simulator behind."""
    parent = os.getppid()
    while os.getppid() == parent:
        time.sleep(0.5)
    os._exit(0)


def main() -> None:
    # A child of a Swift test process inherits the signal mask of the thread that spawned it,
    # where SIGTERM is blocked: without this, SIGTERM would not stop the simulator.
    signal.pthread_sigmask(signal.SIG_SETMASK, [])
    threading.Thread(target=_exit_with_parent, daemon=True).start()
    parser = argparse.ArgumentParser(description="Consul HTTP API simulator")
    parser.add_argument("--port", type=int, default=8500)
    parser.add_argument("--max-conns-per-client", type=int, default=200)
    parser.add_argument("--acl-default-policy", choices=["allow", "deny"])
    parser.add_argument("--token", action="append", default=[],
                        help="SECRET or SECRET=prefix1,prefix2 (read access to services by name prefix)")
    parser.add_argument("--tls-cert", help="serve HTTPS with this PEM certificate (with --tls-key)")
    parser.add_argument("--tls-key")
    args = parser.parse_args()
    sim = ConsulSim(port=args.port, max_conns_per_client=args.max_conns_per_client,
                    acl_default_policy=args.acl_default_policy,
                    tls=(args.tls_cert, args.tls_key) if args.tls_cert else None)
    for spec in args.token:
        secret, _, prefixes = spec.partition("=")
        sim.add_token(secret, prefixes.split(",") if prefixes else [""])
    port = sim.start()
    print(f"consul-sim listening on 127.0.0.1:{port}", flush=True)
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        pass
    finally:
        sim.stop()


if __name__ == "__main__":
    main()

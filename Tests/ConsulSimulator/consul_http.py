"""The simulator's HTTP side: Consul's read and write endpoints, blocking queries, ACLs, faults,
and the /_sim/ control API, as one BaseHTTPRequestHandler bound to a ConsulSim."""

from __future__ import annotations

import json
import random
import re
import socket
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler
from typing import TYPE_CHECKING

from consul_state import JITTER_FRACTION, REFUSALS, HTTPError, parse_bool, parse_go_duration

if TYPE_CHECKING:
    from consul_sim import ConsulSim, Fault


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

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
import os
import signal
import ssl
import threading
import time
from http.server import ThreadingHTTPServer

from consul_http import _handler
from consul_state import (CONN_LIMIT_TEXT, DEFAULT_QUERY_TIME, FAULT_KINDS, MAX_QUERY_TIME, HTTPError, State,
                          parse_go_duration)

# State and parse_go_duration are re-exported: tests import them from here.
__all__ = ["ConsulSim", "Fault", "HTTPError", "State", "main", "parse_go_duration"]


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

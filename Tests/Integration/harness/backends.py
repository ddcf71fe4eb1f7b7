"""Real upstream servers on 127.0.0.1 that answer with their own name and count hits."""

import threading
from concurrent import futures
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import grpc

from .util import free_port

ECHO_METHOD = "/test.Echo/Who"


class HTTPBackend:
    """A threaded HTTP/1.1 server; every request is answered with the backend's name.

    Optional health path: with `health_path="/healthz"`, requests for that path (query ignored)
    are answered 200 while `healthy` is true and 503 once a test sets it false; they are counted
    in `health_checks` (with their Host headers in `health_check_hosts`), not in `hits`.
    Without it (the default), every path is an ordinary request.
    """

    def __init__(self, name: str, port: int | None = None, health_path: str | None = None):
        self.name = name
        self.port = port or free_port()
        self.hits = 0
        self.hosts: list[str] = []
        self.health_path = health_path
        self.healthy = True
        self.health_checks = 0
        self.health_check_hosts: set[str] = set()
        self._lock = threading.Lock()
        backend = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _answer(self):
                length = int(self.headers.get("Content-Length") or 0)
                if length:
                    self.rfile.read(length)
                if backend.health_path is not None and self.path.split("?")[0] == backend.health_path:
                    self._health()
                    return
                with backend._lock:
                    backend.hits += 1
                    backend.hosts.append(self.headers.get("Host", ""))
                body = backend.name.encode()
                self.send_response(200)
                self.send_header("Content-Type", "text/plain")
                self.send_header("Content-Length", str(len(body)))
                self.send_header("x-backend", backend.name)
                self.end_headers()
                self.wfile.write(body)

            def _health(self):
                with backend._lock:
                    backend.health_checks += 1
                    backend.health_check_hosts.add(self.headers.get("Host", ""))
                    healthy = backend.healthy
                body = b"ok" if healthy else b"unhealthy"
                self.send_response(200 if healthy else 503)
                self.send_header("Content-Type", "text/plain")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            do_GET = do_POST = do_PUT = do_HEAD = _answer

            def log_message(self, *args):  # keep the test output quiet
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever,
                                        kwargs={"poll_interval": 0.1}, daemon=True,
                                        name=f"backend-{name}")
        self._thread.start()

    @property
    def hostport(self) -> str:
        return f"127.0.0.1:{self.port}"

    def hit_count(self) -> int:
        with self._lock:
            return self.hits

    def health_check_count(self) -> int:
        with self._lock:
            return self.health_checks

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    def __repr__(self):
        return f"HTTPBackend({self.name}@{self.port}, hits={self.hits})"


class GRPCBackend:
    """A grpcio server answering /test.Echo/Who with its own name (raw bytes in, raw bytes out).

    With `health=True` it also serves grpc.health.v1 (package grpcio-health-checking): the server
    as a whole ("") is SERVING until `set_serving(False)`.
    """

    def __init__(self, name: str, port: int | None = None, health: bool = False):
        self.name = name
        self.port = port or free_port()
        self.hits = 0
        self._lock = threading.Lock()
        backend = self

        def who(request: bytes, context) -> bytes:
            with backend._lock:
                backend.hits += 1
            return backend.name.encode()

        handler = grpc.method_handlers_generic_handler("test.Echo", {
            "Who": grpc.unary_unary_rpc_method_handler(
                who, request_deserializer=None, response_serializer=None),
        })
        self._server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
        self._server.add_generic_rpc_handlers((handler,))
        self._health = None
        if health:
            from grpc_health.v1 import health as grpc_health, health_pb2_grpc
            self._health = grpc_health.HealthServicer()
            health_pb2_grpc.add_HealthServicer_to_server(self._health, self._server)
            self.set_serving(True)
        bound = self._server.add_insecure_port(f"127.0.0.1:{self.port}")
        if bound != self.port:
            raise RuntimeError(f"gRPC backend {name} could not bind 127.0.0.1:{self.port}")
        self._server.start()

    @property
    def hostport(self) -> str:
        return f"127.0.0.1:{self.port}"

    def hit_count(self) -> int:
        with self._lock:
            return self.hits

    def set_serving(self, serving: bool) -> None:
        """The grpc.health.v1 status of the whole server (needs `health=True`)."""
        from grpc_health.v1 import health_pb2
        assert self._health is not None, f"{self.name} was started without health=True"
        status = health_pb2.HealthCheckResponse.SERVING if serving else health_pb2.HealthCheckResponse.NOT_SERVING
        self._health.set("", status)

    def stop(self) -> None:
        self._server.stop(grace=None).wait(timeout=5)

    def __repr__(self):
        return f"GRPCBackend({self.name}@{self.port}, hits={self.hits})"

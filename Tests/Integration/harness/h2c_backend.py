"""An HTTP/2-only upstream (h2c with prior knowledge, as Envoy speaks to `protocol: http2`
clusters), on the `h2` library: it answers every request with its name, and a health path with
200 or 503. A client speaking HTTP/1.1 to it gets its connection closed, as from a real
HTTP/2-only server, so a health check sent over HTTP/1.1 fails.
"""

import socket
import threading

import h2.config
import h2.connection
import h2.events
import h2.exceptions

from .util import free_port


class H2CBackend:
    def __init__(self, name: str, health_path: str = "/healthz"):
        self.name = name
        self.port = free_port()
        self.health_path = health_path
        self.healthy = True
        self.hits = 0
        self.health_checks = 0
        self.refused_http1 = 0  # connections that did not open with the HTTP/2 preface
        self._lock = threading.Lock()
        self._stopped = threading.Event()
        self._listener = socket.create_server(("127.0.0.1", self.port))
        self._listener.settimeout(0.1)
        self._thread = threading.Thread(target=self._accept, daemon=True, name=f"h2c-{name}")
        self._thread.start()

    @property
    def hostport(self) -> str:
        return f"127.0.0.1:{self.port}"

    def counts(self) -> tuple[int, int, int]:
        """(hits, health checks, refused HTTP/1 connections)."""
        with self._lock:
            return self.hits, self.health_checks, self.refused_http1

    def stop(self) -> None:
        self._stopped.set()
        self._thread.join(timeout=5)
        self._listener.close()

    def _accept(self) -> None:
        while not self._stopped.is_set():
            try:
                conn, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn: socket.socket) -> None:
        h2conn = h2.connection.H2Connection(h2.config.H2Configuration(client_side=False))
        conn.settimeout(0.2)
        first = True
        try:
            h2conn.initiate_connection()
            conn.sendall(h2conn.data_to_send())
            while not self._stopped.is_set():
                try:
                    data = conn.recv(65536)
                except TimeoutError:
                    continue
                if not data:
                    return
                if first and not data.startswith(b"PRI * HTTP/2.0"[: len(data)]):
                    with self._lock:
                        self.refused_http1 += 1
                    return
                first = False
                for event in h2conn.receive_data(data):
                    if isinstance(event, h2.events.RequestReceived):
                        self._answer(h2conn, event)
                    elif isinstance(event, h2.events.DataReceived):
                        h2conn.acknowledge_received_data(event.flow_controlled_length, event.stream_id)
                    elif isinstance(event, h2.events.ConnectionTerminated):
                        return
                conn.sendall(h2conn.data_to_send())
        except (OSError, h2.exceptions.ProtocolError):
            return
        finally:
            conn.close()

    def _answer(self, h2conn, event) -> None:
        headers = {k.decode() if isinstance(k, bytes) else k: v.decode() if isinstance(v, bytes) else v
                   for k, v in event.headers}
        path = headers.get(":path", "").split("?")[0]
        with self._lock:
            if path == self.health_path:
                self.health_checks += 1
                status, body = (200, b"ok") if self.healthy else (503, b"unhealthy")
            else:
                self.hits += 1
                status, body = 200, self.name.encode()
        h2conn.send_headers(event.stream_id, [(":status", str(status)), ("content-length", str(len(body)))])
        h2conn.send_data(event.stream_id, body, end_stream=True)

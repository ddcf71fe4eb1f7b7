"""The standard scenario: service `frontend` (one Envoy sidecar) depends on `payments`.

catalog:   frontend -> [frontend-app], payments -> [payments-0..n-1], ledger -> [ledger-0]
templates: frontend (http, depends on payments), payments (http), ledger (http, nobody's dependency)
"""

import http.client
import threading
import time

from .config import ZONE, Instance
from .fleet import Fleet
from .util import free_port, wait_for

UPDATE_BOUND = 5.0  # seconds an ordinary catalog change may take to reach Envoy


def http_get(port: int, host: str, headers: dict | None = None, path: str = "/",
             timeout: float = 5.0) -> tuple[int, str, dict]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request("GET", path, headers={"Host": host, **(headers or {})})
        response = conn.getresponse()
        body = response.read().decode("utf-8", "replace")
        return response.status, body, {k.lower(): v for k, v in response.getheaders()}
    finally:
        conn.close()


def spread(port: int, host: str, requests: int, headers: dict | None = None) -> dict[str, int]:
    """Send `requests` requests to `host` through the listener on `port`; count answers by body."""
    answers: dict[str, int] = {}
    for _ in range(requests):
        status, body, _ = http_get(port, host, headers)
        key = body if status == 200 else f"HTTP {status}: {body[:80]}"
        answers[key] = answers.get(key, 0) + 1
    return answers


def standard_services(fleet: Fleet, payments: int):
    """The scenario's backends and templates: (config, frontend app, payments backends, ledger)."""
    config = fleet.config()
    app = fleet.http_backends("frontend-app")[0]
    backends = fleet.http_backends(*[f"payments-{i}" for i in range(payments)])
    ledger = fleet.http_backends("ledger-0")[0]
    config.write_service("frontend", app.port, "http1", ["payments"])
    config.write_service("payments", backends[0].port, "http1", [])
    config.write_service("ledger", ledger.port, "http1", [])
    return config, app, backends, ledger


class Mesh:
    def __init__(self, fleet: Fleet, delta: bool = False, payments: int = 3, zone: str = ZONE):
        self.fleet = fleet
        self.zone = zone
        self.config, self.app, self.payments, self.ledger = standard_services(fleet, payments)
        c = self.config
        c.catalog = {
            "frontend": [Instance(self.app.port, zone=zone)],
            "payments": [Instance(b.port, zone=zone) for b in self.payments],
            "ledger": [Instance(self.ledger.port, zone=zone)],
        }
        c.write_catalog()
        self.sextant = fleet.sextant(c)
        self.envoy = fleet.envoy(self.sextant.xds_port, "frontend", zone, delta=delta)
        self.envoy.wait_synced()
        self.wait_hosts("payments", c.hostports("payments"))

    # -- traffic -----------------------------------------------------------------------

    def get(self, host: str, headers: dict | None = None) -> tuple[int, str, dict]:
        return http_get(self.config.outbound_port, host, headers)

    def spread(self, host: str, requests: int, headers: dict | None = None) -> dict[str, int]:
        return spread(self.config.outbound_port, host, requests, headers)

    # -- Envoy state -------------------------------------------------------------------

    def wait_hosts(self, cluster: str, expected: set[str], timeout: float = UPDATE_BOUND) -> float:
        """Wait until Envoy holds exactly `expected` for `cluster`; return the seconds it took."""
        started = time.monotonic()
        wait_for(lambda: self.envoy.cluster_hosts(cluster) == expected, timeout, interval=0.02,
                 what=f"Envoy's {cluster} hosts to become {sorted(expected)}")
        return time.monotonic() - started

    def eds_successes(self, cluster: str = "payments") -> int:
        return self.envoy.stats().get(f"cluster.{cluster}.update_success", 0)

    def add_unreachable_payments_instance(self) -> tuple[str, float]:
        """Grow `payments` by an instance nobody listens on; wait for Envoy to see it.

        Growth is never held by Sextant's shrink safeguards, so this is the probe used to
        show that updates still flow. Returns (host:port, seconds until Envoy had it).
        """
        before = self.eds_successes()
        instance = Instance(free_port(), zone=self.zone)
        self.config.add_instance("payments", instance)
        took = self.wait_hosts("payments", self.config.hostports("payments"))
        assert self.eds_successes() > before, "Envoy's EDS update_success did not increase"
        return instance.hostport, took


class _Background:
    """`with` runs `self._run` in a daemon thread until the block ends; `_run` polls `self._stop`."""

    def __init__(self, name: str):
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True, name=name)

    def _run(self):
        raise NotImplementedError

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join(timeout=5)
        return False


class ConnectionWatch(_Background):
    """Samples Envoy's control_plane.connected_state every ~20 ms in a thread; records any drop."""

    def __init__(self, envoy):
        super().__init__("connection-watch")
        self.envoy = envoy
        self.samples = 0
        self.drops: list[float] = []

    def _run(self):
        started = time.monotonic()
        while not self._stop.wait(0.02):
            try:
                state = self.envoy.stat("control_plane.connected_state")
            except (OSError, http.client.HTTPException):
                continue
            self.samples += 1
            if state != 1:
                self.drops.append(round(time.monotonic() - started, 3))


class Traffic(_Background):
    """Requests to `host` through Envoy's outbound listener in a thread; counts answers and failures."""

    def __init__(self, port: int, host: str = "payments"):
        super().__init__("traffic")
        self.port = port
        self.host = host
        self.answers: dict[str, int] = {}
        self.failures: list[str] = []

    def _run(self):
        while not self._stop.wait(0.01):
            try:
                status, body, _ = http_get(self.port, self.host, timeout=2)
                if status == 200:
                    self.answers[body] = self.answers.get(body, 0) + 1
                else:
                    self.failures.append(f"HTTP {status}: {body[:60]}")
            except OSError as error:
                self.failures.append(repr(error))

    @property
    def ok(self) -> int:
        return sum(self.answers.values())


def steady(seconds: float, check) -> None:
    """`check()` must hold at every sample for `seconds`."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        assert check()
        time.sleep(0.05)

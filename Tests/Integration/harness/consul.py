"""`sextant serve --consul` against the Consul simulator, with one Envoy sidecar and live traffic.

consul:    frontend -> [frontend-app], payments -> [payments-0..n-1], ledger -> [ledger-0]
templates: frontend (http, depends on payments), payments, ledger
ACLs are on (default deny) and Sextant reads with the token "sextant", so a test can take its
read permission away the way an operator's policy change would.
"""

import re
import sys
import time
from pathlib import Path

from .config import ZONE
from .mesh import Traffic, standard_services
from .util import wait_for

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "ConsulSimulator"))

from consul_sim import ConsulSim  # noqa: E402

TOKEN = "sextant"


class ConsulWorld:
    def __init__(self, fleet, payments: int = 4, extra_args: list[str] | None = None, state_dir=None):
        self.fleet = fleet
        self.sim = ConsulSim(acl_default_policy="deny")
        self.sim.add_token(TOKEN, services=("",))
        self.sim.start()
        self.config, self.app, self.payments, self.ledger = standard_services(fleet, payments)
        c = self.config
        self.register("frontend", self.app.port)
        for backend in self.payments:
            self.register("payments", backend.port)
        self.register("ledger", self.ledger.port)
        self.token_file = c.root / "consul-token"
        self.token_file.write_text(TOKEN + "\n")
        self.state_dir = state_dir or (c.root / "state")
        self.extra_args = extra_args or []
        self.sextant = self.start_sextant()
        self.envoy = fleet.envoy(self.sextant.xds_port, "frontend", ZONE)
        self.envoy.wait_synced()
        self.wait_hosts(self.baseline())

    def stop(self):
        self.sim.stop()

    # -- Consul --------------------------------------------------------------------------

    def register(self, service: str, port: int, status: str = "passing") -> str:
        return self.sim.register(service, port, address="127.0.0.1", service_id=f"{service}-{port}",
                                 meta={"zone": ZONE}, status=status)

    def baseline(self) -> set[str]:
        return {b.hostport for b in self.payments}

    # -- Sextant -------------------------------------------------------------------------

    def start_sextant(self, xds_port: int | None = None):
        args = ["--consul", self.sim.url, "--consul-token-file", str(self.token_file),
                "--state-dir", str(self.state_dir), *self.extra_args]
        return self.fleet.sextant(self.config, xds_port=xds_port, extra_args=args)

    def metrics(self) -> dict[str, float]:
        status, body = self.sextant.admin("/metrics")
        assert status == 200, body
        out = {}
        for line in body.splitlines():
            if line and not line.startswith("#"):
                name, _, value = line.rpartition(" ")
                out[name] = float(value)
        return out

    def consul_errors(self, watch: str | None = None, reason: str | None = None) -> float:
        total = 0.0
        for name, value in self.metrics().items():
            m = re.match(r'sextant_consul_errors_total\{watch="([^"]*)",reason="([^"]*)"\}', name)
            if m and (watch is None or m.group(1) == watch) and (reason is None or m.group(2) == reason):
                total += value
        return total

    def failing_watches(self) -> list[str]:
        """Watches whose last read failed (retrying with back-off), from /metrics."""
        names = (re.match(r'sextant_consul_watch_failing\{watch="([^"]*)"\}', n) for n in self.metrics())
        return sorted(m.group(1) for m in names if m)

    def wait_reading(self, timeout: float) -> float:
        """Seconds until every watch reads Consul again (each leaves back-off on its own schedule)."""
        start = time.monotonic()
        wait_for(lambda: self.failing_watches() == [], timeout, interval=0.1,
                 what=f"every Consul watch to read again (failing: {self.failing_watches()})")
        return time.monotonic() - start

    # -- Envoy ---------------------------------------------------------------------------

    def hosts(self) -> set[str]:
        return self.envoy.cluster_hosts("payments")

    def health(self) -> dict[str, str]:
        """host -> health_flags of the payments cluster, from Envoy's /clusters."""
        out = {}
        for line in self.envoy.clusters().splitlines():
            parts = line.split("::")
            if len(parts) == 4 and parts[0] == "payments" and parts[2] == "health_flags":
                out[parts[1]] = parts[3]
        return out

    def wait_hosts(self, expected: set[str], timeout: float = 5.0) -> float:
        """Seconds until Envoy holds exactly `expected` for payments."""
        start = time.monotonic()
        wait_for(lambda: self.hosts() == expected, timeout, interval=0.02,
                 what=f"Envoy to hold payments hosts {sorted(expected)} (has {sorted(self.hosts())})")
        return time.monotonic() - start

    def traffic(self) -> Traffic:
        return Traffic(self.config.outbound_port)

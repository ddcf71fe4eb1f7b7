"""The processes under test: `sextant serve` and Envoy, each with captured logs."""

import atexit
import http.client
import json
import os
import re
import shlex
import signal
import subprocess
import time
import urllib.parse
import urllib.request
from pathlib import Path

import yaml

from .util import LIVE_LOGS, free_port, port_accepts, tail, wait_for

REPO = Path(__file__).resolve().parents[3]
STOP_BOUND = 10.0  # seconds a process gets to exit after SIGTERM
_running: dict[int, subprocess.Popen] = {}


@atexit.register
def _kill_leftovers() -> None:
    """Last resort if pytest dies before fixture teardown: no child outlives the session."""
    for proc in list(_running.values()):
        if proc.poll() is None:
            proc.kill()


class ManagedProcess:
    """A child process whose stdout and stderr go to one log file."""

    def __init__(self, label: str, argv: list[str], log_path: Path, env: dict | None = None,
                 cwd: Path | None = None):
        self.label = label
        self.argv = argv
        self.log_path = Path(log_path)
        self._log = open(self.log_path, "wb")
        self.proc = subprocess.Popen(argv, stdout=self._log, stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL, env=env, cwd=cwd,
                                     start_new_session=True)
        LIVE_LOGS[f"{label} (pid {self.proc.pid})"] = str(self.log_path)
        _running[self.proc.pid] = self.proc

    @property
    def pid(self) -> int:
        return self.proc.pid

    def alive(self) -> bool:
        return self.proc.poll() is None

    def log(self) -> str:
        return tail(self.log_path)

    def stop(self, bound: float = STOP_BOUND) -> tuple[int | None, float]:
        """SIGTERM, wait up to `bound` s, SIGKILL as a last resort. Returns (exit code, seconds)."""
        started = time.monotonic()
        code = self.proc.poll()
        if code is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                code = self.proc.wait(timeout=bound)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=5)
                code = None
        elapsed = time.monotonic() - started
        _running.pop(self.proc.pid, None)
        self._log.close()
        LIVE_LOGS.pop(f"{self.label} (pid {self.proc.pid})", None)
        return code, elapsed


# -- Sextant -------------------------------------------------------------------------------

def sextant_binary() -> Path:
    path = Path(os.environ.get("SEXTANT_BIN", ".build/debug/sextant"))
    return path if path.is_absolute() else REPO / path


def sextant_command() -> list[str]:
    return [str(sextant_binary())]


def sextant_present() -> bool:
    return sextant_binary().is_file()


class Sextant(ManagedProcess):
    def __init__(self, config, log_path: Path, xds_port: int | None = None,
                 extra_args: list[str] | None = None):
        self.config = config
        self.xds_port = xds_port or free_port()
        self.admin_port = free_port()
        argv = [*sextant_command(), "serve",
                "--catalog", str(config.catalog_path),
                "--templates", str(config.templates_dir),
                "--defaults", str(config.defaults_path),
                "--xds", f"127.0.0.1:{self.xds_port}",
                "--admin", f"127.0.0.1:{self.admin_port}"]
        argv += shlex.split(os.environ.get("SEXTANT_EXTRA_ARGS", ""))
        argv += extra_args or []
        super().__init__("sextant", argv, log_path, cwd=config.root)

    def admin(self, path: str, method: str = "GET") -> tuple[int, str]:
        """(status, body) of one admin API request."""
        conn = http.client.HTTPConnection("127.0.0.1", self.admin_port, timeout=5)
        try:
            conn.request(method, path)
            response = conn.getresponse()
            return response.status, response.read().decode()
        finally:
            conn.close()

    def safeguards(self) -> dict:
        status, body = self.admin("/debug/safeguards")
        assert status == 200, body
        return json.loads(body)

    def wait_ready(self, timeout: float = 15.0) -> None:
        def ready():
            if not self.alive():
                raise AssertionError(f"sextant exited with {self.proc.returncode}:\n{self.log()}")
            return port_accepts(self.xds_port)
        wait_for(ready, timeout, what=f"sextant to accept on xDS port {self.xds_port}")


def validate_with_envoy(config) -> subprocess.CompletedProcess:
    """`sextant validate --envoy` on a config dir, as CI runs it offline."""
    return subprocess.run([str(sextant_binary()), "validate", "--catalog", str(config.catalog_path),
                           "--templates", str(config.templates_dir), "--defaults", str(config.defaults_path),
                           "--envoy", str(envoy_binary())],
                          capture_output=True, text=True, timeout=60)


# -- Envoy ---------------------------------------------------------------------------------

_base_ids = iter(range(1000, 1_000_000))


def envoy_binary() -> Path:
    return Path(os.environ.get("ENVOY_BIN", REPO / ".venv" / "bin" / "envoy"))


def envoy_bootstrap(node_id: str, cluster: str, zone: str, admin_port: int, xds_port: int | list[int],
                    delta: bool, region: str | None = None) -> dict:
    """`xds_port`: one control plane, or a list of replicas behind the one `xds` cluster."""
    xds_ports = xds_port if isinstance(xds_port, list) else [xds_port]
    locality = {"zone": zone}
    if region:
        locality["region"] = region
    return {
        "node": {"id": node_id, "cluster": cluster, "locality": locality},
        "admin": {"address": {"socket_address": {"address": "127.0.0.1", "port_value": admin_port}}},
        "static_resources": {"clusters": [{
            "name": "xds",
            "type": "STATIC",
            "connect_timeout": "1s",
            "load_assignment": {"cluster_name": "xds", "endpoints": [{"lb_endpoints": [{
                "endpoint": {"address": {"socket_address": {
                    "address": "127.0.0.1", "port_value": port}}}} for port in xds_ports]}]},
            "typed_extension_protocol_options": {
                "envoy.extensions.upstreams.http.v3.HttpProtocolOptions": {
                    "@type": "type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions",
                    "explicit_http_config": {"http2_protocol_options": {}},
                },
            },
        }]},
        "dynamic_resources": {
            "ads_config": {
                "api_type": "DELTA_GRPC" if delta else "GRPC",
                "transport_api_version": "V3",
                "grpc_services": [{"envoy_grpc": {"cluster_name": "xds"}}],
                "set_node_on_first_message_only": True,
            },
            "cds_config": {"ads": {}, "resource_api_version": "V3"},
            "lds_config": {"ads": {}, "resource_api_version": "V3"},
        },
    }


_STAT_LINE = re.compile(r"^([^:\s]+): (\d+)$")


class Envoy(ManagedProcess):
    def __init__(self, workdir: Path, xds_port: int, node_id: str, cluster: str, zone: str,
                 delta: bool = False, region: str | None = None, bootstrap=None):
        """`bootstrap(admin_port)`, when given, makes the bootstrap instead of `envoy_bootstrap`."""
        self.workdir = Path(workdir)
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.admin_port = free_port()
        self.delta = delta
        self.bootstrap = (bootstrap(self.admin_port) if bootstrap else
                          envoy_bootstrap(node_id, cluster, zone, self.admin_port, xds_port, delta, region))
        boot = self.workdir / "boot.yaml"
        boot.write_text(yaml.safe_dump(self.bootstrap, sort_keys=False))
        argv = [str(envoy_binary()), "-c", str(boot), "--disable-hot-restart",
                "--concurrency", "1", "--base-id", str(next(_base_ids) + os.getpid() % 1000 * 1000),
                "-l", os.environ.get("ENVOY_LOG_LEVEL", "warning")]
        super().__init__(f"envoy {node_id}", argv, self.workdir / "envoy.log", cwd=self.workdir)

    # -- admin API ---------------------------------------------------------------------

    def admin(self, path: str, timeout: float = 2.0) -> str:
        url = f"http://127.0.0.1:{self.admin_port}{path}"
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return response.read().decode()

    def stats(self) -> dict[str, int]:
        """Counters and gauges from /stats (histograms are skipped)."""
        out = {}
        for line in self.admin("/stats").splitlines():
            m = _STAT_LINE.match(line.strip())
            if m:
                out[m.group(1)] = int(m.group(2))
        return out

    def stat(self, name: str) -> int | None:
        """One counter or gauge, fetched with a /stats filter (cheap enough to poll fast)."""
        escaped = re.escape(name)
        for line in self.admin(f"/stats?filter=^{urllib.parse.quote(escaped)}$").splitlines():
            m = _STAT_LINE.match(line.strip())
            if m and m.group(1) == name:
                return int(m.group(2))
        return None

    def config_dump(self, include_eds: bool = False) -> dict:
        return json.loads(self.admin("/config_dump" + ("?include_eds" if include_eds else "")))

    def clusters(self) -> str:
        return self.admin("/clusters")

    def cluster_hosts(self, cluster: str) -> set[str]:
        """Hosts ("ip:port") Envoy currently holds for `cluster`, from /clusters."""
        hosts = set()
        prefix = cluster + "::"
        for line in self.clusters().splitlines():
            if not line.startswith(prefix):
                continue
            parts = line.split("::")
            if len(parts) >= 3 and re.match(r"^[\d.]+:\d+$", parts[1]):
                hosts.add(parts[1])
        return hosts

    # -- readiness ---------------------------------------------------------------------

    def rejected(self, stats: dict[str, int]) -> dict[str, int]:
        return {k: v for k, v in stats.items() if k.endswith("update_rejected") and v}

    def synced(self, stats: dict[str, int] | None = None) -> bool:
        """Readiness judged by /stats (never /ready): CDS and LDS accepted, nothing rejected or warming."""
        s = stats if stats is not None else self.stats()
        return (s.get("cluster_manager.cds.update_success", 0) >= 1
                and s.get("listener_manager.lds.update_success", 0) >= 1
                and not self.rejected(s)
                and s.get("cluster_manager.warming_clusters", 0) == 0
                and s.get("listener_manager.total_listeners_warming", 0) == 0)

    def wait_synced(self, timeout: float = 15.0) -> dict[str, int]:
        def check():
            if not self.alive():
                raise AssertionError(f"envoy exited with {self.proc.returncode}:\n{self.log()}")
            s = self.stats()
            assert not self.rejected(s), f"Envoy rejected config: {self.rejected(s)}"
            return s if self.synced(s) else None
        return wait_for(check, timeout, interval=0.1, what="Envoy to accept CDS and LDS")

    def wait_for(self, predicate, timeout: float, what: str = "condition"):
        """Bounded polling of `predicate(envoy)`; fails early if Envoy exits."""
        def check():
            if not self.alive():
                raise AssertionError(f"envoy exited with {self.proc.returncode}:\n{self.log()}")
            return predicate(self)
        return wait_for(check, timeout, interval=0.05, what=what)

    def wait_admin(self, timeout: float = 15.0) -> None:
        def up():
            if not self.alive():
                raise AssertionError(f"envoy exited with {self.proc.returncode}:\n{self.log()}")
            return port_accepts(self.admin_port) and self.admin("/server_info")
        wait_for(up, timeout, what="Envoy admin API")


def config_section(dump: dict, kind: str) -> dict:
    """The `*.{kind}` entry of a /config_dump (e.g. "ClustersConfigDump")."""
    for config in dump["configs"]:
        if config.get("@type", "").endswith("." + kind):
            return config
    raise AssertionError(f"no {kind} in /config_dump")

"""Owns every process and server a test starts, and stops them all, even after a failure."""

import contextlib
import os
from pathlib import Path

from .backends import GRPCBackend, HTTPBackend
from .config import ConfigDir
from .processes import STOP_BOUND, Envoy, Sextant, sextant_binary, sextant_present
from .util import free_port


class Fleet:
    def __init__(self, workdir: Path):
        self.workdir = Path(workdir)
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.sextants: list[Sextant] = []
        self.envoys: list[Envoy] = []
        self.servers: list = []
        self._configs = 0

    def config(self) -> ConfigDir:
        self._configs += 1
        return ConfigDir(self.workdir / f"config-{self._configs}", outbound_port=free_port(),
                         inbound_port=free_port())

    def http_backends(self, *names: str) -> list[HTTPBackend]:
        started = [HTTPBackend(n) for n in names]
        self.servers += started
        return started

    def grpc_backends(self, *names: str) -> list[GRPCBackend]:
        started = [GRPCBackend(n) for n in names]
        self.servers += started
        return started

    def sextant(self, config: ConfigDir, ready_timeout: float = 15.0, extra_args: list[str] | None = None,
                xds_port: int | None = None) -> Sextant:
        index = len(self.sextants)
        process = Sextant(config, self.workdir / f"sextant-{index}.log", xds_port=xds_port, extra_args=extra_args)
        self.sextants.append(process)
        try:
            process.wait_ready(ready_timeout)
        except AssertionError:
            process.reported = True   # the failing fixture already carries the log
            raise
        return process

    def envoy(self, xds_port: int, cluster: str, zone: str, delta: bool = False,
              node_id: str | None = None, bootstrap=None) -> Envoy:
        index = len(self.envoys)
        node_id = node_id or f"{cluster}-{index}"
        process = Envoy(self.workdir / f"envoy-{index}", xds_port, node_id, cluster, zone, delta,
                        bootstrap=bootstrap)
        self.envoys.append(process)
        process.wait_admin()
        return process

    def shutdown(self) -> list[str]:
        """Stop everything; return problems (a sextant that did not exit cleanly in time)."""
        problems = []
        for envoy in reversed(self.envoys):
            envoy.stop()
        for sextant in reversed(self.sextants):
            was_alive = sextant.alive()
            code, elapsed = sextant.stop(STOP_BOUND)
            if getattr(sextant, "reported", False):
                continue
            if not was_alive:
                problems.append(f"sextant (pid {sextant.pid}) had already exited with {code}:\n"
                                f"{sextant.log()}")
            elif code is None:
                problems.append(f"sextant (pid {sextant.pid}) ignored SIGTERM for {STOP_BOUND:.0f}s "
                                f"and was killed:\n{sextant.log()}")
            elif elapsed > STOP_BOUND:
                problems.append(f"sextant took {elapsed:.1f}s to exit")
        for server in self.servers:
            server.stop()
        return problems


@contextlib.contextmanager
def managed_fleet(workdir: Path):
    """A Fleet that is shut down on exit; fails the test if sextant did not stop cleanly."""
    import pytest
    fleet = Fleet(workdir)
    try:
        yield fleet
    finally:
        problems = fleet.shutdown()
    if problems:
        pytest.fail("\n\n".join(problems))


def require_sextant() -> None:
    """Skip (or, with SEXTANT_REQUIRE=1, fail) the calling test when the server is not built."""
    import pytest
    if sextant_present():
        return
    message = f"sextant binary not found at {sextant_binary()} (build it, or set SEXTANT_BIN)"
    if os.environ.get("SEXTANT_REQUIRE") == "1":
        pytest.fail(message)
    pytest.skip(message)

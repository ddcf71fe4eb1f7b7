"""Fixtures for Sextant's integration tests: real Envoy, real gRPC xDS clients, real sockets.

Environment:
  SEXTANT_BIN         server binary (default .build/debug/sextant, relative to the repo)
  SEXTANT_EXTRA_ARGS  extra arguments appended to `sextant serve`
  SEXTANT_REQUIRE=1   fail, rather than skip, when the binary is missing
  ENVOY_BIN           Envoy binary (default .venv/bin/envoy)
  ENVOY_LOG_LEVEL     Envoy's -l (default warning)
"""

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from harness.fleet import managed_fleet, require_sextant  # noqa: E402
from harness.util import LIVE_LOGS, free_port, tail  # noqa: E402


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    if report.failed:
        for label, path in list(LIVE_LOGS.items()):
            report.sections.append((f"log of {label}", tail(path)))


@pytest.fixture
def ports():
    """free_port(): a port on 127.0.0.1 not handed out before in this session."""
    return free_port


@pytest.fixture
def fleet(tmp_path):
    """Processes and servers for one test; all stopped at teardown (sextant must exit on SIGTERM in 10 s)."""
    with managed_fleet(tmp_path) as fleet:
        yield fleet


@pytest.fixture
def config(fleet):
    """A config dir (catalog.yaml, defaults.yaml, services/) with fresh listener ports."""
    return fleet.config()


@pytest.fixture
def backends(fleet):
    """backends(*names) -> started HTTP backends answering with their names and counting hits."""
    return fleet.http_backends


@pytest.fixture
def grpc_backends(fleet):
    """grpc_backends(*names) -> started gRPC servers answering /test.Echo/Who with their names."""
    return fleet.grpc_backends


@pytest.fixture
def sextant(fleet):
    """sextant(config) -> a running `sextant serve` whose xDS port accepts connections."""
    require_sextant()
    return fleet.sextant


@pytest.fixture
def envoy(fleet):
    """envoy(xds_port, cluster, zone, delta=False) -> a running Envoy with its admin API up."""
    return fleet.envoy

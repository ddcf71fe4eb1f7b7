"""A last-known-good state is trusted only by the catalog source that wrote it.

A `state/` written while serving the file catalog, then `serve --consul` with the same state
dir: Consul's instances are served at once, nothing is held or frozen against the file's.
"""

import sys
from pathlib import Path

from harness.config import ZONE
from harness.fleet import require_sextant
from harness.mesh import Mesh

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "ConsulSimulator"))
from consul_sim import ConsulSim  # noqa: E402


def test_a_file_catalog_state_does_not_freeze_consul(fleet):
    require_sextant()
    mesh = Mesh(fleet, payments=3)
    state = mesh.config.root / "state"
    file_sextant = mesh.sextant
    port = file_sextant.xds_port
    file_sextant.stop()
    file_sextant.reported = True
    assert (state / "catalog.lkg").is_file()

    # Consul knows other payments instances than the file did (and none of the file's).
    sim = ConsulSim()
    sim.start()
    try:
        consul_payments = fleet.http_backends("consul-payments-0", "consul-payments-1")
        sim.register("frontend", mesh.app.port, address="127.0.0.1", meta={"zone": ZONE})
        for backend in consul_payments:
            sim.register("payments", backend.port, address="127.0.0.1", service_id=f"payments-{backend.port}",
                         meta={"zone": ZONE})
        sim.register("ledger", mesh.ledger.port, address="127.0.0.1", meta={"zone": ZONE})
        consul_sextant = fleet.sextant(mesh.config, xds_port=port,
                                       extra_args=["--consul", sim.url, "--state-dir", str(state)])
        mesh.sextant = consul_sextant
        expected = {f"127.0.0.1:{b.port}" for b in consul_payments}
        mesh.wait_hosts("payments", expected, timeout=10)
        assert set(mesh.spread("payments", 10)) <= {b.name for b in consul_payments}
        safeguards = consul_sextant.safeguards()
        assert not safeguards.get("holds") and not safeguards.get("freeze"), safeguards
        log = consul_sextant.log()
        assert "written while serving file" in log and "not consul " + sim.url.rstrip("/") in log, log
    finally:
        sim.stop()

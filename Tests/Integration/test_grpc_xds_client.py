"""gRPC's own xDS client (proxyless, `xds:///payments`) resolves and balances with Sextant's resources."""

from harness.config import ZONE, Instance
from harness.fleet import require_sextant
from harness.grpc_xds import run_client, xds_bootstrap
from harness.util import free_port

def test_proxyless_grpc_client_reaches_every_backend(fleet, tmp_path):
    require_sextant()
    config = fleet.config()
    backends = fleet.grpc_backends("grpc-payments-0", "grpc-payments-1", "grpc-payments-2")
    app_port = free_port()
    config.write_service("frontend", app_port, "http1", [{"name": "payments", "protocol": "grpc"}])
    config.write_service("payments", backends[0].port, "grpc", [])
    config.catalog = {"frontend": [Instance(app_port, zone=ZONE)],
                      "payments": [Instance(b.port, zone=ZONE) for b in backends]}
    config.write_catalog()
    sextant = fleet.sextant(config)

    bootstrap = xds_bootstrap(tmp_path / "xds-bootstrap.json", sextant.xds_port,
                              "frontend-grpc-0", "frontend", ZONE)
    result = run_client(tmp_path, bootstrap, "xds:///payments", 60)

    assert result["error"] is None and result["exit"] == 0, (
        f"gRPC xDS client failed: {result['error']}\n{result['log']}")
    assert set(result["answers"]) == {b.name for b in backends}, result["answers"]
    assert sum(result["answers"].values()) == 60
    for backend in backends:
        assert backend.hit_count() > 0, f"{backend.name} got no RPCs: {result['answers']}"
    assert sextant.alive()

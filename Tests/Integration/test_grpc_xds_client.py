"""gRPC's own xDS client (proxyless, `xds:///payments`) resolves and balances with Sextant's resources."""

import json
import os
import subprocess
import sys
from pathlib import Path

from harness.config import ZONE, Instance
from harness.fleet import require_sextant
from harness.util import free_port

CLIENT = Path(__file__).resolve().parent / "harness" / "grpc_xds_client.py"
CLIENT_BOUND = 45  # seconds the whole client process may take


def xds_bootstrap(path: Path, xds_port: int, node_id: str, cluster: str, zone: str) -> Path:
    path.write_text(json.dumps({
        "xds_servers": [{
            "server_uri": f"127.0.0.1:{xds_port}",
            "channel_creds": [{"type": "insecure"}],
            "server_features": ["xds_v3"],
        }],
        "node": {"id": node_id, "cluster": cluster, "locality": {"zone": zone}},
    }, indent=2))
    return path


def run_client(tmp_path: Path, bootstrap: Path, target: str, rpcs: int) -> dict:
    env = {**os.environ, "GRPC_XDS_BOOTSTRAP": str(bootstrap), "GRPC_VERBOSITY": "ERROR"}
    log = tmp_path / "grpc-client.log"
    with open(log, "wb") as stderr:
        done = subprocess.run([sys.executable, str(CLIENT), target, str(rpcs), "20"], env=env,
                              stdout=subprocess.PIPE, stderr=stderr, timeout=CLIENT_BOUND,
                              cwd=tmp_path)
    lines = done.stdout.decode().strip().splitlines()
    result = json.loads(lines[-1]) if lines else {"answers": {}, "error": "no output"}
    result["exit"] = done.returncode
    result["log"] = log.read_text(errors="replace")[-6000:]
    return result


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

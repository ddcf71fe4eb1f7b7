"""gRPC's own xDS client against Sextant: a bootstrap made from the shipped example, and a client run.

The bootstrap is Config/grpc-xds-bootstrap.json with the test's port and node filled in, so the
example the README points proxyless users at is the one the tests prove.
"""

import json
import os
import subprocess
import sys
from pathlib import Path

from .processes import REPO

CLIENT = Path(__file__).resolve().parent / "grpc_xds_client.py"
CLIENT_BOUND = 45  # seconds the whole client process may take
EXAMPLE = REPO / "Config" / "grpc-xds-bootstrap.json"


def xds_bootstrap(path: Path, xds_port: int, node_id: str, cluster: str, zone: str) -> Path:
    document = json.loads(EXAMPLE.read_text())
    document["xds_servers"][0]["server_uri"] = f"127.0.0.1:{xds_port}"
    document["node"] = {"id": node_id, "cluster": cluster, "locality": {"zone": zone}}
    path.write_text(json.dumps(document, indent=2))
    return path


def run_client(workdir: Path, bootstrap: Path, target: str, rpcs: int) -> dict:
    """Runs grpc_xds_client.py: {"answers": {name: count}, "error": str|None, "exit": int, "log": str}."""
    env = {**os.environ, "GRPC_XDS_BOOTSTRAP": str(bootstrap), "GRPC_VERBOSITY": "ERROR"}
    log = workdir / "grpc-client.log"
    with open(log, "wb") as stderr:
        done = subprocess.run([sys.executable, str(CLIENT), target, str(rpcs), "20"], env=env,
                              stdout=subprocess.PIPE, stderr=stderr, timeout=CLIENT_BOUND, cwd=workdir)
    lines = done.stdout.decode().strip().splitlines()
    result = json.loads(lines[-1]) if lines else {"answers": {}, "error": "no output"}
    result["exit"] = done.returncode
    result["log"] = log.read_text(errors="replace")[-6000:]
    return result

"""The hand-written Protos/ subset matches the official Envoy descriptors (xds-protos)."""

import os
import re
import shutil
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SCRIPT = os.path.join(ROOT, "scripts", "check_protos.py")
PROTOS = os.path.join(ROOT, "Protos")

pytest.importorskip("envoy.config.cluster.v3.cluster_pb2", reason="xds-protos is not installed")
pytestmark = pytest.mark.skipif(shutil.which("protoc") is None, reason="protoc is not installed")


def run_check(protos_dir):
    return subprocess.run(
        [sys.executable, SCRIPT, "--protos", str(protos_dir)],
        capture_output=True, text=True, timeout=120,
    )


def test_subset_matches_upstream():
    proc = run_check(PROTOS)
    print(proc.stdout)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "0 mismatches" in proc.stdout
    match = re.search(r"checked (\d+) files, (\d+) messages, (\d+) fields", proc.stdout)
    assert match, proc.stdout
    files, messages, fields = map(int, match.groups())
    assert files >= 35 and messages >= 99 and fields >= 317, proc.stdout


def test_every_proto_file_is_covered():
    """Each file under Protos/ is compared (or skipped with a reason), none silently ignored."""
    proc = run_check(PROTOS)
    ours = sum(len([f for f in names if f.endswith(".proto")]) for _, _, names in os.walk(PROTOS))
    files = int(re.search(r"checked (\d+) files", proc.stdout).group(1))
    skipped = int(re.search(r"skipped (\d+) files", proc.stdout).group(1))
    assert files + skipped == ours, proc.stdout


@pytest.mark.parametrize(
    ("path", "old", "new", "expected"),
    [
        ("envoy/config/cluster/v3/cluster.proto", "string alt_stat_name = 28;", "string alt_stat_name = 29;",
         "envoy.config.cluster.v3.Cluster.alt_stat_name: ours #29"),
        ("envoy/service/discovery/v3/discovery.proto", "string type_url = 4;", "bytes type_url = 4;",
         "envoy.service.discovery.v3.DiscoveryRequest.type_url: ours #4 bytes"),
        ("envoy/config/cluster/v3/cluster.proto", "    STRICT_DNS = 1;\n", "",
         "envoy.config.cluster.v3.Cluster.DiscoveryType: missing upstream enum values STRICT_DNS"),
        ("envoy/service/status/v3/csds.proto", "ConfigStatus config_status = 6;", "ConfigStatus config_status = 10;",
         "envoy.service.status.v3.ClientConfig.GenericXdsConfig.config_status: ours #10"),
        ("envoy/service/status/v3/csds.proto", "rpc FetchClientStatus(ClientStatusRequest)",
         "rpc FetchClientStatus(stream ClientStatusRequest)",
         "envoy.service.status.v3.ClientStatusDiscoveryService/FetchClientStatus: ours"),
        ("envoy/admin/v3/config_dump_shared.proto", "  NACKED = 4;\n", "",
         "envoy.admin.v3.ClientResourceStatus: missing upstream enum values NACKED"),
    ],
)
def test_check_detects_a_mismatch(tmp_path, path, old, new, expected):
    copy = tmp_path / "Protos"
    shutil.copytree(PROTOS, copy)
    target = copy / path
    text = target.read_text()
    assert old in text
    target.write_text(text.replace(old, new, 1))
    proc = run_check(copy)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert expected in proc.stdout, proc.stdout

"""What an on-call engineer sees: /debug/clients, /debug/config_dump?node=, CSDS and `sextant status`,
checked against two real Envoys (one SotW, one delta) and against one that rejects a listener."""

import json
import socket
import subprocess

import grpc
import pytest
from envoy.service.status.v3 import csds_pb2, csds_pb2_grpc
from envoy.type.matcher.v3 import node_pb2  # noqa: F401  (NodeMatcher)

from harness.config import ZONE, Instance
from harness.fleet import managed_fleet, require_sextant
from harness.mesh import Mesh
from harness.processes import config_section, sextant_command
from harness.util import wait_for

TYPES = {"cds": "ClustersConfigDump", "lds": "ListenersConfigDump"}
CDS = "type.googleapis.com/envoy.config.cluster.v3.Cluster"
LDS = "type.googleapis.com/envoy.config.listener.v3.Listener"


@pytest.fixture(scope="module")
def two(tmp_path_factory):
    """frontend-0 on SotW ADS (the standard mesh) and frontend-delta on delta ADS, same server."""
    require_sextant()
    with managed_fleet(tmp_path_factory.mktemp("observe")) as fleet:
        mesh = Mesh(fleet, delta=False)
        delta = fleet.envoy(mesh.sextant.xds_port, "frontend", ZONE, delta=True, node_id="frontend-delta")
        delta.wait_synced()
        yield mesh, delta


def clients(sextant, query: str = "") -> list[dict]:
    status, body = sextant.admin("/debug/clients" + query)
    assert status == 200, body
    return json.loads(body)["clients"]


def csds(sextant, node_prefix: str | None = None) -> csds_pb2.ClientStatusResponse:
    request = csds_pb2.ClientStatusRequest()
    if node_prefix is not None:
        request.node_matchers.add().node_id.prefix = node_prefix
    with grpc.insecure_channel(f"127.0.0.1:{sextant.xds_port}") as channel:
        return csds_pb2_grpc.ClientStatusDiscoveryServiceStub(channel).FetchClientStatus(request, timeout=5)


def all_synced(sextant) -> bool:
    found = clients(sextant)
    return len(found) == 2 and all(t["state"] == "SYNCED" for c in found for t in c["types"].values())


def dump_versions(dump: dict) -> dict[str, dict[str, str]]:
    """Per type, resource name -> version_info, from an Envoy-shaped config dump."""
    clusters = config_section(dump, "ClustersConfigDump").get("dynamic_active_clusters", [])
    listeners = config_section(dump, "ListenersConfigDump").get("dynamic_listeners", [])
    routes = config_section(dump, "RoutesConfigDump").get("dynamic_route_configs", [])
    return {
        "cds": {c["cluster"]["name"]: c["version_info"] for c in clusters},
        # Envoy ignores the api_listeners (for proxyless gRPC) it receives over LDS.
        "lds": {entry["name"]: entry["active_state"]["version_info"] for entry in listeners
                if "active_state" in entry and "api_listener" not in entry["active_state"]["listener"]},
        "rds": {r["route_config"]["name"]: r["version_info"] for r in routes},
    }


def test_debug_clients_lists_both_envoys_with_the_versions_they_accepted(two):
    mesh, delta = two
    wait_for(lambda: all_synced(mesh.sextant), 10, what="both Envoys SYNCED in /debug/clients")
    found = {c["node"]: c for c in clients(mesh.sextant)}
    assert set(found) == {"frontend-0", "frontend-delta"}, found
    assert found["frontend-0"]["transport"] == "ads-sotw"
    assert found["frontend-delta"]["transport"] == "ads-delta"
    for envoy, node in ((mesh.envoy, "frontend-0"), (delta, "frontend-delta")):
        client = found[node]
        assert client["service"] == "frontend" and client["zone"] == ZONE
        assert client["peer"].startswith("127.0.0.1:")
        dump = envoy.config_dump()
        for short, section in TYPES.items():
            assert client["types"][short]["version_acked"] == config_section(dump, section)["version_info"], (
                node, short, client["types"][short])
        assert all(t["pending_nonce"] is None and t["last_nack"] is None for t in client["types"].values())
    assert [c["node"] for c in clients(mesh.sextant, "?service=frontend")] == ["frontend-0", "frontend-delta"]
    assert clients(mesh.sextant, "?service=payments") == []
    assert clients(mesh.sextant, "?nacked") == []
    assert clients(mesh.sextant, "?stale=30") == []


def test_config_dump_of_a_node_matches_the_envoys_own(two):
    mesh, delta = two
    wait_for(lambda: all_synced(mesh.sextant), 10, what="both Envoys SYNCED")
    for envoy, node in ((mesh.envoy, "frontend-0"), (delta, "frontend-delta")):
        status, body = mesh.sextant.admin(f"/debug/config_dump?node={node}")
        assert status == 200, body
        ours = json.loads(body)
        theirs = envoy.config_dump()
        assert dump_versions(ours) == dump_versions(theirs), node
        for short, section in TYPES.items():
            assert config_section(ours, section)["version_info"] == config_section(theirs, section)["version_info"]
        ours_payments = next(c["cluster"] for c in config_section(ours, "ClustersConfigDump")["dynamic_active_clusters"]
                             if c["cluster"]["name"] == "payments")
        assert ours_payments["type"] == "EDS" and ours_payments["@type"] == CDS
    assert mesh.sextant.admin("/debug/config_dump?node=nobody")[0] == 404
    assert mesh.sextant.admin("/debug/config_dump")[0] == 400


def test_csds_from_the_official_protos_lists_both_nodes(two):
    mesh, delta = two
    wait_for(lambda: all_synced(mesh.sextant), 10, what="both Envoys SYNCED")
    response = csds(mesh.sextant)
    nodes = {config.node.id: config for config in response.config}
    assert set(nodes) == {"frontend-0", "frontend-delta"}
    for envoy, node in ((mesh.envoy, "frontend-0"), (delta, "frontend-delta")):
        config = nodes[node]
        assert config.node.cluster == "frontend"
        theirs = dump_versions(envoy.config_dump())
        ours = {"cds": {}, "lds": {}}
        for item in config.generic_xds_configs:
            assert item.config_status == csds_pb2.SYNCED, item
            assert item.client_status == 3  # envoy.admin.v3.ACKED
            if item.type_url == CDS:
                ours["cds"][item.name] = item.version_info
            elif item.type_url == LDS and item.name in theirs["lds"]:
                ours["lds"][item.name] = item.version_info
        assert ours == {"cds": theirs["cds"], "lds": theirs["lds"]}, node
    only = csds(mesh.sextant, node_prefix="frontend-d")
    assert [c.node.id for c in only.config] == ["frontend-delta"]
    # The streaming call answers each request on one stream.
    with grpc.insecure_channel(f"127.0.0.1:{mesh.sextant.xds_port}") as channel:
        stub = csds_pb2_grpc.ClientStatusDiscoveryServiceStub(channel)
        answers = list(stub.StreamClientStatus(iter([csds_pb2.ClientStatusRequest()] * 2), timeout=5))
    assert len(answers) == 2 and all(len(a.config) == 2 for a in answers)


def run_status(sextant, *args, timeout=15) -> subprocess.CompletedProcess:
    return subprocess.run([*sextant_command(), "status", "--admin", f"127.0.0.1:{sextant.admin_port}", *args],
                          capture_output=True, text=True, timeout=timeout)


def test_sextant_status_reports_synced_proxies_and_exits_zero(two):
    mesh, _ = two
    wait_for(lambda: all_synced(mesh.sextant), 10, what="both Envoys SYNCED")
    done = run_status(mesh.sextant)
    assert done.returncode == 0, done.stdout + done.stderr
    lines = done.stdout.splitlines()
    assert lines[0].split()[:6] == ["NODE", "SERVICE", "CDS", "LDS", "EDS", "RDS"], done.stdout
    rows = {line.split()[0]: line.split() for line in lines[1:] if line.strip()}
    assert set(rows) == {"frontend-0", "frontend-delta"}
    assert all(row[2:6] == ["SYNCED"] * 4 for row in rows.values()), done.stdout
    assert run_status(mesh.sextant, "payments").stdout.splitlines()[1:] == []


def test_a_rejected_listener_shows_as_nacked_everywhere(tmp_path):
    """Envoy rejects the template's outbound listener (its port is taken on the proxy's host)."""
    require_sextant()
    with managed_fleet(tmp_path) as fleet:
        taken = socket.socket()
        try:
            mesh_config = fleet.config()
            taken.bind(("127.0.0.1", mesh_config.outbound_port))
            taken.listen(1)
            app = fleet.http_backends("frontend-app")[0]
            mesh_config.write_service("frontend", app.port, "http1", [])
            mesh_config.catalog = {"frontend": [Instance(app.port, zone=ZONE)]}
            mesh_config.write_catalog()
            sextant = fleet.sextant(mesh_config)
            envoy = fleet.envoy(sextant.xds_port, "frontend", ZONE, node_id="frontend-nacked")
            envoy.wait_for(lambda e: e.stats().get("listener_manager.lds.update_rejected", 0) >= 1, 20,
                           what="Envoy to reject LDS")
            wait_for(lambda: clients(sextant, "?nacked"), 10, what="a NACKED client in /debug/clients")
            [client] = clients(sextant, "?nacked")
            assert client["node"] == "frontend-nacked"
            lds = client["types"]["lds"]
            assert lds["state"] == "NACKED", lds
            error = lds["last_nack"]["error"]
            assert error, "the client's error text is recorded"
            assert client["types"]["cds"]["state"] == "SYNCED"

            response = csds(sextant)
            [config] = response.config
            rejected = [i for i in config.generic_xds_configs if i.type_url == LDS and i.client_status == 4]
            assert rejected, config
            assert all(i.config_status == csds_pb2.ERROR and i.error_state.details == error for i in rejected)

            done = run_status(sextant)
            assert done.returncode != 0, done.stdout
            assert "NACKED" in done.stdout and "frontend-nacked" in done.stdout
            assert error[:40] in done.stdout, done.stdout
        finally:
            taken.close()


def test_release_of_a_service_without_a_hold_says_so_and_fails(two):
    mesh, _ = two
    done = subprocess.run([*sextant_command(), "release", "payments", "--admin", f"127.0.0.1:{mesh.sextant.admin_port}"],
                          capture_output=True, text=True, timeout=15)
    assert done.returncode != 0
    assert "no hold on service 'payments'" in done.stdout + done.stderr

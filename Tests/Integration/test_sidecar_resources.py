"""Sidecars get what sidecars use: the shipped Envoy bootstrap routes zone-aware with real traffic,
and Envoy is sent no API listeners while gRPC's own xDS client still resolves `xds:///payments`."""

import re

import yaml

from harness.config import Instance
from harness.fleet import require_sextant
from harness.grpc_xds import run_client, xds_bootstrap
from harness.mesh import spread
from harness.processes import REPO, config_section
from harness.util import free_port, wait_for

SHIPPED = REPO / "Config" / "envoy-bootstrap.yaml"
REQUESTS = 200


def shipped_bootstrap(xds_port: int):
    """Config/envoy-bootstrap.yaml with only the test's ports changed."""
    def make(admin_port: int) -> dict:
        document = yaml.safe_load(SHIPPED.read_text())
        document["admin"]["address"]["socket_address"]["port_value"] = admin_port
        clusters = {c["name"]: c for c in document["static_resources"]["clusters"]}
        sextant = clusters["sextant"]["load_assignment"]["endpoints"][0]
        sextant["lb_endpoints"][0]["endpoint"]["address"]["socket_address"]["port_value"] = xds_port
        return document
    return make


def test_shipped_bootstrap_matches_the_shipped_catalog():
    catalog = yaml.safe_load((REPO / "Config" / "catalog.yaml").read_text())
    node = yaml.safe_load(SHIPPED.read_text())["node"]
    own = {(i.get("region"), i.get("zone"), i.get("id")) for i in catalog["services"][node["cluster"]]["instances"]}
    assert (node["locality"].get("region"), node["locality"]["zone"], node["id"]) in own
    assert yaml.safe_load(SHIPPED.read_text())["cluster_manager"]["local_cluster_name"] == node["cluster"]


def test_zone_a_sidecar_sends_every_request_to_zone_a(fleet):
    """frontend: one instance in a, one in b; payments: two in a, two in b, all healthy.

    Envoy's zone-aware routing: zone a holds 50% of the local cluster and 50% of payments, so
    the upstream share is not below the local share and every request is routed directly to
    zone a (`lb_zone_routing_all_directly`), none sampled or sent across zones.
    """
    require_sextant()
    config = fleet.config()
    app = fleet.http_backends("frontend-app")[0]
    zone_a = fleet.http_backends("payments-a1", "payments-a2")
    zone_b = fleet.http_backends("payments-b1", "payments-b2")
    config.write_service("frontend", app.port, "http1", [
        {"name": "payments", "zone_aware": {"enabled": True, "min_cluster_size": 4}}])
    config.write_service("payments", zone_a[0].port, "http1", [])
    config.catalog = {
        "frontend": [Instance(app.port, zone="a", region="local"), Instance(free_port(), zone="b", region="local")],
        "payments": [Instance(b.port, zone="a", region="local") for b in zone_a]
                    + [Instance(b.port, zone="b", region="local") for b in zone_b],
    }
    config.write_catalog()
    sextant = fleet.sextant(config)
    envoy = fleet.envoy(sextant.xds_port, "frontend", "a", bootstrap=shipped_bootstrap(sextant.xds_port))
    envoy.wait_synced()
    wait_for(lambda: envoy.cluster_hosts("payments") == config.hostports("payments")
             and len(envoy.cluster_hosts("frontend")) == 2, 5, what="Envoy to hold payments and frontend")

    before = envoy.stats()
    answers = spread(config.outbound_port, "payments", REQUESTS)
    after = envoy.stats()

    assert answers.keys() <= {b.name for b in zone_a}, answers
    assert sum(answers.values()) == REQUESTS
    moved = {k: after.get(k, 0) - before.get(k, 0) for k in after if k.startswith("cluster.payments.lb_zone")}
    assert moved.get("cluster.payments.lb_zone_routing_all_directly") == REQUESTS, moved
    assert moved.get("cluster.payments.lb_zone_routing_sampled", 0) == 0, moved
    assert moved.get("cluster.payments.lb_zone_routing_cross_zone", 0) == 0, moved
    assert all(b.hit_count() == 0 for b in zone_b)


def test_envoy_gets_no_api_listeners_while_grpc_resolves_xds_targets(fleet, tmp_path):
    require_sextant()
    config = fleet.config()
    app_port = free_port()
    payments = fleet.grpc_backends("grpc-payments-0", "grpc-payments-1")
    ledger = fleet.grpc_backends("grpc-ledger-0")
    config.write_service("frontend", app_port, "http1", [
        {"name": "payments", "protocol": "grpc"}, {"name": "ledger", "protocol": "grpc"}])
    config.write_service("payments", payments[0].port, "grpc", [])
    config.write_service("ledger", ledger[0].port, "grpc", [])
    config.catalog = {"frontend": [Instance(app_port, zone="a")],
                      "payments": [Instance(b.port, zone="a") for b in payments],
                      "ledger": [Instance(b.port, zone="a") for b in ledger]}
    config.write_catalog()
    sextant = fleet.sextant(config)
    envoy = fleet.envoy(sextant.xds_port, "frontend", "a")
    envoy.wait_synced()

    # A listener update after the first one: each one used to log the warning again.
    config.add_instance("payments", Instance(free_port(), zone="a"))
    wait_for(lambda: len(envoy.cluster_hosts("payments")) == 3, 5, what="Envoy to see the new instance")

    result = run_client(tmp_path, xds_bootstrap(tmp_path / "xds.json", sextant.xds_port, "frontend-grpc-0",
                                                "frontend", "a"), "xds:///payments", 20)
    assert result["error"] is None and result["exit"] == 0, f"{result['error']}\n{result['log']}"
    assert set(result["answers"]) <= {b.name for b in payments} and sum(result["answers"].values()) == 20

    listeners = config_section(envoy.config_dump(), "ListenersConfigDump")
    dynamic = [entry["active_state"]["listener"] for entry in listeners.get("dynamic_listeners", [])]
    assert sorted(listener["name"] for listener in dynamic) == ["inbound", "outbound"], dynamic
    assert not any("api_listener" in listener for listener in dynamic)
    assert "only one ApiListener" not in envoy.log_path.read_text(errors="replace")
    log = sextant.log_path.read_text(errors="replace")
    assert re.search(r"client=envoy .*user_agent=envoy .*ads stream opened", log), log[-2000:]
    assert re.search(r"client=grpc .*user_agent=gRPC .*ads stream opened", log), log[-2000:]

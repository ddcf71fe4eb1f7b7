"""A real Envoy sidecar, over SotW and delta ADS, accepts everything Sextant sends and routes with it."""

import re

import pytest

from harness.fleet import managed_fleet, require_sextant
from harness.mesh import Mesh, http_get
from harness.processes import config_section

MODES = ["sotw", "delta"]


@pytest.fixture(scope="module", params=MODES)
def mesh(request, tmp_path_factory):
    require_sextant()
    with managed_fleet(tmp_path_factory.mktemp(f"ads-{request.param}")) as fleet:
        yield Mesh(fleet, delta=request.param == "delta")


def test_every_xds_type_accepted_and_nothing_rejected(mesh):
    stats = mesh.envoy.stats()
    assert stats.get("cluster_manager.cds.update_success", 0) >= 1
    assert stats.get("listener_manager.lds.update_success", 0) >= 1
    rds = {k: v for k, v in stats.items() if re.search(r"\.rds\.outbound\.update_success$", k)}
    assert rds and all(v >= 1 for v in rds.values()), f"no accepted RDS for route 'outbound': {rds}"
    assert stats.get("cluster.payments.update_success", 0) >= 1, "no accepted EDS for payments"
    assert mesh.envoy.rejected(stats) == {}
    assert stats.get("cluster_manager.warming_clusters", 0) == 0
    assert stats.get("listener_manager.total_listeners_warming", 0) == 0
    assert stats.get("control_plane.connected_state") == 1


def test_config_dump_holds_our_resources(mesh):
    dump = mesh.envoy.config_dump()
    clusters = {c["cluster"]["name"]: c["cluster"]
                for c in config_section(dump, "ClustersConfigDump").get("dynamic_active_clusters", [])}
    assert {"payments", "passthrough", "inbound|frontend"} <= set(clusters), sorted(clusters)
    assert "ledger" not in clusters, "a service nobody depends on got a cluster"
    assert clusters["payments"].get("type") == "EDS"
    assert clusters["passthrough"].get("type") == "ORIGINAL_DST"
    original_dst = clusters["passthrough"].get("original_dst_lb_config", {})
    assert original_dst.get("use_http_header") is True, original_dst

    listeners = {entry["name"]: entry["active_state"]["listener"]
                 for entry in config_section(dump, "ListenersConfigDump").get("dynamic_listeners", [])
                 if "active_state" in entry}
    assert {"outbound", "inbound"} <= set(listeners), sorted(listeners)
    ports = {name: listeners[name]["address"]["socket_address"]["port_value"]
             for name in ("outbound", "inbound")}
    assert ports == {"outbound": mesh.config.outbound_port, "inbound": mesh.config.inbound_port}

    routes = {r["route_config"]["name"]: r["route_config"]
              for r in config_section(dump, "RoutesConfigDump").get("dynamic_route_configs", [])}
    assert "outbound" in routes, sorted(routes)
    domains = {d for vh in routes["outbound"].get("virtual_hosts", []) for d in vh.get("domains", [])}
    assert {"payments", "payments:*", "payments.service.consul", "payments.service.consul:*"} <= domains
    assert "*" in domains, "no catch-all virtual host for passthrough"

    eds = config_section(mesh.envoy.config_dump(include_eds=True), "EndpointsConfigDump")
    assignments = {e["endpoint_config"]["cluster_name"]: e["endpoint_config"]
                   for e in eds.get("dynamic_endpoint_configs", [])}
    assert "payments" in assignments, sorted(assignments)


def test_dependency_traffic_reaches_every_payments_backend(mesh):
    before = {b.name: b.hit_count() for b in mesh.payments}
    answers = mesh.spread("payments", 60)
    assert set(answers) == {b.name for b in mesh.payments}, answers
    for backend in mesh.payments:
        assert backend.hit_count() > before[backend.name], f"{backend.name} got no traffic: {answers}"


@pytest.mark.parametrize("host", ["payments:8080", "payments.service.consul",
                                  "payments.service.consul:8080"])
def test_consul_style_host_names_route_to_the_dependency(mesh, host):
    answers = mesh.spread(host, 6)
    assert set(answers) <= {b.name for b in mesh.payments}, answers


def test_undeclared_call_goes_through_passthrough(mesh):
    before = mesh.ledger.hit_count()
    status, body, _ = mesh.get("ledger", {"x-envoy-original-dst-host": mesh.ledger.hostport})
    assert (status, body) == (200, "ledger-0")
    assert mesh.ledger.hit_count() == before + 1


def test_inbound_listener_reaches_the_local_app(mesh):
    status, body, _ = http_get(mesh.config.inbound_port, "frontend")
    assert (status, body) == (200, "frontend-app")

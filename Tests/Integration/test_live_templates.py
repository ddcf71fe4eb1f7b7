"""Live templates: an edit to a service's template reaches a connected Envoy without a restart;
a broken, invalid or deleted template never replaces the last good one (issue 8).

Scenario: the standard mesh (frontend's sidecar depends on payments), with frontend's template
rewritten by each test. What is judged is Envoy's own /config_dump (the route timeout of the
payments virtual host) and traffic through its outbound listener.
"""

import os
import time

import pytest
import yaml

from harness.fleet import require_sextant
from harness.mesh import Mesh, Traffic, steady
from harness.processes import config_section
from harness.util import wait_for

EDIT_BOUND = float(os.environ.get("SEXTANT_TEMPLATE_EDIT_BOUND", "2.0"))  # seconds, file edit -> Envoy
REFUSAL_BOUND = 3.0  # seconds until a refused file shows on the admin API


def write_frontend(mesh: Mesh, timeout: str = "5s", retries: int = 2, raw: str | None = None) -> None:
    """frontend.yaml with one payments dependency (written atomically, as an editor's rename)."""
    path = mesh.config.templates_dir / "frontend.yaml"
    text = raw if raw is not None else yaml.safe_dump({
        "service": "frontend",
        "inbound": {"port": mesh.app.port, "protocol": "http1"},
        "dependencies": [{"name": "payments", "timeout": timeout, "retries": {"num_retries": retries}}],
    }, sort_keys=False)
    temp = path.with_name(".frontend.yaml.tmp")
    temp.write_text(text)
    os.replace(temp, path)


def typo_text(mesh: Mesh) -> str:
    return ("service: frontend\n"
            f"inbound:\n  port: {mesh.app.port}\n  protocol: http1\n"
            "dependencies:\n  - name: payments\n    timeout: 3s\n    retries:\n      num_retries: three\n")


def payments_route(envoy) -> dict | None:
    """The route of the payments virtual host in Envoy's outbound route configuration."""
    routes = config_section(envoy.config_dump(), "RoutesConfigDump")
    for dynamic in routes.get("dynamic_route_configs", []):
        for host in dynamic.get("route_config", {}).get("virtual_hosts", []):
            if any(d.startswith("payments") for d in host.get("domains", [])):
                return host["routes"][0]
    return None


def route_timeout(envoy) -> str | None:
    route = payments_route(envoy)
    return route.get("route", {}).get("timeout") if route else None


def wait_timeout(envoy, expected: str, bound: float) -> float:
    started = time.monotonic()
    envoy.wait_for(lambda e: route_timeout(e) == expected, bound,
                   what=f"Envoy's payments route timeout to become {expected}")
    return time.monotonic() - started


def templates_debug(sextant) -> dict:
    import json
    status, body = sextant.admin("/debug/templates")
    assert status == 200, body
    return json.loads(body)


def refused_files(sextant) -> dict[str, dict]:
    return {os.path.basename(r["file"]): r for r in templates_debug(sextant)["refused"]}


def metric(sextant, name: str) -> float:
    status, body = sextant.admin("/metrics")
    assert status == 200
    for line in body.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[1])
    raise AssertionError(f"no {name} in /metrics")


def dynamic_config(envoy) -> tuple:
    """Envoy's accepted clusters and routes (what a broken template must not change)."""
    dump = envoy.config_dump()
    clusters = sorted(c["cluster"]["name"] for c in config_section(dump, "ClustersConfigDump").get("dynamic_active_clusters", []))
    routes = [r["route_config"] for r in config_section(dump, "RoutesConfigDump").get("dynamic_route_configs", [])]
    return clusters, routes


def live_mesh(fleet, delta=False) -> Mesh:
    mesh = Mesh(fleet, delta=delta)
    write_frontend(mesh, timeout="5s")
    wait_timeout(mesh.envoy, "5s", 5.0)
    return mesh


@pytest.mark.parametrize("mode", ["sotw", "delta"])
def test_a_template_edit_reaches_envoy_without_a_restart(fleet, mode):
    require_sextant()
    mesh = live_mesh(fleet, delta=mode == "delta")
    streams = mesh.envoy.stat("cluster.xds.upstream_cx_total")
    with Traffic(mesh.config.outbound_port) as traffic:
        write_frontend(mesh, timeout="3s")
        took = wait_timeout(mesh.envoy, "3s", EDIT_BOUND)
        print(f"{mode}: template edit reached Envoy's config_dump after {took:.3f}s")
        time.sleep(0.3)
    assert took <= EDIT_BOUND
    assert traffic.ok > 0 and traffic.failures == []
    assert mesh.envoy.stat("cluster.xds.upstream_cx_total") == streams, "Envoy reconnected"
    assert mesh.envoy.rejected(mesh.envoy.stats()) == {}
    assert "templates applied" in mesh.sextant.log()


def test_typo_invalid_value_and_deleted_file_leave_envoy_unchanged_then_a_fix_applies(fleet):
    require_sextant()
    mesh = live_mesh(fleet)
    before = dynamic_config(mesh.envoy)
    assert "payments" in before[0]
    broken = {  # what: (text, file:line:col of the error)
        "typo": (typo_text(mesh), "frontend.yaml:9:20: dependencies[0].retries.num_retries"),
        "invalid value": (typo_text(mesh).replace("num_retries: three", "num_retries: 2").replace("timeout: 3s", "timeout: -3s"),
                          "frontend.yaml:7:14: dependencies[0].timeout"),
    }
    with Traffic(mesh.config.outbound_port) as traffic:
        for what, (text, position) in broken.items():
            write_frontend(mesh, raw=text)
            def refused():
                refusal = refused_files(mesh.sextant).get("frontend.yaml")
                # file:line:col of the offending value, as validate prints it.
                return refusal if refusal and any(position in e for e in refusal["errors"]) else None
            refusal = wait_for(refused, REFUSAL_BOUND, what=f"the {what} to be refused at {position}")
            assert refusal["kind"] == "invalid" and refusal["servingLastGood"], refusal
            steady(1.0, lambda: dynamic_config(mesh.envoy) == before)
            status, body = mesh.sextant.admin("/readyz")
            assert status == 200 and "degraded" in body and position in body, body
            assert position in mesh.sextant.log()
            assert metric(mesh.sextant, "sextant_templates_refused") == 1
            assert metric(mesh.sextant, "sextant_templates_withheld") == 0

        (mesh.config.templates_dir / "frontend.yaml").unlink()
        refusal = wait_for(lambda: refused_files(mesh.sextant).get("frontend.yaml"), REFUSAL_BOUND,
                           what="the deletion to be reported")
        wait_for(lambda: refused_files(mesh.sextant)["frontend.yaml"]["kind"] == "deleted", REFUSAL_BOUND,
                 what="the deletion to be reported")
        steady(1.0, lambda: dynamic_config(mesh.envoy) == before)
        status, body = mesh.sextant.admin("/readyz")
        assert status == 200 and "deleted" in body, body

        write_frontend(mesh, timeout="3s")
        took = wait_timeout(mesh.envoy, "3s", EDIT_BOUND)
        print(f"fix reached Envoy after {took:.3f}s")
        wait_for(lambda: not templates_debug(mesh.sextant)["degraded"], REFUSAL_BOUND, what="degraded to clear")
        time.sleep(0.3)
    assert traffic.ok > 0 and traffic.failures == [], traffic.failures[:5]
    assert metric(mesh.sextant, "sextant_templates_refused") == 0
    status, body = mesh.sextant.admin("/readyz")
    assert status == 200 and "degraded" not in body, body
    log = mesh.sextant.log()
    assert "template refused" in log and "num_retries" in log and "template accepted again" in log
    assert mesh.envoy.rejected(mesh.envoy.stats()) == {}


def test_a_restart_with_a_broken_file_serves_the_last_good_config(fleet):
    require_sextant()
    mesh = live_mesh(fleet)
    write_frontend(mesh, timeout="3s")
    wait_timeout(mesh.envoy, "3s", EDIT_BOUND)
    before = dynamic_config(mesh.envoy)
    xds_port = mesh.sextant.xds_port
    with Traffic(mesh.config.outbound_port) as traffic:
        code, _ = mesh.sextant.stop()
        fleet.sextants.remove(mesh.sextant)
        assert code == 0
        write_frontend(mesh, raw=typo_text(mesh))
        restarted = fleet.sextant(mesh.config, xds_port=xds_port)
        # A sidecar that connects now gets frontend's last good template, not the empty default.
        newcomer = fleet.envoy(xds_port, "frontend", mesh.zone, node_id="frontend-new")
        newcomer.wait_synced()
        wait_for(lambda: route_timeout(newcomer) == "3s", 5, what="the newcomer's last good route")
        assert "payments" in dynamic_config(newcomer)[0]
        mesh.envoy.wait_for(lambda e: e.stat("control_plane.connected_state") == 1, 10, what="Envoy to reconnect")
        steady(1.0, lambda: dynamic_config(mesh.envoy) == before)
        status, body = restarted.admin("/readyz")
        assert status == 200 and "degraded" in body, body
        assert refused_files(restarted)["frontend.yaml"]["servingLastGood"]
        # Fixing the file applies it.
        write_frontend(mesh, timeout="4s")
        wait_timeout(mesh.envoy, "4s", EDIT_BOUND)
        time.sleep(0.3)
    assert traffic.ok > 0 and traffic.failures == [], traffic.failures[:5]
    assert "template refused at start; serving the last good version restored from" in restarted.log()


def test_a_new_broken_template_gets_nothing_rather_than_the_default(fleet):
    require_sextant()
    mesh = Mesh(fleet)
    # A service nobody has templated yet, whose first file is broken: its sidecar gets nothing.
    (mesh.config.templates_dir / "ledger.yaml").unlink()
    stray = mesh.config.templates_dir / "billing.yaml"
    stray.write_text("service: billing\ndependencies:\n  - name: payments\n    timeout: soon\n")
    wait_for(lambda: refused_files(mesh.sextant).get("billing.yaml"), REFUSAL_BOUND, what="billing.yaml refused")
    assert templates_debug(mesh.sextant)["withheld"] == ["billing"]
    assert metric(mesh.sextant, "sextant_templates_withheld") == 1
    sidecar = fleet.envoy(mesh.sextant.xds_port, "billing", mesh.zone, node_id="billing-0")
    time.sleep(1.5)
    assert sidecar.stat("cluster_manager.cds.update_success") in (None, 0)
    # Fixed: it gets its template.
    stray.write_text("service: billing\ndependencies:\n  - name: payments\n    timeout: 2s\n")
    sidecar.wait_synced()
    wait_for(lambda: route_timeout(sidecar) == "2s", 5, what="billing's route")

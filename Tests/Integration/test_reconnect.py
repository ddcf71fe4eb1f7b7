"""An Envoy that stays up across control-plane restarts always gets the endpoints of its clusters.

Make-before-break must hold across reconnects: a new server process starts its nonces afresh,
while Envoy's requests on the new stream may still carry a nonce from the old one.
"""

import pytest

from harness.fleet import require_sextant
from harness.mesh import Mesh


def restart(mesh, fleet):
    """Stop the serving sextant and start a new one on the same xDS port and state dir."""
    old = mesh.sextant
    port = old.xds_port
    old.stop()
    old.reported = True  # stopped on purpose: the fleet must not report it as dead
    mesh.sextant = fleet.sextant(mesh.config, xds_port=port)


@pytest.mark.parametrize("mode", ["sotw", "delta"])
def test_clusters_re_added_after_a_restart_get_their_endpoints(fleet, mode):
    require_sextant()
    mesh = Mesh(fleet, delta=mode == "delta", payments=2)
    c = mesh.config
    assert mesh.spread("payments", 10).keys() <= {b.name for b in mesh.payments}

    # A restart with frontend depending on nothing: Envoy drops the payments cluster.
    c.write_service("frontend", mesh.app.port, "http1", [])
    restart(mesh, fleet)
    mesh.envoy.wait_for(lambda e: "payments::" not in e.clusters(), 10, "payments cluster to go")

    # A restart with the dependency back: the cluster comes back, with its endpoints, at once
    # (not after Envoy's 15 s initial fetch timeout), and traffic flows again.
    c.write_service("frontend", mesh.app.port, "http1", ["payments"])
    restart(mesh, fleet)
    mesh.wait_hosts("payments", c.hostports("payments"), timeout=5)
    answers = mesh.spread("payments", 20)
    assert set(answers) <= {b.name for b in mesh.payments}, answers
    stats = mesh.envoy.stats()
    assert stats.get("cluster.payments.init_fetch_timeout", 0) == 0, stats.get("cluster.payments.init_fetch_timeout")


@pytest.mark.parametrize("mode", ["sotw", "delta"])
def test_an_unchanged_restart_keeps_every_endpoint(fleet, mode):
    require_sextant()
    mesh = Mesh(fleet, delta=mode == "delta", payments=2)
    for _ in range(2):
        restart(mesh, fleet)
        mesh.envoy.wait_for(lambda e: e.stat("control_plane.connected_state") == 1, 10, "reconnect")
        mesh.wait_hosts("payments", mesh.config.hostports("payments"), timeout=5)
        assert set(mesh.spread("payments", 10)) <= {b.name for b in mesh.payments}

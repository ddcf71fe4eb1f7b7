"""The project's Consul simulator (Tests/ConsulSimulator/consul_sim.py) with indexed reads, for benchmarks.

Why: `State.health_service` scans and sorts every service and every check on each read, about
1 s per `/v1/health/service/<name>` at 1,000 services x 20 instances. At that scale the simulator,
not Sextant, would be what the benchmark measures. This wrapper keeps two indexes next to the
simulator's own dicts (services by name, checks by node and service ID) and answers the read from
them; everything else (blocking, headers, faults, limits, stats, control API) is the simulator's
own code. At start it checks on a small randomised state that both implementations give the same
answers. It unblocks the signals its parent may have blocked (so SIGTERM stops it) and exits
when its parent process dies (so a crashed benchmark leaves no server behind).

Run: python -u consul_sim_indexed.py --port 0      (same arguments and output as consul_sim.py)
"""

from __future__ import annotations

import os
import random
import signal
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "Tests", "ConsulSimulator"))
import consul_sim  # noqa: E402

_original_health_service = consul_sim.State.health_service


class _Services(dict):
    """(node, service id) -> NodeService, indexed by service name."""

    def __init__(self):
        super().__init__()
        self.by_name: dict[str, set] = {}

    def _unindex(self, key):
        old = dict.get(self, key)
        if old is not None:
            keys = self.by_name.get(old["Service"])
            if keys is not None:
                keys.discard(key)
                if not keys:
                    del self.by_name[old["Service"]]

    def __setitem__(self, key, value):
        self._unindex(key)
        dict.__setitem__(self, key, value)
        self.by_name.setdefault(value["Service"], set()).add(key)

    def __delitem__(self, key):
        self._unindex(key)
        dict.__delitem__(self, key)

    def pop(self, key, *default):
        self._unindex(key)
        return dict.pop(self, key, *default)


class _Checks(dict):
    """(node, check id) -> HealthCheck, indexed by (node, ServiceID); ServiceID "" is node-level."""

    def __init__(self):
        super().__init__()
        self.by_owner: dict[tuple, dict] = {}

    def _unindex(self, key):
        old = dict.get(self, key)
        if old is not None:
            owner = (key[0], old["ServiceID"])
            checks = self.by_owner.get(owner)
            if checks is not None:
                checks.pop(key[1], None)
                if not checks:
                    del self.by_owner[owner]

    def __setitem__(self, key, value):
        self._unindex(key)
        dict.__setitem__(self, key, value)
        self.by_owner.setdefault((key[0], value["ServiceID"]), {})[key[1]] = value

    def __delitem__(self, key):
        self._unindex(key)
        dict.__delitem__(self, key)

    def pop(self, key, *default):
        self._unindex(key)
        return dict.pop(self, key, *default)


def _indexed_health_service(self, name: str) -> list[dict]:
    """Same answer as `State.health_service`: entries by (node, service id), checks by check id."""
    entries = []
    for node, sid in sorted(self.services.by_name.get(name, ())):
        svc = self.services[(node, sid)]
        owned = dict(self.checks.by_owner.get((node, ""), {}))
        if sid:
            owned.update(self.checks.by_owner.get((node, sid), {}))
        checks = [owned[cid] for cid in sorted(owned)]
        entries.append({"Node": self.nodes[node], "Service": consul_sim._render_service(svc), "Checks": checks})
    return entries


_original_init = consul_sim.State.__init__


def _indexed_init(self, *args, **kwargs):
    _original_init(self, *args, **kwargs)
    self.services = _Services()
    self.checks = _Checks()


def _self_check() -> None:
    """Both implementations agree on a small state with node checks, updates and deletions."""
    rnd = random.Random(7)
    sim = consul_sim.ConsulSim(port=0)
    st = sim.state
    with st.cond:
        for n in range(4):
            st.ensure_node(f"n{n}", f"10.1.0.{n + 1}", {"zone": f"z{n % 2}"})
        for i in range(60):
            node, svc = f"n{rnd.randrange(4)}", f"s{rnd.randrange(6)}"
            sid = f"{svc}-{i}"
            st.ensure_service(node, {"Service": svc, "ID": sid, "Port": 1000 + i})
            st.ensure_check(node, {"CheckID": f"service:{sid}", "Status": rnd.choice(["passing", "critical"]),
                                   "ServiceID": sid}, sid)
        st.ensure_check("n1", {"CheckID": "maint", "Status": "warning"})
        for key in rnd.sample(sorted(st.services), 10):
            st.delete_service(*key)
        key = rnd.choice(sorted(st.services))
        st.ensure_service(key[0], {"Service": "moved", "ID": key[1], "Port": 7})
        st.delete_check("n1", "maint")
        st.delete_node("n3")
        for name in [f"s{i}" for i in range(6)] + ["moved", "absent"]:
            if _indexed_health_service(st, name) != _original_health_service(st, name):
                sys.exit(f"consul_sim_indexed: indexed health_service disagrees with consul_sim for {name}")


def _exit_with_parent() -> None:
    parent = os.getppid()
    while os.getppid() == parent:
        time.sleep(0.5)
    os._exit(0)


consul_sim.State.__init__ = _indexed_init
consul_sim.State.health_service = _indexed_health_service

if __name__ == "__main__":
    # A child of a Swift process inherits the signal mask of the thread that spawned it, with
    # SIGTERM blocked: unblock everything so SIGTERM stops the simulator.
    signal.pthread_sigmask(signal.SIG_SETMASK, [])
    _self_check()
    threading.Thread(target=_exit_with_parent, daemon=True).start()
    consul_sim.main()

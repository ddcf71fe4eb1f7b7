"""The Consul simulator reproduces what Consul's HTTP API documents (see Tests/ConsulSimulator/README.md).

Each test names the behaviour it pins down; the reference is consul-api.md in the shared notes.
"""

import http.client
import json
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "ConsulSimulator"))

from consul_sim import ConsulSim, parse_go_duration  # noqa: E402


@pytest.fixture
def sim():
    s = ConsulSim()
    s.start()
    yield s
    s.stop()


def get(sim, path, headers=None, timeout=10.0):
    conn = http.client.HTTPConnection("127.0.0.1", sim.port, timeout=timeout)
    conn.request("GET", path, headers=headers or {})
    resp = conn.getresponse()
    body = resp.read()
    conn.close()
    hdrs = {k: v for k, v in resp.getheaders()}
    try:
        parsed = json.loads(body) if body else None
    except ValueError:
        parsed = body
    return resp.status, hdrs, parsed, body


def put(sim, path, body=None, headers=None):
    conn = http.client.HTTPConnection("127.0.0.1", sim.port, timeout=10)
    data = json.dumps(body).encode() if body is not None else b""
    conn.request("PUT", path, body=data, headers=headers or {})
    resp = conn.getresponse()
    out = resp.read()
    conn.close()
    return resp.status, out


# ---------- /v1/catalog/services ----------

def test_catalog_services_is_an_object_of_tags_with_empty_list_not_null(sim):
    sim.register("web", 8080, tags=["a", "b"])
    sim.register("web", 8081, tags=["c"])
    sim.register("db", 5432)
    status, headers, body, _ = get(sim, "/v1/catalog/services")
    assert status == 200
    assert body["db"] == []
    assert sorted(body["web"]) == ["a", "b", "c"]
    assert list(body) == sorted(body)           # Go sorts map keys
    assert int(headers["X-Consul-Index"]) >= 1


def test_catalog_services_index_ignores_check_changes(sim):
    sim.register("web", 8080)
    _, h1, _, _ = get(sim, "/v1/catalog/services")
    sim.set_check("web-8080", "critical")
    _, h2, _, _ = get(sim, "/v1/catalog/services")
    assert h1["X-Consul-Index"] == h2["X-Consul-Index"]
    _, s1, _, _ = get(sim, "/v1/health/service/web")
    assert int(s1["X-Consul-Index"]) > int(h1["X-Consul-Index"])


# ---------- /v1/health/service ----------

def test_health_entry_shape_port_omitted_when_zero_and_empty_address(sim):
    sim.register("web", 0, service_id="web-noport", address="")
    sim.register("web", 9000, service_id="web-1", address="10.1.1.1",
                 tagged_addresses={"lan_ipv4": {"Address": "10.1.1.1", "Port": 9000}},
                 locality={"Region": "r1", "Zone": "z1"}, weights={"Passing": 5, "Warning": 1})
    status, _, body, _ = get(sim, "/v1/health/service/web")
    assert status == 200
    by_id = {e["Service"]["ID"]: e for e in body}
    assert "Port" not in by_id["web-noport"]["Service"]       # omitempty
    assert by_id["web-noport"]["Service"]["Address"] == ""     # client falls back to Node.Address
    assert by_id["web-noport"]["Node"]["Address"] == "127.0.0.1"
    svc = by_id["web-1"]["Service"]
    assert svc["TaggedAddresses"]["lan_ipv4"] == {"Address": "10.1.1.1", "Port": 9000}
    assert svc["Locality"] == {"Region": "r1", "Zone": "z1"}
    assert svc["Weights"] == {"Passing": 5, "Warning": 1}
    assert svc["Meta"] is None and svc["Tags"] == []
    checks = {c["CheckID"] for c in by_id["web-1"]["Checks"]}
    assert checks == {"serfHealth", "service:web-1"}          # node-level check included


def test_unknown_service_is_200_empty_list(sim):
    status, headers, body, _ = get(sim, "/v1/health/service/nope")
    assert status == 200 and body == [] and int(headers["X-Consul-Index"]) >= 1


def test_passing_filter_and_invalid_value(sim):
    sim.register("web", 1, status="passing")
    sim.register("web", 2, status="warning")
    _, h_all, all_, _ = get(sim, "/v1/health/service/web")
    _, h_pass, passing, _ = get(sim, "/v1/health/service/web?passing")
    assert len(all_) == 2 and [e["Service"]["Port"] for e in passing] == [1]
    assert h_all["X-Consul-Index"] == h_pass["X-Consul-Index"]   # index of the service, not the result
    _, _, p2, _ = get(sim, "/v1/health/service/web?passing=false")
    assert len(p2) == 2
    status, _, _, raw = get(sim, "/v1/health/service/web?passing=maybe")
    assert status == 400 and b"Invalid value for ?passing" in raw


def test_node_level_check_fails_every_instance_on_the_node(sim):
    sim.register("web", 1)
    sim.set_node_check(sim.node, "critical")
    _, _, passing, _ = get(sim, "/v1/health/service/web?passing")
    assert passing == []


def test_deleting_a_node_level_check_moves_the_index_of_every_service_on_the_node(sim):
    """The health of every instance on the node changed, so blocked queries on them must wake."""
    sim.register("web", 1)
    _, before, body, _ = get(sim, "/v1/health/service/web")
    assert {c["CheckID"] for c in body[0]["Checks"]} == {"serfHealth", "service:web-1"}
    assert put(sim, "/v1/catalog/deregister", {"Node": sim.node, "CheckID": "serfHealth"})[0] == 200
    _, after, body, _ = get(sim, "/v1/health/service/web")
    assert {c["CheckID"] for c in body[0]["Checks"]} == {"service:web-1"}
    assert int(after["X-Consul-Index"]) > int(before["X-Consul-Index"])


def test_tag_filter_is_case_insensitive_and_all_must_match(sim):
    sim.register("web", 1, tags=["Primary", "v2"])
    sim.register("web", 2, tags=["primary"])
    _, _, body, _ = get(sim, "/v1/health/service/web?tag=PRIMARY&tag=v2")
    assert [e["Service"]["Port"] for e in body] == [1]


def test_dc_and_ns_parameters(sim):
    assert get(sim, "/v1/health/service/web?dc=dc1")[0] == 200
    status, _, _, raw = get(sim, "/v1/health/service/web?dc=elsewhere")
    assert status == 500 and b"No path to datacenter" in raw
    status, _, _, raw = get(sim, "/v1/health/service/web?ns=team")
    assert status == 400 and b"Enterprise" in raw


# ---------- blocking queries ----------

def test_blocking_query_waits_for_a_change_of_the_covered_data(sim):
    sim.register("web", 1)
    _, h, _, _ = get(sim, "/v1/health/service/web")
    index = h["X-Consul-Index"]
    threading.Timer(0.3, lambda: sim.register("web", 2)).start()
    start = time.monotonic()
    _, h2, body, _ = get(sim, f"/v1/health/service/web?index={index}&wait=5s")
    elapsed = time.monotonic() - start
    assert 0.2 < elapsed < 2.0
    assert int(h2["X-Consul-Index"]) > int(index) and len(body) == 2


def test_blocking_query_ignores_other_services_and_idempotent_writes(sim):
    sim.register("web", 1)
    _, h, _, _ = get(sim, "/v1/health/service/web")
    index = h["X-Consul-Index"]

    def writes():
        time.sleep(0.1)
        sim.register("db", 5432)        # another service
        sim.register("web", 1)          # identical re-registration: no-op
    threading.Thread(target=writes).start()
    start = time.monotonic()
    _, h2, _, _ = get(sim, f"/v1/health/service/web?index={index}&wait=1s")
    elapsed = time.monotonic() - start
    assert elapsed >= 1.0 and elapsed <= 1.0 + 1.0 / 16 + 0.5   # wait + up to wait/16 jitter
    assert h2["X-Consul-Index"] == index                        # timeout: same index, same body


def test_index_zero_does_not_block_and_bad_parameters_are_400(sim):
    start = time.monotonic()
    assert get(sim, "/v1/catalog/services?index=0&wait=5s")[0] == 200
    assert time.monotonic() - start < 1.0
    status, _, _, raw = get(sim, "/v1/catalog/services?index=abc")
    assert status == 400 and b"Invalid index" in raw
    status, _, _, raw = get(sim, "/v1/catalog/services?index=1&wait=forever")
    assert status == 400 and b"Invalid wait time" in raw


def test_go_duration_parsing():
    assert parse_go_duration("10s") == 10 and parse_go_duration("5m") == 300
    assert parse_go_duration("1m30s") == 90 and parse_go_duration("250ms") == 0.25
    with pytest.raises(ValueError):
        parse_go_duration("10")


def test_missing_service_blocks_until_it_appears(sim):
    _, h, _, _ = get(sim, "/v1/health/service/later")
    threading.Timer(0.2, lambda: sim.register("later", 1)).start()
    start = time.monotonic()
    _, _, body, _ = get(sim, f"/v1/health/service/later?index={h['X-Consul-Index']}&wait=5s")
    assert time.monotonic() - start < 2.0 and len(body) == 1


def test_deregistering_the_last_instance_sets_the_extinction_index(sim):
    sim.register("web", 1)
    sim.deregister("web-1")
    _, h, body, _ = get(sim, "/v1/health/service/web")
    assert body == [] and int(h["X-Consul-Index"]) == sim.state.extinction


# ---------- headers and consistency ----------

def test_meta_headers_in_go_canonical_case(sim):
    _, _, _, _ = get(sim, "/v1/catalog/services")
    conn = http.client.HTTPConnection("127.0.0.1", sim.port, timeout=5)
    conn.request("GET", "/v1/catalog/services")
    resp = conn.getresponse()
    resp.read()
    names = [k for k, _ in resp.getheaders()]
    conn.close()
    for name in ("X-Consul-Index", "X-Consul-Knownleader", "X-Consul-Lastcontact",
                 "X-Consul-Effective-Consistency"):
        assert name in names


def test_stale_reads_without_leader(sim):
    sim.set_leader(known=False, last_contact_ms=4200)
    status, _, _, raw = get(sim, "/v1/health/service/web")
    assert status == 500 and b"No cluster leader" in raw
    status, h, _, _ = get(sim, "/v1/health/service/web?stale")
    assert status == 200
    assert h["X-Consul-Knownleader"] == "false" and h["X-Consul-Lastcontact"] == "4200"
    assert h["X-Consul-Effective-Consistency"] == "stale"
    status, _, _, raw = get(sim, "/v1/health/service/web?stale&consistent")
    assert status == 400 and b"conflicting semantics" in raw


# ---------- ACLs ----------

def test_acl_unknown_token_403_and_filtered_reads_200(sim):
    sim.acl_default_policy = "deny"
    sim.add_token("team-a", services=["web"])
    sim.register("web", 1)
    sim.register("db", 2)
    status, _, _, raw = get(sim, "/v1/health/service/web", {"X-Consul-Token": "bogus"})
    assert status == 403 and b"ACL not found" in raw
    # anonymous under default deny: 200 [] -- indistinguishable from "gone", no header
    status, h, body, _ = get(sim, "/v1/health/service/web")
    assert status == 200 and body == [] and "X-Consul-Results-Filtered-By-Acls" not in h
    # a real token that may not see db: 200 [] with the header
    status, h, body, _ = get(sim, "/v1/health/service/db", {"X-Consul-Token": "team-a"})
    assert status == 200 and body == [] and h.get("X-Consul-Results-Filtered-By-Acls") == "true"
    status, h, body, _ = get(sim, "/v1/catalog/services?token=team-a")
    assert status == 200 and list(body) == ["web"]
    status, _, body, _ = get(sim, "/v1/health/service/web", {"Authorization": "Bearer team-a"})
    assert status == 200 and len(body) == 1


# ---------- writes ----------

def test_agent_register_deregister_and_check_updates(sim):
    status, _ = put(sim, "/v1/agent/service/register",
                    {"Name": "api", "ID": "api-1", "Port": 7000, "Check": {"TTL": "10s"}})
    assert status == 200
    _, _, body, _ = get(sim, "/v1/health/service/api")
    assert body[0]["Service"]["Weights"] == {"Passing": 1, "Warning": 1}
    assert {c["CheckID"]: c["Status"] for c in body[0]["Checks"]}["service:api-1"] == "critical"
    assert put(sim, "/v1/agent/check/pass/service:api-1")[0] == 200
    _, _, body, _ = get(sim, "/v1/health/service/api?passing")
    assert len(body) == 1
    status, out = put(sim, "/v1/agent/service/deregister/api")
    assert status == 404 and b'Unknown service ID "api"' in out
    assert put(sim, "/v1/agent/service/deregister/api-1")[0] == 200
    assert get(sim, "/v1/health/service/api")[2] == []


def test_catalog_register_and_deregister(sim):
    status, out = put(sim, "/v1/catalog/register", {
        "Node": "n1", "Address": "10.0.0.1", "NodeMeta": {"zone": "a"},
        "Service": {"ID": "s1", "Service": "svc", "Port": 80},
        "Check": {"CheckID": "service:s1", "ServiceID": "s1", "Status": "warning"}})
    assert status == 200 and json.loads(out) is True
    _, _, body, _ = get(sim, "/v1/health/service/svc")
    assert body[0]["Node"]["Meta"] == {"zone": "a"}
    assert put(sim, "/v1/catalog/deregister", {"Node": "n1", "ServiceID": "s1"})[0] == 200
    assert get(sim, "/v1/health/service/svc")[2] == []


def test_wrong_method_is_405(sim):
    conn = http.client.HTTPConnection("127.0.0.1", sim.port, timeout=5)
    conn.request("PUT", "/v1/catalog/services")
    assert conn.getresponse().status == 405
    conn.close()


# ---------- connection limit ----------

def test_per_client_connection_limit_answers_429():
    sim = ConsulSim(max_conns_per_client=3)
    sim.start()
    try:
        sim.register("web", 1)
        _, h, _, _ = get(sim, "/v1/health/service/web")
        deadline = time.monotonic() + 5     # the server sees that connection close a moment later
        while sim.stats()["connections"].get("127.0.0.1") and time.monotonic() < deadline:
            time.sleep(0.01)
        held = []
        for _ in range(3):
            s = socket.create_connection(("127.0.0.1", sim.port))
            s.sendall(f"GET /v1/health/service/web?index={h['X-Consul-Index']}&wait=3s HTTP/1.1\r\n"
                      f"Host: x\r\n\r\n".encode())
            held.append(s)
        time.sleep(0.2)
        status, _, _, raw = get(sim, "/v1/catalog/services")
        assert status == 429 and b"too many concurrent connections" in raw
        assert sim.stats()["refused"] >= 1
        for s in held:
            s.close()
    finally:
        sim.stop()


# ---------- faults and stats ----------

def test_faults(sim):
    sim.register("web", 1)
    sim.fault("500", service="web", count=1)
    assert get(sim, "/v1/health/service/web")[0] == 500
    assert get(sim, "/v1/health/service/web")[0] == 200
    sim.fault("malformed", count=1)
    status, _, body, _ = get(sim, "/v1/health/service/web")
    assert status == 200 and isinstance(body, bytes)
    sim.fault("empty-instances", service="web", duration=0.3)
    assert get(sim, "/v1/health/service/web")[2] == []
    time.sleep(0.4)
    assert len(get(sim, "/v1/health/service/web")[2]) == 1
    sim.fault("empty-services", count=1)
    assert get(sim, "/v1/catalog/services")[2] == {}
    sim.fault("drop", count=1)
    with pytest.raises((http.client.RemoteDisconnected, ConnectionError)):
        get(sim, "/v1/catalog/services")
    sim.fault("slow", delay=0.5, count=1)
    start = time.monotonic()
    get(sim, "/v1/catalog/services")
    assert time.monotonic() - start >= 0.5
    sim.fault("hang", duration=0.5)
    start = time.monotonic()
    with pytest.raises((http.client.RemoteDisconnected, ConnectionError)):
        get(sim, "/v1/catalog/services")
    assert time.monotonic() - start >= 0.4


def test_index_backwards_and_index_zero_faults(sim):
    for p in range(1, 6):
        sim.register("web", p)
    _, h, _, _ = get(sim, "/v1/health/service/web")
    before = int(h["X-Consul-Index"])
    sim.fault("index-backwards", duration=1.0)
    _, h2, body, _ = get(sim, "/v1/health/service/web")
    assert int(h2["X-Consul-Index"]) < before and len(body) == 5
    sim.clear_faults()
    sim.fault("index-zero", count=1)
    _, h3, _, _ = get(sim, "/v1/health/service/web")
    assert h3["X-Consul-Index"] == "0"


def test_fault_wakes_blocked_queries_and_stats_count_requests(sim):
    sim.register("web", 1)
    _, h, _, _ = get(sim, "/v1/health/service/web")
    sim.reset_stats()
    threading.Timer(0.2, lambda: sim.fault("empty-instances", service="web", duration=5)).start()
    start = time.monotonic()
    _, _, body, _ = get(sim, f"/v1/health/service/web?index={h['X-Consul-Index']}&wait=5s")
    assert time.monotonic() - start < 2.0 and body == []
    stats = sim.stats()
    assert stats["requests"]["health-service"] == 1 and stats["requests"]["health-service/web"] == 1
    get(sim, "/v1/status/leader")
    put(sim, "/v1/agent/service/deregister/nope")
    assert [e["endpoint"] for e in sim.log()] == ["health-service"]   # reads only, one entry each


def test_refusing_faults_answer_new_blocking_queries_at_once_others_when_due(sim):
    sim.register("web", 1)
    index = get(sim, "/v1/health/service/web")[1]["X-Consul-Index"]
    sim.fault("500", service="web", duration=5)
    start = time.monotonic()
    assert get(sim, f"/v1/health/service/web?index={index}&wait=5s")[0] == 500
    assert time.monotonic() - start < 1.0
    sim.clear_faults()
    sim.fault("malformed", service="web", duration=5)     # alters an answer: only once one is due
    start = time.monotonic()
    _, _, body, _ = get(sim, f"/v1/health/service/web?index={index}&wait=1s")
    assert time.monotonic() - start >= 1.0 and isinstance(body, bytes)


def test_max_connections_counts_consul_clients_not_the_control_api(sim):
    control = http.client.HTTPConnection("127.0.0.1", sim.port, timeout=5)   # kept open
    control.request("POST", "/_sim/stats/reset", body=b"{}")
    control.getresponse().read()
    assert sim.stats()["max_connections"] == 0
    get(sim, "/v1/catalog/services")
    assert sim.stats()["max_connections"] == 1
    control.close()


def test_sigterm_stops_it_although_the_parent_blocked_sigterm():
    # A Swift test process spawns it from a thread that blocks SIGTERM; children inherit the mask.
    script = Path(__file__).resolve().parents[1] / "ConsulSimulator" / "consul_sim.py"
    proc = subprocess.Popen([sys.executable, "-u", str(script), "--port", "0"], stdout=subprocess.PIPE,
                            preexec_fn=lambda: signal.pthread_sigmask(signal.SIG_BLOCK, [signal.SIGTERM]))
    try:
        assert b"listening" in proc.stdout.readline()
        proc.terminate()
        proc.wait(timeout=2)
    finally:
        proc.kill()
        proc.stdout.close()


def test_control_api_over_http(sim):
    conn = http.client.HTTPConnection("127.0.0.1", sim.port, timeout=5)
    conn.request("POST", "/_sim/register", body=json.dumps({"service": "x", "port": 1}))
    assert conn.getresponse().read() == b'"x-1"'
    conn.request("POST", "/_sim/fault", body=json.dumps({"kind": "500", "count": 1}))
    assert conn.getresponse().read() == b"true"
    conn.request("GET", "/_sim/stats")
    stats = json.loads(conn.getresponse().read())
    assert "requests" in stats
    conn.request("POST", "/_sim/fault", body=json.dumps({"kind": "nonsense"}))
    assert conn.getresponse().status == 400
    conn.close()


def test_health_state_any_lists_every_check_and_blocks_on_the_check_table(sim):
    sim.register("web", 1)
    _, h, body, _ = get(sim, "/v1/health/state/any")
    assert {c["CheckID"] for c in body} == {"serfHealth", "service:web-1"}
    threading.Timer(0.2, lambda: sim.set_check("web-1", "warning")).start()
    start = time.monotonic()
    _, _, body, _ = get(sim, f"/v1/health/state/any?index={h['X-Consul-Index']}&wait=5s")
    assert time.monotonic() - start < 2.0
    assert {c["CheckID"]: c["Status"] for c in body}["service:web-1"] == "warning"

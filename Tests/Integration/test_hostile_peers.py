"""Misbehaving peers on the xDS port cost Sextant nothing: a connected Envoy keeps getting updates.

Each test does something hostile to the server while a real Envoy (SotW ADS) is connected,
then grows the catalog and requires the change to reach that Envoy within UPDATE_BOUND,
on its original connection, with the sextant process still alive.
"""

import random
import socket
import struct

import pytest

from harness import adsclient as ads
from harness import h2raw
from harness.config import ZONE
from harness.fleet import managed_fleet, require_sextant
from harness.mesh import ConnectionWatch, Mesh

CLOSE_BOUND = 5.0   # seconds for the server to drop a connection that sent garbage
RSS_GROWTH_LIMIT = 256 << 20


@pytest.fixture(scope="module")
def mesh(tmp_path_factory):
    require_sextant()
    with managed_fleet(tmp_path_factory.mktemp("hostile")) as fleet:
        mesh = Mesh(fleet, delta=False)
        mesh.baseline_cx = mesh.envoy.stats()["cluster.xds.upstream_cx_total"]
        yield mesh


@pytest.fixture(autouse=True)
def envoy_stays_connected(mesh):
    """Throughout each hostile act, Envoy's control-plane connection never drops."""
    with ConnectionWatch(mesh.envoy) as watch:
        yield
    assert watch.drops == [], f"Envoy's control-plane connection dropped at {watch.drops} s"


def rss_bytes(pid: int) -> int:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    return 0


def assert_updates_still_flow(mesh) -> None:
    assert mesh.sextant.alive(), f"sextant died:\n{mesh.sextant.log()}"
    mesh.add_unreachable_payments_instance()
    assert mesh.sextant.alive(), f"sextant died:\n{mesh.sextant.log()}"
    stats = mesh.envoy.stats()
    assert stats["cluster.xds.upstream_cx_total"] == mesh.baseline_cx, "Envoy's xDS connection was replaced"
    assert stats["control_plane.connected_state"] == 1
    assert mesh.envoy.rejected(stats) == {}


def sotw_request(type_url: str, names=(), with_node=True) -> bytes:
    request = ads.DiscoveryRequest(type_url=type_url, resource_names=list(names))
    if with_node:
        request.node.CopyFrom(ads.node("hostile-0", "frontend", ZONE))
    return h2raw.grpc_message(request.SerializeToString())


def test_baseline_updates_flow(mesh):
    assert_updates_still_flow(mesh)


@pytest.mark.parametrize("garbage", [
    b"GET / HTTP/1.1\r\nHost: sextant\r\n\r\n",
    random.Random(7).randbytes(4096),
    h2raw.PREFACE + b"\xff" * 64,                       # valid preface, then no SETTINGS but junk
    h2raw.PREFACE + h2raw.settings() + b"\xff" * 64,    # valid start, then a 16 MiB frame header
], ids=["http1", "random-bytes", "preface-then-junk", "settings-then-oversized-frame"])
def test_garbage_instead_of_http2(mesh, garbage):
    with socket.create_connection(("127.0.0.1", mesh.sextant.xds_port), timeout=CLOSE_BOUND) as sock:
        try:
            sock.sendall(garbage)
        except ConnectionError:
            pass  # already dropped: fine
        raw = h2raw.RawH2.adopt(sock, mesh.sextant.xds_port)
        frames = raw.read_frames(CLOSE_BOUND)
        goaway = [f for f in frames if f[0] == h2raw.GOAWAY]
        assert raw.eof, (f"server kept a garbage connection open for {CLOSE_BOUND}s"
                         f"{' after sending GOAWAY' if goaway else ''} (RFC 9113 5.4.1: close after GOAWAY)")
    assert_updates_still_flow(mesh)


def test_grpc_length_prefix_claiming_one_gib(mesh):
    rss_before = rss_bytes(mesh.sextant.pid)
    conn = h2raw.RawH2(mesh.sextant.xds_port)
    try:
        stream = conn.open_grpc_stream(ads.SOTW_METHOD)
        conn.send(h2raw.data(stream, b"\x00" + struct.pack(">I", 1 << 30) + b"\x0a" * 100))

        def ends_stream(f):
            kind, flags, sid, _ = f
            return (sid == stream and (kind == h2raw.RST_STREAM or
                                       (kind == h2raw.HEADERS and flags & h2raw.END_STREAM))
                    or kind == h2raw.GOAWAY)
        frames = conn.read_frames(CLOSE_BOUND, until=ends_stream)
        assert conn.eof or any(ends_stream(f) for f in frames), (
            f"a 1 GiB message was not refused within {CLOSE_BOUND}s; frames: "
            f"{[(k, fl, s) for k, fl, s, _ in frames]}")
    finally:
        conn.abort()
    growth = rss_bytes(mesh.sextant.pid) - rss_before
    assert growth < RSS_GROWTH_LIMIT, f"sextant grew by {growth >> 20} MiB on a claimed 1 GiB message"
    assert_updates_still_flow(mesh)


def test_client_that_never_reads(mesh):
    # Tiny receive buffer, huge flow-control windows, and requests that each ask for a fresh
    # response (the EDS name set flips every time): everything the server sends piles up.
    conn = h2raw.RawH2(mesh.sextant.xds_port, rcvbuf=4096, window=h2raw.MAX_WINDOW)
    try:
        try:
            for _ in range(8):
                stream = conn.open_grpc_stream(ads.SOTW_METHOD)
                conn.send(h2raw.data(stream, sotw_request(ads.CDS)
                                     + sotw_request(ads.LDS, with_node=False)
                                     + sotw_request(ads.RDS, ["outbound"], with_node=False)))
                for flip in range(60):   # ~3.5 KB per stream: well inside the server's windows
                    names = ["payments"] if flip % 2 else ["payments", "ledger"]
                    conn.send(h2raw.data(stream, sotw_request(ads.EDS, names, with_node=False)))
        except (socket.timeout, ConnectionError):
            pass   # the server stopped reading from us or dropped us: both are fine
        for _ in range(3):   # several updates while the reader is stuck
            assert_updates_still_flow(mesh)
    finally:
        conn.abort()
    assert_updates_still_flow(mesh)


def test_clients_that_vanish_mid_stream(mesh):
    for round_ in range(10):
        conn = h2raw.RawH2(mesh.sextant.xds_port)
        stream = conn.open_grpc_stream(ads.SOTW_METHOD)
        conn.send(h2raw.data(stream, sotw_request(ads.CDS)))
        if round_ % 2 == 0:
            conn.read_frames(2.0, until=lambda f: f[0] == h2raw.DATA)   # let a response start
        # Half a gRPC message: the prefix promises 1000 bytes, 10 arrive, then the peer is gone.
        conn.send(h2raw.data(stream, b"\x00" + struct.pack(">I", 1000) + b"\x0a" * 10))
        if round_ % 3 == 0:
            conn.close()
        else:
            conn.abort()
    assert_updates_still_flow(mesh)


def test_a_thousand_connections_opened_and_dropped(mesh):
    rst = struct.pack("ii", 1, 0)
    for batch in range(10):
        sockets = []
        try:
            for i in range(100):
                sock = socket.create_connection(("127.0.0.1", mesh.sextant.xds_port), timeout=5)
                sockets.append(sock)
                if i % 3 == 1:
                    sock.sendall(h2raw.PREFACE[:10])          # half a preface
                elif i % 3 == 2:
                    sock.sendall(h2raw.PREFACE + h2raw.settings())
        finally:
            for i, sock in enumerate(sockets):
                if (i + batch) % 2:
                    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, rst)
                sock.close()
    assert_updates_still_flow(mesh)

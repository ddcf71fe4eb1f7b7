"""HTTPS to Consul behind a private CA (`--consul-ca-file`), against the simulator serving TLS.

`sextant validate --consul` reads the whole catalog once through the same ConsulSource as
`serve`, so a successful validate proves the read path: handshake, the certificate chained to
the given CA and naming the host, HTTP over it. The certificates are made here with openssl.
"""

import subprocess
import sys

import pytest

from harness.fleet import require_sextant
from harness.processes import REPO, sextant_binary
from harness.util import wait_for

sys.path.insert(0, str(REPO / "Tests" / "ConsulSimulator"))

from consul_sim import ConsulSim  # noqa: E402


def openssl(cwd, *args):
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True, timeout=60)


def issue(cwd, name: str, san: str) -> None:
    """A server certificate `name`.pem for `san`, signed by ca.pem."""
    openssl(cwd, "req", "-newkey", "rsa:2048", "-nodes", "-keyout", f"{name}.key", "-out", f"{name}.csr",
            "-subj", "/CN=consul")
    (cwd / f"{name}.cnf").write_text(f"subjectAltName={san}\n")
    openssl(cwd, "x509", "-req", "-in", f"{name}.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial",
            "-out", f"{name}.pem", "-days", "2", "-extfile", f"{name}.cnf")


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    d = tmp_path_factory.mktemp("pki")
    for ca in ("ca", "other-ca"):
        openssl(d, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", f"{ca}.key", "-out", f"{ca}.pem",
                "-days", "2", "-subj", f"/CN=sextant-test-{ca}")
    issue(d, "server", "IP:127.0.0.1,DNS:localhost")
    issue(d, "wrong-name", "DNS:consul.internal")
    return d


def tls_sim(pki, certificate: str) -> ConsulSim:
    sim = ConsulSim(tls=(str(pki / f"{certificate}.pem"), str(pki / f"{certificate}.key")))
    sim.start()
    sim.register("payments", 9001, address="127.0.0.1")
    sim.register("payments", 9002, address="127.0.0.1")
    return sim


def validate(tmp_path, *args) -> subprocess.CompletedProcess:
    require_sextant()
    templates = tmp_path / "services"
    templates.mkdir(exist_ok=True)
    return subprocess.run([str(sextant_binary()), "validate", "--templates", str(templates),
                           "--defaults", str(REPO / "Config" / "defaults.yaml"), *args],
                          capture_output=True, text=True, timeout=60)


def test_the_named_ca_is_trusted_for_an_ip_and_a_host_name(pki, tmp_path):
    sim = tls_sim(pki, "server")
    try:
        for host in ("127.0.0.1", "localhost"):
            done = validate(tmp_path, "--consul", f"https://{host}:{sim.port}", "--consul-ca-file", str(pki / "ca.pem"))
            assert done.returncode == 0, done.stdout + done.stderr
            assert "OK: 1 service(s)" in done.stdout, done.stdout
        assert sim.stats()["requests"].get("health-service/payments", 0) >= 2
    finally:
        sim.stop()


@pytest.mark.parametrize("certificate,ca,reason", [
    ("server", "other-ca", "unable to get local issuer certificate"),
    ("wrong-name", "ca", "mismatch"),
])
def test_a_certificate_that_does_not_verify_is_refused(pki, tmp_path, certificate, ca, reason):
    sim = tls_sim(pki, certificate)
    try:
        done = validate(tmp_path, "--consul", sim.url, "--consul-ca-file", str(pki / f"{ca}.pem"))
        assert done.returncode == 1, done.stdout + done.stderr
        assert "handshake" in done.stdout and reason in done.stdout, done.stdout
        assert sim.stats()["requests"] == {}, "nothing may be read over a connection that failed to verify"
    finally:
        sim.stop()


def test_a_ca_file_needs_https_and_a_loadable_pem(pki, tmp_path):
    done = validate(tmp_path, "--consul", "http://127.0.0.1:8500", "--consul-ca-file", str(pki / "ca.pem"))
    assert done.returncode != 0 and "needs an https://" in done.stderr, done.stderr
    (tmp_path / "garbage.pem").write_text("not a certificate\n")
    done = validate(tmp_path, "--consul", "https://127.0.0.1:8501", "--consul-ca-file", str(tmp_path / "garbage.pem"))
    assert done.returncode != 0 and "cannot load CA file" in done.stderr, done.stderr


def test_serve_follows_changes_over_tls_and_stops_with_queries_blocked(pki, fleet):
    """Blocking queries over our TLS client: a change answers one at once (the wait is 300 s), a
    service leaving cancels its watch, and SIGTERM stops serve while queries are parked in reads."""
    require_sextant()
    sim = tls_sim(pki, "server")
    try:
        sim.register("ledger", 9100, address="127.0.0.1")
        sextant = fleet.sextant(fleet.config(), extra_args=[
            "--consul", sim.url, "--consul-ca-file", str(pki / "ca.pem"), "--state-dir", str(fleet.workdir / "state")])

        def updates() -> float:
            status, body = sextant.admin("/metrics")
            assert status == 200, body
            line = next(l for l in body.splitlines() if l.startswith("sextant_consul_updates_total "))
            return float(line.split()[1])

        wait_for(lambda: sextant.admin("/readyz")[0] == 200, 10, what="serve to read Consul over TLS")
        before = updates()
        sim.register("payments", 9003, address="127.0.0.1")
        wait_for(lambda: updates() > before, 5, what="a blocked query over TLS to return on the change")
        before = updates()
        sim.deregister("ledger-9100")
        wait_for(lambda: updates() > before, 5, what="ledger leaving the catalog to be seen")
        status, body = sextant.admin("/metrics")
        assert "sextant_consul_errors_total{" not in body, body
        code, took = sextant.stop()
        fleet.sextants.remove(sextant)
        assert code == 0 and took < 10, (code, took)
    finally:
        sim.stop()

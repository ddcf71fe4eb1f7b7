"""The deployment artifacts, tested as far as this machine allows (no Docker engine, no systemd
as PID 1, no Kubernetes): each one's command line really serves, with its paths and ports
mapped onto a temporary folder; the systemd unit passes `systemd-analyze verify` and its
offline security audit; the container's runtime stage installs every library the binary links.
"""

import http.client
import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from harness.fleet import require_sextant
from harness.processes import REPO, ManagedProcess, sextant_binary
from harness.util import free_port, wait_for

sys.path.insert(0, str(REPO / "Tests" / "ConsulSimulator"))
from consul_sim import ConsulSim  # noqa: E402

DEPLOY = REPO / "deploy"
# Packages every Debian base image has (bookworm-slim included).
BASE_PACKAGES = {"libc6", "libgcc-s1", "libstdc++6"}


def readyz(port: int) -> int:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
    try:
        conn.request("GET", "/readyz")
        return conn.getresponse().status
    finally:
        conn.close()


def dist_binary() -> Path | None:
    """The static-stdlib release build (`make dist`, as the Dockerfile builds it), if given."""
    path = os.environ.get("SEXTANT_DIST_BIN")
    if not path:
        return None
    assert Path(path).is_file(), f"SEXTANT_DIST_BIN={path} does not exist (run make dist)"
    return Path(path)


def serve_mapped(args: list[str], tmp_path: Path, extra_map: dict[str, str] | None = None,
                 binary: Path | None = None) -> None:
    """Run `sextant <args>` with the artifact's paths and ports mapped here; /readyz must say 200."""
    require_sextant()
    admin = free_port()
    mapping = {
        "/etc/sextant": str(REPO / "Config"),
        "/var/lib/sextant": str(tmp_path),
        "0.0.0.0:18000": f"127.0.0.1:{free_port()}",
        "0.0.0.0:19000": f"127.0.0.1:{admin}",
        "127.0.0.1:19000": f"127.0.0.1:{admin}",
        **(extra_map or {}),
    }
    mapped = []
    for arg in args:
        for old, new in mapping.items():
            if arg == old or arg.startswith(old + "/"):
                arg = new + arg[len(old):]
        mapped.append(arg)
    assert mapped[0] == "serve", mapped
    process = ManagedProcess("sextant", [str(binary or sextant_binary()), *mapped], tmp_path / "serve.log", cwd=tmp_path)
    try:
        def ready():
            assert process.alive(), f"sextant {' '.join(mapped)} exited:\n{process.log()}"
            return readyz(admin) == 200
        wait_for(ready, 15, what="/readyz to answer 200")
    finally:
        process.stop()


# -- systemd -------------------------------------------------------------------------------

def unit_text() -> str:
    return (DEPLOY / "systemd" / "sextant.service").read_text()


def exec_start(text: str) -> list[str]:
    line = re.search(r"^ExecStart=((?:.*\\\n)*.*)$", text, re.M).group(1)
    return shlex.split(line.replace("\\\n", " "))


def test_systemd_unit_command_serves(tmp_path):
    argv = exec_start(unit_text())
    assert argv[0] == "/usr/bin/sextant"
    serve_mapped(argv[1:], tmp_path)


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="systemd-analyze not installed")
def test_systemd_unit_verifies_and_is_sandboxed(tmp_path):
    require_sextant()
    unit = tmp_path / "sextant.service"
    unit.write_text(unit_text().replace("/usr/bin/sextant", str(sextant_binary())))
    verify = subprocess.run(["systemd-analyze", "verify", str(unit)], capture_output=True, text=True, timeout=60)
    assert verify.returncode == 0, verify.stderr + verify.stdout
    audit = subprocess.run(["systemd-analyze", "security", "--offline=yes", str(unit)],
                           capture_output=True, text=True, timeout=60)
    score = re.search(r"Overall exposure level for \S+: ([\d.]+)", audit.stdout)
    assert score, audit.stdout + audit.stderr
    print(f"systemd exposure level: {score.group(1)}")
    assert float(score.group(1)) <= 2.0, audit.stdout


# -- Kubernetes ----------------------------------------------------------------------------

def manifests() -> dict[str, dict]:
    documents = list(yaml.safe_load_all((DEPLOY / "kubernetes" / "sextant.yaml").read_text()))
    return {d["kind"]: d for d in documents}


def test_kubernetes_manifests_are_consistent():
    m = manifests()
    assert set(m) == {"Deployment", "Service", "PodDisruptionBudget"}
    deployment, service, pdb = m["Deployment"], m["Service"], m["PodDisruptionBudget"]
    spec = deployment["spec"]
    labels = spec["template"]["metadata"]["labels"]
    assert spec["replicas"] == 3
    assert spec["selector"]["matchLabels"].items() <= labels.items()
    assert service["spec"]["selector"].items() <= labels.items()
    assert pdb["spec"]["selector"]["matchLabels"].items() <= labels.items()
    assert 1 <= pdb["spec"]["minAvailable"] < spec["replicas"]
    container = spec["template"]["spec"]["containers"][0]
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    assert container["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "admin"}
    assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
    args = container["args"]
    assert f"0.0.0.0:{ports['xds']}" in args and f"0.0.0.0:{ports['admin']}" in args
    assert service["spec"]["ports"][0]["targetPort"] == "xds"
    mounts = {v["mountPath"] for v in container["volumeMounts"]}
    state = args[args.index("--state-dir") + 1]
    assert any(state.startswith(path) for path in mounts), "the state dir must be on a writable volume"
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    assert spec["template"]["spec"]["securityContext"]["runAsNonRoot"] is True
    assert spec["template"]["spec"]["terminationGracePeriodSeconds"] > 5  # > --drain-seconds


def test_kubernetes_container_args_serve_from_consul(tmp_path):
    args = manifests()["Deployment"]["spec"]["template"]["spec"]["containers"][0]["args"]
    sim = ConsulSim(acl_default_policy="deny")
    sim.add_token("k8s-token", services=("",))
    sim.start()
    try:
        sim.register("payments", free_port(), address="127.0.0.1", meta={"zone": "a"})
        token = tmp_path / "token"
        token.write_text("k8s-token\n")
        consul = args[args.index("--consul") + 1]
        serve_mapped(args, tmp_path, {consul: sim.url, "/var/run/secrets/sextant/consul/token": str(token)})
    finally:
        sim.stop()


# -- Docker --------------------------------------------------------------------------------

def dockerfile() -> str:
    return (REPO / "Dockerfile").read_text().replace("\\\n", " ")


def stages(text: str) -> list[list[str]]:
    out: list[list[str]] = []
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        if line.upper().startswith("FROM "):
            out.append([])
        out[-1].append(line)
    return out


def test_dockerfile_is_multi_stage_static_non_root_with_a_readiness_check():
    build, runtime = stages(dockerfile())
    assert any("--static-swift-stdlib" in line for line in build if line.startswith("RUN"))
    user = next(line for line in runtime if line.startswith("USER ")).split()[1]
    assert user.split(":")[0] not in ("0", "root")
    health = next(line for line in runtime if line.startswith("HEALTHCHECK"))
    assert "/readyz" in health
    assert any(line.startswith("COPY --from=") for line in runtime)


def runtime_packages() -> set[str]:
    _, runtime = stages(dockerfile())
    packages = set()
    for line in runtime:
        m = re.search(r"apt-get install ([^&]*)", line)
        if m:
            packages |= {word for word in m.group(1).split() if not word.startswith("-")}
    return packages


def test_dockerfile_runtime_stage_has_every_library_the_binary_links():
    """What the binary loads from outside the Swift toolchain (which --static-swift-stdlib
    links in) must come from the runtime stage's packages or the base image."""
    require_sextant()
    binary = dist_binary() or sextant_binary()
    ldd = subprocess.run(["ldd", str(binary)], capture_output=True, text=True, check=True).stdout
    toolchain = Path(shutil.which("swift") or "/usr/bin/swift").resolve().parents[1]
    if dist_binary():
        assert str(toolchain) not in ldd and "libswift" not in ldd, f"not a static-stdlib build:\n{ldd}"
    needed = set()
    for line in ldd.splitlines():
        m = re.match(r"\s*(\S+) => (/\S+)", line)
        if m and not m.group(2).startswith(str(toolchain)):
            needed.add(m.group(2))
    # Only libraries loaded directly by the binary or the Swift runtime count; the rest are
    # their own packages' dependencies, which apt installs with them.
    direct = set()
    for lib in [str(binary)] + sorted(p for p in re.findall(r"=> (\S+)", ldd) if p.startswith(str(toolchain))):
        dynamic = subprocess.run(["readelf", "-d", lib], capture_output=True, text=True).stdout
        direct |= set(re.findall(r"\(NEEDED\)\s+Shared library: \[(\S+)\]", dynamic))
    packages = set()
    for path in needed:
        if Path(path).name not in direct:
            continue
        owner = subprocess.run(["dpkg", "-S", path], capture_output=True, text=True)
        if owner.returncode != 0:   # /lib vs /usr/lib (merged /usr)
            owner = subprocess.run(["dpkg", "-S", "/usr" + path], capture_output=True, text=True)
        assert owner.returncode == 0, f"no package owns {path}"
        packages.add(owner.stdout.split(":")[0])
    missing = packages - runtime_packages() - BASE_PACKAGES
    assert not missing, f"the runtime stage lacks {sorted(missing)} (the binary links {sorted(packages)})"


def test_dockerfile_default_command_serves(tmp_path):
    cmd = next(line for line in stages(dockerfile())[1] if line.startswith("CMD "))
    args = yaml.safe_load(cmd[len("CMD "):])   # a JSON array
    serve_mapped(args, tmp_path, binary=dist_binary())

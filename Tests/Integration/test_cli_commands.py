"""The CI commands as CI runs them: the built `sextant` binary on the shipped Config/ and on
deliberately broken templates, with real Envoy checking the rendered resources."""

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from harness.fleet import require_sextant
from harness.processes import REPO, envoy_binary, sextant_binary

CONFIG = REPO / "Config"
BROKEN = REPO / "Tests" / "Fixtures" / "broken"
GOLDEN = REPO / "Tests" / "Fixtures" / "golden"
BOUND = 60  # seconds any one command may take


def sextant(*args: str, cwd: Path = REPO) -> subprocess.CompletedProcess:
    require_sextant()
    return subprocess.run([str(sextant_binary()), *args], cwd=cwd, capture_output=True, text=True,
                          timeout=BOUND)


def inputs(base: Path) -> list[str]:
    return ["--templates", str(base / "services"), "--defaults", str(base / "defaults.yaml"),
            "--catalog", str(base / "catalog.yaml")]


def test_validate_with_real_envoy_accepts_the_shipped_config():
    done = sextant("validate", "--envoy", str(envoy_binary()))
    assert done.returncode == 0, done.stdout + done.stderr
    assert "OK" in done.stdout and "envoy --mode validate" in done.stdout, done.stdout


def test_validate_with_real_envoy_reports_a_rejection(tmp_path):
    """A fake 'envoy' that rejects shows that Envoy's reason reaches the report, per service."""
    fake = tmp_path / "envoy"
    fake.write_text("#!/bin/sh\necho \"error initializing configuration '$4': cluster: nope\" >&2\nexit 1\n")
    fake.chmod(0o755)
    done = sextant("validate", "--envoy", str(fake))
    assert done.returncode == 1, done.stdout + done.stderr
    lines = [line for line in done.stdout.splitlines() if "rejected" in line]
    assert len(lines) >= 3, done.stdout
    assert all(line.endswith("cluster: nope") for line in lines), lines
    assert any(line.startswith("Config/services/frontend.yaml: service 'frontend'") for line in lines), lines


def test_validate_lists_every_broken_template_with_its_position():
    done = sextant("validate", *inputs(BROKEN.relative_to(REPO)))
    assert done.returncode == 1, done.stdout + done.stderr
    out = done.stdout
    for position in ["services/bad-duration.yaml:4:14:", "services/bad-yaml.yaml:5:1:",
                     "services/duplicate-route.yaml:5:5:", "services/typo.yaml:4:5:",
                     "services/unknown-dependency.yaml:4:11:", "services/wrong-type.yaml:3:9:"]:
        assert f"Tests/Fixtures/broken/{position}" in out, f"{position} missing from:\n{out}"
    assert "did you mean 'timeout'" in out
    assert "problem(s)" in done.stderr


def test_render_matches_the_golden_files():
    for golden in sorted(GOLDEN.glob("*.json")):
        done = sextant("render", golden.stem)
        assert done.returncode == 0, done.stderr
        assert done.stdout == golden.read_text(), f"render {golden.stem} differs from {golden}"


def test_render_yaml_means_the_same_as_json():
    import yaml
    as_json = json.loads(sextant("render", "frontend").stdout)
    done = sextant("render", "frontend", "--format", "yaml")
    assert done.returncode == 0, done.stderr
    assert yaml.safe_load(done.stdout) == as_json


def test_render_out_then_diff(tmp_path):
    old, new = tmp_path / "old", tmp_path / "new"
    assert sextant("render", "--out", str(old)).returncode == 0
    assert sorted(p.name for p in old.iterdir()) == sorted(p.name for p in GOLDEN.glob("*.json"))

    same = sextant("diff", str(old), "Config/services")
    assert same.returncode == 0, same.stdout + same.stderr

    templates = tmp_path / "services"
    shutil.copytree(CONFIG / "services", templates)
    frontend = templates / "frontend.yaml"
    frontend.write_text(frontend.read_text().replace("timeout: 2s", "timeout: 3s"))
    assert sextant("render", "--out", str(new), "--templates", str(templates)).returncode == 0

    changed = sextant("diff", str(old), str(new))
    assert changed.returncode == 1, changed.stdout + changed.stderr
    assert '"2s" -> "3s"' in changed.stdout, changed.stdout
    assert "~ frontend route" in changed.stdout, changed.stdout
    assert "payments" not in [line.split()[1] for line in changed.stdout.splitlines()
                              if line[:2] in ("+ ", "- ", "~ ")], changed.stdout

    trouble = sextant("diff", str(old), str(tmp_path / "missing"))
    assert trouble.returncode == 2


@pytest.mark.parametrize("command", [["validate"], ["render", "frontend"]])
def test_commands_use_the_same_defaults_as_serve(command):
    """Run from the repository root with no flags: Config/ is the default input, as for serve."""
    done = sextant(*command)
    assert done.returncode == 0, done.stdout + done.stderr

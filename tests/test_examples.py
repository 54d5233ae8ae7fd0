"""The example folder a user copies: the CI pipelines pass their formats' validators, the spec
loads, and the test module collects with the plugin's fixtures."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from lab.spec import load_spec

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
CHECK = shutil.which("check-jsonschema", path=str(Path(sys.executable).parent)) or shutil.which("check-jsonschema")


@pytest.mark.skipif(CHECK is None, reason="needs the check-jsonschema package (pip install check-jsonschema; "
                                          "it is in the test extra)")
@pytest.mark.parametrize("path, schema", [("ci/github-actions.yml", "vendor.github-workflows"),
                                          ("ci/gitlab-ci.yml", "vendor.gitlab-ci")])
def test_pipeline_passes_its_format_validator(path: str, schema: str) -> None:
    """check-jsonschema's vendored schemas (SchemaStore's), offline."""
    proc = subprocess.run([str(CHECK), "--builtin-schema", schema, str(EXAMPLES / path)],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr


@pytest.mark.parametrize("path", ["ci/github-actions.yml", "ci/gitlab-ci.yml"])
def test_pipelines_run_the_chaos_command_and_publish_junit_and_report(path: str) -> None:
    text = (EXAMPLES / path).read_text()
    yaml.safe_load(text)
    for needle in ("galera-lab chaos", "--profile fast", "--junit results/junit.xml", "--report results/report.md",
                   "docker save", "docker load", "galera.source=official", "--baseline"):
        assert needle in text, f"{path} lacks {needle}"


def test_example_spec_loads() -> None:
    spec = load_spec(EXAMPLES / "lab.yaml")
    assert spec.regression.tolerance("rejoin_s") == (True, 50.0, 500.0)


def test_bridge_example_loads() -> None:
    fe = load_spec(EXAMPLES / "bridge.yaml").networks.frontend
    assert (fe.driver, fe.forward_port, fe.parent) == ("bridge", 16033, None)


def test_example_tests_collect_with_the_plugin(tmp_path: Path) -> None:
    """From a copy outside the repository: the plugin's fixtures are found, nothing starts (--co)."""
    for name in ("test_failover.py", "lab.yaml", "pytest.ini"):
        shutil.copy(EXAMPLES / name, tmp_path / name)
    proc = subprocess.run([sys.executable, "-m", "pytest", "--co", "-q", "-p", "no:cacheprovider"], cwd=tmp_path,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "test_failover.py::test_chamilo_login_stays_up_when_the_writer_dies" in proc.stdout

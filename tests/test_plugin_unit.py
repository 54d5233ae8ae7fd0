"""The pytest plugin and `galera-lab chaos` without a lab: selection, isolation, the pytest command."""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

import pytest

from chaos.plugin import SMOKE, select
from lab import chaos_cli, isolation
from lab.cli import main
from lab.errors import SpecError

NAMES = ["kill_writer", "kill_reader", "vip_holder_down[sigkill]", "vip_holder_down[graceful]",
         "routing_by_statement_class", "crash_all[1]"]


def test_select_by_name_whole_parametrization_or_one_param_and_smoke() -> None:
    assert select(NAMES, ["kill_writer", "vip_holder_down"]) == (
        ["kill_writer", "vip_holder_down[sigkill]", "vip_holder_down[graceful]"], [])
    assert select(NAMES, ["vip_holder_down[graceful]"])[0] == ["vip_holder_down[graceful]"]
    assert select(NAMES, ["smoke"])[0] == [n for n in NAMES if n in SMOKE]
    assert select(NAMES, ["kill", "crash_all[1]"]) == (["crash_all[1]"], ["kill"])


def test_isolate_moves_a_suite_and_refuses_a_bad_subnet(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(isolation.SUITES, "plugin", isolation.SUITES["plugin"])
    iso = isolation.isolate("plugin", "ci-lab", "198.18.90.0/23", None, 18199)
    assert (iso.project, iso.base, iso.router_id, iso.http_port) == ("ci-lab", "198.18.90.0/23", 101, 18199)
    assert ("keepalived.vip", "198.18.91.100") in iso.overrides()
    with pytest.raises(SpecError, match="expected a /23"):
        isolation.isolate("plugin", base="198.18.90.0/24")
    with pytest.raises(SpecError, match="project: .Bad Name. refused"):
        isolation.isolate("plugin", project="Bad Name")


def test_pytest_command_runs_the_installed_package_with_the_resolved_spec(tmp_path: Path) -> None:
    args = argparse.Namespace(scenarios="smoke", project="plugin-lab", subnet="198.18.80.0/23", router_id=None,
                              http_port=18180, keep=False, timeout=None, pytest_args=["-x"])
    cmd = chaos_cli.pytest_command(tmp_path / "spec.yaml", tmp_path, tmp_path / "j.xml", args)
    text = " ".join(cmd)
    assert "--pyargs chaos -m chaos" in text and f"-c {tmp_path / 'pytest.ini'}" in text
    assert "--lab-scenarios smoke" in text and "--lab-project plugin-lab" in text
    assert "--lab-subnet 198.18.80.0/23" in text and "--lab-http-port 18180" in text and "--lab-router-id" not in text
    assert f"--junitxml {tmp_path / 'j.xml'}" in text and cmd[-1] == "-x"


def test_unknown_scenario_is_a_usage_error() -> None:
    proc = subprocess.run([sys.executable, "-m", "pytest", "--pyargs", "chaos", "-m", "chaos", "--co", "-q",
                           "-p", "no:cacheprovider", "--lab-scenarios", "kill_writr"], capture_output=True, text=True)
    assert proc.returncode == 4, proc.stdout + proc.stderr
    assert "no scenario kill_writr; known:" in proc.stdout + proc.stderr


def test_chaos_refuses_a_missing_baseline_in_one_line(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    assert main(["chaos", "--baseline", str(tmp_path / "none.json")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: --baseline") and "no such file" in err and "\n" not in err

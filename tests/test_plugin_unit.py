"""The pytest plugin and `galera-lab chaos` without a lab: selection, isolation, the pytest command."""

from __future__ import annotations

import argparse
import os
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


def test_lab_set_reaches_every_suite_and_never_its_isolation(monkeypatch: pytest.MonkeyPatch) -> None:
    """`--lab-set` is the user's, for whichever suite's lab the run brings up (the chaos suite's
    too); the suite's own project and subnets still win, so no override moves it onto another lab."""
    monkeypatch.setattr(isolation, "USER_OVERRIDES", [])
    monkeypatch.delenv(isolation.SPEC_ENV, raising=False)
    monkeypatch.delenv(isolation.PROFILE_ENV, raising=False)
    isolation.set_user_overrides([("app.kind", "probe"), ("project", "elsewhere")])
    spec = isolation.suite_spec("chaos")
    assert spec.app.kind == "probe"
    assert spec.project == isolation.SUITES["chaos"].project


def test_pytest_command_runs_the_installed_package_with_the_resolved_spec(tmp_path: Path) -> None:
    args = argparse.Namespace(scenarios="smoke", project="plugin-lab", subnet="198.18.80.0/23", router_id=None,
                              http_port=18180, keep=False, timeout=None, pytest_args=["-x"])
    cmd = chaos_cli.pytest_command(tmp_path / "spec.yaml", tmp_path, tmp_path / "j.xml", args)
    text = " ".join(cmd)
    assert cmd[cmd.index("-m", 2) + 1] == "chaos and not workshop", "the fault catalog, without the exercises"
    assert "--pyargs chaos" in text and f"-c {tmp_path / 'pytest.ini'}" in text
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


def _results(tmp: Path, run_id: str, outcome: str = "pass", **figures: float) -> dict:
    from chaos.report import ResultsFile

    res = ResultsFile(run_id=run_id, started=1.0, spec={}, versions={})
    res.add_scenario("kill_writer", outcome, figures=figures)
    res.save(tmp / "results.json")
    return res.to_dict()


def test_conclude_fails_on_a_regression_naming_figure_and_values(tmp_path: Path,
                                                                  capsys: pytest.CaptureFixture[str]) -> None:
    from lab.spec import RegressionSpec

    base = _results(tmp_path, "base", write_resume_s=3.2, downtime_ms=3400.0)
    _results(tmp_path, "now", write_resume_s=7.1, downtime_ms=3500.0)
    code = chaos_cli.conclude(tmp_path, 0, base, RegressionSpec(), tmp_path / "j.xml",
                              tmp_path / "out" / "results.json", tmp_path / "out" / "report.md")
    err = capsys.readouterr().err
    assert code == 1
    assert "REGRESSION kill_writer: write_resume_s regressed: 7.10 s against baseline 3.20 s" in err
    assert "downtime_ms" not in err  # +100 ms is inside the tolerance
    report = (tmp_path / "out" / "report.md").read_text()
    assert report.index("Against the baseline") < report.index("## Run now")
    assert (tmp_path / "baseline.json").exists() and (tmp_path / "out" / "results.json").exists()


def test_conclude_passes_within_tolerance_and_fails_when_everything_skipped(tmp_path: Path) -> None:
    from lab.spec import RegressionSpec

    base = _results(tmp_path, "base", write_resume_s=3.2)
    _results(tmp_path, "now", write_resume_s=3.3)
    assert chaos_cli.conclude(tmp_path, 0, base, RegressionSpec(), tmp_path / "j.xml") == 0
    assert chaos_cli.conclude(tmp_path, 1, base, RegressionSpec(), tmp_path / "j.xml") == 1  # a failed check
    _results(tmp_path, "skipped", outcome="skip")
    assert chaos_cli.conclude(tmp_path, 0, None, RegressionSpec(), tmp_path / "j.xml") == 1


def test_stale_read_study_is_sized_to_the_selected_checks() -> None:
    """The smoke's stale-read check alone gets the small held-reader study; any other check of
    the module that reads the study gets the whole small study, which holds the smoke's cells."""
    from types import SimpleNamespace

    from chaos import test_stale_reads as mod

    def item(name: str, fixtures: tuple[str, ...] = ("result",), module: object = mod) -> SimpleNamespace:
        return SimpleNamespace(name=name, fixturenames=fixtures, module=module)

    smoke = item(mod.SMOKE_CHECK)
    assert mod.study_config([smoke, item("test_kill_writer", module=object())], mod) is mod.AT_0_AND_1
    assert mod.study_config([smoke, item("test_lab_left_as_found", ("lab",))], mod) is mod.AT_0_AND_1
    assert mod.study_config([smoke, item("test_read_bit_means_no_stale_read")], mod) is mod.SMALL
    small, cells = mod.SMALL, mod.AT_0_AND_1
    assert set(cells.values) <= set(small.values) and set(cells.conditions) <= set(small.conditions)
    assert set(cells.modes) <= set(small.modes)


def test_the_catalog_is_every_chaos_scenario_but_the_workshop_exercises() -> None:
    def collected(marks: str) -> set[str]:
        proc = subprocess.run([sys.executable, "-m", "pytest", "--pyargs", "chaos", "-m", marks, "--co", "-q",
                               "-p", "no:cacheprovider"], capture_output=True, text=True)
        assert proc.returncode == 0, proc.stdout + proc.stderr
        return {ln.split("::")[0] for ln in proc.stdout.splitlines() if "::" in ln}

    from chaos.plugin import CATALOG
    catalog, everything = collected(CATALOG), collected("chaos")
    assert everything - catalog == {"chaos/test_workshop.py"}, everything - catalog
    assert {"chaos/test_nodes.py", "chaos/test_proxies.py", "chaos/test_stale_reads.py"} <= catalog


def test_txn_options_reach_the_policy_from_the_command_line_and_the_environment(tmp_path: Path) -> None:
    """`--txn-*` (and the GALERA_LAB_TXN_* variables `make chaos TXN_ISOLATION=…` sets) become the
    one policy every transactional client of the run follows; an unknown level is refused."""
    probe = tmp_path / "test_probe.py"
    probe.write_text("from chaos.plugin import txn_policy\n"
                     "def test_policy(request):\n"
                     "    print('POLICY', txn_policy(request.config).describe())\n")
    env = {**os.environ, "GALERA_LAB_TXN_ROUTE": "nodes", "GALERA_LAB_TXN_ISOLATION": ""}
    run = subprocess.run([sys.executable, "-m", "pytest", "-q", "-s", "-p", "no:cacheprovider", str(probe),
                          "--txn-isolation", "read-uncommitted", "--txn-locking-reads", "--txn-model",
                          "snapshot-isolation"], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stdout + run.stderr
    assert ("POLICY {'route': 'nodes', 'clients': 2, 'isolation': 'read-uncommitted', 'locking_reads': True, "
            "'sync_wait': None, 'model': 'snapshot-isolation'}") in run.stdout
    bad = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(probe),
                          "--txn-isolation", "snapshot"], cwd=tmp_path, env=env, capture_output=True, text=True,
                         timeout=120)
    assert bad.returncode == 4 and "invalid choice: 'snapshot'" in bad.stderr


def test_txn_model_choices_are_the_checkers_models() -> None:
    from chaos.consistency import MODELS
    from chaos.plugin import TXN_MODELS

    assert TXN_MODELS == MODELS

"""`galera-lab chaos --baseline` on a real lab: a baseline run, then a run with a deliberately
slower setting (evs.suspect_timeout 10 s instead of 5 s) fails on the figures that regressed,
naming each and both values.

Marked `e2e`, so `make test` (and CI) runs it: two lab runs, about 3 minutes here. It had been
marked `chaos`, which `make chaos` (chaos/ only) never collected: issue 11's "done when" went
unchecked. Runs on plugin-lab (198.18.80.0/23), one lab at a time, removed after each run.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from lab.docker_check import docker_skip_reason

pytestmark = [pytest.mark.e2e, pytest.mark.skipif(bool(docker_skip_reason()), reason=docker_skip_reason() or "-")]

ISOLATION = ["--project", "plugin-lab", "--subnet", "198.18.80.0/23", "--http-port", "18180", "--router-id", "101"]


def chaos(tmp: Path, name: str, *extra: str) -> subprocess.CompletedProcess[str]:
    out = tmp / name
    return subprocess.run([sys.executable, "-m", "lab.cli", "chaos", "--app", "probe", "--scenarios", "kill_writer",
                           *ISOLATION, "--results", str(out / "results.json"), "--report", str(out / "report.md"),
                           "--junit", str(out / "junit.xml"), *extra],
                          capture_output=True, text=True, timeout=1800)


def test_a_slower_setting_fails_against_the_baseline_naming_the_figure(tmp_path: Path) -> None:
    base = chaos(tmp_path, "base")
    assert base.returncode == 0, base.stdout[-3000:] + base.stderr[-2000:]
    before = json.loads((tmp_path / "base" / "results.json").read_text())["scenarios"][0]["figures"]

    slow = tmp_path / "slow.yaml"
    slow.write_text("galera:\n  provider_options:\n    evs.suspect_timeout: PT10S\n"
                    "    evs.inactive_timeout: PT15S\n    evs.install_timeout: PT15S\n")
    run = chaos(tmp_path, "slow", "--spec", str(slow), "--baseline", str(tmp_path / "base" / "results.json"))
    print(run.stdout[-3000:], run.stderr[-2000:])
    assert run.returncode == 1, run.stdout[-3000:] + run.stderr[-2000:]
    after = json.loads((tmp_path / "slow" / "results.json").read_text())["scenarios"][0]["figures"]
    line = next(l for l in run.stderr.splitlines() if "REGRESSION kill_writer: write_resume_s" in l)
    assert f"{after['write_resume_s']:.2f} s against baseline {before['write_resume_s']:.2f} s" in line
    report = (tmp_path / "slow" / "report.md").read_text()
    assert "| kill_writer | write_resume_s |" in report and "**regressed**" in report

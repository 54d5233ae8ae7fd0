"""`galera-lab chaos`: the chaos catalog for pipelines, a thin shell over pytest and the plugin.

Runs the installed `chaos` package's scenarios (pytest, `--pyargs chaos`) on a lab of its own
(project `chaos-lab` unless `--project`/`--subnet` say otherwise), exits non-zero when a check
fails, and with `--baseline` fails too when a figure got worse than in that earlier run beyond
the spec's `regression` tolerances (chaos/baseline.py), naming the figure and both values.

Wired into lab/cli.py with `chaos_cli.add_parser(sub, _spec_args)`.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml
from rich.console import Console

from lab.errors import LabError

console = Console(highlight=False)
err_console = Console(stderr=True, highlight=False)


def add_parser(subparsers: Any, spec_args: Callable[[argparse.ArgumentParser], None]) -> argparse.ArgumentParser:
    """Register `chaos` on the CLI's subparsers; `spec_args` adds the shared spec flags."""
    p = subparsers.add_parser(
        "chaos", help="run the chaos catalog (or a selection) on a lab of its own; non-zero exit on a failed "
                      "check or, with --baseline, on a figure worse than that run's beyond the spec's tolerance")
    spec_args(p)
    p.add_argument("--scenarios", default=None, metavar="A,B",
                   help="scenario names (test names without test_), e.g. kill_writer,vip_holder_down[sigkill]; "
                        "'smoke' for the pull-request selection (default: the whole catalog)")
    p.add_argument("--junit", type=Path, default=None, help="write the JUnit XML here (default: in the run folder)")
    p.add_argument("--baseline", type=Path, default=None,
                   help="results.json of an earlier run (or its folder): figures worse beyond the spec's "
                        "regression tolerances fail the run")
    p.add_argument("--results", type=Path, default=None, help="also copy this run's results.json here")
    p.add_argument("--report", type=Path, default=None,
                   help="also write the Markdown report (figures against the baseline first) here, plots beside it")
    p.add_argument("--subnet", default=None, help="a /23 for the lab's two networks (default 198.18.20.0/23)")
    p.add_argument("--router-id", type=int, default=None, dest="router_id", help="VRRP router id of the lab")
    p.add_argument("--keep", action="store_true", help="leave the lab up at the end (for debugging)")
    p.add_argument("--timeout", type=float, default=None,
                   help="seconds the lab may take to become healthy (default 300; a loaded runner needs more)")
    p.add_argument("--pytest-arg", action="append", default=[], dest="pytest_args", metavar="ARG",
                   help="one more argument for pytest, e.g. --pytest-arg=-x")
    p.set_defaults(func=cmd_chaos)
    return p


def pytest_command(spec_file: Path, run_dir: Path, junit: Path, args: argparse.Namespace) -> list[str]:
    """The pytest run: the installed package's scenarios, the user's spec as one file, this
    run's folder, and the lab's isolation when the user moved it (an empty ini so that a
    pytest configuration in the current folder does not change what runs)."""
    import chaos
    from chaos.plugin import CATALOG

    ini = run_dir / "pytest.ini"
    ini.write_text("[pytest]\n", encoding="utf-8")
    # rootdir: the folder holding the package, so node ids read chaos/test_nodes.py::test_kill_writer
    cmd = [sys.executable, "-m", "pytest", "--pyargs", "chaos", "-m", CATALOG, "-c", str(ini),
           "--rootdir", str(Path(chaos.__file__).resolve().parents[1]), "-p", "no:cacheprovider", "-ra",
           "--lab-spec", str(spec_file), "--lab-results-dir", str(run_dir), "--junitxml", str(junit)]
    if args.scenarios:
        cmd += ["--lab-scenarios", args.scenarios]
    for flag, value in (("--lab-project", args.project), ("--lab-subnet", args.subnet),
                        ("--lab-router-id", args.router_id), ("--lab-http-port", args.http_port)):
        if value is not None:
            cmd += [flag, str(value)]
    if args.keep:
        cmd.append("--lab-keep")
    if args.timeout is not None:
        cmd += ["--lab-timeout", str(args.timeout)]
    return cmd + list(args.pytest_args)


def _run(cmd: list[str], env: dict[str, str]) -> int:
    """pytest as a child; a SIGTERM to us (a CI cancel) is passed on, so it heals and cleans up."""
    proc = subprocess.Popen(cmd, env=env)

    def forward(signum: int, frame: object) -> None:
        proc.send_signal(signum)
    previous = signal.signal(signal.SIGTERM, forward)
    try:
        while True:
            try:
                return proc.wait()
            except KeyboardInterrupt:  # the child got the Ctrl-C too (same process group): wait for its cleanup
                continue
    finally:
        signal.signal(signal.SIGTERM, previous)


def cmd_chaos(args: argparse.Namespace) -> int:
    from chaos import baseline as bl
    from lab.cli import spec_from
    from lab.docker_check import docker_skip_reason
    from lab.isolation import SUITES, isolate
    from lab.paths import stack_dir

    project, http_port = args.project, args.http_port
    args.project = args.http_port = None  # the lab's own isolation, not the user's lab's
    spec = spec_from(args)
    args.project, args.http_port = project, http_port
    base = bl.load_baseline(args.baseline) if args.baseline else None  # refused before a lab starts
    reason = docker_skip_reason()
    if reason:
        raise LabError(f"galera-lab chaos {reason}")
    iso = isolate("chaos", project, args.subnet, args.router_id, http_port) if any(
        v is not None for v in (project, args.subnet, args.router_id, http_port)) else SUITES["chaos"]
    run_dir = stack_dir(iso.project) / "results" / time.strftime("%Y%m%d-%H%M%S")
    run_dir.mkdir(parents=True, exist_ok=True)
    spec_file = run_dir / "spec.yaml"  # the spec as resolved here (profile, --set, shortcuts)
    spec_file.write_text(yaml.safe_dump(spec.model_dump(mode="json"), sort_keys=False), encoding="utf-8")
    junit = (args.junit or run_dir / "junit.xml").resolve()
    junit.parent.mkdir(parents=True, exist_ok=True)
    cmd = pytest_command(spec_file, run_dir, junit, args)
    console.print(f"chaos run {run_dir.name}: project {iso.project}, {iso.base}; results in {run_dir}")
    code = _run(cmd, {**os.environ, "PYTHONUNBUFFERED": "1"})
    if code in (4, 5):
        raise LabError(f"galera-lab chaos: pytest found nothing to run (exit {code}); see its message above")
    return conclude(run_dir, code, base, spec.regression, junit, args.results, args.report)


def conclude(run_dir: Path, code: int, base: dict[str, Any] | None, regression: Any, junit: Path,
             results_copy: Path | None = None, report_copy: Path | None = None) -> int:
    """After pytest: the report, the comparison with the baseline, the copies asked for, and
    the exit code (1 on a failed check, a regression, or nothing run; 130 when interrupted)."""
    from chaos import baseline as bl
    from chaos.report import ResultsFile, render_markdown

    results_path = run_dir / "results.json"
    if not results_path.exists():
        if code == 2:
            return 130
        raise LabError(f"galera-lab chaos: no results were written (pytest exit {code}): the lab did not come "
                       "up or every scenario was skipped; see the output above")
    results = ResultsFile.load(results_path)
    report = render_markdown(results, run_dir)
    failed = code != 0
    ran = [s for s in results.scenarios if s["outcome"] != "skip"]
    if not ran:
        err_console.print("error: every selected scenario was skipped (see the reasons above)", markup=False)
        failed = True
    if base is not None:
        verdict = bl.compare(base, results.to_dict(), regression)
        (run_dir / "baseline.json").write_text(json.dumps(verdict.to_dict(), indent=2) + "\n", encoding="utf-8")
        report.write_text(bl.insert_section(report.read_text(encoding="utf-8"), bl.markdown(verdict)),
                          encoding="utf-8")
        for c in verdict.comparisons:
            if c.status != "regressed":
                console.print(f"  {c.line()}", markup=False, soft_wrap=True)
        for c in verdict.regressions:
            err_console.print(f"REGRESSION {c.line()}", markup=False, soft_wrap=True)
        if not verdict.ok:
            failed = True
        console.print(f"against baseline run {verdict.baseline_run}: {len(verdict.regressions)} regression(s) in "
                      f"{len(verdict.comparisons)} figure(s)")
    if results_copy:
        results_copy.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(results_path, results_copy)
    if report_copy:
        report_copy.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(report, report_copy)
        for png in run_dir.glob("*.png"):
            shutil.copyfile(png, report_copy.parent / png.name)
    console.print(f"results: {results_path}\njunit:   {junit}\nreport:  {report_copy or report}")
    if code == 2:
        return 130
    return 1 if failed else 0

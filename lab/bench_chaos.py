"""`make bench` section `chaos`: is the chaos suite fast enough for every pull request?

Issue 11's targets, on the fast profile: the smoke selection (`--lab-scenarios smoke`) within
90 s once the lab is up, and the whole catalog within 300 s. The section brings the lab up
itself (timed apart), then runs the smoke and then the catalog against it, each as the pytest
run a pipeline makes (`pytest -m "chaos and not workshop" chaos/ --lab-profile fast …`: the fault
catalog, chaos/plugin.py's CATALOG, without the workshop exercises), so what is timed is what a
user waits for, pytest's start included. Before the smoke it watches the healthy lab for a
while: the proxies' failed health checks and DOWN marks and Galera's view changes there are
false alarms (nothing was broken), the price of tight timers on a loaded machine.

The lab is the bench's own (`bench-lab`, or where `--project/--subnet/…` move it), with the
chaos suite's spec on it; removed with its volumes at the end.
"""

from __future__ import annotations

import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from chaos.plugin import CATALOG
from lab import reach
from lab.isolation import SUITES, Isolation, isolate, suite_spec
from lab.runtime import Lab

SMOKE_TARGET_S = 90.0
CATALOG_TARGET_S = 300.0
PROFILE = "fast"
REPO = Path(__file__).resolve().parents[1]


@dataclass
class SuiteRun:
    """One timed pytest run of the chaos suite and what its JUnit file says."""

    selection: str
    seconds: float
    exit_code: int
    passed: int = 0
    failed: int = 0
    skipped: int = 0
    slowest: list[tuple[str, float]] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)


def junit_summary(xml_text: str, top: int = 5) -> dict[str, Any]:
    """Counts, the slowest test cases and the failed ones' names, from a JUnit XML report."""
    root = ET.fromstring(xml_text)
    passed = failed = skipped = 0
    times: list[tuple[str, float]] = []
    failures: list[str] = []
    for case in root.iter("testcase"):
        name = case.get("name", "?")
        times.append((name, float(case.get("time") or 0.0)))
        if case.find("failure") is not None or case.find("error") is not None:
            failed += 1
            failures.append(name)
        elif case.find("skipped") is not None:
            skipped += 1
        else:
            passed += 1
    slowest = sorted(times, key=lambda t: -t[1])[:top]
    return {"passed": passed, "failed": failed, "skipped": skipped, "slowest": slowest, "failures": failures}


def pytest_command(iso: Isolation, junit: Path, results: Path, scenarios: str | None) -> list[str]:
    """The chaos suite on the fast profile against the already running lab, left up after."""
    cmd = [sys.executable, "-m", "pytest", "-m", CATALOG, str(REPO / "chaos"), "-q", "-p", "no:cacheprovider",
           "--lab-profile", PROFILE, "--lab-project", iso.project, "--lab-subnet", iso.base,
           "--lab-router-id", str(iso.router_id), "--lab-http-port", str(iso.http_port), "--lab-keep",
           "--junitxml", str(junit), "--lab-results-dir", str(results)]
    return cmd + (["--lab-scenarios", scenarios] if scenarios else [])


def run_suite(iso: Isolation, folder: Path, scenarios: str | None, log: Callable[[str], None]) -> SuiteRun:
    """Time one run of the suite; its output goes to `<folder>/pytest.log`."""
    folder.mkdir(parents=True, exist_ok=True)
    junit = folder / "junit.xml"
    cmd = pytest_command(iso, junit, folder, scenarios)
    log(" ".join(cmd))
    with open(folder / "pytest.log", "w", encoding="utf-8") as out:
        t0 = time.monotonic()
        code = subprocess.run(cmd, cwd=REPO, stdout=out, stderr=subprocess.STDOUT, check=False).returncode
        seconds = time.monotonic() - t0
    run = SuiteRun(scenarios or "catalog", round(seconds, 1), code)
    if junit.exists():
        for key, value in junit_summary(junit.read_text(encoding="utf-8")).items():
            setattr(run, key, value)
    return run


def _haproxy_counters(lab: Lab) -> dict[str, dict[str, int]]:
    """proxy/node → failed checks and DOWN marks so far, from each HAProxy's stats (writer
    listener: the reader listener's servers track its checks)."""
    import csv
    import io
    import urllib.request

    out: dict[str, dict[str, int]] = {}
    for proxy in lab.spec.proxy_names:
        url = reach.url(str(lab.spec.proxy_backend_address(proxy)), lab.spec.proxy.stats_port, "/;csv")
        with urllib.request.urlopen(url, timeout=5) as resp:
            rows = csv.DictReader(io.StringIO(resp.read().decode().lstrip("# ")))
            for r in rows:
                if r.get("pxname") == "galera-writer" and r.get("svname") in lab.spec.node_names:
                    out[f"{proxy}/{r['svname']}"] = {"chkfail": int(r.get("chkfail") or 0),
                                                     "chkdown": int(r.get("chkdown") or 0)}
    return out


def _view_ids(lab: Lab) -> dict[str, int]:
    """wsrep_cluster_conf_id per node: it moves on every view change (a node suspected, evicted)."""
    from chaos.workloads import node_vars

    return {n: int(node_vars(lab, n, timeout=5, like="wsrep_cluster_conf_id").get("wsrep_cluster_conf_id", -1))
            for n in lab.spec.node_names}


def false_alarms(lab: Lab, seconds: float) -> dict[str, Any]:
    """Health-check failures, DOWN marks and Galera view changes on the healthy, idle lab over
    `seconds`: every one of them is a false alarm. HAProxy tier only for the checks (ProxySQL's
    monitor keeps no such counters)."""
    haproxy = lab.plan.proxy_kind == "haproxy"
    before_checks = _haproxy_counters(lab) if haproxy else {}
    before_views = _view_ids(lab)
    time.sleep(seconds)
    after_checks = _haproxy_counters(lab) if haproxy else {}
    after_views = _view_ids(lab)
    out: dict[str, Any] = {"seconds": seconds, "view_changes": max(after_views[n] - before_views[n] for n in after_views)}
    if haproxy:
        out["failed_checks"] = sum(after_checks[k]["chkfail"] - before_checks[k]["chkfail"] for k in after_checks)
        out["down_marks"] = sum(after_checks[k]["chkdown"] - before_checks[k]["chkdown"] for k in after_checks)
        out["checks_per_s"] = round(len(after_checks) * 1000 / lab.spec.proxy.monitor_interval_ms, 1)
    return out


def chaos_figures(folder: Path, idle_s: float = 30.0, log: Callable[[str], None] = print) -> dict[str, Any]:
    """Lab up (timed), false alarms on the idle lab, then the smoke and the catalog against it."""
    iso = isolate("chaos", SUITES["bench"].project, SUITES["bench"].base, SUITES["bench"].router_id,
                  SUITES["bench"].http_port)
    spec = suite_spec("chaos", profile=PROFILE)  # what the suite's runs below resolve too
    lab = Lab.create(spec)
    out: dict[str, Any] = {"profile": PROFILE, "project": iso.project, "targets_s": {"smoke": SMOKE_TARGET_S,
                                                                                      "catalog": CATALOG_TARGET_S}}
    try:
        lab.down(volumes=True)
        t0 = time.monotonic()
        lab.up(timeout=600)
        out["lab_up_s"] = round(time.monotonic() - t0, 1)
        out["tier"], out["app"] = lab.plan.proxy_kind, lab.plan.app_kind
        log(f"lab up in {out['lab_up_s']} s; watching it idle for {idle_s:.0f} s")
        out["idle"] = false_alarms(lab, idle_s)
        stamp = time.strftime("%Y%m%d-%H%M%S")
        out["smoke"] = asdict(run_suite(iso, folder / f"chaos-smoke-{stamp}", "smoke", log))
        out["catalog"] = asdict(run_suite(iso, folder / f"chaos-catalog-{stamp}", None, log))
    finally:
        lab.down(volumes=True)
    return out


def verdict_lines(figures: dict[str, Any]) -> list[str]:
    """What `make bench` prints: each run's wall time against its target, and its outcome."""
    lines = [f"== chaos suite, {figures['profile']} profile ({figures.get('tier', '?')} tier, "
             f"{figures.get('app', '?')} app); lab up in {figures.get('lab_up_s', '?')} s (not counted below)"]
    idle = figures.get("idle")
    if idle:
        checks = (f"{idle['failed_checks']} failed health checks, {idle['down_marks']} DOWN marks "
                  f"({idle['checks_per_s']} checks/s), " if "failed_checks" in idle else "")
        lines.append(f"  false alarms on the idle lab over {idle['seconds']:.0f} s: {checks}"
                     f"{idle['view_changes']} Galera view changes")
    for key, label in (("smoke", "smoke selection"), ("catalog", "whole catalog")):
        run = figures.get(key)
        if not run:
            continue
        target = figures["targets_s"][key]
        ok = run["seconds"] <= target and run["exit_code"] == 0
        lines.append(f"  {label:16s} {run['seconds']:7.1f} s  (target <= {target:.0f} s after the lab is up) "
                     f"{'OK' if ok else 'MISSED'}: {run['passed']} passed, {run['failed']} failed, "
                     f"{run['skipped']} skipped, pytest exit {run['exit_code']}")
        if key == "catalog":
            lines.append(f"  {'':16s} {run['seconds'] + figures.get('lab_up_s', 0):7.1f} s  with the lab's start")
        if run["failures"]:
            lines.append(f"  {'':16s} failed: {', '.join(run['failures'])}")
        lines.append(f"  {'':16s} slowest: " + ", ".join(f"{n} {s:.0f} s" for n, s in run["slowest"]))
    return lines

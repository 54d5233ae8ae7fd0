"""Figures of a chaos run against a baseline run: which got worse beyond the spec's tolerance.

Why: a pipeline that only checks fixed deadlines passes a change that makes failover twice as
slow as long as it stays under the deadline. Comparing each figure with the same scenario's
figure in an earlier run (its results.json) catches that, naming the figure and both values.

`compare` is a pure function of two results documents and the spec's `regression` section
(lab/spec.py RegressionSpec): unit tests feed it hand-made results. Only the figures declared
in lab/figures.py are judged, all of them "larger is worse".
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from lab.errors import LabError
from lab.figures import REGRESSION_FIGURES
from lab.grammar import printable
from lab.spec import RegressionSpec

STATUSES = ("ok", "better", "regressed", "new", "gone", "not compared")


@dataclass(frozen=True)
class Comparison:
    """One figure of one scenario against its baseline value.

    status: ok (within tolerance), better (below the baseline), regressed (beyond tolerance),
    new (no baseline value), gone (in the baseline, not measured now), not compared (the
    spec's `regression.figures.<name>.compare: false`)."""

    scenario: str
    figure: str
    unit: str
    baseline: float | None
    current: float | None
    limit: float | None  # the largest value that still passes
    status: str

    @property
    def change_pct(self) -> float | None:
        if self.baseline is None or self.current is None or not self.baseline or not math.isfinite(self.current):
            return None
        return 100.0 * (self.current - self.baseline) / self.baseline

    def line(self) -> str:
        """One line for a terminal or a CI log: `kill_writer: write_resume_s regressed: 9.10 s against 6.07 s …`."""
        change = f", {self.change_pct:+.0f}%" if self.change_pct is not None else ""
        limit = f", limit {fmt(self.limit, self.unit)}" if self.limit is not None else ""
        return (f"{self.scenario}: {self.figure} {self.status}: {fmt(self.current, self.unit)} "
                f"against baseline {fmt(self.baseline, self.unit)}{change}{limit}")


@dataclass
class BaselineVerdict:
    """Every comparison of a run against its baseline; `ok` when none regressed."""

    baseline_run: str
    current_run: str
    comparisons: list[Comparison] = field(default_factory=list)
    missing_scenarios: list[str] = field(default_factory=list)  # in the baseline, not run now

    @property
    def regressions(self) -> list[Comparison]:
        return [c for c in self.comparisons if c.status == "regressed"]

    @property
    def ok(self) -> bool:
        return not self.regressions

    def to_dict(self) -> dict[str, Any]:
        return {"baseline_run": self.baseline_run, "current_run": self.current_run, "ok": self.ok,
                "missing_scenarios": self.missing_scenarios,
                "comparisons": [asdict(c) | {"change_pct": c.change_pct} for c in self.comparisons]}


def fmt(value: float | None, unit: str) -> str:
    if value is None:
        return "–"
    if not math.isfinite(value):
        return "never"
    return f"{value:.0f} ms" if unit == "ms" else f"{value:.2f} s"


def _number(value: Any) -> float | None:
    """A figure as a float; None for absent or non-numeric values (a note, a dict)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value)


def _judge(baseline: float | None, current: float | None, pct: float, abs_ms: float,
           per_ms: float) -> tuple[str, float | None]:
    if current is None and baseline is None:
        return "not compared", None
    if baseline is None:
        return "new", None
    if current is None:
        return "gone", None
    if not math.isfinite(baseline):
        return ("ok" if not math.isfinite(current) else "better"), None
    # both tolerances are allowances: the figure regresses only when it exceeds both
    limit = baseline + max(abs(baseline) * pct / 100.0, abs_ms * per_ms)
    if current > limit:
        return "regressed", limit
    return ("better" if current < baseline else "ok"), limit


def compare(baseline: Mapping[str, Any], current: Mapping[str, Any], settings: RegressionSpec) -> BaselineVerdict:
    """Compare every declared figure of every scenario in `current` (a results.json document)
    with the same scenario's figure in `baseline`. Scenarios match by name; a scenario only in
    the baseline is listed as missing (it was not selected, or the run stopped), never failed."""
    base = {s["name"]: s.get("figures", {}) for s in baseline.get("scenarios", [])}
    verdict = BaselineVerdict(str(baseline.get("run_id", "?")), str(current.get("run_id", "?")))
    seen: set[str] = set()
    for scenario in current.get("scenarios", []):
        name = scenario["name"]
        seen.add(name)
        if scenario.get("outcome") == "skip":
            continue
        before, now = base.get(name), scenario.get("figures", {})
        for figure, meta in REGRESSION_FIGURES.items():
            b = _number(before.get(figure)) if before is not None else None
            c = _number(now.get(figure))
            if b is None and c is None:
                continue
            compared, pct, abs_ms = settings.tolerance(figure)
            status, limit = _judge(b, c, pct, abs_ms, meta.per_ms) if compared else ("not compared", None)
            verdict.comparisons.append(Comparison(name, figure, meta.unit, b, c, limit, status))
    verdict.missing_scenarios = [n for n in base if n not in seen]
    return verdict


def load_baseline(path: Path) -> dict[str, Any]:
    """A previous run's results.json (or its run folder), checked enough to compare with; any
    problem is one LabError line naming the file and what to pass instead."""
    path = Path(path)
    if path.is_dir():
        path = path / "results.json"
    name = printable(str(path))
    hint = "pass the results.json of an earlier `galera-lab chaos` run"
    if not path.exists():
        raise LabError(f"--baseline {name}: no such file; {hint}")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except UnicodeDecodeError:
        raise LabError(f"--baseline {name}: not a UTF-8 text file; {hint}") from None
    except json.JSONDecodeError as exc:
        raise LabError(f"--baseline {name}: not valid JSON (line {exc.lineno}, column {exc.colno}: {exc.msg}); {hint}") from None
    except OSError as exc:
        raise LabError(f"--baseline {name}: can't be read ({exc.strerror or exc.__class__.__name__})") from None
    scenarios = data.get("scenarios") if isinstance(data, dict) else None
    if not isinstance(scenarios, list) or not all(isinstance(s, dict) and isinstance(s.get("name"), str)
                                                  and isinstance(s.get("figures", {}), dict) for s in scenarios):
        raise LabError(f"--baseline {name}: not a chaos results file (no list of scenarios with names and "
                       f"figures); {hint}")
    if not scenarios:
        raise LabError(f"--baseline {name}: the run recorded no scenario, so there is nothing to compare with; {hint}")
    return data


def markdown(verdict: BaselineVerdict) -> list[str]:
    """The report's section: each compared figure against its baseline, regressions first."""
    order = {s: i for i, s in enumerate(("regressed", "new", "gone", "ok", "better", "not compared"))}
    rows = sorted(verdict.comparisons, key=lambda c: (order[c.status], c.scenario, c.figure))
    head = (f"**{len(verdict.regressions)} figure(s) regressed** beyond the spec's tolerance"
            if verdict.regressions else "No figure regressed beyond the spec's tolerance")
    lines = ["## Against the baseline", "",
             f"{head} (run {verdict.current_run} against baseline run {verdict.baseline_run}).", "",
             "| scenario | figure | baseline | now | change | limit | verdict |",
             "|---|---|---|---|---|---|---|"]
    for c in rows:
        change = f"{c.change_pct:+.0f}%" if c.change_pct is not None else "–"
        status = f"**{c.status}**" if c.status == "regressed" else c.status
        lines.append(f"| {c.scenario} | {c.figure} | {fmt(c.baseline, c.unit)} | {fmt(c.current, c.unit)} | "
                     f"{change} | {fmt(c.limit, c.unit)} | {status} |")
    if verdict.missing_scenarios:
        lines += ["", f"In the baseline, not in this run: {', '.join(verdict.missing_scenarios)}."]
    return [*lines, ""]


def insert_section(report_md: str, section: Sequence[str]) -> str:
    """The report with `section` right under its title, so a reader sees regressions first."""
    head, _, rest = report_md.partition("\n\n")
    return f"{head}\n\n" + "\n".join(section) + "\n" + rest

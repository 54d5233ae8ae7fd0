"""Results of a chaos run: one JSON file for machines, Markdown and PNG plots for people.

The JSON file carries the topology spec and the versions next to every figure, so a number
can always be traced to the settings that produced it. `render_markdown` reads only that
file's content, so old runs can be re-rendered.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import tempfile
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from matplotlib.figure import Figure

from chaos import availability
from chaos.checkers import latency_percentiles
from chaos.history import FaultEvent, History, Op

SCENARIO_OUTCOMES: frozenset[str] = frozenset({"pass", "fail", "skip", "error"})

TIMELINE_KINDS: tuple[str, ...] = ("connect", "http", "chamilo_session", "chamilo_write", "chamilo_read_own_write")
"""Probe kinds drawn on a scenario's timeline: SQL availability through the VIP, the
application's home page, and with Chamilo its logged-in page, a write and its read-back."""

CHAMILO_COLUMNS: tuple[tuple[str, str], ...] = (
    ("home page", "http"),
    ("logged-in page", "chamilo_session"),
    ("re-login", "chamilo_login"),
    ("calendar write", "chamilo_write"),
    ("read own write", "chamilo_read_own_write"),
)
"""The Chamilo table's columns: (header, op kind in a scenario's `figures["chamilo"]`)."""

FIGURE_COLUMNS: tuple[tuple[str, str], ...] = (
    ("downtime ms", "downtime_ms"),
    ("VIP move s", "vip_move_s"),
    ("evict s", "evict_s"),
    ("rejoin s", "rejoin_s"),
    ("writes attempted", "writes_attempted"),
    ("acked", "writes_acknowledged"),
    ("lost", "writes_lost"),
)
"""Summary-table columns: (header, key in a scenario's `figures`). Missing keys show as –."""

_DASH = "–"

_TIME_KEYS: frozenset[str] = frozenset({"first_failure", "recovered_at"})
"""Verdict figures that are time.time() stamps, shown relative to the scenario's start."""


@dataclass
class ResultsFile:
    """One run's results, saved as one JSON file.

    >>> results = ResultsFile(run_id="r1", started=1.0, spec={"tier": "haproxy"}, versions={})
    >>> _ = results.add_scenario("kill-writer", "pass", figures={"downtime_ms": 3400.0})
    >>> results.scenarios[0]["figures"]["downtime_ms"]
    3400.0
    """

    run_id: str
    started: float
    spec: dict[str, Any]
    versions: dict[str, Any]
    finished: float | None = None
    scenarios: list[dict[str, Any]] = field(default_factory=list)
    stale_reads: list[dict[str, Any]] | None = None
    screenshots: dict[str, str] = field(default_factory=dict)  # label → PNG path (browser check)

    def add_screenshot(self, label: str, png: str | os.PathLike[str]) -> None:
        """Attach a browser screenshot of the application; the report embeds it."""
        self.screenshots[label] = str(Path(png).resolve())

    def add_scenario(
        self,
        name: str,
        outcome: str,
        verdicts: Mapping[str, Any] | None = None,
        figures: Mapping[str, Any] | None = None,
        faults: Iterable[FaultEvent] = (),
        history: History | None = None,
    ) -> dict[str, Any]:
        """Record one scenario; verdicts may be checker dataclasses or plain dicts.

        The history itself is not stored (it can be large and is saved beside the results if
        wanted); only the probes' [start, end, ok] spans are kept, for the timeline plot.
        """
        if outcome not in SCENARIO_OUTCOMES:
            raise ValueError(f"outcome {outcome!r} is not one of {sorted(SCENARIO_OUTCOMES)}")
        scenario = {
            "name": name,
            "outcome": outcome,
            "verdicts": {key: _plain(v) for key, v in (verdicts or {}).items()},
            "figures": dict(figures or {}),
            "faults": [fault.to_dict() for fault in faults],
            "timeline": _timeline(history) if history is not None else {},
        }
        self.scenarios.append(scenario)
        return scenario

    def add_stale_reads(
        self,
        sync_wait: int,
        condition: str,
        probes: int,
        stale: int,
        errors: int,
        latencies_ms: Iterable[float],
    ) -> dict[str, Any]:
        """Record one cell of the stale-read study: a wsrep_sync_wait value under a condition.

        `condition` names how the value was set and the load (e.g. "global/idle",
        "session/lagged"); `stale` counts reads that missed the token just written, `errors`
        reads that failed (e.g. 1205 on causal_read_timeout).
        """
        row = {
            "sync_wait": sync_wait,
            "condition": condition,
            "probes": probes,
            "stale": stale,
            "errors": errors,
            "latency_ms": latency_percentiles(latencies_ms).to_dict(),
        }
        self.stale_reads = [*(self.stale_reads or []), row]
        return row

    def to_dict(self) -> dict[str, Any]:
        """The JSON document; `stale_reads` and `screenshots` only when there are some."""
        data = asdict(self)
        if data["stale_reads"] is None:
            del data["stale_reads"]
        if not data["screenshots"]:
            del data["screenshots"]
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ResultsFile:
        """Inverse of `to_dict`."""
        return cls(**data)

    def save(self, path: str | os.PathLike[str]) -> Path:
        """Write atomically (temp file + rename) so a crash never leaves half a results file."""
        target = Path(path)
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as out:
                json.dump(self.to_dict(), out, indent=2)
                out.write("\n")
                out.flush()
                os.fsync(out.fileno())
            os.replace(tmp, target)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        return target

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> ResultsFile:
        """Read a file written by `save`."""
        return cls.from_dict(json.loads(Path(path).read_text(encoding="utf-8")))


def _plain(verdict: Any) -> Any:
    """A checker verdict as a plain dict; dicts pass through."""
    return verdict.to_dict() if hasattr(verdict, "to_dict") else verdict


def _timeline(history: History) -> dict[str, list[list[Any]]]:
    """Per probe kind, [start, end, ok?] spans in start order: the end tells a stalled success
    from a prompt one (chaos/availability.py)."""
    points = {
        kind: [[op.start, op.end, op.outcome == "ok"] for op in history.ops(kind)]
        for kind in TIMELINE_KINDS
    }
    return {kind: spans for kind, spans in points.items() if spans}


def _timeline_ops(kind: str, points: Sequence[Sequence[Any]]) -> list[Op]:
    """A timeline's spans as ops again; results files written before the end was kept have
    [start, ok] pairs, read as instantaneous."""
    return [Op("probe", kind, None, None, p[0], p[-2] if len(p) > 2 else p[0], "ok" if p[-1] else "fail")
            for p in points]


# --- Markdown ------------------------------------------------------------------------------


def render_markdown(
    results: ResultsFile | Sequence[ResultsFile], out_dir: str | os.PathLike[str]
) -> Path:
    """Write `report.md` and its PNG plots into out_dir; returns the Markdown path.

    One summary table per run, then per-scenario details with a timeline plot where the
    scenario has probe data, then the stale-read table and plot when the study ran. Images are
    linked by file name, so the folder can be moved or published as a whole.
    """
    runs = [results] if isinstance(results, ResultsFile) else list(results)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    lines = ["# Chaos results", ""]
    for run in runs:
        lines += _run_section(run, out)
    target = out / "report.md"
    target.write_text("\n".join(lines), encoding="utf-8")
    return target


def _run_section(run: ResultsFile, out: Path) -> list[str]:
    """Markdown for one run: header, summary table, scenario details, stale reads."""
    lines = [
        f"## Run {run.run_id}",
        "",
        f"Started {_iso(run.started)}, finished {_iso(run.finished)}.",
        "",
        f"Spec: `{json.dumps(run.spec, sort_keys=True)}`",
        "",
        f"Versions: `{json.dumps(run.versions, sort_keys=True)}`",
        "",
    ]
    lines += _summary_table(run.scenarios)
    lines += _chamilo_table(run.scenarios)
    lines += _consistency_table(run.scenarios)
    lines += _mitigation_table(run.scenarios)
    for scenario in run.scenarios:
        lines += _scenario_details(run.run_id, scenario, out)
    if run.stale_reads:
        lines += _stale_reads_section(run.run_id, run.stale_reads, out)
    lines += _screenshots_section(run, out)
    return lines


def _screenshots_section(run: ResultsFile, out: Path) -> list[str]:
    """The application as a browser saw it, copied next to the report so the folder moves whole."""
    lines: list[str] = []
    for label, png in sorted(run.screenshots.items()):
        source = Path(png)
        if not source.is_file():
            lines += [f"Screenshot {label}: missing ({source})", ""]
            continue
        name = f"{_slug(run.run_id)}-{_slug(label)}.png"
        if source.resolve() != (out / name).resolve():
            shutil.copyfile(source, out / name)
        lines += [f"### Application: {label}", "", f"![{label}]({name})", ""]
    return lines


def _summary_table(scenarios: Sequence[Mapping[str, Any]]) -> list[str]:
    """The per-run table: scenario, outcome and the headline figures."""
    headers = ["scenario", "outcome", *(header for header, _ in FIGURE_COLUMNS)]
    rows = [
        [s["name"], s["outcome"], *(_fmt(s["figures"].get(key)) for _, key in FIGURE_COLUMNS)]
        for s in scenarios
    ]
    return [*_table(headers, rows), ""]


def _consistency_table(scenarios: Sequence[Mapping[str, Any]]) -> list[str]:
    """Per scenario that ran transactions: the workload and how it transacted, transactions by
    fate, anomalies by class, lost acknowledged writes, the strongest model the history
    satisfies; then one explanation of each anomaly class found (chaos/consistency/)."""
    rows, examples = [], []
    for s in scenarios:
        c = s["figures"].get("consistency")
        if not c:
            continue
        workload = s["figures"].get("workload", "list-append")
        how = f"{c.get('isolation', '?')}{' + FOR UPDATE' if c.get('locking_reads') else ''} via {c.get('route', '?')}"
        fates = f"{c.get('committed', _DASH)} / {c.get('failed', _DASH)} / {c.get('unknown', _DASH)}"
        found = ", ".join(f"{name} {n}" for name, n in c.get("anomalies", {}).items()) or "none"
        lost = c.get("lost_appends", c.get("lost_increments"))
        rows.append([s["name"], workload, how, fates, _cell(found, 120), _fmt(lost),
                     c.get("strongest_model") or _DASH,
                     "ok" if c.get("ok") else "finding (loss allowed)" if c.get("finding") else "FAILED"])
        examples += [(s["name"], name, text) for name, text in c.get("examples", {}).items()]
    if not rows:
        return []
    headers = ["scenario", "workload", "sessions", "txns ok / fail / unknown", "anomalies", "lost acked",
               "strongest model", "verdict"]
    lines = ["### Consistency", "", *_table(headers, rows), ""]
    for scenario, name, text in examples:
        lines += [f"{scenario}, one {name}:", "", "```", text, "```", ""]
    return lines


def mitigation_figure(name: str, without: str, with_: str, measures: Mapping[str, tuple[Any, Any]]) -> dict[str, Any]:
    """A failure mode and its mitigation side by side, as a scenario keeps it in
    `figures["mitigation"]` for the report: the mitigation, what ran without and with it, and
    each measure's value both ways."""
    return {"name": name, "without": without, "with": with_,
            "measures": {measure: [before, after] for measure, (before, after) in measures.items()}}


def _mitigation_table(scenarios: Sequence[Mapping[str, Any]]) -> list[str]:
    """Per scenario that measured a mitigation (`mitigation_figure`): each measure without and
    with it, then one line per scenario saying what "without" and "with" were."""
    rows, notes = [], []
    for s in scenarios:
        m = s["figures"].get("mitigation")
        if not m:
            continue
        for measure, (before, after) in m["measures"].items():
            rows.append([s["name"], _cell(measure, 80), _cell(_fmt(before), 80), _cell(_fmt(after), 80)])
        notes.append(f"- {s['name']}: {_cell(m['name'], 200)}. Without: {_cell(m['without'], 200)}; "
                     f"with: {_cell(m['with'], 200)}.")
    if not rows:
        return []
    headers = ["scenario", "measure", "without mitigation", "with mitigation"]
    return ["### Failure modes and their mitigations", "", *_table(headers, rows), "", *notes, ""]


def _chamilo_table(scenarios: Sequence[Mapping[str, Any]]) -> list[str]:
    """What a Chamilo user saw per scenario: longest outage (ms) / failed requests of each page
    or action, stale reads after a write, lost sessions, and the most frequent error."""
    rows = []
    for s in scenarios:
        seen = s["figures"].get("chamilo")
        if not seen:
            continue
        cells = []
        for _, kind in CHAMILO_COLUMNS:
            fig = seen.get(kind)
            cells.append(_DASH if fig is None else f"{fig['downtime_ms']:.0f} / {fig['failed']}")
        errors = [(text, count) for fig in seen.values() for text, count in fig["errors"].items()]
        top = max(errors, key=lambda e: e[1], default=None)
        rows.append([s["name"], *cells, f"{s['figures'].get('chamilo_stale_reads', 0)}/"
                     f"{s['figures'].get('chamilo_reads', 0)}", _fmt(s["figures"].get("chamilo_sessions_lost")),
                     _DASH if top is None else _cell(f"{top[1]}× {top[0]}", 120)])
    if not rows:
        return []
    headers = ["scenario", *(f"{header} ms / failed" for header, _ in CHAMILO_COLUMNS), "stale reads",
               "sessions lost", "most frequent error"]
    return ["### What a Chamilo user saw", "", *_table(headers, rows), ""]


def _scenario_details(run_id: str, scenario: Mapping[str, Any], out: Path) -> list[str]:
    """Verdicts, faults and timeline of one scenario."""
    t0 = _origin(scenario)
    bullets = [f"- **{name}**: {_verdict_line(v, t0)}" for name, v in scenario["verdicts"].items()]
    bullets += [f"- fault {_fault_line(fault, t0)}" for fault in scenario["faults"]]
    lines = [f"### {scenario['name']}: {scenario['outcome']}", ""]
    if bullets:
        lines += [*bullets, ""]
    if scenario["timeline"]:
        image = out / f"{_slug(run_id)}-{_slug(scenario['name'])}-timeline.png"
        _plot_timeline(scenario, t0, image)
        lines += [f"![timeline of {scenario['name']}]({image.name})", ""]
    return lines


def _verdict_line(verdict: Mapping[str, Any], t0: float) -> str:
    """`ok`/`FAILED` then the figures, short enough to read; the JSON file has everything."""
    status = {True: "ok", False: "FAILED"}.get(verdict.get("ok"), "")
    figures = ", ".join(
        f"{key} {_figure(key, value, t0)}" for key, value in verdict.items() if key != "ok"
    )
    return " — ".join(part for part in (status, figures) if part)


def _figure(key: str, value: Any, t0: float) -> str:
    """One verdict figure: time stamps relative to t0, records counted, small collections inline."""
    if key in _TIME_KEYS and isinstance(value, (int, float)):
        return f"+{value - t0:.2f} s"
    if isinstance(value, (list, tuple)) and any(isinstance(item, dict) for item in value):
        return f"{len(value)} entries"
    if isinstance(value, (list, tuple, dict)):
        return _short(value)
    return _fmt(value)


def _fault_line(fault: Mapping[str, Any], t0: float) -> str:
    """'kill on node1 at +2.00 s, healed +7.50 s (detail)'."""
    healed = "never healed" if fault["healed"] is None else f"healed +{fault['healed'] - t0:.2f} s"
    detail = f" `{json.dumps(fault['detail'], sort_keys=True)}`" if fault["detail"] else ""
    return f"{fault['name']} on {fault['target']} at +{fault['start'] - t0:.2f} s, {healed}{detail}"


def _stale_reads_section(run_id: str, rows: Sequence[Mapping[str, Any]], out: Path) -> list[str]:
    """Table of the stale-read study (one row per value × condition) and its plot."""
    headers = [
        "wsrep_sync_wait",
        "condition",
        "probes",
        "stale %",
        "errors",
        "p50 ms",
        "p95 ms",
        "p99 ms",
    ]
    ordered = sorted(rows, key=lambda r: (r["condition"], r["sync_wait"]))
    table = [
        [
            str(r["sync_wait"]),
            r["condition"],
            str(r["probes"]),
            _fmt(_stale_percent(r)),
            str(r["errors"]),
            *(_fmt(r["latency_ms"][p]) for p in ("p50", "p95", "p99")),
        ]
        for r in ordered
    ]
    image = out / f"{_slug(run_id)}-stale-reads.png"
    _plot_stale_reads(ordered, image)
    return [
        "### Stale reads",
        "",
        "stale % is of the reads that answered (probes − errors).",
        "",
        *_table(headers, table),
        "",
        f"![stale reads against wsrep_sync_wait]({image.name})",
        "",
    ]


def _stale_percent(row: Mapping[str, Any]) -> float | None:
    """Share of answered reads that were stale; None when no read answered."""
    answered = row["probes"] - row["errors"]
    return 100.0 * row["stale"] / answered if answered > 0 else None


def _table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    """A GitHub-flavoured Markdown table."""
    return [
        "| " + " | ".join(headers) + " |",
        "|" + "|".join("---" for _ in headers) + "|",
        *("| " + " | ".join(row) + " |" for row in rows),
    ]


def _fmt(value: Any) -> str:
    """Numbers for tables: integers as is, floats with up to two decimals, None as a dash."""
    if value is None:
        return _DASH
    if isinstance(value, float):
        return f"{value:.0f}" if abs(value) >= 100 else f"{value:.2f}"
    return str(value)


def _short(value: Any, limit: int = 200) -> str:
    """A collection as compact JSON, cut at `limit` characters."""
    text = json.dumps(value, sort_keys=True)
    return f"`{text if len(text) <= limit else text[: limit - 1] + '…'}`"


def _cell(text: str, limit: int) -> str:
    """Free text (an error message) for a table cell: one line, pipes escaped, cut at `limit`."""
    text = " ".join(text.split())
    text = text if len(text) <= limit else text[: limit - 1] + "…"
    return text.replace("|", "\\|")


def _iso(at: float | None) -> str:
    """UTC ISO time of a time.time() stamp, or a dash."""
    return _DASH if at is None else datetime.fromtimestamp(at, UTC).isoformat(timespec="seconds")


def _slug(text: str) -> str:
    """A file-name-safe version of a run or scenario name."""
    return re.sub(r"[^A-Za-z0-9._-]+", "-", text).strip("-") or "unnamed"


def _origin(scenario: Mapping[str, Any]) -> float:
    """Time zero of a scenario: its earliest probe or fault start."""
    times = [p[0] for points in scenario["timeline"].values() for p in points]
    times += [fault["start"] for fault in scenario["faults"]]
    return min(times, default=0.0)


# --- plots ---------------------------------------------------------------------------------


TIMELINE_BUCKET_S = 0.5
"""The timeline's resolution: fine enough to show a failover of one or two seconds."""


def _plot_timeline(scenario: Mapping[str, Any], t0: float, path: Path) -> None:
    """Per probe kind: the share of attempts that found the service available per half second,
    with the spans of failed or stalled attempts shaded (the rule of chaos/availability.py, the
    dashboard's too); faults as vertical lines and spans."""
    kinds = list(scenario["timeline"])
    fig = Figure(figsize=(10, 1.2 + 1.6 * len(kinds)))
    axes = fig.subplots(len(kinds), 1, sharex=True, squeeze=False)[:, 0]
    ops = {kind: _timeline_ops(kind, scenario["timeline"][kind]) for kind in kinds}
    end = max(op.end for kind_ops in ops.values() for op in kind_ops) - t0
    edges = [t0 + i * TIMELINE_BUCKET_S for i in range(int(end / TIMELINE_BUCKET_S) + 1)]
    for ax, kind in zip(axes, kinds, strict=True):
        shares = availability.per_bucket(ops[kind], edges, TIMELINE_BUCKET_S)
        ax.step([e - t0 for e in edges], [_nan(v) for v in shares], where="post", color="tab:blue",
                linewidth=1, label="available share")
        for i, (start, stop) in enumerate(availability.unavailable_spans(ops[kind])):
            ax.axvspan(start - t0, max(stop - t0, start - t0 + 0.05), ymin=0, ymax=0.12, color="tab:red",
                       label="failed or stalled" if i == 0 else None)
        ax.set_yticks([0, 1], ["0 %", "100 %"])
        ax.set_ylim(-0.1, 1.15)
        ax.set_ylabel(kind)
        for fault in scenario["faults"]:
            _draw_fault(ax, fault, t0, end)
    axes[-1].set_xlabel("seconds since start")
    axes[0].set_title(f"{scenario['name']}: availability")
    if axes[0].get_legend_handles_labels()[0]:
        axes[0].legend(loc="upper right", fontsize="small")
    fig.tight_layout()
    fig.savefig(path, format="png", dpi=100, metadata={"Software": None})


def _draw_fault(ax: Any, fault: Mapping[str, Any], t0: float, end: float) -> None:
    """Fault start and heal as vertical lines, the time between shaded."""
    start = fault["start"] - t0
    healed = None if fault["healed"] is None else fault["healed"] - t0
    ax.axvspan(start, end if healed is None else healed, color="tab:red", alpha=0.12)
    ax.axvline(
        start,
        color="tab:red",
        linestyle="--",
        linewidth=1,
        label=f"{fault['name']} {fault['target']}",
    )
    if healed is not None:
        ax.axvline(healed, color="tab:green", linestyle="--", linewidth=1, label="healed")


def _nan(value: float | None) -> float:
    """None as NaN, which matplotlib leaves as a gap in a line."""
    return float("nan") if value is None else value


def _plot_stale_reads(rows: Sequence[Mapping[str, Any]], path: Path) -> None:
    """Stale % and p99 read latency against wsrep_sync_wait, one line per condition."""
    fig = Figure(figsize=(10, 4))
    stale_ax, p99_ax = fig.subplots(1, 2)
    for condition in sorted({r["condition"] for r in rows}):
        mine = sorted(
            (r for r in rows if r["condition"] == condition), key=lambda r: r["sync_wait"]
        )
        xs = [r["sync_wait"] for r in mine]
        stale_ax.plot(xs, [_nan(_stale_percent(r)) for r in mine], marker="o", label=condition)
        p99_ax.plot(xs, [_nan(r["latency_ms"]["p99"]) for r in mine], marker="o", label=condition)
    values = sorted({r["sync_wait"] for r in rows})
    for ax, label in ((stale_ax, "stale reads %"), (p99_ax, "p99 read latency ms")):
        ax.set_xticks(values)
        ax.set_xlabel("wsrep_sync_wait")
        ax.set_ylabel(label)
        ax.grid(alpha=0.3)
    if any((r["latency_ms"]["p99"] or 0) > 0 for r in rows):
        p99_ax.set_yscale("log")  # latencies under wait span orders of magnitude
    stale_ax.legend(fontsize="small")
    fig.tight_layout()
    fig.savefig(path, format="png", dpi=100, metadata={"Software": None})

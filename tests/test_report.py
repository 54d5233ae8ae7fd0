"""Results file round trip and the Markdown/PNG report rendered from it."""

from __future__ import annotations

import json
import re
import struct
from pathlib import Path

import pytest

from chaos.checkers import check_acknowledged_writes, downtime
from chaos.history import FaultEvent, History, Op
from chaos.report import ResultsFile, mitigation_figure, render_markdown

T0 = 1_700_000_000.0
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
SUMMARY_HEADER = (
    "| scenario | outcome | downtime ms | VIP move s | evict s | rejoin s"
    " | writes attempted | acked | lost |"
)


def probe_history() -> History:
    """20 s of probes every 50 ms: SQL down from 5.0 to 8.6 s, HTTP from 5.0 to 9.0 s."""
    history = History()
    for i in range(400):
        t = T0 + i * 0.05
        history.append(
            Op("sql", "connect", None, None, t, t + 0.01, "fail" if 100 <= i < 172 else "ok")
        )
        history.append(
            Op("web", "http", None, None, t, t + 0.02, "unknown" if 100 <= i < 180 else "ok")
        )
    history.append(Op("w1", "write", "a", 1, T0 + 1, T0 + 1.01, "ok"))
    history.append(Op("w1", "write", "b", 2, T0 + 5.1, T0 + 6.0, "unknown"))
    return history


def make_results() -> ResultsFile:
    history = probe_history()
    results = ResultsFile(
        run_id="20240101-120000",
        started=T0 - 1,
        spec={"tier": "haproxy", "nodes": 3},
        versions={"mariadb": "10.11.6", "galera": "26.4.16"},
    )
    writes = check_acknowledged_writes(history, {"n1": {"a"}, "n2": {"a"}})
    sql = downtime(history.ops("connect"))
    results.add_scenario(
        "kill writer",
        "pass",
        verdicts={"acknowledged_writes": writes, "sql_downtime": sql},
        figures={
            "downtime_ms": sql.longest_ms,
            "vip_move_s": 3.6,
            "evict_s": 5.2,
            "rejoin_s": 12.4,
            "writes_attempted": writes.attempted,
            "writes_acknowledged": writes.acknowledged,
            "writes_lost": len(writes.lost),
        },
        faults=[FaultEvent("kill", "node1", T0 + 5.0, T0 + 10.0, {"signal": "KILL"})],
        history=history,
    )
    results.add_scenario("isolate proxy", "fail", verdicts={"routing": {"ok": False, "served": 4}})
    for condition, stale, p99 in (
        ("global/idle", (10, 0, 0), (2.0, 3.0, 4.0)),
        ("session/lagged", (50, 5, 0), (2.5, 60.0, 900.0)),
    ):
        for value, n_stale, latency in zip((0, 1, 3), stale, p99, strict=True):
            results.add_stale_reads(
                value,
                condition,
                probes=200,
                stale=n_stale,
                errors=10 * value,
                latencies_ms=[latency / 2] * 150 + [latency] * 50,
            )
    results.finished = T0 + 30
    return results


def png_size(path: Path) -> tuple[int, int]:
    """Width and height from the IHDR chunk, after checking the PNG signature."""
    data = path.read_bytes()
    assert data[:8] == PNG_SIGNATURE
    assert data[12:16] == b"IHDR"
    return struct.unpack(">II", data[16:24])


def test_add_scenario_stores_plain_verdicts_and_timeline() -> None:
    results = make_results()
    scenario = results.scenarios[0]
    assert scenario["verdicts"]["acknowledged_writes"]["unknown_absent"] == 1
    assert scenario["verdicts"]["sql_downtime"]["count"] == 1
    assert scenario["figures"]["downtime_ms"] == pytest.approx(3600.0, abs=0.01)
    assert sorted(scenario["timeline"]) == ["connect", "http"]
    assert len(scenario["timeline"]["connect"]) == 400
    assert sum(1 for _, _, ok in scenario["timeline"]["connect"] if not ok) == 72
    assert all(start <= end for start, end, _ in scenario["timeline"]["connect"])
    assert scenario["faults"] == [
        {
            "name": "kill",
            "target": "node1",
            "start": T0 + 5.0,
            "healed": T0 + 10.0,
            "detail": {"signal": "KILL"},
        }
    ]
    assert results.scenarios[1]["timeline"] == {}
    assert results.stale_reads[4]["latency_ms"] == {
        "count": 200,
        "p50": 30.0,
        "p95": 60.0,
        "p99": 60.0,
        "max": 60.0,
    }


def test_add_scenario_rejects_unknown_outcome() -> None:
    results = ResultsFile("r", 0.0, {}, {})
    with pytest.raises(ValueError, match="outcome"):
        results.add_scenario("x", "passed")


def test_save_and_load_round_trip(tmp_path: Path) -> None:
    results = make_results()
    path = results.save(tmp_path / "run" / "results.json")
    assert [p.name for p in path.parent.iterdir()] == ["results.json"]  # no temp file left over
    loaded = ResultsFile.load(path)
    assert loaded.to_dict() == json.loads(json.dumps(results.to_dict()))
    assert set(json.loads(path.read_text())) == {
        "run_id",
        "started",
        "finished",
        "spec",
        "versions",
        "scenarios",
        "stale_reads",
    }


def test_results_without_stale_reads_omit_the_key(tmp_path: Path) -> None:
    path = ResultsFile("r", 0.0, {}, {}).save(tmp_path / "r.json")
    assert "stale_reads" not in json.loads(path.read_text())
    assert ResultsFile.load(path).stale_reads is None


def test_render_markdown_tables_and_plots(tmp_path: Path) -> None:
    results = make_results()
    report = render_markdown(
        ResultsFile.load(results.save(tmp_path / "results.json")), tmp_path / "out"
    )
    text = report.read_text()
    lines = text.splitlines()
    assert "## Run 20240101-120000" in lines
    assert SUMMARY_HEADER in lines
    assert "| kill writer | pass | 3600 | 3.60 | 5.20 | 12.40 | 2 | 1 | 0 |" in lines
    assert "| isolate proxy | fail | – | – | – | – | – | – | – |" in lines
    assert '- fault kill on node1 at +5.00 s, healed +10.00 s `{"signal": "KILL"}`' in lines
    assert "- **routing**: FAILED — served 4" in lines
    assert (
        "- **sql_downtime**: ok — probes 400, failures 72, count 1, longest_ms 3600, total_ms 3600,"
        " first_failure +5.00 s, recovered_at +8.60 s, windows 1 entries" in lines
    )
    assert "lost `{}`, failed_present `[]`" in text
    # stale-read table: stale % is of answered reads (probes - errors)
    assert "| 0 | global/idle | 200 | 5.00 | 0 | 1.00 | 2.00 | 2.00 |" in lines
    assert "| 3 | session/lagged | 200 | 0.00 | 30 | 450 | 900 | 900 |" in lines
    assert "| 1 | session/lagged | 200 | 2.63 | 10 | 30.00 | 60.00 | 60.00 |" in lines

    images = re.findall(r"!\[[^\]]*\]\(([^)]+)\)", text)
    assert images == ["20240101-120000-kill-writer-timeline.png", "20240101-120000-stale-reads.png"]
    for name in images:
        path = report.parent / name
        width, height = png_size(path)
        assert (width, height) >= (800, 300)
        assert path.stat().st_size > 10_000


def test_timeline_plot_has_one_panel_per_probe_kind(tmp_path: Path) -> None:
    results = make_results()
    render_markdown(results, tmp_path)
    width, height = png_size(tmp_path / "20240101-120000-kill-writer-timeline.png")
    # 10 x (1.2 + 1.6 * 2) inches at 100 dpi
    assert (width, height) == (1000, 440)


def test_render_several_runs_and_empty_run(tmp_path: Path) -> None:
    empty = ResultsFile("empty", T0, {}, {})
    report = render_markdown([make_results(), empty], tmp_path)
    lines = report.read_text().splitlines()
    assert lines.count(SUMMARY_HEADER) == 2
    assert "## Run empty" in lines
    assert "Started 2023-11-14T22:13:20+00:00, finished –." in lines
    assert sorted(p.name for p in tmp_path.glob("*.png")) == [
        "20240101-120000-kill-writer-timeline.png",
        "20240101-120000-stale-reads.png",
    ]


def test_render_edge_cases_without_failures_or_answers(tmp_path: Path) -> None:
    """All probes ok and no faults; a stale-read cell where every read failed."""
    history = History(
        [Op("p", "connect", None, None, 1.0 + i * 0.05, 1.01 + i * 0.05, "ok") for i in range(10)]
    )
    results = ResultsFile("edge", 0.0, {}, {})
    results.add_scenario("all ok", "pass", history=history)
    results.add_stale_reads(0, "global/idle", probes=5, stale=0, errors=5, latencies_ms=[])
    lines = render_markdown(results, tmp_path).read_text().splitlines()
    assert lines[lines.index("### all ok: pass") + 1 :][:2] == [
        "",
        "![timeline of all ok](edge-all-ok-timeline.png)",
    ]
    assert "| 0 | global/idle | 5 | – | 5 | – | – | – |" in lines
    for name in ("edge-all-ok-timeline.png", "edge-stale-reads.png"):
        assert png_size(tmp_path / name)[0] == 1000


def test_screenshot_is_embedded_next_to_the_report(tmp_path: Path) -> None:
    from matplotlib.figure import Figure

    png = tmp_path / "shot.png"
    fig = Figure(figsize=(2, 1))
    fig.add_subplot().plot([0, 1])
    fig.savefig(png)
    results = ResultsFile(run_id="r9", started=0.0, spec={}, versions={})
    results.add_screenshot("probe app", png)
    again = ResultsFile.from_dict(json.loads(json.dumps(results.to_dict())))
    md = render_markdown(again, tmp_path / "out").read_text()
    assert "![probe app](r9-probe-app.png)" in md
    assert (tmp_path / "out" / "r9-probe-app.png").read_bytes() == png.read_bytes()


def test_chamilo_table_shows_what_a_user_saw(tmp_path: Path) -> None:
    """Per scenario, each Chamilo page or action with its longest outage and failed requests,
    the stale reads after a write, lost sessions, and the most frequent error (pipes escaped)."""
    results = ResultsFile(run_id="r1", started=1000.0, spec={}, versions={})
    seen = {"http": {"downtime_ms": 1250.0, "requests": 40, "failed": 5, "errors": {"HTTP 500: SQLSTATE[HY000]": 5}},
            "chamilo_session": {"downtime_ms": 0.0, "requests": 30, "failed": 0, "errors": {}},
            "chamilo_write": {"downtime_ms": 3100.0, "requests": 20, "failed": 7, "errors": {"timed out | 3 s": 7}},
            "chamilo_read_own_write": {"downtime_ms": 0.0, "requests": 13, "failed": 2, "errors": {"stale: x": 2}}}
    results.add_scenario("kill_writer", "pass", figures={"chamilo": seen, "chamilo_stale_reads": 2,
                                                         "chamilo_reads": 13, "chamilo_sessions_lost": 0})
    results.add_scenario("routing", "pass", figures={"downtime_ms": 0.0})
    text = render_markdown(results, tmp_path).read_text()
    assert "### What a Chamilo user saw" in text
    row = next(line for line in text.splitlines() if line.startswith("| kill_writer") and "stale" not in line
               and "×" in line)
    assert "| 1250 / 5 | 0 / 0 | – | 3100 / 7 | 0 / 2 | 2/13 | 0 | 7× timed out \\| 3 s |" in row
    assert not any(line.startswith("| routing") and "×" in line for line in text.splitlines())


def test_no_chamilo_table_without_chamilo(tmp_path: Path) -> None:
    results = ResultsFile(run_id="r1", started=1000.0, spec={}, versions={})
    results.add_scenario("routing", "pass", figures={"downtime_ms": 0.0})
    assert "Chamilo" not in render_markdown(results, tmp_path).read_text()


def test_timeline_of_a_results_file_from_before_spans_still_renders(tmp_path: Path) -> None:
    """Results files written before the timeline kept each attempt's end hold [start, ok] pairs."""
    results = make_results()
    results.scenarios[0]["timeline"] = {"connect": [[T0 + i * 0.05, i % 50 < 40] for i in range(400)]}
    render_markdown(results, tmp_path)
    assert png_size(tmp_path / "20240101-120000-kill-writer-timeline.png") == (1000, 280)


def test_mitigation_table_puts_each_measure_without_and_with(tmp_path: Path) -> None:
    """A scenario's `mitigation_figure`: one row per measure, then what "without" and "with" were."""
    results = ResultsFile(run_id="r1", started=1000.0, spec={}, versions={})
    figure = mitigation_figure("single-writer routing", "one client per node", "all through the VIP",
                               {"1213 deadlocks a second": (2.07, 0.0), "writer p99 ms": (401.5, None),
                                "outcome": ("1105: too big | refused", "ok")})
    assert figure["measures"]["writer p99 ms"] == [401.5, None]
    results.add_scenario("write_conflicts", "pass", figures={"mitigation": figure})
    results.add_scenario("routing", "pass", figures={"downtime_ms": 0.0})
    text = render_markdown(results, tmp_path).read_text()
    assert "### Failure modes and their mitigations" in text
    assert "| write_conflicts | 1213 deadlocks a second | 2.07 | 0.00 |" in text
    assert "| write_conflicts | writer p99 ms | 402 | – |" in text
    assert "| write_conflicts | outcome | 1105: too big \\| refused | ok |" in text
    assert ("- write_conflicts: single-writer routing. Without: one client per node; "
            "with: all through the VIP.") in text
    assert not any(line.startswith("| routing |") and "mitigation" in line for line in text.splitlines())


def test_no_mitigation_table_without_one(tmp_path: Path) -> None:
    results = ResultsFile(run_id="r1", started=1000.0, spec={}, versions={})
    results.add_scenario("routing", "pass", figures={"downtime_ms": 0.0})
    assert "mitigations" not in render_markdown(results, tmp_path).read_text()

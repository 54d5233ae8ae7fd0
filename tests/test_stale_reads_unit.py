"""The stale-read study's Docker-free parts: aggregation, pinning verdict, table and JSON shaping."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import pymysql
import pytest

from chaos import stale_reads as sr
from chaos.report import ResultsFile, render_markdown


def part(probes: int = 10, stale: int = 0, errors: dict[str, int] | None = None, lat: list[float] | None = None,
         served: dict[str, int] | None = None, effective: dict[str, int] | None = None, connections: int = 1,
         switched: int = 0, elapsed: float = 2.0) -> dict:
    return {"probes": probes, "stale": stale, "errors": errors or {}, "write_errors": {},
            "latencies_ms": lat if lat is not None else [1.0] * probes, "write_latencies_ms": [2.0] * probes,
            "served_by": served or {}, "effective": effective or {}, "connections": connections,
            "switched": switched, "elapsed_s": elapsed}


def test_aggregate_counts_stale_of_answered_and_errors_by_kind() -> None:
    parts = [
        part(10, stale=5, lat=[1.0] * 10, served={"node2": 10}, effective={"0": 10}),
        part(10, stale=0, errors={"1205 lock wait timeout": 2}, lat=[1.0] * 8 + [1000.0, 1000.0],
             served={"node2": 8}, effective={"0": 8}, elapsed=2.5),
    ]
    cell = sr.aggregate(0, "held", "session", "direct node2 10.0.0.12:3306", parts)
    assert (cell.probes, cell.stale, cell.errors, cell.answered) == (20, 5, 2, 18)
    assert cell.stale_pct == pytest.approx(100 * 5 / 18, abs=1e-3)
    assert cell.errors_by_kind == {"1205 lock wait timeout": 2}
    assert cell.latency_ms["p50"] == 1.0 and cell.latency_ms["p99"] == 1000.0
    assert cell.write_latency_ms["p50"] == 2.0
    assert cell.probes_per_s == 8.0  # 20 reads over the slowest worker's 2.5 s
    assert cell.served_by == {"node2": 18}
    assert cell.setting_reached_backend is True


def test_aggregate_with_no_answer_has_no_stale_percent() -> None:
    cell = sr.aggregate(1, "held", "global", "direct node2", [part(3, errors={"1205 lock wait timeout": 3})])
    assert cell.stale_pct is None and cell.setting_reached_backend is None
    assert sr.aggregate(1, "idle", "global", "x", []).probes_per_s == 0.0


def test_setting_not_reached_when_backend_reports_another_value() -> None:
    cell = sr.aggregate(3, "idle", "proxy-session", "proxysql 10.0.0.100:6033",
                        [part(4, served={"node2": 2, "node3": 2}, effective={"3": 2, "0": 2}, switched=1)])
    assert cell.setting_reached_backend is False
    verdict = sr.pinning_verdict("proxysql", [cell])
    assert verdict["pinned"] is False
    assert "proxysql#3333" in verdict["statement"] and "globally" in verdict["statement"]


def test_pinning_verdict_haproxy_pinned() -> None:
    cells = [sr.aggregate(v, "idle", "proxy-session", "haproxy 10.0.0.100:6034",
                          [part(5, served={"node3": 5}, effective={str(v): 5})]) for v in (0, 1)]
    verdict = sr.pinning_verdict("haproxy", cells)
    assert verdict["pinned"] is True and verdict["verified_reads"] == 10
    assert "TCP" in verdict["statement"]
    assert sr.pinning_verdict("haproxy", [])["pinned"] is None


def test_error_kind() -> None:
    assert sr.error_kind(pymysql.err.OperationalError(1205, "Lock wait timeout exceeded")) == "1205 lock wait timeout"
    assert sr.error_kind(pymysql.err.OperationalError(9999, "x")) == "9999 error"
    assert sr.error_kind(TimeoutError()) == "TimeoutError"


def test_config_validation() -> None:
    with pytest.raises(ValueError, match="0..15"):
        sr.StudyConfig(values=(16,))
    with pytest.raises(ValueError, match="unknown condition"):
        sr.StudyConfig(conditions=("busy",))
    with pytest.raises(ValueError, match="unknown mode"):
        sr.StudyConfig(modes=("proxysql",))


def study(cells: list[sr.Cell]) -> sr.StudyResult:
    r = sr.StudyResult(project="p", proxy_kind="haproxy", reader="node2", config={}, started=1_700_000_000.0,
                       finished=1_700_000_060.0, cells=cells, versions={"mariadb": "10.11"})
    r.pinning = sr.pinning_verdict("haproxy", cells)
    return r


def test_problems_find_stale_with_read_bit_and_blind_probe() -> None:
    ok = [sr.aggregate(0, "held", "session", "direct node2 a:3306", [part(5, stale=5)]),
          sr.aggregate(1, "held", "session", "direct node2 a:3306", [part(5, errors={"1205 lock wait timeout": 5})])]
    assert sr.stale_read_problems(study(ok)) == []
    bad = [sr.aggregate(0, "held", "session", "direct node2 a:3306", [part(5, stale=0)]),
           sr.aggregate(7, "idle", "global", "haproxy v:6034", [part(5, stale=1)])]
    problems = sr.stale_read_problems(study(bad))
    assert any("blind" in p for p in problems) and any("wsrep_sync_wait=7" in p for p in problems)


def test_results_file_and_report(tmp_path: Path) -> None:
    cells = [sr.aggregate(v, "idle", mode, "haproxy v:6034", [part(10, stale=3 if v == 0 else 0,
                                                                      served={"node2": 10}, effective={str(v): 10})])
             for mode in ("global", "proxy-session") for v in (0, 1)]
    rf = sr.to_results_file(study(cells), {"project": "p"}, "stale-reads-x")
    assert [r["condition"] for r in rf.stale_reads] == ["global/idle"] * 2 + ["proxy-session/idle"] * 2
    row = rf.stale_reads[0]
    assert row["probes"] == 10 and row["stale"] == 3 and row["latency_ms"]["p50"] == 1.0
    assert row["errors_by_kind"] == {} and row["probes_per_s"] == 5.0 and row["mode"] == "global"
    path = rf.save(tmp_path / "run" / "results.json")
    again = ResultsFile.load(path)
    assert again.stale_reads == rf.stale_reads
    md = render_markdown(again, tmp_path / "out").read_text()
    assert "### Stale reads" in md and "proxy-session/idle" in md
    assert (tmp_path / "out" / "stale-reads-x-stale-reads.png").stat().st_size > 1000


def test_json_and_table_rows() -> None:
    cells = [sr.aggregate(1, "held", "global", "direct node2 10.0.0.12:3306",
                          [part(4, errors={"1205 lock wait timeout": 4}, lat=[1000.0] * 4)])]
    doc = json.loads(json.dumps(study(cells).to_dict()))
    c = doc["cells"][0]
    for key in ("probes", "stale", "stale_pct", "errors_by_kind", "latency_ms", "probes_per_s", "mode", "condition"):
        assert key in c
    assert set(c["latency_ms"]) >= {"p50", "p95", "p99"}
    row = sr.cell_row(sr.Cell(**{**cells[0].__dict__}))
    assert len(row) == len(sr.TABLE_HEADERS)
    assert row[6] == "1205×4" and row[12] == "node2 direct"
    assert sr.short_via("haproxy 198.18.31.100:6034") == "haproxy:6034"


def test_cli_parser_defaults_and_lists() -> None:
    from lab import cli, stale_cli

    parser = argparse.ArgumentParser()
    sub = parser.add_subparsers(dest="command", required=True)
    stale_cli.add_parser(sub, cli._spec_args)
    args = parser.parse_args(["stale-reads", "--values", "0,1", "--conditions", "held", "--json"])
    assert args.values == (0, 1) and args.conditions == ("held",) and args.json
    assert args.modes == sr.MODES and args.func is stale_cli.cmd_stale_reads
    table = stale_cli.render_table(study([sr.aggregate(0, "idle", "session", "direct node2 a:3306", [part(2)])]))
    assert table.row_count == 1


def test_causal_reads_prove_that_reads_waited() -> None:
    """Read-your-writes is judged by the nodes' wsrep_causal_reads counters, not by the variable."""
    served = {"node2": 6, "node3": 4}
    waited = sr.aggregate(1, "churn", "global", "proxysql v:6033", [part(10, served=served)],
                          counters={"node1": {"causal_reads": 900, "selects": 0},
                                    "node2": {"causal_reads": 6, "selects": 6}, "node3": {"causal_reads": 4, "selects": 4}})
    assert waited.causal_reads_total == 10 and waited.every_read_waited is True  # the writer's counter: not ours
    skipped_wait = sr.aggregate(1, "churn", "global", "proxysql v:6033", [part(10, served=served)],
                                counters={"node1": {"causal_reads": 900, "selects": 0},
                                          "node2": {"causal_reads": 3, "selects": 6}, "node3": {"causal_reads": 0, "selects": 4}})
    assert skipped_wait.every_read_waited is False
    assert any("did not all wait" in p for p in sr.stale_read_problems(study([skipped_wait])))
    assert sr.aggregate(0, "idle", "global", "x", [part(10)]).every_read_waited is None  # no READ bit: no claim
    assert sr.counter_delta({"a": {"causal_reads": 5}}, {"a": {"causal_reads": 9}, "b": {"causal_reads": 1}}) == \
        {"a": {"causal_reads": 4}}


def test_pinning_statement_names_both_facts() -> None:
    cells = [sr.aggregate(1, "idle", "proxy-session", "proxysql v:6033",
                          [part(10, served={"node2": 5, "node3": 5}, effective={"1": 10}, connections=2, switched=2)])]
    verdict = sr.pinning_verdict("proxysql", cells)
    assert verdict["pinned"] is False and verdict["session_value_reached"] is True and verdict["expected"] is False
    assert "spread sessions" in verdict["statement"] and "reached the node serving every read" in verdict["statement"]

"""The baseline comparison (chaos/baseline.py) on hand-made results: no Docker."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from chaos import baseline as bl
from lab.errors import LabError, SpecError
from lab.spec import RegressionSpec, load_spec


def run(run_id: str, **scenarios: dict) -> dict:
    return {"run_id": run_id, "scenarios": [{"name": n, "outcome": "pass", "figures": f} for n, f in scenarios.items()]}


DEFAULT = RegressionSpec()  # 25 %, 500 ms


def test_within_tolerance_passes_and_beyond_fails_naming_figure_and_values() -> None:
    base = run("b", kill_writer={"write_resume_s": 6.0, "downtime_ms": 6300.0, "target": "node1"})
    now = run("c", kill_writer={"write_resume_s": 7.4, "downtime_ms": 9000.0, "target": "node2"})
    verdict = bl.compare(base, now, DEFAULT)
    by = {c.figure: c for c in verdict.comparisons}
    assert by["write_resume_s"].status == "ok"  # 6.0 s + 25 % = 7.5 s
    assert by["downtime_ms"].status == "regressed" and by["downtime_ms"].limit == 7875.0
    assert not verdict.ok and [c.figure for c in verdict.regressions] == ["downtime_ms"]
    line = verdict.regressions[0].line()
    assert "kill_writer" in line and "downtime_ms" in line and "9000 ms" in line and "6300 ms" in line
    assert "target" not in by  # only declared figures are judged


def test_absolute_tolerance_covers_jitter_on_small_figures() -> None:
    base = run("b", vip_holder_down={"vip_move_s": 0.9, "downtime_ms": 800.0})
    now = run("c", vip_holder_down={"vip_move_s": 1.35, "downtime_ms": 1250.0})  # +50 %, but < 500 ms more
    assert bl.compare(base, now, DEFAULT).ok
    strict = RegressionSpec(tolerance_pct=25, tolerance_abs_ms=0)
    assert {c.figure for c in bl.compare(base, now, strict).regressions} == {"vip_move_s", "downtime_ms"}


def test_per_figure_overrides_and_opt_out() -> None:
    settings = RegressionSpec.model_validate({"figures": {"rejoin_s": {"compare": False},
                                                          "evict_s": {"tolerance_pct": 0, "tolerance_abs_ms": 0}}})
    base = run("b", kill_reader={"rejoin_s": 7.0, "evict_s": 6.0})
    now = run("c", kill_reader={"rejoin_s": 70.0, "evict_s": 6.01})
    by = {c.figure: c for c in bl.compare(base, now, settings).comparisons}
    assert by["rejoin_s"].status == "not compared"
    assert by["evict_s"].status == "regressed"


def test_new_gone_better_missing_and_never_recovered() -> None:
    base = run("b", kill_writer={"downtime_ms": 6000.0, "rejoin_s": 8.0}, pause_node={"evict_s": 6.0})
    now = run("c", kill_writer={"downtime_ms": 3000.0, "write_resume_s": 3.2, "http_downtime_ms": math.inf})
    verdict = bl.compare(base, now, DEFAULT)
    by = {c.figure: c.status for c in verdict.comparisons}
    assert by == {"downtime_ms": "better", "write_resume_s": "new", "http_downtime_ms": "new", "rejoin_s": "gone"}
    assert verdict.missing_scenarios == ["pause_node"] and verdict.ok
    never = bl.compare(run("b", s={"downtime_ms": 100.0}), run("c", s={"downtime_ms": math.inf}), DEFAULT)
    assert not never.ok and "never" in never.regressions[0].line()


def test_skipped_scenarios_and_non_numbers_are_not_judged() -> None:
    base = run("b", latency={"downtime_ms": 100.0}, crash={"downtime_ms": True, "recovery_s": "x"})
    now = {"run_id": "c", "scenarios": [{"name": "latency", "outcome": "skip", "figures": {}},
                                        {"name": "crash", "outcome": "pass", "figures": {"downtime_ms": 9.0}}]}
    verdict = bl.compare(base, now, DEFAULT)
    assert [(c.scenario, c.status) for c in verdict.comparisons] == [("crash", "new")]


def test_markdown_shows_every_figure_against_its_baseline_regressions_first() -> None:
    base = run("b1", kill_writer={"write_resume_s": 3.0, "evict_s": 6.0})
    now = run("c1", kill_writer={"write_resume_s": 6.1, "evict_s": 6.1})
    lines = bl.markdown(bl.compare(base, now, DEFAULT))
    text = "\n".join(lines)
    assert "1 figure(s) regressed" in text and "baseline run b1" in text
    rows = [line for line in lines if line.startswith("| kill_writer")]
    assert rows[0].startswith("| kill_writer | write_resume_s | 3.00 s | 6.10 s | +103% | 3.75 s | **regressed**")
    assert "| evict_s | 6.00 s | 6.10 s |" in rows[1]
    merged = bl.insert_section("# Chaos results\n\n## Run c1\n", lines)
    assert merged.index("Against the baseline") < merged.index("## Run c1")


@pytest.mark.parametrize("content, words", [
    (None, "no such file"),
    (b"\xff\xfe", "not a UTF-8 text file"),
    (b"{nope", "not valid JSON (line 1"),
    (b'{"scenarios": "x"}', "not a chaos results file"),
    (b'[1, 2]', "not a chaos results file"),
    (b'{"scenarios": []}', "recorded no scenario"),
])
def test_a_bad_baseline_is_one_line(tmp_path: Path, content: bytes | None, words: str) -> None:
    path = tmp_path / "results.json"
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(LabError) as err:
        bl.load_baseline(path)
    assert words in str(err.value) and "\n" not in str(err.value) and str(path) in str(err.value)


def test_a_run_folder_is_a_baseline_too(tmp_path: Path) -> None:
    (tmp_path / "results.json").write_text(json.dumps(run("r", a={"downtime_ms": 1.0})))
    assert bl.load_baseline(tmp_path)["run_id"] == "r"


@pytest.mark.parametrize("override, words", [
    (("regression.tolerance_pct", -5), "regression.tolerance_pct: -5 refused"),
    (("regression.tolerance_abs_ms", "lots"), "regression.tolerance_abs_ms: 'lots' refused"),
    (("regression.figures", {"rejoin": {}}), "unknown figure 'rejoin'; did you mean 'rejoin_s'?"),
    (("regression.figures", {"rejoin_s": {"tolerance": 5}}), "unknown key 'regression.figures.rejoin_s.tolerance'"),
    (("regression.figures", {"rejoin_s": {"tolerance_pct": -1}}), "regression.figures.rejoin_s.tolerance_pct: -1"),
])
def test_spec_regression_section_is_validated(override: tuple[str, object], words: str) -> None:
    with pytest.raises(SpecError) as err:
        load_spec(overrides=[override])
    assert words in str(err.value) and "\n" not in str(err.value)


def test_spec_regression_defaults() -> None:
    spec = load_spec(overrides=[("regression.figures", {"evict_s": {"tolerance_pct": 50}})])
    assert spec.regression.tolerance("evict_s") == (True, 50.0, 500.0)
    assert spec.regression.tolerance("rejoin_s") == (True, 25.0, 500.0)

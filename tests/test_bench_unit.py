"""The bench's side-by-side table of proxy tiers (pure: figures in, rows out)."""

from __future__ import annotations

from lab.bench import side_by_side


def test_side_by_side_has_a_column_per_tier_and_dashes_for_what_was_not_measured() -> None:
    tiers = {
        "haproxy": {"lab": {"warm_up_s": 24.2, "memory_mib": 366.0}, "routing": {"violations": 0},
                    "failover": {"default": {"proxy_sigkill": {"vip_move_s": {"median": 2.94}}}}},
        "proxysql": {"routing": {"violations": 0}},
    }
    rows = dict(side_by_side(tiers))
    assert rows["warm up to healthy"] == ["24.20 s", "–"]
    assert rows["misrouted statements"] == ["0", "0"]
    assert rows["VIP move, proxy SIGKILL (median)"] == ["2.94 s", "–"]
    assert all(len(values) == 2 for values in rows.values())


JUNIT = """<?xml version="1.0" encoding="utf-8"?><testsuites><testsuite name="pytest" tests="4">
<testcase classname="chaos.test_nodes" name="test_kill_writer" time="21.5"/>
<testcase classname="chaos.test_proxies" name="test_vip_holder_down[sigkill]" time="12.0">
  <failure message="VIP moved after 2.1 s">...</failure></testcase>
<testcase classname="chaos.test_routing" name="test_proxysql_cluster_carries_a_change" time="0.1">
  <skipped message="HAProxy tier"/></testcase>
<testcase classname="chaos.test_stale_reads" name="test_every_cell_measured" time="30.2">
  <error message="fixture failed"/></testcase>
</testsuite></testsuites>"""


def test_junit_summary_counts_outcomes_and_names_the_slowest_and_the_failed() -> None:
    from lab.bench_chaos import junit_summary

    s = junit_summary(JUNIT, top=2)
    assert (s["passed"], s["failed"], s["skipped"]) == (1, 2, 1)
    assert s["slowest"] == [("test_every_cell_measured", 30.2), ("test_kill_writer", 21.5)]
    assert s["failures"] == ["test_vip_holder_down[sigkill]", "test_every_cell_measured"]


def test_chaos_pytest_command_keeps_the_running_lab_and_selects_only_when_asked(tmp_path) -> None:
    from lab.bench_chaos import pytest_command
    from lab.isolation import Isolation

    iso = Isolation("fast-lab", "198.18.90.0/23", 97, 18095)
    cmd = pytest_command(iso, tmp_path / "junit.xml", tmp_path, "smoke")
    assert cmd[cmd.index("--lab-profile") + 1] == "fast" and "--lab-keep" in cmd
    assert cmd[cmd.index("--lab-subnet") + 1] == "198.18.90.0/23" and cmd[-2:] == ["--lab-scenarios", "smoke"]
    assert "--lab-scenarios" not in pytest_command(iso, tmp_path / "junit.xml", tmp_path, None)


def test_chaos_verdict_says_missed_on_a_failed_run_or_over_the_target() -> None:
    from lab.bench_chaos import verdict_lines

    run = {"seconds": 80.0, "exit_code": 0, "passed": 7, "failed": 0, "skipped": 0, "slowest": [("a", 30.0)],
           "failures": []}
    figures = {"profile": "fast", "tier": "haproxy", "app": "probe", "lab_up_s": 30.0,
               "targets_s": {"smoke": 90.0, "catalog": 300.0},
               "idle": {"seconds": 30.0, "view_changes": 0, "failed_checks": 2, "down_marks": 0, "checks_per_s": 12.0},
               "smoke": run, "catalog": {**run, "seconds": 310.0}}
    text = "\n".join(verdict_lines(figures))
    assert "smoke selection     80.0 s  (target <= 90 s after the lab is up) OK" in text
    assert "whole catalog      310.0 s  (target <= 300 s after the lab is up) MISSED" in text
    assert "340.0 s  with the lab's start" in text and "2 failed health checks, 0 DOWN marks" in text
    figures["smoke"] = {**run, "exit_code": 1, "failed": 1, "failures": ["test_kill_writer"]}
    text = "\n".join(verdict_lines(figures))
    assert "80.0 s  (target <= 90 s after the lab is up) MISSED" in text and "failed: test_kill_writer" in text


def test_consistency_section_times_both_models_on_a_valid_history() -> None:
    from lab.bench import consistency_figures

    figures = consistency_figures(n=1_000)
    assert figures["txns"] == 1_000
    for model in ("serializable", "strict-serializable"):
        assert figures[model]["ok"] and figures[model]["anomalies"] == {}
        assert figures[model]["s"] >= 0
    assert "realtime" in figures["strict-serializable"]["edges"]

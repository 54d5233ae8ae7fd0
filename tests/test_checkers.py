"""Checkers against hand-made histories with known answers."""

from __future__ import annotations

import json

import pytest

from chaos.checkers import (
    check_acknowledged_writes,
    check_convergence,
    check_no_duplicates,
    check_routing,
    downtime,
    latency_percentiles,
    time_to_event,
    write_impact,
)
from chaos.history import History, Op


def write(key: str, outcome: str, start: float = 1.0) -> Op:
    return Op("w1", "write", key, key, start, start + 0.01, outcome)  # type: ignore[arg-type]


def probe(start: float, ok: bool, end: float | None = None) -> Op:
    outcome = "ok" if ok else "fail"
    return Op("probe", "connect", None, None, start, start + 0.01 if end is None else end, outcome)


def route(statement: str, node: str | None, start: float, end: float | None = None) -> Op:
    outcome = "ok" if node else "fail"
    return Op(
        "r1", "route", None, statement, start, start + 0.01 if end is None else end, outcome, node
    )


# --- acknowledged writes -------------------------------------------------------------------


def test_acknowledged_writes_all_present() -> None:
    history = History([write("a", "ok"), write("b", "ok"), write("c", "fail")])
    verdict = check_acknowledged_writes(history, {"n1": {"a", "b"}, "n2": {"a", "b"}})
    assert verdict.ok
    assert (verdict.attempted, verdict.acknowledged, verdict.failed, verdict.unknown) == (
        3,
        2,
        1,
        0,
    )
    assert verdict.lost == {}


def test_acknowledged_write_missing_on_one_node_is_lost_there() -> None:
    history = History([write("a", "ok"), write("b", "ok"), write("c", "ok")])
    verdict = check_acknowledged_writes(
        history, {"n1": {"a", "b", "c"}, "n2": {"a", "c"}, "n3": {"a"}}
    )
    assert not verdict.ok
    assert verdict.lost == {"b": ["n2", "n3"], "c": ["n3"]}
    assert verdict.acknowledged == 3


def test_unknown_writes_are_never_lost_but_are_counted() -> None:
    # "u1" was indeterminate and did land; "u2" was indeterminate and did not.
    history = History([write("a", "ok"), write("u1", "unknown"), write("u2", "unknown")])
    verdict = check_acknowledged_writes(history, {"n1": {"a", "u1"}, "n2": {"a", "u1"}})
    assert verdict.ok
    assert (verdict.unknown, verdict.unknown_present, verdict.unknown_absent) == (2, 1, 1)
    assert verdict.lost == {}


def test_unknown_write_on_some_nodes_counts_as_present() -> None:
    history = History([write("u1", "unknown")])
    verdict = check_acknowledged_writes(history, {"n1": {"u1"}, "n2": set()})
    assert (verdict.ok, verdict.unknown_present, verdict.unknown_absent) == (True, 1, 0)


def test_failed_write_that_landed_is_an_anomaly() -> None:
    history = History([write("f", "fail"), write("g", "fail")])
    verdict = check_acknowledged_writes(history, {"n1": {"f"}, "n2": set()})
    assert not verdict.ok
    assert verdict.failed_present == ["f"]
    assert verdict.lost == {}


def test_acknowledged_writes_empty_history() -> None:
    verdict = check_acknowledged_writes(History(), {"n1": set()})
    assert verdict.ok
    assert verdict.to_dict() == {
        "ok": True,
        "attempted": 0,
        "acknowledged": 0,
        "failed": 0,
        "unknown": 0,
        "unknown_present": 0,
        "unknown_absent": 0,
        "lost": {},
        "failed_present": [],
    }


def test_acknowledged_writes_needs_at_least_one_node() -> None:
    with pytest.raises(ValueError, match="empty"):
        check_acknowledged_writes(History([write("a", "ok")]), {})


def test_non_write_ops_are_ignored() -> None:
    history = History([write("a", "ok"), Op("r", "read", "zz", None, 1.0, 1.1, "ok")])
    verdict = check_acknowledged_writes(history, {"n1": {"a"}})
    assert (verdict.attempted, verdict.ok) == (1, True)


# --- duplicates and convergence ------------------------------------------------------------


def test_duplicates_per_node() -> None:
    verdict = check_no_duplicates({"n1": ["a", "b", "a", "a"], "n2": ["a", "b"], "n3": ["c", "c"]})
    assert not verdict.ok
    assert verdict.duplicates == {"n1": {"a": 3}, "n3": {"c": 2}}


def test_no_duplicates_and_empty() -> None:
    assert check_no_duplicates({"n1": ["a", "b"], "n2": []}).ok
    assert check_no_duplicates({}).to_dict() == {"ok": True, "duplicates": {}}


def test_convergence_lists_missing_and_extra_keys() -> None:
    verdict = check_convergence({"n1": ["a", "b", "x"], "n2": ["a", "b"], "n3": ["a"]})
    assert not verdict.ok
    assert (verdict.nodes, verdict.distinct_keys) == (3, 3)
    assert verdict.missing_by_node == {"n2": ["x"], "n3": ["b", "x"]}
    assert verdict.extra_by_node == {"n1": ["x"]}


def test_convergence_identical_sets_ignore_order_and_duplicates() -> None:
    verdict = check_convergence({"n1": ["b", "a"], "n2": ["a", "b", "b"]})
    assert verdict.ok
    assert (verdict.missing_by_node, verdict.extra_by_node, verdict.distinct_keys) == ({}, {}, 2)


def test_convergence_empty() -> None:
    assert check_convergence({}).to_dict() == {
        "ok": True,
        "nodes": 0,
        "distinct_keys": 0,
        "missing_by_node": {},
        "extra_by_node": {},
    }


# --- downtime ------------------------------------------------------------------------------


def test_downtime_two_windows() -> None:
    ops = [
        probe(0.00, True),
        probe(0.05, False),
        probe(0.10, False),
        probe(0.15, True),
        probe(0.20, True),
        probe(0.25, False),
        probe(0.30, False),
        probe(0.35, False),
        probe(0.40, False),
        probe(0.45, True),
    ]
    verdict = downtime(list(reversed(ops)))  # order of the input does not matter
    assert verdict.ok
    assert (verdict.probes, verdict.failures, verdict.count) == (10, 6, 2)
    assert verdict.longest_ms == pytest.approx(200.0)
    assert verdict.total_ms == pytest.approx(300.0)
    assert verdict.first_failure == 0.05
    assert verdict.recovered_at == 0.45
    assert [(w.start, w.end, w.failures, w.open) for w in verdict.windows] == [
        (0.05, 0.15, 2, False),
        (0.25, 0.45, 4, False),
    ]


def test_downtime_window_open_at_end_closes_at_last_op_end() -> None:
    ops = [probe(0.0, True), probe(1.0, False, end=1.5), probe(2.0, False, end=2.75)]
    verdict = downtime(ops)
    assert not verdict.ok
    assert verdict.count == 1
    assert verdict.windows[0].open
    assert verdict.windows[0].end == 2.75
    assert verdict.longest_ms == pytest.approx(1750.0)
    assert verdict.recovered_at is None
    assert verdict.first_failure == 1.0


def test_downtime_unknown_counts_as_failure_and_history_may_start_failing() -> None:
    ops = [
        Op("probe", "http", None, None, 5.0, 5.3, "unknown"),
        Op("probe", "http", None, None, 5.4, 5.5, "ok"),
    ]
    verdict = downtime(ops)
    assert (verdict.count, verdict.first_failure, verdict.recovered_at) == (1, 5.0, 5.4)
    assert verdict.longest_ms == pytest.approx(400.0)


def test_downtime_window_limits() -> None:
    ops = [
        probe(0.0, False),
        probe(1.0, True),
        probe(2.0, False),
        probe(3.0, True),
        probe(4.0, False),
    ]
    verdict = downtime(ops, window_start=0.5, window_end=3.5)
    assert (verdict.probes, verdict.count, verdict.ok) == (3, 1, True)
    assert verdict.total_ms == pytest.approx(1000.0)


def test_downtime_no_failures_and_empty() -> None:
    clean = downtime([probe(0.0, True), probe(0.05, True)])
    assert (clean.ok, clean.count, clean.longest_ms, clean.total_ms) == (True, 0, 0.0, 0.0)
    assert (clean.first_failure, clean.recovered_at) == (None, None)
    empty = downtime([])
    assert (empty.ok, empty.probes, empty.count, empty.longest_ms) == (False, 0, 0, 0.0)


def test_downtime_serialises() -> None:
    verdict = downtime([probe(0.0, False), probe(0.5, True)])
    data = json.loads(json.dumps(verdict.to_dict()))
    assert data["windows"] == [{"start": 0.0, "end": 0.5, "failures": 1, "open": False}]


# --- time to event -------------------------------------------------------------------------


def test_time_to_event_first_matching_sample_after_since() -> None:
    sizes = [(9.0, 2), (10.0, 3), (11.0, 3), (13.5, 2), (14.0, 2)]
    assert time_to_event(sizes, since=10.0, predicate=lambda size: size < 3) == 3.5


def test_time_to_event_counts_a_sample_taken_at_since() -> None:
    assert time_to_event([(10.0, "proxy2")], since=10.0, predicate=lambda h: h == "proxy2") == 0.0


def test_time_to_event_ignores_samples_before_since_and_may_never_happen() -> None:
    holders = [(1.0, "proxy2"), (2.0, "proxy1"), (3.0, "proxy1")]
    assert time_to_event(holders, since=1.5, predicate=lambda h: h == "proxy2") is None
    assert time_to_event([], since=0.0, predicate=bool) is None
    assert time_to_event([(4.0, "Synced"), (2.0, "Joiner")], 1.0, lambda s: s == "Synced") == 3.0


# --- routing -------------------------------------------------------------------------------


def test_routing_counts_and_violations_proxysql() -> None:
    ops = [
        route("write", "n1", 1.0),
        route("write", "n2", 2.0),
        route("select_for_update", "n1", 3.0),
        route("select_for_update", "n3", 4.0),
        route("select", "n2", 5.0),
        route("select", "n3", 6.0),
        route("select", "n1", 7.0),
        route("select", None, 8.0),
        Op("w", "write", "k", 1, 1.0, 1.1, "ok", "n1"),  # not a route op: ignored
    ]
    verdict = check_routing(ops, "proxysql", writer="n1", readers={"n2", "n3"})
    assert not verdict.ok
    assert (verdict.served, verdict.unserved) == (7, 1)
    assert verdict.counts == {
        "select": {"n1": 1, "n2": 1, "n3": 1},
        "select_for_update": {"n1": 1, "n3": 1},
        "write": {"n1": 1, "n2": 1},
    }
    assert [(v.statement, v.node, v.start, v.expected) for v in verdict.violations] == [
        ("write", "n2", 2.0, ["n1"]),
        ("select_for_update", "n3", 4.0, ["n1"]),
        ("select", "n1", 7.0, ["n2", "n3"]),
    ]


def test_routing_follows_writer_change() -> None:
    ops = [
        route("write", "n1", 1.0),
        route("write", "n2", 5.0),  # after the change: fine
        route("write", "n1", 6.0),  # old writer after the change: violation
        route("write", "n2", 3.9, end=4.1),  # spans the switch at 4.0: either writer is fine
        route("write", "n1", 3.8, end=4.2),
        route("write", "n2", 2.0),  # before the change: violation
    ]
    verdict = check_routing(
        ops, "haproxy", writer="n1", readers={"n3"}, writer_changes=[(4.0, "n2")]
    )
    assert verdict.tier == "haproxy"
    assert [(v.node, v.start) for v in verdict.violations] == [("n2", 2.0), ("n1", 6.0)]
    assert verdict.counts == {"write": {"n1": 3, "n2": 3}}


def test_routing_with_no_writer_rejects_every_served_write() -> None:
    verdict = check_routing([route("write", "n2", 1.0)], "proxysql", writer=None, readers={"n2"})
    assert [(v.node, v.expected) for v in verdict.violations] == [("n2", [])]


def test_routing_empty_and_unknown_class() -> None:
    empty = check_routing([], "proxysql", writer="n1", readers={"n2"})
    assert (empty.ok, empty.served, empty.counts, empty.violations) == (True, 0, {}, ())
    with pytest.raises(ValueError, match="statement class"):
        check_routing([route("delete", "n1", 1.0)], "proxysql", writer="n1", readers=set())


# --- latency -------------------------------------------------------------------------------


def test_latency_percentiles_nearest_rank() -> None:
    values = [float(v) for v in range(100, 0, -1)]  # 1..100, unsorted
    result = latency_percentiles(values)
    assert (result.count, result.p50, result.p95, result.p99, result.max) == (
        100,
        50.0,
        95.0,
        99.0,
        100.0,
    )


def test_latency_percentiles_small_samples() -> None:
    assert latency_percentiles([7.0]).to_dict() == {
        "count": 1,
        "p50": 7.0,
        "p95": 7.0,
        "p99": 7.0,
        "max": 7.0,
    }
    # n = 10: ranks ceil(5) = 5, ceil(9.5) = 10, ceil(9.9) = 10
    result = latency_percentiles([1, 2, 3, 4, 5, 6, 7, 8, 9, 1000])
    assert (result.p50, result.p95, result.p99, result.max) == (5, 1000, 1000, 1000)
    # n = 20: ranks 10, 19, ceil(19.8) = 20
    result = latency_percentiles(range(1, 21))
    assert (result.p50, result.p95, result.p99) == (10, 19, 20)


def test_latency_percentiles_empty() -> None:
    assert latency_percentiles([]).to_dict() == {
        "count": 0,
        "p50": None,
        "p95": None,
        "p99": None,
        "max": None,
    }


def test_write_impact_counts_acknowledged_writes_started_in_the_window() -> None:
    ops = [Op("w", "write", str(i), i, 10.0 + i, 10.0 + i + 0.01 * (i + 1), "ok") for i in range(10)]
    ops += [Op("w", "write", "x", 0, 12.5, 12.6, "fail"), Op("w", "write", "y", 0, 9.0, 9.5, "ok"),
            Op("p", "connect", None, None, 11.0, 11.1, "ok")]
    impact = write_impact(ops, 10.0, 15.0)  # writes 0..5 and the failed one
    assert (impact.acknowledged, impact.failed, impact.per_s) == (6, 1, 1.2)
    assert (impact.p50_ms, impact.p99_ms, impact.max_ms) == (30.0, 60.0, 60.0)
    assert impact.to_dict()["seconds"] == 5.0
    empty = write_impact([], 1.0, 2.0)
    assert empty.acknowledged == 0 and empty.p99_ms is None
    with pytest.raises(ValueError):
        write_impact(ops, 2.0, 2.0)

"""Write-conflict rates and the single-writer verdict (chaos/conflicts.py), without Docker,
including the mutation the scenario must notice (conflicts through the single writer)."""

from __future__ import annotations

import pytest

from chaos.conflicts import ConflictRates, check_single_writer, conflict_rates, is_deadlock
from chaos.history import Op

DEADLOCK = "1213: Deadlock found when trying to get lock; try restarting transaction"


def txn(process: str, outcome: str = "ok", error: str | None = None) -> Op:
    mops = [["r", 0, 1], ["w", 0, 2]]
    return Op(process, "txn", None, mops, 1.0, 1.1, outcome, "node1", error)  # type: ignore[arg-type]


def counters(cert: int = 0, bf: int = 0) -> dict[str, dict[str, int]]:
    return {n: {"wsrep_local_cert_failures": cert * i, "wsrep_local_bf_aborts": bf * i}
            for i, n in enumerate(("node1", "node2", "node3"), start=1)}


def rates(route: str, deadlocks: int, cert: int = 0, bf: int = 0, ok: int = 8) -> ConflictRates:
    ops = [txn("rmw0") for _ in range(ok)] + [txn("rmw1", "fail", DEADLOCK) for _ in range(deadlocks)]
    return conflict_rates(route, ops, 2.0, counters(), counters(cert, bf))


def test_rates_per_second_and_per_transaction_with_node_deltas() -> None:
    ops = [txn("rmw0"), txn("rmw1", "fail", DEADLOCK), txn("rmw2", "fail", DEADLOCK),
           txn("rmw0", "unknown", "2013: Lost connection"), txn("final-node1")]
    r = conflict_rates("nodes", ops, 2.0, counters(), counters(cert=1, bf=2))
    assert (r.txns, r.committed, r.deadlocks) == (4, 1, 2)
    assert r.deadlocks_per_s == 1.0 and r.deadlocks_per_txn == 0.5
    assert r.cert_failures == {"node1": 1, "node2": 2, "node3": 3}
    assert r.bf_aborts == {"node1": 2, "node2": 4, "node3": 6}
    assert r.cert_failures_per_s == 3.0 and r.bf_aborts_per_s == 6.0
    assert r.other_errors == {"2013: Lost connection": 1}
    assert r.conflicts == 2 + 6 + 12
    assert r.to_dict()["conflicts"] == r.conflicts


def test_a_deadlock_is_a_failed_1213_only() -> None:
    assert is_deadlock(txn("a", "fail", DEADLOCK))
    assert not is_deadlock(txn("a", "fail", "1205: Lock wait timeout exceeded"))
    assert not is_deadlock(txn("a"))


def test_no_rate_without_time() -> None:
    with pytest.raises(ValueError):
        conflict_rates("vip", [], 0.0, counters(), counters())


def test_conflicts_with_many_writers_and_none_through_one_is_ok() -> None:
    verdict = check_single_writer(rates("nodes", 5, cert=1, bf=1), rates("vip", 0))
    assert verdict.ok, verdict.problems
    assert verdict.to_dict()["multi"]["deadlocks"] == 5


def test_mutation_conflicts_through_the_single_writer_fail_the_check() -> None:
    # single-writer routing removed (e.g. ProxySQL max_writers=3): the "vip" load conflicts too
    verdict = check_single_writer(rates("nodes", 5, cert=1, bf=1), rates("vip", 3, cert=1))
    assert not verdict.ok
    assert "conflict(s) through the single writer (3 deadlocks" in verdict.problems[0]
    # a certification failure alone counts, even when no client saw 1213
    assert not check_single_writer(rates("nodes", 5), rates("vip", 0, bf=1)).ok


def test_no_conflict_with_many_writers_proves_nothing() -> None:
    verdict = check_single_writer(rates("nodes", 0), rates("vip", 0))
    assert not verdict.ok and "not reproduced" in verdict.problems[0]


def test_nothing_committed_or_a_lost_increment_fails() -> None:
    verdict = check_single_writer(rates("nodes", 5, ok=0), rates("vip", 0), {"vip": "counter: FAILED: 1 lost"})
    assert not verdict.ok
    assert "no transaction committed via nodes" in verdict.problems
    assert "via vip: counter: FAILED: 1 lost" in verdict.problems

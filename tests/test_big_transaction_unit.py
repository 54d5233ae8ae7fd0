"""The oversize transaction's verdict and settings (chaos/big_transaction.py), without Docker:
each check fed by hand, including the mutation the scenario must notice (streaming removed)."""

from __future__ import annotations

import pytest

from chaos import big_transaction as bt
from chaos.big_transaction import BulkUpdate, Expect, Step, Streaming, check_oversize, nodes_off, was_cut

ROWS = 1000
NODES = ("node1", "node2", "node3")
SIZE_ERROR = "1105: Maximum writeset size exceeded"
ROWS_ERROR = "1180: wsrep_max_ws_rows exceeded"


def step(name: str, expect: Expect, outcome: str, total: int, error: str | None = None,
         **odd: tuple[int, int]) -> Step:
    """A bulk UPDATE's outcome and every node's (rows, SUM(v)) after it; `odd` overrides nodes."""
    states = {n: odd.get(n, (ROWS, total)) for n in NODES}
    return Step(name, expect, BulkUpdate(outcome, error, 1.0, 2.0), states)  # type: ignore[arg-type]


def scenario_steps() -> list[Step]:
    """What the scenario measures here: refused, streamed, the row limit refused too, plain."""
    return [step("refused", "refused", "fail", 0, SIZE_ERROR), step("streamed", "committed", "ok", ROWS),
            step("rows_streamed", "either", "unknown", ROWS, ROWS_ERROR), step("plain", "committed", "ok", 2 * ROWS)]


def test_refused_then_streamed_then_plain_is_ok() -> None:
    verdict = check_oversize(ROWS, scenario_steps(), healthy_after_refusal=True)
    assert verdict.ok, verdict.problems
    assert verdict.outcomes == {"refused": SIZE_ERROR, "streamed": "committed", "rows_streamed": ROWS_ERROR,
                                "plain": "committed"}
    assert verdict.applied == {"refused": False, "streamed": True, "rows_streamed": False, "plain": True}
    assert verdict.to_dict()["off"] == {}


def test_either_accepts_a_whole_commit_too() -> None:
    steps = scenario_steps()
    steps[2:] = [step("rows_streamed", "either", "ok", 2 * ROWS), step("plain", "committed", "ok", 3 * ROWS)]
    assert check_oversize(ROWS, steps, healthy_after_refusal=True).ok


def test_mutation_without_streaming_the_streamed_update_is_refused_too() -> None:
    steps = scenario_steps()
    steps[1:] = [step("streamed", "committed", "fail", 0, SIZE_ERROR),
                 step("rows_streamed", "either", "unknown", 0, ROWS_ERROR), step("plain", "committed", "ok", ROWS)]
    verdict = check_oversize(ROWS, steps, healthy_after_refusal=True)
    assert not verdict.ok and not verdict.applied["streamed"]
    assert verdict.problems == [f"the streamed bulk UPDATE did not commit: {SIZE_ERROR}"]


def test_a_half_applied_refusal_names_the_node() -> None:
    steps = [step("refused", "refused", "fail", 0, SIZE_ERROR, node3=(ROWS, 400))]
    verdict = check_oversize(ROWS, steps, healthy_after_refusal=True)
    assert not verdict.ok
    assert verdict.off == {"refused": {"node3": [ROWS, 400]}}
    assert "half-applied" in verdict.problems[0]


def test_a_limit_that_did_not_hold_and_an_unhealthy_cluster_fail() -> None:
    verdict = check_oversize(ROWS, [step("refused", "refused", "ok", ROWS)], healthy_after_refusal=False)
    assert not verdict.ok
    assert verdict.problems == ["the refused bulk UPDATE beyond the limit was acknowledged: the limit did not hold",
                                "the cluster was not healthy after the refused transaction"]
    # an error the client got does not hide a transaction the cluster applied
    applied = check_oversize(ROWS, [step("refused", "refused", "unknown", ROWS, "2013: Lost connection")], True)
    assert "was applied: the limit did not hold" in applied.problems[0]


def test_an_acknowledged_update_that_is_not_there_fails() -> None:
    verdict = check_oversize(ROWS, [step("rows_streamed", "either", "ok", 0)], healthy_after_refusal=True)
    assert verdict.problems == ["the rows_streamed bulk UPDATE was acknowledged and not applied"]


def test_nodes_off() -> None:
    assert nodes_off({"node1": (5, 5), "node2": (5, 0)}, 5, 5) == {"node2": [5, 0]}


def test_streaming_settings_and_their_refusals() -> None:
    assert Streaming("rows", 500).statements() == ["SET SESSION wsrep_trx_fragment_unit = 'rows'",
                                                   "SET SESSION wsrep_trx_fragment_size = 500"]
    assert Streaming().describe() == "1048576 bytes"
    with pytest.raises(ValueError):
        Streaming("bytes", 0)
    with pytest.raises(ValueError):
        Streaming("pages", 10)  # type: ignore[arg-type]


def test_bulk_update_dict_has_its_duration() -> None:
    assert BulkUpdate("ok", None, 10.0, 12.5).to_dict()["seconds"] == 2.5


LOST = "2013: Lost connection to MySQL server during query"


@pytest.mark.parametrize("answers, tables, ran, cut", [
    # cut, nothing applied: run again, which commits
    ([("unknown", LOST), ("ok", None)], [0, ROWS], 2, (LOST,)),
    # cut, yet the session committed before it ended: that was the step
    ([("unknown", LOST)], [ROWS], 1, ()),
    # refused by the server: no second attempt
    ([("fail", "1105: Maximum writeset size exceeded")], [0], 1, ()),
    # cut every time: the last attempt is judged as it is
    ([("unknown", LOST)] * 3, [0, 0, 0], 3, (LOST, LOST)),
])
def test_run_step_runs_a_cut_attempt_again_only_when_nothing_was_applied(
        monkeypatch: pytest.MonkeyPatch, answers: list[tuple[str, str | None]], tables: list[int], ran: int,
        cut: tuple[str, ...]) -> None:
    calls: list[str] = []
    replies, totals = iter(answers), iter(tables)

    def update(endpoint: object, streaming: object = None) -> BulkUpdate:
        calls.append("update")
        outcome, error = next(replies)
        return BulkUpdate(outcome, error, 1.0, 2.0)  # type: ignore[arg-type]
    monkeypatch.setattr(bt, "bulk_update", update)
    monkeypatch.setattr(bt, "wait_finished", lambda lab: calls.append("wait"))
    monkeypatch.setattr(bt, "table_states", lambda lab: dict.fromkeys(NODES, (ROWS, next(totals))))
    before = {n: (ROWS, 0) for n in NODES}
    step_ = bt.run_step(object(), object(), "streamed", "committed", before)  # type: ignore[arg-type]
    assert calls.count("update") == ran
    assert calls.count("wait") == sum(1 for outcome, _ in answers[:ran] if outcome == "unknown")
    assert step_.cut == cut and step_.name == "streamed"


def test_was_cut_only_for_a_lost_session() -> None:
    assert was_cut(BulkUpdate("unknown", LOST, 1.0, 2.0))
    assert was_cut(BulkUpdate("unknown", "2006: MySQL server has gone away", 1.0, 2.0))
    assert not was_cut(BulkUpdate("unknown", "1180: wsrep_max_ws_rows exceeded", 1.0, 2.0))
    assert not was_cut(BulkUpdate("fail", "1105: Maximum writeset size exceeded", 1.0, 2.0))


def test_a_refusal_needs_the_server_to_answer() -> None:
    verdict = check_oversize(ROWS, [step("refused", "refused", "unknown", 0, LOST)], healthy_after_refusal=True)
    assert verdict.problems == [f"the refused bulk UPDATE's session was cut ({LOST}) every time: the limit was never "
                                "put to the test"]

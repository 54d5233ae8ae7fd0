"""The oversize transaction's verdict and settings (chaos/big_transaction.py), without Docker:
each check fed by hand, including the mutation the scenario must notice (streaming removed)."""

from __future__ import annotations

import pytest

from chaos.big_transaction import BulkUpdate, Step, Streaming, check_oversize, nodes_off

ROWS = 1000
NODES = ("node1", "node2", "node3")
LIMIT_ERROR = "1105: Maximum writeset size exceeded"


def step(outcome: str, total: int, error: str | None = None, **odd: tuple[int, int]) -> Step:
    """A bulk UPDATE's outcome and every node's (rows, SUM(v)) after it; `odd` overrides nodes."""
    states = {n: odd.get(n, (ROWS, total)) for n in NODES}
    return Step(BulkUpdate(outcome, error, 1.0, 2.0), states)  # type: ignore[arg-type]


def good() -> tuple[Step, Step, Step]:
    return step("fail", 0, LIMIT_ERROR), step("ok", ROWS), step("ok", 2 * ROWS)


def test_refused_then_streamed_then_plain_is_ok() -> None:
    verdict = check_oversize(ROWS, *good(), healthy_after_refusal=True)
    assert verdict.ok, verdict.problems
    assert verdict.refused_error == LIMIT_ERROR and verdict.streamed and verdict.plain
    assert verdict.to_dict()["off"] == {}


def test_mutation_without_streaming_the_second_update_fails_too() -> None:
    refused, _, _ = good()
    # streaming not applied: the second UPDATE is refused like the first, the third adds its rows
    verdict = check_oversize(ROWS, refused, step("fail", 0, LIMIT_ERROR), step("ok", ROWS),
                             healthy_after_refusal=True)
    assert not verdict.ok and not verdict.streamed
    assert any("streamed bulk UPDATE did not commit: 1105" in p for p in verdict.problems)


def test_a_half_applied_refusal_names_the_node() -> None:
    _, streamed, plain = good()
    refused = step("fail", 0, LIMIT_ERROR, node3=(ROWS, 400))
    verdict = check_oversize(ROWS, refused, step("ok", ROWS, node3=(ROWS, 1400)), step("ok", 2 * ROWS,
                             node3=(ROWS, 2400)), healthy_after_refusal=True)
    assert not verdict.ok
    assert verdict.off["refused"] == {"node3": [ROWS, 400]}
    assert "half-applied" in verdict.problems[0]


def test_a_limit_that_did_not_hold_and_an_unhealthy_cluster_fail() -> None:
    verdict = check_oversize(ROWS, step("ok", ROWS), step("ok", 2 * ROWS), step("ok", 3 * ROWS),
                             healthy_after_refusal=False)
    assert not verdict.ok
    assert verdict.refused_error is None
    assert any("limit did not hold" in p for p in verdict.problems)
    assert any("not healthy" in p for p in verdict.problems)
    assert not verdict.off  # every step's table matched what its outcome implies


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

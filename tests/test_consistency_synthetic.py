"""The checker on generated histories: a valid long one passes every model, and faults put
into it are found. No wall-clock assertion: speed is the bench's (`make bench BENCH_ARGS="--only
consistency"`)."""

from __future__ import annotations

import json
import random

import pytest

from chaos.consistency import MODELS, check
from chaos.consistency.synthetic import list_append_history
from chaos.history import History, Op

N = 5_000


@pytest.fixture(scope="module")
def history() -> list[Op]:
    return list_append_history(N, seed=11)


def replace(op: Op, mops: list[list[object]]) -> Op:
    return Op(op.process, op.kind, op.key, mops, op.start, op.end, op.outcome, op.node, op.error)


def test_generated_history_has_the_shape_of_a_real_run(history: list[Op]) -> None:
    outcomes = {op.outcome for op in history}
    assert outcomes == {"ok", "fail", "unknown"}
    assert len({op.process for op in history}) == 10
    overlapping = sum(1 for a, b in zip(history, history[1:]) if b.start < a.end)
    assert overlapping > N // 2  # concurrent-looking, not one at a time
    assert list_append_history(50, seed=3) == list_append_history(50, seed=3)


def test_generated_history_passes_every_model(history: list[Op]) -> None:
    for model in MODELS:
        verdict = check(history, model=model, process_order=True)
        assert verdict.ok and verdict.counts == {}, verdict.text()
    assert verdict.strongest_model == "strict-serializable"
    assert verdict.unknown_committed > 0 and verdict.unknown > verdict.unknown_committed  # both kinds of unknown
    assert verdict.txns == N + 10 and verdict.truncated_searches == 0


def test_generated_history_survives_json_and_shuffling(history: list[Op]) -> None:
    reloaded = History.from_json(json.loads(json.dumps(History(history).to_json())))
    verdict = check(reloaded, model="strict-serializable")
    assert verdict.ok and verdict.committed == check(history).committed
    shuffled = history[:]
    random.Random(5).shuffle(shuffled)
    assert check(shuffled, model="strict-serializable", process_order=True).ok


def test_an_acknowledged_append_erased_from_every_read_is_lost(history: list[Op]) -> None:
    final = history[-1]
    key, values = next((k, v) for _, k, v in final.value if len(v) > 3)
    gone = values[1]
    broken = [replace(op, [[f, k, [x for x in v if x != gone] if f == "r" and k == key and v else v]
                           for f, k, v in op.value]) for op in history]
    verdict = check(broken)
    assert not verdict.ok and "lost-append" in verdict.counts
    assert any(a.details["value"] == gone for a in verdict.anomalies["lost-append"])


def test_reads_served_from_an_old_snapshot_are_stale_and_cyclic(history: list[Op]) -> None:
    # every read-only transaction on client c3 misses the last element of what it read
    broken = [replace(op, [[f, k, v[:-1] if v else v] for f, k, v in op.value])
              if op.process == "c3" and op.outcome == "ok" and all(m[0] == "r" for m in op.value) else op
              for op in history]
    verdict = check(broken, model="strict-serializable")
    assert not verdict.ok and verdict.stale_reads > 0
    assert "G-single-realtime" in verdict.counts or "G-single" in verdict.counts

"""The list-append isolation checker against hand-made histories with known answers.

Each failing history is the smallest one that shows its anomaly class; the assertions check the
class, the transactions the explanation names and the kinds of its edges. Passing histories
include shapes our own producer would not make (shuffled input, overlapping transactions,
unknown and failed outcomes).
"""

from __future__ import annotations

import json
import random

import pytest

from chaos.consistency import MODELS, check, check_workload
from chaos.history import History, Op


def txn(process: str, mops: list[list[object]], start: float, end: float, outcome: str = "ok",
        node: str | None = None) -> Op:
    return Op(process, "txn", None, mops, start, end, outcome, node=node,  # type: ignore[arg-type]
              error=None if outcome == "ok" else "Deadlock found when trying to get lock")


def ap(key: int, value: int) -> list[object]:
    return ["append", key, value]


def r(key: int, observed: list[int] | None) -> list[object]:
    return ["r", key, observed]


def one(verdict, name: str):
    """The single kept example of `name`, after checking it was counted once."""
    assert verdict.counts.get(name) == 1, verdict.text()
    (anomaly,) = verdict.anomalies[name]
    return anomaly


def cycle_of(anomaly) -> tuple[set[int], list[str]]:
    return {t.index for t in anomaly.txns}, [edge.type for edge in anomaly.edges]


# --- cycles --------------------------------------------------------------------------------


def test_g0_interleaved_appends_fail_even_read_committed() -> None:
    history = [txn("a", [ap(1, 1), ap(2, 2)], 1, 2), txn("b", [ap(1, 2), ap(2, 1)], 1, 2),
               txn("c", [r(1, [1, 2]), r(2, [1, 2])], 3, 4)]
    verdict = check(history, model="read-committed")
    assert not verdict.ok and verdict.violations == ("G0",)
    anomaly = one(verdict, "G0")
    assert cycle_of(anomaly) == ({0, 1}, ["ww", "ww"])
    assert "T1 appended 2 to key 1 after T0 appended 1" in anomaly.text()
    assert verdict.strongest_model is None and verdict.not_satisfied == MODELS[:4]


def test_g1c_circular_information_flow() -> None:
    # each saw the other's write: T0 read y after T1's append, T1 read x after T0's append
    history = [txn("a", [ap(1, 1), r(2, [1])], 1, 2), txn("b", [ap(2, 1), r(1, [1])], 1, 2)]
    verdict = check(history, model="read-committed")
    anomaly = one(verdict, "G1c")
    assert cycle_of(anomaly) == ({0, 1}, ["wr", "wr"])
    assert "which ends with T0's append of 1" in anomaly.text()
    assert verdict.strongest_model is None


def test_g_single_read_skew() -> None:
    # T1 appends to x and y at once; T0 sees y's append but not x's
    history = [txn("a", [r(1, []), r(2, [1])], 1, 2), txn("b", [ap(1, 1), ap(2, 1)], 1, 2),
               txn("c", [r(1, [1])], 3, 4)]
    verdict = check(history, model="snapshot-isolation")
    anomaly = one(verdict, "G-single")
    assert cycle_of(anomaly) == ({0, 1}, ["rw", "wr"])
    rw = anomaly.edges[0]
    assert (rw.source, rw.target) == (0, 1)
    assert rw.why == ("T0 read key 1 = [] and so did not see T1's append of 1, the first element of key 1: "
                      "T0 must come before T1")
    assert not verdict.ok and verdict.strongest_model == "read-committed"
    assert check(history, model="read-committed").ok


def test_write_skew_is_g2_item_allowed_by_snapshot_isolation_only() -> None:
    history = [txn("a", [r(1, []), r(2, []), ap(1, 1)], 1, 2), txn("b", [r(1, []), r(2, []), ap(2, 1)], 1, 2),
               txn("c", [r(1, [1]), r(2, [1])], 3, 4)]
    anomaly = one(check(history), "G2-item")
    assert cycle_of(anomaly) == ({0, 1}, ["rw", "rw"])
    assert check(history, model="snapshot-isolation").ok
    assert not check(history, model="serializable").ok
    # Elle's repeatable read is Adya's PL-2.99: it forbids G2-item (MariaDB's REPEATABLE READ does not)
    assert not check(history, model="repeatable-read").ok
    verdict = check(history, model="snapshot-isolation")
    assert verdict.strongest_model == "snapshot-isolation"
    assert verdict.not_satisfied == ("repeatable-read", "serializable")


def test_p4_lost_update_fails_snapshot_isolation_and_repeatable_read() -> None:
    # Both read [] and appended: per Elle (models after Adya and Bailis) lost update is forbidden by
    # repeatable-read and snapshot-isolation, allowed by read-committed. It is reported by name and
    # as the G-single cycle it forms (T0 -ww-> T1 -rw-> T0).
    history = [txn("a", [r(1, []), ap(1, 1)], 1, 2, node="node1"), txn("b", [r(1, []), ap(1, 2)], 1, 2, node="node2"),
               txn("c", [r(1, [1, 2])], 3, 4)]
    verdict = check(history, model="snapshot-isolation")
    p4 = one(verdict, "lost-update")
    assert {t.index for t in p4.txns} == {0, 1} and "P4" in p4.summary
    assert {t.node for t in p4.txns} == {"node1", "node2"}
    assert cycle_of(one(verdict, "G-single")) == ({0, 1}, ["ww", "rw"])
    assert not verdict.ok and set(verdict.violations) == {"G-single", "lost-update"}
    assert not check(history, model="repeatable-read").ok
    assert check(history, model="read-committed").ok
    assert verdict.strongest_model == "read-committed"


def test_p4_is_found_even_when_no_later_read_orders_the_appends() -> None:
    history = [txn("a", [r(1, [7]), ap(1, 1)], 1, 2), txn("b", [r(1, [7]), ap(1, 2)], 1, 2),
               txn("z", [ap(1, 7)], 0, 0.5)]
    verdict = check(history, model="read-committed")
    assert verdict.counts == {"lost-update": 1} and verdict.ok
    assert verdict.strongest_model == "read-committed"


def test_g_nonadjacent_is_forbidden_by_snapshot_isolation() -> None:
    # T0 -rw-> T1 -wr-> T2 -rw-> T3 -wr-> T0: two anti-dependencies, never consecutive
    history = [txn("a", [r(1, []), r(4, [1])], 1, 2), txn("b", [ap(1, 1), ap(2, 1)], 1, 2),
               txn("c", [r(2, [1]), r(3, [])], 1, 2), txn("d", [ap(3, 1), ap(4, 1)], 1, 2),
               txn("e", [r(1, [1]), r(3, [1])], 3, 4)]
    verdict = check(history, model="snapshot-isolation")
    anomaly = one(verdict, "G-nonadjacent")
    assert cycle_of(anomaly) == ({0, 1, 2, 3}, ["rw", "wr", "rw", "wr"])
    assert not verdict.ok and verdict.strongest_model == "read-committed"


def test_process_and_realtime_variants() -> None:
    # one client appends 1 then 2, yet the final read has them the other way round
    history = [txn("p", [ap(1, 1)], 1, 2), txn("p", [ap(1, 2)], 3, 4), txn("q", [r(1, [2, 1])], 5, 6)]
    assert check(history).ok  # without orders, 2 then 1 is a fine serial order
    verdict = check(history, process_order=True)
    anomaly = one(verdict, "G0-process")
    assert cycle_of(anomaly) == ({0, 1}, ["process", "ww"])
    assert "ran one after the other on process p" in anomaly.text()
    assert not verdict.ok and verdict.strongest_model == "serializable"
    strict = check(history, model="strict-serializable")
    realtime = one(strict, "G0-realtime")
    assert cycle_of(realtime) == ({0, 1}, ["realtime", "ww"])
    assert "T0 ended (2.000) before T1 started (3.000)" in realtime.edges[0].why
    assert strict.strongest_model == "serializable" and strict.not_satisfied == ("strict-serializable",)
    # the realtime flavour of a weaker model is asked with realtime=True
    assert not check(history, model="read-committed", realtime=True).ok


# --- non-cycle anomalies ---------------------------------------------------------------------


def test_g1a_aborted_read() -> None:
    history = [txn("a", [ap(1, 1)], 1, 2, outcome="fail"), txn("b", [r(1, [1])], 3, 4)]
    verdict = check(history, model="read-committed")
    anomaly = one(verdict, "G1a")
    assert [t.index for t in anomaly.txns] == [1, 0]
    assert "whose commit failed" in anomaly.summary
    assert not verdict.ok and verdict.strongest_model is None


def test_g1b_intermediate_read() -> None:
    history = [txn("a", [ap(1, 1), ap(1, 2)], 1, 2), txn("b", [r(1, [1])], 1.5, 2.5)]
    verdict = check(history, model="read-committed")
    anomaly = one(verdict, "G1b")
    assert [t.index for t in anomaly.txns] == [1, 0] and "half done" in anomaly.summary
    assert not verdict.ok and verdict.strongest_model is None


@pytest.mark.parametrize("mops, expected", [
    ([r(1, [9]), ap(1, 1), r(1, [9])], [9, 1]),  # lost its own append
    ([ap(1, 5), r(1, [5, 9])], [5]),  # a read must end with the transaction's own appends
    ([r(1, [9]), r(1, [])], [9]),  # non-repeatable read within one transaction
])
def test_internal_inconsistency(mops: list[list[object]], expected: list[int]) -> None:
    history = [txn("z", [ap(1, 9)], 0, 0.5), txn("a", mops, 1, 2)]
    verdict = check(history, model="read-committed")
    anomaly = one(verdict, "internal")
    assert [t.index for t in anomaly.txns] == [1] and anomaly.details["expected"] == expected
    assert not verdict.ok and verdict.strongest_model is None


def test_duplicate_elements() -> None:
    history = [txn("a", [ap(1, 1)], 1, 2), txn("b", [r(1, [1, 1])], 3, 4)]
    verdict = check(history, model="read-committed")
    anomaly = one(verdict, "duplicate-elements")
    assert anomaly.details["duplicates"] == [1] and anomaly.txns[0].index == 1
    assert not verdict.ok and verdict.strongest_model is None


def test_incompatible_order() -> None:
    history = [txn("a", [ap(1, 1)], 1, 2), txn("b", [ap(1, 2)], 1, 2), txn("c", [r(1, [1, 2])], 3, 4),
               txn("d", [r(1, [2, 1])], 3, 4)]
    verdict = check(history, model="read-committed")
    anomaly = one(verdict, "incompatible-order")
    assert {t.index for t in anomaly.txns} == {2, 3} and anomaly.details["diverge_at"] == 0
    assert not verdict.ok and verdict.strongest_model is None


def test_an_incompatible_order_made_by_reading_a_lost_tail_is_told_apart() -> None:
    """A client read [1, 2] before a crash lost 2; after it, 3 was appended: the final read is
    [1, 3]. Loss explains that order; the same values in two orders (above) are not explained."""
    lost_tail = [txn("a", [ap(1, 1)], 1, 2), txn("b", [ap(1, 2)], 3, 4), txn("c", [r(1, [1, 2])], 5, 6),
                 txn("d", [ap(1, 3)], 7, 8), txn("e", [r(1, [1, 3])], 9, 10)]
    verdict = check(lost_tail, model="serializable")
    assert set(verdict.violations) == {"incompatible-order", "lost-append"}
    assert one(verdict, "incompatible-order").details["read_lost_values"] is True
    assert verdict.orders_broken_by_loss()
    reordered = [txn("a", [ap(1, 1)], 1, 2), txn("b", [ap(1, 2)], 1, 2), txn("c", [r(1, [1, 2])], 3, 4),
                 txn("d", [r(1, [2, 1])], 3, 4)]
    assert not check(reordered, model="serializable").orders_broken_by_loss()


def test_garbage_read() -> None:
    history = [txn("a", [ap(1, 1)], 1, 2), txn("b", [r(1, [1, 99])], 3, 4)]
    verdict = check(history, model="read-committed")
    anomaly = one(verdict, "garbage-read")
    assert anomaly.details["unwritten"] == [99] and anomaly.txns[0].index == 1
    assert not verdict.ok and verdict.strongest_model is None


def test_lost_append_missing_from_the_middle() -> None:
    # 2 was acknowledged at t=4; T3's read at t=7 holds 3, appended by T2 which began at t=5, but no 2
    history = [txn("a", [ap(1, 1)], 1, 2), txn("b", [ap(1, 2)], 3, 4), txn("c", [ap(1, 3)], 5, 6),
               txn("d", [r(1, [1, 3])], 7, 8)]
    for model in MODELS:
        verdict = check(history, model=model)
        assert not verdict.ok and verdict.lost_appends == 1
    anomaly = one(verdict, "lost-append")
    assert [t.index for t in anomaly.txns] == [1, 3] and anomaly.details["value"] == 2
    assert verdict.strongest_model is None


def test_lost_append_absent_from_every_final_read() -> None:
    history = [txn("a", [ap(1, 1)], 1, 2), txn("b", [ap(1, 2)], 1, 2.5),
               txn("n1", [r(1, [1])], 5, 6, node="node1"), txn("n2", [r(1, [1])], 5, 6, node="node2")]
    verdict = check(history, model="read-committed")
    anomaly = one(verdict, "lost-append")
    assert anomaly.details == {"key": 1, "value": 2, "evidence": "final", "read": [1]}
    # one node lagging while another has it is a stale read, not a loss
    lagging = history[:3] + [txn("n2", [r(1, [1, 2])], 5, 6, node="node2")]
    verdict = check(lagging, model="strict-serializable")
    assert verdict.lost_appends == 0 and verdict.stale_reads == 1


def test_stale_read_counts_against_real_time_only() -> None:
    history = [txn("a", [ap(1, 1)], 1, 2), txn("a", [ap(1, 2)], 2.1, 2.2), txn("b", [r(1, [1])], 3, 4),
               txn("c", [r(1, [1, 2])], 5, 6)]
    plain = check(history)
    assert plain.ok and plain.stale_reads == 1 and plain.strongest_model == "serializable"
    strict = check(history, model="strict-serializable")
    assert not strict.ok and set(strict.violations) == {"G-single-realtime", "stale-read"}
    stale = one(strict, "stale-read")
    assert stale.details["missed"] == [2] and [t.index for t in stale.txns] == [2, 1]
    assert cycle_of(one(strict, "G-single-realtime")) == ({1, 2}, ["realtime", "rw"])
    assert strict.strongest_model == "serializable"


# --- outcomes and shapes our producer would not make -----------------------------------------


def test_unknown_observed_counts_as_committed_and_unobserved_is_ignored() -> None:
    history = [txn("a", [ap(1, 1)], 1, 2, outcome="unknown"), txn("b", [ap(1, 2)], 1, 2, outcome="unknown"),
               txn("c", [ap(2, 1)], 1, 2, outcome="fail"), txn("d", [r(1, [1]), r(2, [])], 3, 4)]
    verdict = check(history, model="strict-serializable", process_order=True)
    assert verdict.ok and verdict.strongest_model == "strict-serializable", verdict.text()
    assert (verdict.committed, verdict.unknown, verdict.unknown_committed, verdict.failed) == (2, 2, 1, 1)
    assert verdict.edges == {"wr": 1}  # unknown T0 ends at an unknown time: no realtime edge from it


def test_observed_unknown_takes_part_in_cycles() -> None:
    # T0's outcome is unknown (its read never returned) but its append 1 was read: it committed,
    # and T1, which read [] and appended 2 after it, missed it: a G-single (no P4 by name, since
    # T0's read is not known)
    history = [txn("a", [r(1, None), ap(1, 1)], 1, 2, outcome="unknown"), txn("b", [r(1, []), ap(1, 2)], 1, 2),
               txn("c", [r(1, [1, 2])], 3, 4)]
    verdict = check(history, model="snapshot-isolation")
    assert verdict.counts == {"G-single": 1} and not verdict.ok and verdict.strongest_model == "read-committed"
    assert cycle_of(verdict.anomalies["G-single"][0]) == ({0, 1}, ["ww", "rw"])
    assert verdict.unknown_committed == 1


def test_shuffled_overlapping_history_gives_the_same_verdict() -> None:
    history = [txn("a", [r(1, []), ap(1, 1)], 1, 3), txn("b", [r(1, []), ap(1, 2)], 2, 4),
               txn("c", [r(1, [1, 2]), ap(2, 1)], 5, 6), txn("d", [r(2, [1])], 5.5, 7)]
    reference = check(history)
    rng = random.Random(7)
    for _ in range(5):
        shuffled = history[:]
        rng.shuffle(shuffled)
        verdict = check(shuffled)
        assert verdict.counts == reference.counts == {"G-single": 1, "lost-update": 1}


def test_json_round_trip_keeps_the_verdict() -> None:
    history = History([txn("a", [r(1, []), ap(1, 1)], 1, 2), txn("b", [r(1, []), ap(1, 2)], 1, 2),
                       txn("c", [r(1, [1, 2])], 3, 4)])
    reloaded = History.from_json(json.loads(json.dumps(history.to_json())))
    assert check(reloaded).counts == check(history).counts
    json.dumps(check(reloaded).to_dict())  # the verdict is JSON too


def test_examples_are_capped_but_every_one_counted() -> None:
    history = [txn("w", [ap(1, 1)], 1, 2)] + [txn(f"r{i}", [r(1, [])], 3 + i, 3.5 + i) for i in range(12)]
    history.append(txn("z", [r(1, [1])], 100, 101))
    verdict = check(history, realtime=True, max_examples=3)
    assert verdict.stale_reads == 12 and len(verdict.anomalies["stale-read"]) == 3


def test_other_workloads_in_the_history_are_skipped() -> None:
    history = [txn("a", [ap(1, 1)], 1, 2), txn("c", [["r", 5, 3], ["w", 5, 4]], 1, 2),
               txn("b", [["transfer", [1, 2, 10], None]], 1, 2), txn("d", [r(1, [1])], 3, 4)]
    verdict = check_workload("list-append", history, model="strict-serializable")
    assert verdict.ok and verdict.txns == 2


@pytest.mark.parametrize("history, message", [
    ([txn("a", [ap(1, 1)], 1, 2), txn("b", [ap(1, 1)], 1, 2)], "unique per key"),
    ([txn("a", [ap(1, 1), ["transfer", [1, 2, 3], None]], 1, 2)], "mix workloads"),
    ([txn("a", [["append", 1]], 1, 2)], "not \\[name, key, value\\]"),
    ([txn("a", [r(1, 5), ap(1, 1)], 1, 2)], "not a list"),
])
def test_histories_that_break_the_contract_are_refused(history: list[Op], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        check(history)


def test_unknown_model_is_refused() -> None:
    with pytest.raises(ValueError, match="snapshot-isolation"):
        check([], model="snapshot")


# --- valid histories --------------------------------------------------------------------------


def serial_history(seed: int, n: int = 300, keys: int = 20) -> list[Op]:
    """A serial execution: one transaction at a time, each reading and appending random keys."""
    rng = random.Random(seed)
    store: dict[int, list[int]] = {}
    counter = 0
    ops = []
    for i in range(n):
        mops: list[list[object]] = []
        for _ in range(rng.randint(1, 5)):
            key = rng.randrange(keys)
            if rng.random() < 0.5:
                counter += 1
                store.setdefault(key, []).append(counter)
                mops.append(ap(key, counter))
            else:
                mops.append(r(key, list(store.get(key, []))))
        ops.append(txn(f"p{rng.randrange(4)}", mops, i, i + 0.5, node=f"node{1 + i % 3}"))
    ops.append(txn("final", [r(key, list(store.get(key, []))) for key in range(keys)], n + 1, n + 2))
    return ops


@pytest.mark.parametrize("seed", range(5))
def test_random_serial_histories_pass_every_model(seed: int) -> None:
    history = serial_history(seed)
    for model in MODELS:
        verdict = check(history, model=model, process_order=True)
        assert verdict.ok and verdict.counts == {}, verdict.text()
    assert verdict.strongest_model == "strict-serializable" and verdict.not_satisfied == ()
    assert verdict.satisfied == MODELS


def test_serial_history_without_reads_of_a_key_passes() -> None:
    history = [txn("a", [ap(1, 1)], 1, 2), txn("a", [ap(2, 1), r(3, [])], 3, 4)]
    verdict = check(history, model="strict-serializable")
    assert verdict.ok and verdict.strongest_model == "strict-serializable"


def test_empty_history() -> None:
    verdict = check([], model="strict-serializable")
    assert verdict.ok and verdict.txns == 0 and verdict.strongest_model == "strict-serializable"

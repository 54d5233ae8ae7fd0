"""The bank and counter checkers against hand-made histories with known answers."""

from __future__ import annotations

import json

import pytest

from chaos.consistency import check_bank, check_counter, check_workload
from chaos.history import History, Op


def txn(process: str, mops: list[list[object]], start: float, end: float, outcome: str = "ok") -> Op:
    return Op(process, "txn", None, mops, start, end, outcome)  # type: ignore[arg-type]


def transfer(src: int, dst: int, amount: int) -> list[object]:
    return ["transfer", [src, dst, amount], None]


def read_all(balances: dict[int, int] | None) -> list[object]:
    return ["read-all", None, balances]


# --- bank ------------------------------------------------------------------------------------


def test_bank_reads_that_sum_to_the_total_pass() -> None:
    history = [txn("a", [transfer(1, 2, 10)], 1, 2), txn("b", [read_all({1: 90, 2: 110})], 3, 4),
               txn("c", [transfer(2, 1, 5)], 3, 4, outcome="fail"), txn("d", [read_all(None)], 3, 4, outcome="unknown")]
    verdict = check_bank(history, total=200, accounts=[1, 2])
    assert verdict.ok and (verdict.reads, verdict.transfers, verdict.failed) == (1, 1, 1)
    assert verdict.counts == {}


def test_bank_read_of_half_a_transfer_has_the_wrong_total() -> None:
    history = [txn("a", [transfer(1, 2, 10)], 1, 2), txn("b", [read_all({1: 90, 2: 100})], 1.5, 2.5)]
    verdict = check_bank(history, total=200)
    assert not verdict.ok and verdict.counts == {"wrong-total": 1}
    (anomaly,) = verdict.anomalies["wrong-total"]
    assert anomaly.details["sum"] == 190 and anomaly.txns[0].index == 1
    assert "summing to 190, not 200 (-10)" in anomaly.summary


def test_bank_negative_balance_only_when_not_allowed() -> None:
    history = [txn("b", [read_all({1: -10, 2: 210})], 3, 4)]
    assert check_bank(history, total=200).counts == {"negative-balance": 1}
    assert check_bank(history, total=200, negative_allowed=True).ok


def test_bank_accounts_survive_a_json_round_trip_and_missing_ones_are_caught() -> None:
    history = History([txn("b", [read_all({1: 100, 2: 100})], 3, 4), txn("c", [read_all({1: 200})], 5, 6)])
    reloaded = History.from_json(json.loads(json.dumps(history.to_json())))  # account ids become strings
    verdict = check_workload("bank", reloaded, total=200, accounts=[1, 2])
    assert verdict.counts == {"wrong-accounts": 1}
    assert verdict.anomalies["wrong-accounts"][0].txns[0].index == 1


def test_bank_refuses_a_malformed_transfer() -> None:
    with pytest.raises(ValueError, match="from_account"):
        check_bank([txn("a", [["transfer", [1, 2], None]], 1, 2)], total=0)


# --- counter ---------------------------------------------------------------------------------


def inc(key: int, read: int | None, wrote: int | None = None) -> list[list[object]]:
    return [["r", key, read], ["w", key, (read + 1) if wrote is None and read is not None else wrote]]


def final(key: int, value: int, at: float = 100) -> Op:
    return txn("final", [["r", key, value]], at, at + 1)


def test_counter_serial_increments_pass() -> None:
    history = [txn("a", inc(1, 0), 1, 2), txn("b", inc(1, 1), 3, 4), txn("a", inc(1, 2), 5, 6), final(1, 3)]
    verdict = check_counter(history)
    assert verdict.ok and verdict.increments == 3 and verdict.final_values == {"1": 3}


def test_counter_lost_update_is_p4_and_a_lost_increment() -> None:
    # both clients read 0 and wrote 1: two acknowledged increments, the counter went up by one
    history = [txn("a", inc(1, 0), 1, 2), txn("b", inc(1, 0), 1, 2), final(1, 1)]
    verdict = check_counter(history)
    assert not verdict.ok and verdict.lost_increments == 1
    assert verdict.counts == {"lost-increment": 1, "lost-update": 1}
    (p4,) = verdict.anomalies["lost-update"]
    assert {t.index for t in p4.txns} == {0, 1} and "T0 and T1 both read key 1 = 0" in p4.summary


def test_counter_unknown_increments_may_have_committed() -> None:
    history = [txn("a", inc(1, 0), 1, 2), txn("b", inc(1, None, 7), 3, 4, outcome="unknown"),
               txn("c", inc(1, None, 7), 3, 4, outcome="fail"), final(1, 2)]
    verdict = check_counter(history)
    assert verdict.ok and (verdict.unknown_increments, verdict.failed_increments) == (1, 1)
    too_much = history[:3] + [final(1, 3)]
    verdict = check_counter(too_much)
    assert not verdict.ok and verdict.unexplained_increments == 1


def test_counter_without_a_final_read_is_not_judged_for_losses() -> None:
    verdict = check_counter([txn("a", inc(1, 0), 1, 2), txn("b", inc(2, 0), 1, 2), final(2, 1)])
    assert verdict.ok and verdict.unchecked_keys == ("1",)


def test_counter_write_without_read_is_refused() -> None:
    with pytest.raises(ValueError, match="not an increment"):
        check_counter([txn("a", [["w", 1, 1]], 1, 2)])


def test_unknown_workload_is_refused() -> None:
    with pytest.raises(ValueError, match="list-append, bank, counter"):
        check_workload("register", [])

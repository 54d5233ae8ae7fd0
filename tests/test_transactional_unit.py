"""Docker-free parts of the transactional workloads (chaos/transactional/), the consistency
figures and table of the report, and the findings study's table and verdicts."""

from __future__ import annotations

import random
import threading
from pathlib import Path

import pytest

from chaos import consistency, findings
from chaos.history import History, Op
from chaos.report import ResultsFile, render_markdown
from chaos.transactional import bank, counter, list_append, runner
from chaos.transactional.client import TxnSettings, unread
from chaos.transactional.policy import ConsistencyPolicy


def txn(process: str, mops: list, start: float, end: float, outcome: str = "ok") -> Op:
    return Op(process, "txn", None, mops, start, end, outcome, "node1")  # type: ignore[arg-type]


def test_settings_refuse_what_mariadb_would_not_take() -> None:
    with pytest.raises(ValueError, match="isolation 'snapshot'"):
        TxnSettings(isolation="snapshot")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="route"):
        TxnSettings(route="proxy")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="clients 0"):
        TxnSettings(clients=0)
    with pytest.raises(ValueError, match="sync_wait 16"):
        TxnSettings(sync_wait=16)
    assert TxnSettings(isolation="read-committed").sql_isolation == "READ COMMITTED"


def test_a_transaction_not_surely_committed_tells_no_read() -> None:
    mops = [["r", 1, [1, 2]], ["append", 1, 3], ["read-all", None, {0: 5}], ["w", 2, 7]]
    assert unread(mops) == [["r", 1, None], ["append", 1, 3], ["read-all", None, None], ["w", 2, 7]]


def test_keyspace_hands_out_unique_values_and_retires_keys() -> None:
    space = list_append.KeySpace(list_append.ListAppendParams(keys=2, max_appends_per_key=3))
    seen: dict[int, list[int]] = {}
    lock = threading.Lock()

    def client(seed: int) -> None:
        rng = random.Random(seed)
        for _ in range(50):
            key = space.pick(rng)
            value = space.value_for(key)
            with lock:
                seen.setdefault(key, []).append(value)
    threads = [threading.Thread(target=client, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert all(len(v) == len(set(v)) for v in seen.values()), "a value was handed out twice for one key"
    assert len(seen) > 2 and space.active != [0, 1]  # keys rotated
    assert space.written == sorted(seen)


def test_plan_makes_one_to_max_ops_with_unfilled_reads() -> None:
    params = list_append.ListAppendParams(keys=3, max_ops=4, read_share=0.5)
    space = list_append.KeySpace(params)
    rng = random.Random(7)
    plans = [list_append.plan(space, rng) for _ in range(200)]
    assert {len(p) for p in plans} == {1, 2, 3, 4}
    assert all(m[2] is None for p in plans for m in p if m[0] == "r")
    assert {m[0] for p in plans for m in p} == {"r", "append"}
    assert list_append.parse("3,1,2") == [3, 1, 2] and list_append.parse("") == []


def test_bank_and_counter_plans_follow_the_checkers_contract() -> None:
    rng = random.Random(1)
    p = bank.BankParams(accounts=4)
    kinds = {bank.plan(p, rng)[0][0] for _ in range(100)}
    assert kinds == {"transfer", "read-all"}
    transfer = next(m for m in (bank.plan(p, rng)[0] for _ in range(100)) if m[0] == "transfer")
    a, b, amount = transfer[1]
    assert a != b and 1 <= amount <= p.max_transfer
    assert counter.plan(counter.CounterParams(keys=2), rng)[0][0] == "r"


def test_a_lost_increment_gives_figures_that_name_it() -> None:
    h = [txn("c0", [["r", 0, 0], ["w", 0, 1]], 0.0, 0.2), txn("c1", [["r", 0, 0], ["w", 0, 1]], 0.1, 0.3),
         txn("final-node1", [["r", 0, 1]], 1.0, 1.1)]
    verdict = consistency.check_counter(h)
    figs = runner.figures(verdict, {"isolation": "repeatable-read", "route": "vip", "locking_reads": False}, h)
    assert figs["ok"] is False and figs["lost_increments"] == 1
    assert (figs["committed"], figs["failed"], figs["unknown"]) == (2, 0, 0)  # the final read is not counted
    assert figs["anomalies"] and any("c0" in text or "c1" in text for text in figs["examples"].values())


def results_with_consistency(ok: bool) -> ResultsFile:
    h = History([txn("la0", [["r", 1, []], ["append", 1, 1]], 0.0, 0.1),
                 txn("la1", [["r", 1, []], ["append", 1, 2]], 0.05, 0.15),
                 txn("final-node1", [["r", 1, [1, 2]]], 1.0, 1.1)])
    verdict = consistency.check(h.ops("txn"), model="serializable")
    assert verdict.ok is ok
    res = ResultsFile("20261202-000000", 0.0, {}, {})
    res.add_scenario("kill_writer", "fail", {"consistency": verdict},
                     {"consistency": runner.figures(verdict, ConsistencyPolicy(TxnSettings()).describe(), h.ops())})
    return res


def test_the_report_shows_the_consistency_table_and_one_explanation_per_class(tmp_path: Path) -> None:
    text = render_markdown(results_with_consistency(ok=False), tmp_path).read_text()
    assert "### Consistency" in text
    row = next(line for line in text.splitlines() if line.startswith("| kill_writer | list-append"))
    assert "repeatable-read via vip" in row and "FAILED" in row and "G-single" in row
    assert "kill_writer, one G-single:" in text and "-rw->" in text


def test_findings_config_refuses_bad_values_in_one_line() -> None:
    with pytest.raises(ValueError, match="unknown part"):
        findings.StudyConfig(parts=("p5",))
    with pytest.raises(ValueError, match="flush values"):
        findings.StudyConfig(flush_values=(3,))
    with pytest.raises(ValueError, match="routes"):
        findings.StudyConfig(routes=("proxy",))


def study(rows: list[findings.Row]) -> findings.Study:
    return findings.Study("lab", "haproxy", {"mariadb": "10.11.18", "galera": "26.4.22"}, {}, 0.0, 12.0, rows)


def row(part: str, setting: str, observed: int, cure: bool) -> findings.Row:
    return findings.Row(part, setting, "vip", 1, 5.0, f"{observed} seen", observed,
                        findings._verdict(observed, cure), findings.REFERENCES[part])


def test_findings_verdicts_table_and_problems() -> None:
    s = study([row("p4", "REPEATABLE READ", 12, False), row("p4", "SERIALIZABLE", 0, True),
               row("p4", "REPEATABLE READ + FOR UPDATE", 3, True), row("stale", "wsrep_sync_wait=0", 0, False)])
    assert [r.verdict for r in s.rows] == ["reproduced", "prevented", "reproduced", "not reproduced"]
    md = findings.markdown(s, "galera-lab consistency --seconds 5")
    assert "`galera-lab consistency --seconds 5`" in md and "MDEV-38977" in md and "MDEV-38999" in md
    assert md.count("| p4 |") == 3
    assert findings.problems(s) == ["p4 with REPEATABLE READ + FOR UPDATE via vip: 3 seen"]


def test_a_loss_the_scenario_allows_reads_as_a_finding_not_a_failure(tmp_path: Path) -> None:
    res = results_with_consistency(ok=False)
    res.scenarios[0]["figures"]["consistency"]["finding"] = True
    text = render_markdown(res, tmp_path).read_text()
    row = next(line for line in text.splitlines() if line.startswith("| kill_writer | list-append"))
    assert row.endswith("| finding (loss allowed) |")

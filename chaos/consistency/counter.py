"""The counter checker: increments as applications write them, read then write back.

Why: `SELECT v` then `UPDATE ... SET v = <client-computed v + 1>` is how most application code
increments (a page view, a stock level), and it is exactly P4 lost update when two clients read
the same v: both write v + 1 and one increment vanishes. Under Adya's repeatable read or
snapshot isolation the database must abort one of them; under MariaDB's REPEATABLE READ it
need not, and Galera's certification only catches conflicts between nodes. The final value
counts the damage; the reads name the culprits.

Encoding (kind "txn", key None): an increment is `[["r", k, v], ["w", k, v + 1]]` (v None
when the read did not return); a final read is a transaction of reads only, `[["r", k, v]]`,
started after every increment transaction ended. Keys are ints; a key starts at `initial`.

Checks, per key with a final read: acknowledged increments minus the observed increase are
lost updates ("lost-increment", counted); an increase beyond the acknowledged increments must
be covered by unknown ones that committed, else it is "unexplained-increment"; and directly, two
acknowledged increments that read the same value and both wrote value + 1 ("lost-update",
P4, one per group of such transactions).
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from chaos.consistency.anomaly import Anomaly, Found, TxnRef, _Verdict, together
from chaos.consistency.txn import Txn, parse
from chaos.history import History, Op

MAX_EXAMPLES = 5


@dataclass(frozen=True)
class CounterVerdict(_Verdict):
    """Verdict of `check_counter`.

    ok: no lost increment, no unexplained one, no P4. increments / unknown_increments /
    failed_increments: increment transactions by outcome (over all keys). final_values: the
    last final read of each key; unchecked_keys: incremented keys without a final read (their
    loss cannot be judged). lost_increments: acknowledged increments missing from the final
    values; unexplained_increments: increase beyond acknowledged plus unknown increments.
    counts / anomalies: per class, as in the other verdicts.
    """

    ok: bool
    keys: int
    increments: int
    unknown_increments: int
    failed_increments: int
    final_values: dict[str, int]
    unchecked_keys: tuple[str, ...]
    lost_increments: int
    unexplained_increments: int
    counts: dict[str, int]
    anomalies: dict[str, tuple[Anomaly, ...]]

    def text(self) -> str:
        lines = [f"counter: {'OK' if self.ok else 'FAILED'}: {self.increments} increments acknowledged "
                 f"({self.unknown_increments} unknown, {self.failed_increments} failed) on {self.keys} keys; "
                 f"{self.lost_increments} lost, {self.unexplained_increments} unexplained"]
        if self.unchecked_keys:
            lines.append(f"  no final read of keys {', '.join(self.unchecked_keys)}: their losses are not judged")
        for examples in self.anomalies.values():
            lines += [example.text() for example in examples]
        return "\n".join(lines)


def check_counter(ops: Iterable[Op] | History, initial: int = 0, max_examples: int = MAX_EXAMPLES) -> CounterVerdict:
    """Did every acknowledged increment count, and did any two read the same value?"""
    txns = parse(ops, "counter")
    writes = [(txn, _increments(txn)) for txn in txns]
    by_outcome: dict[str, Counter[Any]] = defaultdict(Counter)
    for txn, incs in writes:
        for key, _, _ in incs:
            by_outcome[txn.outcome][key] += 1
    ends = [txn.op.end for txn, incs in writes if incs]
    traffic_end = max(ends, default=float("-inf"))
    finals: dict[Any, tuple[float, int, Txn]] = {}
    for txn, incs in writes:
        if incs or txn.outcome != "ok" or txn.op.start <= traffic_end:
            continue
        for f, key, value in txn.mops:
            if value is not None and (key not in finals or txn.op.start > finals[key][0]):
                finals[key] = (txn.op.start, value, txn)
    found = Found(max_examples)
    lost = unexplained = 0
    keys = set(by_outcome["ok"]) | set(by_outcome["unknown"]) | set(by_outcome["fail"]) | set(finals)
    for key in sorted(keys, key=str):
        if key not in finals:
            continue
        _, final, reader = finals[key]
        acked, maybe = by_outcome["ok"][key], by_outcome["unknown"][key]
        increase = final - initial
        if increase < acked:
            lost += acked - increase
            found.add("lost-increment", lambda key=key, final=final, reader=reader, acked=acked: Anomaly(
                "lost-increment", f"key {key}: {acked} increments were acknowledged but {reader.label}, the final "
                f"read, shows {final} (from {initial}): {acked - (final - initial)} acknowledged increment(s) lost",
                (TxnRef.of(reader),), details={"key": key, "acknowledged": acked, "final": final,
                                               "initial": initial}), count=acked - increase)
        elif increase > acked + maybe:
            unexplained += increase - acked - maybe
            found.add("unexplained-increment", lambda key=key, final=final, reader=reader, acked=acked, maybe=maybe:
                      Anomaly("unexplained-increment",
                              f"key {key}: {reader.label} shows {final} (from {initial}), more than the {acked} "
                              f"acknowledged plus {maybe} unknown increments could make",
                              (TxnRef.of(reader),), details={"key": key, "acknowledged": acked, "unknown": maybe,
                                                             "final": final, "initial": initial}),
                      count=increase - acked - maybe)
    _same_reads(writes, found)
    counts = {name: n for name, n in sorted(found.counts.items()) if n}
    unchecked = tuple(str(key) for key in sorted(keys - set(finals), key=str))
    return CounterVerdict(
        ok=not counts, keys=len(keys), increments=sum(by_outcome["ok"].values()),
        unknown_increments=sum(by_outcome["unknown"].values()), failed_increments=sum(by_outcome["fail"].values()),
        final_values={str(key): finals[key][1] for key in sorted(finals, key=str)}, unchecked_keys=unchecked,
        lost_increments=lost, unexplained_increments=unexplained, counts=counts,
        anomalies={name: tuple(found.examples[name]) for name in counts})


def _increments(txn: Txn) -> list[tuple[Any, Any, Any]]:
    """(key, value read, value written) of each write in the transaction; a write must follow a
    read of the same key in it (that is what makes it a read-modify-write)."""
    read: dict[Any, Any] = {}
    out = []
    for f, key, value in txn.mops:
        if f == "r":
            read[key] = value
        elif key not in read:
            raise ValueError(f"{txn.label}: writes key {key!r} without reading it first: not an increment")
        else:
            out.append((key, read[key], value))
    return out


def _same_reads(writes: list[tuple[Txn, list[tuple[Any, Any, Any]]]], found: Found) -> None:
    """P4 directly: acknowledged increments that read the same value of a key and wrote value + 1."""
    groups: dict[tuple[Any, Any], list[Txn]] = defaultdict(list)
    for txn, incs in writes:
        if txn.outcome == "ok":
            for key, before, after in incs:
                if before is not None and after == before + 1:
                    groups[(key, before)].append(txn)
    for (key, before), group in groups.items():
        if len(group) > 1:
            names = together([txn.label for txn in group])
            found.add("lost-update", lambda key=key, before=before, group=group, names=names: Anomaly(
                "lost-update", f"{names} read key {key} = {before} and wrote {before + 1}, and committed: "
                f"{len(group) - 1} of these increments overwrote another instead of adding to it (P4 lost update)",
                tuple(TxnRef.of(txn) for txn in group), details={"key": key, "read": before, "wrote": before + 1}))

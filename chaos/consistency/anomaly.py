"""Anomalies and their explanations: which transactions, which edges between them, and why.

Why so much prose: a verdict "G-single" means nothing to the DBA who has to decide whether a
Galera setting lost their customer's update. Each anomaly carries its smallest explanation (the
transactions of one short cycle, or the read and the write it contradicts) with every edge
justified in words, so it can be checked by hand against the recorded history. `to_dict()` keeps
the full values for the JSON report; `text()` abbreviates long lists for a terminal.

Verdicts store a few examples per anomaly class but count every occurrence (`Found`), so a
history with 50,000 stale reads stays a small report.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

from chaos.consistency.txn import Txn


class _Verdict:
    """Shared `to_dict` so every verdict serialises the same way (as chaos/checkers.py does)."""

    def to_dict(self) -> dict[str, Any]:
        """Plain dict (tuples become lists) for the JSON report."""
        return asdict(self)  # type: ignore[call-overload]


def clock(seconds: float) -> str:
    """A client timestamp for humans: wall-clock time of day (ms) for `time.time()` values, the
    raw seconds for the small numbers of hand-made histories."""
    if seconds > 1e9:
        return time.strftime("%H:%M:%S", time.localtime(seconds)) + f".{int(seconds * 1000) % 1000:03d}"
    return f"{seconds:.3f}"


SHOWN_OPS = 6


def short(values: Any, keep: int = 4) -> str:
    """A read's list, its tail only when long: `[…, 17, 18] (40 elements)`."""
    if not isinstance(values, list | tuple):
        return repr(values)
    if len(values) <= keep + 1:
        return "[" + ", ".join(map(str, values)) + "]"
    return "[…, " + ", ".join(map(str, values[-keep:])) + f"] ({len(values)} elements)"


def together(labels: list[str]) -> str:
    """`T1 and T2 both` / `T1, T2 and T3 all`, for anomalies shared by several transactions."""
    if len(labels) == 2:
        return f"{labels[0]} and {labels[1]} both"
    return ", ".join(labels[:-1]) + f" and {labels[-1]} all"


@dataclass(frozen=True)
class TxnRef(_Verdict):
    """A transaction as an explanation shows it: everything needed to find it in the history."""

    index: int
    process: str
    node: str | None
    outcome: str
    ops: tuple[Any, ...]
    start: float
    end: float

    @classmethod
    def of(cls, txn: Txn) -> TxnRef:
        op = txn.op
        return cls(txn.index, op.process, op.node, op.outcome, tuple(list(m) for m in txn.mops), op.start, op.end)

    def text(self) -> str:
        """One line; a long transaction (a final read of every key) shows its first micro-ops
        only: the edges' reasons quote the reads that matter."""
        where = f"process {self.process}" + (f" on {self.node}" if self.node else "")
        shown = self.ops[:SHOWN_OPS]
        mops = "; ".join(f"{f} {key} {short(value) if f != 'append' else value}" for f, key, value in shown)
        if len(self.ops) > len(shown):
            mops += f"; … {len(self.ops) - len(shown)} more micro-ops"
        return f"T{self.index} ({where}, {self.outcome}, {clock(self.start)}-{clock(self.end)}): {mops}"


@dataclass(frozen=True)
class Edge(_Verdict):
    """One dependency: `source` must come before `target`, for the reason `why`.

    type: ww (write-write: version order), wr (write-read: the target saw the source's write),
    rw (anti-dependency: the source did not see the target's write), realtime (the source ended
    before the target started), process (same client, source first).
    """

    source: int
    target: int
    type: str
    why: str

    def text(self) -> str:
        return f"T{self.source} -{self.type}-> T{self.target}: {self.why}"


@dataclass(frozen=True)
class Anomaly(_Verdict):
    """One anomaly of class `name`: a summary, its transactions, the edges of its cycle (cycle
    anomalies, in cycle order) and class-specific `details` (key, values, read lists)."""

    name: str
    summary: str
    txns: tuple[TxnRef, ...]
    edges: tuple[Edge, ...] = ()
    details: dict[str, Any] = field(default_factory=dict)

    def text(self) -> str:
        lines = [f"{self.name}: {self.summary}"]
        lines += ["  " + txn.text() for txn in self.txns]
        lines += ["  " + edge.text() for edge in self.edges]
        return "\n".join(lines)


class Found:
    """Anomalies as they are found: every one counted, the first `cap` of each class kept.

    `add` takes a function that builds the anomaly, so the explanation of the 50,000th stale
    read is never written out.
    """

    def __init__(self, cap: int) -> None:
        self.cap = cap
        self.counts: Counter[str] = Counter()
        self.examples: dict[str, list[Anomaly]] = {}

    def add(self, name: str, make: Callable[[], Anomaly], count: int = 1) -> None:
        self.counts[name] += count
        kept = self.examples.setdefault(name, [])
        if len(kept) < self.cap:
            kept.append(make())

    def has(self, name: str) -> bool:
        return self.counts[name] > 0

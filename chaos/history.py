"""What the chaos suite records: client operations and injected faults.

Workloads and probes append one `Op` per client operation; nemeses produce one `FaultEvent`
per fault. Checkers read nothing else, so a history saved with `History.to_json` can be
re-checked later without the lab that produced it.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

Outcome = Literal["ok", "fail", "unknown"]

OUTCOMES: frozenset[str] = frozenset({"ok", "fail", "unknown"})
"""ok: acknowledged; fail: definitely did not happen; unknown: may or may not have happened
(e.g. the connection dropped after COMMIT was sent)."""

KINDS: frozenset[str] = frozenset({"write", "read", "connect", "http", "route", "txn", "chamilo_session", "chamilo_login",
                                   "chamilo_write", "chamilo_read_own_write"})
"""write/read: data operations; connect: fresh SQL connection to the VIP (availability probe);
http: request to the application; route: statement whose serving backend is recorded;
txn: one transaction of a transactional workload (chaos/transactional/), its `value` the list of
micro-operations (`["append", k, v]`, `["r", k, observed]`, …; key None), judged by
chaos/consistency/; chamilo_*: what a Chamilo user does (chaos/chamilo_probe.py): a logged-in
page, a login, a calendar event saved and read back."""


@dataclass(frozen=True)
class Op:
    """One client operation, timed on the client with `time.time()` seconds.

    `value` must be JSON-serialisable so that histories survive a save and reload. `node` is
    the backend that served the operation when the client could tell (e.g. `@@hostname`).
    """

    process: str
    kind: str
    key: str | None
    value: object
    start: float
    end: float
    outcome: Outcome
    node: str | None = None
    error: str | None = None

    def __post_init__(self) -> None:
        """Reject records that checkers would silently skip or misjudge."""
        if self.kind not in KINDS:
            raise ValueError(f"unknown op kind {self.kind!r}; expected one of {sorted(KINDS)}")
        if self.outcome not in OUTCOMES:
            raise ValueError(
                f"unknown outcome {self.outcome!r}; expected one of {sorted(OUTCOMES)}"
            )
        if self.end < self.start:
            raise ValueError(f"op ends ({self.end}) before it starts ({self.start})")

    def to_dict(self) -> dict[str, Any]:
        """Plain dict for JSON."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Op:
        """Inverse of `to_dict`."""
        return cls(**data)


@dataclass(frozen=True)
class FaultEvent:
    """One injected fault: what, on which target, when it started and when it was healed.

    `healed` is None when the fault was never healed (or the run ended first); `detail` holds
    fault-specific settings (signal, loss %, partition sides) for the report.
    """

    name: str
    target: str
    start: float
    healed: float | None
    detail: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """Plain dict for JSON."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> FaultEvent:
        """Inverse of `to_dict`."""
        return cls(**data)


class History:
    """Append-only, thread-safe list of ops: writers and probes record from their own threads.

    >>> h = History()
    >>> h.append(Op("w1", "write", "k1", 1, 10.0, 10.1, "ok", node="node1"))
    >>> [op.key for op in h.ops("write")]
    ['k1']
    """

    def __init__(self, ops: Iterable[Op] = ()) -> None:
        self._lock = threading.Lock()
        self._ops: list[Op] = list(ops)

    def append(self, op: Op) -> None:
        """Record one completed operation."""
        with self._lock:
            self._ops.append(op)

    def ops(self, kind: str | None = None) -> list[Op]:
        """Snapshot of the ops (of one kind, if given), ordered by start time.

        Threads append in completion order; checkers reason in start order, so sort here once.
        """
        with self._lock:
            selected = [op for op in self._ops if kind is None or op.kind == kind]
        return sorted(selected, key=lambda op: op.start)

    def __len__(self) -> int:
        with self._lock:
            return len(self._ops)

    def to_json(self) -> list[dict[str, Any]]:
        """The ops as a list of plain dicts, in start order, ready for `json.dump`."""
        return [op.to_dict() for op in self.ops()]

    @classmethod
    def from_json(cls, data: Iterable[dict[str, Any]]) -> History:
        """Rebuild a history saved with `to_json`."""
        return cls(Op.from_dict(item) for item in data)

"""What a list-append history says about each key: who appended what, and in which order.

Why list-append: a read of a list returns the whole history of writes to that key, so the order
in which the database applied the appends (the version order) is visible, not guessed. That is
what makes Elle's inference sound: every committed read of a key must be a prefix of one list,
and the longest read is the best knowledge of that order. Reads that are not prefixes of it
cannot come from one timeline ("incompatible order").

Conventions (the history contract in docs/ARCHITECTURE.md):
- only reads of `ok` transactions count (a failed or unknown transaction's reads are not known);
- a transaction is committed when it is `ok`, or `unknown` with one of its appends observed by a
  committed read (it did commit, the client just never heard); other unknown ones are ignored;
- an external read of key k is a read made before the transaction's own first append to k: it
  shows the state other transactions left, which is what dependencies are inferred from.

Transactions are numbered 0..n-1 by their position in the parsed list (`t`); explanations name
them by `Txn.index`.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from chaos.consistency.txn import Txn

Read = tuple[int, list[Any], bool]
"""(t, observed list, external): one committed read of a key."""


@dataclass
class KeyOrder:
    """One key: its version order and, per position, who wrote that element.

    `writer_at[i]`: the transaction (any outcome) that appended `order[i]`, -1 when nobody did
    (a garbage value). `committed_at[i]`: the same when that writer is committed, else -1.
    `next_committed[i]`: the first committed writer at position >= i (-1: none), length
    len(order) + 1, so that a read of length L finds the write it missed in O(1).
    """

    order: list[Any]
    pos: dict[Any, int]
    writer_at: list[int]
    committed_at: list[int]
    next_committed: list[int]
    reads: list[Read]
    incompatible: list[Read] = field(default_factory=list)


@dataclass
class Inferred:
    """Everything the item checks and the dependency graph need, computed once."""

    txns: list[Txn]
    ok: list[bool]
    committed: list[bool]
    appends: list[list[tuple[Any, Any]]]
    writer: dict[Any, dict[Any, int]]
    intermediate: dict[Any, set[Any]]
    keys: dict[Any, KeyOrder]
    observed: dict[Any, set[Any]]

    def window(self, key: Any, at: int, before: int = 2, after: int = 2) -> str:
        """The version order of `key` around position `at`, for explanations: `…, 5, 7, …`."""
        order = self.keys[key].order
        lo, hi = max(0, at - before), min(len(order), at + after + 1)
        return ("…, " if lo else "") + ", ".join(map(str, order[lo:hi])) + (", …" if hi < len(order) else "")


def infer(txns: list[Txn]) -> Inferred:
    """Writers, committed transactions and per-key version orders of a list-append history.

    Raises ValueError when the history breaks its contract (a micro-op of the wrong shape, or a
    value appended twice to one key): a checker that guessed there would explain nothing.
    """
    n = len(txns)
    ok = [txn.op.outcome == "ok" for txn in txns]
    appends: list[list[tuple[Any, Any]]] = [[] for _ in range(n)]
    writer: dict[Any, dict[Any, int]] = defaultdict(dict)
    intermediate: dict[Any, set[Any]] = defaultdict(set)
    reads: dict[Any, list[Read]] = defaultdict(list)
    for t, txn in enumerate(txns):
        try:
            _collect(t, txn, ok[t], txns, appends, writer, intermediate, reads)
        except TypeError:
            raise ValueError(f"{txn.label}: {txn.op.value!r}: list-append keys, values and read elements must be "
                             "ints") from None
    keys, observed = _orders(reads)
    committed = list(ok)
    for t, txn in enumerate(txns):
        if txn.op.outcome == "unknown" and any(v in observed.get(k, ()) for k, v in appends[t]):
            committed[t] = True
    for key, ko in keys.items():
        by_value = writer.get(key, {})
        ko.writer_at = [by_value.get(v, -1) for v in ko.order]
        ko.committed_at = [w if w >= 0 and committed[w] else -1 for w in ko.writer_at]
        nxt = [-1] * (len(ko.order) + 1)
        for i in range(len(ko.order) - 1, -1, -1):
            w = ko.committed_at[i]
            nxt[i] = w if w >= 0 else nxt[i + 1]
        ko.next_committed = nxt
    return Inferred(txns, ok, committed, appends, dict(writer), dict(intermediate), keys, observed)


def _collect(t: int, txn: Txn, ok: bool, txns: list[Txn], appends: list[list[tuple[Any, Any]]],
             writer: dict[Any, dict[Any, int]], intermediate: dict[Any, set[Any]],
             reads: dict[Any, list[Read]]) -> None:
    """One transaction's appends (with their writer and whether each is its last to the key)
    and, for an ok one, its reads."""
    last: dict[Any, Any] = {}
    for f, key, value in txn.mops:
        if f == "append":
            by_value = writer[key]
            if value in by_value:
                other = txns[by_value[value]].label
                raise ValueError(f"{txn.label} appends {value!r} to key {key!r}, which {other} appended "
                                 "already: values must be unique per key")
            by_value[value] = t
            if key in last:
                intermediate[key].add(last[key])
            last[key] = value
            appends[t].append((key, value))
        elif value is not None and ok:
            if not isinstance(value, list | tuple):
                raise ValueError(f"{txn.label}: read of key {key!r} observed {value!r}, not a list")
            reads[key].append((t, value if isinstance(value, list) else list(value), key not in last))


def _orders(reads: dict[Any, list[Read]]) -> tuple[dict[Any, KeyOrder], dict[Any, set[Any]]]:
    """Each key's version order (its longest read) and the reads that are not prefixes of it."""
    keys: dict[Any, KeyOrder] = {}
    observed: dict[Any, set[Any]] = {}
    for key, rs in reads.items():
        longest = max((r[1] for r in rs), key=len)
        size = len(longest)
        incompatible = [r for r in rs
                        if (r[1] != longest if len(r[1]) == size else r[1] != longest[:len(r[1])])]
        pos: dict[Any, int] = {}
        seen: set[Any] = set()
        try:
            for i, v in enumerate(longest):
                pos.setdefault(v, i)
            seen.update(pos)
            for _, values, _ in incompatible:
                seen.update(values)
        except TypeError:
            raise ValueError(f"a read of key {key!r} observed an element that is not an int") from None
        keys[key] = KeyOrder(longest, pos, [], [], [], rs, incompatible)
        observed[key] = seen
    return keys, observed


"""Transactions as the checkers see them: `Op`s of kind "txn" parsed into their micro-operations.

Why a parse step: the workloads record micro-ops as JSON lists (`["append", 3, 17]`,
`["r", 3, [5, 17]]`); the checkers want them validated once, with an error that names the
transaction, rather than a TypeError deep inside a graph search. Parsing also fixes each
transaction's index, which every explanation names as `T<index>`: its position among the txn
ops in the order they were given (a `History` gives them in start order).

One history may carry several workloads at once; each checker takes the transactions of its own
family, told apart by their micro-op names (`FAMILIES`).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from chaos.history import History, Op

FAMILIES: dict[str, frozenset[str]] = {
    "list-append": frozenset({"append", "r"}),
    "bank": frozenset({"transfer", "read-all"}),
    "counter": frozenset({"r", "w"}),
}
"""Micro-op names of each workload. "r" is shared by list-append (it observes a list) and counter
(it observes an int): `family_of` tells them apart by what was read."""

MicroOp = tuple[str, Any, Any]
"""(f, key, value): the micro-op's name, its key (list-append, counter) or argument (bank), and
what it wrote or read (None for a read whose result is not known)."""


@dataclass(frozen=True, slots=True)
class Txn:
    """One transaction: the `Op` it came from, its index and its micro-ops as tuples."""

    index: int
    op: Op
    mops: tuple[MicroOp, ...]

    @property
    def outcome(self) -> str:
        return self.op.outcome

    @property
    def label(self) -> str:
        """How explanations name it."""
        return f"T{self.index}"


def txn_ops(ops: Iterable[Op] | History) -> list[Op]:
    """The txn ops, in the order given (a History: start order)."""
    source = ops.ops("txn") if isinstance(ops, History) else ops
    return [op for op in source if op.kind == "txn"]


def parse(ops: Iterable[Op] | History, family: str) -> list[Txn]:
    """The transactions of one workload `family`, each with its index among all txn ops.

    Transactions of another family are skipped (a history may mix workloads); a transaction with
    no micro-op belongs to none; one that mixes families, or a malformed micro-op, is refused
    with a ValueError naming the transaction.
    """
    if family not in FAMILIES:
        raise ValueError(f"unknown workload {family!r}; expected one of {sorted(FAMILIES)}")
    txns = []
    for index, op in enumerate(txn_ops(ops)):
        mops = _micro_ops(index, op)
        if family in family_of(index, mops):
            txns.append(Txn(index, op, mops))
    return txns


def family_of(index: int, mops: tuple[MicroOp, ...]) -> frozenset[str]:
    """The workload families a transaction can belong to (several only for reads of unknown
    result, which both list-append and counter may record and neither learns anything from)."""
    names = {f for f, _, _ in mops}
    fits = {family for family, allowed in FAMILIES.items() if names <= allowed}
    if names and not fits:
        raise ValueError(f"T{index}: micro-ops {sorted(names)} mix workloads; "
                         f"each txn uses the names of one of {dict((k, sorted(v)) for k, v in FAMILIES.items())}")
    if fits >= {"list-append", "counter"}:  # only reads: what they observed decides
        observed = [value for _, _, value in mops if value is not None]
        if any(isinstance(value, list | tuple) for value in observed):
            fits.discard("counter")
        elif observed:
            fits.discard("list-append")
    return frozenset(fits)


def _micro_ops(index: int, op: Op) -> tuple[MicroOp, ...]:
    """Validate the shape `[[f, key, value], ...]`; lists from JSON and tuples both accepted."""
    if not isinstance(op.value, list | tuple):
        raise ValueError(f"T{index} ({op.process}): a txn's value must be a list of micro-ops, got {op.value!r}")
    mops = []
    for mop in op.value:
        if not isinstance(mop, list | tuple) or len(mop) != 3 or not isinstance(mop[0], str):
            raise ValueError(f"T{index} ({op.process}): micro-op {mop!r} is not [name, key, value]")
        mops.append((mop[0], mop[1], mop[2]))
    return tuple(mops)

"""The bank checker: money moves between accounts, and the total never changes.

Why: the classic Jepsen bank test catches what list-append cannot phrase, a read that sees half
of a transfer (one account debited, the other not yet credited) or a write skew that drives an
account negative, in the shape applications actually use (UPDATE balance = balance - x).

Encoding (kind "txn", key None, one transaction per Op, as every workload in chaos/consistency):
- `["transfer", [from_account, to_account, amount], None]`: move `amount` between two accounts
  (ints); the workload decides whether a transfer that would overdraw is attempted at all;
- `["read-all", None, {account: balance, ...}]`: every account read in one transaction; the
  balances are None when not known (fail/unknown transactions). Account ids are ints; after a
  JSON round trip they are strings, and both are accepted.

Checks on every `ok` read-all: the balances sum to `total`; no balance is negative unless
`negative_allowed`; when `accounts` is given, exactly those accounts are present.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from chaos.consistency.anomaly import Anomaly, Found, TxnRef, _Verdict
from chaos.consistency.txn import Txn, parse
from chaos.history import History, Op

MAX_EXAMPLES = 5


@dataclass(frozen=True)
class BankVerdict(_Verdict):
    """Verdict of `check_bank`.

    ok: every ok read-all was right. reads: ok read-alls checked; transfers / failed / unknown:
    transfer transactions by outcome. counts: wrong reads by class ("wrong-total",
    "negative-balance", "wrong-accounts"); anomalies: up to MAX_EXAMPLES of each, with the
    read's balances and sum.
    """

    ok: bool
    total: int
    txns: int
    reads: int
    transfers: int
    failed: int
    unknown: int
    counts: dict[str, int]
    anomalies: dict[str, tuple[Anomaly, ...]]

    def text(self) -> str:
        lines = [f"bank (total {self.total}): {'OK' if self.ok else 'FAILED'}: {self.reads} whole-table reads, "
                 f"{self.transfers} transfers acknowledged, {self.failed} failed, {self.unknown} unknown"]
        if self.counts:
            lines.append("  wrong reads: " + ", ".join(f"{name} {n}" for name, n in self.counts.items()))
        for examples in self.anomalies.values():
            lines += [example.text() for example in examples]
        return "\n".join(lines)


def check_bank(ops: Iterable[Op] | History, total: int, accounts: Iterable[int] | None = None,
               negative_allowed: bool = False, max_examples: int = MAX_EXAMPLES) -> BankVerdict:
    """Does every acknowledged whole-table read show `total` in all, and no overdraft?"""
    txns = parse(ops, "bank")
    expected = None if accounts is None else sorted(int(a) for a in accounts)
    found = Found(max_examples)
    reads = transfers = failed = unknown = 0
    for txn in txns:
        is_transfer = False
        for f, arg, value in txn.mops:
            if f == "transfer":
                _transfer_arg(txn, arg)
                is_transfer = True
            elif txn.outcome == "ok" and value is not None:
                reads += 1
                _judge(txn, _balances(txn, value), total, expected, negative_allowed, found)
        if is_transfer:
            transfers += txn.outcome == "ok"
            failed += txn.outcome == "fail"
            unknown += txn.outcome == "unknown"
    counts = {name: n for name, n in sorted(found.counts.items()) if n}
    return BankVerdict(ok=not counts, total=total, txns=len(txns), reads=reads, transfers=transfers, failed=failed,
                       unknown=unknown, counts=counts,
                       anomalies={name: tuple(found.examples[name]) for name in counts})


def _judge(txn: Txn, balances: dict[int, Any], total: int, expected: list[int] | None, negative_allowed: bool,
           found: Found) -> None:
    observed = sum(balances.values())
    details = {"balances": {str(a): b for a, b in sorted(balances.items())}, "sum": observed, "expected": total}
    if observed != total:
        found.add("wrong-total", lambda: Anomaly(
            "wrong-total", f"{txn.label} read balances summing to {observed}, not {total} "
            f"({observed - total:+d}): it saw part of a transfer, or money was created or lost",
            (TxnRef.of(txn),), details=details))
    negative = {a: b for a, b in balances.items() if b < 0}
    if negative and not negative_allowed:
        found.add("negative-balance", lambda: Anomaly(
            "negative-balance", f"{txn.label} read negative balances {negative}: two transfers that each "
            "checked the balance overdrew it together (write skew)", (TxnRef.of(txn),), details=details))
    if expected is not None and sorted(balances) != expected:
        found.add("wrong-accounts", lambda: Anomaly(
            "wrong-accounts", f"{txn.label} read accounts {sorted(balances)}, expected {expected}",
            (TxnRef.of(txn),), details=details))


def _transfer_arg(txn: Txn, arg: Any) -> None:
    if not isinstance(arg, list | tuple) or len(arg) != 3:
        raise ValueError(f"{txn.label}: transfer argument {arg!r} is not [from_account, to_account, amount]")


def _balances(txn: Txn, value: Any) -> dict[int, Any]:
    if not isinstance(value, dict):
        raise ValueError(f"{txn.label}: read-all observed {value!r}, not {{account: balance}}")
    try:
        return {int(account): balance for account, balance in value.items()}
    except (TypeError, ValueError):
        raise ValueError(f"{txn.label}: read-all accounts {list(value)} are not ints") from None

"""The bank workload: money moves between accounts and the total never changes.

Transfers read two balances and write both with the values the client computed (as Jepsen's
bank test and most applications do); whole-table reads check that every snapshot sums to the
total. A read that sees another total saw a transfer half-applied or a lost update.

Micro-ops (the checker's contract): `["transfer", [from, to, amount], None]` and
`["read-all", None, {account: balance}]`.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any

import pymysql

from chaos.history import History
from chaos.transactional import client
from chaos.transactional.client import DATABASE, Aborted, Clients, TxnSettings
from chaos.workloads import Endpoint
from lab import db

TABLE = f"{DATABASE}.txn_bank"


@dataclass(frozen=True)
class BankParams:
    accounts: int = 5
    initial: int = 100
    max_transfer: int = 5
    read_share: float = 0.3

    @property
    def total(self) -> int:
        return self.accounts * self.initial


def plan(params: BankParams, rng: random.Random) -> list[list[Any]]:
    if rng.random() < params.read_share:
        return [["read-all", None, None]]
    a, b = rng.sample(range(params.accounts), 2)
    return [["transfer", [a, b, rng.randint(1, params.max_transfer)], None]]


def execute(conn: pymysql.connections.Connection, mops: list[list[Any]], locking: bool) -> list[list[Any]]:
    lock = " FOR UPDATE" if locking else ""
    f, arg, _ = mops[0]
    if f == "read-all":
        rows = db.query(conn, f"SELECT id, balance FROM {TABLE}{lock}")
        return [["read-all", None, {int(k): int(v) for k, v in rows}]]
    a, b, amount = arg
    balances = dict(db.query(conn, f"SELECT id, balance FROM {TABLE} WHERE id IN (%s, %s){lock}", (a, b)))
    if balances.get(a, 0) < amount:
        raise Aborted(f"account {a} holds {balances.get(a, 0)}, less than {amount}")
    db.query(conn, f"UPDATE {TABLE} SET balance = %s WHERE id = %s", (balances[a] - amount, a))
    db.query(conn, f"UPDATE {TABLE} SET balance = %s WHERE id = %s", (balances[b] + amount, b))
    return [list(mops[0])]


def setup(endpoint: Endpoint, params: BankParams) -> None:
    """Every account holding `initial`."""
    client.reset_table(endpoint, TABLE, "id INT PRIMARY KEY, balance BIGINT NOT NULL",
                       ", ".join(f"({i}, {params.initial})" for i in range(params.accounts)))


def clients(lab: Any, history: History, settings: TxnSettings, params: BankParams = BankParams(),
            duration: float = 300.0) -> Clients:
    return client.make_clients(lab, history, settings, "bank", lambda rng: plan(params, rng), execute, duration)


def final_reads(lab: Any, history: History) -> None:
    """The whole table on every node once healed (`client.final_reads`)."""
    def read(conn: pymysql.connections.Connection) -> list[list[Any]]:
        return [["read-all", None, {int(k): int(v) for k, v in db.query(conn, f"SELECT id, balance FROM {TABLE}")}]]
    client.final_reads(lab, history, read)

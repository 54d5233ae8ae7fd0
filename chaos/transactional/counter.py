"""Read-modify-write counters as applications write them: SELECT the value, then UPDATE it to
the value the client computed (v + 1). Two transactions that read the same value both write
v + 1 and one increment is lost (P4), unless the read locks (`SELECT … FOR UPDATE`), the
isolation level refuses the second write, or certification aborts it.

Micro-ops (the checker's contract): `["r", k, v]` then `["w", k, v + 1]`.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any

import pymysql

from chaos.history import History
from chaos.transactional import client
from chaos.transactional.client import DATABASE, Clients, TxnSettings
from chaos.workloads import Endpoint
from lab import db

TABLE = f"{DATABASE}.txn_counter"


@dataclass(frozen=True)
class CounterParams:
    keys: int = 2


def plan(params: CounterParams, rng: random.Random) -> list[list[Any]]:
    k = rng.randrange(params.keys)
    return [["r", k, None], ["w", k, None]]


def execute(conn: pymysql.connections.Connection, mops: list[list[Any]], locking: bool) -> list[list[Any]]:
    k = mops[0][1]
    rows = db.query(conn, f"SELECT v FROM {TABLE} WHERE k = %s{' FOR UPDATE' if locking else ''}", (k,))
    v = int(rows[0][0])
    db.query(conn, f"UPDATE {TABLE} SET v = %s WHERE k = %s", (v + 1, k))
    return [["r", k, v], ["w", k, v + 1]]


def setup(endpoint: Endpoint, params: CounterParams) -> None:
    """Every counter at 0."""
    client.reset_table(endpoint, TABLE, "k INT PRIMARY KEY, v BIGINT NOT NULL",
                       ", ".join(f"({k}, 0)" for k in range(params.keys)))


def clients(lab: Any, history: History, settings: TxnSettings, params: CounterParams = CounterParams(),
            duration: float = 300.0) -> Clients:
    return client.make_clients(lab, history, settings, "rmw", lambda rng: plan(params, rng), execute, duration)


def final_reads(lab: Any, history: History, params: CounterParams) -> None:
    """Every counter on every node once healed (`client.final_reads`)."""
    def read(conn: pymysql.connections.Connection) -> list[list[Any]]:
        rows = dict(db.query(conn, f"SELECT k, v FROM {TABLE}"))
        return [["r", k, int(rows[k])] for k in range(params.keys)]
    client.final_reads(lab, history, read)

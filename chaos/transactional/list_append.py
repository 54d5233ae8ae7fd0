"""Elle's list-append workload: transactions of 1-4 appends to and reads of lists.

Each key holds a comma-separated list in one row. An append is
`INSERT … ON DUPLICATE KEY UPDATE v = CONCAT(v, ',', new)` (the value is unique per key, so a
list's order is the order the appends committed in); a read returns the whole list. From those
lists alone the checker (chaos/consistency/) recovers every key's version order and the
dependencies between transactions. Keys rotate: each takes at most `max_appends_per_key`
appends and is then replaced by a fresh one, so lists stay short and the search cheap.
"""

from __future__ import annotations

import random
import threading
from dataclasses import dataclass
from typing import Any

import pymysql

from chaos.history import History
from chaos.transactional import client
from chaos.transactional.client import DATABASE, Clients, TxnSettings
from chaos.workloads import Endpoint
from lab import db

TABLE = f"{DATABASE}.txn_append"


@dataclass(frozen=True)
class ListAppendParams:
    """The workload's shape (Elle's defaults scaled to a two-core machine)."""

    keys: int = 6
    max_appends_per_key: int = 24
    max_ops: int = 4
    read_share: float = 0.5

    def __post_init__(self) -> None:
        if not 1 <= self.keys <= 1000 or not 1 <= self.max_ops <= 16 or not 0 <= self.read_share <= 1:
            raise ValueError(f"list-append parameters out of range: {self}")


class KeySpace:
    """The active keys, shared by a run's clients: hands out unique values per key and retires
    a key once it has had its appends."""

    def __init__(self, params: ListAppendParams):
        self.params = params
        self._lock = threading.Lock()
        self._next_key = params.keys
        self.active = list(range(params.keys))
        self._appends: dict[int, int] = {}

    def pick(self, rng: random.Random) -> int:
        with self._lock:
            return rng.choice(self.active)

    def value_for(self, key: int) -> int:
        """The next value of `key` (1, 2, …); the key is retired once it has had its share."""
        with self._lock:
            n = self._appends.get(key, 0) + 1
            self._appends[key] = n
            if n >= self.params.max_appends_per_key and key in self.active:
                self.active[self.active.index(key)] = self._next_key
                self._next_key += 1
            return n

    @property
    def written(self) -> list[int]:
        with self._lock:
            return sorted(self._appends)


def plan(space: KeySpace, rng: random.Random) -> list[list[Any]]:
    """One transaction's micro-ops: reads as ["r", k, None] (filled when run), appends as
    ["append", k, v]."""
    mops: list[list[Any]] = []
    for _ in range(rng.randint(1, space.params.max_ops)):
        key = space.pick(rng)
        if rng.random() < space.params.read_share:
            mops.append(["r", key, None])
        else:
            mops.append(["append", key, space.value_for(key)])
    return mops


def parse(text: str | None) -> list[int]:
    return [int(x) for x in text.split(",")] if text else []


def execute(conn: pymysql.connections.Connection, mops: list[list[Any]], locking: bool) -> list[list[Any]]:
    """Run the micro-ops inside the open transaction; returns them with the reads' values."""
    done = []
    lock = " FOR UPDATE" if locking else ""
    for f, key, value in mops:
        if f == "r":
            rows = db.query(conn, f"SELECT v FROM {TABLE} WHERE k = %s{lock}", (key,))
            done.append(["r", key, parse(rows[0][0]) if rows else []])
        else:
            db.query(conn, f"INSERT INTO {TABLE} (k, v) VALUES (%s, %s) "
                           "ON DUPLICATE KEY UPDATE v = CONCAT(v, ',', VALUES(v))", (key, str(value)))
            done.append(["append", key, value])
    return done


def setup(endpoint: Endpoint) -> None:
    """A fresh, empty table."""
    client.reset_table(endpoint, TABLE, "k INT PRIMARY KEY, v MEDIUMTEXT NOT NULL")


def clients(lab: Any, history: History, settings: TxnSettings, params: ListAppendParams = ListAppendParams(),
            duration: float = 300.0) -> tuple[Clients, KeySpace]:
    """The run's clients (not started) and their key space (for the final read)."""
    space = KeySpace(params)
    return client.make_clients(lab, history, settings, "la", lambda rng: plan(space, rng), execute, duration), space


def final_reads(lab: Any, history: History, keys: list[int]) -> None:
    """Every key written, read on every node once healed (`client.final_reads`)."""
    def read(conn: pymysql.connections.Connection) -> list[list[Any]]:
        rows = dict(db.query(conn, f"SELECT k, v FROM {TABLE}"))
        return [["r", k, parse(rows.get(k))] for k in keys]
    client.final_reads(lab, history, read)

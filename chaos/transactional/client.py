"""What every transactional workload shares: where it connects, at which isolation level, how
one transaction runs, and what its outcome is.

Why one place: whether a transaction committed is the question every checker's verdict rests
on, so the rule is written once. Before COMMIT was sent, any error means the server rolled the
transaction back (a session that loses its connection mid-transaction is rolled back too):
"fail". An error of COMMIT itself is judged as an autocommit write's is
(`chaos.workloads.classify_statement_error`): a server error proves the rollback, a lost
connection or a timeout leaves it "unknown".
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

import pymysql

from chaos.history import History, Op
from chaos.workloads import Endpoint, Workload, classify_statement_error, error_text
from lab import db

Isolation = Literal["read-uncommitted", "read-committed", "repeatable-read", "serializable"]
ISOLATIONS: tuple[str, ...] = ("read-uncommitted", "read-committed", "repeatable-read", "serializable")
Route = Literal["vip", "nodes"]

NODE_SQL = "SELECT VARIABLE_VALUE FROM information_schema.GLOBAL_VARIABLES WHERE VARIABLE_NAME = 'WSREP_NODE_NAME'"
"""The serving node, asked inside the transaction. Not `@@wsrep_node_name`: ProxySQL disables
multiplexing for good on a session whose query has an `@`, which would change what is measured.
Not an InnoDB read either, so it does not take the transaction's snapshot early."""

DATABASE = "lab"


@dataclass(frozen=True)
class TxnSettings:
    """How a run's clients transact: where (`route`: the VIP, or one node each in turn), how many
    at once, at which isolation level, with locking reads (`SELECT … FOR UPDATE`) or not, with
    which session `wsrep_sync_wait` (None: the node's), and the pacing between one client's
    transactions."""

    route: Route = "vip"
    clients: int = 4
    isolation: Isolation = "repeatable-read"
    locking_reads: bool = False
    interval: float = 0.02
    timeout: float = 10.0
    seed: int = 0
    sync_wait: int | None = None

    def __post_init__(self) -> None:
        if self.route not in ("vip", "nodes"):
            raise ValueError(f"route {self.route!r}: use 'vip' or 'nodes'")
        if self.isolation not in ISOLATIONS:
            raise ValueError(f"isolation {self.isolation!r}: use one of {', '.join(ISOLATIONS)}")
        if not 1 <= self.clients <= 64:
            raise ValueError(f"clients {self.clients}: use 1 to 64")
        if self.sync_wait is not None and not 0 <= self.sync_wait <= 15:
            raise ValueError(f"sync_wait {self.sync_wait}: use 0 to 15")

    @property
    def sql_isolation(self) -> str:
        return self.isolation.replace("-", " ").upper()

    def describe(self) -> dict[str, Any]:
        return {"route": self.route, "clients": self.clients, "isolation": self.isolation,
                "locking_reads": self.locking_reads, "sync_wait": self.sync_wait}


def endpoints(lab: Any, settings: TxnSettings) -> list[Endpoint]:
    """One endpoint per client: the tier's write port on the VIP, or the nodes in turn."""
    if settings.route == "vip":
        ep = Endpoint.vip(lab, lab.plan.tier.write_port)
        return [ep] * settings.clients
    nodes = lab.spec.node_names
    return [Endpoint.node(lab, nodes[i % len(nodes)]) for i in range(settings.clients)]


class Aborted(Exception):
    """A transaction the client itself chose to roll back (e.g. a transfer the balance can't
    cover): recorded as "fail", nothing was written."""


class TxnClient(Workload):
    """One client: runs `transaction(conn)` (a workload's body that returns the micro-ops it
    did) again and again, each in BEGIN … COMMIT at the run's isolation level, and records one
    "txn" op per transaction."""

    def __init__(self, history: History, process: str, endpoint: Endpoint, settings: TxnSettings,
                 plan: Callable[[random.Random], list[list[Any]]],
                 execute: Callable[[pymysql.connections.Connection, list[list[Any]]], list[list[Any]]],
                 duration: float, rng: random.Random):
        super().__init__(history, process, duration)
        self.endpoint = endpoint
        self.settings = settings
        self.plan = plan
        self.execute = execute
        self.rng = rng
        self.conn: pymysql.connections.Connection | None = None
        self.node: str | None = None

    def _connect(self) -> pymysql.connections.Connection:
        conn = self.endpoint.connect(timeout=2.0, read_timeout=self.settings.timeout)
        db.query(conn, f"SET SESSION TRANSACTION ISOLATION LEVEL {self.settings.sql_isolation}")
        if self.settings.sync_wait is not None:
            db.query(conn, f"SET SESSION wsrep_sync_wait = {int(self.settings.sync_wait)}")
        return conn

    def _drop(self) -> None:
        if self.conn is not None:
            try:
                self.conn.close()
            except Exception:  # noqa: BLE001 - already broken
                pass
        self.conn = None

    def body(self) -> None:
        while not self.stopping:
            start = time.time()
            self.one(self.plan(self.rng), start)
            self.sleep(self.settings.interval - (time.time() - start))

    def one(self, mops: list[list[Any]], start: float) -> None:
        """Run one planned transaction and record it."""
        node = None
        try:
            if self.conn is None:
                self.conn = self._connect()
            self.conn.begin()
            node = str(db.query(self.conn, NODE_SQL)[0][0])
            done = self.execute(self.conn, mops)
        except Aborted as exc:
            self._rollback()
            self.record("txn", None, unread(mops), start, "fail", node=node, error=f"aborted: {exc}")
            return
        except (pymysql.MySQLError, OSError) as exc:
            # before COMMIT: the server rolled it back, whatever the error
            self.record("txn", None, unread(mops), start, "fail", node=node, error=error_text(exc))
            self._drop()
            return
        try:
            self.conn.commit()
        except (pymysql.MySQLError, OSError) as exc:
            self.record("txn", None, unread(done), start, classify_statement_error(exc), node=node,
                        error=error_text(exc))
            self._drop()
            return
        self.record("txn", None, done, start, "ok", node=node)

    def _rollback(self) -> None:
        try:
            if self.conn is not None:
                self.conn.rollback()
        except (pymysql.MySQLError, OSError):
            self._drop()

    def cleanup(self) -> None:
        self._drop()


def unread(mops: list[list[Any]]) -> list[list[Any]]:
    """A transaction's micro-ops with every read's value unknown (None): what a transaction that
    did not surely commit tells a checker."""
    return [[m[0], m[1], None] if m[0] in READ_FUNCTIONS else list(m) for m in mops]


READ_FUNCTIONS = frozenset({"r", "read-all"})
"""Micro-ops whose third element is what the transaction observed."""


class Clients:
    """A run's clients as one handle: start them, stop them, count what they did."""

    def __init__(self, clients: list[TxnClient]):
        self.clients = clients

    def start(self) -> Clients:
        for c in self.clients:
            c.start()
        return self

    def stop(self) -> None:
        for c in self.clients:
            c._stop_event.set()
        for c in self.clients:
            c.stop()
        crashed = [c for c in self.clients if c.error is not None]
        if crashed:
            raise RuntimeError(f"client {crashed[0].process} crashed: {crashed[0].error!r}") from crashed[0].error

    def __enter__(self) -> Clients:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def make_clients(lab: Any, history: History, settings: TxnSettings, prefix: str,
                 plan: Callable[[random.Random], list[list[Any]]],
                 execute: Callable[[pymysql.connections.Connection, list[list[Any]], bool], list[list[Any]]],
                 duration: float) -> Clients:
    """A workload's clients (`<prefix>0`, `<prefix>1`, …), each on its endpoint with its own
    seeded generator, so a run's plan repeats."""
    return Clients([
        TxnClient(history, f"{prefix}{i}", ep, settings, plan,
                  lambda conn, mops: execute(conn, mops, settings.locking_reads), duration,
                  random.Random(settings.seed * 1000 + i))
        for i, ep in enumerate(endpoints(lab, settings))])


def final_reads(lab: Any, history: History, read: Callable[[pymysql.connections.Connection], list[list[Any]]],
                nodes: list[str] | None = None, timeout: float = 180.0) -> None:
    """Once the lab is healed: `read` (a workload's whole state as micro-ops) on every node,
    straight to the node with wsrep_sync_wait=1, one read-only "ok" transaction per node
    (process `final-<node>`). What was acknowledged and is missing here was lost. A node still
    rejoining refuses the read; it is asked again until `timeout`."""
    for node in nodes or lab.spec.node_names:
        deadline = time.monotonic() + timeout
        while True:
            start = time.time()
            try:
                conn = Endpoint.node(lab, node).connect(timeout=30)
                try:
                    db.query(conn, "SET SESSION wsrep_sync_wait = 1")
                    name = str(db.query(conn, NODE_SQL)[0][0])
                    mops = read(conn)
                finally:
                    conn.close()
                break
            except (pymysql.MySQLError, OSError) as exc:
                if time.monotonic() > deadline:
                    raise RuntimeError(f"final read on {node}: {error_text(exc)} for {timeout:.0f} s") from exc
                time.sleep(1)
        history.append(Op(f"final-{node}", "txn", None, mops, start, time.time(), "ok", name))


def reset_table(endpoint: Endpoint, table: str, columns: str, rows: str | None = None) -> None:
    """A workload's table made anew (DDL replicates to every node under TOI), with its first rows."""
    conn = endpoint.connect(timeout=30)
    try:
        for sql in (f"CREATE DATABASE IF NOT EXISTS {DATABASE}", f"DROP TABLE IF EXISTS {table}",
                    f"CREATE TABLE {table} ({columns}) ENGINE=InnoDB"):
            db.query(conn, sql)
        if rows:
            db.query(conn, f"INSERT INTO {table} VALUES {rows}")
    finally:
        conn.close()

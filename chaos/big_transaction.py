"""The oversize transaction: one bulk UPDATE of a table the scenario fills, refused beyond the
cluster's writeset limit, then streamed (Galera 4's streaming replication) so that it commits,
and measured for what it costs the other writers.

Why a bulk UPDATE of every row: it is the batch job that meets the limit in production (a data
migration, a purge); its writeset grows with the table (both row images of every row, with
binlog_row_image=FULL); and each node's row count and SUM(v) tell whether it was applied whole,
in part or not at all.

`fill`, `bulk_update` and `table_states` talk to the lab; `check_oversize` is a pure function
of what they returned, so unit tests can feed it by hand (the mitigation's mutation check).
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

import pymysql

from chaos.history import Outcome
from chaos.workloads import Endpoint, classify_statement_error, error_text
from lab import db

TABLE = "lab.big_txn"
CHUNK_ROWS = 20000
"""Rows per INSERT of the fill: each chunk is a writeset of about 2.5 MB, far below any limit."""


@dataclass(frozen=True)
class Streaming:
    """Session settings under which a transaction streams: every `size` `unit`s of it are
    replicated, certified and applied on every node as one fragment while it runs, so no
    writeset is larger than a fragment (wsrep_max_ws_size applies per fragment)."""

    unit: Literal["bytes", "rows", "statements"] = "bytes"
    size: int = 1 << 20

    def __post_init__(self) -> None:
        if self.unit not in ("bytes", "rows", "statements") or not 0 < self.size <= 2147483647:
            raise ValueError(f"streaming fragment {self.size} {self.unit}: use a positive size in bytes, rows or "
                             "statements")

    def statements(self) -> list[str]:
        return [f"SET SESSION wsrep_trx_fragment_unit = '{self.unit}'",
                f"SET SESSION wsrep_trx_fragment_size = {int(self.size)}"]

    def describe(self) -> str:
        return f"{self.size} {self.unit}"


def fill(endpoint: Endpoint, rows: int, pad: int = 100) -> None:
    """TABLE made anew with `rows` rows (v = 0, a CHAR(pad) each), in chunks (MariaDB's
    Sequence engine makes the ids)."""
    conn = endpoint.connect(timeout=10, read_timeout=120)
    try:
        db.query(conn, "CREATE DATABASE IF NOT EXISTS lab")
        db.query(conn, f"DROP TABLE IF EXISTS {TABLE}")
        db.query(conn, f"CREATE TABLE {TABLE} (id INT PRIMARY KEY, v INT NOT NULL, pad CHAR({int(pad)}) NOT NULL) "
                       "ENGINE=InnoDB")
        for low in range(1, rows + 1, CHUNK_ROWS):
            high = min(rows, low + CHUNK_ROWS - 1)
            db.query(conn, f"INSERT INTO {TABLE} (id, v, pad) SELECT seq, 0, REPEAT('x', {int(pad)}) "
                           f"FROM lab.seq_{low}_to_{high}")
    finally:
        conn.close()


@dataclass(frozen=True)
class BulkUpdate:
    """What the bulk UPDATE's client saw: its outcome (as an autocommit write's is judged), the
    error, when it ran, and with streaming, what a plain SELECT on the same session got next
    ("ok" or the error: through ProxySQL 2.7 the SET locks the session to the writer)."""

    outcome: Outcome
    error: str | None
    started: float
    ended: float
    streaming: str | None = None
    select_after: str | None = None

    @property
    def seconds(self) -> float:
        return round(self.ended - self.started, 3)

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "seconds": self.seconds}


def bulk_update(endpoint: Endpoint, streaming: Streaming | None = None, timeout: float = 180.0) -> BulkUpdate:
    """`UPDATE TABLE SET v = v + 1` (every row, one autocommit transaction) on a fresh session,
    after the streaming settings when given."""
    conn = endpoint.connect(timeout=5, read_timeout=timeout)
    select_after = None
    try:
        for sql in streaming.statements() if streaming else []:
            db.query(conn, sql)
        started = time.time()
        try:
            db.query(conn, f"UPDATE {TABLE} SET v = v + 1")
            outcome: Outcome = "ok"
            error = None
        except (pymysql.MySQLError, OSError) as exc:
            outcome, error = classify_statement_error(exc), error_text(exc)
        ended = time.time()
        if streaming is not None:
            try:
                db.query(conn, f"SELECT v FROM {TABLE} WHERE id = 1")
                select_after = "ok"
            except (pymysql.MySQLError, OSError) as exc:
                select_after = error_text(exc)
    finally:
        conn.close()
    return BulkUpdate(outcome, error, started, ended, streaming.describe() if streaming else None, select_after)


def table_states(lab: Any, timeout: float = 120.0) -> dict[str, tuple[int, int]]:
    """(rows, SUM(v)) of TABLE on every node, straight to the node with wsrep_sync_wait=1: the
    read waits until the node has applied everything committed before it, so its return also
    marks when the cluster had applied the bulk UPDATE everywhere."""
    out = {}
    for node in lab.spec.node_names:
        conn = Endpoint.node(lab, node).connect(timeout=10, read_timeout=timeout)
        try:
            db.query(conn, "SET SESSION wsrep_sync_wait = 1")
            rows, total = db.query(conn, f"SELECT COUNT(*), COALESCE(SUM(v), 0) FROM {TABLE}")[0]
            out[node] = (int(rows), int(total))
        finally:
            conn.close()
    return out


# ---- the verdict (pure) -------------------------------------------------------------------------


@dataclass(frozen=True)
class Step:
    """One bulk UPDATE as the verdict sees it: what the client got and each node's table after."""

    update: BulkUpdate
    states: Mapping[str, tuple[int, int]]


@dataclass(frozen=True)
class OversizeTransaction:
    """Verdict of `check_oversize`. `off` maps each node whose table was not what the step's
    outcome implies to its (rows, SUM(v)), per step; `problems` says what failed, in words."""

    ok: bool
    rows: int
    refused_error: str | None
    streamed: bool
    plain: bool
    healthy_after_refusal: bool
    off: dict[str, dict[str, list[int]]] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def nodes_off(states: Mapping[str, tuple[int, int]], rows: int, total: int) -> dict[str, list[int]]:
    """Nodes whose (rows, SUM(v)) is not (rows, total)."""
    return {node: list(state) for node, state in sorted(states.items()) if tuple(state) != (rows, total)}


def check_oversize(rows: int, refused: Step, streamed: Step, plain: Step,
                   healthy_after_refusal: bool) -> OversizeTransaction:
    """Did the limit hold and the mitigation work? Every row starts at v = 0 and each committed
    bulk UPDATE adds 1 to every row, so each step's expected table follows from the steps before.

    - refused (beyond the limit, no streaming): the client got an error, every node still holds
      every row at its old value (nothing half-applied), and the cluster stayed healthy;
    - streamed (the same limit, streaming on): it committed, and every node holds the new values;
    - plain (no limit, no streaming: the comparison for the other writers' figures): it
      committed, and every node holds the new values.
    A missing mitigation shows here: without streaming the second step fails like the first."""
    problems: list[str] = []
    off: dict[str, dict[str, list[int]]] = {}
    total = 0
    if refused.update.outcome == "ok":
        problems.append("the transaction beyond the writeset limit committed: the limit did not hold")
        total += rows
    for name, step in (("refused", refused), ("streamed", streamed), ("plain", plain)):
        if name != "refused":
            if step.update.outcome != "ok":
                problems.append(f"the {name} bulk UPDATE did not commit: {step.update.error or step.update.outcome}")
            else:
                total += rows
        wrong = nodes_off(step.states, rows, total)
        if wrong:
            off[name] = wrong
            what = "half-applied: a refused transaction left changes" if name == "refused" else "not applied alike"
            problems.append(f"after the {name} bulk UPDATE ({step.update.outcome}) nodes hold (rows, SUM(v)) {wrong}, "
                            f"expected ({rows}, {total}) everywhere: {what}")
    if not healthy_after_refusal:
        problems.append("the cluster was not healthy after the refused transaction")
    return OversizeTransaction(
        ok=not problems, rows=rows,
        refused_error=refused.update.error if refused.update.outcome != "ok" else None,
        streamed=streamed.update.outcome == "ok", plain=plain.update.outcome == "ok",
        healthy_after_refusal=healthy_after_refusal, off=off, problems=problems)

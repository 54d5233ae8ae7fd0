"""The oversize transaction: one bulk UPDATE of a table the scenario fills, refused beyond the
cluster's writeset limit, then streamed (Galera 4's streaming replication) so that it commits,
and measured for what it costs the other writers.

Why a bulk UPDATE of every row: it is the batch job that meets the limit in production (a data
migration, a purge); its writeset grows with the table (both row images of every row, with
binlog_row_image=FULL); and each node's row count and SUM(v) tell whether it was applied whole,
in part or not at all.

`fill`, `bulk_update`, `table_states` and `run_step` talk to the lab; `check_oversize` is a
pure function of what they returned, so unit tests can feed it by hand (the mitigation's
mutation check).
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
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
    writeset is larger than a fragment (wsrep_max_ws_size applies per fragment; wsrep_max_ws_rows
    does not: MariaDB counts the rows over the whole transaction)."""

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
    marks when the cluster had applied the bulk UPDATE everywhere. The nodes are read at once
    (a scan of the table costs seconds on a loaded two-core host)."""
    def read(node: str) -> tuple[int, int]:
        conn = Endpoint.node(lab, node).connect(timeout=10, read_timeout=timeout)
        try:
            db.query(conn, "SET SESSION wsrep_sync_wait = 1")
            rows, total = db.query(conn, f"SELECT COUNT(*), COALESCE(SUM(v), 0) FROM {TABLE}")[0]
            return int(rows), int(total)
        finally:
            conn.close()

    with ThreadPoolExecutor(len(lab.spec.node_names)) as pool:
        return dict(zip(lab.spec.node_names, pool.map(read, lab.spec.node_names), strict=True))


# ---- the verdict (pure) -------------------------------------------------------------------------

Expect = Literal["refused", "committed", "either"]


@dataclass(frozen=True)
class Step:
    """One bulk UPDATE as the verdict sees it: its name, what it must do (be refused, commit, or
    either: a finding), what the client got, each node's (rows, SUM(v)) after it, and the errors
    of earlier attempts whose session the proxy cut (`run_step`)."""

    name: str
    expect: Expect
    update: BulkUpdate
    states: Mapping[str, tuple[int, int]]
    cut: tuple[str, ...] = ()


@dataclass(frozen=True)
class OversizeTransaction:
    """Verdict of `check_oversize`: per step, "committed" or the error the client got, and
    whether the cluster applied it (every node alike); `off` maps a step to the nodes whose
    table matched neither the table before it nor after it; `problems` says what failed."""

    ok: bool
    rows: int
    outcomes: dict[str, str]
    applied: dict[str, bool]
    healthy_after_refusal: bool
    off: dict[str, dict[str, list[int]]] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def nodes_off(states: Mapping[str, tuple[int, int]], rows: int, total: int) -> dict[str, list[int]]:
    """Nodes whose (rows, SUM(v)) is not (rows, total)."""
    return {node: list(state) for node, state in sorted(states.items()) if tuple(state) != (rows, total)}


def check_oversize(rows: int, steps: Sequence[Step], healthy_after_refusal: bool) -> OversizeTransaction:
    """Did the limits hold and the mitigation work? Every row starts at v = 0 and a bulk UPDATE
    applied adds 1 to every row, so after each step every node must hold either the table before
    it (nothing applied: never half-applied) or that plus `rows` (applied), alike everywhere.

    - refused (beyond a limit, as one writeset): the server answered with an error (a session the
      proxy cut is no refusal) and nothing was applied;
    - committed (streamed under the same limit; or no limit, the other writers' comparison): the
      client got ok and every node holds the new values;
    - either (a finding, e.g. whether streaming lifts wsrep_max_ws_rows): whole or nothing.
    A missing mitigation shows here: without streaming the streamed step is refused like the
    first one. `healthy_after_refusal`: every node Synced in the full cluster after it."""
    problems: list[str] = []
    off: dict[str, dict[str, list[int]]] = {}
    outcomes: dict[str, str] = {}
    applied: dict[str, bool] = {}
    total = 0
    for step in steps:
        got = "committed" if step.update.outcome == "ok" else step.update.error or step.update.outcome
        outcomes[step.name] = got
        now = {tuple(state) for state in step.states.values()}
        applied[step.name] = now == {(rows, total + rows)}
        if not applied[step.name] and now != {(rows, total)}:
            expected = total + rows if step.update.outcome == "ok" else total
            off[step.name] = nodes_off(step.states, rows, expected)
            problems.append(f"after the {step.name} bulk UPDATE ({got}) nodes hold (rows, SUM(v)) "
                            f"{off[step.name]}, expected ({rows}, {expected}) everywhere: half-applied or diverged")
        elif step.expect == "refused" and (step.update.outcome == "ok" or applied[step.name]):
            problems.append(f"the {step.name} bulk UPDATE beyond the limit was "
                            f"{'acknowledged' if step.update.outcome == 'ok' else 'applied'}: the limit did not hold")
        elif step.expect == "refused" and was_cut(step.update):
            problems.append(f"the {step.name} bulk UPDATE's session was cut ({got}) every time: the limit was "
                            "never put to the test")
        elif step.expect == "committed" and (step.update.outcome != "ok" or not applied[step.name]):
            problems.append(f"the {step.name} bulk UPDATE did not commit: {got}")
        elif step.update.outcome == "ok" and not applied[step.name]:
            problems.append(f"the {step.name} bulk UPDATE was acknowledged and not applied")
        if applied[step.name]:
            total += rows
    if not healthy_after_refusal:
        problems.append("the cluster was not healthy after the refused transaction")
    return OversizeTransaction(ok=not problems, rows=rows, outcomes=outcomes, applied=applied,
                               healthy_after_refusal=healthy_after_refusal, off=off, problems=problems)


# ---- one step on the lab ---------------------------------------------------------------------


LOST_CONNECTION = (2006, 2013)
"""The client's session was cut (server gone, lost connection): the proxy moved the writer while
the UPDATE ran (seen here when a loaded host made the writer's health check time out)."""


def was_cut(update: BulkUpdate) -> bool:
    """Whether the client lost its session during the UPDATE (its fate then unknown)."""
    return update.outcome == "unknown" and (update.error or "").split(":")[0].strip() in map(str, LOST_CONNECTION)


def wait_finished(lab: Any, timeout: float = 120.0) -> None:
    """Until no node runs a bulk UPDATE any more: a session whose client was cut off runs its
    statement to the end (and an autocommit one commits), so its fate is known only then. The
    replicas' appliers show the statement too (binlog_annotate_row_events), so this also waits
    until they have applied it."""
    deadline = time.monotonic() + timeout

    def running(node: str) -> int:
        conn = Endpoint.node(lab, node).connect(timeout=10)
        try:
            return int(db.query(conn, "SELECT COUNT(*) FROM information_schema.PROCESSLIST "
                                      f"WHERE INFO LIKE 'UPDATE {TABLE} %'")[0][0])
        finally:
            conn.close()

    with ThreadPoolExecutor(len(lab.spec.node_names)) as pool:
        while any(pool.map(running, lab.spec.node_names)):
            if time.monotonic() > deadline:
                raise TimeoutError(f"a bulk UPDATE of {TABLE} still runs after {timeout:.0f} s")
            time.sleep(0.5)


def run_step(lab: Any, endpoint: Endpoint, name: str, expect: Expect, before: Mapping[str, tuple[int, int]],
             streaming: Streaming | None = None, attempts: int = 3) -> Step:
    """The bulk UPDATE and every node's table after it. An attempt whose session the proxy cut
    is waited out; if the tables are then as `before` (nothing applied), it runs again, as a
    client that checked would, so the step judges the limit, not the proxy's failover."""
    cut: list[str] = []
    while True:
        update = bulk_update(endpoint, streaming)
        if was_cut(update):
            wait_finished(lab)
        states = table_states(lab)
        if not was_cut(update) or states != dict(before) or len(cut) + 1 >= attempts:
            return Step(name, expect, update, states, tuple(cut))
        cut.append(update.error or update.outcome)

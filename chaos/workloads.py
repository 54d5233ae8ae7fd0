"""Clients of a chaos scenario: threads that use the lab as an application would and record
every operation they make into a `History` (chaos/history.py).

All of them are bounded: a thread stops by itself after `duration` seconds (or at `stop()`),
probes cap their in-flight attempts, and every connection has a short timeout, so a scenario
that fails half-way leaves no thread behind for long. The machine has two cores: the default
rates are modest.

- `Writer`: INSERTs unique keys through VIP:sql_port; ok on commit, fail when the statement
  surely did not run, unknown when it may have.
- `AvailabilityProbe`: a fresh SQL connection to VIP:sql_port every 50 ms (kind "connect").
- `HttpProbe`: a GET on the application every 100 ms (kind "http").
- `RoutingProbe`: which backend served a read and a write (kind "route").
- `Sampler`: a (time, value) poller of any state (VIP holder, cluster sizes, node state).
- `final_keys`: what each node holds once healed, read directly from every node.

    >>> history = History()                                        # doctest: +SKIP
    >>> with running(Writer(lab, history), AvailabilityProbe(lab, history)):
    ...     time.sleep(5)
"""

from __future__ import annotations

import json
import re
import threading
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import pymysql

from chaos.history import History, Op, Outcome
from lab import db
from lab.status import page_title

WRITES_TABLE = "lab.chaos_writes"
ROUTE_TABLE = "lab.chaos_route"
TABLES_DDL = (
    "CREATE DATABASE IF NOT EXISTS lab",
    f"CREATE TABLE IF NOT EXISTS {WRITES_TABLE} (k CHAR(36) PRIMARY KEY, node VARCHAR(16), "
    "ts TIMESTAMP(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6)) ENGINE=InnoDB",
    f"CREATE TABLE IF NOT EXISTS {ROUTE_TABLE} (k CHAR(36) PRIMARY KEY, node VARCHAR(16), "
    "ts TIMESTAMP(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6)) ENGINE=InnoDB",
)

CLIENT_ERRORS_FROM = 2000
"""MySQL error numbers from 2000 up are client-side (lost connection, timeout, can't connect);
below are errors the server returned for the statement, which it therefore rolled back."""

INDETERMINATE_SERVER_ERRORS = frozenset({1180, 1317})
"""Server errors that do not prove a rollback. 1180 (error during COMMIT): Galera reports it
when the node loses the Primary component while replicating, after the writeset may already
have been ordered, and the row can then be found on every node (seen in the isolate scenario).
1317 (query interrupted) can also strike during commit."""


# ProxySQL's own errors for a statement it never sent to a backend: 9001 "Max connect timeout
# reached while reaching hostgroup" (no usable server in the hostgroup within
# mysql-connect_timeout_server_max)
PROXY_NEVER_SENT: frozenset[int] = frozenset({9001})


def classify_statement_error(exc: BaseException) -> Outcome:
    """Outcome of an autocommit write whose statement raised, once the statement may have been sent.

    The server answering with an error means it rolled the statement back: fail (except the
    commit-phase errors in INDETERMINATE_SERVER_ERRORS). A lost
    connection or a timeout after sending leaves it open whether the commit happened: unknown.
    `InterfaceError` is raised before anything is sent (the connection was already closed): fail.
    """
    if isinstance(exc, pymysql.err.InterfaceError):
        return "fail"
    if isinstance(exc, pymysql.MySQLError) and exc.args and isinstance(exc.args[0], int):
        code = exc.args[0]
        if code in PROXY_NEVER_SENT:
            return "fail"
        return "fail" if 0 < code < CLIENT_ERRORS_FROM and code not in INDETERMINATE_SERVER_ERRORS else "unknown"
    return "unknown"


def error_text(exc: BaseException) -> str:
    if isinstance(exc, pymysql.MySQLError) and len(exc.args) >= 2:
        return f"{exc.args[0]}: {exc.args[1]}"
    return f"{type(exc).__name__}: {exc}"


@dataclass(frozen=True)
class Endpoint:
    """Where and as whom a client connects (the VIP and lab_admin, by default)."""

    host: str
    port: int
    user: str
    password: str
    database: str | None = None

    @classmethod
    def vip(cls, lab: Any, port: int | None = None) -> Endpoint:
        spec = lab.spec
        return cls(str(spec.keepalived.vip), port or spec.proxy.sql_port, "lab_admin",
                   lab.secrets["LAB_ADMIN_PASSWORD"])

    @classmethod
    def node(cls, lab: Any, node: str) -> Endpoint:
        return cls(str(lab.spec.node_address(node)), 3306, "lab_admin", lab.secrets["LAB_ADMIN_PASSWORD"])

    def connect(self, timeout: float, read_timeout: float | None = None) -> pymysql.connections.Connection:
        return db.connect(self.host, self.port, self.user, self.password, self.database, timeout,
                          read_timeout=read_timeout)


def ensure_tables(endpoint: Endpoint) -> None:
    """The workloads' tables (idempotent; DDL replicates to every node)."""
    conn = endpoint.connect(timeout=10)
    try:
        for ddl in TABLES_DDL:
            db.query(conn, ddl)
    finally:
        conn.close()


class Workload(threading.Thread):
    """A daemon thread that runs `step()` until `duration` is over or `stop()` is called."""

    def __init__(self, history: History, process: str, duration: float):
        super().__init__(name=f"chaos-{process}", daemon=True)
        self.history = history
        self.process = process
        self.duration = duration
        self._stop_event = threading.Event()
        self.error: BaseException | None = None

    @property
    def stopping(self) -> bool:
        return self._stop_event.is_set() or time.monotonic() > self._deadline

    def sleep(self, seconds: float) -> None:
        """Pacing between operations; returns early on stop."""
        if seconds > 0:
            self._stop_event.wait(seconds)

    def stop(self, timeout: float = 15.0) -> None:
        self._stop_event.set()
        if self.is_alive():
            self.join(timeout)

    def start(self) -> None:
        self._deadline = time.monotonic() + self.duration
        super().start()

    def run(self) -> None:
        try:
            self.body()
        except BaseException as exc:  # noqa: BLE001 - kept for the scenario to report
            self.error = exc
        finally:
            self.cleanup()

    def body(self) -> None:
        raise NotImplementedError

    def cleanup(self) -> None:
        """Close what the thread holds (called once when it ends)."""

    def record(self, kind: str, key: str | None, value: object, start: float, outcome: Outcome,
               node: str | None = None, error: str | None = None) -> Op:
        op = Op(self.process, kind, key, value, start, max(start, time.time()), outcome, node, error)
        self.history.append(op)
        return op


@contextmanager
def running(*workloads: Workload) -> Iterator[tuple[Workload, ...]]:
    """Start the workloads, yield, stop them (also when the body raises)."""
    started = []
    try:
        for w in workloads:
            w.start()
            started.append(w)
        yield workloads
    finally:
        for w in started:
            w._stop_event.set()
        for w in started:
            w.stop()


class Writer(Workload):
    """INSERTs unique keys through the VIP, one at a time, reconnecting after any failure.

    Each INSERT stores the node that ran it in its row and returns it (`RETURNING`), so the
    history names the serving node of every acknowledged write on any tier: through ProxySQL a
    session's statements may run on different backends, and a `SELECT @@wsrep_node_name`
    would even be routed to a reader.
    """

    def __init__(self, lab: Any, history: History, duration: float = 120.0, interval: float = 0.05,
                 timeout: float = 10.0, process: str = "writer", endpoint: Endpoint | None = None):
        super().__init__(history, process, duration)
        self.endpoint = endpoint or Endpoint.vip(lab)
        self.interval = interval
        self.timeout = timeout
        self.conn: pymysql.connections.Connection | None = None
        self.node: str | None = None
        self.seq = 0

    def _connect(self) -> None:
        self.conn = self.endpoint.connect(timeout=2.0, read_timeout=self.timeout)

    def _drop(self) -> None:
        if self.conn is not None:
            try:
                self.conn.close()
            except Exception:  # noqa: BLE001 - already broken
                pass
        self.conn, self.node = None, None

    def body(self) -> None:
        while not self.stopping:
            key = str(uuid.uuid4())
            self.seq += 1
            start = time.time()
            if self.conn is None:
                try:
                    self._connect()
                except pymysql.MySQLError as exc:
                    # nothing was sent: this write surely did not happen
                    self.record("write", key, self.seq, start, "fail", error="connect " + error_text(exc))
                    self._drop()
                    self.sleep(max(self.interval, 0.05))
                    continue
            try:
                rows = db.query(self.conn, f"INSERT INTO {WRITES_TABLE} (k, node) VALUES (%s, @@wsrep_node_name) "
                                           "RETURNING node", (key,))
                self.node = str(rows[0][0]) if rows else None
                self.record("write", key, self.seq, start, "ok", node=self.node)
            except (pymysql.MySQLError, OSError) as exc:
                # node: where the previous write ran (this one's is unknown)
                self.record("write", key, self.seq, start, classify_statement_error(exc), node=self.node,
                            error=error_text(exc))
                self._drop()
            self.sleep(self.interval - (time.time() - start))

    def cleanup(self) -> None:
        self._drop()


class _Periodic(Workload):
    """Starts an attempt every `interval` seconds in its own short-lived thread, so a slow or
    hanging attempt does not stretch the sampling period; at most `max_inflight` at a time."""

    def __init__(self, history: History, process: str, duration: float, interval: float, max_inflight: int):
        super().__init__(history, process, duration)
        self.interval = interval
        self._slots = threading.BoundedSemaphore(max_inflight)
        self._threads: list[threading.Thread] = []
        self.skipped = 0

    def attempt(self) -> None:
        raise NotImplementedError

    def _one(self) -> None:
        try:
            self.attempt()
        finally:
            self._slots.release()

    def body(self) -> None:
        next_at = time.monotonic()
        while not self.stopping:
            if self._slots.acquire(blocking=False):
                t = threading.Thread(target=self._one, daemon=True, name=f"{self.name}-attempt")
                t.start()
                self._threads.append(t)
            else:
                self.skipped += 1
            self._threads = [t for t in self._threads if t.is_alive()]
            next_at += self.interval
            self.sleep(next_at - time.monotonic())
            if time.monotonic() - next_at > self.interval:  # fell behind (CPU starved): don't burst
                next_at = time.monotonic()

    def cleanup(self) -> None:
        for t in self._threads:
            t.join(5)


class AvailabilityProbe(_Periodic):
    """A fresh SQL connection to VIP:sql_port every 50 ms, `SELECT @@wsrep_node_name` on it;
    each attempt is one "connect" op (ok, or fail with the error)."""

    def __init__(self, lab: Any, history: History, duration: float = 120.0, interval: float = 0.05,
                 timeout: float = 1.0, process: str = "avail", endpoint: Endpoint | None = None):
        super().__init__(history, process, duration, interval, max_inflight=max(4, int(3 * timeout / interval)))
        self.endpoint = endpoint or Endpoint.vip(lab)
        self.timeout = timeout

    def attempt(self) -> None:
        start = time.time()
        try:
            conn = self.endpoint.connect(timeout=self.timeout)
            try:
                node = str(db.query(conn, "SELECT @@wsrep_node_name")[0][0])
            finally:
                conn.close()
            self.record("connect", None, None, start, "ok", node=node)
        except (pymysql.MySQLError, OSError) as exc:
            self.record("connect", None, None, start, "fail", error=error_text(exc))


class HttpProbe(_Periodic):
    """GET on the application every 100 ms (timeout 2 s); ok on HTTP 200 (showing `marker`
    when given). The probe app answers JSON naming the node that served its read/write
    endpoint, kept as the op's node."""

    def __init__(self, lab: Any, history: History, duration: float = 120.0, interval: float = 0.1,
                 timeout: float = 2.0, path: str = "", process: str = "http", marker: bytes | None = None):
        super().__init__(history, process, duration, interval, max_inflight=max(4, int(2 * timeout / interval)))
        self.url = lab.probe.app_url() + path.lstrip("/")
        self.timeout = timeout
        self.marker = marker  # what a working page shows (an error page can answer 200 too)

    def attempt(self) -> None:
        start = time.time()
        try:
            with urllib.request.urlopen(self.url, timeout=self.timeout) as resp:
                body = resp.read()
                status = resp.status
            node = served_node(body)
            if status == 200 and self.marker is not None and self.marker not in body:
                self.record("http", None, status, start, "fail",
                            error=f"HTTP 200 without {self.marker.decode()}{page_gist(body)}")
                return
            self.record("http", None, status, start, "ok" if status == 200 else "fail", node=node)
        except urllib.error.HTTPError as exc:
            self.record("http", None, exc.code, start, "fail", node=served_node(exc.read() or b""),
                        error=f"HTTP {exc.code}")
        except (urllib.error.URLError, OSError, ValueError) as exc:
            self.record("http", None, None, start, "fail", error=str(getattr(exc, "reason", exc)))


def page_gist(body: bytes) -> str:
    """What an error page says, for the history: PHP's fatal error or a SQLSTATE where the page
    shows one, else its title (Chamilo answers "Database is unavailable" with HTTP 200);
    "" when the page says nothing recognisable."""
    head = body[:200000]
    text = " ".join(re.sub(rb"<(script|style)\b.*?</\1>|<[^>]+>", b" ", head, flags=re.S | re.I)
                    .decode(errors="replace").split())
    for pattern in (r"SQLSTATE\[[^\]]+\].{0,100}", r"Fatal error\s*:.{0,120}", r"Lock wait timeout.{0,60}",
                    r"Deadlock.{0,60}"):
        found = re.search(pattern, text)
        if found:
            return ": " + found.group(0).strip()
    title = page_title(head)
    return f": {title}" if title else ""


def served_node(body: bytes) -> str | None:
    """The node that served the probe app's read/write endpoint, from its JSON answer."""
    try:
        served = json.loads(body.decode()).get("served_by", {})
    except (ValueError, AttributeError):
        return None
    if not isinstance(served, dict):
        return None
    who = served.get("rw") or served.get("write")
    return str(who).split("/")[-1] if who else None


class RoutingProbe(Workload):
    """Which backend serves each statement class, every `interval` seconds, on fresh connections.

    The classes are the tier's (`ProxyTier.route_classes`): a plain SELECT on the tier's read
    port, an INSERT whose row records the node that ran it (read back with a locking read), and
    on a tier that routes by statement also `SELECT … FOR UPDATE` and a SELECT inside a
    transaction. Each answer names the node that served it (`@@wsrep_node_name`), so the
    checker judges what happened, not what the configuration says.
    """

    def __init__(self, lab: Any, history: History, duration: float = 120.0, interval: float = 0.2,
                 timeout: float = 2.0, process: str = "route"):
        super().__init__(history, process, duration)
        tier = lab.plan.tier
        self.classes = list(tier.route_classes)
        self.interval = interval
        self.timeout = timeout
        self.writer_ep = Endpoint.vip(lab, tier.write_port)
        self.reader_ep = Endpoint.vip(lab, tier.read_port)

    def _op(self, statement: str, fn: Callable[[pymysql.connections.Connection], str], endpoint: Endpoint) -> None:
        start = time.time()
        try:
            conn = endpoint.connect(timeout=self.timeout)
            try:
                node = fn(conn)
            finally:
                conn.close()
            self.record("route", None, statement, start, "ok", node=node)
        except (pymysql.MySQLError, OSError) as exc:
            self.record("route", None, statement, start, "fail", error=error_text(exc))

    @staticmethod
    def _whoami(conn: pymysql.connections.Connection, sql: str = "SELECT @@wsrep_node_name") -> str:
        return str(db.query(conn, sql)[0][0])

    @staticmethod
    def _write(conn: pymysql.connections.Connection) -> str:
        key = str(uuid.uuid4())
        db.query(conn, f"INSERT INTO {ROUTE_TABLE} (k, node) VALUES (%s, @@wsrep_node_name)", (key,))
        rows = db.query(conn, f"SELECT node FROM {ROUTE_TABLE} WHERE k = %s FOR UPDATE", (key,))
        return str(rows[0][0]) if rows else "?"

    @classmethod
    def _in_transaction(cls, conn: pymysql.connections.Connection) -> str:
        conn.begin()
        try:
            return cls._whoami(conn)
        finally:
            conn.commit()

    def statements(self) -> dict[str, tuple[Callable[[pymysql.connections.Connection], str], Endpoint]]:
        every = {
            "select": (self._whoami, self.reader_ep),
            "write": (self._write, self.writer_ep),
            "select_for_update": (lambda c: self._whoami(c, "SELECT @@wsrep_node_name FROM DUAL FOR UPDATE"),
                                  self.writer_ep),
            "select_in_transaction": (self._in_transaction, self.writer_ep),
        }
        return {name: every[name] for name in self.classes}

    def body(self) -> None:
        statements = self.statements()
        while not self.stopping:
            start = time.monotonic()
            for name, (fn, endpoint) in statements.items():
                self._op(name, fn, endpoint)
            self.sleep(self.interval - (time.monotonic() - start))


class Sampler(Workload):
    """Calls `fn` every `interval` seconds and keeps (time.time(), value) samples; an exception
    becomes the sample value "error: …" so that gaps are visible, not silent."""

    def __init__(self, fn: Callable[[], Any], interval: float = 0.2, duration: float = 300.0, name: str = "sampler"):
        super().__init__(History(), name, duration)
        self.fn = fn
        self.interval = interval
        self.samples: list[tuple[float, Any]] = []
        self.ends: list[float] = []  # when each sample's reading finished (it may take seconds)
        self._lock = threading.Lock()

    def body(self) -> None:
        while not self.stopping:
            start = time.monotonic()
            at = time.time()
            try:
                value = self.fn()
            except Exception as exc:  # noqa: BLE001 - a failed read is a sample too
                value = f"error: {exc}"
            with self._lock:
                self.samples.append((at, value))
                self.ends.append(time.time())
            self.sleep(self.interval - (time.monotonic() - start))

    def snapshot(self) -> list[tuple[float, Any]]:
        with self._lock:
            return list(self.samples)

    def within(self, start: float, end: float) -> list[Any]:
        """Values of the samples read entirely inside [start, end] (a slow reading that began
        before `end` may have seen the state after it)."""
        with self._lock:
            return [v for (at, v), done in zip(self.samples, self.ends) if at >= start and done <= end]


# ---- reading state directly from the nodes -------------------------------------------------


def node_vars(lab: Any, node: str, timeout: float = 1.0, like: str = "wsrep_%") -> dict[str, str]:
    """SHOW GLOBAL STATUS of one node, straight to the node (not through a proxy)."""
    conn = Endpoint.node(lab, node).connect(timeout=timeout)
    try:
        return db.status_vars(conn, like)
    finally:
        conn.close()


def node_summary(lab: Any, node: str, timeout: float = 1.0) -> dict[str, Any]:
    """State, cluster size/status and last committed seqno of one node; errors as state."""
    try:
        v = node_vars(lab, node, timeout)
    except (pymysql.MySQLError, OSError) as exc:
        return {"state": f"unreachable ({error_text(exc)})", "size": 0, "status": "-", "committed": -1}
    return {"state": v.get("wsrep_local_state_comment", "?"), "size": int(v.get("wsrep_cluster_size") or 0),
            "status": v.get("wsrep_cluster_status", "?"), "committed": int(v.get("wsrep_last_committed") or -1)}


def final_keys(lab: Any, table: str = WRITES_TABLE, nodes: list[str] | None = None,
               timeout: float = 30.0) -> dict[str, list[str]]:
    """Every key of `table` on each node, read directly with wsrep_sync_wait=1 (the node first
    applies everything the cluster committed before the read), for the checkers."""
    out = {}
    for node in nodes or lab.spec.node_names:
        conn = Endpoint.node(lab, node).connect(timeout=timeout)
        try:
            db.query(conn, "SET SESSION wsrep_sync_wait = 1")
            out[node] = [str(r[0]) for r in db.query(conn, f"SELECT k FROM {table}")]
        finally:
            conn.close()
    return out

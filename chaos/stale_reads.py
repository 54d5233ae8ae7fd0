"""Stale reads by `wsrep_sync_wait`: write a token on the write path, read it at once on the read path.

Why: the Chamilo HA guide warns that reads split away from the writer can miss a row another
node has not applied yet, and names `wsrep_sync_wait` as the cure. This study measures, for each
value, how many reads are stale, what the wait costs (latency, errors such as 1205) and how
many write-then-read pairs a second the path sustains, in three conditions:

- ``idle``: nothing else runs; on two cores the apply lag is tiny, so 0 is rarely stale.
- ``load``: a separate process keeps committing write batches through the VIP.
- ``churn``: the load, plus other clients sharing the proxy's connection pool the way
  applications do: short sessions, as the application's user and as the lab's, that read a
  session variable (``SELECT @@…``). A pooling proxy resets such sessions' backend connections
  before reusing them (ProxySQL: ``COM_CHANGE_USER``), which is what silently turns causal
  reads off on MariaDB (galera#613) unless `proxy.proxysql_connection_reset` is ``close``.
- ``held``: one reader's applier is stopped on purpose and deterministically:
  ``SET GLOBAL wsrep_desync=ON`` then ``FLUSH TABLES WITH READ LOCK`` in a held session. Galera
  pauses the provider on that node, appliers queue behind the global read lock, and because a
  desynced node sends no flow control the rest of the cluster keeps committing. Reads there at
  0 are certainly stale; reads with the READ bit wait ``repl.causal_read_timeout`` and fail with
  1205. Always released (UNLOCK, desync OFF) and the node checked back to Synced.
- ``backup``: the churn, and one reader held the way a backup tool holds it: ``FLUSH TABLES WITH
  READ LOCK`` alone. MariaDB then desyncs the node by itself (``Donor/Desynced``) while
  ``@@wsrep_desync`` stays OFF; whether the proxy keeps it in the read path is the tier's
  (`ProxyTier.serves_desynced_reader`): HAProxy's health check wants Synced, ProxySQL 2.7's
  Galera monitor takes a node out only for ``wsrep_desync=ON`` and serves reads from a donor
  thousands of writesets behind. Every read goes through the proxy.

Three ways to apply the value (``mode``):

- ``global``: ``SET GLOBAL`` on every node (the guide's way), read connections opened after
  it; reads through the proxy's read path, except under ``held`` where they go straight to the
  held reader (a Galera-aware proxy takes a Desynced node out of rotation, see below).
- ``session``: ``SET SESSION`` on a direct connection to the reader.
- ``proxy-session``: ``SET SESSION`` on a connection through the proxy's read path. Every read
  also returns the session value from the backend that served it, so the study proves whether
  the session setting reached that backend. HAProxy forwards TCP, so a session is pinned to one
  backend; ProxySQL multiplexes and does not pin it (sysown/proxysql#3333).

What a read is, and how the study knows where it ran and that the node waited:

- Every read is ``SELECT p.token, n.name FROM probe p JOIN node_name n …``: ``node_name`` is an
  Aria table, and Galera does not replicate Aria rows, so each node answers with its own name
  (written on every node directly when the study starts). No ``@@`` variable appears in the
  measured reads: a query naming one makes ProxySQL stop multiplexing the session and reset its
  backend connection afterwards, so the probe would change the very pool it measures.
- ``proxy-session`` reads also return the session's ``wsrep_sync_wait`` as the serving
  backend sees it (from ``information_schema.SESSION_VARIABLES``, still without ``@@``).
- Every cell records, per node, how much its ``wsrep_causal_reads`` status counter moved (and
  ``Com_select``). ``@@wsrep_sync_wait`` can read 1 on a connection that no longer does causal
  reads (after ``COM_CHANGE_USER``, galera#613); the counter can't lie, so read-your-writes is
  proven by the counter, not by the variable.

Probes run in worker processes (pymysql is pure Python and one process can't drive the
required 1,000 pairs/s on two cores), each with threads that own one write and one read
connection and a row of their own, so the pairs never contend.
"""

from __future__ import annotations

import multiprocessing
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Iterator

import pymysql

from chaos.checkers import latency_percentiles
from lab import db
from lab.grammar import duration_seconds
from lab.tiers import TIERS

VALUES: tuple[int, ...] = (0, 1, 3, 7, 15)
CONDITIONS: tuple[str, ...] = ("idle", "load", "churn", "held", "backup")
MODES: tuple[str, ...] = ("global", "session", "proxy-session")
READ_BIT = 1
DATABASE = "stale_reads"
MAX_WORKERS = 256

ERROR_LABELS: dict[int, str] = {
    1047: "WSREP not ready",
    1205: "lock wait timeout",
    1213: "deadlock",
    2003: "can't connect",
    2006: "server gone away",
    2013: "lost connection",
}
"""Short names of the MySQL errors a probe meets, so errors group by kind in the output."""

Say = Callable[[str], None]


def _quiet(_: str) -> None:
    """Default progress sink."""


# --- configuration and results (plain data, JSON-ready) ------------------------------------


@dataclass(frozen=True)
class StudyConfig:
    """What to measure. Per cell: `seconds` of probing, or fewer when `max_probes` is reached."""

    values: tuple[int, ...] = VALUES
    conditions: tuple[str, ...] = CONDITIONS
    modes: tuple[str, ...] = MODES
    seconds: float = 3.0
    max_probes: int | None = None
    workers: int = 8  # write+read connection pairs in all
    processes: int = 2  # worker processes the pairs are spread over
    load_workers: int = 4  # writer threads of the `load` and `churn` conditions
    churn_workers: int = 4  # short-session threads of the `churn` condition
    causal_read_timeout_s: float = 1.0  # repl.causal_read_timeout on the held reader
    reader: str | None = None  # the reader probed directly and held back (default: node2)

    def __post_init__(self) -> None:
        bad = [v for v in self.values if not 0 <= v <= 15]
        if bad:
            raise ValueError(f"wsrep_sync_wait values must be 0..15, got {bad}")
        for name, given, allowed in (("condition", self.conditions, CONDITIONS), ("mode", self.modes, MODES)):
            unknown = [x for x in given if x not in allowed]
            if unknown:
                raise ValueError(f"unknown {name} {unknown}; choose from {', '.join(allowed)}")
        if not 1 <= self.workers <= MAX_WORKERS:
            raise ValueError(f"workers must be 1..{MAX_WORKERS}")
        if self.processes < 1 or self.seconds <= 0 or self.causal_read_timeout_s <= 0:
            raise ValueError("processes, seconds and causal_read_timeout_s must be positive")


@dataclass
class Cell:
    """One measured cell: a wsrep_sync_wait value × condition × mode."""

    sync_wait: int
    condition: str
    mode: str
    read_via: str  # e.g. "haproxy 198.18.31.100:6034" or "direct node2 198.18.30.12:3306"
    probes: int  # reads attempted (answered + failed)
    stale: int  # answered reads that missed the token just written
    stale_pct: float | None  # of answered reads
    errors: int
    errors_by_kind: dict[str, int]
    write_errors: dict[str, int]
    latency_ms: dict[str, Any]  # p50/p95/p99/max over every read, failed ones included
    write_latency_ms: dict[str, Any]  # the same for the acknowledged writes (where a pair's time goes)
    probes_per_s: float
    seconds: float
    served_by: dict[str, int]  # reads per backend node that answered them
    effective_sync_wait: dict[str, int]  # @@session.wsrep_sync_wait seen by the serving backend
    setting_reached_backend: bool | None  # every answered read ran with the intended value
    connections: int
    connections_switched: int  # read connections answered by more than one node (not pinned)
    load_writes_per_s: float | None = None
    skipped: str | None = None
    causal_reads: dict[str, int] = field(default_factory=dict)  # wsrep_causal_reads moved, per node
    selects: dict[str, int] = field(default_factory=dict)  # Com_select moved, per node
    connections_opened: dict[str, int] = field(default_factory=dict)  # on each node during the cell

    @property
    def answered(self) -> int:
        return self.probes - self.errors

    @property
    def causal_reads_total(self) -> int:
        """Causal reads counted by the nodes that served this cell's reads (the writer's own
        counter moves with other sessions' traffic and says nothing about these reads)."""
        return sum(n for node, n in self.causal_reads.items() if node in self.served_by)

    @property
    def every_read_waited(self) -> bool | None:
        """With the READ bit set: did the serving nodes count at least one causal read per
        answered read? (A node that also takes writes counts them with the UPDATE/INSERT bits,
        so value 1 makes this exact.)"""
        if not self.sync_wait & READ_BIT or self.skipped or not self.answered:
            return None
        return self.causal_reads_total >= self.answered


@dataclass
class StudyResult:
    """The whole study, ready for JSON, the terminal table and the results file."""

    project: str
    proxy_kind: str
    reader: str
    config: dict[str, Any]
    started: float
    finished: float | None = None
    cells: list[Cell] = field(default_factory=list)
    pinning: dict[str, Any] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    versions: dict[str, str] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


# --- pure parts: error kinds, aggregation, pinning verdict ----------------------------------


def error_kind(exc: BaseException) -> str:
    """'1205 lock wait timeout', '2013 lost connection', or the exception class for others."""
    code = exc.args[0] if isinstance(exc, pymysql.MySQLError) and exc.args else None
    if isinstance(code, int):
        return f"{code} {ERROR_LABELS.get(code, 'error')}"
    return type(exc).__name__


def _merge(counters: Iterable[Mapping[str, int]]) -> dict[str, int]:
    total: Counter[str] = Counter()
    for c in counters:
        total.update(c)
    return dict(sorted(total.items()))


def aggregate(sync_wait: int, condition: str, mode: str, read_via: str,
              parts: Sequence[Mapping[str, Any]], load_writes_per_s: float | None = None,
              counters: Mapping[str, Mapping[str, int]] | None = None) -> Cell:
    """One cell from the workers' partial results (see `_run_thread` for their shape);
    `counters`: per node, how much wsrep_causal_reads and Com_select moved during the cell."""
    probes = sum(p["probes"] for p in parts)
    stale = sum(p["stale"] for p in parts)
    errors_by_kind = _merge(p["errors"] for p in parts)
    errors = sum(errors_by_kind.values())
    answered = probes - errors
    latencies = [x for p in parts for x in p["latencies_ms"]]
    seconds = max((p["elapsed_s"] for p in parts), default=0.0)
    effective = _merge(p["effective"] for p in parts)
    reached = None if not effective else set(effective) == {str(sync_wait)}
    served_by = _merge(p["served_by"] for p in parts)
    counters = counters or {}
    return Cell(
        sync_wait=sync_wait, condition=condition, mode=mode, read_via=read_via,
        probes=probes, stale=stale,
        stale_pct=round(100.0 * stale / answered, 3) if answered > 0 else None,
        errors=errors, errors_by_kind=errors_by_kind,
        write_errors=_merge(p["write_errors"] for p in parts),
        latency_ms=latency_percentiles(latencies).to_dict(),
        write_latency_ms=latency_percentiles(x for p in parts for x in p.get("write_latencies_ms", [])).to_dict(),
        probes_per_s=round(probes / seconds, 1) if seconds > 0 else 0.0,
        seconds=round(seconds, 3),
        served_by=served_by,
        effective_sync_wait=effective, setting_reached_backend=reached,
        connections=sum(p["connections"] for p in parts),
        connections_switched=sum(p["switched"] for p in parts),
        load_writes_per_s=load_writes_per_s,
        causal_reads={n: c["causal_reads"] for n, c in sorted(counters.items())},
        selects={n: c["selects"] for n, c in sorted(counters.items())},
        connections_opened={n: c.get("connections", 0) for n, c in sorted(counters.items())},
    )


def pinning_verdict(proxy_kind: str, cells: Sequence[Cell]) -> dict[str, Any]:
    """Whether a per-session wsrep_sync_wait set through the proxy reached the serving backend.

    Why: the guide sets the variable globally because ProxySQL does not pin a session to one
    backend (sysown/proxysql#3333); through HAProxy (TCP) it is pinned. What the tier is known
    to do comes from its module (`ProxyTier.pins_sessions`); the verdict rests on what every
    read reported from the backend that served it, not on belief.
    """
    tier = TIERS[proxy_kind]
    known = f"{tier.title} is known to {'pin' if tier.pins_sessions else 'not pin'} sessions ({tier.pinning_reference})"
    mine = [c for c in cells if c.mode == "proxy-session" and c.skipped is None and c.answered > 0]
    if not mine:
        return {"proxy": proxy_kind, "pinned": None, "verified_reads": 0, "expected": tier.pins_sessions,
                "statement": f"not measured (no proxy-session reads); {known}"}
    reads = sum(c.answered for c in mine)
    switched = sum(c.connections_switched for c in mine)
    connections = sum(c.connections for c in mine)
    mismatched = sum(n for c in mine for v, n in c.effective_sync_wait.items() if v != str(c.sync_wait))
    pinned = switched == 0
    reached = mismatched == 0
    nodes = sorted({n for c in mine for n in c.served_by})
    where = (f"{tier.title} kept each session on one backend ({connections} connections, each answered by one node)"
             if pinned else f"{tier.title} spread sessions over backends ({switched} of {connections} connections "
                            f"answered by more than one node)")
    value = ("the value set with SET SESSION wsrep_sync_wait reached the node serving every read"
             if reached else f"{mismatched} of {reads} reads ran on a backend whose session value differed from the "
                             "one set: set wsrep_sync_wait globally on every node instead")
    statement = f"{where}; {value} (verified on {reads} reads served by {', '.join(nodes)}; {known})"
    return {"proxy": proxy_kind, "pinned": pinned, "expected": tier.pins_sessions, "session_value_reached": reached,
            "verified_reads": reads, "connections": connections, "connections_switched": switched,
            "reads_with_other_value": mismatched, "statement": statement}


def short_via(read_via: str) -> str:
    """'haproxy 198.18.31.100:6034' -> 'haproxy:6034'; 'direct node2 198.18.30.12:3306' -> 'node2 direct'."""
    parts = read_via.split()
    if parts and parts[0] == "direct" and len(parts) > 1:
        return f"{parts[1]} direct"
    return f"{parts[0]}:{parts[-1].rsplit(':', 1)[-1]}" if parts else read_via


def cell_row(c: Cell) -> list[str]:
    """One row of the terminal table (strings), in `TABLE_HEADERS` order."""
    def f(x: Any) -> str:
        if x is None:
            return "–"
        return f"{x:.1f}" if isinstance(x, float) else str(x)
    if c.skipped:
        return [str(c.sync_wait), c.condition, c.mode, *["–"] * 10, f"skipped: {c.skipped}"]
    errs = " ".join(f"{k.split()[0]}×{n}" for k, n in c.errors_by_kind.items()) or "0"
    served = " ".join(f"{k}:{n}" for k, n in c.served_by.items()) or "–"
    lat = c.latency_ms
    waited = {True: "all", False: "NOT all", None: "–"}[c.every_read_waited]
    return [str(c.sync_wait), c.condition, c.mode, str(c.probes), str(c.stale), f(c.stale_pct), errs,
            f"{c.causal_reads_total} ({waited})", f(lat.get("p50")), f(lat.get("p95")), f(lat.get("p99")),
            f(c.probes_per_s), short_via(c.read_via), served]


TABLE_HEADERS: tuple[str, ...] = ("sync_wait", "cond", "mode", "probes", "stale", "stale%", "errors",
                                  "causal reads", "p50 ms", "p95 ms", "p99 ms", "pairs/s", "read via", "served by")


def to_results_file(result: StudyResult, spec: dict[str, Any], run_id: str) -> Any:
    """The study as a chaos `ResultsFile` (rows via `add_stale_reads`, extra figures beside them)."""
    from chaos.report import ResultsFile

    rf = ResultsFile(run_id=run_id, started=result.started, spec=spec,
                     versions=dict(result.versions), finished=result.finished)
    for c in result.cells:
        if c.skipped:
            continue
        row = rf.add_stale_reads(c.sync_wait, f"{c.mode}/{c.condition}", c.probes, c.stale, c.errors, [])
        row["latency_ms"] = dict(c.latency_ms)  # percentiles already computed from every sample
        row.update(mode=c.mode, load=c.condition, read_via=c.read_via, stale_pct=c.stale_pct,
                   errors_by_kind=c.errors_by_kind, write_errors=c.write_errors, probes_per_s=c.probes_per_s,
                   seconds=c.seconds, served_by=c.served_by, effective_sync_wait=c.effective_sync_wait,
                   setting_reached_backend=c.setting_reached_backend, load_writes_per_s=c.load_writes_per_s,
                   causal_reads=c.causal_reads, causal_reads_total=c.causal_reads_total,
                   every_read_waited=c.every_read_waited, selects=c.selects,
                   connections_opened=c.connections_opened)
    rf.scenarios.append({
        "name": "stale-reads", "outcome": "pass" if stale_read_problems(result) == [] else "fail",
        "verdicts": {"pinning": result.pinning}, "figures": {}, "faults": [], "timeline": {},
    })
    return rf


def stale_read_problems(result: StudyResult) -> list[str]:
    """What the study's own assertions find wrong: stale reads with the READ bit set, a blind probe."""
    problems = []
    for c in result.cells:
        if c.skipped:
            continue
        if c.sync_wait & READ_BIT and c.stale:
            problems.append(f"{c.stale} stale reads at wsrep_sync_wait={c.sync_wait} ({c.mode}/{c.condition})")
        if c.every_read_waited is False:
            problems.append(f"reads at wsrep_sync_wait={c.sync_wait} ({c.mode}/{c.condition}) did not all wait: "
                            f"{c.causal_reads_total} causal reads counted by the nodes for {c.answered} answered reads")
        if c.sync_wait == 0 and c.condition == "held" and c.read_via.startswith("direct") and c.answered and not c.stale:
            problems.append(f"no stale read at 0 from the held-back reader ({c.mode}): the probe is blind")
    return problems


# --- endpoints --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Endpoint:
    host: str
    port: int
    label: str


@dataclass(frozen=True)
class Paths:
    """Where writes and reads go, and who may log in; plain data so worker processes get it."""

    user: str
    password: str
    app_user: str  # the application's user: pooled connections pass between it and `user`
    app_password: str
    write: Endpoint
    proxy_read: Endpoint
    reader: Endpoint
    reader_name: str
    nodes: dict[str, str]  # name -> address

    @classmethod
    def of(cls, lab: Any, reader: str | None = None) -> Paths:
        spec = lab.spec
        vip = str(spec.keepalived.vip)
        tier = lab.plan.tier
        name = reader or spec.node_names[1]
        if name not in spec.node_names:
            raise ValueError(f"reader {name!r} is not a node of this lab ({', '.join(spec.node_names)})")
        return cls(
            user="lab_admin", password=lab.secrets["LAB_ADMIN_PASSWORD"],
            app_user="chamilo", app_password=lab.secrets["APP_PASSWORD"],
            write=Endpoint(vip, tier.write_port, f"{tier.kind} {vip}:{tier.write_port}"),
            proxy_read=Endpoint(vip, tier.read_port, f"{tier.kind} {vip}:{tier.read_port}"),
            reader=Endpoint(str(spec.node_address(name)), 3306, f"direct {name} {spec.node_address(name)}:3306"),
            reader_name=name,
            nodes={n: str(spec.node_address(n)) for n in spec.node_names},
        )

    def read_endpoint(self, mode: str, condition: str) -> Endpoint:
        if mode == "session" or (mode == "global" and condition == "held"):
            return self.reader
        return self.proxy_read



def _connect(user: str, password: str, ep: Endpoint | tuple[str, int], timeout: float = 5.0,
             database: str | None = DATABASE) -> pymysql.connections.Connection:
    host, port = (ep.host, ep.port) if isinstance(ep, Endpoint) else ep
    return db.connect(host, port, user, password, database, timeout)


# --- worker processes ------------------------------------------------------------------------


def _fresh_part() -> dict[str, Any]:
    return {"probes": 0, "stale": 0, "errors": Counter(), "write_errors": Counter(), "latencies_ms": [], "write_latencies_ms": [],
            "served_by": Counter(), "effective": Counter(), "connections": 0, "switched": 0, "elapsed_s": 0.0}


def _run_thread(task: Mapping[str, Any], worker: int, out: dict[str, Any]) -> None:
    """One write+read connection pair probing its own row until the deadline or its probe budget.

    Partial result (`out`): probes, stale, errors/write_errors by kind, every read's latency in
    ms, reads per serving node and per @@session.wsrep_sync_wait the backend reported, how many
    read connections were used and how many of them were answered by more than one node.
    """
    user, password = task["user"], task["password"]
    write_ep, read_ep = tuple(task["write"]), tuple(task["read"])
    session_value = task["session_value"]
    read_timeout = task["read_timeout"]
    budget = task["max_probes"]
    update = "UPDATE probe SET token=%d WHERE worker=" + str(worker)
    value = (", (SELECT VARIABLE_VALUE FROM information_schema.SESSION_VARIABLES "
             "WHERE VARIABLE_NAME = 'WSREP_SYNC_WAIT')") if task["with_value"] else ", NULL"
    select = f"SELECT p.token, n.name{value} FROM probe p JOIN node_name n WHERE p.worker={worker}"
    token = time.time_ns()
    wconn = rconn = None
    nodes_seen: set[str] = set()

    def open_read() -> pymysql.connections.Connection:
        nonlocal nodes_seen
        if nodes_seen:
            out["switched"] += len(nodes_seen) > 1
        nodes_seen = set()
        conn = _connect(user, password, read_ep, timeout=read_timeout)
        if session_value is not None:
            conn.query(f"SET SESSION wsrep_sync_wait={int(session_value)}")
        out["connections"] += 1
        return conn

    now = time.time()
    if task["start_at"] > now:
        time.sleep(task["start_at"] - now)
    began = time.perf_counter()
    deadline = began + task["seconds"]
    lat, wlat = out["latencies_ms"], out["write_latencies_ms"]
    while time.perf_counter() < deadline and (budget is None or out["probes"] < budget):
        token += 1
        try:
            if wconn is None:
                wconn = _connect(user, password, write_ep, timeout=read_timeout)
            w0 = time.perf_counter()
            wconn.query(update % token)
            wlat.append((time.perf_counter() - w0) * 1000.0)
        except pymysql.MySQLError as exc:
            out["write_errors"][error_kind(exc)] += 1
            _close(wconn)
            wconn = None
            time.sleep(0.05)
            continue
        t0 = time.perf_counter()
        try:
            if rconn is None:
                rconn = open_read()
                t0 = time.perf_counter()  # the read, not the connect, is what is timed
            cur = rconn.cursor()
            cur.execute(select)
            row = cur.fetchone()
            lat.append((time.perf_counter() - t0) * 1000.0)
            out["probes"] += 1
            got, node, effective = row if row else (None, None, None)
            if node is not None:
                out["served_by"][node] += 1
                nodes_seen.add(node)
            if effective is not None:
                out["effective"][str(effective)] += 1
            if got != token:
                out["stale"] += 1
        except pymysql.MySQLError as exc:
            lat.append((time.perf_counter() - t0) * 1000.0)
            out["probes"] += 1
            out["errors"][error_kind(exc)] += 1
            if not isinstance(exc, pymysql.err.OperationalError) or exc.args[0] != 1205:
                _close(rconn)  # a lost connection is replaced; a 1205 leaves it usable
                rconn = None
    out["elapsed_s"] = time.perf_counter() - began
    if nodes_seen:
        out["switched"] += len(nodes_seen) > 1
    _close(wconn)
    _close(rconn)


def _close(conn: pymysql.connections.Connection | None) -> None:
    if conn is not None:
        try:
            conn.close()
        except Exception:  # noqa: BLE001 - closing a broken connection may fail; nothing to do
            pass


def _worker_process(task: dict[str, Any]) -> list[dict[str, Any]]:
    """Entry point of a worker process: one thread per connection pair it was given."""
    parts = {w: _fresh_part() for w in task["workers"]}
    threads = [threading.Thread(target=_run_thread, args=(task, w, parts[w]), daemon=True) for w in task["workers"]]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return [{k: dict(v) if isinstance(v, Counter) else v for k, v in p.items()} for p in parts.values()]


def _load_process(task: dict[str, Any], stop: Any, counter: Any) -> None:
    """The `load` condition: threads committing 20-row batches through the write path until told
    to stop; with `churn` threads, also short sessions through the read path that read a session
    variable, alternating between the application's user and the lab's (see `churn`)."""
    def run(i: int) -> None:
        conn = None
        pad = "x" * 200
        values = ",".join([f"({i},'{pad}')"] * 20)
        while not stop.is_set():
            try:
                if conn is None:
                    conn = _connect(task["user"], task["password"], tuple(task["write"]))
                conn.query(f"INSERT INTO load_rows (writer, pad) VALUES {values}")
                with counter.get_lock():
                    counter.value += 1
            except pymysql.MySQLError:
                _close(conn)
                conn = None
                time.sleep(0.05)
        _close(conn)

    def churn(i: int) -> None:
        users = [(task["user"], task["password"]), (task["app_user"], task["app_password"])]
        n = 0
        while not stop.is_set():
            user, password = users[(i + n) % 2]
            n += 1
            conn = None
            try:
                conn = _connect(user, password, tuple(task["read"]), database=None)
                conn.query("SELECT @@wsrep_node_name")
            except pymysql.MySQLError:
                time.sleep(0.05)
            finally:
                _close(conn)
    threads = [threading.Thread(target=run, args=(i,), daemon=True) for i in range(task["threads"])]
    threads += [threading.Thread(target=churn, args=(i,), daemon=True) for i in range(task["churn"])]
    for t in threads:
        t.start()
    for t in threads:
        t.join()


class Prober:
    """A pool of worker processes that run cells; made once per study; forked, so callers need no __main__ guard."""

    def __init__(self, paths: Paths, workers: int, processes: int):
        self.paths = paths
        self.workers = workers
        self.processes = max(1, min(processes, workers))
        self._ctx = multiprocessing.get_context("fork")
        self._pool = ProcessPoolExecutor(max_workers=self.processes, mp_context=self._ctx)

    def close(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)

    def __enter__(self) -> Prober:
        return self

    def __exit__(self, *_: Any) -> None:
        self.close()

    def run(self, read: Endpoint, session_value: int | None, seconds: float, max_probes: int | None,
            read_timeout: float, with_value: bool = False) -> list[dict[str, Any]]:
        """Probe for `seconds` with every pair; returns the pairs' partial results."""
        ids = list(range(self.workers))
        per_pair = None if max_probes is None else max(1, -(-max_probes // self.workers))
        base = {"user": self.paths.user, "password": self.paths.password,
                "write": (self.paths.write.host, self.paths.write.port), "read": (read.host, read.port),
                "session_value": session_value, "seconds": seconds, "max_probes": per_pair,
                "read_timeout": read_timeout, "with_value": with_value, "start_at": time.time() + 0.3}
        futures = [self._pool.submit(_worker_process, {**base, "workers": ids[i::self.processes]})
                   for i in range(self.processes)]
        return [part for f in futures for part in f.result(timeout=seconds + 120)]


# --- the lab side: schema, global values, the held-back reader, load -------------------------


def ensure_schema(paths: Paths) -> None:
    """The probe table (one row per connection pair) and the load table, through the write path."""
    conn = _connect(paths.user, paths.password, paths.write, database=None)
    try:
        conn.query(f"CREATE DATABASE IF NOT EXISTS {DATABASE}")
        conn.query(f"CREATE TABLE IF NOT EXISTS {DATABASE}.probe (worker INT PRIMARY KEY, token BIGINT NOT NULL) ENGINE=InnoDB")
        conn.query(f"CREATE TABLE IF NOT EXISTS {DATABASE}.load_rows (id BIGINT AUTO_INCREMENT PRIMARY KEY, "
                   "writer INT NOT NULL, pad VARCHAR(255) NOT NULL) ENGINE=InnoDB")
        rows = ",".join(f"({i},0)" for i in range(MAX_WORKERS))
        conn.query(f"INSERT IGNORE INTO {DATABASE}.probe (worker, token) VALUES {rows}")
        # Aria: Galera replicates the table, not its rows, so each node keeps its own name
        conn.query(f"CREATE TABLE IF NOT EXISTS {DATABASE}.node_name (name VARCHAR(64) NOT NULL) ENGINE=Aria")
    finally:
        conn.close()
    for node in paths.nodes:  # (re)written at every study: a state transfer copies the donor's
        admin = _admin(paths, node)
        try:
            admin.query(f"DELETE FROM {DATABASE}.node_name")
            admin.query(f"INSERT INTO {DATABASE}.node_name (name) VALUES ('{node}')")
        finally:
            _close(admin)


def _admin(paths: Paths, node: str, timeout: float = 5.0) -> pymysql.connections.Connection:
    """A management session on one node that never waits for causality itself (the study sets
    wsrep_sync_wait globally, and a held-back node would make its own reads time out)."""
    conn = _connect(paths.user, paths.password, (paths.nodes[node], 3306), timeout=timeout, database=None)
    conn.query("SET SESSION wsrep_sync_wait=0")
    return conn


def _scalar(conn: pymysql.connections.Connection, sql: str) -> Any:
    with conn.cursor() as cur:
        cur.execute(sql)
        row = cur.fetchone()
    return row[-1] if row else None


def set_global_sync_wait(paths: Paths, value: int) -> None:
    """SET GLOBAL wsrep_sync_wait on every node (the guide's way); new sessions inherit it."""
    for node in paths.nodes:
        conn = _admin(paths, node)
        try:
            conn.query(f"SET GLOBAL wsrep_sync_wait={int(value)}")
        finally:
            conn.close()


@contextmanager
def global_sync_wait_restored(paths: Paths) -> Iterator[dict[str, int]]:
    """Remember each node's global wsrep_sync_wait and put it back afterwards, whatever happens."""
    saved = {}
    for node in paths.nodes:
        conn = _admin(paths, node)
        try:
            saved[node] = int(_scalar(conn, "SELECT @@global.wsrep_sync_wait"))
        finally:
            conn.close()
    try:
        yield saved
    finally:
        for node, value in saved.items():
            try:
                conn = _admin(paths, node)
                conn.query(f"SET GLOBAL wsrep_sync_wait={value}")
                conn.close()
            except pymysql.MySQLError:
                pass  # a node that is down keeps its configured value on restart anyway


def provider_option(conn: pymysql.connections.Connection, name: str) -> str | None:
    """One option out of wsrep_provider_options ('a = 1; b = PT30S; …')."""
    text = str(_scalar(conn, "SELECT @@global.wsrep_provider_options") or "")
    for item in text.split(";"):
        key, _, value = item.partition("=")
        if key.strip() == name:
            return value.strip()
    return None


def provider_seconds(conn: pymysql.connections.Connection, name: str) -> float | None:
    """A Galera duration option in seconds, as wsrep_provider_options shows it: an ISO 8601
    period (`PT30S`), or, once set through its system variable on MariaDB 11.x, `30.000000`."""
    value = provider_option(conn, name)
    if value is None:
        return None
    return duration_seconds(value) if value.startswith("PT") else float(value)


def set_provider_seconds(conn: pymysql.connections.Connection, name: str, seconds: float) -> None:
    """Set a Galera duration option at run time.

    Why two ways: MariaDB 11.x (11.8 here) loads the provider as the `wsrep_provider` plugin, whose
    options are system variables (`repl.causal_read_timeout` is `wsrep_provider_repl_causal_read_timeout`,
    in seconds), and refuses `SET GLOBAL wsrep_provider_options` while it is loaded (error 1210);
    10.11 has only wsrep_provider_options."""
    variable = "wsrep_provider_" + name.replace(".", "_")
    if _scalar(conn, "SELECT COUNT(*) FROM information_schema.GLOBAL_VARIABLES "
                     f"WHERE VARIABLE_NAME = '{variable.upper()}'"):
        conn.query(f"SET GLOBAL {variable} = {seconds:g}")
    else:
        conn.query(f"SET GLOBAL wsrep_provider_options='{name}=PT{seconds:g}S'")


def node_state(paths: Paths, node: str) -> dict[str, str]:
    conn = _admin(paths, node, timeout=3)
    try:
        with conn.cursor() as cur:
            cur.execute("SHOW GLOBAL STATUS WHERE Variable_name IN "
                        "('wsrep_local_state_comment','wsrep_local_recv_queue','wsrep_cluster_status','wsrep_desync_count')")
            return {k: str(v) for k, v in cur.fetchall()}
    finally:
        conn.close()


def renew_proxy_pool(paths: Paths, proxy_hosts: Sequence[str]) -> int:
    """Close every backend connection the proxies hold (the monitor's aside); returns how many.

    Why: a session takes the global wsrep_sync_wait when it is opened. A pooling proxy keeps
    backend connections opened before a `SET GLOBAL`, so without this the study would measure
    the old value through them. (The guide sets the value in my.cnf, before any connection.)
    The proxy replaces a closed connection when it next needs one."""
    hosts = ",".join("'" + h.replace("'", "") + "'" for h in proxy_hosts)
    killed = 0
    for node in paths.nodes:
        conn = _admin(paths, node)
        try:
            with conn.cursor() as cur:
                cur.execute("SELECT ID FROM information_schema.PROCESSLIST WHERE "
                            f"SUBSTRING_INDEX(HOST, ':', 1) IN ({hosts}) AND USER NOT IN ('monitor', 'system user') "
                            "AND ID <> CONNECTION_ID()")
                ids = [row[0] for row in cur.fetchall()]
            for thread_id in ids:
                try:
                    conn.query(f"KILL CONNECTION {int(thread_id)}")
                    killed += 1
                except pymysql.MySQLError:
                    pass  # ended meanwhile
        finally:
            _close(conn)
    return killed


def read_counters(paths: Paths) -> dict[str, dict[str, int]]:
    """Per node: wsrep_causal_reads, Com_select and Connections (connections opened to it), on a
    session that itself does no causal wait
    (a node held back under FTWRL would otherwise make this read wait and fail)."""
    out: dict[str, dict[str, int]] = {}
    for node in paths.nodes:
        try:
            conn = _admin(paths, node, timeout=3)
        except pymysql.MySQLError:
            continue
        try:
            with conn.cursor() as cur:
                cur.execute("SHOW GLOBAL STATUS WHERE Variable_name IN "
                            "('wsrep_causal_reads','Com_select','Connections')")
                values = {k.lower(): int(v) for k, v in cur.fetchall()}
            out[node] = {"causal_reads": values.get("wsrep_causal_reads", 0), "selects": values.get("com_select", 0),
                         "connections": values.get("connections", 0)}
        except pymysql.MySQLError:
            pass
        finally:
            _close(conn)
    return out


def counter_delta(before: Mapping[str, Mapping[str, int]], after: Mapping[str, Mapping[str, int]]) -> dict[str, dict[str, int]]:
    """How far each counter moved on each node read both times."""
    return {n: {k: after[n][k] - before[n][k] for k in after[n]} for n in after if n in before}


@contextmanager
def held_reader(paths: Paths, node: str, causal_read_timeout_s: float, say: Say = _quiet,
                resync_timeout: float = 120.0, desync: bool = True) -> Iterator[dict[str, Any]]:
    """Hold back `node`'s applier: desync + FLUSH TABLES WITH READ LOCK in a session kept open
    (`desync=False`: the lock alone, as a backup tool takes it; MariaDB desyncs the node itself).

    The rest of the cluster keeps committing (a desynced node sends no flow control); the node's
    receive queue grows and its data stays where it was. `repl.causal_read_timeout` is set short
    on it, so reads with the READ bit fail fast (1205) instead of waiting the default 30 s.
    Always released, desync always switched off and the old timeout restored, and the node
    waited on until Synced with an empty queue (LabError-free: raises RuntimeError if not).
    """
    admin = _admin(paths, node)
    old_timeout = provider_seconds(admin, "repl.causal_read_timeout") or 30.0
    info: dict[str, Any] = {"node": node, "causal_read_timeout_was": f"PT{old_timeout:g}S"}
    hold = None
    try:
        set_provider_seconds(admin, "repl.causal_read_timeout", causal_read_timeout_s)
        hold = _admin(paths, node, timeout=30)
        if desync:
            hold.query("SET GLOBAL wsrep_desync=ON")
        hold.query("FLUSH TABLES WITH READ LOCK")
        info["state_while_held"] = node_state(paths, node).get("wsrep_local_state_comment")
        say(f"held back {node}: {'desync ON + ' if desync else ''}FLUSH TABLES WITH READ LOCK "
            f"({info['state_while_held']}), repl.causal_read_timeout PT{causal_read_timeout_s:g}S")
        yield info
    finally:
        released_at = time.monotonic()
        if hold is not None:
            try:
                hold.query("UNLOCK TABLES")
            except pymysql.MySQLError:
                pass  # closing the session below releases the lock as well
            _close(hold)
        _close(admin)
        admin = _admin(paths, node)  # fresh: the old one may have died with the hold
        try:
            admin.query("SET GLOBAL wsrep_desync=OFF")
            set_provider_seconds(admin, "repl.causal_read_timeout", old_timeout)
        finally:
            _close(admin)
        state: dict[str, str] = {}
        while time.monotonic() - released_at < resync_timeout:
            try:
                state = node_state(paths, node)
            except pymysql.MySQLError:
                state = {}
            if state.get("wsrep_local_state_comment") == "Synced" and state.get("wsrep_local_recv_queue") == "0":
                break
            time.sleep(0.2)
        else:
            raise RuntimeError(f"{node} did not return to Synced within {resync_timeout:.0f} s after release: {state}")
        info["resync_s"] = round(time.monotonic() - released_at, 2)
        say(f"released {node}: Synced again after {info['resync_s']} s")


@contextmanager
def write_load(paths: Paths, threads: int, churn: int = 0) -> Iterator[Callable[[], float]]:
    """Concurrent write load through the write path (and `churn` short-session threads), in its
    own process; yields a rate meter of committed batches."""
    ctx = multiprocessing.get_context("fork")
    stop, counter = ctx.Event(), ctx.Value("q", 0)
    proc = ctx.Process(target=_load_process, daemon=True, args=(
        {"user": paths.user, "password": paths.password, "app_user": paths.app_user,
         "app_password": paths.app_password, "write": (paths.write.host, paths.write.port),
         "read": (paths.proxy_read.host, paths.proxy_read.port), "threads": threads, "churn": churn},
        stop, counter))
    proc.start()
    mark = [time.monotonic(), 0]

    def rate() -> float:
        """Batches committed per second since the previous call."""
        now, value = time.monotonic(), counter.value
        r = (value - mark[1]) / (now - mark[0]) if now > mark[0] else 0.0
        mark[0], mark[1] = now, value
        return round(r, 1)
    try:
        time.sleep(1.0)  # let it reach speed
        rate()
        yield rate
    finally:
        stop.set()
        proc.join(timeout=15)
        if proc.is_alive():
            proc.kill()
        try:
            conn = _connect(paths.user, paths.password, paths.write)
            conn.query("TRUNCATE TABLE load_rows")
            conn.close()
        except pymysql.MySQLError:
            pass


def _wait_proxy_backend(lab: Any, node: str, up: bool, timeout: float = 30.0) -> bool:
    """Wait until every proxy shows `node` as a reader UP (or nowhere UP as a reader); False on timeout."""
    tier = lab.plan.tier
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            states = [any(b.status == "UP" for b in tier.backends(p, lab.secrets) if b.role == "reader" and b.name == node)
                      for p in lab.spec.proxy_names]
        except (OSError, pymysql.MySQLError):
            states = []
        if states and all(s == up for s in states):
            return True
        time.sleep(0.3)
    return False


def versions(paths: Paths) -> dict[str, str]:
    conn = _admin(paths, next(iter(paths.nodes)))
    try:
        return {"mariadb": str(_scalar(conn, "SELECT @@version")),
                "galera": str(_scalar(conn, "SHOW GLOBAL STATUS LIKE 'wsrep_provider_version'"))}
    finally:
        conn.close()


# --- the study ---------------------------------------------------------------------------------


def run_study(lab: Any, config: StudyConfig = StudyConfig(), say: Say = _quiet) -> StudyResult:
    """Measure every value × condition × mode of `config` against a running lab.

    Leaves the lab as found: global wsrep_sync_wait restored on every node, the held reader
    released and Synced, the load stopped and its rows removed.
    """
    paths = Paths.of(lab, config.reader)
    result = StudyResult(project=lab.spec.project, proxy_kind=lab.plan.proxy_kind, reader=paths.reader_name,
                         config=asdict(config), started=time.time())
    ensure_schema(paths)
    result.versions = versions(paths)
    read_timeout = max(5.0, config.causal_read_timeout_s * 3)
    tier = lab.plan.tier
    proxy_hosts = [str(lab.spec.proxy_backend_address(p)) for p in lab.spec.proxy_names]
    with Prober(paths, config.workers, config.processes) as prober, global_sync_wait_restored(paths) as saved:
        result.notes.append(f"global wsrep_sync_wait before the study: {saved}")
        applied: int | None = None  # the global value set on every node by the study so far
        for condition in config.conditions:
            with _condition(lab, paths, condition, config, result, say) as load_rate:
                for mode in config.modes:
                    for value in config.values:
                        read = paths.read_endpoint(mode, condition)
                        wanted = value if mode == "global" else 0
                        if wanted != applied:  # a connection to every node per change, not per cell
                            set_global_sync_wait(paths, wanted)
                            applied = wanted
                        if mode == "global" and tier.pools_connections and read == paths.proxy_read:
                            renew_proxy_pool(paths, proxy_hosts)
                            prober.run(read, None, 1.0, None, read_timeout)  # the pool refills
                        session_value = None if mode == "global" else value
                        before = read_counters(paths)
                        parts = prober.run(read, session_value, config.seconds, config.max_probes, read_timeout,
                                           with_value=mode == "proxy-session")
                        cell = aggregate(value, condition, mode, read.label, parts,
                                         load_rate() if load_rate else None,
                                         counters=counter_delta(before, read_counters(paths)))
                        result.cells.append(cell)
                        say(f"{mode:13} {condition:4} wsrep_sync_wait={value:<2} probes {cell.probes:6} "
                            f"stale {cell.stale:5} errors {cell.errors:4} p99 {cell.latency_ms['p99']} ms "
                            f"{cell.probes_per_s:7.1f}/s causal {cell.causal_reads_total}")
    result.pinning = pinning_verdict(lab.plan.proxy_kind, result.cells)
    result.finished = time.time()
    return result


@contextmanager
def _condition(lab: Any, paths: Paths, condition: str, config: StudyConfig, result: StudyResult,
               say: Say) -> Iterator[Callable[[], float] | None]:
    """Set up one condition around its cells, and undo it afterwards."""
    if condition == "idle":
        yield None
    elif condition in ("load", "churn"):
        churn = config.churn_workers if condition == "churn" else 0
        with write_load(paths, config.load_workers, churn) as rate:
            say(f"write load: {config.load_workers} threads of 20-row batches through {paths.write.label}"
                + (f"; {churn} threads of short sessions reading @@wsrep_node_name through "
                   f"{paths.proxy_read.label} as {paths.user} and {paths.app_user}" if churn else ""))
            yield rate
    elif condition == "held":
        with held_reader(paths, paths.reader_name, config.causal_read_timeout_s, say) as info:
            if "proxy-session" in config.modes or "global" in config.modes:
                out = _wait_proxy_backend(lab, paths.reader_name, up=False, timeout=15)
                info["proxy_took_out"] = out
                result.notes.append(
                    f"held: {lab.plan.tier.title} {'took' if out else 'did NOT take'} {paths.reader_name} "
                    f"(wsrep_desync=ON) out of its read path; global-mode reads go straight to "
                    f"{paths.reader_name} to measure the held-back node itself")
            yield None
        _after_hold(lab, paths, result, info)
    else:  # backup
        with write_load(paths, config.load_workers, config.churn_workers) as rate, \
                held_reader(paths, paths.reader_name, config.causal_read_timeout_s, say, desync=False) as info:
            out = _wait_proxy_backend(lab, paths.reader_name, up=False, timeout=5)
            info["proxy_took_out"] = out
            result.notes.append(
                f"backup: {paths.reader_name} under FLUSH TABLES WITH READ LOCK alone "
                f"({info.get('state_while_held')}); {lab.plan.tier.title} "
                f"{'took it out of' if out else 'KEPT it in'} its read path, so proxy reads "
                f"{'avoid' if out else 'reach'} a node falling behind")
            yield rate
        _after_hold(lab, paths, result, info)


def _after_hold(lab: Any, paths: Paths, result: StudyResult, info: dict[str, Any]) -> None:
    """Notes after a hold: how long the node took to resync, whether the proxies took it back."""
    result.notes.append(f"held reader resynced in {info.get('resync_s')} s after release")
    if not _wait_proxy_backend(lab, paths.reader_name, up=True, timeout=30):
        result.notes.append(f"{paths.reader_name} not back UP in the proxy within 30 s")


# --- throughput and timing for `make bench` ----------------------------------------------------


def throughput_bench(lab: Any, seconds: float = 10.0, workers: int = 16, processes: int = 4) -> dict[str, Any]:
    """Write-then-read pairs per second through the VIP at wsrep_sync_wait=0 (writer and reader listeners)."""
    paths = Paths.of(lab)
    ensure_schema(paths)
    with Prober(paths, workers, processes) as prober:
        prober.run(paths.proxy_read, 0, 1.0, None, 5.0)  # warm connections' code paths and caches
        parts = prober.run(paths.proxy_read, 0, seconds, None, 5.0)
    cell = aggregate(0, "idle", "proxy-session", paths.proxy_read.label, parts)
    return {"pairs_per_s": cell.probes_per_s, "probes": cell.probes, "stale": cell.stale, "errors": cell.errors,
            "latency_ms": cell.latency_ms, "write_latency_ms": cell.write_latency_ms, "seconds": cell.seconds, "workers": workers, "processes": processes,
            "write": paths.write.label, "read": paths.proxy_read.label, "served_by": cell.served_by}


def full_study_time(lab: Any, config: StudyConfig = StudyConfig(), say: Say = _quiet) -> dict[str, Any]:
    """Wall time of a full default study (what a user waits for `galera-lab stale-reads`)."""
    t0 = time.monotonic()
    result = run_study(lab, config, say)
    at_one = [{"cell": f"{c.mode}/{c.condition}", "stale": c.stale, "answered": c.answered,
               "causal_reads": c.causal_reads_total, "p50_ms": c.latency_ms.get("p50"),
               "connections_opened": sum(c.connections_opened.values())}
              for c in result.cells if c.sync_wait == 1]
    return {"seconds": round(time.monotonic() - t0, 1), "cells": len(result.cells),
            "probes": sum(c.probes for c in result.cells), "config": asdict(config), "stale_at_1": at_one,
            "pinning": result.pinning, "problems": stale_read_problems(result)}


def save(result: StudyResult, lab: Any, plot: bool = True) -> Path:
    """Write `<stack>/results/<run-id>/results.json` (a ResultsFile) and, with plot, report.md + PNG."""
    from chaos.report import render_markdown

    run_id = "stale-reads-" + datetime.fromtimestamp(result.started, UTC).strftime("%Y%m%d-%H%M%S")
    folder = Path(lab.stack) / "results" / run_id
    rf = to_results_file(result, lab.spec.model_dump(mode="json"), run_id)
    rf.scenarios[0]["verdicts"]["study"] = {"notes": result.notes, "proxy_kind": result.proxy_kind,
                                            "reader": result.reader, "config": result.config}
    path = rf.save(folder / "results.json")
    if plot:
        render_markdown(rf, folder)
    return path

"""What the state-transfer and full-disk scenarios write, read and judge.

- Writing on purpose: `churn` makes a node's gap (the writesets it misses while out) a given
  number of bytes while the table stays a few MB (a few rows of 1 MiB, updated again and
  again); `fill` inserts rows until a condition holds (a node's disk is full).
- Reading: the bytes each node has cached (`cached_bytes`), a node's configured first donor,
  which donor a joiner got and whether a donor fell back to SST (from the logs).
- Judging (pure, unit-tested with the mutation that removes the mitigation): `gcache_needed`
  (write rate × outage) and `check_gcache`.

Why the churn ends with small transactions: Galera frees cached writesets only when the
cluster's commit cut moves, and each node reports its last committed seqno only every 128
certified transactions (or 1024 keys, or 128 MB: `index_purge_required` in Galera's
certification.hpp). A gap of a few huge transactions stays cached in overflow pages, far beyond
gcache.size, and an IST still serves it (seen here: 84 MB in 42 writesets, IST from a 64 MB gcache).
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

import pymysql

from chaos.node_faults import DATADIR, exec_output
from chaos.workloads import Endpoint, node_vars
from lab import db

MIB = 1 << 20
GAP_TABLE = "lab.chaos_gap"
FILL_TABLE = "lab.chaos_fill"
GAP_ROWS = 4
COMMIT_CUT_TRX = 128
"""Transactions after which every node has reported its last committed seqno (see above)."""

HEADROOM = 1.25
"""gcache.size to set per byte of gap: the ring buffer's per-writeset headers and the safety gap
Galera keeps before it offers an IST (1/128 of the cached range, gcs_group.cpp
group_find_ist_donor) need room beyond the writesets themselves."""


# ---- pure -------------------------------------------------------------------------------------


def size_bytes(text: str) -> int:
    """A Galera/MariaDB size ("64M", "1G", "512K", "1048576") in bytes (binary multiples)."""
    found = re.fullmatch(r"\s*(\d+)\s*([KMGTkmgt]?)\s*", text)
    if found is None:
        raise ValueError(f"not a size: {text!r}")
    return int(found.group(1)) << (10 * " KMGT".index(found.group(2).upper() or " "))


def gcache_needed(bytes_per_s: float, outage_s: float, headroom: float = HEADROOM) -> int:
    """The gcache.size that keeps a rejoin after an outage of `outage_s` an IST at a write rate of
    `bytes_per_s` (replicated + received bytes a node caches a second), rounded up to a MiB."""
    if bytes_per_s < 0 or outage_s < 0:
        raise ValueError(f"rate and outage must be ≥ 0, got {bytes_per_s}, {outage_s}")
    return math.ceil(bytes_per_s * outage_s * headroom / MIB) * MIB


def selected_donor(joiner_log: str) -> str | None:
    """The donor Galera chose for the joiner's latest request, from the joiner's log
    ("… requested state transfer from 'node2,'. Selected 0.0 (node2)(SYNCED) as donor.")."""
    found = re.findall(r"requested state transfer from '[^']*'\. Selected \S+ \(([^)]+)\)", joiner_log)
    return found[-1] if found else None


def ist_fallback(donor_log: str) -> str | None:
    """The donor's line saying it could not serve an IST from its gcache, or None."""
    found = re.findall(r"IST first seqno \d+ not found from cache, falling back to SST", donor_log)
    return found[-1] if found else None


LOG_TIME = re.compile(r"^(?:\d{4}-\d{2}-\d{2}\s+|\d{6}\s+)(\d{1,2}):(\d{2}):(\d{2})\s")
"""The time of day a MariaDB log line starts with ("2026-12-02  7:19:20 …", or "261202  7:19:21 …" in
a crash report)."""


def log_span(text: str, first: str, then: str) -> float | None:
    """Seconds from the first line matching `first` to the first later line matching `then`, by
    the lines' own time stamps (whole seconds; a span across midnight counts on); None if either
    is missing."""
    start: int | None = None
    for line in text.splitlines():
        stamp = LOG_TIME.match(line)
        if stamp is None:
            continue
        at = int(stamp.group(1)) * 3600 + int(stamp.group(2)) * 60 + int(stamp.group(3))
        if start is None:
            if re.search(first, line):
                start = at
        elif re.search(then, line):
            return float((at - start) % 86400)
    return None


@dataclass(frozen=True)
class Rejoin:
    """One outage of a node and how it came back."""

    gap_bytes: int  # bytes the other nodes cached while it was out (replicated + received)
    outage_s: float  # from its stop to its start
    transfer: str  # IST | SST | none, from its log (chaos.scenario.state_transfer_in_log); failed
    synced_s: float  # from its start to Synced in the full cluster (or to its giving up)
    donor: str | None = None
    fallback: str | None = None  # the donor's "falling back to SST" line
    left_seqno: int = -1  # the node's last committed seqno when it stopped
    cached_from: int = -1  # the lowest seqno any other node's gcache held when it asked (IST iff left + 1 ≥ it)
    error: str | None = None  # why its state transfer failed (its log), when it did
    datadir_bytes: int = 0  # its datadir once back (about what an SST copied)

    @property
    def sent_bytes(self) -> int:
        """What its state transfer sent, about: the whole datadir for an SST, the gap for an IST."""
        return self.datadir_bytes if self.transfer == "SST" else self.gap_bytes

    @property
    def rate(self) -> float:
        """Bytes a second the cluster wrote while the node was out."""
        return self.gap_bytes / self.outage_s if self.outage_s > 0 else 0.0

    @property
    def needed_bytes(self) -> int:
        return gcache_needed(self.rate, self.outage_s)

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "gap_mb": round(self.gap_bytes / MIB, 1), "rate_mb_s": round(self.rate / MIB, 2),
                "gcache_needed_mb": self.needed_bytes // MIB}


@dataclass(frozen=True)
class GcacheVerdict:
    """`check_gcache`: ok, what is wrong, and the gcache.size the long outage needed."""

    ok: bool
    problems: list[str] = field(default_factory=list)
    gcache_bytes: int = 0
    needed_bytes: int = 0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def check_gcache(gcache_bytes: int, within: Rejoin, beyond: Rejoin) -> GcacheVerdict:
    """Judge two outages of one node against the configured gcache.size: `within` (a short one,
    its gap a few MB) must rejoin by IST, which needs a gcache that holds it (the mitigation);
    `beyond` (its gap past the gcache) must rejoin by SST, the failure mode itself.

    A gcache smaller than the short outage's gap (the mitigation removed) fails the first check."""
    problems = []
    mb = lambda n: f"{n / MIB:.1f} MB"  # noqa: E731 - local shorthand for the messages
    if within.gap_bytes > gcache_bytes:
        problems.append(f"the short outage's gap ({mb(within.gap_bytes)}) is larger than gcache.size "
                        f"({mb(gcache_bytes)}): the lab's gcache can't hold even a short outage")
    if within.transfer != "IST":
        problems.append(f"a gap of {mb(within.gap_bytes)} against gcache.size {mb(gcache_bytes)} rejoined by "
                        f"{within.transfer}, expected IST ({explain(within)})")
    if beyond.gap_bytes <= gcache_bytes:
        problems.append(f"the long outage's gap ({mb(beyond.gap_bytes)}) did not exceed gcache.size "
                        f"({mb(gcache_bytes)}): the scenario wrote too little")
    elif beyond.transfer != "SST":
        problems.append(f"a gap of {mb(beyond.gap_bytes)} beyond gcache.size {mb(gcache_bytes)} rejoined by "
                        f"{beyond.transfer}, expected SST ({explain(beyond)})")
    return GcacheVerdict(not problems, problems, gcache_bytes, beyond.needed_bytes)


def longest_span(samples: list[tuple[float, Any]], predicate: Callable[[Any], bool]) -> float:
    """The longest time (s) a sampled state satisfied `predicate`: from the first sample of a run
    to the first sample after it that does not (to the last sample if it never ends)."""
    longest, start = 0.0, None
    for at, value in sorted(samples, key=lambda sample: sample[0]):
        if predicate(value):
            start = at if start is None else start
        elif start is not None:
            longest, start = max(longest, at - start), None
    if start is not None and samples:
        longest = max(longest, max(at for at, _ in samples) - start)
    return longest


def explain(rejoin: Rejoin) -> str:
    """Why a rejoin went as it did, in the seqnos Galera compares."""
    held = (f"it left at seqno {rejoin.left_seqno}, the others' gcache held seqnos from {rejoin.cached_from}"
            if rejoin.left_seqno >= 0 and rejoin.cached_from >= 0 else "seqnos not read")
    return held + (f"; {rejoin.error}" if rejoin.error else "")


# ---- on a lab ----------------------------------------------------------------------------------


def cached_bytes(lab: Any, node: str) -> int:
    """What a node has put into its gcache so far: its own writesets and those it received."""
    v = node_vars(lab, node, timeout=5)
    return int(v.get("wsrep_replicated_bytes") or 0) + int(v.get("wsrep_received_bytes") or 0)


def readers_up(lab: Any) -> list[str]:
    """The nodes the VIP holder would send a plain read to now (its UP readers), [] when none:
    what decides whether reads through the VIP have somewhere to go."""
    for proxy in lab.spec.proxy_names:
        status = lab.probe.proxy(proxy)
        if status.holds_vip:
            return sorted({b["name"] for b in status.backends if b["role"] == "reader" and b["status"] == "UP"})
    return []


def cached_from(lab: Any, nodes: list[str]) -> int:
    """The lowest seqno the nodes' gcaches hold (`wsrep_local_cached_downto`): a joiner that left
    before it can't get an IST from any of them."""
    return min(int(node_vars(lab, n, timeout=5).get("wsrep_local_cached_downto") or -1) for n in nodes)


def datadir_bytes(lab: Any, node: str) -> int:
    """What an SST of `node` copies, about: its datadir without the gcache files (each node has
    its own), read with du in its container."""
    c = lab.docker.containers.get(lab.spec.container(node))
    return int(exec_output(c, ["du", "-sb", "--exclude=galera.cache", "--exclude=gcache.page.*", DATADIR]).split()[0])


def configured_donors(lab: Any, node: str) -> list[str]:
    """The node's `wsrep_sst_donor` list as it runs (names; the trailing comma's "any" dropped)."""
    with Endpoint.node(lab, node).connect(timeout=5) as conn:
        text = str(db.query(conn, "SELECT @@global.wsrep_sst_donor")[0][0] or "")
    return [n.strip() for n in text.split(",") if n.strip()]


def pick_joiner(lab: Any, writer: str) -> tuple[str, str]:
    """A node to wipe and the donor it will ask first, neither of them the writer: the writer as
    donor (or joiner) would double the scenario as a writer failure."""
    for node in reversed(lab.spec.node_names):
        if node == writer:
            continue
        donors = [d for d in configured_donors(lab, node) if d != node]
        if donors and donors[0] != writer:
            return node, donors[0]
    raise AssertionError(f"no node besides the writer {writer} asks another non-writer first for its state")


class Bulk:
    """The scenarios' bulk writer: one connection through the VIP, opened again after it is lost
    (the writer may move while a node rejoins) and the statement sent again: its rows are filler
    that no checker reads, so a statement run twice changes nothing that is judged."""

    def __init__(self, endpoint: Endpoint):
        self.endpoint = endpoint
        self.conn: pymysql.connections.Connection | None = None

    def query(self, sql: str) -> None:
        for attempt in (1, 2):
            try:
                if self.conn is None:
                    self.conn = self.endpoint.connect(timeout=10, read_timeout=120)
                db.query(self.conn, sql)
                return
            except (pymysql.err.OperationalError, pymysql.err.InterfaceError):
                self.close()
                if attempt == 2:
                    raise

    def close(self) -> None:
        if self.conn is not None:
            try:
                self.conn.close()
            except pymysql.MySQLError:
                pass
            self.conn = None


TICK_ROW = GAP_ROWS + 1


def prepare_gap_table(bulk: Bulk) -> None:
    """The churned table, made anew (the scenario owns it): rows 1..GAP_ROWS take 1 MiB values,
    row TICK_ROW the small ticks."""
    bulk.query(f"DROP TABLE IF EXISTS {GAP_TABLE}")
    bulk.query(f"CREATE TABLE {GAP_TABLE} (id INT PRIMARY KEY, pad LONGBLOB) ENGINE=InnoDB")
    bulk.query(f"INSERT INTO {GAP_TABLE} (id, pad) VALUES " + ", ".join(f"({i}, '')" for i in range(1, TICK_ROW + 1)))


def churn(bulk: Bulk, gap_bytes: int, row_bytes: int = MIB, ticks: int = 2 * COMMIT_CUT_TRX) -> int:
    """Write about `gap_bytes` of writesets (each UPDATE of a `row_bytes` value carries its before
    and after images) on GAP_ROWS rows, then `ticks` one-row transactions so that the commit cut
    moves; returns the transactions made. The values are made by the server: nothing big crosses
    the client's connection, and the writeset holds no query text as large as the row."""
    updates = max(1, math.ceil(gap_bytes / (2 * row_bytes)))
    repeat = row_bytes // 64  # SHA2(…, 256) is 64 hex characters
    for i in range(updates):
        bulk.query(f"UPDATE {GAP_TABLE} SET pad = REPEAT(SHA2(RAND(), 256), {repeat}) WHERE id = {i % GAP_ROWS + 1}")
    for i in range(ticks):
        bulk.query(f"UPDATE {GAP_TABLE} SET pad = '{i}' WHERE id = {TICK_ROW}")
    return updates + ticks


def fill(bulk: Bulk, done: Callable[[], bool], max_bytes: int, row_bytes: int = 256 << 10) -> int:
    """Insert rows of `row_bytes` into FILL_TABLE until `done()` or `max_bytes` written; returns
    the bytes written. What the application got meanwhile is the writer's history; this client
    only pushes data."""
    bulk.query(f"CREATE TABLE IF NOT EXISTS {FILL_TABLE} (id INT AUTO_INCREMENT PRIMARY KEY, pad LONGBLOB) "
               "ENGINE=InnoDB")
    written = 0
    while written < max_bytes and not done():
        bulk.query(f"INSERT INTO {FILL_TABLE} (pad) VALUES (REPEAT(SHA2(RAND(), 256), {row_bytes // 64}))")
        written += row_bytes
    return written


def drop_tables(bulk: Bulk) -> None:
    """The scenarios' bulk tables go at the end: later state transfers stay small."""
    for table in (GAP_TABLE, FILL_TABLE):
        bulk.query(f"DROP TABLE IF EXISTS {table}")

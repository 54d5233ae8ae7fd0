"""Checkers: pure functions from recorded histories (and final table contents) to verdicts.

None of them talks to Docker or a database, so unit tests feed them hand-made histories. Each
verdict is a frozen dataclass with `ok` (where a pass/fail makes sense), the figures behind
it, and `to_dict()` for the JSON report.
"""

from __future__ import annotations

from bisect import bisect_right
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass
from typing import Any

from chaos.history import History, Op

# "select" must reach a reader; every other class (writes, locking reads, reads inside a
# transaction) the single writer
ROUTE_CLASSES: frozenset[str] = frozenset({"write", "select", "select_for_update", "select_in_transaction"})


class _Verdict:
    """Shared `to_dict` so every verdict serialises the same way."""

    def to_dict(self) -> dict[str, Any]:
        """Plain dict (tuples become lists) for the JSON report."""
        return asdict(self)  # type: ignore[call-overload]


# --- acknowledged writes -------------------------------------------------------------------


@dataclass(frozen=True)
class AcknowledgedWrites(_Verdict):
    """Verdict of `check_acknowledged_writes`.

    `lost` maps each acknowledged key that is missing somewhere to the nodes missing it.
    `failed_present` lists keys whose write failed definitely yet are in a table: the client
    was told "no" about a write that happened, which is an anomaly too.
    """

    ok: bool
    attempted: int
    acknowledged: int
    failed: int
    unknown: int
    unknown_present: int
    unknown_absent: int
    lost: dict[str, list[str]]
    failed_present: list[str]


def check_acknowledged_writes(
    history: History, final_keys_by_node: dict[str, set[str]]
) -> AcknowledgedWrites:
    """Did every write the database acknowledged survive, on every node?

    Why: an acknowledged write that is missing after the faults is the one loss a client can
    never detect itself (Jepsen found such losses in Galera). Counts are per write op; keys are
    expected to be unique per write, as the writers generate them.

    - lost: keys of `ok` writes absent from at least one node's final table, with those nodes.
    - unknown_present / unknown_absent: `unknown` writes found on at least one node / on none.
      An indeterminate write may legitimately have landed or not, so it is never lost.
    - failed_present: keys of `fail` writes found on some node (fail means "did not happen").
    """
    if not final_keys_by_node:
        raise ValueError("final_keys_by_node is empty: no node's table to check the writes against")
    writes = history.ops("write")
    by_outcome = Counter(op.outcome for op in writes)
    everywhere = set.intersection(*map(set, final_keys_by_node.values()))
    anywhere = set.union(*map(set, final_keys_by_node.values()))
    lost = {
        op.key: sorted(node for node, keys in final_keys_by_node.items() if op.key not in keys)
        for op in writes
        if op.outcome == "ok" and op.key not in everywhere
    }
    unknown_keys = [op.key for op in writes if op.outcome == "unknown"]
    unknown_present = sum(1 for key in unknown_keys if key in anywhere)
    failed_present = sorted(
        {op.key for op in writes if op.outcome == "fail" and op.key in anywhere}
    )
    return AcknowledgedWrites(
        ok=not lost and not failed_present,
        attempted=len(writes),
        acknowledged=by_outcome["ok"],
        failed=by_outcome["fail"],
        unknown=by_outcome["unknown"],
        unknown_present=unknown_present,
        unknown_absent=len(unknown_keys) - unknown_present,
        lost=dict(sorted(lost.items())),
        failed_present=failed_present,
    )


# --- table contents ------------------------------------------------------------------------


@dataclass(frozen=True)
class NoDuplicates(_Verdict):
    """Verdict of `check_no_duplicates`: per node, each duplicated key and how often it occurs."""

    ok: bool
    duplicates: dict[str, dict[str, int]]


def check_no_duplicates(rows_by_node: dict[str, list[str]]) -> NoDuplicates:
    """Does any node hold the same key more than once?

    Why: a retried write whose first attempt did commit (an `unknown` outcome retried) shows up
    as a duplicate row; the writers' table has no unique constraint on the key so that this is
    visible. Nodes without duplicates are left out of `duplicates`.
    """
    duplicates = {}
    for node, rows in sorted(rows_by_node.items()):
        repeated = {key: n for key, n in sorted(Counter(rows).items()) if n > 1}
        if repeated:
            duplicates[node] = repeated
    return NoDuplicates(ok=not duplicates, duplicates=duplicates)


@dataclass(frozen=True)
class Convergence(_Verdict):
    """Verdict of `check_convergence`: per node, the keys it lacks and the keys only it has."""

    ok: bool
    nodes: int
    distinct_keys: int
    missing_by_node: dict[str, list[str]]
    extra_by_node: dict[str, list[str]]


def check_convergence(rows_by_node: dict[str, list[str]]) -> Convergence:
    """After healing, do all nodes hold the same set of keys?

    Why: Galera promises every node the same data once it is Synced; a node that diverged
    (e.g. a partition minority that kept accepting writes) breaks that silently.
    - missing_by_node: keys some other node has and this one lacks.
    - extra_by_node: keys only this node has (the likely divergent side).
    Only nodes with a difference appear. Duplicates are ignored here (see check_no_duplicates).
    """
    sets = {node: set(rows) for node, rows in rows_by_node.items()}
    union = set().union(*sets.values())
    missing: dict[str, list[str]] = {}
    extra: dict[str, list[str]] = {}
    for node, keys in sorted(sets.items()):
        if union - keys:
            missing[node] = sorted(union - keys)
        others = set().union(*(other for name, other in sets.items() if name != node))
        if len(sets) > 1 and keys - others:
            extra[node] = sorted(keys - others)
    return Convergence(
        ok=not missing,
        nodes=len(sets),
        distinct_keys=len(union),
        missing_by_node=missing,
        extra_by_node=extra,
    )


# --- downtime ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Window(_Verdict):
    """One run of consecutive failed probes; `open` when the history ended inside it."""

    start: float
    end: float
    failures: int
    open: bool

    @property
    def duration_ms(self) -> float:
        """Length of the window in milliseconds."""
        return (self.end - self.start) * 1000.0


@dataclass(frozen=True)
class Downtime(_Verdict):
    """Verdict of `downtime`; ok means probes ran and the service was up at their end."""

    ok: bool
    probes: int
    failures: int
    count: int
    longest_ms: float
    total_ms: float
    first_failure: float | None
    recovered_at: float | None
    windows: tuple[Window, ...]


def downtime(
    ops: Iterable[Op], window_start: float | None = None, window_end: float | None = None
) -> Downtime:
    """Client-visible downtime: the windows in which consecutive probes failed.

    Why: the availability probe (a fresh SQL connection to the VIP every <= 50 ms) and the
    HTTP probe see what an application sees; the longest failing window is the downtime a user
    would notice. Any outcome other than `ok` counts as a failure (a probe that timed out got
    no service either). Only ops starting inside [window_start, window_end] are considered.

    A window starts at the start of its first failed op and ends at the start of the next ok
    op. A window still open when the ops run out ends at the last op's end and is flagged
    `open`. `recovered_at` is the end of the last window if that one closed, else None.
    `ok` is False when nothing was probed (no evidence) or a window is still open.
    """
    probes = sorted(
        (
            op
            for op in ops
            if (window_start is None or op.start >= window_start)
            and (window_end is None or op.start <= window_end)
        ),
        key=lambda op: op.start,
    )
    windows = _failure_windows(probes)
    durations = [w.duration_ms for w in windows]
    last_open = bool(windows) and windows[-1].open
    return Downtime(
        ok=bool(probes) and not last_open,
        probes=len(probes),
        failures=sum(w.failures for w in windows),
        count=len(windows),
        longest_ms=max(durations, default=0.0),
        total_ms=sum(durations),
        first_failure=windows[0].start if windows else None,
        recovered_at=windows[-1].end if windows and not last_open else None,
        windows=tuple(windows),
    )


def _failure_windows(probes: Sequence[Op]) -> list[Window]:
    """Group start-ordered probes into runs of failures bounded by ok probes."""
    windows: list[Window] = []
    start: float | None = None
    failures = 0
    for op in probes:
        if op.outcome != "ok":
            start = op.start if start is None else start
            failures += 1
        elif start is not None:
            windows.append(Window(start=start, end=op.start, failures=failures, open=False))
            start, failures = None, 0
    if start is not None:
        end = max(op.end for op in probes)
        windows.append(Window(start=start, end=end, failures=failures, open=True))
    return windows


# --- time to an event ----------------------------------------------------------------------


def time_to_event(
    samples: Iterable[tuple[float, object]], since: float, predicate: Callable[[object], bool]
) -> float | None:
    """Seconds from `since` to the first sample at or after it whose value satisfies predicate.

    Why: eviction (wsrep_cluster_size drops), rejoin (the node is Synced again) and VIP
    failover (the VIP holder changes) are all "how long after the fault did the state change",
    sampled by a poller as (time, value) pairs. Samples before `since` are ignored; None means
    the event was never observed.
    """
    for at, value in sorted(samples, key=lambda sample: sample[0]):
        if at >= since and predicate(value):
            return at - since
    return None


# --- routing -------------------------------------------------------------------------------


@dataclass(frozen=True)
class RoutingViolation(_Verdict):
    """A routed statement served by a backend it should not have reached."""

    process: str
    statement: str
    node: str
    start: float
    expected: list[str]


@dataclass(frozen=True)
class Routing(_Verdict):
    """Verdict of `check_routing`: counts per statement class per node, and the violations."""

    ok: bool
    tier: str
    served: int
    unserved: int
    counts: dict[str, dict[str, int]]
    violations: tuple[RoutingViolation, ...]


def check_routing(
    ops: Iterable[Op],
    tier: str,
    writer: str | None,
    readers: set[str],
    writer_changes: Sequence[tuple[float, str]] | None = None,
) -> Routing:
    """Did the proxy tier send each statement class to the right backend?

    Why: the read/write split is the proxy's job (ProxySQL query rules, HAProxy listeners);
    a write on a reader, or a SELECT ... FOR UPDATE off the writer, causes certification
    conflicts or stale locks that only show under load.

    Judges `route` ops that succeeded and name the serving `node` (others count as
    `unserved`). `value` is the statement class: "select" must be served by one of `readers`,
    every other class ("write", "select_for_update", "select_in_transaction") by the writer. For HAProxy, "select" means "sent through the
    reader listener", so `readers` is that listener's backends.

    The writer may change during a fault: `writer_changes` lists (time, new writer) and
    `writer` is the writer before the first change (None: there was none, so any served write
    is a violation). A statement is accepted if it was served
    by any writer in office during its [start, end], since the switch can fall inside it.
    """
    changes = sorted(writer_changes or [], key=lambda change: change[0])
    counts: dict[str, Counter[str]] = {}
    violations: list[RoutingViolation] = []
    served = unserved = 0
    for op in sorted((op for op in ops if op.kind == "route"), key=lambda op: op.start):
        if op.value not in ROUTE_CLASSES:
            raise ValueError(f"route op with unknown statement class {op.value!r}")
        if op.outcome != "ok" or op.node is None:
            unserved += 1
            continue
        served += 1
        counts.setdefault(str(op.value), Counter())[op.node] += 1
        allowed = (
            readers if op.value == "select" else _writers_during(writer, changes, op.start, op.end)
        )
        if op.node not in allowed:
            violations.append(
                RoutingViolation(op.process, str(op.value), op.node, op.start, sorted(allowed))
            )
    return Routing(
        ok=not violations,
        tier=tier,
        served=served,
        unserved=unserved,
        counts={cls: dict(sorted(c.items())) for cls, c in sorted(counts.items())},
        violations=tuple(violations),
    )


def _writers_during(
    writer: str | None, changes: Sequence[tuple[float, str]], start: float, end: float
) -> set[str]:
    """Writers in office at some moment of [start, end], given time-sorted changes."""
    times = [at for at, _ in changes]
    first = bisect_right(times, start)
    in_office = changes[first - 1][1] if first else writer
    during = {name for at, name in changes[first:] if at <= end}
    return ({in_office} if in_office is not None else set()) | during


# --- latency -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Percentiles(_Verdict):
    """Latency summary in milliseconds; all None when there were no samples."""

    count: int
    p50: float | None
    p95: float | None
    p99: float | None
    max: float | None


def latency_percentiles(values_ms: Iterable[float]) -> Percentiles:
    """p50/p95/p99/max of latencies by the nearest-rank method.

    Why: read latency per wsrep_sync_wait value is half of the stale-read trade-off. Nearest
    rank (the value at 1-based rank ceil(p/100 * n) of the sorted samples) always returns an
    observed latency, never an interpolation, so a p99 can be traced to a real probe.
    """
    ordered = sorted(values_ms)
    if not ordered:
        return Percentiles(count=0, p50=None, p95=None, p99=None, max=None)

    def rank(p: int) -> float:
        # ceil(p * n / 100) in integers, so no float rounding can shift a rank
        return ordered[max(1, -(-p * len(ordered) // 100)) - 1]

    return Percentiles(
        count=len(ordered), p50=rank(50), p95=rank(95), p99=rank(99), max=ordered[-1]
    )


# --- writes during a window ----------------------------------------------------------------


@dataclass(frozen=True)
class WriteImpact(_Verdict):
    """Verdict of `write_impact`: what the writer got while something else ran."""

    seconds: float
    acknowledged: int
    failed: int
    per_s: float
    p50_ms: float | None
    p99_ms: float | None
    max_ms: float | None


def write_impact(ops: Iterable[Op], start: float, end: float) -> WriteImpact:
    """Acknowledged writes per second and their latency (nearest-rank p50/p99, max), of the
    `write` ops that started in [start, end].

    Why: a big transaction or a conflict storm costs the other writers of the cluster latency
    and throughput, not errors; comparing this window with and without a mitigation shows what
    the mitigation buys. A write that started in the window is counted whole, however long it
    waited past the window's end."""
    if end <= start:
        raise ValueError(f"empty window [{start}, {end}]")
    inside = [op for op in ops if op.kind == "write" and start <= op.start <= end]
    acked = [(op.end - op.start) * 1000.0 for op in inside if op.outcome == "ok"]
    pct = latency_percentiles(acked)
    return WriteImpact(
        seconds=round(end - start, 3),
        acknowledged=len(acked),
        failed=len(inside) - len(acked),
        per_s=round(len(acked) / (end - start), 2),
        p50_ms=None if pct.p50 is None else round(pct.p50, 1),
        p99_ms=None if pct.p99 is None else round(pct.p99, 1),
        max_ms=None if pct.max is None else round(pct.max, 1),
    )

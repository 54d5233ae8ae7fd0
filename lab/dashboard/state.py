"""What the dashboard shows, as plain JSON-ready data: pure functions of a status and a history.

Why pure: the page is only as right as these numbers, so they are computed here from the same
`LabStatus` (lab/status.py) and `History` (chaos/history.py) the CLI and the chaos suite use,
and unit tests feed them by hand without Docker. The service (service.py) only collects the
inputs; the browser only draws the output.
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterable, Sequence
from typing import Any

from chaos import availability
from chaos.faults import readers_of, writer_of
from chaos.history import History, Op
from lab.status import LabStatus

WINDOW_S = 120.0
"""How much of the past the charts show (and the server keeps): two minutes is enough to see a
failover and its recovery, and keeps memory flat however long the dashboard runs."""

BUCKET_S = 1.0


class BoundedHistory(History):
    """A `History` that forgets ops which ended more than `window_s` ago.

    Why: chaos/workloads.py clients append forever; a dashboard runs for hours. Pruning on
    append (every `prune_every` ops) keeps the cost amortised and the memory bounded.
    """

    def __init__(self, window_s: float = WINDOW_S, prune_every: int = 200, clock: Any = time.time) -> None:
        super().__init__()
        self.window_s = window_s
        self.prune_every = prune_every
        self.clock = clock
        self._since_prune = 0

    def append(self, op: Op) -> None:
        super().append(op)
        self._since_prune += 1
        if self._since_prune >= self.prune_every:
            self._since_prune = 0
            self.prune()

    def prune(self) -> int:
        """Drop ops that ended before the window; returns how many were dropped."""
        cutoff = self.clock() - self.window_s
        with self._lock:
            before = len(self._ops)
            self._ops = [op for op in self._ops if op.end >= cutoff]
            return before - len(self._ops)


# ---- topology ---------------------------------------------------------------------------------


def node_role(name: str, ready: bool, writer: str | None, readers: Sequence[str]) -> str:
    """writer / reader / standby (Synced but serving nothing) / down, for colour and label."""
    if name == writer:
        return "writer"
    if name in readers:
        return "reader"
    return "standby" if ready else "down"


def topology(status: LabStatus) -> dict[str, Any]:
    """The drawing's data: nodes (state, seqno, size, role), proxies (backends, hostgroups,
    VIP), the VIP and the app. The writer is the proxies' view (`chaos.faults.writer_of`), the
    same rule the fault buttons resolve "writer" with."""
    writer = writer_of(status)
    readers = readers_of(status)
    nodes = [{
        "name": n.name, "container": n.container, "state": n.state, "size": n.cluster_size,
        "cluster_status": n.cluster_status, "ready": n.ready, "seqno": n.last_committed,
        "role": node_role(n.name, n.ready, writer, readers),
    } for n in status.galera]
    proxies = []
    for p in status.proxies:
        details = p.details or {}
        proxies.append({
            "name": p.name, "kind": p.kind, "container": p.container, "holds_vip": p.holds_vip,
            "ready": p.ready, "backends": [dict(b) for b in p.backends],
            "hostgroups": details.get("hostgroups") or {}, "cluster": details.get("cluster") or {},
            "error": details.get("error"),
        })
    v, a = status.vip, status.app
    return {
        "project": status.project,
        "writer": writer,
        "readers": readers,
        "nodes": nodes,
        "proxies": proxies,
        "vip": {"address": v.address, "port": v.port, "holder": v.holder, "sql_ok": v.sql_ok,
                "served_by": v.served_by, "error": v.error},
        "app": {"kind": a.kind, "url": a.url, "ok": a.ok, "http_status": a.http_status, "error": a.error},
        "healthy": status.healthy,
    }


def transitions(prev: dict[str, Any] | None, cur: dict[str, Any], at: float) -> list[dict[str, Any]]:
    """Failover events between two topologies: a new writer, the VIP moving, a node leaving or
    coming back to Synced. The first topology (prev None) yields nothing: no change seen yet."""
    if prev is None:
        return []
    events = []
    if prev.get("writer") != cur.get("writer"):
        events.append({"at": at, "kind": "writer", "text": f"writer {prev.get('writer') or 'none'} → {cur.get('writer') or 'none'}"})
    if prev["vip"].get("holder") != cur["vip"].get("holder"):
        events.append({"at": at, "kind": "vip",
                       "text": f"VIP {prev['vip'].get('holder') or 'nowhere'} → {cur['vip'].get('holder') or 'nowhere'}"})
    before = {n["name"]: n for n in prev.get("nodes", [])}
    for n in cur.get("nodes", []):
        old = before.get(n["name"])
        if old is not None and old["ready"] != n["ready"]:
            what = "Synced again" if n["ready"] else f"left ({n['state']})"
            events.append({"at": at, "kind": "node", "text": f"{n['name']} {what}"})
    return events


# ---- charts -----------------------------------------------------------------------------------


def bucket_edges(now: float, window_s: float = WINDOW_S, bucket_s: float = BUCKET_S) -> list[float]:
    """Start times of the chart's buckets, oldest first, aligned to whole bucket widths."""
    last = math.floor(now / bucket_s) * bucket_s
    n = int(window_s / bucket_s)
    return [last - (n - 1 - i) * bucket_s for i in range(n)]


def stale_rate(ops: Iterable[Op], edges: Sequence[float], bucket_s: float = BUCKET_S) -> list[float | None]:
    """Share of answered reads that returned an older token than the one just written, per
    bucket (reads that failed are availability's business, not staleness)."""
    if not edges:
        return []
    first, n = edges[0], len(edges)
    stale = [0] * n
    answered = [0] * n
    for op in ops:
        if op.outcome != "ok" or not isinstance(op.value, dict):
            continue
        i = int(math.floor((op.end - first) / bucket_s))
        if 0 <= i < n:
            answered[i] += 1
            stale[i] += bool(op.value.get("stale"))
    return [round(s / a, 4) if a else None for s, a in zip(stale, answered)]


def last_served(ops: Sequence[Op]) -> str | None:
    """The node that served the most recent acknowledged op (what clients saw, not the proxy's view)."""
    for op in reversed(ops):
        if op.outcome == "ok" and op.node:
            return op.node
    return None


def series(history: History, now: float, window_s: float = WINDOW_S, bucket_s: float = BUCKET_S) -> dict[str, Any]:
    """The charts' data: bucket times, write and read availability (chaos/availability.py's
    rule: a prompt success is a success wherever the bucket edges fall, a stall is unavailable
    for all of its span), stale-read rate."""
    edges = bucket_edges(now, window_s, bucket_s)
    writes = history.ops("write")
    return {
        "t": edges,
        "bucket_s": bucket_s,
        "write_availability": availability.per_bucket(writes, edges, bucket_s),
        "read_availability": availability.per_bucket(history.ops("connect"), edges, bucket_s),
        "stale_rate": stale_rate(history.ops("read"), edges, bucket_s),
        "writes_served_by": last_served(writes),
    }


def snapshot(topo: dict[str, Any] | None, history: History, events: Sequence[dict[str, Any]],
             faults: Sequence[dict[str, Any]], now: float, error: str | None = None,
             window_s: float = WINDOW_S) -> dict[str, Any]:
    """Everything one server-sent event carries: the page redraws from it alone."""
    return {
        "at": now,
        "window_s": window_s,
        "topology": topo,
        "series": series(history, now, window_s),
        "events": list(events),  # the page marks those inside the window and lists them all
        "faults": list(faults),
        "error": error,
    }

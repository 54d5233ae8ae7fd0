"""The dependency graph between committed transactions, and why each edge is there.

An edge T1 -> T2 says "in any order of these transactions that explains what the clients saw, T1
comes before T2". A cycle therefore means that no such order exists, and which kinds of edges
the cycle needs tell which isolation levels it breaks (chaos/consistency/cycles.py).

Edge kinds (bit flags, since one pair can be related several ways):
- ww: T1's append to k directly precedes T2's in k's version order (adjacent committed
  versions suffice: the rest follows by transitivity);
- wr: T2 read a list of k whose last element T1 appended: T2 saw T1's write;
- rw (anti-dependency): T1 read k up to v and T2 appended the next element after v (or T1 read
  [] and T2 appended the first element): T1 did not see T2's write, so T1 came first;
- realtime: T1 ended before T2 started (by the clients' clocks) and T1 is `ok` (an unknown
  transaction may commit any time later, so it orders nothing after it);
- process: T1 and T2 ran on the same client, T1 first (again only from an `ok` T1).

Real-time edges are built as Elle does, from a frontier of completed transactions not yet
followed by another completed one: each transaction gets edges only from the frontier at its
start, which keeps the edge count near n times the concurrency instead of n squared while the
transitive closure is the full real-time order.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from chaos.consistency.anomaly import clock, short
from chaos.consistency.version_order import Inferred, KeyOrder

WW, WR, RW, REALTIME, PROCESS = 1, 2, 4, 8, 16
EDGE_NAMES: dict[int, str] = {WW: "ww", WR: "wr", RW: "rw", REALTIME: "realtime", PROCESS: "process"}


class Graph:
    """Successor lists with an edge-kind mask per pair: `succ[t][u] = mask`, t and u being
    positions in `Inferred.txns`. Only committed transactions have edges."""

    def __init__(self, n: int) -> None:
        self.succ: list[dict[int, int]] = [{} for _ in range(n)]
        self.counts: Counter[str] = Counter()

    def add(self, source: int, target: int, kind: int) -> None:
        out = self.succ[source]
        mask = out.get(target, 0)
        if not mask & kind:
            out[target] = mask | kind
            self.counts[EDGE_NAMES[kind]] += 1


def build(inferred: Inferred, realtime: bool, process_order: bool) -> Graph:
    """ww, wr and rw edges from the version orders; realtime and process edges when asked."""
    graph = Graph(len(inferred.txns))
    _data_edges(inferred, graph)
    if realtime:
        _realtime_edges(inferred, graph)
    if process_order:
        _process_edges(inferred, graph)
    return graph


def _data_edges(inferred: Inferred, graph: Graph) -> None:
    committed = inferred.committed
    writer = inferred.writer
    succ = graph.succ
    counts = Counter({"ww": 0, "wr": 0, "rw": 0})
    for key, ko in inferred.keys.items():
        prev = -1
        for w in ko.committed_at:
            if w >= 0:
                if prev >= 0 and prev != w and not succ[prev].get(w, 0) & WW:
                    succ[prev][w] = succ[prev].get(w, 0) | WW
                    counts["ww"] += 1
                prev = w
        by_value = writer.get(key, {})
        bad = {id(values) for _, values, _ in ko.incompatible}
        nxt = ko.next_committed
        for t, values, external in ko.reads:
            if not external:
                continue
            if values:
                w = by_value.get(values[-1], -1)
                if w >= 0 and w != t and committed[w] and not succ[w].get(t, 0) & WR:
                    succ[w][t] = succ[w].get(t, 0) | WR
                    counts["wr"] += 1
            w = nxt[len(values)]
            if w >= 0 and w != t and not succ[t].get(w, 0) & RW and id(values) not in bad:
                succ[t][w] = succ[t].get(w, 0) | RW
                counts["rw"] += 1
    graph.counts.update(counts)


def _realtime_edges(inferred: Inferred, graph: Graph) -> None:
    events: list[tuple[float, int, int]] = []
    for t, txn in enumerate(inferred.txns):
        if inferred.committed[t]:
            events.append((txn.op.start, 0, t))
            if inferred.ok[t]:
                events.append((txn.op.end, 1, t))
    events.sort()  # at equal times starts sort first: T1.end == T2.start orders nothing
    frontier: tuple[int, ...] = ()
    preds: dict[int, tuple[int, ...]] = {}
    for _, is_end, t in events:
        if is_end:
            before = preds[t]
            if before:
                gone = set(before)
                frontier = tuple(x for x in frontier if x not in gone) + (t,)
            else:
                frontier = frontier + (t,)
        else:
            preds[t] = frontier
    succ = graph.succ
    added = 0
    for t, before in preds.items():
        for p in before:
            out = succ[p]
            mask = out.get(t, 0)
            if not mask & REALTIME:
                out[t] = mask | REALTIME
                added += 1
    graph.counts["realtime"] += added


def _process_edges(inferred: Inferred, graph: Graph) -> None:
    by_process: dict[str, list[int]] = defaultdict(list)
    for t, txn in enumerate(inferred.txns):
        if inferred.committed[t]:
            by_process[txn.op.process].append(t)
    for ts in by_process.values():
        ts.sort(key=lambda t: inferred.txns[t].op.start)
        last_ok = -1
        for t in ts:
            if last_ok >= 0:
                graph.add(last_ok, t, PROCESS)
            if inferred.ok[t]:
                last_ok = t


# --- explanations --------------------------------------------------------------------------


def why(inferred: Inferred, source: int, target: int, kind: int) -> str:
    """The reason for one edge, in words a DBA can check against the history."""
    txns = inferred.txns
    a, b = txns[source], txns[target]
    if kind == REALTIME:
        return (f"{a.label} ended ({clock(a.op.end)}) before {b.label} started ({clock(b.op.start)}): "
                f"in real time {a.label} comes first")
    if kind == PROCESS:
        return f"{a.label} and {b.label} ran one after the other on process {a.op.process}, {a.label} first"
    if kind == WW:
        return _why_ww(inferred, source, target)
    if kind == WR:
        return _why_wr(inferred, source, target)
    return _why_rw(inferred, source, target)


def _why_ww(inferred: Inferred, source: int, target: int) -> str:
    a, b = inferred.txns[source], inferred.txns[target]
    for key, value in inferred.appends[target]:
        ko = inferred.keys.get(key)
        if ko is None or value not in ko.pos:
            continue
        i = ko.pos[value]
        j = i - 1
        while j >= 0 and ko.committed_at[j] < 0:
            j -= 1
        if j >= 0 and ko.committed_at[j] == source:
            return (f"{b.label} appended {value} to key {key} after {a.label} appended {ko.order[j]} "
                    f"(version order of key {key}: {inferred.window(key, i)})")
    return f"{b.label} appended after {a.label}"  # unreachable when the edge came from build()


def _why_wr(inferred: Inferred, source: int, target: int) -> str:
    a, b = inferred.txns[source], inferred.txns[target]
    for key in dict.fromkeys(key for key, _ in inferred.appends[source]):
        ko = inferred.keys.get(key)
        for t, values, external in ko.reads if ko else ():
            if t == target and external and values and inferred.writer[key].get(values[-1]) == source:
                return (f"{b.label} read key {key} = {short(values)}, which ends with {a.label}'s append of "
                        f"{values[-1]}: {b.label} saw {a.label}'s write, so {a.label} comes first")
    return f"{b.label} read {a.label}'s write"


def _why_rw(inferred: Inferred, source: int, target: int) -> str:
    a, b = inferred.txns[source], inferred.txns[target]
    for key, value in inferred.appends[target]:
        ko = inferred.keys.get(key)
        if ko is None or value not in ko.pos:
            continue
        bad = {id(values) for _, values, _ in ko.incompatible}
        for t, values, external in ko.reads:
            if t != source or not external or id(values) in bad or ko.next_committed[len(values)] != target:
                continue
            missed = ko.order[_first_committed(ko, len(values))]
            if values:
                return (f"{a.label} read key {key} = {short(values)} and so did not see {b.label}'s append of "
                        f"{missed} that follows {values[-1]}: {a.label} must come before {b.label}")
            return (f"{a.label} read key {key} = [] and so did not see {b.label}'s append of {missed}, the "
                    f"first element of key {key}: {a.label} must come before {b.label}")
    return f"{a.label} did not see {b.label}'s write"


def _first_committed(ko: KeyOrder, start: int) -> int:
    """Position of the first committed element at or after `start`."""
    i = start
    while ko.committed_at[i] < 0:
        i += 1
    return i

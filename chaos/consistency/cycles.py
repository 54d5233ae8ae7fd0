"""Cycles in the dependency graph, found and named as Adya and Elle name them.

Why cycles: an edge says "must come before"; a cycle means no order of the committed
transactions explains what the clients saw. The kinds of edge a cycle needs say how bad it is:
- G0: ww only (writes interleaved: even read uncommitted forbids it);
- G1c: ww and wr, at least one wr (circular information flow: read committed forbids it);
- G-single: exactly one rw, the rest ww/wr (read skew, lost update: snapshot isolation forbids);
- G-nonadjacent: two or more rw, no two of them consecutive (snapshot isolation forbids it too,
  per Cerone and Gotsman, as Elle does);
- G2-item: two or more rw with some consecutive (write skew: snapshot isolation allows it,
  serializability does not).
A cycle that also needs a realtime edge is named with "-realtime" (e.g. G-single-realtime), one
that needs a process edge but no realtime edge with "-process".

How: the graph is first trimmed of every transaction that cannot be on a cycle (repeatedly
dropping those without predecessors, then those without successors: linear, and a valid
history trims to nothing), networkx splits what is left into strongly connected components, and
inside each component a breadth-first search finds, per class, a shortest cycle through an edge
of the class's defining kind (a ww edge for G0, a wr edge for G1c, an rw edge for the rest),
walking only the edge kinds the class allows. One cycle per class per component is reported
(as Elle does): the counts are components, not every cycle, which can be exponentially many.

The search is bounded (`BUDGET` states per class per component); a class the budget cut short
without a cycle is counted in `truncated`, never reported as absent silently.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import networkx as nx

from chaos.consistency.dependency_graph import PROCESS, REALTIME, RW, WR, WW, Graph

BUDGET = 200_000
"""States one class's search may visit in one component before it gives up (counted in
`truncated`); a few seconds of Python at most."""

_LAST_RW, _SEEN_RW, _SEEN_EXTRA = 1, 2, 4


@dataclass(frozen=True)
class Spec:
    """One class to search: the edge kind every cycle of it contains (`start`), the kinds its
    other edges may use, and what the walk back must satisfy."""

    base: str
    start: int
    deps: int  # ww/wr kinds allowed on the way back
    rw: bool = False  # rw allowed on the way back
    nonadjacent: bool = False  # never two rw in a row (incl. around the cycle)
    need_rw: bool = False  # at least one rw on the way back (so two in all)
    extra: int = 0  # realtime/process kinds allowed
    need: int = 0  # the extra kind that must appear (REALTIME or PROCESS)

    @property
    def suffix(self) -> str:
        return {0: "", REALTIME: "-realtime", PROCESS: "-process"}[self.need]

    @property
    def name(self) -> str:
        return self.base + self.suffix

    @property
    def allowed(self) -> int:
        return self.start | self.deps | (RW if self.rw else 0) | self.extra


BASES: tuple[Spec, ...] = (
    Spec("G0", WW, WW),
    Spec("G1c", WR, WW | WR),
    Spec("G-single", RW, WW | WR),
    Spec("G-nonadjacent", RW, WW | WR, rw=True, nonadjacent=True, need_rw=True),
    Spec("G2-item", RW, WW | WR, rw=True, need_rw=True),
)
CYCLE_CLASSES: tuple[str, ...] = tuple(spec.base for spec in BASES)


def specs(realtime: bool, process_order: bool) -> list[Spec]:
    """The classes to search, given which order edges the graph has."""
    out = list(BASES)
    if process_order:
        out += [Spec(s.base, s.start, s.deps, s.rw, s.nonadjacent, s.need_rw, PROCESS, PROCESS) for s in BASES]
    if realtime:
        out += [Spec(s.base, s.start, s.deps, s.rw, s.nonadjacent, s.need_rw, REALTIME | PROCESS, REALTIME)
                for s in BASES]
    return out


@dataclass(frozen=True)
class Cycle:
    """A cycle as (transaction, kind of the edge leaving it) pairs, in order."""

    name: str
    steps: tuple[tuple[int, int], ...]


def components(graph: Graph, nodes: Iterable[int]) -> list[list[int]]:
    """Strongly connected components with at least two transactions (no self-edges exist)."""
    core = _trim(graph, nodes)
    if not core:
        return []
    g = nx.DiGraph()
    g.add_nodes_from(core)
    succ = graph.succ
    g.add_edges_from((u, v) for u in core for v in succ[u] if v in core)
    return sorted((sorted(c) for c in nx.strongly_connected_components(g) if len(c) > 1), key=lambda c: c[0])


def _trim(graph: Graph, nodes: Iterable[int]) -> set[int]:
    """The transactions left after repeatedly removing those with no predecessor, then those
    with no successor, among the rest: exactly those that can still lie on a cycle or between
    two cycles. A history without cycles trims to nothing."""
    succ = graph.succ
    alive = set(nodes)
    indeg = dict.fromkeys(alive, 0)
    for u in alive:
        for v in succ[u]:
            indeg[v] += 1
    queue = [u for u, d in indeg.items() if d == 0]
    while queue:
        u = queue.pop()
        alive.discard(u)
        for v in succ[u]:
            indeg[v] -= 1
            if indeg[v] == 0:
                queue.append(v)
    if not alive:
        return alive
    pred: dict[int, list[int]] = {u: [] for u in alive}
    outdeg = dict.fromkeys(alive, 0)
    for u in alive:
        for v in succ[u]:
            if v in alive:
                pred[v].append(u)
                outdeg[u] += 1
    queue = [u for u, d in outdeg.items() if d == 0]
    while queue:
        u = queue.pop()
        alive.discard(u)
        for p in pred[u]:
            outdeg[p] -= 1
            if outdeg[p] == 0:
                queue.append(p)
    return alive


def search(graph: Graph, component: list[int], todo: list[Spec]) -> tuple[list[Cycle], int]:
    """One shortest-found cycle per class in one component, and how many classes were cut
    short by the budget. A realtime/process variant is skipped when its plain class was found
    there already: the plain cycle explains the same violation without any clock."""
    members = set(component)
    found: dict[str, Cycle] = {}
    truncated = 0
    sub_sccs: dict[int, dict[int, int]] = {}
    for spec in todo:
        if spec.need and (spec.base in found or spec.base + "-process" in found):
            continue
        if spec.allowed not in sub_sccs:
            sub_sccs[spec.allowed] = _sub_components(graph, members, spec.allowed)
        cycle, cut = _shortest(graph, sub_sccs[spec.allowed], spec)
        truncated += cut
        if cycle is not None and cycle.name not in found:
            found[cycle.name] = cycle
    return list(found.values()), truncated


def _sub_components(graph: Graph, members: set[int], allowed: int) -> dict[int, int]:
    """Component id of each transaction in the subgraph of `allowed` edge kinds: a cycle of a
    class lies inside one of them, so edges between two are never worth a search."""
    g = nx.DiGraph()
    g.add_nodes_from(members)
    succ = graph.succ
    g.add_edges_from((u, v) for u in members for v, mask in succ[u].items() if v in members and mask & allowed)
    comp: dict[int, int] = {}
    for i, c in enumerate(nx.strongly_connected_components(g)):
        if len(c) > 1:
            for u in c:
                comp[u] = i
    return comp


def _shortest(graph: Graph, comp: dict[int, int], spec: Spec) -> tuple[Cycle | None, int]:
    """Shortest cycle of the class through any of its start edges, within the budget."""
    succ = graph.succ
    best: list[tuple[int, int]] | None = None
    spent = 0
    for u in sorted(comp):
        for v, mask in succ[u].items():
            if not mask & spec.start or comp.get(v) != comp[u]:
                continue
            limit = len(best) - 2 if best else len(comp)
            if limit < 1:
                break
            path, visited = _walk_back(succ, comp, comp[u], u, v, spec, limit)
            spent += visited
            if path is not None:
                steps = [(u, spec.start)] + path
                if len({t for t, _ in steps}) == len(steps) and (best is None or len(steps) < len(best)):
                    best = steps
            if spent > BUDGET:
                return (_cycle(best), 0) if best else (None, 1)
        if best and len(best) <= 2:
            break
    return (_cycle(best), 0) if best else (None, 0)


def _walk_back(succ: list[dict[int, int]], comp: dict[int, int], cid: int, u: int, v: int, spec: Spec,
               limit: int) -> tuple[list[tuple[int, int]] | None, int]:
    """Breadth-first from v back to u over the edge kinds `spec` allows, at most `limit`
    edges; the path as (transaction, kind of the edge leaving it) pairs from v, or None."""
    start_state = (v, _LAST_RW if spec.start == RW else 0)
    parent: dict[tuple[int, int], tuple[tuple[int, int], int] | None] = {start_state: None}
    frontier = [start_state]
    for _ in range(limit):
        nxt: list[tuple[int, int]] = []
        for state in frontier:
            x, flags = state
            for y, mask in succ[x].items():
                if comp.get(y) != cid:
                    continue
                for kind, new in _moves(mask, flags, spec):
                    child = (y, new)
                    if child in parent:
                        continue
                    parent[child] = (state, kind)
                    if y == u:
                        if _closes(new, spec):
                            return _path(parent, child), len(parent)
                        continue  # never walk through u: the cycle would not be simple
                    nxt.append(child)
        if not nxt:
            break
        frontier = nxt
    return None, len(parent)


def _moves(mask: int, flags: int, spec: Spec) -> list[tuple[int, int]]:
    """The (edge kind used, new flags) ways to take one edge of kind `mask`."""
    moves = []
    keep_extra = flags & _SEEN_EXTRA
    deps = mask & spec.deps
    if deps:
        moves.append((WW if deps & WW else WR, (flags & _SEEN_RW) | keep_extra))
    if spec.rw and mask & RW and not (spec.nonadjacent and flags & _LAST_RW):
        moves.append((RW, _LAST_RW | _SEEN_RW | keep_extra))
    extra = mask & spec.extra
    if extra:
        kind = spec.need if extra & spec.need else (PROCESS if extra & PROCESS else REALTIME)
        moves.append((kind, (flags & _SEEN_RW) | (_SEEN_EXTRA if kind == spec.need else keep_extra)))
    return moves


def _closes(flags: int, spec: Spec) -> bool:
    """Does a walk arriving back at the start with these flags make a cycle of the class?"""
    if spec.need_rw and not flags & _SEEN_RW:
        return False
    if spec.need and not flags & _SEEN_EXTRA:
        return False
    return not (spec.nonadjacent and flags & _LAST_RW)


def _path(parent: dict[tuple[int, int], tuple[tuple[int, int], int] | None],
          end: tuple[int, int]) -> list[tuple[int, int]]:
    steps: list[tuple[int, int]] = []
    state = end
    while (link := parent[state]) is not None:
        prev, kind = link
        steps.append((prev[0], kind))
        state = prev
    return steps[::-1]


def _cycle(steps: list[tuple[int, int]]) -> Cycle:
    """The cycle, rotated to start at its earliest transaction, so explanations do not depend
    on where the search happened to start."""
    first = min(range(len(steps)), key=lambda i: steps[i][0])
    steps = steps[first:] + steps[:first]
    return Cycle(classify([kind for _, kind in steps]), tuple(steps))


def classify(kinds: list[int]) -> str:
    """The class of a cycle from the kinds of its edges, in order."""
    rw = [i for i, kind in enumerate(kinds) if kind == RW]
    if not rw:
        base = "G1c" if WR in kinds else "G0"
    elif len(rw) == 1:
        base = "G-single"
    else:
        n = len(kinds)
        adjacent = any(kinds[(i + 1) % n] == RW for i in rw)
        base = "G2-item" if adjacent else "G-nonadjacent"
    if REALTIME in kinds:
        return base + "-realtime"
    if PROCESS in kinds:
        return base + "-process"
    return base


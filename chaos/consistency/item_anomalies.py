"""Anomalies that need no cycle: one read, or one key's reads, contradict what was written.

Why they are checked apart from the graph: each one is visible in a single read (an aborted
value, a duplicate, a value nobody wrote) or a single key (reads that disagree on its order, an
acknowledged append that vanished), so it is cheap to find exactly and easy to explain.

Classes (names as in Elle where Elle has one):
- G1a aborted read: a read observes a value appended by a transaction that failed;
- G1b intermediate read: a read ends at a value that its writer followed with another append to
  the same key (it saw the transaction half done);
- internal: a transaction's read of k disagrees with its own earlier reads and appends of k;
- duplicate-elements: one read holds a value twice;
- incompatible-order: reads of a key that are not prefixes of one another (counted per key);
- garbage-read: a read observes a value nobody appended;
- lost-update (P4): two committed transactions read the same version of k and both appended
  to k; whichever committed second worked from a stale state (first-committer-wins, as
  snapshot isolation does it, would have aborted one);
- lost-append: an acknowledged append that no read ever shows although a read taken after it
  was acknowledged shows a value appended after that acknowledgement (a real-time argument: the
  key's state moved on past it), or that every final read of its key lacks (final: started
  after every appending transaction ended; one node's final read missing what another's shows
  is a stale read, not a loss);
- stale-read: a read that misses a value whose append was acknowledged before the reading
  transaction started (a real-time judgement: it counts against `ok` only when real-time
  order is asked).
Each is counted per read, except incompatible-order (per key), lost-update (per group of
transactions that read the same version) and lost-append (per lost value).
"""

from __future__ import annotations

from bisect import bisect_right
from collections import Counter, defaultdict
from typing import Any

from chaos.consistency.anomaly import Anomaly, Found, TxnRef, clock, short, together
from chaos.consistency.txn import Txn
from chaos.consistency.version_order import Inferred, KeyOrder

MAX_LISTED = 10
"""Values listed in one explanation (missed values of a stale read, …); the count says the rest."""

INF = float("inf")


def check_items(inferred: Inferred, found: Found) -> None:
    """Every non-cycle anomaly of the history, into `found`."""
    for key, ko in inferred.keys.items():
        _per_read(inferred, key, ko, found)
        if ko.incompatible:
            _incompatible(inferred, key, ko, found)
    _internal(inferred, found)
    _lost_updates(inferred, found)
    _lost_appends(inferred, found)
    _stale_reads(inferred, found)


def _ref(inferred: Inferred, t: int) -> TxnRef:
    return TxnRef.of(inferred.txns[t])


def _per_read(inferred: Inferred, key: Any, ko: KeyOrder, found: Found) -> None:
    """Duplicates, garbage, aborted and intermediate reads, read by read.

    A read that is a prefix of the version order holds one of these iff it is longer than the
    first position where the version order holds one, so most reads cost O(1).
    """
    txns = inferred.txns
    order, writer_at = ko.order, ko.writer_at
    first_dup = next((i for i, v in enumerate(order) if ko.pos[v] != i), INF)
    first_garbage = next((i for i, w in enumerate(writer_at) if w < 0), INF)
    first_aborted = next((i for i, w in enumerate(writer_at) if w >= 0 and txns[w].outcome == "fail"), INF)
    writer = inferred.writer.get(key, {})
    intermediate = inferred.intermediate.get(key, set())
    bad = {id(values) for _, values, _ in ko.incompatible}
    for t, values, _ in ko.reads:
        size = len(values)
        prefix = id(values) not in bad
        if size > first_dup if prefix else len(set(values)) < size:
            found.add("duplicate-elements", lambda t=t, values=values: _duplicate(inferred, key, t, values))
        if size > first_garbage if prefix else any(v not in writer for v in values):
            found.add("garbage-read", lambda t=t, values=values: _garbage(inferred, key, t, values))
        if size > first_aborted if prefix else any(txns[writer[v]].outcome == "fail" for v in values if v in writer):
            found.add("G1a", lambda t=t, values=values: _aborted(inferred, key, t, values))
        if size and values[-1] in intermediate and writer[values[-1]] != t:
            found.add("G1b", lambda t=t, values=values: _intermediate(inferred, key, t, values))


def _duplicate(inferred: Inferred, key: Any, t: int, values: list[Any]) -> Anomaly:
    times = Counter(values)
    twice = [v for v in dict.fromkeys(values) if times[v] > 1]
    return Anomaly("duplicate-elements",
                   f"{inferred.txns[t].label} read key {key} = {short(values)}, which holds {twice[:MAX_LISTED]} "
                   "more than once: each value was appended once, so the database applied an append twice",
                   (_ref(inferred, t),), details={"key": key, "read": values, "duplicates": twice})


def _garbage(inferred: Inferred, key: Any, t: int, values: list[Any]) -> Anomaly:
    writer = inferred.writer.get(key, {})
    unknown = [v for v in values if v not in writer]
    return Anomaly("garbage-read",
                   f"{inferred.txns[t].label} read key {key} = {short(values)}, with {unknown[:MAX_LISTED]} that no "
                   "transaction of the history appended to that key",
                   (_ref(inferred, t),), details={"key": key, "read": values, "unwritten": unknown})


def _aborted(inferred: Inferred, key: Any, t: int, values: list[Any]) -> Anomaly:
    writer = inferred.writer.get(key, {})
    txns = inferred.txns
    aborted = [(v, writer[v]) for v in values if v in writer and txns[writer[v]].outcome == "fail"]
    writers = list(dict.fromkeys(w for _, w in aborted))
    names = ", ".join(f"{txns[w].label}" for w in writers[:MAX_LISTED])
    return Anomaly("G1a",
                   f"{txns[t].label} read key {key} = {short(values)}, which holds "
                   f"{[v for v, _ in aborted][:MAX_LISTED]} appended by {names}, whose commit failed: "
                   "it read a write that was rolled back (aborted read)",
                   (_ref(inferred, t), *(_ref(inferred, w) for w in writers[:MAX_LISTED])),
                   details={"key": key, "read": values, "aborted_values": [v for v, _ in aborted]})


def _intermediate(inferred: Inferred, key: Any, t: int, values: list[Any]) -> Anomaly:
    txns = inferred.txns
    w = inferred.writer[key][values[-1]]
    later = [v for k, v in inferred.appends[w] if k == key]
    return Anomaly("G1b",
                   f"{txns[t].label} read key {key} = {short(values)}, ending at {values[-1]}, but {txns[w].label} "
                   f"appended {later} to key {key}: {values[-1]} is not its last append, so "
                   f"{txns[t].label} saw {txns[w].label} half done (intermediate read)",
                   (_ref(inferred, t), _ref(inferred, w)),
                   details={"key": key, "read": values, "writer_appends": later})


def _incompatible(inferred: Inferred, key: Any, ko: KeyOrder, found: Found) -> None:
    longest_reader = next(t for t, values, _ in ko.reads if values is ko.order)
    t, values, _ = ko.incompatible[0]
    txns = inferred.txns

    def make() -> Anomaly:
        common = _common_prefix(values, ko.order)
        return Anomaly("incompatible-order",
                       f"{txns[t].label} read key {key} = {short(values)} and {txns[longest_reader].label} read "
                       f"{short(ko.order)}: they part at position {common}, so no single order of the appends "
                       f"explains both ({len(ko.incompatible)} read(s) of key {key} disagree with its longest read)",
                       (_ref(inferred, t), _ref(inferred, longest_reader)),
                       details={"key": key, "read": values, "longest": ko.order, "diverge_at": common,
                                "disagreeing_reads": len(ko.incompatible),
                                "read_lost_values": _read_lost_values(ko)})

    found.add("incompatible-order", make)


def _common_prefix(a: list[Any], b: list[Any]) -> int:
    common = 0
    while common < min(len(a), len(b)) and a[common] == b[common]:
        common += 1
    return common


def _read_lost_values(ko: KeyOrder) -> bool:
    """Whether every read of the key that disagrees with its longest read shows, past the point
    where they part, only values the longest read lacks: a state that was read, then lost (after a
    crash that loses acknowledged commits, the loss itself seen before it happened), as opposed to
    the same values in two orders."""
    longest = set(ko.order)
    return all(not longest.intersection(values[_common_prefix(values, ko.order):]) for _, values, _ in ko.incompatible)


def _internal(inferred: Inferred, found: Found) -> None:
    """Replay each committed transaction against its own reads and appends."""
    for t, txn in enumerate(inferred.txns):
        if not inferred.ok[t] or len(txn.mops) < 2:
            continue
        known: dict[Any, list[Any]] = {}
        own: dict[Any, list[Any]] = defaultdict(list)
        for i, (f, key, value) in enumerate(txn.mops):
            if f == "append":
                (known[key] if key in known else own[key]).append(value)
                continue
            if value is None:
                continue
            if key in known:
                expected, ok = known[key], list(value) == known[key]
            else:
                tail = own.get(key, [])
                expected, ok = tail, not tail or list(value[-len(tail):]) == tail
            if not ok:
                found.add("internal", lambda txn=txn, i=i, key=key, value=value, expected=list(expected),
                          whole=key in known: _internal_anomaly(inferred, txn, i, key, value, expected, whole))
            known[key] = list(value)
            own.pop(key, None)


def _internal_anomaly(inferred: Inferred, txn: Txn, i: int, key: Any, value: Any, expected: list[Any],
                      whole: bool) -> Anomaly:
    want = (f"= {short(expected)} (its own earlier read plus its appends)" if whole
            else f"ending with its own appends {expected}")
    return Anomaly("internal",
                   f"{txn.label}'s micro-op {i} read key {key} = {short(value)}, but within the same transaction "
                   f"it had to be {want}: the transaction disagrees with itself",
                   (TxnRef.of(txn),), details={"key": key, "mop": i, "read": value, "expected": expected,
                                               "whole": whole})


def _lost_updates(inferred: Inferred, found: Found) -> None:
    """P4: committed transactions that read the same version of k and then appended to k."""
    appenders: dict[Any, set[int]] = defaultdict(set)
    for t, apps in enumerate(inferred.appends):
        if inferred.ok[t]:
            for key, _ in apps:
                appenders[key].add(t)
    for key, ko in inferred.keys.items():
        writers = appenders.get(key)
        if not writers:
            continue
        bad = {id(values) for _, values, _ in ko.incompatible}
        groups: dict[Any, dict[int, list[Any]]] = defaultdict(dict)
        for t, values, external in ko.reads:
            if external and t in writers:
                version = len(values) if id(values) not in bad else ("other", tuple(values))
                groups[version].setdefault(t, values)
        for group in groups.values():
            if len(group) > 1:
                found.add("lost-update", lambda group=group, key=key: _lost_update(inferred, key, group))


def _lost_update(inferred: Inferred, key: Any, group: dict[int, list[Any]]) -> Anomaly:
    txns = inferred.txns
    ts = sorted(group)
    values = group[ts[0]]
    appended = {txns[t].label: [v for k, v in inferred.appends[t] if k == key] for t in ts}
    names = together([txns[t].label for t in ts])
    return Anomaly("lost-update",
                   f"{names} read key {key} = {short(values)}, then appended to it ({appended}) and committed: "
                   "each update was based on a version another had already changed (P4 lost update; "
                   "first-committer-wins would have aborted all but one)",
                   tuple(_ref(inferred, t) for t in ts), details={"key": key, "read": values, "appended": appended})


def _lost_appends(inferred: Inferred, found: Found) -> None:
    txns, ok = inferred.txns, inferred.ok
    appending_ends = [txns[t].op.end for t, apps in enumerate(inferred.appends) if apps]
    traffic_end = max(appending_ends, default=INF)
    for key, by_value in inferred.writer.items():
        ko = inferred.keys.get(key)
        if ko is None:
            continue
        observed = inferred.observed[key]
        unseen = [(v, t) for v, t in by_value.items() if ok[t] and v not in observed]
        finals = [(t, values) for t, values, _ in ko.reads if txns[t].op.start > traffic_end]
        lost: dict[Any, tuple[int, str, int | None]] = {}
        if unseen:
            for (v, t), witness in zip(unseen, _passed_by(inferred, ko, [txns[t].op.end for _, t in unseen])):
                if witness is not None:
                    lost[v] = (t, "passed", witness)
        if finals:
            present = set().union(*(values for _, values in finals))
            reader = max(finals, key=lambda final: txns[final[0]].op.start)[0]
            for v, t in by_value.items():
                if ok[t] and v not in present and v not in lost:
                    lost[v] = (t, "final", reader)
        for v, (t, how, reader) in lost.items():
            found.add("lost-append", lambda v=v, t=t, how=how, reader=reader:
                      _lost_append(inferred, key, ko, v, t, how, reader))


def _passed_by(inferred: Inferred, ko: KeyOrder, acked: list[float]) -> list[int | None]:
    """For each acknowledgement time, a read that started after it and shows a value appended
    by a transaction that started after it (None: no such read).

    Such a read proves the key's state moved on past the acknowledged append; a value it lacks
    (and every other read lacks) was lost, not merely not yet visible.
    """
    txns = inferred.txns
    bad = {id(values) for _, values, _ in ko.incompatible}
    latest = [-INF]
    for w in ko.committed_at:
        latest.append(max(latest[-1], txns[w].op.start if w >= 0 else -INF))
    reads = sorted((txns[t].op.start, latest[len(values)], t) for t, values, _ in ko.reads if id(values) not in bad)
    starts = [start for start, _, _ in reads]
    best: list[tuple[float, int]] = [(-INF, -1)] * (len(reads) + 1)
    for i in range(len(reads) - 1, -1, -1):
        best[i] = max(best[i + 1], (reads[i][1], reads[i][2]))
    out: list[int | None] = []
    for at in acked:
        newest, reader = best[bisect_right(starts, at)]
        out.append(reader if newest > at else None)
    return out


def _lost_append(inferred: Inferred, key: Any, ko: KeyOrder, value: Any, t: int, how: str, reader: int) -> Anomaly:
    txns = inferred.txns
    a, r = txns[t], txns[reader]
    read = next(values for rt, values, _ in ko.reads if rt == reader)
    if how == "final":
        why = (f"{r.label}, a final read started after every appending transaction had ended, read key {key} "
               f"= {short(read)} without it, as did every other final read of key {key}")
    else:
        later = next((v for v, w in zip(read, ko.committed_at) if w >= 0 and txns[w].op.start > a.op.end), None)
        writer = txns[inferred.writer[key][later]] if later is not None else None
        why = (f"{r.label} read key {key} = {short(read)} ({clock(r.op.start)}), which holds {later} appended by "
               f"{writer.label if writer else '?'} that started after {a.label} was acknowledged, yet no read "
               f"ever shows {value}")
    return Anomaly("lost-append",
                   f"{a.label} appended {value} to key {key} and was acknowledged ({clock(a.op.end)}); {why}: "
                   "the acknowledged append is lost",
                   (_ref(inferred, t), _ref(inferred, reader)),
                   details={"key": key, "value": value, "evidence": how, "read": read})


def _stale_reads(inferred: Inferred, found: Found) -> None:
    """Reads that miss appends acknowledged before their transaction started."""
    txns, ok = inferred.txns, inferred.ok
    for key, ko in inferred.keys.items():
        earliest = [INF] * (len(ko.order) + 1)
        for i in range(len(ko.order) - 1, -1, -1):
            w = ko.committed_at[i]
            earliest[i] = min(earliest[i + 1], txns[w].op.end if w >= 0 and ok[w] else INF)
        bad = {id(values) for _, values, _ in ko.incompatible}
        counted: set[int] = set()
        for t, values, _ in ko.reads:
            if earliest[len(values)] < txns[t].op.start and id(values) not in bad and t not in counted:
                counted.add(t)
                found.add("stale-read", lambda t=t, values=values: _stale(inferred, key, ko, t, values))


def _stale(inferred: Inferred, key: Any, ko: KeyOrder, t: int, values: list[Any]) -> Anomaly:
    txns, ok = inferred.txns, inferred.ok
    start = txns[t].op.start
    missed = [(ko.order[i], w) for i, w in enumerate(ko.committed_at[len(values):], len(values))
              if w >= 0 and ok[w] and txns[w].op.end < start]
    writers = list(dict.fromkeys(w for _, w in missed))[:MAX_LISTED]
    first_v, first_w = missed[0]
    return Anomaly("stale-read",
                   f"{txns[t].label} started at {clock(start)} and read key {key} = {short(values)}, missing "
                   f"{[v for v, _ in missed][:MAX_LISTED]}{' …' if len(missed) > MAX_LISTED else ''}; "
                   f"{txns[first_w].label} had appended {first_v} and was acknowledged at "
                   f"{clock(txns[first_w].op.end)}, before that",
                   (_ref(inferred, t), *(_ref(inferred, w) for w in writers)),
                   details={"key": key, "read": values, "missed": [v for v, _ in missed]})

"""Availability over time, from the spans of recorded operations: one rule for every chart.

Why one module: the dashboard's charts and the report's timelines both turn a history into
"was the service available then?", and they must agree with each other and with what a person
would say. The rule (`unavailable`):

- an operation that finished within `stall_s` tells about the moment it ended: available when
  it succeeded, unavailable when it failed. A 30 ms connection that happens to straddle a
  bucket edge is one success, in the bucket it ended in, never a failure in the one before;
- an operation still pending after `stall_s` was waited on for all of its span, so it makes
  every bucket it spanned unavailable, its last one included, even when it succeeded at the
  end: an INSERT that hung 8 s in a commit stall is 8 s without writes to the person waiting.

`STALL_S` is one second: longer than any healthy connection or statement on a loaded two-core
machine (tens of ms quiet, a few hundred under load), shorter than the outages the lab
produces (seconds), and what a person watching a chart would notice.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence

from chaos.history import Op

STALL_S = 1.0


def stalled(op: Op, stall_s: float = STALL_S) -> bool:
    """True when the client waited longer than `stall_s` for this operation."""
    return op.end - op.start > stall_s


def unavailable(op: Op, stall_s: float = STALL_S) -> bool:
    """True when this operation shows the service unavailable: it failed, or it stalled."""
    return op.outcome != "ok" or stalled(op, stall_s)


def per_bucket(ops: Iterable[Op], edges: Sequence[float], bucket_s: float,
               stall_s: float = STALL_S) -> list[float | None]:
    """Share of available evidence per bucket (None where no operation tells anything).

    `edges` are the buckets' start times, oldest first, `bucket_s` apart. A prompt operation
    counts once, in the bucket it ended in; a stalled one counts as unavailable in every bucket
    from the one it started in to the one it ended in.
    """
    if not edges:
        return []
    first, n = edges[0], len(edges)
    good = [0] * n
    total = [0] * n

    def index(t: float) -> int:
        return int(math.floor((t - first) / bucket_s))

    for op in ops:
        end_i = index(op.end)
        if stalled(op, stall_s):
            for i in range(max(index(op.start), 0), min(end_i, n - 1) + 1):
                total[i] += 1
        elif 0 <= end_i < n:
            total[end_i] += 1
            good[end_i] += op.outcome == "ok"
    return [round(g / t, 4) if t else None for g, t in zip(good, total)]


def unavailable_spans(ops: Iterable[Op], stall_s: float = STALL_S) -> list[tuple[float, float]]:
    """The (start, end) spans of the operations that show the service unavailable, merged where
    they overlap, in time order: what the report shades on a timeline."""
    spans = sorted((op.start, op.end) for op in ops if unavailable(op, stall_s))
    merged: list[tuple[float, float]] = []
    for start, end in spans:
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], end))
        else:
            merged.append((start, end))
    return merged

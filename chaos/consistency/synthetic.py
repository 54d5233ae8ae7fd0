"""Valid list-append histories made up in memory, for the checker's bench and tests.

Why: the checker must be fast on a long run (100,000 transactions in seconds) and must not cry
wolf on a correct one; both need histories that are large, realistic in shape and known to be
strict serializable, without a database.

How the history stays valid while looking concurrent: transaction i takes effect atomically at
its commit point c_i = t0 + i * spacing on an in-memory store (a serial execution), and its
client interval [start, end] is drawn around c_i. Intervals of different clients overlap, yet
T1.end < T2.start implies c1 < c2, so the serial order respects real time, and each client
(round robin) starts its next transaction after its previous one ended. Keys are used as Elle
uses them: a few active keys, each retired after `appends_per_key` appends so reads stay short.
Some transactions fail (nothing applied, reads unknown) and some end unknown (applied or not, at
random, reads unknown), as a real run's do. Optional final reads of every active key come after
all traffic.
"""

from __future__ import annotations

import random

from chaos.history import Op


def list_append_history(n: int, seed: int = 0, processes: int = 10, active_keys: int = 10,
                        appends_per_key: int = 32, max_ops: int = 4, fail_rate: float = 0.02,
                        unknown_rate: float = 0.01, final_reads: bool = True, spacing: float = 0.001,
                        t0: float = 1_700_000_000.0) -> list[Op]:
    """`n` transactions (plus one final read per client when `final_reads`), in commit order."""
    rng = random.Random(seed)
    store: dict[int, list[int]] = {}
    appended: dict[int, int] = {}
    active = list(range(active_keys))
    next_key = active_keys
    latency = 0.4 * processes * spacing  # < processes * spacing / 2: a client's intervals never overlap
    ops: list[Op] = []
    for i in range(n):
        commit = t0 + i * spacing
        fate = rng.random()
        outcome = "fail" if fate < fail_rate else "unknown" if fate < fail_rate + unknown_rate else "ok"
        applies = outcome == "ok" or (outcome == "unknown" and rng.random() < 0.5)
        mops: list[list[object]] = []
        for _ in range(rng.randint(1, max_ops)):
            slot = rng.randrange(len(active))
            key = active[slot]
            if rng.random() < 0.5:
                value = appended.get(key, 0) + 1
                appended[key] = value
                if applies:
                    store.setdefault(key, []).append(value)
                mops.append(["append", key, value])
                if value >= appends_per_key:
                    active[slot] = next_key
                    next_key += 1
            else:
                mops.append(["r", key, list(store.get(key, [])) if outcome == "ok" else None])
        start = commit - rng.uniform(0, latency)
        end = commit + rng.uniform(0, latency)
        error = None if outcome == "ok" else ("Deadlock found when trying to get lock; try restarting transaction"
                                              if outcome == "fail" else "Lost connection to server during query")
        ops.append(Op(f"c{i % processes}", "txn", None, mops, start, end, outcome,
                      node=f"node{1 + i % 3}", error=error))
    if final_reads:
        after = t0 + (n + processes) * spacing
        for p in range(processes):
            reads = [["r", key, list(store.get(key, []))] for key in sorted(active)]
            ops.append(Op(f"c{p}", "txn", None, reads, after + p * spacing, after + (p + 0.5) * spacing, "ok",
                          node=f"node{1 + p % 3}"))
    return ops

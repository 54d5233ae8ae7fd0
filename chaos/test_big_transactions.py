"""The oversize transaction: a bulk UPDATE beyond the cluster's writeset limit is refused whole,
and streaming replication lets the same UPDATE commit; what each costs the other writers.

The limits are set low at run time on every node (`WritesetLimit`, healed to each node's previous
values) so that a table the scenario fills (150,000 rows, a writeset of about 40 MB) passes them
in seconds instead of the 2 GB default. Four bulk UPDATEs of every row run through the VIP while
the scenario's clients (writer, SQL and HTTP probes, Chamilo's user when the app is Chamilo) go on:

1. under wsrep_max_ws_size 4 MiB, as one writeset: refused (1105); every node's table is as
   before (nothing half-applied) and the cluster stays Synced;
2. under the same limit, streamed (`wsrep_trx_fragment_unit='bytes'`, `wsrep_trx_fragment_size`
   1 MiB: each fragment is a writeset of its own, below the limit): it commits;
3. under wsrep_max_ws_rows 10,000, streamed the same way: whole or nothing, recorded (measured
   here: refused, 1180, since MariaDB counts the rows over the whole transaction, not per
   fragment, so streaming is no way around the row limit);
4. with no limit, as one writeset again: it commits, and is the comparison for what the streamed
   one costs the other writers (latency p50/p99 and acknowledged writes a second of the writer
   through the VIP, from the UPDATE's start until every node has applied it).

Through ProxySQL the streaming settings go through the VIP too, measured: ProxySQL 2.7 does
not track `wsrep_trx_fragment_*` (sysown/proxysql#5686; tracked from 3.0, #5708), so the SET
runs on the writer hostgroup and locks the session to it. The UPDATE then runs there with the
setting (the commit under the limit proves it), and a plain SELECT later on that session fails
with 9006 (recorded as `select_after`: an application must stream on a session of its own).
"""

from __future__ import annotations

import time

import pytest

from chaos.big_transaction import Streaming, check_oversize, fill, run_step
from chaos.checkers import WriteImpact, write_impact
from chaos.faults import WritesetLimit
from chaos.report import mitigation_figure
from chaos.scenario import Scenario, synced_in_full_cluster
from chaos.workloads import Endpoint

pytestmark = pytest.mark.chaos

ROWS = 150_000
LIMIT_BYTES = 4 << 20
LIMIT_ROWS = 10_000
STREAMING = Streaming("bytes", 1 << 20)
QUIET_S = 2.0


def test_big_transactions(scenario: Scenario) -> None:
    lab = scenario.lab
    vip = Endpoint.vip(lab, lab.plan.tier.write_port)
    fill(vip, ROWS)
    filled = {node: (ROWS, 0) for node in scenario.spec.node_names}
    with scenario.clients():
        scenario.wait_for_ok("write", 20)
        quiet_from = time.time()
        time.sleep(QUIET_S)
        quiet = write_impact(scenario.history.ops("write"), quiet_from, time.time())
        size_limit = scenario.inject(WritesetLimit(lab, max_ws_size=LIMIT_BYTES))
        refused = run_step(lab, vip, "refused", "refused", filled)
        healthy = all(synced_in_full_cluster(lab, n) for n in scenario.spec.node_names)
        scenario.wait_for_ok("write", 5, since=time.time())
        streamed = run_step(lab, vip, "streamed", "committed", refused.states, STREAMING)
        streamed_applied = time.time()
        scenario.heal(size_limit)
        rows_limit = scenario.inject(WritesetLimit(lab, max_ws_rows=LIMIT_ROWS))
        rows_streamed = run_step(lab, vip, "rows_streamed", "either", streamed.states, STREAMING)
        scenario.heal(rows_limit)
        plain = run_step(lab, vip, "plain", "committed", rows_streamed.states)
        plain_applied = time.time()
        scenario.wait_healthy()
        scenario.wait_for_ok("write", 10, since=time.time())
    writes = scenario.history.ops("write")
    with_streaming = write_impact(writes, streamed.update.started, streamed_applied)
    without = write_impact(writes, plain.update.started, plain_applied)
    steps = (refused, streamed, rows_streamed, plain)
    verdict = check_oversize(ROWS, steps, healthy)
    scenario.verdicts["oversize_transaction"] = verdict
    scenario.figure(
        rows=ROWS, limit_bytes=LIMIT_BYTES, limit_rows=LIMIT_ROWS, fragment=STREAMING.describe(),
        **{step.name: {**step.update.to_dict(), "cut": list(step.cut)} for step in steps},
        writer_quiet=quiet.to_dict(), writer_streamed=with_streaming.to_dict(), writer_plain=without.to_dict(),
        streamed_write_p99_ms=with_streaming.p99_ms,
        mitigation=mitigation_figure(
            f"streaming replication (wsrep_trx_fragment_size {STREAMING.describe()})",
            f"one writeset, refused under wsrep_max_ws_size {LIMIT_BYTES} bytes (the timings and the writer's "
            "figures are of the same UPDATE with the limit lifted, so that it commits)",
            f"{ROWS} rows in one transaction, streamed under the same limit",
            {"bulk UPDATE under the size limit": (verdict.outcomes["refused"], verdict.outcomes["streamed"]),
             "its duration s": (plain.update.seconds, streamed.update.seconds),
             "applied on every node after s": (round(plain_applied - plain.update.started, 2),
                                               round(streamed_applied - streamed.update.started, 2)),
             **impact_measures(without, with_streaming, quiet)}))
    if not verdict.applied.get("rows_streamed"):
        scenario.note("rows_limit", text=f"streaming does not lift wsrep_max_ws_rows ({LIMIT_ROWS}): the streamed "
                      f"bulk UPDATE got {verdict.outcomes['rows_streamed']} (the rows count over the whole "
                      "transaction, not per fragment)")
    cut = {step.name: list(step.cut) for step in steps if step.cut}
    if cut:
        scenario.note("sessions_cut", cut=cut, text=f"the proxy cut the session of the {', '.join(cut)} bulk "
                      "UPDATE(s) (the writer moved while it ran); each cut attempt was waited out, found not "
                      "applied and run again")
    if streamed.update.select_after not in (None, "ok"):
        scenario.note("streaming_session", text=f"after SET SESSION wsrep_trx_fragment_* through the "
                      f"{lab.plan.proxy_kind} VIP a plain SELECT on the same session failed: "
                      f"{streamed.update.select_after}")
    scenario.check_writes()
    scenario.check_downtime("write", None, "downtime_ms")
    assert verdict.ok, "; ".join(verdict.problems)


def impact_measures(without: WriteImpact, with_: WriteImpact, quiet: WriteImpact) -> dict[str, tuple[object, object]]:
    """The writer's figures during the bulk UPDATE both ways (the quiet lab's in the label)."""
    return {f"writer p50 ms (quiet lab {quiet.p50_ms})": (without.p50_ms, with_.p50_ms),
            f"writer p99 ms (quiet lab {quiet.p99_ms})": (without.p99_ms, with_.p99_ms),
            f"writer longest write ms (quiet lab {quiet.max_ms})": (without.max_ms, with_.max_ms),
            f"writes acknowledged a second (quiet lab {quiet.per_s})": (without.per_s, with_.per_s)}

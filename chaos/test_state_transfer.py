"""State transfer failures: a joiner whose donor dies mid-SST, and a gcache too small for the gap.

donor_dies_during_sst: a reader loses its datadir and rejoins, so it needs a full SST; its
donor's transfer is slowed (tc on the donor, only the SST port) so that the kill lands in the
transfer's first seconds whatever the machine's speed; the donor is SIGKILLed there. Galera
aborts such a joiner ("Donor … is no longer in the group. State transfer cannot be completed,
need to abort"): it does not try another donor. Then `galera-lab up` (what a DBA runs) brings
both back; `status` before it and `up` itself must say what happened.

gcache_too_small_for_the_gap: a reader stopped twice, its gap first a few MB (within the
lab's gcache.size: IST), then past gcache.size (SST). The figures: time to Synced both ways,
the write rate and outage, and the gcache.size that keeps the long outage an IST (rate × outage).
Why the lab's own gcache and a big gap, not a small gcache: gcache.size is read only at start,
and Galera takes any node that can serve an IST (by name, then by state: gcs_group.cpp
group_find_ist_donor), so a small gcache on one donor changes nothing; every other node would
need it (two restarts, one of them the writer's, and two more to undo: about two minutes
here), while churning 1.25 × gcache.size through four rows costs seconds and leaves the table
at 4 MB. The mutation (the mitigation removed): a spec whose gcache.size can't hold the short
outage, e.g. `--lab-set 'galera.provider_options={gcache.size: 4M}'`: the short outage then
rejoins by SST and `check_gcache` fails.
"""

from __future__ import annotations

import time

import pytest

from chaos import state_transfer as st
from chaos.faults import Kill, Stop, resolve_target
from chaos.node_faults import SlowStateTransfer, WipeDatadir
from chaos.report import mitigation_figure
from chaos.scenario import Scenario, node_log, rejoined, state_path, state_transfer_in_log, summary
from chaos.workloads import Endpoint
from lab.nodelog import why_down

pytestmark = pytest.mark.chaos

SST_KBIT = 16000
"""The donor's SST stream while the kill is prepared: 2 MB/s, so the ~150 MB datadir would take
over a minute and the kill lands early in it on any machine."""

CUT_AFTER = 4 << 20
"""Bytes the donor has sent when it is killed: the transfer has surely begun."""

SHORT_GAP = 8 * st.MIB
"""The short outage's gap: what a node misses in a brief restart under a modest write load."""

MAX_GCACHE = 256 * st.MIB
"""Above this gcache.size the long outage would have to write more than a CI run should."""


def test_donor_dies_during_sst(scenario: Scenario) -> None:
    lab, spec = scenario.lab, scenario.spec
    joiner, donor = st.pick_joiner(lab, resolve_target("writer", lab.status()))
    with scenario.clients():
        scenario.wait_for_ok("write", 20)
        slow = scenario.inject(SlowStateTransfer(lab, donor, SST_KBIT))
        states = scenario.sample(lambda: summary(lab, joiner)["state"], 0.2, "joiner")
        reads = scenario.sample(lambda: st.readers_up(lab), 0.5, "readers")
        wipe = scenario.inject(WipeDatadir(lab, joiner))
        scenario.wait(lambda: slow.sent_bytes() >= CUT_AFTER, f"{donor} sending {joiner} its state", 120)
        sent = slow.sent_bytes()
        kill = scenario.inject(Kill(lab, donor))
        t_kill = kill.event.start
        scenario.wait(lambda: lab.probe.container_state(joiner) != "running" or rejoined(lab, joiner),
                      f"{joiner} giving up or syncing from another donor", spec.evict_deadline_s() + 60)
        gave_up_s = time.time() - t_kill
        aborted = lab.probe.container_state(joiner) != "running"
        first = node_log(lab, joiner, wipe.event.start)  # the attempt, before `up` starts it again
        shown = next(n for n in lab.status(details=True).galera if n.name == joiner)  # `galera-lab status`
        said: list[str] = []
        t_up = time.time()
        lab.up(say=said.append)  # `galera-lab up`
        recovery_s = time.time() - t_up
        for fault in (kill, wipe, slow):
            scenario.heal(fault)
        scenario.wait_healthy()
        scenario.wait_for_ok("write", 10, since=time.time())
    scenario.stop_samplers()
    cause = why_down(first)
    again = node_log(lab, joiner, t_up)
    told = [line for line in said if f"galera: {joiner}" in line and "joining" not in line]
    scenario.figure(
        joiner=joiner, donor=donor, sst_method=spec.galera.sst_method, throttle_kbit=SST_KBIT,
        sst_bytes_before_kill=sent, joiner_states=state_path(states.snapshot()),
        first_donor=st.selected_donor(first), joiner_aborted=aborted, joiner_gave_up_s=round(gave_up_s, 2),
        joiner_log=cause.line if cause else None, status_note=shown.note, up_said=told,
        up_recovery_s=round(recovery_s, 2),
        recovery_transfer=state_transfer_in_log(again), recovery_donor=st.selected_donor(again))
    no_reader = st.longest_span(reads.snapshot(), lambda v: v == [])
    scenario.figure(no_reader_s=round(no_reader, 1), readers_seen=state_path(reads.snapshot()))
    if no_reader > 0:
        scenario.note("read_path_empty", text=f"the {lab.plan.proxy_kind} VIP holder had no reader UP for "
                      f"{no_reader:.1f} s during the fault and its recovery (readers seen: "
                      f"{' → '.join(scenario.figures['readers_seen'])}): plain reads through the VIP had no server")
    if not aborted:
        scenario.note("joiner_retried", text=f"{joiner} synced from {st.selected_donor(node_log(lab, joiner, t_kill))} "
                                             "after its donor died: Galera retried with another donor")
    scenario.check_writes()
    scenario.check_downtime("write", spec.write_downtime_deadline_s(), "downtime_ms", since=t_kill - 1)
    scenario.check_downtime("connect", None, "connect_downtime_ms", since=t_kill - 1)
    scenario.check_downtime("http", None, "http_downtime_ms", since=t_kill - 1)
    assert scenario.figures["first_donor"] == donor, f"{joiner} took its SST from {scenario.figures['first_donor']}"
    assert "SST completed on joiner" not in first, "the transfer finished before the donor died: nothing was cut"
    if aborted:
        assert cause is not None and cause.kind == "donor-lost", f"{joiner}'s log does not say its donor was lost"
        assert "state transfer failed" in shown.note, f"`status` says only {shown.note!r}"
        assert any("had stopped" in t and "state transfer failed" in t for t in told), \
            f"`up` did not say why {joiner} had stopped: {said}"
        assert scenario.figures["recovery_transfer"] == "SST", "a joiner with a half-copied datadir needs a full SST"


def test_gcache_too_small_for_the_gap(scenario: Scenario) -> None:
    lab, spec = scenario.lab, scenario.spec
    gcache = st.size_bytes(spec.galera.provider_options.get("gcache.size", "128M"))  # Galera's default
    if gcache > MAX_GCACHE:
        pytest.skip(f"gcache.size is {gcache // st.MIB} MB: a gap past it means writing over "
                    f"{gcache * 5 // 4 // st.MIB} MB, more than this scenario writes (limit {MAX_GCACHE // st.MIB} MB)")
    target = resolve_target("reader", lab.status())
    others = [n for n in spec.node_names if n != target]
    bulk = st.Bulk(Endpoint.vip(lab))
    st.prepare_gap_table(bulk)
    with scenario.clients():
        scenario.wait_for_ok("write", 20)
        t0, before = time.time(), st.cached_bytes(lab, others[0])
        time.sleep(3)
        base_rate = (st.cached_bytes(lab, others[0]) - before) / (time.time() - t0)
        within = outage(scenario, bulk, target, others, SHORT_GAP)
        beyond = outage(scenario, bulk, target, others, gcache * 5 // 4 + SHORT_GAP)
        scenario.wait_healthy()
        scenario.wait_for_ok("write", 10, since=time.time())
    st.drop_tables(bulk)
    bulk.close()
    verdict = st.check_gcache(gcache, within, beyond)
    scenario.verdicts["gcache"] = verdict
    needed = beyond.needed_bytes // st.MIB
    scenario.figure(
        target=target, gcache_size_mb=gcache // st.MIB, short=within.to_dict(), long=beyond.to_dict(),
        ist_synced_s=within.synced_s, sst_synced_s=beyond.synced_s, gcache_needed_mb=needed,
        clients_rate_kb_s=round(base_rate / 1024, 1),
        ist_window_at_clients_rate_s=round(gcache / base_rate) if base_rate > 0 else None,
        mitigation=mitigation_figure(
            "a gcache.size that holds the outage's gap (write rate × outage × 1.25)",
            f"gcache.size {gcache // st.MIB} MB, a {beyond.outage_s:.0f} s outage writing {beyond.rate / st.MIB:.1f} MB/s "
            f"(gap {beyond.gap_bytes / st.MIB:.0f} MB)",
            f"a gap within the gcache: here the short outage ({within.gap_bytes / st.MIB:.0f} MB); for the long one "
            f"gcache.size ≥ {needed} MB",
            {"state transfer": (beyond.transfer, within.transfer),
             "time to Synced s": (beyond.synced_s, within.synced_s),
             "data sent MB (SST: the datadir; IST: the gap)": (round(beyond.sent_bytes / st.MIB, 1),
                                                               round(within.sent_bytes / st.MIB, 1)),
             "gap MB": (round(beyond.gap_bytes / st.MIB, 1), round(within.gap_bytes / st.MIB, 1)),
             "gcache.size needed MB": (needed, within.needed_bytes // st.MIB)}))
    scenario.check_writes()
    scenario.check_downtime("write", spec.write_downtime_deadline_s(), "downtime_ms")
    scenario.check_downtime("http", None, "http_downtime_ms")
    assert verdict.ok, "; ".join(verdict.problems)


def outage(scenario: Scenario, bulk: st.Bulk, target: str, others: list[str], gap_bytes: int) -> st.Rejoin:
    """Stop `target` (gracefully: a clean grastate, IST possible), write `gap_bytes` while it is
    out, start it, wait until it is back; what it missed, how long, and how it came back. A node
    whose state transfer fails (Galera aborts it) is recorded so and brought back by `up`, so
    that the scenario fails on its verdict and the lab is whole for the next one."""
    lab = scenario.lab
    left = summary(lab, target)["committed"]
    stop = scenario.inject(Stop(lab, target))
    stopped = time.time()
    before = {n: st.cached_bytes(lab, n) for n in others}
    st.churn(bulk, gap_bytes)
    gap = max(st.cached_bytes(lab, n) - before[n] for n in others)
    held = st.cached_from(lab, others)
    event = scenario.heal(stop)
    started = event.healed or time.time()
    waited = scenario.wait(lambda: rejoined(lab, target) or lab.probe.container_state(target) != "running",
                           f"{target} back in the cluster", scenario.spec.rejoin_deadline_s())
    log = node_log(lab, target, started)
    donor = st.selected_donor(log)
    error = None
    if lab.probe.container_state(target) != "running":
        cause = why_down(log)
        error = f"{target} gave up: {cause.text() if cause else 'no cause in its log'}"
        lab.up()
    scenario.wait_healthy()
    return st.Rejoin(gap, round(started - stopped, 2), "failed" if error else state_transfer_in_log(log),
                     round(waited, 2), donor, st.ist_fallback(node_log(lab, donor, started)) if donor else None,
                     left, held, error, st.datadir_bytes(lab, target))

"""Galera node faults: kill a reader, kill the writer, pause a node, rolling restart."""

from __future__ import annotations

import time

import pytest

from chaos.faults import Kill, Pause, Restart, resolve_target
from chaos.scenario import Scenario, node_log, rejoined, state_path, state_transfer_in_log, summary

pytestmark = pytest.mark.chaos


def test_kill_reader(scenario: Scenario) -> None:
    """SIGKILL a reader: writes go on; after `docker start` it rejoins by IST and catches up."""
    lab, spec = scenario.lab, scenario.spec
    target = resolve_target("reader", lab.status())
    others = [n for n in spec.node_names if n != target]
    with scenario.clients():
        scenario.wait_for_ok("write", 20)
        sizes = scenario.sample(lambda: min(summary(lab, n)["size"] for n in others), 0.2, "sizes")
        kill = scenario.inject(Kill(lab, target))
        evict = scenario.wait_event(sizes, kill.event.start, lambda v: v == len(others), f"{target} evicted",
                                    spec.evict_deadline_s())
        scenario.wait_for_ok("write", 20, since=time.time())  # writes go on without it
        states = scenario.sample(lambda: summary(lab, target)["state"], 0.1, "state")
        event = scenario.heal(kill)
        rejoin = scenario.wait(lambda: rejoined(lab, target), f"{target} back in the cluster",
                               spec.rejoin_deadline_s())
        cluster_seqno = max(summary(lab, n)["committed"] for n in others)
        scenario.wait(lambda: summary(lab, target)["committed"] >= cluster_seqno,
                      f"{target}'s wsrep_last_committed catching up with {cluster_seqno}", 30)
        scenario.wait_healthy()
        scenario.wait_for_ok("write", 10, since=time.time())
    scenario.stop_samplers()
    log = node_log(lab, target, event.healed or event.start)
    transfer = state_transfer_in_log(log)
    scenario.figure(target=target, evict_s=round(evict, 2), rejoin_s=round(rejoin, 2), rejoin_states=state_path(states.snapshot()),
                    state_transfer=transfer)
    scenario.check_writes()
    scenario.check_downtime("write", spec.write_downtime_deadline_s(), "downtime_ms")
    assert transfer == "IST", f"{target} rejoined by {transfer}, expected IST"


def test_kill_writer(scenario: Scenario) -> None:
    """SIGKILL the writer: the proxies send writes to the next node before the deadline."""
    lab, spec = scenario.lab, scenario.spec
    target = resolve_target("writer", lab.status())
    expected_next = next(n for n in spec.node_names if n != target)  # first UP in node order
    with scenario.clients(txn=True):
        scenario.wait_for_ok("write", 20)
        kill = scenario.inject(Kill(lab, target))
        t0 = kill.event.start
        scenario.wait(lambda: any(op.outcome == "ok" and op.node not in (None, target) and op.start >= t0
                                  for op in scenario.history.ops("write")),
                      "a write acknowledged by a new writer", spec.write_downtime_deadline_s() + 10)
        first_new = next(op for op in scenario.history.ops("write")
                         if op.outcome == "ok" and op.node not in (None, target) and op.start >= t0)
        scenario.wait_for_ok("write", 20, since=time.time())
        scenario.heal(kill)
        rejoin = scenario.wait(lambda: rejoined(lab, target), f"{target} back in the cluster",
                               spec.rejoin_deadline_s())
        scenario.wait_healthy()
        scenario.wait_for_ok("write", 10, since=time.time())
    scenario.figure(target=target, new_writer=first_new.node, write_resume_s=round(first_new.end - t0, 2),
                    rejoin_s=round(rejoin, 2))
    down = scenario.check_downtime("write", spec.write_downtime_deadline_s(), "downtime_ms", since=t0 - 1)
    scenario.check_downtime("connect", spec.write_downtime_deadline_s(), "connect_downtime_ms", since=t0 - 1)
    scenario.check_downtime("http", None, "http_downtime_ms", since=t0 - 1)
    scenario.check_writes()
    scenario.check_consistency()
    assert first_new.node == expected_next, f"writes went to {first_new.node}, expected {expected_next}"
    assert first_new.end - t0 <= spec.write_downtime_deadline_s(), down


def test_pause_node(scenario: Scenario) -> None:
    """Freeze a node (cgroup freezer): the others evict it, then it rejoins after unpause."""
    lab, spec = scenario.lab, scenario.spec
    target = resolve_target("node", lab.status())
    others = [n for n in spec.node_names if n != target]
    with scenario.clients(txn=True):
        scenario.wait_for_ok("write", 20)
        sizes = scenario.sample(lambda: min(summary(lab, n)["size"] for n in others), 0.2, "sizes")
        pause = scenario.inject(Pause(lab, target))
        evict = scenario.wait_event(sizes, pause.event.start, lambda v: v == len(others), f"{target} evicted",
                                    spec.evict_deadline_s())
        scenario.wait_for_ok("write", 20, since=time.time())
        states = scenario.sample(lambda: summary(lab, target)["state"], 0.1, "state")
        scenario.heal(pause)
        rejoin = scenario.wait(lambda: rejoined(lab, target), f"{target} back in the cluster",
                               spec.rejoin_deadline_s())
        scenario.wait_healthy()
        scenario.wait_for_ok("write", 10, since=time.time())
    scenario.stop_samplers()
    scenario.figure(target=target, evict_s=round(evict, 2), rejoin_s=round(rejoin, 2),
                    rejoin_states=state_path(states.snapshot()))
    scenario.check_writes()
    scenario.check_consistency()
    scenario.check_downtime("write", spec.write_downtime_deadline_s(), "downtime_ms")


def test_rolling_restart(scenario: Scenario) -> None:
    """Restart every Galera node in turn (graceful stop + start) under write load: nothing lost."""
    lab, spec = scenario.lab, scenario.spec
    writer = resolve_target("writer", lab.status())
    order = [n for n in spec.node_names if n != writer] + [writer]  # the writer last, as operators do
    rejoins = {}
    with scenario.clients():
        scenario.wait_for_ok("write", 20)
        for node in order:
            restart = scenario.inject(Restart(lab, node, timeout=60))
            scenario.wait(lambda node=node: rejoined(lab, node), f"{node} back in the cluster",
                          spec.rejoin_deadline_s())
            rejoins[node] = round(time.time() - restart.event.start, 2)  # restart issued → Synced
            scenario.heal(restart)
            # the proxies must see it again before the next one goes
            scenario.wait_healthy()
            scenario.wait_for_ok("write", 10, since=time.time())
    scenario.figure(order=order, rejoin_s=max(rejoins.values()), rejoin_by_node_s=rejoins)
    scenario.check_writes()
    scenario.check_downtime("write", spec.write_downtime_deadline_s(), "downtime_ms")


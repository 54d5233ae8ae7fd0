"""Network faults (iptables/tc in the containers' namespaces): isolate one node, isolate every
node (no majority anywhere), packet loss, added latency."""

from __future__ import annotations

import time

import pymysql
import pytest

from chaos import faults
from chaos.faults import FaultUnsupported, Isolate, Latency, PacketLoss, Partition, resolve_target
from chaos.scenario import Scenario, backend_status, rejoined, say, summary, synced_in_full_cluster
from chaos.workloads import WRITES_TABLE, Endpoint, error_text

pytestmark = pytest.mark.chaos


def refuses_queries(lab, node: str) -> str | None:
    """The error a node answers a read and a write with, or None when it serves them."""
    try:
        with Endpoint.node(lab, node).connect(timeout=2) as conn, conn.cursor() as cur:
            cur.execute(f"SELECT COUNT(*) FROM {WRITES_TABLE}")
            cur.execute(f"INSERT INTO {WRITES_TABLE} (k, node) VALUES (UUID(), @@wsrep_node_name)")
    except pymysql.MySQLError as exc:
        return error_text(exc)
    return None


def test_isolate_one_node(scenario: Scenario) -> None:
    """Cut the writer off from its peers: it leaves the Primary component and refuses queries,
    the proxies take it out, the majority goes on; after the heal it rejoins."""
    lab, spec = scenario.lab, scenario.spec
    target = resolve_target("writer", lab.status())
    others = [n for n in spec.node_names if n != target]
    with scenario.clients(txn=True):
        scenario.wait_for_ok("write", 20)
        status_of = scenario.sample(lambda: summary(lab, target)["status"], 0.2, "target-status")
        cut = scenario.inject(Isolate(lab, target))
        t0 = cut.event.start
        leave = scenario.wait_event(status_of, t0, lambda v: v not in ("Primary", "-"),
                                    f"{target} out of the Primary component", spec.evict_deadline_s())
        scenario.wait(lambda: all(summary(lab, n)["size"] == len(others) for n in others),
                      f"the majority without {target}", spec.evict_deadline_s())
        refused = refuses_queries(lab, target)
        scenario.wait(lambda: all("UP" not in s for s in backend_status(lab, target).values()),
                      f"proxies taking {target} out", 15)
        takeout = time.time() - t0
        scenario.wait(lambda: any(op.outcome == "ok" and op.node in others and op.start >= t0
                                  for op in scenario.history.ops("write")),
                      "writes on the majority", spec.write_downtime_deadline_s() + 10)
        scenario.wait_for_ok("write", 20, since=time.time())
        scenario.heal(cut)
        rejoin = scenario.wait(lambda: rejoined(lab, target), f"{target} back in the cluster",
                               spec.rejoin_deadline_s())
        scenario.wait_healthy()
        scenario.wait_for_ok("write", 10, since=time.time())
    scenario.stop_samplers()
    scenario.figure(target=target, evict_s=round(leave, 2),
                    proxies_out_s=round(takeout, 2), refused_with=refused, rejoin_s=round(rejoin, 2))
    scenario.check_writes()
    scenario.check_consistency()
    scenario.check_downtime("write", spec.write_downtime_deadline_s(), "downtime_ms", since=t0 - 1)
    assert refused is not None, f"{target} served queries outside the Primary component"


def test_isolate_two_of_three(scenario: Scenario) -> None:
    """Every node alone (two isolated, so the third has no majority either): no Primary
    component anywhere, writes refused everywhere, no split brain; then recovery.

    After the heal Galera merges the singletons back; as every member of the last Primary
    component is back, it restores the Primary component by itself. If it did not within the
    rejoin deadline, `up` (which stops and recovers from the most advanced node) would, and
    the figures say which happened (`recovered_by`).
    """
    lab, spec = scenario.lab, scenario.spec
    nodes = spec.node_names
    with scenario.clients():
        scenario.wait_for_ok("write", 20)
        primaries = scenario.sample(lambda: [n for n in nodes if summary(lab, n)["status"] == "Primary"], 0.2,
                                    "primaries")
        cut = scenario.inject(Partition(lab, [[n] for n in nodes]))
        t0 = cut.event.start
        no_primary = scenario.wait(lambda: all(summary(lab, n)["status"] not in ("Primary",) for n in nodes),
                                   "no Primary component anywhere", spec.evict_deadline_s())
        t_none = time.time()
        refused = {n: refuses_queries(lab, n) for n in nodes}
        # hold the partition until the clients have seen it refuse for a while (real evidence):
        # 20 refused writes, or 3 over at least 10 s where each refusal takes longer (ProxySQL
        # holds a query up to mysql-connect_timeout_server_max, 10 s, waiting for a writer)
        def refusals() -> int:
            return sum(1 for op in scenario.history.ops("write") if op.start >= t_none and op.outcome != "ok")
        scenario.wait(lambda: refusals() >= 20 or (refusals() >= 3 and time.time() - t_none >= 10),
                      "refused writes during the partition (20, or 3 over 10 s)", 45)
        still_none = [n for n in nodes if summary(lab, n)["status"] == "Primary"]
        scenario.heal(cut)
        t_heal = time.time()
        recovered_by = "itself"
        try:
            scenario.wait(lambda: all(synced_in_full_cluster(lab, n) for n in nodes),
                          "a Primary component of all nodes again", 60)
        except AssertionError:
            recovered_by = "galera-lab up"
            say("the cluster did not re-form by itself; recovering with `up`")
            scenario.chaos.lab.up()
        recovery = time.time() - t_heal
        scenario.wait_healthy()
        scenario.wait_for_ok("write", 10, since=time.time())
    scenario.stop_samplers()
    acked_in_partition = [op for op in scenario.history.ops("write")
                          if op.outcome == "ok" and op.start >= t_none and op.end <= t_heal]
    max_primaries = max((len(v) for v in primaries.within(t_none, t_heal) if isinstance(v, list)), default=0)
    scenario.figure(evict_s=round(no_primary, 2), refused_with=refused, recovered_by=recovered_by,
                    rejoin_s=round(recovery, 2), writes_acked_without_primary=len(acked_in_partition))
    scenario.check_writes()
    scenario.check_downtime("write", None, "downtime_ms", since=t0 - 1)
    assert all(refused.values()), f"a node served queries without a Primary component: {refused}"
    assert not still_none and max_primaries == 0, "a Primary component survived the partition"
    assert not acked_in_partition, f"{len(acked_in_partition)} writes acknowledged with no Primary component"


def test_packet_loss(scenario: Scenario) -> None:
    """30 % loss between a reader and its peers: replication copes, writes go on, nothing lost.

    The loss is held for three of Galera's `evs.suspect_timeout` (a peer that loses too much
    would be suspected and evicted within that) and at least 20 acknowledged writes: the window
    follows the lab's own timers instead of a fixed count of 60 writes (half a minute here)."""
    lab, spec = scenario.lab, scenario.spec
    target = resolve_target("reader", lab.status())
    hold_s = 3 * spec.galera.suspect_timeout_s
    with scenario.clients(http=False):
        scenario.wait_for_ok("write", 20)
        loss = scenario.inject(PacketLoss(lab, target, 0.3))
        scenario.wait(lambda: time.time() - loss.event.start >= hold_s
                      and scenario.ok_count("write", loss.event.start) >= 20,
                      f"{hold_s:.0f} s of loss and 20 acknowledged writes", timeout=hold_s + 90)
        scenario.heal(loss)
        scenario.wait_healthy()
        scenario.wait_for_ok("write", 10, since=time.time())
    scenario.figure(target=target, loss=0.3)
    scenario.check_writes()
    scenario.check_downtime("write", spec.write_downtime_deadline_s(), "downtime_ms")


def test_latency(scenario: Scenario) -> None:
    """200 ms on a reader's backend link (tc netem): commits slow down, nothing is lost."""
    lab = scenario.lab
    target = resolve_target("reader", lab.status())
    with scenario.clients(http=False, avail=False):
        scenario.wait_for_ok("write", 10)
        try:
            delay = scenario.inject(Latency(lab, target, 200))
        except FaultUnsupported as exc:
            faults.heal_all()
            pytest.skip(str(exc))
        scenario.wait_for_ok("write", 20, since=delay.event.start, timeout=90)
        scenario.heal(delay)
        scenario.wait_healthy()
    scenario.figure(target=target, delay_ms=200)
    scenario.check_writes()

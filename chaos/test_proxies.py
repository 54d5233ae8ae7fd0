"""Proxy tier faults: the proxy holding the VIP dies (SIGKILL) or is stopped gracefully."""

from __future__ import annotations

import time

import pytest

from chaos.faults import Kill, Stop, resolve_target
from chaos.scenario import Scenario, vip_holders

pytestmark = pytest.mark.chaos


@pytest.mark.parametrize("how", ["sigkill", "graceful"])
def test_vip_holder_down(scenario: Scenario, how: str) -> None:
    """The VIP moves to the standby proxy and SQL through the VIP resumes before the deadline.

    sigkill: `docker kill` of the proxy (its namespace, and the VIP with it, vanish; the standby
    waits for the VRRP master-down interval). graceful: `docker stop` (HAProxy's soft stop:
    listeners close at once, keepalived's check fails and it hands the VIP over).
    """
    lab, spec = scenario.lab, scenario.spec
    status = lab.status()
    holder, standby = resolve_target("vip-holder", status), resolve_target("standby-proxy", status)
    deadline = spec.vip_failover_deadline_s()
    with scenario.clients(txn=True):
        scenario.wait_for_ok("connect", 20)
        scenario.wait_for_ok("http", 10)
        vip = scenario.sample(lambda: vip_holders(lab), 0.05, "vip")
        fault = scenario.inject(Kill(lab, holder) if how == "sigkill" else Stop(lab, holder))
        t0 = fault.event.start
        move = scenario.wait_event(vip, t0, lambda v: v == (standby,), f"the VIP on {standby} alone", deadline + 10)
        scenario.wait_for_ok("connect", 20, since=time.time())
        scenario.heal(fault)
        scenario.wait_healthy()
        scenario.wait_for_ok("connect", 10, since=time.time())
        scenario.wait_for_ok("write", 10, since=time.time())
    scenario.stop_samplers()
    scenario.figure(target=holder, standby=standby, how=how, signal=fault.detail.get("signal"),
                    vip_move_s=round(move, 2),
                    stop_returned_s=fault.detail.get("stopped_after_s"))
    sql = scenario.check_downtime("connect", deadline, "downtime_ms", since=t0 - 1)
    scenario.check_downtime("http", None, "http_downtime_ms", since=t0 - 1)
    scenario.check_downtime("write", None, "write_downtime_ms", since=t0 - 1)
    scenario.check_writes()
    scenario.check_consistency()
    assert move <= deadline, f"VIP moved after {move:.2f} s (deadline {deadline} s)"
    assert vip_holders(lab) == (standby,), "no preemption: the VIP stays on the standby after the heal"
    assert sql.recovered_at is None or sql.recovered_at - t0 <= deadline

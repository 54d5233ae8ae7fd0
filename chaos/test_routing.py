"""Routing of the proxy tier on a healthy lab: which backend serves reads and writes."""

from __future__ import annotations

import pytest

from chaos.checkers import check_routing
from chaos.faults import readers_of, writer_of
from chaos.scenario import Scenario

pytestmark = pytest.mark.chaos

PROXYSQL_SKIP = "ProxySQL-only check: this lab runs the HAProxy tier (ProxySQL can't be installed on this machine)"


def _route(scenario: Scenario, tier: str):
    lab = scenario.lab
    status = lab.status()
    writer, readers = writer_of(status), set(readers_of(status))
    with scenario.clients(writer=False, avail=False, http=False, route=True):
        scenario.wait_for_ok("route", 30)
    verdict = check_routing(scenario.history.ops("route"), tier, writer, readers)  # type: ignore[arg-type]
    scenario.verdicts["routing"] = verdict
    scenario.figure(writer=writer, readers=sorted(readers), routed=verdict.counts)
    return verdict


def test_routing_by_listener(scenario: Scenario) -> None:
    """HAProxy: the writer listener reaches the writer only, the reader listener the readers."""
    if scenario.lab.plan.proxy_kind != "haproxy":
        pytest.skip("HAProxy-only check: this lab runs ProxySQL")
    verdict = _route(scenario, "haproxy")
    assert verdict.served >= 30 and verdict.ok, verdict.violations


def test_routing_by_statement(scenario: Scenario) -> None:
    """ProxySQL: writes and SELECT … FOR UPDATE to the writer (hostgroup 10), plain SELECTs to
    the readers (hostgroup 30), all on one port."""
    if scenario.lab.plan.proxy_kind != "proxysql":
        pytest.skip(PROXYSQL_SKIP)
    verdict = _route(scenario, "proxysql")
    assert verdict.ok, verdict.violations
    assert set(verdict.counts) == {"write", "select", "select_for_update"}

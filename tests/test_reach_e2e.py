"""End to end, a bridge lab reached only through ports published on 127.0.0.1 (host_reach:
published, what a Docker Desktop host needs), on this Linux host with its route to the lab cut.

How the cut proves the published path: this process (and the `galera-lab status` it starts)
runs with an effective group that an iptables OUTPUT rule rejects for the lab's /23, so none of
its connections can reach a node, proxy or VIP address; Docker's own proxy (group 0) still
carries the published ports into the lab. `up` must become healthy, `status` say so, SQL work
through each node's published port, and a SIGKILLed VIP holder's VIP move to the other proxy
with clients of the forwarder through again. Before the rule goes, the same direct connection is
made with group 0 and works: the rule alone made it fail, so the test fails if a tool goes direct.

One test function: each step needs the lab the previous one made, and a lab costs a minute.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from chaos import checkers
from chaos.faults import heal_all
from chaos.history import History
from chaos.scenario import vip_holders
from chaos.workloads import AvailabilityProbe, Endpoint, Sampler, running
from lab import reach
from lab.errors import LabError
from lab.isolation import SUITES, missing_part, suite_spec
from lab.runtime import Lab, leftover_resources
from tests.docker_check import docker_skip_reason
from tests.vip_failover import kill_vip_holder

pytestmark = [pytest.mark.e2e, pytest.mark.skipif(bool(docker_skip_reason()), reason=docker_skip_reason() or "-")]

CUT_GID = 48120
"""The effective group whose connections to the lab's subnets are rejected (no group uses it)."""
REACH_BASE = 48120
"""The suite's published-reach ports (48120-48127), apart from its forwarder's 28120/38120."""


def _rule(subnet: str) -> list[str]:
    return ["OUTPUT", "-d", subnet, "-m", "owner", "--gid-owner", str(CUT_GID), "-j", "REJECT"]


@contextmanager
def route_cut(subnet: str) -> Iterator[None]:
    """Connections this process opens to `subnet` are rejected while inside (its effective group
    is CUT_GID); the rule and the group are undone on the way out, whatever happened."""
    subprocess.run(["iptables", "-I", *_rule(subnet)], check=True, capture_output=True)
    try:
        os.setegid(CUT_GID)
        try:
            yield
        finally:
            os.setegid(0)
    finally:
        subprocess.run(["iptables", "-D", *_rule(subnet)], check=True, capture_output=True)


def _direct(address: str, port: int) -> str:
    """Connect straight to a lab address (no host reach): "ok" or the error's name."""
    try:
        socket.create_connection((address, port), timeout=3).close()
        return "ok"
    except OSError as exc:
        return type(exc).__name__


def test_published_reach_with_the_route_cut(tmp_path: Path) -> None:
    if os.geteuid() != 0 or shutil.which("iptables") is None:
        pytest.skip("cutting this host's route to the lab needs root and iptables (apt-get install iptables)")
    spec = suite_spec("bridge", [("networks.frontend.driver", "bridge"), ("networks.frontend.host_reach", "published"),
                                 ("networks.frontend.reach_port_base", REACH_BASE)])
    missing = missing_part(spec)
    if missing:
        pytest.skip(missing)
    lab = Lab.create(spec, tmp_path / spec.project)
    assert lab.plan.bridge and lab.plan.host_reach == "published", lab.choices
    lab_net = SUITES["bridge"].base
    node1 = str(spec.node_address("node1"))
    try:
        with route_cut(lab_net):
            says: list[str] = []
            status = lab.up(say=says.append)
            assert status.healthy, status
            assert any("through ports published on 127.0.0.1" in s for s in says), says
            # the cut holds: this process can't reach a node directly, yet `up` saw everything healthy
            assert _direct(node1, 3306) == "ConnectionRefusedError"

            env = {**os.environ, "LAB_HOME": str(tmp_path)}
            shown = subprocess.run([sys.executable, "-m", "lab.cli", "status", "--json", "--project", spec.project],
                                   env=env, capture_output=True, text=True, timeout=120)
            assert shown.returncode == 0, shown.stdout + shown.stderr
            st = json.loads(shown.stdout)
            assert all(n["state"] == "Synced" for n in st["galera"]) and st["vip"]["sql_ok"], st
            assert all(p["ready"] for p in st["proxies"]), st["proxies"]

            # SQL through each node's published port on 127.0.0.1, named in the plan
            published = reach.published(lab.plan)
            for node in spec.node_names:
                (host_port, _), = [pair for pair in published[node] if pair[1] == 3306]
                ep = Endpoint("127.0.0.1", host_port, "lab_admin", lab.secrets["LAB_ADMIN_PASSWORD"])
                with ep.connect(timeout=5) as conn, conn.cursor() as cur:
                    cur.execute("SELECT @@wsrep_node_name")
                    assert cur.fetchone()[0] == node

            # SIGKILL of the VIP holder: the VIP moves, seen and used through the published path
            deadline = spec.vip_failover_deadline_s()
            history = History()
            probe = AvailabilityProbe(lab, history, duration=120, process="via-vip", endpoint=Endpoint.vip(lab))
            vip = Sampler(lambda: vip_holders(lab), interval=0.05, duration=120, name="vip")
            with running(vip, probe):
                kill = kill_vip_holder(lab, status, history, vip, ("via-vip",))
            t0, moved = kill.t0, kill.moved
            heal_all()
            assert moved is not None and moved <= deadline, f"VIP moved after {moved} s (deadline {deadline} s)"
            down = checkers.downtime(history.ops(), window_start=t0 - 1)
            print(f"\npublished reach failover: VIP moved in {moved:.2f} s; longest outage through the forwarder "
                  f"{down.longest_ms:.0f} ms", file=sys.stderr)
            assert down.ok, down
            assert _direct(node1, 3306) == "ConnectionRefusedError", "still cut at the end"
            # group 0 is not cut: the same direct connection works, so the rule alone refused it above
            os.setegid(0)
            try:
                assert _direct(node1, 3306) == "ok"
            finally:
                os.setegid(CUT_GID)
    finally:
        heal_all()
        try:
            lab.down(volumes=True)
        except LabError as exc:
            print(f"down failed: {exc}", file=sys.stderr)
    assert leftover_resources(spec) == {"containers": [], "networks": [], "volumes": [], "links": []}

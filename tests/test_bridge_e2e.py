"""End to end on a bridge frontend (networks.frontend.driver: bridge, the Docker Desktop mode):
the lab comes up healthy with no host link; SQL reaches the VIP from this Linux host (which
routes to the bridge) and through the forwarder's port on 127.0.0.1; a SIGKILLed VIP holder
hands the VIP to the other proxy within the failover deadline, over VRRP and gratuitous ARP on
the bridge, and clients of the forwarder and the app get through again; `down` leaves nothing.

One test function: each step needs the lab the previous one made, and a lab costs a minute.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import docker
import pytest

from chaos import checkers
from chaos.faults import heal_all
from chaos.history import History
from chaos.scenario import vip_holders
from chaos.workloads import AvailabilityProbe, Endpoint, HttpProbe, Sampler, running
from lab import frontend, hostnet
from lab.errors import LabError
from lab.isolation import missing_part, suite_spec
from lab.runtime import Lab, leftover_resources
from tests.docker_check import docker_skip_reason
from tests.vip_failover import kill_vip_holder, ok_since, wait_until

pytestmark = [pytest.mark.e2e, pytest.mark.skipif(bool(docker_skip_reason()), reason=docker_skip_reason() or "-")]

RECONNECT_MARGIN_S = 3.0
"""Beyond the VIP failover deadline, what a forwarder client may need: one attempt in flight
when the VIP came back (its 1 s timeout) and the forwarder's fresh connect to the new holder."""


def test_bridge_frontend(tmp_path: Path) -> None:
    spec = suite_spec("bridge", [("networks.frontend.driver", "bridge")])
    missing = missing_part(spec)
    if missing:
        pytest.skip(missing)
    lab = Lab.create(spec, tmp_path / spec.project)
    assert lab.plan.bridge, lab.choices
    cli = docker.from_env()
    try:
        says: list[str] = []
        status = lab.up(say=says.append)
        assert status.healthy, status

        # 1. a Docker bridge, no host link; the forwarder publishes on loopback only
        net = cli.networks.get(f"{spec.project}-frontend")
        assert net.attrs["Driver"] == "bridge"
        assert not any(hostnet.link_exists(n) for n in (spec.parent_bridge, spec.shim_link))
        assert not any(s.startswith("host network:") for s in says), "a bridge lab touches no host link"
        assert any(s.startswith("frontend: Docker bridge network") for s in says), says
        fwd = cli.containers.get(spec.container(frontend.FORWARDER))
        # the image's other exposed ports are listed too, unpublished (no bindings)
        bindings = {port: [(b["HostIp"], b["HostPort"]) for b in hosts]
                    for port, hosts in fwd.attrs["NetworkSettings"]["Ports"].items() if hosts}
        expected = {f"{vip_port}/tcp": [("127.0.0.1", str(host_port))]
                    for host_port, vip_port in frontend.forwarded_ports(lab.plan)}
        assert bindings == expected
        assert status.forward is not None and status.forward.sql_ok and status.frontend == "bridge"
        env = {**os.environ, "LAB_HOME": str(tmp_path)}
        shown = subprocess.run([sys.executable, "-m", "lab.cli", "status", "--project", spec.project], env=env,
                               capture_output=True, text=True, timeout=120)
        assert shown.returncode == 0, shown.stdout + shown.stderr
        assert "forwarder" in shown.stdout and "frontend: Docker bridge network" in " ".join(shown.stdout.split())
        as_json = subprocess.run([sys.executable, "-m", "lab.cli", "status", "--json", "--project", spec.project],
                                 env=env, capture_output=True, text=True, timeout=120)
        st = json.loads(as_json.stdout)
        assert st["frontend"] == "bridge" and st["forward"]["sql_ok"] is True
        assert st["forward"]["port"] == spec.networks.frontend.forward_port

        # 2. SQL through the VIP from this host, and through the forwarder
        vip_ep = Endpoint.vip(lab)
        fwd_ep = Endpoint(frontend.FORWARD_BIND, spec.networks.frontend.forward_port, "lab_admin",
                          lab.secrets["LAB_ADMIN_PASSWORD"])
        for ep in (vip_ep, fwd_ep):
            with ep.connect(timeout=5) as conn, conn.cursor() as cur:
                cur.execute("SELECT @@wsrep_node_name")
                assert cur.fetchone()[0] in spec.node_names

        # 3. SIGKILL of the VIP holder: the VIP moves, the forwarder's clients and the app recover
        deadline = spec.vip_failover_deadline_s()
        history = History()
        probes = [AvailabilityProbe(lab, history, duration=180, process="via-forwarder", endpoint=fwd_ep),
                  AvailabilityProbe(lab, history, duration=180, process="via-vip", endpoint=vip_ep),
                  HttpProbe(lab, history, duration=180)]
        vip = Sampler(lambda: vip_holders(lab), interval=0.05, duration=180, name="vip")
        with running(vip, *probes):
            kill = kill_vip_holder(lab, status, history, vip, ("via-forwarder", "via-vip", "http"))
            t0, moved, standby = kill.t0, kill.moved, kill.standby
            t_healed = time.time()
            wait_until(lambda: ok_since(history, "via-forwarder", t_healed) >= 5, "the forwarder after the heal", 30)
        heal_all()
        assert moved is not None and moved <= deadline, f"VIP moved after {moved} s (deadline {deadline} s)"
        by = {p: checkers.downtime([op for op in history.ops() if op.process == p], window_start=t0 - 1)
              for p in ("via-forwarder", "via-vip", "http")}
        errors = {p: sorted({(op.error or "?")[:70] for op in history.ops() if op.process == p and op.outcome != "ok"})
                  for p in ("via-forwarder", "via-vip")}
        print(f"\nbridge failover: VIP moved in {moved:.2f} s; longest outage "
              + ", ".join(f"{p} {d.longest_ms:.0f} ms" for p, d in by.items()) + f"; errors seen {errors}",
              file=sys.stderr)
        for process, down in by.items():
            assert down.ok, f"{process} still failing at the end: {down}"
        assert by["via-forwarder"].longest_ms <= (deadline + RECONNECT_MARGIN_S) * 1000, by["via-forwarder"]
        assert by["via-vip"].longest_ms <= deadline * 1000 + 1000, by["via-vip"]
        assert vip_holders(lab) == (standby,), "no preemption: the VIP stays on the standby"
        # the new MASTER announced the VIP's new MAC on the bridge (how the app and forwarder follow it)
        new_master_log = cli.containers.get(spec.container("keepalived" + standby.removeprefix("proxy"))).logs(
            since=int(t0)).decode(errors="replace")
        announced = [ln for ln in new_master_log.splitlines()
                     if "sending gratuitous arp" in ln.lower() and ln.endswith(f" for {spec.keepalived.vip}")]
        assert announced, new_master_log[-2000:]
    finally:
        heal_all()
        try:
            lab.down(volumes=True)
        except LabError as exc:
            print(f"down failed: {exc}", file=sys.stderr)
    # 4. nothing of the lab remains: no container, network, volume or host link
    assert leftover_resources(spec) == {"containers": [], "networks": [], "volumes": [], "links": []}

"""End to end: a real lab up (interrupted once and resumed), SQL through the VIP, status, a
full-cluster restart from kept data, and a teardown that leaves nothing behind.

One test function on purpose: each step needs the state the previous one made, and bringing a
lab up costs a minute on two cores.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

from lab import db
from lab.errors import LabError
from lab.runtime import Lab, leftover_resources
from lab.isolation import SUITES, missing_part, suite_spec, user_profile, user_spec_path
from lab.spec import LabSpec
from tests.docker_check import docker_skip_reason

pytestmark = [pytest.mark.e2e, pytest.mark.skipif(bool(docker_skip_reason()), reason=docker_skip_reason() or "-")]

PROJECT = SUITES["e2e"].project


def cli_spec_args() -> list[str]:
    """The same spec as `suite_spec("e2e")`, as `galera-lab` flags."""
    args = ["--spec", str(user_spec_path())] if user_spec_path() else []
    args += ["--profile", user_profile()] if user_profile() else []
    for key, value in SUITES["e2e"].overrides():
        args += ["--set", f"{key}={'null' if value is None else value}"]
    return args


def cli(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "lab.cli", *args], capture_output=True, text=True, env=env, timeout=600)


def interrupt_up_while_joining(spec_args: list[str], env: dict[str, str]) -> str:
    """Start `galera-lab up`, press Ctrl-C as node2 starts joining; return what it printed."""
    # SIGINT back to its default in the child: a test run started as a background job inherits
    # it ignored, and Python then installs no KeyboardInterrupt handler (the Ctrl-C would be lost)
    proc = subprocess.Popen([sys.executable, "-m", "lab.cli", "up", *spec_args], stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, env=env,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    out = []
    assert proc.stdout is not None
    for line in proc.stdout:
        out.append(line)
        if "node2 joining" in line:
            proc.send_signal(signal.SIGINT)
            break
    rest, _ = proc.communicate(timeout=120)
    out.append(rest)
    assert proc.returncode == 130, "".join(out)
    return "".join(out)


def rows_on(lab: Lab, node: str, table: str) -> set[str]:
    pw = lab.secrets["LAB_ADMIN_PASSWORD"]
    with db.session(str(lab.spec.node_address(node)), 3306, "lab_admin", pw, "lab", timeout=10) as conn:
        db.query(conn, "SET SESSION wsrep_sync_wait = 1")
        return {r[0] for r in db.query(conn, f"SELECT token FROM {table}")}


def write_via_vip(lab: Lab, table: str, n: int) -> set[str]:
    tokens = {uuid.uuid4().hex for _ in range(n)}
    pw = lab.secrets["LAB_ADMIN_PASSWORD"]
    with db.session(str(lab.spec.keepalived.vip), lab.spec.proxy.sql_port, "lab_admin", pw, "lab", timeout=10) as conn:
        db.query(conn, f"CREATE TABLE IF NOT EXISTS {table} (id INT AUTO_INCREMENT PRIMARY KEY, token CHAR(32) NOT NULL UNIQUE)")
        for t in tokens:
            db.query(conn, f"INSERT INTO {table} (token) VALUES (%s)", (t,))
    return tokens


def test_lab_lifecycle(tmp_path: Path) -> None:
    env = {**os.environ, "LAB_HOME": str(tmp_path)}
    spec_args = cli_spec_args()
    spec: LabSpec = suite_spec("e2e")
    missing = missing_part(spec)
    if missing:
        pytest.skip(missing)
    lab = Lab.create(spec, tmp_path / PROJECT)
    try:
        # 1. Ctrl-C in the middle of `up`, then `up` again finishes the job
        interrupt_up_while_joining(spec_args, env)
        status = lab.up()
        assert status.healthy

        # 2. SQL through the VIP reaches every node
        tokens = write_via_vip(lab, "e2e_rows", 20)
        for node in spec.node_names:
            assert tokens <= rows_on(lab, node, "e2e_rows"), node

        # 3. status --json says what the issue promises
        proc = cli("status", "--json", *spec_args, env=env)
        assert proc.returncode == 0, proc.stdout + proc.stderr
        st = json.loads(proc.stdout)
        assert [n["name"] for n in st["galera"]] == spec.node_names
        assert all(n["state"] == "Synced" and n["cluster_size"] == 3 and n["cluster_status"] == "Primary" for n in st["galera"])
        assert [p["name"] for p in st["proxies"]] == spec.proxy_names
        assert sum(p["holds_vip"] for p in st["proxies"]) == 1
        assert all(p["kind"] == lab.plan.proxy_kind and any(b["status"] == "UP" for b in p["backends"])
                   for p in st["proxies"])
        if lab.plan.proxy_kind == "proxysql":  # hostgroups and the ProxySQL cluster, per proxy
            for p in st["proxies"]:
                groups = p["details"]["hostgroups"]
                assert len(groups["writer"]) == 1 and set(groups["reader"]) | set(groups["writer"]) <= set(spec.node_names)
                assert p["details"]["cluster"]["in_sync"] is True, p["details"]["cluster"]
        holder = next(p["name"] for p in st["proxies"] if p["holds_vip"])
        assert st["vip"] == {**st["vip"], "address": str(spec.keepalived.vip), "port": spec.proxy.sql_port,
                             "holder": holder, "sql_ok": True}
        assert st["app"]["kind"] == lab.plan.app_kind and st["app"]["http_status"] == 200

        # 3b. a new lab's first keepalived took the VIP at once (no master-down wait), and then
        # reloaded into the configured instance: BACKUP, nopreempt, its own priority
        assert holder == "proxy1", st["proxies"]
        first = lab.docker.containers.get(spec.container("keepalived1"))
        assert b"proxy1 starts as MASTER (vip-first)" in first.logs()
        code, conf = first.exec_run(["cat", "/etc/keepalived/keepalived.conf"])
        assert code == 0 and "nopreempt" in conf.decode() and "priority 200" in conf.decode(), conf
        assert "notify_master" not in conf.decode() and "state BACKUP" in conf.decode(), conf
        assert not (lab.stack / "control" / "vip-first").exists(), "the start-up path ends with `up`"

        # 4. `up` on a running lab changes nothing
        before = {c: lab.docker.containers.get(spec.container(c)).id for c in spec.node_names}
        lab.up()
        assert before == {c: lab.docker.containers.get(spec.container(c)).id for c in spec.node_names}

        # 4b. a proxy that crashed and was started by hand: `up` puts its keepalived back in its namespace
        proxy = lab.docker.containers.get(spec.container("proxy2"))
        proxy.kill()
        proxy.start()
        lab.up()
        sidecar = lab.docker.containers.get(spec.container("keepalived2"))
        proxy.reload()
        assert sidecar.attrs["State"]["StartedAt"] > proxy.attrs["State"]["StartedAt"]
        code, out = sidecar.exec_run(["ip", "-o", "-4", "addr", "show"])
        assert str(spec.proxy_frontend_address("proxy2")) in out.decode(), "sidecar sees the proxy's interfaces"

        # 4c. failover is unchanged by the start-up path: the VIP holder dies, the VIP moves, and
        # when it is back (its keepalived restarted, without vip-first) the VIP stays (nopreempt)
        lab.docker.containers.get(spec.container("proxy1")).kill()
        lab.wait(lambda: lab.probe.vip_holder_of("proxy2"), "the VIP on proxy2", time.monotonic() + 30, say=print)
        lab.docker.containers.get(spec.container("proxy1")).start()
        lab.up()
        lab.wait(lambda: lab.probe.proxy("proxy1").ready, "proxy1 back", time.monotonic() + 30, say=print)
        time.sleep(4 * spec.keepalived.advert_interval + 1)  # what a preempting instance would need
        assert lab.probe.vip_holder_of("proxy2") and not lab.probe.vip_holder_of("proxy1")

        # 4d. a node that left the group for good (as a joiner partitioned away before its SST
        # does: MariaDB disconnects it and it waits as Initialized forever) is restarted by `up`
        with db.session(str(spec.node_address("node3")), 3306, "lab_admin", lab.secrets["LAB_ADMIN_PASSWORD"]) as conn:
            conn.cursor().execute("SET GLOBAL wsrep_cluster_address = ''")
        lab.wait(lambda: lab.probe.node("node3").cluster_status == "Disconnected", "node3 disconnected",
                 time.monotonic() + 30, say=print)
        says: list[str] = []
        lab.up(say=says.append)
        assert any("node3 dropped out of the group" in s for s in says), says
        assert lab.probe.node("node3").ready

        # 5. full-cluster restart: node1 stops first and falls behind, so recovery must not start from it
        lab.compose.compose.stop(services=["node1"], timeout=60)
        # the proxies notice within `fall` health checks; wait for the new writer, don't sleep
        lab.wait(lambda: lab.probe.vip(None).served_by in ("node2", "node3"), "a new writer behind the VIP",
                 time.monotonic() + 60, say=print)
        later = write_via_vip(lab, "e2e_rows", 10)
        lab.down(volumes=False)
        assert leftover_resources(spec)["volumes"], "data volumes are kept by a plain down"
        positions = {p.node: p.seqno for p in lab.positions(spec.node_names)}
        assert positions["node1"] < max(positions["node2"], positions["node3"]), positions
        says = []
        lab.up(say=says.append)
        assert any("bootstrapping from node2" in s or "bootstrapping from node3" in s for s in says), says
        for node in spec.node_names:
            assert tokens | later <= rows_on(lab, node, "e2e_rows"), node
    finally:
        try:
            lab.down(volumes=True)
        except LabError as exc:  # still check what is left, and say why down failed
            print(f"down failed: {exc}", file=sys.stderr)
    # 6. nothing of the lab remains
    assert leftover_resources(spec) == {"containers": [], "networks": [], "volumes": [], "links": []}

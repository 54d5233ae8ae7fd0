"""End to end: `galera-lab secrets rotate`, twice, on a running lab while a writer inserts
through the VIP, fresh logins probe the VIP and the application serves pages.

What it proves, per proxy tier (HAProxy always; ProxySQL where its image is on the machine;
and Chamilo on HAProxy where a current Chamilo image is here, never built by this test):
no acknowledged write lost, the new passwords work and the old ones are refused (MariaDB,
the VIP, ProxySQL's admin and cluster logins), the app answers 200 (Chamilo: a logged-in
user's session and calendar writes go on, and the admin's pinned password still logs in), the secrets files are
0600, `galera-lab status` is healthy, no secret was on any process's command line during the
rotation nor in a container's labels, environment or command, and (HAProxy run) a node that
needs a full SST after the rotation gets one with the new SST credential.

The writer is the chaos suite's Writer, holding one connection for the whole run (MariaDB
never re-checks a logged-in session's password); should it reconnect, it logs in with what
secrets.env holds at that moment, as a client that re-reads its configuration would.

Runs on its own lab (`rotate-lab`, lab/isolation.py) and removes it, host links included.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import pymysql
import pytest

from chaos.checkers import check_acknowledged_writes
from chaos.history import History
from chaos import chamilo_probe
from chaos.workloads import (AvailabilityProbe, Endpoint, HttpProbe, Sampler, Workload, Writer, ensure_tables,
                             final_keys, running)
from lab import chamilo, db, images, rotate
from lab.errors import LabError
from lab.isolation import SUITES, suite_spec
from lab.render import SECRET_NAMES, read_secrets_file
from lab.runtime import Lab, leftover_resources
from lab.tiers.proxysql import ADMIN_USER
from tests.docker_check import docker_skip_reason

pytestmark = [pytest.mark.e2e, pytest.mark.skipif(bool(docker_skip_reason()), reason=docker_skip_reason() or "-")]

PROJECT = SUITES["rotate"].project
PROXYSQL_IMAGE = os.environ.get("GALERA_LAB_PROXYSQL_IMAGE", "local/proxysql:2.7.1")
TIERS: dict[str, list[tuple[str, Any]]] = {
    "haproxy": [("proxy.kind", "haproxy")],
    "proxysql": [("proxy.kind", "proxysql"), ("proxy.proxysql_source", "image"), ("proxy.proxysql_image", PROXYSQL_IMAGE)],
}
CASES = [("haproxy", "probe"), ("proxysql", "probe"), ("haproxy", "chamilo")]
DENIED = 1045


def secrets_now(stack: Path) -> dict[str, str]:
    return read_secrets_file(stack / "secrets.env")


class RereadingWriter(Writer):
    """The chaos Writer; a reconnect logs in with the password secrets.env holds now."""

    def __init__(self, lab: Lab, history: History, stack: Path, **kw: Any):
        super().__init__(lab, history, **kw)
        self.stack = stack
        self.connects = 0

    def _connect(self) -> None:
        self.endpoint = replace(self.endpoint, password=secrets_now(self.stack)["LAB_ADMIN_PASSWORD"])
        self.connects += 1
        super()._connect()


class FreshLoginProbe(AvailabilityProbe):
    """A new login through the VIP every 50 ms as the application's user, with the password
    secrets.env holds at that moment: how long a client that re-reads its config is refused."""

    def __init__(self, lab: Lab, history: History, stack: Path, **kw: Any):
        super().__init__(lab, history, **kw)
        self.stack = stack

    def attempt(self) -> None:
        self.endpoint = replace(self.endpoint, user="chamilo", password=secrets_now(self.stack)["APP_PASSWORD"])
        super().attempt()


class CommandLineScanner(threading.Thread):
    """Every 50 ms, every process's command line on the machine (containers' included: one
    kernel), looking for any value the stack's secrets files hold; records where, never what."""

    def __init__(self, stack: Path):
        super().__init__(daemon=True, name="cmdline-scanner")
        self.stack = stack
        self.stop_event = threading.Event()
        self.found: list[str] = []
        self.scans = 0

    def values(self) -> set[str]:
        out: set[str] = set()
        for name in ("secrets.env", rotate.PENDING, rotate.PREVIOUS):
            out |= set(read_secrets_file(self.stack / name).values())
        return out

    def run(self) -> None:
        seen: set[str] = set()
        while not self.stop_event.is_set():
            seen |= self.values()
            for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
                try:
                    argv = cmdline.read_bytes().decode(errors="replace")
                except OSError:
                    continue
                if any(v in argv for v in seen):
                    self.found.append(f"{cmdline.parent.name}: {argv.split(chr(0))[0]}")
            self.scans += 1
            self.stop_event.wait(0.05)


def login(host: str, port: int, user: str, password: str) -> int:
    """0 when the login works, else MariaDB's (or ProxySQL's) error number."""
    try:
        db.connect(host, port, user, password, timeout=5).close()
        return 0
    except pymysql.MySQLError as exc:
        return int(exc.args[0]) if exc.args and isinstance(exc.args[0], int) else -1


def check_logins(lab: Lab, good: dict[str, str], stale: list[dict[str, str]]) -> None:
    """The `good` passwords log in everywhere they are used; every `stale` one is refused."""
    spec = lab.spec
    places = [(str(spec.node_address(n)), 3306) for n in spec.node_names] + [(str(spec.keepalived.vip), spec.proxy.sql_port)]
    users = {"lab_admin": "LAB_ADMIN_PASSWORD", "chamilo": "APP_PASSWORD", "monitor": "MONITOR_PASSWORD"}
    for host, port in places:
        for user, name in users.items():
            if user == "monitor" and port != 3306:
                continue  # the monitor logs in to the nodes only
            assert login(host, port, user, good[name]) == 0, (host, port, user, "new password")
            for old in stale:
                assert login(host, port, user, old[name]) == DENIED, (host, port, user, "old password")
    if lab.plan.proxy_kind == "proxysql":
        for proxy in spec.proxy_names:
            host, port = str(spec.proxy_backend_address(proxy)), spec.proxy.admin_port
            for user, name in ((ADMIN_USER, "PROXYSQL_ADMIN_PASSWORD"), ("cluster", "PROXYSQL_CLUSTER_PASSWORD")):
                assert login(host, port, user, good[name]) == 0, (proxy, user, "new password")
                for old in stale:
                    assert login(host, port, user, old[name]) != 0, (proxy, user, "old password")


def stored_hashes(lab: Lab) -> dict[str, str]:
    """Each lab account's authentication as SHOW CREATE USER gives it, read on every node."""
    out: dict[str, str] = {}
    for node in lab.spec.node_names:
        with db.session(str(lab.spec.node_address(node)), 3306, "lab_admin", lab.secrets["LAB_ADMIN_PASSWORD"]) as conn:
            for account in rotate.ACCOUNTS:
                text = str(db.query(conn, f"SHOW CREATE USER {account.name}")[0][0])
                assert out.setdefault(account.name, text) == text, (node, account.name, "differs between nodes")
    return out


def inspect_leaks(lab: Lab, values: set[str]) -> list[str]:
    """Containers of the lab whose labels, environment, command or entrypoint hold a secret."""
    leaks = []
    for c in lab.docker.containers.list(all=True, filters={"label": f"galera-lab.project={PROJECT}"}):
        cfg = c.attrs["Config"]
        text = json.dumps([cfg.get("Labels"), cfg.get("Env"), cfg.get("Cmd"), cfg.get("Entrypoint"), c.attrs.get("Args")])
        leaks += [c.name for v in values if v in text]
    return leaks


def cli(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "lab.cli", *args], capture_output=True, text=True, env=env, timeout=300)


def force_sst(lab: Lab, node: str) -> None:
    """`node` loses its data and rejoins: only a full SST (mariabackup, from a donor that learnt
    the new SST credential during the rotation) can bring it back."""
    lab.compose.compose.rm(services=[node], stop=True)
    lab.docker.volumes.get(f"{PROJECT}-{node}-data").remove()
    lab.up()


def app_workloads(lab: Lab, history: History, app: str) -> list[Workload]:
    """The application's users: page loads (probe app: each logs in to the VIP twice); Chamilo
    adds a logged-in admin's session and calendar writes read back."""
    if app == "probe":
        return [HttpProbe(lab, history, duration=120)]
    return [HttpProbe(lab, history, duration=120, marker=chamilo_probe.LOGIN_FORM),
            chamilo_probe.ChamiloSessionProbe(lab, history, duration=120),
            chamilo_probe.ChamiloWriteProbe(lab, history, duration=120, interval=1.0)]


def check_chamilo(lab: Lab, before: dict[str, str], after: dict[str, str]) -> None:
    """Chamilo's config copies in the container hold the new DB password and the install-time
    security key; the admin logs in with the password pinned at the first rotation."""
    container = lab.docker.containers.get(lab.spec.container("app"))
    for path in chamilo.RUNNING_CONFIG_COPIES:
        text = container.exec_run(["cat", path]).output.decode()
        assert after["APP_PASSWORD"] in text and before["APP_PASSWORD"] not in text, path
        assert chamilo.security_key(before) in text, path
    assert chamilo.admin_password(after) == chamilo.admin_password(before)
    client = chamilo_probe.ChamiloClient(lab.probe.app_url(), timeout=10)
    client.login(chamilo_probe.ADMIN, chamilo.admin_password(after))
    client.logged_in_page()


@pytest.mark.parametrize("tier,app", CASES)
def test_rotate_under_writes(tier: str, app: str, tmp_path: Path) -> None:
    spec = suite_spec("rotate", [*TIERS[tier], ("app.kind", app), ("galera.sst_method", "mariabackup")])
    if tier == "proxysql" and not images.image_present(PROXYSQL_IMAGE):
        pytest.skip(f"no ProxySQL image {PROXYSQL_IMAGE} on this machine (GALERA_LAB_PROXYSQL_IMAGE names another)")
    if app == "chamilo" and not images.is_current(images.chamilo_image(spec), images.client()):
        pytest.skip(f"no current Chamilo image {images.chamilo_image(spec).tag} here (this test never builds one)")
    env = {**os.environ, "LAB_HOME": str(tmp_path)}
    stack = tmp_path / PROJECT
    lab = Lab.create(spec, stack)
    try:
        lab.up()
        ensure_tables(Endpoint.vip(lab))
        before = secrets_now(stack)
        history = History()
        writer = RereadingWriter(lab, history, stack, duration=120)
        fresh = FreshLoginProbe(lab, history, stack, duration=120)
        users = app_workloads(lab, history, app)
        scanner = CommandLineScanner(stack)
        # context for a reader of the saved run: who held the VIP, and how loaded the machine was
        holder = Sampler(lambda: ([p for p in spec.proxy_names if lab.probe.vip_holder_of(p)], os.getloadavg()[0]),
                         interval=0.5, duration=300, name="vip-holder")
        scanner.start()
        try:
            with running(writer, fresh, *users, holder):
                time.sleep(3)
                t0 = time.time()
                first = rotate.rotate(lab, say=print)
                t1 = time.time()
                middle = secrets_now(stack)
                time.sleep(2)
                t2 = time.time()
                proc = cli("secrets", "rotate", "--project", PROJECT, env=env)
                t3 = time.time()
                assert proc.returncode == 0, proc.stdout + proc.stderr
                time.sleep(3)
        finally:
            scanner.stop_event.set()
            scanner.join(5)
        assert writer.error is None, writer.error
        after = secrets_now(stack)
        lab._secrets = None  # the CLI rotated in another process
        assert first.online and all(before[n] != middle[n] != after[n] for n in SECRET_NAMES)
        values = {v for s in (before, middle, after) for k, v in s.items() if k in SECRET_NAMES}
        for out in (proc.stdout, proc.stderr):
            assert not [v for v in values if v in out], "the CLI printed a secret"

        # no acknowledged write lost; what the clients saw while the passwords changed
        verdict = check_acknowledged_writes(history, {n: set(k) for n, k in final_keys(lab).items()})
        windows = [(t0, t1), (t2, t3)]

        def during(kind: str) -> tuple[int, int]:
            ops = [op for op in history.ops(kind) if any(a <= op.start <= b for a, b in windows)]
            return len(ops), sum(op.outcome != "ok" for op in ops)

        figures = {
            "tier": tier, "app": app, "writes_acked": verdict.acknowledged, "writes_lost": len(verdict.lost),
            "writes_failed": verdict.failed, "writes_unknown": verdict.unknown,
            "writes_during_rotations": during("write"), "writer_logins": writer.connects,
            "fresh_logins_during_rotations": during("connect"), "http_during_rotations": during("http"),
            **({k: during(k) for k in ("chamilo_session", "chamilo_login", "chamilo_write", "chamilo_read_own_write")}
               if app == "chamilo" else {}),
            "rotation_s": [round(t1 - t0, 2), round(t3 - t2, 2)],
            "phases_s": {step: round(at - t0, 2) for step, at in first.steps},
            "cmdline_scans": scanner.scans,
            "errors": sorted({op.error for op in history.ops() if op.error})[:5],
        }
        print("rotation figures:", json.dumps(figures))
        run_file = tmp_path / "rotate-run.json"
        run_file.write_text(json.dumps({"figures": figures, "windows": windows, "steps": first.steps,
                                        "history": history.to_json(), "vip": holder.snapshot()}))
        print(f"history, phases and VIP holder saved in {run_file}")
        assert verdict.ok and not verdict.lost, verdict
        assert verdict.acknowledged > 50
        if tier == "haproxy":
            # MariaDB accepted both passwords while clients switched: nobody was refused
            assert verdict.failed == verdict.unknown == 0 and writer.connects == 1, figures
            kinds = {op.kind for op in history.ops()} - {"write"}
            assert all(during(kind)[1] == 0 for kind in kinds), figures

        # new passwords work everywhere, the two generations before are refused
        check_logins(lab, after, [before, middle])
        hashes = stored_hashes(lab)
        for account in rotate.ACCOUNTS:
            assert hashes[account.name].endswith(f"IDENTIFIED BY PASSWORD '{rotate.native_hash(after[account.secret])}'"), account

        # the lab is healthy, the app answers, the files are private, nothing leaked
        assert lab.probe.app().http_status == 200
        if app == "chamilo":
            check_chamilo(lab, before, after)
        for path in [stack / "secrets.env", *(stack / "secrets").iterdir()]:
            assert (path.stat().st_mode & 0o777) == 0o600, path
        assert not (stack / rotate.PENDING).exists() and not (stack / rotate.PREVIOUS).exists()
        assert not scanner.found, scanner.found
        assert scanner.scans > 20
        assert not inspect_leaks(lab, values)
        assert not [v for v in values if v in (stack / "compose.yaml").read_text()]
        deadline = time.monotonic() + 30
        while True:  # ProxySQL's peers compare checksums every 200 ms; give them a moment
            st = cli("status", "--json", "--project", PROJECT, env=env)
            doc = json.loads(st.stdout) if st.stdout.startswith("{") else {}
            synced = all(p["details"].get("cluster", {}).get("in_sync", True) for p in doc.get("proxies", []))
            if st.returncode == 0 and synced or time.monotonic() > deadline:
                break
            time.sleep(1)
        assert st.returncode == 0 and synced, st.stdout + st.stderr

        if (tier, app) == ("haproxy", "probe"):
            force_sst(lab, "node3")
            assert lab.status().healthy
    finally:
        try:
            lab.down(volumes=True)
        except LabError as exc:
            print(f"down failed: {exc}", file=sys.stderr)
    assert leftover_resources(spec) == {"containers": [], "networks": [], "volumes": [], "links": []}

"""A room of two students, for real: `galera-lab workshop --students 2`, then `--down --volumes`.

What it proves (issue 12, point 3): both labs come up healthy and apart (own projects, VIPs,
subnets; SQL through one VIP reaches only its own cluster), the teacher's overview (JSON and
web page) shows both with the progress a student's lab wrote, each student's dashboard refuses
a request without its login (and with the other student's) and accepts its own, and the room's
removal leaves no container, network, volume or host link.

Project `testroom`, addresses in 198.19.128.0/18 (apart from a room on the default range and the bench's),
ports from 21000. One test function on purpose: two labs up cost a few minutes on two cores.
"""

from __future__ import annotations

import base64
import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from ipaddress import IPv4Address, IPv4Network
from pathlib import Path

import pymysql
import pytest

from lab import db
from lab.dashboard.auth import load_login
from lab.isolation import missing_part, user_profile, user_spec_path
from lab.paths import stack_dir
from lab.runtime import Lab, leftover_resources
from lab.spec import LabSpec, load_spec
from lab.workshop import room as rooms
from lab.workshop.model import load_exercises
from lab.workshop.progress import Progress, save_progress
from tests.docker_check import docker_skip_reason

pytestmark = [pytest.mark.e2e, pytest.mark.skipif(bool(docker_skip_reason()), reason=docker_skip_reason() or "-")]

PROJECT = "testroom"
RANGE = "198.19.128.0/18"  # the tests' half of 198.19.128.0/17; the bench room has 198.19.192.0/18
PORT_BASE = 21000
N = 2


def cli_args() -> list[str]:
    """The teacher's spec as the suites get it (GALERA_LAB_SPEC/PROFILE), on the test room."""
    args = ["--project", PROJECT, "--app", "probe", "--room-range", RANGE, "--port-base", str(PORT_BASE)]
    if user_spec_path():
        args += ["--spec", str(user_spec_path())]
    if user_profile():
        args += ["--profile", str(user_profile())]
    return args


def get(url: str, auth: tuple[str, str] | None = None) -> tuple[int, bytes]:
    req = urllib.request.Request(url)
    if auth:
        req.add_header("Authorization", "Basic " + base64.b64encode(f"{auth[0]}:{auth[1]}".encode()).decode())
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def post(url: str, auth: tuple[str, str]) -> tuple[int, bytes]:
    """A POST as the dashboard page sends it (its guard header, an empty JSON body)."""
    req = urllib.request.Request(url, data=b"{}", method="POST", headers={
        "X-Galera-Lab": "1", "Content-Type": "application/json",
        "Authorization": "Basic " + base64.b64encode(f"{auth[0]}:{auth[1]}".encode()).decode()})
    try:
        with urllib.request.urlopen(req, timeout=60) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def wait_rows(proc: subprocess.Popen[bytes], url: str, ok: "callable", what: str, timeout: float) -> list[dict]:
    deadline = time.monotonic() + timeout
    last = "no answer"
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"the room's process exited with {proc.returncode} while waiting for {what}")
        try:
            status, body = get(url + "api/room")
            if status == 200:
                rows = json.loads(body)["students"]
                if ok(rows):
                    return rows
                last = json.dumps(rows)[:600]
        except OSError as exc:
            last = str(exc)
        time.sleep(1)
    raise AssertionError(f"the overview did not show {what} within {timeout:.0f} s: {last}")


def through_vip(spec: LabSpec, sql: str, args: tuple[str, ...] | None = None) -> list[tuple]:
    """One statement through a student's VIP as the app's user, on a fresh connection. A
    connection the proxy drops at its handshake (its 2 s backend connect timeout, hit on a
    loaded machine: seen once here with two other labs running) is tried again for 30 s, as
    an application would; any other error fails the test."""
    lab = Lab.existing(spec.project)
    deadline = time.monotonic() + 30
    while True:
        try:
            with db.session(str(spec.keepalived.vip), spec.proxy.sql_port, "chamilo", lab.secrets["APP_PASSWORD"],
                            "chamilo", timeout=10) as conn:
                return db.query(conn, sql, args)
        except pymysql.err.OperationalError as exc:
            if exc.args[0] != 2013 or time.monotonic() > deadline:
                raise
            time.sleep(1)


def test_room_of_two(tmp_path: Path) -> None:
    teacher = load_spec(user_spec_path(), [("project", PROJECT), ("app.kind", "probe")], profile=user_profile())
    students = rooms.plan_room(PROJECT, N, RANGE, PORT_BASE)
    specs = [rooms.student_spec(teacher, s) for s in students]
    if missing := missing_part(specs[0]):
        pytest.skip(missing)
    overview = f"http://127.0.0.1:{PORT_BASE}/"
    log = (tmp_path / "room.log").open("wb")
    # cwd: an empty folder, so no lab.yaml of the user's is read
    env = {**os.environ, "COLUMNS": "200"}
    proc = subprocess.Popen([sys.executable, "-m", "lab.cli", "workshop", "--students", str(N), *cli_args()],
                            stdout=log, stderr=subprocess.STDOUT, cwd=tmp_path, env=env)
    try:
        rows = wait_rows(proc, overview, lambda rs: len(rs) == N and all(r["health"] == "healthy" and r["writer"]
                                                                        for r in rs),
                         "both labs healthy with a writer", timeout=900)
        assert [r["project"] for r in rows] == ["testroom-s1", "testroom-s2"]
        assert all(r["vip_holder"] in specs[0].proxy_names for r in rows)

        # apart: projects, VIPs, subnets; SQL through each VIP reaches only its own cluster
        assert len({s.project for s in specs}) == N and len({s.keepalived.vip for s in specs}) == N
        token = f"room-{uuid.uuid4().hex[:12]}"
        for spec in specs:
            node = through_vip(spec, "SELECT @@wsrep_node_address")[0][0]
            assert IPv4Address(node.split(":")[0]) in IPv4Network(str(spec.networks.backend.subnet))
            through_vip(spec, "CREATE TABLE IF NOT EXISTS room_probe (t VARCHAR(64) PRIMARY KEY)")
        first, second = specs
        through_vip(first, "INSERT INTO room_probe VALUES (%s)", (token,))
        assert through_vip(first, "SELECT COUNT(*) FROM room_probe WHERE t=%s", (token,))[0][0] == 1
        assert through_vip(second, "SELECT COUNT(*) FROM room_probe WHERE t=%s", (token,))[0][0] == 0
        assert Lab.existing(first.project).secrets["APP_PASSWORD"] != Lab.existing(second.project).secrets["APP_PASSWORD"]

        # the overview shows a student's progress, in JSON and on the web page
        exercises = [ex.id for ex in load_exercises()]
        save_progress(stack_dir(first.project), Progress(exercise=exercises[1], step=1, completed=[exercises[0]],
                                                         total=len(exercises)))
        rows = wait_rows(proc, overview, lambda rs: rs[0]["exercise"] == exercises[1] and rs[0]["completed"] == 1,
                         "student 1's progress", timeout=30)
        assert rows[0]["step"] == 1 and rows[0]["total"] == len(exercises) and rows[1]["exercise"] is None
        status, page = get(overview)
        assert status == 200
        text = page.decode()
        assert f"{exercises[1]} (step 1)" in text and f"1/{len(exercises)}" in text and "testroom-s2" in text

        # each dashboard: refused without its login and with the other student's, served with its own
        logins = [load_login(stack_dir(s.project)) for s in students]
        assert all(login is not None for login in logins)
        for student, login, other in zip(students, logins, reversed(logins)):
            assert (stack_dir(student.project) / "dashboard-login.json").stat().st_mode & 0o777 == 0o600
            url = f"http://127.0.0.1:{student.dashboard_port}/"
            assert get(url + "api/catalog")[0] == 401
            assert get(url + "api/catalog", (other.user, other.password))[0] == 401
            assert get(url + "api/catalog", (login.user, login.password + "x"))[0] == 401
            assert get(url + "api/catalog", (login.user, login.password))[0] == 200
            status, body = get(url + "api/state", (login.user, login.password))
            assert status == 200 and json.loads(body)["tier"] in ("haproxy", "proxysql")
            check = post(url + "api/workshop/check", (login.user, login.password))
            assert check[0] == 200 and "done" in json.loads(check[1])
            assert post(url + "api/workshop/check", (other.user, other.password))[0] == 401
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGINT)
            try:
                proc.wait(120)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(10)
        log.close()
        print((tmp_path / "room.log").read_text(errors="replace")[-4000:])
        down = subprocess.run([sys.executable, "-m", "lab.cli", "workshop", "--students", str(N), "--down", "--volumes",
                               *cli_args()], cwd=tmp_path, capture_output=True, text=True, env=env)
        print(down.stdout, down.stderr)
    assert down.returncode == 0, down.stderr
    for spec in specs:
        assert leftover_resources(spec) == {"containers": [], "networks": [], "volumes": [], "links": []}
    assert not rooms.room_path(PROJECT).exists()

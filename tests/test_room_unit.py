"""A room without Docker: the address plan, the checks before anything starts, the students'
logins, the room file, and the overview's rows from real progress files."""

from __future__ import annotations

import base64
import ipaddress
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from lab.dashboard.app import create_app
from lab.dashboard.auth import Login, ensure_login, load_login, login_path
from lab.errors import LabError, SpecError
from lab.spec import load_spec
from lab.status import AppStatus, LabStatus, NodeStatus, ProxyStatus, VipStatus
from lab.workshop import overview
from lab.workshop import room as rooms
from lab.workshop.progress import Progress, save_progress

ROOM = ipaddress.IPv4Network("198.19.0.0/16")


def test_address_plan_of_32_students_is_distinct_and_inside_the_room() -> None:
    plan = rooms.plan_room("galera-lab", 32)
    nets = [ipaddress.IPv4Network(n) for s in plan for n in (s.backend, s.frontend)]
    assert all(n.subnet_of(ROOM) and n.prefixlen == 24 for n in nets)
    assert all(not a.overlaps(b) for i, a in enumerate(nets) for b in nets[i + 1:])
    for field in ("project", "vip", "router_id", "app_port", "dashboard_port"):
        assert len({getattr(s, field) for s in plan}) == 32, field
    s3 = plan[2]
    assert (s3.project, s3.backend, s3.frontend, s3.vip, s3.router_id) == \
        ("galera-lab-s3", "198.19.6.0/24", "198.19.7.0/24", "198.19.7.100", 153)
    ports = {s.app_port for s in plan} | {s.dashboard_port for s in plan} | {rooms.APP_PORT_BASE}
    assert len(ports) == 65


def test_student_specs_keep_the_teachers_topology_and_change_only_isolation() -> None:
    teacher = load_spec(None, [("project", "testroom"), ("galera.nodes", 5), ("proxy.kind", "haproxy")])
    specs = [rooms.student_spec(teacher, s) for s in rooms.plan_room("testroom", 2, "198.19.128.0/17", 21000)]
    assert [s.galera.nodes for s in specs] == [5, 5] and {s.proxy.kind for s in specs} == {"haproxy"}
    assert [str(s.keepalived.vip) for s in specs] == ["198.19.131.100", "198.19.133.100"]
    assert [s.app.http_port for s in specs] == [21001, 21002]
    # host links of the labs are apart too (the shim sits in the student's own frontend)
    assert len({s.shim_link for s in specs} | {s.parent_bridge for s in specs}) == 4
    assert all(s.shim_address in s.networks.frontend.subnet for s in specs)


def test_long_projects_get_distinct_host_links() -> None:
    specs = [rooms.student_spec(load_spec(), s) for s in rooms.plan_room("galera-lab", 12)]
    names = [n for s in specs for n in (s.shim_link, s.parent_bridge)]
    assert len(set(names)) == len(names) and all(len(n) <= 15 for n in names)
    assert load_spec().shim_link == "gls-galera-lab"  # short names are as before


@pytest.mark.parametrize("n", [0, -1, 33, 100, True])
def test_student_count_outside_1_to_32_is_refused(n: int) -> None:
    with pytest.raises(SpecError, match="from 1 to 32"):
        rooms.plan_room("galera-lab", n)


def test_range_and_project_that_cannot_hold_the_room_are_refused() -> None:
    with pytest.raises(SpecError, match="fewer than 4 students"):
        rooms.plan_room("galera-lab", 4, "198.19.0.0/22")
    with pytest.raises(SpecError, match="inside the lab's 198.18.0.0/15"):
        rooms.plan_room("galera-lab", 2, "10.0.0.0/16")
    with pytest.raises(SpecError, match="too long for a room"):
        rooms.plan_room("a" * 30, 2)
    with pytest.raises(SpecError, match="port base"):
        rooms.plan_room("galera-lab", 2, port_base=65500)


def test_a_room_that_does_not_fit_memory_is_refused_saying_what_each_lab_needs(tmp_path: Path) -> None:
    meminfo = tmp_path / "meminfo"
    meminfo.write_text("MemTotal:  4000000 kB\nMemAvailable:    3145728 kB\n")
    available = rooms.mem_available_mib(meminfo)
    assert available == 3072
    rooms.check_memory(3, "probe", available)  # 3 x 600 + 1024 = 2824 fits
    with pytest.raises(LabError, match=r"4 x 600 MiB.*3072 MiB available.*at most 3 more fit"):
        rooms.check_memory(4, "probe", available)
    with pytest.raises(LabError, match=r"x 1000 MiB"):
        rooms.check_memory(3, "chamilo", available)


def test_a_port_in_use_is_refused() -> None:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        with pytest.raises(LabError, match=f"port\\(s\\) {port} on 127.0.0.1 are in use"):
            rooms.check_ports([port], "127.0.0.1")


def test_login_file_is_0600_kept_and_never_the_same_for_two_students(tmp_path: Path) -> None:
    a = ensure_login(tmp_path / "s1", "s1")
    b = ensure_login(tmp_path / "s2", "s2")
    assert login_path(tmp_path / "s1").stat().st_mode & 0o777 == 0o600
    assert a.password != b.password and len(a.password) >= 16
    assert ensure_login(tmp_path / "s1", "s1") == a == load_login(tmp_path / "s1")
    assert load_login(tmp_path / "nothing") is None
    login_path(tmp_path / "s2").write_text("{not json")
    with pytest.raises(LabError, match="damaged"):
        load_login(tmp_path / "s2")


class _Dash:
    def snapshot(self) -> dict:
        return {"version": 1}

    def catalog(self) -> list:
        return []

    def inject(self, key: str, auto_heal_s: float | None = None) -> dict:
        return {"key": key}

    def heal(self, fault_id: int | None = None) -> list:
        return []

    def workshop_check(self) -> dict:
        return {"done": False, "reason": "fake"}


def _basic(user: str, password: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()}


def test_a_rooms_dashboard_requires_its_students_login() -> None:
    login = Login("s1", "right-password")
    client = TestClient(create_app(_Dash(), login=login))
    for headers in ({}, _basic("s1", "wrong"), _basic("s2", "right-password"), {"Authorization": "Basic !!"},
                    {"Authorization": "Bearer x"}):
        r = client.get("/api/catalog", headers=headers)
        assert r.status_code == 401 and r.headers["www-authenticate"].startswith("Basic realm=")
    assert client.post("/api/heal", headers={"x-galera-lab": "1"}).status_code == 401
    assert client.get("/api/catalog", headers=_basic("s1", "right-password")).status_code == 200
    assert client.post("/api/heal", headers={"x-galera-lab": "1", **_basic("s1", "right-password")}).status_code == 200
    # a lab of its own keeps its dashboard without a login
    assert TestClient(create_app(_Dash())).get("/api/catalog").status_code == 200


def test_room_file_round_trip(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LAB_HOME", str(tmp_path))
    room = rooms.Room("testroom", rooms.plan_room("testroom", 2, "198.19.128.0/17", 21000), overview_port=21000)
    path = rooms.save_room(room)
    assert path == tmp_path / "testroom-room" / "room.json"
    back = rooms.load_room("testroom")
    assert back is not None and back.students == room.students and back.overview_port == 21000
    raw = path.read_text()
    assert "http://127.0.0.1:21101/" in raw and "password" not in raw
    rooms.forget_room("testroom")
    assert rooms.load_room("testroom") is None and not path.parent.exists()


def _status(project: str, healthy: bool) -> LabStatus:
    nodes = [NodeStatus(f"node{i}", "running", "Synced", 3, "Primary", healthy or i != 2) for i in (1, 2, 3)]
    backends = [{"name": "node1", "role": "writer", "status": "UP"}, {"name": "node2", "role": "writer", "status": "UP"}]
    proxies = [ProxyStatus("proxy1", "haproxy", "running", True, backends),
               ProxyStatus("proxy2", "haproxy", "running", False, backends)]
    return LabStatus(project, nodes, proxies, VipStatus("198.19.3.100", 6033, "proxy1", True),
                     AppStatus("probe", "http://127.0.0.1:20001/", 200))


def test_overview_rows_from_statuses_and_progress_files(tmp_path: Path) -> None:
    room = rooms.Room("testroom", rooms.plan_room("testroom", 3, "198.19.128.0/17", 21000), overview_port=21000)
    save_progress(tmp_path / "testroom-s1", Progress(exercise="writer-gone", step=2, completed=["a", "b"], total=8))
    statuses = {"testroom-s1": (_status("testroom-s1", True), None),
                "testroom-s2": (_status("testroom-s2", False), None),
                "testroom-s3": (None, "no lab 'testroom-s3' here")}
    rows = overview.rows_of(room, statuses, stack_of=lambda p: tmp_path / p)
    r1, r2, r3 = rows
    assert (r1.health, r1.writer, r1.vip_holder, r1.exercise_text, r1.progress_text) == \
        ("healthy", "node1", "proxy1", "writer-gone (step 2)", "2/8")
    assert r1.updated > 0 and r1.dashboard_url == "http://127.0.0.1:21101/"
    assert r2.health == "unhealthy: node2" and r2.progress_text == "-" and r2.changed_text(0) == "-"
    assert r3.health.startswith("unreachable: no lab") and r3.writer is None
    page = overview.html_page(room, rows)
    assert page.count("<tr class=") == 3 and "writer-gone (step 2)" in page and "2/8" in page
    table = overview.rich_table(room, rows)
    assert table.row_count == 3


def test_overview_page_escapes_what_it_shows(tmp_path: Path) -> None:
    room = rooms.Room("testroom", rooms.plan_room("testroom", 1, "198.19.128.0/17", 21000), overview_port=21000)
    save_progress(tmp_path / "testroom-s1", Progress(exercise="<script>alert(1)</script>", step=1, total=8))
    rows = overview.rows_of(room, {}, stack_of=lambda p: tmp_path / p)
    page = overview.html_page(room, rows)
    assert "<script>" not in page and "&lt;script&gt;" in page
    assert rows[0].health == "starting"


def test_cli_refuses_a_bad_room_before_anything_starts(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                       capsys: pytest.CaptureFixture[str]) -> None:
    from lab.cli import main

    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("LAB_HOME", str(tmp_path / "stacks"))
    assert main(["workshop", "--students", "33"]) == 2
    assert "--students 33 refused: give a number of students from 1 to 32" in capsys.readouterr().err
    assert main(["workshop"]) == 2
    assert "give a subcommand (galera-lab workshop list, start, check, …) or --students N" in capsys.readouterr().err
    assert main(["workshop", "--students", "2", "check"]) == 2
    assert "--students is the teacher's room" in capsys.readouterr().err
    assert main(["workshop", "--students", "2", "--project", "testroom", "--overview"]) == 2
    assert "no room testroom is up" in capsys.readouterr().err
    assert main(["workshop", "--students", "2", "--project", "a" * 30]) == 2
    assert "too long for a room" in capsys.readouterr().err
    assert not (tmp_path / "stacks").exists()  # nothing was written

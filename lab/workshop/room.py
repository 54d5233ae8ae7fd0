"""A room: one isolated lab per student on one machine, and the file that records it.

Why derived like the suites' labs (lab/isolation.py): every student works on the teacher's
topology (lab.yaml, --set, --profile), so each lab is the teacher's spec with only what keeps
it apart overridden: project `<project>-s<i>`, subnets, VIP, VRRP router id, the app's HTTP
port. Student i (1-based) gets backend 198.19.(2i).0/24 and frontend 198.19.(2i+1).0/24 of the
room's range (198.19.0.0/16: the half of the lab's 198.18.0.0/15 nothing else uses), VIP .100
of its frontend, router id 150+i.

Why a room file: `--down`, the overview and a second `--students N` run must find the labs
(projects, ports, URLs) without recomputing them from a spec that may have changed since.
It holds no secret; each student's dashboard login lives in their stack folder (0600).

    students = plan_room(load_spec(), 4)
    check_room(students, spec)          # N, memory, ports: refused before anything starts
    start_room(room, say=print)         # two labs at a time; a failure cleans the fresh room
    down_room(room, volumes=True)
"""

from __future__ import annotations

import ipaddress
import json
import os
import socket
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from lab.dashboard.auth import ensure_login, login_path
from lab.errors import LabError, SpecError
from lab.grammar import PROJECT
from lab.paths import stack_dir, stacks_home
from lab.spec import LabSpec

Say = Callable[[str], None]

MAX_STUDENTS = 32
ROOM_RANGE = "198.19.0.0/16"
ROUTER_ID_BASE = 150
APP_PORT_BASE = 20000  # student i: app on BASE+i, dashboard on BASE+100+i; the overview on BASE
RESERVE_MIB = 1024  # kept for the system and the teacher's process (overview, dashboards' clients)
LAB_MEMORY_MIB = {"probe": 600, "chamilo": 1000}
"""Memory one healthy lab needs, in MiB, by application: the measured use (README, "A lab per
student": a probe lab 364–378 MiB by docker stats, 478 MiB of MemAvailable with the teacher's
process; a fresh Chamilo lab 511 MiB, more once pages are used) plus headroom for page cache and
the dashboard's clients, so a room the check lets through does not swap."""
ROOM_FILE = "room.json"


@dataclass(frozen=True)
class Student:
    """One student's lab: where it lives and how the student reaches it."""

    index: int
    project: str
    backend: str
    frontend: str
    vip: str
    router_id: int
    app_port: int
    dashboard_port: int

    def overrides(self) -> list[tuple[str, Any]]:
        """What the student's spec changes of the teacher's (nothing else)."""
        return [
            ("project", self.project),
            ("networks.backend.subnet", self.backend),
            ("networks.frontend.subnet", self.frontend),
            ("keepalived.vip", self.vip),
            ("keepalived.virtual_router_id", self.router_id),
            ("app.http_port", self.app_port),
            # derived from the student's subnet and project again, not the teacher's
            ("networks.frontend.shim_address", None),
            ("networks.frontend.parent", None),
        ]

    @property
    def login_user(self) -> str:
        return f"s{self.index}"


def check_count(n: int) -> int:
    """1..32: the room's /16 holds 32 students' pairs of /24s, router ids stay below 255."""
    if not isinstance(n, int) or isinstance(n, bool) or not 1 <= n <= MAX_STUDENTS:
        raise SpecError(f"--students {n!r} refused: give a number of students from 1 to {MAX_STUDENTS}")
    return n


def plan_room(project: str, n: int, address_range: str = ROOM_RANGE, port_base: int = APP_PORT_BASE) -> list[Student]:
    """The address plan of a room of `n` students (validated: it must fit the range and the ports)."""
    check_count(n)
    try:
        net = ipaddress.IPv4Network(address_range)
    except ValueError as exc:
        raise SpecError(f"room range {address_range!r} refused: {exc}") from None
    if not net.subnet_of(ipaddress.IPv4Network("198.18.0.0/15")):
        raise SpecError(f"room range {net} refused: it must lie inside the lab's 198.18.0.0/15")
    if not 1024 <= port_base or port_base + 100 + n > 65535:
        raise SpecError(f"port base {port_base} refused: the room needs ports {port_base}..{port_base + 100 + n} "
                        "between 1024 and 65535")
    out = []
    for i in range(1, n + 1):
        backend = ipaddress.IPv4Network((int(net.network_address) + 2 * i * 256, 24))
        frontend = ipaddress.IPv4Network((int(net.network_address) + (2 * i + 1) * 256, 24))
        if not frontend.subnet_of(net):
            raise SpecError(f"room range {net} holds fewer than {n} students (student {i} would need {frontend}); "
                            f"use a larger range such as {ROOM_RANGE}")
        name = f"{project}-s{i}"
        try:
            PROJECT.check(name)
        except ValueError as exc:
            raise SpecError(f"project {project!r} is too long for a room: student project {name!r}: {exc}") from None
        out.append(Student(i, name, str(backend), str(frontend), str(frontend.network_address + 100),
                           ROUTER_ID_BASE + i, port_base + i, port_base + 100 + i))
    return out


def student_spec(teacher: LabSpec, student: Student) -> LabSpec:
    """The teacher's spec with the student's isolation settings (validated again as a whole)."""
    from lab.spec import set_path

    data = teacher.model_dump(mode="json")
    for key, value in student.overrides():
        set_path(data, key, value)
    try:
        return LabSpec.model_validate(data)
    except Exception as exc:  # pydantic's ValidationError, said in one line
        raise SpecError(f"student {student.index}'s spec refused: {exc}") from None


# ---- what must hold before anything starts ----


def mem_available_mib(meminfo: Path = Path("/proc/meminfo")) -> float:
    """MemAvailable of this machine, in MiB (what the kernel says can be used without swapping)."""
    for line in meminfo.read_text().splitlines():
        if line.startswith("MemAvailable:"):
            return int(line.split()[1]) / 1024
    raise LabError(f"{meminfo} has no MemAvailable line; can't tell how many labs fit")


def labs_that_fit(available_mib: float, per_lab_mib: float, reserve_mib: float = RESERVE_MIB) -> int:
    return max(0, int((available_mib - reserve_mib) // per_lab_mib))


def check_memory(to_start: int, app_kind: str, available_mib: float) -> None:
    """Refuse a room that would not fit: the labs still to start must fit MemAvailable."""
    per_lab = LAB_MEMORY_MIB.get(app_kind, max(LAB_MEMORY_MIB.values()))
    need = to_start * per_lab + RESERVE_MIB
    if need > available_mib:
        fit = labs_that_fit(available_mib, per_lab)
        raise LabError(f"{to_start} more lab(s) of the {app_kind} app need about {to_start} x {per_lab} MiB "
                       f"+ {RESERVE_MIB} MiB for the system = {need:.0f} MiB, but this machine has "
                       f"{available_mib:.0f} MiB available (MemAvailable); at most {fit} more fit")


def port_free(port: int, bind: str = "127.0.0.1") -> bool:
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((bind, port))
        except OSError:
            return False
    return True


def check_ports(ports: list[int], bind: str) -> None:
    busy = [p for p in ports if not port_free(p, bind)]
    if busy:
        raise LabError(f"port(s) {', '.join(map(str, busy))} on {bind} are in use; stop what holds them or "
                       "give the room other ports with --port-base")


# ---- the room file ----


@dataclass
class Room:
    """What `--students N` made: the labs, their ports and URLs, and how to serve them."""

    project: str
    students: list[Student]
    bind: str = "127.0.0.1"
    overview_port: int = APP_PORT_BASE
    app_kind: str = "probe"
    state: str = "starting"
    failed: dict[str, str] = field(default_factory=dict)

    def url(self, port: int) -> str:
        host = "127.0.0.1" if self.bind in ("0.0.0.0", "::") else self.bind
        return f"http://{host if ':' not in host else f'[{host}]'}:{port}/"

    def to_json(self) -> dict[str, Any]:
        return {"project": self.project, "bind": self.bind, "overview_port": self.overview_port,
                "app_kind": self.app_kind, "state": self.state, "failed": self.failed,
                "students": [{**asdict(s), "dashboard_url": self.url(s.dashboard_port),
                              "app_url": f"http://127.0.0.1:{s.app_port}/",
                              "login_file": str(login_path(stack_dir(s.project)))} for s in self.students]}

    @classmethod
    def from_json(cls, raw: dict[str, Any]) -> Room:
        fields = Student.__dataclass_fields__
        students = [Student(**{k: v for k, v in s.items() if k in fields}) for s in raw["students"]]
        return cls(raw["project"], students, raw.get("bind", "127.0.0.1"), int(raw.get("overview_port", APP_PORT_BASE)),
                   raw.get("app_kind", "probe"), raw.get("state", "up"), dict(raw.get("failed", {})))


def room_path(project: str) -> Path:
    """`<stacks>/<project>-room/room.json`: beside the students' stacks, git-ignored like them."""
    return stacks_home() / f"{project}-room" / ROOM_FILE


def save_room(room: Room) -> Path:
    path = room_path(room.project)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(room.to_json(), indent=2) + "\n")
    os.replace(tmp, path)
    return path


def load_room(project: str) -> Room | None:
    path = room_path(project)
    try:
        return Room.from_json(json.loads(path.read_text()))
    except FileNotFoundError:
        return None
    except (ValueError, KeyError, TypeError) as exc:
        raise LabError(f"{path} is damaged ({exc}); `--down` with --students N still removes the labs") from None


def forget_room(project: str) -> None:
    path = room_path(project)
    path.unlink(missing_ok=True)
    try:
        path.parent.rmdir()
    except OSError:
        pass


# ---- bringing it up and down ----


def _lab(teacher: LabSpec, student: Student) -> Any:
    from lab.runtime import Lab

    return Lab.create(student_spec(teacher, student), stack_dir(student.project))


def _prepare_images(lab: Any, say: Say) -> None:
    """Build what the labs need once, before they start side by side (every lab uses the same
    images; two `up`s finding one missing would both build it)."""
    from lab import chamilo, images
    from lab.paths import CHAMILO
    from lab.plan import image_defs

    if lab.plan.app_kind == "chamilo":
        chamilo.prepare_archive(lab.spec, CHAMILO)
    lab.plan.tier.prepare_build()
    built = images.ensure(image_defs(lab.spec, lab.plan.proxy_kind, lab.plan.app_kind), say)
    if built:
        say(f"built {', '.join(built)}")


def start_room(room: Room, teacher: LabSpec, parallel: int = 2, say: Say = print,
               fresh: bool = True, timeout: float = 600.0) -> dict[str, float]:
    """Bring every student's lab up, `parallel` at a time; returns each lab's start time (s).

    Why two at a time by default: a lab's `up` mostly waits (Galera joining, proxy monitors,
    VRRP, the app's first answer) with short CPU bursts; two overlap those waits on two cores,
    more only queue for the CPU and stretch every health deadline.
    On a failure no new lab starts, the ones under way finish, and the error names the
    student. A fresh room is then removed whole (volumes too: nothing half-made stays); a room
    that existed before is left as it was, since a second run resumes it (`up` is idempotent).
    """
    import time

    if parallel < 1:
        raise SpecError(f"--parallel {parallel} refused: give 1 or more")
    room.state = "starting"
    save_room(room)  # first: an interrupted start is still found by --down
    times: dict[str, float] = {}
    failed: dict[str, str] = {}
    stop = threading.Event()
    lock = threading.Lock()

    def one(student: Student) -> None:
        if stop.is_set():
            return
        lab = _lab(teacher, student)
        ensure_login(lab.stack, student.login_user)
        tag = f"[s{student.index}] "
        began = time.monotonic()
        try:
            lab.up(say=lambda msg: say(tag + msg), timeout=timeout)
        except BaseException as exc:  # noqa: BLE001 - said per student, the room decides
            with lock:
                failed[student.project] = str(exc) or exc.__class__.__name__
            stop.set()
            return
        with lock:
            times[student.project] = time.monotonic() - began
        say(f"{tag}healthy in {times[student.project]:.1f} s: {room.url(student.dashboard_port)}")

    _prepare_images(_lab(teacher, room.students[0]), say)
    with ThreadPoolExecutor(max_workers=parallel, thread_name_prefix="room-up") as pool:
        for fut in as_completed([pool.submit(one, s) for s in room.students]):
            fut.result()
    if failed:
        room.failed = failed
        names = "; ".join(f"{p}: {e.splitlines()[0]}" for p, e in failed.items())
        if fresh:
            say(f"start failed ({names}); removing the whole room so nothing half-made stays")
            down_room(room, teacher, volumes=True, say=say)
            raise LabError(f"the room did not start: {names}. Every lab of it was removed.")
        room.state = "failed"
        save_room(room)
        raise LabError(f"the room did not start: {names}. The labs stay as they are: run the same command again "
                       "to resume, or `--down` to remove them.")
    room.state, room.failed = "up", {}
    save_room(room)
    return times


def down_room(room: Room, teacher: LabSpec | None = None, volumes: bool = False, say: Say = print) -> None:
    """Remove every lab of the room (containers, networks, host links; volumes when asked).

    Each lab is taken down even when another fails; the room file goes only when all did, so
    a second `--down` finds what is left."""
    from lab.runtime import Lab

    errors = []
    for s in room.students:
        try:
            try:
                lab = Lab.existing(s.project, stack_dir(s.project))
            except LabError:  # never rendered, or its folder is gone: rebuild it from the plan
                if teacher is None:
                    from lab.spec import load_spec
                    teacher = load_spec()
                lab = _lab(teacher, s)
            lab.down(volumes=volumes, say=lambda msg, s=s: say(f"[s{s.index}] {msg}"))
            if volumes:
                login_path(lab.stack).unlink(missing_ok=True)
        except Exception as exc:  # noqa: BLE001 - take the others down too, then say it
            errors.append(f"{s.project}: {exc}")
    if errors:
        raise LabError("some labs could not be removed: " + "; ".join(errors) + "; run `--down` again")
    forget_room(room.project)

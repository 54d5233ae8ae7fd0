"""`galera-lab workshop --students N [...]`: the teacher's commands for a room.

    galera-lab workshop --students 4                 # up (two at a time), then serve the
                                                     # overview + 4 dashboards until Ctrl-C
    galera-lab workshop --students 4 --no-serve      # up, print the table, exit
    galera-lab workshop --students 4 --overview      # serve an existing room again (no up)
    galera-lab workshop --students 4 --down [--volumes]

Why flags on `workshop` rather than a subcommand: the students' own actions are `workshop`
subcommands (list, start, check, …); the room is the teacher's, and `--students` marks it.
lab/cli.py only calls `add_arguments` on its `workshop` parser and `run` when `--students` is set.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from typing import Any

from rich.console import Console

from lab.errors import LabError, SpecError
from lab.workshop import room as rooms

SpecFrom = Callable[[argparse.Namespace], Any]


def add_arguments(p: argparse.ArgumentParser) -> None:
    """The room's options on the `workshop` parser (its spec options come from lab/cli.py)."""
    g = p.add_argument_group("a lab per student (the teacher's room)")
    g.add_argument("--students", type=int, metavar="N",
                   help=f"bring up N isolated labs (1..{rooms.MAX_STUDENTS}) and serve the room's overview")
    g.add_argument("--down", action="store_true", help="remove every lab of the room (with --students)")
    g.add_argument("--volumes", action="store_true", help="with --down: also delete the labs' data volumes")
    g.add_argument("--no-serve", action="store_true", help="bring the labs up, print the overview once, exit")
    g.add_argument("--overview", action="store_true", help="serve a room that is already up (no `up`)")
    g.add_argument("--parallel", type=int, default=2,
                   help="labs started at once (default 2: a lab's start mostly waits, two fill 2 cores)")
    g.add_argument("--bind", dest="room_bind", default="127.0.0.1",
                   help="address the overview and dashboards listen on (default 127.0.0.1; the "
                        "classroom network's address to let students in)")
    g.add_argument("--port-base", type=int, default=rooms.APP_PORT_BASE,
                   help=f"overview on BASE, student i's app on BASE+i, dashboard on BASE+100+i "
                        f"(default {rooms.APP_PORT_BASE})")
    g.add_argument("--room-range", default=rooms.ROOM_RANGE,
                   help=f"addresses of the students' labs (default {rooms.ROOM_RANGE}): student i gets "
                        "its (2i)th /24 as backend, its (2i+1)th as frontend")


def run(args: argparse.Namespace, spec_from: SpecFrom, console: Console) -> int:
    """Dispatch the room's actions; refuses a bad N before anything else."""
    if args.students is None:
        raise SpecError("give a subcommand (galera-lab workshop list, start, check, …) or --students N for a "
                        "room of labs (e.g. galera-lab workshop --students 4)")
    n = rooms.check_count(args.students)
    teacher = spec_from(args)
    def say(msg: str) -> None:  # plain text: `[s3] …` is not rich markup, a lab's message neither
        console.print(msg, markup=False, highlight=False, soft_wrap=True)

    existing = rooms.load_room(teacher.project)
    if args.down:
        room = existing or rooms.Room(teacher.project, rooms.plan_room(teacher.project, n, args.room_range,
                                                                        args.port_base))
        if existing is not None and len(existing.students) != n:
            say(f"the room has {len(existing.students)} student(s), not {n}: removing all of them")
        rooms.down_room(room, teacher, volumes=args.volumes, say=say)
        say(f"room {teacher.project} removed ({len(room.students)} lab(s)"
            + (", data volumes too)" if args.volumes else ", data volumes kept)"))
        return 0
    if existing is not None and len(existing.students) != n:
        raise LabError(f"room {teacher.project} already has {len(existing.students)} student(s); run with "
                       f"--students {len(existing.students)}, or `--down` it first")
    if args.overview:
        if existing is None:
            raise LabError(f"no room {teacher.project} is up; start it with --students {n}")
        existing.bind = args.room_bind
        rooms.save_room(existing)
        return _serve(existing, args, console, say)
    room = existing or rooms.Room(teacher.project, rooms.plan_room(teacher.project, n, args.room_range, args.port_base),
                                  bind=args.room_bind, overview_port=args.port_base)
    room.bind = args.room_bind
    labs = [rooms.student_spec(teacher, s) for s in room.students]  # every student's spec valid first
    from lab.plan import resolve

    room.app_kind = resolve(labs[0])[0].app_kind
    running = _running_projects([s.project for s in room.students])
    rooms.check_memory(n - len(running), room.app_kind, rooms.mem_available_mib())
    ports = [room.overview_port] + [s.dashboard_port for s in room.students]
    rooms.check_ports(ports, room.bind)
    rooms.check_ports([s.app_port for s in room.students if s.project not in running], "127.0.0.1")
    say(f"room {room.project}: {n} lab(s) of the {room.app_kind} app, {args.parallel} at a time"
        + (f" ({len(running)} already running)" if running else ""))
    began = time.monotonic()
    try:
        times = rooms.start_room(room, teacher, parallel=args.parallel, say=say, fresh=existing is None)
    except KeyboardInterrupt:
        raise LabError(f"interrupted: run the same command again to resume, or `galera-lab workshop --students {n} "
                       "--down --volumes` to remove what was started") from None
    total = time.monotonic() - began
    say(f"all {n} lab(s) healthy in {total:.1f} s (each: "
        + ", ".join(f"s{s.index} {times[s.project]:.1f} s" for s in room.students) + ")")
    say(f"room file: {rooms.room_path(room.project)}; logins: each lab's dashboard-login.json (0600)")
    if args.no_serve:
        from lab.workshop import overview

        watch = overview.RoomWatch(room)
        watch.poll_once()
        console.print(overview.rich_table(room, watch.rows()))
        return 0
    return _serve(room, args, console, say)


def _running_projects(projects: list[str]) -> set[str]:
    """Projects of the room whose containers already run (a second run resumes them)."""
    import docker

    cli = docker.from_env()
    return {p for p in projects if cli.containers.list(filters={"label": f"galera-lab.project={p}"})}


def _serve(room: rooms.Room, args: argparse.Namespace, console: Console, say: Callable[[str], None]) -> int:
    from lab.workshop.room_serve import serve_room

    rooms.check_ports([room.overview_port] + [s.dashboard_port for s in room.students], room.bind)
    say(f"overview: {room.url(room.overview_port)}  (Ctrl-C stops serving; the labs stay up)")
    for s in room.students:
        say(f"  s{s.index}: dashboard {room.url(s.dashboard_port)}  login {s.login_user}, password in "
            f"{rooms.login_path(rooms.stack_dir(s.project))}")
    return serve_room(room, say, console)

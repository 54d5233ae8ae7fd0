"""Serving a room from the teacher's process: the overview page and every student's dashboard.

Why one process and one event loop: N+1 uvicorn servers (the overview on the room's base port,
student i's dashboard on base+100+i) share one asyncio loop, so Ctrl-C stops them all at once
and every fault a student injected is healed on the way out, as `galera-lab dashboard` does.
A student's dashboard starts its poller and its clients (writer, availability and stale-read
probes) only when its page is first opened: an unopened dashboard costs the two cores nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import threading
from collections.abc import Callable, Generator
from typing import Any

from rich.console import Console
from rich.live import Live
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.trustedhost import TrustedHostMiddleware
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import Route

from lab.dashboard.app import allowed_hosts, create_app
from lab.dashboard.auth import load_login
from lab.errors import LabError
from lab.paths import stack_dir
from lab.workshop import overview
from lab.workshop.room import Room, Student

Say = Callable[[str], None]


class LazyDashboard:
    """A student's `Dashboard`, made and started on the first request (thread-safe)."""

    def __init__(self, student: Student, say: Say) -> None:
        self.student = student
        self.say = say
        self._dash: Any = None
        self._lock = threading.Lock()

    def _get(self) -> Any:
        with self._lock:
            if self._dash is None:
                from lab.dashboard.service import Dashboard
                from lab.runtime import Lab

                lab = Lab.existing(self.student.project, stack_dir(self.student.project))
                self._dash = Dashboard(lab, say=lambda msg: self.say(f"[s{self.student.index}] {msg}"))
                self._dash.start()
            return self._dash

    def snapshot(self) -> dict[str, Any]:
        return self._get().snapshot()

    def catalog(self) -> list[dict[str, str]]:
        from lab.dashboard import catalog

        return catalog.catalog_json()

    def inject(self, key: str, auto_heal_s: float | None = None) -> dict[str, Any]:
        return self._get().inject(key, auto_heal_s)

    def heal(self, fault_id: int | None = None) -> list[dict[str, Any]]:
        return self._get().heal(fault_id)

    def workshop_check(self) -> dict[str, Any]:
        """The page's Check button: the student's current step, checked on their own lab."""
        return self._get().workshop_check()

    def stop(self) -> list[str]:
        with self._lock:
            return self._dash.stop() if self._dash is not None else []


def overview_app(room: Room, watch: overview.RoomWatch) -> Starlette:
    """`/` the table (reloads itself), `/api/room` the same rows as JSON. Read-only and holds no
    secret (no password, no button), so it needs no login."""

    async def page(_: Request) -> Response:
        return HTMLResponse(overview.html_page(room, watch.rows()), headers={"Cache-Control": "no-store"})

    async def api(_: Request) -> Response:
        return JSONResponse({"project": room.project, "students": overview.rows_json(watch.rows())})

    return Starlette(routes=[Route("/", page), Route("/api/room", api)],
                     middleware=[Middleware(TrustedHostMiddleware, allowed_hosts=allowed_hosts(room.bind))])


class _Server:
    """uvicorn's server without its own signal handling: the room stops all servers together."""

    def __init__(self, app: Any, bind: str, port: int) -> None:
        import uvicorn

        class Quiet(uvicorn.Server):
            @contextlib.contextmanager
            def capture_signals(self) -> Generator[None, None, None]:
                yield

        self.server = Quiet(uvicorn.Config(app, host=bind, port=port, log_level="warning",
                                           timeout_graceful_shutdown=2))

    async def serve(self) -> None:
        await self.server.serve()
        if not self.server.started:
            raise LabError(f"could not listen on {self.server.config.host}:{self.server.config.port} (port taken?)")

    def stop(self) -> None:
        self.server.should_exit = True


def serve_room(room: Room, say: Say, console: Console, live: bool = True) -> int:
    """Serve the overview and every student's dashboard until Ctrl-C; returns 1 if a heal failed."""
    watch = overview.RoomWatch(room)
    dashboards = []
    servers = [_Server(overview_app(room, watch), room.bind, room.overview_port)]
    for s in room.students:
        login = load_login(stack_dir(s.project))
        if login is None:
            raise LabError(f"{s.project} has no dashboard login; start the room again with --students "
                           f"{len(room.students)}")
        dash = LazyDashboard(s, say)
        dashboards.append(dash)
        servers.append(_Server(create_app(dash, room.bind, login=login), room.bind, s.dashboard_port))
    watch.start()

    async def main() -> None:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, lambda: [srv.stop() for srv in servers])
        tasks = [asyncio.create_task(srv.serve()) for srv in servers]
        if live and console.is_terminal:
            with Live(overview.rich_table(room, watch.rows()), console=console, refresh_per_second=1) as view:
                while not all(t.done() for t in tasks):
                    view.update(overview.rich_table(room, watch.rows()))
                    await asyncio.wait(tasks, timeout=overview.REFRESH_S)
        errors = [r for r in await asyncio.gather(*tasks, return_exceptions=True) if isinstance(r, BaseException)]
        if errors:
            for srv in servers:
                srv.stop()
            raise errors[0]

    try:
        asyncio.run(main())
    finally:
        watch.stop()
        heal_errors = [e for d in dashboards for e in d.stop()]
    for e in heal_errors:
        say(f"heal failed: {e}")
    say("room served no more; the labs stay up (`--down` removes them)")
    return 1 if heal_errors else 0

"""The dashboard's web app (Starlette) and how `galera-lab dashboard` serves it (uvicorn).

Routes: `/` the page, `/static/*` its script and style (shipped in the package: nothing comes
from a CDN, the page works on a machine without internet), `/api/state` one snapshot,
`/api/catalog` the fault buttons, `/events` the live stream (server-sent events, one
snapshot a second), `POST /api/faults/{key}` inject, `POST /api/heal` heal one or all, `POST /api/workshop/check`
the workshop's Check button (the current step's check, as `galera-lab workshop check`), `POST
/api/workshop/answer` its answer box (`{"answer": "node2"}`, as `galera-lab workshop answer`).

Why the guards: the POSTs break a database cluster. The server binds to 127.0.0.1 by
default; a Host header check (TrustedHostMiddleware) stops DNS-rebinding pages from reaching
it, and every POST must carry the `X-Galera-Lab` header, which a cross-site form or a
no-CORS fetch can't send.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any, Protocol

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.middleware import Middleware
from starlette.middleware.trustedhost import TrustedHostMiddleware
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response, StreamingResponse
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from chaos.faults import FaultError
from lab.dashboard import sse
from lab.dashboard.auth import Login, RequireLogin, load_login

STATIC = Path(__file__).with_name("static")
POST_HEADER = "x-galera-lab"


class DashboardLike(Protocol):
    """What the app needs from `service.Dashboard` (tests pass a fake)."""

    def snapshot(self) -> dict[str, Any]: ...
    def catalog(self) -> list[dict[str, str]]: ...
    def inject(self, key: str, auto_heal_s: float | None = None) -> dict[str, Any]: ...
    def heal(self, fault_id: str | None = None) -> list[dict[str, Any]]: ...
    def workshop_check(self) -> dict[str, Any]: ...
    def workshop_answer(self, text: str) -> dict[str, Any]: ...


def allowed_hosts(bind: str) -> list[str]:
    """Host headers the app answers: the bound address and, on loopback, localhost."""
    hosts = [bind, "localhost", "127.0.0.1", "[::1]", "testserver"]
    return ["*"] if bind in ("0.0.0.0", "::") else hosts


async def snapshots(dash: DashboardLike, interval: float, request: Request | None = None,
                    limit: int | None = None) -> AsyncIterator[str]:
    """The event stream: a retry hint, then one `state` event per `interval` (a comment when the
    snapshot could not be read, so the connection stays open); ends when the client leaves."""
    yield sse.format_event({"interval": interval}, event="hello", retry_ms=2000)
    sent = 0
    while limit is None or sent < limit:
        if request is not None and await request.is_disconnected():
            return
        try:
            snap = await run_in_threadpool(dash.snapshot)
            yield sse.format_event(snap, event="state", event_id=snap.get("version", sent))
        except Exception as exc:  # noqa: BLE001 - the stream outlives one bad read
            yield sse.comment(f"snapshot failed: {exc}")
        sent += 1
        if limit is None or sent < limit:
            await asyncio.sleep(interval)


def create_app(dash: DashboardLike, bind: str = "127.0.0.1", interval: float = 1.0,
               stream_limit: int | None = None, login: Login | None = None) -> Starlette:
    """The Starlette app over one dashboard; `stream_limit` ends the stream after N events (tests);
    `login` (a lab of a room) is then required on every request (lab/dashboard/auth.py)."""

    async def index(_: Request) -> Response:
        return FileResponse(STATIC / "index.html", headers={"Cache-Control": "no-store"})

    async def get_state(_: Request) -> Response:
        return JSONResponse(await run_in_threadpool(dash.snapshot))

    async def get_catalog(_: Request) -> Response:
        return JSONResponse(dash.catalog())

    async def events(request: Request) -> Response:
        return StreamingResponse(snapshots(dash, interval, request, stream_limit), media_type="text/event-stream",
                                 headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"})

    def refused(request: Request) -> Response | None:
        if request.headers.get(POST_HEADER) != "1":
            return JSONResponse({"error": f"missing header {POST_HEADER}: 1 (sent by the dashboard page)"},
                                status_code=403)
        return None

    async def inject(request: Request) -> Response:
        if (no := refused(request)) is not None:
            return no
        key = request.path_params["key"]
        body = await _json(request)
        auto = body.get("auto_heal_s")
        try:
            auto_s = float(auto) if auto not in (None, "", 0) else None
        except (TypeError, ValueError):
            return JSONResponse({"error": f"auto_heal_s must be a number of seconds, not {auto!r}"}, status_code=400)
        try:
            fault = await run_in_threadpool(dash.inject, key, auto_s)
        except KeyError as exc:
            return JSONResponse({"error": str(exc.args[0] if exc.args else exc)}, status_code=404)
        except FaultError as exc:
            return JSONResponse({"error": str(exc)}, status_code=409)
        return JSONResponse(fault)

    async def heal(request: Request) -> Response:
        if (no := refused(request)) is not None:
            return no
        body = await _json(request)
        fid = body.get("id")
        healed = await run_in_threadpool(dash.heal, str(fid)[:40] if fid is not None else None)
        return JSONResponse({"healing": healed})

    async def workshop_check(request: Request) -> Response:
        if (no := refused(request)) is not None:
            return no
        return JSONResponse(await run_in_threadpool(dash.workshop_check))

    async def workshop_answer(request: Request) -> Response:
        if (no := refused(request)) is not None:
            return no
        text = (await _json(request)).get("answer")
        why = answer_refused(text)
        if why:
            return JSONResponse({"error": why}, status_code=400)
        return JSONResponse(await run_in_threadpool(dash.workshop_answer, text))

    routes = [
        Route("/", index),
        Route("/api/state", get_state),
        Route("/api/catalog", get_catalog),
        Route("/events", events),
        Route("/api/faults/{key}", inject, methods=["POST"]),
        Route("/api/heal", heal, methods=["POST"]),
        Route("/api/workshop/check", workshop_check, methods=["POST"]),
        Route("/api/workshop/answer", workshop_answer, methods=["POST"]),
        Mount("/static", StaticFiles(directory=STATIC), name="static"),
    ]
    middleware = [Middleware(TrustedHostMiddleware, allowed_hosts=allowed_hosts(bind))]
    if login is not None:
        middleware.append(Middleware(RequireLogin, login=login, realm=f"galera-lab {login.user}"))
    return Starlette(routes=routes, middleware=middleware)


ANSWER_MAX = 200


def answer_refused(text: Any) -> str | None:
    """Why a student's answer is refused before it reaches the lab (None: accepted): one line
    of printable text, 1 to ANSWER_MAX characters. The page shows it with textContent anyway."""
    if not isinstance(text, str) or not text.strip():
        return "send {\"answer\": TEXT}: a non-empty answer"
    if len(text) > ANSWER_MAX:
        return f"an answer is at most {ANSWER_MAX} characters"
    if not text.isprintable():
        return "an answer is one line of printable text"
    return None


async def _json(request: Request) -> dict[str, Any]:
    raw = await request.body()
    if not raw:
        return {}
    try:
        data = await request.json()
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}


def serve(project: str, bind: str = "127.0.0.1", port: int = 8765, say: Any = print,
          stack: Path | None = None) -> int:
    """`galera-lab dashboard`: the running lab `project`, served until Ctrl-C; every fault
    injected from the page is healed on the way out."""
    import uvicorn

    from lab.dashboard.service import Dashboard
    from lab.paths import stack_dir
    from lab.runtime import Lab

    lab = Lab.existing(project, stack or stack_dir(project))
    login = load_login(lab.stack)  # a room's lab: its student's login is required
    dash = Dashboard(lab, say=say)
    dash.start()
    say(f"dashboard of lab {project}: http://{bind if ':' not in bind else f'[{bind}]'}:{port}/  (Ctrl-C stops it)"
        + (f"; login {login.user}, password in {lab.stack / 'dashboard-login.json'}" if login else ""))
    config = uvicorn.Config(create_app(dash, bind, login=login), host=bind, port=port, log_level="warning",
                            timeout_graceful_shutdown=2)
    try:
        uvicorn.Server(config).run()
    except KeyboardInterrupt:
        pass  # uvicorn re-raises the Ctrl-C it already handled; stopping is the normal way out
    finally:
        errors = dash.stop()
        for e in errors:
            say(f"heal failed: {e}")
        say("dashboard stopped; faults healed" if not errors else "dashboard stopped; some heals failed")
    return 1 if errors else 0

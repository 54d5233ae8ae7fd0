"""The lab's judgement of the application: its working home page, not just HTTP 200.

Why: Chamilo answers 200 with a page titled "Database is unavailable" while it can't reach
the database (seen in the chaos suite when the writer was killed); `status`, `up` and the
scenarios' "whole lab healthy" must not call that healthy. A real HTTP server on loopback
serves the pages; no Docker needed."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from lab.spec import load_spec
from lab.status import Probe
from tests.conftest import make_plan

PAGES = {
    "chamilo-ok": (200, b'<html><title>Campus</title><form><input name="login"></form></html>'),
    "chamilo-db-down": (200, b"<html><head><title>Database is unavailable</title><style>x{}</style></head></html>"),
    "probe-ok": (200, b"<p class='ok'>Database reachable</p>"),
    "probe-db-down": (503, b"<p class='err'>Database error: gone</p>"),
}


@pytest.fixture
def serve() -> Iterator[dict[str, object]]:
    state: dict[str, object] = {"page": "chamilo-ok"}

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 - http.server's name
            code, body = PAGES[str(state["page"])]
            if str(state["page"]).startswith("probe") and "text/html" not in self.headers.get("Accept", ""):
                body = b'{"ok":true,"page":"index"}'  # chamilo/probe/rootfs/var/www/html/index.php: JSON unless HTML is asked for
            self.send_response(code)
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    state["port"] = server.server_address[1]
    yield state
    server.shutdown()


@pytest.mark.parametrize("kind", ["chamilo", "probe"])
def test_the_app_is_ok_only_on_its_working_page(serve: dict[str, object], kind: str) -> None:
    spec = load_spec(None, [("app.bind", "127.0.0.1"), ("app.http_port", int(str(serve["port"])))])
    probe = Probe(make_plan(spec, app_kind=kind), {}, docker_client=object())  # type: ignore[arg-type]
    serve["page"] = f"{kind}-ok"
    assert probe.app().ok
    serve["page"] = f"{kind}-db-down"
    down = probe.app()
    assert not down.ok
    if kind == "chamilo":
        assert down.http_status == 200 and down.error == "a page other than its home page: Database is unavailable"
    else:
        assert down.http_status == 503

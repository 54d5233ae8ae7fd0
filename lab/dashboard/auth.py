"""A dashboard's login, for labs of a room (lab/workshop/room.py): one student, one password.

Why: in a room every student's dashboard is reachable from the classroom network, and its
buttons break a cluster; without a login a student could press another's fault buttons. A lab
of a room has a login file in its stack folder (mode 0600, git-ignored with the stack); its
dashboard then requires it on every request (HTTP Basic, which the page's fetch and its
EventSource stream send on their own once the browser has asked the student). A lab of its own
has no such file and its dashboard, bound to 127.0.0.1, stays as it was.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import json
import os
import secrets
from dataclasses import asdict, dataclass
from pathlib import Path

from starlette.types import ASGIApp, Receive, Scope, Send

from lab.errors import LabError

LOGIN_FILE = "dashboard-login.json"


@dataclass(frozen=True)
class Login:
    user: str
    password: str

    def matches(self, header: str | None) -> bool:
        """Whether an `Authorization: Basic …` header carries this login (compared in constant time)."""
        if not header or not header.lower().startswith("basic "):
            return False
        try:
            user, _, password = base64.b64decode(header[6:].strip(), validate=True).decode().partition(":")
        except (binascii.Error, UnicodeDecodeError):
            return False
        ok_user = hmac.compare_digest(user.encode(), self.user.encode())
        ok_password = hmac.compare_digest(password.encode(), self.password.encode())
        return ok_user and ok_password


def login_path(stack: Path) -> Path:
    return stack / LOGIN_FILE


def ensure_login(stack: Path, user: str) -> Login:
    """The lab's login, generated once and kept (mode 0600) so the student's password survives
    a restart of the teacher's process."""
    existing = load_login(stack)
    if existing is not None and existing.user == user:
        return existing
    stack.mkdir(parents=True, exist_ok=True)
    login = Login(user, secrets.token_urlsafe(12))
    tmp = login_path(stack).with_suffix(".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        json.dump(asdict(login), fh)
    os.replace(tmp, login_path(stack))
    return login


def load_login(stack: Path) -> Login | None:
    """The login a room gave this lab, or None (a lab of its own)."""
    try:
        raw = json.loads(login_path(stack).read_text())
        return Login(str(raw["user"]), str(raw["password"]))
    except FileNotFoundError:
        return None
    except (ValueError, KeyError, TypeError) as exc:
        raise LabError(f"{login_path(stack)} is damaged ({exc}); delete it and start the room again") from None


class RequireLogin:
    """ASGI middleware: every HTTP request must carry the login, else 401 with a Basic challenge."""

    def __init__(self, app: ASGIApp, login: Login, realm: str) -> None:
        self.app = app
        self.login = login
        self.realm = realm.replace('"', "")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", [])}
        if self.login.matches(headers.get("authorization")):
            await self.app(scope, receive, send)
            return
        body = b"login required: this dashboard belongs to one student of the room\n"
        await send({"type": "http.response.start", "status": 401, "headers": [
            (b"content-type", b"text/plain; charset=utf-8"), (b"content-length", str(len(body)).encode()),
            (b"www-authenticate", f'Basic realm="{self.realm}", charset="UTF-8"'.encode())]})
        await send({"type": "http.response.body", "body": body})

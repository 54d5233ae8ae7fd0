"""Chamilo as its users see it during a fault: the pages they open and the writes they make.

Why beside the SQL probes: a Chamilo user does not see "a connection to the VIP failed"; they
see the login page not loading, being thrown out of their session, or a calendar event they just
saved missing from the calendar. These clients use the real Chamilo through its published HTTP
port, as a browser would (cookies, forms, the calendar's own AJAX endpoints), and record each
request into the scenario's `History`, so that the same downtime checker measures them:

- `http` (the `HttpProbe` of chaos/workloads.py, with the login form as its marker): the home
  page, which reads the platform settings from the database on every request;
- `chamilo_session`: a logged-in page (`user_portal.php`) on one long-lived session; a page that
  answers but no longer shows the user logged in is a lost session, after which the client logs
  in again through the form (`chamilo_login`);
- `chamilo_write`: a personal calendar event saved through `agenda.ajax.php?a=add_event` (the
  calendar's own call), and `chamilo_read_own_write`: the same user's calendar read straight
  after (`a=get_events`): an event saved but not listed is a stale read after a write.

Each event gets its own minute far in the future, so a read-back asks for one minute and stays
small however long the scenario runs.
"""

from __future__ import annotations

import datetime
import http.cookiejar
import json
import re
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from typing import Any

from chaos.history import History
from chaos.workloads import Workload, page_gist
from lab import chamilo
from lab.status import APP_WORKS

LOGIN_FORM = APP_WORKS["chamilo"]
LOGGED_IN = b"logout"  # the header's logout link is on every page of a logged-in user
ADMIN = "admin"
EVENTS_FROM = datetime.datetime(2031, 1, 1)  # the probe's events: one minute each from here
KINDS = ("http", "chamilo_session", "chamilo_login", "chamilo_write", "chamilo_read_own_write")
"""The op kinds a Chamilo lab's scenario records beyond SQL, in the order the report shows them."""

_TOKEN = re.compile(rb"sec_token=([0-9a-f]+)")


class ChamiloError(Exception):
    """A Chamilo request that did not give what a user expects (the text is what they saw)."""


class ChamiloClient:
    """One browser's worth of Chamilo: a cookie jar, redirects followed, short timeouts."""

    def __init__(self, base_url: str, timeout: float):
        self.base = base_url.rstrip("/") + "/"
        self.timeout = timeout
        self.jar = http.cookiejar.CookieJar()
        self.opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(self.jar))
        self.sec_token: str | None = None

    def request(self, path: str, form: dict[str, str] | None = None) -> bytes:
        """The body of a 200 answer; ChamiloError naming the status or the network error otherwise."""
        data = urllib.parse.urlencode(form).encode() if form is not None else None
        try:
            with self.opener.open(self.base + path.lstrip("/"), data=data, timeout=self.timeout) as resp:
                return resp.read()
        except urllib.error.HTTPError as exc:
            raise ChamiloError(f"HTTP {exc.code}{page_gist(exc.read() or b'')}") from exc
        except (urllib.error.URLError, OSError, ValueError) as exc:
            raise ChamiloError(str(getattr(exc, "reason", exc))) from exc

    def login(self, username: str, password: str) -> None:
        """Chamilo's login form (local.inc.php checks it on the POST to index.php)."""
        self.jar.clear()
        self.sec_token = None
        self.request("index.php")  # the session cookie, as a browser gets it before typing
        body = self.request("index.php", {"login": username, "password": password, "submitAuth": "1",
                                          "_qf__formLogin": ""})
        if LOGGED_IN not in body:
            raise ChamiloError("the login form did not log in" + page_gist(body))

    def logged_in_page(self) -> None:
        """The user's course list (`user_portal.php`), which must show the user."""
        self.require_user("user_portal.php", self.request("user_portal.php"))

    def require_user(self, path: str, body: bytes) -> None:
        """A page without the user on it is either Chamilo's error page (a query failed:
        `Database::handleError` shows "An error has occured" without the user's menu, the
        session intact) or a lost session; the same request once more tells which, as a user
        pressing reload would."""
        if LOGGED_IN in body:
            return
        first = _shown(body)
        if LOGGED_IN in self.request(path):
            raise ChamiloError(f"{path} without the user{first}; reloaded, it had the session again")
        raise ChamiloError(f"session lost: {path} reloaded, still logged out{first}")

    def token(self) -> str:
        """The calendar's CSRF token: the calendar page puts it into its AJAX URL (kept per session)."""
        if self.sec_token is None:
            page = "main/calendar/agenda_js.php?type=personal"
            body = self.request(page)
            self.require_user(page, body)
            found = _TOKEN.search(body)
            if not found:
                raise ChamiloError(f"no sec_token in the calendar page{_shown(body)}")
            self.sec_token = found.group(1).decode()
        return self.sec_token

    def add_event(self, title: str, minute: int) -> str:
        """A personal calendar event in its own minute; returns the id Chamilo answered."""
        start = EVENTS_FROM + datetime.timedelta(minutes=minute)
        query = urllib.parse.urlencode({
            "type": "personal", "a": "add_event", "sec_token": self.token(), "title": title,
            "content": "galera-lab chaos probe", "start": start.isoformat(), "all_day": "false",
            "end": (start + datetime.timedelta(seconds=59)).isoformat()})
        body = self.request(f"main/inc/ajax/agenda.ajax.php?{query}").strip()
        if not body.isdigit() or int(body) == 0:
            self.sec_token = None  # a new session (re-login) needs the calendar's new token
            raise ChamiloError(f"the calendar did not save the event{_shown(body) or ': ' + repr(body[:80])}")
        return body.decode()

    def events(self, minute: int) -> list[str]:
        """Titles of the user's events in that minute, as the calendar loads them."""
        start = EVENTS_FROM + datetime.timedelta(minutes=minute)
        query = urllib.parse.urlencode({"type": "personal", "a": "get_events", "start": start.isoformat(),
                                        "end": (start + datetime.timedelta(minutes=1)).isoformat()})
        body = self.request(f"main/inc/ajax/agenda.ajax.php?{query}")
        try:
            return [str(e.get("title", "")) for e in json.loads(body)]
        except (ValueError, AttributeError) as exc:
            raise ChamiloError(f"the calendar's event list is not JSON{_shown(body) or ': ' + repr(body[:80])}") from exc


CHAMILO_MESSAGES = {
    b"An error has occured": "Chamilo's \"An error has occured\" page (a query failed)",  # lang GeneralError (sic)
    b"You are not allowed to see this page": "Chamilo's \"You are not allowed to see this page\" page",  # NotAllowed
}
"""Chamilo's own error messages (English), as a user reads them, and what they are."""


def _shown(body: bytes) -> str:
    """What a page without the user showed instead: Chamilo's error message, or the gist."""
    for message, meaning in CHAMILO_MESSAGES.items():
        if message in body:
            return f": {meaning}"
    return page_gist(body)


class _ChamiloUser(Workload):
    """A logged-in admin on their own session, logging in again when the session is gone."""

    def __init__(self, lab: Any, history: History, process: str, duration: float, interval: float,
                 timeout: float):
        super().__init__(history, process, duration)
        self.client = ChamiloClient(lab.probe.app_url(), timeout)
        self.password = chamilo.admin_password(lab.secrets)
        self.interval = interval
        self.needs_login = True

    def ensure_login(self) -> bool:
        if not self.needs_login:
            return True
        start = time.time()
        try:
            self.client.login(ADMIN, self.password)
        except ChamiloError as exc:
            self.record("chamilo_login", None, None, start, "fail", error=str(exc))
            return False
        self.record("chamilo_login", None, None, start, "ok")
        self.needs_login = False
        return True

    def body(self) -> None:
        while not self.stopping:
            start = time.time()
            if self.ensure_login():
                self.step()
            self.sleep(self.interval - (time.time() - start))

    def step(self) -> None:
        raise NotImplementedError


class ChamiloSessionProbe(_ChamiloUser):
    """A logged-in page every `interval` s on one session (kind chamilo_session)."""

    def __init__(self, lab: Any, history: History, duration: float = 120.0, interval: float = 0.5,
                 timeout: float = 3.0, process: str = "chamilo-session"):
        super().__init__(lab, history, process, duration, interval, timeout)

    def step(self) -> None:
        start = time.time()
        try:
            self.client.logged_in_page()
            self.record("chamilo_session", None, None, start, "ok")
        except ChamiloError as exc:
            self.record("chamilo_session", None, None, start, "fail", error=str(exc))
            self.needs_login = str(exc).startswith("session lost")


class ChamiloWriteProbe(_ChamiloUser):
    """A calendar event saved, then the calendar read back, every `interval` s.

    The write is `ok` when Chamilo answers the new event's id; the read is `ok` when the event
    is listed, `fail` with "stale" when the calendar answered without it (the write was
    acknowledged, so a later read that misses it read an older state of the database)."""

    def __init__(self, lab: Any, history: History, duration: float = 120.0, interval: float = 0.5,
                 timeout: float = 3.0, process: str = "chamilo-write"):
        super().__init__(lab, history, process, duration, interval, timeout)
        self.minute = int(time.time()) % 1_000_000 * 10  # a run's events don't meet another run's

    def step(self) -> None:
        self.minute += 1
        title = f"chaos {uuid.uuid4()}"
        start = time.time()
        try:
            event_id = self.client.add_event(title, self.minute)
        except ChamiloError as exc:
            self.record("chamilo_write", title, None, start, "fail", error=str(exc))
            self.needs_login = str(exc).startswith("session lost")
            return
        self.record("chamilo_write", title, event_id, start, "ok")
        start = time.time()
        try:
            listed = title in self.client.events(self.minute)
        except ChamiloError as exc:
            self.record("chamilo_read_own_write", title, None, start, "fail", error=str(exc))
            return
        self.record("chamilo_read_own_write", title, listed, start, "ok" if listed else "fail",
                    error=None if listed else "stale: the event just saved is not in the calendar")

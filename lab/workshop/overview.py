"""The teacher's overview of a room: one row per student, in the terminal and on a web page.

Why rows are pure data (`row()`): the health, writer and VIP holder come from the same
`LabStatus` the CLI and the dashboard read, the progress from each lab's progress file
(lab/workshop/progress.py); unit tests feed both by hand. `RoomWatch` only collects them (a
thread reading every lab's status every few seconds, two at a time: the probes are cheap but
the machine has two cores and the students' labs run on them).
"""

from __future__ import annotations

import html
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from rich.table import Table
from rich.text import Text

from lab.paths import stack_dir
from lab.status import LabStatus
from lab.workshop.progress import Progress, load_progress
from lab.workshop.room import Room, Student

REFRESH_S = 3.0


@dataclass(frozen=True)
class Row:
    """One student as the teacher sees them."""

    student: int
    project: str
    health: str  # healthy | unhealthy: <parts> | unreachable: <why> | starting
    writer: str | None
    vip_holder: str | None
    exercise: str | None
    step: int
    completed: int
    total: int
    updated: float  # last change of the progress (epoch s), 0 when none yet
    dashboard_url: str

    @property
    def progress_text(self) -> str:
        return f"{self.completed}/{self.total}" if self.total else "-"

    @property
    def exercise_text(self) -> str:
        return f"{self.exercise} (step {self.step})" if self.exercise else "-"

    def changed_text(self, now: float) -> str:
        if not self.updated:
            return "-"
        ago = max(0, int(now - self.updated))
        return f"{time.strftime('%H:%M:%S', time.localtime(self.updated))} ({ago // 60} min {ago % 60} s ago)"


def health_text(status: LabStatus | None, error: str | None) -> str:
    """A lab's health in a few words: which parts are not ready when it is not healthy."""
    if status is None:
        return f"unreachable: {error}" if error else "starting"
    if status.healthy:
        return "healthy"
    return "unhealthy: " + ", ".join(status.unhealthy_parts())


def row(student: Student, status: LabStatus | None, error: str | None, progress: Progress, url: str) -> Row:
    from chaos.faults import writer_of

    return Row(student.index, student.project, health_text(status, error),
               writer_of(status) if status else None, status.vip.holder if status else None,
               progress.exercise, progress.step, len(progress.completed), progress.total, progress.updated, url)


class RoomWatch:
    """Every student's lab status, read in the background; `rows()` adds the progress files."""

    def __init__(self, room: Room, interval: float = REFRESH_S) -> None:
        self.room = room
        self.interval = interval
        self._status: dict[str, tuple[LabStatus | None, str | None]] = {}
        self._labs: dict[str, Any] = {}
        self._stop = threading.Event()
        self._pool = ThreadPoolExecutor(max_workers=2, thread_name_prefix="room-watch")
        self._thread = threading.Thread(target=self._loop, name="room-watch", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(10)
        self._pool.shutdown(wait=False, cancel_futures=True)

    def _read(self, student: Student) -> None:
        from lab.runtime import Lab

        try:
            lab = self._labs.get(student.project) or Lab.existing(student.project, stack_dir(student.project))
            self._labs[student.project] = lab
            self._status[student.project] = (lab.status(), None)
        except Exception as exc:  # noqa: BLE001 - shown in the row; the next round tries again
            self._status[student.project] = (None, str(exc).splitlines()[0][:120] if str(exc) else exc.__class__.__name__)

    def poll_once(self) -> None:
        list(self._pool.map(self._read, self.room.students))

    def _loop(self) -> None:
        while not self._stop.is_set():
            began = time.monotonic()
            self.poll_once()
            self._stop.wait(max(0.5, self.interval - (time.monotonic() - began)))

    def rows(self) -> list[Row]:
        return rows_of(self.room, self._status)


def rows_of(room: Room, statuses: dict[str, tuple[LabStatus | None, str | None]],
            stack_of: Any = stack_dir) -> list[Row]:
    """The overview's rows from the statuses read so far and each lab's progress file."""
    out = []
    for s in room.students:
        status, error = statuses.get(s.project, (None, None))
        stack: Path = stack_of(s.project)
        out.append(row(s, status, error, load_progress(stack), room.url(s.dashboard_port)))
    return out


HEADERS = ["student", "lab", "health", "writer", "VIP on", "exercise", "done", "last change", "dashboard"]


def cells(r: Row, now: float) -> list[str]:
    return [f"s{r.student}", r.project, r.health, r.writer or "-", r.vip_holder or "-", r.exercise_text,
            r.progress_text, r.changed_text(now), r.dashboard_url]


def rich_table(room: Room, rows: list[Row], now: float | None = None) -> Table:
    """The terminal's table (rich renders plain text: nothing here is read as markup)."""
    now = now or time.time()
    t = Table(title=f"room {room.project}: {len(rows)} student(s), overview {room.url(room.overview_port)}")
    for h in HEADERS:
        t.add_column(h, overflow="fold")
    for r in rows:
        style = "green" if r.health == "healthy" else ("yellow" if r.health == "starting" else "red")
        t.add_row(*(Text(c) for c in cells(r, now)), style=style)
    return t


def html_page(room: Room, rows: list[Row], now: float | None = None, refresh_s: float = REFRESH_S) -> str:
    """The web overview: a plain table that reloads itself (every value escaped)."""
    now = now or time.time()
    e = html.escape
    head = "".join(f"<th>{e(h)}</th>" for h in HEADERS)
    body = []
    for r in rows:
        c = cells(r, now)
        c[-1] = f'<a href="{e(r.dashboard_url, quote=True)}">{e(r.dashboard_url)}</a>'
        cls = "ok" if r.health == "healthy" else "bad"
        body.append(f'<tr class="{cls}" data-student="{r.student}">'
                    + "".join(f"<td>{x if i == len(c) - 1 else e(x)}</td>" for i, x in enumerate(c)) + "</tr>")
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta http-equiv="refresh" content="{refresh_s:g}">
<title>room {e(room.project)}</title>
<style>body{{font-family:sans-serif;margin:1.5em}}table{{border-collapse:collapse}}
td,th{{border:1px solid #ccc;padding:.3em .6em;text-align:left}}tr.ok td:nth-child(3){{color:#070}}
tr.bad td:nth-child(3){{color:#b00}}</style></head>
<body><h1>room {e(room.project)}: {len(rows)} student(s)</h1>
<table id="room"><thead><tr>{head}</tr></thead><tbody>
{chr(10).join(body)}
</tbody></table><p>updated {e(time.strftime('%H:%M:%S', time.localtime(now)))}, every {refresh_s:g} s</p></body></html>
"""


def rows_json(rows: list[Row]) -> list[dict[str, Any]]:
    return [asdict(r) for r in rows]

"""What a Galera node's log says about why it stopped or is out of the cluster, in one line.

Why read the log: a node whose state transfer failed, or whose disk filled up, is an exited
container or a server outside the cluster, and SQL can't tell why; the server said it in its
log just before. `status` shows the line beside the node, and `up` says it before starting the
node again, so that a user sees what happened instead of "exited".

Pure functions of the log text, so tests feed them by hand.
"""

from __future__ import annotations

import re
import signal
from dataclasses import dataclass

RUN_START = re.compile(r"\] Starting MariaDB .* as process \d+")
"""The first line of a server run: a container's log holds every run since it was created."""


@dataclass(frozen=True)
class Cause:
    """Why a node is down or out: its kind, what it means in words, and the log line saying it."""

    kind: str
    summary: str
    line: str

    def text(self) -> str:
        return f"{self.summary}: {self.line}"


CAUSES: tuple[tuple[str, re.Pattern[str], str], ...] = (
    ("donor-lost", re.compile(r"Donor \S+ is no longer in the group"),
     "its state transfer failed: the donor left the group mid-transfer, and Galera aborts the joiner then "
     "(it does not try another donor); `galera-lab up` starts it again for a new full SST"),
    ("sst-failed", re.compile(r"State transfer to .* failed|SST failed|Will never receive state|"
                              r"SST script aborted|Failed to prepare for '\w+' SST"),
     "its state transfer failed"),
    ("disk-full", re.compile(r"No space left on device|Disk (?:is )?full|Out of disk space|errno: ?28\b|"
                             r"Error number 28|failed with error 28\b|The table '.*' is full|HA_ERR_RECORD_FILE_FULL"),
     "its disk is full"),
    ("inconsistency", re.compile(r"Inconsistency detected|consistency compromised|Inconsistent by consensus"),
     "it left the cluster after failing to apply a writeset the others applied (an inconsistency)"),
)
"""(kind, pattern, summary), most telling first: a disk that filled up also logs an
inconsistency, and the disk is what to fix."""

ERROR = re.compile(r"\[ERROR\]")


def last_run(text: str) -> str:
    """The log of the node's latest server run (from its last "Starting MariaDB" line on)."""
    starts = [m.start() for m in RUN_START.finditer(text)]
    if not starts:
        return text
    line_start = text.rfind("\n", 0, starts[-1]) + 1
    return text[line_start:]


def why_down(text: str) -> Cause | None:
    """The cause of a node's trouble in its latest run: the first kind of `CAUSES` found (its
    newest line), else the newest `[ERROR]` line, else None."""
    lines = [ln.strip() for ln in last_run(text).splitlines() if ln.strip()]
    for kind, pattern, summary in CAUSES:
        found = [ln for ln in lines if pattern.search(ln)]
        if found:
            return Cause(kind, summary, _short(found[-1]))
    errors = [ln for ln in lines if ERROR.search(ln)]
    return Cause("error", "its last error", _short(errors[-1])) if errors else None


def exit_text(code: int) -> str:
    """A container's exit code in words: 137 is "code 137, SIGKILL" (128 + the signal)."""
    if code > 128:
        try:
            return f"code {code}, {signal.Signals(code - 128).name}"
        except ValueError:
            pass
    return f"code {code}"


def _short(line: str, limit: int = 220) -> str:
    """A log line without its timestamp prefix, cut to `limit` characters."""
    line = re.sub(r"^\d{4}-\d{2}-\d{2}\s+\d{1,2}:\d{2}:\d{2}\s+\d+\s+", "", line)
    return line if len(line) <= limit else line[: limit - 1] + "…"
